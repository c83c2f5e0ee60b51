// The endpoints beyond chat: the Responses API (and its input_tokens count), image generation,
// speech, transcription and translation (multipart), vLLM's /tokenize against every schema that
// serves it, GET /v1/models/{id}, and the refusals (an endpoint a schema does not serve, multipart
// where JSON is expected). Driven by the official `openai` SDK, the Vercel AI SDK and LangChain
// against `aigw run` in front of the fake providers, which speak each provider's real wire format
// (SigV4 verified for Bedrock and its OpenAI-compatible API, Azure keys and api-version, Google
// tokens, OpenAI's bearer key).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import readline from 'node:readline';
import os from 'node:os';
import path from 'node:path';
import OpenAI, { toFile } from 'openai';
import { generateText, streamText } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { ChatOpenAI } from '@langchain/openai';
import { startAigw, gatewayYaml, freePort, AIGW_BIN, SLOW } from '../lib/harness.mjs';
import { HAVE_PROTOS, MiniEnvoy, extprocClient, translateToBundle } from '../lib/envoy.mjs';
import { startFakeProviders } from '../../../tools/fakeproviders/server.mjs';
import { fakeAudio } from '../../../tools/fakeproviders/lib/media.mjs';
import { buildMultipart } from '../../../tools/fakeproviders/lib/multipart.mjs';
import { fakeBackendYaml as backend, securityPolicyYaml as policy } from '../lib/fakeconfig.mjs';

const AWS_KEY = 'AKIDEXAMPLE';
const AWS_SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const OPENAI_KEY = 'sk-upstream-openai';
const AZURE_VERSION = '2025-04-01-preview';
const VLLM_MODEL = 'meta-llama/Llama-3.1-8B-Instruct';

// model → backend (and an optional model name override)
const ROUTES = [
  ['gpt-4.1', 'openai'],
  ['gpt-image-1', 'openai'],
  ['gpt-4o-mini-tts', 'openai'],
  ['gpt-4o-mini-transcribe', 'openai'],
  ['whisper-1', 'openai'],
  [VLLM_MODEL, 'openai'],
  ['transcriber', 'openai', 'gpt-4o-mini-transcribe'],
  ['my-assistant', 'openai', 'gpt-4.1'],
  ['gpt-midstream-error', 'openai'],
  ['gpt-error-429', 'openai'],
  ['o4-mini', 'openai'],
  ['gpt-4o-azure', 'azure'],
  ['openai.gpt-oss-20b-1:0', 'awsopenai'],
  ['gemini-2.5-flash', 'vertex'],
  ['claude-sonnet-4@20250514', 'vertex-anthropic'],
  ['claude-3-5-haiku@latest', 'vertex-anthropic'],
  ['us.anthropic.claude-sonnet-4-20250514-v1:0', 'bedrock'],
  ['eu.anthropic.claude-3-5-sonnet-20240620-v1:0', 'bedrock-anthropic'],
];

function config(port, fakePort, serviceAccountJson) {
  // One rule per backend and override (upstream allows 15 rules a route), its models ORed.
  const byRef = new Map();
  for (const [model, b, override] of ROUTES) {
    const ref = `{name: ${b}${override ? `, modelNameOverride: ${override}` : ''}}`;
    byRef.set(ref, [...(byRef.get(ref) ?? []), model]);
  }
  const rules = [...byRef].map(([ref, models]) =>
    `    - matches: [${models.map((m) => `{headers: [{type: Exact, name: x-ai-eg-model, value: "${m}"}]}`).join(', ')}]\n      backendRefs: [${ref}]`).join('\n');
  return (
    gatewayYaml(port) +
    `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: endpoints, namespace: default}
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
` +
    backend('openai', '{name: OpenAI}') +
    backend('azure', `{name: AzureOpenAI, version: ${AZURE_VERSION}}`) +
    backend('awsopenai', '{name: AWSOpenAI}') +
    backend('vertex', '{name: GCPVertexAI}') +
    backend('vertex-anthropic', '{name: GCPAnthropic, version: vertex-2023-10-16}') +
    backend('bedrock', '{name: AWSBedrock}') +
    backend('bedrock-anthropic', '{name: AWSAnthropic, version: bedrock-2023-05-31}') +
    `---
apiVersion: v1
kind: Secret
metadata: {name: openai-key, namespace: default}
stringData: {apiKey: ${OPENAI_KEY}}
---
apiVersion: v1
kind: Secret
metadata: {name: azure-key, namespace: default}
stringData: {apiKey: azure-test-key}
---
apiVersion: v1
kind: Secret
metadata: {name: aws, namespace: default}
stringData:
  credentials: |
    [default]
    aws_access_key_id = ${AWS_KEY}
    aws_secret_access_key = ${AWS_SECRET}
---
apiVersion: v1
kind: Secret
metadata: {name: gcp, namespace: default}
data:
  service_account.json: ${Buffer.from(serviceAccountJson).toString('base64')}
` +
    policy('openai-key', ['openai'], `  type: APIKey
  apiKey: {secretRef: {name: openai-key}}
`) +
    policy('azure-key', ['azure'], `  type: AzureAPIKey
  azureAPIKey: {secretRef: {name: azure-key}}
`) +
    policy('aws', ['awsopenai', 'bedrock', 'bedrock-anthropic'], `  type: AWSCredentials
  awsCredentials:
    region: us-east-1
    credentialsFile: {secretRef: {name: aws}}
`) +
    policy('gcp', ['vertex', 'vertex-anthropic'], `  type: GCPCredentials
  gcpCredentials:
    projectName: fake-project
    region: us-central1
    credentialsFile: {secretRef: {name: gcp}}
`)
  );
}

const rid = (tag) => `${tag}-${crypto.randomUUID().slice(0, 8)}`;

// Server-sent events of a text body: [{event, data, json}].
function sse(text) {
  return text.split(/\r?\n\r?\n/).filter((b) => b.trim()).map((block) => {
    const ev = { event: null, data: '' };
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith('event:')) ev.event = line.slice(6).trim();
      else if (line.startsWith('data:')) ev.data += line.slice(5).replace(/^ /, '');
    }
    try {
      ev.json = JSON.parse(ev.data);
    } catch {
      ev.json = undefined;
    }
    return ev;
  });
}

describe('Responses, images, audio, tokenize and model lookup through aigw', () => {
  let fake;
  let gw;
  let client;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-endpoints-'));
  // the fake's requests since `mark`
  const since = (mark) => fake.requests.slice(mark);

  before(async () => {
    const saPath = path.join(dir, 'sa.json');
    fake = await startFakeProviders({ port: 0, gcpServiceAccountOut: saPath, chunkDelayMs: 1, openaiApiKey: OPENAI_KEY });
    gw = await startAigw({ config: (port) => config(port, fake.port, readFileSync(saPath, 'utf8')) });
    client = new OpenAI({ baseURL: `${gw.base}/v1`, apiKey: 'sk-client-never-forwarded', maxRetries: 0 });
  });
  after(async () => {
    await gw?.stop();
    await fake?.close();
  });

  describe('POST /v1/responses', () => {
    it('OpenAI: the SDK parses the Response; the key is replaced; usage is logged', async () => {
      const id = rid('resp');
      const mark = fake.requests.length;
      const r = await client.responses.create(
        { model: 'gpt-4.1', instructions: 'be brief', input: 'hello responses through the gateway' },
        { headers: { 'x-request-id': id } },
      );
      assert.equal(r.object, 'response');
      assert.match(r.id, /^resp_/);
      assert.equal(r.status, 'completed');
      assert.equal(r.model, 'gpt-4.1-2025-04-14'); // OpenAI answers with the snapshot
      assert.equal(r.output_text, 'echo: hello responses through the gateway');
      // instructions 2 words + input 5; answer 6 words
      assert.deepEqual(r.usage, { input_tokens: 7, input_tokens_details: { cached_tokens: 0 }, output_tokens: 6, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 13 });
      const [up] = since(mark);
      assert.equal(up.path, '/v1/responses');
      assert.equal(up.headers.authorization, `Bearer ${OPENAI_KEY}`);
      assert.equal(up.status, 200);
      const line = await gw.logLine((l) => l.request_id === id);
      assert.equal(line.status, 200);
      assert.equal(line.path, '/v1/responses');
      assert.equal(line.backend_name, 'default/openai');
      assert.equal(line.response_model, 'gpt-4.1-2025-04-14');
      assert.equal(line.input_tokens, 7);
      assert.equal(line.output_tokens, 6);
      assert.equal(line.total_tokens, 13);
      assert.equal(line.llm_total_token, 13);
    });

    it('OpenAI stream: events in order, text in pieces, usage from response.completed in the log', async () => {
      const id = rid('resp-stream');
      const stream = await client.responses.create(
        { model: 'gpt-4.1', input: 'stream four words please', stream: true },
        { headers: { 'x-request-id': id } },
      );
      const types = [];
      let text = '';
      let completed = null;
      for await (const ev of stream) {
        types.push(ev.type);
        if (ev.type === 'response.output_text.delta') text += ev.delta;
        if (ev.type === 'response.completed') completed = ev.response;
      }
      assert.equal(types[0], 'response.created');
      assert.equal(types.at(-1), 'response.completed');
      assert.equal(types.filter((t) => t === 'response.output_text.delta').length, 5);
      assert.equal(text, 'echo: stream four words please');
      assert.deepEqual([completed.usage.input_tokens, completed.usage.output_tokens, completed.usage.total_tokens], [4, 5, 9]);
      const line = await gw.logLine((l) => l.request_id === id);
      assert.equal(line.stream, true);
      assert.equal(line.status, 200);
      assert.equal(line.response_model, 'gpt-4.1-2025-04-14'); // from response.created
      assert.equal(line.input_tokens, 4);
      assert.equal(line.output_tokens, 5);
      assert.equal(line.total_tokens, 9);
    });

    it('OpenAI: a function call and its output round trip (Responses input items pass through unchanged)', async () => {
      const tools = [{ type: 'function', name: 'get_weather', description: 'Weather in a city', parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] }, strict: true }];
      const first = await client.responses.create({ model: 'gpt-4.1', input: 'what is the weather in Paris?', tools });
      const call = first.output.find((o) => o.type === 'function_call');
      assert.equal(call.name, 'get_weather');
      assert.deepEqual(JSON.parse(call.arguments), { location: 'Paris' });
      const second = await client.responses.create({
        model: 'gpt-4.1',
        tools,
        input: [
          { role: 'user', content: 'what is the weather in Paris?' },
          { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments },
          { type: 'function_call_output', call_id: call.call_id, output: 'sunny and warm' },
        ],
      });
      assert.equal(second.output_text, 'The weather is sunny and warm');
    });

    it('Azure: /openai/responses?api-version=…, the model in the body, api-key; stream usage logged', async () => {
      const mark = fake.requests.length;
      const r = await client.responses.create({ model: 'gpt-4o-azure', input: 'hello azure responses' });
      assert.equal(r.output_text, 'echo: hello azure responses');
      assert.deepEqual([r.usage.input_tokens, r.usage.output_tokens], [3, 4]);
      const [up] = since(mark);
      assert.equal(up.path, `/openai/responses?api-version=${AZURE_VERSION}`);
      assert.equal(up.headers['api-key'], 'azure-test-key');
      assert.equal(up.headers.authorization, undefined);
      assert.equal(JSON.parse(up.body).model, 'gpt-4o-azure');
      const id = rid('azure-stream');
      const stream = await client.responses.create({ model: 'gpt-4o-azure', input: 'azure streams too', stream: true }, { headers: { 'x-request-id': id } });
      let text = '';
      for await (const ev of stream) if (ev.type === 'response.output_text.delta') text += ev.delta;
      assert.equal(text, 'echo: azure streams too');
      const line = await gw.logLine((l) => l.request_id === id);
      assert.equal(line.backend_name, 'default/azure');
      assert.deepEqual([line.input_tokens, line.output_tokens, line.total_tokens], [3, 4, 7]);
    });

    it('AWSOpenAI: Bedrock’s OpenAI-compatible /openai/v1/responses and /chat/completions, SigV4-signed', async () => {
      const mark = fake.requests.length;
      const id = rid('aws-resp');
      const r = await client.responses.create({ model: 'openai.gpt-oss-20b-1:0', input: 'hello bedrock responses' }, { headers: { 'x-request-id': id } });
      assert.equal(r.output_text, 'echo: hello bedrock responses');
      const id2 = rid('aws-resp-stream');
      const stream = await client.responses.create({ model: 'openai.gpt-oss-20b-1:0', input: 'bedrock streams responses', stream: true }, { headers: { 'x-request-id': id2 } });
      let text = '';
      for await (const ev of stream) if (ev.type === 'response.output_text.delta') text += ev.delta;
      assert.equal(text, 'echo: bedrock streams responses');
      const chat = await client.chat.completions.create({ model: 'openai.gpt-oss-20b-1:0', messages: [{ role: 'user', content: 'hello bedrock chat' }] });
      assert.equal(chat.choices[0].message.content, 'echo: hello bedrock chat');
      // a chat stream without include_usage: injected (costs are configured), so usage is counted
      const id3 = rid('aws-chat-stream');
      const cs = await client.chat.completions.create({ model: 'openai.gpt-oss-20b-1:0', messages: [{ role: 'user', content: 'bedrock chat streams' }], stream: true }, { headers: { 'x-request-id': id3 } });
      let chatText = '';
      for await (const c of cs) chatText += c.choices[0]?.delta?.content ?? '';
      assert.equal(chatText, 'echo: bedrock chat streams');
      const ups = since(mark);
      assert.deepEqual(ups.map((q) => q.path), ['/openai/v1/responses', '/openai/v1/responses', '/openai/v1/chat/completions', '/openai/v1/chat/completions']);
      assert.deepEqual(JSON.parse(ups[3].body).stream_options, { include_usage: true });
      const line3 = await gw.logLine((l) => l.request_id === id3);
      assert.deepEqual([line3.input_tokens, line3.output_tokens, line3.total_tokens], [3, 4, 7]);
      for (const q of ups) {
        assert.match(q.headers.authorization, /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/us-east-1\/bedrock\/aws4_request, SignedHeaders=[^,]*host[^,]*, Signature=[0-9a-f]{64}$/);
        assert.equal(q.status, 200, `the fake refused the signature of ${q.path}`);
      }
      const line = await gw.logLine((l) => l.request_id === id);
      assert.deepEqual([line.input_tokens, line.output_tokens, line.total_tokens], [3, 4, 7]);
      const line2 = await gw.logLine((l) => l.request_id === id2);
      assert.equal(line2.stream, true);
      assert.deepEqual([line2.input_tokens, line2.output_tokens], [3, 4]);
    });

    it('reasoning tokens and an incomplete (max_output_tokens) stream are counted, as upstream reads them', async () => {
      const id = rid('reasoning');
      const r = await client.responses.create({ model: 'o4-mini', input: 'think about this', reasoning: { effort: 'low' } }, { headers: { 'x-request-id': id } });
      const reasoning = r.usage.output_tokens_details.reasoning_tokens;
      assert.ok(reasoning > 0);
      assert.equal(r.usage.output_tokens, 4 + reasoning);
      const line = await gw.logLine((l) => l.request_id === id);
      assert.equal(line.reasoning_tokens, reasoning);
      assert.equal(line.output_tokens, 4 + reasoning);
      const id2 = rid('reasoning-stream');
      const stream = await client.responses.create({ model: 'o4-mini', input: 'think about this', reasoning: { effort: 'low' }, stream: true }, { headers: { 'x-request-id': id2 } });
      for await (const ev of stream) void ev;
      const line2 = await gw.logLine((l) => l.request_id === id2);
      assert.equal(line2.reasoning_tokens, reasoning);
      const id3 = rid('incomplete');
      const words = Array.from({ length: 20 }, (_, i) => `w${i}`).join(' ');
      const inc = await client.responses.create({ model: 'gpt-4.1', input: words, max_output_tokens: 16, stream: true }, { headers: { 'x-request-id': id3 } });
      let last = null;
      for await (const ev of inc) last = ev;
      assert.equal(last.type, 'response.incomplete');
      assert.equal(last.response.incomplete_details.reason, 'max_output_tokens');
      const line3 = await gw.logLine((l) => l.request_id === id3);
      assert.deepEqual([line3.input_tokens, line3.output_tokens, line3.total_tokens], [20, 16, 36]);
    });

    it('a model name override rewrites the body model; the override is logged', async () => {
      const id = rid('resp-override');
      const mark = fake.requests.length;
      const r = await client.responses.create({ model: 'my-assistant', input: 'who answers this' }, { headers: { 'x-request-id': id } });
      assert.equal(r.output_text, 'echo: who answers this');
      const [up] = since(mark);
      assert.equal(JSON.parse(up.body).model, 'gpt-4.1');
      assert.equal(JSON.parse(up.body).input, 'who answers this');
      const line = await gw.logLine((l) => l.request_id === id);
      assert.equal(line['x-ai-eg-model'], 'my-assistant');
      assert.equal(line.model_name_override, 'gpt-4.1');
      assert.deepEqual([line.input_tokens, line.output_tokens], [3, 4]);
    });

    it('provider errors keep their status and OpenAI body; an error event mid-stream reaches the SDK', async () => {
      await assert.rejects(
        client.responses.create({ model: 'gpt-error-429', input: 'hi' }),
        (e) => e instanceof OpenAI.RateLimitError && e.code === 'rate_limit_exceeded',
      );
      const id = rid('resp-midstream');
      const stream = await client.responses.create({ model: 'gpt-midstream-error', input: 'one two three four', stream: true }, { headers: { 'x-request-id': id } });
      const events = [];
      for await (const ev of stream) events.push(ev); // the SDK yields the `error` event as an event
      assert.equal(events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta).join(''), 'echo: ');
      const [err, failed] = events.slice(-2);
      assert.equal(err.type, 'error');
      assert.equal(err.code, 'server_error');
      assert.equal(failed.type, 'response.failed');
      assert.equal(failed.response.status, 'failed');
      const line = await gw.logLine((l) => l.request_id === id);
      assert.equal(line.status, 200);
      assert.equal(line.stream, true);
    });

    it('an endpoint the backend’s schema does not serve is a 422, and nothing is sent upstream', async () => {
      const mark = fake.requests.length;
      await assert.rejects(
        client.responses.create({ model: 'gemini-2.5-flash', input: 'hi' }),
        (e) => e instanceof OpenAI.APIError && e.status === 422,
      );
      await assert.rejects(
        client.images.generate({ model: 'gemini-2.5-flash', prompt: 'a fox' }),
        (e) => e instanceof OpenAI.APIError && e.status === 422,
      );
      // multipart, to a schema without audio
      await assert.rejects(
        client.audio.transcriptions.create({ model: 'gpt-4o-azure', file: await toFile(Buffer.from('x'), 'a.mp3') }),
        (e) => e instanceof OpenAI.APIError && e.status === 422,
      );
      // /tokenize on Azure, /v1/responses/input_tokens on Bedrock's OpenAI API
      let res = await fetch(`${gw.base}/tokenize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-azure', prompt: 'x' }) });
      assert.equal(res.status, 422);
      res = await fetch(`${gw.base}/v1/responses/input_tokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'openai.gpt-oss-20b-1:0', input: 'x' }) });
      assert.equal(res.status, 422);
      assert.equal(since(mark).length, 0);
    });

    it('multipart/form-data to /v1/chat/completions (or another JSON endpoint) is a 400', async () => {
      const mark = fake.requests.length;
      for (const p of ['/v1/chat/completions', '/v1/responses', '/v1/embeddings', '/v1/images/generations', '/tokenize']) {
        const form = new FormData();
        form.set('model', 'gpt-4.1');
        form.set('messages', '[{"role":"user","content":"hi"}]');
        const res = await fetch(`${gw.base}${p}`, { method: 'POST', headers: { 'x-ai-eg-model': 'gpt-4.1' }, body: form });
        assert.equal(res.status, 400, p);
        const body = await res.json();
        assert.match(JSON.stringify(body), /multipart/i, p);
      }
      assert.equal(since(mark).length, 0);
    });
  });

  describe('POST /v1/responses/input_tokens', () => {
    it('OpenAI (SDK responses.inputTokens.count): the count, and input tokens in the log', async () => {
      const id = rid('count');
      const mark = fake.requests.length;
      const r = await client.responses.inputTokens.count(
        { model: 'gpt-4.1', instructions: 'be brief', input: 'hello responses through the gateway' },
        { headers: { 'x-request-id': id } },
      );
      assert.deepEqual(r, { object: 'response.input_tokens', input_tokens: 7 });
      const [up] = since(mark);
      assert.equal(up.path, '/v1/responses/input_tokens');
      assert.equal(up.headers.authorization, `Bearer ${OPENAI_KEY}`);
      const line = await gw.logLine((l) => l.request_id === id);
      assert.equal(line.status, 200);
      assert.equal(line.input_tokens, 7);
    });

    it('Azure: /openai/responses/input_tokens?api-version=…', async () => {
      const mark = fake.requests.length;
      const id = rid('azure-count');
      const r = await client.responses.inputTokens.count({ model: 'gpt-4o-azure', input: 'count these azure words' }, { headers: { 'x-request-id': id } });
      assert.deepEqual(r, { object: 'response.input_tokens', input_tokens: 4 });
      const [up] = since(mark);
      assert.equal(up.path, `/openai/responses/input_tokens?api-version=${AZURE_VERSION}`);
      assert.equal(up.headers['api-key'], 'azure-test-key');
      const line = await gw.logLine((l) => l.request_id === id);
      assert.equal(line.status, 200);
      assert.equal(line.input_tokens, 4);
    });
  });

  describe('POST /v1/images/generations', () => {
    it('gpt-image-1: a PNG, and the image token usage in the log', async () => {
      const id = rid('image');
      const r = await client.images.generate({ model: 'gpt-image-1', prompt: 'a red fox in snow', quality: 'low' }, { headers: { 'x-request-id': id } });
      assert.equal(r.data.length, 1);
      const png = Buffer.from(r.data[0].b64_json, 'base64');
      assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
      // prompt 5 words; a low-quality square image is 272 output tokens
      assert.deepEqual(r.usage, { input_tokens: 5, input_tokens_details: { image_tokens: 0, text_tokens: 5 }, output_tokens: 272, total_tokens: 277 });
      const line = await gw.logLine((l) => l.request_id === id);
      assert.equal(line.status, 200);
      assert.equal(line.path, '/v1/images/generations');
      assert.deepEqual([line.input_tokens, line.output_tokens, line.total_tokens], [5, 272, 277]);
    });
  });

  describe('POST /v1/audio/speech', () => {
    it('binary audio: the bytes and content type pass through unchanged', async () => {
      const id = rid('speech');
      const res = await client.audio.speech.create({ model: 'gpt-4o-mini-tts', voice: 'alloy', input: 'hello from the gateway' }, { headers: { 'x-request-id': id } });
      assert.equal(res.headers.get('content-type'), 'audio/mpeg');
      const bytes = Buffer.from(await res.arrayBuffer());
      assert.ok(bytes.equals(fakeAudio('hello from the gateway', 'mp3')), `got ${bytes.length} bytes`);
      const line = await gw.logLine((l) => l.request_id === id);
      assert.equal(line.status, 200);
      assert.equal(line.path, '/v1/audio/speech');
      assert.ok(!line.stream, 'not a stream');
    });

    it('stream_format sse: speech.audio.delta events carry the audio, speech.audio.done the usage', async () => {
      const id = rid('speech-sse');
      const res = await client.audio.speech.create(
        { model: 'gpt-4o-mini-tts', voice: 'alloy', input: 'stream the audio please', stream_format: 'sse' },
        { headers: { 'x-request-id': id } },
      );
      assert.match(res.headers.get('content-type'), /^text\/event-stream/);
      const events = sse(await res.text()).map((e) => e.json);
      const deltas = events.filter((e) => e.type === 'speech.audio.delta');
      assert.ok(deltas.length >= 2);
      const audio = Buffer.concat(deltas.map((e) => Buffer.from(e.audio, 'base64')));
      assert.ok(audio.equals(fakeAudio('stream the audio please', 'mp3')));
      assert.deepEqual(events.at(-1), { type: 'speech.audio.done', usage: { input_tokens: 4, output_tokens: 40, total_tokens: 44 } });
      const line = await gw.logLine((l) => l.request_id === id);
      assert.equal(line.stream, true);
      assert.equal(line.status, 200);
    });
  });

  describe('POST /v1/audio/transcriptions and /translations (multipart)', () => {
    it('transcription of speech made through the gateway: the file and model reach OpenAI intact', async () => {
      const speech = await client.audio.speech.create({ model: 'gpt-4o-mini-tts', voice: 'alloy', input: 'the round trip works' });
      const bytes = Buffer.from(await speech.arrayBuffer());
      const mark = fake.requests.length;
      const id = rid('transcribe');
      const r = await client.audio.transcriptions.create(
        { model: 'gpt-4o-mini-transcribe', file: await toFile(bytes, 'speech.mp3', { type: 'audio/mpeg' }), prompt: 'a short test' },
        { headers: { 'x-request-id': id } },
      );
      assert.equal(r.text, 'the round trip works');
      // 4 words heard: audio 20 + prompt 3 in, 4 out
      assert.deepEqual(r.usage, { type: 'tokens', input_tokens: 23, input_token_details: { text_tokens: 3, audio_tokens: 20 }, output_tokens: 4, total_tokens: 27 });
      const [up] = since(mark);
      assert.equal(up.path, '/v1/audio/transcriptions');
      assert.equal(up.headers.authorization, `Bearer ${OPENAI_KEY}`);
      assert.equal(up.form.model, 'gpt-4o-mini-transcribe');
      assert.equal(up.form.prompt, 'a short test');
      assert.deepEqual(up.form.file, { filename: 'speech.mp3', contentType: 'audio/mpeg', size: bytes.length });
      const line = await gw.logLine((l) => l.request_id === id);
      assert.equal(line.status, 200);
      assert.equal(line['x-ai-eg-model'], 'gpt-4o-mini-transcribe');
    });

    it('streamed transcription (form field stream=true): transcript.text.delta then transcript.text.done', async () => {
      const id = rid('transcribe-stream');
      const stream = await client.audio.transcriptions.create(
        { model: 'gpt-4o-mini-transcribe', file: await toFile(Buffer.from('streaming words arrive one by one'), 'clip.wav'), stream: true },
        { headers: { 'x-request-id': id } },
      );
      const deltas = [];
      let done = null;
      for await (const ev of stream) {
        if (ev.type === 'transcript.text.delta') deltas.push(ev.delta);
        if (ev.type === 'transcript.text.done') done = ev;
      }
      assert.equal(deltas.length, 6);
      assert.equal(deltas.join(''), 'streaming words arrive one by one');
      assert.equal(done.text, 'streaming words arrive one by one');
      assert.equal(done.usage.output_tokens, 6);
      const line = await gw.logLine((l) => l.request_id === id);
      assert.equal(line.stream, true);
      assert.equal(line.status, 200);
    });

    it('translation: whisper-1 at /v1/audio/translations', async () => {
      const mark = fake.requests.length;
      const r = await client.audio.translations.create({ model: 'whisper-1', file: await toFile(Buffer.from('bonjour tout le monde'), 'fr.mp3') });
      assert.deepEqual(r, { text: 'bonjour tout le monde' });
      const [up] = since(mark);
      assert.equal(up.path, '/v1/audio/translations');
      assert.equal(up.form.model, 'whisper-1');
    });

    it('a model override rewrites the model form field; the boundary and the other parts are kept', async () => {
      // through the SDK: the fake refuses the unknown name `transcriber` (404), so a success is the override
      let mark = fake.requests.length;
      const r = await client.audio.transcriptions.create({ model: 'transcriber', file: await toFile(Buffer.from('override me please'), 'a.mp3') });
      assert.equal(r.text, 'override me please');
      assert.equal(since(mark)[0].form.model, 'gpt-4o-mini-transcribe');
      // a raw form with a known boundary and the model part in the middle
      const file = Buffer.from([0xff, 0xfb, 0x90, 0x64, ...Buffer.from('binary then text\r\n--not-a-boundary\r\n')]);
      const m = buildMultipart([
        { name: 'language', value: 'en' },
        { name: 'model', value: 'transcriber', contentType: 'text/plain; charset=utf-8' },
        { name: 'file', filename: 'b.mp3', contentType: 'audio/mpeg', value: file },
        { name: 'response_format', value: 'text' },
      ], 'aigw-test-boundary-1234');
      mark = fake.requests.length;
      const id = rid('override');
      const res = await fetch(`${gw.base}/v1/audio/transcriptions`, { method: 'POST', headers: { 'content-type': m.contentType, 'x-request-id': id }, body: m.body });
      assert.equal(res.status, 200, await res.clone().text());
      assert.match(res.headers.get('content-type'), /^text\/plain/);
      assert.match(await res.text(), /^\(unintelligible audio, \d+ bytes\)\n$/);
      const [up] = since(mark);
      assert.equal(up.headers['content-type'], m.contentType);
      assert.deepEqual(up.form, { language: 'en', model: 'gpt-4o-mini-transcribe', file: { filename: 'b.mp3', contentType: 'audio/mpeg', size: file.length }, response_format: 'text' });
      assert.equal(Number(up.headers['content-length']), m.body.length - 'transcriber'.length + 'gpt-4o-mini-transcribe'.length);
      const line = await gw.logLine((l) => l.request_id === id);
      assert.equal(line['x-ai-eg-model'], 'transcriber');
      assert.equal(line.model_name_override, 'gpt-4o-mini-transcribe');
      // a quoted boundary (RFC 2046 allows it, and requires it for some characters)
      const q = buildMultipart([{ name: 'model', value: 'transcriber' }, { name: 'file', filename: 'c.mp3', value: 'quoted boundary works' }], "'()+_,-./:=? q");
      mark = fake.requests.length;
      const res2 = await fetch(`${gw.base}/v1/audio/transcriptions`, { method: 'POST', headers: { 'content-type': `multipart/form-data; boundary="'()+_,-./:=? q"` }, body: q.body });
      assert.equal(res2.status, 200, await res2.clone().text());
      assert.equal((await res2.json()).text, 'quoted boundary works');
      assert.equal(since(mark)[0].form.model, 'gpt-4o-mini-transcribe');
    });

    it('a JSON body, or a form without its model, is refused before any upstream call', async () => {
      const mark = fake.requests.length;
      let res = await fetch(`${gw.base}/v1/audio/transcriptions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'whisper-1' }) });
      assert.equal(res.status, 400);
      const m = buildMultipart([{ name: 'file', filename: 'a.mp3', value: 'x' }], 'b0undary');
      res = await fetch(`${gw.base}/v1/audio/transcriptions`, { method: 'POST', headers: { 'content-type': m.contentType }, body: m.body });
      assert.equal(res.status, 400);
      assert.match(await res.text(), /model/);
      const withModel = buildMultipart([{ name: 'model', value: 'whisper-1' }, { name: 'file', filename: 'a.mp3', value: 'x' }], 'b0undary');
      res = await fetch(`${gw.base}/v1/audio/translations`, { method: 'POST', headers: { 'content-type': 'multipart/form-data' }, body: withModel.body });
      assert.equal(res.status, 400, 'no boundary');
      res = await fetch(`${gw.base}/v1/audio/translations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'whisper-1' }) });
      assert.equal(res.status, 400, 'JSON to translations');
      assert.equal(since(mark).length, 0);
    });
  });

  describe('POST /tokenize', () => {
    const tokenize = async (body) => {
      const res = await fetch(`${gw.base}/tokenize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, body: await res.json() };
    };
    const chat = (model) => ({ model, messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'count my tokens please' }] });

    // As upstream's endpoint parse: the request is validated before it is routed.
    it('both prompt and messages is a 400 from the gateway, not sent upstream', async () => {
      for (const model of ['gemini-2.5-flash', VLLM_MODEL]) {
        const mark = fake.requests.length;
        const r = await tokenize({ model, prompt: 'x', messages: [{ role: 'user', content: 'x' }] });
        assert.equal(r.status, 400, JSON.stringify(r.body));
        assert.match(JSON.stringify(r.body), /prompt.*messages|messages.*prompt/);
        assert.deepEqual(since(mark).map((q) => q.path), [], `${model}: sent upstream`);
      }
    });

    it('a request without a model is a 400 (model is required), not a 404', async () => {
      const r = await tokenize({ prompt: 'x' });
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.match(JSON.stringify(r.body), /model/);
    });

    it('OpenAI (vLLM): passthrough to /tokenize, the answer unchanged', async () => {
      const mark = fake.requests.length;
      let r = await tokenize({ model: VLLM_MODEL, prompt: 'hello big world', return_token_strs: true });
      assert.equal(r.status, 200);
      assert.equal(r.body.count, 4);
      assert.equal(r.body.max_model_len, 8192);
      assert.equal(r.body.tokens.length, 4);
      assert.deepEqual(r.body.token_strs, ['<s>', 'hello', 'big', 'world']);
      r = await tokenize(chat(VLLM_MODEL));
      assert.equal(r.body.count, 6 + 2 + 2 + 1); // 6 words, a role and an end token per message, the generation prompt
      const ups = since(mark);
      assert.deepEqual(ups.map((q) => q.path), ['/tokenize', '/tokenize']);
      assert.equal(ups[0].headers.authorization, `Bearer ${OPENAI_KEY}`);
      assert.deepEqual(JSON.parse(ups[1].body), chat(VLLM_MODEL));
    });

    const CASES = [
      ['GCPVertexAI', 'gemini-2.5-flash', /^\/v1\/projects\/fake-project\/locations\/us-central1\/publishers\/google\/models\/gemini-2\.5-flash:countTokens$/],
      ['GCPAnthropic', 'claude-sonnet-4@20250514', /^\/v1\/projects\/fake-project\/locations\/us-central1\/publishers\/anthropic\/models\/count-tokens:rawPredict$/],
      // the inference-profile prefix dropped (Bedrock counts tokens for base model ids only); the
      // ':' sent as is, as upstream's url.PathEscape leaves it (signed as %3A, which AWS accepts)
      ['AWSBedrock', 'us.anthropic.claude-sonnet-4-20250514-v1:0', /^\/model\/anthropic\.claude-sonnet-4-20250514-v1(:|%3A)0\/count-tokens$/],
      ['AWSAnthropic', 'eu.anthropic.claude-3-5-sonnet-20240620-v1:0', /^\/model\/anthropic\.claude-3-5-sonnet-20240620-v1(:|%3A)0\/count-tokens$/],
    ];
    for (const [schema, model, upstreamPath] of CASES) {
      it(`${schema}: the provider's count-tokens call, normalized to vLLM's shape`, async () => {
        const mark = fake.requests.length;
        let r = await tokenize(chat(model));
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.deepEqual(r.body, { count: 6, max_model_len: 0, tokens: null });
        r = await tokenize({ model, prompt: 'three little words' });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.deepEqual(r.body, { count: 3, max_model_len: 0, tokens: null });
        const ups = since(mark).filter((q) => q.path !== '/token'); // the first Vertex call fetches a Google token
        assert.equal(ups.length, 2);
        for (const q of ups) {
          assert.match(q.path, upstreamPath);
          assert.equal(q.status, 200, q.body);
        }
        const sent = JSON.parse(ups[0].body);
        if (schema === 'AWSBedrock') assert.ok(sent.input.converse.messages, ups[0].body);
        if (schema === 'AWSAnthropic') {
          const inner = JSON.parse(Buffer.from(sent.input.invokeModel.body, 'base64').toString('utf8'));
          assert.equal(inner.anthropic_version, 'bedrock-2023-05-31');
          assert.equal(inner.model, undefined);
        }
        if (schema === 'GCPAnthropic') assert.equal(sent.model, 'claude-sonnet-4@20250514');
      });
    }

    it('GCPAnthropic: an @latest suffix is dropped from the model counted', async () => {
      const mark = fake.requests.length;
      const r = await tokenize({ model: 'claude-3-5-haiku@latest', prompt: 'two words' });
      assert.deepEqual(r.body, { count: 2, max_model_len: 0, tokens: null });
      const [up] = since(mark).filter((q) => q.path !== '/token');
      assert.equal(JSON.parse(up.body).model, 'claude-3-5-haiku');
    });
  });

  describe('GET /v1/models/{id}', () => {
    it('a configured model (also one with / and @ in its id) is found', async () => {
      const m = await client.models.retrieve('gpt-4.1');
      assert.equal(m.id, 'gpt-4.1');
      assert.equal(m.object, 'model');
      assert.equal(typeof m.created, 'number');
      assert.equal(typeof m.owned_by, 'string');
      assert.equal((await client.models.retrieve(VLLM_MODEL)).id, VLLM_MODEL);
      assert.equal((await client.models.retrieve('claude-sonnet-4@20250514')).id, 'claude-sonnet-4@20250514');
      const listed = [];
      for await (const x of client.models.list()) listed.push(x);
      assert.deepEqual(listed.find((x) => x.id === 'gpt-4.1'), m);
    });

    it('an unknown model is an OpenAI-shaped 404 model_not_found', async () => {
      await assert.rejects(client.models.retrieve('no-such-model'), (e) => {
        assert.ok(e instanceof OpenAI.NotFoundError, String(e));
        assert.equal(e.code, 'model_not_found');
        assert.equal(e.error.type, 'invalid_request_error');
        return true;
      });
    });
  });

  describe('other SDKs on /v1/responses', () => {
    it('Vercel AI SDK: generateText and streamText with the default openai(model) (the Responses API)', async () => {
      const openai = createOpenAI({ baseURL: `${gw.base}/v1`, apiKey: 'sk-ai-sdk' });
      const mark = fake.requests.length;
      const id = rid('ai-sdk');
      const g = await generateText({ model: openai('gpt-4.1'), prompt: 'hello from the ai sdk', headers: { 'x-request-id': id }, maxRetries: 0 });
      assert.equal(g.text, 'echo: hello from the ai sdk');
      assert.equal(g.usage.inputTokens, 5);
      assert.equal(g.usage.outputTokens, 6);
      assert.equal(since(mark)[0].path, '/v1/responses');
      const line = await gw.logLine((l) => l.request_id === id);
      assert.deepEqual([line.input_tokens, line.output_tokens, line.total_tokens], [5, 6, 11]);

      const id2 = rid('ai-sdk-stream');
      const s = streamText({ model: openai('gpt-4.1'), prompt: 'the ai sdk streams', headers: { 'x-request-id': id2 }, maxRetries: 0 });
      const pieces = [];
      for await (const t of s.textStream) pieces.push(t);
      assert.ok(pieces.length >= 4, JSON.stringify(pieces));
      assert.equal(pieces.join(''), 'echo: the ai sdk streams');
      const usage = await s.usage;
      assert.deepEqual([usage.inputTokens, usage.outputTokens], [4, 5]);
      const line2 = await gw.logLine((l) => l.request_id === id2);
      assert.equal(line2.stream, true);
      assert.deepEqual([line2.input_tokens, line2.output_tokens], [4, 5]);
    });

    it('LangChain: ChatOpenAI with useResponsesApi, invoke and stream', async () => {
      const llm = new ChatOpenAI({ model: 'gpt-4.1', apiKey: 'sk-langchain', useResponsesApi: true, maxRetries: 0, configuration: { baseURL: `${gw.base}/v1` } });
      const mark = fake.requests.length;
      const msg = await llm.invoke('hello from langchain');
      assert.equal(msg.text, 'echo: hello from langchain');
      assert.deepEqual([msg.usage_metadata.input_tokens, msg.usage_metadata.output_tokens, msg.usage_metadata.total_tokens], [3, 4, 7]);
      let text = '';
      let chunks = 0;
      for await (const c of await llm.stream('langchain streams the answer')) {
        text += c.text;
        chunks++;
      }
      assert.equal(text, 'echo: langchain streams the answer');
      assert.ok(chunks >= 5, `${chunks} chunks`);
      const ups = since(mark);
      assert.deepEqual(ups.map((q) => q.path), ['/v1/responses', '/v1/responses']);
      assert.equal(JSON.parse(ups[1].body).stream, true);
      for (const q of ups) assert.equal(q.status, 200);
    });
  });
});

// The same SDK calls through `aigw extproc` behind an emulated Envoy (lib/envoy.mjs, Envoy's
// official protos): the configuration translated by `aigw translate`, Envoy's route and upstream
// phases played per request, the provider reached at the address Envoy's cluster names. (Google
// backends are left out: under Envoy the control plane exchanges their OAuth tokens.)
describe('the same endpoints through aigw extproc (MiniEnvoy)', { skip: !HAVE_PROTOS && 'envoy protos not installed (make setup)' }, () => {
  let fake;
  let extproc;
  let grpcClient;
  let front;
  let client;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-endpoints-extproc-'));
  const since = (mark) => fake.requests.slice(mark);

  before(async () => {
    const saPath = path.join(dir, 'sa.json');
    fake = await startFakeProviders({ port: 0, gcpServiceAccountOut: saPath, chunkDelayMs: 1, openaiApiKey: OPENAI_KEY });
    const input = path.join(dir, 'in.yaml');
    writeFileSync(input, config(1975, fake.port, readFileSync(saPath, 'utf8')));
    const bundle = await translateToBundle(input, dir);
    const port = await freePort();
    extproc = spawn(AIGW_BIN, ['extproc', '-configBundlePath', bundle, '-extProcAddr', `127.0.0.1:${port}`, '-adminPort', String(await freePort())], { stdio: ['ignore', 'ignore', 'pipe'] });
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('aigw extproc: no ready line')), 10000 * SLOW);
      readline.createInterface({ input: extproc.stderr }).on('line', (l) => {
        if (l.includes('is ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      extproc.once('exit', (c) => reject(new Error(`aigw extproc exited ${c}`)));
    });
    grpcClient = extprocClient(`127.0.0.1:${port}`);
    // Envoy's routes: each model to its rule's per-route-rule backend name, as config() lays
    // the rules out (one per backend and override, in first-seen order).
    const rules = [];
    for (const [, b, override] of ROUTES) {
      const key = `${b}|${override ?? ''}`;
      if (!rules.includes(key)) rules.push(key);
    }
    const routes = {};
    for (const [model, b, override] of ROUTES)
      routes[model] = { backend: `default/${b}/route/endpoints/rule/${rules.indexOf(`${b}|${override ?? ''}`)}/ref/0`,
        route: 'default/endpoints', host: '127.0.0.1', port: fake.port };
    front = await new MiniEnvoy(grpcClient, routes).listen();
    client = new OpenAI({ baseURL: `${front.url}/v1`, apiKey: 'sk-client-never-forwarded', maxRetries: 0 });
  });
  after(async () => {
    await front?.close();
    grpcClient?.close();
    extproc?.kill('SIGTERM');
    await fake?.close();
  });

  it('responses.create, stream or not, on OpenAI, Azure and AWSOpenAI', async () => {
    const r = await client.responses.create({ model: 'gpt-4.1', input: 'hello via envoy' });
    assert.equal(r.output_text, 'echo: hello via envoy');
    assert.equal(r.usage.total_tokens, r.usage.input_tokens + r.usage.output_tokens);
    const events = [];
    for await (const ev of await client.responses.create({ model: 'gpt-4.1', input: 'stream via envoy', stream: true })) events.push(ev.type);
    assert.equal(events[0], 'response.created');
    assert.equal(events.at(-1), 'response.completed');
    let mark = fake.requests.length;
    const az = await client.responses.create({ model: 'gpt-4o-azure', input: 'azure via envoy' });
    assert.equal(az.status, 'completed');
    assert.equal(since(mark)[0].path, `/openai/responses?api-version=${AZURE_VERSION}`);
    mark = fake.requests.length;
    const aws = await client.responses.create({ model: 'openai.gpt-oss-20b-1:0', input: 'bedrock via envoy' });
    assert.equal(aws.status, 'completed');
    assert.equal(since(mark)[0].path, '/openai/v1/responses');
    assert.match(since(mark)[0].headers.authorization, /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d+\/us-east-1\/bedrock\/aws4_request/);
  });

  it('images, speech bytes, a transcription with its model overridden in the form, a translation', async () => {
    const img = await client.images.generate({ model: 'gpt-image-1', prompt: 'a red fox in snow', quality: 'low' });
    assert.equal(Buffer.from(img.data[0].b64_json, 'base64').subarray(1, 4).toString('latin1'), 'PNG');
    const speech = await client.audio.speech.create({ model: 'gpt-4o-mini-tts', voice: 'alloy', input: 'bytes via envoy' });
    assert.ok(Buffer.from(await speech.arrayBuffer()).equals(fakeAudio('bytes via envoy', 'mp3')));
    const mark = fake.requests.length;
    const t = await client.audio.transcriptions.create({ model: 'transcriber', file: await toFile(Buffer.from('override via envoy'), 'a.mp3') });
    assert.equal(t.text, 'override via envoy');
    assert.equal(since(mark)[0].form.model, 'gpt-4o-mini-transcribe');
    const tr = await client.audio.translations.create({ model: 'whisper-1', file: await toFile(Buffer.from('bonjour'), 'fr.mp3') });
    assert.equal(tr.text, 'bonjour');
  });

  it('models.retrieve, tokenize to Bedrock, and the refusals (422, multipart on JSON)', async () => {
    assert.equal((await client.models.retrieve('gpt-4.1')).id, 'gpt-4.1');
    await assert.rejects(client.models.retrieve('nope'), (e) => e.status === 404 && e.code === 'model_not_found');
    const tok = await fetch(`${front.url}/tokenize`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'eu.anthropic.claude-3-5-sonnet-20240620-v1:0', prompt: 'count these words' }) });
    assert.equal(tok.status, 200);
    const body = await tok.json();
    assert.ok(body.count > 0);
    assert.equal(body.tokens, null);
    await assert.rejects(client.responses.create({ model: 'us.anthropic.claude-sonnet-4-20250514-v1:0', input: 'x' }), (e) => e.status === 422);
    const form = new FormData();
    form.set('model', 'gpt-4.1');
    form.set('file', new Blob(['x']), 'a.wav');
    const mp = await fetch(`${front.url}/v1/chat/completions`, { method: 'POST', body: form });
    assert.equal(mp.status, 400);
    assert.match(await mp.text(), /multipart body not supported/);
  });
});
