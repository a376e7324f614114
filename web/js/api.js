// SPDX-License-Identifier: Apache-2.0
// Copyright (c) 2026 the vmfleet authors

// The vmctld HTTP API (docs/api.md), and nothing else: every request of
// the dashboard goes through call() or upload() here.  Errors become
// ApiError with the server's stable code; errorText() turns one into
// words for a person.  Network failures are reported to net.js, which
// shows the "unreachable" banner and retries.

import * as net from "./net.js";

export const BASE = "/api/v1";

let token = null;
let onUnauthorized = () => {};

/** The bearer token of every request (null: none). */
export function setToken(t) {
    token = t;
}

/** fn(err) runs when the server refuses the token (401). */
export function setUnauthorizedHandler(fn) {
    onUnauthorized = fn;
}

export class ApiError extends Error {
    /**
     * status: the HTTP status (0: no answer); code: the API's stable code
     * (E_CONFLICT...; E_NETWORK when vmctld could not be reached);
     * message: the server's own message.
     */
    constructor(status, code, message) {
        super(message);
        this.name = "ApiError";
        this.status = status;
        this.code = code;
    }
}

// What a person reads for each stable code (docs/api.md, "Errors").
const TEXTS = {
    E_UNAUTHORIZED: () => "Your token was not accepted. Sign in again.",
    E_FORBIDDEN: () =>
        "Your token may only look, not change anything (it is a viewer's). " +
        "Ask for an operator token to do this.",
    E_CONFLICT: (m) => `Not possible right now: ${m}`,
    E_BAD_PACKAGE: (m) => `The package was refused: ${m}`,
    E_INVALID: (m) => `Please check the input: ${m}`,
    E_NOT_FOUND: (m) => `Not found: ${m}`,
    E_BAD_JSON: (m) => `The dashboard sent a malformed request (a bug): ${m}`,
    E_METHOD: (m) =>
        `This vmctld does not offer that (is it older than the dashboard?): ${m}`,
    E_LENGTH_REQUIRED: () =>
        "The upload was sent without its length. Try again.",
    E_TOO_LARGE: (m) => `Too large for the server: ${m}`,
    E_MEDIA_TYPE: (m) => `The server refused the kind of data sent: ${m}`,
    E_INTERNAL: (m) =>
        `The server failed (${m}). The details are in vmctld's log.`,
    E_UNAVAILABLE: () =>
        "vmctld is shutting down. Try again in a moment.",
    E_TIMEOUT: (m) => `The device did not answer in time: ${m}`,
    E_NETWORK: () =>
        "vmctld could not be reached. Nothing was changed; try again " +
        "when it is back.",
};

/** Words for any error (an ApiError or anything thrown). */
export function errorText(err) {
    if (err instanceof ApiError) {
        const f = TEXTS[err.code];
        if (f !== undefined)
            return f(err.message);
        return `Error ${err.status} ${err.code}: ${err.message}`;
    }
    return `Unexpected error: ${err && err.message ? err.message : err}`;
}

/**
 * "/devices" + {q: "x", label: ["a=b", "c=d"]} → "/api/v1/devices?q=x&..."
 * (undefined, null and "" values are left out: the API refuses unknown
 * or empty parameters).
 */
export function url(path, query) {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query || {})) {
        for (const one of Array.isArray(v) ? v : [v]) {
            if (one !== undefined && one !== null && one !== "")
                qs.append(k, String(one));
        }
    }
    const s = qs.toString();
    return BASE + path + (s ? "?" + s : "");
}

/** Parse an error reply's body into an ApiError. */
function replyError(status, text) {
    try {
        const doc = JSON.parse(text);
        if (doc && doc.error && typeof doc.error.code === "string")
            return new ApiError(status, doc.error.code,
                                String(doc.error.message || ""));
    } catch (_) {
        // not JSON: a proxy's page, say
    }
    return new ApiError(status, `E_HTTP_${status}`,
                        text ? text.slice(0, 200) : `HTTP ${status}`);
}

function headers(extra) {
    const h = Object.assign({}, extra);
    if (token)
        h.Authorization = "Bearer " + token;
    return h;
}

/**
 * One JSON request.  Resolves with the parsed reply (null for 204);
 * rejects with ApiError.  opts: {query, body (an object: sent as JSON),
 * signal}.
 */
export async function call(method, path, opts = {}) {
    const init = { method, headers: headers(), cache: "no-store" };
    if (opts.body !== undefined) {
        init.headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(opts.body);
    }
    if (opts.signal)
        init.signal = opts.signal;
    let res;
    try {
        res = await fetch(url(path, opts.query), init);
    } catch (e) {
        if (e && e.name === "AbortError")
            throw e;
        net.reportDown();
        throw new ApiError(0, "E_NETWORK", String(e && e.message));
    }
    const text = await res.text().catch(() => "");
    net.reportUp();
    if (!res.ok) {
        const err = replyError(res.status, text);
        if (err.code === "E_UNAUTHORIZED")
            onUnauthorized(err);
        throw err;
    }
    if (res.status === 204 || text === "")
        return null;
    try {
        return JSON.parse(text);
    } catch (_) {
        throw new ApiError(res.status, "E_HTTP_JSON",
                           "the server's reply is not JSON");
    }
}

export const get = (path, query, signal) =>
    call("GET", path, { query, signal });
export const post = (path, body) => call("POST", path, { body: body || {} });
export const del = (path) => call("DELETE", path);

/**
 * Upload `file` (a Blob) to POST /packages with upload progress:
 * progress(loaded, total) is called as bytes leave.  Resolves with the
 * Package; rejects with ApiError.  XMLHttpRequest, not fetch: only it
 * reports upload progress.
 */
export function upload(path, file, progress) {
    return new Promise((resolve, reject) => {
        const xhr = new XMLHttpRequest();
        xhr.open("POST", url(path));
        if (token)
            xhr.setRequestHeader("Authorization", "Bearer " + token);
        xhr.setRequestHeader("Content-Type", "application/octet-stream");
        xhr.upload.onprogress = (e) => {
            if (progress)
                progress(e.loaded, e.lengthComputable ? e.total : file.size);
        };
        xhr.onerror = () => {
            net.reportDown();
            reject(new ApiError(0, "E_NETWORK", "upload failed"));
        };
        xhr.onabort = () =>
            reject(new ApiError(0, "E_NETWORK", "upload aborted"));
        xhr.onload = () => {
            net.reportUp();
            if (xhr.status >= 200 && xhr.status < 300) {
                try {
                    resolve(JSON.parse(xhr.responseText));
                } catch (_) {
                    reject(new ApiError(xhr.status, "E_HTTP_JSON",
                                        "the server's reply is not JSON"));
                }
                return;
            }
            const err = replyError(xhr.status, xhr.responseText);
            if (err.code === "E_UNAUTHORIZED")
                onUnauthorized(err);
            reject(err);
        };
        xhr.send(file);
    });
}
