// Driving `aigw extproc` the way Envoy does, with a client generated from Envoy's official protos
// (@grpc/grpc-js + @grpc/proto-loader, protos from @grpc/grpc-js-xds): ext_proc streams, the
// header/metadata helpers, and MiniEnvoy, which plays Envoy's part for one request end to end
// (router phases, routing, the upstream phase per attempt, the provider call, the response
// phases) so a test can compare what a client of Envoy sees with what a client of `aigw run` sees.
import http from 'node:http';
import path from 'node:path';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import yaml from 'js-yaml';
import { repoRoot, runAigw } from './harness.mjs';

export const PROTO_DEPS = path.join(repoRoot, 'third_party/envoy-protos/node_modules/@grpc/grpc-js-xds/deps');
export const HAVE_PROTOS = existsSync(PROTO_DEPS);
export const BACKEND_ATTR = "xds.upstream_host_metadata.filter_metadata['aigateway.envoy.io']['per_route_rule_backend_name']";
export const UPSTREAM_HOST_ATTR = "xds.upstream_host_metadata.filter_metadata['aigateway.envoy.io']['upstream_host']";
// upstream's internal/internalapi: XDSRouteMetadataRouteNamePath
export const ROUTE_ATTR = "xds.route_metadata.filter_metadata['aigateway.envoy.io']['aigw_route_name']";
// The direct response `aigw translate` configures for a model no route matches (Envoy's reply).
export const ROUTE_NOT_FOUND_TEXT =
  'No matching route found. It is likely because the model specified in your request is not configured in the Gateway.';

// `aigw translate input` → the filter configuration bundle upstream's controller hands the
// external processor (index.yaml and its part, from the two Secrets), written under `dir`.
// Returns the bundle's directory.
export async function translateToBundle(input, dir) {
  const tr = await runAigw(['translate', input]);
  if (tr.code !== 0) throw new Error(`aigw translate exited ${tr.code}: ${tr.stderr}`);
  const docs = yaml.loadAll(tr.stdout).filter(Boolean);
  const index = docs.find((d) => d.kind === 'Secret' && d.stringData?.['index.yaml']);
  const part = docs.find((d) => d.kind === 'Secret' && d.data?.chunk);
  const bundle = path.join(dir, 'bundle');
  mkdirSync(path.join(bundle, 'parts'), { recursive: true });
  writeFileSync(path.join(bundle, 'index.yaml'), index.stringData['index.yaml']);
  writeFileSync(path.join(bundle, 'parts/000'), Buffer.from(part.data.chunk, 'base64'));
  return bundle;
}

export function extprocClient(address) {
  const def = protoLoader.loadSync('envoy/service/ext_proc/v3/external_processor.proto', {
    includeDirs: ['envoy-api', 'googleapis', 'protoc-gen-validate', 'xds'].map((d) => path.join(PROTO_DEPS, d)),
    keepCase: true, longs: String, enums: String, defaults: false, oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def);
  return new pkg.envoy.service.ext_proc.v3.ExternalProcessor(address, grpc.credentials.createInsecure());
}

export function headers(obj) {
  return { headers: { headers: Object.entries(obj).map(([key, v]) => ({ key, raw_value: Buffer.from(String(v)) })) } };
}
export function setHeaders(mutation) {
  const out = {};
  for (const o of mutation?.set_headers ?? []) out[o.header.key] = Buffer.from(o.header.raw_value ?? '').toString() || o.header.value;
  return out;
}
export function metadata(resp) {
  // google.protobuf.Struct/Value keep protobufjs's camelCase names even with keepCase.
  const ns = resp.dynamic_metadata?.fields?.['io.envoy.ai_gateway']?.structValue?.fields ?? {};
  return Object.fromEntries(Object.entries(ns).map(([k, v]) => [k, v.stringValue ?? v.numberValue]));
}

// One ext_proc stream: send a request, await its response.
// A stream that ends or fails (the processor went away) rejects what is still awaited.
export function openStream(client) {
  const call = client.Process();
  const queue = [];
  const waiters = [];
  let failure = null;
  const fail = (e) => {
    failure = e ?? new Error('ext_proc stream ended');
    for (const w of waiters.splice(0)) w.reject(failure);
  };
  call.on('data', (d) => (waiters.length ? waiters.shift().resolve(d) : queue.push(d)));
  call.on('error', (e) => fail(e));
  call.on('end', () => fail(null));
  return {
    send(req) {
      if (queue.length) {
        call.write(req);
        return Promise.resolve(queue.shift());
      }
      if (failure) return Promise.reject(failure);
      call.write(req);
      return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
    },
    end() {
      call.end();
    },
  };
}

const STATUS_CODES = { OK: 200, BadRequest: 400, Unauthorized: 401, Forbidden: 403, NotFound: 404, MethodNotAllowed: 405, PayloadTooLarge: 413,
  UnprocessableEntity: 422, TooManyRequests: 429, InternalServerError: 500, NotImplemented: 501,
  BadGateway: 502, ServiceUnavailable: 503, GatewayTimeout: 504 };

function immediateOutcome(ir) {
  const h = setHeaders(ir.headers);
  const code = ir.status?.code;
  return { status: typeof code === 'number' ? code : STATUS_CODES[code] ?? code, contentType: h['content-type'] ?? '', body: Buffer.from(ir.body ?? '').toString(), headers: h, costs: {}, local: true };
}

// Plays Envoy for whole requests: `routes` maps a model to { backend (per-route-rule name),
// route (aigw_route_name), host, port } as Envoy's route table and clusters would.
export class MiniEnvoy {
  constructor(client, routes) {
    this.client = client;
    this.routes = routes;
  }

  // `metadataContext`: the dynamic metadata Envoy forwards to the upstream processor
  // (filter_metadata: { namespace: Struct }), as metadataForwardingNamespaces configures.
  async request({ method = 'POST', path: p, headers: clientHeaders = {}, body, metadataContext }) {
    const router = openStream(this.client);
    try {
      return await this.#run(router, method, p, clientHeaders, body, metadataContext);
    } finally {
      router.end();
    }
  }

  async #run(router, method, p, clientHeaders, body, metadataContext) {
    const head = await router.send({ request_headers: headers({ ':path': p, ':method': method, ':authority': 'gw.example', ...clientHeaders }) });
    if (head.immediate_response) return immediateOutcome(head.immediate_response);
    const id = setHeaders(head.request_headers.response.header_mutation)['x-ai-eg-internal-req-id'];
    const rb = await router.send({ request_body: { body: Buffer.from(body ?? ''), end_of_stream: true } });
    if (rb.immediate_response) return immediateOutcome(rb.immediate_response);
    const model = setHeaders(rb.request_body.response.header_mutation)['x-ai-eg-model'];
    const target = this.routes[model];
    if (!target) return { status: 404, contentType: 'text/plain', body: ROUTE_NOT_FOUND_TEXT, costs: {}, local: true };
    const up = openStream(this.client);
    const ur = await up.send({
      request_headers: headers({ ':path': p, ':method': method, 'x-ai-eg-internal-req-id': id, ...clientHeaders }),
      attributes: { 'envoy.filters.http.ext_proc': { fields: {
        [BACKEND_ATTR]: { stringValue: target.backend },
        [ROUTE_ATTR]: { stringValue: target.route },
        [UPSTREAM_HOST_ATTR]: { stringValue: `${target.host}:${target.port}` },
      } } },
      ...(metadataContext ? { metadata_context: { filter_metadata: metadataContext } } : {}),
    });
    up.end();
    if (ur.immediate_response) return immediateOutcome(ur.immediate_response);
    const common = ur.request_headers.response;
    const set = setHeaders(common.header_mutation);
    const removed = new Set((common.header_mutation?.remove_headers ?? []).map((h) => h.toLowerCase()));
    const sent = {};
    for (const [k, v] of Object.entries(clientHeaders)) if (!removed.has(k.toLowerCase())) sent[k.toLowerCase()] = v;
    for (const [k, v] of Object.entries(set)) if (!k.startsWith(':')) sent[k] = v;
    const sentBody = common.body_mutation ? Buffer.from(common.body_mutation.body ?? '') : Buffer.from(body ?? '');
    sent['content-length'] = String(sentBody.length);
    return this.#relay(router, { path: set[':path'] ?? p, method, headers: sent, body: sentBody, target });
  }

  // Serves HTTP on 127.0.0.1 (an ephemeral port) as Envoy's listener would, each request played
  // through request(): for clients such as the official SDKs. Answers are sent whole.
  async listen() {
    const server = http.createServer(async (req, res) => {
      const chunks = [];
      for await (const c of req) chunks.push(c);
      const headers = {};
      for (const [k, v] of Object.entries(req.headers))
        if (!['host', 'connection', 'content-length', 'transfer-encoding'].includes(k)) headers[k] = Array.isArray(v) ? v.join(', ') : v;
      try {
        const out = await this.request({ method: req.method, path: req.url, headers, body: Buffer.concat(chunks) });
        res.writeHead(out.status, out.contentType ? { 'content-type': out.contentType } : {});
        res.end(out.bytes ?? out.body);
      } catch (e) {
        res.writeHead(599);
        res.end(String(e));
      }
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => { server.close(() => r()); server.closeAllConnections(); }) };
  }

  // The provider call and the response phases.
  #relay(router, { path: p, method, headers: sent, body, target }) {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: target.host, port: target.port, method, path: p, headers: sent }, async (res) => {
        try {
          const respHeaders = { ':status': String(res.statusCode) };
          for (const [k, v] of Object.entries(res.headers)) if (!['content-length', 'transfer-encoding', 'connection'].includes(k)) respHeaders[k] = v;
          const rh = await router.send({ response_headers: headers(respHeaders) });
          const hm = rh.response_headers?.response?.header_mutation;
          let contentType = res.headers['content-type'] ?? '';
          if ((hm?.remove_headers ?? []).includes('content-type')) contentType = '';
          if (setHeaders(hm)['content-type']) contentType = setHeaders(hm)['content-type'];
          const streamed = rh.mode_override?.response_body_mode === 'STREAMED';
          const out = [];
          let last;
          const feed = async (chunk, end) => {
            const r = await router.send({ response_body: { body: chunk, end_of_stream: end } });
            if (r.immediate_response) return r;
            const c = r.response_body.response;
            if (c?.status === 'CONTINUE_AND_REPLACE') out.push(Buffer.from(c.body_mutation?.body ?? ''));
            else out.push(Buffer.from(chunk));
            const ct = setHeaders(c?.header_mutation)['content-type'];
            if (ct) contentType = ct;
            last = r;
            return null;
          };
          const chunks = [];
          for await (const chunk of res) {
            if (streamed) {
              const r = await feed(chunk, false);
              if (r) return resolve(immediateOutcome(r.immediate_response));
            } else {
              chunks.push(chunk);
            }
          }
          const r = await feed(streamed ? Buffer.alloc(0) : Buffer.concat(chunks), true);
          if (r) return resolve(immediateOutcome(r.immediate_response));
          const md = metadata(last);
          const costs = Object.fromEntries(Object.entries(md).filter(([k]) => k.startsWith('llm_')));
          const bytes = Buffer.concat(out);
          resolve({ status: res.statusCode, contentType, body: bytes.toString(), bytes, costs, metadata: md, headers: setHeaders(hm), local: false });
        } catch (e) {
          reject(e);
        }
      });
      req.on('error', reject);
      req.end(body);
    });
  }
}
