#!/usr/bin/env bash
# `make bench-h2` (also at the end of `make bench`): HTTP/2 clients (h2c, prior knowledge) with
# h2load, against two baselines in the same run:
#   direct  h2load → the nginx mock provider's own http2 listener
#   nginx   h2load → nginx as a plain proxy (1 worker, http2 listener, keep-alive HTTP/1.1 upstream)
#   aigw    h2load → aigw (--concurrency 1, the full pipeline) → the mock over HTTP/1.1
#   nginx-tls, aigw-tls  the same two over TLS 1.3, h2 agreed by ALPN (a self-signed P-256 certificate)
# Each at C connections with M streams each, N requests, a small chat-completions body; the
# ratios of requests/s are printed. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
AIGW=${AIGW:-build/aigw}
NGINX=${NGINX:-/usr/sbin/nginx}
N=${N:-100000}
C=${C:-8}
M=${M:-16}
command -v h2load >/dev/null || { echo "h2load is not installed (make setup)"; exit 1; }

bench_scratch
MOCK=$(free_port); MOCKH2=$(free_port); PROXY=$(free_port); GW=$(free_port); ADMIN=$(free_port)
PROXYTLS=$(free_port); GWTLS=$(free_port)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$work/tls.key" \
  -out "$work/tls.crt" -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost 2>/dev/null
RESPONSE='{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":19,"completion_tokens":9,"total_tokens":28}}'
nginx_mock_conf "listen 127.0.0.1:$MOCK; listen 127.0.0.1:$MOCKH2 http2;" >"$work/nginx.conf"
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
  keepalive_requests 1000000;
  upstream mock { server 127.0.0.1:$MOCK; keepalive 256; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:$PROXY http2;
    listen 127.0.0.1:$PROXYTLS ssl http2;
    ssl_certificate $work/tls.crt;
    ssl_certificate_key $work/tls.key;
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
EOC
# The same gateway with an HTTPS listener beside the plain one.
aigw_bench_config "$GW" "$MOCK" mock |
  sed -e "s|  listeners: \[{name: http, protocol: HTTP, port: $GW}\]|  listeners: [{name: http, protocol: HTTP, port: $GW}, {name: https, protocol: HTTPS, port: $GWTLS, tls: {certificateRefs: [{name: bench-tls}]}}]|" >"$work/aigw.yaml"
python3 - "$work" >>"$work/aigw.yaml" <<'EOP'
import base64, sys
w = sys.argv[1]
b = lambda f: base64.b64encode(open(f'{w}/{f}', 'rb').read()).decode()
print(f"---\napiVersion: v1\nkind: Secret\nmetadata: {{name: bench-tls}}\ntype: kubernetes.io/tls\n"
      f"data: {{tls.crt: {b('tls.crt')}, tls.key: {b('tls.key')}}}")
EOP
printf '%s' '{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Hello! Please say hello back in one short sentence."}],"temperature":0.2,"max_tokens":64}' >"$work/body.json"

"$NGINX" -c "$work/nginx.conf" -e "$work/mock-error.log" & pids+=($!)
"$NGINX" -c "$work/proxy.conf" -e "$work/proxy-error.log" & pids+=($!)
"$AIGW" run "$work/aigw.yaml" --concurrency 1 --admin-port "$ADMIN" --admin-address 127.0.0.1 \
  --no-access-log --no-watch --log-level warn & pids+=($!)
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$ADMIN/ready" >/dev/null 2>&1 && break
  sleep 0.1
done

# Prints "req/s mean-µs" of one h2load run (every answer must be a 2xx).
run() {
  local url=$1 out
  out=$(h2load -n "$N" -c "$C" -m "$M" -d "$work/body.json" -H 'content-type: application/json' \
    -H 'authorization: Bearer sk-client' "$url" 2>&1)
  local ok rps mean
  ok=$(awk '/^status codes:/ {gsub(",","",$3); print $3}' <<<"$out")
  if [[ "$ok" != "$N" ]]; then
    echo "h2load against $url: $ok of $N answers were 2xx" >&2
    grep -E "^(requests|status codes):" <<<"$out" >&2
    exit 1
  fi
  rps=$(awk '/^finished in/ {gsub(",",""); print $4}' <<<"$out")
  mean=$(awk '/^time for request:/ {print $6}' <<<"$out")
  echo "$rps $mean"
}

h2load -n 2000 -c 2 -m 4 -d "$work/body.json" "http://127.0.0.1:$GW/v1/chat/completions" >/dev/null 2>&1 # warm-up
printf '%-8s %6s %8s %12s %12s\n' target conns streams "req/s" "mean/req"
declare -A rps
for target in direct nginx aigw nginx-tls aigw-tls; do
  case $target in
    direct) url="http://127.0.0.1:$MOCKH2/v1/chat/completions" ;;
    nginx) url="http://127.0.0.1:$PROXY/v1/chat/completions" ;;
    aigw) url="http://127.0.0.1:$GW/v1/chat/completions" ;;
    nginx-tls) url="https://127.0.0.1:$PROXYTLS/v1/chat/completions" ;;
    aigw-tls) url="https://127.0.0.1:$GWTLS/v1/chat/completions" ;;
  esac
  read -r r mean < <(run "$url")
  rps[$target]=$r
  printf '%-8s %6s %8s %12s %12s\n' "$target" "$C" "$M" "$r" "$mean"
done
awk -v a="${rps[aigw]}" -v n="${rps[nginx]}" -v d="${rps[direct]}" \
  'BEGIN { printf "h2: aigw / nginx = %.2fx, aigw / direct = %.2fx\n", a / n, a / d }'
awk -v a="${rps[aigw-tls]}" -v n="${rps[nginx-tls]}" \
  'BEGIN { printf "h2 over TLS (ALPN): aigw / nginx = %.2fx\n", a / n }'
