// Self-test of the fake providers: node --test tools/fakeproviders/selftest.mjs
// Clients here are built independently of the server code where it matters: requests are signed
// with the official AWS signer, JWTs are signed with node:crypto, event streams are decoded and
// their CRCs recomputed.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { spawn } from 'node:child_process';
import path from 'node:path';
import os from 'node:os';
import { readFileSync, mkdtempSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { startFakeProviders } from './server.mjs';
import { SignatureV4, Sha256 } from './lib/deps.mjs';
import { decodeMessages } from './lib/eventstream.mjs';
import { buildMultipart } from './lib/multipart.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const AWS = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };

let fp;
before(async () => {
  fp = await startFakeProviders({ port: 0, chunkDelayMs: 0 });
});
after(async () => {
  await fp?.close();
});

// ---- client helpers -------------------------------------------------------------------------

function request({ method = 'POST', path: p, headers = {}, body = '' }) {
  return new Promise((resolve, reject) => {
    const buf = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const req = http.request({
      host: '127.0.0.1', port: fp.port, method, path: p,
      headers: { 'content-length': buf.length, ...headers },
    }, (res) => {
      const chunks = [];
      const arrivals = [];
      res.on('data', (c) => {
        chunks.push(c);
        arrivals.push(c.length);
      });
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        let json;
        try {
          json = JSON.parse(raw.toString('utf8'));
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode, headers: res.headers, raw, text: raw.toString('utf8'), json, arrivals });
      });
    });
    req.on('error', reject);
    req.end(buf);
  });
}

async function awsSigned(p, body, { creds = AWS, region = 'us-east-1', tamper = null, extraHeaders = {} } = {}) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const signer = new SignatureV4({ service: 'bedrock', region, credentials: creds, sha256: Sha256 });
  const signed = await signer.sign({
    method: 'POST', protocol: 'http:', hostname: '127.0.0.1', port: fp.port, path: p, query: {},
    headers: { host: `127.0.0.1:${fp.port}`, 'content-type': 'application/json', accept: 'application/json', ...extraHeaders },
    body: text,
  });
  let sendBody = text;
  const headers = { ...signed.headers };
  delete headers.host;
  if (tamper) ({ body: sendBody } = tamper({ body: sendBody, headers }));
  return request({ path: p, headers, body: sendBody });
}

// Independent CRC-32 (bitwise, no table) to double-check the server's event-stream framing.
function crc32Bitwise(buf) {
  let c = 0xffffffff;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

function decodeEventStream(raw) {
  const { messages, rest } = decodeMessages(raw);
  assert.equal(rest.length, 0, 'no trailing bytes');
  for (const m of messages) {
    const total = m.raw.readUInt32BE(0);
    assert.equal(total, m.raw.length);
    assert.equal(m.raw.readUInt32BE(8), crc32Bitwise(m.raw.subarray(0, 8)), 'prelude CRC');
    assert.equal(m.raw.readUInt32BE(total - 4), crc32Bitwise(m.raw.subarray(0, total - 4)), 'message CRC');
  }
  return messages.map((m) => ({ headers: m.headers, body: JSON.parse(m.payload.toString('utf8')) }));
}

function sseEvents(text, delim = /\r\n\r\n|\n\n|\r\r/) {
  return text.split(delim).filter((s) => s.trim() !== '').map((block) => {
    const ev = {};
    for (const line of block.split(/\r\n|\n|\r/)) {
      const i = line.indexOf(':');
      const k = line.slice(0, i);
      const v = line.slice(i + 1).replace(/^ /, '');
      ev[k] = ev[k] === undefined ? v : `${ev[k]}\n${v}`;
    }
    if (ev.data && ev.data !== '[DONE]') ev.json = JSON.parse(ev.data);
    return ev;
  });
}

const weatherTool = { name: 'get_weather', description: 'Weather for a place', input_schema: { type: 'object', properties: { location: { type: 'string' } } } };

// ---- Bedrock ---------------------------------------------------------------------------------

describe('bedrock', () => {
  const converse = (text, extra = {}) => ({ messages: [{ role: 'user', content: [{ text }] }], ...extra });
  const modelPath = (model, op) => `/model/${encodeURIComponent(model)}/${op}`;
  const MODEL = 'anthropic.claude-3-5-sonnet-20240620-v1:0';

  test('converse with a %3A-escaped model id, signed by the official signer', async () => {
    const p = modelPath(MODEL, 'converse');
    assert.match(p, /%3A0\/converse$/);
    const r = await awsSigned(p, converse('hello big world', { system: [{ text: 'be brief' }] }));
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.output.message, { content: [{ text: 'echo: hello big world' }], role: 'assistant' });
    assert.equal(r.json.stopReason, 'end_turn');
    // W = 3 + 2 = 5 words; output = words('echo: hello big world') = 4
    assert.deepEqual(r.json.usage, { inputTokens: 5, outputTokens: 4, totalTokens: 9, cacheReadInputTokens: 0, cacheWriteInputTokens: 0 });
    assert.equal(typeof r.json.metrics.latencyMs, 'number');
    assert.ok(r.headers['x-amzn-requestid']);
  });

  test('tampered, wrongly keyed or unsigned requests are rejected', async () => {
    const p = modelPath(MODEL, 'converse');
    let r = await awsSigned(p, converse('hi'), { tamper: ({ body }) => ({ body: body.replace('hi', 'ho') }) });
    assert.equal(r.status, 403);
    assert.match(r.headers['x-amzn-errortype'], /^InvalidSignatureException/);
    assert.match(r.json.message, /^The request signature we calculated does not match/);
    r = await awsSigned(p, converse('hi'), { creds: { ...AWS, secretAccessKey: 'wrong' } });
    assert.equal(r.status, 403);
    assert.match(r.headers['x-amzn-errortype'], /^InvalidSignatureException/);
    r = await awsSigned(p, converse('hi'), { creds: { ...AWS, accessKeyId: 'AKIDOTHER' } });
    assert.equal(r.status, 403);
    assert.match(r.headers['x-amzn-errortype'], /^UnrecognizedClientException/);
    r = await awsSigned(p, converse('hi'), { region: 'eu-west-1' });
    assert.equal(r.status, 403);
    // signed over the decoded path but sent escaped: mismatch
    const signer = new SignatureV4({ service: 'bedrock', region: 'us-east-1', credentials: AWS, sha256: Sha256 });
    const body = JSON.stringify(converse('hi'));
    const s = await signer.sign({ method: 'POST', protocol: 'http:', hostname: '127.0.0.1', path: `/model/${MODEL}/converse`, query: {}, headers: { host: `127.0.0.1:${fp.port}`, 'content-type': 'application/json' }, body });
    const h = { ...s.headers };
    delete h.host;
    r = await request({ path: p, headers: h, body });
    assert.equal(r.status, 403);
    r = await request({ path: p, headers: { 'content-type': 'application/json' }, body });
    assert.equal(r.status, 403);
    assert.match(r.headers['x-amzn-errortype'], /^MissingAuthenticationTokenException/);
    // without x-amz-content-sha256 the payload hash is computed from the received body
    const plain = new SignatureV4({ service: 'bedrock', region: 'us-east-1', credentials: AWS, sha256: Sha256, applyChecksum: false });
    const s2 = await plain.sign({ method: 'POST', protocol: 'http:', hostname: '127.0.0.1', path: p, query: {}, headers: { host: `127.0.0.1:${fp.port}`, 'content-type': 'application/json' }, body });
    const h2 = { ...s2.headers };
    delete h2.host;
    assert.equal(h2['x-amz-content-sha256'], undefined);
    r = await request({ path: p, headers: h2, body });
    assert.equal(r.status, 200, r.text);
    r = await request({ path: p, headers: h2, body: body.replace('hi', 'ho') });
    assert.equal(r.status, 403);
    assert.match(r.headers['x-amzn-errortype'], /^InvalidSignatureException/);
  });

  test('validation errors look like Bedrock ValidationException', async () => {
    const r = await awsSigned(modelPath(MODEL, 'converse'), { messages: [{ role: 'bot', content: [{ text: 'x' }] }] });
    assert.equal(r.status, 400);
    assert.equal(r.headers['x-amzn-errortype'], 'ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/');
    assert.match(r.json.message, /role/);
    const r2 = await awsSigned(modelPath(MODEL, 'converse'), { messages: [{ role: 'user', content: [{ text: 'a' }] }], foo: 1 });
    assert.equal(r2.status, 400);
    assert.match(r2.json.message, /extraneous key \[foo\]/);
  });

  test('tool use, tool result, cache points and reasoning', async () => {
    const toolConfig = { tools: [{ toolSpec: { name: 'get_weather', description: 'w', inputSchema: { json: { type: 'object' } } } }] };
    let r = await awsSigned(modelPath(MODEL, 'converse'), converse('what is the weather in Paris?', { toolConfig }));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.stopReason, 'tool_use');
    const tu = r.json.output.message.content[0].toolUse;
    assert.equal(tu.name, 'get_weather');
    assert.deepEqual(tu.input, { location: 'Paris' });
    r = await awsSigned(modelPath(MODEL, 'converse'), {
      messages: [
        { role: 'user', content: [{ text: 'weather?' }] },
        { role: 'assistant', content: [{ toolUse: { toolUseId: tu.toolUseId, name: 'get_weather', input: { location: 'Paris' } } }] },
        { role: 'user', content: [{ toolResult: { toolUseId: tu.toolUseId, content: [{ text: 'sunny' }] } }] },
      ],
      toolConfig,
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.output.message.content, [{ text: 'The weather is sunny' }]);
    r = await awsSigned(modelPath(MODEL, 'converse'), {
      system: [{ text: 'one two three' }, { cachePoint: { type: 'default' } }],
      messages: [{ role: 'user', content: [{ text: 'four five' }] }],
      additionalModelRequestFields: { thinking: { type: 'enabled', budget_tokens: 1024 } },
    });
    assert.equal(r.status, 200, r.text);
    const u = r.json.usage;
    assert.equal(u.cacheReadInputTokens, 3);
    assert.equal(u.cacheWriteInputTokens, 6);
    assert.equal(u.inputTokens, 2);
    assert.equal(u.totalTokens, u.inputTokens + u.outputTokens + 9);
    const rc = r.json.output.message.content[0].reasoningContent.reasoningText;
    assert.ok(rc.text.length > 0 && rc.signature.length > 0);
    assert.deepEqual(r.json.output.message.content[1], { text: 'echo: four five' });
  });

  test('converse-stream: event stream framing, CRCs, events and usage', async () => {
    const r = await awsSigned(modelPath(MODEL, 'converse-stream'), converse('stream these words please'));
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/vnd.amazon.eventstream');
    const ev = decodeEventStream(r.raw);
    const types = ev.map((e) => e.headers[':event-type']);
    assert.equal(types[0], 'messageStart');
    assert.deepEqual(types.slice(-3), ['contentBlockStop', 'messageStop', 'metadata']);
    for (const e of ev) {
      assert.equal(e.headers[':message-type'], 'event');
      assert.equal(e.headers[':content-type'], 'application/json');
      assert.equal(typeof e.body.p, 'string');
    }
    const deltas = ev.filter((e) => e.headers[':event-type'] === 'contentBlockDelta');
    assert.ok(deltas.length >= 3);
    assert.equal(deltas.map((d) => d.body.delta.text).join(''), 'echo: stream these words please');
    assert.equal(ev.at(-2).body.stopReason, 'end_turn');
    assert.equal(ev.at(-1).body.usage.outputTokens, 5);
  });

  test('converse-stream: tool input in pieces, reasoning with signature, mid-stream exception', async () => {
    const toolConfig = { tools: [{ toolSpec: { name: 'get_weather', inputSchema: { json: { type: 'object' } } } }] };
    let r = await awsSigned(modelPath(MODEL, 'converse-stream'), converse('weather please', {
      toolConfig, additionalModelRequestFields: { reasoning_config: { type: 'enabled', budget_tokens: 2000 } },
    }));
    let ev = decodeEventStream(r.raw);
    const start = ev.find((e) => e.headers[':event-type'] === 'contentBlockStart');
    assert.equal(start.body.contentBlockIndex, 1);
    assert.equal(start.body.start.toolUse.name, 'get_weather');
    const pieces = ev.filter((e) => e.body.delta?.toolUse).map((e) => e.body.delta.toolUse.input);
    assert.ok(pieces.length >= 2);
    assert.deepEqual(JSON.parse(pieces.join('')), { location: 'Paris' });
    assert.ok(ev.some((e) => e.body.delta?.reasoningContent?.signature));
    assert.ok(ev.some((e) => e.body.delta?.reasoningContent?.text));
    assert.equal(ev.find((e) => e.headers[':event-type'] === 'messageStop').body.stopReason, 'tool_use');

    r = await awsSigned(modelPath('anthropic.midstream-error-v1:0', 'converse-stream'), converse('a b c d'));
    assert.equal(r.status, 200);
    ev = decodeEventStream(r.raw);
    assert.equal(ev.at(-1).headers[':message-type'], 'exception');
    assert.equal(ev.at(-1).headers[':exception-type'], 'modelStreamErrorException');
    assert.ok(ev.some((e) => e.headers[':event-type'] === 'contentBlockDelta'));
  });

  test('thinking round trip: the reasoning block and its signature must come back', async () => {
    const toolConfig = { tools: [{ toolSpec: { name: 'get_weather', inputSchema: { json: { type: 'object' } } } }] };
    const additionalModelRequestFields = { thinking: { type: 'enabled', budget_tokens: 1024 } };
    const first = await awsSigned(modelPath(MODEL, 'converse'), converse('weather?', { toolConfig, additionalModelRequestFields }));
    assert.equal(first.status, 200, first.text);
    const [reasoning, toolUse] = first.json.output.message.content;
    const history = (assistantContent) => ({
      messages: [
        { role: 'user', content: [{ text: 'weather?' }] },
        { role: 'assistant', content: assistantContent },
        { role: 'user', content: [{ toolResult: { toolUseId: toolUse.toolUse.toolUseId, content: [{ json: { sky: 'clear' } }] } }] },
      ],
      toolConfig,
      additionalModelRequestFields,
    });
    let r = await awsSigned(modelPath(MODEL, 'converse'), history([reasoning, toolUse]));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.output.message.content[1].text, 'The weather is {"sky":"clear"}');
    r = await awsSigned(modelPath(MODEL, 'converse'), history([toolUse]));
    assert.equal(r.status, 400);
    assert.match(r.json.message, /Expected `thinking` or `redacted_thinking`/);
    const forged = { reasoningContent: { reasoningText: { ...reasoning.reasoningContent.reasoningText, signature: 'Zm9yZ2Vk' } } };
    r = await awsSigned(modelPath(MODEL, 'converse'), history([forged, toolUse]));
    assert.equal(r.status, 400);
    assert.match(r.json.message, /signature/);
  });

  test('model-name error triggers', async () => {
    for (const [code, type] of [[429, 'ThrottlingException'], [400, 'ValidationException'], [500, 'InternalServerException']]) {
      const r = await awsSigned(modelPath(`anthropic.error-${code}`, 'converse'), converse('x'));
      assert.equal(r.status, code);
      assert.match(r.headers['x-amzn-errortype'], new RegExp(`^${type}:`));
      assert.equal(typeof r.json.message, 'string');
    }
  });

  test('invoke: titan embeddings and anthropic messages', async () => {
    let r = await awsSigned(modelPath('amazon.titan-embed-text-v1', 'invoke'), { inputText: 'embed me now' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.embedding.length, 1536);
    assert.equal(r.json.inputTextTokenCount, 3);
    r = await awsSigned(modelPath('amazon.titan-embed-text-v2:0', 'invoke'), { inputText: 'x', dimensions: 256 });
    assert.equal(r.json.embedding.length, 256);
    const msgBody = { anthropic_version: 'bedrock-2023-05-31', max_tokens: 100, messages: [{ role: 'user', content: 'hi there' }] };
    r = await awsSigned(modelPath(`us.${MODEL}`, 'invoke'), msgBody);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.type, 'message');
    assert.match(r.json.id, /^msg_bdrk_/);
    assert.deepEqual(r.json.content, [{ type: 'text', text: 'echo: hi there' }]);
    assert.equal(r.headers['x-amzn-bedrock-output-token-count'], '3');
    r = await awsSigned(modelPath(MODEL, 'invoke'), { ...msgBody, model: 'claude' });
    assert.equal(r.status, 400);
    assert.match(r.json.message, /extraneous key \[model\]/);
    r = await awsSigned(modelPath(MODEL, 'invoke'), { ...msgBody, anthropic_version: undefined });
    assert.equal(r.status, 400);
    r = await awsSigned(modelPath(MODEL, 'invoke'), { ...msgBody, anthropic_beta: ['context-1m-2025-08-07'] });
    assert.equal(r.status, 200, r.text);
    r = await awsSigned(modelPath(MODEL, 'invoke'), { ...msgBody, anthropic_beta: ['context-1m-2025-08-07', 'files-api-2025-04-14'] });
    assert.equal(r.status, 400);
    assert.match(r.json.message, /invalid beta flag/);
  });

  test('invoke-with-response-stream: anthropic events as base64 chunks', async () => {
    const r = await awsSigned(modelPath(MODEL, 'invoke-with-response-stream'), {
      anthropic_version: 'bedrock-2023-05-31', max_tokens: 4000,
      thinking: { type: 'enabled', budget_tokens: 1024 },
      tools: [weatherTool],
      messages: [{ role: 'user', content: [{ type: 'text', text: 'weather in Paris', cache_control: { type: 'ephemeral' } }] }],
    });
    assert.equal(r.status, 200, r.text);
    const ev = decodeEventStream(r.raw);
    for (const e of ev) assert.equal(e.headers[':event-type'], 'chunk');
    const inner = ev.map((e) => JSON.parse(Buffer.from(e.body.bytes, 'base64').toString('utf8')));
    const types = inner.map((e) => e.type);
    assert.equal(types[0], 'message_start');
    assert.deepEqual(types.slice(-2), ['message_delta', 'message_stop']);
    assert.ok(inner.some((e) => e.delta?.type === 'thinking_delta'));
    assert.ok(inner.some((e) => e.delta?.type === 'signature_delta'));
    const json = inner.filter((e) => e.delta?.type === 'input_json_delta').map((e) => e.delta.partial_json);
    assert.ok(json.filter(Boolean).length >= 2);
    assert.deepEqual(JSON.parse(json.join('')), { location: 'Paris' });
    assert.equal(inner.at(-2).delta.stop_reason, 'tool_use');
    assert.ok(inner[0].message.usage.cache_read_input_tokens > 0);
    assert.ok(inner[0].message.usage.cache_creation_input_tokens > 0);
    assert.equal(typeof inner.at(-1)['amazon-bedrock-invocationMetrics'].outputTokenCount, 'number');
  });

  test('session tokens: refused when not configured, checked when configured', async () => {
    const r = await awsSigned(modelPath(MODEL, 'converse'), converse('x'), { creds: { ...AWS, sessionToken: 'tok' } });
    assert.equal(r.status, 403);
    const other = await startFakeProviders({ port: 0, awsSessionToken: 'session-1', chunkDelayMs: 0 });
    try {
      const signer = new SignatureV4({ service: 'bedrock', region: 'us-east-1', credentials: { ...AWS, sessionToken: 'session-1' }, sha256: Sha256 });
      const body = JSON.stringify(converse('x'));
      const s = await signer.sign({ method: 'POST', protocol: 'http:', hostname: '127.0.0.1', path: '/model/m/converse', query: {}, headers: { host: `127.0.0.1:${other.port}` }, body });
      const res = await fetch(`${other.url}/model/m/converse`, { method: 'POST', headers: s.headers, body });
      assert.equal(res.status, 200, await res.clone().text());
    } finally {
      await other.close();
    }
  });

  test('count-tokens: invokeModel (base64 Anthropic body) and converse; Claude base ids only', async () => {
    const inner = { anthropic_version: 'bedrock-2023-05-31', max_tokens: 1, system: 'be brief', messages: [{ role: 'user', content: 'count these four words' }] };
    let r = await awsSigned(modelPath(MODEL, 'count-tokens'), { input: { invokeModel: { body: Buffer.from(JSON.stringify(inner)).toString('base64') } } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { inputTokens: 6 });
    assert.ok(r.headers['x-amzn-requestid']);
    r = await awsSigned(modelPath(MODEL, 'count-tokens'), { input: { converse: { system: [{ text: 'be brief' }], messages: [{ role: 'user', content: [{ text: 'one two three' }] }] } } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { inputTokens: 5 });
    r = await awsSigned(modelPath(MODEL, 'count-tokens'), { input: { converse: { messages: [{ role: 'user', content: [{ text: 'x' }] }], inferenceConfig: { maxTokens: 5 } } } });
    assert.equal(r.status, 400);
    assert.match(r.json.message, /extraneous key \[inferenceConfig\]/);
    r = await awsSigned(modelPath(MODEL, 'count-tokens'), { input: { invokeModel: { body: Buffer.from(JSON.stringify({ ...inner, model: 'x' })).toString('base64') } } });
    assert.equal(r.status, 400);
    r = await awsSigned(modelPath(MODEL, 'count-tokens'), { input: { invokeModel: { body: Buffer.from('{}').toString('base64') }, converse: {} } });
    assert.equal(r.status, 400);
    assert.match(r.json.message, /exactly one of/);
    for (const m of [`us.${MODEL}`, 'amazon.nova-micro-v1:0']) {
      r = await awsSigned(modelPath(m, 'count-tokens'), { input: { converse: { messages: [{ role: 'user', content: [{ text: 'x' }] }] } } });
      assert.equal(r.status, 400, m);
      assert.match(r.headers['x-amzn-errortype'], /^ValidationException/);
      assert.match(r.json.message, /doesn't support counting tokens/);
    }
    r = await request({ path: modelPath(MODEL, 'count-tokens'), body: { input: {} } });
    assert.equal(r.status, 403);
  });

  test("Bedrock's OpenAI-compatible API: /openai/v1/chat/completions and /openai/v1/responses, SigV4", async () => {
    let r = await awsSigned('/openai/v1/chat/completions', { model: 'openai.gpt-oss-20b-1:0', messages: [{ role: 'user', content: 'hello bedrock' }] });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.object, 'chat.completion');
    assert.equal(r.json.model, 'openai.gpt-oss-20b-1:0');
    assert.equal(r.json.choices[0].message.content, 'echo: hello bedrock');
    assert.ok(r.headers['x-amzn-requestid']);
    r = await awsSigned('/openai/v1/responses', { model: 'openai.gpt-oss-20b-1:0', input: 'hello responses', stream: true });
    assert.equal(r.status, 200, r.text);
    const ev = sseEvents(r.text);
    assert.equal(ev.at(-1).event, 'response.completed');
    assert.equal(ev.at(-1).json.response.usage.total_tokens, 5);
    r = await awsSigned('/openai/v1/responses', { model: 'm', input: 'x' }, { creds: { ...AWS, secretAccessKey: 'wrong' } });
    assert.equal(r.status, 403);
    assert.match(r.headers['x-amzn-errortype'], /^InvalidSignatureException/);
    r = await request({ path: '/openai/v1/responses', body: { model: 'm', input: 'x' } });
    assert.equal(r.status, 403);
    assert.match(r.headers['x-amzn-errortype'], /^MissingAuthenticationTokenException/);
    r = await awsSigned('/openai/v1/responses', { input: 'x' });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.param, 'model');
  });
});

// ---- Azure OpenAI --------------------------------------------------------------------------

describe('azure openai', () => {
  const chatPath = '/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21';
  const chat = (extra = {}) => ({ messages: [{ role: 'user', content: 'hello azure' }], ...extra });

  test('api-key auth, content filter fields, usage', async () => {
    let r = await request({ path: chatPath, headers: { 'api-key': 'azure-test-key', 'content-type': 'application/json' }, body: chat() });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.object, 'chat.completion');
    assert.equal(r.json.model, 'gpt-4o-mini');
    assert.equal(r.json.choices[0].message.content, 'echo: hello azure');
    assert.ok(r.json.prompt_filter_results[0].content_filter_results.hate);
    assert.ok(r.json.choices[0].content_filter_results);
    assert.deepEqual([r.json.usage.prompt_tokens, r.json.usage.completion_tokens, r.json.usage.total_tokens], [2, 3, 5]);
    r = await request({ path: chatPath, headers: { 'api-key': 'nope' }, body: chat() });
    assert.equal(r.status, 401);
    assert.equal(r.json.error.code, '401');
    r = await request({ path: '/openai/deployments/d/chat/completions', headers: { 'api-key': 'azure-test-key' }, body: chat() });
    assert.equal(r.status, 404);
  });

  test('Entra client credentials, bearer auth', async () => {
    const tenant = fp.config.azureTenantId;
    const form = (secret) => new URLSearchParams({
      grant_type: 'client_credentials', client_id: fp.config.azureClientId, client_secret: secret,
      scope: 'https://cognitiveservices.azure.com/.default',
    }).toString();
    let r = await request({ path: `/${tenant}/oauth2/v2.0/token`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form('bad') });
    assert.equal(r.status, 401);
    assert.equal(r.json.error, 'invalid_client');
    r = await request({ path: `/${tenant}/oauth2/v2.0/token`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form(fp.config.azureClientSecret) });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.token_type, 'Bearer');
    assert.equal(r.json.expires_in, 3599);
    const token = r.json.access_token;
    r = await request({ path: chatPath, headers: { authorization: `Bearer ${token}` }, body: chat() });
    assert.equal(r.status, 200, r.text);
    r = await request({ path: chatPath, headers: { authorization: 'Bearer forged' }, body: chat() });
    assert.equal(r.status, 401);
  });

  test('streaming with include_usage, tool call in pieces, [DONE]', async () => {
    let r = await request({ path: chatPath, headers: { 'api-key': 'azure-test-key' }, body: chat({ stream: true, stream_options: { include_usage: true } }) });
    assert.equal(r.status, 200);
    let ev = sseEvents(r.text);
    assert.equal(ev.at(-1).data, '[DONE]');
    assert.ok(ev[0].json.prompt_filter_results);
    const content = ev.filter((e) => e.json?.choices?.[0]?.delta?.content).map((e) => e.json.choices[0].delta.content);
    assert.ok(content.length >= 2);
    assert.equal(content.join(''), 'echo: hello azure');
    assert.equal(ev.at(-2).json.usage.total_tokens, 5);
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }];
    r = await request({ path: chatPath, headers: { 'api-key': 'azure-test-key' }, body: { messages: [{ role: 'user', content: 'weather?' }], tools, stream: true } });
    ev = sseEvents(r.text);
    const args = ev.flatMap((e) => e.json?.choices?.[0]?.delta?.tool_calls ?? []).map((t) => t.function.arguments);
    assert.ok(args.filter(Boolean).length >= 2);
    assert.deepEqual(JSON.parse(args.join('')), { location: 'Paris' });
    assert.equal(ev.find((e) => e.json?.choices?.[0]?.finish_reason).json.choices[0].finish_reason, 'tool_calls');
  });

  test('embeddings (base64 and float) and error triggers', async () => {
    let r = await request({ path: '/openai/deployments/emb/embeddings?api-version=2024-10-21', headers: { 'api-key': 'azure-test-key' }, body: { input: ['a b', 'c'], encoding_format: 'base64' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(Buffer.from(r.json.data[0].embedding, 'base64').length, 1536 * 4);
    assert.equal(r.json.usage.prompt_tokens, 3);
    r = await request({ path: '/openai/deployments/emb/embeddings?api-version=2024-10-21', headers: { 'api-key': 'azure-test-key' }, body: { input: 'a', dimensions: 8 } });
    assert.equal(r.json.data[0].embedding.length, 8);
    r = await request({ path: '/openai/deployments/x-error-429/chat/completions?api-version=1', headers: { 'api-key': 'azure-test-key' }, body: chat() });
    assert.equal(r.status, 429);
    assert.equal(r.json.error.code, '429');
    assert.equal(r.headers['retry-after'], '1');
  });

  test('responses and responses/input_tokens: api-version, key, model (a deployment) in the body', async () => {
    const key = { 'api-key': 'azure-test-key' };
    let r = await request({ path: '/openai/responses?api-version=2025-04-01-preview', headers: key, body: { model: 'gpt-4o', input: 'hello azure responses' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.object, 'response');
    assert.equal(r.json.model, 'gpt-4o');
    assert.equal(r.json.output[0].content[0].text, 'echo: hello azure responses');
    assert.deepEqual([r.json.usage.input_tokens, r.json.usage.output_tokens, r.json.usage.total_tokens], [3, 4, 7]);
    assert.ok(r.headers['apim-request-id']);
    r = await request({ path: '/openai/responses/input_tokens?api-version=2025-04-01-preview', headers: key, body: { model: 'gpt-4o', input: 'hello azure responses' } });
    assert.deepEqual(r.json, { object: 'response.input_tokens', input_tokens: 3 });
    r = await request({ path: '/openai/responses', headers: key, body: { model: 'gpt-4o', input: 'x' } });
    assert.equal(r.status, 400);
    r = await request({ path: '/openai/responses?api-version=1', headers: { 'api-key': 'no' }, body: { model: 'gpt-4o', input: 'x' } });
    assert.equal(r.status, 401);
    r = await request({ path: '/openai/responses?api-version=1', headers: key, body: { input: 'x' } });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.code, 'BadRequest');
    r = await request({ path: '/openai/v1/responses', headers: key, body: { model: 'gpt-4o', input: 'v1 api' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.output[0].content[0].text, 'echo: v1 api');
  });
});

// ---- Vertex AI -------------------------------------------------------------------------------

function signJwt(sa, claims, header = { alg: 'RS256', typ: 'JWT', kid: sa.private_key_id }) {
  const enc = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const data = `${enc(header)}.${enc(claims)}`;
  const sig = crypto.sign('RSA-SHA256', Buffer.from(data), sa.private_key).toString('base64url');
  return `${data}.${sig}`;
}

describe('vertex', () => {
  let sa;
  let token;
  const now = () => Math.floor(Date.now() / 1000);
  const claims = (over = {}) => ({
    iss: sa.client_email, aud: sa.token_uri, scope: 'https://www.googleapis.com/auth/cloud-platform', iat: now(), exp: now() + 3600, ...over,
  });
  const tokenReq = (assertion) => request({
    path: '/token', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }).toString(),
  });
  const base = '/v1/projects/fake-project/locations/us-central1/publishers';
  const auth = () => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' });

  before(async () => {
    const r = await request({ method: 'GET', path: '/__gcp_service_account' });
    sa = r.json;
  });

  test('service account JSON and the JWT bearer token endpoint', async () => {
    assert.equal(sa.type, 'service_account');
    assert.match(sa.private_key, /^-----BEGIN PRIVATE KEY-----/);
    assert.equal(sa.token_uri, `${fp.url}/token`);
    const before = (await request({ method: 'GET', path: '/__stats' })).json.gcpTokensIssued;
    let r = await tokenReq(signJwt(sa, claims()));
    assert.equal(r.status, 200, r.text);
    assert.match(r.json.access_token, /^ya29\./);
    assert.equal(r.json.token_type, 'Bearer');
    token = r.json.access_token;
    assert.equal((await request({ method: 'GET', path: '/__stats' })).json.gcpTokensIssued, before + 1);
    // a JWT signed by another key
    const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    r = await tokenReq(signJwt({ ...sa, private_key: privateKey }, claims()));
    assert.equal(r.status, 400);
    assert.equal(r.json.error, 'invalid_grant');
    r = await tokenReq(signJwt(sa, claims({ aud: 'https://oauth2.googleapis.com/token' })));
    assert.equal(r.json.error, 'invalid_grant');
    r = await tokenReq(signJwt(sa, claims({ exp: now() + 7200 })));
    assert.equal(r.json.error, 'invalid_grant');
    r = await tokenReq(signJwt(sa, claims({ scope: 'https://www.googleapis.com/auth/userinfo.email' })));
    assert.equal(r.status, 400);
    r = await tokenReq(signJwt(sa, claims(), { alg: 'RS256', typ: 'JWT', kid: 'other' }));
    assert.equal(r.json.error, 'invalid_grant');
  });

  test('generateContent: auth, text, tool call, tool result, thinking', async () => {
    const p = `${base}/google/models/gemini-2.5-flash:generateContent`;
    let r = await request({ path: p, body: { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] } });
    assert.equal(r.status, 401);
    assert.equal(r.json.error.status, 'UNAUTHENTICATED');
    r = await request({ path: p, headers: auth(), body: { contents: [{ role: 'user', parts: [{ text: 'hello gemini' }] }] } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.candidates[0].content, { role: 'model', parts: [{ text: 'echo: hello gemini' }] });
    assert.equal(r.json.candidates[0].finishReason, 'STOP');
    assert.deepEqual([r.json.usageMetadata.promptTokenCount, r.json.usageMetadata.candidatesTokenCount, r.json.usageMetadata.totalTokenCount], [2, 3, 5]);
    assert.equal(r.json.modelVersion, 'gemini-2.5-flash');
    const tools = [{ functionDeclarations: [{ name: 'get_weather', description: 'w', parameters: { type: 'OBJECT' } }] }];
    r = await request({ path: p, headers: auth(), body: { contents: [{ role: 'user', parts: [{ text: 'weather?' }] }], tools } });
    assert.deepEqual(r.json.candidates[0].content.parts[0].functionCall, { name: 'get_weather', args: { location: 'Paris' } });
    r = await request({
      path: p, headers: auth(), body: {
        contents: [
          { role: 'user', parts: [{ text: 'weather?' }] },
          { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: { location: 'Paris' } } }] },
          { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { content: 'rainy' } } }] },
        ],
        tools,
      },
    });
    assert.equal(r.json.candidates[0].content.parts[0].text, 'The weather is rainy');
    r = await request({ path: p, headers: auth(), body: { contents: [{ role: 'user', parts: [{ text: 'think' }] }], generationConfig: { thinkingConfig: { thinkingBudget: 512, includeThoughts: true } } } });
    assert.equal(r.json.candidates[0].content.parts[0].thought, true);
    const um = r.json.usageMetadata;
    assert.ok(um.thoughtsTokenCount > 0);
    assert.equal(um.totalTokenCount, um.promptTokenCount + um.candidatesTokenCount + um.thoughtsTokenCount);
  });

  test('validation errors and wrong project', async () => {
    const p = `${base}/google/models/gemini-2.0-flash:generateContent`;
    let r = await request({ path: p, headers: auth(), body: { contents: [{ role: 'user', parts: [{ text: 'x' }] }], bogus: 1 } });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.status, 'INVALID_ARGUMENT');
    assert.match(r.json.error.message, /Unknown name "bogus"/);
    r = await request({ path: p, headers: auth(), body: { contents: [{ role: 'assistant', parts: [{ text: 'x' }] }] } });
    assert.equal(r.status, 400);
    const schemaTool = (parameters) => ({ contents: [{ role: 'user', parts: [{ text: 'x' }] }], tools: [{ functionDeclarations: [{ name: 'f', parameters }] }] });
    r = await request({ path: p, headers: auth(), body: schemaTool({ type: 'object', properties: { a: { type: 'string', enum: ['x'] } }, required: ['a'], additionalProperties: false }) });
    assert.equal(r.status, 200, r.text);
    r = await request({ path: p, headers: auth(), body: schemaTool({ $schema: 'http://json-schema.org/draft-07/schema#', type: 'object' }) });
    assert.equal(r.status, 400);
    assert.match(r.json.error.message, /Unknown name "\$schema"/);
    r = await request({ path: p, headers: auth(), body: schemaTool({ type: 'object', properties: { a: { oneOf: [{ type: 'string' }] } } }) });
    assert.equal(r.status, 400);
    r = await request({ path: p.replace('fake-project', 'other'), headers: auth(), body: { contents: [{ role: 'user', parts: [{ text: 'x' }] }] } });
    assert.equal(r.status, 403);
    r = await request({ path: `${base}/google/models/gemini-error-429:generateContent`, headers: auth(), body: { contents: [{ role: 'user', parts: [{ text: 'x' }] }] } });
    assert.equal(r.status, 429);
    assert.equal(r.json.error.status, 'RESOURCE_EXHAUSTED');
  });

  test('streamGenerateContent?alt=sse with crlf, lf and cr delimiters', async () => {
    const p = `${base}/google/models/gemini-2.0-flash:streamGenerateContent?alt=sse`;
    const body = { contents: [{ role: 'user', parts: [{ text: 'one two three' }] }] };
    for (const [name, d] of [[undefined, '\r\n\r\n'], ['crlf', '\r\n\r\n'], ['lf', '\n\n'], ['cr', '\r\r']]) {
      const headers = { ...auth(), ...(name ? { 'x-fake-sse-delimiter': name } : {}) };
      const r = await request({ path: p, headers, body });
      assert.equal(r.status, 200);
      assert.match(r.headers['content-type'], /^text\/event-stream/);
      assert.ok(r.text.endsWith(d), `${name} ends with its delimiter`);
      const blocks = r.text.split(d).filter(Boolean);
      assert.ok(blocks.length >= 3);
      for (const b of blocks) assert.ok(b.startsWith('data: ') && !b.includes('\n\n') && !b.includes('\r\n\r\n'));
      const chunks = blocks.map((b) => JSON.parse(b.slice(6)));
      assert.equal(chunks.map((c) => c.candidates[0].content.parts[0].text).join(''), 'echo: one two three');
      assert.ok(chunks.at(-1).usageMetadata);
      assert.equal(chunks[0].usageMetadata, undefined);
      assert.equal(chunks.at(-1).candidates[0].finishReason, 'STOP');
    }
    const r = await request({ path: `${base}/google/models/gemini-midstream-error:streamGenerateContent?alt=sse`, headers: auth(), body });
    const ev = sseEvents(r.text);
    assert.ok(ev[0].json.candidates);
    assert.equal(ev.at(-1).json.error.code, 503);
  });

  test('embeddings: predict and embedContent', async () => {
    let r = await request({ path: `${base}/google/models/text-embedding-005:predict`, headers: auth(), body: { instances: [{ content: 'a b c' }, { content: 'd' }] } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.predictions.length, 2);
    assert.equal(r.json.predictions[0].embeddings.values.length, 768);
    assert.equal(r.json.predictions[0].embeddings.statistics.token_count, 3);
    r = await request({ path: `${base}/google/models/gemini-embedding-001:embedContent`, headers: auth(), body: { content: { parts: [{ text: 'x y' }] }, outputDimensionality: 16 } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.embedding.values.length, 16);
    assert.equal(r.json.usageMetadata.promptTokenCount, 2);
  });

  test('anthropic on vertex: rawPredict and streamRawPredict', async () => {
    const p = `${base}/anthropic/models/claude-sonnet-4@20250514`;
    const body = { anthropic_version: 'vertex-2023-10-16', max_tokens: 64, messages: [{ role: 'user', content: 'hey vertex' }] };
    let r = await request({ path: `${p}:rawPredict`, headers: auth(), body });
    assert.equal(r.status, 200, r.text);
    assert.match(r.json.id, /^msg_vrtx_/);
    assert.equal(r.json.content[0].text, 'echo: hey vertex');
    r = await request({ path: `${p}:rawPredict`, headers: auth(), body: { ...body, model: 'claude' } });
    assert.equal(r.status, 400);
    assert.equal(r.json.type, 'error');
    r = await request({ path: `${p}:rawPredict`, headers: auth(), body: { ...body, anthropic_version: 'bedrock-2023-05-31' } });
    assert.equal(r.status, 400);
    r = await request({ path: `${p}:streamRawPredict`, headers: auth(), body: { ...body, stream: true } });
    assert.equal(r.status, 200);
    const ev = sseEvents(r.text);
    assert.equal(ev[0].event, 'message_start');
    assert.equal(ev.at(-1).event, 'message_stop');
  });

  test('countTokens (Gemini) and Anthropic count-tokens:rawPredict', async () => {
    let r = await request({ path: `${base}/google/models/gemini-2.5-flash:countTokens`, headers: auth(), body: { contents: [{ role: 'user', parts: [{ text: 'three words here' }] }] } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.totalTokens, 3);
    const p = `${base}/anthropic/models/count-tokens:rawPredict`;
    const body = { model: 'claude-sonnet-4@20250514', anthropic_version: 'vertex-2023-10-16', system: 'be brief', messages: [{ role: 'user', content: 'how many tokens' }] };
    r = await request({ path: p, headers: auth(), body });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { input_tokens: 5 });
    r = await request({ path: p, headers: auth(), body: { ...body, anthropic_version: undefined } });
    assert.deepEqual(r.json, { input_tokens: 5 });
    r = await request({ path: p, headers: auth(), body: { ...body, max_tokens: 10 } });
    assert.equal(r.status, 400);
    assert.match(r.json.error.message, /max_tokens: Extra inputs/);
    r = await request({ path: p, headers: auth(), body: { ...body, model: undefined } });
    assert.equal(r.status, 400);
    r = await request({ path: p, headers: auth(), body: { ...body, model: 'claude-3-5-haiku@latest' } });
    assert.equal(r.status, 400);
    assert.match(r.json.error.message, /not supported for token counting/);
    r = await request({ path: p, body });
    assert.equal(r.status, 401);
  });
});

// ---- Anthropic -------------------------------------------------------------------------------

describe('anthropic', () => {
  const H = { 'x-api-key': 'sk-ant-test', 'anthropic-version': '2023-06-01', 'content-type': 'application/json' };
  const msg = (extra = {}) => ({ model: 'claude-sonnet-4-20250514', max_tokens: 2048, messages: [{ role: 'user', content: 'hello claude' }], ...extra });

  test('auth and version headers', async () => {
    let r = await request({ path: '/v1/messages', headers: { ...H, 'x-api-key': 'bad' }, body: msg() });
    assert.equal(r.status, 401);
    assert.deepEqual(r.json, { type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } });
    r = await request({ path: '/v1/messages', headers: { 'x-api-key': 'sk-ant-test' }, body: msg() });
    assert.equal(r.status, 400);
    // no key at all
    r = await request({ path: '/v1/messages', headers: { 'anthropic-version': '2023-06-01' }, body: msg() });
    assert.equal(r.status, 401);
    assert.deepEqual(r.json, { type: 'error', error: { type: 'authentication_error', message: 'x-api-key header is required' } });
    // the key as a bearer token, and the API version the 1.x SDKs send
    const { 'x-api-key': _, ...noKey } = H;
    r = await request({ path: '/v1/messages', headers: { ...noKey, authorization: 'Bearer sk-ant-test', 'anthropic-version': '2026-10-21' }, body: msg() });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.content[0].text, 'echo: hello claude');
    r = await request({ path: '/v1/messages', headers: { ...noKey, authorization: 'Bearer nope' }, body: msg() });
    assert.equal(r.status, 401);
    assert.equal(r.json.error.type, 'authentication_error');
    // a date that is not a published version
    r = await request({ path: '/v1/messages', headers: { ...H, 'anthropic-version': '2023-10-01' }, body: msg() });
    assert.equal(r.status, 400);
    assert.deepEqual(r.json, { type: 'error', error: { type: 'invalid_request_error', message: 'anthropic-version: "2023-10-01" is not a valid version' } });
  });

  test('count_tokens', async () => {
    const body = { model: 'claude-sonnet-4-20250514', system: 'be brief', messages: [{ role: 'user', content: 'how many tokens' }] };
    let r = await request({ path: '/v1/messages/count_tokens', headers: H, body });
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers['request-id'], /^req_/);
    assert.deepEqual(r.json, { input_tokens: 5 });
    r = await request({ path: '/v1/messages/count_tokens', headers: H, body: { ...body, tools: [weatherTool], messages: [{ role: 'user', content: [{ type: 'text', text: 'a b' }] }] } });
    assert.deepEqual(r.json, { input_tokens: 4 });
    r = await request({ path: '/v1/messages/count_tokens', headers: H, body: { ...body, max_tokens: 10 } });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.message, 'max_tokens: Extra inputs are not permitted');
    r = await request({ path: '/v1/messages/count_tokens', headers: H, body: { ...body, anthropic_version: 'vertex-2023-10-16' } });
    assert.equal(r.status, 400);
    r = await request({ path: '/v1/messages/count_tokens', headers: H, body: { ...body, model: undefined } });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.message, 'model: Field required');
    r = await request({ path: '/v1/messages/count_tokens', headers: H, body: { ...body, model: 'claude-error-404' } });
    assert.equal(r.status, 404);
    assert.equal(r.json.error.type, 'not_found_error');
    r = await request({ path: '/v1/messages/count_tokens', headers: { ...H, 'x-api-key': 'bad' }, body });
    assert.equal(r.status, 401);
  });

  test('message, usage, validation', async () => {
    let r = await request({ path: '/v1/messages', headers: H, body: msg({ system: 'be nice' }) });
    assert.equal(r.status, 200, r.text);
    assert.match(r.json.id, /^msg_/);
    assert.equal(r.json.stop_reason, 'end_turn');
    assert.equal(r.json.stop_sequence, null);
    assert.deepEqual(r.json.usage, { input_tokens: 4, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 3 });
    r = await request({ path: '/v1/messages', headers: H, body: msg({ max_tokens: undefined }) });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.type, 'invalid_request_error');
    r = await request({ path: '/v1/messages', headers: H, body: msg({ messages: [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }] }) });
    assert.equal(r.status, 400);
    r = await request({ path: '/v1/messages', headers: H, body: msg({ temperature: 1.5 }) });
    assert.equal(r.status, 400);
    r = await request({ path: '/v1/messages', headers: H, body: msg({ max_tokens: 2, messages: [{ role: 'user', content: 'one two three four' }] }) });
    assert.equal(r.json.stop_reason, 'max_tokens');
    assert.equal(r.json.content[0].text, 'echo: one');
    r = await request({ path: '/v1/messages', headers: H, body: msg({ model: 'claude-error-429' }) });
    assert.equal(r.status, 429);
    assert.equal(r.json.error.type, 'rate_limit_error');
  });

  test('cache_control and thinking', async () => {
    const r = await request({
      path: '/v1/messages', headers: H, body: msg({
        system: [{ type: 'text', text: 'a b c d', cache_control: { type: 'ephemeral' } }],
        thinking: { type: 'enabled', budget_tokens: 1024 },
      }),
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.usage.cache_read_input_tokens, 4);
    assert.equal(r.json.usage.cache_creation_input_tokens, 8);
    assert.equal(r.json.content[0].type, 'thinking');
    assert.ok(r.json.content[0].signature);
    assert.equal(r.json.content[1].text, 'echo: hello claude');
  });

  test('streaming: exact event sequence, tool input pieces, mid-stream error', async () => {
    let r = await request({ path: '/v1/messages', headers: H, body: msg({ stream: true }) });
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /^text\/event-stream/);
    assert.ok(/^event: message_start\ndata: \{/.test(r.text));
    let ev = sseEvents(r.text, /\n\n/);
    assert.deepEqual(ev.map((e) => e.event), [
      'message_start', 'content_block_start', 'ping', 'content_block_delta', 'content_block_delta',
      'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop',
    ]);
    for (const e of ev) assert.equal(e.json.type, e.event);
    assert.equal(ev[7].json.usage.output_tokens, 3);
    r = await request({ path: '/v1/messages', headers: H, body: msg({ stream: true, tools: [weatherTool], messages: [{ role: 'user', content: 'Weather in Paris?' }] }) });
    ev = sseEvents(r.text, /\n\n/);
    assert.equal(ev[1].json.content_block.type, 'tool_use');
    const parts = ev.filter((e) => e.json.delta?.type === 'input_json_delta').map((e) => e.json.delta.partial_json);
    assert.ok(parts.filter(Boolean).length >= 2);
    assert.deepEqual(JSON.parse(parts.join('')), { location: 'Paris' });
    const toolId = ev[1].json.content_block.id;
    // the tool result round trip
    r = await request({
      path: '/v1/messages', headers: H, body: msg({
        tools: [weatherTool],
        messages: [
          { role: 'user', content: 'Weather in Paris?' },
          { role: 'assistant', content: [{ type: 'tool_use', id: toolId, name: 'get_weather', input: { location: 'Paris' } }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: toolId, content: 'sunny and 20C' }] },
        ],
      }),
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.content[0].text, 'The weather is sunny and 20C');
    r = await request({ path: '/v1/messages', headers: H, body: msg({ model: 'claude-midstream-error', stream: true }) });
    ev = sseEvents(r.text, /\n\n/);
    assert.equal(ev.at(-1).event, 'error');
    assert.deepEqual(ev.at(-1).json, { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
  });
});

// ---- Cohere, OpenAI, recording, CLI ----------------------------------------------------------

describe('openai: responses, images, audio; vLLM tokenize', () => {
  const tools = [{ type: 'function', name: 'get_weather', description: 'w', parameters: { type: 'object', properties: { location: { type: 'string' } } } }];

  test('responses: text, usage, instructions, max_output_tokens, tool call round trip', async () => {
    let r = await request({ path: '/v1/responses', body: { model: 'gpt-4.1', instructions: 'be brief', input: 'hello responses api' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.object, 'response');
    assert.equal(r.json.model, 'gpt-4.1-2025-04-14');
    assert.match(r.json.id, /^resp_/);
    assert.equal(r.json.status, 'completed');
    assert.equal(r.json.output[0].type, 'message');
    assert.deepEqual(r.json.output[0].content[0], { type: 'output_text', annotations: [], logprobs: [], text: 'echo: hello responses api' });
    assert.deepEqual(r.json.usage, { input_tokens: 5, input_tokens_details: { cached_tokens: 0 }, output_tokens: 4, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 9 });
    r = await request({ path: '/v1/responses', body: { model: 'gpt-4.1', input: 'a b c d e f g h i j k l m n o p q r s t', max_output_tokens: 16 } });
    assert.equal(r.json.status, 'incomplete');
    assert.deepEqual(r.json.incomplete_details, { reason: 'max_output_tokens' });
    assert.equal(r.json.usage.output_tokens, 16);
    r = await request({ path: '/v1/responses', body: { model: 'gpt-4.1', input: 'x', max_output_tokens: 5 } });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.param, 'max_output_tokens');
    r = await request({ path: '/v1/responses', body: { model: 'gpt-4.1', input: [{ role: 'user', content: [{ type: 'input_text', text: 'weather in Paris?' }] }], tools } });
    const call = r.json.output[0];
    assert.equal(call.type, 'function_call');
    assert.equal(call.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.arguments), { location: 'Paris' });
    r = await request({
      path: '/v1/responses',
      body: { model: 'gpt-4.1', tools, input: [{ role: 'user', content: 'weather in Paris?' }, { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments }, { type: 'function_call_output', call_id: call.call_id, output: 'sunny' }] },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.output[0].content[0].text, 'The weather is sunny');
    r = await request({ path: '/v1/responses', body: { model: 'gpt-4.1', input: [{ type: 'function_call_output', call_id: 'call_x', output: 'sunny' }] } });
    assert.equal(r.status, 400);
    r = await request({ path: '/v1/responses', body: { model: 'gpt-4.1', input: 'x', tools: [{ type: 'function', function: { name: 'f' } }] } });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.param, 'tools[0].name');
    r = await request({ path: '/v1/responses', body: { model: 'gpt-4.1', input: 'x', messages: [] } });
    assert.equal(r.status, 400);
    assert.match(r.json.error.message, /Unknown parameter: 'messages'/);
    r = await request({ path: '/v1/responses', body: { model: 'o4-mini', input: 'think a bit', reasoning: { effort: 'low' } } });
    assert.equal(r.json.output[0].type, 'reasoning');
    assert.ok(r.json.usage.output_tokens_details.reasoning_tokens > 0);
    assert.equal(r.json.usage.output_tokens, 4 + r.json.usage.output_tokens_details.reasoning_tokens);
  });

  test('responses stream: the event sequence, deltas per word, usage in response.completed', async () => {
    let r = await request({ path: '/v1/responses', body: { model: 'gpt-4.1', input: 'stream this please', stream: true } });
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /^text\/event-stream/);
    const ev = sseEvents(r.text);
    for (const e of ev) assert.equal(e.json.type, e.event);
    assert.deepEqual(ev.map((e) => e.json.sequence_number), ev.map((_, i) => i));
    const types = ev.map((e) => e.event);
    assert.deepEqual(types.slice(0, 4), ['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added']);
    assert.deepEqual(types.slice(-4), ['response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed']);
    const deltas = ev.filter((e) => e.event === 'response.output_text.delta').map((e) => e.json.delta);
    assert.equal(deltas.length, 4);
    assert.equal(deltas.join(''), 'echo: stream this please');
    assert.equal(ev[0].json.response.status, 'in_progress');
    assert.equal(ev[0].json.response.usage, null);
    assert.equal(ev.at(-1).json.response.usage.total_tokens, 7);
    assert.equal(ev.at(-1).json.response.output[0].content[0].text, 'echo: stream this please');
    r = await request({ path: '/v1/responses', body: { model: 'gpt-4.1', input: 'weather?', tools, stream: true } });
    const args = sseEvents(r.text).filter((e) => e.event === 'response.function_call_arguments.delta').map((e) => e.json.delta);
    assert.ok(args.length >= 2);
    assert.deepEqual(JSON.parse(args.join('')), { location: 'Paris' });
    r = await request({ path: '/v1/responses', body: { model: 'gpt-midstream-error', input: 'one two three', stream: true } });
    const mid = sseEvents(r.text);
    assert.deepEqual(mid.slice(-2).map((e) => e.event), ['error', 'response.failed']);
    assert.ok(mid.some((e) => e.event === 'response.output_text.delta'));
  });

  test('responses/input_tokens counts what usage.input_tokens would be', async () => {
    let r = await request({ path: '/v1/responses/input_tokens', body: { model: 'gpt-4.1', instructions: 'be brief', input: 'hello responses api' } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { object: 'response.input_tokens', input_tokens: 5 });
    r = await request({ path: '/v1/responses/input_tokens', body: { model: 'gpt-4.1', input: 'x', stream: true } });
    assert.equal(r.status, 400);
  });

  test('images: gpt-image-1 b64 PNG with token usage; dall-e-3 url; validation', async () => {
    let r = await request({ path: '/v1/images/generations', body: { model: 'gpt-image-1', prompt: 'a red fox', n: 2, quality: 'low' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.data.length, 2);
    const png = Buffer.from(r.json.data[0].b64_json, 'base64');
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.deepEqual(r.json.usage, { input_tokens: 3, input_tokens_details: { image_tokens: 0, text_tokens: 3 }, output_tokens: 544, total_tokens: 547 });
    assert.equal(r.json.quality, 'low');
    assert.equal(r.json.size, '1024x1024');
    r = await request({ path: '/v1/images/generations', body: { model: 'dall-e-3', prompt: 'a fox' } });
    assert.match(r.json.data[0].url, /^http:\/\/127\.0\.0\.1:\d+\/__images\/[0-9a-f]{16}\.png$/);
    assert.equal(r.json.usage, undefined);
    r = await request({ path: '/v1/images/generations', body: { model: 'gpt-image-1' } });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.param, 'prompt');
    r = await request({ path: '/v1/images/generations', body: { model: 'gpt-image-1', prompt: 'x', response_format: 'url' } });
    assert.equal(r.status, 400);
    r = await request({ path: '/v1/images/generations', body: { model: 'dall-e-3', prompt: 'x', n: 2 } });
    assert.equal(r.status, 400);
  });

  test('speech: audio bytes by format, SSE deltas then done with usage, validation', async () => {
    let r = await request({ path: '/v1/audio/speech', body: { model: 'gpt-4o-mini-tts', input: 'hello there', voice: 'alloy' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['content-type'], 'audio/mpeg');
    assert.equal(r.raw.subarray(0, 3).toString('latin1'), 'ID3');
    r = await request({ path: '/v1/audio/speech', body: { model: 'tts-1', input: 'hi', voice: 'nova', response_format: 'wav' } });
    assert.equal(r.headers['content-type'], 'audio/wav');
    assert.equal(r.raw.subarray(0, 4).toString('latin1'), 'RIFF');
    r = await request({ path: '/v1/audio/speech', body: { model: 'gpt-4o-mini-tts', input: 'hello there', voice: 'alloy', stream_format: 'sse' } });
    assert.match(r.headers['content-type'], /^text\/event-stream/);
    const ev = sseEvents(r.text);
    assert.ok(ev.length >= 3);
    assert.ok(ev.slice(0, -1).every((e) => e.json.type === 'speech.audio.delta' && typeof e.json.audio === 'string'));
    assert.deepEqual(ev.at(-1).json, { type: 'speech.audio.done', usage: { input_tokens: 2, output_tokens: 20, total_tokens: 22 } });
    const joined = Buffer.concat(ev.slice(0, -1).map((e) => Buffer.from(e.json.audio, 'base64')));
    assert.equal(joined.subarray(0, 3).toString('latin1'), 'ID3');
    r = await request({ path: '/v1/audio/speech', body: { model: 'tts-1', input: 'x', voice: 'alloy', stream_format: 'sse' } });
    assert.equal(r.status, 400);
    r = await request({ path: '/v1/audio/speech', body: { model: 'tts-1', input: 'x' } });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.param, 'voice');
  });

  const form = (fields) => buildMultipart(fields);
  const audioFile = (text, filename = 'clip.mp3') => ({ name: 'file', filename, contentType: 'audio/mpeg', value: text });

  test('transcriptions: multipart parsing, json with token usage, text, verbose_json, streaming, speech round trip', async () => {
    let m = form([{ name: 'model', value: 'gpt-4o-transcribe' }, audioFile('hello from the file')]);
    let r = await request({ path: '/v1/audio/transcriptions', headers: { 'content-type': m.contentType }, body: m.body });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { text: 'hello from the file', usage: { type: 'tokens', input_tokens: 20, input_token_details: { text_tokens: 0, audio_tokens: 20 }, output_tokens: 4, total_tokens: 24 } });
    const rec = fp.requests.at(-1);
    assert.equal(rec.form.model, 'gpt-4o-transcribe');
    assert.deepEqual(rec.form.file, { filename: 'clip.mp3', contentType: 'audio/mpeg', size: 19 });
    // speech → transcription
    const speech = await request({ path: '/v1/audio/speech', body: { model: 'tts-1', input: 'round trip works', voice: 'alloy' } });
    m = form([{ name: 'file', filename: 'speech.mp3', contentType: 'audio/mpeg', value: speech.raw }, { name: 'model', value: 'whisper-1' }, { name: 'response_format', value: 'verbose_json' }, { name: 'timestamp_granularities[]', value: 'word' }]);
    r = await request({ path: '/v1/audio/transcriptions', headers: { 'content-type': m.contentType }, body: m.body });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.text, 'round trip works');
    assert.equal(r.json.task, 'transcribe');
    assert.equal(r.json.words.length, 3);
    assert.deepEqual(r.json.usage, { type: 'duration', seconds: 2 });
    m = form([{ name: 'model', value: 'whisper-1' }, { name: 'response_format', value: 'text' }, audioFile('plain text please', 'a.wav')]);
    r = await request({ path: '/v1/audio/transcriptions', headers: { 'content-type': m.contentType }, body: m.body });
    assert.equal(r.text, 'plain text please\n');
    assert.match(r.headers['content-type'], /^text\/plain/);
    m = form([{ name: 'model', value: 'gpt-4o-mini-transcribe' }, { name: 'stream', value: 'true' }, audioFile('stream me now')]);
    r = await request({ path: '/v1/audio/transcriptions', headers: { 'content-type': m.contentType }, body: m.body });
    const ev = sseEvents(r.text);
    assert.deepEqual(ev.slice(0, -1).map((e) => e.json.delta), ['stream ', 'me ', 'now']);
    assert.equal(ev.at(-1).json.type, 'transcript.text.done');
    assert.equal(ev.at(-1).json.text, 'stream me now');
    assert.equal(ev.at(-1).json.usage.output_tokens, 3);
  });

  test('transcriptions and translations: required fields, content type, boundary, model', async () => {
    const send = (p, m, ct = m.contentType) => request({ path: p, headers: { 'content-type': ct }, body: m.body });
    let m = form([{ name: 'model', value: 'whisper-1' }]);
    let r = await send('/v1/audio/transcriptions', m);
    assert.equal(r.status, 400);
    assert.equal(r.json.error.param, 'file');
    m = form([audioFile('x')]);
    r = await send('/v1/audio/transcriptions', m);
    assert.equal(r.status, 400);
    assert.equal(r.json.error.param, 'model');
    m = form([{ name: 'model', value: 'whisper-1' }, audioFile('x', 'notes.txt')]);
    r = await send('/v1/audio/transcriptions', m);
    assert.match(r.json.error.message, /Invalid file format/);
    m = form([{ name: 'model', value: 'whisper-1' }, audioFile('x')]);
    r = await send('/v1/audio/transcriptions', m, 'multipart/form-data');
    assert.equal(r.status, 400);
    assert.match(r.json.error.message, /boundary/);
    r = await send('/v1/audio/transcriptions', m, 'multipart/form-data; boundary=something-else');
    assert.equal(r.status, 400);
    r = await request({ path: '/v1/audio/transcriptions', body: { model: 'whisper-1' } });
    assert.equal(r.status, 400);
    assert.match(r.json.error.message, /expected multipart\/form-data/);
    m = form([{ name: 'model', value: 'my-alias' }, audioFile('x')]);
    r = await send('/v1/audio/transcriptions', m);
    assert.equal(r.status, 404);
    assert.equal(r.json.error.code, 'model_not_found');
    m = form([{ name: 'model', value: 'gpt-4o-transcribe' }, { name: 'response_format', value: 'srt' }, audioFile('x')]);
    r = await send('/v1/audio/transcriptions', m);
    assert.equal(r.status, 400);
    m = form([{ name: 'model', value: 'whisper-1' }, audioFile('bonjour le monde')]);
    r = await send('/v1/audio/translations', m);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { text: 'bonjour le monde' });
    m = form([{ name: 'model', value: 'gpt-4o-transcribe' }, audioFile('x')]);
    r = await send('/v1/audio/translations', m);
    assert.equal(r.status, 404);
    m = form([{ name: 'model', value: 'whisper-1' }, { name: 'language', value: 'fr' }, audioFile('x')]);
    r = await send('/v1/audio/translations', m);
    assert.equal(r.status, 400);
    assert.match(r.json.error.message, /Unrecognized request argument supplied: language/);
  });

  test('vLLM /tokenize: completion and chat forms', async () => {
    let r = await request({ path: '/tokenize', body: { model: 'meta-llama/Llama-3.1-8B-Instruct', prompt: 'hello big world' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.count, 4);
    assert.equal(r.json.tokens.length, 4);
    assert.equal(r.json.tokens[0], 1);
    assert.equal(r.json.max_model_len, 8192);
    assert.equal(r.json.token_strs, null);
    r = await request({ path: '/tokenize', body: { prompt: 'hello big world', add_special_tokens: false, return_token_strs: true } });
    assert.deepEqual(r.json.token_strs, ['hello', 'big', 'world']);
    r = await request({ path: '/tokenize', body: { model: 'm', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi there' }] } });
    assert.equal(r.json.count, 2 + 2 + 2 + 2 + 1);
    r = await request({ path: '/tokenize', body: { model: 'm', prompt: 'x', messages: [] } });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.type, 'BadRequestError');
    r = await request({ path: '/tokenize', body: { model: 'm' } });
    assert.equal(r.status, 400);
  });
});

describe('misc', () => {
  test('cohere rerank', async () => {
    let r = await request({
      path: '/v2/rerank', headers: { authorization: 'Bearer cohere-test-key' },
      body: { model: 'rerank-v3.5', query: 'capital of France', documents: ['Berlin is in Germany', 'Paris is the capital of France', 'cats'], top_n: 2 },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.results.length, 2);
    assert.equal(r.json.results[0].index, 1);
    assert.ok(r.json.results[0].relevance_score >= r.json.results[1].relevance_score);
    assert.deepEqual(r.json.meta.api_version, { version: '2' });
    assert.equal(r.json.meta.billed_units.search_units, 1);
    r = await request({ path: '/v2/rerank', headers: { authorization: 'Bearer no' }, body: { model: 'm', query: 'q', documents: ['d'] } });
    assert.equal(r.status, 401);
  });

  test('openai chat and embeddings', async () => {
    let r = await request({ path: '/v1/chat/completions', headers: { authorization: 'Bearer x' }, body: { model: 'gpt-4o', messages: [{ role: 'user', content: 'yo' }] } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.choices[0].message.content, 'echo: yo');
    assert.equal(r.json.prompt_filter_results, undefined);
    r = await request({ path: '/v1/embeddings', body: { model: 'text-embedding-3-small', input: 'hi' } });
    assert.equal(r.json.data[0].embedding.length, 1536);
    r = await request({ path: '/v1/chat/completions', body: { model: 'gpt-error-500', messages: [{ role: 'user', content: 'yo' }] } });
    assert.equal(r.status, 500);
    assert.equal(r.json.error.type, 'server_error');
  });

  test('requests are recorded and can be cleared', async () => {
    await request({ method: 'DELETE', path: '/__requests' });
    await request({ path: '/v1/chat/completions?x=1', headers: { 'x-test': 'yes' }, body: { model: 'm', messages: [{ role: 'user', content: 'rec' }] } });
    const list = (await request({ method: 'GET', path: '/__requests' })).json;
    assert.equal(list.length, 1);
    assert.equal(list[0].method, 'POST');
    assert.equal(list[0].path, '/v1/chat/completions?x=1');
    assert.equal(list[0].headers['x-test'], 'yes');
    assert.equal(JSON.parse(list[0].body).messages[0].content, 'rec');
    assert.equal(list[0].status, 200);
    assert.equal(fp.requests.length, 1);
    await request({ method: 'DELETE', path: '/__requests' });
    assert.equal((await request({ method: 'GET', path: '/__requests' })).json.length, 0);
  });

  test('CLI prints one line and writes the service account file', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fakeproviders-'));
    const out = path.join(dir, 'sa.json');
    const child = spawn(process.execPath, [path.join(here, 'server.mjs'), '--port', '0', '--gcp-service-account-out', out], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const line = await new Promise((resolve, reject) => {
        let buf = '';
        child.stdout.on('data', (d) => {
          buf += d;
          if (buf.includes('\n')) resolve(buf);
        });
        child.once('exit', (c) => reject(new Error(`exited ${c}`)));
      });
      assert.match(line, /^fakeproviders listening on 127\.0\.0\.1:(\d+)\n$/);
      const port = Number(/:(\d+)\n$/.exec(line)[1]);
      const sa = JSON.parse(readFileSync(out, 'utf8'));
      assert.equal(sa.token_uri, `http://127.0.0.1:${port}/token`);
      const r = await fetch(`http://127.0.0.1:${port}/__gcp_service_account`);
      assert.equal((await r.json()).private_key_id, sa.private_key_id);
    } finally {
      child.kill('SIGTERM');
    }
  });
});

