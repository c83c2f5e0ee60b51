#!/usr/bin/env bash
# Runs every fuzz target from its seed corpus, bounded in time and memory; a crash fails.
#   FUZZ_SECONDS=N  each target for N seconds (default 20: the smoke run CI does)
#   FUZZ_RUNS=N     each target until it has executed N inputs (make fuzz-long: ten million), then
#                   merges the inputs that found new coverage back into fuzz/corpus/<target>
# Prints the executions and the rate of each target, and a summary line at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_DIR=${1:-build-fuzz}
SECONDS_PER_TARGET=${FUZZ_SECONDS:-20}
RUNS=${FUZZ_RUNS:-}
summary=()
for t in json_scan sse request_body request_head cel aws_eventstream provider_stream multipart sse_filter messages_stream mcp stream_guard; do
  work=$(mktemp -d)
  cp fuzz/corpus/$t/* "$work/"
  if [[ -n "$RUNS" ]]; then
    echo "== fuzz_$t for $RUNS executions"
    limit=(-runs="$RUNS")
  else
    echo "== fuzz_$t for ${SECONDS_PER_TARGET}s"
    limit=(-max_total_time="$SECONDS_PER_TARGET")
  fi
  log=$(mktemp)
  if ! "$FUZZ_DIR/fuzz_$t" "${limit[@]}" -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="$FUZZ_DIR/crash-$t-" -print_final_stats=1 "$work" >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz_$t: FAILED (artifacts under $FUZZ_DIR/crash-$t-*)"
    exit 1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
  echo "fuzz_$t: ${execs:-?} executions, ${rate:-?}/s, ${cov:-cov: ?}"
  summary+=("fuzz_$t ${execs:-?}")
  if [[ -n "$RUNS" ]]; then
    # Keep what found new coverage, minimised against the corpus already in the repository.
    "$FUZZ_DIR/fuzz_$t" -merge=1 -max_len=65536 "fuzz/corpus/$t" "$work" >/dev/null 2>&1 || true
  fi
  rm -rf "$work" "$log"
done
echo "fuzz: no crash; executions per target: ${summary[*]}"
