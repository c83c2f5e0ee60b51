// The MCP gateway (MCPRoute) in `aigw run`, driven by the official MCP TypeScript SDK client
// against two real MCP servers built with the same SDK: aggregation with prefixes, tool
// selectors, calls routed back, API keys injected per backend, the session that encrypts each
// backend's own (readable by a restarted gateway with the same seed), session close, a backend
// that goes away, and a reload during a session.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CreateMessageRequestSchema, ElicitRequestSchema, ResourceListChangedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { startAigw, gatewayYaml, waitFor } from '../lib/harness.mjs';
import { startMcpServer } from '../lib/mcpserver.mjs';

const SEED = 'a-test-seed-for-mcp-sessions';
const ALPHA_KEY = 'alpha-secret-key';
const BETA_KEY = 'beta-secret-key';

function config(port, alpha, beta, { alphaSelector = '{exclude: [secret]}' } = {}) {
  return (
    gatewayYaml(port) +
    `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: MCPRoute
metadata: {name: tools, namespace: default}
spec:
  parentRefs: [{name: aigw}]
  path: /mcp
  backendRefs:
    - name: alpha
      path: /mcp
      toolSelector: ${alphaSelector}
      securityPolicy: {apiKey: {secretRef: {name: alpha-key}}}
    - name: beta
      securityPolicy: {apiKey: {inline: ${BETA_KEY}, header: x-api-key}}
---
apiVersion: v1
kind: Secret
metadata: {name: alpha-key, namespace: default}
stringData: {apiKey: ${ALPHA_KEY}}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: alpha, namespace: default}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: ${alpha.port}}}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: beta, namespace: default}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: ${beta.port}}}]
`
  );
}

// Upstream's session id layout: base64(salt 16 | nonce 12 | AES-256-GCM ciphertext | tag 16), the
// key PBKDF2-SHA256(seed, salt, 100000, 32).
function decryptSession(id, seed = SEED) {
  const raw = Buffer.from(id, 'base64');
  const salt = raw.subarray(0, 16);
  const nonce = raw.subarray(16, 28);
  const tag = raw.subarray(raw.length - 16);
  const key = crypto.pbkdf2Sync(seed, salt, 100000, 32, 'sha256');
  const d = crypto.createDecipheriv('aes-256-gcm', key, nonce);
  d.setAuthTag(tag);
  return Buffer.concat([d.update(raw.subarray(28, raw.length - 16)), d.final()]).toString('utf8');
}

const notices = { resources: 0, tools: 0 };
async function connect(gw) {
  // A client that can sample and elicit: the servers ask it things in the middle of calls.
  const client = new Client({ name: 'aigw-e2e', version: '1.0.0' }, { capabilities: { sampling: {}, elicitation: {} } });
  client.setRequestHandler(CreateMessageRequestSchema, async (req) => ({
    model: 'test-model', role: 'assistant',
    content: { type: 'text', text: `answer to ${req.params.messages[0].content.text}` },
  }));
  client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { ok: true } }));
  client.setNotificationHandler(ResourceListChangedNotificationSchema, () => notices.resources++);
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => notices.tools++);
  const transport = new StreamableHTTPClientTransport(new URL(`${gw.base}/mcp`));
  await client.connect(transport);
  return { client, transport };
}

const texts = (r) => r.content.map((c) => c.text);
// The SDK's error for an HTTP refusal carries the status as `code`.
const refused = (status, text) => (e) => e.code === status && e.message.includes(text);

describe('MCP gateway through aigw run, with the official MCP SDK client and servers', () => {
  let alpha;
  let beta;
  let gw;
  let client;
  let transport;

  before(async () => {
    alpha = await startMcpServer({ name: 'alpha', key: { header: 'authorization', value: `Bearer ${ALPHA_KEY}` } });
    beta = await startMcpServer({ name: 'beta', key: { header: 'x-api-key', value: BETA_KEY } });
    gw = await startAigw({
      config: (port) => config(port, alpha, beta),
      args: ['--mcp-session-encryption-seed', SEED],
      env: { MCP_PROXY_HEARTBEAT_INTERVAL: '200ms' },
    });
    ({ client, transport } = await connect(gw));
  });
  after(async () => {
    await client?.close().catch(() => {});
    await gw?.stop();
    await alpha?.close();
    await beta?.close();
  });

  it('initialize: the gateway is one server with the backends\' capabilities merged', () => {
    const caps = client.getServerCapabilities();
    assert.ok(caps.tools && caps.prompts && caps.resources, JSON.stringify(caps));
    assert.equal(client.getServerVersion().name, 'aigw'); // difference: mcp-server-info
    assert.ok(transport.sessionId, 'a session id');
    // each backend was initialized with its key, and holds its own session
    assert.equal(alpha.sessions.size, 1);
    assert.equal(beta.sessions.size, 1);
  });

  it('the session id encrypts each backend\'s session, as upstream (PBKDF2 + AES-GCM over the seed)', () => {
    const plain = decryptSession(transport.sessionId);
    const [route, subject, backends] = plain.split('@');
    assert.equal(route, 'default/tools');
    assert.equal(subject, '');
    const entries = Object.fromEntries(backends.split(',').map((e) => {
      const [name, sid, caps] = e.split(':');
      return [name, { sid: Buffer.from(sid, 'base64').toString(), caps }];
    }));
    assert.deepEqual(Object.keys(entries).sort(), ['alpha', 'beta']);
    assert.ok(alpha.sessions.has(entries.alpha.sid));
    assert.ok(beta.sessions.has(entries.beta.sid));
    assert.match(entries.alpha.caps, /^[0-9a-f]{3}$/);
    assert.ok(parseInt(entries.alpha.caps, 16) & 0x001, 'tools');
  });

  it('tools/list: every backend\'s tools as <backend>__<name>, the selector applied', async () => {
    const { tools } = await client.listTools();
    const names = ['add', 'announce', 'ask', 'confirm', 'echo', 'link', 'slow'];
    assert.deepEqual(tools.map((t) => t.name).sort(),
      [...names.map((n) => `alpha__${n}`), ...[...names, 'secret'].sort().map((n) => `beta__${n}`)]);
    const echo = tools.find((t) => t.name === 'beta__echo');
    assert.equal(echo.description, 'echo from beta');
    assert.deepEqual(Object.keys(echo.inputSchema.properties), ['text']);
  });

  it('tools/call: routed to the owning backend with its own name; results as the server gave them', async () => {
    assert.deepEqual(texts(await client.callTool({ name: 'alpha__echo', arguments: { text: 'hi' } })), ['alpha: hi']);
    assert.deepEqual(texts(await client.callTool({ name: 'beta__echo', arguments: { text: 'yo' } })), ['beta: yo']);
    const sum = await client.callTool({ name: 'beta__add', arguments: { a: 2, b: 40 } });
    assert.deepEqual(sum.structuredContent, { sum: 42 });
    const call = beta.requests.findLast((q) => q.body?.method === 'tools/call');
    assert.equal(call.body.params.name, 'add');
    // the version the session negotiated reaches the backends, as the client states it
    assert.equal(call.headers['mcp-protocol-version'], client.getNegotiatedProtocolVersion?.() ?? call.headers['mcp-protocol-version']);
    assert.match(call.headers['mcp-protocol-version'], /^20\d\d-\d\d-\d\d$/);
  });

  it('refusals as upstream: a tool outside the selector (400, never sent), an unknown prefix (404), no prefix (400)', async () => {
    const before = alpha.requests.length;
    await assert.rejects(client.callTool({ name: 'alpha__secret', arguments: {} }), refused(400, 'invalid tool name: secret'));
    assert.equal(alpha.requests.length, before, 'the backend never saw it');
    await assert.rejects(client.callTool({ name: 'gamma__echo', arguments: {} }), refused(404, 'unknown backend gamma'));
    await assert.rejects(client.callTool({ name: 'echo', arguments: {} }), refused(400, 'invalid tool name echo'));
  });

  it('API keys: injected per backend (Bearer in Authorization, or the header named); the client\'s never forwarded', async () => {
    const a = alpha.requests.filter((q) => q.method === 'POST');
    const b = beta.requests.filter((q) => q.method === 'POST');
    assert.ok(a.length > 0 && b.length > 0);
    for (const q of a) assert.equal(q.headers.authorization, `Bearer ${ALPHA_KEY}`);
    for (const q of b) {
      assert.equal(q.headers['x-api-key'], BETA_KEY);
      assert.equal(q.headers.authorization, undefined);
    }
  });

  it('prompts and resources: listed with prefixes, fetched from their backend', async () => {
    const { prompts } = await client.listPrompts();
    assert.deepEqual(prompts.map((p) => p.name).sort(), ['alpha__greet', 'beta__greet']);
    const got = await client.getPrompt({ name: 'beta__greet', arguments: { who: 'Ada' } });
    assert.equal(got.messages[0].content.text, 'beta greets Ada');
    const { resources } = await client.listResources();
    assert.deepEqual(resources.map((r) => r.uri).sort(), ['alpha+file:///alpha/readme.txt', 'beta+file:///beta/readme.txt']);
    assert.deepEqual(resources.map((r) => r.name).sort(), ['alpha__readme', 'beta__readme']);
    const read = await client.readResource({ uri: 'alpha+file:///alpha/readme.txt' });
    assert.deepEqual(read.contents, [{ uri: 'alpha+file:///alpha/readme.txt', text: 'the alpha readme' }]);
    // a resource link in a tool result names the resource as the client can read it
    const link = await client.callTool({ name: 'beta__link', arguments: {} });
    assert.equal(link.content[0].uri, 'beta+file:///beta/readme.txt');
    assert.equal((await client.readResource({ uri: link.content[0].uri })).contents[0].text, 'the beta readme');
  });

  it('a server asks the client in the middle of a call (sampling, elicitation): the answers find their way back', async () => {
    // difference: mcp-server-request-ids (every server request re-identified)
    const sampled = await client.callTool({ name: 'alpha__ask', arguments: { question: 'the meaning' } });
    assert.deepEqual(texts(sampled), ['alpha sampled: answer to the meaning']);
    const confirmed = await client.callTool({ name: 'beta__confirm', arguments: {} });
    assert.deepEqual(texts(confirmed), ['beta accept: {"ok":true}']);
    // the server's request reached the client with an id that names the backend
    const answer = alpha.requests.find((q) => q.body && !q.body.method && q.body.result?.model === 'test-model');
    assert.ok(answer, 'the client\'s answer was relayed to alpha');
    assert.ok(!String(answer.body.id).includes('__'), 'with the id alpha gave its request');
  });

  it('progress notifications stream while the call runs', async () => {
    const seen = [];
    const r = await client.callTool({ name: 'beta__slow', arguments: {} }, undefined, { onprogress: (p) => seen.push(p.progress) });
    assert.deepEqual(texts(r), ['beta done']);
    assert.deepEqual(seen, [1, 2, 3]);
  });

  it('the GET stream relays what servers send outside any call, with heartbeats', async () => {
    const before = notices.resources;
    await client.callTool({ name: 'alpha__announce', arguments: {} });
    await waitFor(() => notices.resources > before, 5000, 'notifications/resources/list_changed on the GET stream');
    // a raw listener: 202, an event stream, pings every 200 ms (MCP_PROXY_HEARTBEAT_INTERVAL)
    const ac = new AbortController();
    const res = await fetch(`${gw.base}/mcp`, { headers: { accept: 'text/event-stream', 'mcp-session-id': transport.sessionId }, signal: ac.signal });
    assert.equal(res.status, 202);
    assert.match(res.headers.get('content-type'), /^text\/event-stream/);
    const reader = res.body.getReader();
    let text = '';
    const until = Date.now() + 3000;
    while ((text.match(/"method":"ping"/g) ?? []).length < 2 && Date.now() < until) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString();
    }
    ac.abort();
    assert.ok((text.match(/"method":"ping"/g) ?? []).length >= 2, text);
    assert.match(text, /"id":"aigw-server-to-client-ping[0-9a-f-]{36}"/);
  });

  it('a body over the MCP limit is 413 and never reaches a backend', async () => {
    const before = alpha.requests.length + beta.requests.length;
    const r = await fetch(`${gw.base}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': transport.sessionId },
      body: JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'alpha__echo', arguments: { text: 'x'.repeat(5 * 1024 * 1024) } } }),
    });
    assert.equal(r.status, 413);
    assert.equal(await r.text(), 'request body too large');
    assert.equal(alpha.requests.length + beta.requests.length, before);
  });

  it('ping is answered by the gateway', async () => {
    assert.deepEqual(await client.ping(), {});
  });

  it('the access log names the MCP method, tool and backend', async () => {
    await client.callTool({ name: 'alpha__add', arguments: { a: 1, b: 2 } });
    const line = await gw.logLine((l) => l['mcp.method.name'] === 'tools/call' && l['mcp.provider.name'] === 'alpha' && l['mcp.tool.name'] === 'add');
    assert.equal(line.path, '/mcp');
    assert.equal(line.status, 200);
    assert.equal(line.route_name, 'default/tools');
    assert.ok(!JSON.stringify(gw.logs).includes(ALPHA_KEY), 'no key in the log');
  });

  it('upstream\'s MCP metrics: method counts by outcome and backend, durations, capabilities, progress', async () => {
    const bad = await client.callTool({ name: 'alpha__add', arguments: { a: 'not a number', b: 1 } });
    assert.equal(bad.isError, true);
    // (a request's metrics are recorded once its answer is written: the scrape may come first)
    let text = '';
    await waitFor(async () => {
      text = await (await fetch(`${gw.admin}/metrics`)).text();
      return /status="failed"/.test(text);
    }, 5000, 'the failed tool call in the metrics');
    const value = (re) => Number((text.match(re) ?? [])[1] ?? NaN);
    assert.ok(value(/^mcp_method_count_total\{mcp_backend="alpha",mcp_method_name="tools\/call",status="success"\} (\d+)$/m) >= 3, text);
    assert.equal(value(/^mcp_method_count_total\{mcp_backend="alpha",mcp_method_name="tools\/call",status="failed"\} (\d+)$/m), 1);
    assert.ok(!/mcp_backend="gamma"/.test(text), 'no series for a backend the client made up');
    assert.ok(value(/^mcp_method_count_total\{mcp_method_name="tools\/call",status="error"\} (\d+)$/m) >= 3, 'the refusals');
    assert.ok(value(/^mcp_request_duration_count\{mcp_method_name="tools\/list"\} (\d+)$/m) >= 1);
    assert.equal(value(/^mcp_initialization_duration_count (\d+)$/m), 1);
    assert.equal(value(/^mcp_capabilities_negotiated_total\{capability_side="client",capability_type="sampling"\} (\d+)$/m), 1);
    assert.equal(value(/^mcp_capabilities_negotiated_total\{capability_side="server",capability_type="tools"\} (\d+)$/m), 1);
    assert.ok(value(/^mcp_progress_notifications_total (\d+)$/m) >= 3);
  });

  it('a config reload during a session: the same session sees the new selector, told by tools/list_changed', async () => {
    const before = notices.tools;
    writeFileSync(gw.configPath, config(gw.port, alpha, beta, { alphaSelector: '{include: [echo]}' }));
    // difference: mcp-tools-changed-notification (a notification the SDK's handler receives)
    await waitFor(() => notices.tools > before, 10000, 'notifications/tools/list_changed');
    await waitFor(async () => {
      const { tools } = await client.listTools();
      return tools.filter((t) => t.name.startsWith('alpha__')).map((t) => t.name).join() === 'alpha__echo';
    }, 10000, 'the reloaded selector');
    assert.deepEqual(texts(await client.callTool({ name: 'alpha__echo', arguments: { text: 'still here' } })), ['alpha: still here']);
    await assert.rejects(client.callTool({ name: 'alpha__add', arguments: { a: 1, b: 1 } }), refused(400, 'invalid tool name: add'));
  });

  it('a client keeps its session across a gateway restart with the same seed', async () => {
    const sid = transport.sessionId;
    await gw.stop();
    gw = await startAigw({
      port: gw.port,
      config: (port) => config(port, alpha, beta, { alphaSelector: '{include: [echo]}' }),
      args: ['--mcp-session-encryption-seed', SEED],
    });
    assert.equal(transport.sessionId, sid);
    assert.deepEqual(texts(await client.callTool({ name: 'beta__echo', arguments: { text: 'after restart' } })), ['beta: after restart']);
  });

  it('a session id from another seed, or altered, is refused (400)', async () => {
    const other = new StreamableHTTPClientTransport(new URL(`${gw.base}/mcp`), { sessionId: 'bm90IGEgc2Vzc2lvbg==' });
    const c = new Client({ name: 'x', version: '1' });
    await assert.rejects(
      (async () => {
        await other.start();
        await other.send({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} });
      })(),
      refused(400, 'invalid session ID'),
    );
    void c;
  });

  it('a backend that goes away mid-session: the others still serve, its calls fail cleanly', async () => {
    await beta.close();
    assert.deepEqual(texts(await client.callTool({ name: 'alpha__echo', arguments: { text: 'alone' } })), ['alpha: alone']);
    await assert.rejects(client.callTool({ name: 'beta__echo', arguments: { text: 'x' } }), refused(500, 'call to beta failed'));
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name), ['alpha__echo']);
  });

  it('a body no rule could judge is refused: a forged answer carrying a method, duplicate keys (400, never relayed)', async () => {
    const raw = (body) => fetch(`${gw.base}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': transport.sessionId },
      body,
    });
    // (Only tools/call bodies count: a session's own traffic — its GET stream, notifications —
    // may reach the backend meanwhile.)
    const calls = () => alpha.requests.filter((q) => q.method === 'POST' && JSON.stringify(q.body ?? null).includes('tools/call')).length;
    const before = calls();
    // parsers disagree on which duplicate wins: the servers run the last one
    let r = await raw('{"jsonrpc":"2.0","id":"MQ==__s__alpha","method":0,"method":"tools/call","params":{"name":"secret","arguments":{}}}');
    assert.equal(r.status, 400);
    r = await raw('{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"alpha__echo","arguments":{"text":"a"},"arguments":{"text":"b"}}}');
    assert.equal(r.status, 400);
    assert.match(await r.text(), /a key appears twice/);
    // a tool name far longer than any real one: refused, and the gateway still serves
    r = await raw(JSON.stringify({ jsonrpc: '2.0', id: 10, method: 'tools/call', params: { name: `alpha__${'a'.repeat(1 << 20)}`, arguments: {} } }));
    assert.equal(r.status, 400);
    assert.equal(calls(), before, 'none of them reached the backend');
    assert.deepEqual(await client.ping(), {});
  });

  it('a client answer that names no backend is refused (400)', async () => {
    const r = await fetch(`${gw.base}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': transport.sessionId },
      body: JSON.stringify({ jsonrpc: '2.0', id: 'nobackend', result: {} }),
    });
    assert.equal(r.status, 400);
    assert.match(await r.text(), /invalid response ID format/);
  });

  it('a backend that lost the session answers 404, and so does the gateway: the client initializes again', async () => {
    const sid = decryptSession(transport.sessionId).split('@')[2].split(',')
      .map((e) => e.split(':')).find(([n]) => n === 'alpha')[1];
    await alpha.sessions.get(Buffer.from(sid, 'base64').toString()).close();
    await assert.rejects(client.callTool({ name: 'alpha__echo', arguments: { text: 'x' } }), refused(404, 'session not found at alpha'));
  });

  it('closing the session closes it at every backend that is still there', async () => {
    const sid = decryptSession(transport.sessionId).split('@')[2].split(',')
      .map((e) => e.split(':')).find(([n]) => n === 'alpha')[1];
    await transport.terminateSession();
    await waitFor(() => alpha.closed.includes(Buffer.from(sid, 'base64').toString()), 5000, 'alpha session closed');
    assert.equal(alpha.sessions.size, 0);
  });
});

describe('MCP backends that compress their answers (gzip and br), as upstream decodes them', () => {
  let gz;
  let br;
  let gw;
  let client;
  before(async () => {
    gz = await startMcpServer({ name: 'gz', compress: 'gzip' });
    br = await startMcpServer({ name: 'br', compress: 'br' });
    gw = await startAigw({
      config: (port) => gatewayYaml(port) + `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: MCPRoute
metadata: {name: packed, namespace: default}
spec:
  parentRefs: [{name: aigw}]
  backendRefs: [{name: gz}, {name: br}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: gz, namespace: default}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: ${gz.port}}}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: br, namespace: default}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: ${br.port}}}]
`,
      args: ['--mcp-session-encryption-seed', SEED],
    });
    ({ client } = await connect(gw));
  });
  after(async () => {
    await client?.close().catch(() => {});
    await gw?.stop();
    await gz?.close();
    await br?.close();
  });

  it('the gateway asks for gzip and br, and every answer arrives decoded', async () => {
    const init = gz.requests.find((q) => q.body?.method === 'initialize');
    assert.equal(init.headers['accept-encoding'], 'gzip, br');
    const names = (await client.listTools()).tools.map((t) => t.name);
    for (const n of ['gz__echo', 'br__echo', 'gz__add', 'br__add']) assert.ok(names.includes(n), names.join(' '));
    assert.deepEqual(texts(await client.callTool({ name: 'gz__echo', arguments: { text: 'zipped' } })), ['gz: zipped']);
    assert.deepEqual(texts(await client.callTool({ name: 'br__echo', arguments: { text: 'brotli' } })), ['br: brotli']);
    const prompts = (await client.listPrompts()).prompts.map((p) => p.name);
    assert.deepEqual(prompts.sort(), ['br__greet', 'gz__greet']);
  });

  it('a compressed event stream is decoded as it flows: progress arrives before the answer', async () => {
    for (const name of ['gz__slow', 'br__slow']) {
      const seen = [];
      const r = await client.callTool({ name, arguments: {} }, undefined, { onprogress: (p) => seen.push(p.progress) });
      assert.deepEqual(seen, [1, 2, 3], name);
      assert.deepEqual(texts(r), [`${name.split('__')[0]} done`]);
    }
  });

  it('a compressed GET stream is decoded too', async () => {
    const before = notices.resources;
    await client.callTool({ name: 'br__announce', arguments: {} });
    await waitFor(() => notices.resources > before, 5000, 'notifications/resources/list_changed from br');
    const after = notices.resources;
    await client.callTool({ name: 'gz__announce', arguments: {} });
    await waitFor(() => notices.resources > after, 5000, 'notifications/resources/list_changed from gz');
  });
});
