/* The compare page: overlaid histories, scatter and parallel coordinates of the compared runs, code diff. */
"use strict";
(() => {
  const {el, getJSON, page} = GX;
  const $ = (id) => document.getElementById(id);
  const keyed = page.rows.filter((r) => r.section !== "info" || r.key === "duration")
    .map((r) => ({name: r.section === "info" ? r.key : r.section + "." + r.key, values: r.values, section: r.section, differs: r.differs}))
    .sort((a, b) => (b.differs - a.differs));  // keys that tell the runs apart first

  $("only-diff").addEventListener("change", (e) => {
    for (const tr of document.querySelectorAll("#compare-table tbody tr.same")) tr.hidden = e.target.checked;
  });

  async function histories() {
    const metrics = page.rows.filter((r) => r.section === "metrics").map((r) => r.key);
    if (!metrics.length) { $("charts").replaceChildren(el("p", {class: "muted", text: "no metrics"})); return; }
    // The server names the URL, and the page preloads it while the scripts load.
    const data = await getJSON(page.histories);
    const state = GXCharts.controls($("chart-controls"), metrics, (s) => GXCharts.metricCharts($("charts"), data, s.metrics, s));
    GXCharts.metricCharts($("charts"), data, state.metrics, state);
  }

  function select(id, options, chosen) {
    return el("select", {id}, ...options.map((o) => el("option", {value: o, selected: o === chosen, text: o})));
  }

  function scatter() {
    const names = keyed.map((k) => k.name);
    const metric = keyed.find((k) => k.section === "metrics"), param = keyed.find((k) => k.section === "params");
    const xs = select("scatter-x", names, (param || keyed[0] || {}).name), ys = select("scatter-y", names, (metric || keyed[0] || {}).name);
    const draw = () => {
      const kx = keyed.find((k) => k.name === xs.value), ky = keyed.find((k) => k.name === ys.value);
      if (!kx || !ky) return;
      const points = page.names.map((name, i) => ({name, x: kx.values[i], y: ky.values[i]})).filter((p) => p.x !== null && p.y !== null);
      GXCharts.scatter($("scatter"), points, kx.name, ky.name);
    };
    xs.addEventListener("change", draw); ys.addEventListener("change", draw);
    $("scatter-controls").replaceChildren(el("label", {}, "x ", xs), el("label", {}, "y ", ys));
    draw();
  }

  function parallel() {
    const names = keyed.map((k) => k.name);
    const keys = el("select", {id: "parallel-keys", multiple: true, size: Math.min(6, names.length)},
      ...names.map((n, i) => el("option", {value: n, selected: i < 6, text: n})));
    const metrics = keyed.filter((k) => k.section === "metrics").map((k) => k.name);
    const color = select("parallel-color", ["(none)", ...metrics], metrics[0] || "(none)");
    const draw = () => {
      const chosen = [...keys.selectedOptions].map((o) => keyed.find((k) => k.name === o.value));
      if (!chosen.length) return;
      const runs = page.names.map((name, i) => ({name, values: chosen.map((k) => k.values[i])}));
      GXCharts.parallel($("parallel"), chosen.map((k) => k.name), runs, chosen.findIndex((k) => k.name === color.value));
    };
    keys.addEventListener("change", draw); color.addEventListener("change", draw);
    $("parallel-controls").replaceChildren(el("label", {}, "keys ", keys), el("label", {}, "colour ", color));
    draw();
  }

  function codeDiff() {
    const labels = page.runs.map((id, i) => id);
    const a = el("select", {id: "diff-a"}, ...page.runs.map((id, i) => el("option", {value: id, selected: i === 0, text: page.names[i]})));
    const b = el("select", {id: "diff-b"}, ...page.runs.map((id, i) => el("option", {value: id, selected: i === 1, text: page.names[i]})));
    const show = async () => {
      const box = $("codediff");
      box.replaceChildren(el("p", {class: "muted", text: "loading…"}));
      const d = await getJSON("/api/codediff?a=" + encodeURIComponent(a.value) + "&b=" + encodeURIComponent(b.value));
      const files = d.files.map((f) => el("details", {class: "code-file", open: d.files.length <= 5},
        el("summary", {}, el("span", {class: "change change-" + f.change, text: f.change}), " ", el("code", {text: f.path}),
          f.added_lines != null ? el("span", {class: "add", text: " +" + f.added_lines}) : null,
          f.removed_lines != null ? el("span", {class: "del", text: " −" + f.removed_lines}) : null),
        f.text ? diffPre(f.text) : null));
      box.replaceChildren(...(files.length ? files : [el("p", {class: "muted", text: "the code snapshots are identical"})]),
        el("p", {class: "muted", text: d.unchanged + " files unchanged"}));
    };
    a.addEventListener("change", show); b.addEventListener("change", show);
    $("diff-controls").replaceChildren(el("label", {}, "from ", a), el("label", {}, " to ", b));
    show().catch((e) => $("codediff").replaceChildren(el("p", {class: "error", text: e.message})));
  }

  function diffPre(text) {
    return el("pre", {class: "diff"}, ...text.split("\n").map((line) => el("span", {
      class: line.startsWith("@@") ? "hunk" : (line.startsWith("+++") || line.startsWith("---")) ? "file"
           : line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : "ctx", text: line})));
  }

  // The metric histories first (they are what a comparison is opened for), then the rest.
  histories().catch((e) => $("charts").replaceChildren(el("p", {class: "error", text: e.message}))).finally(() => {
    if (keyed.length) { scatter(); parallel(); }
    if (page.runs.length >= 2) codeDiff();
  });
})();
