// 50 concurrent requests against a budget that fits 10: how far past the budget each semantics
// goes. Upstream's (check, then charge at completion) admits them all; reserve-then-settle stops
// once reservations spend the budget, overshooting by at most one request's reservation.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startAigw, startTestupstream, gatewayYaml, openaiBackendYaml, b64 } from '../lib/harness.mjs';

const BUDGET = 100;
const COST = 10; // each response's total tokens
const policy = (name, model, annotation) => `---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata:
  name: ${name}
  namespace: default
${annotation ? '  annotations: {ratelimit.aigw.run/mode: reserve-then-settle}\n' : ''}spec:
  targetRefs: [{name: aigw, kind: Gateway, group: gateway.networking.k8s.io}]
  rateLimit:
    type: Global
    global:
      rules:
        - clientSelectors: [{headers: [{name: x-ai-eg-model, type: Exact, value: ${model}}]}]
          limit: {requests: ${BUDGET}, unit: Hour}
          cost:
            request: {from: Number, number: 0}
            response: {from: Metadata, metadata: {namespace: io.envoy.ai_gateway, key: llm_total_token}}
`;

describe('aigw run: overshoot under concurrency', () => {
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
metadata: {name: burst, namespace: default}
spec:
  parentRefs: [{name: aigw, kind: Gateway, group: gateway.networking.k8s.io}]
  rules:
    - matches: [{headers: [{type: RegularExpression, name: x-ai-eg-model, value: ".*-mode"}]}]
      backendRefs: [{name: openai}]
  llmRequestCosts:
    - {metadataKey: llm_total_token, type: TotalToken}
` +
        policy('check-then-charge', 'default-mode', false) +
        policy('reserve', 'reserve-mode', true) +
        openaiBackendYaml('openai', up.port),
    });
  });
  after(async () => {
    await gw?.stop();
    await up?.stop();
  });

  async function burst(model) {
    const events = [
      '{"id":"b","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"x"}}]}',
      `{"id":"b","object":"chat.completion.chunk","model":"m","choices":[],"usage":{"prompt_tokens":4,"completion_tokens":6,"total_tokens":${COST}}}`,
      '[DONE]',
    ];
    const one = async () => {
      const res = await fetch(`${gw.base}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-response-type': 'sse',
          'x-response-body': b64(events.join('\n')), 'x-response-chunk-delay-ms': '300' },
        body: JSON.stringify({ model, stream: true, max_tokens: 6, messages: [{ role: 'user', content: 'hi' }] }),
      });
      await res.text();
      return res.status;
    };
    const statuses = await Promise.all(Array.from({ length: 50 }, one));
    const served = statuses.filter((s) => s === 200).length;
    assert.equal(served + statuses.filter((s) => s === 429).length, 50);
    return served;
  }

  it('reserve-then-settle overshoots by at most one reservation; check-then-charge by far more', async () => {
    const plain = await burst('default-mode');
    const reserved = await burst('reserve-mode');
    const overshootPlain = plain * COST - BUDGET;
    const overshootReserve = reserved * COST - BUDGET;
    // The reservation: the prompt estimate (body bytes / 4 + 1) plus max_tokens.
    const body = JSON.stringify({ model: 'reserve-mode', stream: true, max_tokens: 6, messages: [{ role: 'user', content: 'hi' }] });
    const reservation = Math.floor(body.length / 4) + 1 + 6;
    console.log(`overshoot with 50 concurrent requests, budget ${BUDGET}: check-then-charge ${overshootPlain} tokens (${plain} served), reserve-then-settle ${overshootReserve} tokens (${reserved} served, reservation ${reservation})`);
    assert.equal(plain, 50, 'upstream semantics admit every concurrent request');
    assert.ok(overshootReserve <= reservation, `reserve-then-settle overshoot ${overshootReserve} > ${reservation}`);
    assert.ok(reserved >= 1);
  });
});
