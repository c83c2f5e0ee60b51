// The admin dashboard's assets: the page, its script and its chart library, kept here as plain
// HTML and JavaScript (no build step, nothing loaded from elsewhere); see dashboard_assets.h.
#include "proxy/dashboard_assets.h"

#include <string_view>

namespace aigw::proxy {
namespace {

// The page at /dashboard.
constexpr std::string_view kHtml = R"AIGW(<!doctype html>
<!-- The admin dashboard (served at /dashboard): routes and backend health, traffic, latency and
     spend over time, budgets left, the active config. /dashboard/app.js fills it in from
     /dashboard/data and /config_dump; nothing is loaded from anywhere else. -->
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>aigw · dashboard</title>
<link rel="icon" href="data:,">
<style>
  :root {
    --bg: #0d1117; --panel: #161b22; --panel-2: #1c2330; --border: #30363d;
    --text: #e6edf3; --muted: #8b949e; --faint: #6e7681;
    --ok: #3fb950; --warn: #d29922; --bad: #f85149; --accent: #58a6ff;
    --radius: 8px;
    color-scheme: dark;
  }
  * { box-sizing: border-box; }
  html, body { margin: 0; background: var(--bg); color: var(--text); }
  body {
    font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "DejaVu Sans", Arial, sans-serif;
    font-variant-numeric: tabular-nums;
  }
  header {
    display: flex; align-items: center; gap: 16px; flex-wrap: wrap;
    padding: 14px 24px; border-bottom: 1px solid var(--border); background: var(--panel);
  }
  .brand { font-size: 18px; font-weight: 650; letter-spacing: .2px; }
  .brand span { color: var(--muted); font-weight: 450; margin-left: 6px; }
  .meta { color: var(--muted); font-size: 13px; display: flex; gap: 16px; flex-wrap: wrap; }
  .spacer { flex: 1; }
  #status {
    display: inline-flex; align-items: center; gap: 7px; padding: 3px 11px; border-radius: 999px;
    border: 1px solid var(--border); font-size: 12.5px; font-weight: 600; color: var(--muted);
  }
  #status::before { content: ""; width: 8px; height: 8px; border-radius: 50%; background: var(--faint); }
  #status.live { color: var(--ok); border-color: rgba(63, 185, 80, .4); }
  #status.live::before { background: var(--ok); box-shadow: 0 0 0 3px rgba(63, 185, 80, .18); }
  #status.stale { color: var(--warn); border-color: rgba(210, 153, 34, .4); }
  #status.stale::before { background: var(--warn); }

  main { max-width: 1440px; margin: 0 auto; padding: 20px 24px 40px; display: grid; gap: 18px; }
  .grid-2 { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 18px; }
  @media (max-width: 960px) { .grid-2 { grid-template-columns: minmax(0, 1fr); } }

  .card { background: var(--panel); border: 1px solid var(--border); border-radius: var(--radius); padding: 14px 16px 12px; min-width: 0; }
  .card h2 { margin: 0 0 2px; font-size: 13px; font-weight: 600; text-transform: uppercase; letter-spacing: .6px; color: var(--muted); }
  .card .sub { margin: 0 0 10px; font-size: 12px; color: var(--faint); }
  .section-title { margin: 6px 0 -6px; font-size: 12px; font-weight: 600; text-transform: uppercase; letter-spacing: .8px; color: var(--faint); }

  #totals { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 18px; }
  .total { padding: 14px 16px; }
  .total .label { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .6px; }
  .total .value { margin-top: 4px; font-size: 26px; font-weight: 600; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
  .total .value .prefix { color: var(--muted); font-weight: 500; margin-right: 2px; }
  .total .hint { font-size: 12px; color: var(--faint); margin-top: 2px; min-height: 17px; }

  table { width: 100%; border-collapse: collapse; font-size: 13.5px; }
  th { text-align: left; font-weight: 600; color: var(--muted); font-size: 12px; padding: 6px 10px; border-bottom: 1px solid var(--border); white-space: nowrap; }
  td { padding: 7px 10px; border-bottom: 1px solid rgba(48, 54, 61, .6); vertical-align: middle; }
  tr:last-child td { border-bottom: none; }
  tbody tr:hover td { background: var(--panel-2); }
  td.num, th.num { text-align: right; white-space: nowrap; }
  td.name { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 12.5px; word-break: break-all; }
  td.empty { color: var(--faint); text-align: center; padding: 18px; }
  .table-wrap { overflow-x: auto; }

  .pill { display: inline-block; padding: 1px 9px; border-radius: 999px; font-size: 12px; font-weight: 600; border: 1px solid; white-space: nowrap; }
  .pill.ok { color: var(--ok); border-color: rgba(63, 185, 80, .4); background: rgba(63, 185, 80, .1); }
  .pill.warn { color: var(--warn); border-color: rgba(210, 153, 34, .4); background: rgba(210, 153, 34, .1); }
  .pill.bad { color: var(--bad); border-color: rgba(248, 81, 73, .4); background: rgba(248, 81, 73, .1); }

  .meter { width: 120px; height: 6px; border-radius: 3px; background: var(--panel-2); border: 1px solid var(--border); overflow: hidden; }
  .meter > i { display: block; height: 100%; background: var(--ok); }
  .meter.warn > i { background: var(--warn); }
  .meter.bad > i { background: var(--bad); }

  #config {
    margin: 0; max-height: 460px; overflow: auto; padding: 12px 14px; border-radius: 6px;
    background: var(--bg); border: 1px solid var(--border); color: #c9d1d9;
    font: 12.5px/1.5 ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace;
  }

  .aigw-chart { position: relative; min-height: 200px; }
  .aigw-chart-svg { display: block; overflow: visible; }
  .aigw-gridline { stroke: #21262d; stroke-width: 1; }
  .aigw-axis { stroke: var(--border); stroke-width: 1; }
  .aigw-label { fill: var(--muted); font-size: 11px; }
  .aigw-unit { fill: var(--faint); }
  .aigw-empty { fill: var(--faint); font-size: 13px; }
  .aigw-cursor { stroke: var(--faint); stroke-width: 1; stroke-dasharray: 3 3; }
  .aigw-legend { display: flex; flex-wrap: wrap; gap: 4px 14px; margin-top: 6px; font-size: 12.5px; }
  .aigw-legend-item { display: inline-flex; align-items: center; gap: 6px; min-width: 0; max-width: 100%; }
  .aigw-legend-name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  .aigw-legend-note { color: var(--faint); }
  .aigw-swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; flex: none; }
  .aigw-tooltip {
    position: absolute; pointer-events: none; z-index: 2; padding: 6px 9px; font-size: 12px;
    background: var(--panel-2); border: 1px solid var(--border); border-radius: 6px;
    box-shadow: 0 6px 18px rgba(0, 0, 0, .4); white-space: nowrap;
  }
  .aigw-tooltip-title { color: var(--muted); margin-bottom: 2px; }
  .aigw-tooltip-row { display: flex; align-items: center; gap: 6px; }
  @media (max-width: 760px) {
    main { padding: 14px 12px 28px; }
    td, th { padding: 6px 6px; }
    td.name { min-width: 12ch; }
    .meter { width: 56px; }
  }
</style>
</head>
<body>
<header>
  <div class="brand">aigw<span>admin dashboard</span></div>
  <div class="meta">
    <span id="generation">config generation –</span>
    <span id="updated">not loaded yet</span>
  </div>
  <div class="spacer"></div>
  <span id="status">connecting</span>
</header>

<main>
  <section id="totals" aria-label="Totals">
    <div class="card total"><div class="label">Requests</div><div class="value"><span data-total="requests">–</span></div><div class="hint" id="totals-errors"></div></div>
    <div class="card total"><div class="label">Tokens</div><div class="value"><span data-total="tokens">–</span></div><div class="hint">input + output</div></div>
    <div class="card total"><div class="label">Spend</div><div class="value"><span class="prefix">$</span><span data-total="usd">–</span></div><div class="hint">USD, from the price catalog</div></div>
    <div class="card total"><div class="label">Cache hits</div><div class="value"><span data-total="cache_hits">–</span></div><div class="hint" id="totals-cache-rate"></div></div>
  </section>

  <section class="card" aria-labelledby="routes-title">
    <h2 id="routes-title">Routes and backends</h2>
    <p class="sub">As the balancer sees them: an ejected backend failed requests in a row and is skipped until the ejection ends; one cooling down answered 429 and is picked only when no other can serve.</p>
    <div class="table-wrap">
      <table id="routes">
        <thead><tr><th>Route</th><th>Backend</th><th>Schema</th><th>Health</th><th class="num">In flight</th><th class="num">Latency (EWMA)</th></tr></thead>
        <tbody><tr><td colspan="6" class="empty">loading…</td></tr></tbody>
      </table>
    </div>
  </section>

  <div class="section-title">Traffic</div>
  <div class="grid-2">
    <section class="card"><h2>Request rate</h2><p class="sub" id="sub-requests">requests per second</p><div id="chart-requests"></div></section>
    <section class="card"><h2>Latency</h2><p class="sub">p50 and p95, milliseconds</p><div id="chart-latency"></div></section>
  </div>

  <div class="section-title">Spend</div>
  <div class="grid-2">
    <section class="card"><h2>Tokens by model</h2><p class="sub" id="sub-tokens-model">tokens per step</p><div id="chart-tokens-model"></div></section>
    <section class="card"><h2>Dollars by model</h2><p class="sub" id="sub-usd-model">USD per step</p><div id="chart-usd-model"></div></section>
    <section class="card"><h2>Tokens by key</h2><p class="sub" id="sub-tokens-key">tokens per step, by virtual key or client</p><div id="chart-tokens-key"></div></section>
    <section class="card"><h2>Dollars by key</h2><p class="sub" id="sub-usd-key">USD per step, by virtual key or client</p><div id="chart-usd-key"></div></section>
  </div>

  <section class="card" aria-labelledby="budgets-title">
    <h2 id="budgets-title">Budgets left</h2>
    <p class="sub">Virtual keys' budgets in their current window.</p>
    <div class="table-wrap">
      <table id="budgets">
        <thead><tr><th>Key</th><th>Window</th><th>Unit</th><th class="num">Used</th><th class="num">Limit</th><th class="num">Remaining</th><th></th><th>Resets</th></tr></thead>
        <tbody><tr><td colspan="8" class="empty">loading…</td></tr></tbody>
      </table>
    </div>
  </section>

  <section class="card" aria-labelledby="config-title">
    <h2 id="config-title">Active config</h2>
    <p class="sub" id="config-sub">From /config_dump, secrets redacted.</p>
    <pre id="config">loading…</pre>
  </section>
</main>
<script src="/dashboard/chart.js"></script>
<script src="/dashboard/app.js"></script>
</body>
</html>
)AIGW";

// The script at /dashboard/app.js.
constexpr std::string_view kAppJs =
    R"AIGW(// The admin dashboard's script (served at /dashboard/app.js): polls /dashboard/data every 2 s,
// and /config_dump when the config generation changes, and renders them into the page. Names
// (models, keys, routes) come from clients and configs, so they go into the page as text only.
(function () {
  'use strict';

  const POLL_MS = 2000;
  const FETCH_TIMEOUT_MS = 5000;
  const MAX_SERIES = 8; // per chart; the rest are summed into one "other" line
  const REDACTED = '[redacted]';

  const state = { generation: null, renders: 0, last: null, colors: new Map() };
  const byId = (id) => document.getElementById(id);

  // ---------------------------------------------------------------- formatting

  // A plain number with up to 6 decimals: 0.000123, 1.5, 42.
  function plain(v) {
    if (typeof v !== 'number' || !Number.isFinite(v)) return '–';
    if (Number.isInteger(v)) return String(v);
    const s = v.toFixed(6).replace(/0+$/, '').replace(/\.$/, '');
    return s === '-0' ? '0' : s;
  }

  function usdShort(v) {
    if (!(v > 0)) return '$0';
    if (v >= 100) return '$' + Math.round(v);
    if (v >= 1) return '$' + String(+v.toFixed(2));
    return '$' + String(+v.toPrecision(2));
  }

  const pad2 = (n) => String(n).padStart(2, '0');
  function clock(unix) {
    const d = new Date(unix * 1000);
    return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  }

  function duration(secs) {
    if (!(secs > 0)) return 'now';
    const d = Math.floor(secs / 86400);
    const h = Math.floor((secs % 86400) / 3600);
    const m = Math.floor((secs % 3600) / 60);
    if (d > 0) return `in ${d}d ${h}h`;
    if (h > 0) return `in ${h}h ${m}m`;
    if (m > 0) return `in ${m}m`;
    return `in ${Math.ceil(secs)}s`;
  }

  // ---------------------------------------------------------------- DOM helpers (text only)

  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    if (props) {
      for (const k in props) {
        const v = props[k];
        if (v === undefined || v === null) continue;
        if (k === 'class') e.className = v;
        else if (k === 'text') e.textContent = String(v);
        else if (k === 'title') e.title = String(v);
        else if (k === 'data') for (const d in v) e.dataset[d] = String(v[d]);
        else e.setAttribute(k, String(v));
      }
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  function emptyRow(cols, text) {
    return el('tr', null, el('td', { colspan: cols, class: 'empty', text }));
  }

  // ---------------------------------------------------------------- secrets

  // Keys whose values are never shown, whatever the server sent: API keys, passwords, tokens,
  // secrets, authorization headers, private keys, credentials. A reference to a secret (secretRef,
  // credentialRefs, secretName) only names it and is shown; so is a count of tokens (max_tokens).
  function secretKey(key) {
    const k = String(key).toLowerCase().replace(/[^a-z0-9]/g, '');
    if (/(refs?|names?|type)$/.test(k)) return false;
    return /apikey|password|passwd|secret|authorization|privatekey|serviceaccountkey|cookie/.test(k) ||
      /(token|credentials?)$/.test(k);
  }

  function redact(v) {
    if (Array.isArray(v)) return v.map(redact);
    if (!v || typeof v !== 'object') return v;
    const out = {};
    // A header given as {name, value}: the value of an Authorization or API-key header is secret.
    const pair = typeof v.name === 'string' && 'value' in v && secretKey(v.name);
    for (const k of Object.keys(v)) {
      if (pair && k === 'value') out[k] = REDACTED;
      else if (secretKey(k) && v[k] !== null && v[k] !== '' && v[k] !== false) out[k] = REDACTED;
      else out[k] = redact(v[k]);
    }
    return out;
  }

  // ---------------------------------------------------------------- fetching

  async function getJSON(path) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), FETCH_TIMEOUT_MS);
    try {
      const r = await fetch(path, { cache: 'no-store', signal: ctl.signal, headers: { accept: 'application/json' } });
      if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
      return await r.json();
    } finally {
      clearTimeout(timer);
    }
  }

  function setStatus(cls, text, title) {
    const s = byId('status');
    s.className = cls;
    s.textContent = text;
    s.title = title || '';
  }

  // ---------------------------------------------------------------- sections

  function renderTotals(t) {
    t = t || {};
    const set = (k, v) => {
      const e = document.querySelector(`[data-total="${k}"]`);
      e.textContent = plain(v);
      e.title = typeof v === 'number' ? v.toLocaleString(undefined, { maximumFractionDigits: 6 }) : '';
    };
    set('requests', t.requests ?? 0);
    set('tokens', t.tokens ?? 0);
    set('usd', t.usd ?? 0);
    set('cache_hits', t.cache_hits ?? 0);
    const errors = t.errors ?? 0;
    byId('totals-errors').textContent = errors ? `${plain(errors)} errors (${((100 * errors) / Math.max(1, t.requests)).toFixed(1)}%)` : 'no errors';
    byId('totals-cache-rate').textContent = t.requests ? `${((100 * (t.cache_hits ?? 0)) / t.requests).toFixed(1)}% of requests` : '';
  }

  function health(b) {
    if (b.ejected) return ['ejected', 'bad'];
    if (b.cooling_down) return ['cooling down', 'warn'];
    if (b.healthy === false) return ['unhealthy', 'bad'];
    return ['healthy', 'ok'];
  }

  function renderRoutes(routes) {
    const body = byId('routes').tBodies[0];
    const rows = [];
    for (const r of routes || []) {
      const backends = r.backends || [];
      if (!backends.length) {
        rows.push(el('tr', { data: { route: r.name } }, el('td', { class: 'name', text: r.name }),
          el('td', { colspan: 5, class: 'empty', text: 'no backends' })));
        continue;
      }
      backends.forEach((b, i) => {
        const [text, cls] = health(b);
        rows.push(el('tr', { data: { backend: b.name, route: r.name } },
          el('td', { class: 'name', text: i === 0 ? r.name : '' }),
          el('td', { class: 'name', text: b.name }),
          el('td', { text: b.schema ?? '' }),
          el('td', { class: 'health' }, el('span', { class: `pill ${cls}`, text })),
          el('td', { class: 'num in-flight', text: plain(b.in_flight ?? 0) }),
          el('td', { class: 'num latency', text: typeof b.latency_ewma_ms === 'number' ? `${b.latency_ewma_ms.toFixed(1)} ms` : '–' })));
      });
    }
    body.replaceChildren(...(rows.length ? rows : [emptyRow(6, 'No routes configured.')]));
  }

  function renderBudgets(budgets, now) {
    const body = byId('budgets').tBodies[0];
    const rows = (budgets || []).map((b) => {
      const frac = b.limit > 0 ? Math.min(1, Math.max(0, b.used / b.limit)) : 1;
      const meter = el('div', { class: `meter${frac >= 0.9 ? ' bad' : frac >= 0.7 ? ' warn' : ''}`, title: `${(frac * 100).toFixed(1)}% used` }, el('i'));
      meter.firstChild.style.width = `${(frac * 100).toFixed(1)}%`;
      const resets = typeof b.resets_at === 'number'
        ? el('td', { class: 'resets', text: duration(b.resets_at - now), title: new Date(b.resets_at * 1000).toISOString() })
        : el('td', { class: 'resets', text: '–' });
      return el('tr', { data: { key: b.key, window: b.window } },
        el('td', { class: 'name', text: b.key }),
        el('td', { text: b.window }),
        el('td', { text: b.unit }),
        el('td', { class: 'num used', text: plain(b.used) }),
        el('td', { class: 'num limit', text: plain(b.limit) }),
        el('td', { class: 'num remaining', text: plain(b.remaining) }),
        el('td', null, meter),
        resets);
    });
    body.replaceChildren(...(rows.length ? rows : [emptyRow(8, 'No virtual key has a budget.')]));
  }

  // The colour of a series, the same in every chart and every render.
  function colorOf(kind, name) {
    const k = `${kind}\u0000${name}`;
    if (!state.colors.has(k)) {
      const used = [...state.colors.keys()].filter((x) => x.startsWith(`${kind}\u0000`)).length;
      state.colors.set(k, window.AigwChart.color(used));
    }
    return state.colors.get(k);
  }

  // The biggest MAX_SERIES series by `total`, the rest summed into one.
  function topSeries(list, field, total, kind, n, note) {
    const sorted = [...(list || [])].sort((a, b) => (b[total] ?? 0) - (a[total] ?? 0) || String(a.name).localeCompare(String(b.name)));
    const keep = sorted.slice(0, MAX_SERIES);
    const rest = sorted.slice(MAX_SERIES);
    const series = keep.map((s) => ({ name: String(s.name), values: (s[field] || []).slice(0, n), color: colorOf(kind, s.name), note: note(s[total] ?? 0) }));
    if (rest.length) {
      const values = new Array(n).fill(0);
      let sum = 0;
      for (const s of rest) {
        (s[field] || []).forEach((v, i) => { if (i < n && typeof v === 'number') values[i] += v; });
        sum += s[total] ?? 0;
      }
      series.push({ name: `other (${rest.length})`, values, color: '#6e7681', note: note(sum) });
    }
    return series;
  }

  function renderCharts(d) {
    const C = window.AigwChart;
    const tr = d.traffic || {};
    const t = tr.t || [];
    const n = t.length;
    const step = d.step_seconds > 0 ? d.step_seconds : 1;
    const labels = t.map(clock);
    const perSec = (a) => (a || []).slice(0, n).map((v) => (typeof v === 'number' ? v / step : v));
    const span = n ? `the last ${Math.round((n * step) / 60) || 1} min` : '';

    byId('sub-requests').textContent = `requests per second, averaged over ${step} s steps${span ? `, ${span}` : ''}`;
    C.line(byId('chart-requests'), {
      title: 'Request rate', labels, unit: 'req/s',
      series: [
        { name: 'requests/s', values: perSec(tr.requests), color: '#58a6ff' },
        { name: 'errors/s', values: perSec(tr.errors), color: '#f85149' },
      ],
    });
    C.line(byId('chart-latency'), {
      title: 'Latency', labels, unit: 'ms',
      series: [
        { name: 'p50', values: (tr.latency_p50_ms || []).slice(0, n), color: '#3fb950' },
        { name: 'p95', values: (tr.latency_p95_ms || []).slice(0, n), color: '#e3b341' },
      ],
    });

    const sp = d.spend || {};
    const usdNote = (v) => `$${plain(v)}`;
    const stepNote = `per ${step} s step`;
    byId('sub-tokens-model').textContent = `tokens ${stepNote}`;
    byId('sub-usd-model').textContent = `USD ${stepNote}`;
    byId('sub-tokens-key').textContent = `tokens ${stepNote}, by virtual key or client`;
    byId('sub-usd-key').textContent = `USD ${stepNote}, by virtual key or client`;
    C.line(byId('chart-tokens-model'), { title: 'Tokens by model', labels, unit: 'tokens', series: topSeries(sp.by_model, 'tokens', 'total_tokens', 'model', n, plain) });
    C.line(byId('chart-usd-model'), { title: 'Dollars by model', labels, unit: 'USD', format: usdShort, series: topSeries(sp.by_model, 'usd', 'total_usd', 'model', n, usdNote) });
    C.line(byId('chart-tokens-key'), { title: 'Tokens by key', labels, unit: 'tokens', series: topSeries(sp.by_key, 'tokens', 'total_tokens', 'key', n, plain) });
    C.line(byId('chart-usd-key'), { title: 'Dollars by key', labels, unit: 'USD', format: usdShort, series: topSeries(sp.by_key, 'usd', 'total_usd', 'key', n, usdNote) });
  }

  function renderConfig(cfg, generation) {
    const pre = byId('config');
    pre.textContent = JSON.stringify(redact(cfg), null, 2);
    pre.dataset.generation = String(generation);
    byId('config-sub').textContent = `From /config_dump (generation ${generation}), secrets redacted.`;
  }

  function render(d) {
    byId('generation').textContent = `config generation ${d.generation ?? '–'}`;
    byId('updated').textContent = `updated ${clock(d.now ?? Date.now() / 1000)}`;
    renderTotals(d.totals);
    renderRoutes(d.routes);
    renderCharts(d);
    renderBudgets(d.budgets, d.now ?? Date.now() / 1000);
  }

  // ---------------------------------------------------------------- the loop

  async function poll() {
    try {
      const d = await getJSON('/dashboard/data');
      if (d.generation !== state.generation) {
        try {
          renderConfig(await getJSON('/config_dump'), d.generation);
          state.generation = d.generation;
        } catch (e) {
          byId('config').textContent = `could not load /config_dump: ${e.message}`;
        }
      }
      state.last = d;
      render(d);
      state.renders += 1;
      document.body.dataset.renders = String(state.renders);
      document.body.dataset.loaded = '1';
      setStatus('live', 'live', `polling every ${POLL_MS / 1000} s`);
    } catch (e) {
      setStatus('stale', state.last ? 'stale' : 'offline', `${e.message || e}; retrying every ${POLL_MS / 1000} s`);
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  let resizeTimer = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { if (state.last) renderCharts(state.last); }, 150);
  });

  poll();
})();
)AIGW";

// The chart library at /dashboard/chart.js.
constexpr std::string_view kChartJs =
    R"AIGW(// The admin dashboard's chart library (served at /dashboard/chart.js): SVG line charts with a
// legend, min/max axis labels and a hover tooltip, exposed as window.AigwChart. Every series is one
// <polyline data-series="NAME"> with one point per non-null value, its values in data-values.
(function () {
  'use strict';

  const SVG = 'http://www.w3.org/2000/svg';
  const PALETTE = ['#58a6ff', '#f0883e', '#3fb950', '#d2a8ff', '#ff7b72', '#39c5cf', '#e3b341',
    '#f778ba', '#a5d6ff', '#7ee787', '#ffa657', '#bc8cff'];
  const PAD = { top: 12, right: 14, bottom: 24 };

  function svg(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const k in attrs) e.setAttribute(k, String(attrs[k]));
    return e;
  }

  function div(cls, text) {
    const e = document.createElement('div');
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // A round number at or above v: 1, 2, 2.5 or 5 times a power of ten.
  function niceCeil(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p * (1 + 1e-9)) return m * p;
    return 10 * p;
  }

  // Short axis numbers: 950, 1.2k, 3.4M; small fractions keep their significant digits.
  function compact(v) {
    const a = Math.abs(v);
    if (a === 0) return '0';
    if (a >= 1e9) return +(v / 1e9).toFixed(1) + 'G';
    if (a >= 1e6) return +(v / 1e6).toFixed(1) + 'M';
    if (a >= 1e4) return +(v / 1e3).toFixed(1) + 'k';
    if (a >= 100) return String(Math.round(v));
    if (a >= 1) return String(+v.toFixed(2));
    return String(+v.toPrecision(2));
  }

  function color(i) { return PALETTE[i % PALETTE.length]; }

  function swatch(c) {
    const sw = document.createElement('i');
    sw.className = 'aigw-swatch';
    sw.style.background = c;
    return sw;
  }

  function text(x, y, cls, content, anchor) {
    const t = svg('text', { x, y, class: cls });
    if (anchor) t.setAttribute('text-anchor', anchor);
    t.textContent = content;
    return t;
  }

  // The scales of a chart `width` x `height` for `series` over `n` steps.
  function layout(series, n, width, height, fmt) {
    let max = 0;
    let min = 0;
    let any = false;
    for (const s of series)
      for (const v of s.values)
        if (typeof v === 'number' && Number.isFinite(v)) {
          any = true;
          if (v > max) max = v;
          if (v < min) min = v;
        }
    max = niceCeil(max);
    if (min < 0) min = -niceCeil(-min);
    const ticks = [max, (max + min) / 2, min];
    const tickLabels = ticks.map(fmt);
    const left = 10 + 7 * Math.max(...tickLabels.map((l) => l.length));
    const plotW = width - left - PAD.right;
    const plotH = height - PAD.top - PAD.bottom;
    return {
      any, n, width, height, left, plotW, plotH, ticks, tickLabels,
      x: (i) => left + (n <= 1 ? plotW : (i * plotW) / (n - 1)),
      y: (v) => PAD.top + plotH - ((v - min) / (max - min)) * plotH,
      // The step nearest to `px` pixels from the chart's left edge.
      step: (px) => (n <= 1 ? 0 : Math.max(0, Math.min(n - 1, Math.round(((px - left) * (n - 1)) / plotW)))),
    };
  }

  // Grid lines and y labels (max, middle, min), the unit beside the top one, and the x labels of
  // the first, middle and last step.
  function axes(L, labels, unit) {
    const g = svg('g', { class: 'aigw-grid' });
    L.ticks.forEach((v, k) => {
      const yy = Math.round(L.y(v)) + 0.5;
      g.append(svg('line', { x1: L.left, x2: L.left + L.plotW, y1: yy, y2: yy, class: k === 2 ? 'aigw-axis' : 'aigw-gridline' }));
      g.append(text(L.left - 6, yy + 4, 'aigw-label', L.tickLabels[k], 'end'));
    });
    if (unit) g.append(text(L.left + 4, PAD.top + 10, 'aigw-label aigw-unit', unit));
    const n = L.n;
    const xs = n <= 1 ? [n - 1] : [0, Math.floor((n - 1) / 2), n - 1];
    xs.forEach((i, k) => {
      if (i < 0 || labels[i] === undefined) return;
      const anchor = n <= 1 ? 'end' : k === 0 ? 'start' : k === xs.length - 1 ? 'end' : 'middle';
      g.append(text(L.x(i), L.height - 6, 'aigw-label', String(labels[i]), anchor));
    });
    if (!L.any) g.append(text(L.left + L.plotW / 2, PAD.top + L.plotH / 2, 'aigw-empty', 'no data yet', 'middle'));
    return g;
  }

  // One polyline per series (null values skipped, the line joining across them), and a dot for a
  // series with a single point, which a line cannot show.
  function lines(L, series) {
    const g = svg('g', { class: 'aigw-series' });
    for (const s of series) {
      const pts = [];
      s.values.forEach((v, i) => {
        if (typeof v === 'number' && Number.isFinite(v)) pts.push([L.x(i), L.y(v)]);
      });
      g.append(svg('polyline', {
        points: pts.map((p) => `${p[0].toFixed(1)},${p[1].toFixed(1)}`).join(' '),
        fill: 'none', stroke: s.color, 'stroke-width': 2, 'stroke-linejoin': 'round', 'stroke-linecap': 'round',
        'data-series': s.name,
        'data-values': s.values.map((v) => (v === null || v === undefined ? '' : String(v))).join(','),
      }));
      if (pts.length === 1) g.append(svg('circle', { cx: pts[0][0], cy: pts[0][1], r: 4, fill: s.color, 'data-series': s.name }));
    }
    return g;
  }

  function legend(series) {
    const box = div('aigw-legend');
    for (const s of series) {
      const item = div('aigw-legend-item');
      item.dataset.series = s.name;
      const name = document.createElement('span');
      name.className = 'aigw-legend-name';
      name.textContent = s.name;
      item.append(swatch(s.color), name);
      if (s.note !== undefined) {
        const note = document.createElement('span');
        note.className = 'aigw-legend-note';
        note.textContent = s.note;
        item.append(note);
      }
      box.append(item);
    }
    return box;
  }

  // The tooltip: a dashed line at the step under the pointer, and that step's values.
  function tooltip(container, root, L, series, labels, fmt) {
    const cursor = svg('line', { x1: 0, x2: 0, y1: PAD.top, y2: PAD.top + L.plotH, class: 'aigw-cursor', visibility: 'hidden' });
    root.append(cursor);
    const tip = div('aigw-tooltip');
    tip.hidden = true;
    container.append(tip);
    if (!L.n || !L.any) return;
    root.addEventListener('mousemove', (ev) => {
      const i = L.step(ev.clientX - root.getBoundingClientRect().left);
      const cx = Math.round(L.x(i)) + 0.5;
      cursor.setAttribute('x1', cx);
      cursor.setAttribute('x2', cx);
      cursor.setAttribute('visibility', 'visible');
      tip.replaceChildren(div('aigw-tooltip-title', labels[i] === undefined ? '' : String(labels[i])));
      for (const s of series) {
        const v = s.values[i];
        const row = div('aigw-tooltip-row');
        row.append(swatch(s.color), document.createTextNode(`${s.name}: ${typeof v === 'number' ? fmt(v) : '–'}`));
        tip.append(row);
      }
      tip.hidden = false;
      const room = Math.max(0, container.clientWidth - tip.offsetWidth);
      tip.style.left = `${Math.min(Math.max(0, cx + 12), room)}px`;
      tip.style.top = `${PAD.top}px`;
    });
    root.addEventListener('mouseleave', () => {
      cursor.setAttribute('visibility', 'hidden');
      tip.hidden = true;
    });
  }

  // Draws a line chart into `container`, replacing what was there.
  // opts: { series: [{name, values: [number|null], color?, note?}], labels: [string] (one per
  //         step), unit: 'tokens' (axis caption), format: v => string (axis and tooltip; default
  //         compact), height: px (default 200), title: accessible name }
  function line(container, opts) {
    opts = opts || {};
    const series = (opts.series || []).map((s, i) => ({ ...s, values: s.values || [], color: s.color || color(i) }));
    const labels = opts.labels || [];
    const fmt = opts.format || compact;
    const width = Math.max(240, container.clientWidth || 600);
    const height = opts.height || 200;
    const n = Math.max(labels.length, 0, ...series.map((s) => s.values.length));
    const L = layout(series, n, width, height, fmt);

    container.classList.add('aigw-chart');
    container.replaceChildren();
    const root = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, class: 'aigw-chart-svg', role: 'img',
      'data-baseline': L.y(0).toFixed(1) });
    if (opts.title) root.setAttribute('aria-label', opts.title);
    root.append(axes(L, labels, opts.unit), lines(L, series));
    container.append(root, legend(series));
    tooltip(container, root, L, series, labels, fmt);
    return { svg: root };
  }

  window.AigwChart = { line, palette: PALETTE.slice(), color, compact, niceCeil };
})();
)AIGW";

} // namespace

std::string_view dashboard_html() { return kHtml; }

std::string_view dashboard_app_js() { return kAppJs; }

std::string_view dashboard_chart_js() { return kChartJs; }

} // namespace aigw::proxy
