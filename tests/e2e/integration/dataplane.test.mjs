// Upstream's data-plane table test (tests/data-plane/testupstream_test.go), ported: every case
// sends one request through the gateway to testupstream, whose x-expected-* headers check what the
// provider received (path, query, headers, and the body: byte for byte when passed through, as JSON
// when translated) and whose x-response-* headers shape its answer; the case then checks the
// status and body the client got. Where aigw deliberately differs from upstream, the expectation is
// aigw's and carries a `// difference: <id>` comment; docs/upstream-differences.md explains each
// id. Upstream runs Envoy + the external processor with a filterapi config; here `aigw run` serves
// the same backends, declared as upstream's resources, and routes by the same `x-test-backend`
// header. Requests are sent as Go's http.DefaultClient sends them (no Content-Type,
// `Accept-Encoding: gzip` with transparent decompression, a body even on a GET).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import zlib from 'node:zlib';
import OpenAI from 'openai';
import { startAigw, startTestupstream, b64, sleep } from '../lib/harness.mjs';

const r = String.raw;

// The constants of upstream's tests/data-plane/extproc_test.go.
const FAKE_GCP_AUTH_TOKEN = 'fake-gcp-auth-token';
// The static credential the AWS backend falls back to. It has no session token, so
// X-Amz-Security-Token upstream can only come from a per-request credential.
const FAKE_AWS_CREDENTIAL_FILE = '[default]\naws_access_key_id=AKIASTATICFALLBACK\naws_secret_access_key=static-fallback-secret\n';
const FAKE_AWS_PER_REQUEST_SESSION_TOKEN = 'per-request-session-token';
const AWS_CREDENTIAL_OVERRIDE_HEADERS = ['x-aigw-aws-access-key-id', 'x-aigw-aws-secret-access-key', 'x-aigw-aws-session-token'];

// --- the gateway configuration ---------------------------------------------------------------

function gateway(port, ns, gatewayConfig) {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: aigw}
spec: {controllerName: gateway.envoyproxy.io/gatewayclass-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: aigw
  namespace: ${ns}
${gatewayConfig ? `  annotations: {aigateway.envoyproxy.io/gateway-config: ${gatewayConfig}}\n` : ''}spec:
  gatewayClassName: aigw
  listeners: [{name: http, protocol: HTTP, port: ${port}}]
`;
}

// upstream's globalLLMRequestCosts.
function gatewayConfig(name, ns) {
  return `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: GatewayConfig
metadata: {name: ${name}, namespace: ${ns}}
spec:
  globalLLMRequestCosts:
    - {metadataKey: used_token, type: InputToken}
`;
}

// An AIServiceBackend and its Backend. `schema` is the flow mapping of spec.schema.
function backend(name, ns, schema, port, extraSpec = '') {
  return `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: ${name}, namespace: ${ns}}
spec:
  schema: ${schema}
  backendRef: {name: ${name}, kind: Backend, group: gateway.envoyproxy.io}
${extraSpec}---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: ${name}, namespace: ${ns}}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: ${port}}}]
`;
}

function securityPolicy(name, ns, targets, spec) {
  return `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: ${name}, namespace: ${ns}}
spec:
  targetRefs: [${targets.map((t) => `{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: ${t}}`).join(', ')}]
${spec}`;
}

function secret(name, ns, data) {
  return `---
apiVersion: v1
kind: Secret
metadata: {name: ${name}, namespace: ${ns}}
data:
${Object.entries(data).map(([k, v]) => `  ${k}: ${b64(v)}`).join('\n')}
`;
}

// One rule per x-test-backend value, as upstream's envoy.yaml routes (its x-ai-eg-model routes to
// real providers match none of these cases' models and are left out).
function route(name, ns, rules, extra = '') {
  return `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: ${name}, namespace: ${ns}}
spec:
  parentRefs: [{name: aigw, kind: Gateway, group: gateway.networking.k8s.io}]
  rules:
${rules.join('\n')}
${extra}`;
}

const testBackendRule = (value, backendRefs) =>
  `    - matches: [{headers: [{type: Exact, name: x-test-backend, value: ${value}}]}]
      backendRefs:
${backendRefs.map((b) => `        - ${b}`).join('\n')}`;

// envoy.yaml's virtual-host retry policy (5xx, gateway-error, reset, connect-failure; 5 retries;
// previous_priorities, i.e. the next priority on every retry; 30s per try).
function retryPolicy(ns, routes) {
  return `---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: retry, namespace: ${ns}}
spec:
  targetRefs: [${routes.map((n) => `{group: gateway.networking.k8s.io, kind: HTTPRoute, name: ${n}}`).join(', ')}]
  retry:
    numRetries: 5
    numAttemptsPerPriority: 1
    perRetry: {timeout: 30s}
    retryOn: {triggers: [5xx, gateway-error, reset, connect-failure]}
`;
}

const OPENAI_SCHEMA = '{name: OpenAI, prefix: v1}';

// TestWithTestUpstream's filterapi config: its backends, models and global cost.
function mainConfig({ port, ns = 'default', upstreamPort, errorPort, serviceAccount, modelsCreatedAt }) {
  const rules = [
    testBackendRule('openai', ['{name: testupstream-openai}']),
    testBackendRule('anthropic', ['{name: testupstream-anthropic}']),
    testBackendRule('modelname-override', ['{name: testupstream-modelname-override, modelNameOverride: override-model}']),
    testBackendRule('aws-bedrock', ['{name: testupstream-aws}']),
    // envoy.yaml's testupstream-azure cluster: the always-failing backend first, then testupstream.
    testBackendRule('azure-openai', ['{name: always-failing-backend, priority: 0}', '{name: testupstream-azure, priority: 1}']),
    testBackendRule('gcp-vertexai', ['{name: testupstream-gcp-vertexai}']),
    testBackendRule('gcp-anthropicai', ['{name: testupstream-gcp-anthropicai}']),
    testBackendRule('aws-anthropic', ['{name: testupstream-aws-anthropic}']),
    // A primary that answers 500 (its header mutation sets x-response-status), then testupstream.
    testBackendRule('modelname-override-and-fallback', [
      '{name: testupstream-openai-5xx, modelNameOverride: bad-model, priority: 0}',
      '{name: testupstream-openai, priority: 1}',
    ]),
    testBackendRule('body-mutation', [`name: testupstream-body-mutation
          bodyMutation:
            set: [{path: temperature, value: '0.5'}, {path: max_tokens, value: '150'}, {path: custom_field, value: '"route-level-value"'}]
            remove: [stream_options]`]),
    testBackendRule('body-mutation-anthropic', [`name: testupstream-body-mutation-anthropic
          bodyMutation:
            set: [{path: temperature, value: '0.7'}, {path: max_tokens, value: '200'}]`]),
    // The config's Models, served by /v1/models.
    `    - matches: [${['some-model1', 'some-model2', 'some-model3'].map((m) => `{headers: [{type: Exact, name: x-ai-eg-model, value: ${m}}]}`).join(', ')}]
      backendRefs: [{name: testupstream-openai}]
      modelsOwnedBy: "Envoy AI Gateway"
      modelsCreatedAt: "${modelsCreatedAt}"`,
  ];
  return (
    gateway(port, ns, 'dataplane') +
    gatewayConfig('dataplane', ns) +
    route('testupstream', ns, rules) +
    retryPolicy(ns, ['testupstream']) +
    backend('always-failing-backend', ns, OPENAI_SCHEMA, errorPort) +
    backend('testupstream-openai', ns, OPENAI_SCHEMA, upstreamPort) +
    backend('testupstream-modelname-override', ns, OPENAI_SCHEMA, upstreamPort) +
    backend('testupstream-aws', ns, '{name: AWSBedrock}', upstreamPort) +
    backend('testupstream-azure', ns, '{name: AzureOpenAI, version: 2025-01-01-preview}', upstreamPort) +
    backend('testupstream-gcp-vertexai', ns, '{name: GCPVertexAI}', upstreamPort) +
    backend('testupstream-gcp-anthropicai', ns, '{name: GCPAnthropic, version: vertex-2023-10-16}', upstreamPort) +
    backend('testupstream-aws-anthropic', ns, '{name: AWSAnthropic, version: bedrock-2023-05-31}', upstreamPort) +
    backend('testupstream-body-mutation', ns, OPENAI_SCHEMA, upstreamPort) +
    backend('testupstream-body-mutation-anthropic', ns, '{name: Anthropic}', upstreamPort) +
    backend('testupstream-openai-5xx', ns, OPENAI_SCHEMA, upstreamPort, `  headerMutation:
    set: [{name: x-response-status, value: "500"}]
`) +
    backend('testupstream-anthropic', ns, '{name: Anthropic}', upstreamPort) +
    secret('aws', ns, { credentials: FAKE_AWS_CREDENTIAL_FILE }) +
    // Signs with the static credential file and accepts a per-request one from the x-aigw-aws-*
    // headers (the default prefix of fromRequestHeaders for AWSCredentials), falling back to the
    // file without them; aigw strips the three headers before upstream, as upstream's controller
    // does with its HeaderMutation.
    securityPolicy('aws', ns, ['testupstream-aws'], `  type: AWSCredentials
  awsCredentials:
    region: us-east-1
    credentialsFile: {secretRef: {name: aws}}
  credentialOverride: {fromRequestHeaders: {fallbackToConfigured: true}}
`) +
    // Upstream's GCPAuth carries a ready access token; a service-account key exchanged at a local
    // token endpoint for that token is the nearest resource-level equivalent.
    secret('gcp', ns, { 'service_account.json': serviceAccount }) +
    securityPolicy('gcp', ns, ['testupstream-gcp-vertexai', 'testupstream-gcp-anthropicai'], `  type: GCPCredentials
  gcpCredentials:
    projectName: gcp-project-name
    region: gcp-region
    credentialsFile: {secretRef: {name: gcp}}
`) +
    secret('anthropic', ns, { apiKey: 'anthropic-api-key' }) +
    securityPolicy('anthropic', ns, ['testupstream-anthropic'], `  type: AnthropicAPIKey
  anthropicAPIKey: {secretRef: {name: anthropic}}
`)
  );
}

// --- helper servers ----------------------------------------------------------------------------

function listen(handler) {
  return new Promise((resolve) => {
    const srv = http.createServer(handler);
    srv.listen(0, '127.0.0.1', () => resolve({ port: srv.address().port, close: () => new Promise((r2) => srv.close(r2)) }));
  });
}

// extproc_test.go's error server: a 500 for every request.
const startErrorServer = () =>
  listen((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('Internal Server Error');
    });
  });

// A Google token endpoint that grants FAKE_GCP_AUTH_TOKEN for any JWT assertion.
async function startGcpTokenServer() {
  const srv = await listen((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ access_token: FAKE_GCP_AUTH_TOKEN, expires_in: 3600, token_type: 'Bearer' }));
    });
  });
  const { privateKey } = crypto.generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  srv.serviceAccount = JSON.stringify({
    type: 'service_account',
    project_id: 'gcp-project-name',
    private_key_id: 'dataplane-test',
    private_key: privateKey,
    client_email: 'dataplane@gcp-project-name.iam.gserviceaccount.com',
    client_id: '1',
    token_uri: `http://127.0.0.1:${srv.port}/token`,
  });
  return srv;
}

// --- the client --------------------------------------------------------------------------------

// One request as Go's http.DefaultClient sends it: an empty method is GET, the body goes out with
// a Content-Length whatever the method, no Content-Type unless given, `Accept-Encoding: gzip`
// added and a gzip answer decompressed (its Content-Encoding dropped).
function goRequest(base, { method, path, body = '', headers = {} }) {
  return new Promise((resolve, reject) => {
    const h = { 'User-Agent': 'Go-http-client/1.1', ...headers, 'Accept-Encoding': 'gzip' };
    if (body.length > 0) h['Content-Length'] = String(Buffer.byteLength(body));
    const req = http.request(`${base}${path}`, { method: method || 'GET', headers: h, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        let buf = Buffer.concat(chunks);
        const headersOut = { ...res.headers };
        if (headersOut['content-encoding'] === 'gzip') {
          try {
            buf = zlib.gunzipSync(buf);
          } catch (e) {
            return reject(new Error(`gzip answer does not decompress: ${e.message}`));
          }
          delete headersOut['content-encoding'];
          delete headersOut['content-length'];
        }
        resolve({ status: res.statusCode, headers: headersOut, body: buf.toString('utf8') });
      });
    });
    req.on('error', reject);
    req.end(body.length > 0 ? body : undefined);
  });
}

// Dynamically generated UUIDs and `created` timestamps are replaced as upstream does.
const UUID_RE = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
const CREATED_RE = /"created":\d+/g;
const normalize = (s) => s.replace(UUID_RE, '<UUID4-replaced>').replace(CREATED_RE, '"created":123');

function parseJSON(s, what) {
  try {
    return JSON.parse(s);
  } catch (e) {
    assert.fail(`${what} is not JSON (${e.message}): ${s}`);
  }
}

const contains = (body, s) => assert.ok(body.includes(s), `expected ${JSON.stringify(s)} in ${body}`);

// Upstream's checkModels: the body decoded into openai.ModelList equals `want`.
function checkModels(want) {
  return (body) => {
    const got = parseJSON(body, 'the models list');
    assert.equal(got.data?.length, want.data.length, body);
    assert.deepEqual(
      { object: got.object, data: got.data.map((m) => ({ id: m.id, object: m.object, owned_by: m.owned_by, created: m.created })) },
      want,
    );
  };
}

// Upstream's `now`: time.Unix(int64(time.Now().Second()), 0), a moment in the first minute of 1970.
const now = new Date(new Date().getSeconds() * 1000);
const expectedModels = {
  object: 'list',
  data: ['some-model1', 'some-model2', 'some-model3'].map((id) => ({ id, object: 'model', owned_by: 'Envoy AI Gateway', created: now.getTime() / 1000 })),
};

// The schema each x-test-backend value's backend speaks.
const BACKEND_SCHEMA = {
  openai: 'OpenAI',
  'modelname-override': 'OpenAI',
  'modelname-override-and-fallback': 'OpenAI',
  'azure-openai': 'OpenAI',
  'body-mutation': 'OpenAI',
  anthropic: 'Anthropic',
  'body-mutation-anthropic': 'Anthropic',
  'aws-bedrock': 'AWSBedrock',
  'gcp-vertexai': 'GCPVertexAI',
  'gcp-anthropicai': 'GCPAnthropic',
  'aws-anthropic': 'AWSAnthropic',
};

// Whether the gateway translates the case's request body into another schema. Upstream compares
// every expected body byte for byte, which pins the key order of its Go structs; providers parse
// JSON and do not care, so a translated body is compared as JSON (testupstream's
// x-expected-request-json: key order ignored, arrays in order, numbers by value). A passthrough
// body keeps the byte comparison: the gateway must not reformat what it does not translate.
function translated(tc) {
  const ingress = tc.path.startsWith('/anthropic/') ? 'Anthropic' : 'OpenAI';
  const schema = BACKEND_SCHEMA[tc.backend];
  assert.ok(schema, `unmapped backend ${tc.backend}`);
  return schema !== ingress;
}

// Sends one table case and checks the answer as upstream's t.Run body does.
async function runCase(gw, tc) {
  const headers = {
    'x-test-backend': tc.backend ?? '',
    'x-response-body': b64(tc.responseBody ?? ''),
    'x-expected-path': b64(tc.expPath ?? ''),
    'x-response-status': tc.responseStatus ?? '',
  };
  const expHeaders = Object.entries(tc.expRequestHeaders ?? {}).map(([k, v]) => `${k}:${v}`);
  if (expHeaders.length > 0) headers['x-expected-headers'] = b64(expHeaders.join(','));
  if (tc.expRawQuery) headers['x-expected-raw-query'] = tc.expRawQuery;
  if (tc.expHost) headers['x-expected-host'] = tc.expHost;
  if (tc.responseType) headers['x-response-type'] = tc.responseType;
  if (tc.responseHeaders) headers['x-response-headers'] = b64(tc.responseHeaders);
  // A passthrough body is compared byte for byte, as upstream; a translated one as JSON (see
  // translated()).
  if (tc.expRequestBody) headers[translated(tc) ? 'x-expected-request-json' : 'x-expected-request-body'] = b64(tc.expRequestBody);
  Object.assign(headers, tc.requestHeaders ?? {});
  if (tc.nonExpectedRequestHeaders?.length) headers['x-non-expected-request-headers'] = b64(tc.nonExpectedRequestHeaders.join(','));
  // Names the request's access-log line, for expLoggedUsage.
  const requestId = `dataplane-${crypto.randomUUID()}`;
  if (tc.expLoggedUsage) headers['x-request-id'] = requestId;

  const res = await goRequest(gw.base, { method: tc.method, path: tc.path, body: tc.requestBody ?? '', headers });
  assert.equal(res.status, tc.expStatus, `status ${res.status} (expected ${tc.expStatus}), body: ${res.body}`);

  const expected = tc.expResponseBody || tc.responseBody || '';
  if (tc.expResponseBodyFunc) {
    tc.expResponseBodyFunc(res.body);
  } else if (tc.responseType || tc.expStatus === 404) {
    // Plain-text comparison for streams and 404s.
    assert.equal(normalize(res.body).trim(), normalize(expected).trim(), 'Response body mismatch');
  } else {
    assert.deepEqual(parseJSON(normalize(res.body), 'the response body'), parseJSON(normalize(expected), 'the expected body'), 'Response body mismatch');
  }
  for (const [k, v] of Object.entries(tc.expResponseHeaders ?? {})) {
    assert.equal(res.headers[k.toLowerCase()], v, `Header ${k} mismatch`);
  }
  if (tc.expLoggedUsage) await checkLoggedUsage(gw, requestId, tc.expLoggedUsage);
}

// The usage (and the used_token cost) aigw recorded for the request, from its access log: where
// the client did not ask for the usage chunk, aigw does not relay it (difference
// usage-chunk-only-when-asked), so the log is where the usage upstream's chunk carried is checked.
async function checkLoggedUsage(gw, requestId, want) {
  const line = await gw.logLine((l) => l['x-request-id'] === requestId);
  for (const [k, v] of Object.entries(want)) assert.equal(line[k], v, `access log ${k}: ${JSON.stringify(line)}`);
}

// toolCallResultsRequestBody.
const TOOL_CALL_RESULTS_REQUEST_BODY = r`{
  "model": "gpt-4-0613",
  "max_completion_tokens":1024,
  "messages": [
    {"role": "user","content": "List the files in the /tmp directory"},
    {
      "role": "assistant",
      "tool_calls": [
        {
          "id": "call_abc123",
          "type": "function",
          "function": {
            "name": "list_files",
            "arguments": "{ \"path\": \"/tmp\" }"
          }
        }
      ]
    },
    {
      "role": "tool",
      "tool_call_id": "call_abc123",
      "content": "[\"foo.txt\", \"bar.log\", \"data.csv\"]"
    }
  ]
}`;

// TestWithTestUpstream's table, case for case.
const CASES = [
  {
    name: 'openai - /v1/images/generations',
    backend: 'openai',
    path: '/v1/images/generations',
    method: 'POST',
    requestBody: '{"model":"gpt-image-1-mini","prompt":"a cat wearing sunglasses","size":"1024x1024","quality":"low"}',
    expPath: '/v1/images/generations',
    responseBody: '{"created":1736890000,"data":[{"url":"https://example.com/image1.png"}],"model":"gpt-image-1-mini","usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}}',
    expStatus: 200,
    expResponseBody: '{"created":1736890000,"data":[{"url":"https://example.com/image1.png"}],"model":"gpt-image-1-mini","usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}}',
  },
  {
    name: 'openai - /v1/images/generations - non json upstream error mapped to OpenAI',
    backend: 'openai',
    path: '/v1/images/generations',
    method: 'POST',
    requestBody: '{"model":"dall-e-3","prompt":"a scenic beach"}',
    expPath: '/v1/images/generations',
    responseHeaders: 'content-type:text/plain',
    responseStatus: '503',
    responseBody: 'backend timeout',
    expStatus: 503,
    expResponseBody: '{"error":{"type":"OpenAIBackendError","message":"backend timeout","code":"503"},"type":"error"}',
  },
  {
    name: 'unknown path',
    path: '/unknown',
    requestBody: '{"prompt": "hello"}',
    expStatus: 404,
    expResponseBody: 'unsupported path: /unknown',
  },
  {
    name: 'openai - /v1/chat/completions - malformed JSON request',
    backend: 'openai',
    path: '/v1/chat/completions',
    method: 'POST',
    requestBody: '{"model": "something", "messages": [invalid json',
    expStatus: 400,
    expResponseBodyFunc: (body) => {
      contains(body, '"type":"error"');
      contains(body, '"type":"BadRequest"');
      contains(body, '"code":"400"');
      contains(body, 'malformed request: failed to parse JSON for /v1/chat/completions:');
    },
  },
  {
    name: 'gcp-anthropicai - /v1/chat/completions - missing max_tokens',
    backend: 'gcp-anthropicai',
    path: '/v1/chat/completions',
    method: 'POST',
    requestBody: '{"model":"claude-3-sonnet","messages":[{"role":"user","content":"Hello"}]}',
    // difference: anthropic-default-max-tokens (upstream sends "max_tokens":0)
    expRequestBody: '{"max_tokens":4096,"messages":[{"content":[{"text":"Hello","type":"text"}],"role":"user"}],"anthropic_version":"vertex-2023-10-16"}',
    expPath: '/v1/projects/gcp-project-name/locations/gcp-region/publishers/anthropic/models/claude-3-sonnet:rawPredict',
    responseStatus: '400',
    responseBody: '{"error":{"type":"invalid_request_error","message":"max_tokens: Value must be greater than or equal to 1"}}',
    expStatus: 400,
    expResponseBody: '{"type":"error","error":{"type":"invalid_request_error","code":"400","message":"max_tokens: Value must be greater than or equal to 1"}}',
  },
  {
    name: 'aws-anthropic - /v1/chat/completions - missing max_tokens',
    backend: 'aws-anthropic',
    path: '/v1/chat/completions',
    method: 'POST',
    requestBody: '{"model":"anthropic.claude-3-sonnet-20240229-v1:0","messages":[{"role":"user","content":"Hello"}]}',
    // difference: anthropic-default-max-tokens (upstream sends "max_tokens":0)
    expRequestBody: '{"max_tokens":4096,"messages":[{"content":[{"text":"Hello","type":"text"}],"role":"user"}],"anthropic_version":"bedrock-2023-05-31"}',
    expPath: '/model/anthropic.claude-3-sonnet-20240229-v1:0/invoke',
    responseHeaders: 'x-amzn-errortype:invalid_request_error',
    responseStatus: '400',
    responseBody: '{"message":"max_tokens: Value must be greater than or equal to 1"}',
    expStatus: 400,
    expResponseBody: '{"type":"error","error":{"type":"invalid_request_error","code":"400","message":"max_tokens: Value must be greater than or equal to 1"}}',
  },
  {
    name: 'aws system role - /v1/chat/completions',
    backend: 'aws-bedrock',
    path: '/v1/chat/completions',
    requestBody: '{"model":"something","messages":[{"role":"system","content":"You are a chatbot."}]}',
    expPath: '/model/something/converse',
    responseBody: '{"output":{"message":{"content":[{"text":"response"},{"text":"from"},{"text":"assistant"}],"role":"assistant"}},"stopReason":null,"usage":{"inputTokens":10,"outputTokens":20,"totalTokens":30}}',
    expRequestBody: '{"inferenceConfig":{},"messages":[],"system":[{"text":"You are a chatbot."}]}',
    // difference: post-only-endpoints (no method: Go sends a GET, which upstream serves as POST)
    expStatus: 405,
    responseHeaders: 'x-amzn-requestid:2bc5b090-a26c-4007-9467-ce5adc4ffa1d',
    expResponseBody: '{"type":"error","error":{"type":"MethodNotAllowed","code":"405","message":"method GET is not allowed on /v1/chat/completions"}}',
  },
  {
    name: 'aws-bedrock - spoofed signing-host header is stripped before upstream',
    backend: 'aws-bedrock',
    path: '/v1/chat/completions',
    method: 'POST',
    requestBody: '{"model":"something","messages":[{"role":"system","content":"You are a chatbot."}]}',
    expPath: '/model/something/converse',
    responseBody: '{"output":{"message":{"content":[{"text":"response"},{"text":"from"},{"text":"assistant"}],"role":"assistant"}},"stopReason":null,"usage":{"inputTokens":10,"outputTokens":20,"totalTokens":30}}',
    expRequestBody: '{"inferenceConfig":{},"messages":[],"system":[{"text":"You are a chatbot."}]}',
    expStatus: 200,
    responseHeaders: 'x-amzn-requestid:2bc5b090-a26c-4007-9467-ce5adc4ffa1d',
    // difference: usage-zero-details
    // difference: bedrock-text-blocks-joined
    expResponseBody: '{"choices":[{"finish_reason":"stop","index":0,"message":{"content":"responsefromassistant","role":"assistant"}}],"id":"2bc5b090-a26c-4007-9467-ce5adc4ffa1d","created":123,"model":"something","object":"chat.completion","usage":{"completion_tokens":20,"prompt_tokens":10,"total_tokens":30,"prompt_tokens_details":{"cached_tokens":0,"cache_creation_input_tokens":0,"cache_write_tokens":0}}}',
    requestHeaders: { 'x-ai-eg-upstream-host': 'attacker.example.com' },
    nonExpectedRequestHeaders: ['x-ai-eg-upstream-host'],
  },
  {
    name: 'aws-bedrock - per-request credential signs and is stripped before upstream',
    backend: 'aws-bedrock',
    path: '/v1/chat/completions',
    method: 'POST',
    requestBody: '{"model":"something","messages":[{"role":"system","content":"You are a chatbot."}]}',
    expPath: '/model/something/converse',
    responseBody: '{"output":{"message":{"content":[{"text":"response"},{"text":"from"},{"text":"assistant"}],"role":"assistant"}},"stopReason":null,"usage":{"inputTokens":10,"outputTokens":20,"totalTokens":30}}',
    expRequestBody: '{"inferenceConfig":{},"messages":[],"system":[{"text":"You are a chatbot."}]}',
    expStatus: 200,
    responseHeaders: 'x-amzn-requestid:2bc5b090-a26c-4007-9467-ce5adc4ffa1d',
    // difference: usage-zero-details
    // difference: bedrock-text-blocks-joined
    expResponseBody: '{"choices":[{"finish_reason":"stop","index":0,"message":{"content":"responsefromassistant","role":"assistant"}}],"id":"2bc5b090-a26c-4007-9467-ce5adc4ffa1d","created":123,"model":"something","object":"chat.completion","usage":{"completion_tokens":20,"prompt_tokens":10,"total_tokens":30,"prompt_tokens_details":{"cached_tokens":0,"cache_creation_input_tokens":0,"cache_write_tokens":0}}}',
    requestHeaders: { 'x-aigw-aws-access-key-id': 'ASIAPERREQUEST', 'x-aigw-aws-secret-access-key': 'per-request-secret', 'x-aigw-aws-session-token': FAKE_AWS_PER_REQUEST_SESSION_TOKEN },
    expRequestHeaders: { 'X-Amz-Security-Token': FAKE_AWS_PER_REQUEST_SESSION_TOKEN },
    nonExpectedRequestHeaders: AWS_CREDENTIAL_OVERRIDE_HEADERS,
  },
  {
    name: 'aws-bedrock - no per-request credential falls back to the configured one',
    backend: 'aws-bedrock',
    path: '/v1/chat/completions',
    method: 'POST',
    requestBody: '{"model":"something","messages":[{"role":"system","content":"You are a chatbot."}]}',
    expPath: '/model/something/converse',
    responseBody: '{"output":{"message":{"content":[{"text":"response"},{"text":"from"},{"text":"assistant"}],"role":"assistant"}},"stopReason":null,"usage":{"inputTokens":10,"outputTokens":20,"totalTokens":30}}',
    expRequestBody: '{"inferenceConfig":{},"messages":[],"system":[{"text":"You are a chatbot."}]}',
    expStatus: 200,
    responseHeaders: 'x-amzn-requestid:2bc5b090-a26c-4007-9467-ce5adc4ffa1d',
    // difference: usage-zero-details
    // difference: bedrock-text-blocks-joined
    expResponseBody: '{"choices":[{"finish_reason":"stop","index":0,"message":{"content":"responsefromassistant","role":"assistant"}}],"id":"2bc5b090-a26c-4007-9467-ce5adc4ffa1d","created":123,"model":"something","object":"chat.completion","usage":{"completion_tokens":20,"prompt_tokens":10,"total_tokens":30,"prompt_tokens_details":{"cached_tokens":0,"cache_creation_input_tokens":0,"cache_write_tokens":0}}}',
    nonExpectedRequestHeaders: ['X-Amz-Security-Token'],
  },
  {
    name: 'openai - /v1/chat/completions',
    backend: 'openai',
    path: '/v1/chat/completions',
    method: 'POST',
    requestBody: '{"model":"something","messages":[{"role":"system","content":"You are a chatbot."}]}',
    expPath: '/v1/chat/completions',
    responseBody: '{"choices":[{"message":{"content":"This is a test."}}]}',
    expStatus: 200,
    expResponseBody: '{"choices":[{"message":{"content":"This is a test."}}]}',
  },
  {
    name: 'openai - /v1/chat/completions - gzip',
    backend: 'openai',
    responseType: 'gzip',
    path: '/v1/chat/completions',
    method: 'POST',
    requestBody: '{"model":"something","messages":[{"role":"system","content":"You are a chatbot."}]}',
    expPath: '/v1/chat/completions',
    responseBody: '{"choices":[{"message":{"content":"This is a test."}}]}',
    expStatus: 200,
    expResponseBody: '{"choices":[{"message":{"content":"This is a test."}}]}',
  },
  {
    name: 'openai - /v1/chat/completions - tool call results',
    backend: 'openai',
    path: '/v1/chat/completions',
    expPath: '/v1/chat/completions',
    method: 'POST',
    requestBody: TOOL_CALL_RESULTS_REQUEST_BODY,
    expRequestBody: TOOL_CALL_RESULTS_REQUEST_BODY,
    responseBody: '{"choices":[{"message":{"content":"This is a test."}}]}',
    expResponseBody: '{"choices":[{"message":{"content":"This is a test."}}]}',
    expStatus: 200,
  },
  {
    name: 'aws-bedrock - /v1/chat/completions - tool call results',
    backend: 'aws-bedrock',
    path: '/v1/chat/completions',
    expPath: '/model/gpt-4-0613/converse',
    method: 'POST',
    requestBody: TOOL_CALL_RESULTS_REQUEST_BODY,
    // difference: bedrock-tool-result-status (upstream sends "status":null)
    expRequestBody: r`{"inferenceConfig":{"maxTokens":1024},"messages":[{"content":[{"text":"List the files in the /tmp directory"}],"role":"user"},{"content":[{"toolUse":{"name":"list_files","input":{"path":"/tmp"},"toolUseId":"call_abc123"}}],"role":"assistant"},{"content":[{"toolResult":{"content":[{"text":"[\"foo.txt\", \"bar.log\", \"data.csv\"]"}],"toolUseId":"call_abc123"}}],"role":"user"}]}`,
    responseBody: '{"output":{"message":{"content":[{"text":"response"},{"text":"from"},{"text":"assistant"}],"role":"assistant"}},"stopReason":null,"usage":{"inputTokens":10,"outputTokens":20,"totalTokens":30}}',
    responseHeaders: 'x-amzn-requestid:2bc5b090-a26c-4007-9467-ce5adc4ffa1d',
    // difference: usage-zero-details
    // difference: bedrock-text-blocks-joined
    expResponseBody: '{"choices":[{"finish_reason":"stop","index":0,"message":{"content":"responsefromassistant","role":"assistant"}}],"created":123, "id":"2bc5b090-a26c-4007-9467-ce5adc4ffa1d","model":"gpt-4-0613","object":"chat.completion","usage":{"completion_tokens":20,"prompt_tokens":10,"total_tokens":30,"prompt_tokens_details":{"cached_tokens":0,"cache_creation_input_tokens":0,"cache_write_tokens":0}}}',
    expStatus: 200,
  },
  {
    name: 'gcp-anthropic - /v1/chat/completions - tool call results',
    backend: 'gcp-anthropicai',
    path: '/v1/chat/completions',
    expPath: '/v1/projects/gcp-project-name/locations/gcp-region/publishers/anthropic/models/gpt-4-0613:rawPredict',
    method: 'POST',
    requestBody: TOOL_CALL_RESULTS_REQUEST_BODY,
    // difference: anthropic-tool-result-is-error (upstream sends "is_error":false)
    expRequestBody: r`{"max_tokens":1024,"messages":[{"content":[{"text":"List the files in the /tmp directory","type":"text"}],"role":"user"},{"content":[{"id":"call_abc123","input":{"path":"/tmp"},"name":"list_files","type":"tool_use"}],"role":"assistant"},{"content":[{"tool_use_id":"call_abc123","content":[{"text":"[\"foo.txt\", \"bar.log\", \"data.csv\"]","type":"text"}],"type":"tool_result"}],"role":"user"}],"anthropic_version":"vertex-2023-10-16"}`,
    responseBody: '{"id":"msg_123","type":"message","role":"assistant","stop_reason": "end_turn", "content":[{"type":"text","text":"Hello from Anthropic!"}],"usage":{"input_tokens":10,"output_tokens":25,"cache_read_input_tokens":10}}',
    // difference: usage-zero-details
    expResponseBody: '{"choices":[{"finish_reason":"stop","index":0,"message":{"content":"Hello from Anthropic!","role":"assistant"}}],"created":123, "id":"msg_123","model":"gpt-4-0613","object":"chat.completion","usage":{"completion_tokens":25,"prompt_tokens":20,"total_tokens":45,"prompt_tokens_details":{"cached_tokens":10,"cache_creation_input_tokens":0,"cache_write_tokens":0}}}',
    expStatus: 200,
  },
  {
    name: 'azure-openai - /v1/chat/completions',
    backend: 'azure-openai',
    path: '/v1/chat/completions',
    method: 'POST',
    requestBody: '{"model":"something","messages":[{"role":"system","content":"You are a chatbot."}]}',
    expPath: '/openai/deployments/something/chat/completions',
    responseBody: '{"model":"gpt-4o-2024-08-01","choices":[{"message":{"content":"This is a test."}}]}',
    expStatus: 200,
    expResponseBody: '{"model":"gpt-4o-2024-08-01","choices":[{"message":{"content":"This is a test."}}]}',
  },
  {
    name: 'gcp-vertexai - /v1/chat/completions',
    backend: 'gcp-vertexai',
    path: '/v1/chat/completions',
    method: 'POST',
    requestBody: '{"model":"gemini-1.5-pro","messages":[{"role":"system","content":"You are a helpful assistant."}]}',
    // difference: gemini-empty-contents (upstream sends "contents":null,"tools":null)
    expRequestBody: '{"contents":[],"generationConfig":{},"systemInstruction":{"parts":[{"text":"You are a helpful assistant."}]}}',
    expPath: '/v1/projects/gcp-project-name/locations/gcp-region/publishers/google/models/gemini-1.5-pro:generateContent',
    expRequestHeaders: { Authorization: `Bearer ${FAKE_GCP_AUTH_TOKEN}` },
    responseStatus: '200',
    responseBody: '{"candidates":[{"content":{"parts":[{"text":"This is a test response from Gemini."}],"role":"model"},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":15,"candidatesTokenCount":10,"totalTokenCount":35,"cachedContentTokenCount":10,"thoughtsTokenCount":10}}',
    expStatus: 200,
    // difference: gemini-synthesized-id
    expResponseBody: '{"id":"chatcmpl-<UUID4-replaced>","created":123,"choices":[{"finish_reason":"stop","index":0,"message":{"content":"This is a test response from Gemini.","role":"assistant"}}],"model":"gemini-1.5-pro","object":"chat.completion","usage":{"completion_tokens":20,"completion_tokens_details":{"reasoning_tokens":10},"prompt_tokens":15,"prompt_tokens_details":{"cached_tokens":10},"total_tokens":35}}',
  },
  {
    name: 'gcp-vertexai - /v1/chat/completions',
    backend: 'gcp-vertexai',
    path: '/v1/chat/completions',
    method: 'POST',
    requestBody: '{"model":"gemini-1.5-pro","messages":[{"role":"system","content":"You are a helpful assistant."}]}',
    // difference: gemini-empty-contents (upstream sends "contents":null,"tools":null)
    expRequestBody: '{"contents":[],"generationConfig":{},"systemInstruction":{"parts":[{"text":"You are a helpful assistant."}]}}',
    expPath: '/v1/projects/gcp-project-name/locations/gcp-region/publishers/google/models/gemini-1.5-pro:generateContent',
    expRequestHeaders: { Authorization: `Bearer ${FAKE_GCP_AUTH_TOKEN}` },
    responseStatus: '200',
    responseBody: '{"candidates":[{"content":{"parts":[{"text":"This is a test response from Gemini."}],"role":"model"},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":15,"candidatesTokenCount":10,"totalTokenCount":25}}',
    expStatus: 200,
    // difference: gemini-synthesized-id, usage-zero-details
    expResponseBody: '{"id":"chatcmpl-<UUID4-replaced>","created":123,"choices":[{"finish_reason":"stop","index":0,"message":{"content":"This is a test response from Gemini.","role":"assistant"}}],"model":"gemini-1.5-pro","object":"chat.completion","usage":{"completion_tokens":10,"completion_tokens_details":{"reasoning_tokens":0},"prompt_tokens":15,"total_tokens":25,"prompt_tokens_details":{"cached_tokens":0}}}',
  },
  {
    name: 'gcp-vertexai - /v1/chat/completions - tool use',
    backend: 'gcp-vertexai',
    path: '/v1/chat/completions',
    method: 'POST',
    requestBody: r`{"model":"gemini-1.5-pro","messages":[{"role":"user","content":"tell me the delivery date for order 123"}],"tools":[{"type":"function","function":{"name":"get_delivery_date","description":"Get the delivery date for a customer's order. Call this whenever you need to know the delivery date, for example when a customer asks 'Where is my package'","parameters":{"type":"object","properties":{"order_id":{"type":"string","description":"The customer's order ID."}},"required":["order_id"]}}}]}`,
    expRequestBody: r`{"contents":[{"parts":[{"text":"tell me the delivery date for order 123"}],"role":"user"}],"tools":[{"functionDeclarations":[{"description":"Get the delivery date for a customer's order. Call this whenever you need to know the delivery date, for example when a customer asks 'Where is my package'","name":"get_delivery_date","parameters":{"properties":{"order_id":{"description":"The customer's order ID.","type":"string"}},"required":["order_id"],"type":"object"}}]}],"generationConfig":{}}`,
    expPath: '/v1/projects/gcp-project-name/locations/gcp-region/publishers/google/models/gemini-1.5-pro:generateContent',
    expRequestHeaders: { Authorization: `Bearer ${FAKE_GCP_AUTH_TOKEN}` },
    responseStatus: '200',
    responseBody: '{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"get_delivery_date","args":{"order_id":"123"}}}]},"finishReason":"STOP","avgLogprobs":0.000001220789272338152}],"usageMetadata":{"promptTokenCount":50,"candidatesTokenCount":11,"totalTokenCount":61,"trafficType":"ON_DEMAND","promptTokensDetails":[{"modality":"TEXT","tokenCount":50}],"candidatesTokensDetails":[{"modality":"TEXT","tokenCount":11}]},"modelVersion":"gemini-2.0-flash-001","createTime":"2025-07-11T22:15:44.956335Z","responseId":"EI5xaK-vOtqJm22IPmuCR14AI"}',
    expStatus: 200,
    // difference: tool-call-content-null, usage-zero-details
    expResponseBody: r`{"choices":[{"finish_reason":"tool_calls","index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"703482f8-2e5b-4dcc-a872-d74bd66c3866","function":{"arguments":"{\"order_id\":\"123\"}","name":"get_delivery_date"},"type":"function"}]}}],"created":123, "id":"EI5xaK-vOtqJm22IPmuCR14AI","model":"gemini-2.0-flash-001","object":"chat.completion","usage":{"completion_tokens":11,"completion_tokens_details":{"reasoning_tokens":0},"prompt_tokens":50,"total_tokens":61,"prompt_tokens_details":{"cached_tokens":0}}}`,
  },
  {
    name: 'gcp-anthropicai - /v1/chat/completions',
    backend: 'gcp-anthropicai',
    path: '/v1/chat/completions',
    method: 'POST',
    requestBody: '{"model":"claude-3-sonnet","max_completion_tokens":1024, "messages":[{"role":"system","content":"You are an Anthropic assistant."},{"role":"user","content":"Hello!"}]}',
    expRequestBody: '{"max_tokens":1024,"messages":[{"content":[{"text":"Hello!","type":"text"}],"role":"user"}],"system":[{"text":"You are an Anthropic assistant.","type":"text"}],"anthropic_version":"vertex-2023-10-16"}',
    expPath: '/v1/projects/gcp-project-name/locations/gcp-region/publishers/anthropic/models/claude-3-sonnet:rawPredict',
    expRequestHeaders: { Authorization: `Bearer ${FAKE_GCP_AUTH_TOKEN}` },
    responseStatus: '200',
    responseBody: '{"id":"msg_123","type":"message","role":"assistant","stop_reason": "end_turn", "content":[{"type":"text","text":"Hello from Anthropic!"}],"usage":{"input_tokens":10,"output_tokens":25}}',
    expStatus: 200,
    // difference: usage-zero-details
    expResponseBody: '{"choices":[{"finish_reason":"stop","index":0,"message":{"content":"Hello from Anthropic!","role":"assistant"}}],"created":123, "id":"msg_123","model":"claude-3-sonnet","object":"chat.completion","usage":{"completion_tokens":25,"prompt_tokens":10,"total_tokens":35,"prompt_tokens_details":{"cached_tokens":0,"cache_creation_input_tokens":0,"cache_write_tokens":0}}}',
  },
  {
    name: 'gcp-anthropicai - /v1/chat/completions - with cache',
    backend: 'gcp-anthropicai',
    path: '/v1/chat/completions',
    method: 'POST',
    requestBody: '{"model":"claude-3-sonnet","max_completion_tokens":1024, "messages":[{"role":"user","content":[{"type":"text", "text":"Hello!", "cache_control": {"type": "ephemeral"}}]}]}',
    expRequestBody: '{"max_tokens":1024,"messages":[{"content":[{"text":"Hello!","cache_control":{"type":"ephemeral"},"type":"text"}],"role":"user"}],"anthropic_version":"vertex-2023-10-16"}',
    expPath: '/v1/projects/gcp-project-name/locations/gcp-region/publishers/anthropic/models/claude-3-sonnet:rawPredict',
    expRequestHeaders: { Authorization: `Bearer ${FAKE_GCP_AUTH_TOKEN}` },
    responseStatus: '200',
    responseBody: '{"id":"msg_123","type":"message","role":"assistant","stop_reason": "end_turn", "content":[{"type":"text","text":"Hello from cached Anthropic!"}],"usage":{"input_tokens":10,"output_tokens":25, "cache_read_input_tokens": 8}}',
    expStatus: 200,
    // difference: usage-zero-details
    expResponseBody: '{"choices":[{"finish_reason":"stop","index":0,"message":{"content":"Hello from cached Anthropic!","role":"assistant"}}], "created":123, "id":"msg_123", "model":"claude-3-sonnet","object":"chat.completion","usage":{"completion_tokens":25,"prompt_tokens":18,"total_tokens":43,"prompt_tokens_details":{"cached_tokens":8,"cache_creation_input_tokens":0,"cache_write_tokens":0}}}',
  },
  {
    name: 'modelname-override - /v1/chat/completions',
    backend: 'modelname-override',
    path: '/v1/chat/completions',
    method: 'POST',
    requestBody: '{"model":"requested-model","messages":[{"role":"system","content":"You are a chatbot."}]}',
    expRequestBody: '{"model":"override-model","messages":[{"role":"system","content":"You are a chatbot."}]}',
    expPath: '/v1/chat/completions',
    responseBody: '{"choices":[{"message":{"content":"This is a test."}}]}',
    expStatus: 200,
    expResponseBody: '{"choices":[{"message":{"content":"This is a test."}}]}',
  },
  {
    name: 'modelname-override-and-fallback - /v1/chat/completions',
    backend: 'modelname-override-and-fallback',
    path: '/v1/chat/completions?need=model',
    method: 'POST',
    requestBody: '{"model":"requested-model-is-very-long-yes","messages":[{"role":"system","content":"You are a chatbot."}]}',
    expStatus: 200,
    responseBody: '{"choices":[{"message":{"content":"This is a test."}}]}',
    expResponseBody: '{"choices":[{"message":{"content":"This is a test."}}]}',
    expResponseHeaders: { 'X-Model': 'requested-model-is-very-long-yes' },
  },
  {
    name: 'aws - /v1/chat/completions - streaming with tool use',
    backend: 'aws-bedrock',
    path: '/v1/chat/completions',
    responseType: 'aws-event-stream',
    method: 'POST',
    requestBody: '{"model":"something","messages":[{"role":"system","content":"You are a chatbot."}], "stream": true}',
    expRequestBody: '{"inferenceConfig":{},"messages":[],"system":[{"text":"You are a chatbot."}]}',
    expPath: '/model/something/converse-stream',
    responseHeaders: 'x-amzn-requestid:2bc5b090-a26c-4007-9467-ce5adc4ffa1d',
    responseBody: r`{"role":"assistant"}
{"contentBlockIndex": 0, "delta":{"text":"Don"}}
{"contentBlockIndex": 0, "delta":{"text":"'t worry,  I'm here to help. It"}}
{"contentBlockIndex": 0, "delta":{"text":" seems like you're testing my ability to respond appropriately"}}
{"contentBlockIndex": 0}
{"start":{"toolUse":{"name":"cosine","toolUseId":"tooluse_QklrEHKjRu6Oc4BQUfy7ZQ"}}}
{"contentBlockIndex": 1, "delta":{"toolUse": {"input": "{\"x\": \"17\"}"}}}
{"contentBlockIndex": 1}
{"start":{"toolUse":{"name":"sine","toolUseId":"tooluse_stream2"}}}
{"contentBlockIndex": 2, "delta":{"toolUse": {"input": "{\"x\": \"17\"}"}}}
{"contentBlockIndex": 2}
{"stopReason":"tool_use"}
{"usage":{"inputTokens":41, "outputTokens":36, "totalTokens":77}}
`,
    expStatus: 200,
    // difference: stream-chunk-shape, usage-chunk-only-when-asked
    expResponseBody: r`data: {"id":"2bc5b090-a26c-4007-9467-ce5adc4ffa1d","object":"chat.completion.chunk","created":123,"model":"something","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}

data: {"id":"2bc5b090-a26c-4007-9467-ce5adc4ffa1d","object":"chat.completion.chunk","created":123,"model":"something","choices":[{"index":0,"delta":{"content":"Don"},"finish_reason":null}]}

data: {"id":"2bc5b090-a26c-4007-9467-ce5adc4ffa1d","object":"chat.completion.chunk","created":123,"model":"something","choices":[{"index":0,"delta":{"content":"'t worry,  I'm here to help. It"},"finish_reason":null}]}

data: {"id":"2bc5b090-a26c-4007-9467-ce5adc4ffa1d","object":"chat.completion.chunk","created":123,"model":"something","choices":[{"index":0,"delta":{"content":" seems like you're testing my ability to respond appropriately"},"finish_reason":null}]}

data: {"id":"2bc5b090-a26c-4007-9467-ce5adc4ffa1d","object":"chat.completion.chunk","created":123,"model":"something","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"tooluse_QklrEHKjRu6Oc4BQUfy7ZQ","type":"function","function":{"name":"cosine","arguments":""}}]},"finish_reason":null}]}

data: {"id":"2bc5b090-a26c-4007-9467-ce5adc4ffa1d","object":"chat.completion.chunk","created":123,"model":"something","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"x\": \"17\"}"}}]},"finish_reason":null}]}

data: {"id":"2bc5b090-a26c-4007-9467-ce5adc4ffa1d","object":"chat.completion.chunk","created":123,"model":"something","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"tooluse_stream2","type":"function","function":{"name":"sine","arguments":""}}]},"finish_reason":null}]}

data: {"id":"2bc5b090-a26c-4007-9467-ce5adc4ffa1d","object":"chat.completion.chunk","created":123,"model":"something","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\"x\": \"17\"}"}}]},"finish_reason":null}]}

data: {"id":"2bc5b090-a26c-4007-9467-ce5adc4ffa1d","object":"chat.completion.chunk","created":123,"model":"something","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}

data: [DONE]

`,
    expLoggedUsage: { input_tokens: 41, output_tokens: 36, total_tokens: 77, used_token: 41 },
  },
  {
    name: 'aws-bedrock - /v1/chat/completions - streaming with thinking config',
    backend: 'aws-bedrock',
    path: '/v1/chat/completions',
    responseType: 'aws-event-stream',
    method: 'POST',
    requestBody: r`{
		"model":"something",
		"messages":[{"role":"system","content":"You are a chatbot."}],
		"stream": true,
		"thinking": {"type": "enabled", "budget_tokens": 4096}
	}`,
    expRequestBody: '{"additionalModelRequestFields":{"thinking":{"budget_tokens":4096,"type":"enabled"}},"inferenceConfig":{},"messages":[],"system":[{"text":"You are a chatbot."}]}',
    expPath: '/model/something/converse-stream',
    responseBody: r`{"role":"assistant"}
	{"delta":{"reasoningContent":{"text":"First, I'll start by acknowledging the user..."}}}
	{"delta":{"text":"Hello!"}}
	{"stopReason":"end_turn"}`,
    expStatus: 200,
    responseHeaders: 'x-amzn-requestid:2bc5b090-a26c-4007-9467-ce5adc4ffa1d',
    // difference: stream-chunk-shape
    expResponseBody: r`data: {"id":"2bc5b090-a26c-4007-9467-ce5adc4ffa1d","object":"chat.completion.chunk","created":123,"model":"something","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}

data: {"id":"2bc5b090-a26c-4007-9467-ce5adc4ffa1d","object":"chat.completion.chunk","created":123,"model":"something","choices":[{"index":0,"delta":{"reasoning_content":"First, I'll start by acknowledging the user..."},"finish_reason":null}]}

data: {"id":"2bc5b090-a26c-4007-9467-ce5adc4ffa1d","object":"chat.completion.chunk","created":123,"model":"something","choices":[{"index":0,"delta":{"content":"Hello!"},"finish_reason":null}]}

data: {"id":"2bc5b090-a26c-4007-9467-ce5adc4ffa1d","object":"chat.completion.chunk","created":123,"model":"something","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}

data: [DONE]

`,
  },
  {
    name: 'openai - /v1/chat/completions - streaming',
    backend: 'openai',
    path: '/v1/chat/completions',
    responseType: 'sse',
    method: 'POST',
    requestBody: '{"model":"something","messages":[{"role":"system","content":"You are a chatbot."}], "stream": true}',
    expPath: '/v1/chat/completions',
    // Not in upstream's case: the include_usage the configured cost makes the gateway add.
    expRequestBody: '{"model":"something","messages":[{"role":"system","content":"You are a chatbot."}], "stream": true,"stream_options":{"include_usage":true}}',
    expLoggedUsage: { input_tokens: 13, output_tokens: 12, total_tokens: 25, used_token: 13 },
    responseBody: r`
{"id":"chatcmpl-foo","object":"chat.completion.chunk","created":1731618222,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_0ba0d124f1","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}
{"id":"chatcmpl-foo","object":"chat.completion.chunk","created":1731618222,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_0ba0d124f1","choices":[],"usage":{"prompt_tokens":13,"completion_tokens":12,"total_tokens":25,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}
[DONE]
`,
    expStatus: 200,
    // difference: usage-chunk-only-when-asked
    expResponseBody: r`data: {"id":"chatcmpl-foo","object":"chat.completion.chunk","created":1731618222,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_0ba0d124f1","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}

data: [DONE]

`,
  },
  {
    name: 'gcp-vertexai - /v1/chat/completions - streaming',
    backend: 'gcp-vertexai',
    path: '/v1/chat/completions',
    responseType: 'sse',
    method: 'POST',
    requestBody: '{"model":"gemini-1.5-pro","messages":[{"role":"system","content":"You are a helpful assistant."}], "stream": true}',
    // difference: gemini-empty-contents (upstream sends "contents":null,"tools":null)
    expRequestBody: '{"contents":[],"generationConfig":{},"systemInstruction":{"parts":[{"text":"You are a helpful assistant."}]}}',
    expPath: '/v1/projects/gcp-project-name/locations/gcp-region/publishers/google/models/gemini-1.5-pro:streamGenerateContent',
    expRawQuery: 'alt=sse',
    expRequestHeaders: { Authorization: `Bearer ${FAKE_GCP_AUTH_TOKEN}` },
    responseStatus: '200',
    responseBody: r`{"responseId":"msg_123","createTime":"2024-11-15T09:00:00Z","candidates":[{"content":{"parts":[{"text":"Hello"}],"role":"model"}}]}
{"responseId":"msg_123","createTime":"2024-11-15T09:00:00Z","candidates":[{"content":{"parts":[{"text":"! How"}],"role":"model"}}]}
{"responseId":"msg_123","createTime":"2024-11-15T09:00:00Z","candidates":[{"content":{"parts":[{"text":" can I"}],"role":"model"}}]}
{"responseId":"msg_123","createTime":"2024-11-15T09:00:00Z","candidates":[{"content":{"parts":[{"text":" help"}],"role":"model"}}]}
{"responseId":"msg_123","createTime":"2024-11-15T09:00:00Z","candidates":[{"content":{"parts":[{"text":" you"}],"role":"model"}}]}
{"responseId":"msg_123","createTime":"2024-11-15T09:00:00Z","candidates":[{"content":{"parts":[{"text":" today"}],"role":"model"}}]}
{"responseId":"msg_123","createTime":"2024-11-15T09:00:00Z","candidates":[{"content":{"parts":[{"text":"?"}],"role":"model"},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":7,"totalTokenCount":17}}`,
    expStatus: 200,
    // difference: stream-chunk-shape, usage-chunk-only-when-asked
    expResponseBody: r`data: {"id":"msg_123","object":"chat.completion.chunk","created":123,"model":"gemini-1.5-pro","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}

data: {"id":"msg_123","object":"chat.completion.chunk","created":123,"model":"gemini-1.5-pro","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}

data: {"id":"msg_123","object":"chat.completion.chunk","created":123,"model":"gemini-1.5-pro","choices":[{"index":0,"delta":{"content":"! How"},"finish_reason":null}]}

data: {"id":"msg_123","object":"chat.completion.chunk","created":123,"model":"gemini-1.5-pro","choices":[{"index":0,"delta":{"content":" can I"},"finish_reason":null}]}

data: {"id":"msg_123","object":"chat.completion.chunk","created":123,"model":"gemini-1.5-pro","choices":[{"index":0,"delta":{"content":" help"},"finish_reason":null}]}

data: {"id":"msg_123","object":"chat.completion.chunk","created":123,"model":"gemini-1.5-pro","choices":[{"index":0,"delta":{"content":" you"},"finish_reason":null}]}

data: {"id":"msg_123","object":"chat.completion.chunk","created":123,"model":"gemini-1.5-pro","choices":[{"index":0,"delta":{"content":" today"},"finish_reason":null}]}

data: {"id":"msg_123","object":"chat.completion.chunk","created":123,"model":"gemini-1.5-pro","choices":[{"index":0,"delta":{"content":"?"},"finish_reason":null}]}

data: {"id":"msg_123","object":"chat.completion.chunk","created":123,"model":"gemini-1.5-pro","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}

data: [DONE]

`,
    expLoggedUsage: { input_tokens: 10, output_tokens: 7, total_tokens: 17, used_token: 10 },
  },
  {
    name: 'gcp-anthropicai - /v1/chat/completions - streaming',
    backend: 'gcp-anthropicai',
    path: '/v1/chat/completions',
    method: 'POST',
    responseType: 'sse',
    requestBody: '{"model":"claude-3-sonnet","max_completion_tokens":1024, "messages":[{"role":"user","content":"Why is the sky blue?"}], "stream": true}',
    expRequestBody: '{"max_tokens":1024,"messages":[{"content":[{"text":"Why is the sky blue?","type":"text"}],"role":"user"}],"stream":true,"anthropic_version":"vertex-2023-10-16"}',
    expPath: '/v1/projects/gcp-project-name/locations/gcp-region/publishers/anthropic/models/claude-3-sonnet:streamRawPredict',
    expRequestHeaders: { Authorization: `Bearer ${FAKE_GCP_AUTH_TOKEN}` },
    responseStatus: '200',
    responseBody: r`event: message_start
data: {"type": "message_start", "message": {"id": "msg_123", "usage": {"input_tokens": 15, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 10, "output_tokens": 1}}}

event: content_block_start
data: {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "The sky appears blue"}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text":" due to Rayleigh scattering."}}

event: content_block_stop
data: {"type": "content_block_stop", "index": 0}

event: message_delta
data: {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"input_tokens": 15, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 10, "output_tokens": 12}}

event: message_stop
data: {"type": "message_stop"}
`,
    expStatus: 200,
    // difference: stream-chunk-shape, usage-chunk-only-when-asked
    expResponseBody: r`data: {"id":"msg_123","object":"chat.completion.chunk","created":123,"model":"claude-3-sonnet","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}

data: {"id":"msg_123","object":"chat.completion.chunk","created":123,"model":"claude-3-sonnet","choices":[{"index":0,"delta":{"content":"The sky appears blue"},"finish_reason":null}]}

data: {"id":"msg_123","object":"chat.completion.chunk","created":123,"model":"claude-3-sonnet","choices":[{"index":0,"delta":{"content":" due to Rayleigh scattering."},"finish_reason":null}]}

data: {"id":"msg_123","object":"chat.completion.chunk","created":123,"model":"claude-3-sonnet","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}

data: [DONE]

`,
    expLoggedUsage: { input_tokens: 25, output_tokens: 12, total_tokens: 37, cached_input_tokens: 10, used_token: 25 },
  },
  {
    name: 'gcp-anthropicai - /v1/chat/completions - streaming tool use',
    backend: 'gcp-anthropicai',
    path: '/v1/chat/completions',
    method: 'POST',
    responseType: 'sse',
    requestBody: r`{
		"model": "claude-3-sonnet",
		"max_tokens": 1024,
		"messages": [{"role": "user", "content": "What is the weather in Boston?"}],
		"stream": true,
		"tools": [{
			"type": "function",
			"function": {
				"name": "get_weather",
				"description": "Get the current weather in a given location",
				"parameters": {
					"type": "object",
					"properties": {
						"location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"}
					},
					"required": ["location"]
				}
			}
		}]
	}`,
    expPath: '/v1/projects/gcp-project-name/locations/gcp-region/publishers/anthropic/models/claude-3-sonnet:streamRawPredict',
    expRequestHeaders: { Authorization: `Bearer ${FAKE_GCP_AUTH_TOKEN}` },
    responseStatus: '200',
    responseBody: r`event: message_start
data: {"type": "message_start", "message": {"id": "msg_123", "usage": {"input_tokens": 50, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 1}}}

event: content_block_start
data: {"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "toolu_abc123", "name": "get_weather", "input": {}}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"location\":\"Bosto"}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "n, MA\"}"}}

event: content_block_stop
data: {"type": "content_block_stop", "index": 0}

event: message_delta
data: {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"input_tokens": 50, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 20}}

event: message_stop
data: {"type": "message_stop"}`,
    expStatus: 200,
    // difference: stream-chunk-shape, usage-chunk-only-when-asked
    expResponseBody: r`data: {"id":"msg_123","object":"chat.completion.chunk","created":123,"model":"claude-3-sonnet","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}

data: {"id":"msg_123","object":"chat.completion.chunk","created":123,"model":"claude-3-sonnet","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"toolu_abc123","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}

data: {"id":"msg_123","object":"chat.completion.chunk","created":123,"model":"claude-3-sonnet","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"location\":\"Bosto"}}]},"finish_reason":null}]}

data: {"id":"msg_123","object":"chat.completion.chunk","created":123,"model":"claude-3-sonnet","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"n, MA\"}"}}]},"finish_reason":null}]}

data: {"id":"msg_123","object":"chat.completion.chunk","created":123,"model":"claude-3-sonnet","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}

data: [DONE]

`,
    expLoggedUsage: { input_tokens: 50, output_tokens: 20, total_tokens: 70, used_token: 50 },
  },
  {
    name: 'openai - /v1/chat/completions - error response',
    backend: 'openai',
    path: '/v1/chat/completions',
    responseType: '',
    method: 'POST',
    requestBody: '{"model":"something","messages":[{"role":"system","content":"You are a chatbot."}], "stream": true}',
    expPath: '/v1/chat/completions',
    responseStatus: '400',
    expStatus: 400,
    responseBody: '{"error": {"message": "missing required field", "type": "BadRequestError", "code": "400"}}',
    expResponseBody: '{"error": {"message": "missing required field", "type": "BadRequestError", "code": "400"}}',
  },
  {
    name: 'aws-bedrock - /v1/chat/completions - error response',
    backend: 'aws-bedrock',
    path: '/v1/chat/completions',
    responseType: '',
    method: 'POST',
    requestBody: '{"model":"something","messages":[{"role":"system","content":"You are a chatbot."}], "stream": true}',
    expPath: '/model/something/converse-stream',
    responseStatus: '429',
    expStatus: 429,
    responseHeaders: 'x-amzn-errortype:ThrottledException',
    responseBody: '{"message": "aws bedrock rate limit exceeded"}',
    expResponseBody: '{"type":"error","error":{"type":"ThrottledException","code":"429","message":"aws bedrock rate limit exceeded"}}',
  },
  {
    name: 'gcp-vertexai - /v1/chat/completions - error response',
    backend: 'gcp-vertexai',
    path: '/v1/chat/completions',
    responseType: '',
    method: 'POST',
    requestBody: '{"model":"gemini-1.5-pro","messages":[{"role":"system","content":"You are a helpful assistant."}]}',
    expPath: '/v1/projects/gcp-project-name/locations/gcp-region/publishers/google/models/gemini-1.5-pro:generateContent',
    responseStatus: '400',
    expStatus: 400,
    responseBody: '{"error":{"code":400,"message":"Invalid request: missing required field","status":"INVALID_ARGUMENT"}}',
    expResponseBody: '{"type":"error","error":{"type":"INVALID_ARGUMENT","code":"400","message":"Invalid request: missing required field"}}',
  },
  {
    name: 'gcp-anthropicai - /v1/chat/completions - error response',
    backend: 'gcp-anthropicai',
    path: '/v1/chat/completions',
    responseType: '',
    method: 'POST',
    requestBody: '{"model":"claude-3-sonnet", "max_completion_tokens":1024, "messages":[{"role":"system","content":"You are a helpful assistant."}]}',
    expPath: '/v1/projects/gcp-project-name/locations/gcp-region/publishers/anthropic/models/claude-3-sonnet:rawPredict',
    responseStatus: '400',
    expStatus: 400,
    responseBody: '{"error":{"type":"invalid_request_error","code":400,"message":"Invalid request: missing required field","status":"INVALID_ARGUMENT"}}',
    expResponseBody: '{"type":"error","error":{"type":"invalid_request_error","code":"400","message":"Invalid request: missing required field"}}',
  },
  {
    name: 'openai - /v1/embeddings',
    backend: 'openai',
    path: '/v1/embeddings',
    method: 'POST',
    requestBody: '{"model":"text-embedding-ada-002","input":"The food was delicious and the waiter..."}',
    expPath: '/v1/embeddings',
    responseBody: '{"object":"list","data":[{"object":"embedding","embedding":[0.0023064255,-0.009327292,-0.0028842222],"index":0}],"model":"text-embedding-ada-002","usage":{"prompt_tokens":8,"total_tokens":8}}',
    expStatus: 200,
    expResponseBody: '{"object":"list","data":[{"object":"embedding","embedding":[0.0023064255,-0.009327292,-0.0028842222],"index":0}],"model":"text-embedding-ada-002","usage":{"prompt_tokens":8,"total_tokens":8}}',
  },
  {
    name: 'azure-openai - /v1/embeddings',
    backend: 'azure-openai',
    path: '/v1/embeddings',
    method: 'POST',
    requestBody: '{"model":"text-embedding-ada-002","input":"The food was delicious and the waiter..."}',
    expPath: '/openai/deployments/text-embedding-ada-002/embeddings',
    responseBody: '{"object":"list","data":[{"object":"embedding","embedding":[0.0023064255,-0.009327292,-0.0028842222],"index":0}],"model":"text-embedding-ada-002","usage":{"prompt_tokens":8,"total_tokens":8}}',
    expStatus: 200,
    expResponseBody: '{"object":"list","data":[{"object":"embedding","embedding":[0.0023064255,-0.009327292,-0.0028842222],"index":0}],"model":"text-embedding-ada-002","usage":{"prompt_tokens":8,"total_tokens":8}}',
  },
  {
    name: 'openai - /v1/embeddings - gzip',
    backend: 'openai',
    responseType: 'gzip',
    path: '/v1/embeddings',
    method: 'POST',
    requestBody: '{"model":"text-embedding-ada-002","input":"The food was delicious and the waiter..."}',
    expPath: '/v1/embeddings',
    responseBody: '{"object":"list","data":[{"object":"embedding","embedding":[0.0023064255,-0.009327292,-0.0028842222],"index":0}],"model":"text-embedding-ada-002","usage":{"prompt_tokens":8,"total_tokens":8}}',
    expStatus: 200,
    expResponseBody: '{"object":"list","data":[{"object":"embedding","embedding":[0.0023064255,-0.009327292,-0.0028842222],"index":0}],"model":"text-embedding-ada-002","usage":{"prompt_tokens":8,"total_tokens":8}}',
  },
  {
    name: 'azure-openai - /v1/embeddings - gzip',
    backend: 'azure-openai',
    responseType: 'gzip',
    path: '/v1/embeddings',
    method: 'POST',
    requestBody: '{"model":"text-embedding-ada-002","input":"The food was delicious and the waiter..."}',
    expPath: '/openai/deployments/text-embedding-ada-002/embeddings',
    responseBody: '{"object":"list","data":[{"object":"embedding","embedding":[0.0023064255,-0.009327292,-0.0028842222],"index":0}],"model":"text-embedding-ada-002","usage":{"prompt_tokens":8,"total_tokens":8}}',
    expStatus: 200,
    expResponseBody: '{"object":"list","data":[{"object":"embedding","embedding":[0.0023064255,-0.009327292,-0.0028842222],"index":0}],"model":"text-embedding-ada-002","usage":{"prompt_tokens":8,"total_tokens":8}}',
  },
  {
    name: 'openai - /v1/embeddings - error response',
    backend: 'openai',
    path: '/v1/embeddings',
    responseType: '',
    method: 'POST',
    requestBody: '{"model":"text-embedding-ada-002","input":""}',
    expPath: '/v1/embeddings',
    responseStatus: '400',
    expStatus: 400,
    responseBody: '{"error": {"message": "input cannot be empty", "type": "BadRequestError", "code": "400"}}',
    expResponseBody: '{"error": {"message": "input cannot be empty", "type": "BadRequestError", "code": "400"}}',
  },
  {
    name: 'azure-openai - /v1/embeddings - error response',
    backend: 'azure-openai',
    path: '/v1/embeddings',
    responseType: '',
    method: 'POST',
    requestBody: '{"model":"text-embedding-ada-002","input":""}',
    expPath: '/openai/deployments/text-embedding-ada-002/embeddings',
    responseStatus: '400',
    expStatus: 400,
    responseBody: '{"error": {"message": "input cannot be empty", "type": "BadRequestError", "code": "400"}}',
    expResponseBody: '{"error": {"message": "input cannot be empty", "type": "BadRequestError", "code": "400"}}',
  },
  {
    name: 'gcp-vertexai - /v1/embeddings - simple string',
    backend: 'gcp-vertexai',
    path: '/v1/embeddings',
    method: 'POST',
    requestBody: '{"model":"text-embedding-004","input":"How do I reset my password?"}',
    expRequestBody: '{"instances":[{"content":"How do I reset my password?"}],"parameters":{}}',
    expPath: '/v1/projects/gcp-project-name/locations/gcp-region/publishers/google/models/text-embedding-004:predict',
    expRequestHeaders: { Authorization: `Bearer ${FAKE_GCP_AUTH_TOKEN}` },
    responseStatus: '200',
    responseBody: '{"predictions":[{"embeddings":{"values":[0.5,1.0,1.5],"statistics":{"token_count":5,"truncated":false}}}]}',
    expStatus: 200,
    expResponseBody: '{"data":[{"embedding":[0.5,1,1.5],"index":0,"object":"embedding"}],"model":"text-embedding-004","object":"list","usage":{"prompt_tokens":5,"total_tokens":5}}',
  },
  {
    name: 'gcp-vertexai - /v1/embeddings - with task_type and title',
    backend: 'gcp-vertexai',
    path: '/v1/embeddings',
    method: 'POST',
    requestBody: '{"model":"text-embedding-004","input":{"content":"Machine learning fundamentals","task_type":"RETRIEVAL_DOCUMENT","title":"ML Guide"}}',
    expRequestBody: '{"instances":[{"content":"Machine learning fundamentals","task_type":"RETRIEVAL_DOCUMENT","title":"ML Guide"}],"parameters":{}}',
    expPath: '/v1/projects/gcp-project-name/locations/gcp-region/publishers/google/models/text-embedding-004:predict',
    expRequestHeaders: { Authorization: `Bearer ${FAKE_GCP_AUTH_TOKEN}` },
    responseStatus: '200',
    responseBody: '{"predictions":[{"embeddings":{"values":[0.25,0.5,0.75],"statistics":{"token_count":7,"truncated":false}}}]}',
    expStatus: 200,
    expResponseBody: '{"data":[{"embedding":[0.25,0.5,0.75],"index":0,"object":"embedding"}],"model":"text-embedding-004","object":"list","usage":{"prompt_tokens":7,"total_tokens":7}}',
  },
  {
    name: 'gcp-vertexai - /v1/embeddings - array of strings',
    backend: 'gcp-vertexai',
    path: '/v1/embeddings',
    method: 'POST',
    requestBody: '{"model":"text-embedding-004","input":["First text","Second text","Third text"]}',
    expRequestBody: '{"instances":[{"content":"First text"},{"content":"Second text"},{"content":"Third text"}],"parameters":{}}',
    expPath: '/v1/projects/gcp-project-name/locations/gcp-region/publishers/google/models/text-embedding-004:predict',
    expRequestHeaders: { Authorization: `Bearer ${FAKE_GCP_AUTH_TOKEN}` },
    responseStatus: '200',
    responseBody: '{"predictions":[{"embeddings":{"values":[0.5,1.0],"statistics":{"token_count":2,"truncated":false}}},{"embeddings":{"values":[1.5,2.0],"statistics":{"token_count":2,"truncated":false}}},{"embeddings":{"values":[2.5,3.0],"statistics":{"token_count":2,"truncated":false}}}]}',
    expStatus: 200,
    expResponseBody: '{"data":[{"embedding":[0.5,1],"index":0,"object":"embedding"},{"embedding":[1.5,2],"index":1,"object":"embedding"},{"embedding":[2.5,3],"index":2,"object":"embedding"}],"model":"text-embedding-004","object":"list","usage":{"prompt_tokens":6,"total_tokens":6}}',
  },
  {
    name: 'gcp-vertexai - /v1/embeddings - array of objects',
    backend: 'gcp-vertexai',
    path: '/v1/embeddings',
    method: 'POST',
    requestBody: '{"model":"text-embedding-004","input":[{"content":"Query about cats","task_type":"RETRIEVAL_QUERY"},{"content":"Document about dogs","task_type":"RETRIEVAL_DOCUMENT","title":"Dog Info"}]}',
    expRequestBody: '{"instances":[{"content":"Query about cats","task_type":"RETRIEVAL_QUERY"},{"content":"Document about dogs","task_type":"RETRIEVAL_DOCUMENT","title":"Dog Info"}],"parameters":{}}',
    expPath: '/v1/projects/gcp-project-name/locations/gcp-region/publishers/google/models/text-embedding-004:predict',
    expRequestHeaders: { Authorization: `Bearer ${FAKE_GCP_AUTH_TOKEN}` },
    responseStatus: '200',
    responseBody: '{"predictions":[{"embeddings":{"values":[3.5,4.0],"statistics":{"token_count":4,"truncated":false}}},{"embeddings":{"values":[4.5,5.0],"statistics":{"token_count":5,"truncated":false}}}]}',
    expStatus: 200,
    expResponseBody: '{"data":[{"embedding":[3.5,4],"index":0,"object":"embedding"},{"embedding":[4.5,5],"index":1,"object":"embedding"}],"model":"text-embedding-004","object":"list","usage":{"prompt_tokens":9,"total_tokens":9}}',
  },
  {
    name: 'gcp-vertexai - /v1/embeddings - with dimensions',
    backend: 'gcp-vertexai',
    path: '/v1/embeddings',
    method: 'POST',
    requestBody: '{"model":"text-embedding-004","input":"Text for dimension testing","dimensions":256}',
    expRequestBody: '{"instances":[{"content":"Text for dimension testing"}],"parameters":{"outputDimensionality":256}}',
    expPath: '/v1/projects/gcp-project-name/locations/gcp-region/publishers/google/models/text-embedding-004:predict',
    expRequestHeaders: { Authorization: `Bearer ${FAKE_GCP_AUTH_TOKEN}` },
    responseStatus: '200',
    responseBody: '{"predictions":[{"embeddings":{"values":[7.5,8.0,8.5],"statistics":{"token_count":4,"truncated":false}}}]}',
    expStatus: 200,
    expResponseBody: '{"data":[{"embedding":[7.5,8,8.5],"index":0,"object":"embedding"}],"model":"text-embedding-004","object":"list","usage":{"prompt_tokens":4,"total_tokens":4}}',
  },
  {
    name: 'gcp-vertexai - /v1/embeddings - error response',
    backend: 'gcp-vertexai',
    path: '/v1/embeddings',
    method: 'POST',
    requestBody: '{"model":"text-embedding-004","input":""}',
    expRequestBody: '{"instances":[{"content":""}],"parameters":{}}',
    expPath: '/v1/projects/gcp-project-name/locations/gcp-region/publishers/google/models/text-embedding-004:predict',
    expRequestHeaders: { Authorization: `Bearer ${FAKE_GCP_AUTH_TOKEN}` },
    responseStatus: '400',
    expStatus: 400,
    responseBody: '{"error":{"code":400,"message":"Invalid embedding request","status":"INVALID_ARGUMENT"}}',
    expResponseBody: '{"type":"error","error":{"code":"400","message":"Invalid embedding request","type":"INVALID_ARGUMENT"}}',
  },
  {
    name: 'openai - /v1/models',
    backend: 'openai',
    path: '/v1/models',
    method: 'GET',
    expStatus: 200,
    expResponseBodyFunc: checkModels(expectedModels),
  },
  {
    name: 'openai - /v1/chat/completions - assistant text content',
    backend: 'openai',
    path: '/v1/chat/completions',
    method: 'POST',
    requestBody: r`
{
       "model": "whatever",
       "messages": [
               {"role": "user", "content": [{"type": "text", "text": "hi sir"}]},
               {"role": "assistant","content": [{"type": "text", "text": "Hello! How can I assist you today?"}]},
               {"role": "user", "content": [{"type": "text", "text": "what are you?"}]}
       ]
}`,
    expPath: '/v1/chat/completions',
    responseBody: '{"choices":[{"message":{"content":"This is a test."}}]}',
    expStatus: 200,
    expResponseBody: '{"choices":[{"message":{"content":"This is a test."}}]}',
  },
  {
    name: 'gcp-anthropicai - /anthropic/v1/messages',
    backend: 'gcp-anthropicai',
    path: '/anthropic/v1/messages',
    method: 'POST',
    requestBody: '{"model":"claude-3-sonnet","max_tokens":100,"messages":[{"role":"user","content":[{"type":"text","text":"Hello, just a simple test message."}]}],"stream":false}',
    expRequestBody: '{"max_tokens":100,"messages":[{"role":"user","content":[{"type":"text","text":"Hello, just a simple test message."}]}],"stream":false,"anthropic_version":"vertex-2023-10-16"}',
    expPath: '/v1/projects/gcp-project-name/locations/gcp-region/publishers/anthropic/models/claude-3-sonnet:rawPredict',
    expRequestHeaders: { Authorization: `Bearer ${FAKE_GCP_AUTH_TOKEN}` },
    responseStatus: '200',
    responseBody: '{"id":"msg_123","type":"message","role":"assistant","stop_reason": "end_turn", "content":[{"type":"text","text":"Hello from native Anthropic API!"}],"usage":{"input_tokens":8,"output_tokens":15}}',
    expStatus: 200,
    expResponseBody: '{"id":"msg_123","type":"message","role":"assistant","stop_reason": "end_turn", "content":[{"type":"text","text":"Hello from native Anthropic API!"}],"usage":{"input_tokens":8,"output_tokens":15}}',
  },
  {
    name: 'gcp-anthropicai - /anthropic/v1/messages - streaming',
    backend: 'gcp-anthropicai',
    path: '/anthropic/v1/messages',
    method: 'POST',
    responseType: 'sse',
    requestBody: '{"model":"claude-3-sonnet","max_tokens":100,"messages":[{"role":"user","content":[{"type":"text","text":"Tell me a short joke"}]}],"stream":true}',
    expRequestBody: '{"max_tokens":100,"messages":[{"role":"user","content":[{"type":"text","text":"Tell me a short joke"}]}],"stream":true,"anthropic_version":"vertex-2023-10-16"}',
    expPath: '/v1/projects/gcp-project-name/locations/gcp-region/publishers/anthropic/models/claude-3-sonnet:streamRawPredict',
    expRequestHeaders: { Authorization: `Bearer ${FAKE_GCP_AUTH_TOKEN}` },
    responseStatus: '200',
    responseBody: r`event: message_start
data: {"type": "message_start", "message": {"id": "msg_789", "usage": {"input_tokens": 8, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 1}}}

event: content_block_start
data: {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Why don't scientists trust atoms? Because they make up everything!"}}

event: content_block_stop
data: {"type": "content_block_stop", "index": 0}

event: message_delta
data: {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"input_tokens": 8, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 15}}

event: message_stop
data: {"type": "message_stop"}

`,
    expStatus: 200,
    expResponseBody: r`event: message_start
data: {"type": "message_start", "message": {"id": "msg_789", "usage": {"input_tokens": 8, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 1}}}

event: content_block_start
data: {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Why don't scientists trust atoms? Because they make up everything!"}}

event: content_block_stop
data: {"type": "content_block_stop", "index": 0}

event: message_delta
data: {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"input_tokens": 8, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 15}}

event: message_stop
data: {"type": "message_stop"}

`,
  },
  {
    name: 'anthropic - /anthropic/v1/messages',
    backend: 'anthropic',
    path: '/anthropic/v1/messages',
    method: 'POST',
    expRequestHeaders: { 'x-api-key': 'anthropic-api-key' },
    requestBody: r`{
    "model": "foo",
    "max_tokens": 1000,
    "messages": [
      {
        "role": "user",
        "content": "say hi"
      }
    ]
  }`,
    expPath: '/v1/messages',
    responseBody: '{"model":"foo","id":"msg_01J5gW6Sffiem6avXSAooZZw","type":"message","role":"assistant","content":[{"type":"text","text":"Hi! 👋 How can I help you today?"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":9,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},"output_tokens":16,"service_tier":"standard"}}',
    expStatus: 200,
  },
  {
    name: 'anthropic - /anthropic/v1/messages - streaming',
    backend: 'anthropic',
    path: '/anthropic/v1/messages',
    method: 'POST',
    expRequestHeaders: { 'x-api-key': 'anthropic-api-key' },
    responseType: 'sse',
    requestBody: r`{
    "model": "foo",
    "max_tokens": 1000,
    "messages": [
      {
        "role": "user",
        "content": "say hi"
      }
    ], "stream": true
  }`,
    expPath: '/v1/messages',
    responseBody: r`
event: message_start
data: {"type":"message_start","message":{"model":"foo","id":"msg_01BfvfMsg2gBzwsk6PZRLtDg","type":"message","role":"assistant","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":9,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},"output_tokens":1,"service_tier":"standard"}}    }

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}      }

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}           }

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"! 👋 How"}      }

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" can I help you today?"}   }

event: content_block_stop
data: {"type":"content_block_stop","index":0             }

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":9,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":16}               }

event: message_stop
data: {"type":"message_stop"       }
`,
    expStatus: 200,
  },
  {
    name: 'anthropic - /anthropic/v1/messages - streaming with gzip content-encoding',
    backend: 'anthropic',
    path: '/anthropic/v1/messages',
    method: 'POST',
    expRequestHeaders: { 'x-api-key': 'anthropic-api-key' },
    responseType: 'sse-gzip',
    requestBody: r`{
    "model": "foo",
    "max_tokens": 1000,
    "messages": [
      {
        "role": "user",
        "content": "say hi"
      }
    ], "stream": true
  }`,
    expPath: '/v1/messages',
    responseBody: r`
event: message_start
data: {"type":"message_start","message":{"model":"foo","id":"msg_gzip_test","type":"message","role":"assistant","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":9,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"! How can I help?"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":9,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":10}}

event: message_stop
data: {"type":"message_stop"}
`,
    expStatus: 200,
  },
  {
    name: 'aws-anthropic - /anthropic/v1/messages',
    backend: 'aws-anthropic',
    path: '/anthropic/v1/messages',
    method: 'POST',
    requestBody: '{"model":"anthropic.claude-3-sonnet-20240229-v1:0","max_tokens":100,"messages":[{"role":"user","content":[{"type":"text","text":"Hello from AWS!"}]}],"stream":false}',
    expRequestBody: '{"max_tokens":100,"messages":[{"role":"user","content":[{"type":"text","text":"Hello from AWS!"}]}],"anthropic_version":"bedrock-2023-05-31"}',
    expPath: '/model/anthropic.claude-3-sonnet-20240229-v1:0/invoke',
    responseStatus: '200',
    responseBody: '{"id":"msg_aws_123","type":"message","role":"assistant","stop_reason": "end_turn", "content":[{"type":"text","text":"Hello from AWS Anthropic!"}],"usage":{"input_tokens":10,"output_tokens":20}}',
    expStatus: 200,
    expResponseBody: '{"id":"msg_aws_123","type":"message","role":"assistant","stop_reason": "end_turn", "content":[{"type":"text","text":"Hello from AWS Anthropic!"}],"usage":{"input_tokens":10,"output_tokens":20}}',
  },
  {
    name: 'aws-anthropic - /anthropic/v1/messages - streaming',
    backend: 'aws-anthropic',
    path: '/anthropic/v1/messages',
    method: 'POST',
    responseType: 'aws-event-stream',
    requestBody: '{"model":"anthropic.claude-3-haiku-20240307-v1:0","max_tokens":150,"messages":[{"role":"user","content":[{"type":"text","text":"Tell me a joke"}]}],"stream":true}',
    expRequestBody: '{"max_tokens":150,"messages":[{"role":"user","content":[{"type":"text","text":"Tell me a joke"}]}],"anthropic_version":"bedrock-2023-05-31"}',
    expPath: '/model/anthropic.claude-3-haiku-20240307-v1:0/invoke-with-response-stream',
    responseStatus: '200',
    responseBody: r`{"bytes":"eyJ0eXBlIjoibWVzc2FnZV9zdGFydCIsIm1lc3NhZ2UiOnsibW9kZWwiOiJjbGF1ZGUtc29ubmV0LTQtNS0yMDI1MDkyOSIsImlkIjoibXNnX2JkcmtfMDEyR0JQenBjb01DTFAxYjJwY0pzU0hrIiwidHlwZSI6Im1lc3NhZ2UiLCJyb2xlIjoiYXNzaXN0YW50IiwiY29udGVudCI6W10sInN0b3BfcmVhc29uIjpudWxsLCJzdG9wX3NlcXVlbmNlIjpudWxsLCJ1c2FnZSI6eyJpbnB1dF90b2tlbnMiOjEwLCJjYWNoZV9jcmVhdGlvbl9pbnB1dF90b2tlbnMiOjAsImNhY2hlX3JlYWRfaW5wdXRfdG9rZW5zIjowLCJjYWNoZV9jcmVhdGlvbiI6eyJlcGhlbWVyYWxfNW1faW5wdXRfdG9rZW5zIjowLCJlcGhlbWVyYWxfMWhfaW5wdXRfdG9rZW5zIjowfSwib3V0cHV0X3Rva2VucyI6MX19fQ==","p":"abcdefghijklmnopqr"}
{"bytes":"eyJ0eXBlIjoiY29udGVudF9ibG9ja19zdGFydCIsImluZGV4IjowLCJjb250ZW50X2Jsb2NrIjp7InR5cGUiOiJ0ZXh0IiwidGV4dCI6IiJ9fQ==","p":"abcdefghijklmnopqrstuvwxy"}
{"bytes":"eyJ0eXBlIjoiY29udGVudF9ibG9ja19kZWx0YSIsImluZGV4IjowLCJkZWx0YSI6eyJ0eXBlIjoidGV4dF9kZWx0YSIsInRleHQiOiJIaSJ9fQ==","p":"abcdefghijklmnopqrstuvwxyzABCDEF"}
{"bytes":"eyJ0eXBlIjoiY29udGVudF9ibG9ja19kZWx0YSIsImluZGV4IjowLCJkZWx0YSI6eyJ0eXBlIjoidGV4dF9kZWx0YSIsInRleHQiOiIhIn19","p":"abcdefghijklmnopqrstuvwxyzAB"}
{"bytes":"eyJ0eXBlIjoiY29udGVudF9ibG9ja19kZWx0YSIsImluZGV4IjowLCJkZWx0YSI6eyJ0eXBlIjoidGV4dF9kZWx0YSIsInRleHQiOiIgIn19","p":"abcdefghijklmnopqrstuvwxyzABCDEFGHIJK"}
{"bytes":"eyJ0eXBlIjoiY29udGVudF9ibG9ja19kZWx0YSIsImluZGV4IjowLCJkZWx0YSI6eyJ0eXBlIjoidGV4dF9kZWx0YSIsInRleHQiOiLwn5GLIEhvdyJ9fQ==","p":"abcdefghijklmnopqrstuvwxyzABCDEFG"}
{"bytes":"eyJ0eXBlIjoiY29udGVudF9ibG9ja19kZWx0YSIsImluZGV4IjowLCJkZWx0YSI6eyJ0eXBlIjoidGV4dF9kZWx0YSIsInRleHQiOiIgYXJlIHlvdSBkb2luZyB0b2RheT8ifX0=","p":"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01234"}
{"bytes":"eyJ0eXBlIjoiY29udGVudF9ibG9ja19zdG9wIiwiaW5kZXgiOjB9","p":"abcdefghijklmnopqrstuvwxyz"}
{"bytes":"eyJ0eXBlIjoibWVzc2FnZV9kZWx0YSIsImRlbHRhIjp7InN0b3BfcmVhc29uIjoiZW5kX3R1cm4iLCJzdG9wX3NlcXVlbmNlIjpudWxsfSwidXNhZ2UiOnsiaW5wdXRfdG9rZW5zIjoxMCwiY2FjaGVfY3JlYXRpb25faW5wdXRfdG9rZW5zIjowLCJjYWNoZV9yZWFkX2lucHV0X3Rva2VucyI6MCwib3V0cHV0X3Rva2VucyI6MTV9fQ==","p":"abcdefghijklmnopqrstu"}
{"bytes":"eyJ0eXBlIjoibWVzc2FnZV9zdG9wIiwiYW1hem9uLWJlZHJvY2staW52b2NhdGlvbk1ldHJpY3MiOnsiaW5wdXRUb2tlbkNvdW50IjoxMCwib3V0cHV0VG9rZW5Db3VudCI6MTUsImludm9jYXRpb25MYXRlbmN5IjoxNzk4LCJmaXJzdEJ5dGVMYXRlbmN5IjoxNTA3fX0=","p":"ab"}
`,
    expStatus: 200,
    expResponseBody: r`event: message_start
data: {"type":"message_start","message":{"model":"claude-sonnet-4-5-20250929","id":"msg_bdrk_012GBPzpcoMCLP1b2pcJsSHk","type":"message","role":"assistant","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":10,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"!"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" "}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"👋 How"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" are you doing today?"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":10,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":15}}

event: message_stop
data: {"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":10,"outputTokenCount":15,"invocationLatency":1798,"firstByteLatency":1507}}

`,
  },
  {
    name: 'aws-anthropic - /anthropic/v1/messages - error response',
    backend: 'aws-anthropic',
    path: '/anthropic/v1/messages',
    method: 'POST',
    requestBody: '{"model":"anthropic.claude-3-sonnet-20240229-v1:0","max_tokens":100,"messages":[{"role":"user","content":[{"type":"text","text":"Test error"}]}]}',
    expPath: '/model/anthropic.claude-3-sonnet-20240229-v1:0/invoke',
    responseStatus: '400',
    responseBody: '{"type":"error","error":{"type":"validation_error","message":"Invalid request format"}}',
    expStatus: 400,
    expResponseBody: '{"type":"error","error":{"type":"validation_error","message":"Invalid request format"}}',
  },
  {
    name: 'aws-bedrock - /anthropic/v1/messages',
    backend: 'aws-bedrock',
    path: '/anthropic/v1/messages',
    method: 'POST',
    requestBody: '{"model":"anthropic.claude-3-sonnet-20240229-v1:0","max_tokens":100,"messages":[{"role":"user","content":[{"type":"text","text":"Hello from AWS Bedrock messages!"}]}]}',
    expRequestBody: '{"inferenceConfig":{"maxTokens":100},"messages":[{"content":[{"text":"Hello from AWS Bedrock messages!"}],"role":"user"}]}',
    expPath: '/model/anthropic.claude-3-sonnet-20240229-v1:0/converse',
    responseStatus: '200',
    responseHeaders: 'x-amzn-requestid:bedrock-msg-123',
    responseBody: '{"output":{"message":{"content":[{"text":"Hello from AWS Bedrock!"}],"role":"assistant"}},"stopReason":"end_turn","usage":{"inputTokens":10,"outputTokens":20,"totalTokens":30}}',
    expStatus: 200,
    expResponseBody: '{"id":"bedrock-msg-123","type":"message","role":"assistant","content":[{"type":"text","text":"Hello from AWS Bedrock!"}],"model":"anthropic.claude-3-sonnet-20240229-v1:0","stop_reason":"end_turn","usage":{"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"input_tokens":10,"output_tokens":20}}',
  },
  {
    name: 'body-mutation - /v1/chat/completions - OpenAI backend with route-level body mutations',
    backend: 'body-mutation',
    path: '/v1/chat/completions',
    method: 'POST',
    requestBody: '{"model":"gpt-4","messages":[{"role":"user","content":"Hello"}],"temperature":0.9,"stream_options":{"include_usage":true}}',
    expPath: '/v1/chat/completions',
    expRequestBody: '{"model":"gpt-4","messages":[{"role":"user","content":"Hello"}],"temperature":0.5,"max_tokens":150,"custom_field":"route-level-value"}',
    responseBody: '{"choices":[{"message":{"content":"Hello! How can I help you?"}}]}',
    expStatus: 200,
    expResponseBody: '{"choices":[{"message":{"content":"Hello! How can I help you?"}}]}',
  },
  {
    name: 'body-mutation-anthropic - /anthropic/v1/messages - Anthropic backend with route-level body mutations',
    backend: 'body-mutation-anthropic',
    path: '/anthropic/v1/messages',
    method: 'POST',
    requestBody: '{"model":"claude-3-sonnet","max_tokens":50,"messages":[{"role":"user","content":"Hello"}],"temperature":0.1}',
    expPath: '/v1/messages',
    expRequestBody: '{"model":"claude-3-sonnet","max_tokens":200,"messages":[{"role":"user","content":"Hello"}],"temperature":0.7}',
    responseBody: '{"id":"msg_123","type":"message","role":"assistant","content":[{"type":"text","text":"Hello! How can I assist you?"}],"usage":{"input_tokens":5,"output_tokens":10}}',
    expStatus: 200,
    expResponseBody: '{"id":"msg_123","type":"message","role":"assistant","content":[{"type":"text","text":"Hello! How can I assist you?"}],"usage":{"input_tokens":5,"output_tokens":10}}',
  },
  {
    name: 'openai - /v1/responses',
    backend: 'openai',
    path: '/v1/responses',
    method: 'POST',
    requestBody: '{"model":"something","input": "Say this is a test."}',
    expPath: '/v1/responses',
    responseBody: '{"id":"resp_67cc","object":"response","created_at":1741476542,"status":"completed","model":"something","output":[{"type":"message","id":"msg_67c","status":"completed","role":"assistant","content":[{"type":"output_text","text":"This is a test."}]}],"parallel_tool_calls":true,"store":true,"temperature":1,"text":{"format":{"type":"text"}},"tool_choice":"auto","top_p":1,"truncation":"disabled","usage":{"input_tokens":16,"input_tokens_details":{"cached_tokens":5},"output_tokens":6,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":22}}',
    expStatus: 200,
    expResponseBody: '{"id":"resp_67cc","object":"response","created_at":1741476542,"status":"completed","model":"something","output":[{"type":"message","id":"msg_67c","status":"completed","role":"assistant","content":[{"type":"output_text","text":"This is a test."}]}],"parallel_tool_calls":true,"store":true,"temperature":1,"text":{"format":{"type":"text"}},"tool_choice":"auto","top_p":1,"truncation":"disabled","usage":{"input_tokens":16,"input_tokens_details":{"cached_tokens":5},"output_tokens":6,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":22}}',
  },
  {
    name: 'azure-openai - /v1/responses',
    backend: 'azure-openai',
    path: '/v1/responses',
    method: 'POST',
    requestBody: '{"model":"something","input": "Say this is a test."}',
    expPath: '/openai/responses',
    responseBody: '{"id":"resp_67cc","object":"response","created_at":1741476542,"status":"completed","model":"something","output":[{"type":"message","id":"msg_67c","status":"completed","role":"assistant","content":[{"type":"output_text","text":"This is a test."}]}],"parallel_tool_calls":true,"store":true,"temperature":1,"text":{"format":{"type":"text"}},"tool_choice":"auto","top_p":1,"truncation":"disabled","usage":{"input_tokens":16,"input_tokens_details":{"cached_tokens":5},"output_tokens":6,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":22}}',
    expStatus: 200,
    expResponseBody: '{"id":"resp_67cc","object":"response","created_at":1741476542,"status":"completed","model":"something","output":[{"type":"message","id":"msg_67c","status":"completed","role":"assistant","content":[{"type":"output_text","text":"This is a test."}]}],"parallel_tool_calls":true,"store":true,"temperature":1,"text":{"format":{"type":"text"}},"tool_choice":"auto","top_p":1,"truncation":"disabled","usage":{"input_tokens":16,"input_tokens_details":{"cached_tokens":5},"output_tokens":6,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":22}}',
  },
  {
    name: 'openai - /v1/responses - stream',
    backend: 'openai',
    path: '/v1/responses',
    method: 'POST',
    responseType: 'sse',
    requestBody: '{"model":"something","input": "Say this is a test.", "stream": true, "instructions":"You are a helpful assistant."}',
    expPath: '/v1/responses',
    expStatus: 200,
    responseStatus: '200',
    responseBody: r`event: response.created
data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_67c","object":"response","created_at":1741290958,"status":"in_progress","error":null,"incomplete_details":null,"instructions":"You are a helpful assistant.","max_output_tokens":null,"model":"gpt-4.1-2025-04-14","output":[],"parallel_tool_calls":true,"previous_response_id":null,"reasoning":{"effort":null,"summary":null},"store":true,"temperature":1.0,"text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[],"top_p":1.0,"truncation":"disabled","usage":null,"user":null,"metadata":{}}}

event: response.in_progress
data: {"type":"response.in_progress","sequence_number":1,"response":{"id":"resp_67c","object":"response","created_at":1741290958,"status":"in_progress","error":null,"incomplete_details":null,"instructions":"You are a helpful assistant.","max_output_tokens":null,"model":"gpt-4.1-2025-04-14","output":[],"parallel_tool_calls":true,"previous_response_id":null,"reasoning":{"effort":null,"summary":null},"store":true,"temperature":1.0,"text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[],"top_p":1.0,"truncation":"disabled","usage":null,"user":null,"metadata":{}}}

event: response.output_item.added
data: {"type":"response.output_item.added","sequence_number":2,"output_index":0,"item":{"id":"msg_67c","type":"message","status":"in_progress","role":"assistant","content":[]}}

event: response.content_part.added
data: {"type":"response.content_part.added","sequence_number":3,"item_id":"msg_67c","output_index":0,"content_index":0,"part":{"type":"output_text","text":"","annotations":[]}}

event: response.output_text.delta
data: {"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_67c","output_index":0,"content_index":0,"delta":"This"}

event: response.output_text.delta
data: {"type":"response.output_text.delta","sequence_number":5,"item_id":"msg_67c","output_index":0,"content_index":0,"delta":"is"}

event: response.output_text.delta
data: {"type":"response.output_text.delta","sequence_number":6,"item_id":"msg_67c","output_index":0,"content_index":0,"delta":"a test."}

event: response.output_text.done
data: {"type":"response.output_text.done","sequence_number":7,"item_id":"msg_67c","output_index":0,"content_index":0,"text":"This is a test."}

event: response.content_part.done
data: {"type":"response.content_part.done","sequence_number":8,"item_id":"msg_67c","output_index":0,"content_index":0,"part":{"type":"output_text","text":"This is a test.","annotations":[]}}

event: response.output_item.done
data: {"type":"response.output_item.done","sequence_number":9,"output_index":0,"item":{"id":"msg_67c","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"This is a test.","annotations":[]}]}}

event: response.completed
data: {"type":"response.completed","sequence_number":10,"response":{"id":"resp_67c","object":"response","created_at":1741290958,"status":"completed","error":null,"incomplete_details":null,"instructions":"You are a helpful assistant.","max_output_tokens":null,"model":"gpt-4.1-2025-04-14","output":[{"id":"msg_67c","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"This is a test.","annotations":[]}]}],"parallel_tool_calls":true,"previous_response_id":null,"reasoning":{"effort":null,"summary":null},"store":true,"temperature":1.0,"text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[],"top_p":1.0,"truncation":"disabled","usage":{"input_tokens":37,"output_tokens":11,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":48},"user":null,"metadata":{}}}
`,
    expResponseBody: r`event: response.created
data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_67c","object":"response","created_at":1741290958,"status":"in_progress","error":null,"incomplete_details":null,"instructions":"You are a helpful assistant.","max_output_tokens":null,"model":"gpt-4.1-2025-04-14","output":[],"parallel_tool_calls":true,"previous_response_id":null,"reasoning":{"effort":null,"summary":null},"store":true,"temperature":1.0,"text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[],"top_p":1.0,"truncation":"disabled","usage":null,"user":null,"metadata":{}}}

event: response.in_progress
data: {"type":"response.in_progress","sequence_number":1,"response":{"id":"resp_67c","object":"response","created_at":1741290958,"status":"in_progress","error":null,"incomplete_details":null,"instructions":"You are a helpful assistant.","max_output_tokens":null,"model":"gpt-4.1-2025-04-14","output":[],"parallel_tool_calls":true,"previous_response_id":null,"reasoning":{"effort":null,"summary":null},"store":true,"temperature":1.0,"text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[],"top_p":1.0,"truncation":"disabled","usage":null,"user":null,"metadata":{}}}

event: response.output_item.added
data: {"type":"response.output_item.added","sequence_number":2,"output_index":0,"item":{"id":"msg_67c","type":"message","status":"in_progress","role":"assistant","content":[]}}

event: response.content_part.added
data: {"type":"response.content_part.added","sequence_number":3,"item_id":"msg_67c","output_index":0,"content_index":0,"part":{"type":"output_text","text":"","annotations":[]}}

event: response.output_text.delta
data: {"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_67c","output_index":0,"content_index":0,"delta":"This"}

event: response.output_text.delta
data: {"type":"response.output_text.delta","sequence_number":5,"item_id":"msg_67c","output_index":0,"content_index":0,"delta":"is"}

event: response.output_text.delta
data: {"type":"response.output_text.delta","sequence_number":6,"item_id":"msg_67c","output_index":0,"content_index":0,"delta":"a test."}

event: response.output_text.done
data: {"type":"response.output_text.done","sequence_number":7,"item_id":"msg_67c","output_index":0,"content_index":0,"text":"This is a test."}

event: response.content_part.done
data: {"type":"response.content_part.done","sequence_number":8,"item_id":"msg_67c","output_index":0,"content_index":0,"part":{"type":"output_text","text":"This is a test.","annotations":[]}}

event: response.output_item.done
data: {"type":"response.output_item.done","sequence_number":9,"output_index":0,"item":{"id":"msg_67c","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"This is a test.","annotations":[]}]}}

event: response.completed
data: {"type":"response.completed","sequence_number":10,"response":{"id":"resp_67c","object":"response","created_at":1741290958,"status":"completed","error":null,"incomplete_details":null,"instructions":"You are a helpful assistant.","max_output_tokens":null,"model":"gpt-4.1-2025-04-14","output":[{"id":"msg_67c","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"This is a test.","annotations":[]}]}],"parallel_tool_calls":true,"previous_response_id":null,"reasoning":{"effort":null,"summary":null},"store":true,"temperature":1.0,"text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[],"top_p":1.0,"truncation":"disabled","usage":{"input_tokens":37,"output_tokens":11,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":48},"user":null,"metadata":{}}}
`,
  },
  {
    name: 'anthropic-openai - /anthropic/v1/messages - OpenAI Backend with Anthropic messages endpoint',
    backend: 'openai',
    path: '/anthropic/v1/messages',
    method: 'POST',
    requestBody: '{"model": "foo","max_tokens": 1000, "messages": [{"role": "user", "content": "say hi"}]}',
    expRequestBody: '{"messages":[{"content":"say hi","role":"user"}],"model":"foo","max_completion_tokens":1000}',
    expPath: '/v1/chat/completions',
    responseBody: '{"choices":[{"message":{"content":"hi, this is a test."}}]}',
    expStatus: 200,
    expResponseBody: '{"id":"","type":"message","role":"assistant","content":[{"type":"text","text":"hi, this is a test."}],"model":"foo","stop_reason":"end_turn","usage":{"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"input_tokens":0,"output_tokens":0}}',
  },
  {
    name: 'anthropic-openai - /anthropic/v1/messages - non-streaming with system prompt',
    backend: 'openai',
    path: '/anthropic/v1/messages',
    method: 'POST',
    requestBody: '{"model":"claude-test","max_tokens":100,"system":"You are a helpful assistant.","messages":[{"role":"user","content":"Hello"}]}',
    expRequestBody: '{"messages":[{"content":"You are a helpful assistant.","role":"system"},{"content":"Hello","role":"user"}],"model":"claude-test","max_completion_tokens":100}',
    expPath: '/v1/chat/completions',
    responseBody: '{"id":"chatcmpl-sys","model":"gpt-4o","choices":[{"message":{"content":"Hello! How can I help you today?","role":"assistant"},"finish_reason":"stop"}],"usage":{"prompt_tokens":25,"completion_tokens":10}}',
    expStatus: 200,
    expResponseBody: '{"id":"chatcmpl-sys","type":"message","role":"assistant","content":[{"type":"text","text":"Hello! How can I help you today?"}],"model":"gpt-4o","stop_reason":"end_turn","usage":{"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"input_tokens":25,"output_tokens":10}}',
  },
  {
    name: 'anthropic-openai - /anthropic/v1/messages - non-streaming tool call',
    backend: 'openai',
    path: '/anthropic/v1/messages',
    method: 'POST',
    requestBody: r`{"model":"claude-test","max_tokens":200,"messages":[{"role":"user","content":"What's the weather in Paris?"}],"tools":[{"type":"custom","name":"get_weather","description":"Get weather info","input_schema":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}]}`,
    expRequestBody: r`{"messages":[{"content":"What's the weather in Paris?","role":"user"}],"model":"claude-test","max_completion_tokens":200,"tools":[{"type":"function","function":{"name":"get_weather","description":"Get weather info","parameters":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}}]}`,
    expPath: '/v1/chat/completions',
    responseBody: r`{"id":"chatcmpl-tool","model":"gpt-4o","choices":[{"message":{"role":"assistant","tool_calls":[{"id":"call_abc","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Paris\"}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":50,"completion_tokens":15}}`,
    expStatus: 200,
    expResponseBody: '{"id":"chatcmpl-tool","type":"message","role":"assistant","content":[{"type":"tool_use","id":"call_abc","name":"get_weather","input":{"location":"Paris"}}],"model":"gpt-4o","stop_reason":"tool_use","usage":{"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"input_tokens":50,"output_tokens":15}}',
  },
  {
    name: 'anthropic-openai - /anthropic/v1/messages - streaming text response',
    backend: 'openai',
    path: '/anthropic/v1/messages',
    method: 'POST',
    responseType: 'sse',
    requestBody: '{"model":"claude-test","max_tokens":100,"messages":[{"role":"user","content":"Say hi"}],"stream":true}',
    expRequestBody: '{"messages":[{"content":"Say hi","role":"user"}],"model":"claude-test","max_completion_tokens":100,"stream":true,"stream_options":{"include_usage":true}}',
    expPath: '/v1/chat/completions',
    responseBody: r`{"id":"chatcmpl-stream","model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}],"usage":null}
{"id":"chatcmpl-stream","model":"gpt-4o","choices":[{"index":0,"delta":{"content":" there!"},"finish_reason":null}],"usage":null}
{"id":"chatcmpl-stream","model":"gpt-4o","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}
{"id":"chatcmpl-stream","model":"gpt-4o","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":3}}
[DONE]`,
    expStatus: 200,
    expResponseBody: r`event: message_start
data: {"type":"message_start","message":{"id":"chatcmpl-stream","type":"message","role":"assistant","content":[],"model":"gpt-4o","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" there!"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":10,"output_tokens":3}}

event: message_stop
data: {"type":"message_stop"}`,
  },
  {
    name: 'anthropic-openai - /anthropic/v1/messages - streaming tool call',
    backend: 'openai',
    path: '/anthropic/v1/messages',
    method: 'POST',
    responseType: 'sse',
    requestBody: '{"model":"claude-test","max_tokens":100,"messages":[{"role":"user","content":"Get the weather in Paris"}],"stream":true,"tools":[{"type":"custom","name":"get_weather","description":"Get weather info","input_schema":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}]}',
    expRequestBody: '{"messages":[{"content":"Get the weather in Paris","role":"user"}],"model":"claude-test","max_completion_tokens":100,"stream":true,"stream_options":{"include_usage":true},"tools":[{"type":"function","function":{"name":"get_weather","description":"Get weather info","parameters":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}}]}',
    expPath: '/v1/chat/completions',
    responseBody: r`{"id":"chatcmpl-tool","model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_abc","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}],"usage":null}
{"id":"chatcmpl-tool","model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"location\":"}}]},"finish_reason":null}],"usage":null}
{"id":"chatcmpl-tool","model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"finish_reason":null}],"usage":null}
{"id":"chatcmpl-tool","model":"gpt-4o","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}],"usage":null}
{"id":"chatcmpl-tool","model":"gpt-4o","choices":[],"usage":{"prompt_tokens":50,"completion_tokens":15}}
[DONE]`,
    expStatus: 200,
    expResponseBody: r`event: message_start
data: {"type":"message_start","message":{"id":"chatcmpl-tool","type":"message","role":"assistant","content":[],"model":"gpt-4o","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"call_abc","name":"get_weather","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"location\":"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"\"Paris\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":50,"output_tokens":15}}

event: message_stop
data: {"type":"message_stop"}`,
  },
  {
    name: 'anthropic-openai - /anthropic/v1/messages - OpenAI JSON error translated to Anthropic error',
    backend: 'openai',
    path: '/anthropic/v1/messages',
    method: 'POST',
    requestBody: '{"model":"claude-test","max_tokens":100,"messages":[{"role":"user","content":"Hello"}]}',
    expPath: '/v1/chat/completions',
    expRequestBody: '{"messages":[{"content":"Hello","role":"user"}],"model":"claude-test","max_completion_tokens":100}',
    responseBody: '{"error":{"type":"invalid_request_error","message":"Model not found","code":"model_not_found"}}',
    responseStatus: '400',
    expStatus: 400,
    expResponseBody: '{"error":{"message":"Model not found","type":"invalid_request_error"},"request_id":"","type":"error"}',
  },
];

// The 20-chunk stream of upstream's "stream non blocking".
const NON_BLOCKING_STREAM = r`
{"id":"chatcmpl-B8ZKlXBoEXZVTtv3YBmewxuCpNW7b","object":"chat.completion.chunk","created":1741382147,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{"content":" This"},"logprobs":null,"finish_reason":null}],"usage":null}
{"id":"chatcmpl-B8ZKlXBoEXZVTtv3YBmewxuCpNW7b","object":"chat.completion.chunk","created":1741382147,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{"content":" is"},"logprobs":null,"finish_reason":null}],"usage":null}
{"id":"chatcmpl-B8ZKlXBoEXZVTtv3YBmewxuCpNW7b","object":"chat.completion.chunk","created":1741382147,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{"content":" a"},"logprobs":null,"finish_reason":null}],"usage":null}
{"id":"chatcmpl-B8ZKlXBoEXZVTtv3YBmewxuCpNW7b","object":"chat.completion.chunk","created":1741382147,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{"content":" test"},"logprobs":null,"finish_reason":null}],"usage":null}
{"id":"chatcmpl-B8ZKlXBoEXZVTtv3YBmewxuCpNW7b","object":"chat.completion.chunk","created":1741382147,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{"content":"."},"logprobs":null,"finish_reason":null}],"usage":null}
{"id":"chatcmpl-B8ZKlXBoEXZVTtv3YBmewxuCpNW7b","object":"chat.completion.chunk","created":1741382147,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{"content":" This"},"logprobs":null,"finish_reason":null}],"usage":null}
{"id":"chatcmpl-B8ZKlXBoEXZVTtv3YBmewxuCpNW7b","object":"chat.completion.chunk","created":1741382147,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{"content":" is"},"logprobs":null,"finish_reason":null}],"usage":null}
{"id":"chatcmpl-B8ZKlXBoEXZVTtv3YBmewxuCpNW7b","object":"chat.completion.chunk","created":1741382147,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{"content":" a"},"logprobs":null,"finish_reason":null}],"usage":null}
{"id":"chatcmpl-B8ZKlXBoEXZVTtv3YBmewxuCpNW7b","object":"chat.completion.chunk","created":1741382147,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{"content":" test"},"logprobs":null,"finish_reason":null}],"usage":null}
{"id":"chatcmpl-B8ZKlXBoEXZVTtv3YBmewxuCpNW7b","object":"chat.completion.chunk","created":1741382147,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{"content":"."},"logprobs":null,"finish_reason":null}],"usage":null}
{"id":"chatcmpl-B8ZKlXBoEXZVTtv3YBmewxuCpNW7b","object":"chat.completion.chunk","created":1741382147,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{"content":" This"},"logprobs":null,"finish_reason":null}],"usage":null}
{"id":"chatcmpl-B8ZKlXBoEXZVTtv3YBmewxuCpNW7b","object":"chat.completion.chunk","created":1741382147,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{"content":" is"},"logprobs":null,"finish_reason":null}],"usage":null}
{"id":"chatcmpl-B8ZKlXBoEXZVTtv3YBmewxuCpNW7b","object":"chat.completion.chunk","created":1741382147,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{"content":" a"},"logprobs":null,"finish_reason":null}],"usage":null}
{"id":"chatcmpl-B8ZKlXBoEXZVTtv3YBmewxuCpNW7b","object":"chat.completion.chunk","created":1741382147,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{"content":" test"},"logprobs":null,"finish_reason":null}],"usage":null}
{"id":"chatcmpl-B8ZKlXBoEXZVTtv3YBmewxuCpNW7b","object":"chat.completion.chunk","created":1741382147,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{"content":"."},"logprobs":null,"finish_reason":null}],"usage":null}
{"id":"chatcmpl-B8ZKlXBoEXZVTtv3YBmewxuCpNW7b","object":"chat.completion.chunk","created":1741382147,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{"content":" This"},"logprobs":null,"finish_reason":null}],"usage":null}
{"id":"chatcmpl-B8ZKlXBoEXZVTtv3YBmewxuCpNW7b","object":"chat.completion.chunk","created":1741382147,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{"content":" is"},"logprobs":null,"finish_reason":null}],"usage":null}
{"id":"chatcmpl-B8ZKlXBoEXZVTtv3YBmewxuCpNW7b","object":"chat.completion.chunk","created":1741382147,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{"content":" a"},"logprobs":null,"finish_reason":null}],"usage":null}
{"id":"chatcmpl-B8ZKlXBoEXZVTtv3YBmewxuCpNW7b","object":"chat.completion.chunk","created":1741382147,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{"content":" test"},"logprobs":null,"finish_reason":null}],"usage":null}
{"id":"chatcmpl-B8ZKlXBoEXZVTtv3YBmewxuCpNW7b","object":"chat.completion.chunk","created":1741382147,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{"content":"."},"logprobs":null,"finish_reason":null}],"usage":null}
{"id":"chatcmpl-B8ZKlXBoEXZVTtv3YBmewxuCpNW7b","object":"chat.completion.chunk","created":1741382147,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[],"usage":{"prompt_tokens":25,"completion_tokens":61,"total_tokens":86,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}
[DONE]
`;

// TestStreamingUsageInclusionWithCosts's table.
const USAGE_CASES = [
  {
    name: 'streaming - forced to include usage',
    backend: 'openai',
    requestBody: '{"model":"something","messages":[{"role":"system","content":"You are a chatbot."}], "stream": true, "stream_options": {"include_usage": false}}',
    expRequestBody: '{"model":"something","messages":[{"role":"system","content":"You are a chatbot."}], "stream": true, "stream_options": {"include_usage": true}}',
    responseBody: r`
{"id":"chatcmpl-foo","object":"chat.completion.chunk","created":1731618222,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_0ba0d124f1","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}
{"id":"chatcmpl-foo","object":"chat.completion.chunk","created":1731618222,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_0ba0d124f1","choices":[],"usage":{"prompt_tokens":13,"completion_tokens":12,"total_tokens":25,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}
[DONE]
`,
    // difference: usage-chunk-only-when-asked
    expResponseBody: r`data: {"id":"chatcmpl-foo","object":"chat.completion.chunk","created":1731618222,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_0ba0d124f1","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}

data: [DONE]

`,
  },
  {
    name: 'streaming - forced to include usage without stream_options',
    backend: 'openai',
    requestBody: '{"model":"something","messages":[{"role":"system","content":"You are a chatbot."}], "stream": true}',
    expRequestBody: '{"model":"something","messages":[{"role":"system","content":"You are a chatbot."}], "stream": true,"stream_options":{"include_usage":true}}',
    responseBody: r`
{"id":"chatcmpl-foo","object":"chat.completion.chunk","created":1731618222,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_0ba0d124f1","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}
{"id":"chatcmpl-foo","object":"chat.completion.chunk","created":1731618222,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_0ba0d124f1","choices":[],"usage":{"prompt_tokens":13,"completion_tokens":12,"total_tokens":25,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}
[DONE]
`,
    // difference: usage-chunk-only-when-asked
    expResponseBody: r`data: {"id":"chatcmpl-foo","object":"chat.completion.chunk","created":1731618222,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_0ba0d124f1","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}

data: [DONE]

`,
  },
  {
    name: 'streaming - model override forced to include usage',
    backend: 'modelname-override',
    requestBody: '{"model":"requested-model","messages":[{"role":"system","content":"You are a chatbot."}], "stream": true, "stream_options": {"include_usage": false}}',
    expRequestBody: '{"model":"override-model","messages":[{"role":"system","content":"You are a chatbot."}], "stream": true, "stream_options": {"include_usage": true}}',
    responseBody: r`
{"id":"chatcmpl-foo","object":"chat.completion.chunk","created":1731618222,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_0ba0d124f1","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}
{"id":"chatcmpl-foo","object":"chat.completion.chunk","created":1731618222,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_0ba0d124f1","choices":[],"usage":{"prompt_tokens":13,"completion_tokens":12,"total_tokens":25,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}
[DONE]
`,
    // difference: usage-chunk-only-when-asked
    expResponseBody: r`data: {"id":"chatcmpl-foo","object":"chat.completion.chunk","created":1731618222,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_0ba0d124f1","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}

data: [DONE]

`,
  },
  {
    name: 'streaming - model override without stream_options forced to include usage',
    backend: 'modelname-override',
    requestBody: '{"model":"requested-model","messages":[{"role":"system","content":"You are a chatbot."}], "stream": true}',
    expRequestBody: '{"model":"override-model","messages":[{"role":"system","content":"You are a chatbot."}], "stream": true,"stream_options":{"include_usage":true}}',
    responseBody: r`
{"id":"chatcmpl-foo","object":"chat.completion.chunk","created":1731618222,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_0ba0d124f1","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}
{"id":"chatcmpl-foo","object":"chat.completion.chunk","created":1731618222,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_0ba0d124f1","choices":[],"usage":{"prompt_tokens":13,"completion_tokens":12,"total_tokens":25,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}
[DONE]
`,
    // difference: usage-chunk-only-when-asked
    expResponseBody: r`data: {"id":"chatcmpl-foo","object":"chat.completion.chunk","created":1731618222,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_0ba0d124f1","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}

data: [DONE]

`,
  },
];

describe('TestWithTestUpstream', () => {
  let up;
  let errorServer;
  let tokenServer;
  let gw;
  before(async () => {
    up = await startTestupstream({ id: 'extproc_test' });
    errorServer = await startErrorServer();
    tokenServer = await startGcpTokenServer();
    gw = await startAigw({
      config: (port) =>
        mainConfig({
          port,
          upstreamPort: up.port,
          errorPort: errorServer.port,
          serviceAccount: tokenServer.serviceAccount,
          modelsCreatedAt: now.toISOString().replace('.000Z', 'Z'),
        }),
    });
  });
  after(async () => {
    await gw?.stop();
    await up?.stop();
    await errorServer?.close();
    await tokenServer?.close();
  });

  const seen = new Map();
  for (const tc of CASES) {
    // Go's t.Run suffixes a repeated name with #01, #02, ...
    const n = seen.get(tc.name) ?? 0;
    seen.set(tc.name, n + 1);
    const title = n === 0 ? tc.name : `${tc.name}#${String(n).padStart(2, '0')}`;
    it(title, async () => {
      await runCase(gw, tc);
    });
  }

  // Receives a stream of 20 events, testupstream sleeping 200 ms between them: if the gateway does
  // not pass the stream through as it comes, an event arrives more than 3 s after the previous one.
  it('stream non blocking', async () => {
    const client = new OpenAI({
      baseURL: `${gw.base}/v1/`,
      apiKey: 'unused',
      defaultHeaders: { 'x-test-backend': 'openai', 'x-response-type': 'sse', 'x-response-body': b64(NON_BLOCKING_STREAM) },
    });
    // create() resolves on the response head, so the clock starts before it.
    let start = Date.now();
    const stream = await client.chat.completions.create({
      messages: [{ role: 'user', content: 'Say this is a test' }],
      model: 'something',
      stream: true,
    });
    let asserted = false;
    for await (const chunk of stream) {
      if (chunk.choices.length === 0 || !chunk.choices[0].delta?.content) continue;
      assert.ok(Date.now() - start < 3000, `an event ${Date.now() - start} ms after the previous one`);
      start = Date.now();
      asserted = true;
    }
    assert.ok(asserted, 'no content event');
  });
});

// Streaming requests get stream_options.include_usage forced on when request costs are
// configured, globally (GatewayConfig) or on the route.
const USAGE_COST = `  llmRequestCosts:
    - {metadataKey: used_token, type: InputToken}
`;
for (const costType of [{ name: 'global costs', global: true }, { name: 'route-scoped costs', global: false }]) {
  describe(`TestStreamingUsageInclusionWithCosts/${costType.name}`, () => {
    const ns = 'test-ns';
    let up;
    let gw;
    before(async () => {
      up = await startTestupstream({ id: 'extproc_test' });
      const routeCost = costType.global ? '' : USAGE_COST;
      gw = await startAigw({
        config: (port) =>
          gateway(port, ns, costType.global ? 'costs' : null) +
          (costType.global ? gatewayConfig('costs', ns) : '') +
          route('openai-route', ns, [testBackendRule('openai', ['{name: testupstream-openai}'])], routeCost) +
          route('modelname-override-route', ns, [
            testBackendRule('modelname-override', ['{name: testupstream-modelname-override, modelNameOverride: override-model}']),
          ], routeCost) +
          retryPolicy(ns, ['openai-route', 'modelname-override-route']) +
          backend('testupstream-openai', ns, OPENAI_SCHEMA, up.port) +
          backend('testupstream-modelname-override', ns, OPENAI_SCHEMA, up.port),
      });
    });
    after(async () => {
      await gw?.stop();
      await up?.stop();
    });

    for (const tc of USAGE_CASES) {
      it(tc.name, async () => {
        const headers = {
          'x-test-backend': tc.backend,
          'x-response-body': b64(tc.responseBody),
          'x-expected-path': b64('/v1/chat/completions'),
          'x-response-type': 'sse',
        };
        if (tc.expRequestBody) headers['x-expected-request-body'] = b64(tc.expRequestBody);
        const requestId = `dataplane-${crypto.randomUUID()}`;
        headers['x-request-id'] = requestId;
        const res = await goRequest(gw.base, { method: 'POST', path: '/v1/chat/completions', body: tc.requestBody, headers });
        assert.equal(res.status, 200, res.body);
        assert.equal(res.body, tc.expResponseBody);
        // The usage chunk the client does not get was read: its usage and cost are recorded.
        await checkLoggedUsage(gw, requestId, { input_tokens: 13, output_tokens: 12, total_tokens: 25, used_token: 13 });
      });
    }
  });
}

// How many request completions aigw recorded for the backend's provider (upstream reads the
// extproc's; aigw's admin listener serves the same GenAI metrics).
async function requestCompletionCount(admin, backend, want) {
  const provider = { 'aws-anthropic': 'aws.anthropic', openai: 'openai' }[backend];
  assert.ok(provider, `unmapped backend ${backend}`);
  let total = 0;
  // Metrics are recorded as the response ends; give them a moment.
  for (const deadline = Date.now() + 2000; ;) {
    const body = await (await fetch(`${admin}/metrics`)).text();
    total = 0;
    for (const line of body.split('\n')) {
      if (!line.startsWith('gen_ai_server_request_duration_seconds_count')) continue;
      if (!line.includes(`gen_ai_provider_name="${provider}"`)) continue;
      const fields = line.trim().split(/\s+/);
      const count = Number(fields.at(-1));
      assert.ok(Number.isInteger(count), `parsing ${line}`);
      total += count;
    }
    if (total >= want || Date.now() > deadline) return total;
    await sleep(50);
  }
}

// An error the gateway answers itself reaches the client intact and is counted once.
describe('TestLocalReplyIsNotReprocessedAsUpstreamResponse', () => {
  const ns = 'default';
  let up;
  let gw;
  before(async () => {
    up = await startTestupstream({ id: 'extproc_test' });
    gw = await startAigw({
      config: (port) =>
        gateway(port, ns) +
        route('testupstream', ns, [
          testBackendRule('aws-anthropic', ['{name: testupstream-aws-anthropic}']),
          testBackendRule('openai', ['{name: testupstream-openai}']),
        ]) +
        retryPolicy(ns, ['testupstream']) +
        backend('testupstream-aws-anthropic', ns, '{name: AWSAnthropic, version: bedrock-2023-05-31}', up.port) +
        backend('testupstream-openai', ns, OPENAI_SCHEMA, up.port) +
        secret('openai', ns, { apiKey: 'dummy-configured-key' }) +
        // Requires a per-request credential: without it the gateway itself answers 401.
        securityPolicy('openai', ns, ['testupstream-openai'], `  type: APIKey
  apiKey: {secretRef: {name: openai}}
  credentialOverride: {fromRequestHeaders: {header: x-per-request-cred, fallbackToConfigured: false}}
`),
    });
  });
  after(async () => {
    await gw?.stop();
    await up?.stop();
  });

  for (const tc of [
    {
      // Cross-schema: the error body would be re-translated on the way back.
      name: 'translation rejects the request body',
      backend: 'aws-anthropic',
      body: '{"model":"anthropic.claude-3-sonnet-20240229-v1:0","temperature":2.0,"messages":[{"role":"user","content":"hi"}]}',
      expStatus: 422,
      // difference: validation-message-text (upstream: "temperature 2.00 is not supported by Anthropic")
      expMessage: 'temperature',
    },
    {
      // "something" matches no x-ai-eg-model route, so x-test-backend selects the route.
      name: 'the per-request credential is missing',
      backend: 'openai',
      body: '{"model":"something","messages":[{"role":"user","content":"hi"}]}',
      expStatus: 401,
      expMessage: 'missing upstream credential',
    },
  ]) {
    it(tc.name, async () => {
      const requests = 2;
      for (let i = 0; i < requests; i++) {
        const res = await goRequest(gw.base, {
          method: 'POST',
          path: '/v1/chat/completions',
          body: tc.body,
          headers: { 'Content-Type': 'application/json', 'x-test-backend': tc.backend },
        });
        assert.equal(res.status, tc.expStatus, res.body);
        contains(res.body, tc.expMessage);
      }
      // One completion per request, not one per response-path pass.
      assert.equal(await requestCompletionCount(gw.admin, tc.backend, requests), requests);
    });
  }
});
