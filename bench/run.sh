#!/usr/bin/env bash
# `make bench`: requests/s and latency of aigw against two baselines measured in the same run:
#   direct  wrk → nginx mock provider (fixed chat.completion JSON)
#   nginx   wrk → nginx reverse proxy (1 worker, keep-alive upstream) → mock
#   aigw    wrk → aigw (--concurrency 1, full pipeline: parse, route, usage) → mock
# at 64 connections and at 1 connection, with a small chat-completions body. Loopback only,
# bounded durations (DURATION seconds per run).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
DURATION=${DURATION:-10}
AIGW=${AIGW:-build/aigw}
NGINX=${NGINX:-/usr/sbin/nginx}
command -v wrk >/dev/null || { echo "wrk is not installed (make setup)"; exit 1; }

bench_scratch

MOCK=$(free_port); PROXY=$(free_port); GW=$(free_port); ADMIN=$(free_port)
GWRL=$(free_port); ADMINRL=$(free_port)
GWRR=$(free_port); ADMINRR=$(free_port); REDIS=$(free_port)
GWLG=$(free_port); ADMINLG=$(free_port)
GWBR=$(free_port); ADMINBR=$(free_port)
GWAN=$(free_port); ADMINAN=$(free_port); GWGE=$(free_port); ADMINGE=$(free_port)
PROXY2=$(free_port); GW2=$(free_port); ADMIN2=$(free_port)
GWOFF=$(free_port); ADMINOFF=$(free_port); GWON=$(free_port); ADMINON=$(free_port)
GWALL=$(free_port); ADMINALL=$(free_port); OTLP=$(free_port)

# What the mock answers on Bedrock's Converse path: the same answer in Converse's shape.
CONVERSE='{"output":{"message":{"role":"assistant","content":[{"text":"Hello! How can I help you today?"}]}},"stopReason":"end_turn","usage":{"inputTokens":19,"outputTokens":9,"totalTokens":28},"metrics":{"latencyMs":100}}'
# ... and on Anthropic's Messages path and Gemini's generateContent.
ANTHROPIC='{"id":"msg_bench","type":"message","role":"assistant","model":"claude-bench","content":[{"type":"text","text":"Hello! How can I help you today?"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":19,"output_tokens":9}}'
GEMINI='{"candidates":[{"content":{"role":"model","parts":[{"text":"Hello! How can I help you today?"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":19,"candidatesTokenCount":9,"totalTokenCount":28},"modelVersion":"gemini-bench"}'
RESPONSE='{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":19,"completion_tokens":9,"total_tokens":28}}'

cat >"$work/nginx.conf" <<EOC
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/body;
  proxy_temp_path $work/proxy;
  fastcgi_temp_path $work/fastcgi;
  uwsgi_temp_path $work/uwsgi;
  scgi_temp_path $work/scgi;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$MOCK;
    location / {
      default_type application/json;
      return 200 '$RESPONSE';
    }
    location /model/ {
      default_type application/json;
      return 200 '$CONVERSE';
    }
    location /v1/messages {
      default_type application/json;
      return 200 '$ANTHROPIC';
    }
    location ~ :generateContent$ {
      default_type application/json;
      return 200 '$GEMINI';
    }
  }
}
EOC
cat >"$work/proxy.conf" <<EOC
worker_processes 1;
daemon off;
pid $work/proxy.pid;
error_log $work/proxy-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/pbody;
  proxy_temp_path $work/pproxy;
  fastcgi_temp_path $work/pfastcgi;
  uwsgi_temp_path $work/puwsgi;
  scgi_temp_path $work/pscgi;
  keepalive_requests 1000000;
  upstream mock { server 127.0.0.1:$MOCK; keepalive 128; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:$PROXY;
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
EOC
aigw_bench_config "$GW" "$MOCK" mock >"$work/aigw.yaml"
# The same gateway with a token budget per tenant (in memory) that the run never exhausts.
sed -e "s/port: $GW}/port: $GWRL}/" "$work/aigw.yaml" >"$work/aigw-rl.yaml"
cat >>"$work/aigw-rl.yaml" <<EOC
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: bench}
spec:
  targetRefs: [{name: bench, kind: Gateway, group: gateway.networking.k8s.io}]
  rateLimit:
    type: Global
    global:
      rules:
        - clientSelectors: [{headers: [{name: x-tenant-id, type: Distinct}]}]
          limit: {requests: 1000000000000, unit: Hour}
          cost:
            request: {from: Number, number: 0}
            response: {from: Metadata, metadata: {namespace: io.envoy.ai_gateway, key: llm_total_token}}
EOC

sed -e "s/port: $GWRL}/port: $GWRR}/" "$work/aigw-rl.yaml" >"$work/aigw-rr.yaml"

# The same gateway translating to AWS Bedrock Converse (SigV4-signed) on the same mock.
aigw_bedrock_config "$GWBR" "$GW" <"$work/aigw.yaml" >"$work/aigw-br.yaml"
# ... to Anthropic's Messages API, and to Gemini (Vertex AI's generateContent).
aigw_schema_config "$GWAN" "$GW" Anthropic <"$work/aigw.yaml" >"$work/aigw-an.yaml"
aigw_schema_config "$GWGE" "$GW" GCPVertexAI <"$work/aigw.yaml" >"$work/aigw-ge.yaml"
# Two workers each: nginx as a proxy with worker_processes 2, aigw with --concurrency 2.
sed -e "s/worker_processes 1;/worker_processes 2;/" -e "s/listen 127.0.0.1:$PROXY;/listen 127.0.0.1:$PROXY2;/" \
  -e "s|pid $work/proxy.pid;|pid $work/proxy2.pid;|" -e "s|$work/p\([a-z]*\);|$work/q\1;|" \
  "$work/proxy.conf" >"$work/proxy2.conf"
sed -e "s/port: $GW}/port: $GW2}/" "$work/aigw.yaml" >"$work/aigw-2.yaml"

cat >"$work/post.lua" <<'EOC'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-client"
wrk.headers["x-tenant-id"] = "tenant-bench"
wrk.body = '{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Hello! Please say hello back in one short sentence."}],"temperature":0.2,"max_tokens":64}'
EOC
# Anthropic's Messages API from the client, to the same OpenAI backend (Messages → Chat).
cat >"$work/messages.lua" <<'EOC'
wrk.method = "POST"
wrk.path = "/anthropic/v1/messages"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-api-key"] = "sk-client"
wrk.headers["anthropic-version"] = "2023-06-01"
wrk.body = '{"model":"gpt-4o-mini","max_tokens":64,"system":"You are a helpful assistant.","messages":[{"role":"user","content":"Hello! Please say hello back in one short sentence."}],"temperature":0.2}'
EOC

"$NGINX" -c "$work/nginx.conf" -e "$work/error.log" & pids+=($!)
"$NGINX" -c "$work/proxy.conf" -e "$work/proxy-error.log" & pids+=($!)
"$AIGW" run "$work/aigw.yaml" --concurrency 1 --admin-port "$ADMIN" --admin-address 127.0.0.1 \
  --no-access-log --no-watch --log-level warn & pids+=($!)

"$AIGW" run "$work/aigw-rl.yaml" --concurrency 1 --admin-port "$ADMINRL" --admin-address 127.0.0.1 \
  --no-access-log --no-watch --log-level warn & pids+=($!)

"$AIGW" run "$work/aigw-br.yaml" --concurrency 1 --admin-port "$ADMINBR" --admin-address 127.0.0.1 \
  --no-access-log --no-watch --log-level warn & pids+=($!)

for v in an ge; do
  admin_var="ADMIN${v^^}"
  "$AIGW" run "$work/aigw-$v.yaml" --concurrency 1 --admin-port "${!admin_var}" --admin-address 127.0.0.1 \
    --no-access-log --no-watch --log-level warn & pids+=($!)
done
"$NGINX" -c "$work/proxy2.conf" -e "$work/proxy2-error.log" & pids+=($!)
"$AIGW" run "$work/aigw-2.yaml" --concurrency 2 --admin-port "$ADMIN2" --admin-address 127.0.0.1 \
  --no-access-log --no-watch --log-level warn & pids+=($!)

# Observability off (no access log, no metrics) / on (metrics + access log to a file) / all (plus
# spans exported to a local OTLP receiver).
sed -e "s/port: $GW}/port: $GWOFF}/" "$work/aigw.yaml" >"$work/aigw-off.yaml"
sed -e "s/port: $GW}/port: $GWON}/" "$work/aigw.yaml" >"$work/aigw-on.yaml"
sed -e "s/port: $GW}/port: $GWALL}/" "$work/aigw.yaml" >"$work/aigw-all.yaml"
python3 - "$OTLP" <<'EOP' & pids+=($!)
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get('content-length', 0)))
        self.send_response(200); self.send_header('content-length', '2'); self.end_headers(); self.wfile.write(b'{}')
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
EOP
"$AIGW" run "$work/aigw-off.yaml" --concurrency 1 --admin-port "$ADMINOFF" --admin-address 127.0.0.1 \
  --no-access-log --no-metrics --no-watch --log-level warn & pids+=($!)
"$AIGW" run "$work/aigw-on.yaml" --concurrency 1 --admin-port "$ADMINON" --admin-address 127.0.0.1 \
  --access-log-file "$work/access.log" --no-watch --log-level warn & pids+=($!)
OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$OTLP" \
  "$AIGW" run "$work/aigw-all.yaml" --concurrency 1 --admin-port "$ADMINALL" --admin-address 127.0.0.1 \
  --access-log-file "$work/access-all.log" --no-watch --log-level warn & pids+=($!)

HAVE_REDIS=0
if command -v redis-server >/dev/null; then
  HAVE_REDIS=1
  redis-server --port "$REDIS" --bind 127.0.0.1 --save '' --appendonly no >/dev/null & pids+=($!)
  "$AIGW" run "$work/aigw-rr.yaml" --concurrency 1 --admin-port "$ADMINRR" --admin-address 127.0.0.1 \
    --no-access-log --no-watch --log-level warn --ratelimit-redis "redis://127.0.0.1:$REDIS" & pids+=($!)
  # The usage ledger to a file and to a Redis stream, beside obs-on (metrics + access log).
  sed -e "s/port: $GW}/port: $GWLG}/" "$work/aigw.yaml" >"$work/aigw-lg.yaml"
  "$AIGW" run "$work/aigw-lg.yaml" --concurrency 1 --admin-port "$ADMINLG" --admin-address 127.0.0.1 \
    --access-log-file "$work/access-lg.log" --no-watch --log-level warn \
    --usage-ledger "$work/usage.jsonl" --usage-ledger-redis "redis://127.0.0.1:$REDIS" & pids+=($!)
fi

for url in "http://127.0.0.1:$MOCK/" "http://127.0.0.1:$PROXY/" "http://127.0.0.1:$ADMIN/ready" \
  "http://127.0.0.1:$ADMINRL/ready" "http://127.0.0.1:$ADMINBR/ready" "http://127.0.0.1:$ADMINOFF/ready" \
  "http://127.0.0.1:$ADMINAN/ready" "http://127.0.0.1:$ADMINGE/ready" "http://127.0.0.1:$ADMIN2/ready" \
  "http://127.0.0.1:$ADMINON/ready" "http://127.0.0.1:$ADMINALL/ready"; do
  for _ in $(seq 100); do curl -sf -o /dev/null "$url" && break; sleep 0.05; done
done
curl -sf -o /dev/null -X POST "http://127.0.0.1:$GW/v1/chat/completions" -d '{"model":"gpt-4o-mini"}' ||
  { echo "aigw did not answer"; exit 1; }

# run NAME URL CONNECTIONS → "rps p50_us p99_us"
run() {
  local out
  out=$(wrk -t"${THREADS:-1}" -c"$3" -d"${DURATION}s" --latency -s "${LUA:-$work/post.lua}" "$2")
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  echo "$rps $(to_us "$p50") $(to_us "$p99")"
}
to_us() {
  python3 -c "
import re,sys; v=sys.argv[1]; m=re.match(r'([0-9.]+)(us|ms|s)',v)
n=float(m.group(1)); print(round(n*{'us':1,'ms':1000,'s':1e6}[m.group(2)],1))" "$1"
}

# ab URL_A URL_B [LUA_B] [THREADS] → "median(B/A) min max" over ROUNDS alternating runs:
# interleaving cancels the drift of a shared machine that separate runs minutes apart pick up.
# LUA_B: B's request script (default: A's, post.lua); THREADS: wrk's threads (default 1).
ROUNDS=${ROUNDS:-5}
ab() {
  python3 - "$1" "$2" "$ROUNDS" "$DURATION" "$work/post.lua" "${3:-$work/post.lua}" "${4:-1}" <<'EOP'
import subprocess, sys, statistics
a, b, rounds, dur, lua_a, lua_b, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), max(2, int(sys.argv[4]) // 2), sys.argv[5], sys.argv[6], sys.argv[7]
def rps(url, lua):
    out = subprocess.run(['wrk', f'-t{threads}', '-c64', f'-d{dur}s', '-s', lua, url], capture_output=True, text=True).stdout
    return float([l.split()[1] for l in out.splitlines() if l.startswith('Requests/sec')][0])
ratios = []
for i in range(rounds):
    ra, rb = rps(a, lua_a), rps(b, lua_b)
    ratios.append(rb / ra)
print(f"{statistics.median(ratios):.2f} {min(ratios):.2f} {max(ratios):.2f}")
EOP
}

printf '\n%-8s %6s %12s %10s %10s\n' target conns req/s p50_us p99_us
declare -A R
for c in 64 1; do
  for t in direct nginx aigw; do
    case $t in
      direct) url="http://127.0.0.1:$MOCK/v1/chat/completions" ;;
      nginx) url="http://127.0.0.1:$PROXY/v1/chat/completions" ;;
      aigw) url="http://127.0.0.1:$GW/v1/chat/completions" ;;
    esac
    read -r rps p50 p99 < <(run "$t" "$url" "$c")
    R[$t,$c]="$rps $p50 $p99"
    printf '%-8s %6s %12s %10s %10s\n' "$t" "$c" "$rps" "$p50" "$p99"
  done
done

curl -sf -o /dev/null -X POST "http://127.0.0.1:$GWBR/v1/chat/completions" \
  -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}' ||
  { echo "aigw (Bedrock) did not answer"; exit 1; }
read -r br_rps br_p50 br_p99 < <(run aigw-bedrock "http://127.0.0.1:$GWBR/v1/chat/completions" 64)
printf '%-8s %6s %12s %10s %10s   (aigw translating to Bedrock Converse, SigV4-signed)\n' aigw+brk 64 "$br_rps" "$br_p50" "$br_p99"
read -r br_med br_min br_max < <(ab "http://127.0.0.1:$GW/v1/chat/completions" "http://127.0.0.1:$GWBR/v1/chat/completions")
echo "64 connections: aigw OpenAI->Bedrock / OpenAI passthrough = ${br_med}x median of $ROUNDS interleaved rounds (${br_min}-${br_max})  (bar >= 0.95x)"

# The other translations: OpenAI → Anthropic Messages, OpenAI → Gemini, and a client speaking
# Anthropic's Messages API to the OpenAI backend; each against OpenAI passthrough.
for v in an ge msg; do
  case $v in
    an) url="http://127.0.0.1:$GWAN/v1/chat/completions" lua="$work/post.lua" what="OpenAI->Anthropic Messages" ;;
    ge) url="http://127.0.0.1:$GWGE/v1/chat/completions" lua="$work/post.lua" what="OpenAI->Gemini generateContent" ;;
    msg) url="http://127.0.0.1:$GW/anthropic/v1/messages" lua="$work/messages.lua" what="Anthropic Messages->OpenAI" ;;
  esac
  curl -sf -o /dev/null -X POST "$url" -H 'anthropic-version: 2023-06-01' \
    -d '{"model":"gpt-4o-mini","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}' ||
    { echo "aigw ($what) did not answer"; exit 1; }
  read -r t_rps t_p50 t_p99 < <(LUA=$lua run "aigw-$v" "$url" 64)
  printf '%-8s %6s %12s %10s %10s   (aigw, %s)\n' "aigw+$v" 64 "$t_rps" "$t_p50" "$t_p99" "$what"
  read -r t_med t_min t_max < <(ab "http://127.0.0.1:$GW/v1/chat/completions" "$url" "$lua")
  echo "64 connections: aigw $what / OpenAI passthrough = ${t_med}x median of $ROUNDS interleaved rounds (${t_min}-${t_max})  (bar >= 0.95x)"
done

# Two workers: aigw --concurrency 2 against nginx with worker_processes 2 (wrk with two threads),
# and each against its one-worker self.
read -r n2_rps n2_p50 n2_p99 < <(THREADS=2 run nginx-2 "http://127.0.0.1:$PROXY2/v1/chat/completions" 64)
read -r a2_rps a2_p50 a2_p99 < <(THREADS=2 run aigw-2 "http://127.0.0.1:$GW2/v1/chat/completions" 64)
printf '%-8s %6s %12s %10s %10s   (nginx, 2 workers, wrk -t2)\n' nginx-2 64 "$n2_rps" "$n2_p50" "$n2_p99"
printf '%-8s %6s %12s %10s %10s   (aigw --concurrency 2, wrk -t2)\n' aigw-2 64 "$a2_rps" "$a2_p50" "$a2_p99"
read -r w2_med w2_min w2_max < <(ab "http://127.0.0.1:$PROXY2/v1/chat/completions" "http://127.0.0.1:$GW2/v1/chat/completions" "$work/post.lua" 2)
echo "64 connections, 2 workers: aigw / nginx = ${w2_med}x median of $ROUNDS interleaved rounds (${w2_min}-${w2_max})  (bar >= 1.2x)"
python3 -c "import sys; a2, n2, a1, n1 = map(float, sys.argv[1:]); print(f'  scaling 1 -> 2 workers: aigw {a2/a1:.2f}x, nginx {n2/n1:.2f}x (2 cores shared with wrk and the mock)')" \
  "$a2_rps" "$n2_rps" "$(cut -d' ' -f1 <<<"${R[aigw,64]}")" "$(cut -d' ' -f1 <<<"${R[nginx,64]}")"

read -r off_rps off_p50 off_p99 < <(run obs-off "http://127.0.0.1:$GWOFF/v1/chat/completions" 64)
read -r on_rps on_p50 on_p99 < <(run obs-on "http://127.0.0.1:$GWON/v1/chat/completions" 64)
read -r all_rps all_p50 all_p99 < <(run obs-all "http://127.0.0.1:$GWALL/v1/chat/completions" 64)
printf '%-8s %6s %12s %10s %10s   (no metrics, no access log)\n' obs-off 64 "$off_rps" "$off_p50" "$off_p99"
printf '%-8s %6s %12s %10s %10s   (metrics + access log to a file)\n' obs-on 64 "$on_rps" "$on_p50" "$on_p99"
printf '%-8s %6s %12s %10s %10s   (metrics + access log + OTLP tracing)\n' obs-all 64 "$all_rps" "$all_p50" "$all_p99"
read -r on_med on_min on_max < <(ab "http://127.0.0.1:$GWOFF/v1/chat/completions" "http://127.0.0.1:$GWON/v1/chat/completions")
read -r all_med all_min all_max < <(ab "http://127.0.0.1:$GWOFF/v1/chat/completions" "http://127.0.0.1:$GWALL/v1/chat/completions")
echo "64 connections: metrics+access log / off = ${on_med}x median of $ROUNDS interleaved rounds (${on_min}-${on_max})  (bar >= 0.90x)"
echo "64 connections: metrics+access log+tracing / off = ${all_med}x (${all_min}-${all_max})"

read -r rl_rps rl_p50 rl_p99 < <(run aigw-limit "http://127.0.0.1:$GWRL/v1/chat/completions" 64)
printf '%-8s %6s %12s %10s %10s   (aigw with an in-memory token budget per tenant)\n' aigw+rl 64 "$rl_rps" "$rl_p50" "$rl_p99"
python3 -c "import sys; print(f'\n64 connections: aigw with a token limit (in memory) / without = {float(sys.argv[1])/float(sys.argv[2]):.2f}x  (bar >= 0.90x)')" "$rl_rps" "$(cut -d' ' -f1 <<<"${R[aigw,64]}")"
if [[ $HAVE_REDIS == 1 ]]; then
  for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$ADMINRR/ready" && break; sleep 0.05; done
  read -r rr_rps rr_p50 rr_p99 < <(run aigw-redis "http://127.0.0.1:$GWRR/v1/chat/completions" 64)
  printf '%-8s %6s %12s %10s %10s   (the same budget in Redis: pipelined EVALSHA, one connection)\n' aigw+rds 64 "$rr_rps" "$rr_p50" "$rr_p99"
  python3 -c "import sys; print(f'64 connections: aigw with a token limit (Redis) / without = {float(sys.argv[1])/float(sys.argv[2]):.2f}x')" "$rr_rps" "$(cut -d' ' -f1 <<<"${R[aigw,64]}")"
  read -r rd_med rd_min rd_max < <(ab "http://127.0.0.1:$GWRL/v1/chat/completions" "http://127.0.0.1:$GWRR/v1/chat/completions")
  echo "64 connections: token limit in Redis / in memory = ${rd_med}x median of $ROUNDS interleaved rounds (${rd_min}-${rd_max})  (bar >= 0.80x)"
  redis_calls=$(redis-cli -p "$REDIS" info commandstats 2>/dev/null |
    awk -F'calls=' '/^cmdstat_eval/ {split($2, a, ","); s += a[1]} END {print s + 0}')
  served=$(curl -s "http://127.0.0.1:$ADMINRR/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("requests", 0))')
  awk -v c="$redis_calls" -v r="$served" 'BEGIN { if (r > 0) printf "  Redis script calls per request: %.2f (admission and settlement; %d calls, %d requests)\n", c / r, c, r }'
  for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$ADMINLG/ready" && break; sleep 0.05; done
  read -r lg_rps lg_p50 lg_p99 < <(run aigw-ledger "http://127.0.0.1:$GWLG/v1/chat/completions" 64)
  printf '%-8s %6s %12s %10s %10s   (metrics + access log + usage ledger to a file and a Redis stream)\n' aigw+lg 64 "$lg_rps" "$lg_p50" "$lg_p99"
  read -r lg_med lg_min lg_max < <(ab "http://127.0.0.1:$GWON/v1/chat/completions" "http://127.0.0.1:$GWLG/v1/chat/completions")
  echo "64 connections: usage ledger (file + Redis stream) / without = ${lg_med}x median of $ROUNDS interleaved rounds (${lg_min}-${lg_max})  (bar >= 0.90x)"
  curl -s "http://127.0.0.1:$ADMINLG/metrics" | awk '/^aigw_usage_ledger_records_total/ {printf "  %s %s\n", $1, $2}'
  echo "  stream length: $(redis-cli -p "$REDIS" XLEN aigw:usage 2>/dev/null)"
fi

python3 - "${R[direct,64]}" "${R[nginx,64]}" "${R[aigw,64]}" "${R[direct,1]}" "${R[nginx,1]}" "${R[aigw,1]}" <<'EOC'
import sys
d64, n64, a64, d1, n1, a1 = [list(map(float, s.split())) for s in sys.argv[1:]]
print()
print(f"64 connections: aigw/nginx requests/s = {a64[0]/n64[0]:.2f}x in the table's runs")
print(f"64 connections: aigw/direct requests/s = {a64[0]/d64[0]:.2f}x")
print(f"1 connection:   aigw adds {a1[2]-d1[2]:.0f} us to direct p99; nginx adds {n1[2]-d1[2]:.0f} us  (bar: aigw <= nginx)")
print(f"1 connection:   aigw adds {a1[1]-d1[1]:.0f} us to direct p50; nginx adds {n1[1]-d1[1]:.0f} us  (bar: aigw <= nginx)")
EOC
read -r g_med g_min g_max < <(ab "http://127.0.0.1:$PROXY/v1/chat/completions" "http://127.0.0.1:$GW/v1/chat/completions")
echo "64 connections: aigw / nginx = ${g_med}x median of $ROUNDS interleaved rounds (${g_min}-${g_max})  (bar >= 1.2x)"

# AIGW_BASELINE=/path/to/an/older/aigw: the same gateway run by that binary beside this one, and
# the two compared in interleaved rounds (this build / the baseline), so a change is measured
# against what it replaces on the same machine at the same time.
if [[ -n ${AIGW_BASELINE:-} ]]; then
  GWBASE=$(free_port); ADMINBASE=$(free_port)
  sed -e "s/port: $GW}/port: $GWBASE}/" "$work/aigw.yaml" >"$work/aigw-base.yaml"
  "$AIGW_BASELINE" run "$work/aigw-base.yaml" --concurrency 1 --admin-port "$ADMINBASE" \
    --admin-address 127.0.0.1 --no-access-log --no-watch --log-level warn &
  pids+=($!)
  for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$ADMINBASE/ready" && break; sleep 0.05; done
  read -r base_med base_min base_max < <(ab "http://127.0.0.1:$GWBASE/v1/chat/completions" "http://127.0.0.1:$GW/v1/chat/completions")
  echo "64 connections: this build / $AIGW_BASELINE = ${base_med}x median of $ROUNDS interleaved rounds ($base_min-$base_max)"
fi

# MAIN_ONLY=1: the figures above only, without the benchmarks of the other scripts.
[[ ${MAIN_ONLY:-0} == 1 ]] && exit 0

# The MCP gateway: tools/call through aigw against straight to the MCP server (bench/mcp.sh).
if command -v node >/dev/null && [[ -d tests/e2e/node_modules/@modelcontextprotocol/sdk ]]; then
  DURATION=$DURATION AIGW=$AIGW bash bench/mcp.sh
fi

# What one request costs, counted: syscalls (strace) and allocations (bench/alloc_count.c).
if command -v strace >/dev/null; then
  AIGW=$AIGW bash bench/costs.sh
fi

# HTTP/2 clients (h2c) with h2load, against nginx's http2 listener (bench/h2.sh).
if command -v h2load >/dev/null; then
  AIGW=$AIGW bash bench/h2.sh
fi

# Many slow SSE streams at once: memory while they run and after, CPU per chunk (bench/streams.sh).
AIGW=$AIGW bash bench/streams.sh

# 10 MB chat requests: added latency, memory per request in flight (bench/bodies.sh).
AIGW=$AIGW bash bench/bodies.sh

# Another AI gateway on the same mock: Portkey's (bench/peers.sh).
AIGW=$AIGW bash bench/peers.sh
