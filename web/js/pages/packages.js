// SPDX-License-Identifier: Apache-2.0
// Copyright (c) 2026 the vmfleet authors

// #/packages — the stored packages; upload a .vpk (with progress; the
// server verifies format, key, signature and hash before storing it);
// start a rollout from a package (target, canary, batch, threshold).

import * as api from "../api.js";
import { h, fill, bytes, ago, toast, confirmDialog, sha, field, debounce,
         emptyRow, count } from "../ui.js";

const COUNT_RE = /^\d+$/;
const COUNT_OR_PCT_RE = /^\d+%?$/;

function countOrPct(s) {
    s = s.trim();
    return COUNT_RE.test(s) ? Number(s) : s;
}

export function mount(ctx) {
    const tbody = h("tbody");
    let packages = [];
    let select = null; // a package to choose in the rollout form

    // ---- upload ------------------------------------------------------------
    const file = h("input", { type: "file", id: "vpk-file", accept: ".vpk",
                              required: true });
    const upBtn = h("button.btn.btn-primary", { type: "submit" }, "Upload");
    const upBar = h("span.seg.seg-busy", { style: "width:0%" });
    const upProgress = h("div.progress", {
        role: "progressbar", "aria-label": "Upload progress",
        "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": "0",
        hidden: true }, upBar);
    const upMsg = h("p.form-msg", { role: "status", "aria-live": "polite" });
    const upForm = h("form.upload", { "aria-label": "Upload a package" },
        field("Package file (.vpk)", file),
        upBtn,
        h("div.upload-status", {}, upProgress, upMsg));

    upForm.addEventListener("submit", async (e) => {
        e.preventDefault();
        const f = file.files[0];
        if (!f) {
            fill(upMsg, h("span.text-bad", {}, "Choose a .vpk file first."));
            return;
        }
        upBtn.disabled = true;
        upProgress.hidden = false;
        upBar.style.width = "0%";
        upBar.className = "seg seg-busy";
        fill(upMsg, `Uploading ${f.name} (${bytes(f.size)})…`);
        try {
            const p = await api.upload("/packages", f, (done, total) => {
                const pct = total ? Math.round((100 * done) / total) : 0;
                upBar.style.width = `${pct}%`;
                upProgress.setAttribute("aria-valuenow", String(pct));
                fill(upMsg, done >= total
                    ? `Uploaded ${bytes(total)}; the server is verifying it…`
                    : `Uploading ${f.name}: ${bytes(done)} of ${bytes(total)} (${pct}%)`);
            });
            upBar.className = "seg seg-ok";
            upBar.style.width = "100%";
            fill(upMsg, h("span.text-ok", {},
                `Verified and stored: ${p.vm} ${p.version} (${p.sha256.slice(0, 12)}).`));
            toast(`Package ${p.vm} ${p.version} stored.`, "ok");
            file.value = "";
            // The rollout form offers the new package once the list has it.
            select = p.sha256;
            ctx.refreshNow();
        } catch (err) {
            upProgress.hidden = true;
            fill(upMsg, h("span.text-bad", {}, api.errorText(err)));
            if (err.code === "E_FORBIDDEN")
                ctx.onForbidden();
        } finally {
            upBtn.disabled = false;
        }
    });

    // ---- a new rollout ------------------------------------------------------
    let roPkg = null;
    let pkgChanged = () => {};
    let roForm = null;
    if (ctx.canAct) {
        roPkg = h("select", { id: "ro-package", required: true });
        const tAll = h("input", { type: "radio", name: "ro-target", value: "all",
                                  id: "ro-t-all", checked: true });
        const tLabels = h("input", { type: "radio", name: "ro-target",
                                     value: "labels", id: "ro-t-labels" });
        const tDevices = h("input", { type: "radio", name: "ro-target",
                                      value: "devices", id: "ro-t-devices" });
        const labels = h("input", { type: "text", id: "ro-labels",
                                    placeholder: "site=berlin, tier=edge",
                                    autocomplete: "off", spellcheck: "false" });
        const devices = h("textarea", { id: "ro-devices", rows: "2",
                                        placeholder: "sim-00001 sim-00002",
                                        spellcheck: "false" });
        const matches = h("small.hint.matches", { role: "status" });
        const canary = h("input", { type: "number", id: "ro-canary", min: "0",
                                    value: "1", inputmode: "numeric" });
        const batch = h("input", { type: "text", id: "ro-batch", value: "10%",
                                   inputmode: "numeric" });
        const maxFail = h("input", { type: "text", id: "ro-maxfail", value: "0",
                                     inputmode: "numeric" });
        const health = h("input", { type: "number", id: "ro-health", min: "0",
                                    placeholder: "device default",
                                    inputmode: "numeric" });
        const timeout = h("input", { type: "number", id: "ro-timeout", min: "0",
                                     placeholder: "server default",
                                     inputmode: "numeric" });
        const roMsg = h("p.form-error", { role: "alert", hidden: true });
        const roBtn = h("button.btn.btn-primary", { type: "submit" },
                        "Start rollout");
        const pkgInfo = h("small.hint", { id: "ro-package-hint" });

        const target = () => (tLabels.checked ? "labels"
            : tDevices.checked ? "devices" : "all");
        const syncTarget = () => {
            labels.disabled = target() !== "labels";
            devices.disabled = target() !== "devices";
            preview();
        };
        for (const r of [tAll, tLabels, tDevices])
            r.addEventListener("change", syncTarget);

        // How many devices the target covers (a count only: limit=1).
        const preview = debounce(async () => {
            const t = target();
            if (t === "devices") {
                const n = devices.value.split(/[\s,]+/).filter(Boolean).length;
                fill(matches, n ? `${count(n)} device${n === 1 ? "" : "s"} listed` : "");
                return;
            }
            const ls = t === "labels"
                ? labels.value.split(/[,\s]+/).filter(Boolean) : [];
            if (t === "labels" && (ls.length === 0 ||
                                   ls.some((l) => !/^[^=]+=.*$/.test(l)))) {
                fill(matches, "");
                return;
            }
            try {
                const r = await api.get("/devices", { label: ls, limit: 1 });
                if (typeof r.total === "number")
                    fill(matches, `Matches ${count(r.total)} device${r.total === 1 ? "" : "s"} now`);
            } catch (_) {
                fill(matches, "");
            }
        }, 300);
        labels.addEventListener("input", preview);
        devices.addEventListener("input", preview);

        pkgChanged = () => {
            const p = packages.find((x) => x.sha256 === roPkg.value);
            fill(pkgInfo, p ? `Updates the VM "${p.vm}" to ${p.version}.` : "");
        };
        roPkg.addEventListener("change", pkgChanged);

        function fail(msg, input) {
            roMsg.textContent = msg;
            roMsg.hidden = false;
            if (input) {
                input.setAttribute("aria-invalid", "true");
                input.focus();
            }
        }

        roForm = h("form.rollout-form", { "aria-labelledby": "pk-ro",
                                          novalidate: true },
            field("Package", roPkg),
            pkgInfo,
            h("fieldset.target", {},
              h("legend", {}, "Target"),
              h("div.radio", {}, tAll, h("label", { for: "ro-t-all" }, "All devices")),
              h("div.radio", {}, tLabels, h("label", { for: "ro-t-labels" },
                                            "Devices with these labels")),
              labels,
              h("div.radio", {}, tDevices, h("label", { for: "ro-t-devices" },
                                             "These devices")),
              devices,
              matches),
            h("div.row-3", {},
              field("Canary devices", canary, "Updated first, alone."),
              field("Batch", batch, "A count or a share, e.g. 5 or 10%."),
              field("Max failures", maxFail, "Pause after more; e.g. 0 or 5%.")),
            h("div.row-3", {},
              field("Health window (ms)", health),
              field("Device timeout (s)", timeout),
              h("div.field.field-end", {}, roBtn)),
            roMsg);
        syncTarget();

        roForm.addEventListener("submit", async (e) => {
            e.preventDefault();
            roMsg.hidden = true;
            for (const i of roForm.querySelectorAll("[aria-invalid]"))
                i.removeAttribute("aria-invalid");
            const p = packages.find((x) => x.sha256 === roPkg.value);
            if (!p)
                return fail("Choose a package (upload one first).", roPkg);
            const body = { vm: p.vm, package: p.sha256 };
            const t = target();
            if (t === "all") {
                body.target = { all: true };
            } else if (t === "labels") {
                const obj = {};
                const ls = labels.value.split(/[,\s]+/).filter(Boolean);
                if (ls.length === 0)
                    return fail("Give at least one label as key=value.", labels);
                for (const l of ls) {
                    const i = l.indexOf("=");
                    if (i < 1)
                        return fail(`"${l}" is not key=value.`, labels);
                    obj[l.slice(0, i)] = l.slice(i + 1);
                }
                body.target = { labels: obj };
            } else {
                const ids = devices.value.split(/[\s,]+/).filter(Boolean);
                if (ids.length === 0)
                    return fail("List at least one device id.", devices);
                body.target = { devices: ids };
            }
            if (!COUNT_RE.test(canary.value.trim()))
                return fail("Canary: a number of devices (0 for none).", canary);
            body.canary = Number(canary.value);
            if (!COUNT_OR_PCT_RE.test(batch.value.trim()))
                return fail("Batch: a number of devices or a share like 10%.", batch);
            body.batch = countOrPct(batch.value);
            if (!COUNT_OR_PCT_RE.test(maxFail.value.trim()))
                return fail("Max failures: a number or a share like 5%.", maxFail);
            body.max_failures = countOrPct(maxFail.value);
            if (health.value.trim() !== "") {
                if (!COUNT_RE.test(health.value.trim()))
                    return fail("Health window: milliseconds.", health);
                body.health_window_ms = Number(health.value);
            }
            if (timeout.value.trim() !== "") {
                if (!COUNT_RE.test(timeout.value.trim()))
                    return fail("Device timeout: seconds.", timeout);
                body.device_timeout_s = Number(timeout.value);
            }
            const ok = await confirmDialog({
                title: `Roll out ${p.vm} ${p.version}?`,
                body: `${p.vm} is updated to ${p.version} on ` +
                      (t === "all" ? "every device"
                          : t === "labels" ? `the devices labelled ${labels.value.trim()}`
                          : `${body.target.devices.length} listed device(s)`) +
                      `, ${body.canary ? `${body.canary} canary first, then ` : ""}` +
                      `in batches of ${body.batch}.`,
                ok: "Start rollout",
            });
            if (!ok)
                return;
            roBtn.disabled = true;
            try {
                const r = await api.post("/rollouts", body);
                toast(`Rollout ${r.id} started.`, "ok");
                location.hash = `#/rollouts/${encodeURIComponent(r.id)}`;
            } catch (err) {
                fail(api.errorText(err));
                if (err.code === "E_FORBIDDEN")
                    ctx.onForbidden();
            } finally {
                roBtn.disabled = false;
            }
        });
    }

    async function del(p) {
        const ok = await confirmDialog({
            title: `Delete ${p.vm} ${p.version}?`,
            body: "The package is removed from the server. Devices that run " +
                  "it keep running it.",
            ok: "Delete",
            danger: true,
        });
        if (!ok)
            return;
        try {
            await api.del(`/packages/${p.sha256}`);
            toast(`Package ${p.vm} ${p.version} deleted.`, "ok");
        } catch (err) {
            toast(`Delete ${p.vm} ${p.version}: ${api.errorText(err)}`, "error");
            if (err.code === "E_FORBIDDEN")
                ctx.onForbidden();
        }
        ctx.refreshNow();
    }

    function rollOut(p) {
        roPkg.value = p.sha256;
        pkgChanged();
        roForm.scrollIntoView({ behavior: "smooth", block: "start" });
        roPkg.focus();
    }

    async function refresh() {
        const r = await api.get("/packages");
        packages = (r.packages || []).sort((a, b) => b.created_ms - a.created_ms);
        fill(tbody, packages.length === 0
            ? emptyRow(ctx.canAct ? 6 : 5, "No packages stored yet.")
            : packages.map((p) => h("tr", {},
                h("th", { scope: "row" }, p.vm),
                h("td", {}, h("code", {}, p.version)),
                h("td", {}, sha(p.sha256)),
                h("td.num", {}, bytes(p.size)),
                h("td", { title: `Signed by key ${p.key_id || "?"}` },
                  ago(p.created_ms)),
                ctx.canAct ? h("td.actions", {},
                  h("button.btn.btn-small", { type: "button",
                    "aria-label": `Roll out ${p.vm} ${p.version}`,
                    onclick: () => rollOut(p) }, "Roll out…"),
                  h("button.btn.btn-small.btn-danger-quiet", { type: "button",
                    "aria-label": `Delete ${p.vm} ${p.version}`,
                    onclick: () => del(p) }, "Delete")) : null)));
        if (roPkg !== null) {
            const had = roPkg.value;
            fill(roPkg, packages.length === 0
                ? h("option", { value: "" }, "No packages yet")
                : packages.map((p) => h("option", { value: p.sha256 },
                    `${p.vm} ${p.version} · ${p.sha256.slice(0, 8)}`)));
            if (select !== null && packages.some((p) => p.sha256 === select)) {
                roPkg.value = select;
                select = null;
            } else if (packages.some((p) => p.sha256 === had)) {
                roPkg.value = had;
            }
            pkgChanged();
        }
    }

    const el = h("section.page", {},
        h("div.page-head", {}, h("div", {}, h("h1", {}, "Packages"),
          h("p.subtitle", {}, "Signed VM updates (.vpk) stored on the server."))),
        ctx.canAct ? h("section.card", { "aria-labelledby": "pk-up" },
            h("h2", { id: "pk-up" }, "Upload a package"),
            h("p.card-intro.muted", {}, "Made with ", h("code", {}, "vmctl pack"),
              " and signed with a key vmctld trusts. The server checks its " +
              "format, signature and hashes before storing it."),
            upForm) : null,
        h(`div${ctx.canAct ? ".grid-pk" : ""}`, {},
          h("section.card.card-flush", { "aria-labelledby": "pk-list" },
            h("div.card-head.pad", {},
              h("h2", { id: "pk-list" }, "Stored packages")),
            h("table.table", {},
              h("thead", {}, h("tr", {},
                h("th", { scope: "col" }, "VM"),
                h("th", { scope: "col" }, "Version"),
                h("th", { scope: "col" }, "SHA-256"),
                h("th.num", { scope: "col" }, "Size"),
                h("th", { scope: "col" }, "Stored"),
                ctx.canAct ? h("th", { scope: "col" }, "Actions") : null)),
              tbody)),
          ctx.canAct ? h("section.card", { "aria-labelledby": "pk-ro" },
              h("h2", { id: "pk-ro" }, "Start a rollout"), roForm) : null));

    return {
        el,
        title: "Packages",
        refresh,
        wants: () => false,
    };
}
