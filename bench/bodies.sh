#!/usr/bin/env bash
# `make bench-bodies` (also at the end of `make bench`): large request bodies, upstream's own
# benchmark shape (a chat request of MESSAGES messages of 1 MB each, 10 MB by default):
#   latency  wrk at 1 connection: direct to the nginx mock, through nginx as a plain proxy, and
#            through aigw (the body parsed, routed, re-encoded and relayed); the p50 each adds
#   memory   aigw's resident memory at the peak with PARALLEL (100) such requests in flight, per
#            request in flight against the body's size
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
AIGW=${AIGW:-build/aigw}
NGINX=${NGINX:-/usr/sbin/nginx}
MESSAGES=${MESSAGES:-10}
PARALLEL=${PARALLEL:-100}
DURATION=${DURATION:-6}
command -v wrk >/dev/null || { echo "wrk is not installed (make setup)"; exit 1; }

bench_scratch
MOCK=$(free_port); PROXY=$(free_port); GW=$(free_port); ADMIN=$(free_port)
RESPONSE='{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello!"},"finish_reason":"stop"}],"usage":{"prompt_tokens":19,"completion_tokens":9,"total_tokens":28}}'
nginx_mock_conf "listen 127.0.0.1:$MOCK;" "client_max_body_size 64m; client_body_buffer_size 16m;" >"$work/nginx.conf"
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
  client_max_body_size 64m;
  keepalive_requests 1000000;
  upstream mock { server 127.0.0.1:$MOCK; keepalive 256; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:$PROXY;
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_request_buffering off;
      proxy_buffering off;
    }
  }
}
EOC
aigw_bench_config "$GW" "$MOCK" mock >"$work/aigw.yaml"
python3 - "$MESSAGES" >"$work/big.lua" <<'EOP'
import sys
n = int(sys.argv[1])
content = "x" * (1024 * 1024)
msgs = ",".join('{"role":"user","content":"%s"}' % content for _ in range(n))
print('wrk.method = "POST"')
print('wrk.headers["Content-Type"] = "application/json"')
print("wrk.body = '{\"model\":\"gpt-4o-mini\",\"messages\":[%s]}'" % msgs)
EOP
body_bytes=$(($(wc -c <"$work/big.lua") - 100))

"$NGINX" -c "$work/nginx.conf" -e "$work/mock-error.log" & pids+=($!)
"$NGINX" -c "$work/proxy.conf" -e "$work/proxy-error.log" & pids+=($!)
"$AIGW" run "$work/aigw.yaml" --concurrency 1 --admin-port "$ADMIN" --admin-address 127.0.0.1 \
  --no-access-log --no-watch --log-level warn & GWPID=$!; pids+=($GWPID)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$ADMIN/ready" >/dev/null 2>&1 && break; sleep 0.05; done
sleep 0.3

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# Sequential requests, each on a new connection (nginx's mock answers before it has read a large
# body, then closes), with Python's http.client: the whole body is sent before the answer is
# read, so the upload counts for every target. The median of 35.
python3 - "$work/big.lua" >"$work/big.json" <<'EOP'
import sys
line = [l for l in open(sys.argv[1]) if l.startswith("wrk.body")][0]
sys.stdout.write(line[len("wrk.body = '"):-2])
EOP
p50() {
  python3 - "$1" "$work/big.json" <<'EOP'
import http.client, statistics, sys, time, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
body = open(sys.argv[2], 'rb').read()
times = []
for i in range(40):
    t = time.perf_counter()
    c = http.client.HTTPConnection(u.hostname, u.port)
    c.request('POST', u.path, body, {'content-type': 'application/json'})
    r = c.getresponse()
    r.read()
    c.close()
    if r.status != 200:
        sys.exit(f'{sys.argv[1]}: {r.status}')
    if i >= 5:
        times.append((time.perf_counter() - t) * 1000)
print(f'{statistics.median(times):.2f}')
EOP
}
echo "Large bodies: a chat request of $MESSAGES messages of 1 MB ($((body_bytes / 1024 / 1024)) MB), sequential"
declare -A P
for target in direct nginx aigw; do
  case $target in
    direct) url="http://127.0.0.1:$MOCK/v1/chat/completions" ;;
    nginx) url="http://127.0.0.1:$PROXY/v1/chat/completions" ;;
    aigw) url="http://127.0.0.1:$GW/v1/chat/completions" ;;
  esac
  P[$target]=$(p50 "$url")
  printf '  %-7s p50 %8.2f ms\n' "$target" "${P[$target]}"
done
awk -v a="${P[aigw]}" -v n="${P[nginx]}" -v d="${P[direct]}" \
  'BEGIN { printf "  aigw adds %.2f ms to direct (bar <= 5 ms); nginx adds %.2f ms\n", a - d, n - d }'
sleep 3 # (the heap of the runs above given back)

idle=$(rss_kb "$GWPID")
wrk -t1 -c"$PARALLEL" -d"${DURATION}s" --timeout 60s -s "$work/big.lua" \
  "http://127.0.0.1:$GW/v1/chat/completions" >"$work/par.out" 2>&1 & WRK=$!
peak=0
while kill -0 "$WRK" 2>/dev/null; do
  r=$(rss_kb "$GWPID")
  ((r > peak)) && peak=$r
  sleep 0.2
done
wait "$WRK" || true
sleep 3
after=$(rss_kb "$GWPID")
bad=$(awk '/Non-2xx/ {print $NF}' "$work/par.out"); bad=${bad:-0}
reqs=$(awk '/requests in/ {print $1}' "$work/par.out")
awk -v i="$idle" -v p="$peak" -v a="$after" -v n="$PARALLEL" -v b="$body_bytes" -v r="$reqs" -v bad="$bad" 'BEGIN {
  per = (p - i) * 1024 / n
  printf "  %d in parallel: aigw RSS idle %.1f MB, peak %.1f MB (%.2fx the body per request in flight; bar <= 2x), after %.1f MB; %d requests, %d non-2xx\n", n, i / 1024, p / 1024, per / b, a / 1024, r, bad }'
