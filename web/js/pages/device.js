// SPDX-License-Identifier: Apache-2.0
// Copyright (c) 2026 the vmfleet authors

// #/devices/ID — one device: its VMs with their figures and actions
// (suspend, resume, restart, snapshot, each confirmed; restore from any
// stored snapshot, also one taken on another device), its recent
// commands, and a VM's log tail (asked from the device on demand).
//
// The VM rows are kept by name and updated in place, so a live refresh
// never takes the keyboard focus away from a button.

import * as api from "../api.js";
import { h, fill, count, bytes, duration, badge, ago, toast, confirmDialog,
         sha, emptyRow, field, stamp } from "../ui.js";

const FINAL = new Set(["succeeded", "failed", "expired", "timed_out",
                       "cancelled"]);

// What each action does, for its confirmation.
const ACTIONS = {
    suspend: {
        label: "Suspend",
        when: (s) => s === "running",
        why: "only a running VM can be suspended",
        text: "The VM stops being scheduled; its memory and state are kept " +
              "until it is resumed.",
    },
    resume: {
        label: "Resume",
        when: (s) => s === "suspended",
        why: "only a suspended VM can be resumed",
        text: "The VM continues where it was suspended.",
    },
    restart: {
        label: "Restart",
        when: () => true,
        text: "The VM is stopped and started again from the beginning; its " +
              "memory is lost (its files are kept).",
        danger: true,
    },
    snapshot: {
        label: "Snapshot",
        when: (s) => s === "running" || s === "suspended",
        why: "only a running or suspended VM can be snapshotted",
        text: "The VM's whole execution state is saved and stored on the " +
              "server, where it can be restored on this or another device.",
    },
};

/** CPU share of a VM as a fraction, or null when unknown. */
function cpuShare(vm) {
    if (typeof vm.cpu_ms !== "number" || typeof vm.uptime_ms !== "number" ||
        vm.uptime_ms <= 0)
        return null;
    return Math.min(1, vm.cpu_ms / vm.uptime_ms);
}

function pct(f) {
    if (f === null)
        return "–";
    return f < 0.001 && f > 0 ? "<0.1%" : `${(f * 100).toFixed(1)}%`;
}

export function mount(ctx) {
    const dev = ctx.params[0];
    const enc = encodeURIComponent(dev);
    const head = h("div.page-head");
    const facts = h("dl.facts");
    const vmBody = h("tbody");
    const cmdBody = h("tbody");
    const rows = new Map(); // VM name → {tr, cells, btns}
    const watched = new Map(); // command id → what it was, for the toast
    let device = null;

    // ---- the log tail ---------------------------------------------------
    const logVm = h("select", { id: "log-vm" });
    const logBytes = h("select", { id: "log-bytes" },
        [4096, 16384, 65536].map((n) => h("option", { value: String(n) },
                                          bytes(n))));
    logBytes.value = "16384";
    const logBtn = h("button.btn", { type: "button" }, "Fetch log");
    const logState = h("p.muted.log-state", { role: "status" },
                       "The log is asked from the device when you fetch it.");
    const logPre = h("pre.log", { tabindex: "0", "aria-label": "Log tail" });
    let logSeq = 0;

    async function fetchLog() {
        const vm = logVm.value;
        if (!vm)
            return;
        const seq = ++logSeq;
        logBtn.disabled = true;
        fill(logState, `Asking ${dev} for the end of ${vm}'s log…`);
        try {
            const r = await api.get(
                `/devices/${enc}/vms/${encodeURIComponent(vm)}/logs`,
                { bytes: logBytes.value });
            if (seq !== logSeq)
                return;
            logPre.textContent = r.text || "";
            logPre.hidden = false;
            fill(logState, `${vm}: the last ${bytes((r.text || "").length)}` +
                 (r.truncated ? " (older lines cut)" : "") + ", fetched ",
                 ago(Date.now()));
            logPre.scrollTop = logPre.scrollHeight;
        } catch (err) {
            if (seq !== logSeq)
                return;
            const text = err.status === 404 && /route/.test(err.message)
                ? "This vmctld cannot fetch VM logs yet (it has no logs route)."
                : api.errorText(err);
            fill(logState, h("span.text-bad", {}, text));
        } finally {
            if (seq === logSeq)
                logBtn.disabled = false;
        }
    }
    logBtn.addEventListener("click", fetchLog);
    logVm.addEventListener("change", fetchLog);

    // ---- actions --------------------------------------------------------
    async function send(vm, action, body, what) {
        try {
            const cmd = await api.post(
                `/devices/${enc}/vms/${encodeURIComponent(vm)}/${action}`, body);
            watched.set(cmd.id, what);
            toast(`${what}: sent (command ${cmd.id}, ${cmd.state}).`, "info");
            ctx.refreshNow();
        } catch (err) {
            toast(`${what}: ${api.errorText(err)}`, "error");
            if (err.code === "E_FORBIDDEN")
                ctx.onForbidden();
        }
    }

    async function act(vm, action) {
        const a = ACTIONS[action];
        const ok = await confirmDialog({
            title: `${a.label} ${vm} on ${dev}?`,
            body: a.text,
            ok: a.label,
            danger: a.danger,
        });
        if (ok)
            await send(vm, action, {}, `${a.label} ${vm}`);
    }

    async function restore(vm) {
        let snaps;
        try {
            snaps = (await api.get("/snapshots")).snapshots || [];
        } catch (err) {
            toast(`Restore ${vm}: ${api.errorText(err)}`, "error");
            return;
        }
        snaps = snaps.filter((s) => s.vm === vm)
            .sort((a, b) => b.created_ms - a.created_ms);
        const here = snaps.filter((s) => s.device === dev);
        const other = snaps.filter((s) => s.device !== dev);
        const opt = (s) => h("option", { value: s.sha256 },
            `${stamp(s.created_ms)} · ` +
            `${s.device} · ${bytes(s.size)} · ${s.sha256.slice(0, 8)}`);
        const select = h("select", { id: "restore-snap", required: true },
            here.length ? h("optgroup", { label: `Taken on ${dev}` },
                            here.map(opt)) : null,
            other.length ? h("optgroup", { label: "Taken on other devices" },
                             other.map(opt)) : null);
        if (snaps.length === 0) {
            await confirmDialog({
                title: `Restore ${vm} on ${dev}`,
                body: `No snapshot of a VM named ${vm} is stored yet. Take ` +
                      "one with Snapshot, on this device or another.",
                ok: "Close",
            });
            return;
        }
        const ok = await confirmDialog({
            title: `Restore ${vm} on ${dev}?`,
            body: `${vm} is replaced by the snapshot's state and continues ` +
                  "from where the snapshot was taken. Its current state is lost.",
            content: field("Snapshot", select,
                           "Newest first; one from another device migrates " +
                           "the VM here."),
            ok: "Restore",
            danger: true,
            focus: select,
        });
        if (ok)
            await send(vm, "restore", { snapshot: select.value },
                       `Restore ${vm}`);
    }

    // ---- the VM table ---------------------------------------------------
    const cols = ctx.canAct ? 10 : 9;

    function makeRow(name) {
        const c = {};
        const tr = h("tr", { dataset: { vm: name } },
            h("th", { scope: "row" }, name),
            c.state = h("td.vm-state"),
            c.version = h("td"),
            c.uptime = h("td.num"),
            c.memory = h("td.num"),
            c.cpu = h("td.num"),
            c.priority = h("td.num"),
            c.restarts = h("td.num"),
            c.error = h("td.wrap"));
        const btns = {};
        if (ctx.canAct) {
            const td = h("td.actions");
            for (const [action, a] of Object.entries(ACTIONS)) {
                btns[action] = h("button.btn.btn-small", {
                    type: "button", dataset: { action },
                    "aria-label": `${a.label} ${name}`,
                    onclick: () => act(name, action),
                }, a.label);
                td.appendChild(btns[action]);
            }
            btns.restore = h("button.btn.btn-small", {
                type: "button", dataset: { action: "restore" },
                "aria-label": `Restore ${name} from a snapshot`,
                onclick: () => restore(name),
            }, "Restore…");
            td.appendChild(btns.restore);
            tr.appendChild(td);
        }
        return { tr, c, btns };
    }

    function updateRow(row, vm) {
        const { c, btns } = row;
        fill(c.state, badge(vm.state));
        c.state.dataset.state = vm.state;
        fill(c.version, h("code", {}, vm.version || "–"));
        fill(c.uptime, typeof vm.uptime_ms === "number"
            ? duration(vm.uptime_ms) : "–");
        fill(c.memory, bytes(vm.memory_bytes));
        const share = cpuShare(vm);
        fill(c.cpu, pct(share));
        fill(c.priority, vm.priority ?? "–");
        fill(c.restarts, count(vm.restarts));
        fill(c.error, vm.last_error
            ? h("span.text-bad", {}, vm.last_error) : h("span.muted", {}, "–"));
        for (const [action, btn] of Object.entries(btns)) {
            const a = ACTIONS[action];
            const off = !device.online ||
                        (a !== undefined && !a.when(vm.state));
            btn.disabled = off;
            btn.title = !device.online ? "The device is offline"
                : off ? `Not now: ${a.why}` : "";
        }
    }

    function renderVms(vms) {
        if (vms.length === 0) {
            rows.clear();
            fill(vmBody, emptyRow(cols, "This device runs no VMs."));
            return;
        }
        const names = new Set(vms.map((v) => v.name));
        for (const name of [...rows.keys()]) {
            if (!names.has(name))
                rows.delete(name);
        }
        const trs = [];
        for (const vm of vms) {
            let row = rows.get(vm.name);
            if (row === undefined) {
                row = makeRow(vm.name);
                rows.set(vm.name, row);
            }
            updateRow(row, vm);
            trs.push(row.tr);
        }
        // Re-append in order; nodes already there keep their focus.
        if (vmBody.children.length !== trs.length ||
            trs.some((tr, i) => vmBody.children[i] !== tr))
            fill(vmBody, trs);
    }

    function renderCommands(cmds) {
        fill(cmdBody, cmds.length === 0
            ? emptyRow(6, "No commands for this device yet.")
            : cmds.map((c) => h("tr", {},
                h("td.nowrap", {}, ago(c.created_ms)),
                h("td", {}, c.kind),
                h("td", {}, c.vm || "–"),
                h("td.nowrap", {}, badge(c.state),
                  !c.final && c.percent ? ` ${c.percent}%` : ""),
                h("td.wrap", {}, c.code && c.code !== "OK"
                    ? h("span", {}, h("code", {}, c.code),
                        c.message ? ` ${c.message}` : "")
                    : c.message || ""),
                h("td", {}, c.snapshot ? sha(c.snapshot)
                    : c.version ? h("code", {}, c.version) : ""))));
        for (const c of cmds) {
            const what = watched.get(c.id);
            if (what !== undefined && FINAL.has(c.state)) {
                watched.delete(c.id);
                if (c.state === "succeeded")
                    toast(`${what}: done.`, "ok");
                else
                    toast(`${what}: ${c.state}` +
                          (c.code ? ` (${c.code}${c.message ? ": " + c.message : ""})`
                                  : ""), "error");
            }
        }
    }

    function renderHead(d) {
        fill(head,
             h("div", {},
               h("nav.crumbs", { "aria-label": "Breadcrumb" },
                 h("a", { href: "#/devices" }, "Devices"), " / ", dev),
               h("h1", {}, dev, " ", d.online ? badge("online")
                                               : badge("offline"))));
        const labels = Object.entries(d.labels || {});
        fill(facts,
             h("div", {}, h("dt", {}, "Labels"), h("dd", {},
               labels.length === 0 ? h("span.muted", {}, "none")
                 : h("span.labels", {}, labels.map(([k, v]) => h("a.chip", {
                     href: `#/devices?label=${encodeURIComponent(`${k}=${v}`)}`,
                     title: `All devices with ${k}=${v}` }, `${k}=${v}`))))),
             h("div", {}, h("dt", {}, "Last seen"), h("dd", {}, ago(d.last_seen_ms))),
             h("div", {}, h("dt", {}, "Runtime"),
               h("dd", {}, h("code", {}, d.runtime_version || "–"))),
             h("div", {}, h("dt", {}, "OTA agent"),
               h("dd", {}, h("code", {}, d.ota_version || "–"))),
             h("div", {}, h("dt", {}, "Boot id"),
               h("dd", {}, h("code", {}, d.boot_id || "–"))),
             h("div", {}, h("dt", {}, "VMs"), h("dd", {}, count((d.vms || []).length))));
    }

    async function refresh() {
        const [d, cmds] = await Promise.all([
            api.get(`/devices/${enc}`),
            api.get("/commands", { device: dev, limit: 12 }),
        ]);
        device = d;
        renderHead(d);
        renderVms(d.vms || []);
        renderCommands(cmds.commands || []);
        const names = (d.vms || []).map((v) => v.name);
        const had = logVm.value;
        const current = [...logVm.options].map((o) => o.value);
        if (current.join("\n") !== names.join("\n")) {
            fill(logVm, names.map((n) => h("option", { value: n }, n)));
            if (names.includes(had))
                logVm.value = had;
        }
        logBtn.disabled = names.length === 0;
    }

    const el = h("section.page", {},
        head,
        facts,
        h("section.card.card-flush", { "aria-labelledby": "dev-vms" },
          h("div.card-head.pad", {}, h("h2", { id: "dev-vms" }, "Virtual machines")),
          h("table.table.table-vms", {},
            h("thead", {}, h("tr", {},
              h("th", { scope: "col" }, "VM"),
              h("th", { scope: "col" }, "State"),
              h("th", { scope: "col" }, "Version"),
              h("th.num", { scope: "col" }, "Uptime"),
              h("th.num", { scope: "col" }, "Memory"),
              h("th.num", { scope: "col", title: "CPU time / uptime" }, "CPU"),
              h("th.num", { scope: "col" }, "Priority"),
              h("th.num", { scope: "col" }, "Restarts"),
              h("th", { scope: "col" }, "Last error"),
              ctx.canAct ? h("th", { scope: "col" }, "Actions") : null)),
            vmBody)),
        h("div.grid-pk", {},
          h("section.card.card-flush", { "aria-labelledby": "dev-cmds" },
            h("div.card-head.pad", {}, h("h2", { id: "dev-cmds" }, "Recent commands")),
            h("table.table.table-cmds", {},
              h("thead", {}, h("tr", {},
                h("th", { scope: "col" }, "When"),
                h("th", { scope: "col" }, "Command"),
                h("th", { scope: "col" }, "VM"),
                h("th", { scope: "col" }, "State"),
                h("th", { scope: "col" }, "Result"),
                h("th", { scope: "col" }, "Detail"))),
              cmdBody)),
          h("section.card", { "aria-labelledby": "dev-log" },
            h("h2", { id: "dev-log" }, "Log tail"),
            h("div.log-controls", {},
              h("div.field", {}, h("label", { for: "log-vm" }, "VM"), logVm),
              h("div.field", {}, h("label", { for: "log-bytes" }, "Last"), logBytes),
              h("div.field.field-end", {}, logBtn)),
            logState,
            logPre)));
    logPre.hidden = true;

    return {
        el,
        title: dev,
        refresh,
        wants: (ev) => ev.data && ev.data.device === dev,
    };
}
