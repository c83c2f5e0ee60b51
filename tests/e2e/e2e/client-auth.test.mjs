// Client authentication with Envoy Gateway's SecurityPolicy in `aigw run`: API keys (from a
// Secret, in the header the SDKs send or a query parameter, the client id forwarded), JWTs
// (a local JWKS, a remote JWKS that rotates, claims to headers), basic auth (an htpasswd
// Secret). Refusals are 401s in the client's schema, raised by the official SDKs; the client's
// credential never reaches the provider; a route's own policy wins over its Gateway's.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, writeFileSync } from 'node:fs';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startAigw, gatewayYaml, runAigw, waitFor, SLOW } from '../lib/harness.mjs';
import { startFakeProviders } from '../../../tools/fakeproviders/server.mjs';
import { fakeBackendYaml as backend, securityPolicyYaml as backendPolicy } from '../lib/fakeconfig.mjs';

const ISSUER = 'https://issuer.example';
const local = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const remote1 = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const remote2 = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = (key, kid, alg) => ({ ...key.publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' });
const b64url = (s) => Buffer.from(s).toString('base64url');
function sign({ key = local.privateKey, kid = 'local-1', alg = 'RS256', iss = ISSUER, ...claims }) {
  const now = Math.floor(Date.now() / 1000);
  const payload = { iss, aud: 'aigw', sub: 'alice', iat: now, exp: now + 600, ...claims };
  const data = `${b64url(JSON.stringify({ alg, kid, typ: 'JWT' }))}.${b64url(JSON.stringify(payload))}`;
  const sig = alg.startsWith('ES')
    ? crypto.sign('sha256', Buffer.from(data), { key, dsaEncoding: 'ieee-p1363' })
    : crypto.sign('sha256', Buffer.from(data), key);
  return `${data}.${sig.toString('base64url')}`;
}
const sha = (pw) => `{SHA}${crypto.createHash('sha1').update(pw).digest('base64')}`;

// A JWKS server whose key set a test swaps (rotation), counting fetches.
function startJwks() {
  const st = { keys: [jwk(remote1, 'remote-1', 'ES256')], fetches: 0 };
  const server = http.createServer((req, res) => {
    st.fetches++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: st.keys }));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    st, port: server.address().port, close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  })));
}

const route = (name, model, ref, override) => `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: ${name}, namespace: default}
spec:
  parentRefs: [{name: aigw}]
  rules:
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: ${model}}]}]
      backendRefs: [{name: ${ref}, modelNameOverride: ${override}}]
`;

function config(port, fakePort, jwksPort) {
  return gatewayYaml(port) + route('chat', 'gpt-4o-mini', 'openai', 'gpt-4o-mini') +
    route('claude', 'claude-3-5-haiku-latest', 'anthropic', 'claude-3-5-haiku-latest') +
    route('jwt', 'jwt-model', 'openai', 'gpt-4o-mini') + route('basic', 'basic-model', 'openai', 'gpt-4o-mini') + `---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: fake, namespace: default}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: ${fakePort}}}]
` + backend('openai', '{name: OpenAI}') + backend('anthropic', '{name: Anthropic}') + `---
apiVersion: v1
kind: Secret
metadata: {name: anthropic-key, namespace: default}
stringData: {apiKey: sk-ant-test}
` + backendPolicy('anthropic-key', ['anthropic'], `  type: AnthropicAPIKey
  anthropicAPIKey: {secretRef: {name: anthropic-key}}
`) + `---
apiVersion: v1
kind: Secret
metadata: {name: client-keys, namespace: default}
stringData:
  team-a: sk-team-a-secret
  team-b: sk-team-b-secret
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: keys, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: aigw}]
  apiKeyAuth:
    credentialRefs: [{name: client-keys}]
    extractFrom:
      - headers: [authorization, x-api-key]
      - params: [key]
    forwardClientIDHeader: x-client-id
---
apiVersion: v1
kind: ConfigMap
metadata: {name: jwks, namespace: default}
data:
  jwks: '${JSON.stringify({ keys: [jwk(local, 'local-1', 'RS256')] })}'
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: tokens, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: jwt}]
  jwt:
    providers:
      - name: local
        issuer: ${ISSUER}
        audiences: [aigw]
        localJWKS: {type: ValueRef, valueRef: {kind: ConfigMap, name: jwks}}
        claimToHeaders: [{claim: team.name, header: x-team}]
      - name: remote
        issuer: https://remote.example
        remoteJWKS: {uri: 'http://127.0.0.1:${jwksPort}/jwks.json', cacheDuration: 600s}
---
apiVersion: v1
kind: Secret
metadata: {name: htpasswd, namespace: default}
stringData:
  .htpasswd: |
    bob:${sha('hunter2')}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: basic, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: basic}]
  basicAuth:
    users: {name: htpasswd}
    forwardUsernameHeader: x-user
`;
}

describe('aigw run: SecurityPolicy client authentication', () => {
  let fp;
  let jwks;
  let gw;
  before(async () => {
    fp = await startFakeProviders();
    jwks = await startJwks();
    gw = await startAigw({ config: (port) => config(port, fp.port, jwks.port) });
  });
  after(async () => {
    await gw?.stop();
    await fp?.close();
    await jwks?.close();
  });
  const lastRequest = () => fp.requests[fp.requests.length - 1];
  const chat = (model = 'gpt-4o-mini') => ({ model, messages: [{ role: 'user', content: 'hi' }] });

  it('an API key in Authorization (the OpenAI SDK) names its client, which the provider is told; the key is not forwarded', async () => {
    const client = new OpenAI({ baseURL: `${gw.base}/v1`, apiKey: 'sk-team-a-secret' });
    const before = fp.requests.length;
    const r = await client.chat.completions.create(chat());
    assert.ok(r.choices[0].message.content);
    assert.equal(fp.requests.length, before + 1);
    const up = lastRequest();
    assert.equal(up.headers['x-client-id'], 'team-a');
    assert.ok(!JSON.stringify(up.headers).includes('sk-team-a-secret'), 'the client key reached the provider');
    const line = await gw.logLine((l) => l.client_id === 'team-a');
    assert.equal(line.status, 200);
  });

  it('a wrong or missing API key is a 401 the OpenAI SDK raises as AuthenticationError, and nothing is sent', async () => {
    const before = fp.requests.length;
    for (const apiKey of ['sk-wrong', '']) {
      const client = new OpenAI({ baseURL: `${gw.base}/v1`, apiKey: apiKey || 'unused', defaultHeaders: apiKey ? {} : { authorization: null } });
      await assert.rejects(client.chat.completions.create(chat()), (e) => {
        assert.ok(e instanceof OpenAI.AuthenticationError, String(e));
        assert.equal(e.status, 401);
        assert.equal(e.code, 'invalid_api_key');
        assert.match(e.message, /Client authentication failed/);
        return true;
      });
    }
    assert.equal(fp.requests.length, before);
    // A client's own x-client-id never passes for the gateway's.
    const spoof = new OpenAI({ baseURL: `${gw.base}/v1`, apiKey: 'sk-team-b-secret', defaultHeaders: { 'x-client-id': 'team-a' } });
    await spoof.chat.completions.create(chat());
    assert.equal(lastRequest().headers['x-client-id'], 'team-b');
  });

  it('the Anthropic SDK authenticates with x-api-key; the provider gets the backend key, and a wrong key raises AuthenticationError', async () => {
    const client = new Anthropic({ baseURL: `${gw.base}/anthropic`, apiKey: 'sk-team-b-secret' });
    const msg = await client.messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(msg.type, 'message');
    const up = lastRequest();
    assert.equal(up.headers['x-api-key'], 'sk-ant-test');
    assert.equal(up.headers['x-client-id'], 'team-b');
    const bad = new Anthropic({ baseURL: `${gw.base}/anthropic`, apiKey: 'sk-nope' });
    await assert.rejects(bad.messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }), (e) => {
      assert.ok(e instanceof Anthropic.AuthenticationError, String(e));
      assert.equal(e.error?.error?.type, 'authentication_error');
      return true;
    });
  });

  it('a key in a query parameter is taken out of the target the provider and the access log see', async () => {
    const r = await fetch(`${gw.base}/v1/chat/completions?key=sk-team-a-secret&keep=1`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'auth-query-1' }, body: JSON.stringify(chat()),
    });
    assert.equal(r.status, 200, await r.clone().text());
    assert.equal(lastRequest().path.includes('sk-team-a-secret'), false);
    const line = await gw.logLine((l) => l.request_id === 'auth-query-1');
    assert.equal(line.path, '/v1/chat/completions?keep=1');
    assert.equal(line.client_id, 'team-a');
  });

  it('the model list answers under the Gateway policy', async () => {
    assert.equal((await fetch(`${gw.base}/v1/models`)).status, 401);
    const client = new OpenAI({ baseURL: `${gw.base}/v1`, apiKey: 'sk-team-a-secret' });
    const models = await client.models.list();
    assert.ok(models.data.some((m) => m.id === 'gpt-4o-mini'));
  });

  it('a JWT checked against a local JWKS (the route policy wins over the Gateway one); its claim reaches the provider', async () => {
    const client = new OpenAI({ baseURL: `${gw.base}/v1`, apiKey: sign({ team: { name: 'search' } }), defaultHeaders: { 'x-team': 'spoofed' } });
    await client.chat.completions.create(chat('jwt-model'));
    const up = lastRequest();
    assert.equal(up.headers['x-team'], 'search');
    assert.equal(up.headers.authorization, undefined);
    await gw.logLine((l) => l.client_id === 'alice' && l.route_name === 'default/jwt');
    // The Gateway's API key does not open a route with its own policy.
    const keyed = new OpenAI({ baseURL: `${gw.base}/v1`, apiKey: 'sk-team-a-secret' });
    await assert.rejects(keyed.chat.completions.create(chat('jwt-model')), OpenAI.AuthenticationError);
  });

  it('expired, wrongly signed, wrong-audience and missing JWTs are refused with Envoy\'s messages', async () => {
    const cases = [
      [sign({ exp: Math.floor(Date.now() / 1000) - 3600 }), /Jwt is expired/],
      [sign({ key: remote1.privateKey, alg: 'ES256' }), /Jwt/],
      [sign({ aud: 'someone-else' }), /Audiences in Jwt are not allowed/],
    ];
    for (const [token, message] of cases) {
      const client = new OpenAI({ baseURL: `${gw.base}/v1`, apiKey: token, maxRetries: 0 });
      await assert.rejects(client.chat.completions.create(chat('jwt-model')), (e) => {
        assert.equal(e.status, 401);
        assert.match(e.message, message);
        return true;
      });
    }
    const r = await fetch(`${gw.base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(chat('jwt-model')) });
    assert.equal(r.status, 401);
    assert.match(r.headers.get('www-authenticate'), /^Bearer/);
    assert.match((await r.json()).error.message, /Jwt is missing/);
  });

  it('a remote JWKS is fetched and cached, and a rotated key is picked up soon after a token names it', async () => {
    const client = (token) => new OpenAI({ baseURL: `${gw.base}/v1`, apiKey: token, maxRetries: 0 });
    const t1 = sign({ key: remote1.privateKey, kid: 'remote-1', alg: 'ES256', iss: 'https://remote.example', sub: 'svc-1' });
    await waitFor(async () => {
      try {
        await client(t1).chat.completions.create(chat('jwt-model'));
        return true;
      } catch { return false; }
    }, 10000 * SLOW, 'the remote JWKS fetched');
    const fetched = jwks.st.fetches;
    for (let i = 0; i < 3; i++) await client(t1).chat.completions.create(chat('jwt-model'));
    assert.equal(jwks.st.fetches, fetched, 'the key set is cached');
    jwks.st.keys = [jwk(remote2, 'remote-2', 'ES256')];
    const t2 = sign({ key: remote2.privateKey, kid: 'remote-2', alg: 'ES256', iss: 'https://remote.example', sub: 'svc-2' });
    await waitFor(async () => {
      try {
        await client(t2).chat.completions.create(chat('jwt-model'));
        return true;
      } catch (e) {
        assert.equal(e.status, 401);
        return false;
      }
    }, 15000 * SLOW, 'the rotated key');
    await gw.logLine((l) => l.client_id === 'svc-2');
  });

  it('basic auth from an htpasswd Secret forwards the user; a wrong password is refused', async () => {
    const basic = (user, pw) => fetch(`${gw.base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}` },
      body: JSON.stringify(chat('basic-model')),
    });
    const ok = await basic('bob', 'hunter2');
    assert.equal(ok.status, 200, await ok.clone().text());
    assert.equal(lastRequest().headers['x-user'], 'bob');
    const bad = await basic('bob', 'wrong');
    assert.equal(bad.status, 401);
    assert.match((await bad.json()).error.message, /Invalid username\/password/);
    const metrics = await (await fetch(`${gw.admin}/metrics`)).text();
    const failures = Number(/^aigw_client_auth_failures_total (\d+)/m.exec(metrics)?.[1]);
    assert.ok(failures >= 5, `aigw_client_auth_failures_total ${failures}`);
  });
});

describe('aigw validate: SecurityPolicy errors name the field', () => {
  it('reports a missing Secret, a bad htpasswd line, a bad header name and a JWKS that is not one', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-auth-'));
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, gatewayYaml(1) + `---
apiVersion: v1
kind: Secret
metadata: {name: htpasswd, namespace: default}
stringData:
  .htpasswd: |
    bob:$apr1$abc$def
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: p, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: aigw}]
  apiKeyAuth:
    credentialRefs: [{name: nowhere}]
    extractFrom: [{headers: ["bad header"]}]
  basicAuth: {users: {name: htpasswd}}
  jwt:
    providers:
      - name: a
        localJWKS: {type: Inline, inline: 'not json'}
`);
    const r = await runAigw(['validate', file]);
    assert.equal(r.code, 1);
    const out = r.stdout + r.stderr;
    assert.match(out, /spec\.apiKeyAuth\.credentialRefs\[0\]\.name: Secret "nowhere" not found/);
    assert.match(out, /spec\.apiKeyAuth\.extractFrom\[0\]\.headers\[0\]: "bad header" is not a valid header name/);
    assert.match(out, /spec\.basicAuth\.users: Secret "htpasswd": \.htpasswd line 1: user "bob": only \{SHA\} hashes/);
    assert.match(out, /spec\.jwt\.providers\[0\]\.localJWKS\.inline: /);
  });
});
