// A provider that misbehaves on request: an OpenAI-schema HTTP/1.1 server on a raw socket, so
// it can send what no well-behaved server library would (interim heads, bytes past the body,
// resets, garbage, hangs, huge errors). The fault is chosen per request by the `x-fault` header
// the client sends through the gateway. Every request it parses is recorded, so a test can tell
// whether the gateway sent one request or two.
import net from 'node:net';

const ok = (model, content = 'ok', usage = { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 }) =>
  JSON.stringify({
    id: 'chatcmpl-fault', object: 'chat.completion', created: 1, model,
    choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content } }],
    usage,
  });

function response(status, headers, body) {
  const lines = [`HTTP/1.1 ${status} X`];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  if (body !== undefined && !('transfer-encoding' in headers)) lines.push(`content-length: ${Buffer.byteLength(body)}`);
  return `${lines.join('\r\n')}\r\n\r\n${body ?? ''}`;
}

function sseChunk(obj) {
  const data = `data: ${JSON.stringify(obj)}\n\n`;
  return `${Buffer.byteLength(data).toString(16)}\r\n${data}\r\n`;
}

// Parses requests off one connection and calls onRequest({head, headers, body}, socket).
function serveConnection(socket, onRequest) {
  let buf = Buffer.alloc(0);
  socket.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const headText = buf.subarray(0, end).toString('latin1');
      const [requestLine, ...lines] = headText.split('\r\n');
      const headers = {};
      for (const l of lines) {
        const i = l.indexOf(':');
        if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      const len = Number(headers['content-length'] ?? 0);
      if (buf.length < end + 4 + len) return;
      const body = buf.subarray(end + 4, end + 4 + len).toString('utf8');
      buf = buf.subarray(end + 4 + len);
      onRequest({ requestLine, headers, body }, socket);
    }
  });
  socket.on('error', () => {});
}

export async function startFaultProvider() {
  const requests = [];
  const sockets = new Set();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    serveConnection(socket, (req, s) => {
      requests.push(req);
      let model = 'unknown';
      try {
        model = JSON.parse(req.body).model ?? model;
      } catch {}
      const fault = req.headers['x-fault'] ?? '';
      switch (fault) {
        case 'early-hints':
          s.write('HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n');
          setTimeout(() => s.write(response(200, { 'content-type': 'application/json' }, ok(model, 'after-hints'))), 20);
          break;
        case 'extra-bytes':
          // A complete response, then a second one nobody asked for.
          s.write(response(200, { 'content-type': 'application/json' }, ok(model, 'first')) +
            response(200, { 'content-type': 'application/json' }, ok(model, 'SMUGGLED')));
          break;
        case 'reset-mid-stream':
          s.write(response(200, { 'content-type': 'text/event-stream', 'transfer-encoding': 'chunked' }) +
            sseChunk({ id: 'x', object: 'chat.completion.chunk', model, choices: [{ index: 0, delta: { content: 'par' } }] }));
          setTimeout(() => s.resetAndDestroy(), 30);
          break;
        case 'garbage':
          s.end('\x00\x01this is not HTTP at all\r\n\r\n');
          break;
        case 'hang':
          break; // never answers
        case 'huge-error':
          s.write(response(500, { 'content-type': 'application/json' },
            JSON.stringify({ error: { message: 'x'.repeat(5 * 1024 * 1024) } })));
          break;
        case 'echo-secret':
          s.write(response(401, { 'content-type': 'application/json' }, JSON.stringify({
            error: { message: `Incorrect API key provided: ${(req.headers.authorization ?? '').replace(/^Bearer /, '')}`, type: 'invalid_request_error', code: 'invalid_api_key' },
          })));
          break;
        case 'sse-error':
          s.write(response(200, { 'content-type': 'text/event-stream', 'transfer-encoding': 'chunked' }) +
            sseChunk({ id: 'x', object: 'chat.completion.chunk', model, choices: [{ index: 0, delta: { content: 'a' } }] }) +
            sseChunk({ error: { message: 'the model crashed', type: 'server_error' } }) + '0\r\n\r\n');
          break;
        case 'slow-stream': {
          // Five chunks 200 ms apart, then usage and [DONE].
          s.write(response(200, { 'content-type': 'text/event-stream', 'transfer-encoding': 'chunked' }));
          let i = 0;
          const timer = setInterval(() => {
            if (s.destroyed) return clearInterval(timer);
            if (i < 5) {
              s.write(sseChunk({ id: 'x', object: 'chat.completion.chunk', model, choices: [{ index: 0, delta: { content: `p${i}` } }] }));
            } else {
              clearInterval(timer);
              s.write(sseChunk({ id: 'x', object: 'chat.completion.chunk', model, choices: [], usage: { prompt_tokens: 1, completion_tokens: 5, total_tokens: 6 } }));
              const done = 'data: [DONE]\n\n';
              s.write(`${done.length.toString(16)}\r\n${done}\r\n0\r\n\r\n`);
            }
            i++;
          }, 200);
          break;
        }
        case 'huge-json': {
          // An answer past the gateway's 32 MiB usage-scan window, usage last as OpenAI writes it.
          const filler = 'y'.repeat(33 * 1024 * 1024);
          s.write(response(200, { 'content-type': 'application/json' },
            ok(model, filler, { prompt_tokens: 11, completion_tokens: 22, total_tokens: 33 })));
          break;
        }
        case 'big-json': {
          // 8 MiB answered at once: a slow client must get it whole, through backpressure.
          s.write(response(200, { 'content-type': 'application/json' }, ok(model, 'z'.repeat(8 * 1024 * 1024))));
          break;
        }
        case 'no-content':
          // 204: no body and no length (none is allowed).
          s.write('HTTP/1.1 204 No Content\r\nx-fault-seen: 1\r\n\r\n');
          break;
        case 'close-delimited':
          // No length, no chunking: the body ends when the provider closes.
          s.end(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n${ok(model, 'until-close')}`);
          break;
        default:
          s.write(response(200, { 'content-type': 'application/json' }, ok(model, `echo:${model}`)));
      }
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: server.address().port,
    requests,
    stop: () => new Promise((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}
