'use strict';

// connectTimeout, the whole-request timeout (queue time included), and
// AbortSignal before, during and after a request.
//
// connectTimeout needs a connect that hangs on 127.0.0.1. A Node server
// always accepts, so startNonAcceptingServer() listens from a child process
// whose event loop is blocked and fills its accept queue (backlog 1): Linux
// then drops further SYNs and connect() stays pending. The helper reads the
// queue's length from /proc/net/tcp and returns only once it is full.

const { createResources } = require('./helpers/resources');
const { startHttpServer } = require('./helpers/http-server');
const { startRequestServer, startNonAcceptingServer, response, neverAnswer } = require('./helpers/raw-server');
const { waitFor, withDeadline, recordEvents } = require('./helpers/wait');

const res = createResources();
afterEach(async () => {
  expect(await res.cleanup()).toEqual([]);
});

async function nonAccepting() {
  const srv = await startNonAcceptingServer();
  res.defer(() => srv.close());
  return srv;
}

describe('connectTimeout', () => {
  test('rejects ERR_POOL_CONNECT_TIMEOUT when the connect does not complete in time', async () => {
    const srv = await nonAccepting();
    const pool = res.pool({ connectTimeout: 300, timeout: 10000 });
    const rec = recordEvents(pool, ['socket:created', 'socket:error', 'socket:closed']);
    const err = await pool.execute(srv.url()).catch((e) => e);
    // The connect timeout ended it, not the 10 s request timeout, and the
    // connect never completed: no socket was ever created, one connect failed.
    expect(err.code).toBe('ERR_POOL_CONNECT_TIMEOUT');
    expect(err.origin).toBe(srv.origin);
    expect(rec.of('socket:created')).toEqual([]);
    expect(rec.of('socket:error').map((e) => e.error.code)).toEqual(['ERR_POOL_CONNECT_TIMEOUT']);
    const m = pool.getMetrics();
    expect(m.timedOutConnections).toBe(1);
    expect(m.failedRequests).toBe(1);
    expect(m.activeConnections + m.idleConnections).toBe(0);
  });

  test('rejects ERR_POOL_REQUEST_TIMEOUT when the request timeout ends first', async () => {
    const srv = await nonAccepting();
    const pool = res.pool({ connectTimeout: 10000 });
    const err = await pool.execute(srv.url(), { timeout: 200 }).catch((e) => e);
    expect(err.code).toBe('ERR_POOL_REQUEST_TIMEOUT');
  });
});

describe('request timeout', () => {
  test('rejects ERR_POOL_REQUEST_TIMEOUT from a never-answering server and closes that socket', async () => {
    const srv = res.server(await startRequestServer(neverAnswer()));
    const pool = res.pool({ timeout: 200 });
    const rec = recordEvents(pool, ['socket:closed']);
    const err = await pool.execute(srv.url()).catch((e) => e);
    expect(err.code).toBe('ERR_POOL_REQUEST_TIMEOUT');
    expect(err.origin).toBe(srv.origin);
    // The request was on the wire when the timeout ended it (the server may
    // read it after the rejection on a loaded machine, hence the wait).
    await waitFor(() => srv.requests.length === 1, { label: 'the server to see the request' });
    await waitFor(() => srv.openConnections === 0, { label: 'the timed-out socket to close' });
    await waitFor(() => rec.of('socket:closed').length === 1, { label: 'socket:closed for the timed-out socket' });
    expect(rec.of('socket:closed').map((e) => e.reason)).toEqual(['error']);
    expect(pool.getMetrics().idleConnections).toBe(0);
  });

  test('init.timeout overrides the pool timeout', async () => {
    const srv = res.server(await startRequestServer(neverAnswer()));
    const pool = res.pool({ timeout: 0 });
    // With the pool's timeout: 0 alone this request would never end: only
    // init.timeout can settle it before the deadline.
    const err = await withDeadline(pool.execute(srv.url(), { timeout: 150 }).catch((e) => e), 5000, 'the init.timeout rejection');
    expect(err.code).toBe('ERR_POOL_REQUEST_TIMEOUT');
    await waitFor(() => srv.requests.length === 1, { label: 'the server to see the request' });
  });

  test('init.timeout: 0 waits for a response slower than the pool timeout', async () => {
    const srv = res.server(await startHttpServer({
      routes: { '/slow': (req, resp) => setTimeout(() => resp.end('late'), 300) },
    }));
    const pool = res.pool({ timeout: 100 });
    const r = await pool.execute(srv.url('/slow'), { timeout: 0 });
    expect(r.body.toString()).toBe('late');
  });

  test('counts the time spent in the queue', async () => {
    const srv = res.server(await startHttpServer());
    const pool = res.pool({ maxSockets: 1, timeout: 0 });
    srv.hold();
    const first = pool.execute(srv.url('/first'));
    await waitFor(() => srv.held.length === 1, { label: 'the first request held' });
    // The only socket stays busy until release(): the request can only end
    // by timing out while still queued.
    const err = await withDeadline(pool.execute(srv.url('/queued'), { timeout: 200 }).catch((e) => e), 5000, 'the queued request to time out');
    expect(err.code).toBe('ERR_POOL_REQUEST_TIMEOUT');
    expect(srv.held).toHaveLength(1);
    srv.release();
    expect((await first).statusCode).toBe(200);
    expect(srv.requests.map((r) => r.url)).toEqual(['/first']);
  });

  test('a timed-out queued request leaves the queue: the next one is served', async () => {
    const srv = res.server(await startHttpServer());
    const pool = res.pool({ maxSockets: 1, timeout: 0 });
    srv.hold();
    const first = pool.execute(srv.url('/first'));
    await waitFor(() => srv.held.length === 1, { label: 'the first request held' });
    const timedOut = pool.execute(srv.url('/times-out'), { timeout: 100 }).catch((e) => e);
    const later = pool.execute(srv.url('/later'));
    expect((await timedOut).code).toBe('ERR_POOL_REQUEST_TIMEOUT');
    srv.release();
    await first;
    expect((await later).statusCode).toBe(200);
    expect(srv.requests.map((r) => r.url)).toEqual(['/first', '/later']);
  });
});

describe('AbortSignal', () => {
  test('rejects AbortError for a signal aborted before the call, without sending anything', async () => {
    const srv = res.server(await startRequestServer(neverAnswer()));
    const err = await res.pool().execute(srv.url(), { signal: AbortSignal.abort() }).catch((e) => e);
    expect(err.code).toBe('ABORT_ERR');
    expect(err.name).toBe('AbortError');
    expect(srv.requests.length).toBe(0);
  });

  test('rejects AbortError when aborted during the request and closes that socket', async () => {
    const srv = res.server(await startRequestServer(neverAnswer()));
    const pool = res.pool();
    const controller = new AbortController();
    const pending = pool.execute(srv.url(), { signal: controller.signal }).catch((e) => e);
    await waitFor(srv.events, 'request', { label: 'the request to reach the server' });
    controller.abort();
    const err = await pending;
    expect(err.code).toBe('ABORT_ERR');
    expect(err.name).toBe('AbortError');
    await waitFor(() => srv.openConnections === 0, { label: 'the aborted socket to close' });
    expect(pool.getMetrics().idleConnections).toBe(0);
  });

  test('rejects AbortError when aborted while queued, and the queue moves on', async () => {
    const srv = res.server(await startHttpServer());
    const pool = res.pool({ maxSockets: 1 });
    srv.hold();
    const first = pool.execute(srv.url('/first'));
    await waitFor(() => srv.held.length === 1, { label: 'the first request held' });
    const controller = new AbortController();
    const aborted = pool.execute(srv.url('/aborted'), { signal: controller.signal }).catch((e) => e);
    const after = pool.execute(srv.url('/after'));
    controller.abort();
    expect((await aborted).code).toBe('ABORT_ERR');
    srv.release();
    await first;
    expect((await after).statusCode).toBe(200);
    expect(srv.requests.map((r) => r.url)).toEqual(['/first', '/after']);
  });

  test('ignores an abort after the response, and the socket stays reusable', async () => {
    let n = 0;
    const srv = res.server(await startRequestServer((req, socket) => {
      n += 1;
      socket.write(response({ body: `r${n}` }));
    }));
    const pool = res.pool();
    const controller = new AbortController();
    const r = await pool.execute(srv.url(), { signal: controller.signal });
    controller.abort();
    expect(r.body.toString()).toBe('r1');
    const next = await pool.execute(srv.url());
    expect(next.reused).toBe(true);
    expect(next.body.toString()).toBe('r2');
  });

  test('one signal shared by many sequential requests does not pile up listeners', async () => {
    const srv = res.server(await startHttpServer());
    const pool = res.pool();
    const controller = new AbortController();
    const warnings = [];
    const onWarning = (w) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      for (let i = 0; i < 30; i++) await pool.execute(srv.url(), { signal: controller.signal });
    } finally {
      process.removeListener('warning', onWarning);
    }
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
  });
});
