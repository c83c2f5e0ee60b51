// HTTPS Gateway listeners: TLS terminated with the certificates of kubernetes.io/tls Secrets,
// h2 and http/1.1 offered by ALPN, the certificate chosen by SNI among listeners that share a
// port, and certificates rotated by a reload. Certificates are made with the openssl CLI.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import https from 'node:https';
import tls from 'node:tls';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import {
  startAigw, startTestupstream, openaiBackendYaml, runAigw, waitFor, b64, SLOW, repoRoot,
} from '../lib/harness.mjs';

const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-https-'));

// A self-signed certificate for `cn` (also its subjectAltName), ECDSA P-256 (or `newkey`).
function makeCert(name, cn, newkey = ['ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1']) {
  const key = path.join(dir, `${name}.key`);
  const crt = path.join(dir, `${name}.crt`);
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', ...newkey,
    '-nodes', '-keyout', key, '-out', crt, '-days', '2', '-subj', `/CN=${cn}`,
    '-addext', `subjectAltName=DNS:${cn}`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return { key: readFileSync(key, 'utf8'), crt: readFileSync(crt, 'utf8'), crtPath: crt };
}

const indent = (s) => s.trim().split('\n').map((l) => `    ${l}`).join('\n');
const secret = (name, c, key = c.key) => `---
apiVersion: v1
kind: Secret
metadata: {name: ${name}, namespace: default}
type: kubernetes.io/tls
data:
  tls.crt: ${b64(c.crt)}
stringData:
  tls.key: |
${indent(key)}
`;

// Two HTTPS listeners on one port: one without a hostname (the default certificate) and one for
// *.example.test with its own.
const config = (port, def, wild, wildKey) => `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: aigw, namespace: default}
spec:
  gatewayClassName: aigw
  listeners:
    - name: https
      protocol: HTTPS
      port: ${port}
      tls: {mode: Terminate, certificateRefs: [{kind: Secret, name: default-cert}]}
    - name: https-example
      protocol: HTTPS
      port: ${port}
      hostname: "*.example.test"
      tls: {certificateRefs: [{name: example-cert}]}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: main, namespace: default}
spec:
  parentRefs: [{name: aigw, kind: Gateway, group: gateway.networking.k8s.io}]
  rules:
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: gpt-4o-mini}]}]
      backendRefs: [{name: openai}]
` + secret('default-cert', def) + secret('example-cert', wild, wildKey) + openaiBackendYaml('openai', upPort, { apiKey: 'sk-tls-upstream' });

let upPort;
const chat = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });

// The certificate the gateway presents for `servername`, and the protocol ALPN agreed.
function handshake(port, servername, ca, alpn = ['h2', 'http/1.1']) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername, ca, ALPNProtocols: alpn }, () => {
      const cert = s.getPeerCertificate();
      resolve({ cn: cert.subject.CN, fingerprint: cert.fingerprint256, alpn: s.alpnProtocol, authorized: s.authorized });
      s.end();
    });
    s.on('error', reject);
  });
}

function h1(port, ca, { agent } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port, servername: 'localhost', ca, agent, method: 'POST', path: '/v1/chat/completions',
      headers: { 'content-type': 'application/json', 'x-expected-headers': b64('Authorization:Bearer sk-tls-upstream') },
    }, (res) => {
      let body = '';
      const cert = res.socket.getPeerCertificate().fingerprint256;
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body, cert }));
    });
    req.on('error', reject);
    req.end(chat);
  });
}

const stats = async (gw) => (await fetch(`${gw.admin}/stats`)).json();

describe('aigw run: HTTPS listeners', () => {
  let up;
  let gw;
  let certA;
  let certB;
  before(async () => {
    certA = makeCert('a', 'localhost');
    certB = makeCert('b', 'api.example.test');
    up = await startTestupstream({ id: 'tls' });
    upPort = up.port;
    gw = await startAigw({ config: (port) => config(port, certA, certB) });
  });
  after(async () => {
    await gw?.stop();
    await up?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves HTTP/1.1 over TLS with the listener certificate and the backend key', async () => {
    const r = await h1(gw.port, certA.crt);
    assert.equal(r.status, 200, r.body);
    assert.equal(JSON.parse(r.body).object, 'chat.completion');
  });

  it('agrees on h2 by ALPN and serves streams over it', async () => {
    const s = http2.connect(`https://localhost:${gw.port}`, { ca: certA.crt });
    try {
      await new Promise((resolve, reject) => { s.once('connect', resolve); s.once('error', reject); });
      assert.equal(s.alpnProtocol, 'h2');
      const one = () => new Promise((resolve, reject) => {
        const req = s.request({ ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json' });
        let status; let body = '';
        req.on('response', (h) => (status = h[':status']));
        req.on('data', (d) => (body += d));
        req.on('end', () => resolve({ status, body }));
        req.on('error', reject);
        req.end(chat);
      });
      const all = await Promise.all(Array.from({ length: 20 }, one));
      for (const r of all) assert.equal(r.status, 200, r.body);
    } finally {
      s.close();
    }
  });

  it('falls back to http/1.1 for a client that offers only it', async () => {
    const h = await handshake(gw.port, 'localhost', certA.crt, ['http/1.1']);
    assert.equal(h.alpn, 'http/1.1');
    assert.ok(h.authorized);
  });

  it('picks the certificate by SNI: the wildcard listener, else the default', async () => {
    const wild = await handshake(gw.port, 'api.example.test', certB.crt);
    assert.equal(wild.cn, 'api.example.test');
    assert.ok(wild.authorized);
    const other = await handshake(gw.port, 'localhost', certA.crt);
    assert.equal(other.cn, 'localhost');
    assert.ok(other.authorized);
  });

  it('works with the official OpenAI SDK trusting the certificate (NODE_EXTRA_CA_CERTS)', () => {
    const script = `
      import OpenAI from 'openai';
      const c = new OpenAI({ apiKey: 'sk-client', baseURL: 'https://localhost:${gw.port}/v1' });
      const r = await c.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
      console.log(JSON.stringify({ object: r.object, usage: r.usage }));
      const s = await c.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'hi' }] });
      let n = 0; for await (const _ of s) n++;
      console.log(JSON.stringify({ chunks: n }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: path.join(repoRoot, 'tests/e2e'), encoding: 'utf8', timeout: 20000 * SLOW,
      env: { ...process.env, NODE_EXTRA_CA_CERTS: certA.crtPath },
    });
    assert.equal(r.status, 0, r.stderr);
    const [first, second] = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(first.object, 'chat.completion');
    assert.ok(first.usage.total_tokens > 0);
    assert.ok(second.chunks > 1);
  });

  it('works with curl --http2 (ALPN) and --http1.1', () => {
    for (const [flag, want] of [['--http2', '2'], ['--http1.1', '1.1']]) {
      const r = spawnSync('curl', ['-sS', flag, '--cacert', certA.crtPath, '-o', '/dev/null', '-w', '%{http_version} %{http_code}',
        '-H', 'content-type: application/json', '-d', chat, `https://localhost:${gw.port}/v1/chat/completions`], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, `${want} 200`);
    }
  });

  it('closes a plaintext client on the HTTPS port and counts the failed handshake', async () => {
    const metric = async () => {
      const m = await (await fetch(`${gw.admin}/metrics`)).text();
      return Number(/^aigw_tls_handshake_errors_total (\d+)/m.exec(m)[1]);
    };
    const before = await metric();
    const reply = await new Promise((resolve) => {
      const s = net.connect(gw.port, '127.0.0.1', () => s.write('POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}'));
      let got = '';
      s.on('data', (d) => (got += d.toString('latin1')));
      s.on('close', () => resolve(got));
      s.on('error', () => {});
    });
    assert.ok(!reply.includes('HTTP/1.1 200'), reply);
    await waitFor(async () => (await metric()) > before, 3000 * SLOW, 'handshake error counted');
    assert.equal((await h1(gw.port, certA.crt)).status, 200);
  });

  it('refuses a reload whose key does not match its certificate, naming the field, and keeps serving', async () => {
    const before = await stats(gw);
    const other = makeCert('c', 'other.example.test');
    writeFileSync(gw.configPath, config(gw.port, certA, certB, other.key));
    await waitFor(async () => (await stats(gw)).config_reloads_rejected > before.config_reloads_rejected, 5000 * SLOW, 'reload rejected');
    assert.ok(gw.stderr.some((l) => /spec\.listeners\[1\]\.tls\.certificateRefs\[0\]: Secret "example-cert": tls\.key is not the private key/.test(l)),
      gw.stderr.join('\n'));
    assert.equal((await handshake(gw.port, 'api.example.test', certB.crt)).cn, 'api.example.test');
  });

  it('refuses a reload with a certificate OpenSSL would not serve (an RSA-1024 key)', async () => {
    const before = await stats(gw);
    const weak = makeCert('weak', 'localhost', ['rsa:1024']);
    writeFileSync(gw.configPath, config(gw.port, weak, certB));
    await waitFor(async () => (await stats(gw)).config_reloads_rejected > before.config_reloads_rejected, 5000 * SLOW, 'reload rejected');
    assert.ok(gw.stderr.some((l) => /spec\.listeners\[0\]\.tls\.certificateRefs\[0\]: Secret "default-cert": OpenSSL refuses it/.test(l)),
      gw.stderr.join('\n'));
    assert.equal((await h1(gw.port, certA.crt)).status, 200);
  });

  it('rotates a certificate on reload: new connections get the new one, open ones keep working', async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await h1(gw.port, certA.crt, { agent });
      assert.equal(first.status, 200);
      const before = await stats(gw);
      const rotated = makeCert('a2', 'localhost');
      writeFileSync(gw.configPath, config(gw.port, rotated, certB));
      await waitFor(async () => (await stats(gw)).config_reloads_ok > before.config_reloads_ok, 5000 * SLOW, 'reload applied');
      const h = await handshake(gw.port, 'localhost', rotated.crt);
      assert.ok(h.authorized);
      assert.notEqual(h.fingerprint, first.cert);
      const again = await h1(gw.port, certA.crt, { agent }); // the kept-alive connection
      assert.equal(again.status, 200, again.body);
    } finally {
      agent.destroy();
    }
  });
});

describe('aigw validate: HTTPS listeners', () => {
  it('names what is wrong with an HTTPS listener', async () => {
    const d = mkdtempSync(path.join(os.tmpdir(), 'aigw-https-bad-'));
    try {
      const file = path.join(d, 'bad.yaml');
      writeFileSync(file, `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: aigw
  listeners:
    - {name: a, protocol: HTTPS, port: 8443}
    - {name: b, protocol: HTTPS, port: 8444, tls: {certificateRefs: [{name: missing}]}}
    - {name: c, protocol: HTTPS, port: 8445, tls: {mode: Passthrough, certificateRefs: [{name: missing}]}}
`);
      const r = await runAigw(['validate', file]);
      assert.notEqual(r.code, 0);
      const out = r.stdout + r.stderr;
      assert.match(out, /spec\.listeners\[0\]\.tls: is required on an HTTPS listener/);
      assert.match(out, /spec\.listeners\[1\]\.tls\.certificateRefs\[0\]\.name: Secret "missing" not found/);
      assert.match(out, /spec\.listeners\[2\]\.tls\.mode: only Terminate is supported/);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
