// The admin dashboard in a real browser: Debian's Chromium, driven by puppeteer-core, opens
// /dashboard on aigw's admin port after a virtual key's client sent chat completions through the
// official openai SDK, and finds the backend healthy, the requests, tokens and dollars counted,
// the model's line in the token chart, the key's budget charged, and the active config without
// its secrets; then a screenshot, decoded here, shows the chart's line in the series' colour.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { inflateSync } from 'node:zlib';
import OpenAI from 'openai';
import { startAigw, gatewayYaml, SLOW } from '../lib/harness.mjs';
import { startFakeProviders } from '../../../tools/fakeproviders/server.mjs';
import { fakeBackendYaml, securityPolicyYaml, modelRouteYaml, fakeEndpointYaml, clientKeysYaml, virtualKeyYaml } from '../lib/fakeconfig.mjs';

const CHROMIUM = process.env.AIGW_CHROMIUM ?? '/usr/bin/chromium';
let puppeteer = null;
try {
  puppeteer = (await import('puppeteer-core')).default;
} catch {
  // skipped below
}
const skip = !existsSync(CHROMIUM)
  ? `${CHROMIUM} is not installed (Debian's chromium package)`
  : !puppeteer
    ? 'puppeteer-core is not installed (npm ci in tests/e2e)'
    : false;

const CLIENT_KEY = 'sk-dashboard-client-5c1f0e';
const BACKEND_SECRET = 'sk-dashboard-backend-9a7d3b';
const ROUTE = 'dash-route';
const KEY = 'default/team-a';
const BACKEND = 'default/openai';
const MODEL = 'gpt-4o-mini';
const LIMIT = 100000;
const N = 4;
const VIEWPORT = { width: 1280, height: 1400, deviceScaleFactor: 1 };
const WAIT_MS = 15000 * SLOW;

function config(port, fakePort) {
  return gatewayYaml(port) + modelRouteYaml(ROUTE, MODEL, 'openai') + fakeEndpointYaml(fakePort) +
    fakeBackendYaml('openai', '{name: OpenAI}') + `---
apiVersion: v1
kind: Secret
metadata: {name: openai-key, namespace: default}
stringData: {apiKey: ${BACKEND_SECRET}}
` + securityPolicyYaml('openai-key', ['openai'], `  type: APIKey
  apiKey: {secretRef: {name: openai-key}}
`) + clientKeysYaml({ 'team-a': CLIENT_KEY }) + virtualKeyYaml('team-a', `  budgets:
    - {window: Day, tokens: ${LIMIT}}
`);
}

// An 8-bit RGB or RGBA, non-interlaced PNG (what Chromium's screenshots are): its size and its
// pixels, row by row, `channels` bytes each.
function decodePng(buf) {
  assert.equal(buf.subarray(0, 8).toString('hex'), '89504e470d0a1a0a', 'not a PNG');
  let width = 0;
  let height = 0;
  let depth = 0;
  let type = -1;
  let interlace = 0;
  const idat = [];
  for (let off = 8; off + 8 <= buf.length;) {
    const len = buf.readUInt32BE(off);
    const kind = buf.toString('latin1', off + 4, off + 8);
    const body = buf.subarray(off + 8, off + 8 + len);
    if (kind === 'IHDR') {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      depth = body[8];
      type = body[9];
      interlace = body[12];
    } else if (kind === 'IDAT') {
      idat.push(body);
    } else if (kind === 'IEND') {
      break;
    }
    off += 12 + len; // length, type, data, CRC
  }
  assert.equal(depth, 8, 'PNG bit depth');
  assert.ok(type === 2 || type === 6, `PNG colour type ${type} (want RGB or RGBA)`);
  assert.equal(interlace, 0, 'interlaced PNG');
  const channels = type === 6 ? 4 : 3;
  const stride = width * channels;
  const raw = inflateSync(Buffer.concat(idat));
  assert.equal(raw.length, height * (stride + 1), 'PNG data size');
  const pixels = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = pixels.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? pixels.subarray((y - 1) * stride, y * stride) : null;
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? row[i - channels] : 0;
      const b = prev ? prev[i] : 0;
      const c = prev && i >= channels ? prev[i - channels] : 0;
      let add;
      switch (filter) {
        case 0: add = 0; break;
        case 1: add = a; break;
        case 2: add = b; break;
        case 3: add = (a + b) >> 1; break;
        case 4: {
          const p = a + b - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - b);
          const pc = Math.abs(p - c);
          add = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default: throw new Error(`PNG filter type ${filter} on row ${y}`);
      }
      row[i] = (line[i] + add) & 0xff;
    }
  }
  return { width, height, channels, pixels };
}

const rgb = (css) => {
  const m = /^rgba?\((\d+),\s*(\d+),\s*(\d+)/.exec(css);
  assert.ok(m, `not an rgb() colour: ${css}`);
  return m.slice(1, 4).map(Number);
};

// Bounds a step that could hang (a browser that does not close).
const within = (ms, p) => Promise.race([p, new Promise((r) => setTimeout(r, ms).unref())]);

describe('the admin dashboard in Chromium', { skip }, () => {
  let fp;
  let gw;
  let browser;
  let page;
  let tokens = 0;
  const problems = []; // console errors, uncaught exceptions, failed or foreign requests

  before(async () => {
    fp = await startFakeProviders({ openaiApiKey: BACKEND_SECRET, chunkDelayMs: 1 });
    gw = await startAigw({ config: (port) => config(port, fp.port) });
    const client = new OpenAI({ baseURL: `${gw.base}/v1`, apiKey: CLIENT_KEY, maxRetries: 0, timeout: WAIT_MS });
    for (let i = 0; i < N; i++) {
      const r = await client.chat.completions.create({
        model: MODEL, messages: [{ role: 'user', content: `hello ${'there '.repeat(i + 1)}` }],
      });
      assert.ok(r.usage?.total_tokens > 0, 'the SDK reported no usage');
      tokens += r.usage.total_tokens;
    }

    browser = await puppeteer.launch({
      executablePath: CHROMIUM, headless: true, timeout: 30000, protocolTimeout: 60000,
      args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--hide-scrollbars', '--no-first-run'],
    });
    page = await browser.newPage();
    page.setDefaultTimeout(WAIT_MS);
    await page.setViewport(VIEWPORT);
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
    page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
    page.on('request', (r) => {
      if (!r.url().startsWith(`${gw.admin}/`) && !r.url().startsWith('data:')) problems.push(`foreign request: ${r.url()}`);
    });
    await page.goto(`${gw.admin}/dashboard`, { waitUntil: 'load', timeout: WAIT_MS });
    await page.waitForSelector('body[data-loaded]');
    // The usage of a request lands just after its response: wait until all of it is counted.
    await settle((n) => document.querySelector('#totals [data-total="requests"]')?.textContent === String(n), N);
  });

  after(async () => {
    if (browser) {
      const proc = browser.process();
      await within(10000, browser.close().catch(() => {}));
      if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    }
    await gw?.stop();
    await fp?.close();
  });

  // Waits (bounded) for `pred` in the page; the assertions after it report what is there.
  async function settle(pred, arg, timeout = WAIT_MS) {
    try {
      await page.waitForFunction(pred, { timeout, polling: 100 }, arg);
    } catch {
      // the assertions that follow say what differs
    }
  }

  const text = (sel) => page.$eval(sel, (e) => e.textContent.trim()).catch(() => null);

  it('goes live from its own origin, without errors', async () => {
    assert.equal(await text('#status'), 'live');
    assert.ok(Number(await page.evaluate(() => document.body.dataset.renders)) >= 1);
    assert.deepEqual(problems, []);
  });

  it('shows the backend healthy on its route', async () => {
    const row = `#routes tr[data-backend="${BACKEND}"]`;
    assert.equal(await text(`${row} .health`), 'healthy');
    assert.ok((await text('#routes')).includes(`default/${ROUTE}`), await text('#routes'));
  });

  it('counts the requests, their tokens and dollars', async () => {
    assert.equal(await text('#totals [data-total="requests"]'), String(N));
    assert.equal(await text('#totals [data-total="tokens"]'), String(tokens));
    const usd = await text('#totals [data-total="usd"]');
    assert.match(usd, /^\d+(\.\d{1,6})?$/);
    assert.ok(Number(usd) > 0, `no dollars for ${MODEL}: ${usd}`);
    assert.equal(await text('#totals [data-total="cache_hits"]'), '0');
  });

  it('draws the model\'s tokens as a line with a point per step', async () => {
    const line = await page.$eval(`#chart-tokens-model polyline[data-series="${MODEL}"]`, (pl) => ({
      points: pl.getAttribute('points').trim().split(/\s+/).filter(Boolean).map((p) => p.split(',').map(Number)),
      values: pl.dataset.values.split(',').map(Number),
      baseline: Number(pl.ownerSVGElement.dataset.baseline),
    })).catch(() => null);
    assert.ok(line, `no line for ${MODEL} in #chart-tokens-model`);
    assert.equal(line.points.length, line.values.length, 'a point per value');
    assert.equal(line.values.reduce((a, b) => a + b, 0), tokens, 'the steps add up to the tokens spent');
    const i = line.values.findIndex((v) => v > 0);
    assert.ok(i >= 0, `no nonzero value: ${line.values}`);
    assert.ok(line.points[i][1] < line.baseline, `the nonzero point is not above the axis: ${line.points[i]}`);
    assert.ok(await page.$(`#chart-tokens-key polyline[data-series="${KEY}"]`), `no line for ${KEY} in #chart-tokens-key`);
  });

  it('charges the virtual key\'s budget: used is the tokens spent, remaining the rest', async () => {
    const row = `#budgets tr[data-key="${KEY}"][data-window="Day"]`;
    await settle(([sel, t]) => document.querySelector(`${sel} .used`)?.textContent === String(t), [row, tokens], 5000 * SLOW);
    assert.equal(await text(`${row} .used`), String(tokens));
    assert.equal(await text(`${row} .limit`), String(LIMIT));
    assert.equal(await text(`${row} .remaining`), String(LIMIT - tokens));
  });

  it('shows the active config without the client\'s key or the backend\'s secret', async () => {
    const cfg = await text('#config');
    assert.ok(cfg.includes(ROUTE), `the route is not in the config: ${cfg.slice(0, 400)}`);
    assert.ok(!cfg.includes(CLIENT_KEY), 'the config shows the client API key');
    assert.ok(!cfg.includes(BACKEND_SECRET), 'the config shows the backend secret');
  });

  it('renders the line in the series\' colour (read from a decoded screenshot)', async () => {
    // A line needs two steps; the first one may be all there is yet.
    const step = (await (await fetch(`${gw.admin}/dashboard/data`)).json()).step_seconds ?? 10;
    const sel = `#chart-tokens-model polyline[data-series="${MODEL}"]`;
    await settle((s) => document.querySelector(s)?.getAttribute('points').trim().split(/\s+/).length >= 2, sel,
      (2 * step + 5) * 1000);
    const chart = await page.$('#chart-tokens-model svg');
    await chart.scrollIntoView();
    const box = await chart.boundingBox();
    const colour = rgb(await page.$eval(sel, (pl) => getComputedStyle(pl).stroke));
    // The card around the chart: its padding, left of the chart, is its plain background.
    const card = await page.$eval('#chart-tokens-model', (c) => {
      const k = c.closest('.card');
      const r = k.getBoundingClientRect();
      return { x: r.x, y: r.y, height: r.height, background: getComputedStyle(k).backgroundColor };
    });
    const png = decodePng(Buffer.from(await page.screenshot({ type: 'png' })));
    assert.equal(png.width, VIEWPORT.width);
    assert.equal(png.height, VIEWPORT.height);
    const at = (x, y) => [...png.pixels.subarray((y * png.width + x) * png.channels, (y * png.width + x) * png.channels + 3)];
    assert.deepEqual(at(Math.round(card.x + 6), Math.round(card.y + card.height / 2)), rgb(card.background),
      'the decoded screenshot has the card\'s background where the card is');

    let hits = 0;
    const x0 = Math.max(0, Math.floor(box.x));
    const y0 = Math.max(0, Math.floor(box.y));
    const x1 = Math.min(png.width, Math.ceil(box.x + box.width));
    const y1 = Math.min(png.height, Math.ceil(box.y + box.height));
    for (let y = y0; y < y1; y++)
      for (let x = x0; x < x1; x++) {
        const p = at(x, y);
        if (Math.abs(p[0] - colour[0]) + Math.abs(p[1] - colour[1]) + Math.abs(p[2] - colour[2]) <= 40) hits++;
      }
    assert.ok(hits >= 150, `${hits} pixels of rgb(${colour}) in the chart (${x1 - x0}x${y1 - y0} at ${x0},${y0})`);
  });
});
