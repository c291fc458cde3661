'use strict';

// Raw `net` servers on 127.0.0.1 for tests that need a server to misbehave
// byte for byte (STYLE.md §1: response-queue-poisoning, client-keep-alive,
// parser-issues' createTrackedServer). Nothing here listens beyond loopback.
//
// startRawServer(onConnection)         every socket goes to onConnection(socket, index)
// startRequestServer(onRequest)        requests are parsed; onRequest(req, socket, server)
// startNonAcceptingServer()            a listener whose accept queue is full: connects hang
//
// The handler factories below (answer, answerThenClose, neverAnswer, ...)
// build onRequest handlers for the common misbehaviours.

const net = require('node:net');
const { EventEmitter } = require('node:events');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const { waitFor } = require('./wait');

const HOST = '127.0.0.1';

// Starts a `net` server. Every accepted socket is recorded in `connections`
// (and its client port in `remotePorts`), gets TCP_NODELAY and a no-op error
// listener (a client RST is not a test failure), then goes to onConnection.
// close() destroys every socket still open and resolves once the server has
// closed. `openConnections` counts sockets the server has not seen close.
function startRawServer(onConnection) {
  const events = new EventEmitter();
  const connections = [];
  const remotePorts = [];
  const open = new Set();
  let maxOpen = 0;
  const server = net.createServer((socket) => {
    const index = connections.length;
    connections.push(socket);
    remotePorts.push(socket.remotePort);
    open.add(socket);
    maxOpen = Math.max(maxOpen, open.size);
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.on('close', () => {
      open.delete(socket);
      events.emit('connection-closed', { socket, index });
    });
    events.emit('connection', { socket, index });
    if (onConnection) onConnection(socket, index);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => {
      server.removeListener('error', reject);
      const { port } = server.address();
      const origin = `http://${HOST}:${port}`;
      resolve({
        server,
        events,
        port,
        origin,
        url: (path = '/') => origin + path,
        connections,
        remotePorts,
        get openConnections() {
          return open.size;
        },
        get maxOpenConnections() {
          return maxOpen;
        },
        // Bytes the server read from / wrote to all its sockets so far.
        get bytesRead() {
          return connections.reduce((sum, s) => sum + s.bytesRead, 0);
        },
        get bytesWritten() {
          return connections.reduce((sum, s) => sum + s.bytesWritten, 0);
        },
        close() {
          for (const socket of open) socket.destroy();
          return new Promise((done) => server.close(() => done()));
        },
      });
    });
  });
}

// Incremental HTTP/1.1 request parser for one socket: request line, headers
// and a Content-Length body (the pool always sends Content-Length; a chunked
// request body is decoded too, for completeness). Calls onRequest(req) for
// each complete request, in order.
function parseRequests(socket, onRequest) {
  let buffer = Buffer.alloc(0);
  let indexOnConnection = 0;
  socket.on('data', (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      const end = buffer.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = buffer.subarray(0, end).toString('latin1');
      const lines = head.split('\r\n');
      const [method, path, version] = lines[0].split(' ');
      const rawHeaders = [];
      const headers = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon);
        const value = line.slice(colon + 1).trim();
        rawHeaders.push(name, value);
        const key = name.toLowerCase();
        headers[key] = key in headers ? `${headers[key]}, ${value}` : value;
      }
      let body;
      let consumed;
      if (/chunked/i.test(headers['transfer-encoding'] || '')) {
        const decoded = decodeChunked(buffer, end + 4);
        if (!decoded) return;
        ({ body, consumed } = decoded);
      } else {
        const length = Number(headers['content-length'] || 0);
        if (buffer.length < end + 4 + length) return;
        body = buffer.subarray(end + 4, end + 4 + length);
        consumed = end + 4 + length;
      }
      const raw = buffer.subarray(0, consumed);
      buffer = buffer.subarray(consumed);
      onRequest({ method, path, version, headers, rawHeaders, body, raw, indexOnConnection: indexOnConnection++ });
    }
  });
}

function decodeChunked(buffer, start) {
  const parts = [];
  let pos = start;
  for (;;) {
    const lineEnd = buffer.indexOf('\r\n', pos);
    if (lineEnd === -1) return null;
    const sizeText = buffer.subarray(pos, lineEnd).toString('latin1').split(';')[0].trim();
    if (!/^[0-9a-fA-F]+$/.test(sizeText)) {
      // Fail loudly: a NaN size would make this loop spin forever.
      throw new Error(`test server: bad chunk size ${JSON.stringify(sizeText)}`);
    }
    const size = parseInt(sizeText, 16);
    pos = lineEnd + 2;
    if (size === 0) {
      const trailerEnd = buffer.indexOf('\r\n', pos);
      if (trailerEnd === -1) return null;
      return { body: Buffer.concat(parts), consumed: trailerEnd + 2 };
    }
    if (buffer.length < pos + size + 2) return null;
    parts.push(buffer.subarray(pos, pos + size));
    pos += size + 2;
  }
}

// A raw server that parses requests. Each request is recorded in `requests`
// as { method, path, headers, rawHeaders, body, connection (index),
// remotePort, indexOnConnection } and emitted as 'request'; then
// onRequest(req, socket, srv) answers it (or not).
async function startRequestServer(onRequest) {
  const requests = [];
  let srv = null;
  srv = await startRawServer((socket, connection) => {
    parseRequests(socket, (req) => {
      Object.assign(req, { connection, remotePort: socket.remotePort });
      requests.push(req);
      srv.events.emit('request', req);
      if (onRequest) onRequest(req, socket, srv);
    });
  });
  srv.requests = requests;
  return srv;
}

// Builds response bytes. Content-Length is added from the body unless the
// headers already carry content-length or transfer-encoding, or noLength is set.
// `headers` is an object or an array of [name, value] pairs (repeats kept).
function response({ status = 200, reason, version = '1.1', headers = [], body = '', noLength = false } = {}) {
  const bodyBuf = Buffer.isBuffer(body) ? body : Buffer.from(body);
  const pairs = Array.isArray(headers) ? headers.slice() : Object.entries(headers);
  const names = pairs.map(([n]) => n.toLowerCase());
  if (!noLength && !names.includes('content-length') && !names.includes('transfer-encoding')) {
    pairs.push(['Content-Length', String(bodyBuf.length)]);
  }
  const text = reason ?? STATUS_TEXT[status] ?? 'Unknown';
  const head = `HTTP/${version} ${status} ${text}\r\n${pairs.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), bodyBuf]);
}

const STATUS_TEXT = {
  100: 'Continue',
  103: 'Early Hints',
  200: 'OK',
  201: 'Created',
  204: 'No Content',
  304: 'Not Modified',
  404: 'Not Found',
  500: 'Internal Server Error',
};

const OK = () => response({ body: 'ok' });

// --- onRequest handler factories -------------------------------------------

// Answers with exactly these bytes (a Buffer, a string, or a function of the
// request returning either) and keeps the socket open.
function answer(bytes) {
  return (req, socket) => {
    socket.write(typeof bytes === 'function' ? bytes(req) : bytes);
  };
}

// Answers, then keeps the socket open whatever the response said (for
// HTTP/1.0 and Connection: close responses, where the client must close).
const answerThenKeepOpen = answer;

// Answers, then closes the socket with a FIN right away: the server closes
// idle keep-alive sockets as soon as it has responded.
function answerThenClose(bytes = OK()) {
  return (req, socket) => {
    socket.end(typeof bytes === 'function' ? bytes(req) : bytes);
  };
}

// Answers, then resets the connection (RST) right away.
function answerThenReset(bytes = OK()) {
  return (req, socket) => {
    socket.write(typeof bytes === 'function' ? bytes(req) : bytes, () => socket.resetAndDestroy());
  };
}

// Reads the request and never answers.
function neverAnswer() {
  return () => {};
}

// Answers with a complete response followed by `extra` bytes in the same write.
function answerWithExtraBytes(extra = 'HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON', bytes = OK()) {
  return (req, socket) => {
    socket.write(Buffer.concat([Buffer.from(bytes), Buffer.from(extra)]));
  };
}

// Sends `bytes` one byte per write, each write on its own timer tick, so the
// client reads the response in many small pieces. The spacing is pacing, not
// synchronisation: the test waits for the response itself.
function answerByteByByte(bytes, spacingMs = 1) {
  return (req, socket) => {
    const buf = Buffer.from(typeof bytes === 'function' ? bytes(req) : bytes);
    let i = 0;
    const step = () => {
      if (socket.destroyed || i >= buf.length) return;
      socket.write(buf.subarray(i, i + 1));
      i += 1;
      setTimeout(step, spacingMs);
    };
    step();
  };
}

// Writes unsolicited bytes (by default a whole response, the shape of
// response-queue poisoning) on a connection the server accepted earlier,
// typically one the client holds idle.
function sendUnsolicited(srv, index = 0, bytes = 'HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON') {
  srv.connections[index].write(bytes);
}

// A Content-Length promising more than is sent, then FIN.
function truncatedBody() {
  return answerThenClose(response({ headers: { 'Content-Length': '100' }, body: 'only ten b' }));
}

// Chunked encoding with a chunk size that is not hex.
function badChunking() {
  return answer('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n');
}

// Both Content-Length and Transfer-Encoding: chunked (request smuggling shape).
function contentLengthAndChunked() {
  return answer('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
}

// A header section of about `size` bytes (default 20 KiB, over the 16 KiB limit).
function hugeHeaders(size = 20 * 1024) {
  const pairs = [];
  let total = 0;
  for (let i = 0; total < size; i++) {
    const value = 'x'.repeat(1000);
    pairs.push([`X-Big-${i}`, value]);
    total += value.length + 12;
  }
  return answer(response({ headers: pairs, body: 'ok' }));
}

// RST as soon as the request has arrived, before any response byte: the
// client's read fails with ECONNRESET.
function resetOnRequest() {
  return (req, socket) => socket.resetAndDestroy();
}

// Headers, part of the body, then RST: the connection resets mid-response.
// Note: after a partial read libuv reports the POLLHUP of a RST as UV_EOF
// without reading (stream.c), so a client may see this as a plain close.
function resetMidResponse() {
  return (req, socket) => {
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial', () => socket.resetAndDestroy());
  };
}

// Starts a listener on 127.0.0.1 whose accept queue is full, so a new
// connect() is never completed: Linux drops a SYN while the listener's accept
// queue is full (tcp_conn_request: sk_acceptq_is_full, i.e. more queued
// connections than the backlog). The listener lives in a child process that
// calls listen(backlog 1) and then blocks its event loop (Atomics.wait), so it
// never accepts. Filler sockets then take the queue's places, one at a time.
//
// Whether the queue is full is read, not guessed: for a LISTEN socket,
// /proc/net/tcp's rx_queue field is the accept queue's length (sk_ack_backlog).
// After each filler has connected, the helper waits (bounded) until the kernel
// counts it in the queue, and stops once the count exceeds the backlog. No
// timing is involved: a slow machine makes this slower, never wrong. Bounded:
// at most maxFillers fillers, each wait has a deadline. Linux only, like the
// SYN-drop behaviour it relies on. Resolves { port, origin, url(), close() }.
const LISTEN_BACKLOG = 1;

// The accept queue length of the LISTEN socket on 127.0.0.1:port, or null
// when /proc/net/tcp has no such socket.
function acceptQueueLength(port) {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const lines = fs.readFileSync('/proc/net/tcp', 'latin1').split('\n');
  for (const line of lines.slice(1)) {
    const f = line.trim().split(/\s+/);
    // sl local rem st tx_queue:rx_queue ...; state 0A is LISTEN
    if (f[1] === local && f[3] === '0A') return parseInt(f[4].split(':')[1], 16);
  }
  return null;
}

async function startNonAcceptingServer({ maxFillers = 4, lifetimeMs = 25000, stepTimeoutMs = 5000 } = {}) {
  if (!fs.existsSync('/proc/net/tcp')) {
    throw new Error('startNonAcceptingServer needs Linux (/proc/net/tcp) to see the accept queue fill');
  }
  const script = `
    const net = require('node:net');
    const server = net.createServer();
    server.listen({ port: 0, host: '127.0.0.1', backlog: ${LISTEN_BACKLOG} }, () => {
      process.stdout.write(server.address().port + '\\n');
      // Block the loop: the listening socket is never accepted from.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ${lifetimeMs});
      process.exit(0);
    });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const fillers = [];
  const close = async () => {
    for (const socket of fillers) socket.destroy();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  try {
    const port = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`non-accepting listener did not start within ${stepTimeoutMs} ms`)), stepTimeoutMs);
      let text = '';
      child.stdout.on('data', (d) => {
        text += d;
        if (text.includes('\n')) {
          clearTimeout(timer);
          resolve(Number(text.trim()));
        }
      });
      child.once('exit', () => {
        clearTimeout(timer);
        reject(new Error('non-accepting listener exited early'));
      });
    });
    const queued = () => {
      const n = acceptQueueLength(port);
      if (n === null) throw new Error(`no LISTEN socket on 127.0.0.1:${port} in /proc/net/tcp`);
      return n;
    };
    for (let i = 0; queued() <= LISTEN_BACKLOG; i++) {
      if (i >= maxFillers) throw new Error(`the accept queue was not full after ${maxFillers} connections`);
      const socket = net.connect(port, HOST);
      socket.on('error', () => {});
      fillers.push(socket);
      // The queue has room, so this handshake completes.
      await waitFor(socket, 'connect', { timeoutMs: stepTimeoutMs, label: `filler ${i + 1} to connect` });
      await waitFor(() => queued() >= fillers.length, {
        timeoutMs: stepTimeoutMs,
        intervalMs: 1,
        label: `the kernel to queue filler ${i + 1}`,
      });
    }
    const origin = `http://${HOST}:${port}`;
    return { port, origin, url: (path = '/') => origin + path, close };
  } catch (err) {
    await close();
    throw err;
  }
}

// A port on 127.0.0.1 that nothing listens on (listened on, then closed).
async function closedPort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, HOST, resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

module.exports = {
  HOST,
  startRawServer,
  startRequestServer,
  startNonAcceptingServer,
  parseRequests,
  closedPort,
  response,
  OK,
  answer,
  answerThenKeepOpen,
  answerThenClose,
  answerThenReset,
  neverAnswer,
  answerWithExtraBytes,
  answerByteByByte,
  sendUnsolicited,
  truncatedBody,
  badChunking,
  contentLengthAndChunked,
  hugeHeaders,
  resetOnRequest,
  resetMidResponse,
};
