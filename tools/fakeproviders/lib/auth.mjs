// Token issuers: Google's OAuth token endpoint for a service account (JWT bearer grant) and
// Microsoft Entra ID's client-credentials endpoint. Both keep the tokens they issued so the
// Vertex and Azure OpenAI endpoints can check bearer tokens.
import crypto from 'node:crypto';
import { promisify } from 'node:util';
import { randomId } from './common.mjs';

const generateKeyPair = promisify(crypto.generateKeyPair);

const b64url = (buf) => Buffer.from(buf).toString('base64url');
const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';

export class GcpAuth {
  constructor(cfg) {
    this.cfg = cfg;
    this.tokens = new Map(); // token -> {expires, scopes}
    this.issued = 0;
  }

  async init() {
    const { publicKey, privateKey } = await generateKeyPair('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    this.publicKey = crypto.createPublicKey(publicKey);
    this.privateKeyPem = privateKey;
    this.privateKeyId = crypto.randomBytes(20).toString('hex');
    this.clientId = String(100000000000000000000n + BigInt(`0x${crypto.randomBytes(8).toString('hex')}`));
  }

  setBaseUrl(base) {
    this.base = base;
    this.tokenUri = `${base}/token`;
  }

  get clientEmail() {
    return this.cfg.gcpClientEmail;
  }

  serviceAccount() {
    return {
      type: 'service_account',
      project_id: this.cfg.gcpProjectId,
      private_key_id: this.privateKeyId,
      private_key: this.privateKeyPem,
      client_email: this.clientEmail,
      client_id: this.clientId,
      auth_uri: `${this.base}/o/oauth2/auth`,
      token_uri: this.tokenUri,
      auth_provider_x509_cert_url: `${this.base}/oauth2/v1/certs`,
      client_x509_cert_url: `${this.base}/robot/v1/metadata/x509/${encodeURIComponent(this.clientEmail)}`,
      universe_domain: 'googleapis.com',
    };
  }

  // POST /token. Returns {status, body}.
  token(rawBody, contentType = '') {
    let form = new URLSearchParams(rawBody.toString('utf8'));
    if (/application\/json/i.test(contentType)) {
      // Google's token endpoint also takes a JSON object with the same fields.
      try {
        const o = JSON.parse(rawBody.toString('utf8'));
        form = new URLSearchParams(Object.entries(o ?? {}).map(([k, v]) => [k, String(v)]));
      } catch {
        form = new URLSearchParams();
      }
    }
    const bad = (error, error_description, status = 400) => ({ status, body: { error, error_description } });
    const gt = form.get('grant_type');
    if (gt !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
      return bad('unsupported_grant_type', `Invalid grant_type: ${gt ?? ''}`);
    }
    const assertion = form.get('assertion');
    if (!assertion) return bad('invalid_request', 'Missing required parameter: assertion');
    const parts = assertion.split('.');
    if (parts.length !== 3) return bad('invalid_grant', 'Invalid JWT: Malformed token.');
    let header;
    let claims;
    try {
      header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
      claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    } catch {
      return bad('invalid_grant', 'Invalid JWT: Malformed token.');
    }
    if (header.alg !== 'RS256') return bad('invalid_grant', 'Invalid JWT Signature.');
    if (claims.iss !== this.clientEmail) return bad('invalid_grant', 'Invalid grant: account not found');
    if (header.kid !== undefined && header.kid !== this.privateKeyId) return bad('invalid_grant', 'Invalid JWT Signature.');
    if (header.kid === undefined && this.cfg.gcpRequireKid) return bad('invalid_grant', 'Invalid JWT Signature.');
    const ok = crypto.verify('RSA-SHA256', Buffer.from(`${parts[0]}.${parts[1]}`), this.publicKey, Buffer.from(parts[2], 'base64url'));
    if (!ok) return bad('invalid_grant', 'Invalid JWT Signature.');
    if (claims.aud !== this.tokenUri) return bad('invalid_grant', `Invalid JWT: Failed audience check. The right audience is ${this.tokenUri}`);
    const now = Math.floor(Date.now() / 1000);
    const { iat, exp } = claims;
    if (!Number.isInteger(iat) || !Number.isInteger(exp) || exp <= iat || exp - iat > 3600 || iat > now + 300 || exp < now - 300) {
      return bad('invalid_grant', 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.');
    }
    const scopes = typeof claims.scope === 'string' ? claims.scope.split(/\s+/).filter(Boolean) : [];
    if (!scopes.includes(CLOUD_PLATFORM)) return bad('invalid_scope', 'Invalid OAuth scope or ID token audience provided.');
    const ttl = this.cfg.gcpTokenTtlSeconds;
    const token = `ya29.c.${randomId(120)}`;
    this.tokens.set(token, { expires: Date.now() + ttl * 1000, scopes });
    this.issued++;
    return { status: 200, body: { access_token: token, expires_in: ttl, token_type: 'Bearer' } };
  }

  valid(token) {
    const t = token && this.tokens.get(token);
    return !!t && t.expires > Date.now();
  }

  expireAll() {
    this.tokens.clear();
  }
}

export const COGNITIVE_SCOPE = 'https://cognitiveservices.azure.com/.default';
export const COGNITIVE_AUDIENCE = 'https://cognitiveservices.azure.com';

export class AzureAuth {
  constructor(cfg) {
    this.cfg = cfg;
    this.tokens = new Map(); // token -> {expires, audience}
    this.issued = 0;
    this.key = crypto.randomBytes(32);
  }

  // POST /{tenant}/oauth2/v2.0/token. Returns {status, body}.
  token(tenant, rawBody, req) {
    const form = new URLSearchParams(rawBody.toString('utf8'));
    const now = new Date();
    const err = (status, error, code, description) => ({
      status,
      body: {
        error,
        error_description: `AADSTS${code}: ${description} Trace ID: ${crypto.randomUUID()} Correlation ID: ${crypto.randomUUID()} Timestamp: ${now.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z')}`,
        error_codes: [code],
        timestamp: now.toISOString().replace(/\.\d+Z$/, 'Z'),
        trace_id: crypto.randomUUID(),
        correlation_id: crypto.randomUUID(),
        error_uri: `https://login.microsoftonline.com/error?code=${code}`,
      },
    });
    if (tenant !== this.cfg.azureTenantId) {
      return err(400, 'invalid_request', 90002, `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`);
    }
    let clientId = form.get('client_id');
    let secret = form.get('client_secret');
    const basic = /^Basic\s+(.+)$/i.exec(req.headers.authorization ?? '');
    if (basic) {
      const dec = Buffer.from(basic[1], 'base64').toString('utf8');
      const i = dec.indexOf(':');
      clientId = decodeURIComponent(dec.slice(0, i));
      secret = decodeURIComponent(dec.slice(i + 1));
    }
    const gt = form.get('grant_type');
    if (!gt) return err(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'grant_type'.");
    if (gt !== 'client_credentials') return err(400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${gt}'.`);
    if (!clientId) return err(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'client_id'.");
    if (clientId !== this.cfg.azureClientId) {
      return err(400, 'unauthorized_client', 700016, `Application with identifier '${clientId}' was not found in the directory '${tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`);
    }
    if (!secret) {
      return err(401, 'invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
    }
    if (secret !== this.cfg.azureClientSecret) {
      return err(401, 'invalid_client', 7000215, `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`);
    }
    const scope = form.get('scope');
    if (!scope) return err(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'scope'.");
    if (!/^\S+\/\.default$/.test(scope)) {
      return err(400, 'invalid_scope', 1002012, `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`);
    }
    const audience = scope.replace(/\/\.default$/, '');
    const ttl = this.cfg.azureTokenTtlSeconds;
    const iat = Math.floor(Date.now() / 1000);
    const head = b64url(JSON.stringify({ typ: 'JWT', alg: 'HS256', kid: 'fakeproviders' }));
    const payload = b64url(JSON.stringify({
      aud: audience, iss: `https://sts.windows.net/${tenant}/`, iat, nbf: iat, exp: iat + ttl,
      appid: clientId, appidacr: '1', idp: `https://sts.windows.net/${tenant}/`, oid: crypto.randomUUID(),
      sub: crypto.randomUUID(), tid: tenant, ver: '1.0', uti: randomId(22),
    }));
    const sig = b64url(crypto.createHmac('sha256', this.key).update(`${head}.${payload}`).digest());
    const token = `${head}.${payload}.${sig}`;
    this.tokens.set(token, { expires: Date.now() + ttl * 1000, audience });
    this.issued++;
    return { status: 200, body: { token_type: 'Bearer', expires_in: ttl, ext_expires_in: ttl, access_token: token } };
  }

  // 'ok', 'audience' (token for another resource) or 'invalid'
  check(token) {
    const t = token && this.tokens.get(token);
    if (!t || t.expires <= Date.now()) return 'invalid';
    return t.audience === COGNITIVE_AUDIENCE || t.audience === `${COGNITIVE_AUDIENCE}/` ? 'ok' : 'audience';
  }

  expireAll() {
    this.tokens.clear();
  }
}
