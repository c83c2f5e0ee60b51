// Cohere v2 rerank.
import crypto from 'node:crypto';
import { ValidationError, isObject, words } from './common.mjs';

function fail(msg) {
  throw new ValidationError(msg);
}

export function validateRerank(body) {
  if (!isObject(body)) fail('invalid request: body must be a JSON object.');
  if (typeof body.model !== 'string' || body.model === '') fail('invalid request: model must be specified.');
  if (typeof body.query !== 'string' || body.query === '') fail('invalid request: query cannot be empty.');
  if (!Array.isArray(body.documents)) fail('invalid request: documents must be a list.');
  if (body.documents.length === 0) fail('invalid request: list of documents must not be empty.');
  if (body.documents.length > 10000) fail('invalid request: list of documents must have at most 10000 entries.');
  body.documents.forEach((d, i) => {
    if (typeof d !== 'string' && !(isObject(d) && typeof d.text === 'string')) fail(`invalid request: documents[${i}] must be a string.`);
  });
  if (body.top_n !== undefined && (!Number.isInteger(body.top_n) || body.top_n < 1)) fail('invalid request: top_n must be a positive integer.');
  if (body.max_tokens_per_doc !== undefined && (!Number.isInteger(body.max_tokens_per_doc) || body.max_tokens_per_doc < 1)) {
    fail('invalid request: max_tokens_per_doc must be a positive integer.');
  }
}

const tokensOf = (s) => new Set(s.toLowerCase().match(/[a-z0-9]+/g) ?? []);

// relevance = 0.9 * (share of distinct query words found in the document)
//           + 0.09 * (a hash of query and document, in [0, 1)) ; rounded to 6 decimals.
export function relevance(query, doc) {
  const q = tokensOf(query);
  const d = tokensOf(doc);
  let hit = 0;
  for (const w of q) if (d.has(w)) hit++;
  const base = q.size ? hit / q.size : 0;
  const h = crypto.createHash('sha256').update(`${query}\u0000${doc}`).digest().readUInt32BE(0) / 0x100000000;
  return Math.round((0.9 * base + 0.09 * h) * 1e6) / 1e6;
}

export function rerankResponse(body) {
  const docs = body.documents.map((d) => (typeof d === 'string' ? d : d.text));
  const scored = docs.map((d, index) => ({ index, relevance_score: relevance(body.query, d) }));
  scored.sort((a, b) => b.relevance_score - a.relevance_score || a.index - b.index);
  const results = scored.slice(0, body.top_n ?? scored.length);
  const inputTokens = Math.max(1, words(body.query)) + docs.reduce((n, d) => n + words(d), 0);
  return {
    id: crypto.randomUUID(),
    results,
    meta: {
      api_version: { version: '2' },
      billed_units: { search_units: 1 },
      tokens: { input_tokens: inputTokens, output_tokens: 0 },
    },
  };
}

export function cohereErrorBody(status, message) {
  const def = {
    400: 'invalid request',
    401: 'invalid api token',
    429: "You are past the per minute request limit for this API key, please wait and try again later.",
    500: 'internal server error, this has been reported to our developers',
    503: 'service unavailable',
  };
  return { id: crypto.randomUUID(), message: message ?? def[status] ?? def[status >= 500 ? 500 : 400] };
}
