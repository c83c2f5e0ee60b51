// `aigw run` reload safety: an editor's save passes through an empty or partial file, and the
// listeners cannot move while running. Requests must keep succeeding through all of that.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startAigw, startTestupstream, gatewayYaml, openaiBackendYaml, sleep, SLOW } from '../lib/harness.mjs';

const routeYaml = (models) => `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: main, namespace: default}
spec:
  parentRefs: [{name: aigw, kind: Gateway, group: gateway.networking.k8s.io}]
  rules:
${models.map((m) => `    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: ${m}}]}]
      backendRefs: [{name: openai}]`).join('\n')}
`;

async function chat(gw, model) {
  const res = await fetch(`${gw.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
  });
  await res.arrayBuffer();
  return res.status;
}

async function eventually(check, ms = 2000 * SLOW) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(50);
  }
  return false;
}

const stats = async (gw) => (await fetch(`${gw.admin}/stats`)).json();

describe('aigw run: reload safety', () => {
  let up;
  let gw;
  let port;
  const config = (p, models) => gatewayYaml(p) + routeYaml(models) + openaiBackendYaml('openai', up.port);
  before(async () => {
    up = await startTestupstream();
    gw = await startAigw({ config: (p) => ((port = p), config(p, ['model-one'])) });
  });
  after(async () => {
    await gw?.stop();
    await up?.stop();
  });

  it('keeps serving through an empty and a partly written file, then applies the full one', async () => {
    let stop = false;
    const statuses = [];
    const load = (async () => {
      while (!stop) statuses.push(await chat(gw, 'model-one'));
    })();
    const full = config(port, ['model-one', 'model-two']);
    writeFileSync(gw.configPath, ''); // `cat > file` truncates first
    await sleep(400 * SLOW);
    writeFileSync(gw.configPath, full.slice(0, Math.floor(full.length / 2)));
    await sleep(20);
    writeFileSync(gw.configPath, full);
    assert.ok(await eventually(async () => (await chat(gw, 'model-two')) === 200), 'full edit not applied');
    stop = true;
    await load;
    const failed = statuses.filter((s) => s !== 200);
    assert.ok(statuses.length > 5, `only ${statuses.length} requests were made`);
    assert.deepEqual(failed, [], `${failed.length} of ${statuses.length} requests failed during the edit`);
    assert.ok(gw.stderr.some((l) => /rejected: it has no routes/.test(l)), gw.stderr.join('\n'));
    const s = await stats(gw);
    assert.ok(s.config_reloads_rejected >= 1);
    assert.ok(s.config_reloads_ok >= 1);
  });

  it('refuses an edit that moves the listener and keeps the running configuration', async () => {
    const before = await stats(gw);
    writeFileSync(gw.configPath, config(port + 1, ['model-three']));
    assert.ok(await eventually(async () => (await stats(gw)).config_reloads_rejected > before.config_reloads_rejected));
    assert.equal(await chat(gw, 'model-two'), 200);
    assert.equal(await chat(gw, 'model-three'), 404);
    assert.ok(gw.stderr.some((l) => /listener ports .* differ from the running ones/.test(l)), gw.stderr.join('\n'));
  });
});

describe('aigw run: several configuration paths', () => {
  let up;
  let gw;
  let routes;
  before(async () => {
    up = await startTestupstream();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-paths-'));
    routes = path.join(dir, 'routes.yaml');
    writeFileSync(routes, routeYaml(['model-one']));
    gw = await startAigw({
      config: (p) => gatewayYaml(p) + openaiBackendYaml('openai', up.port),
      args: [routes],
    });
  });
  after(async () => {
    await gw?.stop();
    await up?.stop();
  });

  it('loads them as one configuration and reloads when any of them changes', async () => {
    assert.equal(await chat(gw, 'model-one'), 200);
    writeFileSync(routes, routeYaml(['model-one', 'model-two']));
    assert.ok(await eventually(async () => (await chat(gw, 'model-two')) === 200), 'edit of the second path not applied');
  });
});
