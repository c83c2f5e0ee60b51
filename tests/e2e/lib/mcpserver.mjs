// A real MCP server for the gateway's tests, built with the official TypeScript SDK
// (@modelcontextprotocol/sdk): Streamable HTTP on node:http, stateful sessions, tools, prompts and
// resources named after the server, and optionally an API key it requires (a header or a query
// parameter), as a hosted MCP server does.
import http from 'node:http';
import zlib from 'node:zlib';
import crypto from 'node:crypto';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  isInitializeRequest, CreateMessageResultSchema, ElicitResultSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

function build(name) {
  const server = new McpServer({ name: `${name}-server`, version: '1.0.0' });
  server.registerTool('echo', { description: `echo from ${name}`, inputSchema: { text: z.string() } },
    async ({ text }) => ({ content: [{ type: 'text', text: `${name}: ${text}` }] }));
  server.registerTool('add', { description: 'adds two numbers', inputSchema: { a: z.number(), b: z.number() } },
    async ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }], structuredContent: { sum: a + b } }));
  server.registerTool('secret', { description: 'a tool the gateway should hide' },
    async () => ({ content: [{ type: 'text', text: `${name} secret` }] }));
  server.registerTool('link', { description: 'links a resource' },
    async () => ({ content: [{ type: 'resource_link', uri: `file:///${name}/readme.txt`, name: 'readme' }] }));
  // A tool that asks the client's model (sampling) in the middle of the call.
  server.registerTool('ask', { description: 'asks the client to sample', inputSchema: { question: z.string() } },
    async ({ question }, extra) => {
      const r = await extra.sendRequest({
        method: 'sampling/createMessage',
        params: { messages: [{ role: 'user', content: { type: 'text', text: question } }], maxTokens: 16 },
      }, CreateMessageResultSchema);
      return { content: [{ type: 'text', text: `${name} sampled: ${r.content.text}` }] };
    });
  // A tool that asks the user (elicitation).
  server.registerTool('confirm', { description: 'asks the user to confirm' }, async (extra) => {
    const r = await extra.sendRequest({
      method: 'elicitation/create',
      params: { message: 'Proceed?', requestedSchema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] } },
    }, ElicitResultSchema);
    return { content: [{ type: 'text', text: `${name} ${r.action}: ${JSON.stringify(r.content)}` }] };
  });
  // A tool that reports progress before it answers.
  server.registerTool('slow', { description: 'reports progress' }, async (extra) => {
    const token = extra._meta?.progressToken;
    for (let i = 1; i <= 3; i++) {
      if (token !== undefined) {
        await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: i, total: 3 } });
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    return { content: [{ type: 'text', text: `${name} done` }] };
  });
  // A notification not tied to any request: it travels on the session's GET stream.
  server.registerTool('announce', { description: 'announces a change of resources' }, async () => {
    server.sendResourceListChanged();
    return { content: [{ type: 'text', text: 'announced' }] };
  });
  server.registerPrompt('greet', { description: 'a greeting', argsSchema: { who: z.string() } },
    ({ who }) => ({ messages: [{ role: 'user', content: { type: 'text', text: `${name} greets ${who}` } }] }));
  server.registerResource('readme', `file:///${name}/readme.txt`, { mimeType: 'text/plain' },
    async (uri) => ({ contents: [{ uri: uri.href, text: `the ${name} readme` }] }));
  return server;
}

// Sends the response through a gzip or brotli stream, flushed after every write so that each SSE
// event leaves at once, with Content-Encoding set (as a server behind a compressing framework).
function compressResponse(res, kind) {
  const z = kind === 'br' ? zlib.createBrotliCompress() : zlib.createGzip();
  const write = res.write.bind(res);
  const end = res.end.bind(res);
  const writeHead = res.writeHead.bind(res);
  z.on('data', (d) => write(d));
  z.on('end', () => end());
  res.writeHead = (status, ...rest) => {
    const headers = rest.find((r) => r && typeof r === 'object') ?? {};
    for (const k of Object.keys(headers)) if (k.toLowerCase() === 'content-length') delete headers[k];
    res.removeHeader('content-length');
    return writeHead(status, { ...headers, 'content-encoding': kind });
  };
  res.write = (chunk, encoding, cb) => {
    z.write(chunk, typeof encoding === 'string' ? encoding : undefined);
    z.flush();
    if (typeof encoding === 'function') encoding();
    else if (typeof cb === 'function') cb();
    return true;
  };
  res.end = (chunk, encoding, cb) => {
    if (chunk && typeof chunk !== 'function') z.write(chunk, typeof encoding === 'string' ? encoding : undefined);
    z.end();
    for (const f of [chunk, encoding, cb]) if (typeof f === 'function') f();
    return res;
  };
}

// key: {header, value} or {query, value}: requests without it are 401.
// compress: 'gzip' or 'br' for clients that accept it.
export async function startMcpServer({ name, key, compress } = {}) {
  const sessions = new Map(); // session id → transport
  const requests = [];
  const closed = [];
  const httpServer = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    let raw = '';
    for await (const c of req) raw += c;
    const body = raw ? JSON.parse(raw) : undefined;
    requests.push({ method: req.method, path: url.pathname, query: url.search, headers: req.headers, body });
    if (key) {
      const got = key.header ? req.headers[key.header] : url.searchParams.get(key.query);
      if (got !== key.value) {
        res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'invalid api key' }));
        return;
      }
    }
    if (url.pathname !== '/mcp') {
      res.writeHead(404).end();
      return;
    }
    if (compress && (req.headers['accept-encoding'] ?? '').split(',').map((e) => e.trim()).includes(compress)) {
      compressResponse(res, compress);
    }
    const sid = req.headers['mcp-session-id'];
    let transport = sid ? sessions.get(sid) : undefined;
    if (!transport) {
      if (req.method !== 'POST' || !isInitializeRequest(body)) {
        res.writeHead(404, { 'content-type': 'application/json' })
          .end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null }));
        return;
      }
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => crypto.randomUUID(),
        onsessioninitialized: (id) => sessions.set(id, transport),
      });
      transport.onclose = () => {
        if (transport.sessionId) {
          sessions.delete(transport.sessionId);
          closed.push(transport.sessionId);
        }
      };
      await build(name).connect(transport);
    }
    await transport.handleRequest(req, res, body);
  });
  await new Promise((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  return {
    name,
    port: httpServer.address().port,
    requests,
    sessions,
    closed,
    async close() {
      for (const t of sessions.values()) await t.close().catch(() => {});
      httpServer.closeAllConnections();
      await new Promise((resolve) => httpServer.close(resolve));
    },
  };
}
