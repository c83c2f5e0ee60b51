// Anthropic Messages API: request validation, the normalized conversation, the response and
// the stream events. Shared by api.anthropic.com (/v1/messages), Bedrock InvokeModel for
// anthropic.* models and Vertex AI rawPredict for publishers/anthropic.
import {
  ValidationError, isObject, newConv, decide, randomId, words, textPieces, argPieces, thinkingSignature,
} from './common.mjs';

// flavor: 'anthropic' (direct), 'bedrock' (InvokeModel body), 'vertex' (rawPredict body)
export const FLAVORS = {
  anthropic: { idPrefix: 'msg_01', toolPrefix: 'toolu_01', version: null },
  bedrock: { idPrefix: 'msg_bdrk_01', toolPrefix: 'toolu_bdrk_01', version: 'bedrock-2023-05-31' },
  vertex: { idPrefix: 'msg_vrtx_01', toolPrefix: 'toolu_vrtx_01', version: 'vertex-2023-10-16' },
};

// The anthropic-version header values api.anthropic.com accepts (any other is a 400
// `anthropic-version: "X" is not a valid version`); @anthropic-ai/sdk 1.x sends 2026-10-21.
export const API_VERSIONS = ['2023-01-01', '2023-06-01', '2026-10-21'];

const TOP_LEVEL = new Set([
  'model', 'messages', 'max_tokens', 'system', 'metadata', 'stop_sequences', 'stream', 'temperature',
  'top_p', 'top_k', 'tools', 'tool_choice', 'thinking', 'service_tier', 'container', 'mcp_servers',
  'context_management', 'cache_control',
]);

const BLOCK_TYPES = new Set([
  'text', 'image', 'document', 'tool_use', 'tool_result', 'thinking', 'redacted_thinking', 'search_result',
  'server_tool_use', 'web_search_tool_result', 'container_upload',
]);

function fail(msg) {
  throw new ValidationError(msg);
}

function checkCacheControl(v, where) {
  if (v === undefined || v === null) return;
  if (!isObject(v) || v.type !== 'ephemeral') fail(`${where}.cache_control.type: Input should be 'ephemeral'`);
  if (v.ttl !== undefined && v.ttl !== '5m' && v.ttl !== '1h') fail(`${where}.cache_control.ttl: Input should be '5m' or '1h'`);
}

function checkTextBlock(b, where) {
  if (typeof b.text !== 'string') fail(`${where}.text: Field required`);
  if (b.text === '') fail(`${where}: text content blocks must be non-empty`);
}

function checkBlock(b, where, role) {
  if (!isObject(b)) fail(`${where}: Input should be a valid dictionary or object to extract fields from`);
  if (!BLOCK_TYPES.has(b.type)) {
    fail(`${where}: Input tag '${b.type}' found using 'type' does not match any of the expected tags: ${[...BLOCK_TYPES].map((t) => `'${t}'`).join(', ')}`);
  }
  checkCacheControl(b.cache_control, where);
  switch (b.type) {
    case 'text':
      checkTextBlock(b, where);
      break;
    case 'image': {
      const s = b.source;
      if (!isObject(s)) fail(`${where}.source: Field required`);
      if (s.type === 'base64') {
        if (!['image/jpeg', 'image/png', 'image/gif', 'image/webp'].includes(s.media_type)) {
          fail(`${where}.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'`);
        }
        if (typeof s.data !== 'string' || s.data === '') fail(`${where}.source.base64.data: Field required`);
      } else if (s.type === 'url') {
        if (typeof s.url !== 'string') fail(`${where}.source.url.url: Field required`);
      } else if (s.type !== 'file') {
        fail(`${where}.source: Input tag '${s.type}' found using 'type' does not match any of the expected tags: 'base64', 'url', 'file'`);
      }
      if (role !== 'user') fail(`${where}: image content blocks are only allowed in user messages`);
      break;
    }
    case 'tool_use':
      if (role !== 'assistant') fail(`${where}: tool_use content blocks are only allowed in assistant messages`);
      if (typeof b.id !== 'string' || !/^[a-zA-Z0-9_-]+$/.test(b.id)) fail(`${where}.id: String should match pattern '^[a-zA-Z0-9_-]+$'`);
      if (typeof b.name !== 'string' || b.name === '') fail(`${where}.name: Field required`);
      if (!isObject(b.input)) fail(`${where}.input: Input should be a valid dictionary`);
      break;
    case 'tool_result':
      if (role !== 'user') fail(`${where}: tool_result content blocks are only allowed in user messages`);
      if (typeof b.tool_use_id !== 'string') fail(`${where}.tool_use_id: Field required`);
      if (b.content !== undefined && typeof b.content !== 'string') {
        if (!Array.isArray(b.content)) fail(`${where}.content: Input should be a valid list`);
        b.content.forEach((c, i) => {
          if (!isObject(c) || !['text', 'image', 'search_result', 'document'].includes(c.type)) {
            fail(`${where}.content.${i}: Input tag '${c?.type}' found using 'type' does not match any of the expected tags: 'text', 'image', 'search_result', 'document'`);
          }
          if (c.type === 'text') checkTextBlock(c, `${where}.content.${i}`);
        });
      }
      if (b.is_error !== undefined && typeof b.is_error !== 'boolean') fail(`${where}.is_error: Input should be a valid boolean`);
      break;
    case 'thinking':
      if (role !== 'assistant') fail(`${where}: thinking content blocks are only allowed in assistant messages`);
      if (typeof b.thinking !== 'string') fail(`${where}.thinking: Field required`);
      if (typeof b.signature !== 'string') fail(`${where}.signature: Field required`);
      break;
    case 'redacted_thinking':
      if (typeof b.data !== 'string') fail(`${where}.data: Field required`);
      break;
    default:
      break;
  }
}

function toolResultText(b) {
  if (typeof b.content === 'string') return b.content;
  if (Array.isArray(b.content)) return b.content.filter((c) => c.type === 'text').map((c) => c.text).join(' ');
  return '';
}

// The anthropic-beta flags Bedrock takes in an InvokeModel body's `anthropic_beta`; one it does
// not know fails the whole request.
export const BEDROCK_BETAS = new Set([
  'computer-use-2024-10-22', 'computer-use-2025-01-24', 'context-1m-2025-08-07',
  'context-management-2025-06-27', 'dev-full-thinking-2025-05-14', 'fine-grained-tool-streaming-2025-05-14',
  'interleaved-thinking-2025-05-14', 'mcp-client-2025-04-04', 'mcp-client-2025-11-20',
  'model-context-window-exceeded-2025-08-26', 'output-128k-2025-02-19', 'pdfs-2024-09-25',
  'search-results-2025-06-09', 'token-counting-2024-11-01', 'token-efficient-tools-2025-02-19',
  'tool-search-tool-2025-10-19', 'web-search-2025-03-05',
]);

// Throws ValidationError with Anthropic-style messages.
export function validateAnthropic(body, flavor) {
  if (!isObject(body)) fail('Input should be a valid dictionary or object to extract fields from');
  const fl = FLAVORS[flavor];
  for (const k of Object.keys(body)) {
    if (k === 'anthropic_version' && fl.version) continue;
    if (k === 'anthropic_beta' && flavor !== 'anthropic') continue;
    if (k === 'model' && flavor !== 'anthropic') {
      fail(flavor === 'bedrock' ? 'extraneous key [model] is not permitted' : 'model: Extra inputs are not permitted');
    }
    if (!TOP_LEVEL.has(k)) fail(`${k}: Extra inputs are not permitted`);
  }
  if (fl.version) {
    if (body.anthropic_version === undefined) fail('anthropic_version: Field required');
    if (body.anthropic_version !== fl.version) fail(`anthropic_version: Input should be '${fl.version}'`);
  } else if (typeof body.model !== 'string' || body.model === '') {
    fail('model: Field required');
  }
  if (flavor === 'bedrock' && body.anthropic_beta !== undefined) {
    if (!Array.isArray(body.anthropic_beta) || body.anthropic_beta.some((f) => typeof f !== 'string')) {
      fail('anthropic_beta: Input should be a valid list of strings');
    }
    if (body.anthropic_beta.some((f) => !BEDROCK_BETAS.has(f))) fail('invalid beta flag');
  }
  if (body.max_tokens === undefined) fail('max_tokens: Field required');
  if (!Number.isInteger(body.max_tokens) || body.max_tokens < 1) fail('max_tokens: Input should be greater than or equal to 1');
  if (!Array.isArray(body.messages)) fail(body.messages === undefined ? 'messages: Field required' : 'messages: Input should be a valid list');
  if (body.messages.length === 0) fail('messages: at least one message is required');
  if (body.stream !== undefined && typeof body.stream !== 'boolean') fail('stream: Input should be a valid boolean');
  if (body.temperature !== undefined && (typeof body.temperature !== 'number' || body.temperature < 0 || body.temperature > 1)) {
    fail('temperature: Input should be less than or equal to 1');
  }
  if (body.top_p !== undefined && (typeof body.top_p !== 'number' || body.top_p < 0 || body.top_p > 1)) fail('top_p: Input should be less than or equal to 1');
  if (body.top_k !== undefined && (!Number.isInteger(body.top_k) || body.top_k < 0)) fail('top_k: Input should be greater than or equal to 0');
  if (body.stop_sequences !== undefined) {
    if (!Array.isArray(body.stop_sequences) || body.stop_sequences.some((s) => typeof s !== 'string')) fail('stop_sequences: Input should be a valid list of strings');
  }
  if (body.metadata !== undefined && !isObject(body.metadata)) fail('metadata: Input should be a valid dictionary');
  // system
  if (body.system !== undefined && typeof body.system !== 'string') {
    if (!Array.isArray(body.system)) fail('system: Input should be a valid string or a valid list');
    body.system.forEach((b, i) => {
      if (!isObject(b) || b.type !== 'text') fail(`system.${i}.type: Input should be 'text'`);
      checkTextBlock(b, `system.${i}`);
      checkCacheControl(b.cache_control, `system.${i}`);
    });
  }
  // tools
  const toolNames = [];
  if (body.tools !== undefined) {
    if (!Array.isArray(body.tools)) fail('tools: Input should be a valid list');
    body.tools.forEach((t, i) => {
      if (!isObject(t)) fail(`tools.${i}: Input should be a valid dictionary`);
      checkCacheControl(t.cache_control, `tools.${i}`);
      if (t.type !== undefined && t.type !== 'custom') {
        if (typeof t.name !== 'string') fail(`tools.${i}.name: Field required`);
        toolNames.push(t.name);
        return;
      }
      if (typeof t.name !== 'string' || !/^[a-zA-Z0-9_-]{1,128}$/.test(t.name)) fail(`tools.${i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'`);
      if (t.description !== undefined && typeof t.description !== 'string') fail(`tools.${i}.custom.description: Input should be a valid string`);
      if (!isObject(t.input_schema)) fail(`tools.${i}.custom.input_schema: Field required`);
      if (t.input_schema.type !== 'object') fail(`tools.${i}.custom.input_schema.type: Input should be 'object'`);
      for (const k of Object.keys(t)) {
        if (!['name', 'description', 'input_schema', 'cache_control', 'type'].includes(k)) fail(`tools.${i}.custom.${k}: Extra inputs are not permitted`);
      }
      if (toolNames.includes(t.name)) fail('tools: Tool names must be unique.');
      toolNames.push(t.name);
    });
  }
  if (body.tool_choice !== undefined) {
    const tc = body.tool_choice;
    if (!isObject(tc) || !['auto', 'any', 'tool', 'none'].includes(tc.type)) {
      fail(`tool_choice: Input tag '${tc?.type}' found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'`);
    }
    if (tc.type === 'tool' && typeof tc.name !== 'string') fail('tool_choice.tool.name: Field required');
    if (tc.type !== 'none' && body.tools === undefined) fail('tool_choice may only be specified while providing tools.');
  }
  // thinking
  let thinking = false;
  if (body.thinking !== undefined) {
    const th = body.thinking;
    if (!isObject(th) || !['enabled', 'disabled', 'adaptive'].includes(th.type)) {
      fail(`thinking: Input tag '${th?.type}' found using 'type' does not match any of the expected tags: 'enabled', 'disabled', 'adaptive'`);
    }
    if (th.type === 'enabled') {
      if (!Number.isInteger(th.budget_tokens)) fail('thinking.enabled.budget_tokens: Field required');
      if (th.budget_tokens < 1024) fail('thinking.enabled.budget_tokens: Input should be greater than or equal to 1024');
      if (th.budget_tokens >= body.max_tokens) fail('`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size');
      if (body.temperature !== undefined && body.temperature !== 1) fail('`temperature` may only be set to 1 when thinking is enabled. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#feature-compatibility');
      if (isObject(body.tool_choice) && (body.tool_choice.type === 'any' || body.tool_choice.type === 'tool')) {
        fail('Thinking may not be enabled when tool_choice forces tool use.');
      }
    }
    thinking = th.type !== 'disabled';
  }
  // messages
  let prevRole = null;
  let pendingToolUses = null;
  body.messages.forEach((m, i) => {
    const where = `messages.${i}`;
    if (!isObject(m)) fail(`${where}: Input should be a valid dictionary`);
    if (m.role !== 'user' && m.role !== 'assistant') fail(`${where}.role: Input should be 'user' or 'assistant'`);
    for (const k of Object.keys(m)) if (k !== 'role' && k !== 'content') fail(`${where}.${k}: Extra inputs are not permitted`);
    if (i === 0 && m.role !== 'user') fail('messages: first message must use the "user" role');
    if (prevRole === m.role) fail(`messages: roles must alternate between "user" and "assistant", but found multiple "${m.role}" roles in a row`);
    prevRole = m.role;
    if (m.content === undefined) fail(`${where}.content: Field required`);
    const isLast = i === body.messages.length - 1;
    if (typeof m.content === 'string') {
      if (m.content === '' && !(isLast && m.role === 'assistant')) fail(`${where}: all messages must have non-empty content except for the optional final assistant message`);
    } else if (Array.isArray(m.content)) {
      if (m.content.length === 0 && !(isLast && m.role === 'assistant')) fail(`${where}: all messages must have non-empty content except for the optional final assistant message`);
      m.content.forEach((b, j) => checkBlock(b, `${where}.content.${j}`, m.role));
    } else {
      fail(`${where}.content: Input should be a valid string or a valid list`);
    }
    const blocks = Array.isArray(m.content) ? m.content : [];
    // tool_use / tool_result pairing, as the real API enforces it
    const results = blocks.filter((b) => b.type === 'tool_result').map((b) => b.tool_use_id);
    if (pendingToolUses) {
      const missing = pendingToolUses.filter((id) => !results.includes(id));
      if (missing.length) {
        fail(`${where}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${missing.join(', ')}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`);
      }
    }
    const unexpected = results.filter((id) => !(pendingToolUses ?? []).includes(id));
    if (unexpected.length) {
      fail(`${where}.content.0: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${unexpected.join(', ')}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`);
    }
    const uses = m.role === 'assistant' ? blocks.filter((b) => b.type === 'tool_use').map((b) => b.id) : [];
    pendingToolUses = uses.length ? uses : null;
    if (uses.length && isLast) {
      // a final assistant message ending in tool_use would be continued; the API accepts it
      pendingToolUses = null;
    }
    if (thinking && m.role === 'assistant') {
      for (const [j, b] of blocks.entries()) {
        if (b.type === 'thinking' && b.signature !== thinkingSignature(b.thinking)) {
          fail(`${where}.content.${j}: Invalid \`signature\` in \`thinking\` block`);
        }
      }
    }
  });
  if (pendingToolUses) {
    fail(`messages.${body.messages.length}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${pendingToolUses.join(', ')}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`);
  }
  // With thinking on, the assistant turn that made the tool call being answered must start
  // with its thinking block.
  if (thinking) {
    const last = body.messages[body.messages.length - 1];
    const prev = body.messages[body.messages.length - 2];
    const lastHasResult = Array.isArray(last.content) && last.content.some((b) => b.type === 'tool_result');
    if (lastHasResult && prev && Array.isArray(prev.content)) {
      const first = prev.content[0];
      if (!first || (first.type !== 'thinking' && first.type !== 'redacted_thinking')) {
        fail(`messages.${body.messages.length - 2}.content.0.type: Expected \`thinking\` or \`redacted_thinking\`, but found \`${first?.type}\`. When \`thinking\` is enabled, a final \`assistant\` message must start with a thinking block (preceeding the lastmost set of \`tool_use\` and \`tool_result\` blocks). We recommend you include thinking blocks from previous turns. To avoid this requirement, disable \`thinking\`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking`);
      }
    }
  }
}

// Normalizes a validated Messages body.
export function anthropicConv(body, model) {
  const conv = newConv(model);
  let running = 0;
  const add = (t, cacheMark) => {
    if (typeof t === 'string' && t !== '') {
      conv.texts.push(t);
      running += words(t);
    }
    if (cacheMark) {
      conv.cache.present = true;
      conv.cache.prefixWords = running;
    }
  };
  for (const t of body.tools ?? []) {
    conv.tools.push(t.name);
    if (t.cache_control) add('', true);
  }
  if (typeof body.system === 'string') add(body.system, false);
  else for (const b of body.system ?? []) add(b.text, !!b.cache_control);
  for (const m of body.messages) {
    conv.messageCount++;
    if (typeof m.content === 'string') {
      add(m.content, false);
      continue;
    }
    for (const b of m.content) {
      if (b.type === 'text') add(b.text, !!b.cache_control);
      else if (b.type === 'tool_use') add(JSON.stringify(b.input), !!b.cache_control);
      else if (b.type === 'tool_result') add(toolResultText(b), !!b.cache_control);
      else add('', !!b.cache_control);
    }
  }
  if (body.cache_control) {
    conv.cache.present = true;
    conv.cache.prefixWords = running;
  }
  for (const m of body.messages) {
    if (m.role !== 'user') continue;
    const blocks = typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : m.content;
    const t = blocks.filter((b) => b.type === 'text').map((b) => b.text).join(' ');
    if (t) conv.lastUserText = t;
  }
  const last = body.messages[body.messages.length - 1];
  if (last.role === 'assistant') {
    conv.last = { kind: 'assistant', text: '' };
  } else {
    const blocks = typeof last.content === 'string' ? [{ type: 'text', text: last.content }] : last.content;
    const results = blocks.filter((b) => b.type === 'tool_result');
    if (results.length) conv.last = { kind: 'toolResult', text: results.map(toolResultText).join(' ') };
    else conv.last = { kind: 'user', text: blocks.filter((b) => b.type === 'text').map((b) => b.text).join(' ') };
  }
  if (body.tool_choice) conv.toolChoice = { mode: body.tool_choice.type, name: body.tool_choice.name ?? null };
  conv.thinking = isObject(body.thinking) && body.thinking.type !== 'disabled';
  conv.maxTokens = body.max_tokens;
  conv.stopSequences = body.stop_sequences ?? [];
  return conv;
}

const STOP = { end: 'end_turn', max_tokens: 'max_tokens', stop_sequence: 'stop_sequence', tool: 'tool_use' };

function usageOf(ans) {
  return {
    input_tokens: ans.usage.inputTokens,
    cache_creation_input_tokens: ans.usage.cacheWrite,
    cache_read_input_tokens: ans.usage.cacheRead,
    output_tokens: ans.usage.outputTokens,
  };
}

export function prepareAnswer(conv, flavor) {
  const ans = decide(conv);
  const fl = FLAVORS[flavor];
  ans.id = fl.idPrefix + randomId(22);
  if (ans.kind === 'tool') ans.toolId = fl.toolPrefix + randomId(22);
  return ans;
}

export function anthropicMessage(ans, model) {
  const content = [];
  if (ans.thinking) content.push({ type: 'thinking', thinking: ans.thinking.text, signature: ans.thinking.signature });
  if (ans.kind === 'tool') content.push({ type: 'tool_use', id: ans.toolId, name: ans.name, input: ans.args });
  else content.push({ type: 'text', text: ans.text });
  return {
    id: ans.id,
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: STOP[ans.stop],
    stop_sequence: ans.stopSequence ?? null,
    usage: usageOf(ans),
  };
}

// The stream as a list of {type, data} events (data is the JSON object of the event).
// The index of the first content delta is returned too, for mid-stream error injection.
export function anthropicStreamEvents(ans, model) {
  const ev = [];
  const push = (data) => ev.push({ type: data.type, data });
  const startUsage = { ...usageOf(ans), output_tokens: 1 };
  push({
    type: 'message_start',
    message: {
      id: ans.id, type: 'message', role: 'assistant', model, content: [],
      stop_reason: null, stop_sequence: null, usage: startUsage,
    },
  });
  let index = 0;
  let pinged = false;
  const ping = () => {
    if (!pinged) {
      pinged = true;
      push({ type: 'ping' });
    }
  };
  if (ans.thinking) {
    push({ type: 'content_block_start', index, content_block: { type: 'thinking', thinking: '' } });
    ping();
    for (const p of textPieces(ans.thinking.text)) push({ type: 'content_block_delta', index, delta: { type: 'thinking_delta', thinking: p } });
    push({ type: 'content_block_delta', index, delta: { type: 'signature_delta', signature: ans.thinking.signature } });
    push({ type: 'content_block_stop', index });
    index++;
  }
  if (ans.kind === 'tool') {
    push({ type: 'content_block_start', index, content_block: { type: 'tool_use', id: ans.toolId, name: ans.name, input: {} } });
    ping();
    push({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: '' } });
    for (const p of argPieces(ans.argsJson)) push({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: p } });
  } else {
    push({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } });
    ping();
    for (const p of ans.text === '' ? [] : textPieces(ans.text)) push({ type: 'content_block_delta', index, delta: { type: 'text_delta', text: p } });
  }
  push({ type: 'content_block_stop', index });
  push({
    type: 'message_delta',
    delta: { stop_reason: STOP[ans.stop], stop_sequence: ans.stopSequence ?? null },
    usage: { output_tokens: ans.usage.outputTokens },
  });
  push({ type: 'message_stop' });
  const firstDelta = ev.findIndex((e) => e.type === 'content_block_delta');
  return { events: ev, firstDelta };
}

export function sseEvent(type, data) {
  return `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}

const ERRORS = {
  400: ['invalid_request_error', 'Your request was malformed or missing some required parameters.'],
  401: ['authentication_error', 'invalid x-api-key'],
  403: ['permission_error', 'Your API key does not have permission to use the specified resource.'],
  404: ['not_found_error', 'The requested resource could not be found.'],
  413: ['request_too_large', 'Request exceeds the maximum allowed number of bytes.'],
  429: ['rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit (https://docs.claude.com/en/api/rate-limits); see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later. You may also contact sales at https://www.anthropic.com/contact-sales to discuss your options for a rate limit increase.'],
  500: ['api_error', 'Internal server error'],
  529: ['overloaded_error', 'Overloaded'],
};

export function anthropicErrorBody(status, message) {
  const [type, defMsg] = ERRORS[status] ?? (status >= 500 ? ERRORS[500] : ERRORS[400]);
  return { type: 'error', error: { type, message: message ?? defMsg } };
}

export const OVERLOADED = { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } };
