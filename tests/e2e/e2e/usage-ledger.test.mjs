// The usage ledger: `aigw run --usage-ledger` appends one JSON line per request (client key,
// route, backend, model, tokens, dollars from the price catalog, status), and `aigw usage` sums
// spend by key, model and day; `--usage-ledger-redis` adds the same records to a stream in a real
// redis-server. Driven with the official OpenAI and Anthropic SDKs.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startAigw, gatewayYaml, runAigw, waitFor, sleep, SLOW, redisAvailable, startRedis, redisCmd } from '../lib/harness.mjs';
import { startFakeProviders } from '../../../tools/fakeproviders/server.mjs';
import { modelRouteYaml as route, openaiAnthropicYaml, clientKeysYaml } from '../lib/fakeconfig.mjs';

const config = (port, fakePort) => gatewayYaml(port) + route('chat', 'gpt-4o-mini', 'openai') +
  route('claude', 'claude-3-5-haiku-latest', 'anthropic') + openaiAnthropicYaml(fakePort) +
  clientKeysYaml({ 'team-a': 'sk-team-a', 'team-b': 'sk-team-b' });

describe('aigw run: usage ledger and aigw usage', () => {
  let fp;
  let gw;
  let dir;
  let ledger;
  before(async () => {
    fp = await startFakeProviders();
    dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-ledger-'));
    ledger = path.join(dir, 'usage.jsonl');
    const catalog = path.join(dir, 'prices.json');
    // gpt-4o-mini overridden (USD per million tokens); Claude from the bundled catalog.
    writeFileSync(catalog, JSON.stringify({ 'gpt-4o-mini': { input: 1000, output: 2000, cachedInput: 500 } }));
    gw = await startAigw({ config: (port) => config(port, fp.port), args: ['--usage-ledger', ledger, '--price-catalog', catalog] });
  });
  after(async () => {
    await gw?.stop();
    await fp?.close();
  });

  const lines = () => (existsSync(ledger) ? readFileSync(ledger, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);

  it('writes one record per request with the client key, tokens and the dollars the catalog prices', async () => {
    const a = new OpenAI({ baseURL: `${gw.base}/v1`, apiKey: 'sk-team-a' });
    const b = new OpenAI({ baseURL: `${gw.base}/v1`, apiKey: 'sk-team-b' });
    const r1 = await a.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello there' }] });
    const stream = await b.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'stream it' }] });
    for await (const _ of stream) { /* drain */ }
    const claude = new Anthropic({ baseURL: `${gw.base}/anthropic`, apiKey: 'sk-team-b' });
    const m = await claude.messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 32, messages: [{ role: 'user', content: 'hi' }] });
    await assert.rejects(new OpenAI({ baseURL: `${gw.base}/v1`, apiKey: 'sk-bad', maxRetries: 0 }).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }));
    await waitFor(() => lines().length >= 3, 5000 * SLOW, 'three ledger lines');
    const recs = lines();
    const first = recs.find((r) => r.key === 'team-a');
    assert.equal(first.model, 'gpt-4o-mini');
    assert.equal(first.route, 'default/chat');
    assert.equal(first.backend, 'default/openai');
    assert.equal(first.status, 200);
    assert.equal(first.input_tokens, r1.usage.prompt_tokens);
    assert.equal(first.output_tokens, r1.usage.completion_tokens);
    const cached = first.cached_input_tokens;
    const expect = ((first.input_tokens - cached) * 1000 + cached * 500 + first.output_tokens * 2000) / 1e6;
    assert.ok(Math.abs(first.cost_usd - expect) < 1e-6, `${first.cost_usd} vs ${expect}`);
    const streamed = recs.find((r) => r.key === 'team-b' && r.stream);
    assert.ok(streamed.output_tokens > 0, JSON.stringify(streamed));
    assert.ok(streamed.cost_usd > 0);
    const c = recs.find((r) => r.model === 'claude-3-5-haiku-latest');
    assert.equal(c.key, 'team-b');
    assert.equal(c.output_tokens, m.usage.output_tokens);
    // claude-3-5-haiku: $0.80 in, $4 out per million (bundled)
    const cin = c.input_tokens - c.cached_input_tokens - c.cache_write_tokens;
    const cexpect = (cin * 0.8 + c.cached_input_tokens * 0.08 + c.cache_write_tokens * 1 + c.output_tokens * 4) / 1e6;
    assert.ok(Math.abs(c.cost_usd - cexpect) < 1e-9, `${c.cost_usd} vs ${cexpect}`);
    // A refused request never reached a model: no record.
    assert.equal(recs.filter((r) => r.status === 401).length, 0);
  });

  it('aigw usage prints spend by key, model and day', async () => {
    const recs = lines();
    const spendB = recs.filter((r) => r.key === 'team-b').reduce((s, r) => s + r.cost_usd, 0);
    const out = await runAigw(['usage', ledger]);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /^by key$/m);
    assert.match(out.stdout, /^by model$/m);
    assert.match(out.stdout, /^by day \(UTC\)$/m);
    const row = out.stdout.split('\n').find((l) => l.trim().startsWith('team-b'));
    const cols = row.trim().split(/\s+/);
    assert.equal(Number(cols[1]), recs.filter((r) => r.key === 'team-b').length);
    assert.ok(Math.abs(Number(cols[5]) - spendB) < 1e-5, `${cols[5]} vs ${spendB}`);
    const today = new Date().toISOString().slice(0, 10);
    assert.match(out.stdout, new RegExp(`^  ${today} +${recs.length} `, 'm'));
    const byModel = await runAigw(['usage', ledger, '--by', 'model']);
    assert.doesNotMatch(byModel.stdout, /^by key$/m);
    assert.match(byModel.stdout, /claude-3-5-haiku-latest/);
    assert.equal((await runAigw(['usage', ledger, '--by', 'week'])).code, 2);
  });

  it('a bad price catalog stops the start with the file and the field', async () => {
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ 'gpt-4o': { input: -1 } }));
    const r = await runAigw(['run', path.join(dir, 'none.yaml'), '--price-catalog', bad]);
    assert.notEqual(r.code, 0);
  });
});

// A stream's entries (XRANGE - +) as objects of their fields, with the entry id as `_id`.
async function streamEntries(redis, key) {
  const out = await redisCmd(redis, 'XRANGE', key, '-', '+');
  if (out instanceof Error) throw out;
  return out.map(([id, kv]) => {
    const e = { _id: id };
    for (let i = 0; i < kv.length; i += 2) e[kv[i]] = kv[i + 1];
    return e;
  });
}

async function metric(gw, name) {
  const text = await (await fetch(`${gw.admin}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

describe('aigw run: the usage ledger in a Redis stream', { skip: !redisAvailable && 'redis-server not installed' }, () => {
  let fp;
  let redis;
  let gw;
  let dir;
  let ledger;
  before(async () => {
    fp = await startFakeProviders();
    redis = await startRedis();
    dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-ledger-stream-'));
    ledger = path.join(dir, 'usage.jsonl');
    gw = await startAigw({ config: (port) => config(port, fp.port), args: ['--usage-ledger', ledger,
      '--usage-ledger-redis', `redis://127.0.0.1:${redis.port}`, '--usage-ledger-stream', 'team:usage',
      '--usage-ledger-stream-max-len', '50000'] });
  });
  after(async () => {
    await gw?.stop();
    await redis?.stop();
    await fp?.close();
  });

  it('adds each record to the stream, field by field, as the file has it', async () => {
    const a = new OpenAI({ baseURL: `${gw.base}/v1`, apiKey: 'sk-team-a' });
    const r1 = await a.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'to the stream' }] });
    const stream = await a.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'streamed' }] });
    for await (const _ of stream) { /* drain */ }
    const claude = new Anthropic({ baseURL: `${gw.base}/anthropic`, apiKey: 'sk-team-b' });
    const m = await claude.messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 32, messages: [{ role: 'user', content: 'hi' }] });
    let entries = [];
    await waitFor(async () => (entries = await streamEntries(redis, 'team:usage')).length >= 3, 5000 * SLOW, 'three stream entries');
    await waitFor(() => readFileSync(ledger, 'utf8').trim().split('\n').length >= 3, 5000 * SLOW, 'three file lines');
    const records = readFileSync(ledger, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(entries.length, records.length);
    for (const r of records) {
      const e = entries.find((x) => x.request_id === r.request_id);
      assert.ok(e, `no stream entry for ${r.request_id}`);
      assert.deepEqual(Object.keys(e).filter((k) => k !== '_id'), Object.keys(r), 'the same fields, in order');
      for (const [k, v] of Object.entries(r)) {
        if (typeof v === 'number') assert.ok(Math.abs(Number(e[k]) - v) < 1e-12, `${k}: ${e[k]} vs ${v}`);
        else assert.equal(e[k], String(v), k);
      }
    }
    const first = entries.find((e) => e.key === 'team-a' && e.stream === 'false');
    assert.equal(Number(first.input_tokens), r1.usage.prompt_tokens);
    assert.equal(Number(first.output_tokens), r1.usage.completion_tokens);
    assert.equal(first.model, 'gpt-4o-mini');
    assert.ok(Number(first.cost_usd) > 0);
    const c = entries.find((e) => e.model === 'claude-3-5-haiku-latest');
    assert.equal(c.key, 'team-b');
    assert.equal(Number(c.output_tokens), m.usage.output_tokens);
    // Entry ids are Redis's own, in the order the requests finished.
    assert.ok(entries.every((e, i) => i === 0 || e._id > entries[i - 1]._id || e._id.length > entries[i - 1]._id.length));
    assert.equal(await metric(gw, 'aigw_usage_ledger_records_total{sink="redis",result="written"}'), records.length);
    assert.equal(await metric(gw, 'aigw_usage_ledger_records_total{sink="file",result="written"}'), records.length);
    assert.equal(await metric(gw, 'aigw_usage_ledger_records_total{sink="redis",result="dropped"}'), 0);
  });

  it('aigw usage --redis sums the stream as it sums the file', async () => {
    const fromFile = await runAigw(['usage', ledger]);
    const fromStream = await runAigw(['usage', '--redis', `redis://127.0.0.1:${redis.port}`, '--stream', 'team:usage']);
    assert.equal(fromStream.code, 0, fromStream.stderr);
    assert.match(fromStream.stdout, /^total: 3 requests/m);
    assert.equal(fromStream.stdout, fromFile.stdout);
    const byKey = await runAigw(['usage', '--redis', `redis://127.0.0.1:${redis.port}`, '--stream', 'team:usage', '--by', 'key']);
    assert.match(byKey.stdout, /^ {2}team-a +2 /m);
    assert.match(byKey.stdout, /^ {2}team-b +1 /m);
    const none = await runAigw(['usage', '--redis', 'redis://127.0.0.1:1']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /--redis redis:\/\/127\.0\.0\.1:1: /);
  });

  it('a Redis that goes away holds no request, and the records made meanwhile arrive when it is back', async () => {
    // A gateway of its own, with the stream alone (no file) under the default key.
    const own = await startRedis();
    const g = await startAigw({ config: (port) => config(port, fp.port), args: ['--usage-ledger-redis', `redis://127.0.0.1:${own.port}`] });
    try {
      const client = new OpenAI({ baseURL: `${g.base}/v1`, apiKey: 'sk-team-a', maxRetries: 0 });
      await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'before' }] });
      await waitFor(async () => (await streamEntries(own, 'aigw:usage')).length === 1, 5000 * SLOW, 'the first entry');
      await own.stop();
      const ids = [];
      for (let i = 0; i < 5; i++) {
        ids.push(`while-down-${i}`);
        const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `while down ${i}` }] },
          { headers: { 'x-request-id': ids[i] } }).withResponse();
        assert.equal(r.response.status, 200);
      }
      await sleep(300);
      const back = await startRedis({ port: own.port }); // empty: nothing persisted
      try {
        let entries = [];
        await waitFor(async () => (entries = await streamEntries(back, 'aigw:usage')).length >= 5, 15000 * SLOW, 'the entries made while Redis was down');
        assert.equal(entries.length, 5);
        assert.ok(entries.every((e) => e.model === 'gpt-4o-mini' && e.key === 'team-a' && e.status === '200'));
        assert.deepEqual(entries.map((e) => e.request_id).sort(), [...ids].sort());
        assert.ok(await metric(g, 'aigw_usage_ledger_redis_errors_total') >= 1);
        assert.equal(await metric(g, 'aigw_usage_ledger_records_total{sink="redis",result="written"}'), 6);
        assert.equal(await metric(g, 'aigw_usage_ledger_records_total{sink="file",result="written"}'), 0);
      } finally {
        await back.stop();
      }
    } finally {
      await g.stop();
    }
  });

  it('entries a Redis turns back for a while (NOAUTH) wait; those it refuses for good (WRONGTYPE) are dropped and counted', async () => {
    const own = await startRedis();
    const g = await startAigw({ config: (port) => config(port, fp.port), args: ['--usage-ledger-redis', `redis://127.0.0.1:${own.port}`, '--usage-ledger-stream', 'held'] });
    try {
      const client = new OpenAI({ baseURL: `${g.base}/v1`, apiKey: 'sk-team-a', maxRetries: 0 });
      const ask = (id) => client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: id }] }, { headers: { 'x-request-id': id } });
      await ask('first');
      await waitFor(async () => (await streamEntries(own, 'held')).length === 1, 5000 * SLOW, 'the first entry');
      // A password now, and the gateway's connection cut: its next XADDs are answered NOAUTH.
      assert.equal(await redisCmd(own, 'CONFIG', 'SET', 'requirepass', 'sesame'), 'OK');
      const authed = (...cmd) => redisCmd({ port: own.port, auth: 'sesame' }, ...cmd);
      await authed('CLIENT', 'KILL', 'TYPE', 'normal');
      for (const id of ['held-1', 'held-2', 'held-3']) await ask(id);
      await waitFor(async () => (await metric(g, 'aigw_usage_ledger_redis_errors_total')) >= 1, 5000 * SLOW, 'a NOAUTH reply');
      assert.equal(await metric(g, 'aigw_usage_ledger_records_total{sink="redis",result="dropped"}'), 0);
      await authed('CONFIG', 'SET', 'requirepass', '');
      let entries = [];
      await waitFor(async () => (entries = await streamEntries(own, 'held')).length === 4, 15000 * SLOW, 'the held entries');
      assert.deepEqual(entries.map((e) => e.request_id), ['first', 'held-1', 'held-2', 'held-3']);
      // The key now holds a string: refused for good, dropped and counted, requests unaffected.
      await redisCmd(own, 'DEL', 'held');
      await redisCmd(own, 'SET', 'held', 'not a stream');
      await ask('refused');
      await waitFor(async () => (await metric(g, 'aigw_usage_ledger_records_total{sink="redis",result="dropped"}')) === 1, 5000 * SLOW, 'the refused entry counted');
      await redisCmd(own, 'DEL', 'held');
      await ask('after');
      await waitFor(async () => (await streamEntries(own, 'held')).length === 1, 5000 * SLOW, 'the entry after the refusal');
      assert.equal((await streamEntries(own, 'held'))[0].request_id, 'after');
    } finally {
      await g.stop();
      await own.stop();
    }
  });

  it('a bad stream URL or key stops the start and says which', async () => {
    const file = path.join(dir, 'gateway.yaml');
    writeFileSync(file, config(1, fp.port));
    const bad = await runAigw(['run', file, '--usage-ledger-redis', 'http://127.0.0.1:6379']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr + bad.stdout, /Redis URL "http:\/\/127\.0\.0\.1:6379" is not redis:\/\/HOST\[:PORT\]/);
    const key = await runAigw(['run', file, '--usage-ledger-redis', 'redis://127.0.0.1:1', '--usage-ledger-stream', 'two words']);
    assert.notEqual(key.code, 0);
    assert.match(key.stderr + key.stdout, /stream key "two words" is not/);
  });
});
