'use strict';

// TLS servers on 127.0.0.1 for the https tests (certificates: tls-certs.js).
//
// startHttpsServer(options)    a Node `https` server that records what TLS saw
//   options: { cert, key, ca, requestCert, rejectUnauthorized, minVersion,
//              maxVersion, secureOptions, sessionIdCache, keepAliveTimeout, routes }
//   routes: { '/path': (req, res, body) => void }; any other path answers 200
//   with JSON { url, method, bodyLength, connection, servername, reused, peer }.
//   srv.tls[i] = { servername, reused, alpn, protocol, authorized, peer } for
//   every completed handshake, in order ('secure' event); srv.tlsErrors holds
//   'tlsClientError's; srv.requests every request ({ url, method, connection,
//   body }); srv.tcpConnections counts accepted TCP connections.
//   sessionIdCache: true keeps TLS 1.2 sessions in a server-side Map through
//   'newSession'/'resumeSession' (session-ID resumption; pair it with
//   secureOptions: SSL_OP_NO_TICKET to rule tickets out).
//
// startBareTlsServer({ cert, key }, onRequest)
//   TLS on a raw `net` socket through a JS stream, so the test owns the TCP
//   socket: onRequest(req, tlsSocket, tcpSocket) can end the TCP socket (a FIN
//   with no close_notify before it) or end the TLS socket (close_notify, then
//   FIN). Requests are parsed as by raw-server's parseRequests.

const https = require('node:https');
const tls = require('node:tls');
const { Duplex } = require('node:stream');
const { EventEmitter } = require('node:events');
const { startRawServer, parseRequests } = require('./raw-server');

const HOST = '127.0.0.1';

function peerSummary(socket) {
  const peer = socket.getPeerCertificate ? socket.getPeerCertificate() : null;
  if (!peer || !peer.subject) return null;
  return { subjectCN: peer.subject.CN, issuerCN: peer.issuer && peer.issuer.CN };
}

async function startHttpsServer(options = {}) {
  const {
    routes = {},
    keepAliveTimeout = 5000,
    sessionIdCache = false,
    ...tlsOptions
  } = options;
  const events = new EventEmitter();
  const open = new Set();
  const tlsSockets = [];
  const tlsRecords = [];
  const tlsErrors = [];
  const requests = [];
  let tcpConnections = 0;

  const server = https.createServer({ ALPNProtocols: ['http/1.1'], ...tlsOptions }, (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const connection = tlsSockets.indexOf(req.socket);
      const record = { url: req.url, method: req.method, headers: req.headers, body, connection };
      requests.push(record);
      events.emit('request', record);
      const handler = routes[req.url.split('?')[0]];
      if (handler) {
        handler(req, res, body);
        return;
      }
      const t = tlsRecords[connection] || {};
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          url: req.url,
          method: req.method,
          bodyLength: body.length,
          connection,
          servername: t.servername,
          reused: t.reused,
          peer: t.peer,
        }),
      );
    });
  });
  server.keepAliveTimeout = keepAliveTimeout;

  server.on('connection', (socket) => {
    tcpConnections += 1;
    open.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => open.delete(socket));
  });
  server.on('secureConnection', (socket) => {
    socket.on('error', () => {});
    const record = {
      servername: socket.servername,
      reused: socket.isSessionReused(),
      alpn: socket.alpnProtocol,
      protocol: socket.getProtocol(),
      authorized: socket.authorized,
      authorizationError: socket.authorizationError,
      peer: peerSummary(socket),
    };
    tlsSockets.push(socket);
    tlsRecords.push(record);
    events.emit('secure', record);
  });
  server.on('tlsClientError', (err) => {
    tlsErrors.push(err);
    events.emit('tlsClientError', err);
  });
  if (sessionIdCache) {
    const sessions = new Map();
    server.on('newSession', (id, data, done) => {
      sessions.set(id.toString('hex'), data);
      done();
    });
    server.on('resumeSession', (id, done) => done(null, sessions.get(id.toString('hex')) || null));
  }

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  const { port } = server.address();
  const origin = `https://${HOST}:${port}`;
  return {
    server,
    events,
    port,
    origin,
    url: (path = '/', host = HOST) => `https://${host}:${port}${path}`,
    tls: tlsRecords,
    tlsErrors,
    requests,
    get tcpConnections() {
      return tcpConnections;
    },
    get openConnections() {
      return open.size;
    },
    close() {
      server.closeAllConnections();
      for (const socket of open) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

// A Duplex over `tcp` that TLSSocket uses as its transport. Ending the TLS
// side does not end the TCP socket: only the test does that.
function transportOver(tcp) {
  const duplex = new Duplex({
    read() {},
    write(chunk, encoding, callback) {
      if (tcp.destroyed || tcp.writableEnded) {
        callback();
        return;
      }
      tcp.write(chunk, () => callback());
    },
    final(callback) {
      callback();
    },
  });
  tcp.on('data', (chunk) => duplex.push(chunk));
  tcp.on('end', () => duplex.push(null));
  tcp.on('close', () => duplex.destroy());
  return duplex;
}

async function startBareTlsServer({ cert, key }, onRequest) {
  const secureContext = tls.createSecureContext({ cert, key });
  const srv = await startRawServer((tcp, index) => {
    const tlsSocket = new tls.TLSSocket(transportOver(tcp), { isServer: true, secureContext });
    tlsSocket.on('error', () => {});
    tcp.on('close', () => tlsSocket.destroy());
    srv.tlsSockets.push(tlsSocket);
    parseRequests(tlsSocket, (req) => {
      Object.assign(req, { connection: index });
      srv.requests.push(req);
      srv.events.emit('request', req);
      onRequest(req, tlsSocket, tcp);
    });
  });
  srv.tlsSockets = [];
  srv.requests = [];
  srv.origin = `https://${HOST}:${srv.port}`;
  srv.url = (path = '/', host = HOST) => `https://${host}:${srv.port}${path}`;
  return srv;
}

module.exports = { startHttpsServer, startBareTlsServer };
