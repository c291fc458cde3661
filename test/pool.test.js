'use strict';

// Pool behaviour: reuse, scheduling, the socket limits, idle expiry and the
// server's Keep-Alive hint, recycling, keepAlive: false, the wait queue, and
// idle sockets that receive bytes.

const { createResources } = require('./helpers/resources');
const { startHttpServer } = require('./helpers/http-server');
const { startRequestServer, response, neverAnswer, sendUnsolicited } = require('./helpers/raw-server');
const { waitFor, recordEvents } = require('./helpers/wait');

const res = createResources();
afterEach(async () => {
  expect(await res.cleanup()).toEqual([]);
});

async function numberedServer(headers = {}) {
  let n = 0;
  return res.server(await startRequestServer((req, socket) => {
    n += 1;
    socket.write(response({ headers, body: `resp-${n}` }));
  }));
}

const idleCount = (pool) => pool.getMetrics().idleConnections;

describe('reuse', () => {
  test('serves 200 sequential GETs over one connection', async () => {
    const srv = res.server(await startHttpServer());
    const pool = res.pool();
    for (let i = 0; i < 200; i++) {
      const r = await pool.execute(srv.url(`/seq/${i}`));
      expect(r.statusCode).toBe(200);
    }
    expect(srv.connectionCount).toBe(1);
    const m = pool.getMetrics();
    expect(m.newConnections).toBe(1);
    expect(m.reusedConnections).toBe(199);
    expect(m.totalConnections).toBe(1);
  });

  test('reuses the idle socket for the second GET', async () => {
    const srv = await numberedServer();
    const pool = res.pool();
    const first = await pool.execute(srv.url());
    const second = await pool.execute(srv.url());
    expect(first.reused).toBe(false);
    expect(second.reused).toBe(true);
    expect(srv.requests[1].connection).toBe(0);
  });
});

describe('scheduling', () => {
  // Opens three sockets, makes them idle in a known order (r0's first, r2's
  // last), and returns the client ports of those sockets in that order.
  async function threeIdleSockets(srv, pool) {
    srv.hold();
    const pending = [0, 1, 2].map((i) => pool.execute(srv.url(`/r${i}`)));
    await waitFor(() => srv.held.length === 3, { label: 'three requests held on three sockets' });
    for (let i = 0; i < 3; i++) {
      srv.releaseWhere((req) => req.url === `/r${i}`);
      await pending[i];
    }
    srv.release();
    await waitFor(() => idleCount(pool) === 3, { label: 'three idle sockets' });
    return [0, 1, 2].map((i) => srv.requests.find((r) => r.url === `/r${i}`).remotePort);
  }

  async function nextPorts(srv, pool, n) {
    const ports = [];
    for (let i = 0; i < n; i++) {
      const r = await pool.execute(srv.url('/echo'));
      ports.push(JSON.parse(r.body).remotePort);
      await waitFor(() => idleCount(pool) === 3, { label: 'the socket back in the free list' });
    }
    return ports;
  }

  test('lifo reuses the most recently released socket every time', async () => {
    const srv = res.server(await startHttpServer());
    const pool = res.pool({ scheduling: 'lifo' });
    const [, , hottest] = await threeIdleSockets(srv, pool);
    expect(await nextPorts(srv, pool, 3)).toEqual([hottest, hottest, hottest]);
    expect(srv.connectionCount).toBe(3);
  });

  test('lifo is the default scheduling', async () => {
    const srv = res.server(await startHttpServer());
    const pool = res.pool();
    const [, , hottest] = await threeIdleSockets(srv, pool);
    expect(await nextPorts(srv, pool, 2)).toEqual([hottest, hottest]);
  });

  test('fifo reuses the idle sockets oldest first, in rotation', async () => {
    const srv = res.server(await startHttpServer());
    const pool = res.pool({ scheduling: 'fifo' });
    const ports = await threeIdleSockets(srv, pool);
    expect(await nextPorts(srv, pool, 3)).toEqual(ports);
    expect(srv.connectionCount).toBe(3);
  });
});

describe('socket limits', () => {
  test('opens at most maxSockets connections for 10 concurrent requests', async () => {
    const srv = res.server(await startHttpServer());
    const pool = res.pool({ maxSockets: 2 });
    srv.hold();
    const all = Array.from({ length: 10 }, (_, i) => pool.execute(srv.url(`/c${i}`)));
    await waitFor(() => srv.held.length === 2, { label: 'two requests held' });
    expect(srv.requests.length).toBe(2);
    expect(pool.getMetrics().activeConnections).toBe(2);
    srv.release();
    const results = await Promise.all(all);
    expect(results.every((r) => r.statusCode === 200)).toBe(true);
    expect(srv.maxOpenConnections).toBe(2);
    expect(srv.connectionCount).toBe(2);
    expect(pool.getMetrics().totalConnections).toBe(2);
  });

  test('serves queued requests in the order they were made', async () => {
    const srv = res.server(await startHttpServer());
    const pool = res.pool({ maxSockets: 1 });
    srv.hold();
    const first = pool.execute(srv.url('/q0'));
    await waitFor(() => srv.held.length === 1, { label: 'the first request held' });
    const rest = [1, 2, 3, 4].map((i) => pool.execute(srv.url(`/q${i}`)));
    srv.release();
    await Promise.all([first, ...rest]);
    expect(srv.requests.map((r) => r.url)).toEqual(['/q0', '/q1', '/q2', '/q3', '/q4']);
  });

  test('keeps at most maxFreeSockets idle after a burst and closes the rest as max-free', async () => {
    const srv = res.server(await startHttpServer());
    const pool = res.pool({ maxFreeSockets: 2 });
    const rec = recordEvents(pool, ['socket:closed']);
    srv.hold();
    const burst = Array.from({ length: 5 }, (_, i) => pool.execute(srv.url(`/b${i}`)));
    await waitFor(() => srv.held.length === 5, { label: 'five requests held on five sockets' });
    srv.release();
    await Promise.all(burst);
    await waitFor(() => rec.of('socket:closed').length >= 3, { label: 'three sockets closed' });
    expect(rec.of('socket:closed').map((e) => e.reason)).toEqual(['max-free', 'max-free', 'max-free']);
    await waitFor(() => idleCount(pool) === 2, { label: 'two idle sockets' });
    await waitFor(() => srv.openConnections === 2, { label: 'the server to see three sockets closed' });
    expect(pool.getMetrics().origins[srv.origin]).toMatchObject({ idle: 2, active: 0 });
  });

  test('keeps the sockets of all origins within maxTotalSockets', async () => {
    const a = res.server(await startHttpServer());
    const b = res.server(await startHttpServer());
    const pool = res.pool({ maxTotalSockets: 2, freeSocketTimeout: 500, cleanupPeriodMs: 50 });
    a.hold();
    const a1 = pool.execute(a.url('/a1'));
    const a2 = pool.execute(a.url('/a2'));
    await waitFor(() => a.held.length === 2, { label: 'two requests held on origin a' });
    const b1 = pool.execute(b.url('/b1'));
    a.releaseWhere((r) => r.url === '/a1');
    await a1;
    const r = await b1;
    expect(r.statusCode).toBe(200);
    const m = pool.getMetrics();
    const open = Object.values(m.origins).reduce((sum, o) => sum + o.active + o.idle, 0);
    expect(open).toBeLessThanOrEqual(2);
    a.release();
    await a2;
    expect(a.connectionCount + b.connectionCount).toBeLessThanOrEqual(3);
  });

  test('rejects beyond maxQueue with ERR_POOL_QUEUE_FULL and still serves the queued ones', async () => {
    const srv = res.server(await startHttpServer());
    const pool = res.pool({ maxSockets: 1, maxQueue: 2 });
    srv.hold();
    const first = pool.execute(srv.url('/1'));
    await waitFor(() => srv.held.length === 1, { label: 'the first request held' });
    const queued = [pool.execute(srv.url('/2')), pool.execute(srv.url('/3'))];
    await expect(pool.execute(srv.url('/4'))).rejects.toMatchObject({ code: 'ERR_POOL_QUEUE_FULL' });
    srv.release();
    const results = await Promise.all([first, ...queued]);
    expect(results.map((r) => r.statusCode)).toEqual([200, 200, 200]);
    expect(srv.requests.map((r) => r.url)).toEqual(['/1', '/2', '/3']);
  });
});

describe('idle expiry', () => {
  test('closes an idle socket after freeSocketTimeout as idle-timeout', async () => {
    const srv = await numberedServer();
    const pool = res.pool({ freeSocketTimeout: 200, cleanupPeriodMs: 50 });
    const rec = recordEvents(pool, ['socket:created', 'socket:reused', 'socket:closed']);
    await pool.execute(srv.url());
    // Not expired at once: a request made right after the first one, well
    // before the deadline, still gets the idle socket.
    const second = await pool.execute(srv.url());
    expect(second.reused).toBe(true);
    const closed = await waitFor(pool, 'socket:closed', { timeoutMs: 5000, label: 'the idle socket to expire' });
    expect(closed.reason).toBe('idle-timeout');
    // Event order: created, reused, then closed, all the same socket.
    const [created] = rec.of('socket:created');
    expect(rec.events.map((e) => [e.event, e.payload.id])).toEqual([
      ['socket:created', created.id],
      ['socket:reused', created.id],
      ['socket:closed', created.id],
    ]);
    await waitFor(() => srv.openConnections === 0, { label: 'the server to see the idle socket closed' });
    expect(idleCount(pool)).toBe(0);
    expect(srv.connections).toHaveLength(1);
  });

  test('closes the idle socket before the server\'s Keep-Alive: timeout=2 hint runs out', async () => {
    // The server does what its hint says: it closes the connection 2 s after
    // the response. Its timer starts once the client has the response (a
    // little later than a real server's, never earlier), on the same loop as
    // the pool's sweep. If the pool ignored the hint (freeSocketTimeout is
    // 30 s) or kept the socket past it, the server's FIN would come first and
    // the socket would close as server-closed.
    let n = 0;
    const srv = res.server(await startRequestServer((req, socket) => {
      n += 1;
      socket.write(response({ headers: { 'Keep-Alive': 'timeout=2', Connection: 'keep-alive' }, body: `resp-${n}` }));
    }));
    const pool = res.pool({ freeSocketTimeout: 30000, cleanupPeriodMs: 50 });
    const rec = recordEvents(pool, ['socket:closed']);
    const r = await pool.execute(srv.url());
    expect(r.headers['keep-alive']).toBe('timeout=2');
    const serverTimeout = setTimeout(() => srv.connections[0].destroyed || srv.connections[0].end(), 2000);
    res.defer(() => clearTimeout(serverTimeout));
    await waitFor(() => rec.of('socket:closed').length === 1, { timeoutMs: 5000, label: 'the idle socket to close' });
    expect(rec.of('socket:closed').map((e) => e.reason)).toEqual(['idle-timeout']);
    // The pool's FIN reached the server: it closed the socket, not the server.
    await waitFor(() => srv.openConnections === 0, { label: 'the server to see the socket closed' });
    expect(idleCount(pool)).toBe(0);
  });

  test('keeps the configured freeSocketTimeout when the Keep-Alive hint is longer', async () => {
    const srv = await numberedServer({ 'Keep-Alive': 'timeout=60' });
    const pool = res.pool({ freeSocketTimeout: 200, cleanupPeriodMs: 50 });
    await pool.execute(srv.url());
    // With the 60 s hint in charge (45 s after its margin) nothing would
    // close within this deadline; with the 200 ms freeSocketTimeout it does.
    const closed = await waitFor(pool, 'socket:closed', { timeoutMs: 5000, label: 'the idle socket to expire under freeSocketTimeout' });
    expect(closed.reason).toBe('idle-timeout');
    await waitFor(() => srv.openConnections === 0, { label: 'the server to see the idle socket closed' });
    expect(idleCount(pool)).toBe(0);
  });

  test('closes a socket past maxSocketLifetime once it is idle as lifetime', async () => {
    const srv = await numberedServer();
    const pool = res.pool({ maxSocketLifetime: 150, freeSocketTimeout: 30000, cleanupPeriodMs: 50 });
    await pool.execute(srv.url());
    const closed = await waitFor(pool, 'socket:closed', { timeoutMs: 5000 });
    expect(closed.reason).toBe('lifetime');
    const next = await pool.execute(srv.url());
    expect(next.reused).toBe(false);
  });
});

describe('recycling and keepAlive: false', () => {
  test('opens a new socket after maxRequestsPerSocket requests', async () => {
    const srv = await numberedServer();
    const pool = res.pool({ maxRequestsPerSocket: 3 });
    const rec = recordEvents(pool, ['socket:closed']);
    for (let i = 0; i < 7; i++) await pool.execute(srv.url());
    expect(srv.requests.map((r) => r.connection)).toEqual([0, 0, 0, 1, 1, 1, 2]);
    await waitFor(() => rec.of('socket:closed').length >= 2, { label: 'two recycled sockets closed' });
    expect(rec.of('socket:closed').map((e) => e.reason)).toEqual(['max-requests', 'max-requests']);
  });

  test('keepAlive: false sends Connection: close and opens one socket per request', async () => {
    const srv = await numberedServer();
    const pool = res.pool({ keepAlive: false });
    const rec = recordEvents(pool, ['socket:closed']);
    for (let i = 0; i < 3; i++) {
      const r = await pool.execute(srv.url());
      expect(r.reused).toBe(false);
    }
    expect(srv.connections.length).toBe(3);
    for (const req of srv.requests) expect(req.headers.connection.toLowerCase()).toBe('close');
    await waitFor(() => rec.of('socket:closed').length >= 3, { label: 'three sockets closed' });
    expect(rec.of('socket:closed').map((e) => e.reason)).toEqual(['no-keep-alive', 'no-keep-alive', 'no-keep-alive']);
    const m = pool.getMetrics();
    expect(m.reusedConnections).toBe(0);
    expect(m.newConnections).toBe(3);
    await waitFor(() => srv.openConnections === 0, { label: 'the server to see every socket closed' });
  });
});

describe('idle sockets that receive bytes', () => {
  test('closes an idle socket that receives unsolicited bytes; the next request gets its own answer', async () => {
    const srv = await numberedServer();
    const pool = res.pool();
    const first = await pool.execute(srv.url());
    expect(first.body.toString()).toBe('resp-1');
    await waitFor(() => idleCount(pool) === 1, { label: 'the socket idle' });
    const closed = waitFor(pool, 'socket:closed');
    sendUnsolicited(srv, 0);
    expect((await closed).reason).toBe('server-closed');
    const next = await pool.execute(srv.url());
    expect(next.body.toString()).toBe('resp-2');
    expect(next.reused).toBe(false);
    expect(srv.requests[1].connection).toBe(1);
  });

  test('never hands unsolicited bytes that already arrived to the next request', async () => {
    const srv = await numberedServer();
    const pool = res.pool();
    for (let round = 0; round < 10; round++) {
      const r = await pool.execute(srv.url(`/round/${round}`));
      expect(r.body.toString()).not.toBe('POISON');
      const conn = srv.requests[srv.requests.length - 1].connection;
      // Poison the socket and send the next request as soon as the bytes are
      // in the kernel: a pool that checks an idle socket before reuse drops it.
      await new Promise((resolve) => srv.connections[conn].write(
        'HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON',
        resolve,
      ));
      const next = await pool.execute(srv.url(`/after/${round}`));
      expect(next.body.toString()).toMatch(/^resp-\d+$/);
    }
  });

  test('closes an idle socket when the server closes it, as server-closed', async () => {
    const srv = await numberedServer();
    const pool = res.pool();
    await pool.execute(srv.url());
    await waitFor(() => idleCount(pool) === 1, { label: 'the socket idle' });
    const closed = waitFor(pool, 'socket:closed');
    srv.connections[0].end();
    expect((await closed).reason).toBe('server-closed');
    expect(idleCount(pool)).toBe(0);
  });

  test('a never-answering server keeps its socket out of the free list', async () => {
    const srv = res.server(await startRequestServer(neverAnswer()));
    const pool = res.pool({ timeout: 200 });
    await expect(pool.execute(srv.url())).rejects.toMatchObject({ code: 'ERR_POOL_REQUEST_TIMEOUT' });
    expect(idleCount(pool)).toBe(0);
    await waitFor(() => srv.openConnections === 0, { label: 'the timed-out socket to close' });
  });
});
