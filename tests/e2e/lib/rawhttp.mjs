// A raw HTTP/1.x client on one TCP connection: sends exactly the bytes a test writes and parses
// each response (Content-Length, chunked, or close-delimited), so tests can send what fetch
// would refuse to and see exactly how the gateway frames its answers.
import net from 'node:net';

export class RawConnection {
  constructor(port, host = '127.0.0.1') {
    this.socket = net.connect(port, host);
    this.connected = new Promise((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('error', reject);
    });
    this.connected.catch(() => {});
    this.buf = Buffer.alloc(0);
    this.closed = false;
    this.waiters = [];
    this.socket.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake();
    });
    this.socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    this.socket.on('error', () => {});
  }

  ready() {
    return this.connected;
  }

  wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  more(timeoutMs) {
    return new Promise((resolve, reject) => {
      if (this.closed) return resolve();
      const t = setTimeout(() => reject(new Error(`no data within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  write(bytes) {
    this.socket.write(bytes);
  }

  // Reads one response. Resolves {status, headers, body, raw, framing} where framing is
  // 'length', 'chunked' or 'close'. `head: true` for a HEAD request (no body whatever the head).
  async response({ timeoutMs = 10000, head = false } = {}) {
    const deadline = Date.now() + timeoutMs;
    const wait = () => this.more(Math.max(1, deadline - Date.now()));
    let end;
    while ((end = this.buf.indexOf('\r\n\r\n')) < 0) {
      if (this.closed) throw new Error(`connection closed before a response head (${this.buf.length} bytes)`);
      await wait();
    }
    const headText = this.buf.subarray(0, end).toString('latin1');
    let rest = this.buf.subarray(end + 4);
    const [statusLine, ...lines] = headText.split('\r\n');
    const status = Number(statusLine.split(' ')[1]);
    const headers = {};
    for (const l of lines) {
      const i = l.indexOf(':');
      const k = l.slice(0, i).trim().toLowerCase();
      const v = l.slice(i + 1).trim();
      headers[k] = k in headers ? `${headers[k]}, ${v}` : v;
    }
    if (status >= 100 && status < 200) {
      this.buf = rest;
      return { status, headers, body: '', framing: 'none', interim: true };
    }
    const take = (n) => {
      const out = this.buf.subarray(0, n);
      this.buf = this.buf.subarray(n);
      return out;
    };
    this.buf = rest;
    if (head || status === 204 || status === 304) return { status, headers, body: '', framing: 'none' };
    if (headers['transfer-encoding']?.includes('chunked')) {
      const parts = [];
      for (;;) {
        let le;
        while ((le = this.buf.indexOf('\r\n')) < 0) {
          if (this.closed) throw new Error('connection closed inside a chunked body');
          await wait();
        }
        const size = parseInt(this.buf.subarray(0, le).toString(), 16);
        while (this.buf.length < le + 2 + size + 2) {
          if (this.closed) throw Object.assign(new Error('connection closed inside a chunk'), { partial: Buffer.concat(parts).toString() });
          await wait();
        }
        take(le + 2);
        const data = take(size);
        take(2);
        if (size === 0) break;
        parts.push(data);
      }
      return { status, headers, body: Buffer.concat(parts).toString(), framing: 'chunked' };
    }
    if ('content-length' in headers) {
      const n = Number(headers['content-length']);
      while (this.buf.length < n) {
        if (this.closed) throw new Error('connection closed inside a sized body');
        await wait();
      }
      return { status, headers, body: take(n).toString(), framing: 'length' };
    }
    while (!this.closed) await wait();
    return { status, headers, body: take(this.buf.length).toString(), framing: 'close' };
  }

  // Resolves true once the gateway closed the connection (within timeoutMs).
  async closedWithin(timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) {
      try {
        await this.more(deadline - Date.now());
      } catch {
        break;
      }
    }
    return this.closed;
  }

  close() {
    this.socket.destroy();
  }
}

export function chatRequest(body, { headers = {}, version = '1.1', path = '/v1/chat/completions' } = {}) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const lines = [`POST ${path} HTTP/${version}`, 'Host: gw', 'content-type: application/json',
    `content-length: ${Buffer.byteLength(text)}`];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  return `${lines.join('\r\n')}\r\n\r\n${text}`;
}
