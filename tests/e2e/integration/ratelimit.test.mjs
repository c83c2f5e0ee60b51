// Token rate limiting with upstream's resources (in-memory store): budgets counted in the tokens
// each response consumed, per x-tenant-id, charged when the response completes.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { completionBody as completion, startAigw, startTestupstream, gatewayYaml, openaiBackendYaml, b64 } from '../lib/harness.mjs';


describe('aigw run: token rate limiting (in memory)', () => {
  let up;
  let gw;
  before(async () => {
    up = await startTestupstream();
    gw = await startAigw({
      config: (port) =>
        gatewayYaml(port) +
        `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: limited, namespace: default}
spec:
  parentRefs: [{name: aigw, kind: Gateway, group: gateway.networking.k8s.io}]
  rules:
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: tokens}]}]
      backendRefs: [{name: openai}]
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: cel}]}]
      backendRefs: [{name: openai}]
  llmRequestCosts:
    - {metadataKey: llm_total_token, type: TotalToken}
    - {metadataKey: llm_input_token, type: InputToken}
    - {metadataKey: llm_cel_token, type: CEL, cel: "model == 'cel' ? input_tokens * uint(10) + output_tokens : uint(0)"}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: budgets, namespace: default}
spec:
  targetRefs: [{name: aigw, kind: Gateway, group: gateway.networking.k8s.io}]
  rateLimit:
    type: Global
    global:
      rules:
        - clientSelectors: [{headers: [{name: x-tenant-id, type: Distinct}, {name: x-ai-eg-model, type: Exact, value: tokens}]}]
          limit: {requests: 100, unit: Hour}
          cost:
            request: {from: Number, number: 0}
            response: {from: Metadata, metadata: {namespace: io.envoy.ai_gateway, key: llm_total_token}}
        - clientSelectors: [{headers: [{name: x-tenant-id, type: Distinct}, {name: x-ai-eg-model, type: Exact, value: cel}]}]
          limit: {requests: 100, unit: Hour}
          cost:
            request: {from: Number, number: 0}
            response: {from: Metadata, metadata: {namespace: io.envoy.ai_gateway, key: llm_cel_token}}
` +
        openaiBackendYaml('openai', up.port),
    });
  });
  after(async () => {
    await gw?.stop();
    await up?.stop();
  });

  const call = (model, tenant, body, extra = {}) =>
    fetch(`${gw.base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-tenant-id': tenant, ...extra,
        ...(body ? { 'x-response-body': b64(body) } : {}) },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
    });

  it('serves the request that crosses the budget, refuses the next, spares other tenants', async () => {
    // 40 + 40 = 80 (remaining 20), then 40 crosses to 120: served; the next is refused.
    for (let i = 0; i < 3; i++) {
      const res = await call('tokens', 'tenant-a', completion(40));
      assert.equal(res.status, 200, `request ${i}`);
      assert.equal(res.headers.get('x-ratelimit-limit'), '100');
      assert.equal(res.headers.get('x-ratelimit-remaining'), String(100 - 40 * i));
      await res.text();
    }
    const refused = await call('tokens', 'tenant-a', completion(40));
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get('x-ratelimit-remaining'), '0');
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    assert.ok(Number(refused.headers.get('x-ratelimit-reset')) > 0);
    const body = await refused.json();
    assert.equal(body.error.code, 'rate_limit_exceeded');
    assert.match(body.error.message, /Rate limit exceeded/);
    const other = await call('tokens', 'tenant-b', completion(40));
    assert.equal(other.status, 200);
    assert.equal(other.headers.get('x-ratelimit-remaining'), '100');
  });

  it('charges a stream the usage it streamed', async () => {
    const events = [
      '{"id":"s","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"x"}}]}',
      '{"id":"s","object":"chat.completion.chunk","model":"m","choices":[],"usage":{"prompt_tokens":30,"completion_tokens":60,"total_tokens":90}}',
      '[DONE]',
    ];
    const res = await call('tokens', 'tenant-stream', null, {
      'x-response-type': 'sse', 'x-response-body': b64(events.join('\n')), 'x-response-chunk-delay-ms': '0',
    });
    assert.equal(res.status, 200);
    await res.text();
    const next = await call('tokens', 'tenant-stream', completion(5));
    assert.equal(next.headers.get('x-ratelimit-remaining'), '10');
  });

  it('charges what a CEL cost expression says', async () => {
    // input 3 * 10 + output 4 = 34 per request.
    const first = await call('cel', 'tenant-cel', completion(7, 3));
    assert.equal(first.status, 200);
    await first.text();
    const second = await call('cel', 'tenant-cel', completion(7, 3));
    assert.equal(second.headers.get('x-ratelimit-remaining'), String(100 - 34));
    await second.text();
    const line = await gw.logLine((l) => l.llm_cel_token === 34);
    assert.equal(line.llm_total_token, 7);
    assert.equal(line.llm_input_token, 3);
  });
});
