#!/usr/bin/env bash
# `make bench-peers` (also at the end of `make bench`): another AI gateway on the same mock, in the
# same run. Portkey's open-source gateway (npm @portkey-ai/gateway, pinned in bench/peers, Node)
# routes to the nginx mock as an OpenAI provider with a custom host; aigw (--concurrency 1) routes
# to it through its configuration. wrk at 64 connections and at 1, a small chat request:
# requests/s, p50 and p99, aigw ÷ Portkey, and what each adds to direct. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
AIGW=${AIGW:-build/aigw}
NGINX=${NGINX:-/usr/sbin/nginx}
DURATION=${DURATION:-10}
command -v wrk >/dev/null || { echo "wrk is not installed (make setup)"; exit 1; }
command -v node >/dev/null || { echo "node is not installed (make setup)"; exit 1; }
PORTKEY=bench/peers/node_modules/@portkey-ai/gateway/build/start-server.js
if [[ ! -f $PORTKEY ]]; then
  (cd bench/peers && npm ci --no-audit --no-fund --ignore-scripts >/dev/null 2>&1) ||
    { echo "peers: could not install @portkey-ai/gateway from the npm registry: skipped"; exit 0; }
fi

bench_scratch
MOCK=$(free_port); PK=$(free_port); GW=$(free_port); ADMIN=$(free_port)
RESPONSE='{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":19,"completion_tokens":9,"total_tokens":28}}'
nginx_mock_conf "listen 127.0.0.1:$MOCK;" >"$work/nginx.conf"
aigw_bench_config "$GW" "$MOCK" mock >"$work/aigw.yaml"
cat >"$work/post.lua" <<EOC
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
wrk.headers["x-portkey-provider"] = "openai"
wrk.headers["x-portkey-custom-host"] = "http://127.0.0.1:$MOCK/v1"
wrk.body = '{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Hello! Please say hello back in one short sentence."}],"temperature":0.2,"max_tokens":64}'
EOC

"$NGINX" -c "$work/nginx.conf" -e "$work/mock-error.log" & pids+=($!)
NODE_ENV=production node "$PORTKEY" --port="$PK" --headless >"$work/portkey.log" 2>&1 & pids+=($!)
"$AIGW" run "$work/aigw.yaml" --concurrency 1 --admin-port "$ADMIN" --admin-address 127.0.0.1 \
  --no-access-log --no-watch --log-level warn & pids+=($!)
for _ in $(seq 200); do
  curl -sf -o /dev/null "http://127.0.0.1:$PK/" && curl -sf -o /dev/null "http://127.0.0.1:$ADMIN/ready" && break
  sleep 0.05
done
# Portkey must answer the mock's completion, not an error of its own.
check=$(curl -s -X POST "http://127.0.0.1:$PK/v1/chat/completions" -H 'content-type: application/json' \
  -H 'authorization: Bearer sk-bench' -H 'x-portkey-provider: openai' \
  -H "x-portkey-custom-host: http://127.0.0.1:$MOCK/v1" -d '{"model":"gpt-4o-mini","messages":[]}')
grep -q '"chat.completion"' <<<"$check" || { echo "peers: Portkey did not relay the mock's answer: $check"; exit 1; }

# "req/s p50_us p99_us" of one wrk run (every answer must be a 2xx).
run() {
  local out
  out=$(wrk -t1 -c"$2" -d"${DURATION}s" --latency -s "$work/post.lua" "$1" 2>&1)
  if grep -q "Non-2xx" <<<"$out"; then
    echo "wrk against $1: $(grep Non-2xx <<<"$out")" >&2
    exit 1
  fi
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  us() { awk -v q="$1" '$1 == q {v = $2; if (v ~ /us$/) {sub("us", "", v)} else if (v ~ /ms$/) {sub("ms", "", v); v *= 1000} else if (v ~ /s$/) {sub("s", "", v); v *= 1000000}; print v}'; }
  p50=$(us 50% <<<"$out")
  p99=$(us 99% <<<"$out")
  echo "$rps $p50 $p99"
}

wrk -t1 -c8 -d2s -s "$work/post.lua" "http://127.0.0.1:$PK/v1/chat/completions" >/dev/null # (JIT warm-up)
printf '%-8s %6s %12s %10s %10s\n' target conns req/s p50_us p99_us
declare -A R
for c in 64 1; do
  for t in direct portkey aigw; do
    case $t in
      direct) url="http://127.0.0.1:$MOCK/v1/chat/completions" ;;
      portkey) url="http://127.0.0.1:$PK/v1/chat/completions" ;;
      aigw) url="http://127.0.0.1:$GW/v1/chat/completions" ;;
    esac
    read -r rps p50 p99 < <(run "$url" "$c")
    R[$t,$c]="$rps $p50 $p99"
    printf '%-8s %6s %12s %10s %10s\n' "$t" "$c" "$rps" "$p50" "$p99"
  done
done
python3 - "${R[direct,64]}" "${R[portkey,64]}" "${R[aigw,64]}" "${R[direct,1]}" "${R[portkey,1]}" "${R[aigw,1]}" <<'EOC'
import sys
d64, p64, a64, d1, p1, a1 = [list(map(float, s.split())) for s in sys.argv[1:]]
print(f"64 connections: aigw / Portkey requests/s = {a64[0]/p64[0]:.1f}x")
print(f"1 connection:   added to direct p50: aigw {a1[1]-d1[1]:.0f} us, Portkey {p1[1]-d1[1]:.0f} us; p99: aigw {a1[2]-d1[2]:.0f} us, Portkey {p1[2]-d1[2]:.0f} us")
EOC
