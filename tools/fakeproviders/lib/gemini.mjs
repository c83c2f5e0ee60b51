// Vertex AI Gemini: generateContent / streamGenerateContent, text embeddings (:predict) and
// gemini-embedding (:embedContent).
import {
  ValidationError, isObject, newConv, decide, randomId, words, textPieces, embedding, thinkingSignature,
} from './common.mjs';

class GoogleFieldError extends ValidationError {
  constructor(message, unknownField = false) {
    super(message);
    this.unknownField = unknownField;
  }
}

function fail(msg) {
  throw new GoogleFieldError(msg);
}

function checkKnown(obj, allowed, where) {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) {
      throw new GoogleFieldError(`Invalid JSON payload received. Unknown name "${k}"${where ? ` at '${where}'` : ''}: Cannot find field.`, true);
    }
  }
}

const TOP = ['contents', 'systemInstruction', 'tools', 'toolConfig', 'safetySettings', 'generationConfig', 'cachedContent', 'labels', 'model', 'modelArmorConfig'];
const GEN = [
  'temperature', 'topP', 'topK', 'candidateCount', 'maxOutputTokens', 'stopSequences', 'presencePenalty',
  'frequencyPenalty', 'responseMimeType', 'responseSchema', 'responseJsonSchema', 'seed', 'responseLogprobs',
  'logprobs', 'thinkingConfig', 'mediaResolution', 'responseModalities', 'speechConfig', 'audioTimestamp',
  'routingConfig', 'imageConfig', 'enableAffectiveDialog',
];
const PART = [
  'text', 'inlineData', 'fileData', 'functionCall', 'functionResponse', 'executableCode', 'codeExecutionResult',
  'thought', 'thoughtSignature', 'videoMetadata', 'mediaResolution',
];
const DATA_FIELDS = ['text', 'inlineData', 'fileData', 'functionCall', 'functionResponse', 'executableCode', 'codeExecutionResult'];

// Vertex's Schema message (an OpenAPI 3.0 subset): JSON Schema keywords outside it, such as
// $schema, oneOf, allOf or const, are refused as unknown fields, as the real API does.
const SCHEMA = [
  'type', 'format', 'title', 'description', 'nullable', 'default', 'items', 'minItems', 'maxItems', 'enum',
  'properties', 'propertyOrdering', 'required', 'minProperties', 'maxProperties', 'minLength', 'maxLength',
  'pattern', 'example', 'anyOf', 'minimum', 'maximum', 'additionalProperties', 'ref', '$ref', 'defs', '$defs',
];
const TYPES = ['TYPE_UNSPECIFIED', 'STRING', 'NUMBER', 'INTEGER', 'BOOLEAN', 'ARRAY', 'OBJECT', 'NULL'];

function checkSchema(sc, where) {
  if (!isObject(sc)) fail(`Invalid value at '${where}' (type.googleapis.com/google.cloud.aiplatform.v1.Schema), expected an object`);
  checkKnown(sc, SCHEMA, where);
  if (sc.type !== undefined && (typeof sc.type !== 'string' || !TYPES.includes(sc.type.toUpperCase()))) {
    fail(`Invalid value at '${where}.type' (type.googleapis.com/google.cloud.aiplatform.v1.Type), ${JSON.stringify(sc.type)}`);
  }
  if (sc.properties !== undefined) {
    if (!isObject(sc.properties)) fail(`Invalid value at '${where}.properties', expected an object`);
    for (const [k, v] of Object.entries(sc.properties)) checkSchema(v, `${where}.properties[${JSON.stringify(k)}].value`);
  }
  if (sc.items !== undefined) checkSchema(sc.items, `${where}.items`);
  if (sc.anyOf !== undefined) {
    if (!Array.isArray(sc.anyOf)) fail(`Invalid value at '${where}.any_of', expected a list`);
    sc.anyOf.forEach((x, i) => checkSchema(x, `${where}.any_of[${i}]`));
  }
  for (const dk of ['defs', '$defs']) {
    if (sc[dk] !== undefined) for (const [k, v] of Object.entries(sc[dk])) checkSchema(v, `${where}.defs[${JSON.stringify(k)}].value`);
  }
  if (isObject(sc.additionalProperties)) checkSchema(sc.additionalProperties, `${where}.additional_properties`);
  if (sc.required !== undefined && (!Array.isArray(sc.required) || sc.required.some((r) => typeof r !== 'string'))) {
    fail(`Invalid value at '${where}.required' (TYPE_STRING)`);
  }
  if (sc.enum !== undefined && (!Array.isArray(sc.enum) || sc.enum.some((r) => typeof r !== 'string'))) {
    fail(`Invalid value at '${where}.enum' (TYPE_STRING)`);
  }
}

function checkParts(parts, where) {
  if (!Array.isArray(parts) || parts.length === 0) {
    fail('Unable to submit request because it must include at least one parts field, which describes the prompt input. Learn more: https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/gemini');
  }
  parts.forEach((p, j) => {
    const w = `${where}.parts[${j}]`;
    if (!isObject(p)) fail(`Invalid value at '${w}' (type.googleapis.com/google.cloud.aiplatform.v1.Part), expected an object`);
    checkKnown(p, PART, w);
    const data = DATA_FIELDS.filter((k) => p[k] !== undefined);
    if (data.length === 0) fail(`Unable to submit request because it has an empty or missing data field in ${w}. Learn more: https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/gemini`);
    if (data.length > 1) fail(`Invalid value at '${w}': oneof field 'data' is already set. Cannot set '${data[1]}'`);
    if (p.text !== undefined) {
      if (typeof p.text !== 'string') fail(`Invalid value at '${w}.text' (TYPE_STRING)`);
      if (p.text === '') fail('Unable to submit request because it has an empty text parameter. Add a value to the parameter and try again. Learn more: https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/gemini');
    }
    if (p.inlineData !== undefined) {
      if (!isObject(p.inlineData) || typeof p.inlineData.mimeType !== 'string' || typeof p.inlineData.data !== 'string') {
        fail(`Unable to submit request because ${w}.inlineData must have mimeType and data.`);
      }
      if (!/^[A-Za-z0-9+/_-]*=*$/.test(p.inlineData.data)) fail(`Invalid value at '${w}.inline_data.data' (TYPE_BYTES), Base64 decoding failed`);
    }
    if (p.fileData !== undefined && (!isObject(p.fileData) || typeof p.fileData.mimeType !== 'string' || typeof p.fileData.fileUri !== 'string')) {
      fail(`Unable to submit request because ${w}.fileData must have mimeType and fileUri.`);
    }
    if (p.functionCall !== undefined && (!isObject(p.functionCall) || typeof p.functionCall.name !== 'string' || (p.functionCall.args !== undefined && !isObject(p.functionCall.args)))) {
      fail(`Invalid value at '${w}.function_call'`);
    }
    if (p.functionResponse !== undefined && (!isObject(p.functionResponse) || typeof p.functionResponse.name !== 'string' || !isObject(p.functionResponse.response))) {
      fail(`Invalid value at '${w}.function_response': name and response (an object) are required`);
    }
  });
}

export function validateGenerate(body) {
  if (!isObject(body)) fail('Invalid JSON payload received. Expected an object.');
  checkKnown(body, TOP, '');
  if (body.contents === undefined || (Array.isArray(body.contents) && body.contents.length === 0)) {
    fail('Unable to submit request because it must include at least one contents field. Learn more: https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/gemini');
  }
  if (!Array.isArray(body.contents)) fail("Invalid value at 'contents' (type.googleapis.com/google.cloud.aiplatform.v1.Content), expected a list");
  body.contents.forEach((c, i) => {
    const w = `contents[${i}]`;
    if (!isObject(c)) fail(`Invalid value at '${w}', expected an object`);
    checkKnown(c, ['role', 'parts'], w);
    if (c.role !== 'user' && c.role !== 'model') fail('Please use a valid role: user, model.');
    checkParts(c.parts, w);
  });
  if (body.systemInstruction !== undefined) {
    if (!isObject(body.systemInstruction)) fail("Invalid value at 'system_instruction', expected an object");
    checkKnown(body.systemInstruction, ['role', 'parts'], 'system_instruction');
    checkParts(body.systemInstruction.parts, 'system_instruction');
    if (body.systemInstruction.parts.some((p) => p.text === undefined)) fail('Unable to submit request because system_instruction can only contain text parts.');
  }
  if (body.tools !== undefined) {
    if (!Array.isArray(body.tools)) fail("Invalid value at 'tools', expected a list");
    body.tools.forEach((t, i) => {
      const w = `tools[${i}]`;
      if (!isObject(t)) fail(`Invalid value at '${w}', expected an object`);
      checkKnown(t, ['functionDeclarations', 'googleSearch', 'googleSearchRetrieval', 'retrieval', 'codeExecution', 'urlContext', 'enterpriseWebSearch', 'googleMaps', 'computerUse'], w);
      if (t.functionDeclarations !== undefined) {
        if (!Array.isArray(t.functionDeclarations)) fail(`Invalid value at '${w}.function_declarations', expected a list`);
        t.functionDeclarations.forEach((f, j) => {
          const fw = `${w}.function_declarations[${j}]`;
          if (!isObject(f)) fail(`Invalid value at '${fw}', expected an object`);
          checkKnown(f, ['name', 'description', 'parameters', 'parametersJsonSchema', 'response', 'responseJsonSchema'], fw);
          if (typeof f.name !== 'string' || !/^[a-zA-Z_][a-zA-Z0-9_.:-]{0,127}$/.test(f.name)) {
            fail(`Unable to submit request because function name \`${f.name}\` is invalid. The name must start with a letter or an underscore and contain only letters, numbers, underscores, dots, colons and dashes, with a maximum length of 128.`);
          }
          if (f.parameters !== undefined) checkSchema(f.parameters, `${fw}.parameters`);
          if (f.parameters !== undefined && f.parametersJsonSchema !== undefined) fail(`Unable to submit request because ${fw} sets both parameters and parametersJsonSchema.`);
        });
      }
    });
  }
  const g = body.generationConfig;
  if (g !== undefined) {
    if (!isObject(g)) fail("Invalid value at 'generation_config', expected an object");
    checkKnown(g, GEN, 'generation_config');
    if (g.maxOutputTokens !== undefined && (!Number.isInteger(g.maxOutputTokens) || g.maxOutputTokens < 1)) fail("Invalid value at 'generation_config.max_output_tokens' (TYPE_INT32)");
    if (g.temperature !== undefined && (typeof g.temperature !== 'number' || g.temperature < 0 || g.temperature > 2)) {
      fail(`Unable to submit request because it has a temperature value of ${g.temperature} but the supported range is from 0 (inclusive) to 2.0001 (exclusive). Update the value and try again.`);
    }
    if (g.topP !== undefined && (typeof g.topP !== 'number' || g.topP < 0 || g.topP > 1)) fail(`Unable to submit request because it has a topP value of ${g.topP} but the supported range is from 0 (inclusive) to 1.0001 (exclusive).`);
    if (g.stopSequences !== undefined && (!Array.isArray(g.stopSequences) || g.stopSequences.some((s) => typeof s !== 'string'))) fail("Invalid value at 'generation_config.stop_sequences' (TYPE_STRING)");
    if (g.responseMimeType !== undefined && !['text/plain', 'application/json', 'text/x.enum'].includes(g.responseMimeType)) {
      fail(`Unable to submit request because it has a response_mime_type of ${g.responseMimeType} which is not supported. Supported mime types: text/plain, application/json, text/x.enum.`);
    }
    if (g.responseSchema !== undefined) checkSchema(g.responseSchema, 'generation_config.response_schema');
    if (g.responseSchema !== undefined && g.responseMimeType === undefined) fail('Unable to submit request because response_schema is only supported with response_mime_type application/json or text/x.enum.');
    if (g.thinkingConfig !== undefined) {
      if (!isObject(g.thinkingConfig)) fail("Invalid value at 'generation_config.thinking_config', expected an object");
      checkKnown(g.thinkingConfig, ['thinkingBudget', 'includeThoughts', 'thinkingLevel'], 'generation_config.thinking_config');
      const b = g.thinkingConfig.thinkingBudget;
      if (b !== undefined && (!Number.isInteger(b) || b < -1)) fail("Invalid value at 'generation_config.thinking_config.thinking_budget' (TYPE_INT32)");
    }
  }
  if (body.toolConfig !== undefined) {
    const tc = body.toolConfig;
    if (!isObject(tc)) fail("Invalid value at 'tool_config', expected an object");
    checkKnown(tc, ['functionCallingConfig', 'retrievalConfig'], 'tool_config');
    const fc = tc.functionCallingConfig;
    if (fc !== undefined) {
      checkKnown(fc, ['mode', 'allowedFunctionNames', 'streamFunctionCallArguments'], 'tool_config.function_calling_config');
      if (fc.mode !== undefined && !['AUTO', 'ANY', 'NONE', 'VALIDATED', 'MODE_UNSPECIFIED'].includes(fc.mode)) {
        fail(`Invalid value at 'tool_config.function_calling_config.mode' (type.googleapis.com/google.cloud.aiplatform.v1.FunctionCallingConfig.Mode), "${fc.mode}"`);
      }
    }
  }
}

function responseText(response) {
  if (typeof response.content === 'string') return response.content;
  for (const k of ['output', 'result']) if (typeof response[k] === 'string') return response[k];
  const vals = Object.values(response);
  if (vals.length === 1 && typeof vals[0] === 'string') return vals[0];
  return JSON.stringify(response);
}

export function thinkingOn(body) {
  const tc = body.generationConfig?.thinkingConfig;
  if (!isObject(tc)) return false;
  return tc.thinkingBudget !== 0;
}

export function generateConv(body, model) {
  const conv = newConv(model);
  const addPart = (p) => {
    if (typeof p.text === 'string' && !p.thought) conv.texts.push(p.text);
    else if (p.functionCall) conv.texts.push(JSON.stringify(p.functionCall.args ?? {}));
    else if (p.functionResponse) conv.texts.push(responseText(p.functionResponse.response));
  };
  for (const p of body.systemInstruction?.parts ?? []) addPart(p);
  for (const c of body.contents) {
    conv.messageCount++;
    for (const p of c.parts) addPart(p);
    if (c.role === 'user') {
      const t = c.parts.filter((p) => typeof p.text === 'string').map((p) => p.text).join(' ');
      if (t) conv.lastUserText = t;
    }
  }
  const last = body.contents[body.contents.length - 1];
  if (last.role === 'model') conv.last = { kind: 'assistant', text: '' };
  else {
    const fr = last.parts.filter((p) => p.functionResponse);
    if (fr.length) conv.last = { kind: 'toolResult', text: fr.map((p) => responseText(p.functionResponse.response)).join(' ') };
    else conv.last = { kind: 'user', text: last.parts.filter((p) => typeof p.text === 'string').map((p) => p.text).join(' ') };
  }
  for (const t of body.tools ?? []) for (const f of t.functionDeclarations ?? []) conv.tools.push(f.name);
  const fc = body.toolConfig?.functionCallingConfig;
  if (fc?.mode === 'NONE') conv.toolChoice = { mode: 'none', name: null };
  else if (fc?.mode === 'ANY') {
    const names = fc.allowedFunctionNames ?? [];
    conv.toolChoice = names.length === 1 ? { mode: 'tool', name: names[0] } : { mode: 'any', name: null };
  }
  conv.thinking = thinkingOn(body);
  conv.maxTokens = body.generationConfig?.maxOutputTokens ?? null;
  conv.stopSequences = body.generationConfig?.stopSequences ?? [];
  return conv;
}

const FINISH = { end: 'STOP', max_tokens: 'MAX_TOKENS', stop_sequence: 'STOP', tool: 'STOP' };

export function prepareGeminiAnswer(conv, body) {
  const ans = decide(conv);
  ans.includeThoughts = !!body.generationConfig?.thinkingConfig?.includeThoughts;
  ans.cached = typeof body.cachedContent === 'string' ? Math.max(1, Math.floor(ans.usage.promptWords / 2)) : 0;
  ans.responseId = randomId(22);
  ans.createTime = new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
  return ans;
}

function usageMetadata(ans) {
  const prompt = Math.max(1, ans.usage.promptWords);
  const cand = ans.usage.answerTokens;
  const thoughts = ans.usage.thinkingTokens;
  const u = {
    promptTokenCount: prompt,
    candidatesTokenCount: cand,
    totalTokenCount: prompt + cand + thoughts,
    trafficType: 'ON_DEMAND',
    promptTokensDetails: [{ modality: 'TEXT', tokenCount: prompt }],
    candidatesTokensDetails: [{ modality: 'TEXT', tokenCount: cand }],
  };
  if (ans.cached) {
    u.cachedContentTokenCount = ans.cached;
    u.cacheTokensDetails = [{ modality: 'TEXT', tokenCount: ans.cached }];
  }
  if (thoughts) u.thoughtsTokenCount = thoughts;
  return u;
}

function answerParts(ans) {
  const parts = [];
  if (ans.kind === 'tool') {
    const p = { functionCall: { name: ans.name, args: ans.args } };
    if (ans.thinking) p.thoughtSignature = ans.thinking.signature;
    parts.push(p);
  } else {
    parts.push({ text: ans.text });
  }
  return parts;
}

export function generateResponse(ans, model) {
  const parts = [];
  if (ans.thinking && ans.includeThoughts) parts.push({ text: ans.thinking.text, thought: true });
  parts.push(...answerParts(ans));
  return {
    candidates: [{ content: { role: 'model', parts }, finishReason: FINISH[ans.stop], avgLogprobs: -0.1, index: 0 }],
    usageMetadata: usageMetadata(ans),
    modelVersion: model,
    createTime: ans.createTime,
    responseId: ans.responseId,
  };
}

// Stream chunks (GenerateContentResponse objects); usageMetadata only in the last one.
export function streamChunks(ans, model) {
  const chunks = [];
  const base = () => ({ modelVersion: model, createTime: ans.createTime, responseId: ans.responseId });
  const push = (parts, last = false) => {
    const cand = { content: { role: 'model', parts } };
    if (last) cand.finishReason = FINISH[ans.stop];
    const c = { candidates: [cand] };
    if (last) c.usageMetadata = usageMetadata(ans);
    chunks.push({ ...c, ...base() });
  };
  if (ans.thinking && ans.includeThoughts) {
    for (const p of textPieces(ans.thinking.text)) push([{ text: p, thought: true }]);
  }
  if (ans.kind === 'tool') {
    push(answerParts(ans), true);
  } else {
    const pieces = ans.text === '' ? [''] : textPieces(ans.text);
    pieces.forEach((p, i) => push([{ text: p }], i === pieces.length - 1));
  }
  return chunks;
}

// ---- embeddings ----

export function embeddingDims(model) {
  return /gemini-embedding/.test(model) ? 3072 : 768;
}

export function validatePredict(body) {
  if (!isObject(body)) fail('Invalid JSON payload received. Expected an object.');
  checkKnown(body, ['instances', 'parameters'], '');
  if (!Array.isArray(body.instances) || body.instances.length === 0) fail('Invalid instances: instances must be a non-empty list.');
  body.instances.forEach((inst, i) => {
    if (!isObject(inst) || typeof inst.content !== 'string') fail(`Invalid instance at index ${i}: content must be a string.`);
  });
  const p = body.parameters;
  if (p !== undefined && (!isObject(p) || (p.outputDimensionality !== undefined && (!Number.isInteger(p.outputDimensionality) || p.outputDimensionality < 1)))) {
    fail('Invalid parameters: outputDimensionality must be a positive integer.');
  }
}

export function predictResponse(body, model) {
  const dims = body.parameters?.outputDimensionality ?? embeddingDims(model);
  let chars = 0;
  const predictions = body.instances.map((inst) => {
    chars += inst.content.replace(/\s/g, '').length;
    return {
      embeddings: {
        statistics: { truncated: false, token_count: Math.max(1, words(inst.content)) },
        values: embedding(inst.content, dims),
      },
    };
  });
  return { predictions, metadata: { billableCharacterCount: chars } };
}

export function validateEmbedContent(body) {
  if (!isObject(body)) fail('Invalid JSON payload received. Expected an object.');
  checkKnown(body, ['content', 'taskType', 'title', 'outputDimensionality', 'autoTruncate', 'model'], '');
  if (!isObject(body.content)) fail('Unable to submit request because it must include a content field.');
  checkKnown(body.content, ['role', 'parts'], 'content');
  checkParts(body.content.parts, 'content');
  if (body.outputDimensionality !== undefined && (!Number.isInteger(body.outputDimensionality) || body.outputDimensionality < 1)) {
    fail("Invalid value at 'output_dimensionality' (TYPE_INT32)");
  }
}

export function embedContentResponse(body, model) {
  const text = body.content.parts.filter((p) => typeof p.text === 'string').map((p) => p.text).join(' ');
  const dims = body.outputDimensionality ?? embeddingDims(model);
  const n = Math.max(1, words(text));
  return {
    embedding: { values: embedding(text, dims) },
    usageMetadata: { promptTokenCount: n, totalTokenCount: n },
  };
}

// ---- errors ----

const STATUS = {
  400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL', 503: 'UNAVAILABLE', 504: 'DEADLINE_EXCEEDED',
};
const DEFAULT_MSG = {
  400: 'Request contains an invalid argument.',
  401: 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.',
  403: 'The caller does not have permission',
  404: 'Requested entity was not found.',
  429: 'Resource exhausted. Please try again later. Please refer to https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details.',
  500: 'Internal error encountered.',
  503: 'The model is overloaded. Please try again later.',
};

export function googleErrorBody(status, message, err) {
  const s = STATUS[status] ?? (status >= 500 ? 'INTERNAL' : 'INVALID_ARGUMENT');
  const e = { code: status, message: message ?? DEFAULT_MSG[status] ?? DEFAULT_MSG[status >= 500 ? 500 : 400], status: s };
  if (err?.unknownField) {
    e.details = [{ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ description: message }] }];
  }
  return { error: e };
}

export { thinkingSignature };
