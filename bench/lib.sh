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
