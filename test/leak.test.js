'use strict';

// The cleanup sweep's leak audit: every tracked socket must be connecting,
// active with a live request, idle in a free list, or closing. A socket in
// no valid state is counted, reported with the 'leak' event, and closed;
// a request left without its socket is failed instead of hanging.
const { testHooks } = require('../lib/connection-pool-core');
const { startRequestServer, neverAnswer } = require('./helpers/raw-server');
const { startHttpServer } = require('./helpers/http-server');
const { waitFor } = require('./helpers/wait');
const { createResources } = require('./helpers/resources');

const res = createResources();
afterEach(async () => {
  expect(await res.cleanup()).toEqual([]);
});

test('finds no leak in a healthy pool after a mixed workload', async () => {
  const srv = res.server(await startHttpServer());
  const pool = res.pool({ maxSockets: 4 });
  const leaks = [];
  pool.on('leak', (e) => leaks.push(e));
  await Promise.all(Array.from({ length: 20 }, () => pool.execute(srv.url())));
  expect(testHooks.sweepNow(pool)).toBe(0);
  expect(pool.getMetrics().socketLeaks).toBe(0);
  expect(leaks).toEqual([]);
});

test('reports, counts and closes an active socket that lost its request', async () => {
  const srv = res.server(await startRequestServer(neverAnswer()));
  const pool = res.pool({ timeout: 20000 });
  const leaks = [];
  pool.on('leak', (e) => leaks.push(e));
  const closed = waitFor(pool, 'socket:closed');
  const pending = pool.execute(srv.url()).catch((e) => e);
  await waitFor(() => srv.requests.length === 1, { label: 'request reached the server' });

  expect(testHooks.corruptOneSocket(pool)).toBe(true);
  expect(testHooks.sweepNow(pool)).toBe(1);

  await waitFor(() => leaks.length === 1, { label: 'leak event' });
  expect(leaks[0]).toMatchObject({ id: expect.any(Number), origin: srv.origin, state: 'active' });
  expect(leaks[0].detail).toMatch(/without a request/);
  expect((await closed).reason).toBe('error');
  expect(pool.getMetrics().socketLeaks).toBe(1);

  // The orphaned request fails now, not at its 20 s timeout.
  const err = await pending;
  expect(err.code).toBe('ERR_POOL_SOCKET_CLOSED');
  expect(testHooks.sweepNow(pool)).toBe(0);
});
