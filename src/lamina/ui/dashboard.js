// Lamina dashboard: follows /lamina/v1/stream (one JSON snapshot every half second), keeps
// 60 s of history, draws plain-SVG charts and keeps the functions table up to date.
"use strict";

const WINDOW_S = 60;
const COLORS = ["#2e86de", "#27ae60", "#8e44ad", "#16a085", "#d35400", "#2c3e50", "#f39c12",
                "#7f8c8d", "#c0392b", "#1abc9c"];
const SVG_NS = "http://www.w3.org/2000/svg";
const history = [];        // [{at, account, functions: {name: running}, throttles, errors}]
const limits = {};         // name -> reserved limit (null: shares the unreserved pool)
let previous = null;       // the last snapshot, for rates
let selected = null;       // the function whose recent invocations are shown
let lastRecentAt = 0;

function colorOf(name) {
  const names = Object.keys(limits).sort();
  return COLORS[Math.max(0, names.indexOf(name)) % COLORS.length];
}

function el(tag, attrs, parent) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (parent) parent.appendChild(node);
  return node;
}

function rates(snap) {
  const out = {};
  for (const [name, fn] of Object.entries(snap.functions)) {
    const old = previous && previous.functions[name];
    const span = previous ? Math.max(snap.at - previous.at, 0.001) : 1;
    const per = (key) => (old ? Math.max(fn[key] - old[key], 0) / span : 0);
    out[name] = {inv: per("invocations"), err: per("errors"), thr: per("throttles")};
  }
  return out;
}

function drawSeries(svg, series, opts) {
  // series: [{name, color, values: [[at, v]], dashed, peak}], drawn over the last WINDOW_S.
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const box = svg.viewBox.baseVal;
  const pad = {l: 36, r: 8, t: 8, b: 18};
  const w = box.width - pad.l - pad.r, h = box.height - pad.t - pad.b;
  const now = history.length ? history[history.length - 1].at : 0;
  let top = opts.floor;
  for (const s of series) for (const [, v] of s.values) top = Math.max(top, v);
  top = Math.max(4, Math.ceil((top * 1.15) / 4) * 4);  // four whole-number steps
  const x = (at) => pad.l + w * (1 - (now - at) / WINDOW_S);
  const y = (v) => pad.t + h * (1 - v / top);
  for (let i = 0; i <= 4; i++) {
    const v = (top * i) / 4;
    el("line", {x1: pad.l, x2: pad.l + w, y1: y(v), y2: y(v), stroke: "#eef0f4"}, svg);
    el("text", {x: pad.l - 4, y: y(v) + 4, "text-anchor": "end"}, svg).textContent =
      Number.isInteger(v) ? v : v.toFixed(1);
  }
  el("text", {x: pad.l, y: box.height - 4}, svg).textContent = `-${WINDOW_S}s`;
  el("text", {x: pad.l + w, y: box.height - 4, "text-anchor": "end"}, svg).textContent = "now";
  for (const s of series) {
    const points = s.values.filter(([at]) => now - at <= WINDOW_S)
      .map(([at, v]) => `${x(at).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    const peak = Math.max(0, ...s.values.map(([, v]) => v));
    el("polyline", {points, fill: "none", stroke: s.color, "stroke-width": s.width || 2,
                    "stroke-dasharray": s.dashed ? "5 4" : "none", "data-series": s.name,
                    "data-peak": peak, "data-last": s.values.length
                      ? s.values[s.values.length - 1][1] : 0}, svg);
  }
  for (const lim of opts.limits || []) {
    if (lim.value > top) continue;
    el("line", {x1: pad.l, x2: pad.l + w, y1: y(lim.value), y2: y(lim.value), stroke: lim.color,
                "stroke-dasharray": "6 4", "data-limit": lim.name}, svg);
  }
}

function drawCharts(snap) {
  const names = Object.keys(snap.functions).sort();
  const series = names.map((name) => ({
    name, color: colorOf(name),
    values: history.map((p) => [p.at, p.functions[name] || 0]),
  }));
  series.push({name: "account", color: "#95a5a6", width: 1.5, dashed: true,
               values: history.map((p) => [p.at, p.account])});
  const lims = names.filter((n) => limits[n] !== null && limits[n] !== undefined)
    .map((n) => ({name: n, value: limits[n], color: colorOf(n)}));
  if (snap.account.limit) lims.push({name: "account", value: snap.account.limit, color: "#c0392b"});
  drawSeries(document.getElementById("chart"), series, {floor: 1, limits: lims});
  const legend = document.getElementById("legend");
  legend.innerHTML = "";
  for (const s of series) {
    const item = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = s.color;
    item.append(swatch, `${s.name}${s.name === "account" ? ` (limit ${snap.account.limit})`
      : limits[s.name] != null ? ` (reserved ${limits[s.name]})` : ""}`);
    legend.appendChild(item);
  }
  drawSeries(document.getElementById("rates"), [
    {name: "throttles", color: "#c0392b", values: history.map((p) => [p.at, p.throttles])},
    {name: "errors", color: "#e67e22", values: history.map((p) => [p.at, p.errors])},
  ], {floor: 1});
}

function cell(row, cls, text, hot) {
  const td = row.querySelector(`td.${cls}`);
  if (td.textContent !== text) td.textContent = text;
  if (hot !== undefined) td.classList.toggle("hot", hot);
  return td;
}

function rowFor(name) {
  const body = document.querySelector("#functions tbody");
  for (const tr of body.rows) if (tr.dataset.function === name) return tr;
  const tr = document.createElement("tr");
  tr.dataset.function = name;
  const template = document.querySelectorAll("#functions thead th");
  for (const th of template) {
    const td = document.createElement("td");
    td.className = th.className;
    tr.appendChild(td);
  }
  tr.querySelector("td.actions").innerHTML = '<button data-action="pause">Pause</button>' +
    '<button data-action="resume">Resume</button><button data-action="purge">Purge</button>';
  body.appendChild(tr);
  return tr;
}

function updateTable(snap, perSecond) {
  const dash = (v) => (v === null || v === undefined ? "-" : String(v));
  for (const [name, fn] of Object.entries(snap.functions)) {
    const tr = rowFor(name);
    const r = perSecond[name];
    const prov = fn.provisioned.ready + fn.provisioned.busy;
    cell(tr, "name", name);
    cell(tr, "running", `${fn.running} / ${dash(fn.limit)}`, fn.limit !== null && fn.running >= fn.limit && fn.limit > 0);
    cell(tr, "reserved", dash(fn.reserved));
    cell(tr, "provisioned", prov ? String(prov) : "-");
    cell(tr, "inv", r.inv.toFixed(1));
    cell(tr, "err", r.err.toFixed(1), r.err > 0);
    cell(tr, "thr", r.thr.toFixed(1), r.thr > 0);
    cell(tr, "p50", dash(fn.duration_p50_ms));
    cell(tr, "p99", dash(fn.duration_p99_ms));
    cell(tr, "depth", String(fn.queue_depth));
    cell(tr, "age", fn.queue_oldest_age_s === null ? "-" : `${fn.queue_oldest_age_s.toFixed(1)} s`);
    const state = cell(tr, "state", fn.queue_paused ? "paused" : "running");
    state.classList.toggle("paused", fn.queue_paused);
    tr.classList.toggle("selected", name === selected);
  }
  for (const tr of [...document.querySelectorAll("#functions tbody tr")]) {
    if (!(tr.dataset.function in snap.functions)) tr.remove();
  }
}

function onSnapshot(snap) {
  const perSecond = rates(snap);
  for (const [name, fn] of Object.entries(snap.functions)) limits[name] = fn.reserved;
  const point = {at: snap.at, account: snap.account.in_use, functions: {}, throttles: 0, errors: 0};
  for (const [name, fn] of Object.entries(snap.functions)) {
    point.functions[name] = fn.running;
    point.throttles += perSecond[name].thr;
    point.errors += perSecond[name].err;
  }
  history.push(point);
  while (history.length && snap.at - history[0].at > WINDOW_S + 2) history.shift();
  previous = snap;
  document.getElementById("account").textContent =
    `${snap.account.in_use} / ${snap.account.limit} running · unreserved ` +
    `${snap.account.unreserved_in_use} / ${snap.account.unreserved_limit}`;
  updateTable(snap, perSecond);
  drawCharts(snap);
  if (selected && snap.at - lastRecentAt >= 2) showRecent(selected, snap.at);
}

function invocations(events) {
  // Group lines into invocations: START … REPORT within one stream; newest first.
  const open = {}, done = [];
  for (const e of events) {
    const list = open[e.stream] || (open[e.stream] = []);
    list.push(e.message);
    if (e.message.startsWith("REPORT ")) {
      done.push({report: e.message, lines: list.splice(0)});
    }
  }
  return done.reverse();
}

async function showRecent(name, at) {
  lastRecentAt = at || lastRecentAt;
  const resp = await fetch(`/lamina/v1/functions/${encodeURIComponent(name)}/logs/recent?limit=500`);
  if (!resp.ok) return;
  const {events} = await resp.json();
  const box = document.getElementById("recent");
  const key = `${name}:${events.length ? events[events.length - 1].id : 0}`;
  if (box.dataset.key === key) return;  // nothing new: keep what the reader has open
  box.dataset.key = key;
  const opened = new Set([...box.querySelectorAll("details[open] summary")].map((s) => s.textContent));
  box.innerHTML = "";
  for (const inv of invocations(events).slice(0, 25)) {
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = inv.report;
    details.open = opened.has(inv.report);
    const pre = document.createElement("pre");
    pre.textContent = inv.lines.join("\n");
    details.append(summary, pre);
    box.appendChild(details);
  }
  if (!box.firstChild) box.textContent = "No invocations yet.";
}

async function queueAction(name, action) {
  const base = `/lamina/v1/functions/${encodeURIComponent(name)}/async-queue`;
  const message = document.getElementById("message");
  if (action === "purge") {
    const depth = previous && previous.functions[name] ? previous.functions[name].queue_depth : 0;
    if (!window.confirm(`Purge the ${depth} queued events of ${name}? Events that are running are kept.`)) return;
  }
  const resp = await fetch(action === "purge" ? `${base}/events` : `${base}/${action}`,
                           {method: action === "purge" ? "DELETE" : "POST"});
  const body = await resp.json().catch(() => ({}));
  message.textContent = !resp.ok ? `${action} ${name} failed: ${resp.status}`
    : action === "purge" ? `${name}: purged ${body.purged} events` : `${name}: ${action}d`;
}

document.querySelector("#functions tbody").addEventListener("click", (event) => {
  const tr = event.target.closest("tr[data-function]");
  if (!tr) return;
  const action = event.target.dataset && event.target.dataset.action;
  if (action) {
    event.stopPropagation();
    queueAction(tr.dataset.function, action);
    return;
  }
  selected = tr.dataset.function;
  document.getElementById("selected").textContent = `of ${selected}`;
  showRecent(selected, previous ? previous.at : 0);
});

const source = new EventSource("/lamina/v1/stream");
const status = document.getElementById("status");
source.onopen = () => { status.textContent = "live"; status.className = "live"; };
source.onerror = () => { status.textContent = "reconnecting…"; status.className = ""; };
source.onmessage = (event) => onSnapshot(JSON.parse(event.data));
