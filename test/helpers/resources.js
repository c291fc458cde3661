'use strict';

// Per-test bookkeeping: every pool and server a test makes is registered here
// and torn down in afterEach, which also checks that the test ended with no
// socket open — neither in the pool's own metrics nor on the server's side.
//
//   const res = createResources();
//   afterEach(async () => expect(await res.cleanup()).toEqual([]));
//   const pool = res.pool({ maxSockets: 2 });
//   const srv = res.server(await startHttpServer());

const path = require('node:path');
const { waitFor } = require('./wait');

const ROOT = path.resolve(__dirname, '..', '..');

function createResources() {
  let pools = [];
  let servers = [];
  let others = [];
  return {
    ROOT,
    // A new ConnectionPoolCore, destroyed after the test. Unless the test
    // sets one, requests get a 10 s timeout, so a hang fails well inside
    // Jest's 30 s with the pool's own error instead of a Jest timeout.
    pool(options) {
      const { ConnectionPoolCore } = require(ROOT);
      const pool = new ConnectionPoolCore({ timeout: 10000, ...options });
      pools.push(pool);
      return pool;
    },
    // A server from startRawServer/startHttpServer, closed after the test.
    server(srv) {
      servers.push(srv);
      return srv;
    },
    // Any other teardown (async allowed).
    defer(fn) {
      others.push(fn);
    },
    // Destroys the pools, waits (bounded) until they and the servers report
    // no open socket, then closes the servers. Resolves with a list of
    // problems (empty when everything was closed).
    async cleanup() {
      const problems = [];
      const thesePools = pools;
      const theseServers = servers;
      const theseOthers = others;
      pools = [];
      servers = [];
      others = [];
      for (const pool of thesePools) {
        try {
          pool.destroy();
        } catch {
          // destroy() of an already closed pool may refuse; the checks below still run
        }
      }
      for (const pool of thesePools) {
        try {
          await waitFor(() => {
            const m = pool.getMetrics();
            return m.activeConnections + m.idleConnections === 0;
          }, { timeoutMs: 3000, label: 'pool metrics to show no open socket after destroy()' });
        } catch (err) {
          if (err.code === 'ERR_TEST_DEADLINE') {
            const m = pool.getMetrics();
            problems.push(`pool still reports active=${m.activeConnections} idle=${m.idleConnections}`);
          }
        }
      }
      for (const srv of theseServers) {
        try {
          await waitFor(() => srv.openConnections === 0, {
            timeoutMs: 3000,
            label: 'server to see every connection closed',
          });
        } catch {
          problems.push(`server ${srv.origin} still has ${srv.openConnections} open connection(s)`);
        }
        await srv.close();
      }
      for (const fn of theseOthers.reverse()) await fn();
      return problems;
    },
  };
}

module.exports = { createResources, ROOT };
