/* gitexp UI helpers. Run data is untrusted: the DOM is built with textContent only. */
"use strict";
const GX = (() => {
  const page = JSON.parse(document.getElementById("page-data").textContent);
  const ESC = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "`": "&#96;", "=": "&#61;", "/": "&#47;"};

  /** HTML-escape any value (for the few HTML strings a chart tooltip needs). */
  function esc(value) { return String(value).replace(/[&<>"'`=\/]/g, (c) => ESC[c]); }

  /** el("td", {class: "num"}, "text", otherNode): children are text or nodes, never HTML. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function fmt(v) {
    if (v === null || v === undefined) return "–";
    if (typeof v === "number") {
      if (Number.isInteger(v)) return String(v);
      const a = Math.abs(v);
      return (a !== 0 && (a < 1e-3 || a >= 1e6)) ? v.toExponential(3) : String(Number(v.toPrecision(5)));
    }
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  }

  function fmtTime(ms) {
    if (!ms) return "–";
    const d = new Date(ms);
    return d.toISOString().replace("T", " ").slice(0, 16);
  }

  function fmtDuration(s) {
    if (s === null || s === undefined) return "–";
    if (s < 60) return s.toFixed(1) + " s";
    if (s < 3600) return Math.floor(s / 60) + " m " + Math.round(s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.round((s % 3600) / 60) + " m";
  }

  function badge(status) { return el("span", {class: "badge badge-" + String(status).toLowerCase(), text: status}); }

  async function getJSON(url) {
    const response = await fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin"});
    const body = await response.json();
    if (!response.ok) { const e = new Error((body.error && body.error.message) || response.statusText); e.body = body; throw e; }
    return body;
  }

  async function post(url, payload) {
    const meta = document.querySelector('meta[name="gitexp-csrf"]');
    const response = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": meta ? meta.content : ""},
      body: JSON.stringify(payload),
    });
    const body = await response.json();
    if (!response.ok) throw new Error((body.error && (body.error.message + (body.error.hint ? " (hint: " + body.error.hint + ")" : ""))) || response.statusText);
    return body;
  }

  function runLink(id) { return page.static ? "runs/" + encodeURIComponent(id) + ".html" : "/run/" + encodeURIComponent(id); }
  function embedded(id) { const node = document.getElementById(id); return node ? JSON.parse(node.textContent) : null; }

  return {page, esc, el, fmt, fmtTime, fmtDuration, badge, getJSON, post, runLink, embedded};
})();
