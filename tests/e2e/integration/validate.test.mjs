// `aigw validate` reports each resource as upstream's controller would set its Accepted condition.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runAigw } from '../lib/harness.mjs';

describe('aigw validate', () => {
  it('reports Accepted and NotAccepted with the reason', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-validate-'));
    const file = path.join(dir, 'c.yaml');
    writeFileSync(file, `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: r, namespace: default}
spec:
  rules:
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: m}]}]
      backendRefs: [{name: b}]
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: b, namespace: default}
spec:
  schema: {name: OpenAI}
  backendRef: {name: missing, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyProxy
metadata: {name: e, namespace: default}
spec: {}
`);
    const r = await runAigw(['validate', file]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^AIGatewayRoute default\/r: Accepted$/m);
    assert.match(r.stdout, /^AIServiceBackend default\/b: NotAccepted \(spec\.backendRef\.name: Backend "missing" not found/m);
    assert.match(r.stdout, /^EnvoyProxy default\/e: Ignored$/m);
  });
});
