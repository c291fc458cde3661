#!/usr/bin/env node
'use strict';
// Soak: mixed traffic through one ConnectionPoolCore for N seconds, then the figures that
// show a leak — RSS, the core's nativeMemory, open file descriptors, the leak audit.
//
//   npm run soak -- --seconds 600 [--rate 2000] [--concurrency 32] [--warmup S] [--seed N]
//
// Traffic (to local servers, each in its own process: test/helpers/fault-server.js):
// keep-alive GETs and POSTs to two origins, one of which drops 1% of its connections at
// random points and never answers 0.2% of requests; bodies of 0–4 KiB, now and then 64–400
// KiB; malformed responses; requests to a closed port (ECONNREFUSED); requests aborted
// through an AbortSignal after 0–3 ms; requests with a 1–3 ms timeout; and every 5 s a
// short-lived second pool that serves 50 requests and closes.
//
// Figures are taken with the traffic paused and settled, after a forced GC: "start" once the
// warm-up is over (default: a fifth of the run, 5–120 s), "end" after the last second. The
// script re-runs itself under `node --expose-gc --min-semi-space-size=16
// --max-semi-space-size=16` with MALLOC_MMAP_THRESHOLD_=65536 unless started so, to take two
// allocator effects out of RSS that are not leaks: V8 grows and shrinks its young generation
// (up to 2 x 16 MiB) with the load and with forced GCs, which moved RSS by ±25 MiB between
// otherwise identical measurements; and glibc raises its mmap threshold to the largest block
// freed, after which 64–400 KiB bodies come from the heap and RSS ratchets up with the
// largest bodies seen. Blocks of 64 KiB and more are then mapped and unmapped one by one
// (a leaked one still counts). Exit status 1 when: a request ended other than resolved or
// rejected with a coded PoolError, or did not end within 30 s; the leak audit or
// socketLeaks counted a leak; after close() the process's descriptors — sockets and all
// descriptors alike — are not back to what they were before the pool existed; or RSS grew
// between start and end by 2 MiB or more (runs of 600 s and more), by 8 MiB or more
// (shorter runs, such as CI's 60 s soak: a looser bound, since a short run's warm-up leaves
// more of the allocators' one-off growth in the figures).

const fs = require('node:fs');
const path = require('node:path');
const net = require('node:net');

const ROOT = path.resolve(__dirname, '..', '..');
const { ConnectionPoolCore, PoolError } = require(ROOT);
const { testHooks } = require(path.join(ROOT, 'lib', 'connection-pool-core'));
const { startFaultServer, isExpectedBody } = require(path.join(ROOT, 'test', 'helpers', 'fault-server'));

function parseArgs(argv) {
  const opts = { seconds: 60, rate: 2000, concurrency: 32, warmup: null, seed: (Date.now() >>> 0) };
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z]+)(?:=(.*))?$/.exec(argv[i]);
    if (!m || !(m[1] in opts)) throw new Error(`unknown argument ${argv[i]} (see the header of ${__filename})`);
    const value = m[2] !== undefined ? m[2] : argv[++i];
    const n = Number(value);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${m[1]} needs a number, got ${value}`);
    opts[m[1]] = n;
  }
  if (opts.warmup === null) opts.warmup = Math.min(120, Math.max(5, Math.round(opts.seconds / 5)));
  return opts;
}

const MiB = 1024 * 1024;
const POOL_OPTIONS = { maxSockets: 16, timeout: 2000, connectTimeout: 2000, freeSocketTimeout: 2000, cleanupPeriodMs: 500 };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function fds() {
  let total = 0;
  let sockets = 0;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${fd}`);
      total++;
      if (target.startsWith('socket:')) sockets++;
    } catch {
      // the directory's own descriptor, closed by now
    }
  }
  return { total, sockets };
}

async function closedPort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function settleGc() {
  for (let i = 0; i < 3; i++) {
    if (global.gc) global.gc();
    await sleep(50);
  }
}

function figures(pool) {
  const mem = process.memoryUsage();
  const m = pool.getMetrics();
  const f = fds();
  return {
    rss: mem.rss,
    heapTotal: mem.heapTotal,
    heapUsed: mem.heapUsed,
    external: mem.external,
    nativeMemory: m.nativeMemory,
    fds: f.total,
    socketFds: f.sockets,
    openSockets: m.activeConnections + m.idleConnections,
    socketLeaks: m.socketLeaks,
    requests: m.totalRequests,
  };
}

function show(label, f) {
  return `${label}: rss ${(f.rss / MiB).toFixed(2)} MiB, heap ${(f.heapUsed / MiB).toFixed(2)}/${(f.heapTotal / MiB).toFixed(2)} MiB, ` +
    `external ${(f.external / MiB).toFixed(2)} MiB, nativeMemory ${f.nativeMemory} B, fds ${f.fds} ` +
    `(sockets ${f.socketFds}, pool sockets ${f.openSockets}), socketLeaks ${f.socketLeaks}, requests ${f.requests}`;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  console.log(`soak: ${opts.seconds} s (warm-up ${opts.warmup} s), ${opts.rate} req/s target, concurrency ${opts.concurrency}, seed ${opts.seed}`);

  const flaky = await startFaultServer({ seed: opts.seed, dropRate: 0.01, stallRate: 0.002, restartEveryMs: 0 });
  const steady = await startFaultServer({ seed: opts.seed + 1, dropRate: 0, stallRate: 0, restartEveryMs: 0 });
  const refused = `http://127.0.0.1:${await closedPort()}/`;
  // POST bodies are slices of one buffer: nothing the soak allocates may grow with time.
  const postBody = Buffer.alloc(2000, 0x62);

  const t0 = Date.now();
  const baseline = fds();
  const pool = new ConnectionPoolCore(POOL_OPTIONS);
  const outcomes = new Map();
  const problems = [];  // at most 100 kept: the figures must not include the soak's own growth
  let problemCount = 0;
  const problem = (text) => {
    if (problems.length < 100) problems.push(text);
    problemCount++;
  };
  const count = (key) => outcomes.set(key, (outcomes.get(key) || 0) + 1);

  let a = opts.seed >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };

  // Requests that did not end within 30 s: what they were, and whether they ever ended.
  const hung = [];

  async function one(p, poolName = 'main') {
    const x = rand();
    const server = rand() < 0.5 ? flaky : steady;
    let url = server.url(`/r/${Math.floor(rand() * 1e6)}`);
    const init = {};
    let kind = 'get';
    if (x < 0.05) {
      kind = 'post';
      init.method = 'POST';
      init.body = postBody.subarray(0, Math.floor(rand() * postBody.length));
    } else if (x < 0.08) {
      kind = 'abort';
      const ac = new AbortController();
      init.signal = ac.signal;
      setTimeout(() => ac.abort(), Math.floor(rand() * 4));
    } else if (x < 0.10) {
      kind = 'timeout';
      init.timeout = 1 + Math.floor(rand() * 3);
    } else if (x < 0.12) {
      kind = 'refused';
      url = refused;
    } else if (x < 0.13) {
      kind = 'malformed';
      url = steady.url('/bad');
    } else if (x < 0.135) {
      kind = 'big';
      url = steady.url(`/big/${64 * 1024 + Math.floor(rand() * 336 * 1024)}`);
    }
    let timer;
    const hang = new Promise((resolve) => {
      timer = setTimeout(() => resolve({ hung: true }), 30000);
    });
    const started = Date.now();
    const outcome = p.execute(url, init).then((r) => ({ r }), (e) => ({ e }));
    const result = await Promise.race([outcome, hang]);
    clearTimeout(timer);
    if (result.hung) {
      const m = p.getMetrics();
      const record = {
        what: `${kind} ${url} (${server === flaky ? 'flaky' : 'steady'} server, ${poolName} pool, ` +
          `started at ${((started - t0) / 1000).toFixed(1)} s; pool then: pending ${m.pendingRequests}, ` +
          `active ${m.activeConnections}, idle ${m.idleConnections})`,
        ended: null,
      };
      hung.push(record);
      outcome.then((late) => {
        record.ended = `${((Date.now() - started) / 1000).toFixed(1)} s after it started, ` +
          (late.r ? `resolved ${late.r.statusCode}` : `rejected ${late.e && late.e.code}`);
      });
      problem(`${record.what} did not end within 30 s`);
    } else if (result.r) {
      const n = Number(result.r.headers['x-len']);
      if (result.r.statusCode !== 200 || !isExpectedBody(result.r.body, n)) {
        problem(`${kind} ${url}: status ${result.r.statusCode}, ${result.r.body.length} bytes that differ from x-len ${n}`);
      }
      count(`${kind}: ok`);
    } else if (result.e instanceof PoolError) {
      count(`${kind}: ${result.e.code}`);
    } else {
      problem(`${kind} ${url} rejected with a non-PoolError: ${result.e && result.e.stack}`);
    }
  }

  // Paced traffic: workers take turns from one schedule of opts.rate requests per second.
  let running = false;
  let issued = 0;
  let epoch = 0;
  let inflight = 0;
  async function worker() {
    while (running) {
      const due = epoch + (issued++ / opts.rate) * 1000;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      if (!running) break;
      inflight++;
      await one(pool);
      inflight--;
    }
  }
  let workers = [];
  function start() {
    running = true;
    issued = 0;
    epoch = Date.now();
    workers = Array.from({ length: opts.concurrency }, worker);
  }
  // Stops the traffic, lets every request end, and waits (bounded) until the pool's idle
  // sockets have expired too, so that "start" and "end" are taken in the same state: no
  // request and no socket (their buffers would otherwise count in one figure only).
  async function pause() {
    running = false;
    await Promise.all(workers);
    for (let i = 0; i < 100; i++) {
      const m = pool.getMetrics();
      if (m.activeConnections + m.idleConnections === 0) break;
      await sleep(50);
    }
  }

  // A second pool now and then: creating and closing pools must not leak either.
  let churn = null;
  async function churnOnce() {
    // The main pool's timeouts: with the default 30 s one, a request the flaky server never
    // answers would take as long as the soak's own hang limit.
    const p = new ConnectionPoolCore({ ...POOL_OPTIONS, maxSockets: 4 });
    await Promise.all(Array.from({ length: 50 }, () => one(p, 'short-lived')));
    await p.close();
    const m = p.getMetrics();
    if (m.socketLeaks !== 0 || m.activeConnections + m.idleConnections !== 0) {
      problem(`a short-lived pool ended with socketLeaks ${m.socketLeaks}, ${m.activeConnections + m.idleConnections} open`);
    }
  }

  start();
  await sleep(opts.warmup * 1000);
  await pause();
  await settleGc();
  const first = figures(pool);
  console.log(show('start', first));

  start();
  const churnTimer = setInterval(() => {
    if (!churn) churn = churnOnce().finally(() => { churn = null; });
  }, 5000);
  const reportEvery = Math.max(10, Math.round(opts.seconds / 10)) * 1000;
  const progress = setInterval(() => {
    const m = pool.getMetrics();
    console.log(`  ${((Date.now() - t0) / 1000).toFixed(0)} s: ${m.totalRequests} requests, rss ${(process.memoryUsage().rss / MiB).toFixed(2)} MiB, nativeMemory ${m.nativeMemory} B, in flight ${inflight}`);
  }, reportEvery);
  await sleep(Math.max(0, opts.seconds * 1000 - (Date.now() - t0)));
  clearInterval(churnTimer);
  clearInterval(progress);
  await pause();
  if (churn) await churn;
  await settleGc();
  const last = figures(pool);
  console.log(show('end  ', last));

  const audit = testHooks.sweepNow(pool);
  const m = pool.getMetrics();
  await pool.close();
  const closed = pool.getMetrics();
  const after = fds();
  await flaky.close();
  await steady.close();

  console.log(`outcomes: ${JSON.stringify(Object.fromEntries([...outcomes].sort()))}`);
  for (const h of hung) console.log(`hung: ${h.what}; ${h.ended ? `ended ${h.ended}` : 'never ended'}`);
  const growth = last.rss - first.rss;
  const elapsed = (Date.now() - t0) / 1000;
  const failures = [];
  if (problemCount) failures.push(`${problemCount} request problem(s): ${problems.slice(0, 5).join('; ')}`);
  if (audit !== 0 || m.socketLeaks !== 0) failures.push(`leaks: audit found ${audit}, socketLeaks ${m.socketLeaks}`);
  if (m.completedRequests + m.failedRequests !== m.totalRequests) {
    failures.push(`completed ${m.completedRequests} + failed ${m.failedRequests} != total ${m.totalRequests}`);
  }
  if (closed.activeConnections + closed.idleConnections !== 0) failures.push('sockets still open after close()');
  if (after.sockets !== baseline.sockets) {
    failures.push(`socket fds ${after.sockets} after close(), ${baseline.sockets} before the pool existed`);
  }
  if (after.total !== baseline.total) {
    failures.push(`fds ${after.total} after close(), ${baseline.total} before the pool existed`);
  }
  const rssLimit = (opts.seconds >= 600 ? 2 : 8) * MiB;
  if (growth >= rssLimit) {
    failures.push(`RSS grew by ${(growth / MiB).toFixed(2)} MiB (limit ${rssLimit / MiB} MiB for a ${opts.seconds} s run)`);
  }
  console.log(`fds: ${baseline.total} total / ${baseline.sockets} sockets before the pool, ${after.total} / ${after.sockets} after close()`);
  console.log(`soak: ${m.totalRequests} requests in ${elapsed.toFixed(0)} s; RSS ${(first.rss / MiB).toFixed(2)} -> ${(last.rss / MiB).toFixed(2)} MiB ` +
    `(${growth >= 0 ? '+' : ''}${(growth / 1024).toFixed(0)} KiB), nativeMemory ${first.nativeMemory} -> ${last.nativeMemory} B, ` +
    `fds ${baseline.total} -> ${after.total} (sockets ${baseline.sockets} -> ${after.sockets}), leaks ${audit + m.socketLeaks}: ${failures.length ? `FAILED: ${failures.join('; ')}` : 'ok'}`);
  process.exitCode = failures.length ? 1 : 0;
}

const V8_FLAGS = ['--expose-gc', '--min-semi-space-size=16', '--max-semi-space-size=16'];

if (!V8_FLAGS.every((flag) => process.execArgv.includes(flag)) || !process.env.MALLOC_MMAP_THRESHOLD_) {
  const { spawnSync } = require('node:child_process');
  const child = spawnSync(process.execPath, [...V8_FLAGS, __filename, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { MALLOC_MMAP_THRESHOLD_: '65536', ...process.env },
  });
  process.exitCode = child.status === null ? 1 : child.status;
} else {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
