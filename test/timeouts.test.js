'use strict';

// connectTimeout, the whole-request timeout (queue time included), and
// AbortSignal before, during and after a request.
//
// connectTimeout needs a connect that hangs on 127.0.0.1. A Node server
// always accepts, so startNonAcceptingServer() listens from a child process
// whose event loop is blocked and fills its accept queue (backlog 1): Linux
// then drops further SYNs and connect() stays pending. The helper probes that
// the queue is really full before the test uses it.

const { createResources } = require('./helpers/resources');
const { startHttpServer } = require('./helpers/http-server');
const { startRequestServer, startNonAcceptingServer, response, neverAnswer } = require('./helpers/raw-server');
const { waitFor } = require('./helpers/wait');

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
    const start = Date.now();
    const err = await pool.execute(srv.url()).catch((e) => e);
    const elapsed = Date.now() - start;
    expect(err.code).toBe('ERR_POOL_CONNECT_TIMEOUT');
    expect(err.origin).toBe(srv.origin);
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(3000);
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
    const start = Date.now();
    const err = await pool.execute(srv.url()).catch((e) => e);
    const elapsed = Date.now() - start;
    expect(err.code).toBe('ERR_POOL_REQUEST_TIMEOUT');
    expect(err.origin).toBe(srv.origin);
    expect(elapsed).toBeGreaterThanOrEqual(180);
    expect(elapsed).toBeLessThan(2000);
    await waitFor(() => srv.openConnections === 0, { label: 'the timed-out socket to close' });
  });

  test('init.timeout overrides the pool timeout', async () => {
    const srv = res.server(await startRequestServer(neverAnswer()));
    const pool = res.pool({ timeout: 0 });
    const start = Date.now();
    const err = await pool.execute(srv.url(), { timeout: 150 }).catch((e) => e);
    expect(err.code).toBe('ERR_POOL_REQUEST_TIMEOUT');
    expect(Date.now() - start).toBeLessThan(2000);
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
    const start = Date.now();
    const err = await pool.execute(srv.url('/queued'), { timeout: 200 }).catch((e) => e);
    expect(err.code).toBe('ERR_POOL_REQUEST_TIMEOUT');
    expect(Date.now() - start).toBeLessThan(2000);
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
