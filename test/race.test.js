'use strict';

// The idle-socket race (API.md): a server may close a keep-alive socket just
// as the pool reuses it. A request that failed on a *reused* socket before any
// response byte arrived is retried once on a fresh socket when its method is
// idempotent (GET, HEAD, OPTIONS, PUT, DELETE); a POST is never sent twice.
// Servers count what they received, so "at most once" is checked on the wire.

const { createResources } = require('./helpers/resources');
const {
  startRequestServer,
  response,
  answerThenClose,
  answerThenReset,
} = require('./helpers/raw-server');
const { waitFor } = require('./helpers/wait');

const res = createResources();
afterEach(async () => {
  expect(await res.cleanup()).toEqual([]);
});

const CLOSED_CODES = ['ERR_POOL_SOCKET_CLOSED', 'ECONNRESET', 'EPIPE'];

function kill(socket, how) {
  if (how === 'RST') socket.resetAndDestroy();
  else socket.end();
}

// Answers the first request on every connection; closes the connection (FIN
// or RST) as soon as a second request arrives on it, without answering.
async function closesOnSecondRequest(how) {
  return res.server(await startRequestServer((req, socket) => {
    if (req.indexOnConnection === 0) socket.write(response({ body: `conn-${req.connection}` }));
    else kill(socket, how);
  }));
}

const count = (srv, method) => srv.requests.filter((r) => r.method === method).length;

async function warm(pool, srv) {
  const first = await pool.execute(srv.url('/warm'));
  expect(first.body.toString()).toBe('conn-0');
  await waitFor(() => pool.getMetrics().idleConnections === 1, { label: 'the socket idle' });
}

describe('idempotent requests are retried once', () => {
  test.each(['FIN', 'RST'])('retries a GET on a fresh socket when the server closes the reused one with %s', async (how) => {
    const srv = await closesOnSecondRequest(how);
    const pool = res.pool();
    await warm(pool, srv);
    const r = await pool.execute(srv.url('/again'));
    expect(r.statusCode).toBe(200);
    expect(r.body.toString()).toBe('conn-1');
    expect(count(srv, 'GET')).toBe(3); // warm-up, the failed attempt, the retry
    expect(srv.connections.length).toBe(2);
  });

  test.each(['HEAD', 'OPTIONS', 'PUT', 'DELETE'])('retries a %s the same way', async (method) => {
    const srv = await closesOnSecondRequest('FIN');
    const pool = res.pool();
    await warm(pool, srv);
    const body = method === 'PUT' ? 'replayed body' : undefined;
    const r = await pool.execute(srv.url('/again'), { method, body });
    expect(r.statusCode).toBe(200);
    expect(count(srv, method)).toBe(2);
    const last = srv.requests[srv.requests.length - 1];
    expect(last.connection).toBe(1);
    if (body) expect(last.body.toString()).toBe(body);
  });

  test('retries only once: a GET that also fails on the fresh socket rejects', async () => {
    let served = 0;
    const srv = res.server(await startRequestServer((req, socket) => {
      served += 1;
      if (served === 1) socket.write(response({ body: 'conn-0' }));
      else socket.end();
    }));
    const pool = res.pool();
    await warm(pool, srv);
    const err = await pool.execute(srv.url('/again')).catch((e) => e);
    expect(CLOSED_CODES).toContain(err.code);
    expect(count(srv, 'GET')).toBe(3); // warm-up, the reused attempt, one retry
  });

  test('does not retry a GET that failed on a fresh socket', async () => {
    const srv = res.server(await startRequestServer((req, socket) => socket.end()));
    const pool = res.pool();
    const err = await pool.execute(srv.url()).catch((e) => e);
    expect(CLOSED_CODES).toContain(err.code);
    expect(count(srv, 'GET')).toBe(1);
  });

  test('does not retry a GET once a response byte has arrived', async () => {
    const srv = res.server(await startRequestServer((req, socket) => {
      if (req.indexOnConnection === 0) socket.write(response({ body: 'conn-0' }));
      else socket.end('HTTP/1.1 200 OK\r\nContent-Le');
    }));
    const pool = res.pool();
    await warm(pool, srv);
    const err = await pool.execute(srv.url('/again')).catch((e) => e);
    expect(err.code).toBe('ERR_POOL_SOCKET_CLOSED');
    expect(count(srv, 'GET')).toBe(2);
  });
});

describe('non-idempotent requests are never sent twice', () => {
  test.each(['FIN', 'RST'])('rejects a POST whose reused socket the server closed with %s', async (how) => {
    const srv = await closesOnSecondRequest(how);
    const pool = res.pool();
    await warm(pool, srv);
    const err = await pool.execute(srv.url('/post'), { method: 'POST', body: 'pay once' }).catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(CLOSED_CODES).toContain(err.code);
    expect(count(srv, 'POST')).toBe(1);
    expect(srv.connections.length).toBe(1);
  });

  test('rejects a PATCH on the closed reused socket without sending it again', async () => {
    const srv = await closesOnSecondRequest('FIN');
    const pool = res.pool();
    await warm(pool, srv);
    const err = await pool.execute(srv.url('/patch'), { method: 'PATCH', body: 'x' }).catch((e) => e);
    expect(CLOSED_CODES).toContain(err.code);
    expect(count(srv, 'PATCH')).toBe(1);
  });
});

describe('servers that close idle sockets right after responding', () => {
  test('serves 20 sequential GETs when the server sends FIN after every response', async () => {
    const srv = res.server(await startRequestServer(answerThenClose(response({ body: 'ok' }))));
    const pool = res.pool();
    for (let i = 0; i < 20; i++) {
      const r = await pool.execute(srv.url(`/g${i}`));
      expect(r.body.toString()).toBe('ok');
    }
    expect(count(srv, 'GET')).toBeGreaterThanOrEqual(20);
  });

  test('serves 20 sequential GETs when the server resets after every response', async () => {
    const srv = res.server(await startRequestServer(answerThenReset(response({ body: 'ok' }))));
    const pool = res.pool();
    for (let i = 0; i < 20; i++) {
      const r = await pool.execute(srv.url(`/g${i}`));
      expect(r.body.toString()).toBe('ok');
    }
  });

  test('drops an idle socket whose FIN already arrived instead of sending a POST on it', async () => {
    const srv = res.server(await startRequestServer(answerThenClose(response({ body: 'ok' }))));
    const pool = res.pool();
    for (let i = 0; i < 20; i++) {
      await pool.execute(srv.url(`/get${i}`));
      // The FIN left the server with the response; the POST follows at once.
      const r = await pool.execute(srv.url(`/post${i}`), { method: 'POST', body: `p${i}` });
      expect(r.statusCode).toBe(200);
    }
    expect(count(srv, 'POST')).toBe(20);
  });

  test('closes an idle socket on FIN as server-closed before the next request', async () => {
    const srv = res.server(await startRequestServer(answerThenClose(response({ body: 'ok' }))));
    const pool = res.pool();
    const closed = waitFor(pool, 'socket:closed');
    await pool.execute(srv.url());
    expect((await closed).reason).toBe('server-closed');
    const r = await pool.execute(srv.url(), { method: 'POST', body: 'x' });
    expect(r.reused).toBe(false);
    expect(count(srv, 'POST')).toBe(1);
  });
});
