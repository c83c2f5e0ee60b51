// VirtualKey in `aigw run`: a client an API key names gets the models its key allows, its own
// request, token and dollar budgets over calendar windows (dollars from the price catalog), a
// 429 the official SDKs raise with what is left, an expiry; and two gateways spend one budget
// through one real redis-server.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startAigw, gatewayYaml, redisAvailable, startRedis } from '../lib/harness.mjs';
import { startFakeProviders } from '../../../tools/fakeproviders/server.mjs';
import { modelRouteYaml as route, openaiAnthropicYaml, clientKeysYaml, virtualKeyYaml } from '../lib/fakeconfig.mjs';

const key = virtualKeyYaml;

function config(port, fakePort) {
  return gatewayYaml(port) + route('gpt', 'gpt-4o', 'openai') + route('mini', 'gpt-4o-mini', 'openai') +
    route('claude', 'claude-3-5-haiku-latest', 'anthropic') + openaiAnthropicYaml(fakePort) +
    clientKeysYaml({ cents: 'sk-cents', minionly: 'sk-minionly', expired: 'sk-expired', claude: 'sk-claude', shared: 'sk-shared', free: 'sk-free' }) +
    key('cents', `  timeZone: Europe/Berlin
  budgets:
    - {window: Month, dollars: "0.00001"}
`) + key('minionly', `  allowedModels: ["gpt-4o-mini*"]
`) + key('expired', `  expiresAt: "2020-01-01T00:00:00Z"
`) + key('claude', `  budgets:
    - {window: Day, tokens: 1}
`) + key('shared', `  budgets:
    - {window: Week, requests: 3}
`);
}

const chat = (model = 'gpt-4o') => ({ model, messages: [{ role: 'user', content: 'hello there' }] });

describe('aigw run: virtual keys', () => {
  let fp;
  let gw;
  before(async () => {
    fp = await startFakeProviders();
    gw = await startAigw({ config: (port) => config(port, fp.port) });
  });
  after(async () => {
    await gw?.stop();
    await fp?.close();
  });
  const openai = (apiKey) => new OpenAI({ baseURL: `${gw.base}/v1`, apiKey, maxRetries: 0 });

  it('a dollar budget is charged the streamed answer\'s price, then the SDK raises RateLimitError with what is left', async () => {
    const client = openai('sk-cents');
    // The first request is admitted with the budget untouched; its price crosses $0.00001.
    const stream = await client.chat.completions.create({ ...chat(), stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    assert.ok(text.length > 0);
    const before = fp.requests.length;
    await assert.rejects(client.chat.completions.create(chat()), (e) => {
      assert.ok(e instanceof OpenAI.RateLimitError, String(e));
      assert.equal(e.status, 429);
      assert.equal(e.code, 'insufficient_quota');
      assert.match(e.message, /Budget exceeded for this API key: \$0\.000010 per month \(Europe\/Berlin\), \$0\.00 remaining/);
      assert.equal(e.headers.get('x-aigw-budget-limit-usd'), '0.000010');
      assert.equal(e.headers.get('x-aigw-budget-remaining-usd'), '0.00');
      // The month's end at Berlin midnight: 23:00 or 22:00 UTC the day before.
      assert.match(e.headers.get('x-aigw-budget-reset'), /^\d{4}-\d{2}-(28|29|30|31)T2[23]:00:00Z$/);
      assert.ok(Number(e.headers.get('retry-after')) >= 1);
      return true;
    });
    assert.equal(fp.requests.length, before, 'a refused request reached the provider');
    const line = await gw.logLine((l) => l.client_id === 'cents' && l.status === 429);
    assert.equal(line.virtual_key, 'default/cents');
  });

  it('a model the key does not allow is a 403 (PermissionDeniedError); one it allows goes through', async () => {
    const client = openai('sk-minionly');
    await assert.rejects(client.chat.completions.create(chat('gpt-4o')), (e) => {
      assert.ok(e instanceof OpenAI.PermissionDeniedError, String(e));
      assert.equal(e.code, 'model_not_allowed');
      assert.match(e.message, /may not use model "gpt-4o"/);
      return true;
    });
    const ok = await client.chat.completions.create(chat('gpt-4o-mini'));
    assert.ok(ok.choices[0].message.content);
  });

  it('an expired key is a 401 (AuthenticationError)', async () => {
    await assert.rejects(openai('sk-expired').chat.completions.create(chat()), (e) => {
      assert.ok(e instanceof OpenAI.AuthenticationError, String(e));
      assert.match(e.message, /expired at 2020-01-01T00:00:00Z/);
      return true;
    });
  });

  it('the Anthropic SDK: a token budget spent raises its RateLimitError in Anthropic\'s shape', async () => {
    const client = new Anthropic({ baseURL: `${gw.base}/anthropic`, apiKey: 'sk-claude', maxRetries: 0 });
    const msg = { model: 'claude-3-5-haiku-latest', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] };
    assert.equal((await client.messages.create(msg)).type, 'message');
    await assert.rejects(client.messages.create(msg), (e) => {
      assert.ok(e instanceof Anthropic.RateLimitError, String(e));
      assert.equal(e.error?.error?.type, 'rate_limit_error');
      assert.match(e.error?.error?.message, /1 tokens per day \(UTC\), 0 remaining/);
      return true;
    });
  });

  it('a client without a VirtualKey is not budgeted', async () => {
    const client = openai('sk-free');
    for (let i = 0; i < 3; i++) assert.ok((await client.chat.completions.create(chat())).choices.length);
  });
});

describe('aigw run: two gateways share a virtual key\'s budget through Redis', { skip: redisAvailable ? false : 'redis-server is not installed' }, () => {
  let fp;
  let redis;
  let a;
  let b;
  before(async () => {
    fp = await startFakeProviders();
    redis = await startRedis();
    const args = ['--ratelimit-redis', `redis://127.0.0.1:${redis.port}`];
    a = await startAigw({ config: (port) => config(port, fp.port), args });
    b = await startAigw({ config: (port) => config(port, fp.port), args });
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    await redis?.stop();
    await fp?.close();
  });

  it('three requests a week, spent across both', async () => {
    const on = (gw) => new OpenAI({ baseURL: `${gw.base}/v1`, apiKey: 'sk-shared', maxRetries: 0 });
    for (const gw of [a, b, a]) assert.ok((await on(gw).chat.completions.create(chat('gpt-4o-mini'))).choices.length);
    for (const gw of [b, a])
      await assert.rejects(on(gw).chat.completions.create(chat('gpt-4o-mini')), (e) => {
        assert.ok(e instanceof OpenAI.RateLimitError, String(e));
        assert.match(e.message, /3 requests per week \(UTC\), 0 remaining/);
        return true;
      });
  });

  it('either gateway\'s dashboard shows the budget spent across both, read from Redis', async () => {
    for (const gw of [a, b]) {
      const data = await (await fetch(`${gw.admin}/dashboard/data`)).json();
      const row = data.budgets.find((r) => r.key.endsWith('/shared') && r.window === 'Week');
      assert.ok(row, JSON.stringify(data.budgets));
      assert.equal(row.unit, 'requests');
      assert.equal(row.limit, 3);
      assert.equal(row.used, 3);
      assert.equal(row.remaining, 0);
      const cents = data.budgets.find((r) => r.key.endsWith('/cents'));
      assert.equal(cents.used, 0); // nothing spent: an absent key reads 0
    }
  });

  it('with Redis gone the dashboard still answers, its budgets unknown', async () => {
    await redis.stop();
    const data = await (await fetch(`${b.admin}/dashboard/data`)).json();
    const row = data.budgets.find((r) => r.key.endsWith('/shared'));
    assert.equal(row.used, null);
    assert.equal(row.remaining, null);
    assert.equal(row.limit, 3);
    redis = undefined;
  });
});
