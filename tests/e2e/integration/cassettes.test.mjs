// Replays upstream's 44 recorded real OpenAI exchanges through aigw: testupstream serves each
// recorded response for its recorded request (matched semantically), the client must receive the
// recorded status and body unchanged, and aigw's request log must carry the recorded usage.
// Exchanges on endpoints this version does not serve (audio, images, Azure) are skipped.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { startAigw, startTestupstream, gatewayYaml, openaiBackendYaml, FIXTURES_DIR } from '../lib/harness.mjs';

const CASSETTES = path.join(FIXTURES_DIR, 'openai-cassettes');
const SERVED = new Set(['/v1/chat/completions', '/v1/completions', '/v1/embeddings']);

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
    - matches: [{headers: [{type: RegularExpression, name: x-ai-eg-model, value: ".*"}]}]
      backendRefs: [{name: openai}]
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
      const served = url.host === 'api.openai.com' && SERVED.has(url.pathname);
      it(`${name}#${idx} ${url.pathname}`, { skip: served ? false : `endpoint ${url.host}${url.pathname} is not served yet` }, async () => {
        if (!served) return;
        try {
          const req = interaction.request;
          const rid = `cassette-${name}-${idx}`;
          const headers = { 'x-cassette-name': name, 'x-request-id': rid };
          const ct = req.headers?.['Content-Type']?.[0];
          if (ct) headers['content-type'] = ct;
          const res = await fetch(`${gw.base}${url.pathname}${url.search}`, {
            method: req.method, headers, body: req.body,
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
