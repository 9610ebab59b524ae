/* The run page: metric charts, artifact previews, live refresh, and (opt-in) edits. */
"use strict";
(() => {
  const {el, getJSON, post, page} = GX;
  const $ = (id) => document.getElementById(id);
  let histories = null, state = null;

  async function loadCharts() {
    if (!$("charts") || !page.metrics.length) return;
    histories = page.static ? GX.embedded("histories-data")
                            : await getJSON("/api/histories?runs=" + encodeURIComponent(page.run));
    if (!state) state = GXCharts.controls($("chart-controls"), page.metrics, draw);
    draw(state);
    if (!page.static && page.status === "RUNNING") setTimeout(loadCharts, 5000);
  }
  function draw(s) { GXCharts.metricCharts($("charts"), histories, s.metrics, s); }

  for (const button of document.querySelectorAll("button.preview")) {
    button.addEventListener("click", async () => {
      const box = $("preview"), path = button.dataset.path;
      const url = "/run/" + encodeURIComponent(page.run) + "/artifact/" + path.split("/").map(encodeURIComponent).join("/");
      box.hidden = false;
      if (button.dataset.kind === "image") {
        box.replaceChildren(el("p", {class: "muted", text: path}), el("img", {src: url + "?view=inline", alt: path}));
        return;
      }
      const response = await fetch(url + "?view=text");
      let text = await response.text();
      if (path.toLowerCase().endsWith(".json")) { try { text = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* as is */ } }
      const body = path.toLowerCase().endsWith(".csv") ? csvTable(text) : el("pre", {text: text.slice(0, 200000)});
      box.replaceChildren(el("p", {class: "muted", text: path}), body);
    });
  }

  function csvTable(text) {
    const rows = text.split(/\r?\n/).filter(Boolean).slice(0, 200).map((line) => line.split(","));
    return el("table", {class: "data"}, ...rows.map((cells, i) => el("tr", {}, ...cells.map((c) => el(i ? "td" : "th", {text: c})))));
  }

  function edits() {
    if (!$("edit")) return;
    const status = $("edit-status");
    const base = "/api/run/" + encodeURIComponent(page.run) + "/";
    const done = (promise) => promise.then((r) => { status.textContent = "saved: " + r.commit.slice(0, 12) + "; reloading…"; setTimeout(() => location.replace("/run/" + encodeURIComponent(r.id)), 400); })
                                      .catch((e) => { status.textContent = "Error: " + e.message; });
    $("tag-form").addEventListener("submit", (e) => {
      e.preventDefault(); const f = e.target;
      done(post(base + "tags", {set: {[f.key.value]: f.value.value}}));
    });
    $("tag-delete").addEventListener("click", () => done(post(base + "tags", {delete: [$("tag-form").key.value]})));
    $("note-form").addEventListener("submit", (e) => { e.preventDefault(); done(post(base + "note", {text: e.target.text.value})); });
    $("rename-form").addEventListener("submit", (e) => { e.preventDefault(); done(post(base + "rename", {name: e.target.name.value})); });
  }

  edits();
  loadCharts().catch((e) => { $("charts").replaceChildren(el("p", {class: "error", text: "charts: " + e.message})); });
})();
