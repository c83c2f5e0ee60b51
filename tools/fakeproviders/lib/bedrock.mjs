// Amazon Bedrock runtime: Converse / ConverseStream, InvokeModel and
// InvokeModelWithResponseStream (Titan embeddings, Anthropic Messages).
import crypto from 'node:crypto';
import {
  ValidationError, isObject, newConv, decide, randomId, words, textPieces, argPieces, embedding, thinkingSignature,
} from './common.mjs';
import { encodeMessage } from './eventstream.mjs';

function fail(msg) {
  throw new ValidationError(msg);
}

// "1 validation error detected: Value ... at 'x' failed to satisfy constraint: ..."
function constraint(path, what, value = null) {
  const v = value === null ? 'null' : `'${String(value)}'`;
  fail(`1 validation error detected: Value ${v} at '${path}' failed to satisfy constraint: ${what}`);
}

const TOP = [
  'messages', 'system', 'inferenceConfig', 'toolConfig', 'guardrailConfig', 'additionalModelRequestFields',
  'promptVariables', 'additionalModelResponseFieldPaths', 'requestMetadata', 'performanceConfig',
  'serviceTier', 'outputConfig',
];
const BLOCKS = [
  'text', 'image', 'document', 'video', 'toolUse', 'toolResult', 'guardContent', 'cachePoint',
  'reasoningContent', 'citationsContent', 'audio', 'searchResult',
];

function oneKey(obj, allowed, path) {
  if (!isObject(obj)) constraint(path, 'Member must not be null');
  const keys = Object.keys(obj);
  if (keys.length !== 1 || !allowed.includes(keys[0])) {
    fail(`The ${path} field must contain exactly one of the following: ${allowed.join(', ')}.`);
  }
  return keys[0];
}

function checkCachePoint(cp, path) {
  if (!isObject(cp) || cp.type !== 'default') constraint(`${path}.cachePoint.type`, 'Member must satisfy enum value set: [default]', cp?.type ?? null);
}

function checkBlock(b, path, role) {
  const k = oneKey(b, BLOCKS, path);
  const v = b[k];
  switch (k) {
    case 'text':
      if (typeof v !== 'string') constraint(`${path}.text`, 'Member must not be null');
      if (v.trim() === '') fail(`The text field in the ContentBlock object at ${path} is blank. Add text to the text field, and try again.`);
      break;
    case 'image':
      if (!isObject(v) || !['png', 'jpeg', 'gif', 'webp'].includes(v.format)) constraint(`${path}.image.format`, 'Member must satisfy enum value set: [gif, jpeg, png, webp]', v?.format ?? null);
      if (!isObject(v.source) || (typeof v.source.bytes !== 'string' && !isObject(v.source.s3Location))) constraint(`${path}.image.source`, 'Member must not be null');
      break;
    case 'document':
      if (!isObject(v) || typeof v.name !== 'string' || !isObject(v.source)) constraint(`${path}.document`, 'Member must have name and source');
      break;
    case 'toolUse':
      if (role !== 'assistant') fail(`The toolUse content block at ${path} is only allowed in assistant messages.`);
      if (!isObject(v) || typeof v.toolUseId !== 'string' || !/^[a-zA-Z0-9_-]{1,64}$/.test(v.toolUseId)) constraint(`${path}.toolUse.toolUseId`, 'Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+', v?.toolUseId ?? null);
      if (typeof v.name !== 'string' || v.name === '') constraint(`${path}.toolUse.name`, 'Member must not be null');
      if (v.input === undefined) constraint(`${path}.toolUse.input`, 'Member must not be null');
      break;
    case 'toolResult':
      if (role !== 'user') fail(`The toolResult content block at ${path} is only allowed in user messages.`);
      if (!isObject(v) || typeof v.toolUseId !== 'string') constraint(`${path}.toolResult.toolUseId`, 'Member must not be null');
      if (!Array.isArray(v.content)) constraint(`${path}.toolResult.content`, 'Member must not be null');
      v.content.forEach((c, i) => oneKey(c, ['text', 'json', 'image', 'document', 'video', 'searchResult'], `${path}.toolResult.content.${i + 1}.member`));
      if (v.status !== undefined && !['success', 'error'].includes(v.status)) constraint(`${path}.toolResult.status`, 'Member must satisfy enum value set: [success, error]', v.status);
      break;
    case 'cachePoint':
      checkCachePoint(v, path);
      break;
    case 'reasoningContent': {
      if (role !== 'assistant') fail(`The reasoningContent content block at ${path} is only allowed in assistant messages.`);
      const rk = oneKey(v, ['reasoningText', 'redactedContent'], `${path}.reasoningContent`);
      if (rk === 'reasoningText' && (!isObject(v.reasoningText) || typeof v.reasoningText.text !== 'string')) constraint(`${path}.reasoningContent.reasoningText.text`, 'Member must not be null');
      break;
    }
    default:
      break;
  }
}

export function thinkingRequested(body) {
  const a = body.additionalModelRequestFields;
  if (!isObject(a)) return false;
  for (const k of ['thinking', 'reasoning_config', 'reasoningConfig']) {
    const t = a[k];
    if (isObject(t) && (t.type === 'enabled' || t.type === 'adaptive')) return true;
  }
  return false;
}

// modelId: with an Anthropic model and thinking on, the assistant turn whose tool call is being
// answered must start with its reasoning block (Anthropic's rule, surfaced by Bedrock).
export function validateConverse(body, modelId = '') {
  if (!isObject(body)) fail('Malformed input request, please reformat your input and try again.');
  for (const k of Object.keys(body)) {
    if (!TOP.includes(k)) fail(`Malformed input request: extraneous key [${k}] is not permitted, please reformat your input and try again.`);
  }
  if (body.messages === undefined) constraint('messages', 'Member must not be null');
  if (!Array.isArray(body.messages)) fail('Malformed input request: messages must be a list, please reformat your input and try again.');
  if (body.messages.length === 0) fail('A conversation must start with a user message. Try again with a conversation that starts with a user message.');
  let prev = null;
  let pendingUses = null;
  let toolBlocks = false;
  const thinking = thinkingRequested(body);
  body.messages.forEach((m, i) => {
    const path = `messages.${i + 1}.member`;
    if (!isObject(m)) constraint(path, 'Member must not be null');
    for (const k of Object.keys(m)) if (k !== 'role' && k !== 'content') fail(`Malformed input request: extraneous key [${k}] is not permitted, please reformat your input and try again.`);
    if (m.role !== 'user' && m.role !== 'assistant') constraint(`${path}.role`, 'Member must satisfy enum value set: [user, assistant]', m.role ?? null);
    if (i === 0 && m.role !== 'user') fail('A conversation must start with a user message. Try again with a conversation that starts with a user message.');
    if (prev === m.role) fail('A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.');
    prev = m.role;
    if (!Array.isArray(m.content)) constraint(`${path}.content`, 'Member must not be null');
    if (m.content.length === 0) fail(`The content field in the Message object at messages.${i} is empty. Add a ContentBlock object to the content field and try again.`);
    m.content.forEach((b, j) => checkBlock(b, `messages.${i}.content.${j}`, m.role));
    const results = m.content.filter((b) => b.toolResult).map((b) => b.toolResult.toolUseId);
    const uses = m.content.filter((b) => b.toolUse).map((b) => b.toolUse.toolUseId);
    if (results.length || uses.length) toolBlocks = true;
    if (pendingUses) {
      const missing = pendingUses.filter((id) => !results.includes(id));
      if (missing.length) fail(`Expected toolResult blocks at messages.${i}.content for the following Ids: ${missing.join(', ')}`);
    }
    if (results.length > (pendingUses ?? []).length) {
      fail(`The number of toolResult blocks at messages.${i}.content exceeds the number of toolUse blocks of previous turn.`);
    }
    pendingUses = uses.length && i < body.messages.length - 1 ? uses : null;
    if (thinking && m.role === 'assistant') {
      for (const [j, b] of m.content.entries()) {
        const rt = b.reasoningContent?.reasoningText;
        if (rt && rt.signature !== undefined && rt.signature !== thinkingSignature(rt.text)) {
          fail(`The model returned the following errors: messages.${i}.content.${j}: Invalid \`signature\` in \`thinking\` block`);
        }
      }
    }
  });
  if (body.system !== undefined) {
    if (!Array.isArray(body.system)) fail('Malformed input request: system must be a list, please reformat your input and try again.');
    body.system.forEach((s, i) => {
      const k = oneKey(s, ['text', 'guardContent', 'cachePoint'], `system.${i}`);
      if (k === 'text' && (typeof s.text !== 'string' || s.text.trim() === '')) fail(`The text field in the SystemContentBlock object at system.${i} is blank. Add text to the text field, and try again.`);
      if (k === 'cachePoint') checkCachePoint(s.cachePoint, `system.${i}`);
    });
  }
  const ic = body.inferenceConfig;
  if (ic !== undefined) {
    if (!isObject(ic)) constraint('inferenceConfig', 'Member must be an object');
    for (const k of Object.keys(ic)) {
      if (!['maxTokens', 'temperature', 'topP', 'stopSequences'].includes(k)) fail(`Malformed input request: extraneous key [${k}] is not permitted, please reformat your input and try again.`);
    }
    if (ic.maxTokens !== undefined && (!Number.isInteger(ic.maxTokens) || ic.maxTokens < 1)) constraint('inferenceConfig.maxTokens', 'Member must have value greater than or equal to 1', ic.maxTokens);
    if (ic.temperature !== undefined && (typeof ic.temperature !== 'number' || ic.temperature < 0 || ic.temperature > 1)) constraint('inferenceConfig.temperature', 'Member must have value less than or equal to 1', ic.temperature);
    if (ic.topP !== undefined && (typeof ic.topP !== 'number' || ic.topP < 0 || ic.topP > 1)) constraint('inferenceConfig.topP', 'Member must have value less than or equal to 1', ic.topP);
    if (ic.stopSequences !== undefined && (!Array.isArray(ic.stopSequences) || ic.stopSequences.some((s) => typeof s !== 'string' || s === ''))) {
      constraint('inferenceConfig.stopSequences', 'Member must satisfy constraint: [Member must have length greater than or equal to 1]');
    }
  }
  const tc = body.toolConfig;
  if (tc !== undefined) {
    if (!isObject(tc)) constraint('toolConfig', 'Member must be an object');
    for (const k of Object.keys(tc)) if (k !== 'tools' && k !== 'toolChoice') fail(`Malformed input request: extraneous key [${k}] is not permitted, please reformat your input and try again.`);
    if (!Array.isArray(tc.tools)) constraint('toolConfig.tools', 'Member must not be null');
    if (tc.tools.length === 0) constraint('toolConfig.tools', 'Member must have length greater than or equal to 1');
    const names = new Set();
    tc.tools.forEach((t, i) => {
      const k = oneKey(t, ['toolSpec', 'cachePoint', 'systemTool'], `toolConfig.tools.${i + 1}.member`);
      if (k === 'cachePoint') return checkCachePoint(t.cachePoint, `toolConfig.tools.${i + 1}.member`);
      if (k !== 'toolSpec') return undefined;
      const s = t.toolSpec;
      const p = `toolConfig.tools.${i + 1}.member.toolSpec`;
      if (!isObject(s)) constraint(p, 'Member must not be null');
      for (const key of Object.keys(s)) {
        if (!['name', 'description', 'inputSchema', 'strict'].includes(key)) fail(`Malformed input request: extraneous key [${key}] is not permitted, please reformat your input and try again.`);
      }
      if (typeof s.name !== 'string' || !/^[a-zA-Z0-9_-]{1,64}$/.test(s.name)) constraint(`${p}.name`, 'Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+', s.name ?? null);
      if (s.description !== undefined && (typeof s.description !== 'string' || s.description === '')) constraint(`${p}.description`, 'Member must have length greater than or equal to 1');
      if (!isObject(s.inputSchema) || !isObject(s.inputSchema.json)) constraint(`${p}.inputSchema`, 'Member must not be null');
      if (names.has(s.name)) fail(`The toolConfig field must contain unique tool names. Duplicate name: ${s.name}`);
      names.add(s.name);
      return undefined;
    });
    if (tc.toolChoice !== undefined) {
      const k = oneKey(tc.toolChoice, ['auto', 'any', 'tool'], 'toolConfig.toolChoice');
      if (k === 'tool' && (!isObject(tc.toolChoice.tool) || typeof tc.toolChoice.tool.name !== 'string')) constraint('toolConfig.toolChoice.tool.name', 'Member must not be null');
    }
  }
  if (thinking && /anthropic\./.test(modelId) && body.messages.length >= 2) {
    const last = body.messages[body.messages.length - 1];
    const prevMsg = body.messages[body.messages.length - 2];
    if (last.content.some((b) => b.toolResult) && prevMsg.role === 'assistant' && !prevMsg.content[0]?.reasoningContent) {
      const found = Object.keys(prevMsg.content[0] ?? {})[0];
      fail(`The model returned the following errors: messages.${body.messages.length - 2}.content.0.type: Expected \`thinking\` or \`redacted_thinking\`, but found \`${found === 'toolUse' ? 'tool_use' : found}\`. When \`thinking\` is enabled, a final \`assistant\` message must start with a thinking block (preceeding the lastmost set of \`tool_use\` and \`tool_result\` blocks). We recommend you include thinking blocks from previous turns. To avoid this requirement, disable \`thinking\`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking`);
    }
  }
  if (toolBlocks && tc === undefined) {
    fail('The toolConfig field must be defined when using toolUse and toolResult content blocks.');
  }
  if (body.additionalModelRequestFields !== undefined && !isObject(body.additionalModelRequestFields)) {
    fail('Malformed input request: additionalModelRequestFields must be an object, please reformat your input and try again.');
  }
}

function toolResultText(tr) {
  return tr.content.map((c) => (typeof c.text === 'string' ? c.text : c.json !== undefined ? JSON.stringify(c.json) : '')).filter(Boolean).join(' ');
}

export function converseConv(body, model) {
  const conv = newConv(model);
  let running = 0;
  const add = (t) => {
    if (typeof t === 'string' && t !== '') {
      conv.texts.push(t);
      running += words(t);
    }
  };
  const mark = () => {
    conv.cache.present = true;
    conv.cache.prefixWords = running;
  };
  for (const t of body.toolConfig?.tools ?? []) {
    if (t.toolSpec) conv.tools.push(t.toolSpec.name);
    if (t.cachePoint) mark();
  }
  for (const s of body.system ?? []) {
    if (s.text) add(s.text);
    if (s.cachePoint) mark();
  }
  for (const m of body.messages) {
    conv.messageCount++;
    for (const b of m.content) {
      if (b.text !== undefined) add(b.text);
      else if (b.toolUse) add(JSON.stringify(b.toolUse.input));
      else if (b.toolResult) add(toolResultText(b.toolResult));
      else if (b.cachePoint) mark();
    }
    if (m.role === 'user') {
      const t = m.content.filter((b) => typeof b.text === 'string').map((b) => b.text).join(' ');
      if (t) conv.lastUserText = t;
    }
  }
  const last = body.messages[body.messages.length - 1];
  if (last.role === 'assistant') conv.last = { kind: 'assistant', text: '' };
  else {
    const trs = last.content.filter((b) => b.toolResult);
    if (trs.length) conv.last = { kind: 'toolResult', text: trs.map((b) => toolResultText(b.toolResult)).join(' ') };
    else conv.last = { kind: 'user', text: last.content.filter((b) => typeof b.text === 'string').map((b) => b.text).join(' ') };
  }
  const ch = body.toolConfig?.toolChoice;
  if (ch?.any) conv.toolChoice = { mode: 'any', name: null };
  else if (ch?.tool) conv.toolChoice = { mode: 'tool', name: ch.tool.name };
  conv.thinking = thinkingRequested(body);
  conv.maxTokens = body.inferenceConfig?.maxTokens ?? null;
  conv.stopSequences = body.inferenceConfig?.stopSequences ?? [];
  return conv;
}

const STOP = { end: 'end_turn', max_tokens: 'max_tokens', stop_sequence: 'stop_sequence', tool: 'tool_use' };

export function prepareConverseAnswer(conv) {
  const ans = decide(conv);
  if (ans.kind === 'tool') ans.toolId = `tooluse_${randomId(22)}`;
  ans.latencyMs = 100 + ans.usage.outputTokens;
  return ans;
}

function usageOf(ans) {
  const u = ans.usage;
  return {
    inputTokens: u.inputTokens,
    outputTokens: u.outputTokens,
    totalTokens: u.inputTokens + u.outputTokens + u.cacheRead + u.cacheWrite,
    cacheReadInputTokens: u.cacheRead,
    cacheWriteInputTokens: u.cacheWrite,
  };
}

export function converseResponse(ans) {
  const content = [];
  if (ans.thinking) content.push({ reasoningContent: { reasoningText: { text: ans.thinking.text, signature: ans.thinking.signature } } });
  if (ans.kind === 'tool') content.push({ toolUse: { toolUseId: ans.toolId, name: ans.name, input: ans.args } });
  else content.push({ text: ans.text });
  return {
    metrics: { latencyMs: ans.latencyMs },
    output: { message: { content, role: 'assistant' } },
    stopReason: STOP[ans.stop],
    usage: usageOf(ans),
  };
}

// Real Bedrock pads stream event payloads with a "p" field of varying length.
const PAD = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
function pad() {
  return PAD.slice(0, 1 + Math.floor(Math.random() * PAD.length));
}

// Sorted-key JSON for an event body with the padding added.
function eventPayload(obj) {
  const o = { ...obj, p: pad() };
  const sorted = {};
  for (const k of Object.keys(o).sort()) sorted[k] = o[k];
  return JSON.stringify(sorted);
}

export function eventMessage(eventType, obj) {
  return encodeMessage([
    [':event-type', eventType],
    [':content-type', 'application/json'],
    [':message-type', 'event'],
  ], eventPayload(obj));
}

export function exceptionMessage(exceptionType, obj) {
  return encodeMessage([
    [':exception-type', exceptionType],
    [':content-type', 'application/json'],
    [':message-type', 'exception'],
  ], JSON.stringify(obj));
}

// ConverseStream events as [eventType, body] pairs.
export function converseStreamEvents(ans) {
  const ev = [];
  ev.push(['messageStart', { role: 'assistant' }]);
  let idx = 0;
  if (ans.thinking) {
    for (const p of textPieces(ans.thinking.text)) ev.push(['contentBlockDelta', { contentBlockIndex: idx, delta: { reasoningContent: { text: p } } }]);
    ev.push(['contentBlockDelta', { contentBlockIndex: idx, delta: { reasoningContent: { signature: ans.thinking.signature } } }]);
    ev.push(['contentBlockStop', { contentBlockIndex: idx }]);
    idx++;
  }
  if (ans.kind === 'tool') {
    ev.push(['contentBlockStart', { contentBlockIndex: idx, start: { toolUse: { name: ans.name, toolUseId: ans.toolId } } }]);
    for (const p of argPieces(ans.argsJson)) ev.push(['contentBlockDelta', { contentBlockIndex: idx, delta: { toolUse: { input: p } } }]);
  } else {
    for (const p of ans.text === '' ? [''] : textPieces(ans.text)) ev.push(['contentBlockDelta', { contentBlockIndex: idx, delta: { text: p } }]);
  }
  ev.push(['contentBlockStop', { contentBlockIndex: idx }]);
  ev.push(['messageStop', { stopReason: STOP[ans.stop] }]);
  ev.push(['metadata', { metrics: { latencyMs: ans.latencyMs }, usage: usageOf(ans) }]);
  return ev;
}

// ---- Titan embeddings (InvokeModel) ----

export function validateTitan(body, modelId) {
  if (!isObject(body)) fail('Malformed input request, please reformat your input and try again.');
  const v2 = /titan-embed-text-v2/.test(modelId);
  const allowed = v2 ? ['inputText', 'dimensions', 'normalize', 'embeddingTypes'] : ['inputText'];
  for (const k of Object.keys(body)) {
    if (!allowed.includes(k)) fail(`Malformed input request: #: extraneous key [${k}] is not permitted, please reformat your input and try again.`);
  }
  if (typeof body.inputText !== 'string') fail('Malformed input request: #: required key [inputText] not found, please reformat your input and try again.');
  if (body.inputText === '') fail('Malformed input request: #/inputText: expected minLength: 1, actual: 0, please reformat your input and try again.');
  if (body.dimensions !== undefined && ![256, 512, 1024].includes(body.dimensions)) {
    fail(`Malformed input request: #/dimensions: ${body.dimensions} is not a valid enum value, please reformat your input and try again.`);
  }
}

export function titanResponse(body, modelId) {
  const v2 = /titan-embed-text-v2/.test(modelId);
  const dims = body.dimensions ?? (v2 ? 1024 : 1536);
  const values = embedding(body.inputText, dims);
  const out = { embedding: values, inputTextTokenCount: Math.max(1, words(body.inputText)) };
  if (v2) out.embeddingsByType = { float: values };
  return out;
}

// ---- errors ----

const CORAL = 'http://internal.amazon.com/coral/com.amazon.bedrock/';
const ERR = {
  400: ['ValidationException', 'The provided request is not valid'],
  403: ['AccessDeniedException', "You don't have access to the model with the specified model ID."],
  404: ['ResourceNotFoundException', 'The requested resource could not be found.'],
  408: ['ModelTimeoutException', 'Model has timed out in processing the request. Try your request again.'],
  424: ['ModelErrorException', 'The model returned an error.'],
  429: ['ThrottlingException', 'Too many requests, please wait before trying again.'],
  500: ['InternalServerException', 'The system encountered an unexpected error during processing. Try your request again.'],
  503: ['ServiceUnavailableException', 'Bedrock is unable to process your request.'],
};

export function bedrockError(status, message) {
  const [type, def] = ERR[status] ?? (status >= 500 ? ERR[500] : ERR[400]);
  return {
    status: ERR[status] ? status : status >= 500 ? 500 : 400,
    headers: { 'x-amzn-errortype': `${type}:${CORAL}` },
    body: { message: message ?? def },
  };
}

export function requestIdHeaders() {
  return { 'x-amzn-requestid': crypto.randomUUID() };
}

export const STREAM_ERROR = {
  type: 'modelStreamErrorException',
  body: { message: 'Model stream error: the model returned an error mid-stream.', originalMessage: 'Overloaded', originalStatusCode: 529 },
};
