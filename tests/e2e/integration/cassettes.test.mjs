// Replays upstream's 44 recorded real OpenAI exchanges through aigw: testupstream serves each
// recorded response for its recorded request (matched semantically), the client must receive the
// recorded status and body unchanged, and aigw's request log must carry the recorded usage.
// Every exchange is served: chat, completions, embeddings, images, audio (multipart bodies
// relayed byte for byte) and Azure OpenAI (the client's /v1 path translated to the deployment
// path and api-version the recording shows).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { startAigw, startTestupstream, gatewayYaml, openaiBackendYaml, FIXTURES_DIR } from '../lib/harness.mjs';

const CASSETTES = path.join(FIXTURES_DIR, 'openai-cassettes');
const SERVED = new Set(['/v1/chat/completions', '/v1/completions', '/v1/embeddings',
  '/v1/images/generations', '/v1/audio/transcriptions', '/v1/audio/translations', '/v1/audio/speech']);

// The path a client sends for a recorded provider URL: OpenAI's own, or the /v1 path an Azure
// deployment path comes from.
function clientPath(url) {
  if (url.host === 'api.openai.com') return SERVED.has(url.pathname) ? url.pathname : null;
  const m = /^\/openai\/deployments\/[^/]+(\/.+)$/.exec(url.pathname);
  return m && url.host.endsWith('.azure.com') && SERVED.has(`/v1${m[1]}`) ? `/v1${m[1]}` : null;
}

function expectedUsage(response) {
  const ct = (response.headers?.['Content-Type'] ?? [''])[0];
  let usage = null;
  if (ct.includes('text/event-stream')) {
    for (const line of response.body.split('\n')) {
      if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
      try {
        const ev = JSON.parse(line.slice(6));
        if (ev.usage) usage = ev.usage;
      } catch {
        /* not JSON: ignored, as the gateway does */
      }
    }
  } else {
    try {
      usage = JSON.parse(response.body).usage ?? null;
    } catch {
      usage = null;
    }
  }
  if (!usage) return null;
  return {
    input_tokens: usage.prompt_tokens ?? usage.input_tokens,
    output_tokens: usage.completion_tokens ?? usage.output_tokens,
    total_tokens: usage.total_tokens,
    cached_input_tokens: usage.prompt_tokens_details?.cached_tokens,
    reasoning_tokens: usage.completion_tokens_details?.reasoning_tokens,
  };
}

const available = existsSync(CASSETTES);
const files = available ? readdirSync(CASSETTES).filter((f) => f.endsWith('.yaml')).sort() : [];

describe('recorded OpenAI exchanges replayed through aigw', { skip: available ? false : `no fixtures at ${CASSETTES}` }, () => {
  let up;
  let gw;
  const tally = { passed: 0, skipped: 0, failed: 0 };
  before(async () => {
    up = await startTestupstream({ cassettes: CASSETTES });
    gw = await startAigw({
      config: (port) =>
        gatewayYaml(port) +
        `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: replay, namespace: default}
spec:
  parentRefs: [{name: aigw}]
  rules:
    - matches: [{headers: [{type: RegularExpression, name: x-ai-eg-model, value: ".*"}, {type: RegularExpression, name: x-cassette-name, value: "azure-.*"}]}]
      backendRefs: [{name: azure}]
    - matches: [{headers: [{type: RegularExpression, name: x-ai-eg-model, value: ".*"}]}]
      backendRefs: [{name: openai}]
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: azure, namespace: default}
spec:
  schema: {name: AzureOpenAI, version: 2024-12-01-preview}
  backendRef: {name: openai, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: v1
kind: Secret
metadata: {name: azure-key, namespace: default}
stringData: {apiKey: azure-key}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: azure-key, namespace: default}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: azure}]
  type: AzureAPIKey
  azureAPIKey: {secretRef: {name: azure-key}}
` +
        openaiBackendYaml('openai', up.port),
    });
  });
  after(async () => {
    console.log(`cassette replay: ${tally.passed}/${files.length} passed, ${tally.skipped} skipped (endpoints of later work), ${tally.failed} failed`);
    await gw?.stop();
    await up?.stop();
  });

  for (const file of files) {
    const name = file.replace(/\.yaml$/, '');
    const cassette = yaml.load(readFileSync(path.join(CASSETTES, file), 'utf8'));
    cassette.interactions.forEach((interaction, idx) => {
      const url = new URL(interaction.request.url);
      const target = clientPath(url);
      const served = target !== null;
      it(`${name}#${idx} ${url.pathname}`, { skip: served ? false : `endpoint ${url.host}${url.pathname} is not served yet` }, async () => {
        if (!served) return;
        try {
          const req = interaction.request;
          const rid = `cassette-${name}-${idx}`;
          const headers = { 'x-cassette-name': name, 'x-request-id': rid };
          const ct = req.headers?.['Content-Type']?.[0];
          if (ct) headers['content-type'] = ct;
          let sendBody = req.body;
          if (ct?.startsWith('multipart/form-data') && sendBody === '[multipart form data omitted]') {
            // The recording left the form out: an equivalent one, with the recorded boundary.
            const boundary = /boundary=([^;]+)/.exec(ct)[1];
            sendBody = `--${boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n` +
              `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="speech.mp3"\r\n` +
              `Content-Type: audio/mpeg\r\n\r\nID3\r\n--${boundary}--\r\n`;
          }
          const search = url.host === 'api.openai.com' ? url.search : '';
          const res = await fetch(`${gw.base}${target}${search}`, {
            method: req.method, headers, body: sendBody,
          });
          const body = await res.text();
          assert.equal(res.status, interaction.response.code, body);
          assert.equal(body, interaction.response.body, 'the client must receive the recorded body unchanged');
          const line = await gw.logLine((l) => l.request_id === rid);
          const want = expectedUsage(interaction.response);
          if (want && res.status === 200) {
            for (const [k, v] of Object.entries(want)) {
              if (v !== undefined) assert.equal(line[k], v, `${k} in ${JSON.stringify(line)}`);
            }
          } else {
            assert.equal(line.total_tokens, undefined);
          }
          tally.passed++;
        } catch (e) {
          tally.failed++;
          throw e;
        }
      });
      if (!served) tally.skipped++;
    });
  }
});
