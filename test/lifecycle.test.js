'use strict';

// Lifecycle: close() drains, destroy() rejects, warmup() pre-opens, a pool
// never keeps a process (or worker) alive on its own, and execute()/close()
// called from promise continuations and event listeners behave.

const { spawn } = require('node:child_process');
const { Worker } = require('node:worker_threads');
const { createResources, ROOT } = require('./helpers/resources');
const { startHttpServer } = require('./helpers/http-server');
const { startRequestServer, neverAnswer } = require('./helpers/raw-server');
const { waitFor, withDeadline, settle } = require('./helpers/wait');

const res = createResources();
afterEach(async () => {
  expect(await res.cleanup()).toEqual([]);
});

const openSockets = (pool) => {
  const m = pool.getMetrics();
  return m.activeConnections + m.idleConnections;
};

describe('close()', () => {
  test('lets in-flight and queued requests finish, then closes every socket', async () => {
    const srv = res.server(await startHttpServer());
    const pool = res.pool({ maxSockets: 1 });
    srv.hold();
    const order = [];
    const requests = [0, 1, 2].map((i) => pool.execute(srv.url(`/d${i}`)).then((r) => {
      order.push(`request-${i}`);
      return r;
    }));
    await waitFor(() => srv.held.length === 1, { label: 'the first request held' });
    const closing = pool.close().then(() => order.push('closed'));
    await expect(pool.execute(srv.url('/late'))).rejects.toMatchObject({ code: 'ERR_POOL_CLOSED' });
    expect(order).toEqual([]);
    srv.release();
    const results = await withDeadline(Promise.all(requests), 5000, 'the drained requests');
    expect(results.map((r) => r.statusCode)).toEqual([200, 200, 200]);
    await withDeadline(closing, 5000, 'close()');
    expect(order).toEqual(['request-0', 'request-1', 'request-2', 'closed']);
    expect(openSockets(pool)).toBe(0);
    await waitFor(() => srv.openConnections === 0, { label: 'the server to see every socket closed' });
    expect(srv.requests.map((r) => r.url)).toEqual(['/d0', '/d1', '/d2']);
  });

  test('closes idle sockets and resolves with active + idle === 0', async () => {
    const srv = res.server(await startHttpServer());
    const pool = res.pool();
    await Promise.all([0, 1, 2].map(() => pool.execute(srv.url())));
    expect(openSockets(pool)).toBeGreaterThan(0);
    await withDeadline(pool.close(), 5000, 'close()');
    expect(openSockets(pool)).toBe(0);
    await waitFor(() => srv.openConnections === 0, { label: 'the server to see every socket closed' });
  });

  test('resolves a second close() too', async () => {
    const srv = res.server(await startHttpServer());
    const pool = res.pool();
    await pool.execute(srv.url());
    await withDeadline(Promise.all([pool.close(), pool.close()]), 5000, 'two close() calls');
    await withDeadline(pool.close(), 5000, 'a third close()');
  });

  test('rejects execute() after close() with ERR_POOL_CLOSED', async () => {
    const srv = res.server(await startHttpServer());
    const pool = res.pool();
    await pool.close();
    await expect(pool.execute(srv.url())).rejects.toMatchObject({ code: 'ERR_POOL_CLOSED' });
    expect(srv.connectionCount).toBe(0);
  });
});

describe('destroy()', () => {
  test('rejects in-flight and queued requests with ERR_POOL_CLOSED and closes every socket', async () => {
    const srv = res.server(await startRequestServer(neverAnswer()));
    const pool = res.pool({ maxSockets: 1 });
    const requests = [0, 1, 2].map((i) => settle(pool.execute(srv.url(`/x${i}`))));
    await waitFor(() => srv.requests.length === 1, { label: 'the first request on the wire' });
    pool.destroy();
    const outcomes = await withDeadline(Promise.all(requests), 5000, 'the destroyed requests');
    for (const o of outcomes) {
      expect(o.status).toBe('rejected');
      expect(o.reason.code).toBe('ERR_POOL_CLOSED');
    }
    expect(openSockets(pool)).toBe(0);
    await waitFor(() => srv.openConnections === 0, { label: 'the server to see the socket closed' });
  });

  test('rejects in-flight requests with the error given to destroy(err)', async () => {
    const srv = res.server(await startRequestServer(neverAnswer()));
    const pool = res.pool({ maxSockets: 1 });
    const requests = [0, 1].map(() => settle(pool.execute(srv.url())));
    await waitFor(() => srv.requests.length === 1, { label: 'the first request on the wire' });
    const reason = new Error('shutting down');
    pool.destroy(reason);
    const outcomes = await withDeadline(Promise.all(requests), 5000, 'the destroyed requests');
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    expect(outcomes[0].reason).toBe(reason);
    expect(outcomes[1].reason).toBe(reason);
  });

  test('keeps destroy(err)\'s error for the requests it failed; later ones get ERR_POOL_CLOSED', async () => {
    const srv = res.server(await startRequestServer(neverAnswer()));
    const pool = res.pool();
    const live = settle(pool.execute(srv.url('/live')));
    await waitFor(() => srv.requests.length === 1, { label: 'the request on the wire' });
    const reason = new Error('shutting down');
    pool.destroy(reason);
    // Made before the live request's rejection is delivered, and after it.
    const early = settle(pool.execute(srv.url('/early')));
    expect((await live).reason).toBe(reason);
    const late = settle(pool.execute(srv.url('/late')));
    pool.destroy(new Error('a second destroy'));
    const after = settle(pool.execute(srv.url('/after')));
    for (const o of [await early, await late, await after]) {
      expect(o.status).toBe('rejected');
      expect(o.reason).not.toBe(reason);
      expect(o.reason.code).toBe('ERR_POOL_CLOSED');
    }
    expect(srv.requests.map((r) => r.path)).toEqual(['/live']);
  });

  test('rejects execute() after destroy() with ERR_POOL_CLOSED', async () => {
    const srv = res.server(await startHttpServer());
    const pool = res.pool();
    pool.destroy();
    await expect(pool.execute(srv.url())).rejects.toMatchObject({ code: 'ERR_POOL_CLOSED' });
  });

  test('lets close() after destroy() resolve', async () => {
    const srv = res.server(await startHttpServer());
    const pool = res.pool();
    await pool.execute(srv.url());
    pool.destroy();
    await withDeadline(pool.close(), 5000, 'close() after destroy()');
    expect(openSockets(pool)).toBe(0);
  });
});

describe('warmup()', () => {
  test('opens the requested idle sockets and resolves with the idle count', async () => {
    const srv = res.server(await startHttpServer());
    const pool = res.pool();
    expect(await pool.warmup(srv.url(), 3)).toBe(3);
    expect(pool.getMetrics().idleConnections).toBe(3);
    expect(pool.getMetrics().totalConnections).toBe(3);
    // The client's connect can complete before this process's server accepts.
    await waitFor(() => srv.connectionCount === 3, { label: 'the server to accept three sockets' });
    expect(srv.requests).toHaveLength(0);
    const r = await pool.execute(srv.url());
    expect(r.statusCode).toBe(200);
    expect(pool.getMetrics().totalConnections).toBe(3);
    expect(srv.connectionCount).toBe(3);
  });

  test('opens no more than maxSockets', async () => {
    const srv = res.server(await startHttpServer());
    const pool = res.pool({ maxSockets: 2 });
    expect(await pool.warmup(srv.url(), 5)).toBe(2);
    expect(pool.getMetrics().totalConnections).toBe(2);
    await waitFor(() => srv.connectionCount === 2, { label: 'the server to accept two sockets' });
  });

  test('counts the sockets already idle', async () => {
    const srv = res.server(await startHttpServer());
    const pool = res.pool();
    await pool.execute(srv.url());
    expect(await pool.warmup(srv.url(), 2)).toBe(2);
    expect(pool.getMetrics().totalConnections).toBe(2);
    expect(await pool.warmup(srv.url(), 2)).toBe(2);
    expect(pool.getMetrics().totalConnections).toBe(2);
    await waitFor(() => srv.connectionCount === 2, { label: 'the server to accept two sockets' });
  });
});

describe('process and worker lifetime', () => {
  // Runs a script in a child node process; resolves { code, stdout, stderr,
  // elapsed } or rejects if it has not exited within deadlineMs (then kills it).
  function runScript(script, deadlineMs = 8000) {
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const start = Date.now();
    const exited = new Promise((resolve) => child.once('exit', (code) => resolve({
      code, stdout, stderr, elapsed: Date.now() - start,
    })));
    return withDeadline(exited, deadlineMs, 'the child process to exit by itself').catch((err) => {
      child.kill('SIGKILL');
      throw err;
    });
  }

  test('a script that made one request exits by itself while the pool holds an idle socket', async () => {
    const srv = res.server(await startHttpServer({ keepAliveTimeout: 60000 }));
    const out = await runScript(`
      const { ConnectionPoolCore } = require(${JSON.stringify(ROOT)});
      globalThis.pool = new ConnectionPoolCore({ freeSocketTimeout: 60000 });
      globalThis.pool.execute(${JSON.stringify(srv.url('/once'))}).then((r) => {
        const m = globalThis.pool.getMetrics();
        console.log(JSON.stringify({ status: r.statusCode, idle: m.idleConnections }));
      });
    `);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual({ status: 200, idle: 1 });
    expect(srv.requests).toHaveLength(1);
  });

  test('a script stays alive while its request is in flight', async () => {
    const srv = res.server(await startHttpServer({
      routes: { '/slow': (req, resp) => setTimeout(() => resp.end('slow'), 300) },
    }));
    const out = await runScript(`
      const { ConnectionPoolCore } = require(${JSON.stringify(ROOT)});
      const pool = new ConnectionPoolCore();
      pool.execute(${JSON.stringify(srv.url('/slow'))}).then((r) => console.log(r.body.toString()));
    `);
    expect(out.code).toBe(0);
    expect(out.stdout.trim()).toBe('slow');
  });

  test('a worker with a pool holding an idle socket ends by itself and its socket closes', async () => {
    const srv = res.server(await startHttpServer({ keepAliveTimeout: 60000 }));
    const worker = new Worker(`
      const { parentPort, workerData } = require('node:worker_threads');
      const { ConnectionPoolCore } = require(workerData.root);
      const pool = new ConnectionPoolCore({ freeSocketTimeout: 60000 });
      pool.execute(workerData.url).then((r) => parentPort.postMessage(r.statusCode));
    `, { eval: true, workerData: { root: ROOT, url: srv.url('/w') } });
    const messages = [];
    worker.on('message', (m) => messages.push(m));
    const exit = new Promise((resolve) => worker.once('exit', resolve));
    try {
      expect(await withDeadline(exit, 8000, 'the worker to exit by itself')).toBe(0);
    } finally {
      await worker.terminate();
    }
    expect(messages).toEqual([200]);
    await waitFor(() => srv.openConnections === 0, { timeoutMs: 5000, label: 'the worker\'s socket to close' });
  });
});

describe('re-entrancy', () => {
  test('execute() from a .then continuation works', async () => {
    const srv = res.server(await startHttpServer());
    const pool = res.pool();
    const r = await pool.execute(srv.url('/1')).then(() => pool.execute(srv.url('/2')));
    expect(r.statusCode).toBe(200);
    expect(JSON.parse(r.body).url).toBe('/2');
  });

  test('a chain of 50 requests, each started from the previous continuation, completes', async () => {
    const srv = res.server(await startHttpServer());
    const pool = res.pool();
    const chain = (n) => (n === 0 ? Promise.resolve(0)
      : pool.execute(srv.url(`/chain/${n}`)).then(() => chain(n - 1)));
    await withDeadline(chain(50), 10000, 'the chain');
    expect(srv.requests).toHaveLength(50);
    expect(srv.connectionCount).toBe(1);
  });

  test('close() from a .then continuation resolves', async () => {
    const srv = res.server(await startHttpServer());
    const pool = res.pool();
    const r = await withDeadline(
      pool.execute(srv.url()).then((resp) => pool.close().then(() => resp)),
      5000,
      'close() from a continuation',
    );
    expect(r.statusCode).toBe(200);
    expect(openSockets(pool)).toBe(0);
  });

  test('destroy() from a continuation rejects the other in-flight requests', async () => {
    const srv = res.server(await startRequestServer((req, socket) => {
      if (req.path === '/fast') socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    }));
    const pool = res.pool();
    const slow = settle(pool.execute(srv.url('/slow')));
    await waitFor(() => srv.requests.length === 1, { label: 'the slow request on the wire' });
    const fast = await pool.execute(srv.url('/fast')).then((r) => {
      pool.destroy();
      return r;
    });
    expect(fast.statusCode).toBe(200);
    const outcome = await withDeadline(slow, 5000, 'the slow request');
    expect(outcome.status).toBe('rejected');
    expect(outcome.reason.code).toBe('ERR_POOL_CLOSED');
  });

  test('execute() from a socket:created listener works', async () => {
    const srv = res.server(await startHttpServer());
    const pool = res.pool();
    let inner = null;
    pool.once('socket:created', () => {
      inner = pool.execute(srv.url('/from-listener'));
    });
    const outer = await pool.execute(srv.url('/outer'));
    expect(outer.statusCode).toBe(200);
    await waitFor(() => inner !== null, { label: 'the listener to run' });
    expect((await inner).statusCode).toBe(200);
  });

  test('execute() never settles synchronously, even for a bad url', async () => {
    const pool = res.pool();
    let settled = false;
    const p = pool.execute('not a url').catch((e) => {
      settled = true;
      return e;
    });
    await Promise.resolve();
    await Promise.resolve();
    expect(settled).toBe(false);
    expect((await p).code).toBe('ERR_INVALID_URL');
  });
});
