// HTTPBodyMutation (AIServiceBackend and route backendRef, route-level wins) on the body the
// provider receives, after translation.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startAigw, gatewayYaml, openaiBackendYaml } from '../lib/harness.mjs';
import { startFakeProviders } from '../../../tools/fakeproviders/server.mjs';

describe('bodyMutation', () => {
  let fake;
  let gw;
  before(async () => {
    fake = await startFakeProviders({ port: 0 });
    gw = await startAigw({
      config: (port) =>
        gatewayYaml(port) +
        `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: r, namespace: default}
spec:
  rules:
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: gpt-4o-mini}]}]
      backendRefs:
        - name: openai
          bodyMutation:
            set: [{path: service_tier, value: '"flex"'}]
` +
        openaiBackendYaml('openai', fake.port, {
          extraSpec: `  bodyMutation:
    set: [{path: service_tier, value: '"default"'}, {path: user, value: tenant-a}]
    remove: [internal_flag]`,
        }),
    });
  });
  after(async () => {
    await gw?.stop();
    await fake?.close();
  });

  it('removes, then sets top-level fields; the route-level value wins', async () => {
    const client = new OpenAI({ baseURL: `${gw.base}/v1`, apiKey: 'sk', maxRetries: 0 });
    await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }],
      // @ts-ignore an extra field the backend must not receive
      internal_flag: true,
    });
    const sent = JSON.parse(fake.requests.filter((q) => q.path === '/v1/chat/completions').at(-1).body);
    assert.equal(sent.service_tier, 'flex');
    assert.equal(sent.user, 'tenant-a');
    assert.ok(!('internal_flag' in sent));
    assert.equal(sent.messages[0].content, 'hi');
  });
});
