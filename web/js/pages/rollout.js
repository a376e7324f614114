// SPDX-License-Identifier: Apache-2.0
// Copyright (c) 2026 the vmfleet authors

// #/rollouts/ID — one rollout: progress, settings, pause/resume/abort
// and the state of each device (filtered by state and paged here: a
// rollout over the whole fleet lists thousands of devices).

import * as api from "../api.js";
import { h, fill, count, badge, rolloutBadge, ago, countsBar, toast, confirmDialog, sha,
         emptyRow } from "../ui.js";
import { targetText } from "./rollouts.js";

const PAGE = 100;
const FINAL = new Set(["succeeded", "failed", "aborted"]);

export function mount(ctx) {
    const id = ctx.params[0];
    const enc = encodeURIComponent(id);
    const head = h("div.page-head");
    const progress = h("div.card.rollout-progress");
    const settings = h("dl.facts");
    const tbody = h("tbody");
    const stateSel = h("select", { id: "ro-dev-state" },
        h("option", { value: "" }, "All"));
    const pager = h("div.pager");
    const summary = h("p.pager-text", { role: "status" });
    const actions = h("div.actions");
    let page = 1;
    let last = null;
    const buttons = {};

    async function act(action) {
        const words = {
            pause: ["Pause", "No new devices are sent the update; devices " +
                    "already updating finish.", false],
            resume: ["Resume", "The rollout goes on with its next batch.", false],
            abort: ["Abort", "The rollout stops for good. Devices already " +
                    "updated keep the new version; the others are not " +
                    "updated. This cannot be undone.", true],
        }[action];
        const ok = await confirmDialog({
            title: `${words[0]} rollout ${id}?`,
            body: words[1],
            ok: `${words[0]} rollout`,
            danger: words[2],
        });
        if (!ok)
            return;
        buttons[action].disabled = true;
        try {
            const r = await api.post(`/rollouts/${enc}/${action}`, {});
            toast(`Rollout ${id}: ${r.state}.`, "ok");
        } catch (err) {
            toast(`${words[0]} rollout ${id}: ${api.errorText(err)}`, "error");
            if (err.code === "E_FORBIDDEN")
                ctx.onForbidden();
        }
        ctx.refreshNow();
    }

    if (ctx.canAct) {
        for (const [action, label, cls] of [["pause", "Pause", ""],
                                            ["resume", "Resume", ""],
                                            ["abort", "Abort", ".btn-danger"]]) {
            buttons[action] = h(`button.btn${cls}`, {
                type: "button", dataset: { action },
                onclick: () => act(action) }, label);
            actions.appendChild(buttons[action]);
        }
    }

    stateSel.addEventListener("change", () => {
        page = 1;
        renderDevices();
    });

    function renderDevices() {
        if (last === null)
            return;
        const all = last.devices || [];
        const want = stateSel.value;
        const list = want ? all.filter((d) => d.state === want) : all;
        const pages = Math.max(1, Math.ceil(list.length / PAGE));
        page = Math.min(page, pages);
        const shown = list.slice((page - 1) * PAGE, page * PAGE);
        fill(tbody, shown.length === 0
            ? emptyRow(6, all.length === 0 ? "No devices in this rollout yet."
                                           : "No device in this state.")
            : shown.map((d) => h("tr", {},
                h("td", {}, h("a", { href: `#/devices/${encodeURIComponent(d.device)}` },
                              d.device)),
                h("td.num", {}, last.canary > 0 && d.batch === 0 ? "canary"
                                                      : String(d.batch)),
                h("td", {}, badge(d.state)),
                h("td", {}, d.code ? h("code", {}, d.code) : ""),
                h("td.wrap", {}, d.message || ""),
                h("td", {}, ago(d.updated_ms)))));
        fill(summary, list.length === 0 ? ""
            : `${count((page - 1) * PAGE + 1)}–${count(Math.min(list.length, page * PAGE))}` +
              ` of ${count(list.length)} devices`);
        const go = (p) => () => { page = p; renderDevices(); };
        fill(pager,
             h("button.btn.btn-small", { type: "button", disabled: page <= 1,
                                         onclick: go(page - 1) }, "‹ Prev"),
             h("span.pager-page", {}, `Page ${page} of ${pages}`),
             h("button.btn.btn-small", { type: "button", disabled: page >= pages,
                                         onclick: go(page + 1) }, "Next ›"));
    }

    async function refresh() {
        const r = await api.get(`/rollouts/${enc}`);
        last = r;
        const c = r.counts || {};
        const done = (c.succeeded || 0) + (c.failed || 0);
        fill(head,
             h("div", {},
               h("nav.crumbs", { "aria-label": "Breadcrumb" },
                 h("a", { href: "#/rollouts" }, "Rollouts"), " / ", id),
               h("h1", {}, `${r.vm} → ${r.version} `, rolloutBadge(r.state)),
               r.pause_reason ? h("p.notice", {}, `Paused: ${r.pause_reason}`)
                              : null),
             actions);
        if (ctx.canAct) {
            buttons.pause.hidden = !(r.state === "running" || r.state === "pending");
            buttons.resume.hidden = r.state !== "paused";
            buttons.abort.hidden = FINAL.has(r.state);
            for (const b of Object.values(buttons))
                b.disabled = false;
        }
        const pct = c.total ? Math.round((100 * done) / c.total) : 0;
        fill(progress,
             h("div.progress-head", {},
               h("strong.big", {}, `${pct}%`),
               h("span", {}, `${count(done)} of ${count(c.total)} devices done`)),
             countsBar(c, `Rollout ${id} progress`),
             h("ul.legend", {},
               h("li", {}, h("span.key.seg-ok"), `${count(c.succeeded)} succeeded`),
               h("li", {}, h("span.key.seg-bad"), `${count(c.failed)} failed`),
               h("li", {}, h("span.key.seg-busy"), `${count(c.in_flight)} in flight`),
               h("li", {}, h("span.key.seg-idle"), `${count(c.waiting)} waiting`)));
        fill(settings,
             h("div", {}, h("dt", {}, "Target"), h("dd", {}, targetText(r.target))),
             h("div", {}, h("dt", {}, "Package"), h("dd", {}, sha(r.package))),
             h("div", {}, h("dt", {}, "Canary"), h("dd", {}, String(r.canary))),
             h("div", {}, h("dt", {}, "Batch"), h("dd", {}, String(r.batch))),
             h("div", {}, h("dt", {}, "Max failures"), h("dd", {}, String(r.max_failures))),
             h("div", {}, h("dt", {}, "Health window"),
               h("dd", {}, r.health_window_ms ? `${r.health_window_ms} ms`
                                              : "device default")),
             h("div", {}, h("dt", {}, "Started"), h("dd", {}, ago(r.created_ms))),
             h("div", {}, h("dt", {}, "Updated"), h("dd", {}, ago(r.updated_ms))));
        const states = [...new Set((r.devices || []).map((d) => d.state))].sort();
        const had = stateSel.value;
        fill(stateSel, h("option", { value: "" }, "All"),
             states.map((s) => h("option", { value: s }, s)));
        stateSel.value = states.includes(had) ? had : "";
        renderDevices();
    }

    const el = h("section.page", {},
        head,
        progress,
        settings,
        h("section.card.card-flush", { "aria-labelledby": "ro-devs" },
          h("div.card-head.pad", {},
            h("h2", { id: "ro-devs" }, "Devices"),
            h("div.field.field-inline", {},
              h("label", { for: "ro-dev-state" }, "State"), stateSel)),
          h("table.table", {},
            h("thead", {}, h("tr", {},
              h("th", { scope: "col" }, "Device"),
              h("th.num", { scope: "col" }, "Batch"),
              h("th", { scope: "col" }, "State"),
              h("th", { scope: "col" }, "Code"),
              h("th", { scope: "col" }, "Message"),
              h("th", { scope: "col" }, "Updated"))),
            tbody),
          h("div.table-foot", {}, summary, pager)));

    return {
        el,
        title: `Rollout ${id}`,
        refresh,
        wants: (ev) => ev.type === "rollout" && ev.data && ev.data.id === id,
    };
}
