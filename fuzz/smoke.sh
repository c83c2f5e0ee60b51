#!/usr/bin/env bash
# Runs every fuzz target briefly from its seed corpus (bounded time and memory). A crash fails.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_DIR=${1:-build-fuzz}
SECONDS_PER_TARGET=${FUZZ_SECONDS:-20}
for t in json_scan sse request_body request_head cel aws_eventstream provider_stream; do
  work=$(mktemp -d)
  cp fuzz/corpus/$t/* "$work/"
  echo "== fuzz_$t for ${SECONDS_PER_TARGET}s"
  "$FUZZ_DIR/fuzz_$t" -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="$FUZZ_DIR/crash-$t-" -print_final_stats=1 "$work" 2>&1 | tail -4
  rm -rf "$work"
done
