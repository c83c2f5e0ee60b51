// `aigw extproc` driven the way Envoy drives an external processor, by a client written against
// Envoy's official protos (@grpc/grpc-js + @grpc/proto-loader, protos from @grpc/grpc-js-xds):
// the router-level phases, the upstream-level phase per attempt (with the xDS attribute naming
// the backend), and the response phases, checking every mutation, body and metadata value.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import crypto from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { AIGW_BIN, freePort, SLOW, FIXTURES_DIR, sleep } from '../lib/harness.mjs';
import { PROTO_DEPS, extprocClient, translateToBundle, BACKEND_ATTR, ROUTE_ATTR, headers, setHeaders, metadata, openStream } from '../lib/envoy.mjs';

const deps = PROTO_DEPS;

const CONFIG = `version: dev
uuid: test-config
backends:
  - name: default/openai/route/r/rule/0/ref/0
    modelNameOverride: ""
    schema: {name: OpenAI, prefix: v1}
    auth: {apiKey: {key: sk-openai-secret}}
    httpBodyMutation: {set: [{path: service_tier, value: '"flex"'}], remove: [internal_flag]}
  - name: default/openai-bad/route/r/rule/0/ref/1
    schema: {name: OpenAI, prefix: v1}
    auth: {apiKey: {key: sk-bad}}
  - name: default/bedrock/route/r/rule/1/ref/0
    modelNameOverride: anthropic.claude-3-5-sonnet-20241022-v2:0
    schema: {name: AWSBedrock}
    auth:
      aws:
        credentialFileLiteral: |
          [default]
          aws_access_key_id = AKIDEXAMPLE
          aws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
        region: us-east-1
llmRequestCosts:
  - {metadataKey: llm_total_token, routeName: default/r, type: TotalToken}
  - {metadataKey: llm_output_token, routeName: default/r, type: OutputToken}
models:
  - {Name: gpt-4o-mini, OwnedBy: openai, CreatedAt: "2025-01-01T00:00:00Z"}
`;

describe('aigw extproc', { skip: !existsSync(deps) && 'envoy protos not installed (make setup)' }, () => {
  let child;
  let client;
  let adminPort;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-extproc-'));
  const configPath = path.join(dir, 'config.yaml');
  before(async () => {
    writeFileSync(configPath, CONFIG);
    const port = await freePort();
    adminPort = await freePort();
    child = spawn(AIGW_BIN, ['extproc', '-configPath', configPath, '-extProcAddr', `127.0.0.1:${port}`, '-adminPort', String(adminPort), '-logLevel', 'warn', '-logFormat', 'text'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const stderrLines = [];
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no ready line')), 10000 * SLOW);
      readline.createInterface({ input: child.stderr }).on('line', (l) => {
        stderrLines.push(l);
        if (l.includes('AI Gateway External Processor is ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (c) => reject(new Error(`exited ${c}: ${stderrLines.join('\n')}`)));
    });
    child.once('exit', (c) => {
      if (c) console.error(`aigw extproc exited with ${c}:\n${stderrLines.join('\n')}`);
    });
    client = extprocClient(`127.0.0.1:${port}`);
  });
  after(() => {
    client?.close();
    child?.kill('SIGTERM');
  });

  // The router-level request phases; returns the internal request id.
  async function routerRequest(router, body, p = '/v1/chat/completions') {
    const h = await router.send({ request_headers: headers({ ':path': p, ':method': 'POST', 'x-request-id': 'rid-1', 'content-type': 'application/json' }) });
    const id = setHeaders(h.request_headers.response.header_mutation)['x-ai-eg-internal-req-id'];
    assert.match(id, /^rid-1-/);
    const b = await router.send({ request_body: { body: Buffer.from(JSON.stringify(body)), end_of_stream: true } });
    const set = setHeaders(b.request_body.response.header_mutation);
    assert.equal(set['x-ai-eg-model'], body.model);
    assert.equal(set['x-ai-eg-original-path'], p);
    assert.equal(set['x-envoy-original-path'], p);
    assert.equal(b.request_body.response.clear_route_cache, true);
    return id;
  }
  async function upstream(id, backend) {
    const up = openStream(client);
    const r = await up.send({
      request_headers: headers({ ':path': '/v1/chat/completions', ':method': 'POST', 'x-ai-eg-internal-req-id': id, ':authority': 'bedrock-runtime.us-east-1.amazonaws.com' }),
      attributes: { 'envoy.filters.http.ext_proc': { fields: { [BACKEND_ATTR]: { stringValue: backend }, [ROUTE_ATTR]: { stringValue: 'default/r' } } } },
    });
    up.end();
    return r.request_headers.response;
  }

  it('OpenAI passthrough: headers, route cache, auth, body, usage and costs in metadata', async () => {
    const router = openStream(client);
    const id = await routerRequest(router, { model: 'gpt-4o-mini', internal_flag: 1, messages: [{ role: 'user', content: 'hi' }] });
    const common = await upstream(id, 'default/openai/route/r/rule/0/ref/0');
    assert.equal(common.status, 'CONTINUE_AND_REPLACE');
    const sentBody = JSON.parse(Buffer.from(common.body_mutation.body).toString());
    assert.equal(sentBody.service_tier, 'flex'); // httpBodyMutation
    assert.ok(!('internal_flag' in sentBody));
    const set = setHeaders(common.header_mutation);
    assert.equal(set[':path'], '/v1/chat/completions');
    assert.equal(set.authorization, 'Bearer sk-openai-secret');
    assert.equal(JSON.parse(Buffer.from(common.body_mutation.body).toString()).model, 'gpt-4o-mini');
    await router.send({ response_headers: headers({ ':status': '200', 'content-type': 'application/json' }) });
    const answer = { id: 'c', object: 'chat.completion', model: 'gpt-4o-mini-2024', choices: [], usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 } };
    const rb = await router.send({ response_body: { body: Buffer.from(JSON.stringify(answer)), end_of_stream: true } });
    const md = metadata(rb);
    assert.equal(md.llm_total_token, 12);
    assert.equal(md.llm_output_token, 7);
    assert.equal(md.backend_name, 'default/openai/route/r/rule/0/ref/0');
    assert.equal(md.response_model, 'gpt-4o-mini-2024');
    assert.equal(md.route_name, 'default/r');
    router.end();
  });

  it('route-scoped costs apply to the route Envoy names under aigw_route_name, and only to it', async () => {
    const answer = { model: 'gpt-4o-mini', choices: [], usage: { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 } };
    const run = async (attrs) => {
      const router = openStream(client);
      const id = await routerRequest(router, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
      const up = openStream(client);
      const r = await up.send({
        request_headers: headers({ ':path': '/v1/chat/completions', ':method': 'POST', 'x-ai-eg-internal-req-id': id }),
        attributes: { 'envoy.filters.http.ext_proc': { fields: { [BACKEND_ATTR]: { stringValue: 'default/openai/route/r/rule/0/ref/0' }, ...attrs } } },
      });
      up.end();
      assert.equal(metadata(r).backend_name, 'default/openai/route/r/rule/0/ref/0');
      await router.send({ response_headers: headers({ ':status': '200', 'content-type': 'application/json' }) });
      const rb = await router.send({ response_body: { body: Buffer.from(JSON.stringify(answer)), end_of_stream: true } });
      router.end();
      return metadata(rb);
    };
    const named = await run({ [ROUTE_ATTR]: { stringValue: 'default/r' } });
    assert.equal(named.llm_total_token, 5);
    assert.equal(named.llm_output_token, 3);
    assert.equal(named.route_name, 'default/r');
    assert.equal(named.model_name_override, 'gpt-4o-mini'); // the effective x-ai-eg-model
    assert.equal(named.ai_service_backend_name, 'default/openai');
    // The key this processor once read is not upstream's: a route named there has no route costs.
    const legacy = await run({ ["xds.route_metadata.filter_metadata['aigateway.envoy.io']['route_name']"]: { stringValue: 'default/r' } });
    assert.equal(legacy.llm_total_token, undefined);
    assert.equal(legacy.route_name, undefined);
    const other = await run({ [ROUTE_ATTR]: { stringValue: 'default/other' } });
    assert.equal(other.llm_total_token, undefined);
    assert.equal(other.route_name, 'default/other');
  });

  it('Bedrock: the stored body translated to Converse, SigV4 the official signer accepts, the answer translated back', async () => {
    const router = openStream(client);
    const id = await routerRequest(router, { model: 'claude', messages: [{ role: 'user', content: 'hello' }], max_tokens: 10 });
    const common = await upstream(id, 'default/bedrock/route/r/rule/1/ref/0');
    const set = setHeaders(common.header_mutation);
    assert.equal(set[':path'], '/model/anthropic.claude-3-5-sonnet-20241022-v2:0/converse');
    assert.equal(set['x-ai-eg-model'], 'anthropic.claude-3-5-sonnet-20241022-v2:0');
    const body = Buffer.from(common.body_mutation.body).toString();
    const converse = JSON.parse(body);
    assert.equal(converse.messages[0].content[0].text, 'hello');
    assert.equal(converse.inferenceConfig.maxTokens, 10);
    assert.equal(set['content-length'], String(Buffer.byteLength(body)));
    // Recompute the signature with AWS's signer over what Envoy will send.
    const signer = new SignatureV4({ service: 'bedrock', region: 'us-east-1', sha256: Sha256, applyChecksum: false, credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' } });
    const amzDate = set['x-amz-date'];
    const when = new Date(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`);
    const signed = await signer.sign({ method: 'POST', protocol: 'https:', hostname: 'bedrock-runtime.us-east-1.amazonaws.com', path: set[':path'], headers: { host: 'bedrock-runtime.us-east-1.amazonaws.com' }, body }, { signingDate: when, signableHeaders: new Set(['host']) });
    assert.equal(set.authorization, signed.headers.authorization);
    await router.send({ response_headers: headers({ ':status': '200', 'content-type': 'application/json' }) });
    const rb = await router.send({ response_body: { body: Buffer.from(JSON.stringify({ output: { message: { role: 'assistant', content: [{ text: 'Hi!' }] } }, stopReason: 'end_turn', usage: { inputTokens: 3, outputTokens: 2, totalTokens: 5 } })), end_of_stream: true } });
    const out = JSON.parse(Buffer.from(rb.response_body.response.body_mutation.body).toString());
    assert.equal(out.object, 'chat.completion');
    assert.equal(out.choices[0].message.content, 'Hi!');
    assert.equal(metadata(rb).llm_total_token, 5);
    router.end();
  });

  it('a streamed answer split mid-event across chunks still yields its usage (STREAMED mode)', async () => {
    const router = openStream(client);
    const id = await routerRequest(router, { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    const common = await upstream(id, 'default/openai/route/r/rule/0/ref/0');
    // Costs are configured: include_usage was injected into the body.
    assert.equal(JSON.parse(Buffer.from(common.body_mutation.body).toString()).stream_options.include_usage, true);
    const rh = await router.send({ response_headers: headers({ ':status': '200', 'content-type': 'text/event-stream' }) });
    assert.equal(rh.mode_override.response_body_mode, 'STREAMED');
    const sse = 'data: {"id":"c","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n' +
      'data: {"id":"c","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}\n\ndata: [DONE]\n\n';
    const cut = sse.indexOf('"usage"') + 10; // inside the usage event
    await router.send({ response_body: { body: Buffer.from(sse.slice(0, cut)), end_of_stream: false } });
    const last = await router.send({ response_body: { body: Buffer.from(sse.slice(cut)), end_of_stream: true } });
    assert.equal(metadata(last).llm_total_token, 7);
    assert.equal(metadata(last).llm_output_token, 4);
    assert.equal(typeof metadata(last).token_latency_ttft, 'number');
    router.end();
  });

  it('a client that leaves right after the final frame: the usage is still recorded (v1.2)', async () => {
    const inputSum = async () => {
      const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith('gen_ai_client_token_usage_sum{') &&
        l.includes('gen_ai_request_model="gpt-4o-mini"') && l.includes('gen_ai_token_type="input"'));
      return line ? Number(line.split(' ').pop()) : 0;
    };
    const before = await inputSum();
    const router = openStream(client);
    const id = await routerRequest(router, { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    await upstream(id, 'default/openai/route/r/rule/0/ref/0');
    await router.send({ response_headers: headers({ ':status': '200', 'content-type': 'text/event-stream' }) });
    const sse = 'data: {"id":"c","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n' +
      'data: {"id":"c","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":31,"completion_tokens":4,"total_tokens":35}}\n\ndata: [DONE]\n\n';
    const r = await router.send({ response_body: { body: Buffer.from(sse), end_of_stream: false } });
    // The client asked for no usage chunk: it is not relayed, though the gateway asked for it.
    assert.doesNotMatch(Buffer.from(r.response_body.response.body_mutation.body).toString(), /"usage"/);
    router.end(); // Envoy closes the stream: the client is gone before end_of_stream
    let after = before;
    for (let i = 0; i < 50 * SLOW && after === before; i++) {
      await sleep(20);
      after = await inputSum();
    }
    assert.equal(after - before, 31);
  });

  it('a retry to a second backend: two upstream phases, the last one answers', async () => {
    const router = openStream(client);
    const id = await routerRequest(router, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    const first = await upstream(id, 'default/openai-bad/route/r/rule/0/ref/1');
    assert.equal(setHeaders(first.header_mutation).authorization, 'Bearer sk-bad');
    const second = await upstream(id, 'default/openai/route/r/rule/0/ref/0');
    assert.equal(setHeaders(second.header_mutation).authorization, 'Bearer sk-openai-secret');
    await router.send({ response_headers: headers({ ':status': '200', 'content-type': 'application/json' }) });
    const rb = await router.send({ response_body: { body: Buffer.from('{"model":"m","usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}'), end_of_stream: true } });
    assert.equal(metadata(rb).backend_name, 'default/openai/route/r/rule/0/ref/0');
    router.end();
  });

  it('answers unknown paths with 404, malformed bodies with 400, and /v1/models directly', async () => {
    const a = openStream(client);
    const r = await a.send({ request_headers: headers({ ':path': '/unknown', ':method': 'POST' }) });
    assert.equal(r.immediate_response.status.code, 'NotFound');
    assert.equal(Buffer.from(r.immediate_response.body).toString(), 'unsupported path: /unknown');
    a.end();
    const b = openStream(client);
    await b.send({ request_headers: headers({ ':path': '/v1/chat/completions', ':method': 'POST' }) });
    const bad = await b.send({ request_body: { body: Buffer.from('{"model": "x", "messages": [invalid'), end_of_stream: true } });
    assert.equal(bad.immediate_response.status.code, 'BadRequest');
    assert.match(Buffer.from(bad.immediate_response.body).toString(), /"type":"BadRequest"/);
    b.end();
    const c = openStream(client);
    const m = await c.send({ request_headers: headers({ ':path': '/v1/models', ':method': 'GET' }) });
    assert.equal(JSON.parse(Buffer.from(m.immediate_response.body).toString()).data[0].id, 'gpt-4o-mini');
    c.end();
    assert.equal(await (await fetch(`http://127.0.0.1:${adminPort}/health`)).text(), 'OK\n'); // as upstream's admin.go
    const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
    assert.match(metrics, /gen_ai_client_token_usage_sum\{[^}]*gen_ai_provider_name="aws.bedrock"[^}]*gen_ai_token_type="output"/);
    assert.match(metrics, /gen_ai_server_time_to_first_token_seconds_count\{/);
  });

  it('refuses a model holding CR/LF with a 400 naming "model" before any header is set', async () => {
    const s = openStream(client);
    await s.send({ request_headers: headers({ ':path': '/v1/chat/completions', ':method': 'POST' }) });
    const body = JSON.stringify({ model: 'gpt-4o-mini\r\nx-injected: 1', messages: [] });
    const r = await s.send({ request_body: { body: Buffer.from(body), end_of_stream: true } });
    assert.equal(r.immediate_response.status.code, 'BadRequest');
    assert.match(Buffer.from(r.immediate_response.body).toString(), /\\"model\\"/);
    s.end();
  });

  it('scrubs the credential a provider echoes in an error body', async () => {
    const router = openStream(client);
    const id = await routerRequest(router, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    await upstream(id, 'default/openai/route/r/rule/0/ref/0');
    await router.send({ response_headers: headers({ ':status': '401', 'content-type': 'application/json' }) });
    const echoed = { error: { message: 'Incorrect API key provided: sk-openai-secret', type: 'invalid_request_error' } };
    const rb = await router.send({ response_body: { body: Buffer.from(JSON.stringify(echoed)), end_of_stream: true } });
    const out = Buffer.from(rb.response_body.response.body_mutation.body).toString();
    assert.ok(!out.includes('sk-openai-secret'), out);
    assert.match(out, /REDACTED/);
    router.end();
  });

  it('reloads a changed configuration and keeps the last good one on a bad edit', async () => {
    writeFileSync(configPath, CONFIG.replace('Name: gpt-4o-mini', 'Name: gpt-5'));
    const models = async () => {
      const s = openStream(client);
      const m = await s.send({ request_headers: headers({ ':path': '/v1/models', ':method': 'GET' }) });
      s.end();
      return JSON.parse(Buffer.from(m.immediate_response.body).toString()).data.map((x) => x.id);
    };
    let got = [];
    for (let i = 0; i < 60 && got[0] !== 'gpt-5'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      got = await models();
    }
    assert.deepEqual(got, ['gpt-5']);
    writeFileSync(configPath, 'backends: [{name: x, schema: {name: Nope}}]\n');
    await new Promise((r) => setTimeout(r, 2500));
    assert.deepEqual(await models(), ['gpt-5']);
  });

  it('serves the bundle `aigw translate` writes (-configBundlePath, checksum verified), with -endpointPrefixes', async (t) => {
    const input = path.join(FIXTURES_DIR, 'aigw-translate/translate_basic.in.yaml');
    if (!existsSync(input)) return t.skip('fixtures not available');
    const bundle = await translateToBundle(input, dir);
    const port = await freePort();
    const admin = await freePort();
    const p = spawn(AIGW_BIN, ['extproc', '-configBundlePath', bundle, '-extProcAddr', `127.0.0.1:${port}`, '-adminPort', String(admin), '-endpointPrefixes', 'openai:/openai,cohere:/cohere'], { stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      await new Promise((resolve, reject) => {
        readline.createInterface({ input: p.stderr }).on('line', (l) => l.includes('is ready') && resolve());
        p.once('exit', (c) => reject(new Error(`exited ${c}`)));
      });
      const c2 = extprocClient(`127.0.0.1:${port}`);
      const s = openStream(c2);
      const m = await s.send({ request_headers: headers({ ':path': '/openai/v1/models', ':method': 'GET' }) });
      s.end();
      const ids = JSON.parse(Buffer.from(m.immediate_response.body).toString()).data.map((x) => x.id);
      assert.deepEqual(ids, ['gpt-4o-mini', 'llama3-2-1b-instruct-v1', 'some-cool-self-hosted-model']);
      const s2 = openStream(c2);
      const nf = await s2.send({ request_headers: headers({ ':path': '/v1/models', ':method': 'GET' }) });
      s2.end();
      assert.equal(nf.immediate_response.status.code, 'NotFound'); // not under the openai prefix
      c2.close();
    } finally {
      p.kill('SIGTERM');
    }
    // A part that does not match the checksum is refused.
    writeFileSync(path.join(bundle, 'parts/000'), 'backends: []\n');
    const bad = await new Promise((resolve) => {
      const q = spawn(AIGW_BIN, ['extproc', '-configBundlePath', bundle, '-extProcAddr', '127.0.0.1:0', '-adminPort', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      q.stderr.on('data', (d) => (err += d));
      q.once('exit', (code) => resolve({ code, err }));
    });
    assert.notEqual(bad.code, 0);
    assert.match(bad.err, /checksum/);
  });

  it('listens on a unix socket and answers grpc.health.v1.Health', async () => {
    const sock = path.join(dir, 'extproc.sock');
    const healthProto = path.join(dir, 'health.proto');
    // grpc.health.v1 as published by the gRPC project (a two-message service).
    writeFileSync(healthProto, `syntax = "proto3";
package grpc.health.v1;
message HealthCheckRequest { string service = 1; }
message HealthCheckResponse { enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; } ServingStatus status = 1; }
service Health { rpc Check(HealthCheckRequest) returns (HealthCheckResponse); }
`);
    const fresh = path.join(dir, 'fresh.yaml'); // the reload test left an invalid file behind
    writeFileSync(fresh, CONFIG);
    const p = spawn(AIGW_BIN, ['extproc', '-configPath', fresh, '-extProcAddr', `unix://${sock}`, '-adminPort', String(await freePort())], { stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      await new Promise((resolve, reject) => {
        readline.createInterface({ input: p.stderr }).on('line', (l) => l.includes('is ready') && resolve());
        p.once('exit', (c) => reject(new Error(`exited ${c}`)));
      });
      const Health = grpc.loadPackageDefinition(protoLoader.loadSync(healthProto, { enums: String })).grpc.health.v1.Health;
      const h = new Health(`unix://${sock}`, grpc.credentials.createInsecure());
      for (const service of ['', 'extproc']) {
        const r = await new Promise((resolve, reject) => h.Check({ service }, (e, v) => (e ? reject(e) : resolve(v))));
        assert.equal(r.status, 'SERVING');
      }
      h.close();
    } finally {
      p.kill('SIGTERM');
    }
  });
});

