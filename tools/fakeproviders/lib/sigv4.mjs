// SigV4 verification of received Bedrock requests with the official AWS signer
// (@smithy/signature-v4): the request is re-signed exactly as received and the signatures are
// compared.
//
// Path decision: the signer gets the path bytes exactly as they arrived on the wire (not
// decoded) with uriEscapePath=true, which is what every AWS SDK does: the SDK puts the
// already-percent-encoded path (model id `a:0` -> `/model/a%3A0/converse`) in the request, and
// the signer escapes it once more for the canonical URI (`/model/a%253A0/converse`). A client
// that signs the decoded path, or sends a raw `:` but signs `%3A`, gets a mismatch.
import crypto from 'node:crypto';
import { SignatureV4, Sha256 } from './deps.mjs';

const CORAL = 'http://internal.amazon.com/coral/com.amazon.coral.service/';
const MISMATCH = 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';

function deny(type, message, status = 403) {
  return { status, headers: { 'x-amzn-errortype': `${type}:${CORAL}` }, body: { message } };
}

function parseAuthorization(h) {
  const m = /^AWS4-HMAC-SHA256\s+(.*)$/s.exec(h.trim());
  if (!m) return null;
  const fields = {};
  for (const part of m[1].split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    fields[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  if (!fields.Credential || !fields.SignedHeaders || !fields.Signature) return null;
  const cred = fields.Credential.split('/');
  if (cred.length !== 5) return null;
  const [accessKeyId, date, region, service, terminator] = cred;
  return { accessKeyId, date, region, service, terminator, signedHeaders: fields.SignedHeaders.split(';'), signature: fields.Signature };
}

function parseAmzDate(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s ?? '');
  if (!m) return null;
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
}

function rawHeaderValues(req) {
  const out = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i].toLowerCase();
    (out[name] ??= []).push(req.rawHeaders[i + 1]);
  }
  return out;
}

function parseQuery(qs) {
  const q = {};
  if (!qs) return q;
  for (const pair of qs.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    // '+' reads as a space, as Go's and botocore's query parsers do
    const dec = (x) => decodeURIComponent(x.replace(/\+/g, ' '));
    const k = dec(eq < 0 ? pair : pair.slice(0, eq));
    const v = eq < 0 ? '' : dec(pair.slice(eq + 1));
    if (q[k] === undefined) q[k] = v;
    else q[k] = [].concat(q[k], v);
  }
  return q;
}

// cfg: {awsAccessKeyId, awsSecretAccessKey, awsSessionToken, awsRegion, awsMaxSkewSeconds}
// Returns null when the request is correctly signed, else {status, headers, body}.
export async function verifySigV4(req, rawBody, cfg, service = 'bedrock') {
  const auth = req.headers.authorization;
  if (typeof auth !== 'string' || auth === '') return deny('MissingAuthenticationTokenException', 'Missing Authentication Token');
  const a = parseAuthorization(auth);
  if (!a) {
    return deny('IncompleteSignatureException', `Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=${auth.slice(0, 40)}`);
  }
  if (a.accessKeyId !== cfg.awsAccessKeyId) return deny('UnrecognizedClientException', 'The security token included in the request is invalid.');
  const token = req.headers['x-amz-security-token'];
  if (cfg.awsSessionToken) {
    if (token !== cfg.awsSessionToken) return deny('UnrecognizedClientException', 'The security token included in the request is invalid.');
  } else if (token !== undefined) {
    return deny('UnrecognizedClientException', 'The security token included in the request is invalid.');
  }
  if (a.terminator !== 'aws4_request') return deny('InvalidSignatureException', "Credential should be scoped with a valid terminator: 'aws4_request', not '" + a.terminator + "'.");
  if (a.service !== service) return deny('InvalidSignatureException', `Credential should be scoped to correct service: '${service}'. `);
  if (cfg.awsRegion !== '*' && a.region !== cfg.awsRegion) {
    return deny('InvalidSignatureException', `Credential should be scoped to a valid region. `);
  }
  const amzDate = req.headers['x-amz-date'];
  const signingDate = parseAmzDate(amzDate);
  if (!signingDate) return deny('IncompleteSignatureException', "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=" + auth.slice(0, 40));
  if (a.date !== amzDate.slice(0, 8)) {
    return deny('InvalidSignatureException', `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${a.date}' != '${amzDate.slice(0, 8)}', from '${amzDate}'.`);
  }
  const skew = cfg.awsMaxSkewSeconds;
  if (skew > 0 && Math.abs(Date.now() - signingDate.getTime()) > skew * 1000) {
    const now = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
    return deny('InvalidSignatureException', `Signature expired: ${amzDate} is now earlier than ${now} (${now} - ${Math.round(skew / 60)} min.)`);
  }
  if (!a.signedHeaders.includes('host')) return deny('InvalidSignatureException', "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
  const bodyHash = crypto.createHash('sha256').update(rawBody).digest('hex');
  const claimed = req.headers['x-amz-content-sha256'];
  if (claimed !== undefined && claimed !== bodyHash) {
    return deny('InvalidSignatureException', `${MISMATCH} (The provided 'x-amz-content-sha256' header does not match what was computed.)`);
  }

  const values = rawHeaderValues(req);
  const headers = {};
  for (const name of a.signedHeaders) {
    if (name === 'x-amz-date' || name === 'x-amz-security-token') continue; // the signer sets these
    if (values[name] === undefined) return deny('InvalidSignatureException', MISMATCH);
    headers[name] = values[name].map((v) => v.trim()).join(',');
  }
  const url = req.url;
  const q = url.indexOf('?');
  let query;
  try {
    query = parseQuery(q < 0 ? '' : url.slice(q + 1));
  } catch {
    return deny('InvalidSignatureException', MISMATCH);
  }
  const request = {
    method: req.method,
    protocol: 'http:',
    hostname: String(req.headers.host ?? '').replace(/:\d+$/, ''),
    path: q < 0 ? url : url.slice(0, q),
    query,
    headers,
    body: new Uint8Array(rawBody),
  };
  const signedToken = a.signedHeaders.includes('x-amz-security-token') ? token : undefined;
  const signer = new SignatureV4({
    service,
    region: a.region,
    sha256: Sha256,
    credentials: { accessKeyId: cfg.awsAccessKeyId, secretAccessKey: cfg.awsSecretAccessKey, sessionToken: signedToken },
    applyChecksum: false,
    uriEscapePath: true,
  });
  let signed;
  try {
    signed = await signer.sign(request, {
      signingDate,
      signingRegion: a.region,
      signingService: service,
      signableHeaders: new Set(a.signedHeaders),
    });
  } catch (e) {
    return deny('InvalidSignatureException', `${MISMATCH} (${e.message})`);
  }
  const expected = /Signature=([0-9a-f]+)/.exec(signed.headers.authorization)?.[1];
  const expectedList = /SignedHeaders=([^,]+)/.exec(signed.headers.authorization)?.[1];
  if (!expected || expectedList !== a.signedHeaders.join(';')) return deny('InvalidSignatureException', MISMATCH);
  const ok = expected.length === a.signature.length &&
    crypto.timingSafeEqual(Buffer.from(expected), Buffer.from(a.signature));
  return ok ? null : deny('InvalidSignatureException', MISMATCH);
}
