// Test harness: starts the real aigw and testupstream binaries on free loopback ports, collects
// aigw's JSON request log lines, and stops everything at the end of a test.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '../../..');
export const AIGW_BIN = process.env.AIGW_BIN ?? path.join(repoRoot, 'build/aigw');
export const TESTUPSTREAM_BIN = process.env.TESTUPSTREAM_BIN ?? path.join(repoRoot, 'build/testupstream');
export const SHARED_DIR = path.resolve(repoRoot, '../shared');
export const FIXTURES_DIR = path.join(SHARED_DIR, 'fixtures/envoy-ai-gateway');
export const SANITIZED = process.env.AIGW_SANITIZED === '1';
// Sanitizer builds are several times slower to start and to answer.
export const SLOW = SANITIZED ? 5 : 1;

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const b64 = (s) => Buffer.from(s).toString('base64');

export async function waitFor(check, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  let lastErr;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (e) {
      if (e.fatal) throw e; // no point waiting (the process exited)
      lastErr = e;
    }
    await sleep(25);
  }
  throw new Error(`timed out waiting for ${what}${lastErr ? `: ${lastErr.message}` : ''}`);
}

// Starts testupstream on a free port. Options: { cassettes: dir, id: TESTUPSTREAM_ID }.
export async function startTestupstream(opts = {}) {
  const args = ['--port', '0'];
  if (opts.cassettes) args.push('--cassettes', opts.cassettes);
  const env = { ...process.env };
  if (opts.id) env.TESTUPSTREAM_ID = opts.id;
  const child = spawn(TESTUPSTREAM_BIN, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const rl = readline.createInterface({ input: child.stdout });
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`testupstream did not start: ${stderr}`)), 10000 * SLOW);
    rl.once('line', (line) => {
      clearTimeout(timer);
      const m = /listening on .*:(\d+)\s*$/.exec(line);
      if (!m) reject(new Error(`unexpected testupstream output: ${line}`));
      else resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`testupstream exited with ${code}: ${stderr}`)));
  });
  rl.on('line', () => {});
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    stop: () => stopChild(child),
  };
}

function stopChild(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    child.kill('SIGTERM');
  });
}

// The YAML for a Gateway listening on `port`, plus routes/backends given by the caller.
export function gatewayYaml(port) {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: aigw}
spec: {controllerName: gateway.envoyproxy.io/gatewayclass-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: aigw, namespace: default}
spec:
  gatewayClassName: aigw
  listeners: [{name: http, protocol: HTTP, port: ${port}}]
`;
}

// An OpenAI-schema AIServiceBackend + Backend pointing at host:port, with an API key.
export function openaiBackendYaml(name, port, { apiKey = `sk-${name}`, host = '127.0.0.1', extraSpec = '' } = {}) {
  return `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: ${name}, namespace: default}
spec:
  schema: {name: OpenAI}
  backendRef: {name: ${name}, kind: Backend, group: gateway.envoyproxy.io}
${extraSpec}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: ${name}, namespace: default}
spec:
  endpoints: [{ip: {address: ${host}, port: ${port}}}]
---
apiVersion: v1
kind: Secret
metadata: {name: ${name}-key, namespace: default}
stringData: {apiKey: ${apiKey}}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: ${name}-key, namespace: default}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: ${name}}]
  type: APIKey
  apiKey: {secretRef: {name: ${name}-key}}
`;
}

// Starts aigw with the given config text (a function of the listener port) or, with
// `config: null`, from the environment in `env`. Resolves once it answers on both ports.
export async function startAigw(opts = {}) {
  // A free port can be taken by someone else (an outgoing connection's ephemeral port) between
  // freePort() and aigw's bind: then aigw exits with "address in use", and it is started again on
  // other ports.
  for (let attempt = 0; ; attempt++) {
    try {
      return await startAigwOnce(opts);
    } catch (e) {
      if (attempt >= 2 || !/[Aa]ddress (already )?in use/.test(e.message)) throw e;
    }
  }
}

async function startAigwOnce({ config, env = {}, args = [], concurrency = 2, wrap = [], port: fixedPort } = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-test-'));
  // `port`: a listener port of the caller's choosing (a gateway restarted where clients expect it)
  const port = fixedPort ?? (await freePort());
  const adminPort = await freePort();
  const runArgs = ['run'];
  let configPath = null;
  if (config !== null && config !== undefined) {
    configPath = path.join(dir, 'config.yaml');
    writeFileSync(configPath, typeof config === 'function' ? config(port) : config);
    runArgs.push(configPath);
  }
  runArgs.push('--admin-port', String(adminPort), '--concurrency', String(concurrency), ...args);
  const childEnv = { ...process.env, ...env };
  if (config === null) {
    // Autoconfig listens on 1975; tests cannot rely on that port being free, so they give
    // aigw a config instead. This branch is used only for checks that fail before listening.
  }
  // `wrap`: a command to run aigw under (prlimit, ...); it must exec aigw.
  const child = wrap.length
    ? spawn(wrap[0], [...wrap.slice(1), AIGW_BIN, ...runArgs], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(AIGW_BIN, runArgs, { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs = [];
  const stderrLines = [];
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    try {
      logs.push(JSON.parse(line));
    } catch {
      logs.push({ raw: line });
    }
  });
  readline.createInterface({ input: child.stderr }).on('line', (line) => stderrLines.push(line));
  let exited = null;
  child.once('exit', (code) => {
    exited = code;
    // A sanitizer report is the whole point of a sanitized run: show it with the failure.
    if (stderrLines.some((l) => /Sanitizer|runtime error:/.test(l)))
      console.error(`aigw exited with ${code}; its stderr:\n${stderrLines.join('\n')}`);
  });
  const base = `http://127.0.0.1:${port}`;
  const admin = `http://127.0.0.1:${adminPort}`;
  try {
    await waitFor(async () => {
      if (exited !== null) {
        const e = new Error(`aigw exited with ${exited}: ${stderrLines.join('\n')}`);
        e.fatal = true;
        throw e;
      }
      const r = await fetch(`${admin}/ready`);
      return r.ok;
    }, 15000 * SLOW, 'aigw admin /ready');
    await waitFor(async () => {
      await new Promise((resolve, reject) => {
        const s = net.connect(port, '127.0.0.1', () => {
          s.end();
          resolve();
        });
        s.on('error', reject);
      });
      return true;
    }, 5000 * SLOW, 'aigw listener');
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  return {
    pid: child.pid,
    port,
    adminPort,
    base,
    admin,
    configPath,
    logs,
    stderr: stderrLines,
    // Waits for the request log line that satisfies `pred`.
    async logLine(pred, timeoutMs = 5000 * SLOW) {
      let found;
      await waitFor(() => (found = logs.find(pred)) !== undefined, timeoutMs, 'request log line');
      return found;
    },
    async stop() {
      const code = await stopChild(child);
      return code;
    },
  };
}

// Runs aigw to completion (validate, or run that must fail) and returns {code, stdout, stderr}.
export function runAigw(args, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(AIGW_BIN, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10000 * SLOW);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export function fixturesAvailable() {
  return existsSync(FIXTURES_DIR);
}

// A chat.completion body with the given usage, for testupstream's x-response-body.
export function completionBody(total, prompt = 1) {
  return JSON.stringify({
    id: 'c', object: 'chat.completion', created: 1, model: 'm',
    choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'ok' } }],
    usage: { prompt_tokens: prompt, completion_tokens: total - prompt, total_tokens: total },
  });
}

// A real redis-server on a free loopback port (no persistence), for budgets shared by gateways.
export let redisAvailable = true;
try {
  execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
} catch {
  redisAvailable = false;
}

export async function startRedis({ port } = {}) {
  port ??= await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
    '--appendonly', 'no'], { stdio: 'ignore' });
  const deadline = Date.now() + 5000 * SLOW;
  for (;;) {
    const ok = await new Promise((r) => {
      const s = net.connect(port, '127.0.0.1', () => { s.end(); r(true); });
      s.on('error', () => r(false));
    });
    if (ok) break;
    if (Date.now() > deadline) throw new Error('redis-server did not start');
    await sleep(25);
  }
  return { port, stop: () => new Promise((r) => { child.once('exit', r); child.kill('SIGTERM'); }) };
}

// One command to redis-server over RESP: integers, strings, arrays (of those) and errors.
// `port`, or { port, auth: password }.
export function redisCmd(port, ...args) {
  const { port: p, auth } = typeof port === 'object' ? port : { port };
  const encode = (cmd) => `*${cmd.length}\r\n` + cmd.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join('');
  return new Promise((resolve, reject) => {
    const s = net.connect(p, '127.0.0.1');
    let buf = Buffer.alloc(0);
    s.on('error', reject);
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const t = buf.toString('latin1'); // offsets in bytes
      let parsed = parse(t, 0);
      if (parsed && auth) parsed = parse(t, parsed.next); // the AUTH's reply first
      if (parsed) {
        s.end();
        resolve(parsed.value);
      }
    });
    s.write((auth ? encode(['AUTH', auth]) : '') + encode(args));
  });
  function parse(t, i) {
    const eol = t.indexOf('\r\n', i);
    if (eol < 0) return null;
    const line = t.slice(i + 1, eol);
    switch (t[i]) {
      case ':': return { value: Number(line), next: eol + 2 };
      case '+': return { value: line, next: eol + 2 };
      case '-': return { value: new Error(line), next: eol + 2 };
      case '$': {
        const len = Number(line);
        if (len < 0) return { value: null, next: eol + 2 };
        if (t.length < eol + 2 + len + 2) return null;
        return { value: Buffer.from(t.slice(eol + 2, eol + 2 + len), 'latin1').toString('utf8'), next: eol + 2 + len + 2 };
      }
      case '*': {
        const out = [];
        let at = eol + 2;
        for (let k = 0; k < Number(line); k++) {
          const el = parse(t, at);
          if (!el) return null;
          out.push(el.value);
          at = el.next;
        }
        return { value: out, next: at };
      }
      default: return null;
    }
  }
}
