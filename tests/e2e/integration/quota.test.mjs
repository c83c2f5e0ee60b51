// QuotaPolicy (v1alpha1): per-model token quotas on a backend, Shared mode.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { completionBody, startAigw, startTestupstream, gatewayYaml, openaiBackendYaml, b64 } from '../lib/harness.mjs';


describe('aigw run: QuotaPolicy', () => {
  let up;
  let gw;
  before(async () => {
    up = await startTestupstream();
    gw = await startAigw({
      config: (port) => gatewayYaml(port) + `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: quota, namespace: default}
spec:
  rules:
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: public-model}]}]
      backendRefs: [{name: quota-backend, modelNameOverride: quota-test-model}]
---
apiVersion: aigateway.envoyproxy.io/v1alpha1
kind: QuotaPolicy
metadata: {name: quota, namespace: default}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: quota-backend}]
  perModelQuotas:
    - modelName: quota-test-model
      quota:
        mode: Shared
        costExpression: "input_tokens + output_tokens * uint(2)"
        defaultBucket: {limit: 20, duration: "1h"}
        bucketRules:
          - clientSelectors: [{headers: [{name: x-tier, type: Exact, value: premium}]}]
            quota: {limit: 1000, duration: "1h"}
` + openaiBackendYaml('quota-backend', up.port),
    });
  });
  after(async () => {
    await gw?.stop();
    await up?.stop();
  });

  const call = (total, headers = {}) => fetch(`${gw.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-response-body': b64(completionBody(total, 2)), ...headers },
    body: JSON.stringify({ model: 'public-model', messages: [] }),
  });

  it('charges the cost expression to the backend model quota and refuses once it is spent', async () => {
    // cost = 2 + 8 * 2 = 18, then 36 > 20: the second request crosses and is served.
    for (let i = 0; i < 2; i++) {
      const res = await call(10);
      assert.equal(res.status, 200);
      await res.text();
    }
    const refused = await call(10);
    assert.equal(refused.status, 429);
    const body = await refused.json();
    assert.match(body.error.message, /Quota exceeded for model quota-test-model on default\/quota-backend/);
  });

  it('admits while any matching bucket has quota (Shared mode)', async () => {
    const premium = await call(10, { 'x-tier': 'premium' });
    assert.equal(premium.status, 200);
  });
});
