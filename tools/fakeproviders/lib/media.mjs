// OpenAI image generation, text to speech, transcription and translation: validation and answers.
//
// The "audio" the fake writes is a real container header (ID3 + an MPEG frame header, RIFF/WAVE,
// OggS, fLaC, ADTS, or raw PCM) followed by the marker `FAKEAUDIO:<base64 of the text>;` and
// padding; the transcription endpoints "hear" that marker, so speech → transcription round-trips.
// Any other uploaded file is heard as its own bytes when they are printable UTF-8 text.
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { ValidationError, isObject, words, unixNow } from './common.mjs';
import { crc32 } from './eventstream.mjs';

function fail(msg, param = null, code = null) {
  const e = new ValidationError(msg, param);
  e.code = code;
  throw e;
}

// ---- images ---------------------------------------------------------------------------------

const IMAGE_MODELS = {
  'dall-e-2': { sizes: ['256x256', '512x512', '1024x1024'], qualities: ['standard'], maxN: 10 },
  'dall-e-3': { sizes: ['1024x1024', '1792x1024', '1024x1792'], qualities: ['standard', 'hd'], maxN: 1 },
  gpt: { sizes: ['auto', '1024x1024', '1536x1024', '1024x1536'], qualities: ['auto', 'low', 'medium', 'high'], maxN: 10 },
};
const IMAGE_KEYS = new Set([
  'prompt', 'model', 'n', 'quality', 'response_format', 'size', 'style', 'user', 'background', 'moderation',
  'output_compression', 'output_format', 'partial_images', 'stream',
]);
const isGptImage = (m) => /^gpt-image/.test(m) || /^chatgpt-image/.test(m);
const imageSpec = (m) => (isGptImage(m) ? IMAGE_MODELS.gpt : IMAGE_MODELS[m]);

export function validateImage(b) {
  if (!isObject(b)) fail('Invalid request body: expected a JSON object.');
  for (const k of Object.keys(b)) if (!IMAGE_KEYS.has(k)) fail(`Unknown parameter: '${k}'.`, k, 'unknown_parameter');
  if (typeof b.prompt !== 'string' || b.prompt === '') fail("Missing required parameter: 'prompt'.", 'prompt', 'missing_required_parameter');
  const model = b.model ?? 'dall-e-2';
  const spec = imageSpec(model);
  if (!spec) fail(`Invalid value: '${model}'. Value must be 'dall-e-2', 'dall-e-3' or a gpt-image model.`, 'model', 'invalid_value');
  const gpt = isGptImage(model);
  if (b.n !== undefined && b.n !== null && (!Number.isInteger(b.n) || b.n < 1 || b.n > spec.maxN)) {
    fail(model === 'dall-e-3' ? "Invalid 'n': dall-e-3 only supports n=1." : `Invalid 'n': integer above maximum value. Expected a value <= ${spec.maxN}, but got ${b.n} instead.`, 'n', 'invalid_value');
  }
  if (b.size !== undefined && b.size !== null && !spec.sizes.includes(b.size)) {
    fail(`Invalid value: '${b.size}'. Supported values are: ${spec.sizes.map((s) => `'${s}'`).join(', ')}.`, 'size', 'invalid_value');
  }
  if (b.quality !== undefined && b.quality !== null && !spec.qualities.includes(b.quality)) {
    fail(`Invalid value: '${b.quality}'. Supported values are: ${spec.qualities.map((s) => `'${s}'`).join(', ')}.`, 'quality', 'invalid_value');
  }
  if (gpt) {
    if (b.response_format !== undefined && b.response_format !== null) fail("Unknown parameter: 'response_format'.", 'response_format', 'unknown_parameter');
    if (b.output_format !== undefined && !['png', 'jpeg', 'webp'].includes(b.output_format)) fail(`Invalid value: '${b.output_format}'. Supported values are: 'png', 'jpeg', and 'webp'.`, 'output_format', 'invalid_value');
    if (b.stream) fail('Streaming image generation is not supported by this fake.', 'stream', 'invalid_value');
  } else {
    for (const k of ['background', 'moderation', 'output_compression', 'output_format', 'partial_images', 'stream']) {
      if (b[k] !== undefined) fail(`Unknown parameter: '${k}'.`, k, 'unknown_parameter');
    }
    if (b.response_format !== undefined && b.response_format !== null && !['url', 'b64_json'].includes(b.response_format)) {
      fail(`Invalid value: '${b.response_format}'. Supported values are: 'url' and 'b64_json'.`, 'response_format', 'invalid_value');
    }
  }
}

// gpt-image-1 output tokens per image by quality and size (OpenAI's published table).
const IMAGE_TOKENS = {
  low: { square: 272, wide: 408 },
  medium: { square: 1056, wide: 1584 },
  high: { square: 4160, wide: 6240 },
};

// A small valid PNG (8x8, RGB), its colour from SHA-256 of the prompt and index.
export function fakePng(seed) {
  const h = crypto.createHash('sha256').update(seed).digest();
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(8, 0);
  ihdr.writeUInt32BE(8, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const rows = [];
  for (let y = 0; y < 8; y++) rows.push(Buffer.from([0, ...Array.from({ length: 8 }, () => [h[0], h[1], h[2]]).flat()]));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

export function imageResponse(b, baseUrl) {
  const model = b.model ?? 'dall-e-2';
  const n = b.n ?? 1;
  const created = unixNow();
  if (!isGptImage(model)) {
    const data = [];
    for (let i = 0; i < n; i++) {
      const png = fakePng(`${b.prompt}#${i}`);
      const d = b.response_format === 'b64_json' ? { b64_json: png.toString('base64') } : { url: `${baseUrl}/__images/${crypto.createHash('sha256').update(png).digest('hex').slice(0, 16)}.png` };
      if (model === 'dall-e-3') d.revised_prompt = `A picture of: ${b.prompt}`;
      data.push(d);
    }
    return { created, data };
  }
  const quality = !b.quality || b.quality === 'auto' ? 'medium' : b.quality;
  const size = !b.size || b.size === 'auto' ? '1024x1024' : b.size;
  const per = IMAGE_TOKENS[quality][size === '1024x1024' ? 'square' : 'wide'];
  const textTokens = Math.max(1, words(b.prompt));
  const data = [];
  for (let i = 0; i < n; i++) data.push({ b64_json: fakePng(`${b.prompt}#${i}`).toString('base64') });
  return {
    created,
    background: b.background && b.background !== 'auto' ? b.background : 'opaque',
    data,
    output_format: b.output_format ?? 'png',
    quality,
    size,
    usage: {
      input_tokens: textTokens,
      input_tokens_details: { image_tokens: 0, text_tokens: textTokens },
      output_tokens: per * n,
      total_tokens: textTokens + per * n,
    },
  };
}

// ---- text to speech -------------------------------------------------------------------------

const VOICES = ['alloy', 'ash', 'ballad', 'coral', 'echo', 'fable', 'onyx', 'nova', 'sage', 'shimmer', 'verse', 'marin', 'cedar'];
const SPEECH_FORMATS = {
  mp3: 'audio/mpeg', opus: 'audio/opus', aac: 'audio/aac', flac: 'audio/flac', wav: 'audio/wav', pcm: 'audio/pcm',
};
const SPEECH_KEYS = new Set(['model', 'input', 'voice', 'instructions', 'response_format', 'speed', 'stream_format']);
const isClassicTts = (m) => m === 'tts-1' || m === 'tts-1-hd' || /^tts-1(-hd)?-\d/.test(m);

export function validateSpeech(b) {
  if (!isObject(b)) fail('Invalid request body: expected a JSON object.');
  for (const k of Object.keys(b)) if (!SPEECH_KEYS.has(k)) fail(`Unknown parameter: '${k}'.`, k, 'unknown_parameter');
  if (typeof b.model !== 'string' || b.model === '') fail("Missing required parameter: 'model'.", 'model', 'missing_required_parameter');
  if (typeof b.input !== 'string') fail("Missing required parameter: 'input'.", 'input', 'missing_required_parameter');
  if (b.input.length > 4096) fail(`Invalid 'input': string too long. Expected a string with maximum length 4096, but got a string with length ${b.input.length} instead.`, 'input', 'string_above_max_length');
  if (b.voice === undefined) fail("Missing required parameter: 'voice'.", 'voice', 'missing_required_parameter');
  if (!(isObject(b.voice) && typeof b.voice.id === 'string') && !VOICES.includes(b.voice)) {
    fail(`Invalid value: '${b.voice}'. Supported values are: ${VOICES.map((v) => `'${v}'`).join(', ')}.`, 'voice', 'invalid_value');
  }
  const fmt = b.response_format ?? 'mp3';
  if (!SPEECH_FORMATS[fmt]) fail(`Invalid value: '${fmt}'. Supported values are: 'mp3', 'opus', 'aac', 'flac', 'wav', and 'pcm'.`, 'response_format', 'invalid_value');
  if (b.speed !== undefined && (typeof b.speed !== 'number' || b.speed < 0.25 || b.speed > 4)) {
    fail(`Invalid 'speed': expected a value between 0.25 and 4.0, but got ${b.speed} instead.`, 'speed', 'invalid_value');
  }
  if (b.stream_format !== undefined && !['sse', 'audio'].includes(b.stream_format)) {
    fail(`Invalid value: '${b.stream_format}'. Supported values are: 'sse' and 'audio'.`, 'stream_format', 'invalid_value');
  }
  if (isClassicTts(b.model)) {
    if (b.stream_format === 'sse') fail(`stream_format 'sse' is not supported for model '${b.model}'.`, 'stream_format', 'invalid_value');
    if (b.instructions !== undefined) fail(`instructions are not supported for model '${b.model}'.`, 'instructions', 'invalid_value');
  }
}

const SPEECH_PAD = 200; // padding bytes per spoken word

// The audio bytes for `text` in `format` (see the top of this file).
export function fakeAudio(text, format = 'mp3') {
  const marker = Buffer.from(`FAKEAUDIO:${Buffer.from(text, 'utf8').toString('base64')};`, 'latin1');
  const h = crypto.createHash('sha256').update(text).digest();
  const pad = Buffer.alloc(SPEECH_PAD * Math.max(1, words(text)));
  for (let i = 0; i < pad.length; i++) pad[i] = h[i % 32] ^ (i & 0xff);
  const payload = Buffer.concat([marker, pad]);
  switch (format) {
    case 'mp3':
      return Buffer.concat([Buffer.from('ID3\x04\x00\x00\x00\x00\x00\x00', 'latin1'), Buffer.from([0xff, 0xfb, 0x90, 0x64]), payload]);
    case 'wav': {
      const hdr = Buffer.alloc(44);
      hdr.write('RIFF', 0, 'latin1');
      hdr.writeUInt32LE(36 + payload.length, 4);
      hdr.write('WAVEfmt ', 8, 'latin1');
      hdr.writeUInt32LE(16, 16);
      hdr.writeUInt16LE(1, 20); // PCM
      hdr.writeUInt16LE(1, 22); // mono
      hdr.writeUInt32LE(24000, 24);
      hdr.writeUInt32LE(48000, 28);
      hdr.writeUInt16LE(2, 32);
      hdr.writeUInt16LE(16, 34);
      hdr.write('data', 36, 'latin1');
      hdr.writeUInt32LE(payload.length, 40);
      return Buffer.concat([hdr, payload]);
    }
    case 'opus': return Buffer.concat([Buffer.from('OggS\x00\x02', 'latin1'), payload]);
    case 'flac': return Buffer.concat([Buffer.from('fLaC', 'latin1'), payload]);
    case 'aac': return Buffer.concat([Buffer.from([0xff, 0xf1, 0x50, 0x80]), payload]);
    default: return payload; // pcm
  }
}

export function speechContentType(b) {
  return SPEECH_FORMATS[b.response_format ?? 'mp3'];
}

// Usage of a streamed (SSE) speech answer: input = words of input + instructions, output = 10
// audio tokens per spoken word.
export function speechUsage(b) {
  const input = Math.max(1, words(b.input) + words(b.instructions ?? ''));
  const output = 10 * Math.max(1, words(b.input));
  return { input_tokens: input, output_tokens: output, total_tokens: input + output };
}

// ---- transcription and translation ----------------------------------------------------------

const AUDIO_EXTENSIONS = ['flac', 'm4a', 'mp3', 'mp4', 'mpeg', 'mpga', 'oga', 'ogg', 'wav', 'webm'];
const TRANSCRIBE_MODELS = /^(whisper-1|gpt-4o(-mini)?-transcribe(-diarize)?(-\d{4}-\d{2}-\d{2})?)$/;
const TRANSCRIPTION_FIELDS = new Set([
  'file', 'model', 'language', 'prompt', 'response_format', 'temperature', 'timestamp_granularities[]', 'stream',
  'include[]', 'chunking_strategy', 'known_speaker_names[]', 'known_speaker_references[]',
]);
const TRANSLATION_FIELDS = new Set(['file', 'model', 'prompt', 'response_format', 'temperature']);

// The form as a map: plain fields by name (repeated ones as arrays), the file as {filename, data,
// contentType}.
export function formOf(parts) {
  const form = {};
  for (const p of parts) {
    const v = p.filename !== null ? { filename: p.filename, contentType: p.contentType, data: p.data } : p.data.toString('utf8');
    if (form[p.name] === undefined) form[p.name] = v;
    else form[p.name] = [].concat(form[p.name], v);
  }
  return form;
}

// What the fake "hears" in an audio file.
export function heardText(data) {
  const s = data.toString('latin1');
  const m = /FAKEAUDIO:([A-Za-z0-9+/=]*);/.exec(s);
  if (m) return Buffer.from(m[1], 'base64').toString('utf8');
  const u = data.toString('utf8');
  if (!u.includes('\ufffd') && /^[\P{Cc}\t\r\n]*$/u.test(u) && u.trim() !== '') return u.trim();
  return `(unintelligible audio, ${data.length} bytes)`;
}

// Validates a transcription (op 'transcriptions') or translation form; returns the normalized
// request {model, file, prompt, responseFormat, stream, temperature, granularities, include}.
export function validateAudioForm(form, op) {
  const allowed = op === 'translations' ? TRANSLATION_FIELDS : TRANSCRIPTION_FIELDS;
  for (const k of Object.keys(form)) if (!allowed.has(k)) fail(`Unrecognized request argument supplied: ${k}`, k, 'unknown_parameter');
  const file = form.file;
  if (file === undefined) fail("Missing required parameter: 'file'.", 'file', 'missing_required_parameter');
  if (typeof file === 'string' || Array.isArray(file)) fail("Invalid type for 'file': expected a file, but got a string instead.", 'file', 'invalid_type');
  if (typeof form.model !== 'string' || form.model === '') fail('you must provide a model parameter', 'model', 'missing_required_parameter');
  const ext = /\.([A-Za-z0-9]+)$/.exec(file.filename ?? '')?.[1]?.toLowerCase();
  if (!AUDIO_EXTENSIONS.includes(ext)) {
    fail(`Invalid file format. Supported formats: [${AUDIO_EXTENSIONS.map((e) => `'${e}'`).join(', ')}]`, 'file', 'invalid_value');
  }
  if (file.data.length === 0) fail('Audio file is too short. Minimum audio length is 0.1 seconds.', 'file', 'audio_too_short');
  const model = form.model;
  const whisper = model.startsWith('whisper');
  const rf = form.response_format ?? 'json';
  const formats = whisper ? ['json', 'text', 'srt', 'verbose_json', 'vtt'] : ['json', 'text'];
  if (!['json', 'text', 'srt', 'verbose_json', 'vtt', 'diarized_json'].includes(rf)) {
    fail(`Invalid value: '${rf}'. Supported values are: 'json', 'text', 'srt', 'verbose_json', and 'vtt'.`, 'response_format', 'invalid_value');
  }
  if (!formats.includes(rf)) fail(`response_format '${rf}' is not compatible with model '${model}'. Use 'json' or 'text' instead.`, 'response_format', 'unsupported_value');
  let temperature = 0;
  if (form.temperature !== undefined) {
    temperature = Number(form.temperature);
    if (!Number.isFinite(temperature) || temperature < 0 || temperature > 1) fail(`Invalid 'temperature': expected a number between 0 and 1, but got ${form.temperature} instead.`, 'temperature', 'invalid_value');
  }
  const granularities = [].concat(form['timestamp_granularities[]'] ?? []);
  for (const g of granularities) if (!['word', 'segment'].includes(g)) fail(`Invalid value: '${g}'. Supported values are: 'word' and 'segment'.`, 'timestamp_granularities', 'invalid_value');
  if (granularities.length && rf !== 'verbose_json') fail("timestamp_granularities requires response_format 'verbose_json'.", 'timestamp_granularities', 'invalid_value');
  const include = [].concat(form['include[]'] ?? []);
  if (include.some((x) => x !== 'logprobs')) fail(`Invalid value: '${include.find((x) => x !== 'logprobs')}'. Supported values are: 'logprobs'.`, 'include', 'invalid_value');
  if (include.length && (whisper || rf !== 'json')) fail("include[]=logprobs is only supported with response_format 'json' and the gpt-4o transcribe models.", 'include', 'invalid_value');
  let stream = false;
  if (form.stream !== undefined) {
    if (!['true', 'false'].includes(String(form.stream).toLowerCase())) fail(`Invalid value for 'stream': expected a boolean, but got ${form.stream}.`, 'stream', 'invalid_type');
    // whisper-1 ignores stream (as the API documents)
    stream = String(form.stream).toLowerCase() === 'true' && !whisper;
  }
  return { model, file, prompt: form.prompt ?? '', responseFormat: rf, stream, temperature, granularities, include, whisper };
}

export function isKnownAudioModel(model, op) {
  return op === 'translations' ? model === 'whisper-1' : TRANSCRIBE_MODELS.test(model);
}

// The answer: {text, usage, segments, duration}.
export function transcribe(req) {
  const text = heardText(req.file.data);
  const n = Math.max(1, words(text));
  const duration = Math.round(n * 0.5 * 100) / 100; // half a second a word
  let usage;
  if (req.whisper) usage = { type: 'duration', seconds: Math.max(1, Math.ceil(duration)) };
  else {
    const audio = 5 * n;
    const textTokens = words(req.prompt);
    usage = { type: 'tokens', input_tokens: audio + textTokens, input_token_details: { text_tokens: textTokens, audio_tokens: audio }, output_tokens: n, total_tokens: audio + textTokens + n };
  }
  return { text, usage, duration };
}

const ts = (sec, sep) => {
  const ms = Math.round(sec * 1000);
  const p = (x, w = 2) => String(x).padStart(w, '0');
  return `${p(Math.floor(ms / 3600000))}:${p(Math.floor(ms / 60000) % 60)}:${p(Math.floor(ms / 1000) % 60)}${sep}${p(ms % 1000, 3)}`;
};

function logprobsOf(text) {
  return (text.match(/\s*\S+/g) ?? []).map((t) => ({ token: t, logprob: -0.0001, bytes: [...Buffer.from(t, 'utf8')] }));
}

// The body and content type for a non-streamed answer in `req.responseFormat`.
export function transcriptionBody(req, ans, op) {
  const { text } = ans;
  switch (req.responseFormat) {
    case 'text':
      return { contentType: 'text/plain; charset=utf-8', body: `${text}\n` };
    case 'srt':
      return { contentType: 'text/plain; charset=utf-8', body: `1\n${ts(0, ',')} --> ${ts(ans.duration, ',')}\n${text}\n\n` };
    case 'vtt':
      return { contentType: 'text/plain; charset=utf-8', body: `WEBVTT\n\n${ts(0, '.')} --> ${ts(ans.duration, '.')}\n${text}\n\n` };
    case 'verbose_json': {
      const o = {
        task: op === 'translations' ? 'translate' : 'transcribe',
        language: 'english',
        duration: ans.duration,
        text,
      };
      if (!req.granularities.length || req.granularities.includes('segment')) {
        o.segments = [{
          id: 0, seek: 0, start: 0, end: ans.duration, text: ` ${text}`,
          tokens: (text.match(/\S+/g) ?? []).map((w, i) => 50364 + i), temperature: req.temperature,
          avg_logprob: -0.25, compression_ratio: 1.0, no_speech_prob: 0.01,
        }];
      }
      if (req.granularities.includes('word')) {
        o.words = (text.match(/\S+/g) ?? []).map((w, i) => ({ word: w, start: i * 0.5, end: (i + 1) * 0.5 }));
      }
      o.usage = ans.usage;
      return { contentType: 'application/json', body: JSON.stringify(o) };
    }
    default: {
      const o = { text };
      if (req.include.includes('logprobs')) o.logprobs = logprobsOf(text);
      if (op !== 'translations') o.usage = ans.usage;
      return { contentType: 'application/json', body: JSON.stringify(o) };
    }
  }
}

// The SSE events of a streamed transcription (gpt-4o models): one delta per word, then done.
export function transcriptionStream(req, ans) {
  const pieces = ans.text.match(/\s*\S+\s*/g) ?? [ans.text];
  const withLogprobs = req.include.includes('logprobs');
  const out = pieces.map((delta) => ({ type: 'transcript.text.delta', delta, ...(withLogprobs ? { logprobs: logprobsOf(delta) } : {}) }));
  out.push({ type: 'transcript.text.done', text: ans.text, ...(withLogprobs ? { logprobs: logprobsOf(ans.text) } : {}), usage: ans.usage });
  return out;
}
