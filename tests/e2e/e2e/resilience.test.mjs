// Streams that fail: before any content reached the client, the next backend serves the request
// and the client sees one clean stream; after content, the stream ends with an error event in
// the client's schema (which the official SDKs raise) and the usage so far is charged. Faults
// come from the fake providers, chosen by each backendRef's modelNameOverride, in each real wire
// format: OpenAI SSE, Bedrock's event stream, Anthropic SSE and Gemini SSE.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startAigw, gatewayYaml, SLOW } from '../lib/harness.mjs';
import { startFakeProviders } from '../../../tools/fakeproviders/server.mjs';
import { fakeBackendYaml as backend, securityPolicyYaml as policy } from '../lib/fakeconfig.mjs';

// client model → [first ref's model (faulty), the next ref's (backend, model)], rule extras.
const RULES = {
  'fo-openai-error': [['openai', 'gpt-4o-prestream-error'], ['openai', 'gpt-4o-mini']],
  'fo-openai-reset': [['openai', 'gpt-4o-prestream-reset'], ['openai', 'gpt-4o-mini']],
  'fo-openai-empty': [['openai', 'gpt-4o-prestream-empty'], ['openai', 'gpt-4o-mini']],
  'fo-openai-idle': [['openai', 'gpt-4o-prestream-idle'], ['openai', 'gpt-4o-mini']],
  'fo-bedrock-error': [['bedrock', 'amazon.nova-prestream-error'], ['bedrock', 'amazon.nova-micro-v1:0']],
  'fo-bedrock-reset': [['bedrock', 'amazon.nova-prestream-reset'], ['openai', 'gpt-4o-mini']],
  'fo-anthropic-error': [['anthropic', 'claude-prestream-error'], ['anthropic', 'claude-3-5-haiku-latest']],
  'fo-gemini-error': [['vertex', 'gemini-prestream-error'], ['vertex', 'gemini-2.5-flash']],
  'fo-gemini-empty': [['vertex', 'gemini-prestream-empty'], ['openai', 'gpt-4o-mini']],
  'cut-openai-reset': [['openai', 'gpt-4o-midstream-reset'], ['openai', 'gpt-4o-mini']],
  'cut-openai-idle': [['openai', 'gpt-4o-midstream-idle'], ['openai', 'gpt-4o-mini']],
  'cut-anthropic-reset': [['anthropic', 'claude-midstream-reset'], ['anthropic', 'claude-3-5-haiku-latest']],
  'only-openai-error': [['openai', 'gpt-4o-prestream-error']],
};

function config(port, fakePort, serviceAccountJson) {
  const rules = Object.entries(RULES).map(([model, refs]) => {
    const backendRefs = refs.map(([b, m], i) => `{name: ${b}, modelNameOverride: "${m}", priority: ${i}}`).join(', ');
    return `    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: ${model}}]}]
      backendRefs: [${backendRefs}]
      streamIdleTimeout: 400ms`;
  }).join('\n');
  return gatewayYaml(port) + `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: continued, namespace: default}
spec:
  parentRefs: [{name: aigw}]
  rules:
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: cont-anthropic}]}]
      backendRefs: [{name: anthropic, modelNameOverride: claude-midstream-reset, priority: 0}, {name: anthropic, modelNameOverride: claude-3-5-haiku-latest, priority: 1}]
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: cont-openai}]}]
      backendRefs: [{name: openai, modelNameOverride: gpt-4o-midstream-reset, priority: 0}, {name: openai, modelNameOverride: gpt-4o-mini, priority: 1}]
  llmRequestCosts:
    - {metadataKey: llm_total_token, type: TotalToken}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata:
  name: continued
  namespace: default
  annotations: {aigw.run/stream-continuation: "true"}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: continued}]
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: resilience, namespace: default}
spec:
  parentRefs: [{name: aigw}]
  rules:
${rules}
  llmRequestCosts:
    - {metadataKey: llm_total_token, type: TotalToken}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: fake, namespace: default}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: ${fakePort}}}]
` + backend('openai', '{name: OpenAI}') + backend('bedrock', '{name: AWSBedrock}') +
    backend('anthropic', '{name: Anthropic}') + backend('vertex', '{name: GCPVertexAI}') + `---
apiVersion: v1
kind: Secret
metadata: {name: aws, namespace: default}
stringData:
  credentials: |
    [default]
    aws_access_key_id = AKIDEXAMPLE
    aws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
---
apiVersion: v1
kind: Secret
metadata: {name: gcp, namespace: default}
data:
  service_account.json: ${Buffer.from(serviceAccountJson).toString('base64')}
---
apiVersion: v1
kind: Secret
metadata: {name: anthropic-key, namespace: default}
stringData: {apiKey: sk-ant-test}
` + policy('aws', ['bedrock'], `  type: AWSCredentials
  awsCredentials:
    region: us-east-1
    credentialsFile: {secretRef: {name: aws}}
`) + policy('gcp', ['vertex'], `  type: GCPCredentials
  gcpCredentials:
    projectName: fake-project
    region: us-central1
    credentialsFile: {secretRef: {name: gcp}}
`) + policy('anthropic-key', ['anthropic'], `  type: AnthropicAPIKey
  anthropicAPIKey: {secretRef: {name: anthropic-key}}
`);
}

describe('aigw run: streams that fail', () => {
  let fp;
  let gw;
  let openai;
  let anthropic;
  before(async () => {
    fp = await startFakeProviders({ port: 0 });
    gw = await startAigw({ config: (port) => config(port, fp.port, JSON.stringify(fp.gcpServiceAccount)) });
    openai = new OpenAI({ apiKey: 'sk-client', baseURL: `${gw.base}/v1`, maxRetries: 0 });
    anthropic = new Anthropic({ apiKey: 'sk-client', baseURL: `${gw.base}/anthropic`, maxRetries: 0 });
  });
  after(async () => {
    await gw?.stop();
    await fp?.close();
  });

  async function streamChat(model) {
    const s = await openai.chat.completions.create({
      model, stream: true, stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'Tell me about gateways.' }],
    });
    let text = '';
    let usage = null;
    let roles = 0;
    for await (const c of s) {
      if (c.choices?.[0]?.delta?.role) roles++;
      text += c.choices?.[0]?.delta?.content ?? '';
      if (c.usage) usage = c.usage;
    }
    return { text, usage, roles };
  }

  for (const model of ['fo-openai-error', 'fo-openai-reset', 'fo-openai-empty', 'fo-openai-idle',
    'fo-bedrock-error', 'fo-bedrock-reset', 'fo-anthropic-error', 'fo-gemini-error', 'fo-gemini-empty']) {
    it(`${model}: the next backend serves the stream; the client sees one clean stream`, async () => {
      const from = fp.requests.length;
      const r = await streamChat(model);
      assert.ok(r.text.length > 0, 'no content');
      assert.equal(r.roles, 1, 'the client saw the role chunk of two streams');
      assert.ok(r.usage && r.usage.total_tokens > 0, JSON.stringify(r.usage));
      assert.ok(fp.requests.length - from >= 2, `the fake saw ${fp.requests.length - from} request(s)`);
      const line = await gw.logLine((l) => l['x-ai-eg-model'] === model);
      assert.equal(line.failovers, 1, JSON.stringify(line));
      assert.equal(line.status, 200);
      assert.equal(line.error, undefined, 'a request the next backend served is no failure');
    });
  }

  it('an Anthropic Messages client gets one clean stream after a failover (official SDK)', async () => {
    const s = anthropic.messages.stream({
      model: 'fo-anthropic-error', max_tokens: 64, messages: [{ role: 'user', content: 'Tell me about gateways.' }],
    });
    const starts = [];
    s.on('streamEvent', (e) => { if (e.type === 'message_start') starts.push(e); });
    const msg = await s.finalMessage();
    assert.equal(starts.length, 1);
    assert.ok(msg.content[0].text.length > 0);
    assert.ok(msg.usage.output_tokens > 0);
  });

  it('after content, a reset ends the stream with an error the OpenAI SDK raises; nothing is replayed', async () => {
    const from = fp.requests.length;
    let text = '';
    await assert.rejects(async () => {
      const s = await openai.chat.completions.create({
        model: 'cut-openai-reset', stream: true, messages: [{ role: 'user', content: 'Tell me about gateways.' }],
      });
      for await (const c of s) text += c.choices?.[0]?.delta?.content ?? '';
    }, (e) => e instanceof OpenAI.APIError && /stream broke/.test(e.message));
    assert.ok(text.length > 0, 'the content before the cut reached the client');
    assert.equal(fp.requests.length - from, 1, 'the stream was not sent to another backend after content');
    const line = await gw.logLine((l) => l['x-ai-eg-model'] === 'cut-openai-reset');
    assert.match(line.error, /stream/);
    assert.ok(!line.failovers);
    // No usage came before the cut: charged as admission estimates it, and the line says so.
    assert.equal(line.usage_estimated, true);
    assert.ok(line.total_tokens > 0, JSON.stringify(line));
  });

  it('after content, an idle stream ends with the error event once streamIdleTimeout passes', async () => {
    const started = Date.now();
    await assert.rejects(async () => {
      const s = await openai.chat.completions.create({
        model: 'cut-openai-idle', stream: true, messages: [{ role: 'user', content: 'Tell me about gateways.' }],
      });
      for await (const _ of s);
    }, (e) => e instanceof OpenAI.APIError && /idle/.test(e.message));
    assert.ok(Date.now() - started < 5000 * SLOW);
  });

  it('after content, an Anthropic stream ends with an `error` event the Anthropic SDK raises', async () => {
    await assert.rejects(async () => {
      const s = anthropic.messages.stream({
        model: 'cut-anthropic-reset', max_tokens: 64, messages: [{ role: 'user', content: 'Tell me about gateways.' }],
      });
      await s.finalMessage();
    }, (e) => /stream broke/.test(String(e.message)));
  });

  it('with no other backend, the provider error event reaches the client as it is', async () => {
    await assert.rejects(async () => {
      const s = await openai.chat.completions.create({
        model: 'only-openai-error', stream: true, messages: [{ role: 'user', content: 'hi' }],
      });
      for await (const _ of s);
    }, (e) => e instanceof OpenAI.APIError);
  });

  it('aigw.run/stream-continuation: a stream broken after content is carried on from a prefill', async () => {
    const from = fp.requests.length;
    const r = await streamChat('cont-anthropic');
    assert.equal(r.roles, 1, 'the continuation added a second role chunk');
    const sent = fp.requests.slice(from).map((q) => JSON.parse(q.body));
    assert.equal(sent.length, 2);
    const last = sent[1].messages[sent[1].messages.length - 1];
    assert.equal(last.role, 'assistant', JSON.stringify(sent[1].messages));
    const prefill = typeof last.content === 'string' ? last.content : last.content.map((c) => c.text).join('');
    assert.ok(prefill.length > 0 && r.text.startsWith(prefill), `client text ${JSON.stringify(r.text)} prefill ${JSON.stringify(prefill)}`);
    assert.ok(r.text.length > prefill.length, 'nothing came after the prefill');
    assert.ok(r.usage && r.usage.total_tokens > 0);
    const line = await gw.logLine((l) => l['x-ai-eg-model'] === 'cont-anthropic');
    assert.equal(line.continuations, 1, JSON.stringify(line));
    assert.equal(line.error, undefined);
  });

  it('stream-continuation for an Anthropic Messages client (official SDK): one message, carried on', async () => {
    const from = fp.requests.length;
    const s = anthropic.messages.stream({
      model: 'cont-anthropic', max_tokens: 64, messages: [{ role: 'user', content: 'Tell me about gateways.' }],
    });
    let starts = 0;
    s.on('streamEvent', (e) => { if (e.type === 'message_start') starts++; });
    const msg = await s.finalMessage();
    assert.equal(starts, 1);
    const sent = fp.requests.slice(from).map((q) => JSON.parse(q.body));
    assert.equal(sent.length, 2);
    const last = sent[1].messages[sent[1].messages.length - 1];
    assert.equal(last.role, 'assistant');
    assert.ok(msg.content[0].text.startsWith(last.content) && msg.content[0].text.length > last.content.length,
      `${JSON.stringify(msg.content[0].text)} / prefill ${JSON.stringify(last.content)}`);
  });

  it('stream-continuation with no backend that takes a prefill ends with the error event as before', async () => {
    await assert.rejects(async () => {
      const s = await openai.chat.completions.create({
        model: 'cont-openai', stream: true, messages: [{ role: 'user', content: 'Tell me about gateways.' }],
      });
      for await (const _ of s);
    }, (e) => e instanceof OpenAI.APIError && /stream broke/.test(e.message));
  });

  it('counts failovers and in-band errors by reason', async () => {
    const m = await (await fetch(`${gw.admin}/metrics`)).text();
    const v = (reason, outcome) => Number(new RegExp(`^aigw_stream_failures_total\\{reason="${reason}",outcome="${outcome}"\\} (\\d+)`, 'm').exec(m)?.[1]);
    assert.ok(v('error_event', 'failover') >= 4, m);
    assert.ok(v('reset', 'failover') >= 2);
    assert.ok(v('empty', 'failover') >= 2);
    assert.ok(v('idle', 'failover') >= 1);
    assert.ok(v('reset', 'error_event') >= 2);
    assert.ok(v('idle', 'error_event') >= 1);
  });
});
