'use strict';

// Events and their payloads: socket:created, socket:reused, socket:closed,
// socket:error (and no leak in a correct pool). A pool with no listener works
// the same; listeners added and removed later are honoured.

const { PoolError } = require('..');
const { testHooks } = require('../lib/connection-pool-core');
const { createResources } = require('./helpers/resources');
const { startHttpServer } = require('./helpers/http-server');
const { startRequestServer, response, resetOnRequest } = require('./helpers/raw-server');
const { waitFor, recordEvents } = require('./helpers/wait');

const res = createResources();
afterEach(async () => {
  expect(await res.cleanup()).toEqual([]);
});

const ALL = ['socket:created', 'socket:reused', 'socket:closed', 'socket:error', 'leak'];

test('emits socket:created with id, origin and connectTime for a new socket', async () => {
  const srv = res.server(await startHttpServer());
  const pool = res.pool();
  const created = waitFor(pool, 'socket:created');
  await pool.execute(srv.url());
  const e = await created;
  expect(typeof e.id).toBe('number');
  expect(e.origin).toBe(srv.origin);
  expect(typeof e.connectTime).toBe('number');
  expect(e.connectTime).toBeGreaterThanOrEqual(0);
});

test('emits socket:reused with the same id and a growing use count', async () => {
  const srv = res.server(await startHttpServer());
  const pool = res.pool();
  const rec = recordEvents(pool, ALL);
  await pool.execute(srv.url());
  await pool.execute(srv.url());
  await pool.execute(srv.url());
  await waitFor(() => rec.of('socket:reused').length === 2, { label: 'two socket:reused events' });
  const [created] = rec.of('socket:created');
  const reused = rec.of('socket:reused');
  expect(reused.map((e) => e.id)).toEqual([created.id, created.id]);
  expect(reused.map((e) => e.origin)).toEqual([srv.origin, srv.origin]);
  expect(reused.every((e) => typeof e.uses === 'number' && e.uses >= 1)).toBe(true);
  expect(reused[1].uses).toBe(reused[0].uses + 1);
  expect(rec.of('socket:created')).toHaveLength(1);
  expect(rec.of('socket:error')).toEqual([]);
  expect(rec.of('leak')).toEqual([]);
});

test('gives every socket its own id', async () => {
  const srv = res.server(await startHttpServer());
  const pool = res.pool();
  const rec = recordEvents(pool, ['socket:created']);
  srv.hold();
  const all = [0, 1, 2].map(() => pool.execute(srv.url()));
  await waitFor(() => srv.held.length === 3, { label: 'three requests held' });
  srv.release();
  await Promise.all(all);
  await waitFor(() => rec.of('socket:created').length === 3, { label: 'three socket:created events' });
  expect(new Set(rec.of('socket:created').map((e) => e.id)).size).toBe(3);
});

test('emits socket:closed with reason pool-closed for each socket on close()', async () => {
  const srv = res.server(await startHttpServer());
  const pool = res.pool();
  const rec = recordEvents(pool, ALL);
  await Promise.all([pool.execute(srv.url()), pool.execute(srv.url())]);
  await pool.close();
  await waitFor(() => rec.of('socket:closed').length === 2, { label: 'two socket:closed events' });
  const closed = rec.of('socket:closed');
  expect(closed.map((e) => e.reason)).toEqual(['pool-closed', 'pool-closed']);
  expect(closed.map((e) => e.id).sort()).toEqual(rec.of('socket:created').map((e) => e.id).sort());
  expect(closed.every((e) => e.origin === srv.origin)).toBe(true);
});

test('emits socket:closed with reason server-closed when the server closes an idle socket', async () => {
  const srv = res.server(await startRequestServer((req, socket) => socket.write(response({ body: 'ok' }))));
  const pool = res.pool();
  const rec = recordEvents(pool, ALL);
  await pool.execute(srv.url());
  await waitFor(() => pool.getMetrics().idleConnections === 1, { label: 'the socket idle' });
  srv.connections[0].end();
  const closed = await waitFor(pool, 'socket:closed');
  expect(closed).toMatchObject({ id: rec.of('socket:created')[0].id, origin: srv.origin, reason: 'server-closed' });
});

test('emits socket:error with a PoolError, then socket:closed with reason error', async () => {
  const srv = res.server(await startRequestServer(resetOnRequest()));
  const pool = res.pool();
  const rec = recordEvents(pool, ALL);
  await expect(pool.execute(srv.url())).rejects.toMatchObject({ code: 'ECONNRESET' });
  await waitFor(() => rec.of('socket:closed').length === 1, { label: 'socket:closed' });
  const [created] = rec.of('socket:created');
  const [error] = rec.of('socket:error');
  expect(error).toBeDefined();
  expect(error.id).toBe(created.id);
  expect(error.origin).toBe(srv.origin);
  expect(error.error instanceof PoolError).toBe(true);
  expect(error.error.code).toBe('ECONNRESET');
  expect(rec.of('socket:closed')[0]).toMatchObject({ id: created.id, reason: 'error' });
  const order = rec.events.map((e) => e.event).filter((e) => e !== 'socket:created');
  expect(order).toEqual(['socket:error', 'socket:closed']);
});

test('closes a socket with reason error after a parse error', async () => {
  const srv = res.server(await startRequestServer((req, socket) => {
    socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n');
  }));
  const pool = res.pool();
  const closed = waitFor(pool, 'socket:closed');
  await expect(pool.execute(srv.url())).rejects.toMatchObject({ code: 'ERR_POOL_PARSE' });
  expect((await closed).reason).toBe('error');
});

test('works the same with no listener at all', async () => {
  const srv = res.server(await startHttpServer());
  const pool = res.pool({ maxRequestsPerSocket: 2 });
  for (const name of ALL) expect(pool.listenerCount(name)).toBe(0);
  for (let i = 0; i < 5; i++) expect((await pool.execute(srv.url())).statusCode).toBe(200);
  expect(srv.connectionCount).toBe(3);
  await pool.close();
  expect(pool.getMetrics().socketLeaks).toBe(0);
});

test('delivers events to a listener added later and stops for one removed', async () => {
  const srv = res.server(await startHttpServer());
  const pool = res.pool();
  await pool.execute(srv.url());
  const kept = [];
  const removed = [];
  const keep = (e) => kept.push(e);
  const drop = (e) => removed.push(e);
  pool.on('socket:reused', keep);
  pool.on('socket:reused', drop);
  await pool.execute(srv.url());
  await waitFor(() => kept.length === 1 && removed.length === 1, { label: 'both listeners called once' });
  pool.off('socket:reused', drop);
  await pool.execute(srv.url());
  await waitFor(() => kept.length === 2, { label: 'the kept listener called again' });
  expect(removed).toHaveLength(1);
});

test('emits no leak and counts no leak over a mixed workload', async () => {
  const srv = res.server(await startHttpServer());
  const pool = res.pool({ cleanupPeriodMs: 20, maxSockets: 3 });
  const leaks = [];
  pool.on('leak', (e) => leaks.push(e));
  const work = [];
  for (let i = 0; i < 30; i++) work.push(pool.execute(srv.url(`/w${i}`), { method: i % 3 ? 'GET' : 'POST', body: i % 3 ? null : 'x' }));
  await Promise.all(work);
  // Run the leak audit now over the sockets the workload left idle, rather
  // than waiting for its timer.
  expect(pool.getMetrics().idleConnections).toBeGreaterThan(0);
  expect(testHooks.sweepNow(pool)).toBe(0);
  expect(testHooks.sweepNow(pool)).toBe(0);
  expect(leaks).toEqual([]);
  expect(pool.getMetrics().socketLeaks).toBe(0);
});

test('re-enables events for a listener added after removeAllListeners()', async () => {
  const srv = res.server(await startHttpServer());
  const pool = res.pool();
  pool.on('socket:reused', () => {});
  pool.removeAllListeners();
  const created = [];
  pool.on('socket:created', (e) => created.push(e));
  await pool.execute(srv.url());
  await waitFor(() => created.length === 1, { label: 'the socket:created event' });
  // One more request on the same socket: no second socket:created.
  await pool.execute(srv.url());
  expect(created).toHaveLength(1);
  expect(created[0]).toEqual({ id: expect.any(Number), origin: srv.origin, connectTime: expect.any(Number) });
  expect(srv.connectionCount).toBe(1);
});

test('keeps following listeners after removeAllListeners() of one event or of the hooks', async () => {
  const srv = res.server(await startHttpServer());
  const pool = res.pool();
  pool.on('socket:created', () => {});
  pool.removeAllListeners('socket:created');
  pool.removeAllListeners('newListener');
  pool.removeAllListeners('removeListener');
  const reused = [];
  const onReused = (e) => reused.push(e);
  pool.on('socket:reused', onReused);
  await pool.execute(srv.url());
  await pool.execute(srv.url());
  await waitFor(() => reused.length === 1, { label: 'the socket:reused event' });
  expect(reused[0]).toMatchObject({ origin: srv.origin, uses: expect.any(Number) });
  // Removing the last listener still turns events off and back on.
  pool.off('socket:reused', onReused);
  const again = [];
  pool.on('socket:reused', (e) => again.push(e));
  await pool.execute(srv.url());
  await waitFor(() => again.length === 1, { label: 'socket:reused for the new listener' });
  expect(reused).toHaveLength(1);
});
