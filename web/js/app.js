// SPDX-License-Identifier: Apache-2.0
// Copyright (c) 2026 the vmfleet authors

// The dashboard's entry point: sign-in, the hash router, the live event
// stream and the refresh of the page on screen.
//
// Pages (js/pages/*.js) export mount(ctx) → {el, refresh(), wants(ev),
// unmount()}.  A page builds its forms once and refresh() only replaces
// the data parts, so that a refresh (live, or after the server came
// back) never loses what someone is typing.

import * as api from "./api.js";
import * as net from "./net.js";
import { EventStream } from "./events.js";
import { h, fill, toast, debounce } from "./ui.js";
import * as overview from "./pages/overview.js";
import * as devices from "./pages/devices.js";
import * as device from "./pages/device.js";
import * as rollouts from "./pages/rollouts.js";
import * as rollout from "./pages/rollout.js";
import * as packages from "./pages/packages.js";

const TOKEN_KEY = "vmfleet.token";

const routes = [
    { re: /^\/$/, page: overview, nav: "/" },
    { re: /^\/devices$/, page: devices, nav: "/devices" },
    { re: /^\/devices\/([^/]+)$/, page: device, nav: "/devices" },
    { re: /^\/rollouts$/, page: rollouts, nav: "/rollouts" },
    { re: /^\/rollouts\/([^/]+)$/, page: rollout, nav: "/rollouts" },
    { re: /^\/packages$/, page: packages, nav: "/packages" },
];

const state = {
    token: null,
    role: null,      // "viewer" | "operator"
    info: null,
    page: null,      // the mounted page
    route: null,     // the hash it was mounted for (without the query)
    hash: null,      // the whole hash, as the page last set it
};

const $ = (id) => document.getElementById(id);

/* ---- refresh ------------------------------------------------------------- */

let refreshing = false;
let refreshAgain = false;

function pageError(err) {
    const box = $("page-error");
    if (box === null)
        return;
    if (err === null) {
        box.hidden = true;
        box.replaceChildren();
        return;
    }
    fill(box, api.errorText(err));
    box.hidden = false;
}

/** Re-read the page's data; one refresh at a time, the last one wins. */
async function refreshPage() {
    const page = state.page;
    if (page === null || state.token === null)
        return;
    if (refreshing) {
        refreshAgain = true;
        return;
    }
    refreshing = true;
    try {
        await page.refresh();
        if (page === state.page)
            pageError(null);
    } catch (err) {
        // Unreachable: the banner says so; the page keeps its last data.
        if (page === state.page && err.code !== "E_NETWORK" &&
            err.code !== "E_UNAUTHORIZED" && err.name !== "AbortError")
            pageError(err);
    } finally {
        refreshing = false;
        if (refreshAgain) {
            refreshAgain = false;
            refreshPage();
        }
    }
}

// Live events come in bursts (a rollout over thousands of devices):
// refresh at most every 1.5 s, 300 ms after a burst calms down.
const scheduleRefresh = debounce(refreshPage, 300, 1500);

/* ---- the event stream ---------------------------------------------------- */

let streamOpenedOnce = false;

const stream = new EventStream({
    onEvent(ev) {
        const page = state.page;
        if (page !== null && page.wants(ev))
            scheduleRefresh();
    },
    onOpen() {
        // After a reconnect, events may have been missed: re-read.
        if (streamOpenedOnce)
            scheduleRefresh();
        streamOpenedOnce = true;
    },
    onState(connected) {
        const live = $("live");
        live.dataset.state = connected ? "live" : "off";
        live.querySelector(".live-text").textContent =
            connected ? "Live" : "Not live";
        live.title = connected
            ? "Updates arrive as they happen"
            : "Not receiving updates; reconnecting";
    },
});

/* ---- routing ------------------------------------------------------------- */

function parseHash() {
    let hash = location.hash.replace(/^#/, "");
    if (!hash.startsWith("/"))
        hash = "/";
    const q = hash.indexOf("?");
    const path = q < 0 ? hash : hash.slice(0, q);
    const query = new URLSearchParams(q < 0 ? "" : hash.slice(q + 1));
    return { path, query };
}

/** Put the page's own state (filters, page number) into the address. */
function setQuery(params) {
    const { path } = parseHash();
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
        for (const one of Array.isArray(v) ? v : [v]) {
            if (one !== undefined && one !== null && one !== "")
                qs.append(k, String(one));
        }
    }
    const s = qs.toString();
    history.replaceState(null, "", "#" + path + (s ? "?" + s : ""));
    state.hash = location.hash;
}

function route() {
    if (state.token === null)
        return;
    const { path, query } = parseHash();
    if (state.page !== null && state.route === path &&
        state.hash === location.hash)
        return; // nothing changed
    let match = null;
    let params = [];
    for (const r of routes) {
        const m = r.re.exec(path);
        if (m !== null) {
            match = r;
            params = m.slice(1).map((s) => {
                try {
                    return decodeURIComponent(s);
                } catch (_) {
                    return s;
                }
            });
            break;
        }
    }
    if (state.page !== null && state.page.unmount)
        state.page.unmount();
    state.page = null;
    const main = $("main");
    const errBox = h("div.page-error", { id: "page-error", role: "alert",
                                         hidden: true });
    for (const a of document.querySelectorAll("nav.mainnav a")) {
        if (match !== null && a.getAttribute("href") === "#" + match.nav)
            a.setAttribute("aria-current", "page");
        else
            a.removeAttribute("aria-current");
    }
    if (match === null) {
        fill(main, errBox, h("section.page", {},
            h("h1", {}, "No such page"),
            h("p", {}, "This address is not a page of the dashboard. ",
              h("a", { href: "#/" }, "Go to the overview."))));
        document.title = "Not found · vmfleet";
        state.route = path;
        state.hash = location.hash;
        return;
    }
    const ctx = {
        params,
        query,
        canAct: state.role === "operator",
        setQuery,
        refresh: scheduleRefresh,
        refreshNow: refreshPage,
        onForbidden,
    };
    const page = match.page.mount(ctx);
    state.page = page;
    state.route = path;
    state.hash = location.hash;
    fill(main, errBox, page.el);
    document.title = `${page.title || "vmfleet"} · vmfleet`;
    refreshPage();
}

/* ---- signing in and out ---------------------------------------------------- */

/**
 * An action was refused as forbidden: the token's role may have changed
 * (a reload of vmctld's config).  Learn it again and redraw without the
 * buttons it may not use.
 */
async function onForbidden() {
    try {
        const info = await api.get("/info");
        if (info.role && info.role !== state.role) {
            setRole(info.role);
            state.route = null;
            route();
        }
    } catch (_) {
        // the banner or the sign-in form says what went wrong
    }
}

function setRole(role) {
    state.role = role;
    document.body.dataset.role = role;
    fill($("who"), h("span.role", { title: role === "operator"
        ? "May look and act" : "May look, not act" }, role));
}

function showSignIn(message) {
    const box = $("signin");
    const msg = $("signin-msg");
    msg.textContent = message || "";
    msg.hidden = !message;
    box.hidden = false;
    $("app").setAttribute("aria-hidden", "true");
    $("app").inert = true;
    $("token").focus();
}

function hideSignIn() {
    $("signin").hidden = true;
    $("app").removeAttribute("aria-hidden");
    $("app").inert = false;
}

/**
 * Try `token`: GET /info tells whether it is accepted and its role.
 * Return: null when signed in, else the words to show.
 */
async function signIn(token) {
    api.setToken(token);
    let info;
    try {
        info = await api.get("/info");
    } catch (err) {
        api.setToken(state.token);
        return api.errorText(err);
    }
    const first = state.token === null;
    state.token = token;
    state.info = info;
    sessionStorage.setItem(TOKEN_KEY, token);
    // An older vmctld has no role field: assume the buttons may be
    // shown; the server refuses what the token may not do anyway.
    const role = info.role === "viewer" ? "viewer" : "operator";
    const roleChanged = role !== state.role;
    setRole(role);
    hideSignIn();
    stream.start(token);
    if (first || roleChanged) {
        state.route = null;
        route();
    } else {
        scheduleRefresh();
    }
    return null;
}

function signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    stream.stop();
    api.setToken(null);
    state.token = null;
    state.role = null;
    if (state.page !== null && state.page.unmount)
        state.page.unmount();
    state.page = null;
    state.route = null;
    $("main").replaceChildren();
    $("token").value = "";
    showSignIn("You are signed out.");
}

function onUnauthorized() {
    // The token stops working (removed from vmctld's config): ask for a
    // new one over the page, which stays as it was underneath.
    if (state.token === null)
        return;
    stream.stop();
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    api.setToken(null);
    showSignIn("Your token was not accepted. Sign in again.");
}

/* ---- boot ---------------------------------------------------------------- */

function boot() {
    api.setUnauthorizedHandler(onUnauthorized);
    net.setProbe(async () => {
        await api.get("/info");
    });
    net.setChangeHandler((down) => {
        if (!down) {
            stream.kick();
            scheduleRefresh();
        }
    });
    $("net-retry").addEventListener("click", () => net.retryNow());
    $("signout").addEventListener("click", signOut);
    $("skip").addEventListener("click", (e) => {
        e.preventDefault();
        $("main").focus();
    });
    $("signin-form").addEventListener("submit", async (e) => {
        e.preventDefault();
        const token = $("token").value.trim();
        const msg = $("signin-msg");
        if (token === "") {
            msg.textContent = "Enter your API token.";
            msg.hidden = false;
            return;
        }
        const btn = $("signin-btn");
        btn.disabled = true;
        msg.hidden = true;
        const err = await signIn(token);
        btn.disabled = false;
        if (err !== null) {
            msg.textContent = err;
            msg.hidden = false;
            $("token").select();
        }
    });
    window.addEventListener("hashchange", route);
    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved) {
        signIn(saved).then((err) => {
            if (err !== null) {
                $("token").value = saved;
                showSignIn(err);
            }
        });
    } else {
        showSignIn("");
    }
}

// For the browser test and for curious operators: nothing here is needed
// by the pages themselves.
window.vmfleet = { api, state, toast };

boot();
