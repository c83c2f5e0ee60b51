#!/usr/bin/env bash
# `make bench-streams` (also at the end of `make bench`): many concurrent SSE streams through aigw.
#   memory   STREAMS (default 10,000) streaming chat completions at once from wrk, each answered by
#            testupstream with CHUNKS events 100 ms apart: aigw's resident memory idle, at the
#            peak while they run, and after they end (with the streams open at the peak)
#   per chunk  aigw's CPU time per relayed chunk, for OpenAI SSE passed through and for Bedrock's
#            event stream translated to OpenAI SSE (RELAY streams of RELAY_CHUNKS events, no delay)
# Two descriptors per stream in aigw: run as root to have the descriptor limits raised (prlimit).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
AIGW=${AIGW:-build/aigw}
UP=${UP:-build/testupstream}
STREAMS=${STREAMS:-10000}
CHUNKS=${CHUNKS:-60}
DURATION=${DURATION:-12}
RELAY=${RELAY:-50}
RELAY_CHUNKS=${RELAY_CHUNKS:-300}
command -v wrk >/dev/null || { echo "wrk is not installed (make setup)"; exit 1; }

bench_scratch
LIMIT=()
want=$((STREAMS * 2 + 512))
if (($(ulimit -Hn) < want)); then
  if command -v prlimit >/dev/null && prlimit --nofile=$want:$want true 2>/dev/null; then
    LIMIT=(prlimit --nofile=$want:$want --)
  else # aigw holds two descriptors per stream (the client's, the provider's)
    STREAMS=$((($(ulimit -Hn) - 512) / 2))
    echo "(the descriptor limit $(ulimit -Hn) allows $STREAMS streams here, two descriptors each)"
  fi
fi

"${LIMIT[@]}" "$UP" --port 0 >"$work/up.out" 2>"$work/up.err" & pids+=($!)
for _ in $(seq 100); do grep -q "listening on" "$work/up.out" 2>/dev/null && break; sleep 0.05; done
UPPORT=$(sed -n 's/.*listening on .*:\([0-9]*\)\s*$/\1/p' "$work/up.out" | head -1)
GW=$(free_port); ADMIN=$(free_port); GWBR=$(free_port); ADMINBR=$(free_port)
aigw_bench_config "$GW" "$UPPORT" up >"$work/aigw.yaml"
aigw_bedrock_config "$GWBR" "$GW" <"$work/aigw.yaml" >"$work/aigw-br.yaml"
"${LIMIT[@]}" "$AIGW" run "$work/aigw.yaml" --concurrency 1 --admin-port "$ADMIN" --admin-address 127.0.0.1 \
  --no-access-log --no-watch --log-level warn & GWPID=$!; pids+=($GWPID)
"$AIGW" run "$work/aigw-br.yaml" --concurrency 1 --admin-port "$ADMINBR" --admin-address 127.0.0.1 \
  --no-access-log --no-watch --log-level warn & BRPID=$!; pids+=($BRPID)
for a in "$ADMIN" "$ADMINBR"; do
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$a/ready" >/dev/null 2>&1 && break; sleep 0.05; done
done

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
active_streams() { curl -s "http://127.0.0.1:$1/metrics" | awk '/^aigw_active_streams / {print $2}'; }

# One chunk of a streamed chat completion, CHUNKS of them and the usage.
events() {
  local n=$1 i
  for ((i = 0; i < n; i++)); do
    printf '{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"tok%d "}}]}\n' "$i"
  done
  printf '{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":%d,"total_tokens":%d}}\n[DONE]\n' "$n" "$((n + 5))"
}
# Bedrock Converse stream events (testupstream frames each line as an event-stream message).
bedrock_events() {
  local n=$1 i
  printf '{"role":"assistant"}\n'
  for ((i = 0; i < n; i++)); do printf '{"contentBlockIndex":0,"delta":{"text":"tok%d "}}\n' "$i"; done
  printf '{"contentBlockIndex":0}\n{"stopReason":"end_turn"}\n{"usage":{"inputTokens":5,"outputTokens":%d,"totalTokens":%d},"metrics":{"latencyMs":1}}\n' "$n" "$((n + 5))"
}
lua() { # $1: response type, $2: base64 body, $3: delay ms
  cat <<EOC
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-response-type"] = "$1"
wrk.headers["x-response-body"] = "$2"
wrk.headers["x-response-chunk-delay-ms"] = "$3"
wrk.body = '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Count to sixty."}]}'
EOC
}
# The slow streams: testupstream's canned streamed answer with CHUNKS content events, so that the
# request is an ordinary small one.
cat >"$work/slow.lua" <<EOC
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-response-chunks"] = "$CHUNKS"
wrk.headers["x-response-chunk-delay-ms"] = "100"
wrk.body = '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Count to sixty."}]}'
EOC

idle=$(rss_kb "$GWPID")
"${LIMIT[@]}" wrk -t1 -c"$STREAMS" -d"${DURATION}s" --timeout 30s -s "$work/slow.lua" \
  "http://127.0.0.1:$GW/v1/chat/completions" >"$work/wrk.out" 2>&1 & WRK=$!
peak=0; peak_streams=0
while kill -0 "$WRK" 2>/dev/null; do
  r=$(rss_kb "$GWPID"); s=$(active_streams "$ADMIN"); s=${s:-0}
  ((r > peak)) && peak=$r
  ((${s%.*} > peak_streams)) && peak_streams=${s%.*}
  sleep 0.5
done
wait "$WRK" || true
for _ in $(seq 60); do [[ "$(active_streams "$ADMIN")" == "0" ]] && break; sleep 0.5; done
sleep 5 # (aigw gives free heap pages back within seconds of a load going away)
after=$(rss_kb "$GWPID")
non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.out"); non2xx=${non2xx:-0}
errors=$(grep -E "Socket errors" "$work/wrk.out" || echo "no socket errors")
echo "SSE streams: ${peak_streams} open at the peak (asked for $STREAMS), one event per 100 ms"
awk -v i="$idle" -v p="$peak" -v a="$after" -v n="$peak_streams" 'BEGIN {
  per = n > 0 ? (p - i) / n : 0
  printf "  aigw RSS idle %.1f MB, peak %.1f MB (%.1f KB per stream), after %.1f MB (%.2fx idle)\n", i / 1024, p / 1024, per, a / 1024, a / i }'
echo "  non-2xx answers: $non2xx; wrk: $errors"

# Per-chunk relay cost: aigw's CPU time over the chunks it relayed, no delay between chunks.
hz=$(getconf CLK_TCK)
per_chunk() { # $1: gateway port, $2: its pid, $3: lua file
  local before after_t
  before=$(cpu_ticks "$2")
  wrk -t1 -c"$RELAY" -d5s --timeout 30s -s "$3" "http://127.0.0.1:$1/v1/chat/completions" >"$work/relay.out" 2>&1
  after_t=$(cpu_ticks "$2")
  local reqs
  reqs=$(awk '/requests in/ {print $1}' "$work/relay.out")
  awk -v t=$((after_t - before)) -v hz="$hz" -v r="$reqs" -v c="$RELAY_CHUNKS" \
    'BEGIN { printf "%.2f µs per chunk (%d streams of %d chunks)", t / hz * 1e6 / (r * c), r, c }'
}
lua sse "$(events "$RELAY_CHUNKS" | base64 -w0)" 0 >"$work/fast.lua"
lua aws-event-stream "$(bedrock_events "$RELAY_CHUNKS" | base64 -w0)" 0 >"$work/fast-br.lua"
echo "Relay cost: passthrough $(per_chunk "$GW" "$GWPID" "$work/fast.lua")"
echo "            Bedrock event stream → OpenAI SSE $(per_chunk "$GWBR" "$BRPID" "$work/fast-br.lua")"
