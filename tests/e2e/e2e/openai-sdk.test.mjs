// End-to-end: the official `openai` npm SDK against aigw in front of the fake provider.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startAigw, startTestupstream, gatewayYaml, openaiBackendYaml, b64, freePort } from '../lib/harness.mjs';

describe('official openai SDK through aigw', () => {
  let up;
  let gw;
  let client;
  before(async () => {
    up = await startTestupstream();
    const dead = await freePort();
    gw = await startAigw({
      config: (port) =>
        gatewayYaml(port) +
        `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: sdk, namespace: default}
spec:
  parentRefs: [{name: aigw}]
  rules:
    - matches:
        - headers: [{type: Exact, name: x-ai-eg-model, value: gpt-4o-mini}]
        - headers: [{type: Exact, name: x-ai-eg-model, value: text-embedding-3-small}]
        - headers: [{type: Exact, name: x-ai-eg-model, value: gpt-3.5-turbo-instruct}]
      backendRefs: [{name: openai}]
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: unreachable}]}]
      backendRefs: [{name: dead}]
  llmRequestCosts:
    - {metadataKey: llm_total_token, type: TotalToken}
` +
        openaiBackendYaml('openai', up.port) +
        openaiBackendYaml('dead', dead),
    });
    client = new OpenAI({ baseURL: `${gw.base}/v1`, apiKey: 'sk-client-side', maxRetries: 0 });
  });
  after(async () => {
    await gw?.stop();
    await up?.stop();
  });

  it('creates a chat completion', async () => {
    const c = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Say hello' }],
    });
    assert.equal(c.object, 'chat.completion');
    assert.equal(c.choices[0].message.role, 'assistant');
    assert.ok(c.choices[0].message.content.length > 0);
    assert.ok(c.usage.total_tokens > 0);
  });

  it('streams a chat completion with usage; the first chunk arrives before the last is sent', async () => {
    const started = Date.now();
    const stream = await client.chat.completions.create(
      {
        model: 'gpt-4o-mini',
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: 'user', content: 'Say hello' }],
      },
      { headers: { 'x-response-chunk-delay-ms': '150', 'x-request-id': 'sdk-stream' } },
    );
    let firstAt = null;
    let text = '';
    let usage = null;
    let chunks = 0;
    for await (const chunk of stream) {
      if (firstAt === null) firstAt = Date.now() - started;
      chunks++;
      text += chunk.choices[0]?.delta?.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    const total = Date.now() - started;
    assert.ok(chunks > 3);
    assert.ok(text.length > 0);
    assert.ok(usage && usage.total_tokens === usage.prompt_tokens + usage.completion_tokens);
    assert.ok(firstAt + 300 < total, `first chunk at ${firstAt} ms, stream ended at ${total} ms`);
    const line = await gw.logLine((l) => l.request_id === 'sdk-stream');
    assert.equal(line.total_tokens, usage.total_tokens);
    assert.equal(line.input_tokens, usage.prompt_tokens);
    assert.equal(line.output_tokens, usage.completion_tokens);
  });

  it('streams without include_usage and still counts tokens (injected because costs are set)', async () => {
    const stream = await client.chat.completions.create(
      { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'hi' }] },
      { headers: { 'x-response-chunk-delay-ms': '0', 'x-request-id': 'sdk-stream-2' } },
    );
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    assert.ok(text.length > 0);
    const line = await gw.logLine((l) => l.request_id === 'sdk-stream-2');
    assert.ok(line.total_tokens > 0);
  });

  it('creates embeddings', async () => {
    const e = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['a', 'b'] });
    assert.equal(e.object, 'list');
    assert.equal(e.data.length, 2);
    assert.ok(e.data[0].embedding.length > 0);
    assert.ok(e.usage.prompt_tokens > 0);
  });

  it('creates a legacy completion', async () => {
    const c = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Say hi' });
    assert.equal(c.object, 'text_completion');
    assert.ok(c.choices[0].text.length > 0);
  });

  it('lists the configured models', async () => {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    assert.deepEqual(ids.sort(), ['gpt-3.5-turbo-instruct', 'gpt-4o-mini', 'text-embedding-3-small', 'unreachable']);
  });

  it('surfaces an unknown model as a 404 error', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }),
      (err) => err instanceof OpenAI.NotFoundError && err.status === 404,
    );
  });

  it('surfaces an upstream 503 as a 503 error', async () => {
    await assert.rejects(
      client.chat.completions.create(
        { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] },
        { headers: { 'x-response-status': '503', 'x-response-body': b64('{"error":{"message":"overloaded","type":"server_error"}}'),
          'x-response-headers': b64('content-type:application/json') } },
      ),
      (err) => err instanceof OpenAI.APIError && err.status === 503 && /overloaded/.test(err.message),
    );
  });

  it('surfaces an unreachable backend as a 503 error', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: 'unreachable', messages: [{ role: 'user', content: 'x' }] }),
      (err) => err instanceof OpenAI.APIError && err.status === 503,
    );
  });

  it('round-trips a tool call', async () => {
    const toolCall = {
      id: 'chatcmpl-tool', object: 'chat.completion', created: 1, model: 'gpt-4o-mini',
      choices: [{ index: 0, finish_reason: 'tool_calls', message: { role: 'assistant', content: null,
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] } }],
      usage: { prompt_tokens: 20, completion_tokens: 5, total_tokens: 25 },
    };
    const c = await client.chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'weather?' }],
        tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }] },
      { headers: { 'x-response-body': b64(JSON.stringify(toolCall)), 'x-response-headers': b64('content-type:application/json') } },
    );
    const call = c.choices[0].message.tool_calls[0];
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });
  });
});
