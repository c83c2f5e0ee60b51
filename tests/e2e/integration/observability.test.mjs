// Observability as upstream exposes it: GenAI metrics that promtool accepts, that a real
// Prometheus scrapes and answers histogram_quantile over, and that cover every metric and label of
// upstream's Grafana dashboard; the access log with upstream's keys in a file; and spans exported
// over OTLP/HTTP to a receiver on loopback, continuing the client's trace into the provider.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { startAigw, gatewayYaml, openaiBackendYaml, freePort, sleep, FIXTURES_DIR, SLOW } from '../lib/harness.mjs';
import { startFakeProviders } from '../../../tools/fakeproviders/server.mjs';
import { startMcpServer } from '../lib/mcpserver.mjs';

const CLIENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN = '00f067aa0ba902b7';

function config(port, providerPort) {
  return (
    gatewayYaml(port) +
    `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: obs, namespace: default}
spec:
  parentRefs: [{name: aigw}]
  rules:
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: gpt-4o-mini}]}, {headers: [{type: Exact, name: x-ai-eg-model, value: gpt-error-500}]}]
      backendRefs: [{name: openai}]
  llmRequestCosts:
    - {metadataKey: llm_input_token, type: InputToken}
    - {metadataKey: llm_output_token, type: OutputToken}
` + openaiBackendYaml('openai', providerPort, { apiKey: 'sk-provider-secret' })
  );
}

// A minimal OTLP/HTTP receiver: collects the JSON export requests.
function startReceiver() {
  const bodies = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const json = /json/.test(req.headers['content-type']);
      bodies.push({ path: req.url, contentType: req.headers['content-type'], auth: req.headers['x-otlp-key'],
        body: json ? JSON.parse(raw.toString()) : otlpFromProtobuf(raw) });
      res.setHeader('content-type', 'application/json');
      res.end('{}');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, bodies, port: server.address().port })));
}

// A minimal protobuf wire-format reader (field number → values), enough to read an OTLP
// ExportTraceServiceRequest without generated code.
function pb(buf) {
  const out = {};
  let i = 0;
  const varint = () => {
    let r = 0n;
    let shift = 0n;
    for (;;) {
      const b = buf[i++];
      r |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return r;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const tag = Number(varint());
    const field = tag >> 3;
    const wire = tag & 7;
    let v;
    if (wire === 0) v = varint();
    else if (wire === 1) (v = buf.subarray(i, i + 8)), (i += 8);
    else if (wire === 2) {
      const n = Number(varint());
      v = buf.subarray(i, i + n);
      i += n;
    } else if (wire === 5) (v = buf.subarray(i, i + 4)), (i += 4);
    else throw new Error(`unexpected wire type ${wire}`);
    (out[field] ??= []).push(v);
  }
  return out;
}

// ExportTraceServiceRequest (protobuf) → the JSON shape the assertions read.
function otlpFromProtobuf(buf) {
  const anyValue = (b) => {
    const v = pb(b);
    if (v[1]) return { stringValue: v[1][0].toString() };
    if (v[3]) return { intValue: String(BigInt.asIntN(64, v[3][0])) };
    if (v[2]) return { boolValue: v[2][0] === 1n };
    if (v[4]) return { doubleValue: v[4][0].readDoubleLE(0) };
    return {};
  };
  const kv = (b) => {
    const m = pb(b);
    return { key: m[1][0].toString(), value: anyValue(m[2][0]) };
  };
  return {
    resourceSpans: (pb(buf)[1] ?? []).map((rsb) => {
      const rs = pb(rsb);
      return {
        resource: { attributes: (pb(rs[1][0])[1] ?? []).map(kv) },
        scopeSpans: (rs[2] ?? []).map((ssb) => {
          const ss = pb(ssb);
          return {
            spans: (ss[2] ?? []).map((sb) => {
              const s = pb(sb);
              const status = s[15] ? pb(s[15][0]) : {};
              return {
                traceId: s[1][0].toString('hex'),
                spanId: s[2][0].toString('hex'),
                parentSpanId: s[4] ? s[4][0].toString('hex') : undefined,
                name: s[5][0].toString(),
                kind: Number(s[6][0]),
                attributes: (s[9] ?? []).map(kv),
                status: { code: status[3] ? Number(status[3][0]) : 0 },
              };
            }),
          };
        }),
      };
    }),
  };
}

function spansOf(bodies) {
  return bodies.flatMap((b) => b.body.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)));
}
const attr = (span, key) => {
  const a = span.attributes.find((x) => x.key === key);
  if (!a) return undefined;
  const v = a.value;
  return v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : v.doubleValue ?? v.boolValue);
};

describe('observability', () => {
  let fake;
  let receiver;
  let gw;
  let client;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-obs-'));
  const logFile = path.join(dir, 'access.log');
  before(async () => {
    fake = await startFakeProviders({ port: 0, chunkDelayMs: 1 });
    receiver = await startReceiver();
    gw = await startAigw({
      config: (port) => config(port, fake.port),
      args: ['--access-log-file', logFile, '--metrics-request-header-attributes', 'x-team-id:team.id'],
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiver.port}`,
        OTEL_EXPORTER_OTLP_HEADERS: 'x-otlp-key=k1',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      },
    });
    client = new OpenAI({ baseURL: `${gw.base}/v1`, apiKey: 'sk-client', maxRetries: 0 });
    // Traffic: a plain answer (in a client trace), a stream, a provider error.
    await client.chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello metrics' }] },
      { headers: { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`, 'agent-session-id': 'sess-42', 'x-team-id': 'blue' } },
    );
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'one two three four five' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    for await (const _ of stream);
    await assert.rejects(client.chat.completions.create({ model: 'gpt-error-500', messages: [{ role: 'user', content: 'x' }] }));
  });
  after(async () => {
    await gw?.stop();
    await fake?.close();
    receiver?.server.close();
  });

  it('exposes upstream GenAI metrics that promtool accepts', async () => {
    const text = await (await fetch(`${gw.admin}/metrics`)).text();
    assert.match(text, /# TYPE gen_ai_client_token_usage histogram/);
    assert.match(text, /gen_ai_client_token_usage_sum\{[^}]*gen_ai_token_type="input"[^}]*\} \d+/);
    assert.match(text, /gen_ai_client_token_usage_sum\{[^}]*gen_ai_token_type="output"/);
    assert.match(text, /gen_ai_server_request_duration_seconds_count\{error_type="_OTHER"/);
    assert.match(text, /gen_ai_server_time_to_first_token_seconds_count\{[^}]*\} 1/);
    assert.match(text, /gen_ai_server_time_per_output_token_seconds_count\{[^}]*\} 1/);
    assert.match(text, /gen_ai_provider_name="openai"/);
    assert.match(text, /team_id="blue"/);
    assert.match(text, /aigw_responses_total\{code_class="2xx"\} [1-9]/);
    assert.match(text, /aigw_responses_total\{code_class="5xx"\} [1-9]/);
    assert.ok(!text.includes('sk-provider-secret'));
    const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    if (promtool.error) return; // promtool not installed: `make test` installs it
    assert.equal(promtool.status, 0, `promtool: ${promtool.stdout}${promtool.stderr}`);
  });

  it('covers every metric and label of upstream\'s Grafana dashboard', async (t) => {
    const file = path.join(FIXTURES_DIR, 'examples/monitoring/grafana-dashboard.json');
    if (!existsSync(file)) return t.skip('fixtures not available');
    const exprs = [];
    (function walk(o) {
      if (Array.isArray(o)) o.forEach(walk);
      else if (o && typeof o === 'object')
        for (const [k, v] of Object.entries(o)) {
          if ((k === 'expr' || k === 'query') && typeof v === 'string') exprs.push(v);
          else walk(v);
        }
    })(JSON.parse(readFileSync(file, 'utf8')));
    assert.ok(exprs.length > 5);
    const text = await (await fetch(`${gw.admin}/metrics`)).text();
    const series = new Set(text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(/[{ ]/)[0]));
    const labels = new Set([...text.matchAll(/([a-z_]+)="/g)].map((m) => m[1]));
    for (const e of exprs) {
      for (const m of e.match(/gen_ai_[a-z_]+_(?:bucket|sum|count)\b/g) ?? []) assert.ok(series.has(m), `${m} (in ${e}) is not exposed`);
      for (const m of e.matchAll(/(?:by \(|\{|, ?)([a-z_]+)\s*(?:[=!~]|,|\))/g)) {
        if (m[1] === 'le' || m[1].startsWith('gen_ai_server') || m[1].startsWith('gen_ai_client')) continue;
        assert.ok(labels.has(m[1]), `label ${m[1]} (in ${e}) is not exposed`);
      }
    }
  });

  it('a real Prometheus scrapes it and answers histogram_quantile', async (t) => {
    const which = spawnSync('prometheus', ['--version']);
    if (which.error) return t.skip('prometheus is not installed (make test installs it)');
    const port = await freePort();
    const pdir = mkdtempSync(path.join(os.tmpdir(), 'aigw-prom-'));
    writeFileSync(path.join(pdir, 'prometheus.yml'), `global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: aigw
    static_configs: [{targets: ['127.0.0.1:${gw.adminPort}']}]
`);
    const prom = spawn('prometheus', [`--config.file=${path.join(pdir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(pdir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: 'ignore' });
    try {
      const q = encodeURIComponent('histogram_quantile(0.95, sum(rate(gen_ai_server_request_duration_seconds_bucket[1m])) by (le))');
      let result = null;
      const deadline = Date.now() + 30000 * SLOW;
      while (Date.now() < deadline && !result) {
        // New traffic between scrapes so the rate is not zero.
        await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'again' }] });
        await sleep(500);
        try {
          const r = await (await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${q}`)).json();
          if (r.status === 'success' && r.data.result.length > 0 && !Number.isNaN(Number(r.data.result[0].value[1]))) result = r.data.result[0];
        } catch {
          /* not up yet */
        }
      }
      assert.ok(result, 'Prometheus never answered the histogram_quantile query');
      const v = Number(result.value[1]);
      assert.ok(v > 0 && v <= 81.92, `p95 ${v}`);
    } finally {
      prom.kill('SIGTERM');
    }
  });

  it('writes the access log to the file with upstream keys and no credentials', async () => {
    let lines = [];
    for (let i = 0; i < 50 && lines.length < 3; i++) {
      lines = readFileSync(logFile, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
      await sleep(20);
    }
    const first = lines.find((l) => l['session.id'] === 'sess-42');
    assert.ok(first, 'the line with session.id');
    for (const k of ['time', 'method', 'path', 'status', 'duration_ms', 'x-ai-eg-model', 'backend_name', 'response_model',
      'request_id', 'input_tokens', 'output_tokens', 'llm_input_token', 'llm_output_token',
      'gen_ai.request.model', 'gen_ai.response.model', 'gen_ai.usage.input_tokens', 'response_code', 'request.path'])
      assert.ok(k in first, `missing ${k}`);
    assert.equal(first.trace_id, CLIENT_TRACE);
    const text = readFileSync(logFile, 'utf8');
    assert.ok(!text.includes('sk-provider-secret') && !text.includes('sk-client'));
  });

  it('exports spans over OTLP/HTTP (JSON when asked) that continue the client trace into the provider', async () => {
    let spans = [];
    for (let i = 0; i < 100 && spans.length < 3; i++) {
      spans = spansOf(receiver.bodies);
      await sleep(50);
    }
    assert.ok(spans.length >= 3, `got ${spans.length} spans`);
    assert.equal(receiver.bodies[0].path, '/v1/traces');
    assert.match(receiver.bodies[0].contentType, /application\/json/);
    assert.equal(receiver.bodies[0].auth, 'k1');
    const span = spans.find((s) => s.traceId === CLIENT_TRACE);
    assert.ok(span, 'a span in the client trace');
    assert.equal(span.parentSpanId, CLIENT_SPAN);
    assert.equal(span.name, 'ChatCompletion');
    assert.equal(attr(span, 'openinference.span.kind'), 'LLM');
    assert.equal(attr(span, 'llm.model_name'), 'gpt-4o-mini');
    assert.equal(attr(span, 'llm.input_messages.0.message.content'), 'hello metrics');
    assert.equal(attr(span, 'llm.output_messages.0.message.content'), 'echo: hello metrics');
    assert.ok(attr(span, 'llm.token_count.prompt') > 0);
    assert.equal(attr(span, 'session.id'), 'sess-42');
    // The provider saw the same trace, with this span as parent.
    const sent = fake.requests.find((q) => q.headers.traceparent?.includes(CLIENT_TRACE));
    assert.ok(sent, 'traceparent reached the provider');
    assert.equal(sent.headers.traceparent, `00-${CLIENT_TRACE}-${span.spanId}-01`);
    const failed = spans.find((s) => attr(s, 'llm.model_name') === 'gpt-error-500');
    assert.equal(failed.status.code, 2);
  });

  it('MCPRoute requests get upstream\'s MCP spans, in both conventions, continuing the client\'s trace', async () => {
    const mcp = await startMcpServer({ name: 'alpha' });
    const mcpConfig = (port) => gatewayYaml(port) + `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: MCPRoute
metadata: {name: tools, namespace: default}
spec:
  parentRefs: [{name: aigw}]
  backendRefs: [{name: alpha}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: alpha, namespace: default}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: ${mcp.port}}}]
`;
    try {
      for (const semconv of ['openinference', 'gen_ai']) {
        const rx = await startReceiver();
        const g = await startAigw({
          config: mcpConfig,
          args: ['--mcp-session-encryption-iterations', '10'],
          env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${rx.port}`, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', AI_GATEWAY_TRACING_SEMCONV: semconv },
        });
        try {
          const post = (body, headers = {}) => fetch(`${g.base}/mcp`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
            body: JSON.stringify(body),
          });
          const init = await post({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'c', version: '1' } } });
          const sid = init.headers.get('mcp-session-id');
          await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, { 'mcp-session-id': sid });
          const call = await post({ jsonrpc: '2.0', id: 'c-7', method: 'tools/call', params: { name: 'alpha__echo', arguments: { text: 'x' } } },
            { 'mcp-session-id': sid, traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` });
          await call.text();
          let spans = [];
          for (let i = 0; i < 100 && !spans.some((s) => attr(s, 'mcp.method.name') === 'tools/call'); i++) {
            spans = spansOf(rx.bodies);
            await sleep(50);
          }
          const callSpan = spans.find((s) => attr(s, 'mcp.method.name') === 'tools/call');
          assert.ok(callSpan, JSON.stringify(spans));
          assert.equal(callSpan.kind, 3);
          assert.equal(callSpan.traceId, CLIENT_TRACE);
          assert.equal(callSpan.parentSpanId, CLIENT_SPAN);
          assert.equal(attr(callSpan, 'mcp.backend.name'), 'alpha');
          // The span's context reaches the backend in params._meta, as upstream's tracer injects it.
          const seen = mcp.requests.findLast((q) => q.body?.method === 'tools/call');
          assert.equal(seen.body.params._meta.traceparent, `00-${CLIENT_TRACE}-${callSpan.spanId}-01`);
          assert.equal(seen.body.params.name, 'echo');
          // One "route to backend" event, with the backend's own session id.
          const events = callSpan.events ?? [];
          const route = events.filter((e) => e.name === 'route to backend');
          assert.equal(route.length, 1, JSON.stringify(events));
          const eattr = (e, k) => e.attributes.find((a) => a.key === k)?.value;
          assert.equal(eattr(route[0], 'mcp.backend.name').stringValue, 'alpha');
          assert.equal(eattr(route[0], 'mcp.session.id').stringValue, seen.headers['mcp-session-id']);
          assert.equal(eattr(route[0], 'mcp.session.new').boolValue, false);
          const initSpan = spans.find((s) => attr(s, 'mcp.method.name') === 'initialize');
          const initRoute = (initSpan.events ?? []).find((e) => e.name === 'route to backend');
          assert.equal(eattr(initRoute, 'mcp.session.new').boolValue, true);
          assert.ok(eattr(initRoute, 'mcp.session.id').stringValue.length > 0);
          // A traceparent the client put in params._meta is the parent, over the header's.
          const META_SPAN = 'abcdefabcdef0123';
          const metaCall = await post({ jsonrpc: '2.0', id: 'c-8', method: 'tools/call',
            params: { name: 'alpha__echo', arguments: { text: 'y' }, _meta: { traceparent: `00-${CLIENT_TRACE}-${META_SPAN}-01`, note: 'kept' } } },
          { 'mcp-session-id': sid, traceparent: `00-${'1'.repeat(32)}-${CLIENT_SPAN}-01` });
          await metaCall.text();
          let metaSpan;
          for (let i = 0; i < 100 && !metaSpan; i++) {
            metaSpan = spansOf(rx.bodies).find((s) => s.parentSpanId === META_SPAN);
            if (!metaSpan) await sleep(50);
          }
          assert.ok(metaSpan, 'a span whose parent is the _meta traceparent');
          assert.equal(metaSpan.traceId, CLIENT_TRACE);
          const metaSeen = mcp.requests.findLast((q) => q.body?.method === 'tools/call');
          assert.deepEqual(metaSeen.body.params._meta, { traceparent: `00-${CLIENT_TRACE}-${metaSpan.spanId}-01`, note: 'kept' });
          if (semconv === 'openinference') {
            assert.equal(callSpan.name, 'CallTool');
            assert.equal(attr(callSpan, 'mcp.tool.name'), 'alpha__echo');
            assert.equal(attr(callSpan, 'mcp.request.id'), '{c-7}');
            assert.equal(attr(callSpan, 'mcp.transport'), 'http');
            assert.ok(spans.some((s) => s.name === 'Initialize'));
          } else {
            assert.equal(callSpan.name, 'tools/call alpha__echo');
            assert.equal(attr(callSpan, 'gen_ai.operation.name'), 'execute_tool');
            assert.equal(attr(callSpan, 'gen_ai.tool.name'), 'alpha__echo');
            assert.equal(attr(callSpan, 'jsonrpc.request.id'), 'c-7');
            assert.equal(attr(callSpan, 'mcp.session.id'), sid);
          }
        } finally {
          await g.stop();
          rx.server.close();
        }
      }
    } finally {
      await mcp.close();
    }
  });

  it('uses the OTel GenAI convention when AI_GATEWAY_TRACING_SEMCONV=gen_ai (protobuf export)', async () => {
    const rx = await startReceiver();
    const g = await startAigw({
      config: (port) => config(port, fake.port),
      env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${rx.port}/custom/traces`, AI_GATEWAY_TRACING_SEMCONV: 'gen_ai' },
    });
    try {
      const c = new OpenAI({ baseURL: `${g.base}/v1`, apiKey: 'sk', maxRetries: 0 });
      await c.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 20 });
      let spans = [];
      for (let i = 0; i < 100 && spans.length < 1; i++) {
        spans = spansOf(rx.bodies);
        await sleep(50);
      }
      assert.equal(rx.bodies[0].path, '/custom/traces');
      assert.equal(rx.bodies[0].contentType, 'application/x-protobuf'); // OTLP/HTTP's default
      assert.equal(spans[0].name, 'chat gpt-4o-mini');
      assert.equal(spans[0].kind, 3);
      assert.equal(attr(spans[0], 'gen_ai.operation.name'), 'chat');
      assert.equal(attr(spans[0], 'gen_ai.request.max_tokens'), 20);
      assert.ok(attr(spans[0], 'gen_ai.usage.output_tokens') > 0);
      assert.match(spans[0].traceId, /^[0-9a-f]{32}$/);
      assert.equal(rx.bodies[0].body.resourceSpans[0].resource.attributes[0].value.stringValue, 'ai-gateway');
    } finally {
      await g.stop();
      rx.server.close();
    }
  });

  it('refuses to start with an unknown AI_GATEWAY_TRACING_SEMCONV', async () => {
    await assert.rejects(
      startAigw({ config: (port) => config(port, fake.port), env: { AI_GATEWAY_TRACING_SEMCONV: 'zipkin' } }),
      /AI_GATEWAY_TRACING_SEMCONV/,
    );
  });
});
