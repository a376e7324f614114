// SPDX-License-Identifier: Apache-2.0
// Copyright (c) 2026 the vmfleet authors

// #/rollouts — every rollout, newest first, with its progress.

import * as api from "../api.js";
import { h, fill, count, badge, rolloutBadge, ago, countsBar, emptyRow } from "../ui.js";

/**
 * The target of a rollout in words.  vmctld gives it as a display string
 * ("all", "label site=berlin", "devices d1,d2"); an object as in the
 * create request is understood too.
 */
export function targetText(t) {
    if (!t)
        return "–";
    if (typeof t === "string") {
        if (t === "all")
            return "all devices";
        const m = /^(labels?|devices) (.*)$/.exec(t);
        if (m === null)
            return t;
        if (m[1] !== "devices")
            return m[2];
        return targetText({ devices: m[2].split(/[, ]+/).filter(Boolean) });
    }
    if (t.all)
        return "all devices";
    if (t.labels)
        return Object.entries(t.labels).map(([k, v]) => `${k}=${v}`).join(", ");
    if (t.devices)
        return t.devices.length <= 3 ? t.devices.join(", ")
            : `${t.devices.slice(0, 2).join(", ")} and ${t.devices.length - 2} more`;
    return "–";
}

export function mount(ctx) {
    const tbody = h("tbody");
    const el = h("section.page", {},
        h("div.page-head", {},
          h("div", {}, h("h1", {}, "Rollouts"),
            h("p.subtitle", {}, "Updates of one VM across a set of devices, " +
                                "in batches, with a failure threshold.")),
          ctx.canAct ? h("a.btn.btn-primary", { href: "#/packages" },
                         "New rollout…") : null),
        h("div.card.card-flush", {},
          h("table.table", {},
            h("thead", {}, h("tr", {},
              h("th", { scope: "col" }, "Rollout"),
              h("th", { scope: "col" }, "VM"),
              h("th", { scope: "col" }, "Version"),
              h("th", { scope: "col" }, "Target"),
              h("th", { scope: "col" }, "State"),
              h("th.col-progress", { scope: "col" }, "Progress"),
              h("th", { scope: "col" }, "Started"))),
            tbody)));

    async function refresh() {
        const r = await api.get("/rollouts");
        const list = r.rollouts || [];
        fill(tbody, list.length === 0
            ? emptyRow(7, "No rollouts yet.")
            : list.map((ro) => {
                const c = ro.counts || {};
                return h("tr", {},
                    h("td", {}, h("a.strong", { href: `#/rollouts/${encodeURIComponent(ro.id)}` },
                                  ro.id)),
                    h("td", {}, ro.vm),
                    h("td", {}, h("code", {}, ro.version)),
                    h("td.wrap", {}, targetText(ro.target)),
                    h("td", {}, rolloutBadge(ro.state),
                      ro.pause_reason ? h("div.small.muted", {}, ro.pause_reason)
                                      : null),
                    h("td", {}, h("div.inline-bar", {},
                      countsBar(c, `Rollout ${ro.id} progress`),
                      h("span.muted.nowrap", {},
                        `${count(c.succeeded)}/${count(c.total)}` +
                        (c.failed ? ` · ${count(c.failed)} failed` : "")))),
                    h("td", {}, ago(ro.created_ms)));
            }));
    }

    return {
        el,
        title: "Rollouts",
        refresh,
        wants: (ev) => ev.type === "rollout",
    };
}
