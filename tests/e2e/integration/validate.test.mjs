// `aigw validate` reports each resource as upstream's controller would set its Accepted condition.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runAigw, FIXTURES_DIR } from '../lib/harness.mjs';
import { existsSync } from 'node:fs';
import yaml from 'js-yaml';

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

  it('aigw translate prints the Envoy Gateway resources (upstream golden input)', async (t) => {
    const file = path.join(FIXTURES_DIR, 'aigw-translate/translate_basic.in.yaml');
    if (!existsSync(file)) return t.skip('fixtures not available');
    const r = await runAigw(['translate', file]);
    assert.equal(r.code, 0, r.stderr);
    const docs = yaml.loadAll(r.stdout).filter(Boolean);
    const kinds = docs.map((d) => d.kind);
    assert.ok(kinds.includes('HTTPRoute') && kinds.includes('HTTPRouteFilter') && kinds.includes('Gateway'));
    assert.ok(!kinds.includes('AIGatewayRoute') && !kinds.includes('AIServiceBackend'));
    const legacy = docs.find((d) => d.kind === 'Secret' && d.metadata.name === 'envoy-ai-gateway-basic-default');
    const cfg = yaml.load(legacy.stringData['filter-config.yaml']);
    assert.equal(cfg.backends[1].schema.name, 'AWSBedrock');
    assert.equal(cfg.models[0].OwnedBy, 'openai');
  });
});
