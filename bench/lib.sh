# Shared by the benchmark scripts (sourced, not run).

# A scratch folder ($work) and a list of background processes ($pids): on exit the processes are
# stopped and the folder removed.
bench_scratch() {
  work=$(mktemp -d)
  pids=()
  trap bench_cleanup EXIT
}
bench_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}

# A free loopback port.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The aigw configuration both benchmarks use: a Gateway on port $1, one route for gpt-4o-mini with
# a TotalToken cost, to an OpenAI-schema backend named $3 at 127.0.0.1:$2 with an API key.
aigw_bench_config() {
  local gw=$1 upstream=$2 name=$3
  cat <<EOC
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: bench}
spec:
  gatewayClassName: bench
  listeners: [{name: http, protocol: HTTP, port: $gw}]
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: bench}
spec:
  parentRefs: [{name: bench}]
  rules:
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: gpt-4o-mini}]}]
      backendRefs: [{name: $name}]
  llmRequestCosts:
    - {metadataKey: llm_total_token, type: TotalToken}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: $name}
spec:
  schema: {name: OpenAI}
  backendRef: {name: $name, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: $name}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: $upstream}}]
---
apiVersion: v1
kind: Secret
metadata: {name: $name-key}
stringData: {apiKey: sk-bench}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: $name-key}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: $name}]
  type: APIKey
  apiKey: {secretRef: {name: $name-key}}
EOC
}

# The configuration of an nginx mock provider (one worker) answering $RESPONSE at / and, when
# $CONVERSE is set, Converse's answer at /model/. $1: its listen directives; $2: more http-level
# directives. Files go under $work/mock-*.
nginx_mock_conf() {
  local converse=""
  [[ -n ${CONVERSE:-} ]] && converse="location /model/ { default_type application/json; return 200 '$CONVERSE'; }"
  cat <<EOC
worker_processes 1;
daemon off;
pid $work/mock.pid;
error_log $work/mock-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/mock-body;
  proxy_temp_path $work/mock-proxy;
  keepalive_requests 1000000;
  ${2:-}
  server {
    $1
    location / { default_type application/json; return 200 '$RESPONSE'; }
    $converse
  }
}
EOC
}

# aigw_bench_config's gateway (listening on $1 instead of $2) translated to AWS Bedrock Converse
# and SigV4-signed with a fixed key: the bench configuration on stdin, the new one on stdout.
aigw_bedrock_config() {
  sed -e "s/port: $2}/port: $1}/" -e 's/name: OpenAI}/name: AWSBedrock}/' \
    -e 's/  type: APIKey/  type: AWSCredentials/' \
    -e 's/  apiKey: {secretRef: {name: \([a-z]*\)-key}}/  awsCredentials: {region: us-east-1, credentialsFile: {secretRef: {name: \1-key}}}/' \
    -e 's/stringData: {apiKey: sk-bench}/stringData: {credentials: "[default]\\naws_access_key_id = AKIDBENCH\\naws_secret_access_key = bench-secret\\n"}/'
}

# aigw_bench_config's gateway (listening on $1 instead of $2) with its backend on another schema:
# Anthropic (the Messages API, x-api-key) or GCPVertexAI (Gemini's generateContent, no
# credentials: the mock needs none). The bench configuration on stdin, the new one on stdout.
aigw_schema_config() {
  local schema=$3
  python3 -c '
import sys
gw, old, schema = sys.argv[1:4]
docs = sys.stdin.read().replace(f"port: {old}}}", f"port: {gw}}}").split("\n---\n")
docs = [d.replace("name: OpenAI}", "name: " + schema + "}") for d in docs]
if schema == "Anthropic":
    docs = [d.replace("  type: APIKey", "  type: AnthropicAPIKey").replace("  apiKey: {", "  anthropicAPIKey: {") for d in docs]
else:
    docs = [d for d in docs if "kind: BackendSecurityPolicy" not in d]
print("\n---\n".join(docs))' "$1" "$2" "$schema"
}
