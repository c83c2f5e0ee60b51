// The exact response cache in `aigw run`: a route with aigw.run/response-cache answers a repeated
// request (same canonical body, same caller) without calling its provider, with x-aigw-cache:
// hit; a streamed answer is replayed as a stream the official SDKs parse, chunk for chunk as it
// first went out; hits spend no budget and are counted; two gateways share one cache through a
// real redis-server.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startAigw, gatewayYaml, redisAvailable, startRedis, runAigw, waitFor, SLOW } from '../lib/harness.mjs';
import { startFakeProviders } from '../../../tools/fakeproviders/server.mjs';
import { modelRouteYaml as route, openaiAnthropicYaml, clientKeysYaml, virtualKeyYaml, fakeBackendYaml, fakeEndpointYaml } from '../lib/fakeconfig.mjs';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const cached = `    aigw.run/response-cache: "true"\n    aigw.run/response-cache-ttl: "10m"\n`;

function config(port, fakePort) {
  return gatewayYaml(port) + route('cached', 'gpt-4o-mini', 'openai', cached) +
    route('claude', 'claude-3-5-haiku-latest', 'anthropic', cached) +
    route('plain', 'gpt-4o', 'openai') + openaiAnthropicYaml(fakePort) +
    clientKeysYaml({ alice: 'sk-alice', bob: 'sk-bob', tight: 'sk-tight' }) +
    virtualKeyYaml('tight', `  budgets:
    - {window: Day, requests: 2}
`);
}

const chat = (content, model = 'gpt-4o-mini') => ({ model, messages: [{ role: 'user', content }] });

// The raw bytes of a POST, with the body's chunk boundaries as they arrived.
function rawPost(base, path, apiKey, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
    }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d.toString()));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, chunks, body: chunks.join('') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

async function metric(gw, name) {
  const text = await (await fetch(`${gw.admin}/metrics`)).text();
  const m = text.match(new RegExp(`^${name} (\\d+)`, 'm'));
  return m ? Number(m[1]) : 0;
}

describe('aigw run: response cache in memory', () => {
  let fp;
  let gw;
  let ledger;
  before(async () => {
    fp = await startFakeProviders();
    ledger = path.join(mkdtempSync(path.join(os.tmpdir(), 'aigw-cache-')), 'usage.jsonl');
    gw = await startAigw({ config: (port) => config(port, fp.port), args: ['--usage-ledger', ledger] });
  });
  after(async () => {
    await gw?.stop();
    await fp?.close();
  });
  const openai = (apiKey = 'sk-alice') => new OpenAI({ baseURL: `${gw.base}/v1`, apiKey, maxRetries: 0 });

  it('a repeated request is a hit: the same answer, no provider call, x-aigw-cache: hit', async () => {
    const client = openai();
    const before = fp.requests.length;
    const first = await client.chat.completions.create(chat('what is a cache?')).withResponse();
    assert.equal(first.response.headers.get('x-aigw-cache'), 'miss');
    assert.equal(fp.requests.length, before + 1);
    // The same request with its members in another order and other whitespace: canonically equal.
    const second = await client.chat.completions.create({ messages: [{ content: 'what is a cache?', role: 'user' }], model: 'gpt-4o-mini' }).withResponse();
    assert.equal(second.response.headers.get('x-aigw-cache'), 'hit');
    assert.ok(Number(second.response.headers.get('age')) >= 0);
    assert.equal(fp.requests.length, before + 1, 'a hit reached the provider');
    assert.deepEqual(second.data, first.data);
    assert.ok(second.data.usage.total_tokens > 0, 'the cached answer keeps its usage');
    const line = await gw.logLine((l) => l.cache === 'hit' && l.route_name === 'default/cached');
    assert.equal(line.status, 200);
    assert.equal(line.total_tokens ?? 0, 0, 'a hit is charged no tokens');
    assert.ok(await metric(gw, 'aigw_response_cache_hits_total') >= 1);
    assert.ok(await metric(gw, 'aigw_response_cache_misses_total') >= 1);
    assert.ok(await metric(gw, 'aigw_response_cache_stores_total') >= 1);
  });

  it('a streamed answer is replayed as a stream the SDK parses, with the original chunk boundaries', async () => {
    const body = { ...chat('stream me a story'), stream: true, stream_options: { include_usage: true } };
    const first = await rawPost(gw.base, '/v1/chat/completions', 'sk-alice', body);
    assert.equal(first.status, 200);
    assert.equal(first.headers['x-aigw-cache'], 'miss');
    const calls = fp.requests.length;
    const second = await rawPost(gw.base, '/v1/chat/completions', 'sk-alice', body);
    assert.equal(second.headers['x-aigw-cache'], 'hit');
    assert.match(second.headers['content-type'], /text\/event-stream/);
    assert.equal(second.body, first.body, 'the replay is byte for byte the first answer');
    assert.ok(second.chunks.length > 1, 'replayed as more than one chunk');
    assert.equal(fp.requests.length, calls);
    // And through the SDK: the hit is parsed as a stream.
    const stream = await openai().chat.completions.create(body);
    let text = '';
    let usage;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    assert.ok(text.length > 0);
    assert.ok(usage?.total_tokens > 0);
    assert.equal(fp.requests.length, calls, 'the SDK\'s stream came from the cache');
  });

  it('the Anthropic SDK: a streamed message replayed from the cache', async () => {
    const client = new Anthropic({ baseURL: `${gw.base}/anthropic`, apiKey: 'sk-alice', maxRetries: 0 });
    const msg = { model: 'claude-3-5-haiku-latest', max_tokens: 32, messages: [{ role: 'user', content: 'hi there' }] };
    const read = async () => {
      let text = '';
      for await (const ev of await client.messages.create({ ...msg, stream: true }))
        if (ev.type === 'content_block_delta') text += ev.delta.text ?? '';
      return text;
    };
    const a = await read();
    const calls = fp.requests.length;
    const b = await read();
    assert.equal(b, a);
    assert.ok(b.length > 0);
    assert.equal(fp.requests.length, calls, 'the second stream reached the provider');
  });

  it('another caller, another body or a route without the cache: no hit', async () => {
    await openai('sk-alice').chat.completions.create(chat('only mine'));
    const calls = fp.requests.length;
    const bob = await openai('sk-bob').chat.completions.create(chat('only mine')).withResponse();
    assert.equal(bob.response.headers.get('x-aigw-cache'), 'miss', 'one caller read another\'s answer');
    const other = await openai('sk-alice').chat.completions.create({ ...chat('only mine'), temperature: 0.5 }).withResponse();
    assert.equal(other.response.headers.get('x-aigw-cache'), 'miss');
    const plain = await openai('sk-alice').chat.completions.create(chat('x', 'gpt-4o')).withResponse();
    assert.equal(plain.response.headers.get('x-aigw-cache'), null);
    await openai('sk-alice').chat.completions.create(chat('x', 'gpt-4o'));
    assert.equal(fp.requests.length, calls + 4);
  });

  it('a hit spends none of a virtual key\'s budget, and is in the ledger as a hit', async () => {
    const client = openai('sk-tight'); // two requests a day
    await client.chat.completions.create(chat('budgeted'));
    for (let i = 0; i < 3; i++) {
      const r = await client.chat.completions.create(chat('budgeted')).withResponse();
      assert.equal(r.response.headers.get('x-aigw-cache'), 'hit');
    }
    await client.chat.completions.create(chat('budgeted, second')); // the day's second request
    await assert.rejects(client.chat.completions.create(chat('budgeted, third')), (e) => {
      assert.ok(e instanceof OpenAI.RateLimitError, String(e));
      return true;
    });
    const { readFileSync, existsSync } = await import('node:fs');
    // The ledger's writer takes its queue every 50 ms: the last record may not be there yet.
    const rows = () => (existsSync(ledger) ? readFileSync(ledger, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []).filter((r) => r.key === 'tight');
    await waitFor(() => rows().length >= 5, 5000 * SLOW, 'the key\'s five ledger records');
    const hits = rows().filter((r) => r.cache === 'hit');
    assert.equal(hits.length, 3);
    for (const h of hits) {
      assert.equal(h.total_tokens, 0);
      assert.ok(!h.cost_usd, 'a hit costs nothing');
    }
  });
});

describe('aigw run: two gateways share one response cache through Redis', { skip: redisAvailable ? false : 'redis-server is not installed' }, () => {
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

  it('an answer one gateway streamed is replayed by the other', async () => {
    const body = { ...chat('shared through redis'), stream: true };
    const first = await rawPost(a.base, '/v1/chat/completions', 'sk-alice', body);
    assert.equal(first.headers['x-aigw-cache'], 'miss');
    const calls = fp.requests.length;
    let second;
    // The store is queued without waiting: the entry lands in Redis a moment later.
    for (let i = 0; i < 50; i++) {
      second = await rawPost(b.base, '/v1/chat/completions', 'sk-alice', body);
      if (second.headers['x-aigw-cache'] === 'hit') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(second.headers['x-aigw-cache'], 'hit');
    assert.equal(second.body, first.body);
    const stream = await new OpenAI({ baseURL: `${b.base}/v1`, apiKey: 'sk-alice', maxRetries: 0 }).chat.completions.create(body);
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    assert.ok(text.length > 0);
    assert.ok(fp.requests.length <= calls + 1, 'the second gateway called the provider again and again');
  });
});

describe('aigw validate: response cache annotations', () => {
  it('a bad value names the route and the annotation', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-cache-bad-'));
    const file = path.join(dir, 'c.yaml');
    writeFileSync(file, gatewayYaml(8080) + route('bad', 'gpt-4o-mini', 'openai',
      `    aigw.run/response-cache: "yes"\n`) + route('badttl', 'gpt-4o', 'openai',
      `    aigw.run/response-cache: "true"\n    aigw.run/response-cache-ttl: "forever"\n`) +
      fakeBackendYaml('openai', '{name: OpenAI}') + fakeEndpointYaml(9));
    const r = await runAigw(['validate', file]);
    assert.notEqual(r.code, 0);
    const out = r.stdout + r.stderr;
    assert.match(out, /AIGatewayRoute default\/bad.*metadata\.annotations.*aigw\.run\/response-cache must be "true" or "false", got "yes"/);
    assert.match(out, /AIGatewayRoute default\/badttl.*aigw\.run\/response-cache-ttl must be a duration/);
  });
});
