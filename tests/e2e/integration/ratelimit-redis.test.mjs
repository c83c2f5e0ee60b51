// Budgets shared through a real redis-server: two aigw processes enforce one budget; with Redis
// gone the gateway fails open (or closed, when configured).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { completionBody as completion, startAigw, startTestupstream, gatewayYaml, openaiBackendYaml, b64, freePort, sleep, waitFor, SLOW, redisAvailable, startRedis, redisCmd } from '../lib/harness.mjs';

// What a tenant's buckets hold in Redis, summed.
async function spent(port, tenant) {
  const keys = (await redisCmd(port, 'KEYS', 'aigw:*')).filter((k) => k.includes(tenant));
  let sum = 0;
  for (const k of keys) sum += Number(await redisCmd(port, 'GET', k));
  return sum;
}

const config = (upPort) => (port) => gatewayYaml(port) + `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: shared, namespace: default}
spec:
  parentRefs: [{name: aigw, kind: Gateway, group: gateway.networking.k8s.io}]
  rules:
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: m}]}]
      backendRefs: [{name: openai}]
  llmRequestCosts:
    - {metadataKey: llm_total_token, type: TotalToken}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: shared, namespace: default}
spec:
  targetRefs: [{name: aigw, kind: Gateway, group: gateway.networking.k8s.io}]
  rateLimit:
    type: Global
    global:
      rules:
        - clientSelectors: [{headers: [{name: x-tenant-id, type: Distinct}]}]
          limit: {requests: 100, unit: Hour}
          cost:
            request: {from: Number, number: 0}
            response: {from: Metadata, metadata: {namespace: io.envoy.ai_gateway, key: llm_total_token}}
` + openaiBackendYaml('openai', upPort);

const call = (gw, tenant, total) => fetch(`${gw.base}/v1/chat/completions`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', 'x-tenant-id': tenant, 'x-response-body': b64(completion(total)) },
  body: JSON.stringify({ model: 'm', messages: [] }),
});

describe('aigw run: budgets shared through Redis', { skip: redisAvailable ? false : 'redis-server is not installed' }, () => {
  let redis;
  let up;
  let a;
  let b;
  before(async () => {
    redis = await startRedis();
    up = await startTestupstream();
    const args = ['--ratelimit-redis', `redis://127.0.0.1:${redis.port}`];
    a = await startAigw({ config: config(up.port), args });
    b = await startAigw({ config: config(up.port), args });
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    await up?.stop();
    await redis?.stop();
  });

  it('two gateways spend one budget', async () => {
    // 40 on a, 40 on b (80), 40 on a crosses 100: served; then both refuse.
    for (const gw of [a, b, a]) {
      const res = await call(gw, 'shared-tenant', 40);
      assert.equal(res.status, 200);
      await res.text();
    }
    const ra = await call(a, 'shared-tenant', 40);
    const rb = await call(b, 'shared-tenant', 40);
    assert.equal(ra.status, 429);
    assert.equal(rb.status, 429);
    assert.equal(rb.headers.get('x-ratelimit-remaining'), '0');
    const other = await call(b, 'another-tenant', 40);
    assert.equal(other.status, 200);
  });

  it('charges every request exactly under concurrency (pipelined calls, settlements included)', async () => {
    const n = 80;
    const all = await Promise.all(Array.from({ length: n }, (_, i) => call(i % 2 ? a : b, 'exact-tenant', 1)));
    for (const r of all) {
      assert.equal(r.status, 200);
      await r.text();
    }
    // Settlements are sent without waiting for their reply: the sum lands shortly after.
    await waitFor(async () => (await spent(redis.port, 'exact-tenant')) === n, 5000 * SLOW, `${n} tokens in Redis`);
    await sleep(200);
    assert.equal(await spent(redis.port, 'exact-tenant'), n);
  });

  it('loads its scripts again when Redis has lost them, and keeps enforcing', async () => {
    const before = (await (await fetch(`${a.admin}/stats`)).json()).redis_failed_open;
    assert.equal(await redisCmd(redis.port, 'SCRIPT', 'FLUSH'), 'OK');
    for (let i = 0; i < 3; i++) {
      const r = await call(a, 'flushed-tenant', 30);
      assert.equal(r.status, 200);
      await r.text();
    }
    const after = (await (await fetch(`${a.admin}/stats`)).json()).redis_failed_open;
    assert.equal(after, before, 'admitted through Redis, not open');
    await waitFor(async () => (await spent(redis.port, 'flushed-tenant')) === 90, 5000 * SLOW, 'the spend in Redis');
    const refused = await call(a, 'flushed-tenant', 30); // 90+ of 100: the next 30 would cross
    assert.equal(refused.status, 200); // (check-then-charge: admitted while under the limit)
    await refused.text();
    // (its settlement is sent without waiting: the other gateway sees it once it has landed)
    await waitFor(async () => (await spent(redis.port, 'flushed-tenant')) === 120, 5000 * SLOW, 'the last settlement');
    const over = await call(b, 'flushed-tenant', 1);
    assert.equal(over.status, 429);
  });

  it('fails open when Redis is down, and closed when configured to', async () => {
    const deadPort = await freePort();
    const open = await startAigw({ config: config(up.port), args: ['--ratelimit-redis', `redis://127.0.0.1:${deadPort}`] });
    const closed = await startAigw({ config: config(up.port), args: ['--ratelimit-redis', `redis://127.0.0.1:${deadPort}`, '--ratelimit-fail-closed'] });
    try {
      const r1 = await call(open, 't', 5);
      assert.equal(r1.status, 200);
      const stats = await (await fetch(`${open.admin}/stats`)).json();
      assert.ok(stats.redis_failed_open >= 1);
      assert.ok(open.stderr.some((l) => l.includes('unavailable: admitting')));
      const r2 = await call(closed, 't', 5);
      assert.equal(r2.status, 503);
    } finally {
      await open.stop();
      await closed.stop();
    }
  });
});
