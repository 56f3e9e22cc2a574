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
#include "html_page.hpp"
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
