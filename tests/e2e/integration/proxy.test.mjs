// Integration tests: the real aigw binary in front of the real testupstream binary, driven over
// HTTP with fetch and raw sockets. Each behaviour is checked from the client's side and, through
// testupstream's x-expected-* headers, from the provider's side.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import {
  startAigw, startTestupstream, gatewayYaml, openaiBackendYaml, b64, sleep, freePort, SLOW,
} from '../lib/harness.mjs';

function routeYaml({ name = 'main', rules, costs = true, extra = '' }) {
  return `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: ${name}, namespace: default}
spec:
  parentRefs: [{name: aigw, kind: Gateway, group: gateway.networking.k8s.io}]
  rules:
${rules}
${costs ? `  llmRequestCosts:
    - {metadataKey: llm_input_token, type: InputToken}
    - {metadataKey: llm_output_token, type: OutputToken}` : ''}
${extra}`;
}

async function chat(gw, body, headers = {}) {
  return fetch(`${gw.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

describe('aigw run: OpenAI passthrough', () => {
  let up;
  let gw;
  before(async () => {
    up = await startTestupstream({ id: 'primary' });
    gw = await startAigw({
      config: (port) =>
        gatewayYaml(port) +
        routeYaml({
          rules: `    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: gpt-4o-mini}]}]
      backendRefs: [{name: openai}]
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: virtual}]}]
      backendRefs: [{name: openai, modelNameOverride: real-model-2024}]
    - matches: [{headers: [{type: RegularExpression, name: x-ai-eg-model, value: "text-embedding-.*"}]}]
      backendRefs: [{name: openai}]`,
        }) +
        openaiBackendYaml('openai', up.port, { apiKey: 'sk-configured-secret' }),
    });
  });
  after(async () => {
    await gw?.stop();
    await up?.stop();
  });

  it('forwards a chat completion with the configured key, never the client one', async () => {
    const res = await chat(gw, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }, {
      authorization: 'Bearer client-key-must-not-leak',
      'x-expected-headers': b64('Authorization:Bearer sk-configured-secret,x-ai-eg-model:gpt-4o-mini'),
      'x-expected-path': b64('/v1/chat/completions'),
      'x-request-id': 'req-abc',
    });
    assert.equal(res.status, 200, await res.clone().text());
    const body = await res.json();
    assert.equal(body.object, 'chat.completion');
    assert.equal(body.model, 'gpt-4o-mini');
    const line = await gw.logLine((l) => l.request_id === 'req-abc');
    assert.equal(line.status, 200);
    assert.equal(line['x-ai-eg-model'], 'gpt-4o-mini');
    assert.equal(line.backend_name, 'default/openai');
    assert.equal(line.route_name, 'default/main');
    assert.ok(line.input_tokens > 0 && line.output_tokens > 0 && line.total_tokens > 0);
    assert.ok(!JSON.stringify(gw.logs).includes('sk-configured-secret'));
  });

  it('overwrites a client-sent x-ai-eg-model: clients cannot spoof routing', async () => {
    const res = await chat(gw, { model: 'gpt-4o-mini', messages: [] }, {
      'x-ai-eg-model': 'virtual',
      'x-expected-headers': b64('x-ai-eg-model:gpt-4o-mini'),
    });
    assert.equal(res.status, 200, await res.clone().text());
  });

  it('rewrites the model surgically for modelNameOverride, every other byte unchanged', async () => {
    const sent = '{\n  "messages": [{"role":"user","content":"the model is virtual"}],\n  "model" : "virtual",\n  "temperature": 0.50\n}';
    const expected = sent.replace('"model" : "virtual"', '"model" : "real-model-2024"');
    const res = await chat(gw, sent, {
      'x-expected-request-body': b64(expected),
      'x-expected-headers': b64('x-ai-eg-model:real-model-2024'),
    });
    assert.equal(res.status, 200, await res.clone().text());
    const line = await gw.logLine((l) => l.model_name_override === 'real-model-2024');
    assert.equal(line['x-ai-eg-model'], 'virtual');
  });

  it('answers an unknown model with upstream\'s route-not-found text in the OpenAI error shape', async () => {
    const res = await chat(gw, { model: 'nope', messages: [] });
    assert.equal(res.status, 404);
    assert.match(res.headers.get('content-type'), /application\/json/);
    assert.deepEqual(await res.json(), {
      error: {
        message: 'No matching route found. It is likely because the model specified in your request is not configured in the Gateway.',
        type: 'invalid_request_error',
        param: 'model',
        code: 'model_not_found',
      },
    });
  });

  it('answers an unknown path with upstream\'s 404 text', async () => {
    const res = await fetch(`${gw.base}/v1/unknown?x=1`, { method: 'POST', body: '{}' });
    assert.equal(res.status, 404);
    assert.equal(await res.text(), 'unsupported path: /v1/unknown?x=1');
  });

  it('matches the path exactly with the query string stripped', async () => {
    const res = await fetch(`${gw.base}/v1/chat/completions?api-version=1`, {
      method: 'POST',
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [] }),
      headers: { 'x-expected-raw-query': 'api-version=1' },
    });
    assert.equal(res.status, 200, await res.clone().text());
  });

  it('rejects malformed JSON with upstream\'s 400 body', async () => {
    const res = await chat(gw, '{"model": "gpt-4o-mini",');
    assert.equal(res.status, 400);
    assert.match(res.headers.get('content-type'), /application\/json/);
    const body = await res.json();
    assert.equal(body.type, 'error');
    assert.equal(body.error.type, 'BadRequest');
    assert.equal(body.error.code, '400');
    assert.match(body.error.message, /^malformed request: failed to parse JSON for \/v1\/chat\/completions: /);
  });

  it('rejects a body over the limit with 413 and keeps serving', async () => {
    const big = JSON.stringify({ model: 'gpt-4o-mini', pad: 'x'.repeat(33 * 1024 * 1024) });
    const res = await chat(gw, big).catch((e) => ({ status: 'reset', e }));
    if (res.status !== 'reset') assert.equal(res.status, 413);
    const ok = await chat(gw, { model: 'gpt-4o-mini', messages: [] });
    assert.equal(ok.status, 200);
  });

  it('rejects more than 100 request headers with 431', async () => {
    const headers = {};
    for (let i = 0; i < 120; i++) headers[`x-h-${i}`] = 'v';
    const res = await chat(gw, { model: 'gpt-4o-mini', messages: [] }, headers).catch((e) => ({ status: 'reset', e }));
    if (res.status !== 'reset') assert.equal(res.status, 431);
    assert.equal((await chat(gw, { model: 'gpt-4o-mini', messages: [] })).status, 200);
  });

  it('accepts a chunked request body', async () => {
    const port = gw.port;
    const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [] });
    const raw = await new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      let data = '';
      s.on('data', (d) => {
        data += d;
        if (data.includes('chat.completion')) s.end();
      });
      s.on('end', () => resolve(data));
      s.on('close', () => resolve(data));
      s.on('error', reject);
      const half = body.length >> 1;
      s.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`);
      s.write(`${half.toString(16)}\r\n${body.slice(0, half)}\r\n`);
      s.write(`${(body.length - half).toString(16)}\r\n${body.slice(half)}\r\n0\r\n\r\n`);
    });
    assert.match(raw, /^HTTP\/1.1 200/);
    assert.match(raw, /chat\.completion/);
  });

  it('passes embeddings and completions through with usage recorded', async () => {
    const e = await fetch(`${gw.base}/v1/embeddings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'emb-1',
        'x-expected-path': b64('/v1/embeddings') },
      body: JSON.stringify({ model: 'text-embedding-3-small', input: 'hello world' }),
    });
    assert.equal(e.status, 200, await e.clone().text());
    const line = await gw.logLine((l) => l.request_id === 'emb-1');
    assert.ok(line.input_tokens > 0);
    assert.equal(line.total_tokens, line.input_tokens);
  });

  it('wraps a non-JSON upstream error as OpenAIBackendError and passes JSON errors through', async () => {
    const plain = await chat(gw, { model: 'gpt-4o-mini', messages: [] }, {
      'x-response-status': '503', 'x-response-body': b64('overloaded, try later'),
      'x-response-headers': b64('content-type:text/plain'),
    });
    assert.equal(plain.status, 503);
    assert.deepEqual(await plain.json(), {
      type: 'error', error: { type: 'OpenAIBackendError', code: '503', message: 'overloaded, try later' },
    });
    const jsonErr = '{"error":{"message":"bad thing","type":"invalid_request_error","code":null}}';
    const j = await chat(gw, { model: 'gpt-4o-mini', messages: [] }, {
      'x-response-status': '400', 'x-response-body': b64(jsonErr),
      'x-response-headers': b64('content-type:application/json'),
    });
    assert.equal(j.status, 400);
    assert.equal(await j.text(), jsonErr);
  });

  it('streams SSE chunk by chunk: the first event arrives before the last is sent', async () => {
    const events = ['{"id":"1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"a"}}]}',
      '{"id":"1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"b"}}]}',
      '{"id":"1","object":"chat.completion.chunk","model":"m","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9}}',
      '[DONE]'];
    const started = Date.now();
    const res = await chat(gw, { model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true }, messages: [] }, {
      'x-response-type': 'sse', 'x-response-body': b64(events.join('\n')), 'x-response-chunk-delay-ms': '300',
      'x-request-id': 'sse-1',
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /text\/event-stream/);
    const reader = res.body.getReader();
    const first = await reader.read();
    const firstAt = Date.now() - started;
    let text = new TextDecoder().decode(first.value);
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    const total = Date.now() - started;
    // Four events 300 ms apart: the first must be out well before the stream ends.
    assert.ok(firstAt + 500 < total, `first chunk at ${firstAt} ms, end at ${total} ms`);
    assert.equal(text, events.map((e) => `data: ${e}\n\n`).join(''));
    const line = await gw.logLine((l) => l.request_id === 'sse-1');
    assert.equal(line.input_tokens, 7);
    assert.equal(line.output_tokens, 2);
    assert.equal(line.total_tokens, 9);
  });

  it('injects stream_options.include_usage when costs are configured, as upstream', async () => {
    const res = await chat(gw, { model: 'gpt-4o-mini', stream: true, messages: [] }, {
      'x-expected-request-body': b64('{"model":"gpt-4o-mini","stream":true,"messages":[],"stream_options":{"include_usage":true}}'),
      'x-response-chunk-delay-ms': '0',
      'x-request-id': 'inject-1',
    });
    assert.equal(res.status, 200, await res.clone().text());
    await res.text();
    const line = await gw.logLine((l) => l.request_id === 'inject-1');
    assert.ok(line.total_tokens > 0);
  });

  it('serves /v1/models from the exact model matches', async () => {
    const res = await fetch(`${gw.base}/v1/models`);
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.object, 'list');
    assert.deepEqual(body.data.map((m) => m.id).sort(), ['gpt-4o-mini', 'virtual']);
    for (const m of body.data) {
      assert.equal(m.object, 'model');
      assert.equal(m.owned_by, 'Envoy AI Gateway');
      assert.ok(Number.isInteger(m.created) && m.created > 1600000000);
    }
  });

  it('keeps connections alive across requests', async () => {
    const raw = await new Promise((resolve, reject) => {
      const s = net.connect(gw.port, '127.0.0.1');
      let data = '';
      const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [] });
      const req = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
      s.write(req);
      s.on('data', (d) => {
        data += d;
        const count = (data.match(/HTTP\/1.1 200/g) || []).length;
        if (count === 1 && !s.sentSecond && data.includes('chat.completion')) {
          s.sentSecond = true;
          s.write(req);
        }
        if (count === 2 && data.lastIndexOf('chat.completion') > data.lastIndexOf('HTTP/1.1 200')) s.end();
      });
      s.on('close', () => resolve(data));
      s.on('error', reject);
      setTimeout(() => s.destroy(), 5000 * SLOW);
    });
    assert.equal((raw.match(/HTTP\/1.1 200/g) || []).length, 2);
  });

  it('a client that leaves right after the final frame is still charged its usage (v1.2)', async () => {
    // The usage chunk, then a slow tail the client never waits for.
    const sse = 'data: {"id":"c","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n' +
      'data: {"id":"c","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":23,"completion_tokens":5,"total_tokens":28}}\n\n' +
      ': a\n\n: b\n\n: c\n\n: d\n\n: e\n\ndata: [DONE]\n\n';
    const rid = 'left-after-final-frame';
    const body = JSON.stringify({ model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] });
    await new Promise((resolve, reject) => {
      const sock = net.connect(gw.port, '127.0.0.1', () => {
        sock.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\nx-request-id: ${rid}\r\n` +
          `x-response-type: sse\r\nx-response-body: ${b64(sse)}\r\nx-response-chunk-delay-ms: 150\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      });
      let seen = '';
      sock.on('data', (d) => {
        seen += d.toString();
        if (seen.includes('"total_tokens":28')) {
          sock.destroy(); // gone right after the final usage frame
          resolve();
        }
      });
      sock.on('error', reject);
    });
    const line = await gw.logLine((l) => l.request_id === rid);
    assert.equal(line.input_tokens, 23);
    assert.equal(line.llm_input_token, 23);
    assert.equal(line.llm_output_token, 5);
  });
});

describe('aigw run: fallback and retries', () => {
  let a;
  let c;
  let gw;
  let deadPort;
  before(async () => {
    a = await startTestupstream({ id: 'backend-a' });
    c = await startTestupstream({ id: 'backend-c' });
    deadPort = await freePort();
    gw = await startAigw({
      config: (port) =>
        gatewayYaml(port) +
        routeYaml({
          name: 'fallback',
          rules: `    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: dead-first}]}]
      backendRefs: [{name: dead, priority: 0}, {name: c, priority: 1}]
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: retry-500}]}]
      backendRefs: [{name: a, priority: 0}, {name: c, priority: 1, modelNameOverride: model-c}]
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: only-dead}]}]
      backendRefs: [{name: dead}]
      timeouts: {request: 2s}`,
        }) +
        openaiBackendYaml('a', a.port) +
        openaiBackendYaml('c', c.port, { apiKey: 'sk-c' }) +
        openaiBackendYaml('dead', deadPort) +
        `---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: fallback-retry, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: fallback}]
  retry:
    numAttemptsPerPriority: 1
    numRetries: 3
    perRetry: {timeout: 5s}
    retryOn: {httpStatusCodes: [500], triggers: [connect-failure, retriable-status-codes]}
`,
    });
  });
  after(async () => {
    await gw?.stop();
    await a?.stop();
    await c?.stop();
  });

  it('falls back to the next priority when the first backend refuses connections', async () => {
    const res = await chat(gw, { model: 'dead-first', messages: [] }, { 'x-request-id': 'fb-1' });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(res.headers.get('testupstream-id'), 'backend-c');
    const line = await gw.logLine((l) => l.request_id === 'fb-1');
    assert.equal(line.attempts, 2);
    assert.equal(line.backend_name, 'default/c');
  });

  it('retries a 500 on the next priority, re-encoding the pristine request for it', async () => {
    // x-response-status makes every backend answer 500, as in upstream's fallback e2e test: the
    // answer must come from the priority-1 backend, after one attempt at priority 0.
    const res = await chat(gw, { model: 'retry-500', messages: [] }, {
      'x-response-status': '500',
      'x-request-id': 'fb-2',
    });
    assert.equal(res.status, 500);
    assert.equal(res.headers.get('testupstream-id'), 'backend-c');
    const line = await gw.logLine((l) => l.request_id === 'fb-2');
    assert.equal(line.backend_name, 'default/c', JSON.stringify(line));
    // 1 + numRetries attempts: a, then c, then c again (never back to the failed priority).
    assert.equal(line.attempts, 4);
    assert.equal(line.model_name_override, 'model-c');
  });

  it('sends the retried backend its own key and model override', async () => {
    // The first attempt reaches backend-a, which rejects the mismatching expectations with 400
    // (not retried); with only backend-c's expectations met on c, a 200 proves c got them.
    const res = await chat(gw, { model: 'dead-first', messages: [] }, {
      'x-expected-headers': b64('Authorization:Bearer sk-c,x-ai-eg-model:dead-first'),
    });
    assert.equal(res.status, 200, await res.clone().text());
  });

  it('answers 503 with a JSON error when no backend is reachable', async () => {
    const res = await chat(gw, { model: 'only-dead', messages: [] });
    assert.equal(res.status, 503);
    const body = await res.json();
    assert.equal(body.error.code, '503');
    assert.match(body.error.message, /upstream connect error or disconnect\/reset before headers/);
  });
});

describe('aigw run: timeouts', () => {
  let silent;
  let up;
  let gw;
  before(async () => {
    // A provider that accepts connections and never answers.
    silent = net.createServer((sock) => sock.on('data', () => {}));
    await new Promise((r) => silent.listen(0, '127.0.0.1', r));
    up = await startTestupstream();
    gw = await startAigw({
      config: (port) =>
        gatewayYaml(port) +
        routeYaml({
          name: 'timeouts',
          rules: `    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: silent}]}]
      backendRefs: [{name: silent}]
      timeouts: {request: 1s}
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: slow-stream}]}]
      backendRefs: [{name: up}]
      timeouts: {request: 1s}`,
        }) +
        openaiBackendYaml('silent', silent.address().port) +
        openaiBackendYaml('up', up.port),
    });
  });
  after(async () => {
    await gw?.stop();
    await up?.stop();
    silent?.close();
  });

  it('answers 504 when the provider says nothing before the route timeout', async () => {
    const started = Date.now();
    const res = await chat(gw, { model: 'silent', messages: [] });
    const took = Date.now() - started;
    assert.equal(res.status, 504);
    const body = await res.json();
    assert.equal(body.error.code, '504');
    assert.match(body.error.message, /upstream request timeout/);
    assert.ok(took >= 900 && took < 3000 * SLOW, `took ${took} ms`);
  });

  it('ends a stream that outlives the route timeout with an error event in the stream', async () => {
    const res = await chat(gw, { model: 'slow-stream', stream: true, messages: [] }, {
      'x-response-type': 'sse',
      'x-response-body': b64('{"a":1}\n{"a":2}\n{"a":3}\n{"a":4}'),
      'x-response-chunk-delay-ms': '600',
    });
    assert.equal(res.status, 200);
    const text = await res.text(); // not cut: the last event says why it ended
    assert.ok(!text.includes('"a":4'), text);
    assert.match(text, /data: \{"error":\{"message":"the request timed out[^\n]*"code":"stream_error"/);
  });

  it('still serves the next request on the same connection after a timeout', async () => {
    const res = await chat(gw, { model: 'slow-stream', messages: [] });
    assert.equal(res.status, 200);
  });
});

describe('aigw run: configuration reload', () => {
  let up;
  let gw;
  let listenPort;
  const config = (port, model) =>
    gatewayYaml(port) +
    routeYaml({
      rules: `    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: ${model}}]}]
      backendRefs: [{name: openai}]`,
    }) + openaiBackendYaml('openai', up.port);
  before(async () => {
    up = await startTestupstream();
    gw = await startAigw({ config: (port) => ((listenPort = port), config(port, 'model-one')) });
  });
  after(async () => {
    await gw?.stop();
    await up?.stop();
  });

  it('applies a valid edit within a second and keeps the last good config on a bad one', async () => {
    assert.equal((await chat(gw, { model: 'model-one', messages: [] })).status, 200);
    writeFileSync(gw.configPath, config(listenPort, 'model-two'));
    const deadline = Date.now() + 1500 * SLOW;
    let status;
    while (Date.now() < deadline) {
      status = (await chat(gw, { model: 'model-two', messages: [] })).status;
      if (status === 200) break;
      await sleep(50);
    }
    assert.equal(status, 200, 'new route not active after the edit');
    assert.equal((await chat(gw, { model: 'model-one', messages: [] })).status, 404);

    writeFileSync(gw.configPath, config(listenPort, 'model-three').replace('name: openai}]', 'name: missing}]'));
    await sleep(800 * SLOW);
    assert.equal((await chat(gw, { model: 'model-two', messages: [] })).status, 200, 'last good config must keep serving');
    assert.ok(gw.stderr.some((l) => l.includes('AIServiceBackend "missing" not found')), gw.stderr.join('\n'));
    const stats = await (await fetch(`${gw.admin}/stats`)).json();
    assert.equal(stats.config_reloads_ok, 1);
    assert.equal(stats.config_reloads_rejected, 1);
  });

  it('dumps the active config on the admin port with secrets redacted', async () => {
    const res = await fetch(`${gw.admin}/config_dump`);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.ok(!text.includes('sk-openai'));
    assert.ok(text.includes('[REDACTED]'));
    assert.equal(JSON.parse(text).backends[0].name, 'default/openai');
  });
});
