// One lifecycle, two hosts, for MCP: `aigw extproc -mcpAddr` serves the MCPRoute that `aigw
// translate` wrote into the filter configuration's mcpConfig, behind an emulated Envoy, as
// upstream's sidecar does. Envoy's two parts are played here for real over HTTP: its main
// HTTPRoute (the client's requests reach the proxy with x-ai-eg-mcp-route set) and its backend
// listener, which routes each backend call by x-ai-eg-mcp-backend to the MCP server, rewrites the
// path and injects the backend's key, as the generated per-backend HTTPRoutes tell it. The
// official MCP SDK client and servers on both ends; the same answers as `aigw run` gives.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import readline from 'node:readline';
import { spawn } from 'node:child_process';
import yaml from 'js-yaml';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { AIGW_BIN, SLOW, freePort, runAigw, startAigw, gatewayYaml } from '../lib/harness.mjs';
import { startMcpServer } from '../lib/mcpserver.mjs';

const ALPHA_KEY = 'alpha-key-from-envoy';
const SEED = 'extproc-mcp-seed';

function config(port, alpha, beta) {
  return gatewayYaml(port) + `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: MCPRoute
metadata: {name: tools, namespace: default}
spec:
  parentRefs: [{name: aigw}]
  backendRefs:
    - name: alpha
      toolSelector: {exclude: [secret]}
      securityPolicy: {apiKey: {inline: ${ALPHA_KEY}}}
    - name: beta
  securityPolicy:
    authorization:
      defaultAction: Deny
      rules:
        - cel: request.mcp.backend == "alpha"
        - cel: request.mcp.tool == "add"
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
`;
}

// Envoy's backend listener, configured from the translated per-backend HTTPRoutes: the route
// whose header matches, its ReplaceFullPath, its RequestHeaderModifier, then the Backend.
function startBackendListener(docs, ports) {
  const seen = [];
  const routes = docs.filter((d) => d?.kind === 'HTTPRoute' && d.metadata.name.startsWith('ai-eg-mcp-br-'));
  const server = http.createServer(async (req, res) => {
    seen.push({ method: req.method, url: req.url, headers: req.headers });
    const rule = routes.map((r) => r.spec.rules[0]).find((r) => r.matches[0].headers.every((h) => req.headers[h.name] === h.value));
    if (!rule) {
      res.writeHead(404).end('no route');
      return;
    }
    const headers = { ...req.headers };
    for (const f of rule.filters) {
      for (const h of f.requestHeaderModifier?.set ?? []) headers[h.name.toLowerCase()] = h.value;
    }
    const target = rule.filters.find((f) => f.type === 'URLRewrite').urlRewrite.path.replaceFullPath;
    const upstream = http.request({ host: '127.0.0.1', port: ports[rule.backendRefs[0].name], method: req.method, path: target, headers }, (up) => {
      res.writeHead(up.statusCode, up.headers);
      up.pipe(res);
    });
    req.pipe(upstream);
    res.on('close', () => upstream.destroy());
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, seen, port: server.address().port })));
}

async function connect(url, headers = {}) {
  const client = new Client({ name: 'aigw-e2e', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  await client.connect(transport);
  return { client, transport };
}
const texts = (r) => r.content.map((c) => c.text);

describe('MCP under aigw extproc -mcpAddr, behind an emulated Envoy', () => {
  let alpha;
  let beta;
  let listener;
  let child;
  let mcpPort;
  let dir;
  let docs;
  const stderr = [];

  before(async () => {
    alpha = await startMcpServer({ name: 'alpha', key: { header: 'authorization', value: `Bearer ${ALPHA_KEY}` } });
    beta = await startMcpServer({ name: 'beta' });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aigw-mcp-extproc-'));
    const input = path.join(dir, 'config.yaml');
    fs.writeFileSync(input, config(1975, alpha, beta));
    const tr = await runAigw(['translate', input]);
    assert.equal(tr.code, 0, tr.stderr);
    docs = yaml.loadAll(tr.stdout);
    listener = await startBackendListener(docs, { alpha: alpha.port, beta: beta.port });
    // The filter configuration as the controller writes it, pointed at this backend listener.
    const secret = docs.find((d) => d?.kind === 'Secret' && d.stringData?.['filter-config.yaml']);
    const filterConfig = secret.stringData['filter-config.yaml'].replace('http://127.0.0.1:10088', `http://127.0.0.1:${listener.port}`);
    fs.writeFileSync(path.join(dir, 'filter-config.yaml'), filterConfig);
    mcpPort = await freePort();
    child = spawn(AIGW_BIN, ['extproc', '-configPath', path.join(dir, 'filter-config.yaml'), '-extProcAddr', `127.0.0.1:${await freePort()}`,
      '-adminPort', String(await freePort()), '-mcpAddr', `127.0.0.1:${mcpPort}`, '-mcpSessionEncryptionSeed', SEED,
      '-mcpSessionEncryptionIterations', '1000'], { stdio: ['ignore', 'ignore', 'pipe'] });
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ready line: ${stderr.join('\n')}`)), 10000 * SLOW);
      readline.createInterface({ input: child.stderr }).on('line', (l) => {
        stderr.push(l);
        if (l.includes('is ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on('exit', (code) => reject(new Error(`extproc exited ${code}: ${stderr.join('\n')}`)));
    });
  });
  after(async () => {
    child?.kill('SIGTERM');
    listener?.server.close();
    await alpha?.close();
    await beta?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const ROUTE = { 'x-ai-eg-mcp-route': 'default/tools' }; // what Envoy's main HTTPRoute sets

  it('serves the route: tools of both backends, prefixed, selected and authorized as aigw run does', async () => {
    const { client } = await connect(`http://127.0.0.1:${mcpPort}/mcp`, ROUTE);
    try {
      const names = (await client.listTools()).tools.map((t) => t.name).sort();
      assert.deepEqual(names, ['alpha__add', 'alpha__announce', 'alpha__ask', 'alpha__confirm', 'alpha__echo', 'alpha__link', 'alpha__slow', 'beta__add']);
      assert.deepEqual(texts(await client.callTool({ name: 'alpha__echo', arguments: { text: 'via envoy' } })), ['alpha: via envoy']);
      const sum = await client.callTool({ name: 'beta__add', arguments: { a: 1, b: 2 } });
      assert.deepEqual(sum.structuredContent, { sum: 3 });
      await assert.rejects(client.callTool({ name: 'beta__echo', arguments: { text: 'no' } }), (e) => e.code === 403);

      // The same configuration under aigw run: the same tools.
      const gw = await startAigw({ config: (port) => config(port, alpha, beta), args: ['--mcp-session-encryption-seed', SEED] });
      try {
        const direct = await connect(`${gw.base}/mcp`);
        const same = (await direct.client.listTools()).tools.map((t) => t.name).sort();
        assert.deepEqual(same, names);
        await direct.client.close();
      } finally {
        await gw.stop();
      }
    } finally {
      await client.close();
    }
  });

  it('every backend call goes to the backend listener, named by its headers; Envoy injects the key', async () => {
    const { client } = await connect(`http://127.0.0.1:${mcpPort}/mcp`, ROUTE);
    try {
      await client.callTool({ name: 'alpha__echo', arguments: { text: 'meta' } });
      const call = listener.seen.findLast((q) => q.headers['x-ai-eg-mcp-metadata-method'] === 'tools/call');
      assert.ok(call, JSON.stringify(listener.seen.map((q) => q.headers)));
      assert.equal(call.url, '/');
      assert.equal(call.headers['x-ai-eg-mcp-backend'], 'alpha');
      assert.equal(call.headers['x-ai-eg-mcp-route'], 'default/tools');
      assert.equal(call.headers['x-ai-eg-mcp-metadata-tool-name'], 'echo');
      assert.ok(call.headers['x-ai-eg-mcp-metadata-request-id']);
      assert.equal(call.headers.authorization, undefined, 'the proxy holds no backend key: Envoy injects it');
      const atAlpha = alpha.requests.findLast((q) => q.body?.method === 'tools/call');
      assert.equal(atAlpha.headers.authorization, `Bearer ${ALPHA_KEY}`);
      assert.equal(atAlpha.path, '/mcp');
    } finally {
      await client.close();
    }
  });

  it('a request Envoy names no route for is 500 "missing route header", as upstream', async () => {
    const r = await fetch(`http://127.0.0.1:${mcpPort}/anything`, {
      method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'c', version: '1' } } }),
    });
    assert.equal(r.status, 500);
    assert.equal(await r.text(), 'missing route header');
  });

  it('later requests are routed by their session when the header is absent', async () => {
    const { client, transport } = await connect(`http://127.0.0.1:${mcpPort}/mcp`, ROUTE);
    try {
      const r = await fetch(`http://127.0.0.1:${mcpPort}/mcp`, {
        method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': transport.sessionId },
        body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'alpha__echo', arguments: { text: 'by session' } } }),
      });
      assert.equal(r.status, 200);
      assert.match(await r.text(), /alpha: by session/);
    } finally {
      await client.close();
    }
  });

  it('a filter configuration with a bad mcpConfig is refused, naming the field', async () => {
    const bad = path.join(dir, 'bad.yaml');
    fs.writeFileSync(bad, 'mcpConfig:\n  backendListenerAddr: http://127.0.0.1:1\n  routes:\n  - name: default/x\n    backends:\n    - name: a\n      toolSelector: {includeRegex: ["("]}\nuuid: x\nversion: dev\n');
    const r = await runAigw(['extproc', '-configPath', bad, '-extProcAddr', '127.0.0.1:0', '-adminPort', '0', '-mcpAddr', '127.0.0.1:0']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /mcpConfig\.routes\[0\]\.backends\[0\]\.toolSelector\.includeRegex\[0\]: invalid regex/);
  });
});
