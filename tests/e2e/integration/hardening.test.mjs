// Hostile clients and faulty providers: every case here is a defect a probe once found. Each
// checks the outcome the client sees and that the next request (on the same connection where
// one survives) is unaffected.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import readline from 'node:readline';
import {
  startAigw, gatewayYaml, openaiBackendYaml, sleep, freePort, SLOW, AIGW_BIN, SANITIZED,
} from '../lib/harness.mjs';
import { startFaultProvider } from '../lib/faultprovider.mjs';
import { RawConnection, chatRequest } from '../lib/rawhttp.mjs';

const SECRET = 'sk-gateway-secret-0123456789';

function config(providerPort, extra = '') {
  return (port) => `${gatewayYaml(port)}---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: any, namespace: default}
spec:
  parentRefs: [{name: aigw, kind: Gateway, group: gateway.networking.k8s.io}]
  rules:
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: configured-model}]}]
      backendRefs: [{name: fault}]
      timeouts: {request: 2s}
    - matches: [{headers: [{type: RegularExpression, name: x-ai-eg-model, value: ".*"}]}]
      backendRefs: [{name: fault}]
      timeouts: {request: 2s}
  llmRequestCosts:
    - {metadataKey: llm_total_token, type: TotalToken}
${extra}
${openaiBackendYaml('fault', providerPort, { apiKey: SECRET })}`;
}

const msg = (model = 'm') => ({ model, messages: [{ role: 'user', content: 'hi' }] });

async function connect(gw) {
  const c = new RawConnection(gw.port);
  await c.ready();
  return c;
}

// One request on a fresh connection, then a normal one on the same connection when it stays.
async function thenNormal(c, model = 'next') {
  if (c.closed) {
    return null;
  }
  c.write(chatRequest(msg(model)));
  const r = await c.response();
  assert.equal(r.status, 200);
  assert.equal(JSON.parse(r.body).choices[0].message.content, `echo:${model}`);
  return r;
}

describe('hardening: hostile clients and faulty providers', () => {
  let up;
  let gw;
  before(async () => {
    up = await startFaultProvider();
    gw = await startAigw({
      config: config(up.port),
      args: ['--request-header-timeout', '1', '--metrics-max-label-values', '5'],
    });
  });
  after(async () => {
    await gw?.stop();
    await up?.stop();
  });

  it('refuses a model holding CR/LF with a 400 naming "model", and the provider sees nothing', async () => {
    const before = up.requests.length;
    const c = await connect(gw);
    const smuggle = 'gpt-4o\r\nContent-Length: 0\r\n\r\nGET /v1/models HTTP/1.1\r\nHost: x\r\nX-Smuggled: 1';
    c.write(chatRequest(msg(smuggle)));
    const r = await c.response();
    assert.equal(r.status, 400);
    assert.match(JSON.parse(r.body).error.message, /"model"/);
    await thenNormal(c);
    assert.equal(up.requests.length, before + 1, 'only the normal request reached the provider');
    assert.ok(!up.requests.some((q) => 'x-smuggled' in q.headers || q.requestLine.startsWith('GET')));
    c.close();
  });

  it('relays a large body intact, in pieces or with the next request right behind it', async () => {
    const before = up.requests.length;
    const big = { model: 'big', messages: [{ role: 'user', content: 'y'.repeat(2 * 1024 * 1024) }] };
    const raw = Buffer.from(chatRequest(big));
    const c = await connect(gw);
    // The head and the first bytes, the rest in pieces, the next request in the same write.
    c.write(raw.subarray(0, 1000));
    await sleep(50);
    c.write(raw.subarray(1000, 700000));
    await sleep(50);
    c.write(Buffer.concat([raw.subarray(700000), Buffer.from(chatRequest(msg('right-behind')))]));
    assert.equal((await c.response()).status, 200);
    assert.equal((await c.response()).status, 200);
    const seen = up.requests.slice(before);
    assert.equal(seen.length, 2);
    assert.deepEqual(JSON.parse(seen[0].body), big);
    assert.equal(JSON.parse(seen[1].body).model, 'right-behind');
    c.close();
  });

  it('sends nothing on when a large body is cut short', async () => {
    const before = up.requests.length;
    const raw = Buffer.from(chatRequest({ model: 'cut', messages: [{ role: 'user', content: 'z'.repeat(300000) }] }));
    const c = await connect(gw);
    c.write(raw.subarray(0, 200000));
    await sleep(100);
    c.close();
    await sleep(300);
    assert.equal(up.requests.length, before);
    const d = await connect(gw); // and the gateway serves on
    await thenNormal(d, 'after-cut');
    d.close();
  });

  it('relays a 204 without body framing, and the connection serves the next request', async () => {
    const c = await connect(gw);
    c.write(chatRequest(msg('nothing'), { headers: { 'x-fault': 'no-content' } }));
    const r = await c.response();
    assert.equal(r.status, 204);
    assert.equal(r.body, '');
    assert.equal(r.headers['transfer-encoding'], undefined);
    await thenNormal(c, 'after-204');
    c.close();
  });

  it('strips client credentials of every scheme before the provider', async () => {
    const c = await connect(gw);
    c.write(chatRequest(msg('creds'), {
      headers: { 'x-api-key': 'client-anthropic-key', 'api-key': 'client-azure-key', cookie: 'session=client', authorization: 'Bearer client-key' },
    }));
    assert.equal((await c.response()).status, 200);
    const seen = up.requests.at(-1).headers;
    assert.equal(seen.authorization, `Bearer ${SECRET}`);
    assert.equal(seen['x-api-key'], undefined);
    assert.equal(seen['api-key'], undefined);
    assert.equal(seen.cookie, undefined);
    c.close();
  });

  it('skips a 103 Early Hints and relays the final answer; the next request gets its own', async () => {
    const c = await connect(gw);
    c.write(chatRequest(msg('hints'), { headers: { 'x-fault': 'early-hints' } }));
    const r = await c.response();
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).choices[0].message.content, 'after-hints');
    await thenNormal(c, 'after-hints-next');
    c.close();
  });

  it('never reuses a provider connection with bytes past the response', async () => {
    const c = await connect(gw);
    c.write(chatRequest(msg('extra'), { headers: { 'x-fault': 'extra-bytes' } }));
    const r = await c.response();
    assert.equal(JSON.parse(r.body).choices[0].message.content, 'first');
    for (let i = 0; i < 3; i++) {
      const n = await thenNormal(c, `clean-${i}`);
      assert.ok(!n.body.includes('SMUGGLED'));
    }
    c.close();
  });

  it('ends a stream the provider reset with an error event, and serves the next client', async () => {
    const c = await connect(gw);
    c.write(chatRequest({ ...msg('reset'), stream: true }, { headers: { 'x-fault': 'reset-mid-stream' } }));
    const r = await c.response(); // complete: the chunked body ends with its last chunk
    assert.equal(r.status, 200);
    const events = r.body.split('\n\n').filter((e) => e.startsWith('data: '));
    const last = JSON.parse(events[events.length - 1].slice(6));
    assert.equal(last.error.code, 'stream_error');
    assert.match(last.error.message, /stream broke/);
    c.close();
    await thenNormal(await connect(gw), 'after-reset');
  });

  it('answers garbage from the provider with a 5xx in JSON, and serves the next request', async () => {
    const c = await connect(gw);
    c.write(chatRequest(msg('garbage'), { headers: { 'x-fault': 'garbage' } }));
    const r = await c.response();
    assert.ok(r.status >= 500 && r.status < 600, `status ${r.status}`);
    JSON.parse(r.body);
    await thenNormal(c, 'after-garbage');
    c.close();
  });

  it('answers a hanging provider with a 504 at the route timeout', async () => {
    const c = await connect(gw);
    const t0 = Date.now();
    c.write(chatRequest(msg('hang'), { headers: { 'x-fault': 'hang' } }));
    const r = await c.response({ timeoutMs: 10000 * SLOW });
    assert.equal(r.status, 504);
    assert.ok(Date.now() - t0 >= 1900);
    await thenNormal(c, 'after-hang');
    c.close();
  });

  it('answers a provider error body over 4 MiB with a well-formed 502', async () => {
    const c = await connect(gw);
    c.write(chatRequest(msg('huge-error'), { headers: { 'x-fault': 'huge-error' } }));
    const r = await c.response();
    assert.equal(r.status, 502);
    assert.match(r.headers['content-type'], /application\/json/);
    assert.match(JSON.parse(r.body).error.message, /exceeds/);
    await thenNormal(c, 'after-huge-error');
    c.close();
  });

  it('scrubs the backend credential a provider echoes in an error', async () => {
    const c = await connect(gw);
    c.write(chatRequest(msg('echo'), { headers: { 'x-fault': 'echo-secret' } }));
    const r = await c.response();
    assert.equal(r.status, 401);
    assert.ok(!r.body.includes(SECRET), r.body);
    assert.match(r.body, /REDACTED/);
    c.close();
  });

  it('logs an SSE error event inside a 200 stream as an error', async () => {
    const c = await connect(gw);
    c.write(chatRequest({ ...msg('sse-error'), stream: true }, { headers: { 'x-fault': 'sse-error' } }));
    const r = await c.response();
    assert.equal(r.status, 200);
    const line = await gw.logLine((l) => l['x-ai-eg-model'] === 'sse-error');
    assert.equal(line.error, 'upstream stream error event');
    c.close();
  });

  it('counts the usage of a JSON answer past the 32 MiB scan window', async () => {
    const r = await fetch(`${gw.base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-fault': 'huge-json' },
      body: JSON.stringify(msg('huge-json')),
    });
    assert.equal(r.status, 200);
    const body = await r.text();
    assert.ok(body.length > 33 * 1024 * 1024);
    const line = await gw.logLine((l) => l['x-ai-eg-model'] === 'huge-json');
    assert.equal(line.total_tokens, 33);
    assert.equal(line.llm_total_token, 33);
  });

  it('relays a large answer whole to a client that reads slowly, and serves its next request', async () => {
    const c = await connect(gw);
    c.socket.pause(); // reads nothing for a while: the gateway must wait, not drop or buffer forever
    c.write(chatRequest(msg('slow-reader'), { headers: { 'x-fault': 'big-json' } }));
    await sleep(1500);
    c.socket.resume();
    const r = await c.response({ timeoutMs: 20000 * SLOW });
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).choices[0].message.content.length, 8 * 1024 * 1024);
    await thenNormal(c, 'after-slow-read');
    c.close();
  });

  it('refuses unknown and misplaced transfer codings and conflicting lengths, and closes', async () => {
    const cases = [
      ['Transfer-Encoding: xchunked', 501],
      ['Transfer-Encoding: gzip, chunked', 501],
      ['Transfer-Encoding: chunked, gzip', 400],
      ['Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked', 400],
      ['Transfer-Encoding: chunked\r\nContent-Length: 5', 400],
      ['Content-Length: 5\r\nContent-Length: 6', 400],
    ];
    for (const [header, status] of cases) {
      const c = await connect(gw);
      // After the head comes what a desynchronised parser would read as a second request.
      c.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n${header}\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /v1/models HTTP/1.1\r\nHost: gw\r\n\r\n`);
      const r = await c.response();
      assert.equal(r.status, status, header);
      assert.ok(await c.closedWithin(2000), `closed after ${header}`);
      assert.ok(!c.buf.toString().includes('HTTP/1.1 200'), `nothing else answered after ${header}`);
      c.close();
    }
  });

  it('refuses an HTTP/1.1 request without Host', async () => {
    const c = await connect(gw);
    const body = JSON.stringify(msg());
    c.write(`POST /v1/chat/completions HTTP/1.1\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
    assert.equal((await c.response()).status, 400);
    c.close();
  });

  it('answers HEAD without a body and marks local replies nosniff', async () => {
    const c = await connect(gw);
    c.write('HEAD /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n\r\n');
    const r = await c.response({ head: true });
    assert.equal(r.status, 405);
    // The next response must start right away: no body bytes were left on the wire.
    c.write('GET /nope HTTP/1.1\r\nHost: gw\r\n\r\n');
    const n = await c.response();
    assert.equal(n.status, 404);
    assert.equal(n.headers['x-content-type-options'], 'nosniff');
    c.close();
  });

  it('close-delimits a stream to an HTTP/1.0 client instead of chunking it', async () => {
    const c = await connect(gw);
    c.write(chatRequest({ ...msg('http10'), stream: true }, { version: '1.0', headers: { 'x-fault': 'slow-stream' } }));
    const r = await c.response({ timeoutMs: 10000 * SLOW });
    assert.equal(r.status, 200);
    assert.equal(r.framing, 'close');
    assert.equal(r.headers['transfer-encoding'], undefined);
    assert.match(r.body, /data: \[DONE\]/);
    c.close();
  });

  it('answers a slowloris head with a 408 at the request-header timeout', async () => {
    const c = await connect(gw);
    c.write('POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n');
    const t0 = Date.now();
    const timer = setInterval(() => c.write('x-slow: 1\r\n'), 300); // trickles, never ends
    try {
      const r = await c.response({ timeoutMs: 10000 * SLOW });
      assert.equal(r.status, 408);
      assert.ok(Date.now() - t0 < 5000 * SLOW);
    } finally {
      clearInterval(timer);
      c.close();
    }
  });

  it('caps client-chosen model labels, keeping configured models', async () => {
    for (let i = 0; i < 12; i++) {
      const c = await connect(gw);
      c.write(chatRequest(msg(`random-model-${i}`)));
      assert.equal((await c.response()).status, 200);
      c.close();
    }
    const c = await connect(gw);
    c.write(chatRequest(msg('configured-model')));
    await c.response();
    c.close();
    await sleep(100);
    const text = await (await fetch(`${gw.admin}/metrics`)).text();
    const models = new Set([...text.matchAll(/gen_ai_original_model="([^"]*)"/g)].map((m) => m[1]));
    assert.ok(models.has('_OTHER'), [...models].join(','));
    assert.ok(models.has('configured-model'));
    assert.ok(models.size <= 7, [...models].join(','));
    assert.match(text, /aigw_metrics_label_overflow_total [1-9]/);
  });
});

describe('hardening: connection limits, shutdown and ports', () => {
  let up;
  before(async () => {
    up = await startFaultProvider();
  });
  after(async () => up?.stop());

  it('closes connections past --max-connections at once and counts them', async () => {
    const gw = await startAigw({ config: config(up.port), args: ['--max-connections', '3'] });
    try {
      const active = async () => Number(/aigw_active_connections (\d+)/.exec(await (await fetch(`${gw.admin}/metrics`)).text())[1]);
      // The readiness probe's connection is gone first; then exactly three are held.
      for (let i = 0; i < 100 * SLOW && (await active()) !== 0; i++) await sleep(20);
      const held = [];
      for (let i = 0; i < 3; i++) held.push(await connect(gw));
      for (let i = 0; i < 100 * SLOW && (await active()) !== 3; i++) await sleep(20);
      assert.equal(await active(), 3);
      const extra = await connect(gw);
      assert.ok(await extra.closedWithin(2000 * SLOW), 'the fourth connection is closed');
      held.forEach((c) => c.close());
      await sleep(200);
      await thenNormal(await connect(gw), 'after-cap');
      const text = await (await fetch(`${gw.admin}/metrics`)).text();
      assert.match(text, /aigw_connections_refused_total [1-9]/);
    } finally {
      await gw.stop();
    }
  });

  it('drains on SIGTERM: a stream in flight completes, new connections are refused', async () => {
    const gw = await startAigw({ config: config(up.port), args: ['--drain-timeout', '10'] });
    const c = await connect(gw);
    c.write(chatRequest({ ...msg('draining'), stream: true }, { headers: { 'x-fault': 'slow-stream' } }));
    const pending = c.response({ timeoutMs: 10000 * SLOW });
    await sleep(300);
    const stopped = gw.stop(); // SIGTERM
    await sleep(200);
    await assert.rejects(new Promise((resolve, reject) => {
      const s = net.connect(gw.port, '127.0.0.1', () => {
        s.destroy();
        resolve();
      });
      s.on('error', reject);
    }));
    const r = await pending;
    assert.equal(r.status, 200);
    assert.match(r.body, /data: \[DONE\]/);
    assert.ok(await c.closedWithin(2000), 'the connection closes after the drained response');
    assert.equal(await stopped, 0);
    const line = gw.logs.find((l) => l['x-ai-eg-model'] === 'draining');
    assert.ok(line && !line.error, JSON.stringify(line));
  });

  it('cuts what is left at the drain timeout and logs it as cut', async () => {
    const gw = await startAigw({ config: config(up.port), args: ['--drain-timeout', '1'] });
    const c = await connect(gw);
    c.write(chatRequest(msg('cut'), { headers: { 'x-fault': 'hang' } }));
    await sleep(200);
    const t0 = Date.now();
    await gw.stop();
    assert.ok(Date.now() - t0 < 4000 * SLOW);
    const line = gw.logs.find((l) => l['x-ai-eg-model'] === 'cut');
    assert.match(line?.error ?? '', /cut by shutdown/);
    c.close();
  });

  it('exits at once on a second signal during a drain', async () => {
    const gw = await startAigw({ config: config(up.port), args: ['--drain-timeout', '60'] });
    const c = await connect(gw);
    c.write(chatRequest(msg('second-signal'), { headers: { 'x-fault': 'hang' } }));
    await sleep(200);
    const t0 = Date.now();
    const stopped = gw.stop(); // SIGTERM: drains, the hanging request keeps it open
    await sleep(300);
    process.kill(gw.pid, 'SIGTERM');
    assert.equal(await stopped, 0);
    assert.ok(Date.now() - t0 < 3000 * SLOW, `exited after ${Date.now() - t0} ms`);
    c.close();
  });

  it('refuses a second gateway on a port another process listens on', async () => {
    const gw = await startAigw({ config: config(up.port) });
    try {
      const second = spawn(AIGW_BIN, ['run', gw.configPath, '--admin-port', String(await freePort())], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      second.stderr.on('data', (d) => (stderr += d));
      const code = await new Promise((r) => second.on('exit', r));
      assert.equal(code, 1);
      assert.match(stderr, /address in use/);
      await thenNormal(await connect(gw), 'still-first');
    } finally {
      await gw.stop();
    }
  });

  it('binds loopback only when configured from the environment', async () => {
    const adminPort = await freePort();
    const child = spawn(AIGW_BIN, ['run', '--admin-port', String(adminPort)], {
      env: { ...process.env, OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: `http://127.0.0.1:${up.port}/v1` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines = [];
    readline.createInterface({ input: child.stderr }).on('line', (l) => lines.push(l));
    try {
      const deadline = Date.now() + 10000 * SLOW;
      while (!lines.some((l) => /listening on/.test(l)) && Date.now() < deadline) {
        if (child.exitCode !== null) break;
        await sleep(50);
      }
      const line = lines.find((l) => /listening on/.test(l)) ?? lines.join('\n');
      // 1975 may be taken on a shared machine: then the refusal names the loopback address.
      assert.match(line, /127\.0\.0\.1:1975/);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('logs the admin port it got for --admin-port 0', async () => {
    const gw = await startAigw({ config: config(up.port) });
    await gw.stop();
    const child = spawn(AIGW_BIN, ['run', gw.configPath, '--admin-port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = [];
    readline.createInterface({ input: child.stderr }).on('line', (l) => lines.push(l));
    try {
      const deadline = Date.now() + 10000 * SLOW;
      while (!lines.some((l) => /admin on/.test(l)) && Date.now() < deadline) await sleep(50);
      const m = /admin on 127\.0\.0\.1:(\d+)/.exec(lines.join('\n'));
      assert.ok(m, lines.join('\n'));
      assert.notEqual(m[1], '0');
      const r = await fetch(`http://127.0.0.1:${m[1]}/health`);
      assert.equal(r.status, 200);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('holds little memory per idle keep-alive connection', { skip: SANITIZED }, async (t) => {
    const gw = await startAigw({ config: config(up.port), concurrency: 1 });
    const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${gw.pid}/status`, 'utf8'))[1]) * 1024;
    const open = async (n) => {
      const out = [];
      for (let i = 0; i < n; i++) {
        const c = new RawConnection(gw.port);
        out.push(c);
        if (i % 100 === 99) await sleep(5);
      }
      await Promise.all(out.map((c) => c.ready()));
      // Each serves one request, then stays open and idle (a few at a time: what is measured is
      // what idle connections hold, not the peak of requests in flight).
      for (let i = 0; i < out.length; i += 25) {
        const batch = out.slice(i, i + 25);
        for (const c of batch) c.write(chatRequest(msg('idle')));
        await Promise.all(batch.map((c) => c.response({ timeoutMs: 30000 })));
      }
      return out;
    };
    const warm = await open(200); // pools, allocator arenas and code pages are touched once
    await sleep(200);
    const base = rss();
    const conns = await open(2000);
    await sleep(1500); // idle past a second: request buffers are freed
    const per = (rss() - base) / 2000;
    t.diagnostic(`${Math.round(per)} bytes of RSS per idle connection`);
    [...warm, ...conns].forEach((c) => c.close());
    await gw.stop();
    assert.ok(per < 12 * 1024, `${Math.round(per)} bytes of RSS per idle connection`);
  });

  it('backs off when out of file descriptors instead of spinning, and recovers', { skip: SANITIZED }, async () => {
    // A descriptor limit far below --max-connections: accept hits EMFILE.
    const gw = await startAigw({
      config: config(up.port),
      args: ['--max-connections', '10000'],
      concurrency: 1,
      wrap: ['prlimit', '--nofile=64:64', '--'],
    });
    const held = [];
    try {
      for (let i = 0; i < 120; i++) {
        const s = net.connect(gw.port, '127.0.0.1');
        s.on('error', () => {});
        held.push(s);
      }
      await sleep(500);
      const pid = gw.pid;
      const cpu = () => {
        const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
        return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, seconds
      };
      const c0 = cpu();
      await sleep(2000);
      const used = cpu() - c0;
      assert.ok(used < 0.6, `used ${used}s of CPU in 2 s while out of descriptors`);
      const warnings = gw.stderr.filter((l) => /accept failed/.test(l));
      assert.ok(warnings.length >= 1 && warnings.length <= 3, `${warnings.length} accept warnings`);
    } finally {
      held.forEach((s) => s.destroy());
    }
    await sleep(1500); // the back-off is at most a second
    try {
      await thenNormal(await connect(gw), 'after-emfile');
      const text = await (await fetch(`${gw.admin}/metrics`)).text();
      assert.match(text, /aigw_accept_errors_total [1-9]/);
    } finally {
      await gw.stop();
    }
  });
});
