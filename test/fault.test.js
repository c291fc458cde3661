'use strict';

// Fault injection: 10,000 GETs at concurrency 64 against a server (its own process,
// test/helpers/fault-server.js) that drops a fraction of its connections at random points
// (before the response, mid-headers, mid-body, while idle), never answers some requests,
// and restarts every so often (listener closed, every connection destroyed, listening
// again on the same port after a pause in which connects are refused).
//
// Every GET must end — resolved with exactly the body the server sent, or rejected with a
// coded PoolError — none may hang past its deadline; the counters must add up
// (completed + failed === total), the leak audit must find nothing, and after close() the
// process must hold no socket of the pool: its socket descriptors (/proc/self/fd entries
// that are sockets) are back to what they were before the pool existed.
//
// FAULT_SEED=<n> replays the server's choices (timing still varies); FAULT_VERBOSE=1 prints
// what happened (outcomes by code, the server's counts).

const fs = require('node:fs');
const { ROOT } = require('./helpers/resources');
const { startFaultServer, isExpectedBody } = require('./helpers/fault-server');
const { withDeadline, settle } = require('./helpers/wait');

const { ConnectionPoolCore, PoolError } = require(ROOT);
const { testHooks } = require('../lib/connection-pool-core');

const TOTAL = 10000;
const CONCURRENCY = 64;
const REQUEST_TIMEOUT_MS = 250;
const DEADLINE_MS = 10000;  // per GET; far past the pool's own timeout
const SEED = process.env.FAULT_SEED ? Number(process.env.FAULT_SEED) : (Date.now() ^ (process.pid << 8)) >>> 0;

// What a GET may end with when the server misbehaves as above.
const FAULT_CODES = new Set([
  'ERR_POOL_SOCKET_CLOSED',   // FIN before the response was complete
  'ECONNRESET',               // RST
  'EPIPE',                    // RST while the request was being written
  'ECONNREFUSED',             // during a restart
  'ERR_POOL_REQUEST_TIMEOUT', // a stalled request
  'ERR_POOL_CONNECT_TIMEOUT', // a connect that sat in a full accept queue
]);

function socketFds() {
  let n = 0;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:')) n++;
    } catch {
      // closed between readdir and readlink (the directory's own fd, for one)
    }
  }
  return n;
}

let server = null;
let pool = null;
afterEach(async () => {
  if (pool) pool.destroy();
  pool = null;
  if (server) await server.close();
  server = null;
});

test('10,000 GETs at concurrency 64 through dropped connections, stalls and restarts all end, coded, with no socket left', async () => {
  server = await startFaultServer({ seed: SEED, dropRate: 0.03, stallRate: 0.003, restartEveryMs: 300, downMs: 20 });

  const fdsBefore = socketFds();
  pool = new ConnectionPoolCore({
    maxSockets: 48,
    timeout: REQUEST_TIMEOUT_MS,
    connectTimeout: REQUEST_TIMEOUT_MS,
    cleanupPeriodMs: 100,
  });
  const tally = new Map();
  const problems = [];
  let ok = 0;
  let next = 0;
  const worker = async () => {
    while (next < TOTAL) {
      const i = next++;
      const outcome = await withDeadline(settle(pool.execute(server.url(`/r/${i}`))), DEADLINE_MS, `GET #${i}`)
        .catch((err) => ({ status: 'hung', reason: err }));
      if (outcome.status === 'fulfilled') {
        const r = outcome.value;
        const n = Number(r.headers['x-len']);
        if (r.statusCode !== 200 || !isExpectedBody(r.body, n)) {
          problems.push(`GET #${i}: status ${r.statusCode}, x-len ${r.headers['x-len']}, ${r.body.length} body bytes that differ from what was sent`);
        } else {
          ok++;
        }
      } else if (outcome.status === 'rejected' && outcome.reason instanceof PoolError && FAULT_CODES.has(outcome.reason.code)) {
        tally.set(outcome.reason.code, (tally.get(outcome.reason.code) || 0) + 1);
      } else {
        const e = outcome.reason;
        problems.push(`GET #${i}: ${outcome.status} with ${e && e.code}: ${e && e.message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const serverStats = await server.stats();
  const summary = `FAULT_SEED=${SEED}: ${ok} ok, failed ${JSON.stringify(Object.fromEntries(tally))}; server ${JSON.stringify(serverStats)}`;

  if (process.env.FAULT_VERBOSE) process.stderr.write(`${summary}\n`);
  expect({ summary, problems: problems.slice(0, 10) }).toEqual({ summary, problems: [] });
  // The faults really happened, and most requests still got through.
  expect({ summary, restarts: serverStats.restarts > 0, drops: Object.values(serverStats.drops).every((d) => d > 0) })
    .toEqual({ summary, restarts: true, drops: true });
  expect({ summary, mostOk: ok > TOTAL * 0.8 }).toEqual({ summary, mostOk: true });

  expect(testHooks.sweepNow(pool)).toBe(0);
  const m = pool.getMetrics();
  expect(m.totalRequests).toBe(TOTAL);
  expect(m.completedRequests + m.failedRequests).toBe(m.totalRequests);
  expect(m.completedRequests).toBe(ok);
  expect(m.socketLeaks).toBe(0);
  expect(m.pendingRequests).toBe(0);

  await withDeadline(pool.close(), 5000, 'pool.close()');
  const after = pool.getMetrics();
  expect(after.activeConnections + after.idleConnections).toBe(0);
  // API.md: once close() has resolved, the process holds no socket of the pool.
  expect({ summary, fds: socketFds() }).toEqual({ summary, fds: fdsBefore });
}, 60000);
