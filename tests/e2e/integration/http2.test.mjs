// HTTP/2 from clients: h2c with prior knowledge on the Gateway's plain listener, driven with
// Node's own HTTP/2 client and with curl. Each stream is one request through the same lifecycle
// as HTTP/1.1 (routing, the configured key, usage in the log line).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { spawnSync } from 'node:child_process';
import {
  startAigw, startTestupstream, gatewayYaml, openaiBackendYaml, b64, SLOW,
} from '../lib/harness.mjs';

const route = `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: main, namespace: default}
spec:
  parentRefs: [{name: aigw, kind: Gateway, group: gateway.networking.k8s.io}]
  rules:
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: gpt-4o-mini}]}]
      backendRefs: [{name: openai}]
  llmRequestCosts:
    - {metadataKey: llm_input_token, type: InputToken}
    - {metadataKey: llm_output_token, type: OutputToken}
`;

// One request on an HTTP/2 session: resolves with status, headers, body and the time of the
// first DATA frame.
function request(session, { method = 'POST', path = '/v1/chat/completions', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const req = session.request({ ':method': method, ':path': path, ...headers });
    let status;
    let resHeaders;
    let firstAt = null;
    const chunks = [];
    req.on('response', (h) => {
      status = h[':status'];
      resHeaders = h;
    });
    req.on('data', (d) => {
      if (firstAt === null) firstAt = Date.now() - started;
      chunks.push(d);
    });
    req.on('end', () =>
      resolve({ status, headers: resHeaders, body: Buffer.concat(chunks).toString(), firstAt, total: Date.now() - started }));
    req.on('error', reject);
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

const chatBody = (extra = {}) => JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], ...extra });

describe('aigw run: HTTP/2 clients (h2c)', () => {
  let up;
  let gw;
  before(async () => {
    up = await startTestupstream({ id: 'h2' });
    gw = await startAigw({
      config: (port) => gatewayYaml(port) + route + openaiBackendYaml('openai', up.port, { apiKey: 'sk-h2-secret' }),
      args: ['--max-request-body', String(2 * 1024 * 1024), '--request-header-timeout', '2'],
    });
  });
  after(async () => {
    await gw?.stop();
    await up?.stop();
  });

  it('serves a chat completion over h2c with prior knowledge, with the configured key', async () => {
    const s = http2.connect(gw.base);
    try {
      const res = await request(s, {
        headers: {
          'content-type': 'application/json', 'x-request-id': 'h2-one',
          'x-expected-headers': b64('Authorization:Bearer sk-h2-secret,x-ai-eg-model:gpt-4o-mini'),
          'x-expected-path': b64('/v1/chat/completions'),
        },
        body: chatBody(),
      });
      assert.equal(res.status, 200, res.body);
      assert.match(res.headers['content-type'], /application\/json/);
      // Connection-specific fields never appear in an HTTP/2 answer.
      for (const f of ['connection', 'keep-alive', 'transfer-encoding']) assert.equal(res.headers[f], undefined, f);
      const j = JSON.parse(res.body);
      assert.equal(j.object, 'chat.completion');
      const line = await gw.logLine((l) => l.request_id === 'h2-one');
      assert.equal(line.status, 200);
      assert.ok(line.total_tokens > 0);
    } finally {
      s.close();
    }
  });

  it('serves many concurrent streams on one connection, each its own answer', async () => {
    const s = http2.connect(gw.base);
    try {
      const n = 40;
      const all = await Promise.all(Array.from({ length: n }, (_, i) =>
        request(s, {
          headers: {
            'content-type': 'application/json', 'x-request-id': `h2-many-${i}`,
            'x-response-body': b64(JSON.stringify({
              id: `c${i}`, object: 'chat.completion', model: 'gpt-4o-mini',
              choices: [{ index: 0, message: { role: 'assistant', content: `answer ${i}` }, finish_reason: 'stop' }],
              usage: { prompt_tokens: i + 1, completion_tokens: 1, total_tokens: i + 2 },
            })),
            'x-response-chunk-delay-ms': '20',
          },
          body: chatBody(),
        })));
      all.forEach((r, i) => {
        assert.equal(r.status, 200, r.body);
        assert.equal(JSON.parse(r.body).choices[0].message.content, `answer ${i}`);
      });
      for (let i = 0; i < n; i += 13) {
        const line = await gw.logLine((l) => l.request_id === `h2-many-${i}`);
        assert.equal(line.input_tokens, i + 1);
      }
    } finally {
      s.close();
    }
  });

  it('relays an SSE stream as it comes, with its usage counted', async () => {
    const events = ['{"id":"1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"a"}}]}',
      '{"id":"1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"b"}}]}',
      '{"id":"1","object":"chat.completion.chunk","model":"m","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9}}',
      '[DONE]'];
    const s = http2.connect(gw.base);
    try {
      const res = await request(s, {
        headers: {
          'content-type': 'application/json', 'x-request-id': 'h2-sse',
          'x-response-type': 'sse', 'x-response-body': b64(events.join('\n')), 'x-response-chunk-delay-ms': '300',
        },
        body: chatBody({ stream: true, stream_options: { include_usage: true } }),
      });
      assert.equal(res.status, 200);
      assert.match(res.headers['content-type'], /text\/event-stream/);
      assert.equal(res.body, events.map((e) => `data: ${e}\n\n`).join(''));
      assert.ok(res.firstAt + 500 < res.total, `first chunk at ${res.firstAt} ms, end at ${res.total} ms`);
      const line = await gw.logLine((l) => l.request_id === 'h2-sse');
      assert.equal(line.total_tokens, 9);
    } finally {
      s.close();
    }
  });

  it('takes a body larger than the stream window (flow control), and refuses one over the limit with 413', async () => {
    const s = http2.connect(gw.base);
    try {
      const big = chatBody({ messages: [{ role: 'user', content: 'x'.repeat(1536 * 1024) }] });
      const ok = await request(s, { headers: { 'content-type': 'application/json', 'x-request-id': 'h2-big' }, body: big });
      assert.equal(ok.status, 200, ok.body.slice(0, 200));
      const tooBig = chatBody({ messages: [{ role: 'user', content: 'x'.repeat(3 * 1024 * 1024) }] });
      const refused = await request(s, { headers: { 'content-type': 'application/json' }, body: tooBig });
      assert.equal(refused.status, 413);
      assert.equal(JSON.parse(refused.body).error.type, 'PayloadTooLarge');
      // The connection still serves.
      const after = await request(s, { headers: { 'content-type': 'application/json' }, body: chatBody() });
      assert.equal(after.status, 200);
    } finally {
      s.close();
    }
  });

  it("answers the gateway's own errors on the stream (unknown model, bad JSON)", async () => {
    const s = http2.connect(gw.base);
    try {
      const unknown = await request(s, { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'nope', messages: [] }) });
      assert.equal(unknown.status, 404);
      const bad = await request(s, { headers: { 'content-type': 'application/json' }, body: '{"model":' });
      assert.equal(bad.status, 400);
      const models = await request(s, { method: 'GET', path: '/v1/models' });
      assert.equal(models.status, 200);
      assert.deepEqual(JSON.parse(models.body).data.map((m) => m.id), ['gpt-4o-mini']);
      // HEAD: the head alone (here the 405 a GET-only path gives), its length kept.
      const head = await request(s, { method: 'HEAD', path: '/v1/models' });
      assert.equal(head.status, 405);
      assert.equal(head.headers.allow, 'GET');
      assert.ok(Number(head.headers['content-length']) > 0);
      assert.equal(head.body, '');
    } finally {
      s.close();
    }
  });

  it('survives a client that resets a stream mid-answer; other streams go on', async () => {
    const s = http2.connect(gw.base);
    try {
      const events = Array.from({ length: 6 }, (_, i) => `{"id":"1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"${i}"}}]}`);
      const req = s.request({
        ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json', 'x-request-id': 'h2-reset',
        'x-response-type': 'sse', 'x-response-body': b64(events.join('\n')), 'x-response-chunk-delay-ms': '200',
      });
      req.end(chatBody({ stream: true }));
      await new Promise((resolve) => req.once('data', resolve));
      req.close(http2.constants.NGHTTP2_CANCEL);
      const line = await gw.logLine((l) => l.request_id === 'h2-reset', 10000 * SLOW);
      assert.match(line.error ?? '', /client went away/);
      const res = await request(s, { headers: { 'content-type': 'application/json' }, body: chatBody() });
      assert.equal(res.status, 200);
    } finally {
      s.close();
    }
  });

  it('refuses a declared body over the limit before it is sent, and stops the upload', async () => {
    const s = http2.connect(gw.base);
    try {
      const res = await new Promise((resolve, reject) => {
        const req = s.request({ ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json',
          'content-length': String(3 * 1024 * 1024) });
        req.write('{"model":"gpt-4o-mini","messages":[');
        let status;
        let body = '';
        req.on('response', (h) => (status = h[':status']));
        req.on('data', (d) => (body += d));
        req.on('end', () => resolve({ status, body }));
        req.on('error', (e) => (status ? resolve({ status, body }) : reject(e)));
      });
      assert.equal(res.status, 413);
      assert.equal(JSON.parse(res.body).error.type, 'PayloadTooLarge');
    } finally {
      s.close();
    }
  });

  it('answers 408 to a stream whose body does not come', async () => {
    const s = http2.connect(gw.base);
    try {
      const res = await new Promise((resolve, reject) => {
        const req = s.request({ ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json' });
        req.write('{"model":'); // and nothing more
        let status;
        req.on('response', (h) => (status = h[':status']));
        req.on('data', () => {});
        req.on('end', () => resolve({ status }));
        req.on('error', (e) => (status ? resolve({ status }) : reject(e)));
      });
      assert.equal(res.status, 408);
    } finally {
      s.close();
    }
  });

  it('refuses a Host that differs from :authority', async () => {
    const s = http2.connect(gw.base);
    try {
      const bad = await request(s, { headers: { 'content-type': 'application/json', ':authority': `127.0.0.1:${gw.port}`, host: 'elsewhere.example' }, body: chatBody() });
      assert.equal(bad.status, 400);
      assert.match(bad.body, /Host differs from :authority/);
    } finally {
      s.close();
    }
  });

  it('ends the provider call of every stream a client resets, and keeps serving', async () => {
    const s = http2.connect(gw.base);
    try {
      // More than the 128 streams a connection may have open, each reset once its answer began;
      // the provider would send its first event only after 20 s.
      const n = 150;
      await Promise.all(Array.from({ length: n }, (_, i) => new Promise((resolve) => {
        const req = s.request({
          ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json',
          'x-request-id': `h2-rapid-${i}`, 'x-response-chunk-delay-ms': '20000',
        });
        req.on('error', () => {});
        req.on('response', () => {
          req.close(http2.constants.NGHTTP2_CANCEL);
          resolve();
        });
        req.end(chatBody({ stream: true }));
      })));
      // Each request ends when its client left, not when the provider would have answered.
      for (const i of [0, 75, 149]) {
        const line = await gw.logLine((l) => l.request_id === `h2-rapid-${i}`, 10000 * SLOW);
        assert.match(line.error ?? '', /client went away/, JSON.stringify(line));
      }
      const res = await request(s, { headers: { 'content-type': 'application/json' }, body: chatBody() });
      assert.equal(res.status, 200);
    } finally {
      s.close();
    }
  });

  it('HTTP/1.1 clients share the listener', async () => {
    const res = await fetch(`${gw.base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody() });
    assert.equal(res.status, 200);
  });

  it('works with curl --http2-prior-knowledge', { skip: spawnSync('curl', ['--version']).status !== 0 }, () => {
    const r = spawnSync('curl', ['-sS', '--http2-prior-knowledge', '-o', '-', '-w', '\n%{http_version} %{http_code}',
      '-H', 'content-type: application/json', '--data', chatBody(), `${gw.base}/v1/chat/completions`], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.at(-1), '2 200');
    assert.equal(JSON.parse(lines.slice(0, -1).join('\n')).object, 'chat.completion');
  });
});
