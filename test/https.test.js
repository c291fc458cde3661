'use strict';

// https: origins through the core's OpenSSL engine, against local `https`/`tls`
// servers with certificates generated at test time (helpers/tls-certs.js):
// trust (tls.ca, the default store, NODE_EXTRA_CA_CERTS), verification
// failures and their OpenSSL reasons, SNI and servername, mutual TLS, session
// resumption seen from the server, keep-alive, bodies, the handshake under
// connectTimeout, and how a TLS connection may end.

const crypto = require('node:crypto');
const { execFile } = require('node:child_process');
const { createResources, ROOT } = require('./helpers/resources');
const { startRawServer, response } = require('./helpers/raw-server');
const { startHttpsServer, startBareTlsServer } = require('./helpers/https-server');
const { getCerts, writePemFile } = require('./helpers/tls-certs');
const { waitFor, settle, recordEvents } = require('./helpers/wait');

const res = createResources();
afterEach(async () => {
  expect(await res.cleanup()).toEqual([]);
});

let certs;
beforeAll(() => {
  certs = getCerts();
});

const serve = async (which = 'leaf', options = {}) =>
  res.server(await startHttpsServer({ cert: certs[which].cert, key: certs[which].key, ...options }));
const trusting = (options = {}) => res.pool({ ...options, tls: { ca: certs.ca.cert, ...(options.tls || {}) } });

async function rejection(promise) {
  const outcome = await settle(promise);
  if (outcome.status !== 'rejected') {
    throw new Error(`expected a rejection, got status ${outcome.value && outcome.value.statusCode}`);
  }
  return outcome.reason;
}

// --- trust -------------------------------------------------------------------

describe('trust', () => {
  test.each([
    ['a string', () => certs.ca.cert],
    ['a Buffer', () => Buffer.from(certs.ca.cert)],
    ['an array of an unrelated CA and the CA', () => [certs.otherCa.cert, Buffer.from(certs.ca.cert)]],
  ])('GETs over https when tls.ca is %s', async (_, ca) => {
    const srv = await serve();
    const pool = res.pool({ tls: { ca: ca() } });
    const r = await pool.execute(srv.url('/hello'));
    expect(r.statusCode).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ url: '/hello', method: 'GET', connection: 0 });
    expect(srv.tls).toHaveLength(1);
    expect(pool.getMetrics().tlsHandshakes).toBe(1);
  });

  test('rejects a CA it does not trust with ERR_POOL_TLS "unable to get local issuer certificate"', async () => {
    const srv = await serve();
    const pool = res.pool(); // the default trust: Node's root certificates only
    const err = await rejection(pool.execute(srv.url()));
    expect(err.code).toBe('ERR_POOL_TLS');
    expect(err.reason).toBe('unable to get local issuer certificate');
    expect(srv.requests).toHaveLength(0);
  });

  test('tls.ca replaces the default trust: a CA that did not sign the leaf is refused', async () => {
    const srv = await serve();
    const pool = res.pool({ tls: { ca: certs.otherCa.cert } });
    const err = await rejection(pool.execute(srv.url()));
    expect(err.code).toBe('ERR_POOL_TLS');
    expect(err.reason).toBe('unable to get local issuer certificate');
  });

  test.each([
    ['a name it does not carry', 'localhost', 'hostname mismatch'],
    ['an IP address it does not carry', '127.0.0.1', 'IP address mismatch'],
  ])('rejects a certificate for %s', async (_, host, reason) => {
    const srv = await serve('wrongHost');
    const pool = trusting();
    const err = await rejection(pool.execute(srv.url('/', host)));
    expect(err.code).toBe('ERR_POOL_TLS');
    expect(err.reason).toBe(reason);
    expect(srv.requests).toHaveLength(0);
  });

  test('rejects an expired certificate with "certificate has expired"', async () => {
    const srv = await serve('expired');
    const pool = trusting();
    const err = await rejection(pool.execute(srv.url()));
    expect(err.code).toBe('ERR_POOL_TLS');
    expect(err.reason).toBe('certificate has expired');
  });

  test('rejects a self-signed certificate with "self-signed certificate"', async () => {
    const srv = await serve('selfSigned');
    const pool = trusting();
    const err = await rejection(pool.execute(srv.url()));
    expect(err.code).toBe('ERR_POOL_TLS');
    expect(err.reason).toMatch(/^self[- ]signed certificate$/);
  });

  test.each([
    ['an unknown CA', 'leaf', '127.0.0.1'],
    ['a wrong host name', 'wrongHost', 'localhost'],
    ['an expired certificate', 'expired', '127.0.0.1'],
    ['a self-signed certificate', 'selfSigned', '127.0.0.1'],
  ])('accepts %s with rejectUnauthorized: false', async (_, which, host) => {
    const srv = await serve(which);
    const pool = res.pool({ tls: { rejectUnauthorized: false } });
    const r = await pool.execute(srv.url('/', host));
    expect(r.statusCode).toBe(200);
    expect(srv.requests).toHaveLength(1);
  });

  test('stays usable after a TLS failure: the same origin succeeds once its certificate is fixed', async () => {
    const srv = await serve('selfSigned');
    const pool = trusting();
    const err = await rejection(pool.execute(srv.url()));
    expect(err.code).toBe('ERR_POOL_TLS');
    srv.server.setSecureContext({ cert: certs.leaf.cert, key: certs.leaf.key });
    const first = await pool.execute(srv.url('/a'));
    const second = await pool.execute(srv.url('/b'));
    expect([first.statusCode, second.statusCode]).toEqual([200, 200]);
    expect(second.reused).toBe(true);
    const m = pool.getMetrics();
    expect(m.failedRequests).toBe(1);
    expect(m.completedRequests).toBe(2);
    expect(m.socketLeaks).toBe(0);
  });

  // NODE_EXTRA_CA_CERTS is read when the process starts, so each case runs in
  // its own child process; the server runs here.
  function runChild(url, extraCaPath) {
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    if (extraCaPath) env.NODE_EXTRA_CA_CERTS = extraCaPath;
    const script = `
      const { ConnectionPoolCore } = require(${JSON.stringify(ROOT)});
      const pool = new ConnectionPoolCore({ timeout: 5000 });
      pool.execute(process.argv[1]).then(
        (r) => ({ status: r.statusCode }),
        (e) => ({ code: e.code, reason: e.reason }),
      ).then((out) => { pool.destroy(); process.stdout.write(JSON.stringify(out)); });
    `;
    return new Promise((resolve, reject) => {
      execFile(process.execPath, ['-e', script, url], { env, timeout: 10000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`child failed: ${err.message}\n${stderr}`));
        else resolve(JSON.parse(stdout));
      });
    });
  }

  test('trusts NODE_EXTRA_CA_CERTS by default, and only with it', async () => {
    const srv = await serve();
    const caFile = writePemFile(certs.ca.cert, 'test-ca.pem');
    res.defer(() => caFile.remove());
    const [withExtra, without] = await Promise.all([
      runChild(srv.url('/extra'), caFile.path),
      runChild(srv.url('/plain')),
    ]);
    expect(withExtra).toEqual({ status: 200 });
    expect(without).toEqual({ code: 'ERR_POOL_TLS', reason: 'unable to get local issuer certificate' });
    expect(srv.requests.map((r) => r.url)).toEqual(['/extra']);
  });
});

// --- names, protocol ------------------------------------------------------------

describe('SNI, servername, ALPN and protocol versions', () => {
  test('sends SNI "localhost" for a host name and verifies the name', async () => {
    const srv = await serve();
    const pool = trusting();
    const r = await pool.execute(srv.url('/', 'localhost'));
    expect(r.statusCode).toBe(200);
    expect(srv.tls[0].servername).toBe('localhost');
  });

  test('sends no SNI for an IP literal and verifies the IP against the SAN', async () => {
    const srv = await serve();
    const pool = trusting();
    const r = await pool.execute(srv.url('/', '127.0.0.1'));
    expect(r.statusCode).toBe(200);
    expect(srv.tls[0].servername).toBe(false);
  });

  test('tls.servername overrides the name sent as SNI and the name verified', async () => {
    const srv = await serve('wrongHost');
    const pool = trusting({ tls: { servername: 'other.example' } });
    const r = await pool.execute(srv.url('/', '127.0.0.1'));
    expect(r.statusCode).toBe(200);
    expect(srv.tls[0].servername).toBe('other.example');
  });

  test('a servername the certificate does not carry is a hostname mismatch', async () => {
    const srv = await serve();
    const pool = trusting({ tls: { servername: 'other.example' } });
    const err = await rejection(pool.execute(srv.url()));
    expect(err.code).toBe('ERR_POOL_TLS');
    expect(err.reason).toBe('hostname mismatch');
    expect(srv.tls).toHaveLength(0);
  });

  test('offers ALPN http/1.1 and negotiates TLS 1.3 with a default server', async () => {
    const srv = await serve();
    const pool = trusting();
    await pool.execute(srv.url());
    expect(srv.tls[0]).toMatchObject({ alpn: 'http/1.1', protocol: 'TLSv1.3' });
  });

  test('speaks TLS 1.2 to a server that stops there', async () => {
    const srv = await serve('leaf', { maxVersion: 'TLSv1.2' });
    const pool = trusting();
    const r = await pool.execute(srv.url());
    expect(r.statusCode).toBe(200);
    expect(srv.tls[0].protocol).toBe('TLSv1.2');
  });

  test('minVersion TLSv1.3 refuses a TLS 1.2 server with ERR_POOL_TLS', async () => {
    const srv = await serve('leaf', { maxVersion: 'TLSv1.2' });
    const pool = trusting({ tls: { minVersion: 'TLSv1.3' } });
    const err = await rejection(pool.execute(srv.url()));
    expect(err.code).toBe('ERR_POOL_TLS');
    expect(err.reason).toBe('tlsv1 alert protocol version');
    expect(srv.requests).toHaveLength(0);
  });
});

// --- mutual TLS ---------------------------------------------------------------------

describe('mutual TLS', () => {
  const mtls = () => serve('leaf', { ca: certs.ca.cert, requestCert: true, rejectUnauthorized: true });

  // TLS 1.3: the client's handshake is done before the server checks its
  // certificate, so the refusal arrives as an alert after the request was sent.
  test.each([
    ['TLS 1.3', 'TLSv1.3', 'tlsv13 alert certificate required'],
    ['TLS 1.2', 'TLSv1.2', 'sslv3 alert handshake failure'],
  ])('without a client certificate the request fails with ERR_POOL_TLS (%s)', async (_, maxVersion, reason) => {
    const srv = await serve('leaf', { ca: certs.ca.cert, requestCert: true, rejectUnauthorized: true, maxVersion });
    const pool = trusting();
    const err = await rejection(pool.execute(srv.url()));
    expect(err.code).toBe('ERR_POOL_TLS');
    expect(err.reason).toBe(reason);
    expect(srv.requests).toHaveLength(0);
    await waitFor(() => srv.tlsErrors.length === 1, { label: 'the server to refuse the handshake' });
    expect(pool.getMetrics().failedRequests).toBe(1);
  });

  test('with tls.cert and tls.key the server sees the client certificate', async () => {
    const srv = await mtls();
    const pool = trusting({ tls: { cert: certs.client.cert, key: certs.client.key } });
    const r = await pool.execute(srv.url());
    expect(r.statusCode).toBe(200);
    expect(srv.tls[0]).toMatchObject({ authorized: true, peer: { subjectCN: certs.clientCommonName, issuerCN: 'cpc test CA' } });
    expect(JSON.parse(r.body).peer.subjectCN).toBe(certs.clientCommonName);
  });

  test('with tls.cert and tls.key as Buffers it works over TLS 1.2 too', async () => {
    const srv = await serve('leaf', { ca: certs.ca.cert, requestCert: true, rejectUnauthorized: true, maxVersion: 'TLSv1.2' });
    const pool = trusting({ tls: { cert: Buffer.from(certs.client.cert), key: Buffer.from(certs.client.key) } });
    const r = await pool.execute(srv.url());
    expect(r.statusCode).toBe(200);
    expect(srv.tls[0]).toMatchObject({ protocol: 'TLSv1.2', authorized: true, peer: { subjectCN: certs.clientCommonName } });
  });
});

// --- sessions ------------------------------------------------------------------------

describe('session resumption', () => {
  // `count` requests, each on a new TLS connection; returns what the server
  // saw: isSessionReused() per connection.
  async function freshConnections(pool, srv, count = 3) {
    for (let i = 0; i < count; i++) {
      const r = await pool.execute(srv.url(`/r${i}`));
      expect(r.statusCode).toBe(200);
      expect(r.reused).toBe(false);
    }
    expect(srv.tcpConnections).toBe(count);
    return srv.tls.map((t) => t.reused);
  }

  test('a second socket to a known origin resumes (keepAlive: false, TLS 1.3 ticket)', async () => {
    const srv = await serve();
    const pool = trusting({ keepAlive: false });
    expect(await freshConnections(pool, srv, 2)).toEqual([false, true]);
    const m = pool.getMetrics();
    expect(m.tlsHandshakes).toBe(2);
    expect(m.tlsResumed).toBe(1);
  });

  test('a socket recycled by maxRequestsPerSocket: 1 is replaced by a resumed one', async () => {
    const srv = await serve();
    const pool = trusting({ maxRequestsPerSocket: 1 });
    expect(await freshConnections(pool, srv, 2)).toEqual([false, true]);
    expect(pool.getMetrics().tlsResumed).toBe(1);
  });

  // A Node (OpenSSL) TLS 1.3 server sends two tickets after a full handshake
  // and none after a resumed one; https.Agent then resumes every connection.
  test('every later socket resumes, as with https.Agent, from a TLS 1.3 server that sends no ticket on resumption', async () => {
    const srv = await serve();
    const pool = trusting({ keepAlive: false });
    expect(await freshConnections(pool, srv, 4)).toEqual([false, true, true, true]);
    expect(pool.getMetrics().tlsResumed).toBe(3);
  });

  test('resumes over TLS 1.2 with session tickets', async () => {
    const srv = await serve('leaf', { maxVersion: 'TLSv1.2' });
    const pool = trusting({ keepAlive: false });
    expect(await freshConnections(pool, srv)).toEqual([false, true, true]);
    expect(pool.getMetrics().tlsResumed).toBe(2);
  });

  test('resumes over TLS 1.2 with session IDs when the server issues no tickets', async () => {
    const srv = await serve('leaf', {
      maxVersion: 'TLSv1.2',
      secureOptions: crypto.constants.SSL_OP_NO_TICKET,
      sessionIdCache: true,
    });
    const pool = trusting({ keepAlive: false });
    expect(await freshConnections(pool, srv)).toEqual([false, true, true]);
    expect(pool.getMetrics().tlsResumed).toBe(2);
  });

  test('sessionCache: false never resumes', async () => {
    const srv = await serve();
    const pool = trusting({ keepAlive: false, tls: { sessionCache: false } });
    expect(await freshConnections(pool, srv)).toEqual([false, false, false]);
    const m = pool.getMetrics();
    expect(m.tlsHandshakes).toBe(3);
    expect(m.tlsResumed).toBe(0);
  });

  // Resuming skips certificate verification, so a session a lax pool made
  // must never let a verifying pool in.
  test('a session made without verification is not offered by a pool that verifies', async () => {
    const srv = await serve('selfSigned');
    const lax = res.pool({ keepAlive: false, tls: { rejectUnauthorized: false } });
    const strict = trusting({ keepAlive: false });
    expect((await lax.execute(srv.url())).statusCode).toBe(200);
    expect((await lax.execute(srv.url())).statusCode).toBe(200);
    const err = await rejection(strict.execute(srv.url()));
    expect(err.code).toBe('ERR_POOL_TLS');
    expect(err.reason).toMatch(/^self[- ]signed certificate$/);
    expect(srv.tls.map((t) => t.reused)).toEqual([false, true]);
    expect(strict.getMetrics().tlsResumed).toBe(0);
  });
});

// --- keep-alive and bodies ---------------------------------------------------------------

describe('keep-alive and bodies over TLS', () => {
  test('serves 50 sequential requests on one TLS connection', async () => {
    const srv = await serve();
    const pool = trusting();
    const reused = [];
    for (let i = 0; i < 50; i++) {
      const r = await pool.execute(srv.url(`/seq${i}`));
      expect(r.statusCode).toBe(200);
      reused.push(r.reused);
    }
    expect(srv.tcpConnections).toBe(1);
    expect(srv.tls).toHaveLength(1);
    expect(new Set(srv.requests.map((r) => r.connection))).toEqual(new Set([0]));
    expect(reused.filter(Boolean)).toHaveLength(49);
    const m = pool.getMetrics();
    expect(m.tlsHandshakes).toBe(1);
    expect(m.reusedConnections).toBe(49);
  });

  test('reads a 1 MiB body intact', async () => {
    const big = crypto.randomBytes(1024 * 1024);
    const srv = await serve('leaf', {
      routes: {
        '/big': (req, r) => {
          r.writeHead(200, { 'content-length': big.length });
          r.end(big);
        },
      },
    });
    const pool = trusting();
    const r = await pool.execute(srv.url('/big'));
    expect(r.body.length).toBe(big.length);
    expect(r.body.equals(big)).toBe(true);
    // and the socket is fit for the next request
    const next = await pool.execute(srv.url('/after'));
    expect(next.reused).toBe(true);
  });

  test('de-chunks a 1 MiB chunked body written in uneven pieces', async () => {
    const big = crypto.randomBytes(1024 * 1024);
    const srv = await serve('leaf', {
      routes: {
        '/chunked': (req, r) => {
          r.writeHead(200, { 'content-type': 'application/octet-stream' });
          let pos = 0;
          let size = 1;
          while (pos < big.length) {
            r.write(big.subarray(pos, pos + size));
            pos += size;
            size = Math.min(size * 3 + 7, 100000);
          }
          r.end();
        },
      },
    });
    const pool = trusting();
    const r = await pool.execute(srv.url('/chunked'));
    expect(r.headers['transfer-encoding']).toBe('chunked');
    expect(r.body.equals(big)).toBe(true);
    const next = await pool.execute(srv.url('/after'));
    expect(next.reused).toBe(true);
  });

  test('sends a 1 MiB request body intact', async () => {
    const big = crypto.randomBytes(1024 * 1024);
    const srv = await serve('leaf', {
      routes: {
        '/upload': (req, r, body) => r.end(crypto.createHash('sha256').update(body).digest('hex')),
      },
    });
    const pool = trusting();
    const r = await pool.execute(srv.url('/upload'), { method: 'POST', body: big });
    expect(r.body.toString()).toBe(crypto.createHash('sha256').update(big).digest('hex'));
    expect(srv.requests[0].body.length).toBe(big.length);
  });

  test('serves concurrent requests on several TLS sockets', async () => {
    const srv = await serve();
    const pool = trusting({ maxSockets: 4 });
    const all = await Promise.all(Array.from({ length: 40 }, (_, i) => pool.execute(srv.url(`/c${i}`))));
    expect(all.every((r) => r.statusCode === 200)).toBe(true);
    expect(srv.tls.length).toBeGreaterThanOrEqual(1);
    expect(srv.tls.length).toBeLessThanOrEqual(4);
    expect(pool.getMetrics().tlsHandshakes).toBe(srv.tls.length);
  });
});

// --- connecting and closing ---------------------------------------------------------------

describe('handshake timeout and connection ends', () => {
  test('a server that never answers the ClientHello fails with ERR_POOL_CONNECT_TIMEOUT: connectTimeout covers the handshake', async () => {
    // Accepts TCP and reads (so it sees the client's FIN), never says a word.
    const srv = res.server(await startRawServer((socket) => socket.resume()));
    const pool = res.pool({ connectTimeout: 300 });
    const rec = recordEvents(pool, ['socket:created', 'socket:error']);
    const err = await rejection(pool.execute(`https://127.0.0.1:${srv.port}/`));
    expect(err.code).toBe('ERR_POOL_CONNECT_TIMEOUT');
    // The TCP connect succeeded and a ClientHello was sent (the server reads
    // it, possibly after the rejection on a loaded machine), yet no socket
    // was ever created: the connect timeout covered the TLS handshake.
    await waitFor(() => srv.connections.length === 1 && srv.bytesRead > 0, { label: 'the ClientHello to reach the server' });
    expect(srv.connections).toHaveLength(1);
    expect(rec.of('socket:created')).toEqual([]);
    expect(rec.of('socket:error').map((e) => e.error.code)).toEqual(['ERR_POOL_CONNECT_TIMEOUT']);
    expect(pool.getMetrics().timedOutConnections).toBe(1);
  });

  test('a server that closes TCP without close_notify after a complete response is not an error', async () => {
    const srv = res.server(
      await startBareTlsServer(certs.leaf, (req, tlsSocket, tcp) => {
        tlsSocket.write(response({ body: `complete ${req.path}` }), () => tcp.end());
      }),
    );
    const pool = trusting();
    const rec = recordEvents(pool, ['socket:closed', 'socket:error']);
    const first = await pool.execute(srv.url('/one'));
    expect(first.statusCode).toBe(200);
    expect(first.body.toString()).toBe('complete /one');
    await waitFor(() => rec.of('socket:closed').length === 1, { label: 'the pool to close the socket the server ended' });
    expect(rec.of('socket:closed')[0].reason).toBe('server-closed');
    expect(rec.of('socket:error')).toEqual([]);
    const second = await pool.execute(srv.url('/two'));
    expect(second.body.toString()).toBe('complete /two');
    expect(second.reused).toBe(false);
    expect(pool.getMetrics().failedRequests).toBe(0);
  });

  test('a body delimited by the close ends at a FIN without close_notify', async () => {
    const srv = res.server(
      await startBareTlsServer(certs.leaf, (req, tlsSocket, tcp) => {
        tlsSocket.write(response({ headers: { Connection: 'close' }, body: 'until the end', noLength: true }), () => tcp.end());
      }),
    );
    const pool = trusting();
    const r = await pool.execute(srv.url());
    expect(r.statusCode).toBe(200);
    expect(r.body.toString()).toBe('until the end');
  });

  test('a body truncated by a FIN over TLS fails with ERR_POOL_SOCKET_CLOSED', async () => {
    const srv = res.server(
      await startBareTlsServer(certs.leaf, (req, tlsSocket, tcp) => {
        tlsSocket.write(response({ headers: { 'Content-Length': '100' }, body: 'only ten b' }), () => tcp.end());
      }),
    );
    const pool = trusting();
    const err = await rejection(pool.execute(srv.url(), { method: 'POST', body: 'x' }));
    expect(err.code).toBe('ERR_POOL_SOCKET_CLOSED');
  });

  test('a body truncated by close_notify fails with ERR_POOL_SOCKET_CLOSED', async () => {
    const srv = res.server(
      await startBareTlsServer(certs.leaf, (req, tlsSocket, tcp) => {
        tlsSocket.once('finish', () => tcp.end());
        tlsSocket.end(response({ headers: { 'Content-Length': '100' }, body: 'only ten b' }));
      }),
    );
    const pool = trusting();
    const err = await rejection(pool.execute(srv.url(), { method: 'POST', body: 'x' }));
    expect(err.code).toBe('ERR_POOL_SOCKET_CLOSED');
  });

  test('warmup() opens handshaken TLS sockets that the next requests use', async () => {
    const srv = await serve();
    const pool = trusting();
    const idle = await pool.warmup(srv.url(), 3);
    expect(idle).toBe(3);
    await waitFor(() => srv.tls.length === 3, { label: 'three TLS handshakes on the server' });
    const m = pool.getMetrics();
    expect(m.tlsHandshakes).toBe(3);
    expect(m.idleConnections).toBe(3);
    expect(srv.requests).toHaveLength(0);
    const all = await Promise.all([1, 2, 3].map((i) => pool.execute(srv.url(`/w${i}`))));
    expect(all.map((r) => r.statusCode)).toEqual([200, 200, 200]);
    expect(srv.tcpConnections).toBe(3);
    expect(pool.getMetrics()).toMatchObject({ tlsHandshakes: 3, totalConnections: 3 });
  });

  test('close() ends idle TLS sockets and the server sees every connection closed', async () => {
    const srv = await serve();
    const pool = trusting();
    await Promise.all([pool.execute(srv.url('/a')), pool.execute(srv.url('/b'))]);
    expect(srv.openConnections).toBeGreaterThanOrEqual(1);
    await pool.close();
    const m = pool.getMetrics();
    expect(m.activeConnections + m.idleConnections).toBe(0);
    await waitFor(() => srv.openConnections === 0, { label: 'the server to see every TLS connection closed' });
  });
});

// --- the idle-socket race over TLS ---------------------------------------------
// A server that ends an idle keep-alive TLS socket sends close_notify, then a
// FIN. If those bytes are already in the client's receive buffer when the
// next request picks the socket, it must be dropped (as any byte on an idle
// plain socket is), not reused: a POST sent on it would be lost.
describe('an idle TLS socket the server has ended', () => {
  // Answers every request; `conns[i]` is the server's end of connection i.
  async function endableServer() {
    const conns = [];
    const srv = res.server(
      await startBareTlsServer(certs.leaf, (req, tlsSocket, tcp) => {
        conns[req.connection] = { tlsSocket, tcp };
        tlsSocket.write(response({ body: `conn-${req.connection} ${req.method} ${req.path}` }));
      }),
    );
    return { srv, conns };
  }

  // Runs inside the continuation of the first response, which the pool
  // settles from its read callback: the loop has not polled the idle socket
  // since. Ends the server's TLS socket (close_notify) and returns once the
  // alert is in the kernel — Node writes it from later ticks, which all run
  // before the loop polls again — then ends its TCP socket (the FIN goes
  // out when the loop next runs).
  async function endWithoutPolling({ tlsSocket, tcp }) {
    const before = tcp.bytesWritten;
    tlsSocket.end();
    for (let i = 0; i < 100 && !(tcp.bytesWritten > before && tcp.writableLength === 0); i++) {
      await new Promise((resolve) => process.nextTick(resolve));
    }
    expect(tcp.bytesWritten).toBeGreaterThan(before);
    expect(tcp.writableLength).toBe(0);
    tcp.end();
  }

  test.each(['GET', 'POST'])('sends the next %s once, on a fresh socket', async (method) => {
    const { srv, conns } = await endableServer();
    const pool = trusting();
    const rec = recordEvents(pool, ['socket:closed']);
    const first = await pool.execute(srv.url('/warm'));
    expect(first.body.toString()).toBe('conn-0 GET /warm');
    await endWithoutPolling(conns[0]);
    // The race is real: the pool has not yet seen the alert.
    expect(pool.getMetrics().idleConnections).toBe(1);
    expect(rec.of('socket:closed')).toEqual([]);
    const r = await pool.execute(srv.url('/next'), method === 'POST' ? { method, body: 'once' } : { method });
    expect(r.statusCode).toBe(200);
    expect(r.body.toString()).toBe(`conn-1 ${method} /next`);
    expect(r.reused).toBe(false);
    expect(srv.requests.filter((q) => q.path === '/next').length).toBe(1);
    expect(srv.connections.length).toBe(2);
    expect(rec.of('socket:closed').map((e) => e.reason)).toEqual(['server-closed']);
  });
});
