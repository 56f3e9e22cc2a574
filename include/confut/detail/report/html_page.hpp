#pragma once
// The performance report's page assets: the markup skeleton, the style sheet and the script
// that draws the JSON blob (html_report.hpp makes the blob and puts the page together). Kept
// apart from the C++ so that each can be read alone. Split in pieces because some compilers
// cap the length of one string literal.

#include <string_view>

namespace confut::detail::html_report {

inline constexpr std::string_view page_style = R"css(
:root {
  --ink: #1f2933; --muted: #616e7c; --faint: #9aa5b1; --line: #e4e7eb; --panel: #ffffff;
  --page: #f5f7fa; --accent: #3e6ea8; --fail: #d62728;
  font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  font-size: 14px; color: var(--ink); background: var(--page);
}
* { box-sizing: border-box; }
body { margin: 0; min-width: 1000px; }
main { max-width: 1400px; margin: 0 auto; padding: 0 24px 32px; }
.masthead { background: #1f2933; color: #f5f7fa; padding: 18px 24px 20px; }
.masthead .inner { max-width: 1352px; margin: 0 auto; }
.masthead h1 { margin: 0 0 4px; font-size: 22px; font-weight: 600; letter-spacing: .2px; }
.masthead .sub { margin: 0; color: #9aa5b1; font-size: 13px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0 0; }
.card { background: #323f4b; border-radius: 6px; padding: 10px 16px; min-width: 130px; }
.card .value { font-size: 20px; font-weight: 600; font-variant-numeric: tabular-nums; }
.card .label { font-size: 11px; text-transform: uppercase; letter-spacing: .6px; color: #9aa5b1; }
.card .value small { font-size: 12px; font-weight: 400; color: #cbd2d9; }
section { background: var(--panel); border: 1px solid var(--line); border-radius: 8px;
  padding: 16px 20px 18px; margin-top: 20px; box-shadow: 0 1px 2px rgba(31,41,51,.05); }
section h2 { font-size: 16px; margin: 0 0 4px; font-weight: 600; }
.hint { color: var(--muted); font-size: 12.5px; margin: 0 0 10px; }
.note { background: #fff8e1; border: 1px solid #f0d98c; border-radius: 4px; padding: 6px 10px;
  font-size: 12.5px; margin: 8px 0; }
.toolbar { display: flex; align-items: center; gap: 16px; font-size: 12.5px; color: var(--muted);
  margin-bottom: 6px; }
.toolbar button { font: inherit; padding: 2px 10px; border: 1px solid #cbd2d9; border-radius: 4px;
  background: #fff; color: var(--ink); cursor: pointer; }
.toolbar button:hover { background: #f0f4f8; }
.plot { width: 100%; position: relative; }
.plot svg { display: block; user-select: none; }
svg text { font-family: inherit; }
.lane-label { font-size: 11.5px; fill: #3e4c59; }
.exec-label { font-size: 12px; font-weight: 600; fill: #1f2933; }
.tick-label { font-size: 10.5px; fill: var(--muted); font-variant-numeric: tabular-nums; }
.grid { stroke: #e9edf1; stroke-width: 1; }
.task-bar { stroke: rgba(255,255,255,.55); stroke-width: .5; }
.task-bar.thin { stroke: none; }
.task-bar:hover { stroke: #1f2933; stroke-width: 1.5; }
.task-bar.failed { stroke: var(--fail); stroke-width: 2; }
.task-bar.cancelled { stroke: #7b8794; stroke-width: 1.5; stroke-dasharray: 3 2; }
.dep { stroke: #52606d; stroke-width: .6; opacity: .28; }
.brush { fill: rgba(62,110,168,.15); stroke: var(--accent); stroke-width: 1; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 16px; margin-top: 10px; font-size: 12.5px; }
.legend .item { display: inline-flex; align-items: center; gap: 6px; }
.legend .count { color: var(--muted); font-variant-numeric: tabular-nums; }
.swatch { width: 12px; height: 12px; border-radius: 2px; display: inline-block; flex: none; }
.swatch.failed { background: #fff; border: 2px solid var(--fail); }
.not-run { margin-top: 10px; font-size: 12.5px; color: var(--muted); }
.not-run summary { cursor: pointer; }
.not-run ul { columns: 3; margin: 6px 0 0; padding-left: 18px; }
.tooltip { position: fixed; z-index: 10; pointer-events: none; background: rgba(31,41,51,.96);
  color: #f5f7fa; padding: 8px 10px; border-radius: 5px; font-size: 12px; line-height: 1.45;
  box-shadow: 0 4px 12px rgba(0,0,0,.25); max-width: 420px; }
.tooltip .name { font-weight: 600; font-size: 13px; margin-bottom: 2px; word-break: break-all; }
.tooltip table { border-collapse: collapse; }
.tooltip td { padding: 0 10px 0 0; vertical-align: top; }
.tooltip td:first-child { color: #9aa5b1; }
.tooltip .bad { color: #ff8a80; font-weight: 600; }
.util-group { margin-top: 8px; }
.util-group h3, .stats h3 { font-size: 13px; margin: 12px 0 6px; font-weight: 600; }
.util-row { display: grid; grid-template-columns: 200px 1fr 360px; align-items: center; gap: 12px;
  font-size: 12.5px; padding: 2px 0; }
.util-row .label { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; color: #3e4c59; }
.util-track { background: #eef1f4; height: 14px; border-radius: 3px; overflow: hidden; position: relative; }
.util-fill { background: var(--accent); height: 100%; }
.util-fill.stats { background: #9fb3c8; height: 4px; position: absolute; bottom: 0; left: 0; }
.util-row .numbers { color: var(--muted); font-variant-numeric: tabular-nums; white-space: nowrap; }
.util-row .numbers b { color: var(--ink); font-weight: 600; }
table.stats-table { border-collapse: collapse; font-size: 12.5px; font-variant-numeric: tabular-nums;
  margin-bottom: 6px; }
.stats-table th, .stats-table td { padding: 4px 14px 4px 0; text-align: right; white-space: nowrap; }
.stats-table th { color: var(--muted); font-weight: 500; border-bottom: 1px solid var(--line); }
.stats-table td { border-bottom: 1px solid #f0f2f4; }
.stats-table th:first-child, .stats-table td:first-child { text-align: left; }
.stats-table td.bad { color: var(--fail); font-weight: 600; }
.worker-tables { display: flex; flex-wrap: wrap; gap: 8px 48px; }
.mini-bar { display: inline-block; width: 80px; height: 8px; background: #eef1f4; border-radius: 2px;
  vertical-align: middle; margin-left: 6px; overflow: hidden; }
.mini-bar span { display: block; height: 100%; background: var(--accent); }
.empty { color: var(--muted); font-style: italic; }
.error-box { background: #fde8e8; border: 1px solid #f5a3a3; color: #8a1c1c; padding: 10px 14px;
  border-radius: 6px; margin-top: 20px; white-space: pre-wrap; }
footer { color: var(--faint); font-size: 12px; margin-top: 18px; text-align: center; }
)css";

inline constexpr std::string_view page_body = R"html(
<main>
<div id="error-slot"></div>
<section id="stream-section">
  <h2>Task stream</h2>
  <p class="hint">One lane per worker, grouped by executor; one bar per task, colored by name.
  Hover a bar for details. Drag across the chart to zoom in; double-click or Reset to zoom out.</p>
  <div id="stream-notes"></div>
  <div class="toolbar">
    <button type="button" id="reset-zoom">Reset zoom</button>
    <label><input type="checkbox" id="show-deps"> dependencies <span id="dep-count"></span></label>
    <span id="view-range"></span>
  </div>
  <div class="plot" id="stream-plot"></div>
  <div class="legend" id="stream-legend"></div>
  <div class="not-run" id="not-run"></div>
</section>
<section id="utilization-section">
  <h2>Worker utilization</h2>
  <p class="hint">Share of the recording window each worker spent running tasks (from the task
  stream; every task counts, drawn or not). The thin grey line under a bar is the worker's busy
  time over the executor's whole uptime, from its statistics, when given.</p>
  <div id="utilization"></div>
</section>
<section id="histogram-section">
  <h2>Task durations</h2>
  <p class="hint">How many tasks took how long, on a logarithmic scale (four bins per factor of
  ten), stacked by task name.</p>
  <div class="plot" id="histogram"></div>
  <div class="legend" id="histogram-legend"></div>
</section>
<section id="stats-section" class="stats">
  <h2>Executor statistics</h2>
  <p class="hint">The executors' counters when the report was written.</p>
  <div id="stats"></div>
</section>
<footer id="footer"></footer>
</main>
<div id="tooltip" class="tooltip" hidden></div>
)html";

// Formatting helpers, the header and the summary cards.
inline constexpr std::string_view page_script_common = R"js(
'use strict';
var PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#76b7b2', '#edc948', '#9c755f',
  '#ff9da7', '#86bcb6', '#a0cbe8', '#ffbe7d', '#8cd17d', '#d4a6c8', '#f1ce63', '#499894',
  '#d7b5a6', '#b6992d', '#fabfd2', '#79706e', '#bab0ac'];
var OTHER_COLOR = '#cbd2d9';
function color(i) {
  if (i < 0) return OTHER_COLOR;
  if (i < PALETTE.length) return PALETTE[i];
  return 'hsl(' + Math.round((i * 137.508) % 360) + ',42%,62%)';
}
function byId(id) { return document.getElementById(id); }
var ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
function esc(s) { return String(s).replace(/[&<>"']/g, function (c) { return ESCAPES[c]; }); }
function fmt3(v) {
  var a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
}
// A duration given in microseconds, in the unit that suits it.
function fmtDur(us) {
  var a = Math.abs(us);
  if (a === 0) return '0';
  if (a < 1) return fmt3(us * 1000) + ' ns';
  if (a < 1000) return fmt3(us) + ' \u00b5s';
  if (a < 1e6) return fmt3(us / 1000) + ' ms';
  return fmt3(us / 1e6) + ' s';
}
// An axis label in milliseconds, with as many decimals as the tick step needs.
function fmtMs(us, stepUs) {
  var decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(stepUs / 1000) + 1e-9)));
  return (us / 1000).toFixed(decimals) + ' ms';
}
function fmtInt(n) { return Number(n).toLocaleString('en-US'); }
function pct(x) { return (100 * x).toFixed(1) + '%'; }
function plural(n, word) { return fmtInt(n) + ' ' + word + (n === 1 ? '' : 's'); }
function niceStep(span, target) {
  var raw = span / Math.max(1, target);
  var p = Math.pow(10, Math.floor(Math.log10(raw)));
  var m = raw / p;
  return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}
function plotWidth(id) {
  var w = byId(id).clientWidth;
  return w >= 600 ? w : 1200;  // headless or hidden: a sensible fixed width
}
function workerLabel(R, e, w) {
  var labels = R.executors[e].workers;
  return w < labels.length ? labels[w] : 'worker ' + w;
}
function renderHeader(R) {
  document.title = R.title;
  byId('title').textContent = R.title;
  byId('subtitle').textContent = 'confut performance report \u00b7 generated ' + R.generated;
  var lanes = 0, busy = 0;
  R.executors.forEach(function (ex) {
    lanes += ex.lanes;
    ex.busy.forEach(function (b) { busy += b[0]; });
  });
  var windowUs = R.window.end_us - R.window.begin_us;
  var c = R.counts;
  var cards = [
    ['Recording window', fmtDur(windowUs), ''],
    ['Tasks run', fmtInt(c.ran), c.not_run ? fmtInt(c.not_run) + ' never ran' : ''],
    ['Failed', fmtInt(c.failed), c.cancelled ? fmtInt(c.cancelled) + ' cancelled' : ''],
    ['Executors', fmtInt(R.executors.length), ''],
    ['Workers', fmtInt(lanes), ''],
    ['Utilization', lanes && windowUs > 0 ? pct(busy / (lanes * windowUs)) : '\u2013', 'all workers']
  ];
  byId('summary').innerHTML = cards.map(function (card) {
    return '<div class="card"><div class="label">' + esc(card[0]) + '</div><div class="value">' +
      esc(card[1]) + (card[2] ? ' <small>' + esc(card[2]) + '</small>' : '') + '</div></div>';
  }).join('');
  byId('footer').textContent = 'confut \u00b7 ' + R.title + ' \u00b7 ' + R.generated;
}
)js";

// The task stream: lanes, bars, axis, zoom, tooltip, dependencies, legend, tasks not run.
inline constexpr std::string_view page_script_stream = R"js(
function renderStream(R) {
  var F = {};
  R.task_fields.forEach(function (f, i) { F[f] = i; });
  var tasks = R.tasks;
  var notes = [];
  if (R.counts.left_out > 0) {
    notes.push('Too many tasks to draw: showing the ' + fmtInt(tasks.length) + ' longest of the ' +
      fmtInt(R.counts.ran) + ' tasks that ran; ' + fmtInt(R.counts.left_out) + ' shorter ones are ' +
      'left out of this chart. Utilization, the histogram and the counts include every task.');
  }
  byId('stream-notes').innerHTML = notes.map(function (n) {
    return '<div class="note">' + esc(n) + '</div>';
  }).join('');

  var nLanes = 0;
  R.executors.forEach(function (ex) { nLanes += ex.lanes; });
  var LANE = nLanes > 48 ? 12 : nLanes > 24 ? 16 : 22, BAR = LANE - (LANE > 14 ? 6 : 3);
  var GUTTER = 190, RIGHT = 14, AXIS = 24, HEAD = 24;
  var W = plotWidth('stream-plot'), plotW = W - GUTTER - RIGHT;
  var laneY = [], rows = [], y = AXIS;
  R.executors.forEach(function (ex, e) {
    rows.push({ kind: 'exec', y: y, label: ex.name });
    y += HEAD;
    laneY.push([]);
    for (var w = 0; w < ex.lanes; ++w) {
      laneY[e].push(y);
      rows.push({ kind: 'lane', y: y, label: workerLabel(R, e, w), odd: w % 2 === 1 });
      y += LANE;
    }
    y += 6;
  });
  var H = y + 4;

  var full = [R.view.begin_us, R.view.end_us];
  var view = full.slice();
  function x(t) { return GUTTER + (t - view[0]) / (view[1] - view[0]) * plotW; }
  function clampX(px) { return Math.max(GUTTER - 4, Math.min(W + 4, px)); }

  var s = [];
  s.push('<svg id="stream-svg" width="' + W + '" height="' + H + '" viewBox="0 0 ' + W + ' ' + H + '">');
  s.push('<defs><clipPath id="plot-clip"><rect x="' + GUTTER + '" y="0" width="' + plotW +
         '" height="' + H + '"/></clipPath></defs>');
  rows.forEach(function (r) {
    if (r.kind === 'exec') {
      s.push('<text class="exec-label" x="6" y="' + (r.y + 16) + '">' + esc(r.label) + '</text>');
      s.push('<line x1="0" x2="' + W + '" y1="' + (r.y + 21.5) + '" y2="' + (r.y + 21.5) +
             '" stroke="#d9dee3"/>');
    } else {
      if (r.odd) s.push('<rect x="0" y="' + r.y + '" width="' + W + '" height="' + LANE + '" fill="#f8f9fb"/>');
      var label = r.label.length > 28 ? r.label.slice(0, 27) + '\u2026' : r.label;
      s.push('<text class="lane-label" x="16" y="' + (r.y + LANE / 2 + 4) + '">' + esc(label) +
             '<title>' + esc(r.label) + '</title></text>');
    }
  });
  s.push('<g id="stream-grid"></g>');
  s.push('<g clip-path="url(#plot-clip)"><g id="stream-deps"></g><g id="stream-bars">');
  // A bar's class: task-bar, failed or cancelled, and thin when too narrow for an outline.
  var baseClass = tasks.map(function (t) {
    return 'task-bar' + (t[F.outcome] === 1 ? ' failed' : t[F.outcome] === 2 ? ' cancelled' : '');
  });
  for (var i = 0; i < tasks.length; ++i) {
    var t = tasks[i];
    var x0 = clampX(x(t[F.start])), x1 = clampX(x(t[F.start] + t[F.duration]));
    s.push('<rect class="' + baseClass[i] + (x1 - x0 < 4 ? ' thin' : '') + '" data-i="' + i + '" x="' +
           x0.toFixed(2) + '" y="' + (laneY[t[F.executor]][t[F.worker]] + (LANE - BAR) / 2) + '" width="' +
           Math.max(1, x1 - x0).toFixed(2) + '" height="' + BAR + '" fill="' + color(t[F.name]) + '"/>');
  }
  s.push('</g></g><rect id="stream-brush" class="brush" x="0" y="' + AXIS + '" width="0" height="' +
         (H - AXIS) + '" visibility="hidden"/></svg>');
  var plot = byId('stream-plot');
  plot.innerHTML = s.join('');
  var svg = byId('stream-svg');
  var bars = byId('stream-bars').children;
  if (tasks.length === 0) {
    plot.insertAdjacentHTML('beforeend', '<p class="empty">No task ran while recording.</p>');
  }

  // Dependencies: from the end of an input's bar to the start of its dependent's.
  var row = {};
  tasks.forEach(function (t, i) { row[t[F.id]] = i; });
  var deps = [];
  tasks.forEach(function (t, i) {
    var inputs = t[F.inputs];
    for (var k = 0; k < inputs.length && deps.length < R.max_dependency_lines; ++k) {
      if (inputs[k] in row) deps.push([row[inputs[k]], i]);
    }
  });
  var depBox = byId('show-deps');
  depBox.checked = deps.length > 0 && deps.length <= 500;  // beyond that they hide the bars
  depBox.disabled = deps.length === 0;
  byId('dep-count').textContent = '(' + fmtInt(deps.length) + ')';
  function laneMid(t) { return laneY[t[F.executor]][t[F.worker]] + LANE / 2; }
  function drawDeps() {
    var g = byId('stream-deps');
    if (!depBox.checked) { g.innerHTML = ''; return; }
    g.innerHTML = deps.map(function (d) {
      var a = tasks[d[0]], b = tasks[d[1]];
      return '<line class="dep" x1="' + clampX(x(a[F.start] + a[F.duration])).toFixed(1) + '" y1="' +
        laneMid(a) + '" x2="' + clampX(x(b[F.start])).toFixed(1) + '" y2="' + laneMid(b) + '"/>';
    }).join('');
  }

  function drawGrid() {
    var span = view[1] - view[0], step = niceStep(span, plotW / 110);
    var g = [];
    for (var t = Math.ceil(view[0] / step) * step; t <= view[1] + step * 1e-9; t += step) {
      var px = x(t).toFixed(1);
      g.push('<line class="grid" x1="' + px + '" x2="' + px + '" y1="' + (AXIS - 4) + '" y2="' + H + '"/>');
      g.push('<text class="tick-label" x="' + px + '" y="' + (AXIS - 8) + '" text-anchor="middle">' +
             esc(fmtMs(Math.abs(t) < step * 1e-6 ? 0 : t, step)) + '</text>');
    }
    byId('stream-grid').innerHTML = g.join('');
    byId('view-range').textContent = 'showing ' + fmtDur(span) +
      (view[0] === full[0] && view[1] === full[1] ? ' (everything)' : ' (zoomed in)');
  }

  function relayout() {
    for (var i = 0; i < bars.length; ++i) {
      var t = tasks[i];
      var x0 = clampX(x(t[F.start])), x1 = clampX(x(t[F.start] + t[F.duration]));
      bars[i].setAttribute('x', x0.toFixed(2));
      bars[i].setAttribute('width', Math.max(1, x1 - x0).toFixed(2));
      bars[i].setAttribute('class', baseClass[i] + (x1 - x0 < 4 ? ' thin' : ''));
    }
    drawGrid();
    drawDeps();
  }
  drawGrid();
  drawDeps();
  depBox.addEventListener('change', drawDeps);

  function zoomTo(a, b) {
    view = [a, b];
    relayout();
  }
  byId('reset-zoom').addEventListener('click', function () { zoomTo(full[0], full[1]); });
  svg.addEventListener('dblclick', function () { zoomTo(full[0], full[1]); });

  // Brush to zoom.
  var brush = byId('stream-brush'), dragFrom = null;
  function svgX(ev) { return ev.clientX - svg.getBoundingClientRect().left; }
  svg.addEventListener('mousedown', function (ev) {
    var px = svgX(ev);
    if (px < GUTTER || ev.button !== 0) return;
    dragFrom = px;
    ev.preventDefault();
  });
  window.addEventListener('mousemove', function (ev) {
    if (dragFrom === null) return;
    var px = Math.max(GUTTER, Math.min(W - RIGHT, svgX(ev)));
    brush.setAttribute('x', Math.min(px, dragFrom));
    brush.setAttribute('width', Math.abs(px - dragFrom));
    brush.setAttribute('visibility', 'visible');
  });
  window.addEventListener('mouseup', function (ev) {
    if (dragFrom === null) return;
    var px = Math.max(GUTTER, Math.min(W - RIGHT, svgX(ev)));
    var a = Math.min(px, dragFrom), b = Math.max(px, dragFrom);
    dragFrom = null;
    brush.setAttribute('visibility', 'hidden');
    if (b - a < 4) return;
    function t(p) { return view[0] + (p - GUTTER) / plotW * (view[1] - view[0]); }
    zoomTo(t(a), Math.max(t(b), t(a) + 0.001));
  });

  // Tooltip.
  var tip = byId('tooltip');
  var outcomeNames = R.outcomes;
  svg.addEventListener('mousemove', function (ev) {
    var target = ev.target;
    if (dragFrom !== null || !target.classList || !target.classList.contains('task-bar')) {
      tip.hidden = true;
      return;
    }
    var t = tasks[+target.getAttribute('data-i')];
    var rowsHtml = [
      ['id', t[F.id] + (t[F.outcome] !== 0 ? ' \u00b7 <span class="bad">' + esc(outcomeNames[t[F.outcome]]) + '</span>' : '')],
      ['worker', esc(R.executors[t[F.executor]].name + ' / ' + workerLabel(R, t[F.executor], t[F.worker]))],
      ['start', esc(fmtDur(t[F.start]) + ' after recording began')],
      ['duration', esc(fmtDur(t[F.duration]))],
      ['queued', esc(fmtDur(t[F.start] - t[F.submitted]))]
    ];
    if (t[F.encode] !== 0) rowsHtml.push(['encode', esc(fmtDur(t[F.encode]))]);
    if (t[F.decode] !== 0) rowsHtml.push(['decode', esc(fmtDur(t[F.decode]))]);
    var inputs = t[F.inputs];
    if (inputs.length) {
      rowsHtml.push(['inputs', esc(inputs.slice(0, 12).join(', ') + (inputs.length > 12 ? ', \u2026' : ''))]);
    }
    tip.innerHTML = '<div class="name">' + esc(R.names[t[F.name]]) + '</div><table>' +
      rowsHtml.map(function (r) { return '<tr><td>' + r[0] + '</td><td>' + r[1] + '</td></tr>'; }).join('') +
      '</table>';
    tip.hidden = false;
    var tx = ev.clientX + 14, ty = ev.clientY + 14;
    if (tx + tip.offsetWidth > window.innerWidth - 8) tx = ev.clientX - tip.offsetWidth - 14;
    if (ty + tip.offsetHeight > window.innerHeight - 8) ty = ev.clientY - tip.offsetHeight - 14;
    tip.style.left = Math.max(4, tx) + 'px';
    tip.style.top = Math.max(4, ty) + 'px';
  });
  svg.addEventListener('mouseleave', function () { tip.hidden = true; });

  // Legend: names by total run time.
  var shown = Math.min(R.names.length, 24);
  var legend = [];
  for (var n = 0; n < shown; ++n) {
    legend.push('<span class="item"><span class="swatch" style="background:' + color(n) + '"></span>' +
      esc(R.names[n]) + ' <span class="count">' + plural(R.name_totals[n][0], 'task') + ', ' +
      esc(fmtDur(R.name_totals[n][1])) + '</span></span>');
  }
  if (R.names.length > shown) {
    legend.push('<span class="item count">+ ' + plural(R.names.length - shown, 'more name') + '</span>');
  }
  if (R.counts.failed > 0) {
    legend.push('<span class="item"><span class="swatch failed"></span>failed <span class="count">' +
      fmtInt(R.counts.failed) + '</span></span>');
  }
  byId('stream-legend').innerHTML = legend.join('');

  // Tasks that never ran.
  var nr = R.counts.not_run;
  var box = byId('not-run');
  if (nr === 0) {
    box.textContent = 'Every recorded task ran.';
    return;
  }
  var list = R.not_run.map(function (t) {
    return '<li>#' + t[0] + ' ' + esc(R.names[t[1]]) + ' \u2014 ' + esc(outcomeNames[t[3]]) +
      ' (' + esc(R.executors[t[2]].name) + ')</li>';
  });
  box.innerHTML = '<details><summary>' + esc(plural(nr, 'task') + (nr === 1 ? ' was' : ' were') +
    ' recorded but never ran (cancelled, or failed because an input failed); not drawn above.') +
    '</summary><ul>' + list.join('') + '</ul>' +
    (nr > R.not_run.length ? '<p>\u2026 and ' + fmtInt(nr - R.not_run.length) + ' more.</p>' : '') +
    '</details>';
}
)js";

// Utilization, the duration histogram, the statistics tables, and the entry point.
inline constexpr std::string_view page_script_charts = R"js(
function statsFor(R, name) {
  for (var i = 0; i < R.stats.length; ++i) if (R.stats[i].executor === name) return R.stats[i];
  return null;
}
function renderUtilization(R) {
  var windowUs = R.window.end_us - R.window.begin_us;
  var html = [];
  R.executors.forEach(function (ex, e) {
    var st = statsFor(R, ex.name);
    html.push('<div class="util-group"><h3>' + esc(ex.name) + '</h3>');
    for (var w = 0; w < ex.lanes; ++w) {
      var busy = ex.busy[w][0], count = ex.busy[w][1];
      var share = windowUs > 0 ? Math.min(1, busy / windowUs) : 0;
      var sw = st && w < st.workers.length ? st.workers[w] : null;
      var statShare = sw && st.uptime_us > 0 ? Math.min(1, sw.busy_us / st.uptime_us) : null;
      html.push('<div class="util-row"><span class="label" title="' + esc(workerLabel(R, e, w)) + '">' +
        esc(workerLabel(R, e, w)) + '</span><div class="util-track"><div class="util-fill" style="width:' +
        (100 * share).toFixed(2) + '%"></div>' + (statShare === null ? '' :
        '<div class="util-fill stats" style="width:' + (100 * statShare).toFixed(2) + '%"></div>') +
        '</div><span class="numbers"><b>' + pct(share) + '</b> \u00b7 ' + esc(fmtDur(busy)) + ' busy \u00b7 ' +
        plural(count, 'task') + (sw ? ' \u00b7 stats: ' + esc(fmtDur(sw.busy_us)) : '') + '</span></div>');
    }
    html.push('</div>');
  });
  byId('utilization').innerHTML = html.length ? html.join('') : '<p class="empty">No executor was recorded.</p>';
}

// "1.00 ms" as "1 ms", "5.60 ms" as "5.6 ms": bin edges read better without trailing zeros.
function fmtEdge(us) { return fmtDur(us).replace(/(\.\d*?)0+ /, '$1 ').replace(/\. /, ' '); }

function renderHistogram(R) {
  var h = R.histogram, bins = h.edges_us.length - 1;
  var root = byId('histogram');
  if (bins < 1 || R.counts.ran === 0) {
    root.innerHTML = '<p class="empty">No task ran, so there are no durations to show.</p>';
    return;
  }
  var totals = [];
  for (var b = 0; b < bins; ++b) {
    var sum = 0;
    h.series.forEach(function (se) { sum += se.counts[b]; });
    totals.push(sum);
  }
  var maxCount = Math.max.apply(null, totals);
  var W = plotWidth('histogram'), LEFT = 56, RIGHT = 20, TOP = 10, BOTTOM = 40, H = 240;
  var plotW = W - LEFT - RIGHT, plotH = H - TOP - BOTTOM, bw = plotW / bins;
  var yStep = niceStep(maxCount, 5);
  if (yStep < 1) yStep = 1;
  var yMax = Math.ceil(maxCount / yStep) * yStep;
  function y(c) { return TOP + plotH - c / yMax * plotH; }
  var s = ['<svg width="' + W + '" height="' + H + '" viewBox="0 0 ' + W + ' ' + H + '">'];
  for (var c = 0; c <= yMax + 1e-9; c += yStep) {
    s.push('<line class="grid" x1="' + LEFT + '" x2="' + (W - RIGHT) + '" y1="' + y(c).toFixed(1) +
           '" y2="' + y(c).toFixed(1) + '"/>');
    s.push('<text class="tick-label" x="' + (LEFT - 6) + '" y="' + (y(c) + 3.5).toFixed(1) +
           '" text-anchor="end">' + fmtInt(c) + '</text>');
  }
  for (b = 0; b < bins; ++b) {
    var base = 0, x0 = LEFT + b * bw + 1;
    h.series.forEach(function (se) {
      var n = se.counts[b];
      if (n === 0) return;
      s.push('<rect x="' + x0.toFixed(1) + '" y="' + y(base + n).toFixed(1) + '" width="' +
             Math.max(1, bw - 2).toFixed(1) + '" height="' + (y(base) - y(base + n)).toFixed(1) +
             '" fill="' + color(se.color) + '"><title>' + esc(se.name + ': ' + fmtInt(n) + ' tasks, ' +
             fmtDur(h.edges_us[b]) + ' \u2013 ' + fmtDur(h.edges_us[b + 1])) + '</title></rect>');
      base += n;
    });
  }
  // A tick at every bin edge; labels at powers of ten, or at every edge when there are few.
  for (b = 0; b <= bins; ++b) {
    var px = (LEFT + b * bw).toFixed(1);
    var power = Math.log10(h.edges_us[b] * 1000), decade = Math.abs(power - Math.round(power)) < 1e-6;
    s.push('<line x1="' + px + '" x2="' + px + '" y1="' + (TOP + plotH) + '" y2="' + (TOP + plotH + (decade ? 6 : 3)) +
           '" stroke="#9aa5b1"/>');
    if (decade || bins <= 6) {
      s.push('<text class="tick-label" x="' + px + '" y="' + (TOP + plotH + 17) + '" text-anchor="' +
             (b === bins ? 'end' : b === 0 ? 'start' : 'middle') + '">' + esc(fmtEdge(h.edges_us[b])) + '</text>');
    }
  }
  s.push('<line x1="' + LEFT + '" x2="' + (W - RIGHT) + '" y1="' + (TOP + plotH) + '" y2="' + (TOP + plotH) +
         '" stroke="#9aa5b1"/>');
  s.push('<text class="tick-label" x="' + (LEFT + plotW / 2) + '" y="' + (H - 4) +
         '" text-anchor="middle">task duration (log scale)</text>');
  s.push('<text class="tick-label" transform="translate(12,' + (TOP + plotH / 2) +
         ') rotate(-90)" text-anchor="middle">tasks</text></svg>');
  root.innerHTML = s.join('');
  byId('histogram-legend').innerHTML = h.series.map(function (se) {
    var total = se.counts.reduce(function (a, b) { return a + b; }, 0);
    return '<span class="item"><span class="swatch" style="background:' + color(se.color) + '"></span>' +
      esc(se.name) + ' <span class="count">' + fmtInt(total) + '</span></span>';
  }).join('');
}

function renderStats(R) {
  var root = byId('stats');
  if (R.stats.length === 0) {
    root.innerHTML = '<p class="empty">No executor statistics were given.</p>';
    return;
  }
  // One row per executor, then a table of workers per executor, side by side.
  var keys = ['submitted', 'waiting', 'queued', 'running', 'finished', 'failed', 'cancelled'];
  var rows = R.stats.map(function (st) {
    return '<tr><td>' + esc(st.executor) + '</td>' + keys.map(function (k) {
      return '<td' + ((k === 'failed' || k === 'cancelled') && st[k] > 0 ? ' class="bad"' : '') + '>' +
        fmtInt(st[k]) + '</td>';
    }).join('') + '<td>' + esc(fmtDur(st.uptime_us)) + '</td><td>' + pct(st.utilization) +
      '<span class="mini-bar"><span style="width:' + (100 * st.utilization).toFixed(1) + '%"></span></span></td></tr>';
  });
  var workerTables = R.stats.filter(function (st) { return st.workers.length > 0; }).map(function (st) {
    return '<div><h3>' + esc(st.executor) + '</h3><table class="stats-table"><tr><th>worker</th><th>tasks</th>' +
      '<th>busy</th><th>share of uptime</th></tr>' + st.workers.map(function (w) {
        var share = st.uptime_us > 0 ? Math.min(1, w.busy_us / st.uptime_us) : 0;
        return '<tr><td>' + esc(w.label) + '</td><td>' + fmtInt(w.tasks) + '</td><td>' + esc(fmtDur(w.busy_us)) +
          '</td><td>' + pct(share) + '<span class="mini-bar"><span style="width:' + (100 * share).toFixed(1) +
          '%"></span></span></td></tr>';
      }).join('') + '</table></div>';
  });
  root.innerHTML = '<table class="stats-table"><tr><th>executor</th>' +
    keys.map(function (k) { return '<th>' + k + '</th>'; }).join('') + '<th>uptime</th><th>utilization</th></tr>' +
    rows.join('') + '</table><div class="worker-tables">' + workerTables.join('') + '</div>';
}

(function () {
  var body = document.body;
  function fail(error) {
    var message = String(error && error.message ? error.message : error);
    body.setAttribute('data-error', message);
    body.removeAttribute('data-rendered');
    var slot = byId('error-slot');
    if (slot) slot.innerHTML = '<div class="error-box">The report could not be drawn: ' + esc(message) + '</div>';
  }
  window.addEventListener('error', function (ev) { fail(ev.error || ev.message); });
  try {
    var R = JSON.parse(byId('report-data').textContent);
    renderHeader(R);
    renderStream(R);
    renderUtilization(R);
    renderHistogram(R);
    renderStats(R);
    if (!body.hasAttribute('data-error')) body.setAttribute('data-rendered', 'ok');
  } catch (e) {
    fail(e);
  }
})();
)js";

}  // namespace confut::detail::html_report
