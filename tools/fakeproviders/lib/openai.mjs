// OpenAI chat completions and embeddings, plain (api.openai.com) and Azure OpenAI flavoured
// (content filter annotations, Azure error shapes).
import {
  ValidationError, isObject, newConv, decide, randomId, words, textPieces, argPieces, embedding, unixNow,
} from './common.mjs';

function fail(msg, param = null) {
  throw new ValidationError(msg, param);
}

const ROLES = ['system', 'developer', 'user', 'assistant', 'tool', 'function'];

function contentText(content) {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.filter((p) => isObject(p) && p.type === 'text' && typeof p.text === 'string').map((p) => p.text).join(' ');
}

export function validateChat(body, { requireModel }) {
  if (!isObject(body)) fail('Invalid request body: expected a JSON object.');
  if (requireModel && (typeof body.model !== 'string' || body.model === '')) fail("you must provide a model parameter", 'model');
  if (body.messages === undefined) fail("Missing required parameter: 'messages'.", 'messages');
  if (!Array.isArray(body.messages)) fail("Invalid type for 'messages': expected an array, but got an object instead.", 'messages');
  if (body.messages.length === 0) fail("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", 'messages');
  let pending = null;
  body.messages.forEach((m, i) => {
    const p = `messages.[${i}]`;
    if (!isObject(m)) fail(`Invalid type for '${p}': expected an object, but got ${typeof m} instead.`, p);
    if (!ROLES.includes(m.role)) {
      fail(`Invalid value: '${m.role}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.`, `${p}.role`);
    }
    if (m.role !== 'assistant' && m.content === undefined) fail(`Missing required parameter: '${p}.content'.`, `${p}.content`);
    if (m.content !== undefined && m.content !== null && typeof m.content !== 'string' && !Array.isArray(m.content)) {
      fail(`Invalid type for '${p}.content': expected one of a string or array of objects, but got an object instead.`, `${p}.content`);
    }
    if (Array.isArray(m.content)) {
      m.content.forEach((part, j) => {
        if (!isObject(part) || typeof part.type !== 'string') fail(`Missing required parameter: '${p}.content[${j}].type'.`, `${p}.content[${j}].type`);
        if (part.type === 'text' && typeof part.text !== 'string') fail(`Missing required parameter: '${p}.content[${j}].text'.`, `${p}.content[${j}].text`);
      });
    }
    if (pending && m.role !== 'tool') {
      fail(`An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: ${pending.join(', ')}`, 'messages');
    }
    if (m.role === 'tool') {
      if (typeof m.tool_call_id !== 'string') fail(`Missing required parameter: '${p}.tool_call_id'.`, `${p}.tool_call_id`);
      if (!pending || !pending.includes(m.tool_call_id)) {
        fail("Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.", `${p}.role`);
      }
      pending = pending.filter((id) => id !== m.tool_call_id);
      if (pending.length === 0) pending = null;
    }
    if (m.role === 'assistant' && m.tool_calls !== undefined) {
      if (!Array.isArray(m.tool_calls)) fail(`Invalid type for '${p}.tool_calls': expected an array.`, `${p}.tool_calls`);
      m.tool_calls.forEach((tc, j) => {
        if (!isObject(tc) || typeof tc.id !== 'string') fail(`Missing required parameter: '${p}.tool_calls[${j}].id'.`, `${p}.tool_calls[${j}].id`);
        if (tc.type !== 'function') fail(`Missing required parameter: '${p}.tool_calls[${j}].type'.`, `${p}.tool_calls[${j}].type`);
        if (!isObject(tc.function) || typeof tc.function.name !== 'string' || typeof tc.function.arguments !== 'string') {
          fail(`Missing required parameter: '${p}.tool_calls[${j}].function'.`, `${p}.tool_calls[${j}].function`);
        }
      });
      pending = m.tool_calls.length ? m.tool_calls.map((tc) => tc.id) : null;
    }
  });
  if (pending) {
    fail(`An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: ${pending.join(', ')}`, 'messages');
  }
  if (body.tools !== undefined) {
    if (!Array.isArray(body.tools)) fail("Invalid type for 'tools': expected an array.", 'tools');
    body.tools.forEach((t, i) => {
      if (!isObject(t) || t.type !== 'function' || !isObject(t.function) || typeof t.function.name !== 'string') {
        fail(`Missing required parameter: 'tools[${i}].function'.`, `tools[${i}].function`);
      }
    });
  }
  if (body.temperature !== undefined && body.temperature !== null && (typeof body.temperature !== 'number' || body.temperature < 0 || body.temperature > 2)) {
    fail(`Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got ${body.temperature} instead.`, 'temperature');
  }
  if (body.stream_options !== undefined && body.stream_options !== null && !body.stream) {
    fail('The \'stream_options\' parameter is only allowed when \'stream\' is enabled.', 'stream_options');
  }
}

export function chatConv(body, model) {
  const conv = newConv(model);
  for (const m of body.messages) {
    conv.messageCount++;
    const t = contentText(m.content);
    if (t) conv.texts.push(t);
    for (const tc of m.tool_calls ?? []) conv.texts.push(tc.function.arguments);
    if (m.role === 'user' && t) conv.lastUserText = t;
  }
  const last = body.messages[body.messages.length - 1];
  if (last.role === 'tool' || last.role === 'function') conv.last = { kind: 'toolResult', text: contentText(last.content) };
  else if (last.role === 'user') conv.last = { kind: 'user', text: contentText(last.content) };
  else conv.last = { kind: last.role === 'assistant' ? 'assistant' : 'none', text: '' };
  conv.tools = (body.tools ?? []).map((t) => t.function.name);
  const tc = body.tool_choice;
  if (tc === 'none' || tc === 'auto') conv.toolChoice = { mode: tc, name: null };
  else if (tc === 'required') conv.toolChoice = { mode: 'any', name: null };
  else if (isObject(tc) && isObject(tc.function)) conv.toolChoice = { mode: 'tool', name: tc.function.name };
  conv.maxTokens = body.max_completion_tokens ?? body.max_tokens ?? null;
  const stop = body.stop;
  conv.stopSequences = typeof stop === 'string' ? [stop] : Array.isArray(stop) ? stop : [];
  return conv;
}

const FINISH = { end: 'stop', max_tokens: 'length', stop_sequence: 'stop', tool: 'tool_calls' };

const SAFE = { filtered: false, severity: 'safe' };
function promptFilterResults() {
  return [{
    prompt_index: 0,
    content_filter_results: {
      hate: SAFE, jailbreak: { filtered: false, detected: false }, self_harm: SAFE, sexual: SAFE, violence: SAFE,
    },
  }];
}
function choiceFilterResults() {
  return {
    hate: SAFE,
    protected_material_code: { filtered: false, detected: false },
    protected_material_text: { filtered: false, detected: false },
    self_harm: SAFE, sexual: SAFE, violence: SAFE,
  };
}

function usageOf(ans) {
  return {
    prompt_tokens: ans.usage.inputTokens,
    completion_tokens: ans.usage.outputTokens,
    total_tokens: ans.usage.inputTokens + ans.usage.outputTokens,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

export function prepareChatAnswer(conv) {
  const ans = decide(conv);
  ans.thinking = null; // chat completions never show reasoning text
  ans.usage.outputTokens = ans.usage.answerTokens;
  ans.id = `chatcmpl-${randomId(29)}`;
  ans.created = unixNow();
  ans.fingerprint = `fp_${randomId(10).toLowerCase()}`;
  if (ans.kind === 'tool') ans.toolId = `call_${randomId(24)}`;
  return ans;
}

export function chatCompletion(ans, model, azure) {
  const message = { role: 'assistant', content: null, refusal: null, annotations: [] };
  if (ans.kind === 'tool') {
    message.tool_calls = [{ id: ans.toolId, type: 'function', function: { name: ans.name, arguments: ans.argsJson } }];
  } else {
    message.content = ans.text;
  }
  const choice = { index: 0, message, logprobs: null, finish_reason: FINISH[ans.stop] };
  if (azure) choice.content_filter_results = choiceFilterResults();
  const out = {
    id: ans.id,
    object: 'chat.completion',
    created: ans.created,
    model,
    choices: [choice],
    usage: usageOf(ans),
    system_fingerprint: ans.fingerprint,
  };
  if (azure) out.prompt_filter_results = promptFilterResults();
  return out;
}

// The list of SSE data payloads (objects), without the final [DONE].
export function chatChunks(ans, model, azure, includeUsage) {
  const chunks = [];
  const base = () => ({ id: ans.id, object: 'chat.completion.chunk', created: ans.created, model, system_fingerprint: ans.fingerprint });
  const chunk = (delta, finish = null, filters = true) => {
    const choice = { index: 0, delta, logprobs: null, finish_reason: finish };
    if (azure) choice.content_filter_results = filters ? choiceFilterResults() : {};
    const c = { ...base(), choices: [choice] };
    if (includeUsage) c.usage = null;
    chunks.push(c);
  };
  if (azure) {
    chunks.push({ choices: [], created: 0, id: '', model: '', object: '', prompt_filter_results: promptFilterResults() });
  }
  if (ans.kind === 'tool') {
    chunk({
      role: 'assistant', content: null,
      tool_calls: [{ index: 0, id: ans.toolId, type: 'function', function: { name: ans.name, arguments: '' } }],
      refusal: null,
    }, null, false);
    for (const p of argPieces(ans.argsJson)) chunk({ tool_calls: [{ index: 0, function: { arguments: p } }] }, null, false);
  } else {
    chunk({ role: 'assistant', content: '', refusal: null }, null, false);
    for (const p of ans.text === '' ? [] : textPieces(ans.text)) chunk({ content: p });
  }
  chunk({}, FINISH[ans.stop], false);
  if (includeUsage) chunks.push({ ...base(), choices: [], usage: usageOf(ans) });
  return chunks;
}

// ---- embeddings ----

export function validateEmbeddings(body, { requireModel }) {
  if (!isObject(body)) fail('Invalid request body: expected a JSON object.');
  if (requireModel && typeof body.model !== 'string') fail('you must provide a model parameter', 'model');
  const inp = body.input;
  if (inp === undefined) fail("Missing required parameter: 'input'.", 'input');
  const ok = typeof inp === 'string' || (Array.isArray(inp) && inp.length > 0 &&
    (inp.every((s) => typeof s === 'string') || inp.every((s) => Number.isInteger(s)) ||
      inp.every((a) => Array.isArray(a) && a.every((s) => Number.isInteger(s)))));
  if (!ok) fail("'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", 'input');
  if (Array.isArray(inp) && inp.some((s) => s === '')) fail("'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", 'input');
  if (body.encoding_format !== undefined && !['float', 'base64'].includes(body.encoding_format)) {
    fail(`Invalid value for 'encoding_format' = ${body.encoding_format}. Supported values are 'float' and 'base64'.`, 'encoding_format');
  }
  if (body.dimensions !== undefined && (!Number.isInteger(body.dimensions) || body.dimensions < 1 || body.dimensions > 3072)) {
    fail("Invalid value for 'dimensions'.", 'dimensions');
  }
}

export function embeddingsResponse(body, model) {
  const inputs = typeof body.input === 'string' ? [body.input] : body.input.map((x) => (typeof x === 'string' ? x : JSON.stringify(x)));
  const dims = body.dimensions ?? (/3-large/.test(model) ? 3072 : 1536);
  let tokens = 0;
  const data = inputs.map((text, index) => {
    tokens += Math.max(1, words(text));
    const vec = embedding(text, dims);
    let emb = vec;
    if (body.encoding_format === 'base64') {
      const f = new Float32Array(vec);
      emb = Buffer.from(f.buffer).toString('base64');
    }
    return { object: 'embedding', index, embedding: emb };
  });
  return { object: 'list', data, model, usage: { prompt_tokens: tokens, total_tokens: tokens } };
}

// ---- errors ----

export function openaiErrorBody(status, message, param = null) {
  const m = {
    400: ['invalid_request_error', null, 'Invalid request.'],
    401: ['invalid_request_error', 'invalid_api_key', 'Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.'],
    404: ['invalid_request_error', 'model_not_found', 'The model does not exist or you do not have access to it.'],
    429: ['requests', 'rate_limit_exceeded', 'Rate limit reached for requests. Please try again in 1s.'],
    500: ['server_error', null, 'The server had an error while processing your request. Sorry about that!'],
    503: ['server_error', null, 'The engine is currently overloaded, please try again later.'],
  }[status] ?? (status >= 500 ? ['server_error', null, 'The server had an error while processing your request. Sorry about that!'] : ['invalid_request_error', null, 'Invalid request.']);
  return { error: { message: message ?? m[2], type: m[0], param, code: m[1] } };
}

export function azureErrorBody(status, message, param = null) {
  switch (status) {
    case 400:
      return { error: { code: 'BadRequest', message: message ?? 'Invalid request.', param, type: 'invalid_request_error' } };
    case 401:
      return { error: { code: '401', message: message ?? 'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.' } };
    case 404:
      return { error: { code: '404', message: message ?? 'Resource not found' } };
    case 429:
      return { error: { code: '429', message: message ?? 'Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 1 second. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.' } };
    case 503:
      return { error: { code: 'ServiceUnavailable', message: message ?? 'The service is temporarily unable to process your request. Please try again later.' } };
    default:
      return { error: { code: status >= 500 ? 'InternalServerError' : String(status), message: message ?? 'The server had an error while processing your request. Sorry about that!' } };
  }
}

export const MIDSTREAM_ERROR = {
  error: { message: 'The server had an error while processing your request. Sorry about that!', type: 'server_error', param: null, code: null },
};
