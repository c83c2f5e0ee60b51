// Token counting endpoints: vLLM's POST /tokenize, Bedrock's CountTokens
// (POST /model/{id}/count-tokens), Vertex's Anthropic count-tokens:rawPredict and Anthropic's
// POST /v1/messages/count_tokens.
import crypto from 'node:crypto';
import { ValidationError, isObject, promptWords } from './common.mjs';
import * as anth from './anthropic.mjs';
import * as bed from './bedrock.mjs';

function fail(msg, param = null) {
  throw new ValidationError(msg, param);
}

// ---- vLLM /tokenize -------------------------------------------------------------------------

export const VLLM_MAX_MODEL_LEN = 8192;
const BOS = 1;
const EOT = 2;
const ROLE_IDS = { system: 3, user: 4, assistant: 5, tool: 6, developer: 7 };

// A word's token id: 100 + (SHA-256 of the word mod 32000).
function wordId(w) {
  return 100 + (crypto.createHash('sha256').update(w).digest().readUInt32BE(0) % 32000);
}

function wordsOf(s) {
  return typeof s === 'string' ? s.match(/\S+/g) ?? [] : [];
}

function messageText(content) {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.filter((p) => isObject(p) && p.type === 'text' && typeof p.text === 'string').map((p) => p.text).join(' ');
}

// Validates as vLLM's pydantic models do (TokenizeCompletionRequest | TokenizeChatRequest).
export function validateTokenize(b) {
  if (!isObject(b)) fail('Input should be a valid dictionary');
  if ('prompt' in b && 'messages' in b) fail("Value error, Only one of 'prompt' or 'messages' may be given");
  if ('messages' in b) {
    if (!Array.isArray(b.messages)) fail('messages: Input should be a valid list', 'messages');
    b.messages.forEach((m, i) => {
      if (!isObject(m) || typeof m.role !== 'string') fail(`messages.${i}.role: Field required`, `messages.${i}.role`);
    });
    if (b.add_generation_prompt === true && b.continue_final_message === true) {
      fail('Cannot set both `continue_final_message` and `add_generation_prompt` to True.');
    }
  } else if (typeof b.prompt !== 'string') {
    fail(b.prompt === undefined ? 'prompt: Field required' : 'prompt: Input should be a valid string', 'prompt');
  }
  if (b.model !== undefined && b.model !== null && typeof b.model !== 'string') fail('model: Input should be a valid string', 'model');
}

// The answer: completion prompts are [BOS] + one id per word (add_special_tokens, default true);
// chats apply a template: per message [role id] + its words + [EOT], then [assistant role id]
// when add_generation_prompt (default true), BOS only with add_special_tokens (default false).
export function tokenizeResponse(b) {
  const tokens = [];
  const strs = [];
  const push = (id, s) => {
    tokens.push(id);
    strs.push(s);
  };
  if ('messages' in b) {
    if (b.add_special_tokens === true) push(BOS, '<s>');
    for (const m of b.messages) {
      push(ROLE_IDS[m.role] ?? 8, `<|${m.role}|>`);
      for (const w of wordsOf(messageText(m.content))) push(wordId(w), w);
      push(EOT, '<|end|>');
    }
    if (b.add_generation_prompt !== false && !b.continue_final_message) push(ROLE_IDS.assistant, '<|assistant|>');
  } else {
    if (b.add_special_tokens !== false) push(BOS, '<s>');
    for (const w of wordsOf(b.prompt)) push(wordId(w), w);
  }
  return { count: tokens.length, max_model_len: VLLM_MAX_MODEL_LEN, tokens, token_strs: b.return_token_strs ? strs : null };
}

export function vllmErrorBody(status, message, param = null) {
  const type = { 400: 'BadRequestError', 401: 'Unauthorized', 404: 'NotFoundError', 429: 'TooManyRequests' }[status] ?? 'InternalServerError';
  return { error: { message, type, param, code: status } };
}

// ---- Bedrock CountTokens --------------------------------------------------------------------

const CONVERSE_TOKEN_KEYS = ['messages', 'system', 'toolConfig', 'additionalModelRequestFields'];

// Only base Anthropic model ids count tokens on Bedrock (no inference-profile prefixes, no Nova).
export function bedrockCountsTokens(modelId) {
  return /^anthropic\.claude/.test(modelId) || /^arn:aws:bedrock:[^:]*:[^:]*:foundation-model\/anthropic\.claude/.test(modelId);
}

// Returns {inputTokens} or throws ValidationError with Bedrock's messages.
export function bedrockCountTokens(b, modelId) {
  const malformed = (why) => fail(`Malformed input request: ${why}, please reformat your input and try again.`);
  if (!isObject(b)) malformed('#: expected type: JSONObject');
  for (const k of Object.keys(b)) if (k !== 'input') malformed(`#: extraneous key [${k}] is not permitted`);
  if (!isObject(b.input)) fail("1 validation error detected: Value null at 'input' failed to satisfy constraint: Member must not be null");
  const keys = Object.keys(b.input);
  if (keys.length !== 1 || !['invokeModel', 'converse'].includes(keys[0])) fail('The input field must contain exactly one of the following: invokeModel, converse.');
  if (keys[0] === 'invokeModel') {
    const im = b.input.invokeModel;
    if (!isObject(im) || typeof im.body !== 'string') fail("1 validation error detected: Value null at 'input.invokeModel.body' failed to satisfy constraint: Member must not be null");
    // a blob: base64 in the JSON protocol
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(im.body) || im.body.length % 4 !== 0) malformed('input.invokeModel.body is not valid base64');
    let inner;
    try {
      inner = JSON.parse(Buffer.from(im.body, 'base64').toString('utf8'));
    } catch {
      malformed('input.invokeModel.body is not valid JSON');
    }
    if (isObject(inner)) {
      if ('model' in inner) malformed('#: extraneous key [model] is not permitted');
      if (inner.anthropic_version === undefined) malformed('#: required key [anthropic_version] not found');
      if (inner.anthropic_version !== 'bedrock-2023-05-31') malformed(`#/anthropic_version: ${inner.anthropic_version} is not a valid enum value`);
      if ('stream' in inner) malformed('#: extraneous key [stream] is not permitted');
    }
    anth.validateAnthropic(inner, 'bedrock');
    return { inputTokens: Math.max(1, promptWords(anth.anthropicConv(inner, modelId))) };
  }
  const c = b.input.converse;
  if (!isObject(c)) fail("1 validation error detected: Value null at 'input.converse' failed to satisfy constraint: Member must not be null");
  for (const k of Object.keys(c)) if (!CONVERSE_TOKEN_KEYS.includes(k)) malformed(`#/input/converse: extraneous key [${k}] is not permitted`);
  bed.validateConverse(c, modelId);
  return { inputTokens: Math.max(1, promptWords(bed.converseConv(c, modelId))) };
}

// ---- Vertex Anthropic count-tokens:rawPredict -----------------------------------------------

// Anthropic's count_tokens parameters; anthropic_version is accepted as Vertex's rawPredict
// bodies carry it.
const COUNT_KEYS = new Set([
  'model', 'messages', 'system', 'tools', 'tool_choice', 'thinking', 'mcp_servers', 'context_management',
  'cache_control', 'anthropic_version', 'anthropic_beta', 'output_format',
]);

export function vertexAnthropicCountTokens(b) {
  if (!isObject(b)) fail('Input should be a valid dictionary or object to extract fields from');
  for (const k of Object.keys(b)) if (!COUNT_KEYS.has(k)) fail(`${k}: Extra inputs are not permitted`);
  if (typeof b.model !== 'string' || b.model === '') fail('model: Field required');
  if (b.anthropic_version !== undefined && b.anthropic_version !== 'vertex-2023-10-16') fail("anthropic_version: Input should be 'vertex-2023-10-16'");
  const { model, ...rest } = b;
  // the Messages validator, with the max_tokens count_tokens does not take
  anth.validateAnthropic({ ...rest, anthropic_version: 'vertex-2023-10-16', max_tokens: 4096 }, 'vertex');
  return { input_tokens: Math.max(1, promptWords(anth.anthropicConv(b, model))) };
}

// ---- Anthropic POST /v1/messages/count_tokens -----------------------------------------------

// The Messages parameters that count (no max_tokens, stream, temperature...; no anthropic_version,
// which is a header on api.anthropic.com) → {input_tokens: max(1, W)}.
export function anthropicCountTokens(b) {
  if (!isObject(b)) fail('Input should be a valid dictionary or object to extract fields from');
  for (const k of Object.keys(b)) if (!COUNT_KEYS.has(k) || k === 'anthropic_version' || k === 'anthropic_beta') fail(`${k}: Extra inputs are not permitted`);
  if (typeof b.model !== 'string' || b.model === '') fail('model: Field required');
  anth.validateAnthropic({ ...b, max_tokens: 4096 }, 'anthropic');
  return { input_tokens: Math.max(1, promptWords(anth.anthropicConv(b, b.model))) };
}
