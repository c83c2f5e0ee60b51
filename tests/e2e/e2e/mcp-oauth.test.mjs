// MCPRoute client authentication (securityPolicy.oauth) in `aigw run`: JWTs checked against a
// local JWKS (RS256) and one discovered from the authorization server's RFC 8414 metadata
// (ES256), the exact issuer, audiences, expiry; upstream's 401 with WWW-Authenticate and the
// RFC 9728 protected-resource metadata; claimToHeaders; sessions bound to the verified subject.
// Driven by the official MCP SDK client against a real MCP server built with the same SDK.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startAigw, gatewayYaml } from '../lib/harness.mjs';
import { startMcpServer } from '../lib/mcpserver.mjs';

const ISSUER = 'https://auth.example.com';
const RESOURCE = 'https://gw.example.com/mcp';
const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const other = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = (key, kid, alg) => ({ ...key.publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' });

const b64url = (s) => Buffer.from(s).toString('base64url');
function sign({ key = rsa.privateKey, kid = 'k1', alg = 'RS256', ...claims }) {
  const now = Math.floor(Date.now() / 1000);
  const payload = { iss: ISSUER, aud: RESOURCE, sub: 'alice', iat: now, exp: now + 600, ...claims };
  const data = `${b64url(JSON.stringify({ alg, kid, typ: 'JWT' }))}.${b64url(JSON.stringify(payload))}`;
  const sig = alg.startsWith('ES')
    ? crypto.sign('sha256', Buffer.from(data), { key, dsaEncoding: 'ieee-p1363' })
    : crypto.sign('sha256', Buffer.from(data), key);
  return `${data}.${sig.toString('base64url')}`;
}

// An authorization server: its RFC 8414 metadata, naming its JWKS.
async function startAuthServer() {
  const requests = [];
  const server = http.createServer((req, res) => {
    requests.push(req.url);
    const base = `http://127.0.0.1:${server.address().port}`;
    if (req.url === '/.well-known/oauth-authorization-server') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
        issuer: base, authorization_endpoint: `${base}/authorize`, token_endpoint: `${base}/token`,
        jwks_uri: `${base}/jwks.json`, response_types_supported: ['code'],
      }));
    } else if (req.url === '/jwks.json') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk(ec, 'ec1', 'ES256')] }));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, requests, issuer: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

function config(port, mcp, auth) {
  return (
    gatewayYaml(port) +
    `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: MCPRoute
metadata: {name: local, namespace: default}
spec:
  parentRefs: [{name: aigw}]
  path: /mcp
  backendRefs: [{name: alpha}]
  securityPolicy:
    oauth:
      issuer: ${ISSUER}
      audiences: [${RESOURCE}]
      jwks:
        localJWKS:
          type: ValueRef
          valueRef: {kind: ConfigMap, name: jwks}
      protectedResourceMetadata:
        resource: ${RESOURCE}
        resourceName: The test tools
        scopesSupported: [tools, admin]
      claimToHeaders: [{claim: email, header: x-user-email}]
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: MCPRoute
metadata: {name: guarded, namespace: default}
spec:
  parentRefs: [{name: aigw}]
  path: /guarded
  backendRefs: [{name: alpha}]
  securityPolicy:
    oauth:
      issuer: ${ISSUER}
      jwks: {localJWKS: {type: ValueRef, valueRef: {kind: ConfigMap, name: jwks}}}
      protectedResourceMetadata: {resource: "https://gw.example.com/guarded", scopesSupported: [tools]}
    authorization:
      defaultAction: Deny
      rules:
        - cel: "request.mcp.tool == 'add' && request.mcp.params.arguments.a < 10"
        - cel: "request.mcp.tool == 'slow' && request.auth.jwt.claims.nothere == 'x'"
        - source: {jwt: {scopes: [tools]}}
          target: {tools: [{backend: alpha, tool: echo}]}
        - source: {jwt: {claims: [{name: org.role, values: [admin]}]}}
        - source: {jwt: {claims: [{name: groups, valueType: StringArray, values: [blocked]}]}}
          action: Deny
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: MCPRoute
metadata: {name: keyed, namespace: default}
spec:
  parentRefs: [{name: aigw}]
  path: /keyed
  backendRefs: [{name: alpha}]
  securityPolicy:
    apiKeyAuth:
      credentialRefs: [{name: client-keys}]
      extractFrom: [{headers: [x-api-key]}, {params: [api_key]}]
      forwardClientIDHeader: x-client-id
---
apiVersion: v1
kind: Secret
metadata: {name: client-keys, namespace: default}
stringData: {team-a: key-aaa, team-b: key-bbb}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: jwks, namespace: default}
data:
  jwks: '${JSON.stringify({ keys: [jwk(rsa, 'k1', 'RS256')] })}'
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: MCPRoute
metadata: {name: remote, namespace: default}
spec:
  parentRefs: [{name: aigw}]
  path: /remote
  backendRefs: [{name: alpha}]
  securityPolicy:
    oauth:
      issuer: ${auth.issuer}
      protectedResourceMetadata: {resource: "http://127.0.0.1:${port}/remote"}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: alpha, namespace: default}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: ${mcp.port}}}]
`
  );
}

async function connect(url, token) {
  const client = new Client({ name: 'oauth-e2e', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { authorization: `Bearer ${token}`, 'x-user-email': 'forged@evil.example' } },
  });
  await client.connect(transport);
  return { client, transport };
}

describe('MCPRoute OAuth: JWTs checked by aigw run', () => {
  let mcp;
  let auth;
  let gw;

  before(async () => {
    mcp = await startMcpServer({ name: 'alpha' });
    auth = await startAuthServer();
    gw = await startAigw({ config: (port) => config(port, mcp, auth), args: ['--mcp-session-encryption-seed', 'oauth-seed'] });
  });
  after(async () => {
    await gw?.stop();
    await mcp?.close();
    await auth?.close();
  });

  const post = (path, token, body = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'c', version: '1' } } }) =>
    fetch(`${gw.base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });

  it('no token: 401 with upstream\'s WWW-Authenticate naming the resource metadata', async () => {
    const r = await post('/mcp');
    assert.equal(r.status, 401);
    assert.equal(r.headers.get('www-authenticate'),
      'Bearer error="invalid_token", error_description="The access token is missing or invalid", ' +
      'resource_metadata="https://gw.example.com/.well-known/oauth-protected-resource/mcp", scope="tools admin"');
    assert.equal(await r.text(), 'Jwt is missing');
  });

  it('a valid token: the SDK client works; the claim reaches the backend as a header, a forged copy never', async () => {
    const { client } = await connect(`${gw.base}/mcp`, sign({ email: 'alice@example.com' }));
    const { tools } = await client.listTools();
    assert.ok(tools.some((t) => t.name === 'alpha__echo'));
    const call = mcp.requests.findLast((q) => q.body?.method === 'tools/list');
    assert.equal(call.headers['x-user-email'], 'alice@example.com');
    assert.equal(call.headers.authorization, undefined, 'the client token is not forwarded');
    await client.close();
  });

  it('a claim that could not be a header value (CR/LF in it) is not sent to the backends', async () => {
    const { client } = await connect(`${gw.base}/mcp`, sign({ email: 'a@example.com\r\nx-injected: 1' }));
    await client.listTools();
    const call = mcp.requests.findLast((q) => q.body?.method === 'tools/list');
    assert.equal(call.headers['x-user-email'], undefined);
    assert.equal(call.headers['x-injected'], undefined);
    await client.close();
  });

  it('refused tokens: expired, another issuer (trailing slash), another audience, a key the JWKS lacks, a forged signature', async () => {
    const now = Math.floor(Date.now() / 1000);
    const cases = [
      [sign({ exp: now - 3600 }), 'Jwt is expired'],
      [sign({ iss: `${ISSUER}/` }), 'Jwt issuer is not configured'],
      [sign({ aud: 'https://elsewhere.example.com' }), 'Audiences in Jwt are not allowed'],
      [sign({ kid: 'unknown' }), 'Jwks doesn\'t have key to match kid or alg from Jwt'],
      [sign({ key: other.privateKey }), 'Jwt verification fails'],
      ['not.a.jwt', 'Jwt is not in the form of Header.Payload.Signature'],
    ];
    for (const [token, message] of cases) {
      const r = await post('/mcp', token);
      assert.equal(r.status, 401, message);
      assert.equal(await r.text(), message);
      assert.match(r.headers.get('www-authenticate'), /resource_metadata=/);
    }
  });

  it('a session is bound to its subject: another user presenting it gets 401', async () => {
    const { transport, client } = await connect(`${gw.base}/mcp`, sign({}));
    const r = await fetch(`${gw.base}/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json', accept: 'application/json, text/event-stream',
        authorization: `Bearer ${sign({ sub: 'mallory' })}`, 'mcp-session-id': transport.sessionId,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
    });
    assert.equal(r.status, 401);
    await client.close();
  });

  it('authorization: tools listed and callable by scope and claim; 403 with insufficient_scope otherwise', async () => {
    const names = async (token) => {
      const { client } = await connect(`${gw.base}/guarded`, token);
      const { tools } = await client.listTools();
      await client.close();
      return tools.map((t) => t.name).sort();
    };
    // the scope allows one tool: only it is listed, only it may be called
    assert.deepEqual(await names(sign({ scope: 'tools other' })), ['alpha__echo']);
    const { client } = await connect(`${gw.base}/guarded`, sign({ scope: 'tools' }));
    assert.equal((await client.callTool({ name: 'alpha__echo', arguments: { text: 'ok' } })).content[0].text, 'alpha: ok');
    await assert.rejects(client.callTool({ name: 'alpha__add', arguments: { a: 20, b: 2 } }), (e) => e.code === 403);
    await client.close();
    // an admin claim (nested) allows everything
    assert.ok((await names(sign({ org: { role: 'admin' } }))).length >= 5);
    // no scope: denied, and told which scope would do
    const { transport, client: c2 } = await connect(`${gw.base}/guarded`, sign({}));
    const r = await fetch(`${gw.base}/guarded`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream',
        authorization: `Bearer ${sign({})}`, 'mcp-session-id': transport.sessionId },
      body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'alpha__echo', arguments: { text: 'x' } } }),
    });
    assert.equal(r.status, 403);
    assert.equal(await r.text(), 'access denied');
    assert.equal(r.headers.get('www-authenticate'),
      'Bearer error="insufficient_scope", scope="tools", resource_metadata="https://gw.example.com/.well-known/oauth-protected-resource/guarded", ' +
      'error_description="The token is missing required scopes"');
    await c2.close();
    // CEL over the call's arguments: add is allowed below 10, refused above; a rule whose CEL
    // fails to evaluate (a claim the token lacks) denies, and hides the tool
    const { client: c3 } = await connect(`${gw.base}/guarded`, sign({}));
    assert.equal((await c3.callTool({ name: 'alpha__add', arguments: { a: 2, b: 3 } })).content[0].text, '5');
    await assert.rejects(c3.callTool({ name: 'alpha__add', arguments: { a: 50, b: 3 } }), (e) => e.code === 403);
    await assert.rejects(c3.callTool({ name: 'alpha__slow', arguments: {} }), (e) => e.code === 403);
    assert.ok(!(await c3.listTools()).tools.some((t) => t.name === 'alpha__slow'));
    await c3.close();
    const before = mcp.requests.length;
    assert.deepEqual(await names(sign({ groups: ['blocked', 'x'] })), []);
    assert.ok(!mcp.requests.slice(before).some((q) => q.body?.method === 'tools/call'), 'denied calls never reach the backend');
  });

  it('apiKeyAuth: a key from the Secrets in a header or the query; the client id forwarded, the key never', async () => {
    assert.equal((await post('/keyed')).status, 401);
    const wrong = await fetch(`${gw.base}/keyed`, { method: 'POST', headers: { 'x-api-key': 'nope', 'content-type': 'application/json' }, body: '{}' });
    assert.equal(wrong.status, 401);
    assert.equal(await wrong.text(), 'Client authentication failed.');
    const client = new Client({ name: 'keyed', version: '1' });
    const transport = new StreamableHTTPClientTransport(new URL(`${gw.base}/keyed`), { requestInit: { headers: { 'x-api-key': 'key-aaa' } } });
    await client.connect(transport);
    assert.ok((await client.listTools()).tools.length > 0);
    const q = mcp.requests.findLast((r) => r.body?.method === 'tools/list');
    assert.equal(q.headers['x-client-id'], 'team-a');
    assert.equal(q.headers['x-api-key'], undefined, 'the client key is not forwarded');
    // the same session presented by another client is 401
    const other = await fetch(`${gw.base}/keyed`, {
      method: 'POST',
      headers: { 'x-api-key': 'key-bbb', 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': transport.sessionId },
      body: JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/list' }),
    });
    assert.equal(other.status, 401);
    await client.close();
    const byQuery = new Client({ name: 'keyed-q', version: '1' });
    await byQuery.connect(new StreamableHTTPClientTransport(new URL(`${gw.base}/keyed?api_key=key-bbb`)));
    assert.ok((await byQuery.listTools()).tools.length > 0);
    assert.equal(mcp.requests.findLast((r) => r.body?.method === 'tools/list').headers['x-client-id'], 'team-b');
    await byQuery.close();
  });

  it('the protected-resource metadata (RFC 9728) at the well-known path of the route', async () => {
    const r = await fetch(`${gw.base}/.well-known/oauth-protected-resource/mcp`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    assert.deepEqual(await r.json(), {
      resource: RESOURCE, authorization_servers: [ISSUER], bearer_methods_supported: ['header'],
      resource_name: 'The test tools', scopes_supported: ['tools', 'admin'],
    });
  });

  it('a JWKS discovered from the authorization server\'s metadata (ES256); its metadata served at the route\'s well-known path', async () => {
    const { client } = await connect(`${gw.base}/remote`, sign({ iss: auth.issuer, alg: 'ES256', kid: 'ec1', key: ec.privateKey, aud: undefined }));
    assert.ok((await client.listTools()).tools.length > 0);
    await client.close();
    assert.ok(auth.requests.includes('/.well-known/oauth-authorization-server'));
    assert.ok(auth.requests.includes('/jwks.json'));
    const fetched = auth.requests.filter((u) => u === '/jwks.json').length;
    await post('/remote', sign({ iss: auth.issuer, alg: 'ES256', kid: 'ec1', key: ec.privateKey }));
    assert.equal(auth.requests.filter((u) => u === '/jwks.json').length, fetched, 'the keys are cached');
    const meta = await (await fetch(`${gw.base}/.well-known/oauth-authorization-server/remote`)).json();
    assert.equal(meta.jwks_uri, `${auth.issuer}/jwks.json`);
    // an RS256 token is refused there: the discovered set has only the EC key
    assert.equal((await post('/remote', sign({ iss: auth.issuer }))).status, 401);
  });
});
