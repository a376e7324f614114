// SPDX-License-Identifier: Apache-2.0
// Copyright (c) 2026 the vmfleet authors

// Small DOM helpers shared by the pages: an element builder, number and
// time formats, badges, progress bars, the confirmation dialog and the
// message area.  Text always goes in as text (textContent), never as
// HTML: device ids, labels and messages come from the network.

/**
 * h("a.link", {href: "#/"}, "text", child...) → an element.  The tag may
 * carry ".class" parts; attributes starting with "on" are listeners;
 * null, undefined and false children are skipped; arrays are flattened.
 */
export function h(tag, attrs, ...children) {
    const [name, ...classes] = tag.split(".");
    const el = document.createElement(name || "div");
    if (classes.length > 0)
        el.className = classes.join(" ");
    for (const [k, v] of Object.entries(attrs || {})) {
        if (v === undefined || v === null || v === false)
            continue;
        if (k.startsWith("on") && typeof v === "function")
            el.addEventListener(k.slice(2), v);
        else if (k === "class")
            el.className = [el.className, v].filter(Boolean).join(" ");
        else if (k === "dataset")
            Object.assign(el.dataset, v);
        else if (k in el && typeof v !== "string")
            el[k] = v;
        else
            el.setAttribute(k, v === true ? "" : String(v));
    }
    append(el, children);
    return el;
}

function append(el, children) {
    for (const c of children) {
        if (c === undefined || c === null || c === false)
            continue;
        if (Array.isArray(c))
            append(el, c);
        else if (c instanceof Node)
            el.appendChild(c);
        else
            el.appendChild(document.createTextNode(String(c)));
    }
}

/** Replace el's children. */
export function fill(el, ...children) {
    el.replaceChildren();
    append(el, children);
    return el;
}

export function bytes(n) {
    if (n === undefined || n === null || Number.isNaN(Number(n)))
        return "–";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let v = Number(n);
    let u = 0;
    while (v >= 1024 && u < units.length - 1) {
        v /= 1024;
        u += 1;
    }
    return (u === 0 ? String(v) : v.toFixed(v < 10 ? 1 : 0)) + " " + units[u];
}

export function count(n) {
    return Number(n || 0).toLocaleString("en-US");
}

/** 93784000 → "1d 2h", 5000 → "5s". */
export function duration(ms) {
    if (ms === undefined || ms === null || ms < 0)
        return "–";
    let s = Math.floor(ms / 1000);
    const d = Math.floor(s / 86400);
    s -= d * 86400;
    const hr = Math.floor(s / 3600);
    s -= hr * 3600;
    const m = Math.floor(s / 60);
    s -= m * 60;
    if (d > 0)
        return `${d}d ${hr}h`;
    if (hr > 0)
        return `${hr}h ${m}m`;
    if (m > 0)
        return `${m}m ${s}s`;
    return `${s}s`;
}

/** A time as "12 s ago", with the full date in its title. */
export function ago(ms) {
    if (!ms)
        return h("span.muted", {}, "never");
    const d = Date.now() - ms;
    let text;
    if (d < 5000)
        text = "just now";
    else if (d < 3600000)
        text = duration(d).replace(/ 0s$/, "") + " ago";
    else if (d < 86400000 * 2)
        text = duration(d) + " ago";
    else
        text = stamp(ms).slice(0, 10);
    return h("time", { datetime: new Date(ms).toISOString(),
                       title: stamp(ms) }, text);
}

/** A time as "2026-05-04 13:07:21" (local). */
export function stamp(ms) {
    const d = new Date(ms);
    const p = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
           `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function shortSha(sha) {
    return sha ? sha.slice(0, 12) : "–";
}

/** The CSS tone of a state name: ok, warn, bad, busy or idle. */
export function tone(state) {
    switch (state) {
    case "running":
    case "succeeded":
    case "online":
    case "OK":
        return "ok";
    case "suspended":
    case "paused":
    case "queued":
    case "expired":
    case "cancelled":
    case "timed_out":
        return "warn";
    case "failed":
    case "crashed":
    case "aborted":
    case "offline":
        return "bad";
    case "sent":
    case "accepted":
    case "in_flight":
    case "restarting":
    case "pending":
    case "updating":
        return "busy";
    default:
        return "idle";
    }
}

/** A coloured pill with the state's name. */
export function badge(state, text) {
    return h(`span.badge.tone-${tone(state)}`, {}, text || state || "–");
}

/** A rollout's state: "running" is work under way here, not health. */
export function rolloutBadge(state) {
    return h(`span.badge.tone-${state === "running" ? "busy" : tone(state)}`,
             {}, state || "–");
}

/**
 * A progress bar of rollout counts {total, waiting, in_flight, succeeded,
 * failed}: one accessible element, coloured segments.
 */
export function countsBar(c, label) {
    const total = Math.max(1, c.total || 0);
    const done = (c.succeeded || 0) + (c.failed || 0);
    const pct = (n) => `${(100 * (n || 0)) / total}%`;
    return h("div.progress", {
        role: "progressbar",
        "aria-label": label || "progress",
        "aria-valuemin": "0",
        "aria-valuemax": String(c.total || 0),
        "aria-valuenow": String(done),
        "aria-valuetext":
            `${done} of ${c.total || 0} done: ${c.succeeded || 0} succeeded, ` +
            `${c.failed || 0} failed, ${c.in_flight || 0} in flight`,
        title: `${c.succeeded || 0} succeeded, ${c.failed || 0} failed, ` +
               `${c.in_flight || 0} in flight, ${c.waiting || 0} waiting`,
    },
    h("span.seg.seg-ok", { style: `width:${pct(c.succeeded)}` }),
    h("span.seg.seg-bad", { style: `width:${pct(c.failed)}` }),
    h("span.seg.seg-busy", { style: `width:${pct(c.in_flight)}` }));
}

/** A plain bar for a fraction 0..1. */
export function bar(frac, label) {
    const p = Math.max(0, Math.min(1, frac || 0));
    return h("div.progress", {
        role: "progressbar", "aria-label": label,
        "aria-valuemin": "0", "aria-valuemax": "100",
        "aria-valuenow": String(Math.round(p * 100)),
    }, h("span.seg.seg-ok", { style: `width:${p * 100}%` }));
}

/* ---- messages ------------------------------------------------------------ */

/**
 * Show a message in the page's message area (polite for info, assertive
 * for errors).  kind: "ok", "error" or "info".  Errors stay until closed;
 * the others go after a while.
 */
export function toast(text, kind = "info") {
    const area = document.getElementById("toasts");
    const close = h("button.icon", { type: "button", "aria-label": "Dismiss",
                                     title: "Dismiss" }, "×");
    const el = h(`div.toast.toast-${kind}`,
                 { role: kind === "error" ? "alert" : "status" },
                 h("span.toast-text", {}, text), close);
    close.addEventListener("click", () => el.remove());
    area.appendChild(el);
    while (area.children.length > 5)
        area.firstChild.remove();
    if (kind !== "error")
        setTimeout(() => el.remove(), 6000);
    return el;
}

/* ---- dialogs ------------------------------------------------------------- */

/**
 * Ask before acting.  opts: {title, body (text or nodes), ok (button
 * text), danger (bool), content (extra nodes, e.g. a select)}.  Resolves
 * true when confirmed.
 */
export function confirmDialog(opts) {
    return new Promise((resolve) => {
        const dlg = document.getElementById("dialog");
        const okBtn = h(`button.btn${opts.danger ? ".btn-danger" : ".btn-primary"}`,
                        { type: "submit", value: "ok" }, opts.ok || "OK");
        const cancelBtn = h("button.btn", { type: "submit", value: "cancel" },
                            "Cancel");
        const form = h("form", { method: "dialog" },
            h("h2", { id: "dialog-title" }, opts.title),
            h("div.dialog-body", {}, opts.body),
            opts.content || null,
            h("div.dialog-actions", {}, cancelBtn, okBtn));
        fill(dlg, form);
        dlg.setAttribute("aria-labelledby", "dialog-title");
        let answered = false;
        const done = (v) => {
            if (answered)
                return;
            answered = true;
            resolve(v);
        };
        form.addEventListener("submit", (e) => {
            done((e.submitter ? e.submitter.value : "ok") === "ok");
        });
        dlg.addEventListener("close", () => done(false), { once: true });
        dlg.showModal();
        // What cannot be undone starts on Cancel: Enter alone does no harm.
        (opts.focus || (opts.danger ? cancelBtn : okBtn)).focus();
    });
}

/** Debounce fn: runs `wait` ms after the last call, at most `max` late. */
export function debounce(fn, wait, max) {
    let t = null;
    let first = 0;
    return (...args) => {
        const now = Date.now();
        if (t === null)
            first = now;
        clearTimeout(t);
        const delay = max !== undefined
            ? Math.max(0, Math.min(wait, first + max - now)) : wait;
        t = setTimeout(() => {
            t = null;
            fn(...args);
        }, delay);
    };
}

/** A labelled form field: label + control (+ a hint). */
export function field(label, control, hint) {
    const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
    control.id = id;
    const hintEl = hint ? h("small.hint", { id: `${id}-hint` }, hint) : null;
    if (hintEl)
        control.setAttribute("aria-describedby", hintEl.id);
    return h("div.field", {}, h("label", { for: id }, label), control, hintEl);
}

/** A "copy-friendly" short hash with the full one in its title. */
export function sha(s) {
    return h("code.sha", { title: s || "" }, shortSha(s));
}

/** An empty-table row that spans `cols` columns. */
export function emptyRow(cols, text) {
    return h("tr", {}, h("td.empty", { colspan: String(cols) }, text));
}
