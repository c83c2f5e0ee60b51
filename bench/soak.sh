#!/usr/bin/env bash
# `make soak`: a bounded soak of aigw run. wrk → aigw → testupstream, mixed traffic (one request
# in four streamed), first at full speed for CALIBRATE seconds to find the maximum rate, then for
# DURATION seconds (default 600) paced at PERCENT (default 80) % of it. Samples aigw's RSS every
# SAMPLE seconds and prints the errors (non-2xx answers, socket errors) and the RSS trend.
# Exits non-zero on any error or on RSS growth past GROWTH_MB (default 32) after the first minute.
# Loopback only, bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
DURATION=${DURATION:-600}
CALIBRATE=${CALIBRATE:-10}
PERCENT=${PERCENT:-80}
SAMPLE=${SAMPLE:-10}
GROWTH_MB=${GROWTH_MB:-32}
CONNECTIONS=${CONNECTIONS:-64}
AIGW=${AIGW:-build/aigw}
UP=${UP:-build/testupstream}
command -v wrk >/dev/null || { echo "wrk is not installed (make setup)"; exit 1; }

bench_scratch
GW=$(free_port); ADMIN=$(free_port)

"$UP" --port 0 >"$work/up.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$work/up.out" && break; sleep 0.05; done
UPPORT=$(sed -n 's/.*listening on .*:\([0-9]*\)\s*$/\1/p' "$work/up.out" | head -1)

aigw_bench_config "$GW" "$UPPORT" up >"$work/aigw.yaml"
"$AIGW" run "$work/aigw.yaml" --admin-port "$ADMIN" --concurrency 1 --no-access-log \
  >"$work/aigw.out" 2>&1 &
AIGW_PID=$!
pids+=($AIGW_PID)
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$ADMIN/ready" >/dev/null && break; sleep 0.05; done

# One request in four streamed; DELAY_MS (0 when calibrating) paces each connection.
cat >"$work/mixed.lua" <<'EOL'
local plain = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}]}'
local stream = '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Say hello"}]}'
local n = 0
local pause = tonumber(os.getenv("DELAY_MS") or "0")
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
-- Streams pace their chunks 2 ms apart (the fake's default is 20 ms): tokens as a fast model
-- sends them, so the soak is not only waiting.
local stream_headers = {["content-type"] = "application/json", ["x-response-chunk-delay-ms"] = "2"}
function request()
  n = n + 1
  if n % 4 == 0 then
    return wrk.format(nil, "/v1/chat/completions", stream_headers, stream)
  end
  return wrk.format(nil, "/v1/chat/completions", nil, plain)
end
function delay() return pause end
EOL

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$AIGW_PID/status"; }
echo "== calibrating: ${CALIBRATE}s at full speed, $CONNECTIONS connections"
max=$(DELAY_MS=0 wrk -t1 -c"$CONNECTIONS" -d"${CALIBRATE}s" -s "$work/mixed.lua" \
  "http://127.0.0.1:$GW" | awk '/Requests\/sec/ {print int($2)}')
target=$((max * PERCENT / 100))
# Each connection waits DELAY_MS between requests: a cycle is DELAY_MS plus the request's own time,
# so the delay is found by two short probes (cycle = CONNECTIONS / rate) rather than guessed.
delay=$(python3 -c "print(max(1, round($CONNECTIONS * 1000 / $target - $CONNECTIONS * 1000 / $max)))")
for probe in 1 2; do
  rate=$(DELAY_MS=$delay wrk -t1 -c"$CONNECTIONS" -d5s -s "$work/mixed.lua" \
    "http://127.0.0.1:$GW" | awk '/Requests\/sec/ {print $2}')
  delay=$(python3 -c "
c, r, d, t = $CONNECTIONS, $rate, $delay, $target
own = c * 1000 / r - d  # the request's own time in a cycle, ms
print(max(1, round(c * 1000 / t - own)))")
  echo "probe $probe: ${rate} req/s; delay now ${delay} ms a connection"
done
echo "max ${max} req/s; soak at ~${target} req/s (${PERCENT}%) for ${DURATION}s (delay ${delay} ms a connection)"

DELAY_MS=$delay wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -s "$work/mixed.lua" \
  "http://127.0.0.1:$GW" >"$work/wrk.out" 2>&1 &
WRK_PID=$!
samples=()
start=$(date +%s)
while kill -0 "$WRK_PID" 2>/dev/null; do
  sleep "$SAMPLE"
  kill -0 "$AIGW_PID" 2>/dev/null || { echo "aigw died"; cat "$work/aigw.out"; exit 1; }
  r=$(rss_kb)
  samples+=("$r")
  echo "t=$(($(date +%s) - start))s rss=$((r / 1024)) MiB"
done
wait "$WRK_PID" || true
cat "$work/wrk.out"
requests=$(awk '/requests in/ {print $1}' "$work/wrk.out")
non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.out")
sockerr=$(awk -F'[ ,]+' '/Socket errors/ {print $4+$6+$8+$10}' "$work/wrk.out")
rate=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.out")
# RSS after the first minute (allocator arenas and pools warmed up) against the last sample.
first_idx=$((60 / SAMPLE))
((first_idx >= ${#samples[@]})) && first_idx=0
first=${samples[$first_idx]}
last=${samples[${#samples[@]} - 1]}
growth=$(((last - first) / 1024))
pct=$(python3 -c "print(round(100 * $rate / $max))")
echo "soak: ${requests} requests at ${rate} req/s (${pct}% of the ${max} req/s maximum), non-2xx ${non2xx:-0}, socket errors ${sockerr:-0}, RSS $((first / 1024)) MiB after 1 min -> $((last / 1024)) MiB at the end (${growth} MiB)"
curl -s "http://127.0.0.1:$ADMIN/metrics" | grep -E '^aigw_responses_total|^aigw_upstream_connect_failures_total' || true
[[ "${non2xx:-0}" == 0 && "${sockerr:-0}" == 0 && $growth -le $GROWTH_MB ]]
