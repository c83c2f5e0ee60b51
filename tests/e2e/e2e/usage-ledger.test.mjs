// The usage ledger: `aigw run --usage-ledger` appends one JSON line per request (client key,
// route, backend, model, tokens, dollars from the price catalog, status), and `aigw usage` sums
// spend by key, model and day. Driven with the official OpenAI and Anthropic SDKs.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startAigw, gatewayYaml, runAigw, waitFor, SLOW } from '../lib/harness.mjs';
import { startFakeProviders } from '../../../tools/fakeproviders/server.mjs';
import { fakeBackendYaml as backend, securityPolicyYaml as backendPolicy } from '../lib/fakeconfig.mjs';

const route = (name, model, ref) => `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: ${name}, namespace: default}
spec:
  parentRefs: [{name: aigw}]
  rules:
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: ${model}}]}]
      backendRefs: [{name: ${ref}}]
`;

const config = (port, fakePort) => gatewayYaml(port) + route('chat', 'gpt-4o-mini', 'openai') +
  route('claude', 'claude-3-5-haiku-latest', 'anthropic') + `---
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
stringData: {team-a: sk-team-a, team-b: sk-team-b}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: keys, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: aigw}]
  apiKeyAuth:
    credentialRefs: [{name: client-keys}]
    extractFrom: [{headers: [authorization, x-api-key]}]
`;

describe('aigw run: usage ledger and aigw usage', () => {
  let fp;
  let gw;
  let dir;
  let ledger;
  before(async () => {
    fp = await startFakeProviders();
    dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-ledger-'));
    ledger = path.join(dir, 'usage.jsonl');
    const catalog = path.join(dir, 'prices.json');
    // gpt-4o-mini overridden (USD per million tokens); Claude from the bundled catalog.
    writeFileSync(catalog, JSON.stringify({ 'gpt-4o-mini': { input: 1000, output: 2000, cachedInput: 500 } }));
    gw = await startAigw({ config: (port) => config(port, fp.port), args: ['--usage-ledger', ledger, '--price-catalog', catalog] });
  });
  after(async () => {
    await gw?.stop();
    await fp?.close();
  });

  const lines = () => (existsSync(ledger) ? readFileSync(ledger, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);

  it('writes one record per request with the client key, tokens and the dollars the catalog prices', async () => {
    const a = new OpenAI({ baseURL: `${gw.base}/v1`, apiKey: 'sk-team-a' });
    const b = new OpenAI({ baseURL: `${gw.base}/v1`, apiKey: 'sk-team-b' });
    const r1 = await a.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello there' }] });
    const stream = await b.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'stream it' }] });
    for await (const _ of stream) { /* drain */ }
    const claude = new Anthropic({ baseURL: `${gw.base}/anthropic`, apiKey: 'sk-team-b' });
    const m = await claude.messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 32, messages: [{ role: 'user', content: 'hi' }] });
    await assert.rejects(new OpenAI({ baseURL: `${gw.base}/v1`, apiKey: 'sk-bad', maxRetries: 0 }).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }));
    await waitFor(() => lines().length >= 3, 5000 * SLOW, 'three ledger lines');
    const recs = lines();
    const first = recs.find((r) => r.key === 'team-a');
    assert.equal(first.model, 'gpt-4o-mini');
    assert.equal(first.route, 'default/chat');
    assert.equal(first.backend, 'default/openai');
    assert.equal(first.status, 200);
    assert.equal(first.input_tokens, r1.usage.prompt_tokens);
    assert.equal(first.output_tokens, r1.usage.completion_tokens);
    const cached = first.cached_input_tokens;
    const expect = ((first.input_tokens - cached) * 1000 + cached * 500 + first.output_tokens * 2000) / 1e6;
    assert.ok(Math.abs(first.cost_usd - expect) < 1e-6, `${first.cost_usd} vs ${expect}`);
    const streamed = recs.find((r) => r.key === 'team-b' && r.stream);
    assert.ok(streamed.output_tokens > 0, JSON.stringify(streamed));
    assert.ok(streamed.cost_usd > 0);
    const c = recs.find((r) => r.model === 'claude-3-5-haiku-latest');
    assert.equal(c.key, 'team-b');
    assert.equal(c.output_tokens, m.usage.output_tokens);
    // claude-3-5-haiku: $0.80 in, $4 out per million (bundled)
    const cin = c.input_tokens - c.cached_input_tokens - c.cache_write_tokens;
    const cexpect = (cin * 0.8 + c.cached_input_tokens * 0.08 + c.cache_write_tokens * 1 + c.output_tokens * 4) / 1e6;
    assert.ok(Math.abs(c.cost_usd - cexpect) < 1e-9, `${c.cost_usd} vs ${cexpect}`);
    // A refused request never reached a model: no record.
    assert.equal(recs.filter((r) => r.status === 401).length, 0);
  });

  it('aigw usage prints spend by key, model and day', async () => {
    const recs = lines();
    const spendB = recs.filter((r) => r.key === 'team-b').reduce((s, r) => s + r.cost_usd, 0);
    const out = await runAigw(['usage', ledger]);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /^by key$/m);
    assert.match(out.stdout, /^by model$/m);
    assert.match(out.stdout, /^by day \(UTC\)$/m);
    const row = out.stdout.split('\n').find((l) => l.trim().startsWith('team-b'));
    const cols = row.trim().split(/\s+/);
    assert.equal(Number(cols[1]), recs.filter((r) => r.key === 'team-b').length);
    assert.ok(Math.abs(Number(cols[5]) - spendB) < 1e-5, `${cols[5]} vs ${spendB}`);
    const today = new Date().toISOString().slice(0, 10);
    assert.match(out.stdout, new RegExp(`^  ${today} +${recs.length} `, 'm'));
    const byModel = await runAigw(['usage', ledger, '--by', 'model']);
    assert.doesNotMatch(byModel.stdout, /^by key$/m);
    assert.match(byModel.stdout, /claude-3-5-haiku-latest/);
    assert.equal((await runAigw(['usage', ledger, '--by', 'week'])).code, 2);
  });

  it('a bad price catalog stops the start with the file and the field', async () => {
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ 'gpt-4o': { input: -1 } }));
    const r = await runAigw(['run', path.join(dir, 'none.yaml'), '--price-catalog', bad]);
    assert.notEqual(r.code, 0);
  });
});
