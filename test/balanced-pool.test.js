'use strict';

// BalancedPool (API.md "BalancedPool", issue 8) against real servers on
// 127.0.0.1: endpoints that die and come back on the same port, answer
// slowly, answer 503 with Retry-After, reset after reading a request, or
// refuse connections. What each server saw (hits, timestamps) is the
// evidence; the balancer's events and getStats() are checked against it.
// Every test ends with the leak audit clean and no socket open on either
// side. One end-to-end case puts a real JSON-RPC node (ganache) behind two
// endpoints.

const net = require('node:net');
const path = require('node:path');
const { execFile } = require('node:child_process');
const { performance } = require('node:perf_hooks');
const { createResources } = require('./helpers/resources');
const { waitFor, withDeadline, settle, recordEvents } = require('./helpers/wait');
const { HOST, parseRequests, response, closedPort } = require('./helpers/raw-server');
const { BalancedPool } = require('..');
const { testHooks } = require('../lib/connection-pool-core');
const { startHttpsServer } = require('./helpers/https-server');
const { getCerts, writePemFile } = require('./helpers/tls-certs');

const res = createResources();
let fleets = [];  // { bp, pool } made by balanced(), audited in afterEach

afterEach(async () => {
  const these = fleets;
  fleets = [];
  const problems = [];
  for (const { bp, pool } of these) {
    // A test that failed half-way may leave a request held: close() would
    // wait for it, so give up after a while and let res destroy the pool.
    await withDeadline(bp.close(), 3000, 'BalancedPool.close()').catch((err) => problems.push(err.message));
    const leaks = testHooks.sweepNow(pool);
    const { socketLeaks } = pool.getMetrics();
    if (leaks !== 0 || socketLeaks !== 0) problems.push(`leak audit: sweepNow ${leaks}, socketLeaks ${socketLeaks}`);
  }
  problems.push(...await res.cleanup());
  expect(problems).toEqual([]);
});

// A BalancedPool over a pool of its own (destroyed and checked by res).
function balanced(urls, options = {}, poolOptions = {}) {
  const pool = res.pool(poolOptions);
  const bp = new BalancedPool(urls, { ...options, pool });
  fleets.push({ bp, pool });
  return bp;
}

const PROBE_PATH = '/health';
const JSON_BODY = '{"jsonrpc":"2.0","id":1,"result":"0x1"}';
const ok = () => response({ headers: { 'Content-Type': 'application/json' }, body: JSON_BODY });
const unavailable = (retryAfter, status = 503) => response({
  status,
  reason: status === 429 ? 'Too Many Requests' : 'Service Unavailable',
  headers: retryAfter === undefined ? {} : { 'Retry-After': String(retryAfter) },
  body: 'busy',
});

// An endpoint: a raw `net` server on a fixed port that can be stopped (its
// listener closed, every socket destroyed: a killed process) and started
// again on the same port. Every parsed request is recorded in `requests` as
// { method, path, body, at } (at = performance.now() on arrival); `hits`
// counts the ones that are not health probes. `behaviour` (mutable) decides
// the answer, to requests and probes alike:
//   { delayMs }      200 with a small JSON body, after delayMs
//   { status: 503, retryAfter }
//   { reset: true }  read the request, then destroy the socket unanswered
//   { hold: true }   keep the request in `held` until release() (probes: 200)
async function startEndpoint(behaviour = {}) {
  const requests = [];
  const held = [];
  const open = new Set();
  const timers = new Set();
  let server = null;
  let port = 0;

  function answer(req, socket) {
    const b = ep.behaviour;
    if (b.hold) {
      if (req.path === PROBE_PATH) return socket.write(ok());  // only requests are held
      return held.push({ req, socket });
    }
    if (b.reset) return socket.destroy();
    if (b.status) return socket.write(unavailable(b.retryAfter, b.status));
    if (b.delayMs) {
      // Pacing of the answer (the server is slow), not synchronisation.
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (!socket.destroyed) socket.write(ok());
      }, b.delayMs);
      timers.add(timer);
      return undefined;
    }
    return socket.write(ok());
  }

  function listen() {
    server = net.createServer((socket) => {
      open.add(socket);
      socket.setNoDelay(true);
      socket.on('error', () => {});
      socket.on('close', () => open.delete(socket));
      parseRequests(socket, (req) => {
        const record = { method: req.method, path: req.path, body: req.body.toString(), at: performance.now() };
        requests.push(record);
        answer(req, socket);
      });
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, HOST, () => {
        server.removeListener('error', reject);
        port = server.address().port;
        resolve();
      });
    });
  }

  const ep = {
    behaviour,
    requests,
    held,
    get port() {
      return port;
    },
    get origin() {
      return `http://${HOST}:${port}`;
    },
    get openConnections() {
      return open.size;
    },
    // Requests that were not health probes.
    get hits() {
      return requests.filter((r) => r.path !== PROBE_PATH).length;
    },
    release() {
      for (const { socket } of held.splice(0)) if (!socket.destroyed) socket.write(ok());
    },
    start: listen,
    // A killed process: the listener goes, every connection is cut.
    stop() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      held.splice(0);
      for (const socket of open) socket.destroy();
      const s = server;
      server = null;
      return s ? new Promise((resolve) => s.close(() => resolve())) : Promise.resolve();
    },
    close() {
      return ep.stop();
    },
  };
  await listen();
  return res.server(ep);
}

// Runs `workers` loops of execute() until stop() is called; every outcome
// is kept. stop() resolves once every loop has finished its last request.
// Each loop is bounded: at most maxRequests requests and maxMs of running,
// so a test that never calls stop() cannot spin forever.
function runTraffic(bp, { workers = 4, init = {}, maxRequests = 20000, maxMs = 30000 } = {}) {
  let running = true;
  const outcomes = [];
  const until = performance.now() + maxMs;
  const loops = Array.from({ length: workers }, async () => {
    for (let i = 0; running && i < maxRequests && performance.now() < until; i++) {
      const r = await settle(bp.execute('/', init));
      if (r.status === 'rejected' && r.reason.code === 'ERR_POOL_CLOSED') break;  // a failed test's teardown
      outcomes.push(r);
    }
  });
  return {
    outcomes,
    get failures() {
      return outcomes.filter((o) => o.status === 'rejected' || o.value.statusCode !== 200)
        .map((o) => (o.status === 'rejected' ? o.reason.code : o.value.statusCode));
    },
    async stop() {
      running = false;
      await withDeadline(Promise.all(loops), 10000, 'traffic loops to finish');
    },
  };
}

function statsOf(bp, origin) {
  return bp.getStats().endpoints.find((e) => e.origin === origin);
}

async function sequential(bp, n, init) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(await bp.execute('/', init));
  return out;
}

describe('a fleet with a dying, a slow and a 503 endpoint', () => {
  test('serves every idempotent request; the dead endpoint\'s breaker opens, then closes once it is back', async () => {
    const dying = await startEndpoint({});
    const slow = await startEndpoint({ delayMs: 30 });
    const busy = await startEndpoint({ status: 503, retryAfter: 1 });
    const bp = balanced([dying.origin, slow.origin, busy.origin], {
      strategy: 'least-latency',
      health: { path: PROBE_PATH, intervalMs: 20, timeoutMs: 500 },
      breaker: { consecutiveFailures: 2, cooldownMs: 100 },
      retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 20, budgetPercent: 100 },
    });
    const rec = recordEvents(bp, ['endpoint:breaker', 'endpoint:health']);
    const traffic = runTraffic(bp, { workers: 4 });

    await waitFor(() => dying.hits >= 20, { timeoutMs: 5000, label: 'traffic on the fast endpoint' });
    const opened = waitFor(bp, 'endpoint:breaker', {
      filter: (e) => e.origin === dying.origin && e.to === 'open',
      timeoutMs: 5000,
    });
    await dying.stop();
    await opened;
    const slowBefore = slow.hits;
    await waitFor(() => slow.hits >= slowBefore + 20, { timeoutMs: 5000, label: 'the slow endpoint to serve the outage' });

    const closed = waitFor(bp, 'endpoint:breaker', {
      filter: (e) => e.origin === dying.origin && e.to === 'closed',
      timeoutMs: 5000,
    });
    const hitsWhileDown = dying.hits;
    await dying.start();
    await closed;
    await waitFor(() => dying.hits >= hitsWhileDown + 20, { timeoutMs: 5000, label: 'traffic back on the restarted endpoint' });
    await traffic.stop();
    rec.stop();

    expect(traffic.failures).toEqual([]);
    expect(traffic.outcomes.length).toBeGreaterThan(60);
    const dyingBreaker = rec.of('endpoint:breaker').filter((e) => e.origin === dying.origin);
    expect(dyingBreaker[0]).toEqual({ origin: dying.origin, from: 'closed', to: 'open' });
    expect(dyingBreaker[dyingBreaker.length - 1].to).toBe('closed');
    // The 503 endpoint was tried, answered 503 every time, and was routed around.
    expect(busy.hits).toBeGreaterThan(0);
    expect(rec.of('endpoint:breaker').some((e) => e.origin === busy.origin && e.to === 'open')).toBe(true);
    const stats = statsOf(bp, dying.origin);
    expect(stats).toMatchObject({ breaker: 'closed', consecutiveFailures: 0 });
    // Failed probes count towards the breaker, not in `failures` (requests only).
    expect(stats.failures).toBeGreaterThanOrEqual(1);
    expect(statsOf(bp, busy.origin).lastError).toMatchObject({ code: 'ERR_POOL_HTTP_STATUS', origin: busy.origin });
  });
});

describe('circuit breaker', () => {
  test('half-open lets one request through, and its success closes the breaker', async () => {
    const flaky = await startEndpoint({});
    const good = await startEndpoint({});
    await flaky.stop();
    const bp = balanced([flaky.origin, good.origin], {
      strategy: 'round-robin',
      breaker: { consecutiveFailures: 2, cooldownMs: 150 },
      retry: { baseDelayMs: 0, budgetPercent: 100 },
    });
    const rec = recordEvents(bp, ['endpoint:breaker']);
    const opened = waitFor(bp, 'endpoint:breaker', { filter: (e) => e.to === 'open' });
    const traffic = runTraffic(bp, { workers: 4 });
    await opened;
    flaky.behaviour.hold = true;
    await flaky.start();
    // After the cooldown one request goes to it, and only one.
    await waitFor(() => flaky.held.length === 1, { timeoutMs: 3000, label: 'the half-open request' });
    const goodBefore = good.hits;
    await waitFor(() => good.hits >= goodBefore + 20, { label: 'traffic while half-open' });
    expect(flaky.requests.length).toBe(1);
    expect(statsOf(bp, flaky.origin).breaker).toBe('half-open');
    const closed = waitFor(bp, 'endpoint:breaker', { filter: (e) => e.to === 'closed' });
    flaky.behaviour.hold = false;
    flaky.release();
    await closed;
    await waitFor(() => flaky.hits >= 10, { label: 'traffic back on the recovered endpoint' });
    await traffic.stop();
    rec.stop();
    expect(traffic.failures).toEqual([]);
    expect(rec.of('endpoint:breaker')).toEqual([
      { origin: flaky.origin, from: 'closed', to: 'open' },
      { origin: flaky.origin, from: 'open', to: 'half-open' },
      { origin: flaky.origin, from: 'half-open', to: 'closed' },
    ]);
  });

  test('with health probes on, an open breaker gets nothing until its cooldown, then one half-open probe closes it', async () => {
    const ep = await startEndpoint({ status: 503 });
    const bp = balanced([ep.origin], {
      health: { path: PROBE_PATH, intervalMs: 10, timeoutMs: 1000 },
      breaker: { consecutiveFailures: 2, cooldownMs: 400 },
    });
    const rec = recordEvents(bp, ['endpoint:breaker']);
    const seen = {};  // what the server had received when each transition was reported
    bp.on('endpoint:breaker', (e) => {
      seen[e.to] = ep.requests.length;
      // Probes succeed from now on: the next one to reach the server closes the breaker.
      if (e.to === 'open') ep.behaviour.status = undefined;
    });
    await waitFor(bp, 'endpoint:breaker', { filter: (e) => e.to === 'closed', timeoutMs: 5000 });
    rec.stop();
    expect(rec.of('endpoint:breaker')).toEqual([
      { origin: ep.origin, from: 'closed', to: 'open' },
      { origin: ep.origin, from: 'open', to: 'half-open' },
      { origin: ep.origin, from: 'half-open', to: 'closed' },
    ]);
    // Two failed probes opened it; while open nothing was sent; then the
    // one half-open probe, and its success closed the breaker.
    expect(seen).toEqual({ open: 2, 'half-open': 2, closed: 3 });
    expect(ep.requests.slice(0, 3).map((r) => r.path)).toEqual([PROBE_PATH, PROBE_PATH, PROBE_PATH]);
    expect(statsOf(bp, ep.origin)).toMatchObject({ breaker: 'closed', consecutiveFailures: 0 });
  });
  test('a cooled-down breaker turns half-open only when a request is actually sent to it', async () => {
    const failing = await startEndpoint({ status: 503 });
    const good = await startEndpoint({});
    const bp = balanced([failing.origin, good.origin], {
      strategy: 'round-robin',
      // One failure opens the breaker and makes the endpoint unhealthy, so
      // the healthy one is preferred even though the breaker is cooled down.
      health: { path: PROBE_PATH, intervalMs: 600000, thresholds: { unhealthyFailures: 1, deadFailures: 100 } },
      breaker: { consecutiveFailures: 1, cooldownMs: 0 },
      retry: { attempts: 1 },
    });
    const rec = recordEvents(bp, ['endpoint:breaker']);
    expect((await bp.execute('/')).statusCode).toBe(503);
    await sequential(bp, 10);
    rec.stop();
    expect(good.hits).toBe(10);
    expect(failing.hits).toBe(1);
    expect(statsOf(bp, failing.origin)).toMatchObject({ health: 'unhealthy', breaker: 'open', inflight: 0 });
    expect(rec.of('endpoint:breaker')).toEqual([{ origin: failing.origin, from: 'closed', to: 'open' }]);
  });

  test('a dead endpoint gets no request even with its breaker cooled down, only probes', async () => {
    const failing = await startEndpoint({ status: 503 });
    const bp = balanced([failing.origin], {
      health: { path: PROBE_PATH, intervalMs: 600000, thresholds: { unhealthyFailures: 1, deadFailures: 1 } },
      breaker: { consecutiveFailures: 1, cooldownMs: 0 },
      retry: { attempts: 1 },
    });
    expect((await bp.execute('/')).statusCode).toBe(503);
    expect(statsOf(bp, failing.origin)).toMatchObject({ health: 'dead', breaker: 'open' });
    const err = await bp.execute('/').catch((e) => e);
    expect(err.code).toBe('ERR_POOL_NO_ENDPOINT');
    expect(failing.hits).toBe(1);
    expect(statsOf(bp, failing.origin).breaker).toBe('open');
  });
});

describe('strategies', () => {
  test('least-latency moves traffic to the fast endpoint', async () => {
    const fast = await startEndpoint({});
    const slower = await startEndpoint({});
    const slowest = await startEndpoint({});
    const bp = balanced([slower.origin, slowest.origin, fast.origin], { strategy: 'least-latency' });
    // All equal: every endpoint gets sampled.
    await sequential(bp, 9);
    expect([fast.hits, slower.hits, slowest.hits].every((h) => h > 0)).toBe(true);
    // Two of them slow down (both stay in the healthy class, < 50 ms).
    slower.behaviour.delayMs = 15;
    slowest.behaviour.delayMs = 30;
    await sequential(bp, 30);  // the EWMAs learn
    const before = [fast.hits, slower.hits, slowest.hits];
    await sequential(bp, 96);
    const share = [fast.hits - before[0], slower.hits - before[1], slowest.hits - before[2]];
    expect(share[0] + share[1] + share[2]).toBe(96);
    expect(share[0]).toBeGreaterThanOrEqual(80);
    const stats = bp.getStats().endpoints;
    const ewma = (o) => stats.find((e) => e.origin === o).ewmaMs;
    expect(ewma(fast.origin)).toBeLessThan(ewma(slower.origin));
  });

  test('least-latency keeps sampling every other endpoint now and then', async () => {
    const fast = await startEndpoint({});
    const a = await startEndpoint({ delayMs: 10 });
    const b = await startEndpoint({ delayMs: 10 });
    const bp = balanced([fast.origin, a.origin, b.origin], { strategy: 'least-latency' });
    await sequential(bp, 3);
    const before = [a.hits, b.hits];
    await sequential(bp, 96);
    expect(a.hits - before[0]).toBeGreaterThan(0);
    expect(b.hits - before[1]).toBeGreaterThan(0);
  });

  test('round-robin spreads requests evenly', async () => {
    const eps = [await startEndpoint({}), await startEndpoint({}), await startEndpoint({})];
    // Loose health thresholds: a GC pause must not change the class of an endpoint here.
    const bp = balanced(eps.map((e) => e.origin), {
      strategy: 'round-robin',
      health: { path: PROBE_PATH, intervalMs: 600000, thresholds: { healthyMs: 5000, degradedMs: 10000 } },
    });
    await sequential(bp, 300);
    expect(eps.map((e) => e.hits)).toEqual([100, 100, 100]);
    expect(bp.getStats().endpoints.map((e) => e.requests)).toEqual([100, 100, 100]);
  });

  test('least-pending prefers the idle endpoint', async () => {
    const busy = await startEndpoint({ hold: true });
    const idle = await startEndpoint({});
    const bp = balanced([busy.origin, idle.origin], { strategy: 'least-pending' });
    const first = bp.execute('/');
    await waitFor(() => busy.held.length === 1, { label: 'the first request to be held' });
    expect(statsOf(bp, busy.origin).inflight).toBe(1);
    await sequential(bp, 20);
    expect(idle.hits).toBe(20);
    expect(busy.hits).toBe(1);
    busy.release();
    expect((await first).statusCode).toBe(200);
    expect(statsOf(bp, busy.origin).inflight).toBe(0);
  });
});

describe('what may be retried', () => {
  test('a POST without idempotent that reached a failing server is reported and not retried', async () => {
    const failing = await startEndpoint({ reset: true });
    const good = await startEndpoint({});
    const bp = balanced([failing.origin, good.origin], { strategy: 'round-robin', retry: { baseDelayMs: 0 } });
    const err = await bp.execute('/', { method: 'POST', body: '{"tx":1}' }).catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(['ECONNRESET', 'ERR_POOL_SOCKET_CLOSED']).toContain(err.code);
    expect(err.origin).toBe(failing.origin);
    expect(failing.requests.map((r) => [r.method, r.body])).toEqual([['POST', '{"tx":1}']]);
    expect(good.requests).toEqual([]);
    expect(statsOf(bp, failing.origin)).toMatchObject({ requests: 1, failures: 1 });
  });

  test('the same POST with idempotent: true is retried on another endpoint', async () => {
    const failing = await startEndpoint({ reset: true });
    const good = await startEndpoint({});
    const bp = balanced([failing.origin, good.origin], { strategy: 'round-robin', retry: { baseDelayMs: 0 } });
    const r = await bp.execute('/', { method: 'POST', body: '{"call":1}', idempotent: true });
    expect(r.statusCode).toBe(200);
    expect(failing.hits).toBe(1);
    expect(good.requests.map((q) => [q.method, q.body])).toEqual([['POST', '{"call":1}']]);
  });

  test('a POST that failed before any byte was written (refused) is retried elsewhere', async () => {
    const refused = `http://${HOST}:${await closedPort()}`;
    const good = await startEndpoint({});
    const bp = balanced([refused, good.origin], { strategy: 'round-robin', retry: { baseDelayMs: 0 } });
    const r = await bp.execute('/', { method: 'POST', body: '{"tx":2}' });
    expect(r.statusCode).toBe(200);
    expect(good.requests.map((q) => [q.method, q.body])).toEqual([['POST', '{"tx":2}']]);
    expect(statsOf(bp, refused)).toMatchObject({ requests: 1, failures: 1, lastError: { code: 'ECONNREFUSED', origin: refused } });
  });

  test('a POST without idempotent that got a 503 returns the 503 and is not retried', async () => {
    const busy = await startEndpoint({ status: 503 });
    const good = await startEndpoint({});
    const bp = balanced([busy.origin, good.origin], { strategy: 'round-robin', retry: { baseDelayMs: 0 } });
    const r = await bp.execute('/', { method: 'POST', body: 'x' });
    expect(r.statusCode).toBe(503);
    expect(busy.hits).toBe(1);
    expect(good.hits).toBe(0);
  });
});

describe('retry timing and limits', () => {
  test.each([503, 429])('honours Retry-After of a %i up to maxDelayMs', async (status) => {
    // Retry-After: 3 s, capped at 250 ms. A retry that would outlive the
    // request's 2 s timeout is not started (the 503 would be the answer), so
    // the retry reaching the other endpoint proves the cap applied. The
    // delay itself (min(Retry-After, maxDelayMs)) is checked in
    // test/cpp/balancer_test.cc with a fixed clock.
    const busy = await startEndpoint({ status, retryAfter: 3 });
    const good = await startEndpoint({});
    const bp = balanced([busy.origin, good.origin], {
      strategy: 'round-robin',
      retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 250 },
    });
    const r = await bp.execute('/', { timeout: 2000 });
    expect(r.statusCode).toBe(200);
    expect(busy.hits).toBe(1);
    expect(good.hits).toBe(1);
  });

  test('the retry budget caps retries when every endpoint fails', async () => {
    const eps = [await startEndpoint({ status: 503 }), await startEndpoint({ status: 503 }), await startEndpoint({ status: 503 })];
    const budgetPercent = 10;
    const bp = balanced(eps.map((e) => e.origin), {
      strategy: 'round-robin',
      breaker: { consecutiveFailures: 1000 },  // the budget alone limits here
      retry: { attempts: 3, baseDelayMs: 0, maxDelayMs: 0, budgetPercent },
    });
    const N = 60;
    const answers = await sequential(bp, N);
    expect(answers.every((r) => r.statusCode === 503)).toBe(true);
    const attempts = eps.reduce((sum, e) => sum + e.hits, 0);
    const budget = Math.max(3, Math.ceil((N * budgetPercent) / 100));
    expect(attempts).toBeGreaterThan(N);  // some retries did happen
    expect(attempts).toBeLessThanOrEqual(N + budget);
    // Without a budget the same outage costs N * attempts.
    expect(attempts).toBeLessThan(N * 3);
  });

  test('the request timeout bounds the retries and counts their delays', async () => {
    // 503 + Retry-After (capped at 300 ms), then an endpoint that never
    // answers: the request ends with its timeout, after exactly one retry.
    const busy = await startEndpoint({ status: 503, retryAfter: 1 });
    const hanging = await startEndpoint({ hold: true });
    const bp = balanced([busy.origin, hanging.origin], {
      strategy: 'round-robin',
      retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 300 },
    });
    const err = await bp.execute('/', { timeout: 500 }).catch((e) => e);
    expect(err.code).toBe('ERR_POOL_REQUEST_TIMEOUT');
    expect([busy.hits, hanging.hits]).toEqual([1, 1]);
    expect(busy.requests[0].at).toBeLessThan(hanging.requests[0].at);  // order: the 503 first
  });

  test('a retry that would outlive the timeout is not started', async () => {
    const busy = await startEndpoint({ status: 503, retryAfter: 2 });
    const good = await startEndpoint({});
    const bp = balanced([busy.origin, good.origin], {
      strategy: 'round-robin',
      retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2000 },
    });
    // Had the 2 s retry been started, the 300 ms timeout would end the
    // request with ERR_POOL_REQUEST_TIMEOUT instead of the 503.
    const r = await bp.execute('/', { timeout: 300 });
    expect(r.statusCode).toBe(503);
    expect(good.hits).toBe(0);
  });
});

describe('errors', () => {
  test('ERR_POOL_NO_ENDPOINT carries each endpoint\'s last error', async () => {
    const busy = await startEndpoint({ status: 503 });
    const resetting = await startEndpoint({ reset: true });
    const refused = `http://${HOST}:${await closedPort()}`;
    const bp = balanced([busy.origin, resetting.origin, refused], {
      strategy: 'round-robin',
      breaker: { consecutiveFailures: 1, cooldownMs: 60000 },
      retry: { attempts: 3, baseDelayMs: 0, budgetPercent: 100 },
    });
    const breakers = recordEvents(bp, ['endpoint:breaker']);
    const err = await bp.execute('/').catch((e) => e);
    expect(err.code).toBe('ERR_POOL_NO_ENDPOINT');
    const byOrigin = Object.fromEntries(err.errors.map((e) => [e.origin, e.code]));
    expect(byOrigin[busy.origin]).toBe('ERR_POOL_HTTP_STATUS');
    expect(['ECONNRESET', 'ERR_POOL_SOCKET_CLOSED']).toContain(byOrigin[resetting.origin]);
    expect(byOrigin[refused]).toBe('ECONNREFUSED');
    expect(err.errors).toHaveLength(3);
    expect(breakers.of('endpoint:breaker').map((e) => e.to)).toEqual(['open', 'open', 'open']);
    breakers.stop();

    // Every breaker open: the next request fails at once, touching no server.
    const hits = busy.hits + resetting.hits;
    const again = await bp.execute('/').catch((e) => e);
    expect(again.code).toBe('ERR_POOL_NO_ENDPOINT');
    expect(again.errors.map((e) => e.origin).sort()).toEqual([busy.origin, resetting.origin, refused].sort());
    expect(busy.hits + resetting.hits).toBe(hits);
  });

  test('errors carry url: the request target on the endpoint that failed, else the URL as given', async () => {
    const failing = await startEndpoint({ reset: true });
    const refused = `http://${HOST}:${await closedPort()}`;
    const bp = balanced([failing.origin], { retry: { attempts: 1 } });

    // A path: resolved against the endpoint the error names (err.origin).
    const byPath = await bp.execute('/a/b?x=1&y=2', { method: 'POST', body: 'p' }).catch((e) => e);
    expect(['ECONNRESET', 'ERR_POOL_SOCKET_CLOSED']).toContain(byPath.code);
    expect(byPath).toMatchObject({ origin: failing.origin, url: `${failing.origin}/a/b?x=1&y=2` });

    // An absolute URL of a member (string or URL): its path and query on that endpoint.
    const byHref = await bp.execute(`${failing.origin}/abs?q=3#frag`, { method: 'POST', body: 'p' }).catch((e) => e);
    expect(byHref).toMatchObject({ origin: failing.origin, url: `${failing.origin}/abs?q=3` });
    const byUrl = await bp.execute(new URL('/u', failing.origin), { method: 'POST', body: 'p' }).catch((e) => e);
    expect(byUrl).toMatchObject({ origin: failing.origin, url: `${failing.origin}/u` });

    // Not a member, or a bad init: no request at all, the URL as given.
    const stranger = await bp.execute(`${refused}/s`).catch((e) => e);
    expect(stranger).toMatchObject({ code: 'ERR_INVALID_URL', url: `${refused}/s` });
    const badInit = await bp.execute('/bad', { method: 'NOT A TOKEN' }).catch((e) => e);
    expect(badInit).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', url: '/bad' });

    // Every endpoint failed: each entry of err.errors names its own endpoint's URL.
    const bp2 = balanced([failing.origin, refused], { retry: { attempts: 3, baseDelayMs: 0, budgetPercent: 100 } });
    const all = await bp2.execute('/all?z').catch((e) => e);
    expect(all.code).toBe('ERR_POOL_NO_ENDPOINT');
    expect(all.errors.map((e) => [e.origin, e.url]).sort())
      .toEqual([[failing.origin, `${failing.origin}/all?z`], [refused, `${refused}/all?z`]].sort());
    expect(all.url).toBe(`${all.origin}/all?z`);

    // An abort: still the endpoint's URL, and its origin.
    const hanging = await startEndpoint({ hold: true });
    const bp3 = balanced([hanging.origin]);
    const ac = new AbortController();
    const inFlight = bp3.execute('/held', { signal: ac.signal });
    await waitFor(() => hanging.held.length === 1, { label: 'the request to reach the server' });
    ac.abort();
    const aborted = await inFlight.catch((e) => e);
    expect(aborted).toMatchObject({ name: 'AbortError', origin: hanging.origin, url: `${hanging.origin}/held` });

    // A closed BalancedPool: no endpoint was picked, the path as given.
    await bp3.close();
    const closed = await bp3.execute('/late').catch((e) => e);
    expect(closed).toMatchObject({ code: 'ERR_POOL_CLOSED', url: '/late' });
  });

  test('an abort ends the request in flight and during a backoff, with no retry', async () => {
    const hanging = await startEndpoint({ hold: true });
    const other = await startEndpoint({});
    const bp = balanced([hanging.origin, other.origin], { strategy: 'round-robin', retry: { baseDelayMs: 0 } });
    const ac = new AbortController();
    const inFlight = bp.execute('/', { signal: ac.signal });
    await waitFor(() => hanging.held.length === 1, { label: 'the request to reach the server' });
    ac.abort();
    const err = await inFlight.catch((e) => e);
    expect(err.name).toBe('AbortError');
    expect(other.hits).toBe(0);

    const busy = await startEndpoint({ status: 503, retryAfter: 5 });
    const bp2 = balanced([busy.origin, other.origin], { strategy: 'round-robin', retry: { maxDelayMs: 5000 } });
    const ac2 = new AbortController();
    const backingOff = bp2.execute('/', { signal: ac2.signal });
    await waitFor(() => statsOf(bp2, busy.origin).failures === 1, { label: 'the 503 to be recorded' });
    ac2.abort();
    const err2 = await backingOff.catch((e) => e);
    expect(err2.name).toBe('AbortError');
    expect(other.hits).toBe(0);
  });
});

describe('options', () => {
  test('health thresholds are accepted at the top level, without health probes', async () => {
    const ep = await startEndpoint({});
    const refused = `http://${HOST}:${await closedPort()}`;
    // Every response is slower than 0.0001 ms, so the class is degraded.
    const bp = balanced([ep.origin, refused], {
      strategy: 'round-robin',
      thresholds: { healthyMs: 0.0001, degradedMs: 60000, unhealthyFailures: 1, deadFailures: 2 },
      breaker: { consecutiveFailures: 100 },
      retry: { attempts: 2, baseDelayMs: 0, budgetPercent: 100 },
    });
    await sequential(bp, 2);
    expect(statsOf(bp, ep.origin).health).toBe('degraded');
    expect(statsOf(bp, refused)).toMatchObject({ health: 'unhealthy', consecutiveFailures: 1 });
  });

  test('health.thresholds still works and wins over the top level', () => {
    const bad = (options) => {
      try {
        new BalancedPool([], options);
      } catch (err) {
        return err;
      }
      return null;
    };
    expect(bad({ thresholds: { deadFailures: 0 } })).toMatchObject({ code: 'ERR_POOL_CONFIG', message: expect.stringContaining('thresholds.deadFailures') });
    expect(bad({ health: { thresholds: { healthyMs: -1 } } })).toMatchObject({ code: 'ERR_POOL_CONFIG', message: expect.stringContaining('health.thresholds.healthyMs') });
    // A bad top-level value that health.thresholds overrides is not used.
    const pool = res.pool();
    const bp = new BalancedPool([], { pool, thresholds: { healthyMs: -1 }, health: { intervalMs: 600000, thresholds: { healthyMs: 10 } } });
    fleets.push({ bp, pool });
    expect(bp.getStats().endpoints).toEqual([]);
  });
});

describe('https endpoints', () => {
  test('a BalancedPool making the process\'s first https request hands over the default trust (NODE_EXTRA_CA_CERTS)', async () => {
    const certs = getCerts();
    const srv = res.server(await startHttpsServer({ cert: certs.leaf.cert, key: certs.leaf.key }));
    const caFile = writePemFile(certs.ca.cert, 'test-ca.pem');
    res.defer(() => caFile.remove());
    const env = { ...process.env, NODE_EXTRA_CA_CERTS: caFile.path };
    const fixture = path.join(__dirname, 'fixtures', 'balanced-https-trust.js');
    const stdout = await new Promise((resolve, reject) => {
      execFile(process.execPath, [fixture, srv.url('')], { env, timeout: 15000 }, (err, out, stderr) => {
        if (err) reject(new Error(`child failed: ${err.message}\n${stderr}`));
        else resolve(out);
      });
    });
    expect(JSON.parse(stdout)).toEqual([{ status: 200 }, { status: 200 }, { status: 200 }]);
    expect(srv.requests.map((r) => r.url)).toEqual(['/balanced', '/same-pool', '/other-pool']);
  });
});

describe('membership and stats', () => {
  test('close() refuses new requests, lets live ones finish and closes the pool it made', async () => {
    const ep = await startEndpoint({ hold: true });
    const bp = new BalancedPool([ep.origin], { health: { path: PROBE_PATH, intervalMs: 20 } });
    const live = bp.execute('/');
    await waitFor(() => ep.held.length === 1, { label: 'the request to be held' });
    const closing = bp.close();
    const refused = await bp.execute('/').catch((e) => e);
    expect(refused.code).toBe('ERR_POOL_CLOSED');
    ep.release();
    expect((await live).statusCode).toBe(200);
    await withDeadline(closing, 3000, 'close()');
    const m = bp.pool.getMetrics();
    expect(m.activeConnections + m.idleConnections).toBe(0);
    expect(testHooks.sweepNow(bp.pool)).toBe(0);
    await waitFor(() => ep.openConnections === 0, { label: 'the server to see its sockets close' });
  });

  test('addEndpoint and removeEndpoint at run time; a removed endpoint drains and closes its sockets', async () => {
    const a = await startEndpoint({});
    const b = await startEndpoint({});
    const c = await startEndpoint({});
    const bp = balanced([a.origin, b.origin], { strategy: 'round-robin' });
    await sequential(bp, 6);
    expect([a.hits, b.hits]).toEqual([3, 3]);

    bp.addEndpoint(c.origin);
    await sequential(bp, 9);
    expect([a.hits, b.hits, c.hits]).toEqual([6, 6, 3]);

    // One request held on `a` while it is removed: it still completes.
    a.behaviour.hold = true;
    const inFlight = [bp.execute('/'), bp.execute('/'), bp.execute('/')];
    await waitFor(() => a.held.length === 1, { label: 'a request held on the endpoint to remove' });
    expect(bp.removeEndpoint(a.origin)).toBe(true);
    expect(bp.getStats().endpoints.map((e) => e.origin)).toEqual([b.origin, c.origin]);
    a.release();
    const drained = await Promise.all(inFlight);
    expect(drained.every((r) => r.statusCode === 200)).toBe(true);
    await waitFor(() => a.openConnections === 0, { timeoutMs: 2000, label: 'the removed endpoint\'s sockets to close' });

    const aHits = a.hits;
    const others = b.hits + c.hits;
    await sequential(bp, 12);
    expect(a.hits).toBe(aHits);
    expect(b.hits + c.hits).toBe(others + 12);
  });

  test('removeEndpoint drains only this balancer\'s use: direct execute() and another BalancedPool keep their sockets', async () => {
    const a = await startEndpoint({});
    const b = await startEndpoint({});
    const pool = res.pool();
    const bp1 = new BalancedPool([a.origin, b.origin], { strategy: 'round-robin', pool });
    const bp2 = new BalancedPool([a.origin], { pool });
    fleets.push({ bp: bp1, pool }, { bp: bp2, pool });
    expect((await pool.execute(`${a.origin}/direct`)).statusCode).toBe(200);
    await sequential(bp1, 4);
    expect(a.hits).toBe(3);
    expect(bp1.removeEndpoint(a.origin)).toBe(true);
    // The direct user and the other balancer still reuse the one socket.
    const direct = [await pool.execute(`${a.origin}/direct`), await pool.execute(`${a.origin}/direct`)];
    expect(direct.map((r) => [r.statusCode, r.reused])).toEqual([[200, true], [200, true]]);
    const viaOther = await sequential(bp2, 3);
    expect(viaOther.map((r) => r.reused)).toEqual([true, true, true]);
    expect(a.openConnections).toBe(1);
    await sequential(bp1, 4);
    expect(a.hits).toBe(8);  // bp1 sent it nothing more
  });

  test('an origin only balancers used drains when the last of them removes it', async () => {
    const a = await startEndpoint({});
    const b = await startEndpoint({});
    const pool = res.pool();
    const bp1 = new BalancedPool([a.origin, b.origin], { strategy: 'round-robin', pool });
    const bp2 = new BalancedPool([a.origin], { pool });
    fleets.push({ bp: bp1, pool }, { bp: bp2, pool });
    await sequential(bp1, 2);
    await sequential(bp2, 1);
    expect(bp1.removeEndpoint(a.origin)).toBe(true);
    // bp2 still has it: keep-alive goes on.
    expect((await bp2.execute('/')).reused).toBe(true);
    expect(bp2.removeEndpoint(a.origin)).toBe(true);
    await waitFor(() => a.openConnections === 0, { timeoutMs: 2000, label: 'the drained origin\'s sockets to close' });
  });

  test('getStats() reports each endpoint\'s figures', async () => {
    const good = await startEndpoint({});
    const refused = `http://${HOST}:${await closedPort()}`;
    const bp = balanced([good.origin, refused], {
      strategy: 'round-robin',
      breaker: { consecutiveFailures: 2, cooldownMs: 60000 },
      retry: { baseDelayMs: 0, budgetPercent: 100 },
    });
    expect(bp.getStats().endpoints).toEqual([
      expect.objectContaining({ origin: good.origin, health: 'healthy', breaker: 'closed', ewmaMs: 0, inflight: 0, requests: 0, failures: 0, consecutiveFailures: 0, lastError: null }),
      expect.objectContaining({ origin: refused, health: 'healthy', breaker: 'closed', ewmaMs: 0, inflight: 0, requests: 0, failures: 0, consecutiveFailures: 0, lastError: null }),
    ]);
    await sequential(bp, 6);
    const [g, r] = bp.getStats().endpoints;
    expect(g).toMatchObject({ origin: good.origin, health: 'healthy', breaker: 'closed', inflight: 0, requests: good.hits, failures: 0, consecutiveFailures: 0, lastError: null });
    expect(good.hits).toBe(6);
    expect(g.ewmaMs).toBeGreaterThan(0);
    expect(r).toMatchObject({ origin: refused, breaker: 'open', ewmaMs: 0, inflight: 0, requests: 2, failures: 2, consecutiveFailures: 2 });
    expect(r.lastError).toMatchObject({ code: 'ECONNREFUSED', origin: refused });

    good.behaviour.hold = true;
    const held = bp.execute('/');
    await waitFor(() => good.held.length === 1, { label: 'the request to be held' });
    expect(statsOf(bp, good.origin).inflight).toBe(1);
    good.release();
    await held;
    expect(statsOf(bp, good.origin)).toMatchObject({ inflight: 0, requests: 7 });
  });

  test('health probes move an endpoint between classes and emit endpoint:health', async () => {
    const ep = await startEndpoint({});
    const bp = balanced([ep.origin], {
      health: { path: PROBE_PATH, intervalMs: 20, timeoutMs: 200, thresholds: { unhealthyFailures: 2, deadFailures: 3 } },
      breaker: { consecutiveFailures: 100 },
    });
    const rec = recordEvents(bp, ['endpoint:health']);
    await waitFor(() => ep.requests.length >= 2, { label: 'two probes' });
    ep.behaviour.status = 503;
    await waitFor(bp, 'endpoint:health', { filter: (e) => e.to === 'dead', timeoutMs: 3000 });
    ep.behaviour.status = undefined;
    await waitFor(bp, 'endpoint:health', { filter: (e) => e.to === 'healthy', timeoutMs: 3000 });
    rec.stop();
    expect(rec.of('endpoint:health').map((e) => [e.from, e.to])).toEqual([
      ['healthy', 'unhealthy'], ['unhealthy', 'dead'], ['dead', 'healthy'],
    ]);
    expect(rec.of('endpoint:health').every((e) => e.origin === ep.origin && typeof e.reason === 'string')).toBe(true);
    expect(statsOf(bp, ep.origin).requests).toBe(0);  // probes are not requests
  });
});

describe('a real JSON-RPC node behind two endpoints', () => {
  // A devDependency: a missing ganache fails the suite, it does not skip the case.
  const ganache = require('ganache');

  // A TCP proxy to `port`: a second address for the same node.
  async function startProxy(port) {
    const open = new Set();
    let requests = 0;
    const server = net.createServer((client) => {
      const upstream = net.connect(port, HOST);
      for (const s of [client, upstream]) {
        open.add(s);
        s.on('error', () => {});
        s.on('close', () => {
          open.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.on('data', (d) => {
        requests += (d.toString('latin1').match(/^POST /gm) || []).length;
      });
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise((resolve) => server.listen(0, HOST, resolve));
    const origin = `http://${HOST}:${server.address().port}`;
    return res.server({
      origin,
      get requests() {
        return requests;
      },
      get openConnections() {
        return [...open].filter((s) => s.remotePort !== port).length;
      },
      stop() {
        for (const s of open) s.destroy();
        return new Promise((resolve) => server.close(() => resolve()));
      },
      close() {
        return server.listening ? this.stop() : Promise.resolve();
      },
    });
  }

  test('reads round the fleet, keep working when one endpoint dies, and send a transaction exactly once', async () => {
    const node = ganache.server({
      logging: { quiet: true },
      wallet: { deterministic: true, totalAccounts: 2 },
      chain: { chainId: 1337 },
    });
    await node.listen(0, HOST);
    res.defer(() => node.close());
    const nodePort = node.address().port;
    const p1 = await startProxy(nodePort);
    const p2 = await startProxy(nodePort);
    const refused = `http://${HOST}:${await closedPort()}`;
    const bp = balanced([p1.origin, p2.origin], {
      strategy: 'round-robin',
      breaker: { consecutiveFailures: 2, cooldownMs: 60000 },
      retry: { baseDelayMs: 1, budgetPercent: 100 },
    });
    let id = 0;
    const call = async (method, params = [], idempotent = true, fleet = bp) => {
      const r = await fleet.execute('/', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params }),
        idempotent,
      });
      expect(r.statusCode).toBe(200);
      const msg = JSON.parse(r.body.toString());
      if (msg.error) throw new Error(msg.error.message);
      return msg.result;
    };

    for (let i = 0; i < 4; i++) expect(await call('eth_chainId')).toBe('0x539');
    expect([p1.requests, p2.requests]).toEqual([2, 2]);

    // One endpoint dies: reads carry on through the other.
    await p1.stop();
    for (let i = 0; i < 6; i++) expect(typeof (await call('eth_blockNumber'))).toBe('string');
    expect(p2.requests).toBe(8);
    expect(statsOf(bp, p1.origin).breaker).toBe('open');

    // A transaction (not idempotent) through a fleet whose first endpoint
    // refuses: refused before any byte, so it goes on to the live one, once.
    const txFleet = balanced([refused, p2.origin], { strategy: 'round-robin', retry: { baseDelayMs: 1 } });
    const [from, to] = await node.provider.request({ method: 'eth_accounts', params: [] });
    const nonce = Number(await node.provider.request({ method: 'eth_getTransactionCount', params: [from, 'latest'] }));
    const height = Number(await node.provider.request({ method: 'eth_blockNumber', params: [] }));
    const before = p2.requests;
    const hash = await call('eth_sendTransaction', [{ from, to, value: '0x1' }], false, txFleet);
    expect(p2.requests).toBe(before + 1);
    expect(statsOf(txFleet, refused).lastError.code).toBe('ECONNREFUSED');
    expect(Number(await node.provider.request({ method: 'eth_getTransactionCount', params: [from, 'latest'] }))).toBe(nonce + 1);
    const block = await node.provider.request({ method: 'eth_getBlockByNumber', params: [`0x${(height + 1).toString(16)}`, false] });
    expect(block.transactions).toEqual([hash]);
    expect(Number(await node.provider.request({ method: 'eth_blockNumber', params: [] }))).toBe(height + 1);
  });
});

describe('rpc.fetch', () => {
  test('routes a fetch like execute(), retries an idempotent POST and resolves with a Response', async () => {
    const down = await startEndpoint({ reset: true });
    const up = await startEndpoint();
    // The failing endpoint first, so round-robin sends the first attempt there.
    const bp = balanced([down.origin, up.origin], { retry: { attempts: 3, baseDelayMs: 1 } });
    const res = await bp.fetch('/rpc', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}',
      idempotent: true,
    });
    expect(res instanceof Response).toBe(true);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(JSON.parse(JSON_BODY));
    expect(down.requests.filter((r) => r.path === '/rpc')).toHaveLength(1);
    expect(up.requests.filter((r) => r.path === '/rpc')).toHaveLength(1);
  });

  test('rejects with TypeError fetch failed whose cause is ERR_POOL_NO_ENDPOINT', async () => {
    const bp = balanced([`http://${HOST}:${await closedPort()}`], { retry: { attempts: 2, baseDelayMs: 1 } });
    const err = await bp.fetch('/').catch((e) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toBe('fetch failed');
    expect(err.cause.code).toBe('ERR_POOL_NO_ENDPOINT');
  });
});
