#!/usr/bin/env bash
# `make bench-costs` (also at the end of `make bench`): what one request costs the gateway, counted
# rather than timed, next to nginx as a plain proxy in the same run:
#   syscalls per request  strace -c on the serving process while N keep-alive requests go through
#   allocations per request  an LD_PRELOAD counter (bench/alloc_count.c) read before and after
# Both at one connection, a small chat-completions body, the mock provider of bench/run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
AIGW=${AIGW:-build/aigw}
NGINX=${NGINX:-/usr/sbin/nginx}
N=${N:-2000}
command -v strace >/dev/null || { echo "strace is not installed (make setup)"; exit 1; }

bench_scratch
MOCK=$(free_port); PROXY=$(free_port); GW=$(free_port); ADMIN=$(free_port)
GWBR=$(free_port); ADMINBR=$(free_port)
CONVERSE='{"output":{"message":{"role":"assistant","content":[{"text":"Hello!"}]}},"stopReason":"end_turn","usage":{"inputTokens":19,"outputTokens":9,"totalTokens":28},"metrics":{"latencyMs":100}}'
RESPONSE='{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello!"},"finish_reason":"stop"}],"usage":{"prompt_tokens":19,"completion_tokens":9,"total_tokens":28}}'
cat >"$work/nginx.conf" <<EOC
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/body;
  proxy_temp_path $work/proxy;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$MOCK;
    location / { default_type application/json; return 200 '$RESPONSE'; }
    location /model/ { default_type application/json; return 200 '$CONVERSE'; }
  }
}
EOC
cat >"$work/proxy.conf" <<EOC
worker_processes 1;
daemon off;
pid $work/proxy.pid;
error_log $work/proxy-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/pbody;
  proxy_temp_path $work/pproxy;
  keepalive_requests 1000000;
  upstream mock { server 127.0.0.1:$MOCK; keepalive 16; keepalive_requests 1000000; }
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
# The same route translated to AWS Bedrock Converse (SigV4-signed), as in bench/run.sh.
aigw_bedrock_config "$GWBR" "$GW" <"$work/aigw.yaml" >"$work/aigw-br.yaml"
cc -O2 -shared -fPIC -o "$work/alloc_count.so" bench/alloc_count.c -lpthread

"$NGINX" -c "$work/nginx.conf" -e "$work/error.log" & pids+=($!)
"$NGINX" -c "$work/proxy.conf" -e "$work/proxy-error.log" & pids+=($!)
ALLOC_COUNT_FILE="$work/allocs" LD_PRELOAD="$work/alloc_count.so" \
  "$AIGW" run "$work/aigw.yaml" --concurrency 1 --admin-port "$ADMIN" --admin-address 127.0.0.1 \
  --no-access-log --no-watch --log-level warn & pids+=($!)
aigw_pid=$!
ALLOC_COUNT_FILE="$work/allocs-br" LD_PRELOAD="$work/alloc_count.so" \
  "$AIGW" run "$work/aigw-br.yaml" --concurrency 1 --admin-port "$ADMINBR" --admin-address 127.0.0.1 \
  --no-access-log --no-watch --log-level warn & pids+=($!)
for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$ADMINBR/health" && break; sleep 0.1; done
for _ in $(seq 100); do
  curl -fs -o /dev/null "http://127.0.0.1:$ADMIN/health" && curl -fs -o /dev/null "http://127.0.0.1:$PROXY/" && break
  sleep 0.1
done

# N sequential requests on one keep-alive connection; prints how many answered 200.
drive() {
  python3 - "$1" "$2" <<'EOP'
import http.client, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello! Please say hello back."}],"max_tokens":64}'
c = http.client.HTTPConnection('127.0.0.1', port)
ok = 0
for _ in range(n):
    c.request('POST', '/v1/chat/completions', body, {'content-type': 'application/json', 'authorization': 'Bearer sk-client'})
    r = c.getresponse(); r.read()
    ok += r.status == 200
print(ok)
EOP
}

# Syscalls the process made while N requests went through (strace -c over all its threads).
syscalls_per_request() {
  local pid=$1 port=$2 out="$work/strace-$1"
  drive "$port" 200 >/dev/null # warm: pools, caches
  strace -f -c -q -p "$pid" -o "$out" & local st=$!
  sleep 0.5
  local ok; ok=$(drive "$port" "$N")
  sleep 0.2
  kill -INT "$st"; wait "$st" 2>/dev/null || true
  if [ -n "${KEEP_STRACE:-}" ]; then cat "$out" >&2; fi
  [ "$ok" = "$N" ] || { echo "only $ok of $N requests answered 200 on port $port" >&2; exit 1; }
  # The counter shim's own thread (clock_nanosleep, pwrite64) is left out; so is the idle wait.
  local total; total=$(awk '$1 ~ /^[0-9.]+$/ && $NF != "total" && $NF != "clock_nanosleep" && $NF != "pwrite64" && $NF != "restart_syscall" {
    sum += $4 } END {print sum}' "$out")
  # The busiest syscalls, per request, for the table.
  awk -v n="$N" '$1 ~ /^[0-9.]+$/ && $NF != "total" && $NF != "clock_nanosleep" && $NF != "pwrite64" && $NF != "restart_syscall" && $4 / n >= 0.05 {
    printf "%s %.2f\n", $NF, $4 / n }' "$out" | sort -k2 -nr | head -5 | tr '\n' ' ' >"$out.top"
  awk -v t="$total" -v n="$N" 'BEGIN {printf "%.1f", t / n}'
}

nginx_worker=$(pgrep -P "$(cat "$work/proxy.pid")" | head -1)
aigw_sys=$(syscalls_per_request "$aigw_pid" "$GW")
nginx_sys=$(syscalls_per_request "$nginx_worker" "$PROXY")

drive "$GW" 200 >/dev/null
sleep 0.1
before=$(tr -d ' \n' <"$work/allocs")
ok=$(drive "$GW" "$N")
sleep 0.1
after=$(tr -d ' \n' <"$work/allocs")
[ "$ok" = "$N" ] || { echo "only $ok of $N requests answered 200" >&2; exit 1; }
allocs=$(awk -v a="$before" -v b="$after" -v n="$N" 'BEGIN {printf "%.1f", (b - a) / n}')
drive "$GWBR" 200 >/dev/null
sleep 0.1
before=$(tr -d ' \n' <"$work/allocs-br")
ok=$(drive "$GWBR" "$N")
sleep 0.1
after=$(tr -d ' \n' <"$work/allocs-br")
[ "$ok" = "$N" ] || { echo "only $ok of $N translated requests answered 200" >&2; exit 1; }
allocs_br=$(awk -v a="$before" -v b="$after" -v n="$N" 'BEGIN {printf "%.1f", (b - a) / n}')

echo
echo "== what one request costs ($N requests on 1 keep-alive connection; nginx: its proxy worker)"
printf '%-24s %12s %12s\n' "" aigw nginx
printf '%-24s %12s %12s\n' "syscalls / request" "$aigw_sys" "$nginx_sys"
printf '%-24s %12s %12s\n' "allocations / request" "$allocs" "-"
printf '%-24s %12s %12s\n' "  translated to Bedrock" "$allocs_br" "-"
echo "aigw:  $(cat "$work/strace-$aigw_pid.top")"
echo "nginx: $(cat "$work/strace-$nginx_worker.top")"
