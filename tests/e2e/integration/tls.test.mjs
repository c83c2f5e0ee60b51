// TLS to providers: certificates are verified by default (system CAs, or OpenSSL's SSL_CERT_FILE),
// with the BackendTLSPolicy hostname as SNI and as the name the certificate must carry.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startAigw, gatewayYaml } from '../lib/harness.mjs';

const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-tls-'));
const key = path.join(dir, 'key.pem');
const cert = path.join(dir, 'cert.pem');
execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
  '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], { stdio: 'ignore' });

function config(port, providerPort, hostname) {
  return gatewayYaml(port) + `---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: tls, namespace: default}
spec:
  rules:
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: gpt-4o-mini}]}]
      backendRefs: [{name: secure}]
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: secure, namespace: default}
spec:
  schema: {name: OpenAI}
  backendRef: {name: secure, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: secure, namespace: default}
spec:
  endpoints: [{fqdn: {hostname: localhost, port: ${providerPort}}}]
---
apiVersion: gateway.networking.k8s.io/v1alpha3
kind: BackendTLSPolicy
metadata: {name: secure-tls, namespace: default}
spec:
  targetRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: secure}]
  validation: {wellKnownCACertificates: System, hostname: ${hostname}}
`;
}

describe('aigw run: TLS to providers', () => {
  let server;
  let providerPort;
  let lastSni;
  let lastHost;
  before(async () => {
    server = https.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
      lastHost = req.headers.host;
      req.resume();
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ id: 'x', object: 'chat.completion', model: 'gpt-4o-mini', choices: [],
          usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }));
      });
    });
    server.on('secureConnection', (s) => (lastSni = s.servername));
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    providerPort = server.address().port;
  });
  after(() => server?.close());

  const post = (gw) => fetch(`${gw.base}/v1/chat/completions`, {
    method: 'POST', body: JSON.stringify({ model: 'gpt-4o-mini', messages: [] }),
  });

  it('verifies the certificate and sends SNI when the CA is trusted', async () => {
    const gw = await startAigw({ config: (p) => config(p, providerPort, 'localhost'), env: { SSL_CERT_FILE: cert } });
    try {
      const res = await post(gw);
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal(lastSni, 'localhost');
      assert.equal(lastHost, `localhost:${providerPort}`);
    } finally {
      await gw.stop();
    }
  });

  it('refuses a certificate no trusted CA signed (verification is on by default)', async () => {
    const gw = await startAigw({ config: (p) => config(p, providerPort, 'localhost') });
    try {
      const res = await post(gw);
      assert.equal(res.status, 503);
      const body = await res.json();
      assert.match(body.error.message, /TLS handshake with localhost failed/);
    } finally {
      await gw.stop();
    }
  });

  it('refuses a certificate for another name', async () => {
    const gw = await startAigw({ config: (p) => config(p, providerPort, 'api.example.com'), env: { SSL_CERT_FILE: cert } });
    try {
      const res = await post(gw);
      assert.equal(res.status, 503);
    } finally {
      await gw.stop();
    }
  });
});
