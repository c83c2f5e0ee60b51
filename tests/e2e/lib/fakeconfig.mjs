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
