/* The runs table: server-side filter, sort and paging (client-side in a static export). */
"use strict";
(() => {
  const {el, fmt, fmtTime, fmtDuration, badge, getJSON, runLink, page} = GX;
  const params = new URLSearchParams(location.search);
  const state = {
    filter: params.get("filter") || "", sort: params.get("sort") || "", experiment: params.get("experiment") || "",
    offset: Number(params.get("offset") || 0), limit: Number(params.get("limit") || 50),
    columns: params.get("columns") ? params.get("columns").split(",") : null,
  };
  const selected = new Set((params.get("selected") || "").split(",").filter(Boolean));
  const all = page.static ? GX.embedded("runs-data") : null;
  const $ = (id) => document.getElementById(id);
  let last = null, timer = null;

  $("filter").value = state.filter;
  $("experiment").value = state.experiment;
  $("limit").value = String(state.limit);

  function syncURL() {
    const q = new URLSearchParams();
    for (const k of ["filter", "sort", "experiment"]) if (state[k]) q.set(k, state[k]);
    if (state.offset) q.set("offset", state.offset);
    if (state.limit !== 50) q.set("limit", state.limit);
    if (state.columns) q.set("columns", state.columns.join(","));
    if (selected.size) q.set("selected", [...selected].join(","));
    history.replaceState(null, "", q.toString() ? "?" + q : location.pathname);
  }

  async function load() {
    clearTimeout(timer);
    let data;
    if (all) data = localPage();
    else {
      const q = new URLSearchParams({filter: state.filter, sort: state.sort, experiment: state.experiment,
                                     offset: state.offset, limit: state.limit});
      if (state.columns) q.set("columns", state.columns.join(","));
      try { data = await getJSON("/api/runs?" + q); }
      catch (e) { return showError(e.body && e.body.error ? e.body.error : {message: e.message}); }
    }
    showError(null);
    last = data;
    if (!state.columns) state.columns = data.columns;
    render(data);
    syncURL();
    if (!page.static && data.running) {
      $("live").textContent = data.running + " running: refreshing every 3 s";
      timer = setTimeout(load, 3000);
    } else $("live").textContent = "";
  }

  function localPage() {
    let rows = all.rows.filter((r) => !state.experiment || r.experiment === state.experiment);
    if (state.sort) {
      const desc = state.sort.startsWith("-"), key = state.sort.replace(/^[-+]/, "");
      const get = (r) => ({name: r.name, status: r.status, start: r.start_ms, duration: r.duration, user: r.user,
                           experiment: r.experiment}[key] ?? r.values[key]);
      rows = rows.slice().sort((a, b) => {
        const x = get(a), y = get(b);
        if (x === undefined || x === null) return 1;
        if (y === undefined || y === null) return -1;
        return (x < y ? -1 : x > y ? 1 : 0) * (desc ? -1 : 1);
      });
    }
    return {total: rows.length, offset: state.offset, limit: state.limit, keys: all.keys,
            columns: state.columns || all.default_columns, rows: rows.slice(state.offset, state.offset + state.limit), running: 0};
  }

  function showError(error) {
    const box = $("filter-error");
    if (!error) { box.hidden = true; box.textContent = ""; return; }
    box.hidden = false;
    box.textContent = "Error: " + error.message + (error.pointer ? "\n" + error.pointer : "") + (error.hint ? "\nhint: " + error.hint : "");
  }

  const FIXED = [["", ""], ["name", "name"], ["status", "status"], ["experiment", "experiment"], ["start", "started"],
                 ["duration", "duration"], ["user", "user"]];

  function header(key, label) {
    if (!key) return el("th", {}, el("input", {type: "checkbox", title: "select all on this page", onchange: selectPage}));
    const arrow = state.sort === key ? " ▲" : state.sort === "-" + key ? " ▼" : "";
    return el("th", {class: "sortable", "data-key": key, title: "sort by " + key, onclick: () => {
      state.sort = state.sort === key ? "-" + key : state.sort === "-" + key ? "" : key;
      state.offset = 0; load();
    }}, label + arrow);
  }

  function render(data) {
    const head = $("runs-head");
    head.replaceChildren(...FIXED.map(([k, l]) => header(k, l)), ...state.columns.map((c) => header(c, c)));
    const body = $("runs-body");
    body.replaceChildren(...data.rows.map((r) => {
      const cells = [
        el("td", {}, el("input", {type: "checkbox", class: "select", "data-id": r.id, checked: selected.has(r.id),
                                  onchange: (e) => { e.target.checked ? selected.add(r.id) : selected.delete(r.id); updateCompare(); syncURL(); }})),
        el("td", {}, el("a", {href: runLink(r.id), class: "run-link"}, r.name || r.id)),
        el("td", {}, badge(r.status)),
        el("td", {text: r.experiment}),
        el("td", {class: "num", text: fmtTime(r.start_ms)}),
        el("td", {class: "num", text: fmtDuration(r.duration)}),
        el("td", {text: r.user || ""}),
        ...state.columns.map((c) => el("td", {class: "num", text: fmt(r.values[c])})),
      ];
      return el("tr", {"data-id": r.id, class: r.error ? "corrupt" : null, title: r.error || null}, ...cells);
    }));
    const end = Math.min(data.offset + data.rows.length, data.total);
    $("range").textContent = data.total ? `${data.offset + 1}–${end} of ${data.total} runs` : "no runs match";
    $("prev").disabled = data.offset === 0;
    $("next").disabled = end >= data.total;
    renderChooser(data.keys);
    updateCompare();
  }

  function renderChooser(keys) {
    const list = $("column-list");
    const groups = ["params", "metrics", "tags"].map((g) => el("fieldset", {}, el("legend", {text: g}),
      ...(keys[g].length ? keys[g].map((k) => el("label", {}, el("input", {type: "checkbox", value: k, checked: state.columns.includes(k),
        onchange: (e) => {
          state.columns = e.target.checked ? [...state.columns, k] : state.columns.filter((c) => c !== k);
          load();
        }}), " " + k.slice(g.length + 1))) : [el("span", {class: "muted", text: "none"})])));
    list.replaceChildren(...groups);
  }

  function selectPage(e) {
    for (const box of document.querySelectorAll("input.select")) {
      box.checked = e.target.checked;
      e.target.checked ? selected.add(box.dataset.id) : selected.delete(box.dataset.id);
    }
    updateCompare(); syncURL();
  }

  function updateCompare() {
    const button = $("compare");
    button.disabled = page.static || selected.size < 2;
    button.textContent = `Compare selected (${selected.size})`;
  }

  $("compare").addEventListener("click", () => { location.href = "/compare?runs=" + [...selected].map(encodeURIComponent).join(","); });
  $("filter-form").addEventListener("submit", (e) => { e.preventDefault(); state.filter = $("filter").value.trim(); state.offset = 0; load(); });
  $("experiment").addEventListener("change", (e) => { state.experiment = e.target.value; state.offset = 0; load(); });
  $("limit").addEventListener("change", (e) => { state.limit = Number(e.target.value); state.offset = 0; load(); });
  $("prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - state.limit); load(); });
  $("next").addEventListener("click", () => { state.offset += state.limit; load(); });
  load();
})();
