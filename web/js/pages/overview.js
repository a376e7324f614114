// SPDX-License-Identifier: Apache-2.0
// Copyright (c) 2026 the vmfleet authors

// #/ — the fleet at a glance: devices online and offline, VM versions
// across the fleet, what is failing, and the rollouts under way.
// GET /fleet gives the summary; a vmctld without it (404 or 400) gets it
// computed here from GET /devices.

import * as api from "../api.js";
import { h, fill, count, badge, rolloutBadge, bar, countsBar, ago, emptyRow } from "../ui.js";

export const ACTIVE = new Set(["pending", "running", "paused"]);

/** A VM is failing when crashed or failed, or it reports an error. */
function failingVm(vm) {
    return vm.state === "crashed" || vm.state === "failed" ||
           (vm.last_error || "") !== "";
}

/** GET /fleet's reply, computed from the device list (older vmctld). */
export function summarize(devices, rolloutsActive) {
    const vms = new Map();
    const failing = [];
    let online = 0;
    for (const d of devices) {
        if (d.online)
            online += 1;
        for (const vm of d.vms || []) {
            const key = vm.name + "\u0000" + vm.version;
            let row = vms.get(key);
            if (row === undefined) {
                row = { name: vm.name, version: vm.version, devices: 0,
                        running: 0, failing: 0 };
                vms.set(key, row);
            }
            row.devices += 1;
            if (vm.state === "running")
                row.running += 1;
            if (failingVm(vm)) {
                row.failing += 1;
                if (failing.length < 100)
                    failing.push({ device: d.id, vm: vm.name, state: vm.state,
                                   last_error: vm.last_error || "",
                                   restarts: vm.restarts || 0 });
            }
        }
    }
    return {
        devices: { total: devices.length, online,
                   offline: devices.length - online },
        vms: [...vms.values()].sort((a, b) =>
            a.name.localeCompare(b.name) || b.devices - a.devices),
        failing,
        rollouts_active: rolloutsActive,
    };
}

let fleetRoute = true; // false once vmctld said it has no /fleet

async function fleetSummary(activeCount) {
    if (fleetRoute) {
        try {
            return await api.get("/fleet");
        } catch (err) {
            if (err.status !== 404 && err.status !== 400)
                throw err;
            fleetRoute = false;
        }
    }
    const reply = await api.get("/devices");
    return summarize(reply.devices || [], activeCount);
}

function stat(label, value, tone, extra) {
    return h(`div.stat${tone ? ".stat-" + tone : ""}`, {},
             h("div.stat-label", {}, label),
             h("div.stat-value", {}, value),
             extra || null);
}

export function mount(ctx) {
    const stats = h("div.stats", { "aria-label": "Fleet figures" });
    const server = h("p.subtitle", {});
    const vmsBody = h("tbody");
    const failBody = h("tbody");
    const rolloutsBox = h("div.rollout-cards");
    const failCount = h("span.count");
    const el = h("section.page", {},
        h("div.page-head", {},
          h("div", {}, h("h1", {}, "Fleet overview"), server)),
        stats,
        h("div.grid-2", {},
          h("section.card", { "aria-labelledby": "ov-vms" },
            h("h2", { id: "ov-vms" }, "VM versions across the fleet"),
            h("table.table", {},
              h("thead", {}, h("tr", {},
                h("th", { scope: "col" }, "VM"),
                h("th", { scope: "col" }, "Version"),
                h("th.num", { scope: "col" }, "Devices"),
                h("th", { scope: "col" }, "Running"),
                h("th.num", { scope: "col" }, "Failing"))),
              vmsBody)),
          h("section.card", { "aria-labelledby": "ov-ro" },
            h("div.card-head", {},
              h("h2", { id: "ov-ro" }, "Active rollouts"),
              h("a.more", { href: "#/rollouts" }, "All rollouts →")),
            rolloutsBox)),
        h("section.card", { "aria-labelledby": "ov-fail" },
          h("h2", { id: "ov-fail" }, "Failing devices and VMs ", failCount),
          h("table.table", {},
            h("thead", {}, h("tr", {},
              h("th", { scope: "col" }, "Device"),
              h("th", { scope: "col" }, "VM"),
              h("th", { scope: "col" }, "State"),
              h("th.num", { scope: "col" }, "Restarts"),
              h("th", { scope: "col" }, "Last error"))),
            failBody)));

    async function refresh() {
        const [info, ro] = await Promise.all([
            api.get("/info"), api.get("/rollouts")]);
        const active = (ro.rollouts || []).filter((r) => ACTIVE.has(r.state));
        const f = await fleetSummary(active.length);
        const d = f.devices || { total: 0, online: 0, offline: 0 };
        const failing = f.failing || [];

        fill(server, `vmctld ${info.version} · MQTT `,
             info.mqtt_connected ? badge("online", "connected")
                                 : badge("offline", "disconnected"),
             " · started ", ago(info.started_ms));
        fill(stats,
             stat("Devices", count(d.total), null,
                  bar(d.total ? d.online / d.total : 0,
                      "Share of devices online")),
             stat("Online", count(d.online), "ok"),
             stat("Offline", count(d.offline), d.offline ? "bad" : null),
             stat("Failing VMs", count(failing.length),
                  failing.length ? "bad" : null),
             stat("Active rollouts", count(f.rollouts_active ?? active.length),
                  active.length ? "busy" : null));

        const vms = f.vms || [];
        fill(vmsBody, vms.length === 0
            ? emptyRow(5, "No VMs reported yet.")
            : vms.map((v) => h("tr", {},
                h("th", { scope: "row" }, v.name),
                h("td", {}, h("code", {}, v.version)),
                h("td.num", {}, count(v.devices)),
                h("td", {}, h("div.inline-bar", {},
                  bar(v.devices ? v.running / v.devices : 0,
                      `${v.name} ${v.version}: share running`),
                  h("span.muted", {}, count(v.running)))),
                h("td.num", {}, v.failing
                  ? h("span.text-bad", {}, count(v.failing)) : "0"))));

        fill(failCount, failing.length ? `(${count(failing.length)})` : "");
        fill(failBody, failing.length === 0
            ? emptyRow(5, "Nothing is failing.")
            : failing.map((x) => h("tr", {},
                h("td", {}, h("a", { href: `#/devices/${encodeURIComponent(x.device)}` },
                              x.device)),
                h("td", {}, x.vm),
                h("td", {}, badge(x.state)),
                h("td.num", {}, count(x.restarts)),
                h("td.wrap", {}, x.last_error || h("span.muted", {}, "–")))));

        fill(rolloutsBox, active.length === 0
            ? h("p.empty", {}, "No rollout is under way. ",
                ctx.canAct ? h("a", { href: "#/packages" },
                               "Start one from a package.") : null)
            : active.slice(0, 6).map((r) => h("a.rollout-card",
                { href: `#/rollouts/${encodeURIComponent(r.id)}` },
                h("div.rc-head", {},
                  h("strong", {}, `${r.vm} → ${r.version}`), rolloutBadge(r.state)),
                countsBar(r.counts || {}, `Rollout ${r.id} progress`),
                h("div.rc-foot.muted", {},
                  `${count((r.counts || {}).succeeded)} of ` +
                  `${count((r.counts || {}).total)} devices updated` +
                  ((r.counts || {}).failed
                      ? `, ${count(r.counts.failed)} failed` : "")))));
    }

    return {
        el,
        title: "Overview",
        refresh,
        wants: () => true,
    };
}
