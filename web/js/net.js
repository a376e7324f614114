// SPDX-License-Identifier: Apache-2.0
// Copyright (c) 2026 the vmfleet authors

// Is vmctld reachable?  api.js reports every answer (up) and every
// request that got none (down).  While down, a banner says so and counts
// down to the next try; the waits grow 1, 2, 4 ... 30 s.  A try is the
// probe the app registered (GET /info, then a refresh of the page); its
// answer, like any other, brings the state back up.  Nothing on the page
// is cleared meanwhile: the last data stays, forms keep their input.

const MAX_WAIT_S = 30;

let down = false;
let failures = 0;
let timer = null;
let left = 0;
let probe = async () => {};
let onChange = () => {};

/** probeFn(): one try to reach the server (its requests report back). */
export function setProbe(probeFn) {
    probe = probeFn;
}

/** fn(isDown) after every change of state. */
export function setChangeHandler(fn) {
    onChange = fn;
}

export function isDown() {
    return down;
}

function banner() {
    return document.getElementById("net-banner");
}

function render() {
    const b = banner();
    if (b === null)
        return;
    if (!down) {
        b.hidden = true;
        return;
    }
    b.hidden = false;
    const text = b.querySelector(".net-text");
    text.textContent = left > 0
        ? `vmctld unreachable, retrying in ${left}s`
        : "vmctld unreachable, retrying now…";
}

function tick() {
    left -= 1;
    if (left > 0) {
        render();
        timer = setTimeout(tick, 1000);
        return;
    }
    timer = null;
    render();
    retryNow();
}

function schedule() {
    const wait = Math.min(MAX_WAIT_S, 2 ** Math.min(failures - 1, 5));
    left = wait;
    clearTimeout(timer);
    timer = setTimeout(tick, 1000);
    render();
}

/** Try now (the banner's button, or the countdown's end). */
export async function retryNow() {
    clearTimeout(timer);
    timer = null;
    left = 0;
    render();
    try {
        await probe();
    } catch (_) {
        // reportDown() already ran and scheduled the next try
    }
    if (down && timer === null)
        schedule();
}

/** A request got no answer. */
export function reportDown() {
    if (!down) {
        down = true;
        onChange(true);
    }
    // Several requests fail at once: one wait for all of them.
    if (timer === null && left === 0) {
        failures += 1;
        schedule();
    }
}

/** A request got an answer (any status): the server is there. */
export function reportUp() {
    if (!down)
        return;
    down = false;
    failures = 0;
    left = 0;
    clearTimeout(timer);
    timer = null;
    render();
    onChange(false);
}
