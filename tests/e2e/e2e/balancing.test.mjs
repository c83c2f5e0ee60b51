// Load balancing and backend health with Envoy Gateway's BackendTrafficPolicy fields: a
// consistent-hash session sticks to its backend, passive health checks eject a failing backend
// and take it back once it heals, a backend whose provider reports little quota left (or a 429
// with retry-after) gets less traffic, the circuit breaker's parallel-request limit answers 503,
// and the client's x-aigw-deadline-ms bounds the request. Driven with the official OpenAI SDK.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import OpenAI from 'openai';
import { startAigw, gatewayYaml, sleep, SLOW } from '../lib/harness.mjs';
import { startFakeProviders } from '../../../tools/fakeproviders/server.mjs';

// A provider in OpenAI's wire format whose behaviour a test switches: 'ok', 'fail' (500) or
// 'slow' (answers after `delayMs`).
function startSwitchable() {
  const st = { mode: 'ok', delayMs: 0, requests: 0 };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', async () => {
      st.requests++;
      if (st.mode === 'fail') {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'boom', type: 'server_error', param: null, code: null } }));
        return;
      }
      if (st.mode === 'slow') await sleep(st.delayMs);
      const model = JSON.parse(body).model;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({
        id: 'chatcmpl-sw', object: 'chat.completion', created: 1, model,
        choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'switchable' } }],
        usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
      }));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    st, port: server.address().port, close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  })));
}

const backend = (name, port) => `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: ${name}, namespace: default}
spec:
  schema: {name: OpenAI}
  backendRef: {name: ${name}, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: ${name}, namespace: default}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: ${port}}}]
`;

// A route for `model` over `refs` (YAML flow maps) with a BackendTrafficPolicy `policy`.
const route = (name, model, refs, policy) => `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: ${name}, namespace: default}
spec:
  parentRefs: [{name: aigw}]
  rules:
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: ${model}}]}]
      backendRefs: [${refs.join(', ')}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: ${name}, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: ${name}}]
${policy}`;

describe('aigw run: load balancing and backend health', () => {
  let fp;
  let sw;
  let slow;
  let hedgeSlow;
  let gw;
  let client;
  before(async () => {
    fp = await startFakeProviders({ port: 0 });
    sw = await startSwitchable();
    slow = await startSwitchable();
    hedgeSlow = await startSwitchable();
    const f = fp.port;
    gw = await startAigw({
      config: (port) => gatewayYaml(port) +
        backend('sticky-a', f) + backend('sticky-b', f) + backend('rr-a', f) + backend('rr-b', f) +
        backend('health-a', sw.port) + backend('health-b', f) +
        backend('quota-a', f) + backend('quota-b', f) + backend('cool-a', f) + backend('cool-b', f) +
        backend('cb', slow.port) + backend('late', slow.port) +
        backend('hedge-slow', hedgeSlow.port) + backend('hedge-fast', f) +
        route('sticky', 'sticky', ['{name: sticky-a}', '{name: sticky-b}'],
          '  loadBalancer: {type: ConsistentHash, consistentHash: {type: Header, header: {name: x-session-id}}}\n') +
        route('rr', 'rr', ['{name: rr-a}', '{name: rr-b}'], '  loadBalancer: {type: RoundRobin}\n') +
        route('health', 'health', ['{name: health-a, priority: 0}', '{name: health-b, priority: 1}'], `  retry:
    numRetries: 1
    retryOn: {triggers: [retriable-status-codes], httpStatusCodes: [500]}
  healthCheck:
    passive: {consecutive5XxErrors: 2, baseEjectionTime: 1s, maxEjectionPercent: 100}
`) +
        route('quota', 'quota', ['{name: quota-a, modelNameOverride: gpt-4o-quota-low}', '{name: quota-b, modelNameOverride: gpt-4o-mini}'],
          '  loadBalancer: {type: Random}\n') +
        route('cool', 'cool', ['{name: cool-a, modelNameOverride: gpt-4o-error-429, priority: 0}', '{name: cool-b, modelNameOverride: gpt-4o-mini, priority: 1}'], `  retry:
    numRetries: 1
    retryOn: {triggers: [retriable-status-codes], httpStatusCodes: [429]}
`) +
        route('cb', 'cb', ['{name: cb}'], '  circuitBreaker: {maxParallelRequests: 1}\n') +
        route('late', 'late', ['{name: late}'], '  loadBalancer: {type: LeastRequest}\n') +
        route('hedge', 'hedge', ['{name: hedge-slow, priority: 0}', '{name: hedge-fast, modelNameOverride: gpt-4o-mini, priority: 1}'],
          '  retry: {numRetries: 1}\n').replace('metadata: {name: hedge, namespace: default}\nspec:\n  targetRefs',
          'metadata: {name: hedge, namespace: default, annotations: {aigw.run/hedge-after: 150ms}}\nspec:\n  targetRefs'),
    });
    client = new OpenAI({ apiKey: 'sk-client', baseURL: `${gw.base}/v1`, maxRetries: 0 });
  });
  after(async () => {
    await gw?.stop();
    await fp?.close();
    await sw?.close();
    await slow?.close();
    await hedgeSlow?.close();
  });

  const chat = (model, headers = {}) => client.chat.completions.create(
    { model, messages: [{ role: 'user', content: 'hi' }] }, { headers },
  ).withResponse();
  const backendOf = async (requestId) => (await gw.logLine((l) => l.request_id === requestId)).backend_name;
  const asked = (model) => fp.requests.filter((r) => String(r.body).includes(`"model":"${model}"`)).length;

  it('ConsistentHash by header: every request of a session goes to the same backend', async () => {
    const seen = new Map();
    for (let s = 0; s < 12; s++) {
      for (let n = 0; n < 4; n++) {
        const id = `sticky-${s}-${n}`;
        const { response } = await chat('sticky', { 'x-session-id': `session-${s}`, 'x-request-id': id });
        assert.equal(response.status, 200);
        const b = await backendOf(id);
        if (!seen.has(s)) seen.set(s, b);
        assert.equal(b, seen.get(s), `session ${s} moved from ${seen.get(s)} to ${b}`);
      }
    }
    assert.equal(new Set(seen.values()).size, 2, 'the sessions all landed on one backend');
  });

  it('RoundRobin alternates between the backends', async () => {
    const got = [];
    for (let n = 0; n < 6; n++) {
      const id = `rr-${n}`;
      await chat('rr', { 'x-request-id': id });
      got.push(await backendOf(id));
    }
    for (let n = 1; n < 6; n++) assert.notEqual(got[n], got[n - 1], got.join(','));
  });

  it('passive health checks eject a failing backend, then take it back once it heals', async () => {
    sw.st.mode = 'fail';
    for (let n = 0; n < 2; n++) assert.equal((await chat('health')).response.status, 200); // served by the fallback
    const failedCalls = sw.st.requests;
    assert.equal(failedCalls, 2);
    for (let n = 0; n < 5; n++) {
      const id = `ejected-${n}`;
      await chat('health', { 'x-request-id': id });
      assert.equal((await backendOf(id)), 'default/health-b');
    }
    assert.equal(sw.st.requests, failedCalls, 'the ejected backend was still sent requests');
    const m = await (await fetch(`${gw.admin}/metrics`)).text();
    assert.match(m, /^aigw_backend_ejections_total [1-9]/m);
    sw.st.mode = 'ok';
    await sleep(1200 * SLOW);
    const id = 'healed';
    await chat('health', { 'x-request-id': id });
    assert.equal(await backendOf(id), 'default/health-a');
  });

  it('a backend reporting little remaining quota gets traffic only as a last resort', async () => {
    await chat('quota'); // whichever answers first, quota-a's headers are learned when it does
    await chat('quota');
    const before = asked('gpt-4o-quota-low');
    for (let n = 0; n < 30; n++) await chat('quota');
    const after = asked('gpt-4o-quota-low');
    assert.ok(after - before <= 1, `the low-quota backend got ${after - before} of 30 requests`);
  });

  it('a 429 with retry-after sets the backend aside for that long', async () => {
    for (let n = 0; n < 10; n++) assert.equal((await chat('cool')).response.status, 200);
    assert.equal(asked('gpt-4o-error-429'), 1, 'the 429 backend was tried again within its retry-after');
    const m = await (await fetch(`${gw.admin}/metrics`)).text();
    assert.match(m, /^aigw_backend_cooldowns_total [1-9]/m);
  });

  it('circuitBreaker.maxParallelRequests: a request past the limit gets a 503 overflow', async () => {
    slow.st.mode = 'slow';
    slow.st.delayMs = 600 * SLOW;
    const first = chat('cb');
    await sleep(150 * SLOW);
    await assert.rejects(chat('cb'), (e) => e.status === 503 && /overflow/.test(e.message));
    assert.equal((await first).response.status, 200);
    slow.st.mode = 'ok';
  });

  it('aigw.run/hedge-after: a second attempt beside a slow first one; the first answer wins', async () => {
    hedgeSlow.st.mode = 'slow';
    hedgeSlow.st.delayMs = 1500 * SLOW;
    const started = Date.now();
    const { data, response } = await chat('hedge', { 'x-request-id': 'hedged-1' });
    const took = Date.now() - started;
    assert.equal(response.status, 200);
    assert.notEqual(data.choices[0].message.content, 'switchable', 'the slow backend answered');
    assert.ok(took < 1200 * SLOW, `took ${took} ms`);
    const line = await gw.logLine((l) => l.request_id === 'hedged-1');
    assert.equal(line.hedge, 'won', JSON.stringify(line));
    assert.equal(line.backend_name, 'default/hedge-fast');
    assert.ok(line.total_tokens > 0);
    // A first attempt that answers in time is not hedged.
    hedgeSlow.st.mode = 'ok';
    await chat('hedge', { 'x-request-id': 'hedged-2' });
    const quick = await gw.logLine((l) => l.request_id === 'hedged-2');
    assert.equal(quick.hedge, undefined);
    assert.equal(quick.backend_name, 'default/hedge-slow');
    const m = await (await fetch(`${gw.admin}/metrics`)).text();
    assert.match(m, /^aigw_hedges_total [1-9]/m);
    assert.match(m, /^aigw_hedges_won_total [1-9]/m);
  });

  it('x-aigw-deadline-ms bounds the request; a bad value is a 400 naming the header', async () => {
    slow.st.mode = 'slow';
    slow.st.delayMs = 2000 * SLOW;
    const started = Date.now();
    await assert.rejects(chat('late', { 'x-aigw-deadline-ms': String(300 * SLOW) }), (e) => e.status === 504);
    assert.ok(Date.now() - started < 1500 * SLOW, `took ${Date.now() - started} ms`);
    await assert.rejects(chat('late', { 'x-aigw-deadline-ms': 'soon' }), (e) => e.status === 400 && /x-aigw-deadline-ms/.test(e.message));
    slow.st.mode = 'ok';
  });
});
