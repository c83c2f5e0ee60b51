// The OpenAI Responses API (POST /v1/responses, /v1/responses/input_tokens), as api.openai.com,
// Azure OpenAI (/openai/responses) and Bedrock's OpenAI-compatible endpoint serve it: request
// validation, the normalized conversation, the Response object and its streaming events.
import crypto from 'node:crypto';
import { ValidationError, isObject, newConv, decide, textPieces, argPieces, unixNow } from './common.mjs';

function fail(msg, param = null) {
  throw new ValidationError(msg, param);
}

// Top-level parameters of POST /v1/responses and of /v1/responses/input_tokens.
const CREATE_KEYS = new Set([
  'background', 'context_management', 'conversation', 'include', 'input', 'instructions', 'max_output_tokens',
  'max_tool_calls', 'metadata', 'model', 'moderation', 'parallel_tool_calls', 'previous_response_id', 'prompt',
  'prompt_cache_key', 'prompt_cache_options', 'prompt_cache_retention', 'reasoning', 'safety_identifier',
  'service_tier', 'store', 'stream', 'stream_options', 'temperature', 'text', 'tool_choice', 'tools',
  'top_logprobs', 'top_p', 'truncation', 'user',
]);
const COUNT_KEYS = new Set([
  'conversation', 'input', 'instructions', 'model', 'parallel_tool_calls', 'personality', 'previous_response_id',
  'reasoning', 'text', 'tool_choice', 'tools', 'truncation',
]);

const ROLES = ['user', 'assistant', 'system', 'developer'];
const USER_PARTS = ['input_text', 'input_image', 'input_file', 'input_audio'];
const ASSISTANT_PARTS = ['output_text', 'refusal'];
const ITEM_TYPES = [
  'message', 'function_call', 'function_call_output', 'reasoning', 'item_reference', 'file_search_call',
  'web_search_call', 'computer_call', 'computer_call_output', 'image_generation_call', 'code_interpreter_call',
  'local_shell_call', 'local_shell_call_output', 'mcp_call', 'mcp_list_tools', 'mcp_approval_request',
  'mcp_approval_response', 'custom_tool_call', 'custom_tool_call_output',
];
const HOSTED_TOOLS = [
  'file_search', 'web_search', 'web_search_preview', 'computer_use_preview', 'mcp', 'code_interpreter',
  'image_generation', 'local_shell', 'custom', 'shell', 'apply_patch',
];

function partText(content) {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .filter((p) => isObject(p) && ['input_text', 'output_text', 'text'].includes(p.type) && typeof p.text === 'string')
    .map((p) => p.text)
    .join(' ');
}

// Validates a Responses request the way the API does (400 invalid_request_error with a param).
// `count`: the input_tokens endpoint's parameter set (no stream, no max_output_tokens).
export function validateResponses(body, { requireModel = true, count = false } = {}) {
  if (!isObject(body)) fail('Invalid request body: expected a JSON object.');
  const keys = count ? COUNT_KEYS : CREATE_KEYS;
  for (const k of Object.keys(body)) if (!keys.has(k)) fail(`Unknown parameter: '${k}'.`, k);
  if (requireModel && (typeof body.model !== 'string' || body.model === '')) fail("Missing required parameter: 'model'.", 'model');
  if (body.input === undefined && body.previous_response_id === undefined && body.prompt === undefined && body.conversation === undefined && !count) {
    fail("Missing required parameter: 'input'.", 'input');
  }
  if (body.instructions !== undefined && body.instructions !== null && typeof body.instructions !== 'string') {
    fail("Invalid type for 'instructions': expected a string, but got an object instead.", 'instructions');
  }
  const inp = body.input;
  if (inp !== undefined && typeof inp !== 'string' && !Array.isArray(inp)) {
    fail("Invalid type for 'input': expected one of a string or array of input items, but got an object instead.", 'input');
  }
  const calls = new Set();
  if (Array.isArray(inp)) {
    inp.forEach((it, i) => {
      const p = `input[${i}]`;
      if (!isObject(it)) fail(`Invalid type for '${p}': expected an input item, but got ${typeof it} instead.`, p);
      const type = it.type ?? (it.role !== undefined ? 'message' : undefined);
      if (!ITEM_TYPES.includes(type)) fail(`Invalid value: '${it.type}'. Supported values are: ${ITEM_TYPES.map((t) => `'${t}'`).join(', ')}.`, `${p}.type`);
      if (type === 'message') {
        if (!ROLES.includes(it.role)) fail(`Invalid value: '${it.role}'. Supported values are: 'user', 'assistant', 'system', and 'developer'.`, `${p}.role`);
        if (typeof it.content !== 'string' && !Array.isArray(it.content)) fail(`Missing required parameter: '${p}.content'.`, `${p}.content`);
        if (Array.isArray(it.content)) {
          const allowed = it.role === 'assistant' ? ASSISTANT_PARTS : USER_PARTS;
          it.content.forEach((c, j) => {
            const cp = `${p}.content[${j}]`;
            if (!isObject(c) || !allowed.includes(c.type)) {
              fail(`Invalid value: '${c?.type}'. Supported values are: ${allowed.map((t) => `'${t}'`).join(', ')}.`, `${cp}.type`);
            }
            if ((c.type === 'input_text' || c.type === 'output_text') && typeof c.text !== 'string') fail(`Missing required parameter: '${cp}.text'.`, `${cp}.text`);
          });
        }
      } else if (type === 'function_call') {
        for (const f of ['call_id', 'name', 'arguments']) if (typeof it[f] !== 'string') fail(`Missing required parameter: '${p}.${f}'.`, `${p}.${f}`);
        calls.add(it.call_id);
      } else if (type === 'function_call_output') {
        if (typeof it.call_id !== 'string') fail(`Missing required parameter: '${p}.call_id'.`, `${p}.call_id`);
        if (typeof it.output !== 'string' && !Array.isArray(it.output)) fail(`Missing required parameter: '${p}.output'.`, `${p}.output`);
        if (!calls.has(it.call_id) && body.previous_response_id === undefined) {
          fail(`No tool call found for function call output with call_id ${it.call_id}.`, 'input');
        }
      }
    });
  }
  if (body.tools !== undefined) {
    if (!Array.isArray(body.tools)) fail("Invalid type for 'tools': expected an array, but got an object instead.", 'tools');
    body.tools.forEach((t, i) => {
      const p = `tools[${i}]`;
      if (!isObject(t) || typeof t.type !== 'string') fail(`Missing required parameter: '${p}.type'.`, `${p}.type`);
      if (t.type === 'function') {
        // the Chat Completions shape {type, function: {...}} is not accepted here
        if (typeof t.name !== 'string' || t.name === '') fail(`Missing required parameter: '${p}.name'.`, `${p}.name`);
        if (t.parameters !== undefined && t.parameters !== null && !isObject(t.parameters)) fail(`Invalid type for '${p}.parameters': expected an object.`, `${p}.parameters`);
      } else if (!HOSTED_TOOLS.includes(t.type)) {
        fail(`Invalid value: '${t.type}'. Supported values are: 'function', ${HOSTED_TOOLS.map((x) => `'${x}'`).join(', ')}.`, `${p}.type`);
      }
    });
  }
  const tc = body.tool_choice;
  if (tc !== undefined && tc !== null && !['none', 'auto', 'required'].includes(tc) && !isObject(tc)) {
    fail(`Invalid value: '${tc}'. Supported values are: 'none', 'auto', and 'required'.`, 'tool_choice');
  }
  if (!count) {
    const mot = body.max_output_tokens;
    if (mot !== undefined && mot !== null) {
      if (!Number.isInteger(mot)) fail("Invalid type for 'max_output_tokens': expected an integer.", 'max_output_tokens');
      if (mot < 16) fail(`Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got ${mot} instead.`, 'max_output_tokens');
    }
    const t = body.temperature;
    if (t !== undefined && t !== null && (typeof t !== 'number' || t < 0 || t > 2)) {
      fail(`Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got ${t} instead.`, 'temperature');
    }
    if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') fail("Invalid type for 'stream': expected a boolean.", 'stream');
    if (body.stream_options !== undefined && body.stream_options !== null && !body.stream) {
      fail("The 'stream_options' parameter is only allowed when 'stream' is enabled.", 'stream_options');
    }
  }
  if (body.reasoning !== undefined && body.reasoning !== null) {
    const e = body.reasoning.effort;
    if (e !== undefined && e !== null && !['none', 'minimal', 'low', 'medium', 'high', 'xhigh'].includes(e)) {
      fail(`Invalid value: '${e}'. Supported values are: 'none', 'minimal', 'low', 'medium', 'high', and 'xhigh'.`, 'reasoning.effort');
    }
  }
}

// The normalized conversation (see common.mjs): instructions and system/developer messages are
// system text; function_call arguments and function_call_output text count as prompt words.
export function responsesConv(body, model) {
  const conv = newConv(model);
  if (typeof body.instructions === 'string' && body.instructions) conv.texts.push(body.instructions);
  const items = typeof body.input === 'string' ? [{ role: 'user', content: body.input }] : body.input ?? [];
  let last = null;
  for (const it of items) {
    const type = it.type ?? 'message';
    if (type === 'message') {
      conv.messageCount++;
      const t = partText(it.content);
      if (t) conv.texts.push(t);
      if (it.role === 'user') {
        if (t) conv.lastUserText = t;
        last = { kind: 'user', text: t };
      } else if (it.role === 'assistant') {
        last = { kind: 'assistant', text: '' };
      }
    } else if (type === 'function_call') {
      conv.texts.push(it.arguments);
      last = { kind: 'assistant', text: '' };
    } else if (type === 'function_call_output') {
      const t = typeof it.output === 'string' ? it.output : partText(it.output);
      if (t) conv.texts.push(t);
      last = { kind: 'toolResult', text: t };
    }
  }
  conv.last = last ?? { kind: 'none', text: '' };
  conv.tools = (body.tools ?? []).filter((t) => t.type === 'function').map((t) => t.name);
  const tc = body.tool_choice;
  if (tc === 'none' || tc === 'auto') conv.toolChoice = { mode: tc, name: null };
  else if (tc === 'required') conv.toolChoice = { mode: 'any', name: null };
  else if (isObject(tc) && tc.type === 'function') conv.toolChoice = { mode: 'tool', name: tc.name };
  conv.maxTokens = body.max_output_tokens ?? null;
  const effort = body.reasoning?.effort;
  conv.thinking = typeof effort === 'string' && effort !== 'none';
  return conv;
}

// The input_tokens count: what usage.input_tokens would be for the same request.
export function inputTokens(body) {
  return decide(responsesConv(body, body.model ?? '')).usage.inputTokens;
}

const hex = (n) => crypto.randomBytes(n).toString('hex');

// api.openai.com answers with the dated snapshot an alias points at.
const SNAPSHOTS = {
  'gpt-4.1': 'gpt-4.1-2025-04-14',
  'gpt-4.1-mini': 'gpt-4.1-mini-2025-04-14',
  'gpt-4o': 'gpt-4o-2024-08-06',
  'gpt-4o-mini': 'gpt-4o-mini-2024-07-18',
  'o4-mini': 'o4-mini-2025-04-16',
  'gpt-5': 'gpt-5-2025-08-07',
};
export function snapshotOf(model) {
  return SNAPSHOTS[model] ?? model;
}

export function prepareResponsesAnswer(conv) {
  const ans = decide(conv);
  // The Responses API never shows reasoning text: a reasoning item with an empty summary, and
  // its tokens in output_tokens_details.reasoning_tokens (counted in output_tokens).
  ans.reasoningTokens = ans.usage.thinkingTokens;
  ans.id = `resp_${hex(24)}`;
  ans.itemId = ans.kind === 'tool' ? `fc_${hex(24)}` : `msg_${hex(24)}`;
  ans.reasoningId = `rs_${hex(24)}`;
  if (ans.kind === 'tool') ans.callId = `call_${hex(12)}`;
  ans.createdAt = unixNow();
  return ans;
}

function usageOf(ans) {
  const u = ans.usage;
  return {
    input_tokens: u.inputTokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: u.outputTokens,
    output_tokens_details: { reasoning_tokens: ans.reasoningTokens },
    total_tokens: u.inputTokens + u.outputTokens,
  };
}

function outputItems(ans, status = 'completed') {
  const items = [];
  if (ans.thinking) items.push({ id: ans.reasoningId, type: 'reasoning', summary: [] });
  if (ans.kind === 'tool') {
    items.push({ id: ans.itemId, type: 'function_call', status, arguments: ans.argsJson, call_id: ans.callId, name: ans.name });
  } else {
    items.push({
      id: ans.itemId, type: 'message', status, role: 'assistant',
      content: [{ type: 'output_text', annotations: [], logprobs: [], text: ans.text }],
    });
  }
  return items;
}

// The Response object. phase: 'in_progress' (no output, no usage yet), 'final' or 'failed'.
export function responseObject(ans, body, model, phase = 'final') {
  const incomplete = ans.stop === 'max_tokens';
  let status = incomplete ? 'incomplete' : 'completed';
  if (phase === 'in_progress') status = 'in_progress';
  if (phase === 'failed') status = 'failed';
  const tools = (body.tools ?? []).map((t) => (t.type === 'function' ? { type: 'function', description: t.description ?? null, name: t.name, parameters: t.parameters ?? null, strict: t.strict ?? true } : t));
  return {
    id: ans.id,
    object: 'response',
    created_at: ans.createdAt,
    status,
    background: body.background ?? false,
    error: phase === 'failed' ? { code: 'server_error', message: 'The server had an error while processing your request. Sorry about that!' } : null,
    incomplete_details: phase === 'final' && incomplete ? { reason: 'max_output_tokens' } : null,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    max_tool_calls: body.max_tool_calls ?? null,
    model,
    output: phase === 'final' ? outputItems(ans) : [],
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: body.previous_response_id ?? null,
    prompt_cache_key: body.prompt_cache_key ?? null,
    reasoning: { effort: body.reasoning?.effort ?? null, summary: body.reasoning?.summary ?? null },
    safety_identifier: body.safety_identifier ?? null,
    service_tier: phase === 'final' ? 'default' : (body.service_tier ?? 'auto'),
    store: body.store ?? true,
    temperature: body.temperature ?? 1.0,
    text: { format: body.text?.format ?? { type: 'text' }, verbosity: body.text?.verbosity ?? 'medium' },
    tool_choice: body.tool_choice ?? 'auto',
    tools,
    top_logprobs: body.top_logprobs ?? 0,
    top_p: body.top_p ?? 1.0,
    truncation: body.truncation ?? 'disabled',
    usage: phase === 'final' ? usageOf(ans) : null,
    user: body.user ?? null,
    metadata: body.metadata ?? {},
  };
}

// The streaming events, [type, data] pairs (data carries type and sequence_number), and the index
// of the first content (text or arguments) delta. `midstream`: cut after that delta with an
// `error` event and `response.failed`.
export function responsesStreamEvents(ans, body, model, { midstream = false } = {}) {
  const ev = [];
  let seq = 0;
  const push = (type, data) => ev.push([type, { type, sequence_number: seq++, ...data }]);
  push('response.created', { response: responseObject(ans, body, model, 'in_progress') });
  push('response.in_progress', { response: responseObject(ans, body, model, 'in_progress') });
  let oi = 0;
  if (ans.thinking) {
    const item = { id: ans.reasoningId, type: 'reasoning', summary: [] };
    push('response.output_item.added', { output_index: oi, item });
    push('response.output_item.done', { output_index: oi, item });
    oi++;
  }
  let firstDelta = -1;
  if (ans.kind === 'tool') {
    push('response.output_item.added', { output_index: oi, item: { id: ans.itemId, type: 'function_call', status: 'in_progress', arguments: '', call_id: ans.callId, name: ans.name } });
    for (const piece of argPieces(ans.argsJson)) {
      push('response.function_call_arguments.delta', { item_id: ans.itemId, output_index: oi, delta: piece });
      if (firstDelta < 0) firstDelta = ev.length - 1;
    }
    push('response.function_call_arguments.done', { item_id: ans.itemId, output_index: oi, arguments: ans.argsJson });
    push('response.output_item.done', { output_index: oi, item: outputItems(ans).at(-1) });
  } else {
    push('response.output_item.added', { output_index: oi, item: { id: ans.itemId, type: 'message', status: 'in_progress', content: [], role: 'assistant' } });
    push('response.content_part.added', { item_id: ans.itemId, output_index: oi, content_index: 0, part: { type: 'output_text', annotations: [], logprobs: [], text: '' } });
    for (const piece of ans.text === '' ? [] : textPieces(ans.text)) {
      push('response.output_text.delta', { item_id: ans.itemId, output_index: oi, content_index: 0, delta: piece, logprobs: [] });
      if (firstDelta < 0) firstDelta = ev.length - 1;
    }
    push('response.output_text.done', { item_id: ans.itemId, output_index: oi, content_index: 0, text: ans.text, logprobs: [] });
    push('response.content_part.done', { item_id: ans.itemId, output_index: oi, content_index: 0, part: { type: 'output_text', annotations: [], logprobs: [], text: ans.text } });
    push('response.output_item.done', { output_index: oi, item: outputItems(ans).at(-1) });
  }
  if (midstream && firstDelta >= 0) {
    ev.length = firstDelta + 1;
    seq = ev.length;
    push('error', { code: 'server_error', message: 'The server had an error while processing your request. Sorry about that!', param: null });
    push('response.failed', { response: responseObject(ans, body, model, 'failed') });
    return ev;
  }
  const final = responseObject(ans, body, model, 'final');
  push(final.status === 'incomplete' ? 'response.incomplete' : 'response.completed', { response: final });
  return ev;
}

export function sseEvent(type, data) {
  return `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}

