'use strict';

// getMetrics() after a known workload: every counter is a plain number and
// the figures add up with what the server saw on the wire.

const { createResources } = require('./helpers/resources');
const { startHttpServer } = require('./helpers/http-server');
const { startRequestServer, closedPort, response } = require('./helpers/raw-server');
const { waitFor } = require('./helpers/wait');

const res = createResources();
afterEach(async () => {
  expect(await res.cleanup()).toEqual([]);
});

const NUMBER_FIELDS = [
  'totalRequests', 'completedRequests', 'failedRequests', 'pendingRequests',
  'totalConnections', 'activeConnections', 'idleConnections', 'closedConnections',
  'failedConnections', 'timedOutConnections', 'newConnections', 'reusedConnections',
  'socketReusePercentage', 'averageConnectionTime', 'averageReuseTime', 'socketLeaks',
  'bytesSent', 'bytesReceived', 'nativeMemory',
];

test('a new pool reports every counter as a number, zero before any request', () => {
  const pool = res.pool();
  const m = pool.getMetrics();
  for (const field of NUMBER_FIELDS) {
    expect(typeof m[field]).toBe('number');
    expect(Number.isFinite(m[field])).toBe(true);
  }
  for (const field of NUMBER_FIELDS.filter((f) => f !== 'nativeMemory')) expect([field, m[field]]).toEqual([field, 0]);
  expect(m.socketReusePercentage).toBe(0);
  expect(m.origins).toEqual({});
  expect(m.nativeMemory).toBeGreaterThan(0);
});

test('adds up after four sequential GETs and one refused connect', async () => {
  const srv = res.server(await startRequestServer((req, socket) => {
    socket.write(response({ headers: { 'Content-Type': 'text/plain' }, body: `body-${req.path}` }));
  }));
  const pool = res.pool();
  for (let i = 0; i < 4; i++) await pool.execute(srv.url(`/${i}`), { method: i % 2 ? 'POST' : 'GET', body: i % 2 ? 'data' : null });
  await waitFor(() => pool.getMetrics().idleConnections === 1, { label: 'the socket idle' });

  let m = pool.getMetrics();
  expect(m).toMatchObject({
    totalRequests: 4,
    completedRequests: 4,
    failedRequests: 0,
    pendingRequests: 0,
    totalConnections: 1,
    activeConnections: 0,
    idleConnections: 1,
    closedConnections: 0,
    failedConnections: 0,
    timedOutConnections: 0,
    newConnections: 1,
    reusedConnections: 3,
    socketReusePercentage: 75,
    socketLeaks: 0,
  });
  expect(m.origins[srv.origin]).toEqual({ active: 0, idle: 1, pending: 0, total: 1 });
  // bytesSent/bytesReceived count the bytes on the wire, both ways.
  expect(m.bytesSent).toBe(srv.bytesRead);
  expect(m.bytesReceived).toBe(srv.bytesWritten);
  expect(m.averageConnectionTime).toBeGreaterThanOrEqual(0);
  expect(m.averageReuseTime).toBeGreaterThanOrEqual(0);
  expect(m.nativeMemory).toBeGreaterThan(0);

  const port = await closedPort();
  await expect(pool.execute(`http://127.0.0.1:${port}/`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  m = pool.getMetrics();
  expect(m.totalRequests).toBe(5);
  expect(m.completedRequests).toBe(4);
  expect(m.failedRequests).toBe(1);
  expect(m.failedConnections).toBe(1);
  expect(m.pendingRequests).toBe(0);
  expect(m.newConnections + m.reusedConnections).toBe(4);
  for (const field of NUMBER_FIELDS) expect(typeof m[field]).toBe('number');
});

test('counts new and reused requests under concurrency: 10 requests over 3 sockets', async () => {
  const srv = res.server(await startHttpServer());
  const pool = res.pool({ maxSockets: 3 });
  await Promise.all(Array.from({ length: 10 }, (_, i) => pool.execute(srv.url(`/c${i}`))));
  const m = pool.getMetrics();
  expect(m.totalRequests).toBe(10);
  expect(m.completedRequests).toBe(10);
  expect(m.totalConnections).toBe(3);
  expect(m.newConnections).toBe(3);
  expect(m.reusedConnections).toBe(7);
  expect(m.socketReusePercentage).toBeCloseTo(70, 5);
  expect(srv.connectionCount).toBe(3);
});

test('shows pending and active requests while the server holds them', async () => {
  const srv = res.server(await startHttpServer());
  const pool = res.pool({ maxSockets: 2 });
  srv.hold();
  const all = Array.from({ length: 5 }, (_, i) => pool.execute(srv.url(`/h${i}`)));
  await waitFor(() => srv.held.length === 2, { label: 'two requests held' });
  const m = pool.getMetrics();
  expect(m.activeConnections).toBe(2);
  expect(m.origins[srv.origin].active).toBe(2);
  expect(m.pendingRequests).toBeGreaterThanOrEqual(3);
  expect(m.origins[srv.origin].pending).toBeGreaterThanOrEqual(3);
  srv.release();
  await Promise.all(all);
  await waitFor(() => pool.getMetrics().pendingRequests === 0, { label: 'no pending request' });
  const after = pool.getMetrics();
  expect(after.origins[srv.origin]).toMatchObject({ active: 0, pending: 0, idle: 2 });
});

test('keeps figures per origin', async () => {
  const a = res.server(await startHttpServer());
  const b = res.server(await startHttpServer());
  const pool = res.pool();
  await pool.execute(a.url());
  await pool.execute(b.url());
  await pool.execute(b.url());
  await waitFor(() => pool.getMetrics().idleConnections === 2, { label: 'two idle sockets' });
  const { origins } = pool.getMetrics();
  expect(origins[a.origin]).toEqual({ active: 0, idle: 1, pending: 0, total: 1 });
  expect(origins[b.origin]).toEqual({ active: 0, idle: 1, pending: 0, total: 1 });
});

test('counts closed connections, and close() leaves no socket', async () => {
  const srv = res.server(await startHttpServer());
  const pool = res.pool();
  await Promise.all([pool.execute(srv.url()), pool.execute(srv.url())]);
  await pool.close();
  const m = pool.getMetrics();
  expect(m.activeConnections + m.idleConnections).toBe(0);
  expect(m.closedConnections).toBe(2);
  expect(m.totalConnections).toBe(2);
});

test('counts a failed request for a parse error and a timeout', async () => {
  const srv = res.server(await startRequestServer((req, socket) => {
    if (req.path === '/bad') socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n');
  }));
  const pool = res.pool({ timeout: 200 });
  await expect(pool.execute(srv.url('/bad'))).rejects.toMatchObject({ code: 'ERR_POOL_PARSE' });
  await expect(pool.execute(srv.url('/silent'))).rejects.toMatchObject({ code: 'ERR_POOL_REQUEST_TIMEOUT' });
  const m = pool.getMetrics();
  expect(m.totalRequests).toBe(2);
  expect(m.failedRequests).toBe(2);
  expect(m.completedRequests).toBe(0);
  expect(m.socketLeaks).toBe(0);
});

test('nativeMemory stays bounded over 500 sequential requests', async () => {
  const srv = res.server(await startHttpServer());
  const pool = res.pool();
  for (let i = 0; i < 50; i++) await pool.execute(srv.url());
  const early = pool.getMetrics().nativeMemory;
  for (let i = 0; i < 450; i++) await pool.execute(srv.url());
  const late = pool.getMetrics().nativeMemory;
  expect(late).toBeGreaterThan(0);
  // One socket, one origin: what the core holds must not grow with requests.
  expect(late).toBeLessThan(early * 2 + 64 * 1024);
});

test('nativeMemory falls back after a burst, and a second burst on the reused slots settles each promise with its own answer', async () => {
  const srv = res.server(await startHttpServer());
  // 8 sockets: the burst queues, so 300 requests hold 300 slots at once.
  const pool = res.pool({ maxSockets: 8 });
  await pool.execute(srv.url('/first'));
  const before = pool.getMetrics().nativeMemory;
  const burst = (tag) => Promise.all(Array.from({ length: 300 }, (_, i) => pool.execute(srv.url(`/${tag}/${i}`))));
  const first = burst('a');
  const peak = pool.getMetrics().nativeMemory;
  expect(peak).toBeGreaterThan(before + 200 * 1024);
  for (const [i, r] of (await first).entries()) expect(JSON.parse(r.body).url).toBe(`/a/${i}`);
  // The slots the burst grew are freed once it has ended (their timers close first).
  await waitFor(() => pool.getMetrics().nativeMemory <= before + 64 * 1024,
    { label: 'nativeMemory back near its pre-burst figure' });
  for (const [i, r] of (await burst('b')).entries()) expect(JSON.parse(r.body).url).toBe(`/b/${i}`);
});
