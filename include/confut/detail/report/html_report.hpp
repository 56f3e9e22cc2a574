#pragma once
// The HTML performance report: one self-contained page (inline CSS and JavaScript, no
// network) that draws a TaskStream as a timeline, per-worker utilization, a histogram of
// task durations and the ExecutorStats tables. performance_report writes it.
//
// The C++ side turns the recording into a JSON blob (aggregates over every task, bars for at
// most `max_bars` of them) inside <script type="application/json">; the page's script draws
// it on load and marks <body> with data-rendered="ok", or data-error="..." when it fails.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <numeric>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../../stats.hpp"
#include "../../task_stream.hpp"
#include "json.hpp"

namespace confut::detail {

/// At most this many task bars are drawn by default; beyond it the longest tasks are drawn
/// and the page says how many were left out (browsers slow down past a few 10,000 shapes).
inline constexpr std::size_t default_report_max_bars = 20'000;

namespace html_report {

// Tasks that never ran are listed by id up to this many; the rest are only counted.
inline constexpr std::size_t max_listed_not_run = 1'000;
// The histogram stacks the names with the most run time; the others share one "other" series.
inline constexpr std::size_t max_histogram_series = 9;
// Histogram bins per decade of duration.
inline constexpr int bins_per_decade = 4;

inline void append_html_escaped(std::string& out, std::string_view text) {
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
}

/// A finite double as a JSON number.
inline void append_json_double(std::string& out, double value) {
  if (!std::isfinite(value)) value = 0.0;
  char text[32];
  std::snprintf(text, sizeof text, "%.6g", value);
  out += text;
}

inline void append_json_uint(std::string& out, std::uint64_t value) { out += std::to_string(value); }

/// "2024-05-01 12:34:56 UTC"
inline std::string utc_timestamp(std::chrono::system_clock::time_point now) {
  using namespace std::chrono;
  const auto second = floor<seconds>(now);
  const auto day = floor<days>(second);
  const year_month_day date{day};
  const hh_mm_ss time{second - day};
  char text[48];
  std::snprintf(text, sizeof text, "%04d-%02u-%02u %02d:%02d:%02d UTC", static_cast<int>(date.year()),
                static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                static_cast<int>(time.hours().count()), static_cast<int>(time.minutes().count()),
                static_cast<int>(time.seconds().count()));
  return text;
}

// ---------------------------------------------------------------------------------------
// The page: markup skeleton, style and script. Split in pieces because some compilers cap
// the length of one string literal.
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// The data
// ---------------------------------------------------------------------------------------

/// The JSON blob the page draws. Times are microseconds since the recording began.
inline std::string report_json(const TaskStream& stream, const std::vector<ExecutorStats>& stats,
                               std::string_view title, std::size_t max_bars) {
  using Clock = TaskStream::Clock;
  using std::chrono::nanoseconds;
  const std::vector<TaskRecord>& tasks = stream.tasks;

  // The window: from the start of recording (or the first event, when unset) to its end,
  // stretched to cover every task that was recorded.
  Clock::time_point window_begin = stream.begin;
  Clock::time_point window_end = stream.end;
  Clock::time_point first_start{}, last_end{};
  bool any = false;
  for (const TaskRecord& task : tasks) {
    if (!any || task.started < first_start) first_start = task.started;
    if (!any || task.ended > last_end) last_end = task.ended;
    any = true;
  }
  if (window_begin == Clock::time_point{}) window_begin = any ? first_start : window_end;
  if (any && last_end > window_end) window_end = last_end;
  if (window_end < window_begin) window_end = window_begin;
  const auto since_begin = [&](Clock::time_point t) {
    return std::chrono::duration_cast<nanoseconds>(t - window_begin).count();
  };

  // Executors and their lanes; tolerate tasks naming an executor or worker with no label.
  std::vector<ExecutorTrack> executors = stream.executors;
  std::vector<std::size_t> lanes(executors.size());
  for (std::size_t e = 0; e < executors.size(); ++e) lanes[e] = executors[e].workers.size();
  for (const TaskRecord& task : tasks) {
    if (task.executor >= executors.size()) {
      for (std::size_t e = executors.size(); e <= task.executor; ++e) {
        executors.push_back({"executor " + std::to_string(e + 1), {}});
        lanes.push_back(0);
      }
    }
    if (task.ran()) {
      lanes[task.executor] = std::max(lanes[task.executor], static_cast<std::size_t>(task.worker) + 1);
    }
  }

  // Names, most run time first, so the first palette colors go to the names that matter.
  std::unordered_map<std::string_view, std::size_t> name_index;
  std::vector<std::string_view> names;
  std::vector<std::uint64_t> name_count;
  std::vector<long long> name_busy;
  std::vector<std::size_t> task_name(tasks.size());
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    const std::string_view name = tasks[i].name.empty() ? std::string_view("task") : tasks[i].name;
    auto [it, inserted] = name_index.emplace(name, names.size());
    if (inserted) {
      names.push_back(name);
      name_count.push_back(0);
      name_busy.push_back(0);
    }
    task_name[i] = it->second;
    if (tasks[i].ran()) {
      ++name_count[it->second];
      name_busy[it->second] += tasks[i].duration().count();
    }
  }
  std::vector<std::size_t> order(names.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return name_busy[a] > name_busy[b]; });
  std::vector<std::size_t> rank(names.size());
  for (std::size_t r = 0; r < order.size(); ++r) rank[order[r]] = r;

  // Busy time per lane, clipped to the window; counts.
  std::vector<std::vector<std::pair<long long, std::uint64_t>>> busy(executors.size());
  for (std::size_t e = 0; e < executors.size(); ++e) busy[e].resize(lanes[e]);
  std::uint64_t ran = 0, failed = 0, cancelled = 0;
  std::vector<std::size_t> drawn;
  std::vector<std::size_t> not_run;
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    const TaskRecord& task = tasks[i];
    if (task.outcome == TaskOutcome::failed) ++failed;
    if (task.outcome == TaskOutcome::cancelled) ++cancelled;
    if (!task.ran()) {
      not_run.push_back(i);
      continue;
    }
    ++ran;
    drawn.push_back(i);
    const Clock::time_point from = std::max(task.started, window_begin);
    const Clock::time_point to = std::min(task.ended, window_end);
    auto& lane = busy[task.executor][static_cast<std::size_t>(task.worker)];
    if (to > from) lane.first += std::chrono::duration_cast<nanoseconds>(to - from).count();
    ++lane.second;
  }
  if (drawn.size() > max_bars) {
    std::nth_element(drawn.begin(), drawn.begin() + static_cast<std::ptrdiff_t>(max_bars), drawn.end(),
                     [&](std::size_t a, std::size_t b) { return tasks[a].duration() > tasks[b].duration(); });
    drawn.resize(max_bars);
  }
  std::sort(drawn.begin(), drawn.end(),
            [&](std::size_t a, std::size_t b) { return tasks[a].started < tasks[b].started; });

  // Duration histogram over every task that ran: log-scale bins, a series per leading name.
  long long shortest = 0, longest = 0;
  bool first_duration = true;
  for (const TaskRecord& task : tasks) {
    if (!task.ran()) continue;
    const long long d = std::max<long long>(1, task.duration().count());
    shortest = first_duration ? d : std::min(shortest, d);
    longest = first_duration ? d : std::max(longest, d);
    first_duration = false;
  }
  const auto bin_of_ns = [](long long d) {
    return static_cast<int>(std::floor(std::log10(static_cast<double>(std::max<long long>(1, d))) *
                                       bins_per_decade + 1e-9));
  };
  const int low_bin = first_duration ? 0 : bin_of_ns(shortest);
  const int bins = first_duration ? 0 : bin_of_ns(longest) - low_bin + 1;
  const std::size_t series_count =
      std::min(names.size(), max_histogram_series) + (names.size() > max_histogram_series ? 1 : 0);
  std::vector<std::vector<std::uint64_t>> histogram(series_count,
                                                    std::vector<std::uint64_t>(static_cast<std::size_t>(bins)));
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    if (!tasks[i].ran()) continue;
    const std::size_t series = std::min(rank[task_name[i]], max_histogram_series);
    const int bin = std::clamp(bin_of_ns(tasks[i].duration().count()) - low_bin, 0, bins - 1);
    ++histogram[series][static_cast<std::size_t>(bin)];
  }

  // Writing.
  std::string out;
  out.reserve(2048 + drawn.size() * 96);
  const auto us = [&](long long ns) { append_json_microseconds(out, ns); };
  const auto key = [&](std::string_view name) {
    out += '"';
    out += name;
    out += "\":";
  };

  out += '{';
  key("title");
  append_json_string(out, title);
  out += ',';
  key("generated");
  append_json_string(out, utc_timestamp(std::chrono::system_clock::now()));
  out += ',';
  key("window");
  out += "{\"begin_us\":";
  us(0);
  out += ",\"end_us\":";
  us(since_begin(window_end));
  out += "},";
  // The chart's initial view: the window, widened to tasks that started before it.
  key("view");
  out += "{\"begin_us\":";
  us(std::min<long long>(0, any ? since_begin(first_start) : 0));
  out += ",\"end_us\":";
  us(std::max<long long>(since_begin(window_end), 1));
  out += "},";
  key("counts");
  out += "{\"tasks\":" + std::to_string(tasks.size()) + ",\"ran\":" + std::to_string(ran) +
         ",\"not_run\":" + std::to_string(not_run.size()) + ",\"failed\":" + std::to_string(failed) +
         ",\"cancelled\":" + std::to_string(cancelled) + ",\"drawn\":" + std::to_string(drawn.size()) +
         ",\"left_out\":" + std::to_string(ran - drawn.size()) + "},";
  key("max_bars");
  out += std::to_string(max_bars) + ',';
  key("max_dependency_lines");
  out += "5000,";
  key("outcomes");
  out += "[\"finished\",\"failed\",\"cancelled\"],";

  key("executors");
  out += '[';
  for (std::size_t e = 0; e < executors.size(); ++e) {
    if (e != 0) out += ',';
    out += "{\"name\":";
    append_json_string(out, executors[e].name);
    out += ",\"workers\":[";
    for (std::size_t w = 0; w < executors[e].workers.size(); ++w) {
      if (w != 0) out += ',';
      append_json_string(out, executors[e].workers[w]);
    }
    out += "],\"lanes\":" + std::to_string(lanes[e]) + ",\"busy\":[";
    for (std::size_t w = 0; w < lanes[e]; ++w) {
      if (w != 0) out += ',';
      out += '[';
      us(busy[e][w].first);
      out += ',' + std::to_string(busy[e][w].second) + ']';
    }
    out += "]}";
  }
  out += "],";

  key("names");
  out += '[';
  for (std::size_t r = 0; r < order.size(); ++r) {
    if (r != 0) out += ',';
    append_json_string(out, names[order[r]]);
  }
  out += "],";
  key("name_totals");  // [tasks that ran, their total run time], in the order of "names"
  out += '[';
  for (std::size_t r = 0; r < order.size(); ++r) {
    if (r != 0) out += ',';
    out += '[' + std::to_string(name_count[order[r]]) + ',';
    us(name_busy[order[r]]);
    out += ']';
  }
  out += "],";

  key("task_fields");
  out += "[\"id\",\"name\",\"executor\",\"worker\",\"submitted\",\"start\",\"duration\",\"outcome\","
         "\"encode\",\"decode\",\"inputs\"],";
  key("tasks");
  out += "[\n";
  for (std::size_t k = 0; k < drawn.size(); ++k) {
    const TaskRecord& task = tasks[drawn[k]];
    if (k != 0) out += ",\n";
    out += '[' + std::to_string(task.id) + ',' + std::to_string(rank[task_name[drawn[k]]]) + ',' +
           std::to_string(task.executor) + ',' + std::to_string(task.worker) + ',';
    us(since_begin(task.submitted));
    out += ',';
    us(since_begin(task.started));
    out += ',';
    us(task.duration().count());
    out += ',' + std::to_string(static_cast<int>(task.outcome)) + ',';
    us(task.encode_time.count());
    out += ',';
    us(task.decode_time.count());
    out += ",[";
    for (std::size_t j = 0; j < task.inputs.size(); ++j) {
      if (j != 0) out += ',';
      append_json_uint(out, task.inputs[j]);
    }
    out += "]]";
  }
  out += "],\n";

  key("not_run");  // [id, name, executor, outcome, when (us)]
  out += '[';
  for (std::size_t k = 0; k < not_run.size() && k < max_listed_not_run; ++k) {
    const TaskRecord& task = tasks[not_run[k]];
    if (k != 0) out += ',';
    out += '[' + std::to_string(task.id) + ',' + std::to_string(rank[task_name[not_run[k]]]) + ',' +
           std::to_string(task.executor) + ',' + std::to_string(static_cast<int>(task.outcome)) + ',';
    us(since_begin(task.ended));
    out += ']';
  }
  out += "],\n";

  key("histogram");
  out += "{\"edges_us\":[";
  for (int b = 0; bins > 0 && b <= bins; ++b) {
    if (b != 0) out += ',';
    append_json_double(out, std::pow(10.0, static_cast<double>(low_bin + b) / bins_per_decade) / 1000.0);
  }
  out += "],\"series\":[";
  for (std::size_t s = 0; s < series_count; ++s) {
    if (s != 0) out += ',';
    const bool other = s == max_histogram_series;
    out += "{\"name\":";
    append_json_string(out, other ? std::string_view("other") : names[order[s]]);
    out += ",\"color\":" + (other ? std::string("-1") : std::to_string(s)) + ",\"counts\":[";
    for (std::size_t b = 0; b < histogram[s].size(); ++b) {
      if (b != 0) out += ',';
      append_json_uint(out, histogram[s][b]);
    }
    out += "]}";
  }
  out += "]},\n";

  key("stats");
  out += '[';
  for (std::size_t s = 0; s < stats.size(); ++s) {
    const ExecutorStats& st = stats[s];
    if (s != 0) out += ",\n";
    out += "{\"executor\":";
    append_json_string(out, st.executor);
    out += ",\"submitted\":" + std::to_string(st.submitted) + ",\"waiting\":" + std::to_string(st.waiting) +
           ",\"queued\":" + std::to_string(st.queued) + ",\"running\":" + std::to_string(st.running) +
           ",\"finished\":" + std::to_string(st.finished) + ",\"failed\":" + std::to_string(st.failed) +
           ",\"cancelled\":" + std::to_string(st.cancelled) + ",\"uptime_us\":";
    us(st.uptime.count());
    out += ",\"utilization\":";
    append_json_double(out, st.utilization());
    out += ",\"workers\":[";
    for (std::size_t w = 0; w < st.workers.size(); ++w) {
      if (w != 0) out += ',';
      out += "{\"label\":";
      append_json_string(out, st.workers[w].label);
      out += ",\"tasks\":" + std::to_string(st.workers[w].tasks) + ",\"busy_us\":";
      us(st.workers[w].busy.count());
      out += '}';
    }
    out += "]}";
  }
  out += "]}";
  return out;
}

}  // namespace html_report

/// The performance report page for `stream` and `stats`: one self-contained HTML document
/// that needs no network to view. At most `max_bars` task bars are drawn (the longest ones);
/// the page says so when some are left out.
inline std::string render_performance_report(const TaskStream& stream,
                                             const std::vector<ExecutorStats>& stats,
                                             std::string_view title,
                                             std::size_t max_bars = default_report_max_bars) {
  using namespace html_report;
  const std::string data = report_json(stream, stats, title, max_bars);
  std::string page;
  page.reserve(data.size() + page_style.size() + page_body.size() + page_script_common.size() +
               page_script_stream.size() + page_script_charts.size() + 1024);
  page += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<meta name=\"generator\" content=\"confut\">\n<title>";
  append_html_escaped(page, title);
  page += "</title>\n<style>";
  page += page_style;
  page += "</style>\n</head>\n<body>\n<header class=\"masthead\"><div class=\"inner\">\n<h1 id=\"title\">";
  append_html_escaped(page, title);
  page += "</h1>\n<p class=\"sub\" id=\"subtitle\">confut performance report</p>\n"
          "<div class=\"cards\" id=\"summary\"></div>\n</div></header>";
  page += page_body;
  // append_json_string writes '<' as \u003c, so nothing in the data can close this element.
  page += "<script type=\"application/json\" id=\"report-data\">\n";
  page += data;
  page += "\n</script>\n<script>";
  page += page_script_common;
  page += page_script_stream;
  page += page_script_charts;
  page += "</script>\n</body>\n</html>\n";
  return page;
}

}  // namespace confut::detail
