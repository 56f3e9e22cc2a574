#!/usr/bin/env bash
# Opens an HTML performance report in headless Chromium and checks what its script drew.
#   check_report.sh REPORT.html EXPECTED_BARS [SCREENSHOT.png]
# Fails (exit 1) when Chromium is missing, when the page's script reported an error or did
# not finish (<body data-rendered="ok">), or when the number of elements with class
# "task-bar" in the rendered DOM is not EXPECTED_BARS. With SCREENSHOT.png, also saves a
# screenshot (CONFUT_SCREENSHOT_SIZE, default 1280,900).
set -euo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $0 REPORT.html EXPECTED_BARS [SCREENSHOT.png]" >&2
  exit 2
fi
report=$1
expected=$2
screenshot=${3:-}

if [ ! -f "$report" ]; then
  echo "check_report: FAIL: no such file: $report" >&2
  exit 1
fi
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "check_report: FAIL: no chromium or chromium-browser on PATH (apt-get install chromium)" >&2
  exit 1
fi

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
url="file://$(realpath "$report")"
# --virtual-time-budget lets the page's script run to completion before the DOM is dumped.
flags=(--headless --no-sandbox --disable-gpu --user-data-dir="$profile"
       --no-first-run --no-default-browser-check --disable-extensions
       --virtual-time-budget=5000)

if ! dom=$(timeout 120 "$browser" "${flags[@]}" --dump-dom "$url" 2>"$profile/stderr.log"); then
  echo "check_report: FAIL: chromium --dump-dom failed:" >&2
  tail -n 20 "$profile/stderr.log" >&2
  exit 1
fi

body=$(grep -o '<body[^>]*>' <<<"$dom" | head -n 1 || true)
if grep -q 'data-error=' <<<"$body"; then
  echo "check_report: FAIL: the page's script reported an error: $body" >&2
  exit 1
fi
if ! grep -q 'data-rendered="ok"' <<<"$body"; then
  echo "check_report: FAIL: the page's script did not finish (no data-rendered=\"ok\" on <body>): $body" >&2
  exit 1
fi

bars=$(grep -oE 'class="task-bar( [^"]*)?"' <<<"$dom" | wc -l)
if [ "$bars" -ne "$expected" ]; then
  echo "check_report: FAIL: $bars elements with class task-bar, expected $expected" >&2
  exit 1
fi
echo "check_report: ok: $report rendered $bars task bars"

if [ -n "$screenshot" ]; then
  rm -f "$screenshot"
  # Without --run-all-compositor-stages-before-draw, parts of the page may not be painted yet.
  timeout 120 "$browser" "${flags[@]}" --hide-scrollbars --run-all-compositor-stages-before-draw \
    --window-size="${CONFUT_SCREENSHOT_SIZE:-1280,900}" \
    --screenshot="$(realpath -m "$screenshot")" "$url" >/dev/null 2>>"$profile/stderr.log" || true
  if [ ! -s "$screenshot" ]; then
    echo "check_report: FAIL: no screenshot written to $screenshot:" >&2
    tail -n 20 "$profile/stderr.log" >&2
    exit 1
  fi
  echo "check_report: screenshot in $screenshot"
fi
