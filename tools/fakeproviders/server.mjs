#!/usr/bin/env node
// Fake LLM providers for aigw's end-to-end tests: AWS Bedrock (SigV4-checked; also its
// OpenAI-compatible endpoint), Azure OpenAI (+ Entra ID tokens), GCP Vertex AI (+ Google
// service-account tokens), Anthropic, Cohere, OpenAI (chat, embeddings, Responses, images, audio)
// and vLLM's /tokenize, all on one loopback port and all speaking the providers' real wire formats.
// See README.md beside this file.
import crypto from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import {
  sendJSON, parseJSON, bearer, chunkDelay, writeChunks, errorTrigger, midstreamTrigger, streamFault, faultPieces, endStream, ValidationError, isObject,
} from './lib/common.mjs';
import * as anth from './lib/anthropic.mjs';
import * as oai from './lib/openai.mjs';
import * as gem from './lib/gemini.mjs';
import * as bed from './lib/bedrock.mjs';
import { verifySigV4 } from './lib/sigv4.mjs';
import { GcpAuth, AzureAuth } from './lib/auth.mjs';
import * as coh from './lib/cohere.mjs';
import * as rsp from './lib/responses.mjs';
import * as media from './lib/media.mjs';
import * as tok from './lib/tokenize.mjs';
import { parseContentType, parseMultipart, MultipartError } from './lib/multipart.mjs';

export const DEFAULTS = Object.freeze({
  host: '127.0.0.1',
  port: 0,
  awsAccessKeyId: 'AKIDEXAMPLE',
  awsSecretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  awsSessionToken: '',
  awsRegion: 'us-east-1',
  awsMaxSkewSeconds: 900,
  azureApiKey: 'azure-test-key',
  azureTenantId: '11111111-2222-3333-4444-555555555555',
  azureClientId: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee',
  azureClientSecret: 'azure-client-secret',
  azureTokenTtlSeconds: 3599,
  anthropicApiKey: 'sk-ant-test',
  cohereApiKey: 'cohere-test-key',
  openaiApiKey: '',
  gcpProjectId: 'fake-project',
  gcpClientEmail: '',
  gcpTokenTtlSeconds: 3599,
  gcpRequireKid: true,
  gcpServiceAccountOut: '',
  chunkDelayMs: 5,
  sseDelimiter: 'crlf',
});

const envName = (k) => `FAKE_${k.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
const cliName = (k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

function coerce(key, value) {
  const def = DEFAULTS[key];
  if (typeof def === 'number') {
    const n = Number(value);
    if (!Number.isFinite(n)) throw new Error(`${cliName(key)} needs a number, got ${value}`);
    return n;
  }
  if (typeof def === 'boolean') return value === true || value === 'true' || value === '1';
  return String(value);
}

// Options: DEFAULTS < FAKE_* environment variables < explicit options.
export function makeConfig(opts = {}, env = process.env) {
  const cfg = {};
  for (const k of Object.keys(DEFAULTS)) {
    let v = DEFAULTS[k];
    if (env[envName(k)] !== undefined) v = coerce(k, env[envName(k)]);
    if (opts[k] !== undefined) v = coerce(k, opts[k]);
    cfg[k] = v;
  }
  if (!cfg.gcpClientEmail) cfg.gcpClientEmail = `fake-sa@${cfg.gcpProjectId}.iam.gserviceaccount.com`;
  return cfg;
}

function parseArgs(argv) {
  const byCli = new Map(Object.keys(DEFAULTS).map((k) => [cliName(k), k]));
  const opts = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') {
      process.stdout.write(`usage: node tools/fakeproviders/server.mjs [options]\n${[...byCli].map(([c, k]) => `  ${c} <${typeof DEFAULTS[k]}>  (env ${envName(k)}, default ${JSON.stringify(DEFAULTS[k])})`).join('\n')}\n`);
      process.exit(0);
    }
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(0, eq) : a;
    const key = byCli.get(name);
    if (!key) throw new Error(`unknown option ${a}`);
    let value;
    if (eq > 0) value = a.slice(eq + 1);
    else if (typeof DEFAULTS[key] === 'boolean' && (argv[i + 1] === undefined || argv[i + 1].startsWith('--'))) value = true;
    else value = argv[++i];
    if (value === undefined) throw new Error(`${name} needs a value`);
    opts[key] = value;
  }
  return opts;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const DELIMS = { lf: '\n', crlf: '\r\n', cr: '\r' };

export async function startFakeProviders(opts = {}) {
  const cfg = makeConfig(opts);
  const requests = [];
  let seq = 0;
  const gcp = new GcpAuth(cfg);
  await gcp.init();
  const azure = new AzureAuth(cfg);

  // ---------------------------------------------------------------- Bedrock
  async function bedrock(req, res, body, rawModel, op) {
    const rid = bed.requestIdHeaders();
    const fail = (status, message) => {
      const e = bed.bedrockError(status, message);
      sendJSON(res, e.status, e.body, { ...rid, ...e.headers });
    };
    const denied = await verifySigV4(req, body, cfg);
    if (denied) return sendJSON(res, denied.status, denied.body, { ...rid, ...denied.headers });
    let modelId;
    try {
      modelId = decodeURIComponent(rawModel);
    } catch {
      return fail(400, 'The provided model identifier is invalid.');
    }
    const parsed = parseJSON(body);
    if (!parsed.ok) return fail(400, 'Malformed input request, please reformat your input and try again.');
    const trig = errorTrigger(modelId);
    if (trig) return fail(trig);
    const b = parsed.value;
    if (op === 'count-tokens') {
      if (!tok.bedrockCountsTokens(modelId)) return fail(400, "The provided model doesn't support counting tokens.");
      try {
        return sendJSON(res, 200, tok.bedrockCountTokens(b, modelId), rid);
      } catch (e) {
        if (e instanceof ValidationError) return fail(400, e.message);
        throw e;
      }
    }
    const stream = op === 'converse-stream' || op === 'invoke-with-response-stream';
    const mid = midstreamTrigger(modelId);
    const delay = chunkDelay(req, cfg);
    const startStream = (extra = {}) => res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream', ...rid, ...extra });

    if (op === 'converse' || op === 'converse-stream') {
      try {
        bed.validateConverse(b, modelId);
      } catch (e) {
        if (e instanceof ValidationError) return fail(400, e.message);
        throw e;
      }
      const ans = bed.prepareConverseAnswer(bed.converseConv(b, modelId));
      if (!stream) return sendJSON(res, 200, bed.converseResponse(ans), rid);
      const list = bed.converseStreamEvents(ans);
      const events = list.map(([t, o]) => bed.eventMessage(t, o));
      const f = faultPieces(streamFault(modelId), events, (i) => list[i][0] === 'contentBlockDelta',
        bed.exceptionMessage(bed.STREAM_ERROR.type, bed.STREAM_ERROR.body));
      startStream();
      await writeChunks(res, f.pieces, delay);
      return endStream(res, f.then);
    }

    // InvokeModel / InvokeModelWithResponseStream
    if (/amazon\.titan-embed/.test(modelId)) {
      if (stream) return fail(400, 'The model is unsupported for streaming.');
      try {
        bed.validateTitan(b, modelId);
      } catch (e) {
        if (e instanceof ValidationError) return fail(400, e.message);
        throw e;
      }
      const out = bed.titanResponse(b, modelId);
      return sendJSON(res, 200, out, {
        ...rid,
        'x-amzn-bedrock-input-token-count': String(out.inputTextTokenCount),
        'x-amzn-bedrock-invocation-latency': '25',
      });
    }
    if (!/anthropic\./.test(modelId)) return fail(400, 'The provided model identifier is invalid.');
    if (isObject(b)) {
      if ('model' in b) return fail(400, 'Malformed input request: #: extraneous key [model] is not permitted, please reformat your input and try again.');
      if (b.anthropic_version === undefined) return fail(400, 'Malformed input request: #: required key [anthropic_version] not found, please reformat your input and try again.');
      if (b.anthropic_version !== 'bedrock-2023-05-31') return fail(400, `Malformed input request: #/anthropic_version: ${b.anthropic_version} is not a valid enum value, please reformat your input and try again.`);
      if ('stream' in b) return fail(400, 'Malformed input request: #: extraneous key [stream] is not permitted, please reformat your input and try again.');
    }
    try {
      anth.validateAnthropic(b, 'bedrock');
    } catch (e) {
      if (e instanceof ValidationError) return fail(400, e.message);
      throw e;
    }
    const ans = anth.prepareAnswer(anth.anthropicConv(b, modelId), 'bedrock');
    const u = ans.usage;
    const metricHeaders = {
      'x-amzn-bedrock-input-token-count': String(u.inputTokens),
      'x-amzn-bedrock-output-token-count': String(u.outputTokens),
      'x-amzn-bedrock-cache-read-input-token-count': String(u.cacheRead),
      'x-amzn-bedrock-cache-write-input-token-count': String(u.cacheWrite),
      'x-amzn-bedrock-invocation-latency': String(100 + u.outputTokens),
    };
    const model = modelId.replace(/^.*?anthropic\./, '').replace(/-v\d+:\d+$/, '');
    if (!stream) return sendJSON(res, 200, anth.anthropicMessage(ans, model), { ...rid, ...metricHeaders });
    const { events, firstDelta } = anth.anthropicStreamEvents(ans, model);
    const last = events[events.length - 1];
    last.data['amazon-bedrock-invocationMetrics'] = {
      inputTokenCount: u.inputTokens,
      outputTokenCount: u.outputTokens,
      invocationLatency: 100 + u.outputTokens,
      firstByteLatency: 50,
      cacheReadInputTokenCount: u.cacheRead,
      cacheWriteInputTokenCount: u.cacheWrite,
    };
    let msgs = events.map((e) => bed.eventMessage('chunk', { bytes: Buffer.from(JSON.stringify(e.data)).toString('base64') }));
    if (mid) msgs = [...msgs.slice(0, firstDelta + 1), bed.exceptionMessage(bed.STREAM_ERROR.type, bed.STREAM_ERROR.body)];
    startStream({ 'x-amzn-bedrock-content-type': 'application/json' });
    await writeChunks(res, msgs, delay);
    return res.end();
  }

  // ---------------------------------------------------------------- OpenAI / Azure OpenAI / Bedrock OpenAI
  // flavor: 'openai' (api.openai.com), 'azure' (Azure OpenAI: deployment = model), 'aws'
  // (Bedrock Runtime's OpenAI-compatible API: model in the body, OpenAI shapes, AWS request ids).
  function flavorOf(flavor) {
    const errBody = flavor === 'azure' ? oai.azureErrorBody : oai.openaiErrorBody;
    const extra = flavor === 'azure'
      ? { 'apim-request-id': crypto.randomUUID(), 'x-ms-region': 'East US', 'x-ratelimit-remaining-requests': '99', 'x-ratelimit-remaining-tokens': '99000' }
      : flavor === 'aws'
        ? bed.requestIdHeaders()
        : { 'x-request-id': `req_${crypto.randomUUID().replace(/-/g, '')}`, 'openai-processing-ms': '25' };
    return { errBody, extra };
  }

  const BAD_JSON = "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)";

  async function openaiLike(req, res, body, { flavor = 'openai', deployment, op }) {
    const isAzure = flavor === 'azure';
    const { errBody, extra } = flavorOf(flavor);
    const fail = (status, message, param, headers = {}) => sendJSON(res, status, errBody(status, message, param), { ...extra, ...headers });
    const parsed = parseJSON(body);
    if (!parsed.ok) return fail(400, BAD_JSON);
    const b = parsed.value;
    const model = isAzure && deployment !== undefined ? deployment : b?.model;
    // api.openai.com's rate-limit headers on every answer; a model with `quota-low` in its name
    // reports 0.5% of its tokens left.
    if (flavor === 'openai') {
      const low = String(model ?? '').includes('quota-low');
      Object.assign(extra, {
        'x-ratelimit-limit-requests': '10000', 'x-ratelimit-remaining-requests': '9999',
        'x-ratelimit-reset-requests': '6ms', 'x-ratelimit-limit-tokens': '200000',
        'x-ratelimit-remaining-tokens': low ? '1000' : '199000', 'x-ratelimit-reset-tokens': low ? '30s' : '300ms',
      });
    }
    const trig = errorTrigger(model) ?? (isAzure ? errorTrigger(b?.model) : null);
    if (trig) return fail(trig, undefined, null, trig === 429 ? { 'retry-after': '1', 'retry-after-ms': '1000' } : {});
    const requireModel = !isAzure || deployment === undefined;
    if (op === 'embeddings') {
      try {
        oai.validateEmbeddings(b, { requireModel });
      } catch (e) {
        if (e instanceof ValidationError) return fail(400, e.message, e.param);
        throw e;
      }
      return sendJSON(res, 200, oai.embeddingsResponse(b, model), extra);
    }
    try {
      oai.validateChat(b, { requireModel });
    } catch (e) {
      if (e instanceof ValidationError) return fail(400, e.message, e.param);
      throw e;
    }
    const ans = oai.prepareChatAnswer(oai.chatConv(b, model));
    if (!b.stream) return sendJSON(res, 200, oai.chatCompletion(ans, model, isAzure), extra);
    const includeUsage = !!b.stream_options?.include_usage;
    const chunks = oai.chatChunks(ans, model, isAzure, includeUsage);
    const fault = streamFault(model);
    const lines = chunks.map((c) => `data: ${JSON.stringify(c)}\n\n`);
    if (!fault) lines.push('data: [DONE]\n\n');
    const isContent = (i) => !!(chunks[i]?.choices?.[0]?.delta?.content || chunks[i]?.choices?.[0]?.delta?.tool_calls?.[0]?.function?.arguments);
    const f = faultPieces(fault, lines, isContent, `data: ${JSON.stringify(oai.MIDSTREAM_ERROR)}\n\n`, ['data: [DONE]\n\n']);
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...extra });
    await writeChunks(res, f.pieces, chunkDelay(req, cfg));
    return endStream(res, f.then);
  }

  // POST /v1/responses and /v1/responses/input_tokens (op 'responses' | 'input_tokens').
  async function responses(req, res, body, { flavor = 'openai', op }) {
    const { errBody, extra } = flavorOf(flavor);
    const fail = (status, message, param, headers = {}) => sendJSON(res, status, errBody(status, message, param), { ...extra, ...headers });
    const parsed = parseJSON(body);
    if (!parsed.ok) return fail(400, BAD_JSON);
    const b = parsed.value;
    const model = b?.model;
    const trig = errorTrigger(model);
    if (trig) return fail(trig, undefined, null, trig === 429 ? { 'retry-after': '1', 'retry-after-ms': '1000' } : {});
    try {
      rsp.validateResponses(b, { requireModel: op === 'responses', count: op === 'input_tokens' });
    } catch (e) {
      if (e instanceof ValidationError) return fail(400, e.message, e.param);
      throw e;
    }
    if (op === 'input_tokens') return sendJSON(res, 200, { object: 'response.input_tokens', input_tokens: rsp.inputTokens(b) }, extra);
    const ans = rsp.prepareResponsesAnswer(rsp.responsesConv(b, model));
    const answered = flavor === 'openai' ? rsp.snapshotOf(model) : model;
    if (!b.stream) return sendJSON(res, 200, rsp.responseObject(ans, b, answered), extra);
    const events = rsp.responsesStreamEvents(ans, b, answered, { midstream: midstreamTrigger(model) });
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...extra });
    await writeChunks(res, events.map(([t, d]) => rsp.sseEvent(t, d)), chunkDelay(req, cfg));
    return res.end();
  }

  // Azure's key or Entra token; null when accepted, else the 401 already sent.
  function azureDenied(req, res) {
    const key = req.headers['api-key'];
    const token = bearer(req);
    if (key !== undefined) {
      if (key === cfg.azureApiKey) return null;
      sendJSON(res, 401, oai.azureErrorBody(401));
    } else if (token) {
      if (azure.check(token) === 'ok') return null;
      sendJSON(res, 401, oai.azureErrorBody(401, 'Unauthorized. Access token is missing, invalid, audience is incorrect (https://cognitiveservices.azure.com), or have expired.'));
    } else {
      sendJSON(res, 401, oai.azureErrorBody(401, 'Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API.'));
    }
    return true;
  }

  async function azureOpenAI(req, res, body, deployment, op, query) {
    if (!query.get('api-version')) return sendJSON(res, 404, oai.azureErrorBody(404));
    if (azureDenied(req, res)) return undefined;
    let dep;
    try {
      dep = decodeURIComponent(deployment);
    } catch {
      return sendJSON(res, 404, oai.azureErrorBody(404, 'The API deployment for this resource does not exist.'));
    }
    return openaiLike(req, res, body, { flavor: 'azure', deployment: dep, op });
  }

  // /openai/responses[/input_tokens]?api-version=… (the model, a deployment name, in the body), and
  // the v1 API's /openai/v1/responses and /openai/v1/chat/completions (no api-version).
  async function azureV1(req, res, body, op, query, { v1 }) {
    if (!v1 && !query.get('api-version')) {
      return sendJSON(res, 400, oai.azureErrorBody(400, 'Missing required query parameter: api-version', 'api-version'));
    }
    if (azureDenied(req, res)) return undefined;
    if (op === 'chat') return openaiLike(req, res, body, { flavor: 'azure', op });
    return responses(req, res, body, { flavor: 'azure', op });
  }

  // Bedrock Runtime's OpenAI-compatible API: SigV4 (service bedrock), then OpenAI's wire format.
  async function awsOpenAI(req, res, body, op) {
    const denied = await verifySigV4(req, body, cfg);
    if (denied) return sendJSON(res, denied.status, denied.body, { ...bed.requestIdHeaders(), ...denied.headers });
    if (op === 'chat') return openaiLike(req, res, body, { flavor: 'aws', op });
    return responses(req, res, body, { flavor: 'aws', op });
  }

  // The bearer check of api.openai.com (and of vLLM's --api-key); null when accepted.
  function openaiDenied(req, res, errBody = oai.openaiErrorBody) {
    if (!cfg.openaiApiKey) return null;
    const token = bearer(req);
    if (token === cfg.openaiApiKey) return null;
    const msg = token
      ? `Incorrect API key provided: ${token.slice(0, 3)}*****${token.slice(-4)}. You can find your API key at https://platform.openai.com/account/api-keys.`
      : "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username. You can obtain an API key from https://platform.openai.com/account/api-keys.";
    sendJSON(res, 401, errBody(401, msg));
    return true;
  }

  async function openai(req, res, body, op) {
    if (openaiDenied(req, res)) return undefined;
    switch (op) {
      case 'responses':
      case 'input_tokens': return responses(req, res, body, { op });
      case 'images': return images(req, res, body);
      case 'speech': return speech(req, res, body);
      case 'transcriptions':
      case 'translations': return audioForm(req, res, body, op);
      default: return openaiLike(req, res, body, { op });
    }
  }

  // ---------------------------------------------------------------- OpenAI images and audio
  const openaiHeaders = () => ({ 'x-request-id': `req_${crypto.randomUUID().replace(/-/g, '')}`, 'openai-processing-ms': '25' });
  const openaiFail = (res, status, message, param = null, code) => {
    const e = oai.openaiErrorBody(status, message, param);
    if (code !== undefined) e.error.code = code;
    const headers = { ...openaiHeaders(), ...(status === 429 ? { 'retry-after': '1', 'retry-after-ms': '1000' } : {}) };
    return sendJSON(res, status, e, headers);
  };
  const modelNotFound = (res, model) => openaiFail(res, 404, `The model \`${model}\` does not exist or you do not have access to it.`, null, 'model_not_found');

  async function images(req, res, body) {
    const parsed = parseJSON(body);
    if (!parsed.ok) return openaiFail(res, 400, BAD_JSON);
    const b = parsed.value;
    const trig = errorTrigger(b?.model);
    if (trig) return openaiFail(res, trig);
    try {
      media.validateImage(b);
    } catch (e) {
      if (e instanceof ValidationError) return openaiFail(res, 400, e.message, e.param, e.code);
      throw e;
    }
    return sendJSON(res, 200, media.imageResponse(b, handle.url), openaiHeaders());
  }

  async function speech(req, res, body) {
    const parsed = parseJSON(body);
    if (!parsed.ok) return openaiFail(res, 400, BAD_JSON);
    const b = parsed.value;
    const trig = errorTrigger(b?.model);
    if (trig) return openaiFail(res, trig);
    try {
      media.validateSpeech(b);
    } catch (e) {
      if (e instanceof ValidationError) return openaiFail(res, 400, e.message, e.param, e.code);
      throw e;
    }
    const audio = media.fakeAudio(b.input, b.response_format ?? 'mp3');
    const delay = chunkDelay(req, cfg);
    // the audio in 4 pieces, as a stream would deliver it
    const q = Math.ceil(audio.length / 4);
    const pieces = [0, 1, 2, 3].map((i) => audio.subarray(i * q, (i + 1) * q)).filter((x) => x.length > 0);
    if (b.stream_format === 'sse') {
      const lines = pieces.map((p) => `data: ${JSON.stringify({ type: 'speech.audio.delta', audio: p.toString('base64') })}\n\n`);
      if (midstreamTrigger(b.model)) lines.splice(1, lines.length, `data: ${JSON.stringify(oai.MIDSTREAM_ERROR)}\n\n`);
      else lines.push(`data: ${JSON.stringify({ type: 'speech.audio.done', usage: media.speechUsage(b) })}\n\n`);
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...openaiHeaders() });
      await writeChunks(res, lines, delay);
      return res.end();
    }
    res.writeHead(200, { 'content-type': media.speechContentType(b), 'transfer-encoding': 'chunked', ...openaiHeaders() });
    await writeChunks(res, pieces, delay);
    return res.end();
  }

  // multipart/form-data bodies of /v1/audio/transcriptions and /translations.
  async function audioForm(req, res, body, op) {
    const ct = parseContentType(req.headers['content-type']);
    if (ct.type !== 'multipart/form-data') {
      return openaiFail(res, 400, `Invalid Content-Type header (${req.headers['content-type'] ?? 'none'}), expected multipart/form-data. (HINT: If you're using curl, you can pass -H 'Content-Type: multipart/form-data')`);
    }
    if (!ct.params.boundary) return openaiFail(res, 400, 'Could not parse multipart form: missing boundary in the Content-Type header.');
    let parts;
    try {
      parts = parseMultipart(body, ct.params.boundary);
    } catch (e) {
      if (e instanceof MultipartError) return openaiFail(res, 400, `Could not parse multipart form: ${e.message}.`);
      throw e;
    }
    const form = media.formOf(parts);
    const trig = errorTrigger(typeof form.model === 'string' ? form.model : '');
    if (trig) return openaiFail(res, trig);
    let r;
    try {
      r = media.validateAudioForm(form, op);
    } catch (e) {
      if (e instanceof ValidationError) return openaiFail(res, 400, e.message, e.param, e.code);
      throw e;
    }
    if (!media.isKnownAudioModel(r.model, op)) return modelNotFound(res, r.model);
    const ans = media.transcribe(r);
    if (!r.stream) {
      const out = media.transcriptionBody(r, ans, op);
      const buf = Buffer.from(out.body, 'utf8');
      res.writeHead(200, { 'content-type': out.contentType, 'content-length': buf.length, ...openaiHeaders() });
      return res.end(buf);
    }
    let lines = media.transcriptionStream(r, ans).map((e) => `data: ${JSON.stringify(e)}\n\n`);
    if (midstreamTrigger(r.model)) lines = [lines[0], `data: ${JSON.stringify(oai.MIDSTREAM_ERROR)}\n\n`];
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...openaiHeaders() });
    await writeChunks(res, lines, chunkDelay(req, cfg));
    return res.end();
  }

  // ---------------------------------------------------------------- vLLM /tokenize
  async function tokenize(req, res, body) {
    if (openaiDenied(req, res, (s, m) => tok.vllmErrorBody(s, m))) return undefined;
    const parsed = parseJSON(body);
    if (!parsed.ok) return sendJSON(res, 400, tok.vllmErrorBody(400, `JSON decode error: ${parsed.error}`));
    const b = parsed.value;
    const trig = errorTrigger(b?.model);
    if (trig) return sendJSON(res, trig, tok.vllmErrorBody(trig, `error ${trig} (model trigger)`));
    try {
      tok.validateTokenize(b);
    } catch (e) {
      if (e instanceof ValidationError) return sendJSON(res, 400, tok.vllmErrorBody(400, e.message, e.param));
      throw e;
    }
    return sendJSON(res, 200, tok.tokenizeResponse(b));
  }

  // ---------------------------------------------------------------- Anthropic (direct, Vertex)
  async function anthropicAnswer(req, res, b, flavor, model, extraHeaders) {
    const ans = anth.prepareAnswer(anth.anthropicConv(b, model), flavor);
    if (!b.stream) return sendJSON(res, 200, anth.anthropicMessage(ans, model), extraHeaders);
    const { events } = anth.anthropicStreamEvents(ans, model);
    const lines = events.map((e) => anth.sseEvent(e.type, e.data));
    const f = faultPieces(streamFault(model), lines, (i) => events[i].type === 'content_block_delta', anth.sseEvent('error', anth.OVERLOADED));
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...extraHeaders });
    await writeChunks(res, f.pieces, chunkDelay(req, cfg));
    return endStream(res, f.then);
  }

  // api.anthropic.com: POST /v1/messages and /v1/messages/count_tokens (op 'messages' | 'count_tokens')
  async function anthropic(req, res, body, op = 'messages') {
    const h = { 'request-id': `req_011C${randomTail()}` };
    const fail = (status, message, headers = {}) => sendJSON(res, status, anth.anthropicErrorBody(status, message), { ...h, ...headers });
    // the key as `x-api-key`, or as `Authorization: Bearer` (what the SDKs send since 1.0)
    const key = req.headers['x-api-key'];
    const token = bearer(req);
    if (key === undefined && !token) return fail(401, 'x-api-key header is required');
    if (key !== undefined ? key !== cfg.anthropicApiKey : token !== cfg.anthropicApiKey) {
      return fail(401, key !== undefined ? 'invalid x-api-key' : 'invalid bearer token');
    }
    const ver = req.headers['anthropic-version'];
    if (ver === undefined) return fail(400, 'anthropic-version: header is required');
    if (!anth.API_VERSIONS.includes(ver)) return fail(400, `anthropic-version: "${ver}" is not a valid version`);
    const parsed = parseJSON(body);
    if (!parsed.ok) return fail(400, `There was an error parsing the body of your request: ${parsed.error}`);
    const b = parsed.value;
    const trig = errorTrigger(b?.model);
    if (trig) return fail(trig, undefined, trig === 429 ? { 'retry-after': '1' } : {});
    try {
      if (op === 'count_tokens') return sendJSON(res, 200, tok.anthropicCountTokens(b), h);
      anth.validateAnthropic(b, 'anthropic');
    } catch (e) {
      if (e instanceof ValidationError) return fail(400, e.message);
      throw e;
    }
    return anthropicAnswer(req, res, b, 'anthropic', b.model, h);
  }

  // ---------------------------------------------------------------- Vertex AI
  async function vertex(req, res, body, m, query) {
    const [, , project, location, publisher, rawModel, method] = m;
    const gfail = (status, message, err) => sendJSON(res, status, gem.googleErrorBody(status, message, err));
    if (!gcp.valid(bearer(req))) {
      return sendJSON(res, 401, gem.googleErrorBody(401), { 'www-authenticate': 'Bearer realm="https://accounts.google.com/"' });
    }
    let model;
    try {
      model = decodeURIComponent(rawModel);
    } catch {
      return gfail(400, 'Invalid resource name.');
    }
    const resource = `projects/${project}/locations/${location}/publishers/${publisher}/models/${model}`;
    if (project !== cfg.gcpProjectId) {
      return gfail(403, `Permission 'aiplatform.endpoints.predict' denied on resource '//aiplatform.googleapis.com/${resource}' (or it may not exist).`);
    }
    const parsed = parseJSON(body);
    if (!parsed.ok) return gfail(400, `Invalid JSON payload received. ${parsed.error}`);
    const b = parsed.value;
    const trig = errorTrigger(model);
    const delay = chunkDelay(req, cfg);

    if (publisher === 'anthropic' && model === 'count-tokens') {
      // Anthropic token counting on Vertex: the Claude model is named in the body
      if (method !== 'rawPredict') return gfail(404, `Method ${method} is not supported for ${resource}.`);
      const t = errorTrigger(b?.model);
      if (t) return t === 429 ? gfail(t) : sendJSON(res, t, anth.anthropicErrorBody(t));
      // Vertex counts tokens for explicit model versions only, not the @default / @latest aliases
      if (typeof b?.model === 'string' && /@(default|latest)$/.test(b.model)) {
        return sendJSON(res, 400, anth.anthropicErrorBody(400, `Model ${b.model} is not supported for token counting.`));
      }
      try {
        return sendJSON(res, 200, tok.vertexAnthropicCountTokens(b));
      } catch (e) {
        if (e instanceof ValidationError) return sendJSON(res, 400, anth.anthropicErrorBody(400, e.message));
        throw e;
      }
    }
    if (publisher === 'anthropic') {
      if (method !== 'rawPredict' && method !== 'streamRawPredict') return gfail(404, `Method ${method} is not supported for ${resource}.`);
      if (trig) {
        if (trig === 429 || trig === 401 || trig === 403 || trig === 404) return gfail(trig);
        return sendJSON(res, trig, anth.anthropicErrorBody(trig));
      }
      try {
        anth.validateAnthropic(b, 'vertex');
      } catch (e) {
        if (e instanceof ValidationError) return sendJSON(res, 400, anth.anthropicErrorBody(400, e.message));
        throw e;
      }
      if (method === 'streamRawPredict' && b.stream !== true) {
        // streamRawPredict answers as a stream whatever the body says
        b.stream = true;
      }
      // Vertex names the model `claude-x@date` in paths and `claude-x-date` in answers
      return anthropicAnswer(req, res, b, 'vertex', model.replace('@', '-'), {});
    }
    if (publisher !== 'google') return gfail(404, `Publisher Model \`${resource}\` not found.`);
    if (trig) return gfail(trig);
    const validate = (fn) => {
      try {
        fn(b);
        return true;
      } catch (e) {
        if (e instanceof ValidationError) {
          gfail(400, e.message, e);
          return false;
        }
        throw e;
      }
    };
    switch (method) {
      case 'generateContent':
      case 'streamGenerateContent': {
        if (!validate(gem.validateGenerate)) return undefined;
        const ans = gem.prepareGeminiAnswer(gem.generateConv(b, model), b);
        if (method === 'generateContent') return sendJSON(res, 200, gem.generateResponse(ans, model));
        const chunks = gem.streamChunks(ans, model);
        const mid = midstreamTrigger(model);
        const errObj = gem.googleErrorBody(503);
        if (query.get('alt') === 'sse') {
          const name = String(req.headers['x-fake-sse-delimiter'] ?? cfg.sseDelimiter).toLowerCase();
          const d = DELIMS[name] ?? DELIMS.crlf;
          const lines = chunks.map((c) => `data: ${JSON.stringify(c)}${d}${d}`);
          const hasText = (c) => (c.candidates ?? []).some((cand) => (cand.content?.parts ?? []).some((p) => p.text || p.functionCall));
          const f = faultPieces(streamFault(model), lines, (i) => hasText(chunks[i]), `data: ${JSON.stringify(errObj)}${d}${d}`);
          res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-vertex-ai-internal-prediction-backend': 'fakeproviders' });
          await writeChunks(res, f.pieces, delay);
          return endStream(res, f.then);
        }
        // Without alt=sse: one JSON array, written element by element.
        let items = chunks.map((c) => JSON.stringify(c, null, 2));
        if (mid) items = [...items.slice(0, 1), JSON.stringify(errObj, null, 2)];
        const parts = items.map((s, i) => (i === 0 ? `[${s}` : `,\r\n${s}`));
        parts.push(']');
        res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
        await writeChunks(res, parts, delay);
        return res.end();
      }
      case 'countTokens': {
        if (!validate((x) => gem.validateGenerate({ contents: x.contents, ...(x.systemInstruction ? { systemInstruction: x.systemInstruction } : {}), ...(x.tools ? { tools: x.tools } : {}) }))) return undefined;
        const conv = gem.generateConv(b, model);
        const n = Math.max(1, conv.texts.reduce((s, t) => s + t.trim().split(/\s+/).filter(Boolean).length, 0));
        return sendJSON(res, 200, { totalTokens: n, totalBillableCharacters: conv.texts.join('').replace(/\s/g, '').length });
      }
      case 'predict':
        if (!validate(gem.validatePredict)) return undefined;
        return sendJSON(res, 200, gem.predictResponse(b, model));
      case 'embedContent':
        if (!validate(gem.validateEmbedContent)) return undefined;
        return sendJSON(res, 200, gem.embedContentResponse(b, model));
      default:
        return gfail(404, `Method ${method} is not supported for ${resource}.`);
    }
  }

  // ---------------------------------------------------------------- Cohere
  async function cohere(req, res, body) {
    const fail = (status, message) => sendJSON(res, status, coh.cohereErrorBody(status, message));
    const token = bearer(req);
    if (!token) return fail(401, 'no api key supplied');
    if (token !== cfg.cohereApiKey) return fail(401, 'invalid api token');
    const parsed = parseJSON(body);
    if (!parsed.ok) return fail(400, 'invalid request: could not parse JSON body.');
    const b = parsed.value;
    const trig = errorTrigger(b?.model);
    if (trig) return fail(trig);
    try {
      coh.validateRerank(b);
    } catch (e) {
      if (e instanceof ValidationError) return fail(400, e.message);
      throw e;
    }
    return sendJSON(res, 200, coh.rerankResponse(b), { 'x-debug-trace-id': randomTail() });
  }

  // ---------------------------------------------------------------- control endpoints
  function control(req, res, p) {
    if (p === '/__requests' && req.method === 'GET') return sendJSON(res, 200, requests);
    if (p === '/__requests' && req.method === 'DELETE') {
      const n = requests.length;
      requests.length = 0;
      return sendJSON(res, 200, { cleared: n });
    }
    if (p === '/__stats' && req.method === 'GET') {
      return sendJSON(res, 200, {
        requests: requests.length,
        gcpTokensIssued: gcp.issued,
        azureTokensIssued: azure.issued,
      });
    }
    if (p === '/__gcp_service_account' && req.method === 'GET') return sendJSON(res, 200, gcp.serviceAccount());
    if (p === '/__config' && req.method === 'GET') return sendJSON(res, 200, { ...cfg, port: handle.port });
    if (p === '/__expire_tokens' && req.method === 'POST') {
      gcp.expireAll();
      azure.expireAll();
      return sendJSON(res, 200, { expired: true });
    }
    if (p === '/__health') return sendJSON(res, 200, { ok: true });
    return sendJSON(res, 404, { error: `no control endpoint ${req.method} ${p}` });
  }

  // ---------------------------------------------------------------- routing
  const VERTEX = /^\/(v1|v1beta1)\/projects\/([^/]+)\/locations\/([^/]+)\/publishers\/([^/]+)\/models\/([^/:]+?)(?::|%3A|%3a)([A-Za-z]+)$/;

  async function route(req, res) {
    const url = req.url;
    const qi = url.indexOf('?');
    const p = qi < 0 ? url : url.slice(0, qi);
    const query = new URLSearchParams(qi < 0 ? '' : url.slice(qi + 1));
    const body = await readBody(req);
    if (p.startsWith('/__')) return control(req, res, p);
    const rec = {
      seq: ++seq,
      time: new Date().toISOString(),
      method: req.method,
      path: url,
      headers: { ...req.headers },
      body: body.toString('utf8'),
      status: null,
    };
    const ct = parseContentType(req.headers['content-type']);
    if (ct.type === 'multipart/form-data' && ct.params.boundary) {
      // the form as received, files as {filename, contentType, size}
      try {
        rec.form = {};
        for (const part of parseMultipart(body, ct.params.boundary)) {
          const v = part.filename !== null ? { filename: part.filename, contentType: part.contentType, size: part.data.length } : part.data.toString('utf8');
          rec.form[part.name] = rec.form[part.name] === undefined ? v : [].concat(rec.form[part.name], v);
        }
      } catch {
        rec.form = null;
      }
    }
    requests.push(rec);
    res.on('finish', () => {
      rec.status = res.statusCode;
    });
    let m;
    if (req.method === 'POST') {
      if ((m = /^\/model\/([^/]+)\/(converse|converse-stream|invoke|invoke-with-response-stream|count-tokens)$/.exec(p))) {
        return bedrock(req, res, body, m[1], m[2]);
      }
      if ((m = /^\/openai\/deployments\/([^/]+)\/(chat\/completions|embeddings)$/.exec(p))) {
        return azureOpenAI(req, res, body, m[1], m[2] === 'embeddings' ? 'embeddings' : 'chat', query);
      }
      if ((m = /^\/openai\/(v1\/)?(responses|responses\/input_tokens|chat\/completions)$/.exec(p)) && !(m[1] === undefined && m[2] === 'chat/completions')) {
        const op = m[2] === 'chat/completions' ? 'chat' : m[2] === 'responses' ? 'responses' : 'input_tokens';
        // /openai/v1/…: Bedrock's OpenAI-compatible API when SigV4-signed (or unauthenticated),
        // else Azure's v1 API (api-key or Entra bearer)
        const sigv4 = /^AWS4-HMAC-SHA256 /.test(String(req.headers.authorization ?? ''));
        const azureAuth = req.headers['api-key'] !== undefined || (!sigv4 && bearer(req));
        if (m[1] && !azureAuth && op !== 'input_tokens') return awsOpenAI(req, res, body, op);
        return azureV1(req, res, body, op, query, { v1: !!m[1] });
      }
      if ((m = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(p))) {
        const r = azure.token(decodeURIComponent(m[1]), body, req);
        return sendJSON(res, r.status, r.body, { 'cache-control': 'no-store, no-cache', pragma: 'no-cache' });
      }
      if (p === '/token') {
        const r = gcp.token(body, req.headers['content-type']);
        return sendJSON(res, r.status, r.body, { 'cache-control': 'no-cache, no-store, max-age=0, must-revalidate' });
      }
      if ((m = VERTEX.exec(p))) return vertex(req, res, body, m, query);
      if (p === '/v1/messages') return anthropic(req, res, body);
      if (p === '/v1/messages/count_tokens') return anthropic(req, res, body, 'count_tokens');
      if (p === '/v2/rerank') return cohere(req, res, body);
      if (p === '/v1/chat/completions') return openai(req, res, body, 'chat');
      if (p === '/v1/embeddings') return openai(req, res, body, 'embeddings');
      if (p === '/v1/responses') return openai(req, res, body, 'responses');
      if (p === '/v1/responses/input_tokens') return openai(req, res, body, 'input_tokens');
      if (p === '/v1/images/generations') return openai(req, res, body, 'images');
      if (p === '/v1/audio/speech') return openai(req, res, body, 'speech');
      if (p === '/v1/audio/transcriptions') return openai(req, res, body, 'transcriptions');
      if (p === '/v1/audio/translations') return openai(req, res, body, 'translations');
      if (p === '/tokenize') return tokenize(req, res, body);
    }
    return sendJSON(res, 404, { error: { code: 404, message: `fakeproviders: no route for ${req.method} ${p}`, status: 'NOT_FOUND' } });
  }

  const server = http.createServer((req, res) => {
    route(req, res).catch((e) => {
      console.error(`fakeproviders: ${req.method} ${req.url}: ${e.stack ?? e}`);
      if (!res.headersSent) sendJSON(res, 500, { error: { message: `fakeproviders internal error: ${e.message}` } });
      else res.destroy();
    });
  });
  const handle = {};
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.port, cfg.host, resolve);
  });
  const { port } = server.address();
  const base = `http://${cfg.host}:${port}`;
  gcp.setBaseUrl(base);
  if (cfg.gcpServiceAccountOut) writeFileSync(cfg.gcpServiceAccountOut, JSON.stringify(gcp.serviceAccount(), null, 2), { mode: 0o600 });
  Object.assign(handle, {
    port,
    url: base,
    config: cfg,
    requests,
    gcpServiceAccount: gcp.serviceAccount(),
    stats: () => ({ requests: requests.length, gcpTokensIssued: gcp.issued, azureTokensIssued: azure.issued }),
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  });
  return handle;
}

function randomTail() {
  return crypto.randomUUID().replace(/-/g, '').slice(0, 24);
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`fakeproviders: ${e.message}\n`);
    process.exit(2);
  }
  const fp = await startFakeProviders(opts);
  process.stdout.write(`fakeproviders listening on ${fp.config.host}:${fp.port}\n`);
  const stop = () => fp.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
