// One lifecycle, two hosts: the same configuration served by `aigw run` and, translated by
// `aigw translate`, by `aigw extproc` behind an emulated Envoy (lib/envoy.mjs, Envoy's official
// protos). The same requests go through both, against the same testupstream provider, and what
// the client sees must be the same: status, content type, body, and the costs (token usage) the
// request was charged.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import {
  startAigw, startTestupstream, gatewayYaml, openaiBackendYaml, b64, freePort, AIGW_BIN, SLOW,
} from '../lib/harness.mjs';
import { HAVE_PROTOS, MiniEnvoy, extprocClient, translateToBundle, ROUTE_NOT_FOUND_TEXT } from '../lib/envoy.mjs';

const route = `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: r, namespace: default}
spec:
  parentRefs: [{name: aigw, kind: Gateway, group: gateway.networking.k8s.io}]
  rules:
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: gpt-4o-mini}]}]
      backendRefs: [{name: openai}]
      modelsOwnedBy: openai
      modelsCreatedAt: "2025-01-01T00:00:00Z"
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: claude}]}]
      backendRefs: [{name: bedrock, modelNameOverride: anthropic.claude-3-haiku}]
      modelsOwnedBy: anthropic
      modelsCreatedAt: "2025-02-01T00:00:00Z"
  llmRequestCosts:
    - {metadataKey: llm_input_token, type: InputToken}
    - {metadataKey: llm_output_token, type: OutputToken}
    - {metadataKey: llm_total_token, type: TotalToken}
`;

const bedrock = (port) => `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: bedrock, namespace: default}
spec:
  schema: {name: AWSBedrock}
  backendRef: {name: bedrock, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: bedrock, namespace: default}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: ${port}}}]
---
apiVersion: v1
kind: Secret
metadata: {name: aws, namespace: default}
stringData:
  credentials: |
    [default]
    aws_access_key_id = AKIDEXAMPLE
    aws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: aws, namespace: default}
spec:
  type: AWSCredentials
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: bedrock}]
  awsCredentials:
    region: us-east-1
    credentialsFile: {secretRef: {name: aws}}
`;

const usageAnswer = JSON.stringify({
  id: 'chatcmpl-1', object: 'chat.completion', created: 1735689600, model: 'gpt-4o-mini-2024-07-18',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hello!' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 },
});
const sseAnswer =
  'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n' +
  'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}\n\n' +
  'data: [DONE]\n\n';

// The requests both hosts answer, each with the headers testupstream reads to shape its answer.
const CASES = [
  { name: 'an unknown path', method: 'POST', path: '/v1/nope', body: '{}', expect: { status: 404 } },
  { name: 'malformed JSON', path: '/v1/chat/completions', body: '{"model": "gpt-4o-mini", "messages": [', expect: { status: 400 } },
  { name: 'a body the backend schema rejects', path: '/v1/chat/completions',
    body: JSON.stringify({ model: 'claude', messages: [{ role: 'user', content: 'x' }], response_format: { type: 'json_schema', json_schema: { name: 'n', schema: {} } } }),
    expect: { status: 422 } },
  { name: 'the models list', method: 'GET', path: '/v1/models', expect: { status: 200 } },
  { name: 'an answer with usage', path: '/v1/chat/completions',
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
    headers: { 'x-response-body': b64(usageAnswer) },
    expect: { status: 200, costs: { llm_input_token: 9, llm_output_token: 3, llm_total_token: 12 } } },
  { name: 'a streamed answer', path: '/v1/chat/completions',
    body: JSON.stringify({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    headers: { 'x-response-type': 'sse', 'x-response-body': b64(sseAnswer), 'x-response-chunk-delay-ms': '1' },
    expect: { status: 200, costs: { llm_input_token: 5, llm_output_token: 2, llm_total_token: 7 } } },
  { name: 'a provider error (not JSON)', path: '/v1/chat/completions',
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
    headers: { 'x-response-status': '503', 'x-response-body': b64('upstream overloaded'), 'x-response-headers': b64('content-type:text/plain') },
    expect: { status: 503, costs: {} } },
  { name: 'a provider error (JSON)', path: '/v1/chat/completions',
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
    headers: { 'x-response-status': '400', 'x-response-body': b64('{"error":{"message":"bad","type":"invalid_request_error"}}'), 'x-response-headers': b64('content-type:application/json') },
    expect: { status: 400, costs: {} } },
];

describe('one lifecycle: aigw run and aigw extproc answer alike', { skip: !HAVE_PROTOS && 'envoy protos not installed (make setup)' }, () => {
  let up;
  let gw;
  let extproc;
  let envoy;
  let client;
  before(async () => {
    up = await startTestupstream({ id: 'both' });
    const config = (port) => gatewayYaml(port) + route + openaiBackendYaml('openai', up.port, { apiKey: 'sk-same-key' }) + bedrock(up.port);
    gw = await startAigw({ config });
    // The same resources through the control plane: the filter configuration bundle upstream's
    // controller would hand the external processor.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-hosts-'));
    const input = path.join(dir, 'in.yaml');
    writeFileSync(input, config(1975));
    const bundle = await translateToBundle(input, dir);
    const port = await freePort();
    extproc = spawn(AIGW_BIN, ['extproc', '-configBundlePath', bundle, '-extProcAddr', `127.0.0.1:${port}`, '-adminPort', String(await freePort())], { stdio: ['ignore', 'ignore', 'pipe'] });
    const stderrLines = [];
    extproc.once('exit', (c) => {
      if (c) console.error(`aigw extproc exited with ${c}:\n${stderrLines.join('\n')}`);
    });
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('aigw extproc: no ready line')), 10000 * SLOW);
      readline.createInterface({ input: extproc.stderr }).on('line', (l) => {
        stderrLines.push(l);
        if (l.includes('is ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      extproc.once('exit', (c) => reject(new Error(`aigw extproc exited ${c}`)));
    });
    client = extprocClient(`127.0.0.1:${port}`);
    envoy = new MiniEnvoy(client, {
      'gpt-4o-mini': { backend: 'default/openai/route/r/rule/0/ref/0', route: 'default/r', host: '127.0.0.1', port: up.port },
      claude: { backend: 'default/bedrock/route/r/rule/1/ref/0', route: 'default/r', host: '127.0.0.1', port: up.port },
    });
  });
  after(async () => {
    client?.close();
    extproc?.kill('SIGTERM');
    await gw?.stop();
    await up?.stop();
  });

  async function viaRun(c, rid) {
    const res = await fetch(`${gw.base}${c.path}`, {
      method: c.method ?? 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': rid, ...(c.headers ?? {}) },
      body: c.method === 'GET' ? undefined : c.body,
    });
    const body = await res.text();
    const line = await gw.logLine((l) => l.request_id === rid);
    const costs = Object.fromEntries(Object.entries(line).filter(([k]) => k.startsWith('llm_')));
    return { status: res.status, contentType: res.headers.get('content-type') ?? '', body, costs };
  }

  for (const [i, c] of CASES.entries()) {
    it(`${c.name}: the same status, content type, body and costs`, async () => {
      const run = await viaRun(c, `same-${i}`);
      if (c.name === 'a streamed answer') assert.match(run.body, /data: \[DONE\]/);
      if (c.name === 'the models list') assert.deepEqual(JSON.parse(run.body).data.map((m) => m.id), ['gpt-4o-mini', 'claude']);
      const ext = await envoy.request({ method: c.method ?? 'POST', path: c.path, body: c.body,
        headers: { 'content-type': 'application/json', 'x-request-id': `same-${i}`, ...(c.headers ?? {}) } });
      assert.equal(ext.status, run.status, `status: run ${run.body} / extproc ${ext.body}`);
      assert.equal(ext.contentType.split(';')[0], run.contentType.split(';')[0]);
      assert.equal(ext.body, run.body);
      assert.deepEqual(ext.costs, run.costs);
      // And what both answered is the expected answer, not a shared mistake.
      assert.equal(run.status, c.expect.status, run.body);
      if (c.expect.costs) assert.deepEqual(run.costs, c.expect.costs);
    });
  }

  it('an unknown model: a 404 with upstream\'s message in both (Envoy\'s direct response under extproc)', async () => {
    const c = { path: '/v1/chat/completions', body: JSON.stringify({ model: 'nope', messages: [] }) };
    const run = await viaRun(c, 'unknown-model');
    const ext = await envoy.request({ path: c.path, body: c.body, headers: { 'content-type': 'application/json' } });
    assert.equal(run.status, 404);
    assert.equal(ext.status, 404);
    // The one deliberate difference: under Envoy no processor sees an unrouted request, and
    // `aigw translate` configures upstream's plain-text direct response; `aigw run` puts the same
    // text in the OpenAI error shape SDKs read (code model_not_found).
    assert.equal(ext.body, ROUTE_NOT_FOUND_TEXT);
    assert.equal(JSON.parse(run.body).error.message, ROUTE_NOT_FOUND_TEXT);
    assert.equal(JSON.parse(run.body).error.code, 'model_not_found');
  });
});
