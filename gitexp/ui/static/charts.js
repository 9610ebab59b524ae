/* Charts with the vendored Apache ECharts. Tooltips are HTML, so every value in them is escaped. */
"use strict";
const GXCharts = (() => {
  const {el, esc, fmt} = GX;
  const charts = new Set();
  window.addEventListener("resize", () => charts.forEach((c) => c.resize()));
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  const BASE = {animation: false, grid: {left: 60, right: 20, top: 40, bottom: 60}, textStyle: {fontFamily: "system-ui, sans-serif"}};

  function make(node) {
    const old = echarts.getInstanceByDom(node);
    if (old) { charts.delete(old); old.dispose(); }
    const chart = echarts.init(node, null, {renderer: "canvas"});
    charts.add(chart);
    return chart;
  }

  function smooth(points, window) {
    if (window <= 1) return points;
    const out = [], buf = [];
    let sum = 0;
    for (const [x, y] of points) {
      if (y === null) { out.push([x, null]); continue; }
      buf.push(y); sum += y;
      if (buf.length > window) sum -= buf.shift();
      out.push([x, sum / buf.length]);
    }
    return out;
  }

  function xOf(mode, run) {
    if (mode === "time") return (p) => p[2];
    if (mode === "elapsed") { return (p) => (p[2] - (run.start_ms ?? p[2])) / 1000; }
    return (p) => p[0];
  }

  function axisTooltip(mode) {
    return (items) => {
      if (!items.length) return "";
      const x = items[0].value[0];
      const head = mode === "time" ? new Date(x).toISOString() : (mode === "elapsed" ? fmt(x) + " s" : "step " + fmt(x));
      return "<b>" + esc(head) + "</b><br>" + items.map((i) =>
        i.marker + esc(i.seriesName) + ": <b>" + esc(fmt(i.value[1])) + "</b>").join("<br>");
    };
  }

  /** A line's columns {t0, step, value, time (ms after t0)} as [step, value, timestamp] points. */
  function points(c) {
    return c.step.map((s, i) => [s, c.value[i], c.t0 + c.time[i]]);
  }

  /** One chart per metric, one line per run. histories: {runs: [{name, id, start_ms, metrics: {k: columns}}]} */
  function metricCharts(container, histories, metrics, opts) {
    const nodes = metrics.map((key) => {
      const node = el("div", {class: "chart", "data-metric": key});
      return el("figure", {class: "chart-box"}, el("figcaption", {text: key}), node);
    });
    container.replaceChildren(...nodes);
    metrics.forEach((key, i) => {
      const series = histories.runs.map((run, n) => [run, n]).filter(([r]) => r.metrics[key]).map(([run, n]) => {
        const x = xOf(opts.x, run);
        let data = smooth(points(run.metrics[key]).map((p) => [x(p), p[1]]), opts.smooth || 1);
        if (opts.logy) data = data.map(([a, b]) => [a, b !== null && b > 0 ? b : null]);
        return {name: run.name, type: "line", color: PALETTE[n % PALETTE.length], showSymbol: data.length < 60, symbolSize: 4, sampling: "lttb", data,
                connectNulls: false, emphasis: {focus: "series"}};
      });
      const chart = make(nodes[i].querySelector(".chart"));
      chart.setOption({...BASE,
        legend: {type: "scroll", top: 0},
        tooltip: {trigger: "axis", confine: true, formatter: axisTooltip(opts.x)},
        xAxis: {type: opts.x === "time" ? "time" : "value", name: opts.x === "elapsed" ? "elapsed (s)" : opts.x, nameLocation: "middle", nameGap: 28, scale: true},
        yAxis: {type: opts.logy ? "log" : "value", scale: true},
        dataZoom: [{type: "inside"}, {type: "slider", height: 16, bottom: 4, showDataShadow: false}],  // the shadow costs a redraw of every line
        series});
    });
  }

  function controls(container, metrics, onChange) {
    const state = {x: "step", smooth: 1, logy: false, metrics: metrics.slice(0, 12)};
    const xSel = el("select", {id: "x-mode", onchange: (e) => { state.x = e.target.value; onChange(state); }},
      ...["step", "time", "elapsed"].map((m) => el("option", {value: m, text: m})));
    const smoothIn = el("input", {type: "range", id: "smooth", min: 1, max: 50, value: 1, oninput: (e) => {
      state.smooth = Number(e.target.value); label.textContent = String(state.smooth); onChange(state); }});
    const label = el("span", {text: "1"});
    const logIn = el("input", {type: "checkbox", id: "logy", onchange: (e) => { state.logy = e.target.checked; onChange(state); }});
    const parts = [el("label", {}, "x ", xSel), el("label", {}, "smoothing ", smoothIn, " ", label), el("label", {}, logIn, " log y")];
    if (metrics.length > 12) {
      parts.push(el("label", {}, "metrics ", el("select", {multiple: true, size: 4, onchange: (e) => {
        state.metrics = [...e.target.selectedOptions].map((o) => o.value); onChange(state); }},
        ...metrics.map((m, i) => el("option", {value: m, selected: i < 12, text: m})))));
    }
    container.replaceChildren(...parts);
    return state;
  }

  /** points: [{name, x, y}] */
  function scatter(node, points, xName, yName) {
    const categorical = (vals) => vals.some((v) => typeof v !== "number");
    const xs = points.map((p) => p.x), ys = points.map((p) => p.y);
    const axis = (vals, name) => categorical(vals)
      ? {type: "category", name, data: [...new Set(vals.map(String))], nameLocation: "middle", nameGap: 28}
      : {type: "value", name, scale: true, nameLocation: "middle", nameGap: 40};
    const xAxis = axis(xs, xName), yAxis = axis(ys, yName);
    const val = (v, a) => a.type === "category" ? String(v) : v;
    make(node).setOption({...BASE,
      tooltip: {trigger: "item", confine: true, formatter: (i) => "<b>" + esc(i.data.name) + "</b><br>" + esc(xName) + ": " +
        esc(fmt(i.data.raw[0])) + "<br>" + esc(yName) + ": " + esc(fmt(i.data.raw[1]))},
      xAxis, yAxis,
      series: [{type: "scatter", symbolSize: 10, data: points.map((p) => ({name: p.name, raw: [p.x, p.y], value: [val(p.x, xAxis), val(p.y, yAxis)]}))}]});
  }

  /** keys: names; runs: [{name, values: []}] aligned with keys; colorKey index or -1 */
  function parallel(node, keys, runs, colorIndex) {
    const parallelAxis = keys.map((k, dim) => {
      const vals = runs.map((r) => r.values[dim]);
      return vals.some((v) => v !== null && typeof v !== "number")
        ? {dim, name: k, type: "category", data: [...new Set(vals.map(String))]}
        : {dim, name: k, type: "value", scale: true};
    });
    const data = runs.map((r) => ({name: r.name, value: r.values.map((v, i) => parallelAxis[i].type === "category" ? String(v) : v)}));
    const option = {...BASE, grid: undefined, parallel: {left: 50, right: 130, top: 50, bottom: 30},
      parallelAxis: parallelAxis.map((a) => ({...a, nameTextStyle: {fontSize: 11}})),
      tooltip: {trigger: "item", confine: true, formatter: (i) => "<b>" + esc(i.name) + "</b><br>" +
        keys.map((k, j) => esc(k) + ": " + esc(fmt(runs[i.dataIndex].values[j]))).join("<br>")},
      series: [{type: "parallel", lineStyle: {width: 2, opacity: 0.8}, data}]};
    const nums = colorIndex >= 0 ? runs.map((r) => r.values[colorIndex]).filter((v) => typeof v === "number") : [];
    if (nums.length) {
      option.visualMap = {type: "continuous", dimension: colorIndex, min: Math.min(...nums), max: Math.max(...nums),
                          precision: 3, right: 0, top: "middle", calculable: true, inRange: {color: ["#3b4cc0", "#dddddd", "#b40426"]},
                          text: [keys[colorIndex], ""], textStyle: {fontSize: 11}};
    }
    make(node).setOption(option, true);
  }

  return {metricCharts, controls, scatter, parallel};
})();
