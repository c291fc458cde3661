'use strict';

// A well-behaved keep-alive `http` server on 127.0.0.1 that counts what it
// sees: connections (total, open now, most open at once) and requests.
//
//   const srv = await startHttpServer({ keepAliveTimeout, routes });
//   routes: { '/path': { status, headers, body } | (req, res, body) => void }
//   any other path echoes the request as JSON:
//     { method, url, headers, rawHeaders, body (utf8), bodyBase64, remotePort, connection }
//
// srv.hold() makes later requests wait in srv.held until srv.release();
// srv.events emits 'request' (for every request) and 'held'.

const http = require('node:http');
const { EventEmitter } = require('node:events');

const HOST = '127.0.0.1';

async function startHttpServer({ keepAliveTimeout = 5000, routes = {} } = {}) {
  const events = new EventEmitter();
  const open = new Set();
  const sockets = [];
  const requests = [];
  const held = [];
  let holding = false;
  let maxOpen = 0;

  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const record = {
        method: req.method,
        url: req.url,
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body,
        remotePort: req.socket.remotePort,
        connection: sockets.indexOf(req.socket),
      };
      requests.push(record);
      events.emit('request', record);
      const respond = () => route(record, req, res);
      if (holding) {
        held.push({ request: record, respond });
        events.emit('held', record);
      } else {
        respond();
      }
    });
  });

  function route(record, req, res) {
    const path = record.url.split('?')[0];
    const handler = routes[path];
    if (typeof handler === 'function') return handler(req, res, record.body);
    if (handler) {
      res.writeHead(handler.status || 200, handler.headers || {});
      res.end(handler.body ?? '');
      return undefined;
    }
    const json = JSON.stringify({
      method: record.method,
      url: record.url,
      headers: record.headers,
      rawHeaders: record.rawHeaders,
      body: record.body.toString('utf8'),
      bodyBase64: record.body.toString('base64'),
      remotePort: record.remotePort,
      connection: record.connection,
    });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(json);
    return undefined;
  }

  server.keepAliveTimeout = keepAliveTimeout;
  server.on('connection', (socket) => {
    sockets.push(socket);
    open.add(socket);
    maxOpen = Math.max(maxOpen, open.size);
    socket.on('close', () => {
      open.delete(socket);
      events.emit('connection-closed', socket);
    });
    events.emit('connection', socket);
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  const { port } = server.address();
  const origin = `http://${HOST}:${port}`;

  return {
    server,
    events,
    port,
    origin,
    url: (path = '/') => origin + path,
    requests,
    held,
    get connectionCount() {
      return sockets.length;
    },
    get openConnections() {
      return open.size;
    },
    get maxOpenConnections() {
      return maxOpen;
    },
    remotePorts: () => sockets.map((s) => s.remotePort),
    // Later requests wait in `held` until released.
    hold() {
      holding = true;
    },
    // Answers `count` held requests (all by default) in arrival order; with
    // no count, also stops holding.
    release(count) {
      if (count === undefined) holding = false;
      const n = count === undefined ? held.length : Math.min(count, held.length);
      for (const entry of held.splice(0, n)) entry.respond();
    },
    // Answers the first held request that matches `predicate`; returns it.
    releaseWhere(predicate) {
      const index = held.findIndex((entry) => predicate(entry.request));
      if (index === -1) throw new Error('no held request matches');
      const [entry] = held.splice(index, 1);
      entry.respond();
      return entry.request;
    },
    close() {
      holding = false;
      for (const entry of held.splice(0)) entry.respond();
      server.closeAllConnections();
      for (const socket of open) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

module.exports = { startHttpServer };
