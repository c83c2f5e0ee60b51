// multipart/form-data (RFC 7578 / RFC 2046) as OpenAI's audio endpoints take it: the boundary
// from the content type, then every part with its Content-Disposition name and filename, its
// Content-Type and its bytes.

// The media type and parameters of a Content-Type value ("multipart/form-data; boundary=x").
export function parseContentType(value) {
  const s = String(value ?? '');
  const semi = s.indexOf(';');
  const type = (semi < 0 ? s : s.slice(0, semi)).trim().toLowerCase();
  const params = {};
  let rest = semi < 0 ? '' : s.slice(semi + 1);
  // param = token "=" ( token / quoted-string )
  const re = /^\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)\s*(?:;|$)/;
  for (;;) {
    const m = re.exec(rest);
    if (!m) break;
    let v = m[2].trim();
    if (v.startsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    params[m[1].toLowerCase()] = v;
    rest = rest.slice(m[0].length);
  }
  return { type, params };
}

export class MultipartError extends Error {}

function parseHeaders(block) {
  const headers = {};
  for (const line of block.split('\r\n')) {
    if (line === '') continue;
    const i = line.indexOf(':');
    if (i <= 0) throw new MultipartError(`malformed part header line: ${JSON.stringify(line.slice(0, 60))}`);
    headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return headers;
}

// Parses `body` (a Buffer) with `boundary`. Returns [{name, filename, contentType, headers, data}]
// (filename null for plain fields). Throws MultipartError for a body that is not well formed: no
// opening delimiter, a part without a blank line after its headers, no Content-Disposition
// form-data name, or no closing delimiter.
export function parseMultipart(body, boundary) {
  if (!boundary || boundary.length > 70) throw new MultipartError('missing or invalid boundary');
  const delim = Buffer.from(`--${boundary}`, 'latin1');
  const parts = [];
  // The first delimiter may be preceded by a preamble; later ones are preceded by CRLF.
  let pos = body.indexOf(delim);
  if (pos < 0) throw new MultipartError('no opening boundary delimiter');
  if (pos > 0 && !(body[pos - 2] === 0x0d && body[pos - 1] === 0x0a)) throw new MultipartError('no opening boundary delimiter');
  pos += delim.length;
  const next = Buffer.from(`\r\n--${boundary}`, 'latin1');
  for (;;) {
    // after a delimiter: "--" closes, else optional whitespace then CRLF
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) return parts;
    while (body[pos] === 0x20 || body[pos] === 0x09) pos++;
    if (!(body[pos] === 0x0d && body[pos + 1] === 0x0a)) throw new MultipartError('boundary delimiter not followed by CRLF');
    pos += 2;
    const headEnd = body.indexOf('\r\n\r\n', pos, 'latin1');
    const end = body.indexOf(next, pos);
    if (end < 0) throw new MultipartError('no closing boundary delimiter');
    let headers;
    let dataStart;
    if (body[pos] === 0x0d && body[pos + 1] === 0x0a) {
      headers = {}; // a part with no headers
      dataStart = pos + 2;
    } else {
      if (headEnd < 0 || headEnd > end) throw new MultipartError('part headers not terminated by a blank line');
      headers = parseHeaders(body.subarray(pos, headEnd).toString('utf8'));
      dataStart = headEnd + 4;
    }
    const cd = parseContentType(headers['content-disposition']);
    if (cd.type !== 'form-data' || cd.params.name === undefined) throw new MultipartError('part without Content-Disposition: form-data; name=');
    parts.push({
      name: cd.params.name,
      filename: cd.params.filename ?? null,
      contentType: headers['content-type'] ?? null,
      headers,
      data: body.subarray(dataStart, end),
    });
    pos = end + next.length;
  }
}

// Builds a multipart body (for the self-test and for clients that need one).
export function buildMultipart(fields, boundary = `----fakeproviders${Date.now().toString(16)}`) {
  const chunks = [];
  for (const f of fields) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${f.name}"`;
    if (f.filename !== undefined) head += `; filename="${f.filename}"`;
    head += '\r\n';
    if (f.contentType) head += `Content-Type: ${f.contentType}\r\n`;
    chunks.push(Buffer.from(`${head}\r\n`, 'utf8'), Buffer.isBuffer(f.value) ? f.value : Buffer.from(String(f.value), 'utf8'), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}
