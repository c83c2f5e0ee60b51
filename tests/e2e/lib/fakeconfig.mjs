// YAML builders for tests that put every backend behind the one fake-providers Backend ("fake").
// An AIServiceBackend of `schema` (a YAML flow map such as `{name: AWSBedrock}`), plus `extra`
// spec lines.
export function fakeBackendYaml(name, schema, extra = '') {
  return `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: ${name}, namespace: default}
spec:
  schema: ${schema}
  backendRef: {name: fake, kind: Backend, group: gateway.envoyproxy.io}
${extra}`;
}

// A BackendSecurityPolicy targeting the named AIServiceBackends, `body` its spec lines.
export function securityPolicyYaml(name, targets, body) {
  return `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: ${name}, namespace: default}
spec:
  targetRefs: [${targets.map((t) => `{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: ${t}}`).join(', ')}]
${body}`;
}

// An AIGatewayRoute sending the model `model` (x-ai-eg-model) to the AIServiceBackend `ref`;
// `annotations`: its metadata annotation lines, indented four spaces.
export function modelRouteYaml(name, model, ref, annotations = '') {
  return `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata:
  name: ${name}
  namespace: default
${annotations ? `  annotations:\n${annotations}` : ''}spec:
  parentRefs: [{name: aigw}]
  rules:
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: ${model}}]}]
      backendRefs: [{name: ${ref}}]
`;
}

// The Backend "fake": the fake providers on loopback at `port`.
export function fakeEndpointYaml(port) {
  return `---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: fake, namespace: default}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: ${port}}}]
`;
}

// "fake" at `port` with the AIServiceBackends "openai" and "anthropic" behind it, the latter
// with its API key (sk-ant-test).
export function openaiAnthropicYaml(port) {
  return fakeEndpointYaml(port) + fakeBackendYaml('openai', '{name: OpenAI}') +
    fakeBackendYaml('anthropic', '{name: Anthropic}') + `---
apiVersion: v1
kind: Secret
metadata: {name: anthropic-key, namespace: default}
stringData: {apiKey: sk-ant-test}
` + securityPolicyYaml('anthropic-key', ['anthropic'], `  type: AnthropicAPIKey
  anthropicAPIKey: {secretRef: {name: anthropic-key}}
`);
}

// Client API keys ({client id: key}) in the Secret "client-keys", checked by the SecurityPolicy
// "keys" on the Gateway in the headers the SDKs send (authorization, x-api-key).
export function clientKeysYaml(keys) {
  return `---
apiVersion: v1
kind: Secret
metadata: {name: client-keys, namespace: default}
stringData:
${Object.entries(keys).map(([id, k]) => `  ${id}: ${k}\n`).join('')}---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: keys, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: aigw}]
  apiKeyAuth:
    credentialRefs: [{name: client-keys}]
    extractFrom: [{headers: [authorization, x-api-key]}]
`;
}

// A VirtualKey for the client `name` (its clientID), `spec` its further spec lines.
export function virtualKeyYaml(name, spec = '') {
  return `---
apiVersion: aigw.run/v1alpha1
kind: VirtualKey
metadata: {name: ${name}, namespace: default}
spec:
  clientID: ${name}
${spec}`;
}
