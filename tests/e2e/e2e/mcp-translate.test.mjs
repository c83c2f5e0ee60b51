// `aigw translate` of an MCPRoute, as upstream's controller reconciles it: the generated Envoy
// Gateway resources, with the authorization server's RFC 8414 metadata read from a real issuer
// over HTTP (the JWKS discovered from it, the document served by a direct-response filter), and
// the filter configuration's mcpConfig.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import yaml from 'js-yaml';
import { runAigw, gatewayYaml } from '../lib/harness.mjs';

function config(issuer, jwks = '') {
  return gatewayYaml(1975) + `---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: alpha, namespace: default}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: 9001}}]
---
apiVersion: v1
kind: Secret
metadata:
  name: alpha-key
  namespace: default
  annotations: {substitution.aigw.run/env/apiKey: ALPHA_KEY}
stringData: {apiKey: placeholder}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: MCPRoute
metadata: {name: tools, namespace: default}
spec:
  parentRefs: [{name: aigw}]
  path: /mcp
  backendRefs:
    - name: alpha
      path: /alpha/mcp
      toolSelector: {include: [echo]}
      securityPolicy: {apiKey: {secretRef: {name: alpha-key}}}
  securityPolicy:
    oauth:
      issuer: ${issuer}
${jwks}      protectedResourceMetadata:
        resource: http://127.0.0.1:1975/mcp
        scopesSupported: [tools]
    authorization:
      rules:
        - source: {jwt: {scopes: [tools]}}
`;
}

describe('aigw translate: MCPRoute', () => {
  let server;
  let base;
  const asked = [];
  let dir;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aigw-mcp-translate-'));
    server = http.createServer((req, res) => {
      asked.push(req.url);
      if (req.url === '/.well-known/oauth-authorization-server') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
          jwks_uri: `${base}/jwks.json`, issuer: base, token_endpoint: `${base}/token`,
          authorization_endpoint: `${base}/authorize`, code_challenge_methods_supported: ['S256'],
          registration_endpoint: `${base}/register`,
        }));
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${server.address().port}`;
  });
  after(() => {
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const translate = async (text, env = {}) => {
    const file = path.join(dir, `in-${Math.random().toString(36).slice(2)}.yaml`);
    fs.writeFileSync(file, text);
    return runAigw(['translate', file], { ALPHA_KEY: 'alpha-secret', ...env });
  };
  const find = (docs, kind, name) => docs.find((d) => d?.kind === kind && d.metadata?.name === name);

  it('emits the routes, filters, credential Secret, SecurityPolicy and well-known documents', async () => {
    const r = await translate(config(base));
    assert.equal(r.code, 0, r.stderr);
    const docs = yaml.loadAll(r.stdout);
    assert.ok(!docs.some((d) => d?.kind === 'MCPRoute'), 'the MCPRoute is consumed');

    const main = find(docs, 'HTTPRoute', 'ai-eg-mcp-main-tools');
    assert.deepEqual(main.spec.rules[0].matches, [{ path: { type: 'Exact', value: '/mcp' } }]);
    assert.deepEqual(main.spec.rules[0].backendRefs,
      [{ group: 'gateway.envoyproxy.io', kind: 'Backend', name: 'ai-eg-mcp-proxy', namespace: 'default', port: 9856 }]);
    assert.deepEqual(main.spec.rules.map((x) => x.name),
      [undefined, 'oauth-protected-resource-metadata', 'oauth-authorization-server-metadata',
        'oauth-authorization-server-metadata-oidc']);

    const br = find(docs, 'HTTPRoute', 'ai-eg-mcp-br-tools-alpha');
    assert.deepEqual(br.spec.rules[0].matches[0].headers, [
      { name: 'x-ai-eg-mcp-backend', value: 'alpha' }, { name: 'x-ai-eg-mcp-route', value: 'default/tools' }]);
    assert.equal(br.spec.rules[0].filters[1].urlRewrite.path.replaceFullPath, '/alpha/mcp');
    const cred = find(docs, 'Secret', 'ai-eg-mcp-cred-tools-alpha');
    // The key the substitution annotation names, as `aigw run` reads it.
    assert.equal(Buffer.from(cred.data.credential, 'base64').toString(), 'Bearer alpha-secret');
    assert.equal(find(docs, 'HTTPRouteFilter', 'ai-eg-mcp-brf-tools-alpha').spec.credentialInjection.credential.valueRef.name,
      'ai-eg-mcp-cred-tools-alpha');

    // The JWKS discovered from the issuer's metadata.
    const sp = find(docs, 'SecurityPolicy', 'ai-eg-mcp-tools');
    assert.equal(sp.spec.jwt.providers[0].name, 'mcp-jwt-provider');
    assert.equal(sp.spec.jwt.providers[0].remoteJWKS.uri, `${base}/jwks.json`);
    assert.ok(asked.includes('/.well-known/oauth-authorization-server'), asked.join(' '));

    // The issuer's document, re-marshalled in upstream's field order.
    const asf = find(docs, 'HTTPRouteFilter', 'ai-eg-mcp-tools-oauth-authorization-server-metadata');
    const body = asf.spec.directResponse.body.inline;
    assert.deepEqual(Object.keys(JSON.parse(body)),
      ['issuer', 'authorization_endpoint', 'token_endpoint', 'jwks_uri', 'registration_endpoint', 'code_challenge_methods_supported']);
    const prm = JSON.parse(find(docs, 'HTTPRouteFilter', 'ai-eg-mcp-tools-oauth-protected-resource-metadata').spec.directResponse.body.inline);
    assert.deepEqual(prm, { authorization_servers: [base], bearer_methods_supported: ['header'],
      resource: 'http://127.0.0.1:1975/mcp', scopes_supported: ['tools'] });
    const btp = find(docs, 'BackendTrafficPolicy', 'ai-eg-mcp-tools-oauth-protected-resource-metadata');
    assert.match(btp.spec.responseOverride[0].response.header.set[0].value,
      /resource_metadata="http:\/\/127\.0\.0\.1:1975\/\.well-known\/oauth-protected-resource\/mcp", scope="tools"$/);

    const cfg = yaml.load(find(docs, 'Secret', 'aigw-default').stringData['filter-config.yaml']);
    assert.equal(cfg.mcpConfig.backendListenerAddr, 'http://127.0.0.1:10088');
    assert.deepEqual(cfg.mcpConfig.routes[0].backends, [{ name: 'alpha', toolSelector: { include: ['echo'] } }]);
    assert.equal(cfg.mcpConfig.routes[0].authorization.defaultAction, 'Deny');
    assert.deepEqual(cfg.mcpConfig.routes[0].authorization.rules,
      [{ action: 'Allow', source: { jwt: { scopes: ['tools'] } } }]);
  });

  it('an issuer that cannot be reached and no JWKS: an error naming the route and field', async () => {
    const r = await translate(config('http://127.0.0.1:1'));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /MCPRoute default\/tools: spec\.securityPolicy\.oauth: failed to auto-discover JWKS URI/);
    assert.doesNotMatch(r.stderr + r.stdout, /alpha-secret/);
  });

  it('a configured JWKS needs no discovery; the metadata falls back as upstream', async () => {
    const r = await translate(config('http://127.0.0.1:1/realms/x',
      '      jwks: {remoteJWKS: {uri: "http://127.0.0.1:1/certs"}}\n'));
    assert.equal(r.code, 0, r.stderr);
    const docs = yaml.loadAll(r.stdout);
    const doc = JSON.parse(find(docs, 'HTTPRouteFilter', 'ai-eg-mcp-tools-oauth-authorization-server-metadata').spec.directResponse.body.inline);
    assert.equal(doc.token_endpoint, 'http://127.0.0.1:1/realms/x/protocol/openid-connect/token');
    assert.equal(find(docs, 'SecurityPolicy', 'ai-eg-mcp-tools').spec.jwt.providers[0].remoteJWKS.uri, 'http://127.0.0.1:1/certs');
  });
});
