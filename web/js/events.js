// SPDX-License-Identifier: Apache-2.0
// Copyright (c) 2026 the vmfleet authors

// The event stream GET /api/v1/events (Server-Sent Events), read with
// fetch(): EventSource cannot send the Authorization header.  The parser
// follows the SSE rules that vmctld uses: "field: value" lines, a blank
// line ends an event, ":" starts a comment, "retry:" sets the reconnect
// wait.  When the stream ends the client reconnects; onOpen then runs
// again, so that the app re-reads what it may have missed.

import { BASE } from "./api.js";
import * as net from "./net.js";

/** Split SSE text into events; keeps the unfinished tail between calls. */
export class SseParser {
    constructor(onEvent, onRetry) {
        this.buf = "";
        this.data = [];
        this.type = "";
        this.id = "";
        this.onEvent = onEvent;
        this.onRetry = onRetry || (() => {});
    }

    push(chunk) {
        this.buf += chunk;
        for (;;) {
            const m = /\r\n|\r|\n/.exec(this.buf);
            if (m === null)
                break;
            // A lone "\r" at the very end may be half of "\r\n".
            if (m[0] === "\r" && m.index === this.buf.length - 1)
                break;
            const line = this.buf.slice(0, m.index);
            this.buf = this.buf.slice(m.index + m[0].length);
            this.line(line);
        }
    }

    line(line) {
        if (line === "") {
            if (this.data.length > 0) {
                this.onEvent({
                    id: this.id,
                    type: this.type || "message",
                    data: this.data.join("\n"),
                });
            }
            this.data = [];
            this.type = "";
            return;
        }
        if (line.startsWith(":"))
            return;
        const i = line.indexOf(":");
        const field = i < 0 ? line : line.slice(0, i);
        let value = i < 0 ? "" : line.slice(i + 1);
        if (value.startsWith(" "))
            value = value.slice(1);
        if (field === "data")
            this.data.push(value);
        else if (field === "event")
            this.type = value;
        else if (field === "id")
            this.id = value;
        else if (field === "retry" && /^\d+$/.test(value))
            this.onRetry(Number(value));
    }
}

/**
 * A live subscription.  handlers: onEvent({type, id, data: parsed JSON}),
 * onOpen(), onState(connected: bool).  start() with the token; stop()
 * ends it.
 */
export class EventStream {
    constructor(handlers) {
        this.h = handlers;
        this.token = null;
        this.ctrl = null;
        this.retryMs = 2000;
        this.timer = null;
        this.gen = 0;
        this.connected = false;
    }

    start(token) {
        this.stop();
        this.token = token;
        this.gen += 1;
        this.run(this.gen);
    }

    stop() {
        this.gen += 1;
        clearTimeout(this.timer);
        this.timer = null;
        if (this.ctrl !== null)
            this.ctrl.abort();
        this.ctrl = null;
        this.setConnected(false);
    }

    /** Reconnect now (after the server came back). */
    kick() {
        if (this.token !== null && !this.connected)
            this.start(this.token);
    }

    setConnected(c) {
        if (c !== this.connected) {
            this.connected = c;
            if (this.h.onState)
                this.h.onState(c);
        }
    }

    async run(gen) {
        const ctrl = new AbortController();
        this.ctrl = ctrl;
        let res = null;
        try {
            res = await fetch(BASE + "/events", {
                headers: {
                    Authorization: "Bearer " + this.token,
                    Accept: "text/event-stream",
                },
                cache: "no-store",
                signal: ctrl.signal,
            });
        } catch (e) {
            if (gen !== this.gen)
                return;
            // No answer: net.js shows the banner and, once the server is
            // back, the app calls kick().
            this.setConnected(false);
            net.reportDown();
            return;
        }
        if (gen !== this.gen)
            return;
        net.reportUp();
        if (!res.ok || res.body === null) {
            this.setConnected(false);
            this.again(gen, Math.max(this.retryMs, 5000));
            return;
        }
        this.setConnected(true);
        if (this.h.onOpen)
            this.h.onOpen();
        const parser = new SseParser((ev) => {
            let data = null;
            try {
                data = JSON.parse(ev.data);
            } catch (_) {
                return; // not ours
            }
            this.h.onEvent({ type: ev.type, id: ev.id, data });
        }, (ms) => { this.retryMs = Math.max(500, Math.min(ms, 60000)); });
        const reader = res.body.getReader();
        const dec = new TextDecoder();
        try {
            for (;;) {
                const { value, done } = await reader.read();
                if (done || gen !== this.gen)
                    break;
                parser.push(dec.decode(value, { stream: true }));
            }
        } catch (_) {
            // the connection broke
        }
        if (gen !== this.gen)
            return;
        this.setConnected(false);
        this.again(gen, this.retryMs);
    }

    again(gen, ms) {
        clearTimeout(this.timer);
        this.timer = setTimeout(() => {
            if (gen === this.gen)
                this.run(gen);
        }, ms);
    }
}
