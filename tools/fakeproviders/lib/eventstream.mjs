// AWS event stream framing (application/vnd.amazon.eventstream), written from the format's
// description: every message is
//   total length u32 BE | headers length u32 BE | CRC32(first 8 bytes) |
//   headers | payload | CRC32(everything before this field)
// and a header is name length u8 | name | value type u8 | value (strings: u16 BE length + bytes).

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

// CRC-32 (IEEE 802.3, reflected, polynomial 0x04C11DB7), the one event streams use.
export function crc32(buf, crc = 0) {
  let c = (crc ^ 0xffffffff) >>> 0;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const TYPE_STRING = 7;

// headers: array of [name, stringValue] (kept in the given order); payload: Buffer or string.
export function encodeMessage(headers, payload) {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload ?? '', 'utf8');
  const headerParts = [];
  for (const [name, value] of headers) {
    const n = Buffer.from(name, 'utf8');
    const v = Buffer.from(String(value), 'utf8');
    if (n.length > 255) throw new Error(`header name too long: ${name}`);
    if (v.length > 65535) throw new Error(`header value too long: ${name}`);
    const h = Buffer.alloc(1 + n.length + 1 + 2 + v.length);
    h.writeUInt8(n.length, 0);
    n.copy(h, 1);
    h.writeUInt8(TYPE_STRING, 1 + n.length);
    h.writeUInt16BE(v.length, 2 + n.length);
    v.copy(h, 4 + n.length);
    headerParts.push(h);
  }
  const headerBytes = Buffer.concat(headerParts);
  const total = 12 + headerBytes.length + body.length + 4;
  const msg = Buffer.alloc(total);
  msg.writeUInt32BE(total, 0);
  msg.writeUInt32BE(headerBytes.length, 4);
  msg.writeUInt32BE(crc32(msg.subarray(0, 8)), 8);
  headerBytes.copy(msg, 12);
  body.copy(msg, 12 + headerBytes.length);
  msg.writeUInt32BE(crc32(msg.subarray(0, total - 4)), total - 4);
  return msg;
}

function decodeHeaders(buf) {
  const headers = {};
  let i = 0;
  while (i < buf.length) {
    const nameLen = buf.readUInt8(i);
    const name = buf.toString('utf8', i + 1, i + 1 + nameLen);
    i += 1 + nameLen;
    const type = buf.readUInt8(i);
    i += 1;
    let value;
    switch (type) {
      case 0: value = true; break;
      case 1: value = false; break;
      case 2: value = buf.readInt8(i); i += 1; break;
      case 3: value = buf.readInt16BE(i); i += 2; break;
      case 4: value = buf.readInt32BE(i); i += 4; break;
      case 5: value = buf.readBigInt64BE(i); i += 8; break;
      case 6: case 7: {
        const len = buf.readUInt16BE(i);
        const raw = buf.subarray(i + 2, i + 2 + len);
        value = type === 7 ? raw.toString('utf8') : Buffer.from(raw);
        i += 2 + len;
        break;
      }
      case 8: value = new Date(Number(buf.readBigInt64BE(i))); i += 8; break;
      case 9: value = buf.subarray(i, i + 16).toString('hex'); i += 16; break;
      default: throw new Error(`unknown event stream header type ${type}`);
    }
    headers[name] = value;
  }
  return headers;
}

// Decodes every complete message in buf, checking both CRCs; returns {messages, rest} where
// rest is the trailing incomplete bytes. Each message: {headers, payload (Buffer), raw (Buffer)}.
export function decodeMessages(buf) {
  const messages = [];
  let off = 0;
  while (buf.length - off >= 12) {
    const total = buf.readUInt32BE(off);
    const headersLen = buf.readUInt32BE(off + 4);
    const preludeCrc = buf.readUInt32BE(off + 8);
    if (crc32(buf.subarray(off, off + 8)) !== preludeCrc) throw new Error(`prelude CRC mismatch at byte ${off}`);
    if (total < 16 || headersLen > total - 16) throw new Error(`bad message lengths at byte ${off}`);
    if (buf.length - off < total) break;
    const raw = buf.subarray(off, off + total);
    const msgCrc = raw.readUInt32BE(total - 4);
    if (crc32(raw.subarray(0, total - 4)) !== msgCrc) throw new Error(`message CRC mismatch at byte ${off}`);
    const headers = decodeHeaders(raw.subarray(12, 12 + headersLen));
    const payload = Buffer.from(raw.subarray(12 + headersLen, total - 4));
    messages.push({ headers, payload, raw: Buffer.from(raw) });
    off += total;
  }
  return { messages, rest: buf.subarray(off) };
}
