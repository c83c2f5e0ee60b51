// `aigw validate` reports each resource as upstream's controller would set its Accepted condition.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { runAigw, FIXTURES_DIR, AIGW_BIN, repoRoot } from '../lib/harness.mjs';
import { existsSync } from 'node:fs';
import yaml from 'js-yaml';

const ROUTE = `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: r, namespace: default}
spec:
  rules:
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: m}]}]
      backendRefs: [{name: b}]
`;
const BACKEND = `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: b, namespace: default}
spec:
  schema: {name: OpenAI}
  backendRef: {name: b, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: b, namespace: default}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: 8080}}]
`;

describe('aigw validate', () => {
  it('reports Accepted and NotAccepted with the reason', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-validate-'));
    const file = path.join(dir, 'c.yaml');
    writeFileSync(file, `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: r, namespace: default}
spec:
  rules:
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: m}]}]
      backendRefs: [{name: b}]
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: b, namespace: default}
spec:
  schema: {name: OpenAI}
  backendRef: {name: missing, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyProxy
metadata: {name: e, namespace: default}
spec: {}
`);
    const r = await runAigw(['validate', file]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^AIGatewayRoute default\/r: Accepted$/m);
    assert.match(r.stdout, /^AIServiceBackend default\/b: NotAccepted \(spec\.backendRef\.name: Backend "missing" not found/m);
    assert.match(r.stdout, /^EnvoyProxy default\/e: Ignored$/m);
  });

  it('aigw translate prints the Envoy Gateway resources (upstream golden input)', async (t) => {
    const file = path.join(FIXTURES_DIR, 'aigw-translate/translate_basic.in.yaml');
    if (!existsSync(file)) return t.skip('fixtures not available');
    const r = await runAigw(['translate', file]);
    assert.equal(r.code, 0, r.stderr);
    const docs = yaml.loadAll(r.stdout).filter(Boolean);
    const kinds = docs.map((d) => d.kind);
    assert.ok(kinds.includes('HTTPRoute') && kinds.includes('HTTPRouteFilter') && kinds.includes('Gateway'));
    assert.ok(!kinds.includes('AIGatewayRoute') && !kinds.includes('AIServiceBackend'));
    const legacy = docs.find((d) => d.kind === 'Secret' && d.metadata.name === 'envoy-ai-gateway-basic-default');
    const cfg = yaml.load(legacy.stringData['filter-config.yaml']);
    assert.equal(cfg.backends[1].schema.name, 'AWSBedrock');
    assert.equal(cfg.models[0].OwnedBy, 'openai');
  });

  it('rejects a malformed match with its field path instead of matching every model', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-validate-'));
    const file = path.join(dir, 'c.yaml');
    writeFileSync(file, `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: r, namespace: default}
spec:
  rules:
    - matches: [{headrs: [{type: Exact, name: x-ai-eg-model, value: m}]}]
      backendRefs: [{name: b}]
    - matches: [{headers: [{value: m}]}]
      backendRefs: [{name: b}]
` + BACKEND);
    const r = await runAigw(['validate', file]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^error: AIGatewayRoute default\/r: spec\.rules\[0\]\.matches\[0\]\.headrs: unknown field/m);
    assert.match(r.stdout, /^error: AIGatewayRoute default\/r: spec\.rules\[1\]\.matches\[0\]\.headers\[0\]\.name: is required$/m);
  });

  it('aigw translate refuses a billion-laughs document quickly', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-validate-'));
    const file = path.join(dir, 'bomb.yaml');
    let doc = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol, namespace: default}\ndata:\n' +
      '  a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n';
    const levels = 'abcdefghi';
    for (let i = 1; i < levels.length; i++)
      doc += `  ${levels[i]}: &${levels[i]} [${Array(9).fill(`*${levels[i - 1]}`).join(', ')}]\n`;
    writeFileSync(file, doc);
    for (const cmd of ['translate', 'validate']) {
      const start = Date.now();
      const r = await runAigw([cmd, file]);
      assert.notEqual(r.code, 0, cmd);
      assert.ok(Date.now() - start < 5000, `${cmd} took ${Date.now() - start} ms`);
      assert.ok(r.stdout.length < 100000, `${cmd} printed ${r.stdout.length} bytes`);
      assert.match(r.stdout + r.stderr, /expands through aliases to more than \d+ YAML nodes/, cmd);
      assert.doesNotMatch(r.stdout, /ConfigMap default\/lol: Accepted/, cmd);
    }
  });

  it('loads several files and directories as one configuration', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-validate-'));
    const route = path.join(dir, 'route.yaml');
    writeFileSync(route, ROUTE);
    mkdirSync(path.join(dir, 'backends'));
    writeFileSync(path.join(dir, 'backends', 'b.yaml'), BACKEND);
    const alone = await runAigw(['validate', route]);
    assert.equal(alone.code, 1, 'the route alone lacks its backend');
    const r = await runAigw(['validate', route, path.join(dir, 'backends')]);
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /^AIGatewayRoute default\/r: Accepted$/m);
    assert.match(r.stdout, /: valid \(1 rule\(s\), 1 declared model\(s\)\)$/m);
  });

  it('accepts upstream\'s MCP examples; the GitHub one needs its token from the environment', async (t) => {
    const dir = path.join(FIXTURES_DIR, 'examples/mcp');
    if (!existsSync(dir)) return t.skip('fixtures not available');
    for (const name of ['mcp_example.yaml', 'mcp_oauth_example.yaml', 'mcp_oauth_keycloak.yaml', 'openai-github.yaml']) {
      const r = await runAigw(['validate', path.join(dir, name)], { GITHUB_ACCESS_TOKEN: 'ghp_test', OPENAI_API_KEY: 'sk-test' });
      assert.equal(r.code, 0, `${name}: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /^MCPRoute default\/mcp-route: Accepted$/m, name);
      assert.match(r.stdout, /, 1 MCP route\(s\)\)$/m, name);
    }
    if (process.env.GITHUB_ACCESS_TOKEN !== undefined) return; // cannot be unset for the child
    const missing = await runAigw(['validate', path.join(dir, 'mcp_example.yaml')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stdout + missing.stderr, /environment variable GITHUB_ACCESS_TOKEN is not set/);
  });

  it('aigw example prints the first listener port and a model the routes serve', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-validate-'));
    const file = path.join(dir, 'c.yaml');
    writeFileSync(file, `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: g, namespace: default}
spec:
  gatewayClassName: c
  listeners: [{name: http, protocol: HTTP, port: 8089}, {name: other, protocol: HTTP, port: 80}]
---
${ROUTE}
---
${BACKEND}`);
    const r = await runAigw(['example', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'port=8089\nmodel=m\n');
    writeFileSync(path.join(dir, 'bad.yaml'), 'kind: [');
    assert.equal((await runAigw(['example', path.join(dir, 'bad.yaml')])).code, 1);
  });

  it('make run CONFIG=... shows a request with the file\'s port and model', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-validate-'));
    const gateway = path.join(dir, 'gateway.yaml');
    writeFileSync(gateway, `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: g, namespace: default}
spec:
  gatewayClassName: c
  listeners: [{name: http, protocol: HTTP, port: 8089}]
---
${ROUTE}`);
    const backend = path.join(dir, 'backend.yaml');
    writeFileSync(backend, BACKEND);
    // A stand-in for aigw that answers `example` for real and does not serve on `run`.
    const stub = path.join(dir, 'aigw');
    writeFileSync(stub, `#!/bin/sh\nif [ "$1" = run ]; then echo "RUN $*"; exit 0; fi\nexec "${AIGW_BIN}" "$@"\n`, { mode: 0o755 });
    const script = path.join(repoRoot, 'scripts/run.sh');
    const run = (config) => new Promise((resolve) => {
      execFile('bash', [script], { env: { ...process.env, AIGW: stub, CONFIG: config } },
        (err, stdout) => resolve(stdout));
    });
    const out = await run(`${gateway} ${backend}`);
    assert.match(out, /curl -N http:\/\/127\.0\.0\.1:8089\/v1\/chat\/completions/);
    assert.match(out, /"model":"m"/);
    assert.match(out, new RegExp(`^RUN run ${gateway} ${backend} --admin-port`, 'm'));
    const generic = await run(backend); // no Gateway, no route: the generic text
    assert.match(generic, /127\.0\.0\.1:1975/);
    assert.match(generic, /"model":"your-model"/);
  });
});
