// Every provider schema through aigw with the official `openai` SDK: chat, streaming, a tool-call
// round trip, embeddings and errors, against fake providers that speak each real wire format
// (Bedrock event streams with real CRCs and SigV4 checked by the official AWS signer, Google
// tokens from a service-account JWT the fake verifies, Entra ID client credentials, ...).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { startAigw, gatewayYaml } from '../lib/harness.mjs';
import { startFakeProviders } from '../../../tools/fakeproviders/server.mjs';
import { fakeBackendYaml as backend, securityPolicyYaml as policy } from '../lib/fakeconfig.mjs';

const AWS_KEY = 'AKIDEXAMPLE';
const AWS_SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';

// model → backend
const ROUTES = {
  'amazon.nova-micro-v1:0': 'bedrock',
  'amazon.nova-error-429': 'bedrock',
  'amazon.nova-midstream-error': 'bedrock',
  'amazon.titan-embed-text-v2:0': 'bedrock',
  'anthropic.claude-3-5-sonnet-20241022-v2:0': 'bedrock-anthropic',
  'anthropic.claude-midstream-error': 'bedrock-anthropic',
  'gemini-2.5-flash': 'vertex',
  'gemini-midstream-error': 'vertex',
  'gemini-error-400': 'vertex',
  'text-embedding-005': 'vertex',
  'claude-sonnet-4@20250514': 'vertex-anthropic',
  'gpt-4o': 'azure',
  'text-embedding-3-small': 'azure',
  'gpt-4o-entra': 'azure-entra',
  'claude-3-5-haiku-latest': 'anthropic',
  'claude-error-429': 'anthropic',
  'claude-midstream-error': 'anthropic',
  'rerank-v3.5': 'cohere',
};

function config(port, fakePort, serviceAccountJson) {
  // One rule per backend (upstream allows 15 rules a route), its models ORed.
  const byBackend = {};
  for (const [model, b] of Object.entries(ROUTES)) (byBackend[b] ??= []).push(model);
  const rules = Object.entries(byBackend)
    .map(([b, models]) => `    - matches: [${models.map((m) => `{headers: [{type: Exact, name: x-ai-eg-model, value: "${m}"}]}`).join(', ')}]\n      backendRefs: [{name: ${b}}]`)
    .join('\n');
  return (
    gatewayYaml(port) +
    `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: providers, namespace: default}
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
    backend('bedrock', '{name: AWSBedrock}') +
    backend('bedrock-anthropic', '{name: AWSAnthropic, version: bedrock-2023-05-31}') +
    backend('vertex', '{name: GCPVertexAI}') +
    backend('vertex-anthropic', '{name: GCPAnthropic, version: vertex-2023-10-16}') +
    backend('azure', '{name: AzureOpenAI, version: 2025-01-01-preview}') +
    backend('azure-entra', '{name: AzureOpenAI, version: 2025-01-01-preview}') +
    backend('anthropic', '{name: Anthropic}') +
    backend('cohere', '{name: Cohere, version: v2}') +
    `---
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
---
apiVersion: v1
kind: Secret
metadata: {name: azure-key, namespace: default}
stringData: {apiKey: azure-test-key}
---
apiVersion: v1
kind: Secret
metadata: {name: azure-client, namespace: default}
stringData: {client-secret: azure-client-secret}
---
apiVersion: v1
kind: Secret
metadata: {name: anthropic-key, namespace: default}
stringData: {apiKey: sk-ant-test}
---
apiVersion: v1
kind: Secret
metadata: {name: cohere-key, namespace: default}
stringData: {apiKey: cohere-test-key}
` +
    policy('aws', ['bedrock', 'bedrock-anthropic'], `  type: AWSCredentials
  awsCredentials:
    region: us-east-1
    credentialsFile: {secretRef: {name: aws}}
`) +
    policy('gcp', ['vertex', 'vertex-anthropic'], `  type: GCPCredentials
  gcpCredentials:
    projectName: fake-project
    region: us-central1
    credentialsFile: {secretRef: {name: gcp}}
`) +
    policy('azure-key', ['azure'], `  type: AzureAPIKey
  azureAPIKey: {secretRef: {name: azure-key}}
`) +
    policy('azure-entra', ['azure-entra'], `  type: AzureCredentials
  azureCredentials:
    clientID: aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee
    tenantID: 11111111-2222-3333-4444-555555555555
    clientSecretRef: {name: azure-client}
`) +
    policy('anthropic-key', ['anthropic'], `  type: AnthropicAPIKey
  anthropicAPIKey: {secretRef: {name: anthropic-key}}
`) +
    policy('cohere-key', ['cohere'], `  type: APIKey
  apiKey: {secretRef: {name: cohere-key}}
`)
  );
}

const TOOLS = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Current weather in a city',
      parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
    },
  },
];

const CHAT_MODELS = {
  AWSBedrock: 'amazon.nova-micro-v1:0',
  AWSAnthropic: 'anthropic.claude-3-5-sonnet-20241022-v2:0',
  GCPVertexAI: 'gemini-2.5-flash',
  GCPAnthropic: 'claude-sonnet-4@20250514',
  AzureOpenAI: 'gpt-4o',
  'AzureOpenAI (Entra ID)': 'gpt-4o-entra',
  Anthropic: 'claude-3-5-haiku-latest',
};

describe('every provider schema through aigw with the official openai SDK', () => {
  let fake;
  let gw;
  let client;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-providers-'));
  before(async () => {
    const saPath = path.join(dir, 'sa.json');
    fake = await startFakeProviders({ port: 0, gcpServiceAccountOut: saPath, chunkDelayMs: 1 });
    gw = await startAigw({
      config: (port) => config(port, fake.port, readFileSync(saPath, 'utf8')),
      env: { AZURE_AUTHORITY_HOST: `http://127.0.0.1:${fake.port}/` },
    });
    client = new OpenAI({ baseURL: `${gw.base}/v1`, apiKey: 'sk-client-never-forwarded', maxRetries: 0 });
  });
  after(async () => {
    await gw?.stop();
    await fake?.close();
  });

  for (const [schema, model] of Object.entries(CHAT_MODELS)) {
    describe(schema, () => {
      it('chat: the SDK parses the translated answer; usage is logged', async () => {
        const r = await client.chat.completions.create({
          model,
          messages: [
            { role: 'system', content: 'be brief' },
            { role: 'user', content: 'hello there gateway' },
          ],
          max_tokens: 50,
        });
        assert.equal(r.object, 'chat.completion');
        assert.equal(r.choices[0].message.role, 'assistant');
        assert.equal(r.choices[0].message.content, 'echo: hello there gateway');
        assert.equal(r.choices[0].finish_reason, 'stop');
        assert.ok(r.usage.prompt_tokens > 0 && r.usage.completion_tokens > 0, JSON.stringify(r.usage));
        assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
        const line = await gw.logLine((l) => l['x-ai-eg-model'] === model && !l.stream && l.status === 200);
        assert.equal(line.input_tokens, r.usage.prompt_tokens);
        assert.equal(line.output_tokens, r.usage.completion_tokens);
        assert.equal(line.llm_total_token, r.usage.total_tokens);
      });

      it('stream: every chunk parses, text arrives in pieces, usage chunk at the end', async () => {
        const stream = await client.chat.completions.create({
          model,
          messages: [{ role: 'user', content: 'count one two three four' }],
          stream: true,
          stream_options: { include_usage: true },
        });
        let text = '';
        let chunks = 0;
        let finish = null;
        let usage = null;
        for await (const c of stream) {
          // Azure's first chunk carries only prompt_filter_results (empty object, no choices).
          if (c.choices.length > 0 || c.usage) assert.equal(c.object, 'chat.completion.chunk');
          chunks++;
          if (c.choices[0]?.delta?.content) text += c.choices[0].delta.content;
          if (c.choices[0]?.finish_reason) finish = c.choices[0].finish_reason;
          if (c.usage) usage = c.usage;
        }
        assert.equal(text, 'echo: count one two three four');
        assert.ok(chunks >= 4, `only ${chunks} chunks`);
        assert.equal(finish, 'stop');
        assert.ok(usage && usage.prompt_tokens > 0 && usage.completion_tokens > 0, JSON.stringify(usage));
        const line = await gw.logLine((l) => l['x-ai-eg-model'] === model && l.stream === true);
        assert.equal(line.output_tokens, usage.completion_tokens);
      });

      it('tools: a call, then the answer to its result (streamed call too)', async () => {
        const messages = [{ role: 'user', content: 'What is the weather in Paris?' }];
        const first = await client.chat.completions.create({ model, messages, tools: TOOLS });
        assert.equal(first.choices[0].finish_reason, 'tool_calls');
        const call = first.choices[0].message.tool_calls[0];
        assert.equal(call.function.name, 'get_weather');
        assert.deepEqual(JSON.parse(call.function.arguments), { location: 'Paris' });
        messages.push(first.choices[0].message, { role: 'tool', tool_call_id: call.id, content: 'sunny' });
        const second = await client.chat.completions.create({ model, messages, tools: TOOLS });
        assert.equal(second.choices[0].message.content, 'The weather is sunny');

        const stream = await client.chat.completions.create({
          model,
          messages: [{ role: 'user', content: 'weather please' }],
          tools: TOOLS,
          stream: true,
        });
        let args = '';
        let name = null;
        let finish = null;
        for await (const c of stream) {
          const tc = c.choices[0]?.delta?.tool_calls?.[0];
          if (tc?.function?.name) name = tc.function.name;
          if (tc?.function?.arguments) args += tc.function.arguments;
          if (c.choices[0]?.finish_reason) finish = c.choices[0].finish_reason;
        }
        assert.equal(name, 'get_weather');
        assert.deepEqual(JSON.parse(args), { location: 'Paris' });
        assert.equal(finish, 'tool_calls');
      });
    });
  }

  it('embeddings: Bedrock Titan, Vertex and Azure, floats and the SDK default base64', async () => {
    for (const model of ['amazon.titan-embed-text-v2:0', 'text-embedding-005', 'text-embedding-3-small']) {
      const floats = await client.embeddings.create({ model, input: 'hello world', encoding_format: 'float' });
      assert.equal(floats.data.length, 1);
      assert.ok(floats.data[0].embedding.length > 100);
      assert.equal(floats.usage.prompt_tokens, 2);
      const b64 = await client.embeddings.create({ model, input: 'hello world' }); // SDK asks for base64
      assert.equal(b64.data[0].embedding.length, floats.data[0].embedding.length);
      assert.ok(Math.abs(b64.data[0].embedding[3] - floats.data[0].embedding[3]) < 1e-6);
    }
    const many = await client.embeddings.create({ model: 'text-embedding-005', input: ['a b', 'c d e'], encoding_format: 'float' });
    assert.equal(many.data.length, 2);
    assert.equal(many.usage.prompt_tokens, 5);
  });

  it('Cohere rerank passes through /cohere/v2/rerank with the key and logs usage', async () => {
    const r = await fetch(`${gw.base}/cohere/v2/rerank`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer client-key' },
      body: JSON.stringify({ model: 'rerank-v3.5', query: 'gateway tokens', documents: ['tokens flow through the gateway', 'cats sleep'], top_n: 2 }),
    });
    assert.equal(r.status, 200);
    const body = await r.json();
    assert.equal(body.results.length, 2);
    assert.equal(body.results[0].index, 0);
    const rec = fake.requests.filter((q) => q.path === '/v2/rerank').at(-1);
    assert.equal(rec.headers.authorization, 'Bearer cohere-test-key');
    const line = await gw.logLine((l) => l['x-ai-eg-model'] === 'rerank-v3.5');
    assert.equal(line.input_tokens, body.meta.tokens.input_tokens);
  });

  it('provider errors become OpenAI errors with the provider status', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: 'amazon.nova-error-429', messages: [{ role: 'user', content: 'hi' }] }),
      (e) => e.status === 429 && /ThrottlingException/.test(JSON.stringify(e.error ?? e.message)),
    );
    await assert.rejects(
      client.chat.completions.create({ model: 'gemini-error-400', messages: [{ role: 'user', content: 'hi' }] }),
      (e) => e.status === 400 && /INVALID_ARGUMENT/.test(JSON.stringify(e.error ?? e.message)),
    );
    await assert.rejects(
      client.chat.completions.create({ model: 'claude-error-429', messages: [{ role: 'user', content: 'hi' }] }),
      (e) => e.status === 429 && /rate_limit_error/.test(JSON.stringify(e.error ?? e.message)),
    );
  });

  for (const model of ['amazon.nova-midstream-error', 'anthropic.claude-midstream-error', 'gemini-midstream-error', 'claude-midstream-error']) {
    it(`an error inside the stream reaches the SDK as an APIError (${model})`, async () => {
      const stream = await client.chat.completions.create({
        model,
        messages: [{ role: 'user', content: 'one two three' }],
        stream: true,
      });
      let text = '';
      await assert.rejects(async () => {
        for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
      }, (e) => e instanceof OpenAI.APIError);
      assert.ok(text.length > 0, 'some content arrived before the error');
    });
  }

  it('credentials: SigV4 verified, one Google token reused, Entra token, client key never forwarded', async () => {
    const reqs = fake.requests;
    const bedrock = reqs.filter((q) => q.path.startsWith('/model/'));
    assert.ok(bedrock.length > 0);
    for (const q of bedrock) {
      assert.match(q.headers.authorization, /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/us-east-1\/bedrock\/aws4_request/);
      assert.notEqual(q.status, 403, `signature refused for ${q.path}`);
    }
    const stats = fake.stats();
    assert.equal(stats.gcpTokensIssued, 1, 'the Google token is cached across requests');
    assert.equal(stats.azureTokensIssued, 1);
    for (const q of reqs) assert.ok(!JSON.stringify(q.headers).includes('sk-client-never-forwarded'), q.path);
    const vertex = reqs.filter((q) => q.path.includes('/publishers/'));
    assert.ok(vertex.every((q) => q.path.startsWith('/v1/projects/fake-project/locations/us-central1/publishers/')));
    const dump = await (await fetch(`${gw.admin}/config_dump`)).text();
    for (const secret of [AWS_SECRET, 'azure-test-key', 'azure-client-secret', 'sk-ant-test', 'BEGIN PRIVATE KEY'])
      assert.ok(!dump.includes(secret), `config_dump leaks ${secret}`);
  });
});

describe('OAuth tokens are refreshed five minutes before they expire', () => {
  it('fetches a new Google and Entra token once the old one is within 5 minutes of expiry', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-tokens-'));
    const saPath = path.join(dir, 'sa.json');
    // Tokens valid 302 s: usable for 2 s before the 5-minute refresh window starts.
    const fake = await startFakeProviders({ port: 0, gcpServiceAccountOut: saPath, chunkDelayMs: 1, gcpTokenTtlSeconds: 302, azureTokenTtlSeconds: 302 });
    const gw = await startAigw({
      config: (port) => config(port, fake.port, readFileSync(saPath, 'utf8')),
      env: { AZURE_AUTHORITY_HOST: `http://127.0.0.1:${fake.port}/` },
    });
    try {
      const client = new OpenAI({ baseURL: `${gw.base}/v1`, apiKey: 'sk', maxRetries: 0 });
      const ask = (model) => client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] });
      await ask('gemini-2.5-flash');
      await ask('gpt-4o-entra');
      await ask('gemini-2.5-flash'); // reused
      assert.equal(fake.stats().gcpTokensIssued, 1);
      assert.equal(fake.stats().azureTokensIssued, 1);
      await new Promise((r) => setTimeout(r, 2500));
      await ask('gemini-2.5-flash');
      await ask('gpt-4o-entra');
      assert.equal(fake.stats().gcpTokensIssued, 2);
      assert.equal(fake.stats().azureTokensIssued, 2);
    } finally {
      await gw.stop();
      await fake.close();
    }
  });
});

