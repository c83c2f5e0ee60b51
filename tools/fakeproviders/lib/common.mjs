// Shared pieces: deterministic answers and token counts, ids, embeddings, HTTP helpers.
import crypto from 'node:crypto';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- token counting -------------------------------------------------------------------------

// The fake's "token": one whitespace-separated word.
export function words(s) {
  if (typeof s !== 'string') return 0;
  const t = s.trim();
  return t ? t.split(/\s+/).length : 0;
}

// Splits text into stream pieces, one word (with its trailing whitespace) each.
export function textPieces(text) {
  const pieces = text.match(/\s*\S+\s*/g) ?? [];
  return pieces.length ? pieces : [text];
}

// Splits a JSON string into 3 pieces (at least 2) for streamed tool-call arguments.
export function argPieces(json) {
  if (json.length < 2) return [json, ''];
  const a = Math.max(1, Math.floor(json.length / 3));
  const b = Math.max(a + 1, Math.floor((2 * json.length) / 3));
  return [json.slice(0, a), json.slice(a, b), json.slice(b)].filter((p) => p.length > 0);
}

// ---- the conversation model every provider normalizes its request into --------------------
//
// conv = {
//   model, texts: [prompt strings], messageCount,
//   last: {kind: 'user'|'toolResult'|'assistant'|'none', text}, lastUserText,
//   tools: [names], toolChoice: {mode: 'auto'|'none'|'any'|'tool', name},
//   thinking: bool, maxTokens, stopSequences: [],
//   cache: {present: bool, prefixWords}
// }

export function newConv(model) {
  return {
    model,
    texts: [],
    messageCount: 0,
    last: { kind: 'none', text: '' },
    lastUserText: '',
    tools: [],
    toolChoice: { mode: 'auto', name: null },
    thinking: false,
    maxTokens: null,
    stopSequences: [],
    cache: { present: false, prefixWords: 0 },
  };
}

export function promptWords(conv) {
  return conv.texts.reduce((n, t) => n + words(t), 0);
}

const THINKING_KEY = 'fakeproviders-thinking-signature-key';

// A thinking signature the fake can later verify (as the real APIs do when a thinking block
// comes back in the history).
export function thinkingSignature(text) {
  const mac = crypto.createHmac('sha256', THINKING_KEY).update(text, 'utf8').digest();
  return Buffer.concat([Buffer.from('fakesig1'), mac]).toString('base64');
}

export const TOOL_CALL_OUTPUT_TOKENS = 10;

// Decides the answer for a normalized conversation.
// Returns {kind: 'text', text, stop: 'end'|'max_tokens'|'stop_sequence', stopSequence}
//      or {kind: 'tool', name, args, argsJson, stop: 'tool'}
// plus thinking: {text, signature} | null, and the usage numbers (see README):
//   W = prompt words, P = words up to the last cache marker,
//   inputTokens  = max(1, W - P) with cache markers, else max(1, W)
//   cacheRead = max(1, P), cacheWrite = 2 * max(1, P) with cache markers, else 0 and 0
//   outputTokens = words(answer text) (min 1), or 10 for a tool call; plus thinkingTokens
//   thinkingTokens = words(thinking text) when thinking was asked for, else 0
export function decide(conv) {
  let ans;
  const tc = conv.toolChoice;
  const wantsTool =
    conv.last.kind === 'user' &&
    conv.tools.length > 0 &&
    tc.mode !== 'none' &&
    (/weather/i.test(conv.last.text) || tc.mode === 'any' || tc.mode === 'tool');
  if (conv.last.kind === 'toolResult') {
    ans = { kind: 'text', text: `The weather is ${conv.last.text}` };
  } else if (wantsTool) {
    const name = tc.mode === 'tool' && tc.name && conv.tools.includes(tc.name) ? tc.name : conv.tools[0];
    const args = { location: 'Paris' };
    ans = { kind: 'tool', name, args, argsJson: JSON.stringify(args), stop: 'tool' };
  } else {
    ans = { kind: 'text', text: `echo: ${conv.lastUserText}` };
  }
  if (ans.kind === 'text') {
    ans.stop = 'end';
    ans.stopSequence = null;
    let cut = -1;
    for (const s of conv.stopSequences) {
      if (typeof s !== 'string' || s === '') continue;
      const i = ans.text.indexOf(s);
      if (i >= 0 && (cut < 0 || i < cut)) {
        cut = i;
        ans.stopSequence = s;
      }
    }
    if (cut >= 0) {
      ans.text = ans.text.slice(0, cut);
      ans.stop = 'stop_sequence';
    }
    if (conv.maxTokens != null && words(ans.text) > conv.maxTokens) {
      ans.text = textPieces(ans.text).slice(0, Math.max(0, conv.maxTokens)).join('').trimEnd();
      ans.stop = 'max_tokens';
      ans.stopSequence = null;
    }
  }
  ans.thinking = null;
  if (conv.thinking) {
    const text = `The user wrote: ${conv.lastUserText || '(nothing)'}. I will answer briefly.`;
    ans.thinking = { text, signature: thinkingSignature(text) };
  }
  const W = promptWords(conv);
  const P = conv.cache.prefixWords;
  const cached = conv.cache.present;
  const answerTokens = ans.kind === 'tool' ? TOOL_CALL_OUTPUT_TOKENS : Math.max(1, words(ans.text));
  const thinkingTokens = ans.thinking ? words(ans.thinking.text) : 0;
  ans.usage = {
    promptWords: W,
    inputTokens: cached ? Math.max(1, W - P) : Math.max(1, W),
    cacheRead: cached ? Math.max(1, P) : 0,
    cacheWrite: cached ? 2 * Math.max(1, P) : 0,
    answerTokens,
    thinkingTokens,
    outputTokens: answerTokens + thinkingTokens,
  };
  return ans;
}

// ---- model-name triggers --------------------------------------------------------------------

// 'error-429' etc. in a model id: the provider answers with that status in its own error shape.
export function errorTrigger(model) {
  const m = /error-(\d{3})/.exec(String(model ?? ''));
  return m ? Number(m[1]) : null;
}

export function midstreamTrigger(model) {
  return String(model ?? '').includes('midstream-error');
}

// Stream faults chosen by the model name (a backend's modelNameOverride, so one backend of a
// route misbehaves and the next does not): `prestream-KIND` before any content, `midstream-KIND`
// after the first piece with content. KIND: error (the format's error event, then the end),
// reset (the connection closed mid-body), idle (nothing more, never ending), empty (the pieces
// before any content, then the stream's end: no content and no usage).
export function streamFault(model) {
  const m = /(prestream|midstream)-(error|reset|idle|empty)/.exec(String(model ?? ''));
  return m ? { when: m[1], kind: m[2] } : null;
}

// The pieces of a stream with `fault` applied; isContent(i): piece i carries content.
// `tail`: what ends the format's stream (OpenAI's [DONE]), kept by `empty`.
export function faultPieces(fault, pieces, isContent, errorPiece, tail = []) {
  if (!fault) return { pieces, then: 'end' };
  const first = pieces.findIndex((_, i) => isContent(i));
  const cut = fault.when === 'prestream' ? Math.max(first, 0) : first + 1;
  const head = pieces.slice(0, cut);
  switch (fault.kind) {
    case 'error': return { pieces: [...head, errorPiece], then: 'end' };
    case 'reset': return { pieces: head, then: 'reset' };
    case 'idle': return { pieces: head, then: 'hang' };
    // empty: what comes before any content, then the stream's end (no content, no usage)
    default: return { pieces: [...pieces.slice(0, Math.max(first, 0)), ...tail], then: 'end' };
  }
}

// Ends a streamed response the way faultPieces said.
export async function endStream(res, then) {
  if (then === 'reset') {
    // What was written still reaches the client (destroy() would drop it), then the connection
    // closes in the middle of the body.
    res.socket?.end();
    return;
  }
  if (then === 'hang') {
    await new Promise((resolve) => res.once('close', resolve));
    return;
  }
  res.end();
}

// ---- ids and embeddings ----------------------------------------------------------------------

const B62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
export function randomId(len) {
  const bytes = crypto.randomBytes(len);
  let s = '';
  for (let i = 0; i < len; i++) s += B62[bytes[i] % 62];
  return s;
}

// Deterministic unit-length embedding of `text` with `dims` values.
export function embedding(text, dims) {
  const out = new Array(dims);
  let k = 0;
  for (let block = 0; k < dims; block++) {
    const h = crypto.createHash('sha256').update(`${block}:${text}`, 'utf8').digest();
    for (let j = 0; j < 32 && k < dims; j += 4, k++) out[k] = h.readUInt32BE(j) / 0xffffffff * 2 - 1;
  }
  const norm = Math.sqrt(out.reduce((s, v) => s + v * v, 0)) || 1;
  return out.map((v) => Math.round((v / norm) * 1e8) / 1e8);
}

// ---- HTTP helpers -----------------------------------------------------------------------------

export function sendJSON(res, status, obj, headers = {}) {
  const body = Buffer.from(JSON.stringify(obj), 'utf8');
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': body.length, ...headers });
  res.end(body);
}

export function parseJSON(buf) {
  try {
    const v = JSON.parse(buf.toString('utf8'));
    return { ok: true, value: v };
  } catch (e) {
    return { ok: false, error: e.message };
  }
}

export function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function bearer(req) {
  const h = req.headers.authorization;
  if (typeof h !== 'string') return null;
  const m = /^Bearer\s+(.+)$/i.exec(h.trim());
  return m ? m[1] : null;
}

// The per-request chunk delay: header x-fake-chunk-delay-ms, else the configured default.
export function chunkDelay(req, cfg) {
  const h = Number(req.headers['x-fake-chunk-delay-ms']);
  return Number.isFinite(h) && h >= 0 ? Math.min(h, 10000) : cfg.chunkDelayMs;
}

// Writes the chunks one by one with a delay between them (so clients see separate reads).
// Stops early if the client went away.
export async function writeChunks(res, chunks, delayMs) {
  for (let i = 0; i < chunks.length; i++) {
    if (res.destroyed) return;
    if (i > 0 && delayMs > 0) await sleep(delayMs);
    res.write(chunks[i]);
  }
}

export function unixNow() {
  return Math.floor(Date.now() / 1000);
}

// Error thrown by validators: carries the message (and an optional field path).
export class ValidationError extends Error {
  constructor(message, param = null) {
    super(message);
    this.param = param;
  }
}

// Text of an OpenAI-style/Anthropic-style content value: string, or array of {type:'text',text}.
export function textOfParts(content, textKey = 'text') {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .filter((p) => isObject(p) && typeof p[textKey] === 'string' && (p.type === undefined || p.type === 'text'))
    .map((p) => p[textKey])
    .join(' ');
}
