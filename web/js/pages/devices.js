// SPDX-License-Identifier: Apache-2.0
// Copyright (c) 2026 the vmfleet authors

// #/devices — the device table: search, label filter, online filter,
// sorting and paging.  The server does the work (GET /devices with q,
// label, online, sort, limit, offset → total), so a page of 50 rows
// costs the same with 10 or 10,000 devices.  A vmctld that does not page
// yet (it refuses q/sort/limit/offset as unknown parameters) gets the
// whole list once per refresh and the paging is done here.
// The filters live in the address (#/devices?q=...&label=...&page=2).

import * as api from "../api.js";
import { h, fill, count, badge, ago, debounce, emptyRow } from "../ui.js";

const SIZES = [25, 50, 100, 200];
let serverPaging = true; // false once vmctld refused the paging parameters

function labelsOf(text) {
    return text.split(/[,\s]+/).map((s) => s.trim()).filter(Boolean);
}

/** "2 running, 1 suspended" for a device's VMs. */
export function vmSummary(vms) {
    if (!vms || vms.length === 0)
        return h("span.muted", {}, "no VMs");
    const by = new Map();
    for (const vm of vms)
        by.set(vm.state, (by.get(vm.state) || 0) + 1);
    const order = ["running", "suspended", "restarting", "stopped", "created",
                   "failed", "crashed"];
    const states = [...by.keys()].sort((a, b) =>
        (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99));
    const title = vms.map((vm) => `${vm.name} ${vm.version}: ${vm.state}`)
        .join("\n");
    return h("span.vm-summary", { title }, states.map((s) =>
        badge(s, `${by.get(s)} ${s}`)));
}

function sortLocal(list, sort) {
    const desc = sort.startsWith("-");
    const key = desc ? sort.slice(1) : sort;
    const cmp = key === "last_seen"
        ? (a, b) => (a.last_seen_ms || 0) - (b.last_seen_ms || 0) ||
                    a.id.localeCompare(b.id)
        : (a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
    list.sort(cmp);
    if (desc)
        list.reverse();
    return list;
}

export function mount(ctx) {
    const q = ctx.query;
    const st = {
        q: q.get("q") || "",
        labels: q.getAll("label"),
        online: q.get("online") || "",
        sort: q.get("sort") || "id",
        size: SIZES.includes(Number(q.get("size"))) ? Number(q.get("size")) : 50,
        page: Math.max(1, Number.parseInt(q.get("page") || "1", 10) || 1),
    };

    const search = h("input", { type: "search", id: "dev-q", value: st.q,
                                placeholder: "Device id contains…",
                                autocomplete: "off", spellcheck: "false" });
    const labelIn = h("input", { type: "text", id: "dev-label",
                                 value: st.labels.join(", "),
                                 placeholder: "site=berlin, tier=edge",
                                 autocomplete: "off", spellcheck: "false" });
    const online = h("select", { id: "dev-online" },
                     h("option", { value: "" }, "Any"),
                     h("option", { value: "true" }, "Online"),
                     h("option", { value: "false" }, "Offline"));
    online.value = st.online;
    const size = h("select", { id: "dev-size" },
                   SIZES.map((n) => h("option", { value: String(n) }, String(n))));
    size.value = String(st.size);
    const labelErr = h("small.form-error", { id: "dev-label-err", hidden: true });
    const clear = h("button.btn.btn-quiet", { type: "button" }, "Clear filters");

    const tbody = h("tbody");
    const summary = h("p.pager-text", { role: "status" });
    const pager = h("div.pager");
    const sortBtns = {};
    const sortHeader = (key, label) => {
        const btn = h("button.sort", { type: "button" }, label,
                      h("span.sort-mark", { "aria-hidden": "true" }));
        btn.addEventListener("click", () => {
            st.sort = st.sort === key ? "-" + key
                : st.sort === "-" + key ? key
                : key === "last_seen" ? "-last_seen" : key;
            st.page = 1;
            changed(true);
        });
        const th = h("th", { scope: "col" }, btn);
        sortBtns[key] = th;
        return th;
    };

    const el = h("section.page", {},
        h("div.page-head", {}, h("div", {}, h("h1", {}, "Devices"),
          h("p.subtitle", {}, "Every device that ever reported to vmctld."))),
        h("form.filters.card", { role: "search", "aria-label": "Filter devices",
                                 onsubmit: (e) => e.preventDefault() },
          h("div.field", {}, h("label", { for: "dev-q" }, "Search"), search),
          h("div.field.grow", {}, h("label", { for: "dev-label" },
                                    "Labels (key=value, all must match)"),
            labelIn, labelErr),
          h("div.field", {}, h("label", { for: "dev-online" }, "Status"), online),
          h("div.field", {}, h("label", { for: "dev-size" }, "Per page"), size),
          h("div.field.field-end", {}, clear)),
        h("div.card.card-flush", {},
          h("table.table.table-devices", {},
            h("caption.sr-only", {}, "Devices"),
            h("thead", {}, h("tr", {},
              sortHeader("id", "Device"),
              h("th", { scope: "col" }, "Status"),
              h("th", { scope: "col" }, "Labels"),
              h("th", { scope: "col" }, "VMs"),
              h("th", { scope: "col" }, "Runtime"),
              sortHeader("last_seen", "Last seen"))),
            tbody),
          h("div.table-foot", {}, summary, pager)));

    function query() {
        return { q: st.q, label: st.labels, online: st.online,
                 sort: st.sort === "id" ? "" : st.sort,
                 size: st.size === 50 ? "" : st.size,
                 page: st.page === 1 ? "" : st.page };
    }

    function changed(now) {
        ctx.setQuery(query());
        if (now)
            ctx.refreshNow();
        else
            ctx.refresh();
    }

    const typed = debounce(() => changed(true), 250);
    search.addEventListener("input", () => {
        st.q = search.value.trim();
        st.page = 1;
        typed();
    });
    labelIn.addEventListener("input", () => {
        const labels = labelsOf(labelIn.value);
        const bad = labels.find((l) => !/^[^=]{1,63}=.{0,63}$/.test(l));
        labelErr.hidden = bad === undefined;
        labelIn.setAttribute("aria-invalid", bad ? "true" : "false");
        if (bad !== undefined) {
            labelErr.textContent = `"${bad}" is not key=value`;
            return;
        }
        st.labels = labels;
        st.page = 1;
        typed();
    });
    online.addEventListener("change", () => {
        st.online = online.value;
        st.page = 1;
        changed(true);
    });
    size.addEventListener("change", () => {
        st.size = Number(size.value);
        st.page = 1;
        changed(true);
    });
    clear.addEventListener("click", () => {
        search.value = "";
        labelIn.value = "";
        online.value = "";
        labelErr.hidden = true;
        Object.assign(st, { q: "", labels: [], online: "", page: 1 });
        changed(true);
    });

    function addLabel(l) {
        if (!st.labels.includes(l)) {
            st.labels = [...st.labels, l];
            labelIn.value = st.labels.join(", ");
            st.page = 1;
            changed(true);
        }
    }

    async function load() {
        const offset = (st.page - 1) * st.size;
        const online = st.online || undefined;
        if (serverPaging) {
            try {
                const r = await api.get("/devices", {
                    q: st.q, label: st.labels, online, sort: st.sort,
                    limit: st.size, offset });
                if (typeof r.total === "number")
                    return { list: r.devices || [], total: r.total };
                // An answer without total ignored the paging: page here.
                serverPaging = false;
                return localPage(r.devices || []);
            } catch (err) {
                if (!(err.status === 400 &&
                      /unknown query parameter/.test(err.message)))
                    throw err;
                serverPaging = false;
            }
        }
        const r = await api.get("/devices", { label: st.labels, online });
        return localPage(r.devices || []);
    }

    function localPage(all) {
        const needle = st.q.toLowerCase();
        const list = sortLocal(
            all.filter((d) => d.id.toLowerCase().includes(needle)), st.sort);
        const offset = (st.page - 1) * st.size;
        return { list: list.slice(offset, offset + st.size),
                 total: list.length };
    }

    function pageButton(label, page, disabled, aria) {
        return h("button.btn.btn-small", {
            type: "button", disabled, "aria-label": aria,
            onclick: () => { st.page = page; changed(true); },
        }, label);
    }

    async function refresh() {
        const { list, total } = await load();
        const pages = Math.max(1, Math.ceil(total / st.size));
        if (st.page > pages && total > 0) {
            // The filter shrank the list under us: go to its last page.
            st.page = pages;
            ctx.setQuery(query());
            return refresh();
        }
        for (const [key, th] of Object.entries(sortBtns)) {
            const dir = st.sort === key ? "ascending"
                : st.sort === "-" + key ? "descending" : "none";
            th.setAttribute("aria-sort", dir);
        }
        fill(tbody, list.length === 0
            ? emptyRow(6, total === 0 && (st.q || st.labels.length || st.online)
                ? "No device matches these filters."
                : "No devices yet.")
            : list.map((d) => h("tr", {},
                h("td", {}, h("a.strong", { href: `#/devices/${encodeURIComponent(d.id)}` },
                              d.id)),
                h("td", {}, d.online ? badge("online") : badge("offline")),
                h("td", {}, h("span.labels", {},
                  Object.entries(d.labels || {}).map(([k, v]) =>
                    h("button.chip", { type: "button",
                                       title: `Filter by ${k}=${v}`,
                                       onclick: () => addLabel(`${k}=${v}`) },
                      `${k}=${v}`)))),
                h("td", {}, vmSummary(d.vms)),
                h("td", {}, h("code", {}, d.runtime_version || "–")),
                h("td", {}, ago(d.last_seen_ms)))));
        const first = total === 0 ? 0 : (st.page - 1) * st.size + 1;
        const last = Math.min(total, st.page * st.size);
        fill(summary, total === 0 ? "No devices"
            : `${count(first)}–${count(last)} of ${count(total)} devices`);
        fill(pager,
             pageButton("« First", 1, st.page <= 1, "First page"),
             pageButton("‹ Prev", st.page - 1, st.page <= 1, "Previous page"),
             h("span.pager-page", {}, `Page ${count(st.page)} of ${count(pages)}`),
             pageButton("Next ›", st.page + 1, st.page >= pages, "Next page"),
             pageButton("Last »", pages, st.page >= pages, "Last page"));
    }

    return {
        el,
        title: "Devices",
        refresh,
        wants: (ev) => ev.type === "device" || ev.type === "vm",
    };
}
