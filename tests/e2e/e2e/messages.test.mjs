// Anthropic Messages ingress (POST /anthropic/v1/messages, /anthropic/v1/messages/count_tokens,
// GET /anthropic/v1/models) to the three Claude-native schemas: Anthropic (passthrough),
// GCPAnthropic (Vertex rawPredict / streamRawPredict) and AWSAnthropic (Bedrock InvokeModel, its
// event stream turned into Anthropic SSE); and translated to OpenAI chat completions (OpenAI,
// Azure OpenAI) and to Bedrock Converse. Driven by the official `@anthropic-ai/sdk` against `aigw run` in front of the
// fake providers, which speak each provider's real wire format (SigV4 verified, Google tokens,
// Anthropic's x-api-key and anthropic-version checks, OpenAI's bearer key and chat validation).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Anthropic, {
  APIError, AuthenticationError, NotFoundError, PermissionDeniedError, RateLimitError, UnprocessableEntityError,
} from '@anthropic-ai/sdk';
import { startAigw, gatewayYaml } from '../lib/harness.mjs';
import { startFakeProviders } from '../../../tools/fakeproviders/server.mjs';
import { fakeBackendYaml as backend, securityPolicyYaml as policy } from '../lib/fakeconfig.mjs';

const AWS_KEY = 'AKIDEXAMPLE';
const AWS_SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const CLIENT_KEY = 'sk-client-never-forwarded';
const OPENAI_KEY = 'sk-openai-test';
const VERTEX = '/v1/projects/fake-project/locations/us-central1/publishers/anthropic/models/';

// model → backend
const ROUTES = [
  ['claude-sonnet-4-5-20250929', 'anthropic'],
  ['claude-error-404', 'anthropic'],
  ['claude-error-429', 'anthropic'],
  ['claude-badkey', 'anthropic-badkey'],
  ['claude-haiku-4-5-20251001', 'anthropic-bearer'],
  ['claude-sonnet-4@20250514', 'vertex-anthropic'],
  ['claude-error-401@20250514', 'vertex-anthropic'],
  ['claude-error-404@20250514', 'vertex-anthropic'],
  ['claude-error-429@20250514', 'vertex-anthropic'],
  ['anthropic.claude-sonnet-4-20250514-v1:0', 'bedrock-anthropic'],
  ['us.anthropic.claude-sonnet-4-20250514-v1:0', 'bedrock-anthropic'],
  ['anthropic.claude-error-404-v1:0', 'bedrock-anthropic'],
  ['anthropic.claude-error-429-v1:0', 'bedrock-anthropic'],
  ['anthropic.claude-badkey-v1:0', 'bedrock-badkey'],
  ['gpt-4o-mini', 'openai'],
  ['gpt-error-404', 'openai'],
  ['gpt-error-429', 'openai'],
  ['gpt-midstream-error', 'openai'],
  ['gpt-badkey', 'openai-badkey'],
  ['gpt-4o-deployment', 'azure'],
  ['azure-error-429', 'azure'],
  ['amazon.nova-pro-v1:0', 'bedrock-converse'],
  ['amazon.nova-error-404-v1:0', 'bedrock-converse'],
  ['amazon.nova-error-429-v1:0', 'bedrock-converse'],
  ['amazon.nova-midstream-error-v1:0', 'bedrock-converse'],
  ['amazon.nova-badkey-v1:0', 'bedrock-converse-badkey'],
];

const secret = (name, data) => `---
apiVersion: v1
kind: Secret
metadata: {name: ${name}, namespace: default}
${data}
`;

function config(port, fakePort, serviceAccountJson) {
  const byBackend = new Map();
  for (const [model, b] of ROUTES) byBackend.set(b, [...(byBackend.get(b) ?? []), model]);
  const rules = [...byBackend].map(([b, models]) =>
    `    - matches: [${models.map((m) => `{headers: [{type: Exact, name: x-ai-eg-model, value: "${m}"}]}`).join(', ')}]\n      backendRefs: [{name: ${b}}]`).join('\n');
  const awsCreds = (key) => `stringData:
  credentials: |
    [default]
    aws_access_key_id = ${key}
    aws_secret_access_key = ${AWS_SECRET}`;
  return (
    gatewayYaml(port) +
    `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: messages, namespace: default}
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
    backend('anthropic', '{name: Anthropic}') +
    backend('anthropic-badkey', '{name: Anthropic}') +
    backend('anthropic-bearer', '{name: Anthropic}') +
    backend('vertex-anthropic', '{name: GCPAnthropic, version: vertex-2023-10-16}') +
    backend('bedrock-anthropic', '{name: AWSAnthropic, version: bedrock-2023-05-31}') +
    backend('bedrock-badkey', '{name: AWSAnthropic, version: bedrock-2023-05-31}') +
    backend('bedrock-converse', '{name: AWSBedrock}') +
    backend('bedrock-converse-badkey', '{name: AWSBedrock}') +
    backend('openai', '{name: OpenAI}') +
    backend('openai-badkey', '{name: OpenAI}') +
    backend('azure', '{name: AzureOpenAI, version: 2024-10-21}') +
    secret('openai-key', `stringData: {apiKey: ${OPENAI_KEY}}`) +
    secret('openai-badkey', 'stringData: {apiKey: sk-openai-wrong}') +
    secret('azure-key', 'stringData: {apiKey: azure-test-key}') +
    policy('openai-key', ['openai'], `  type: APIKey
  apiKey: {secretRef: {name: openai-key}}
`) +
    policy('openai-badkey', ['openai-badkey'], `  type: APIKey
  apiKey: {secretRef: {name: openai-badkey}}
`) +
    policy('azure-key', ['azure'], `  type: AzureAPIKey
  azureAPIKey: {secretRef: {name: azure-key}}
`) +
    secret('anthropic-key', 'stringData: {apiKey: sk-ant-test}') +
    secret('anthropic-badkey', 'stringData: {apiKey: sk-ant-wrong}') +
    secret('aws', awsCreds(AWS_KEY)) +
    secret('aws-badkey', awsCreds('AKIDWRONGKEY')) +
    secret('gcp', `data:\n  service_account.json: ${Buffer.from(serviceAccountJson).toString('base64')}`) +
    policy('anthropic-key', ['anthropic'], `  type: AnthropicAPIKey
  anthropicAPIKey: {secretRef: {name: anthropic-key}}
`) +
    policy('anthropic-badkey', ['anthropic-badkey'], `  type: AnthropicAPIKey
  anthropicAPIKey: {secretRef: {name: anthropic-badkey}}
`) +
    // an APIKey policy on an Anthropic backend: the key goes as a bearer token, which the API takes
    policy('anthropic-bearer', ['anthropic-bearer'], `  type: APIKey
  apiKey: {secretRef: {name: anthropic-key}}
`) +
    policy('aws', ['bedrock-anthropic', 'bedrock-converse'], `  type: AWSCredentials
  awsCredentials:
    region: us-east-1
    credentialsFile: {secretRef: {name: aws}}
`) +
    policy('aws-badkey', ['bedrock-badkey', 'bedrock-converse-badkey'], `  type: AWSCredentials
  awsCredentials:
    region: us-east-1
    credentialsFile: {secretRef: {name: aws-badkey}}
`) +
    policy('gcp', ['vertex-anthropic'], `  type: GCPCredentials
  gcpCredentials:
    projectName: fake-project
    region: us-central1
    credentialsFile: {secretRef: {name: gcp}}
`)
  );
}

// What each backend is expected to call and answer. The fake's answers are deterministic: a
// token is a word; the text answer is "echo: <last user text>"; a tool call costs 10 output tokens.
const BACKENDS = {
  Anthropic: {
    model: 'claude-sonnet-4-5-20250929',
    countModel: 'claude-sonnet-4-5-20250929',
    responseModel: 'claude-sonnet-4-5-20250929',
    backendName: 'default/anthropic',
    provider: 'anthropic',
    idPrefix: /^msg_01/,
    toolPrefix: /^toolu_01/,
    paths: { create: /^\/v1\/messages$/, stream: /^\/v1\/messages$/, count: /^\/v1\/messages\/count_tokens$/ },
    checkAuth(q) {
      assert.equal(q.headers['x-api-key'], 'sk-ant-test');
      assert.equal(q.headers.authorization, undefined, 'the client credential is not forwarded');
      assert.equal(q.headers['anthropic-version'], '2026-10-21', 'the SDK’s anthropic-version passes through');
    },
    checkBody(sent, kind, model) {
      assert.equal(sent.model, model);
      assert.equal(sent.anthropic_version, undefined);
      if (kind === 'stream') assert.equal(sent.stream, true);
    },
    betaNote: 'the header reaches the Anthropic API as sent',
    checkBetas(q, sent) {
      assert.equal(q.headers['anthropic-beta'], sent);
      assert.equal(JSON.parse(q.body).anthropic_beta, undefined);
    },
    errors: [
      [401, 'claude-badkey', AuthenticationError, 'authentication_error', 'invalid x-api-key'],
      [404, 'claude-error-404', NotFoundError, 'not_found_error', 'The requested resource could not be found.'],
      [429, 'claude-error-429', RateLimitError, 'rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit'],
    ],
  },
  GCPAnthropic: {
    model: 'claude-sonnet-4@20250514',
    countModel: 'claude-sonnet-4@20250514',
    responseModel: 'claude-sonnet-4-20250514', // Vertex answers with the dash form
    backendName: 'default/vertex-anthropic',
    provider: 'gcp.anthropic',
    idPrefix: /^msg_vrtx_01/,
    toolPrefix: /^toolu_vrtx_01/,
    paths: {
      create: new RegExp(`^${VERTEX}claude-sonnet-4(@|%40)20250514:rawPredict$`),
      stream: new RegExp(`^${VERTEX}claude-sonnet-4(@|%40)20250514:streamRawPredict$`),
      count: new RegExp(`^${VERTEX}count-tokens:rawPredict$`),
    },
    checkAuth(q) {
      assert.match(q.headers.authorization, /^Bearer ya29\./);
      assert.equal(q.headers['x-api-key'], undefined);
    },
    checkBody(sent, kind, model) {
      assert.equal(sent.anthropic_version, 'vertex-2023-10-16');
      if (kind === 'count') assert.equal(sent.model, model, 'count-tokens names the model in the body');
      else assert.equal(sent.model, undefined, 'rawPredict bodies carry no model');
      if (kind === 'stream') assert.equal(sent.stream, true);
    },
    betaNote: 'Vertex takes the header as sent',
    checkBetas(q, sent) {
      assert.equal(q.headers['anthropic-beta'], sent);
      assert.equal(JSON.parse(q.body).anthropic_beta, undefined);
    },
    errors: [
      [401, 'claude-error-401@20250514', AuthenticationError, 'authentication_error', 'Request had invalid authentication credentials'],
      [404, 'claude-error-404@20250514', NotFoundError, 'not_found_error', 'Requested entity was not found.'],
      [429, 'claude-error-429@20250514', RateLimitError, 'rate_limit_error', 'Resource exhausted'],
    ],
  },
  AWSAnthropic: {
    model: 'anthropic.claude-sonnet-4-20250514-v1:0',
    // an inference-profile id: Bedrock counts tokens for the base model id only
    countModel: 'us.anthropic.claude-sonnet-4-20250514-v1:0',
    responseModel: 'claude-sonnet-4-20250514',
    backendName: 'default/bedrock-anthropic',
    provider: 'aws.anthropic',
    idPrefix: /^msg_bdrk_01/,
    toolPrefix: /^toolu_bdrk_01/,
    paths: {
      create: /^\/model\/anthropic\.claude-sonnet-4-20250514-v1(:|%3A)0\/invoke$/,
      stream: /^\/model\/anthropic\.claude-sonnet-4-20250514-v1(:|%3A)0\/invoke-with-response-stream$/,
      count: /^\/model\/anthropic\.claude-sonnet-4-20250514-v1(:|%3A)0\/count-tokens$/,
    },
    checkAuth(q) {
      assert.match(q.headers.authorization, /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/us-east-1\/bedrock\/aws4_request, /);
      assert.equal(q.headers['x-api-key'], undefined);
    },
    checkBody(sent, kind) {
      let b = sent;
      if (kind === 'count') {
        assert.deepEqual(Object.keys(sent), ['input']);
        assert.deepEqual(Object.keys(sent.input), ['invokeModel']);
        b = JSON.parse(Buffer.from(sent.input.invokeModel.body, 'base64').toString('utf8'));
        assert.ok(Number.isInteger(b.max_tokens), 'Bedrock validates the counted body as an InvokeModel body: max_tokens is required');
      }
      assert.equal(b.anthropic_version, 'bedrock-2023-05-31');
      assert.equal(b.model, undefined);
      assert.equal(b.stream, undefined);
    },
    betaNote: 'Bedrock gets the flags it accepts in the body (Anthropic-API names mapped, the others dropped)',
    checkBetas(q) {
      // files-api is not a Bedrock flag (Bedrock would refuse the whole request); advanced-tool-use
      // is Bedrock's tool-search-tool
      assert.deepEqual(JSON.parse(q.body).anthropic_beta, ['context-1m-2025-08-07', 'tool-search-tool-2025-10-19']);
    },
    errors: [
      // Bedrock has no 401: a key it does not know is a 403 UnrecognizedClientException
      [403, 'anthropic.claude-badkey-v1:0', PermissionDeniedError, 'permission_error', 'The security token included in the request is invalid.'],
      [404, 'anthropic.claude-error-404-v1:0', NotFoundError, 'not_found_error', 'The requested resource could not be found.'],
      [429, 'anthropic.claude-error-429-v1:0', RateLimitError, 'rate_limit_error', 'Too many requests, please wait before trying again.'],
    ],
  },
};

const rid = (tag) => `${tag}-${crypto.randomUUID().slice(0, 8)}`;
const WEATHER_TOOL = {
  name: 'get_weather',
  description: 'Current weather in a city',
  input_schema: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
};

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

describe('Anthropic Messages through aigw with the official @anthropic-ai/sdk', () => {
  let fake;
  let gw;
  let client;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-messages-'));
  // the fake's provider requests since `mark` (without the Google token fetches)
  const since = (mark) => fake.requests.slice(mark).filter((q) => q.path !== '/token');
  const one = (mark) => {
    const ups = since(mark);
    assert.equal(ups.length, 1, `one provider request, got ${JSON.stringify(ups.map((q) => q.path))}`);
    assert.ok(!JSON.stringify(ups[0].headers).includes(CLIENT_KEY), 'the client key never reaches the provider');
    return ups[0];
  };
  const metrics = async () => (await fetch(`${gw.admin}/metrics`)).text();

  before(async () => {
    const saPath = path.join(dir, 'sa.json');
    fake = await startFakeProviders({ port: 0, gcpServiceAccountOut: saPath, chunkDelayMs: 1, openaiApiKey: OPENAI_KEY });
    gw = await startAigw({ config: (port) => config(port, fake.port, readFileSync(saPath, 'utf8')) });
    client = new Anthropic({ baseURL: `${gw.base}/anthropic`, apiKey: CLIENT_KEY, maxRetries: 0 });
  });
  after(async () => {
    await gw?.stop();
    await fake?.close();
  });

  for (const [schema, be] of Object.entries(BACKENDS)) {
    describe(schema, () => {
      it('messages.create: text, usage, the provider call; usage from `usage` in the log', async () => {
        const id = rid(`${schema}-create`);
        const mark = fake.requests.length;
        const msg = await client.messages.create(
          { model: be.model, max_tokens: 256, messages: [{ role: 'user', content: 'hello from the sdk' }] },
          { headers: { 'x-request-id': id } },
        );
        assert.equal(msg.type, 'message');
        assert.equal(msg.role, 'assistant');
        assert.match(msg.id, be.idPrefix);
        assert.equal(msg.model, be.responseModel);
        assert.deepEqual(msg.content, [{ type: 'text', text: 'echo: hello from the sdk' }]);
        assert.equal(msg.stop_reason, 'end_turn');
        assert.equal(msg.stop_sequence, null);
        assert.deepEqual(msg.usage, { input_tokens: 4, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 5 });
        const up = one(mark);
        assert.match(up.path, be.paths.create);
        assert.equal(up.status, 200, up.body);
        be.checkAuth(up);
        be.checkBody(JSON.parse(up.body), 'create', be.model);
        const line = await gw.logLine((l) => l.request_id === id);
        assert.equal(line.status, 200);
        assert.equal(line.path, '/anthropic/v1/messages');
        assert.equal(line.backend_name, be.backendName);
        assert.equal(line['gen_ai.request.model'], be.model);
        assert.equal(line.response_model, be.responseModel);
        assert.ok(!line.stream, 'not a stream');
        assert.deepEqual([line.input_tokens, line.output_tokens, line.total_tokens, line.llm_total_token], [4, 5, 9, 9]);
      });

      it('messages.create: a system prompt as a string and as text blocks', async () => {
        let mark = fake.requests.length;
        let msg = await client.messages.create({
          model: be.model, max_tokens: 256, system: 'be brief',
          messages: [{ role: 'user', content: 'hello with a system prompt' }],
        });
        assert.equal(msg.content[0].text, 'echo: hello with a system prompt');
        assert.equal(msg.usage.input_tokens, 5 + 2);
        assert.equal(JSON.parse(one(mark).body).system, 'be brief');
        const blocks = [{ type: 'text', text: 'be brief' }, { type: 'text', text: 'and kind to everyone' }];
        mark = fake.requests.length;
        msg = await client.messages.create({
          model: be.model, max_tokens: 256, system: blocks,
          messages: [{ role: 'user', content: [{ type: 'text', text: 'hello with system blocks' }] }],
        });
        assert.equal(msg.content[0].text, 'echo: hello with system blocks');
        assert.equal(msg.usage.input_tokens, 4 + 2 + 4);
        assert.deepEqual(JSON.parse(one(mark).body).system, blocks);
      });

      it('messages.stream: text deltas; usage folded from message_start + message_delta in the log', async () => {
        const id = rid(`${schema}-stream`);
        const mark = fake.requests.length;
        const stream = client.messages.stream(
          { model: be.model, max_tokens: 256, messages: [{ role: 'user', content: 'stream these words' }] },
          { headers: { 'x-request-id': id } },
        );
        const deltas = [];
        const types = [];
        stream.on('text', (t) => deltas.push(t));
        stream.on('streamEvent', (e) => types.push(e.type));
        const final = await stream.finalMessage();
        assert.deepEqual(deltas, ['echo: ', 'stream ', 'these ', 'words']);
        assert.deepEqual(types, ['message_start', 'content_block_start', 'content_block_delta', 'content_block_delta',
          'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
        assert.match(final.id, be.idPrefix);
        assert.equal(final.model, be.responseModel);
        assert.deepEqual(final.content, [{ type: 'text', text: 'echo: stream these words' }]);
        assert.equal(final.stop_reason, 'end_turn');
        assert.equal(final.usage.input_tokens, 3);
        assert.equal(final.usage.output_tokens, 4);
        const up = one(mark);
        assert.match(up.path, be.paths.stream);
        assert.equal(up.status, 200, up.body);
        be.checkAuth(up);
        be.checkBody(JSON.parse(up.body), 'stream', be.model);
        const line = await gw.logLine((l) => l.request_id === id);
        assert.equal(line.status, 200);
        assert.equal(line.stream, true);
        assert.equal(line.response_model, be.responseModel);
        // message_start says input 3, output 1; message_delta says output 4
        assert.deepEqual([line.input_tokens, line.output_tokens, line.total_tokens], [3, 4, 7]);
      });

      it('the stream on the wire is Anthropic SSE (event: <type> / data: <json>)', async () => {
        const r = await fetch(`${gw.base}/anthropic/v1/messages`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'x-api-key': CLIENT_KEY },
          body: JSON.stringify({ model: be.model, max_tokens: 256, stream: true, messages: [{ role: 'user', content: 'raw stream' }] }),
        });
        assert.equal(r.status, 200);
        assert.match(r.headers.get('content-type') ?? '(no content-type)', /^text\/event-stream/);
        const text = await r.text();
        assert.match(text, /^event: message_start\r?\ndata: \{/);
        const ev = sse(text);
        assert.deepEqual(ev.map((e) => e.event), ['message_start', 'content_block_start', 'ping', 'content_block_delta',
          'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
        for (const e of ev) assert.equal(e.json?.type, e.event, `the data of ${e.event} is its JSON event`);
        assert.equal(ev[0].json.message.usage.input_tokens, 2);
        assert.equal(ev.at(-2).json.usage.output_tokens, 3);
      });

      it('messages.stream: a tool use arrives as input_json_delta pieces; the tool result round trip', async () => {
        const id = rid(`${schema}-tool`);
        const question = { role: 'user', content: 'what is the weather in Paris?' };
        const stream = client.messages.stream(
          { model: be.model, max_tokens: 256, tools: [WEATHER_TOOL], messages: [question] },
          { headers: { 'x-request-id': id } },
        );
        const partials = [];
        stream.on('inputJson', (partial) => partials.push(partial));
        const first = await stream.finalMessage();
        assert.equal(first.stop_reason, 'tool_use');
        assert.equal(first.content.length, 1);
        const use = first.content[0];
        assert.equal(use.type, 'tool_use');
        assert.match(use.id, be.toolPrefix);
        assert.equal(use.name, 'get_weather');
        assert.deepEqual(use.input, { location: 'Paris' });
        assert.ok(partials.filter(Boolean).length >= 2, `the arguments in pieces: ${JSON.stringify(partials)}`);
        assert.deepEqual(JSON.parse(partials.join('')), { location: 'Paris' });
        const line = await gw.logLine((l) => l.request_id === id);
        assert.deepEqual([line.input_tokens, line.output_tokens], [6, 10]);

        const id2 = rid(`${schema}-tool-result`);
        const mark = fake.requests.length;
        const second = await client.messages.create(
          {
            model: be.model, max_tokens: 256, tools: [WEATHER_TOOL],
            messages: [
              question,
              { role: 'assistant', content: first.content },
              { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'sunny and 20C' }] },
            ],
          },
          { headers: { 'x-request-id': id2 } },
        );
        assert.deepEqual(second.content, [{ type: 'text', text: 'The weather is sunny and 20C' }]);
        assert.equal(second.stop_reason, 'end_turn');
        const sent = JSON.parse(one(mark).body);
        assert.deepEqual(sent.messages[2].content, [{ type: 'tool_result', tool_use_id: use.id, content: 'sunny and 20C' }]);
        // 6 words, the tool input (one word of JSON), the result (3)
        assert.deepEqual([second.usage.input_tokens, second.usage.output_tokens], [10, 6]);
        const line2 = await gw.logLine((l) => l.request_id === id2);
        assert.deepEqual([line2.input_tokens, line2.output_tokens, line2.total_tokens], [10, 6, 16]);
      });

      it('messages.stream with thinking and a tool: signed thinking comes back with the tool result; redacted thinking passes', async () => {
        const question = { role: 'user', content: 'what is the weather in Paris?' };
        const params = { model: be.model, max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 }, tools: [WEATHER_TOOL] };
        const id = rid(`${schema}-think`);
        const stream = client.messages.stream({ ...params, messages: [question] }, { headers: { 'x-request-id': id } });
        const thoughts = [];
        stream.on('thinking', (delta) => thoughts.push(delta));
        const first = await stream.finalMessage();
        assert.deepEqual(first.content.map((b) => b.type), ['thinking', 'tool_use']);
        const [thinking, use] = first.content;
        assert.equal(thinking.thinking, 'The user wrote: what is the weather in Paris?. I will answer briefly.');
        assert.ok(thoughts.length >= 2, 'the thinking arrives in pieces');
        assert.equal(thoughts.join(''), thinking.thinking);
        assert.match(thinking.signature, /^[A-Za-z0-9+/=]{40,}$/, 'signature_delta folded into the block');
        // 10 for the call, 13 words of thinking
        const line = await gw.logLine((l) => l.request_id === id);
        assert.deepEqual([line.input_tokens, line.output_tokens], [6, 23]);

        // The provider verifies the signature of the thinking block sent back: one changed byte
        // anywhere on the way would be a 400.
        const result = { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'sunny' }] };
        let mark = fake.requests.length;
        const second = await client.messages.create({ ...params, messages: [question, { role: 'assistant', content: first.content }, result] });
        assert.equal(second.content.at(-1).text, 'The weather is sunny');
        assert.deepEqual(JSON.parse(one(mark).body).messages[1].content[0], thinking);

        // A redacted thinking block from an earlier turn is opaque and goes back as it came.
        const redacted = { type: 'redacted_thinking', data: 'EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP' };
        mark = fake.requests.length;
        const third = await client.messages.create({
          ...params,
          messages: [question, { role: 'assistant', content: [redacted, use] }, result],
        });
        assert.equal(third.content.at(-1).text, 'The weather is sunny');
        assert.deepEqual(JSON.parse(one(mark).body).messages[1].content[0], redacted);
      });

      it('cache_control breakpoints: cache read and write usage, in the answer, the stream, the log and the costs', async () => {
        // 6 words before the breakpoint (read 6, written 12), 2 after it
        const request = {
          model: be.model, max_tokens: 256,
          system: [{ type: 'text', text: 'You answer questions about the weather.', cache_control: { type: 'ephemeral', ttl: '1h' } }],
          messages: [{ role: 'user', content: 'hello cache' }],
        };
        const usage = { input_tokens: 2, cache_creation_input_tokens: 12, cache_read_input_tokens: 6, output_tokens: 3 };
        const id = rid(`${schema}-cache`);
        const mark = fake.requests.length;
        const msg = await client.messages.create(request, { headers: { 'x-request-id': id } });
        assert.deepEqual(msg.usage, usage);
        assert.deepEqual(JSON.parse(one(mark).body).system, request.system, 'the breakpoint reaches the provider');
        const id2 = rid(`${schema}-cache-stream`);
        const streamed = await client.messages.stream(request, { headers: { 'x-request-id': id2 } }).finalMessage();
        assert.deepEqual(streamed.usage, usage);
        for (const rq of [id, id2]) {
          const line = await gw.logLine((l) => l.request_id === rq);
          // input counts what was read from and written to the cache (as upstream)
          assert.deepEqual(
            [line.input_tokens, line.cached_input_tokens, line.cache_creation_input_tokens, line.output_tokens, line.total_tokens, line.llm_total_token],
            [20, 6, 12, 3, 23, 23],
          );
        }
      });

      it('stop_sequences and metadata.user_id reach the provider; the stop is reported', async () => {
        const mark = fake.requests.length;
        const msg = await client.messages.create({
          model: be.model, max_tokens: 256, stop_sequences: ['STOP', 'never'], metadata: { user_id: 'user-4711' },
          messages: [{ role: 'user', content: 'one two STOP three' }],
        });
        assert.deepEqual(msg.content, [{ type: 'text', text: 'echo: one two ' }]);
        assert.equal(msg.stop_reason, 'stop_sequence');
        assert.equal(msg.stop_sequence, 'STOP');
        const sent = JSON.parse(one(mark).body);
        assert.deepEqual(sent.stop_sequences, ['STOP', 'never']);
        assert.deepEqual(sent.metadata, { user_id: 'user-4711' });
      });

      it('anthropic-beta from client.beta.messages: ' + be.betaNote, async () => {
        const mark = fake.requests.length;
        const msg = await client.beta.messages.create({
          model: be.model, max_tokens: 256, betas: ['context-1m-2025-08-07', 'files-api-2025-04-14', 'advanced-tool-use-2025-11-20'],
          messages: [{ role: 'user', content: 'beta please' }],
        });
        assert.deepEqual(msg.content, [{ type: 'text', text: 'echo: beta please' }]);
        be.checkBetas(one(mark), 'context-1m-2025-08-07,files-api-2025-04-14,advanced-tool-use-2025-11-20');
      });

      it('messages.countTokens: the provider’s count, as {input_tokens}; input only in the log', async () => {
        const id = rid(`${schema}-count`);
        const mark = fake.requests.length;
        const r = await client.messages.countTokens(
          { model: be.countModel, system: 'be brief', messages: [{ role: 'user', content: 'how many tokens here' }] },
          { headers: { 'x-request-id': id } },
        );
        assert.deepEqual(r, { input_tokens: 6 });
        const up = one(mark);
        assert.match(up.path, be.paths.count);
        assert.equal(up.status, 200, up.body);
        be.checkAuth(up);
        be.checkBody(JSON.parse(up.body), 'count', be.countModel);
        const line = await gw.logLine((l) => l.request_id === id);
        assert.equal(line.status, 200);
        assert.equal(line.path, '/anthropic/v1/messages/count_tokens');
        assert.equal(line.backend_name, be.backendName);
        assert.equal(line.input_tokens, 6);
        assert.ok(!line.output_tokens, `no output tokens: ${line.output_tokens}`);
      });

      it('models.list: the backend’s models in Anthropic’s ModelList', async () => {
        const page = await client.models.list();
        const ids = page.data.map((m) => m.id);
        for (const [model, b] of ROUTES) if (BACKENDS[schema].backendName === `default/${b}`) assert.ok(ids.includes(model), `${model} in ${ids}`);
        for (const m of page.data) {
          assert.equal(m.type, 'model');
          assert.equal(typeof m.display_name, 'string');
          assert.ok(m.display_name.length > 0);
          assert.ok(!Number.isNaN(Date.parse(m.created_at)), `created_at is an RFC 3339 time: ${m.created_at}`);
        }
        assert.equal(page.has_more, false);
        assert.equal(page.first_id, ids[0]);
        assert.equal(page.last_id, ids.at(-1));
        assert.equal(new Set(ids).size, ids.length, 'no model listed twice');
      });

      for (const [status, model, ErrorClass, type, message] of be.errors) {
        it(`a provider ${status} is the SDK’s ${ErrorClass.name}, Anthropic-shaped (create and stream)`, async () => {
          const id = rid(`${schema}-${status}`);
          const mark = fake.requests.length;
          const err = await client.messages.create(
            { model, max_tokens: 64, messages: [{ role: 'user', content: 'this fails' }] },
            { headers: { 'x-request-id': id } },
          ).then(() => null, (e) => e);
          assert.ok(err instanceof ErrorClass, `expected ${ErrorClass.name}, got ${err?.constructor?.name}: ${err?.message}`);
          assert.equal(err.status, status);
          assert.equal(err.error?.type, 'error', `body ${JSON.stringify(err.error)}`);
          assert.equal(err.error.error?.type, type, `body ${JSON.stringify(err.error)}`);
          assert.equal(typeof err.error.error.message, 'string');
          assert.ok(err.error.error.message.includes(message), `the provider's message in ${JSON.stringify(err.error.error.message)}`);
          assert.equal(since(mark)[0]?.status, status, 'the provider answered that status');
          const line = await gw.logLine((l) => l.request_id === id);
          assert.equal(line.status, status);
          assert.equal(line.backend_name, `default/${ROUTES.find(([m]) => m === model)[1]}`);
          const serr = await client.messages.stream({ model, max_tokens: 64, messages: [{ role: 'user', content: 'this fails too' }] })
            .finalMessage().then(() => null, (e) => e);
          assert.ok(serr instanceof ErrorClass, `stream: expected ${ErrorClass.name}, got ${serr?.constructor?.name}: ${serr?.message}`);
          assert.equal(serr.status, status);
          assert.equal(serr.error?.error?.type, type);
        });
      }

      it('the GenAI metrics name the operations messages and count_tokens', async () => {
        const text = await metrics();
        const series = text.split('\n').filter((l) => l.startsWith('gen_ai_client_token_usage_sum{') && l.includes(`gen_ai_provider_name="${be.provider}"`));
        const op = (name, tokenType) => series.some((l) => l.includes(`gen_ai_operation_name="${name}"`) && l.includes(`gen_ai_token_type="${tokenType}"`));
        assert.ok(op('messages', 'input') && op('messages', 'output'), `messages usage for ${be.provider}:\n${series.join('\n')}`);
        assert.ok(op('count_tokens', 'input'), `count_tokens usage for ${be.provider}:\n${series.join('\n')}`);
      });
    });
  }

  // Translated to OpenAI chat completions: the Anthropic SDK sees Anthropic's shapes, the
  // provider is sent (and answers) OpenAI's.
  for (const [schema, be] of Object.entries({
    OpenAI: {
      model: 'gpt-4o-mini',
      backendName: 'default/openai',
      provider: 'openai',
      path: /^\/v1\/chat\/completions$/,
      checkAuth(q) {
        assert.equal(q.headers.authorization, `Bearer ${OPENAI_KEY}`);
        assert.equal(q.headers['x-api-key'], undefined, 'the client credential is not forwarded');
      },
    },
    AzureOpenAI: {
      model: 'gpt-4o-deployment',
      backendName: 'default/azure',
      provider: 'azure.openai',
      path: /^\/openai\/deployments\/gpt-4o-deployment\/chat\/completions\?api-version=2024-10-21$/,
      checkAuth(q) {
        assert.equal(q.headers['api-key'], 'azure-test-key');
        assert.equal(q.headers.authorization, undefined);
        assert.equal(q.headers['x-api-key'], undefined, 'the client credential is not forwarded');
      },
    },
  })) {
    describe(`${schema} (Messages translated to chat completions)`, () => {
      const sent = (mark) => {
        const up = one(mark);
        assert.match(up.path, be.path);
        assert.equal(up.status, 200, up.body);
        be.checkAuth(up);
        return JSON.parse(up.body);
      };

      it('messages.create: text, usage, the chat request sent; usage in the log', async () => {
        const id = rid(`${schema}-create`);
        const mark = fake.requests.length;
        const msg = await client.messages.create(
          { model: be.model, max_tokens: 256, system: 'be brief', messages: [{ role: 'user', content: 'hello from the sdk' }] },
          { headers: { 'x-request-id': id } },
        );
        assert.equal(msg.type, 'message');
        assert.equal(msg.role, 'assistant');
        assert.match(msg.id, /^chatcmpl-/);
        assert.equal(msg.model, be.model);
        assert.deepEqual(msg.content, [{ type: 'text', text: 'echo: hello from the sdk' }]);
        assert.equal(msg.stop_reason, 'end_turn');
        assert.deepEqual(msg.usage, { input_tokens: 6, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 5 });
        const body = sent(mark);
        assert.deepEqual(body.messages, [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hello from the sdk' }]);
        assert.equal(body.max_completion_tokens, 256);
        assert.equal(body.max_tokens, undefined);
        assert.equal(body.system, undefined);
        assert.equal(body.model, be.model);
        const line = await gw.logLine((l) => l.request_id === id);
        assert.equal(line.status, 200);
        assert.equal(line.path, '/anthropic/v1/messages');
        assert.equal(line.backend_name, be.backendName);
        assert.equal(line.response_model, be.model);
        assert.deepEqual([line.input_tokens, line.output_tokens, line.total_tokens, line.llm_total_token], [6, 5, 11, 11]);
      });

      it('messages.create: stop sequences, temperature, top_p, metadata.user_id, images', async () => {
        const mark = fake.requests.length;
        const msg = await client.messages.create({
          model: be.model, max_tokens: 256, stop_sequences: ['three'], temperature: 0.2, top_p: 0.9, metadata: { user_id: 'user-7' },
          messages: [{
            role: 'user',
            content: [
              { type: 'text', text: 'one two three four' },
              { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
            ],
          }],
        });
        // the fake stops before the stop sequence, as OpenAI does (finish_reason stop)
        assert.deepEqual(msg.content, [{ type: 'text', text: 'echo: one two ' }]);
        assert.equal(msg.stop_reason, 'end_turn');
        const body = sent(mark);
        assert.deepEqual(body.stop, ['three']);
        assert.equal(body.temperature, 0.2);
        assert.equal(body.top_p, 0.9);
        assert.equal(body.user, 'user-7');
        assert.deepEqual(body.messages[0].content, [
          { type: 'text', text: 'one two three four' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
        ]);
        const cut = await client.messages.create({ model: be.model, max_tokens: 2, messages: [{ role: 'user', content: 'a b c d e' }] });
        assert.equal(cut.stop_reason, 'max_tokens');
      });

      it('messages.stream: text deltas as Anthropic events; usage from the usage chunk in the log', async () => {
        const id = rid(`${schema}-stream`);
        const mark = fake.requests.length;
        const stream = client.messages.stream(
          { model: be.model, max_tokens: 256, messages: [{ role: 'user', content: 'stream these words' }] },
          { headers: { 'x-request-id': id } },
        );
        const deltas = [];
        const types = [];
        stream.on('text', (t) => deltas.push(t));
        stream.on('streamEvent', (e) => types.push(e.type));
        const final = await stream.finalMessage();
        assert.deepEqual(deltas, ['echo: ', 'stream ', 'these ', 'words']);
        assert.deepEqual(types, ['message_start', 'content_block_start', 'content_block_delta', 'content_block_delta',
          'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
        assert.match(final.id, /^chatcmpl-/);
        assert.equal(final.model, be.model);
        assert.deepEqual(final.content, [{ type: 'text', text: 'echo: stream these words' }]);
        assert.equal(final.stop_reason, 'end_turn');
        assert.equal(final.usage.input_tokens, 3);
        assert.equal(final.usage.output_tokens, 4);
        const body = sent(mark);
        assert.equal(body.stream, true);
        assert.deepEqual(body.stream_options, { include_usage: true });
        const line = await gw.logLine((l) => l.request_id === id);
        assert.equal(line.stream, true);
        assert.equal(line.response_model, be.model);
        assert.deepEqual([line.input_tokens, line.output_tokens, line.total_tokens], [3, 4, 7]);
      });

      it('the translated stream on the wire is Anthropic SSE', async () => {
        const r = await fetch(`${gw.base}/anthropic/v1/messages`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'x-api-key': CLIENT_KEY },
          body: JSON.stringify({ model: be.model, max_tokens: 256, stream: true, messages: [{ role: 'user', content: 'raw stream' }] }),
        });
        assert.equal(r.status, 200);
        assert.match(r.headers.get('content-type') ?? '(no content-type)', /^text\/event-stream/);
        const text = await r.text();
        assert.match(text, /^event: message_start\ndata: \{/);
        assert.ok(!text.includes('[DONE]') && !text.includes('chat.completion.chunk'), text);
        const ev = sse(text);
        for (const e of ev) assert.equal(e.json?.type, e.event, `the data of ${e.event} is its JSON event`);
        assert.equal(ev[0].json.message.usage.input_tokens, 0, 'input is known at the end only, as upstream');
        assert.deepEqual(ev.at(-2).json.usage, { input_tokens: 2, output_tokens: 3 });
      });

      it('messages.stream: a tool use as input_json_delta pieces; the tool result round trip', async () => {
        const id = rid(`${schema}-tool`);
        const question = { role: 'user', content: 'what is the weather in Paris?' };
        let mark = fake.requests.length;
        const stream = client.messages.stream(
          { model: be.model, max_tokens: 256, tools: [WEATHER_TOOL], tool_choice: { type: 'auto' }, messages: [question] },
          { headers: { 'x-request-id': id } },
        );
        const partials = [];
        stream.on('inputJson', (partial) => partials.push(partial));
        const first = await stream.finalMessage();
        assert.equal(first.stop_reason, 'tool_use');
        assert.equal(first.content.length, 1);
        const use = first.content[0];
        assert.equal(use.type, 'tool_use');
        assert.match(use.id, /^call_/);
        assert.equal(use.name, 'get_weather');
        assert.deepEqual(use.input, { location: 'Paris' });
        assert.ok(partials.filter(Boolean).length >= 2, `the arguments in pieces: ${JSON.stringify(partials)}`);
        assert.deepEqual(JSON.parse(partials.join('')), { location: 'Paris' });
        const body = sent(mark);
        assert.deepEqual(body.tools, [{ type: 'function', function: { name: 'get_weather', description: WEATHER_TOOL.description, parameters: WEATHER_TOOL.input_schema } }]);
        assert.equal(body.tool_choice, 'auto');
        const line = await gw.logLine((l) => l.request_id === id);
        assert.deepEqual([line.input_tokens, line.output_tokens], [6, 10]);

        mark = fake.requests.length;
        const second = await client.messages.create({
          model: be.model, max_tokens: 256, tools: [WEATHER_TOOL],
          messages: [
            question,
            { role: 'assistant', content: first.content },
            { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'sunny and 20C' }] },
          ],
        });
        assert.deepEqual(second.content, [{ type: 'text', text: 'The weather is sunny and 20C' }]);
        assert.equal(second.stop_reason, 'end_turn');
        const back = sent(mark);
        assert.deepEqual(back.messages.slice(1), [
          { role: 'assistant', content: null, tool_calls: [{ id: use.id, type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris"}' } }] },
          { role: 'tool', tool_call_id: use.id, content: 'sunny and 20C' },
        ]);
      });

      it('messages.create: a tool use, not streamed, with tool_choice naming the tool', async () => {
        const mark = fake.requests.length;
        const msg = await client.messages.create({
          model: be.model, max_tokens: 256, tools: [WEATHER_TOOL], tool_choice: { type: 'tool', name: 'get_weather' },
          messages: [{ role: 'user', content: 'tell me something' }],
        });
        assert.equal(msg.stop_reason, 'tool_use');
        assert.equal(msg.content[0].type, 'tool_use');
        assert.deepEqual(msg.content[0].input, { location: 'Paris' });
        assert.deepEqual(sent(mark).tool_choice, { type: 'function', function: { name: 'get_weather' } });
      });

      it('count_tokens is not served by a chat backend: a 422 without a provider call', async () => {
        const mark = fake.requests.length;
        const err = await client.messages.countTokens({ model: be.model, messages: [{ role: 'user', content: 'x' }] }).then(() => null, (e) => e);
        assert.ok(err instanceof UnprocessableEntityError, `got ${err?.constructor?.name}: ${err?.message}`);
        assert.equal(since(mark).length, 0);
      });
    });
  }

  for (const [status, model, ErrorClass, type, message] of [
    [401, 'gpt-badkey', AuthenticationError, 'invalid_request_error', 'Incorrect API key provided'],
    [404, 'gpt-error-404', NotFoundError, 'invalid_request_error', 'The model does not exist'],
    [429, 'gpt-error-429', RateLimitError, 'requests', 'Rate limit reached for requests'],
    // Azure's 429 has no error type: the status names it.
    [429, 'azure-error-429', RateLimitError, 'rate_limit_error', 'have exceeded token rate limit'],
  ]) {
    it(`a chat backend's ${status} (${model}) is the SDK's ${ErrorClass.name}, Anthropic-shaped (create and stream)`, async () => {
      const id = rid(`${model}-${status}`);
      const mark = fake.requests.length;
      const err = await client.messages.create(
        { model, max_tokens: 64, messages: [{ role: 'user', content: 'this fails' }] },
        { headers: { 'x-request-id': id } },
      ).then(() => null, (e) => e);
      assert.ok(err instanceof ErrorClass, `expected ${ErrorClass.name}, got ${err?.constructor?.name}: ${err?.message}`);
      assert.equal(err.status, status);
      assert.equal(err.error?.type, 'error', `body ${JSON.stringify(err.error)}`);
      assert.equal(err.error.error?.type, type, `body ${JSON.stringify(err.error)}`);
      assert.ok(err.error.error.message.includes(message), `the provider's message in ${JSON.stringify(err.error.error.message)}`);
      assert.equal(since(mark)[0]?.status, status, 'the provider answered that status');
      assert.ok(!JSON.stringify(err.error).includes(OPENAI_KEY), 'no credential in the error');
      const line = await gw.logLine((l) => l.request_id === id);
      assert.equal(line.status, status);
      const serr = await client.messages.stream({ model, max_tokens: 64, messages: [{ role: 'user', content: 'this fails too' }] })
        .finalMessage().then(() => null, (e) => e);
      assert.ok(serr instanceof ErrorClass, `stream: expected ${ErrorClass.name}, got ${serr?.constructor?.name}: ${serr?.message}`);
      assert.equal(serr.error?.error?.type, type);
    });
  }

  it('an OpenAI error inside the stream is an Anthropic error event, which the SDK raises', async () => {
    const r = await fetch(`${gw.base}/anthropic/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY },
      body: JSON.stringify({ model: 'gpt-midstream-error', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'a long answer' }] }),
    });
    assert.equal(r.status, 200);
    const ev = sse(await r.text());
    assert.equal(ev.at(-1).event, 'error');
    assert.deepEqual(ev.at(-1).json, { type: 'error', error: { type: 'server_error', message: 'The server had an error while processing your request. Sorry about that!' } });
    assert.ok(!ev.some((e) => e.event === 'message_stop'));
    const err = await client.messages.stream({ model: 'gpt-midstream-error', max_tokens: 64, messages: [{ role: 'user', content: 'a long answer' }] })
      .finalMessage().then(() => null, (e) => e);
    assert.ok(err instanceof APIError, `got ${err?.constructor?.name}: ${err?.message}`);
    assert.match(err.message, /The server had an error/);
  });

  // Translated to Bedrock Converse (any Bedrock model, Claude or not): SigV4-signed, the answer and
  // the event stream back in Anthropic's shapes, Bedrock's request id as the message id.
  describe('AWSBedrock (Messages translated to Converse)', () => {
    const MODEL = 'amazon.nova-pro-v1:0';
    const sent = (mark, op = 'converse') => {
      const up = one(mark);
      assert.match(up.path, new RegExp(`^/model/amazon\\.nova-pro-v1(:|%3A)0/${op}$`));
      assert.equal(up.status, 200, up.body);
      assert.match(up.headers.authorization, /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/us-east-1\/bedrock\/aws4_request, /);
      assert.equal(up.headers['x-api-key'], undefined, 'the client credential is not forwarded');
      return JSON.parse(up.body);
    };
    const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

    it('messages.create: text, usage, the Converse request; usage in the log', async () => {
      const id = rid('converse-create');
      const mark = fake.requests.length;
      const msg = await client.messages.create(
        { model: MODEL, max_tokens: 256, system: 'be brief', messages: [{ role: 'user', content: 'hello from the sdk' }] },
        { headers: { 'x-request-id': id } },
      );
      assert.match(msg.id, UUID, 'Bedrock’s x-amzn-requestid');
      assert.equal(msg.type, 'message');
      assert.equal(msg.model, MODEL);
      assert.deepEqual(msg.content, [{ type: 'text', text: 'echo: hello from the sdk' }]);
      assert.equal(msg.stop_reason, 'end_turn');
      assert.deepEqual(msg.usage, { input_tokens: 6, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 5 });
      const body = sent(mark);
      assert.deepEqual(body.system, [{ text: 'be brief' }]);
      assert.deepEqual(body.messages, [{ role: 'user', content: [{ text: 'hello from the sdk' }] }]);
      assert.deepEqual(body.inferenceConfig, { maxTokens: 256 });
      const line = await gw.logLine((l) => l.request_id === id);
      assert.equal(line.status, 200);
      assert.equal(line.backend_name, 'default/bedrock-converse');
      assert.equal(line.response_model, MODEL);
      assert.deepEqual([line.input_tokens, line.output_tokens, line.total_tokens, line.llm_total_token], [6, 5, 11, 11]);
    });

    it('messages.create: stop sequences, top_k and a stop_sequence stop reason', async () => {
      const mark = fake.requests.length;
      const msg = await client.messages.create({
        model: MODEL, max_tokens: 256, stop_sequences: ['three'], top_k: 5, temperature: 0.5,
        messages: [{ role: 'user', content: 'one two three four' }],
      });
      assert.deepEqual(msg.content, [{ type: 'text', text: 'echo: one two ' }]);
      assert.equal(msg.stop_reason, 'stop_sequence');
      const body = sent(mark);
      assert.deepEqual(body.inferenceConfig, { maxTokens: 256, temperature: 0.5, stopSequences: ['three'] });
      assert.deepEqual(body.additionalModelRequestFields, { top_k: 5 });
    });

    it('messages.stream: text deltas and usage from the metadata event', async () => {
      const id = rid('converse-stream');
      const mark = fake.requests.length;
      const stream = client.messages.stream(
        { model: MODEL, max_tokens: 256, messages: [{ role: 'user', content: 'stream these words' }] },
        { headers: { 'x-request-id': id } },
      );
      const deltas = [];
      const types = [];
      stream.on('text', (t) => deltas.push(t));
      stream.on('streamEvent', (e) => types.push(e.type));
      const final = await stream.finalMessage();
      assert.deepEqual(deltas, ['echo: ', 'stream ', 'these ', 'words']);
      assert.deepEqual(types, ['message_start', 'content_block_start', 'content_block_delta', 'content_block_delta',
        'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
      assert.match(final.id, UUID);
      assert.equal(final.model, MODEL);
      assert.equal(final.stop_reason, 'end_turn');
      assert.deepEqual([final.usage.input_tokens, final.usage.output_tokens], [3, 4]);
      sent(mark, 'converse-stream');
      const line = await gw.logLine((l) => l.request_id === id);
      assert.equal(line.stream, true);
      assert.deepEqual([line.input_tokens, line.output_tokens, line.total_tokens], [3, 4, 7]);
    });

    it('messages.stream: thinking, then text, as Anthropic thinking and text blocks', async () => {
      const stream = client.messages.stream({
        model: MODEL, max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 },
        messages: [{ role: 'user', content: 'think first' }],
      });
      const final = await stream.finalMessage();
      assert.deepEqual(final.content.map((b) => b.type), ['thinking', 'text']);
      assert.match(final.content[0].thinking, /The user wrote: think first/);
      assert.ok(final.content[0].signature.length > 0, 'the signature arrives');
      assert.equal(final.content[1].text, 'echo: think first');
    });

    it('messages.stream: a tool use as input_json_delta pieces; the tool result round trip', async () => {
      const question = { role: 'user', content: 'what is the weather in Paris?' };
      let mark = fake.requests.length;
      const stream = client.messages.stream({ model: MODEL, max_tokens: 256, tools: [WEATHER_TOOL], messages: [question] });
      const partials = [];
      stream.on('inputJson', (partial) => partials.push(partial));
      const first = await stream.finalMessage();
      assert.equal(first.stop_reason, 'tool_use');
      assert.equal(first.content.length, 1);
      const use = first.content[0];
      assert.equal(use.type, 'tool_use');
      assert.match(use.id, /^tooluse_/);
      assert.deepEqual(use.input, { location: 'Paris' });
      assert.ok(partials.filter(Boolean).length >= 2, `the arguments in pieces: ${JSON.stringify(partials)}`);
      const body = sent(mark, 'converse-stream');
      assert.deepEqual(body.toolConfig.tools, [{ toolSpec: { name: 'get_weather', description: WEATHER_TOOL.description, inputSchema: { json: WEATHER_TOOL.input_schema } } }]);

      mark = fake.requests.length;
      const second = await client.messages.create({
        model: MODEL, max_tokens: 256, tools: [WEATHER_TOOL],
        messages: [
          question,
          { role: 'assistant', content: first.content },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'sunny and 20C' }] },
        ],
      });
      assert.deepEqual(second.content, [{ type: 'text', text: 'The weather is sunny and 20C' }]);
      const back = sent(mark);
      assert.deepEqual(back.messages.slice(1), [
        { role: 'assistant', content: [{ toolUse: { toolUseId: use.id, name: 'get_weather', input: { location: 'Paris' } } }] },
        { role: 'user', content: [{ toolResult: { toolUseId: use.id, content: [{ text: 'sunny and 20C' }] } }] },
      ]);
    });

    for (const [status, model, ErrorClass, type] of [
      [403, 'amazon.nova-badkey-v1:0', PermissionDeniedError, 'permission_error'],
      [404, 'amazon.nova-error-404-v1:0', NotFoundError, 'not_found_error'],
      [429, 'amazon.nova-error-429-v1:0', RateLimitError, 'rate_limit_error'],
    ]) {
      it(`a Bedrock ${status} is the SDK's ${ErrorClass.name}, Anthropic-shaped (create and stream)`, async () => {
        const mark = fake.requests.length;
        const err = await client.messages.create({ model, max_tokens: 64, messages: [{ role: 'user', content: 'this fails' }] })
          .then(() => null, (e) => e);
        assert.ok(err instanceof ErrorClass, `expected ${ErrorClass.name}, got ${err?.constructor?.name}: ${err?.message}`);
        assert.equal(err.status, status);
        assert.equal(err.error?.type, 'error', `body ${JSON.stringify(err.error)}`);
        assert.equal(err.error.error?.type, type, `body ${JSON.stringify(err.error)}`);
        assert.ok(err.error.error.message.length > 0);
        assert.equal(since(mark)[0]?.status, status, 'the provider answered that status');
        const serr = await client.messages.stream({ model, max_tokens: 64, messages: [{ role: 'user', content: 'this fails too' }] })
          .finalMessage().then(() => null, (e) => e);
        assert.ok(serr instanceof ErrorClass, `stream: expected ${ErrorClass.name}, got ${serr?.constructor?.name}: ${serr?.message}`);
        assert.equal(serr.error?.error?.type, type);
      });
    }

    it('an exception inside the event stream is an Anthropic error event, which the SDK raises', async () => {
      const err = await client.messages.stream({ model: 'amazon.nova-midstream-error-v1:0', max_tokens: 64, messages: [{ role: 'user', content: 'a long answer' }] })
        .finalMessage().then(() => null, (e) => e);
      assert.ok(err instanceof APIError, `got ${err?.constructor?.name}: ${err?.message}`);
      assert.match(err.message, /Model stream error/);
    });
  });

  it('the GenAI metrics name the messages operation for the translated backends', async () => {
    const text = await metrics();
    for (const provider of ['openai', 'azure.openai', 'aws.bedrock']) {
      const series = text.split('\n').filter((l) => l.startsWith('gen_ai_client_token_usage_sum{') && l.includes(`gen_ai_provider_name="${provider}"`));
      assert.ok(series.some((l) => l.includes('gen_ai_operation_name="messages"') && l.includes('gen_ai_token_type="input"')), `messages usage for ${provider}:\n${series.join('\n')}`);
    }
  });

  it('Anthropic with an APIKey policy: the key as Authorization: Bearer, accepted by the API', async () => {
    const mark = fake.requests.length;
    const msg = await client.messages.create({ model: 'claude-haiku-4-5-20251001', max_tokens: 64, messages: [{ role: 'user', content: 'bearer hello' }] });
    assert.equal(msg.content[0].text, 'echo: bearer hello');
    const up = one(mark);
    assert.equal(up.path, '/v1/messages');
    assert.equal(up.headers.authorization, 'Bearer sk-ant-test');
    assert.equal(up.headers['x-api-key'], undefined);
    assert.equal(up.status, 200);
  });

  it('an unknown model under /anthropic is a 404 in Anthropic’s shape, without a provider call', async () => {
    const mark = fake.requests.length;
    const err = await client.messages.create({ model: 'no-such-model', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] }).then(() => null, (e) => e);
    assert.ok(err instanceof NotFoundError, `got ${err?.constructor?.name}: ${err?.message}`);
    assert.equal(err.error?.type, 'error', `body ${JSON.stringify(err.error)}`);
    assert.equal(err.error.error?.type, 'not_found_error', `body ${JSON.stringify(err.error)}`);
    assert.equal(since(mark).length, 0);
  });
});
