// One lifecycle, two hosts: the same configuration served by `aigw run` and, translated by
// `aigw translate`, by `aigw extproc` behind an emulated Envoy (lib/envoy.mjs, Envoy's official
// protos). The same requests go through both, against the same testupstream provider, and what
// the client sees must be the same: status, content type, body, and the costs (token usage) the
// request was charged.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import {
  startAigw, startTestupstream, gatewayYaml, openaiBackendYaml, b64, freePort, waitFor, AIGW_BIN, SLOW, redisAvailable, startRedis, redisCmd,
} from '../lib/harness.mjs';
import { HAVE_PROTOS, MiniEnvoy, extprocClient, translateToBundle, ROUTE_NOT_FOUND_TEXT } from '../lib/envoy.mjs';

const route = `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: r, namespace: default}
spec:
  parentRefs: [{name: aigw, kind: Gateway, group: gateway.networking.k8s.io}]
  rules:
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: gpt-4o-mini}]}]
      backendRefs: [{name: openai}]
      modelsOwnedBy: openai
      modelsCreatedAt: "2025-01-01T00:00:00Z"
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: claude}]}]
      backendRefs: [{name: bedrock, modelNameOverride: anthropic.claude-3-haiku}]
      modelsOwnedBy: anthropic
      modelsCreatedAt: "2025-02-01T00:00:00Z"
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: whisper-1}]}]
      backendRefs: [{name: openai, modelNameOverride: gpt-4o-transcribe}]
      excludeFromModelsEndpoint: true
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: tenant-model}]}]
      backendRefs: [{name: tenant}]
      excludeFromModelsEndpoint: true
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: tenant-md}]}]
      backendRefs: [{name: tenant-md}]
      excludeFromModelsEndpoint: true
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: claude-beta}]}]
      backendRefs: [{name: claude-aws, modelNameOverride: anthropic.claude-sonnet-4}]
      excludeFromModelsEndpoint: true
  llmRequestCosts:
    - {metadataKey: llm_input_token, type: InputToken}
    - {metadataKey: llm_output_token, type: OutputToken}
    - {metadataKey: llm_total_token, type: TotalToken}
`;

// A route under an API-key SecurityPolicy whose client has a VirtualKey of one token a day.
const keyed = `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: keyed, namespace: default}
spec:
  parentRefs: [{name: aigw, kind: Gateway, group: gateway.networking.k8s.io}]
  rules:
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: keyed-model}]}]
      backendRefs: [{name: openai}]
      excludeFromModelsEndpoint: true
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: keyed-other}]}]
      backendRefs: [{name: openai}]
      excludeFromModelsEndpoint: true
---
apiVersion: v1
kind: Secret
metadata: {name: client-keys, namespace: default}
stringData: {k1: sk-client-k1}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: keys, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: keyed}]
  apiKeyAuth:
    credentialRefs: [{name: client-keys}]
    extractFrom: [{headers: [x-api-key]}]
---
apiVersion: aigw.run/v1alpha1
kind: VirtualKey
metadata: {name: k1, namespace: default}
spec:
  clientID: k1
  allowedModels: [keyed-model]
  budgets: [{window: Day, tokens: 1}]
`;

// A route with the response cache on.
const cachedRoute = `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata:
  name: cachedr
  namespace: default
  annotations: {aigw.run/response-cache: "true"}
spec:
  parentRefs: [{name: aigw, kind: Gateway, group: gateway.networking.k8s.io}]
  rules:
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: cached-model}]}]
      backendRefs: [{name: openai}]
      excludeFromModelsEndpoint: true
`;

const bedrock = (port) => `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: bedrock, namespace: default}
spec:
  schema: {name: AWSBedrock}
  backendRef: {name: bedrock, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: bedrock, namespace: default}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: ${port}}}]
---
apiVersion: v1
kind: Secret
metadata: {name: aws, namespace: default}
stringData:
  credentials: |
    [default]
    aws_access_key_id = AKIDEXAMPLE
    aws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: aws, namespace: default}
spec:
  type: AWSCredentials
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: bedrock}]
  awsCredentials:
    region: us-east-1
    credentialsFile: {secretRef: {name: aws}}
`;

// A backend whose key each request brings (credentialOverride), never forwarded as sent.
const tenant = (port) => `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: tenant, namespace: default}
spec:
  schema: {name: OpenAI}
  backendRef: {name: tenant, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: tenant, namespace: default}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: ${port}}}]
---
apiVersion: v1
kind: Secret
metadata: {name: tenant-key, namespace: default}
stringData: {apiKey: sk-configured}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: tenant-key, namespace: default}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: tenant}]
  type: APIKey
  apiKey: {secretRef: {name: tenant-key}}
  credentialOverride:
    fromRequestHeaders: {fallbackToConfigured: false}
`;

// A backend whose key a trusted filter puts in Envoy's dynamic metadata.
const tenantFromMetadata = (port) => `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: tenant-md, namespace: default}
spec:
  schema: {name: OpenAI}
  backendRef: {name: tenant, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: tenant-md, namespace: default}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: tenant-md}]
  type: APIKey
  apiKey: {secretRef: {name: tenant-key}}
  credentialOverride:
    fromDynamicMetadata: {namespace: envoy.filters.http.ext_authz, fallbackToConfigured: false}
`;

// Claude on Bedrock, with anthropic-beta values it must not be sent (headerValueFilters).
const claudeAws = (port) => `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: claude-aws, namespace: default}
spec:
  schema: {name: AWSAnthropic}
  backendRef: {name: bedrock, kind: Backend, group: gateway.envoyproxy.io}
  headerValueFilters:
    - {name: anthropic-beta, mode: Denylist, values: [context-1m-2025-08-07, interleaved-thinking-2025-05-14]}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: aws-claude, namespace: default}
spec:
  type: AWSCredentials
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: claude-aws}]
  awsCredentials:
    region: us-east-1
    credentialsFile: {secretRef: {name: aws}}
`;
const claudeAnswer = JSON.stringify({ id: 'msg_01', type: 'message', role: 'assistant', model: 'claude-sonnet-4',
  content: [{ type: 'text', text: 'Hi' }], stop_reason: 'end_turn', usage: { input_tokens: 5, output_tokens: 1 } });

const responsesAnswer = JSON.stringify({
  id: 'resp_1', object: 'response', created_at: 1735689600, status: 'completed', model: 'gpt-4o-mini-2024-07-18',
  output: [{ type: 'message', id: 'msg_1', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'Hello!', annotations: [] }] }],
  usage: { input_tokens: 11, input_tokens_details: { cached_tokens: 0 }, output_tokens: 4, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 15 },
});
const responsesStream =
  'event: response.created\r\ndata: {"type":"response.created","response":{"id":"resp_2","model":"gpt-4o-mini","status":"in_progress","usage":null}}\r\n\r\n' +
  'event: response.output_text.delta\r\ndata: {"type":"response.output_text.delta","delta":"Hi"}\r\n\r\n' +
  'event: response.completed\r\ndata: {"type":"response.completed","response":{"id":"resp_2","model":"gpt-4o-mini","status":"completed","usage":{"input_tokens":6,"output_tokens":2,"total_tokens":8}}}\r\n\r\n';
const BOUNDARY = 'form-8c1f';
const form = (model) => `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\nRIFF\r\n` +
  `--${BOUNDARY}\r\nContent-Disposition: form-data; name="model"\r\n\r\n${model}\r\n--${BOUNDARY}--\r\n`;

const usageAnswer = JSON.stringify({
  id: 'chatcmpl-1', object: 'chat.completion', created: 1735689600, model: 'gpt-4o-mini-2024-07-18',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hello!' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 },
});
const sseAnswer =
  'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n' +
  'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}\n\n' +
  'data: [DONE]\n\n';

function withoutCreated(body) {
  try {
    const doc = JSON.parse(body);
    if (doc && typeof doc === 'object' && doc.object === 'chat.completion') {
      delete doc.created;
      return JSON.stringify(doc);
    }
  } catch {
    /* not JSON: compared as it is */
  }
  return body;
}

// The requests both hosts answer, each with the headers testupstream reads to shape its answer.
const CASES = [
  { name: 'an unknown path', method: 'POST', path: '/v1/nope', body: '{}', expect: { status: 404 } },
  { name: 'malformed JSON', path: '/v1/chat/completions', body: '{"model": "gpt-4o-mini", "messages": [', expect: { status: 400 } },
  { name: 'a body the backend schema rejects', path: '/v1/chat/completions',
    body: JSON.stringify({ model: 'claude', messages: [{ role: 'user', content: 'x' }], response_format: { type: 'json_schema', json_schema: { name: 'n', schema: {} } } }),
    expect: { status: 422 } },
  { name: 'the models list', method: 'GET', path: '/v1/models', expect: { status: 200 } },
  { name: 'an answer with usage', path: '/v1/chat/completions',
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
    headers: { 'x-response-body': b64(usageAnswer) },
    expect: { status: 200, costs: { llm_input_token: 9, llm_output_token: 3, llm_total_token: 12 } } },
  { name: 'a streamed answer', path: '/v1/chat/completions',
    body: JSON.stringify({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    headers: { 'x-response-type': 'sse', 'x-response-body': b64(sseAnswer), 'x-response-chunk-delay-ms': '1' },
    expect: { status: 200, costs: { llm_input_token: 5, llm_output_token: 2, llm_total_token: 7 } } },
  { name: 'a provider error (not JSON)', path: '/v1/chat/completions',
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
    headers: { 'x-response-status': '503', 'x-response-body': b64('upstream overloaded'), 'x-response-headers': b64('content-type:text/plain') },
    expect: { status: 503, costs: {} } },
  { name: 'a provider error (JSON)', path: '/v1/chat/completions',
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
    headers: { 'x-response-status': '400', 'x-response-body': b64('{"error":{"message":"bad","type":"invalid_request_error"}}'), 'x-response-headers': b64('content-type:application/json') },
    expect: { status: 400, costs: {} } },
  { name: 'a Responses API answer', path: '/v1/responses',
    body: JSON.stringify({ model: 'gpt-4o-mini', input: 'hi' }),
    headers: { 'x-response-body': b64(responsesAnswer), 'x-expected-path': b64('/v1/responses') },
    expect: { status: 200, costs: { llm_input_token: 11, llm_output_token: 4, llm_total_token: 15 } } },
  { name: 'a streamed Responses API answer, CRLF-framed', path: '/v1/responses',
    body: JSON.stringify({ model: 'gpt-4o-mini', input: 'hi', stream: true }),
    headers: { 'x-response-headers': b64('content-type:text/event-stream'), 'x-response-body': b64(responsesStream) },
    expect: { status: 200, costs: { llm_input_token: 6, llm_output_token: 2, llm_total_token: 8 } } },
  { name: 'an input token count', path: '/v1/responses/input_tokens',
    body: JSON.stringify({ model: 'gpt-4o-mini', input: 'hi' }),
    headers: { 'x-response-body': b64('{"object":"response.input_tokens","input_tokens":3}'), 'x-expected-path': b64('/v1/responses/input_tokens') },
    expect: { status: 200, costs: { llm_input_token: 3, llm_output_token: 0, llm_total_token: 0 } } },
  { name: 'an image generation with gpt-image usage', path: '/v1/images/generations',
    body: JSON.stringify({ model: 'gpt-4o-mini', prompt: 'a cat' }),
    headers: { 'x-response-body': b64('{"created":1,"data":[{"b64_json":"aGk="}],"usage":{"input_tokens":20,"output_tokens":100,"total_tokens":120}}'), 'x-expected-path': b64('/v1/images/generations') },
    expect: { status: 200, costs: { llm_input_token: 20, llm_output_token: 100, llm_total_token: 120 } } },
  { name: 'a transcription whose model is overridden in the form', path: '/v1/audio/transcriptions',
    body: form('whisper-1'),
    headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, 'x-expected-request-body': b64(form('gpt-4o-transcribe')), 'x-response-body': b64('{"text":"hello"}') },
    expect: { status: 200, costs: { llm_input_token: 0, llm_output_token: 0, llm_total_token: 0 } } },
  { name: 'a multipart body on a JSON endpoint', path: '/v1/chat/completions', body: form('gpt-4o-mini'),
    headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` }, expect: { status: 400 } },
  { name: 'tokenize to an OpenAI-compatible server', path: '/tokenize',
    body: JSON.stringify({ model: 'gpt-4o-mini', prompt: 'hello' }),
    headers: { 'x-response-body': b64('{"count":1,"max_model_len":8192,"tokens":[15339]}'), 'x-expected-path': b64('/tokenize') },
    expect: { status: 200, costs: { llm_input_token: 0, llm_output_token: 0, llm_total_token: 0 } } },
  { name: 'tokenize to Bedrock: count-tokens, answered as vLLM', path: '/tokenize',
    body: JSON.stringify({ model: 'claude', prompt: 'hello' }),
    headers: { 'x-response-body': b64('{"inputTokens":5}'), 'x-expected-path': b64('/model/anthropic.claude-3-haiku/count-tokens') },
    expect: { status: 200, costs: { llm_input_token: 0, llm_output_token: 0, llm_total_token: 0 } } },
  { name: 'an endpoint the schema does not serve', path: '/v1/responses',
    body: JSON.stringify({ model: 'claude', input: 'hi' }), expect: { status: 422 } },
  { name: 'a model retrieved', method: 'GET', path: '/v1/models/gpt-4o-mini', expect: { status: 200 } },
  { name: 'a model retrieved that is not there', method: 'GET', path: '/v1/models/whisper-1', expect: { status: 404 } },
  { name: 'the credential a request brings (credentialOverride)', path: '/v1/chat/completions',
    body: JSON.stringify({ model: 'tenant-model', messages: [{ role: 'user', content: 'hi' }] }),
    headers: { 'x-aigw-api-key': 'sk-tenant-42', 'x-expected-headers': b64('authorization:Bearer sk-tenant-42'),
      'x-non-expected-request-headers': b64('x-aigw-api-key'), 'x-response-body': b64(usageAnswer) },
    expect: { status: 200, costs: { llm_input_token: 9, llm_output_token: 3, llm_total_token: 12 } } },
  { name: 'anthropic-beta values a backend must not get are filtered out', path: '/v1/chat/completions',
    body: JSON.stringify({ model: 'claude-beta', messages: [{ role: 'user', content: 'hi' }] }),
    headers: { 'anthropic-beta': 'prompt-caching-2024-07-31, context-1m-2025-08-07', 'x-response-body': b64(claudeAnswer),
      'x-expected-headers': b64('anthropic-beta:prompt-caching-2024-07-31') },
    expect: { status: 200, costs: { llm_input_token: 5, llm_output_token: 1, llm_total_token: 6 } } },
  { name: 'an anthropic-beta header left empty by its filter is dropped', path: '/v1/chat/completions',
    body: JSON.stringify({ model: 'claude-beta', messages: [{ role: 'user', content: 'hi' }] }),
    headers: { 'anthropic-beta': 'context-1m-2025-08-07,interleaved-thinking-2025-05-14', 'x-response-body': b64(claudeAnswer),
      'x-non-expected-request-headers': b64('anthropic-beta') },
    expect: { status: 200, costs: { llm_input_token: 5, llm_output_token: 1, llm_total_token: 6 } } },
  { name: 'an Anthropic Messages request to Claude on Bedrock', path: '/anthropic/v1/messages',
    body: JSON.stringify({ model: 'claude-beta', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }),
    headers: { 'anthropic-version': '2023-06-01', 'x-response-body': b64(claudeAnswer),
      'x-expected-path': b64('/model/anthropic.claude-sonnet-4/invoke') },
    expect: { status: 200, costs: { llm_input_token: 5, llm_output_token: 1, llm_total_token: 6 } } },
  { name: 'anthropic-beta to Claude on Bedrock: the body\'s anthropic_beta, filtered, then the Bedrock allow-list', path: '/anthropic/v1/messages',
    body: JSON.stringify({ model: 'claude-beta', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }),
    headers: { 'anthropic-beta': 'context-1m-2025-08-07, files-api-2025-04-14,advanced-tool-use-2025-11-20,output-128k-2025-02-19',
      'x-response-body': b64(claudeAnswer), 'x-expected-path': b64('/model/anthropic.claude-sonnet-4/invoke'),
      'x-expected-request-json': b64(JSON.stringify({ max_tokens: 16, messages: [{ role: 'user', content: 'hi' }],
        anthropic_version: 'bedrock-2023-05-31', anthropic_beta: ['tool-search-tool-2025-10-19', 'output-128k-2025-02-19'] })) },
    expect: { status: 200 } },
  { name: 'a Messages count_tokens on Bedrock, answered in Anthropic\'s shape', path: '/anthropic/v1/messages/count_tokens',
    body: JSON.stringify({ model: 'claude-beta', messages: [{ role: 'user', content: 'hi' }] }),
    headers: { 'x-response-body': b64('{"inputTokens":7}'), 'x-expected-path': b64('/model/anthropic.claude-sonnet-4/count-tokens') },
    expect: { status: 200, costs: { llm_input_token: 7, llm_output_token: 0, llm_total_token: 0 } } },
  { name: 'an Anthropic Messages request to an OpenAI backend, translated both ways', path: '/anthropic/v1/messages',
    body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 16, system: 'be brief', messages: [{ role: 'user', content: 'hi' }] }),
    headers: { 'x-response-body': b64(usageAnswer), 'x-expected-path': b64('/v1/chat/completions'),
      'x-expected-request-json': b64(JSON.stringify({ model: 'gpt-4o-mini', max_completion_tokens: 16,
        messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi' }] })) },
    expect: { status: 200, costs: { llm_input_token: 9, llm_output_token: 3, llm_total_token: 12 } } },
  { name: 'an Anthropic Messages stream from an OpenAI backend', path: '/anthropic/v1/messages',
    body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 16, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    headers: { 'x-response-type': 'sse', 'x-response-body': b64(sseAnswer), 'x-response-chunk-delay-ms': '1',
      'x-expected-path': b64('/v1/chat/completions') },
    expect: { status: 200, costs: { llm_input_token: 5, llm_output_token: 2, llm_total_token: 7 } } },
  { name: 'an OpenAI backend\'s error to a Messages request, in Anthropic\'s shape', path: '/anthropic/v1/messages',
    body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }),
    headers: { 'x-response-status': '400', 'x-response-body': b64('{"error":{"message":"bad","type":"invalid_request_error"}}'), 'x-response-headers': b64('content-type:application/json') },
    expect: { status: 400, costs: {} } },
  { name: 'an Anthropic Messages request to Bedrock Converse, translated both ways', path: '/anthropic/v1/messages',
    body: JSON.stringify({ model: 'claude', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }),
    headers: { 'x-response-body': b64('{"output":{"message":{"role":"assistant","content":[{"text":"Hi"}]}},"stopReason":"end_turn","usage":{"inputTokens":4,"outputTokens":1,"totalTokens":5}}'),
      'x-response-headers': b64('x-amzn-requestid:req-hosts-1'), 'x-expected-path': b64('/model/anthropic.claude-3-haiku/converse') },
    expect: { status: 200, costs: { llm_input_token: 4, llm_output_token: 1, llm_total_token: 5 } } },
  { name: 'the Anthropic models list', method: 'GET', path: '/anthropic/v1/models', expect: { status: 200 } },
  { name: 'no credential where the request must bring one', path: '/v1/chat/completions',
    body: JSON.stringify({ model: 'tenant-model', messages: [{ role: 'user', content: 'hi' }] }), expect: { status: 401 } },
];

describe('one lifecycle: aigw run and aigw extproc answer alike', { skip: !HAVE_PROTOS && 'envoy protos not installed (make setup)' }, () => {
  let up;
  let gw;
  let extproc;
  let envoy;
  let client;
  let ledgerDir;
  let redis; // the ledgers' streams, when redis-server is here
  before(async () => {
    up = await startTestupstream({ id: 'both' });
    if (redisAvailable) redis = await startRedis();
    const streamArgs = (flag, keyFlag, key) => (redis ? [flag, `redis://127.0.0.1:${redis.port}`, keyFlag, key] : []);
    const config = (port) => gatewayYaml(port) + route + keyed + cachedRoute + openaiBackendYaml('openai', up.port, { apiKey: 'sk-same-key' }) + bedrock(up.port) + tenant(up.port) + tenantFromMetadata(up.port) + claudeAws(up.port);
    ledgerDir = mkdtempSync(path.join(os.tmpdir(), 'aigw-hosts-ledger-'));
    gw = await startAigw({ config, args: ['--usage-ledger', path.join(ledgerDir, 'run.jsonl'),
      ...streamArgs('--usage-ledger-redis', '--usage-ledger-stream', 'usage:run')] });
    // The same resources through the control plane: the filter configuration bundle upstream's
    // controller would hand the external processor.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-hosts-'));
    const input = path.join(dir, 'in.yaml');
    writeFileSync(input, config(1975));
    const bundle = await translateToBundle(input, dir);
    const port = await freePort();
    extproc = spawn(AIGW_BIN, ['extproc', '-configBundlePath', bundle, '-extProcAddr', `127.0.0.1:${port}`, '-adminPort', String(await freePort()), '-usageLedger', path.join(ledgerDir, 'extproc.jsonl'),
      ...streamArgs('-usageLedgerRedis', '-usageLedgerStream', 'usage:extproc')], { stdio: ['ignore', 'ignore', 'pipe'] });
    const stderrLines = [];
    extproc.once('exit', (c) => {
      if (c) console.error(`aigw extproc exited with ${c}:\n${stderrLines.join('\n')}`);
    });
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('aigw extproc: no ready line')), 10000 * SLOW);
      readline.createInterface({ input: extproc.stderr }).on('line', (l) => {
        stderrLines.push(l);
        if (l.includes('is ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      extproc.once('exit', (c) => reject(new Error(`aigw extproc exited ${c}`)));
    });
    client = extprocClient(`127.0.0.1:${port}`);
    envoy = new MiniEnvoy(client, {
      'gpt-4o-mini': { backend: 'default/openai/route/r/rule/0/ref/0', route: 'default/r', host: '127.0.0.1', port: up.port },
      claude: { backend: 'default/bedrock/route/r/rule/1/ref/0', route: 'default/r', host: '127.0.0.1', port: up.port },
      'whisper-1': { backend: 'default/openai/route/r/rule/2/ref/0', route: 'default/r', host: '127.0.0.1', port: up.port },
      'tenant-model': { backend: 'default/tenant/route/r/rule/3/ref/0', route: 'default/r', host: '127.0.0.1', port: up.port },
      'tenant-md': { backend: 'default/tenant-md/route/r/rule/4/ref/0', route: 'default/r', host: '127.0.0.1', port: up.port },
      'claude-beta': { backend: 'default/claude-aws/route/r/rule/5/ref/0', route: 'default/r', host: '127.0.0.1', port: up.port },
      'keyed-model': { backend: 'default/openai/route/keyed/rule/0/ref/0', route: 'default/keyed', host: '127.0.0.1', port: up.port },
      'keyed-other': { backend: 'default/openai/route/keyed/rule/1/ref/0', route: 'default/keyed', host: '127.0.0.1', port: up.port },
      'cached-model': { backend: 'default/openai/route/cachedr/rule/0/ref/0', route: 'default/cachedr', host: '127.0.0.1', port: up.port },
    });
  });
  after(async () => {
    client?.close();
    extproc?.kill('SIGTERM');
    await gw?.stop();
    await up?.stop();
    await redis?.stop();
  });

  async function viaRun(c, rid) {
    const res = await fetch(`${gw.base}${c.path}`, {
      method: c.method ?? 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': rid, ...(c.headers ?? {}) },
      body: c.method === 'GET' ? undefined : c.body,
    });
    const body = await res.text();
    const line = await gw.logLine((l) => l.request_id === rid);
    const costs = Object.fromEntries(Object.entries(line).filter(([k]) => k.startsWith('llm_')));
    return { status: res.status, contentType: res.headers.get('content-type') ?? '', body, costs };
  }

  for (const [i, c] of CASES.entries()) {
    it(`${c.name}: the same status, content type, body and costs`, async () => {
      const run = await viaRun(c, `same-${i}`);
      if (c.name === 'a streamed answer') assert.match(run.body, /data: \[DONE\]/);
      if (c.name === 'the models list') assert.deepEqual(JSON.parse(run.body).data.map((m) => m.id), ['gpt-4o-mini', 'claude']);
      const ext = await envoy.request({ method: c.method ?? 'POST', path: c.path, body: c.body,
        headers: { 'content-type': 'application/json', 'x-request-id': `same-${i}`, ...(c.headers ?? {}) } });
      assert.equal(ext.status, run.status, `status: run ${run.body} / extproc ${ext.body}`);
      assert.equal(ext.contentType.split(';')[0], run.contentType.split(';')[0]);
      // A translated answer is stamped with the second it was made (`created`): not compared.
      assert.equal(withoutCreated(ext.body), withoutCreated(run.body));
      assert.deepEqual(ext.costs, run.costs);
      // And what both answered is the expected answer, not a shared mistake.
      assert.equal(run.status, c.expect.status, run.body);
      if (c.expect.costs) assert.deepEqual(run.costs, c.expect.costs);
    });
  }

  it('a credential from Envoy metadata (fromDynamicMetadata): used under extproc, absent under aigw run', async () => {
    const body = JSON.stringify({ model: 'tenant-md', messages: [{ role: 'user', content: 'hi' }] });
    const headers = { 'content-type': 'application/json', 'x-expected-headers': b64('authorization:Bearer sk-from-ext-authz'),
      'x-response-body': b64(usageAnswer) };
    const ext = await envoy.request({ path: '/v1/chat/completions', body, headers,
      metadataContext: { 'envoy.filters.http.ext_authz': { fields: { 'x-aigw-api-key': { stringValue: 'sk-from-ext-authz' } } } } });
    assert.equal(ext.status, 200, ext.body);
    assert.equal(ext.costs.llm_total_token, 12);
    // Without the metadata (aigw run has no Envoy filters before it): no fallback, so 401.
    const none = await envoy.request({ path: '/v1/chat/completions', body, headers });
    assert.equal(none.status, 401);
    const run = await viaRun({ path: '/v1/chat/completions', body, headers }, 'md-run');
    assert.equal(run.status, 401);
    assert.equal(JSON.parse(run.body).error.message, 'missing upstream credential');
  });

  it('an unknown model: a 404 with upstream\'s message in both (Envoy\'s direct response under extproc)', async () => {
    const c = { path: '/v1/chat/completions', body: JSON.stringify({ model: 'nope', messages: [] }) };
    const run = await viaRun(c, 'unknown-model');
    const ext = await envoy.request({ path: c.path, body: c.body, headers: { 'content-type': 'application/json' } });
    assert.equal(run.status, 404);
    assert.equal(ext.status, 404);
    // The one deliberate difference: under Envoy no processor sees an unrouted request, and
    // `aigw translate` configures upstream's plain-text direct response; `aigw run` puts the same
    // text in the OpenAI error shape SDKs read (code model_not_found).
    assert.equal(ext.body, ROUTE_NOT_FOUND_TEXT);
    assert.equal(JSON.parse(run.body).error.message, ROUTE_NOT_FOUND_TEXT);
    assert.equal(JSON.parse(run.body).error.code, 'model_not_found');
  });

  it('a VirtualKey in both hosts: its client named from the API key, its model allowed, its token budget spent alike', async () => {
    const ask = (model) => ({ path: '/v1/chat/completions', body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
      headers: { 'x-api-key': 'sk-client-k1', 'x-response-body': b64(usageAnswer) } });
    const both = async (c, rid) => {
      const run = await viaRun(c, rid);
      const ext = await envoy.request({ path: c.path, body: c.body, headers: { 'content-type': 'application/json', 'x-request-id': rid, ...c.headers } });
      assert.equal(ext.status, run.status, `run ${run.body} / extproc ${ext.body}`);
      return { run, ext };
    };
    const first = await both(ask('keyed-model'), 'vk-1');
    assert.equal(first.run.status, 200, first.run.body);
    const refused = await both(ask('keyed-model'), 'vk-2');
    assert.equal(refused.run.status, 429);
    assert.equal(JSON.parse(refused.ext.body).error.code, 'insufficient_quota');
    assert.equal(JSON.parse(refused.ext.body).error.message, JSON.parse(refused.run.body).error.message);
    assert.match(JSON.parse(refused.run.body).error.message, /1 tokens per day \(UTC\), 0 remaining/);
    const other = await both(ask('keyed-other'), 'vk-3');
    assert.equal(other.run.status, 403);
    assert.equal(JSON.parse(other.ext.body).error.code, 'model_not_allowed');
    const line = await gw.logLine((l) => l.request_id === 'vk-1');
    assert.equal(line.client_id, 'k1');
    assert.equal(line.virtual_key, 'default/k1');
  });

  it('the response cache in both hosts: a miss, then a hit that never reaches the provider, streamed or not', async () => {
    const other = (body) => b64(body.replace('Hi', 'Changed').replace('Hello!', 'Changed!'));
    for (const stream of [false, true]) {
      const body = JSON.stringify({ model: 'cached-model', stream, messages: [{ role: 'user', content: `cache ${stream}` }] });
      const answer = stream ? sseAnswer : usageAnswer;
      const shape = (a) => (stream ? { 'x-response-type': 'sse', 'x-response-body': a, 'x-response-chunk-delay-ms': '1' } : { 'x-response-body': a });
      const runFirst = await fetch(`${gw.base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...shape(b64(answer)) }, body });
      const runFirstBody = await runFirst.text();
      assert.equal(runFirst.headers.get('x-aigw-cache'), 'miss');
      const extFirst = await envoy.request({ path: '/v1/chat/completions', body, headers: { 'content-type': 'application/json', ...shape(b64(answer)) } });
      assert.equal(extFirst.status, 200, extFirst.body);
      assert.equal(extFirst.headers['x-aigw-cache'], 'miss');
      // The provider would now answer otherwise: a hit still answers what was stored.
      const runHit = await fetch(`${gw.base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...shape(other(answer)) }, body });
      assert.equal(runHit.headers.get('x-aigw-cache'), 'hit');
      assert.equal(await runHit.text(), runFirstBody);
      const extHit = await envoy.request({ path: '/v1/chat/completions', body, headers: { 'content-type': 'application/json', ...shape(other(answer)) } });
      assert.equal(extHit.status, 200);
      assert.equal(extHit.local, true, 'under Envoy a hit is an immediate response');
      assert.equal(extHit.headers['x-aigw-cache'], 'hit');
      assert.equal(extHit.body, extFirst.body);
      assert.equal(extHit.contentType.split(';')[0], stream ? 'text/event-stream' : 'application/json');
      assert.ok(!extHit.body.includes('Changed'));
    }
  });

  it('the usage ledger: one record per request in both hosts, with the same model, tokens and dollars', async () => {
    const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'ledger' }] });
    const run = await viaRun({ path: '/v1/chat/completions', body }, 'ledger-1');
    const ext = await envoy.request({ path: '/v1/chat/completions', body, headers: { 'content-type': 'application/json', 'x-request-id': 'ledger-1' } });
    assert.equal(run.status, 200);
    assert.equal(ext.status, 200);
    const read = (f) => readFileSync(path.join(ledgerDir, f), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).find((r) => r.request_id === 'ledger-1');
    let a;
    let b;
    await waitFor(() => (a = read('run.jsonl')) && (b = read('extproc.jsonl')), 5000 * SLOW, 'both ledger records');
    for (const k of ['model', 'input_tokens', 'output_tokens', 'total_tokens', 'cost_usd', 'status']) assert.equal(b[k], a[k], k);
    assert.ok(a.cost_usd > 0, JSON.stringify(a));
    if (!redis) return;
    // The same records in each host's Redis stream.
    const entry = async (key) => {
      const all = await redisCmd(redis, 'XRANGE', key, '-', '+');
      const kv = all.map(([, f]) => f).find((f) => f[f.indexOf('request_id') + 1] === 'ledger-1');
      return kv && Object.fromEntries(kv.flatMap((v, i) => (i % 2 ? [] : [[v, kv[i + 1]]])));
    };
    let sa;
    let sb;
    await waitFor(async () => (sa = await entry('usage:run')) && (sb = await entry('usage:extproc')), 5000 * SLOW, 'both stream entries');
    for (const [rec, ent] of [[a, sa], [b, sb]]) {
      for (const k of ['model', 'input_tokens', 'output_tokens', 'cost_usd', 'status']) {
        if (typeof rec[k] === 'number') assert.ok(Math.abs(Number(ent[k]) - rec[k]) < 1e-12, `${k}: ${ent[k]} vs ${rec[k]}`);
        else assert.equal(ent[k], rec[k], k);
      }
    }
  });
});
