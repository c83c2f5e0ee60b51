#!/usr/bin/env bash
# `make bench-mcp`: MCP tools/call through aigw's MCP gateway against the same call straight to
# the MCP server, in the same run: requests/s, p50 and p99 at 8 connections and at 1, and what
# the gateway adds. The server is the official TypeScript SDK's (Node, one process); each target
# gets its own session, initialized first. Loopback only, bounded durations.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
DURATION=${DURATION:-10}
AIGW=${AIGW:-build/aigw}
command -v wrk >/dev/null || { echo "wrk is not installed (make setup)"; exit 1; }
bench_scratch

GW=$(free_port); ADMIN=$(free_port)
node bench/mcp-server.mjs >"$work/server.port" & pids+=($!)
for _ in $(seq 100); do [[ -s "$work/server.port" ]] && break; sleep 0.05; done
SERVER=$(cat "$work/server.port")

cat >"$work/mcp.yaml" <<EOC
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: bench}
spec:
  gatewayClassName: bench
  listeners: [{name: http, protocol: HTTP, port: $GW}]
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: MCPRoute
metadata: {name: bench}
spec:
  parentRefs: [{name: bench}]
  backendRefs: [{name: bench}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: bench}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: $SERVER}}]
EOC
"$AIGW" run "$work/mcp.yaml" --concurrency 1 --admin-port "$ADMIN" --admin-address 127.0.0.1 \
  --no-access-log --no-watch --log-level warn --mcp-session-encryption-seed bench & pids+=($!)
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$ADMIN/ready" && break; sleep 0.05; done

# initialize URL → the session id, the client's notifications/initialized sent
session() {
  local sid
  sid=$(curl -sf -D - -o /dev/null "$1" -H 'content-type: application/json' \
    -H 'accept: application/json, text/event-stream' \
    -d '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}' |
    awk 'tolower($1)=="mcp-session-id:" {print $2}' | tr -d '\r')
  curl -sf -o /dev/null "$1" -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
    -H "mcp-session-id: $sid" -d '{"jsonrpc":"2.0","method":"notifications/initialized"}'
  echo "$sid"
}
DIRECT_SID=$(session "http://127.0.0.1:$SERVER/mcp")
GW_SID=$(session "http://127.0.0.1:$GW/mcp")

# wrk's request: tools/call with the target's session id; every answer must be a 200.
lua() {
  cat <<EOL
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["accept"] = "application/json, text/event-stream"
wrk.headers["mcp-session-id"] = "$1"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"$2","arguments":{"text":"hello"}}}'
bad = 0
response = function(status, headers, body) if status ~= 200 then bad = bad + 1 end end
done = function(summary, latency, requests) io.write(string.format("non-200: %d\n", bad)) end
EOL
}
lua "$DIRECT_SID" echo >"$work/direct.lua"
lua "$GW_SID" bench__echo >"$work/gw.lua"

run() { # URL LUA CONNECTIONS → "rps p50_us p99_us non200"
  local out
  out=$(wrk -t1 -c"$3" -d"${DURATION}s" --latency -s "$2" "$1")
  python3 - "$out" <<'EOP'
import re, sys
out = sys.argv[1]
def us(v):
    m = re.match(r'([0-9.]+)(us|ms|s)', v)
    return round(float(m.group(1)) * {'us': 1, 'ms': 1000, 's': 1e6}[m.group(2)], 1)
rps = re.search(r'Requests/sec:\s+([0-9.]+)', out).group(1)
p50 = us(re.search(r'^\s+50%\s+(\S+)', out, re.M).group(1))
p99 = us(re.search(r'^\s+99%\s+(\S+)', out, re.M).group(1))
bad = re.search(r'non-200: (\d+)', out).group(1)
print(rps, p50, p99, bad)
EOP
}

printf '\nMCP tools/call (the official TypeScript SDK server; aigw --concurrency 1)\n'
printf '%-8s %6s %10s %10s %10s %8s\n' target conns req/s p50_us p99_us non200
declare -A R
for c in 8 1; do
  for t in direct aigw; do
    if [[ $t == direct ]]; then url="http://127.0.0.1:$SERVER/mcp"; s="$work/direct.lua"
    else url="http://127.0.0.1:$GW/mcp"; s="$work/gw.lua"; fi
    read -r rps p50 p99 bad < <(run "$url" "$s" "$c")
    R[$t,$c]="$rps $p50 $p99"
    printf '%-8s %6s %10s %10s %10s %8s\n' "$t" "$c" "$rps" "$p50" "$p99" "$bad"
  done
done
python3 - "${R[direct,8]}" "${R[aigw,8]}" "${R[direct,1]}" "${R[aigw,1]}" <<'EOP'
import sys
d8, a8, d1, a1 = [list(map(float, x.split())) for x in sys.argv[1:]]
print(f"\nthrough aigw / direct at 8 connections: {a8[0] / d8[0]:.2f}x requests/s")
print(f"added at 1 connection: p50 {a1[1] - d1[1]:+.0f} us, p99 {a1[2] - d1[2]:+.0f} us")
EOP
