'use strict';

// Pools that are done with must not stay in memory. A service that makes a pool per
// tenant, per test or per reload would otherwise grow without bound. Found by the soak
// (test/soak/soak.js), which creates and closes a short-lived pool every 5 s.

const v8 = require('node:v8');
const vm = require('node:vm');
const { ROOT } = require('./helpers/resources');
const { waitFor } = require('./helpers/wait');

const { ConnectionPoolCore } = require(ROOT);

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

// Collects until `done()` holds: FinalizationRegistry callbacks and the
// native cores' shutdown run after a collection, in later turns of the
// loop, so each poll collects again and then looks (bounded by waitFor).
function collectUntil(done, label) {
  return waitFor(() => {
    gc();
    return done();
  }, { timeoutMs: 10000, intervalMs: 10, label });
}

// Regression: PoolBridge holds persistent references to the emit and onBatch
// callbacks; emit reached the ConnectionPoolCore, which holds the NativePool wrap, so
// no pool was ever collected (~344 KiB of external memory each). emit now goes
// through a WeakRef.
test('a pool that was closed, destroyed or never used is garbage-collected', async () => {
  let collected = 0;
  const registry = new FinalizationRegistry(() => {
    collected++;
  });
  const external = () => process.memoryUsage().external;
  gc();
  gc();
  const before = external();
  await (async () => {
    for (let i = 0; i < 30; i++) {
      const pool = new ConnectionPoolCore();
      if (i % 3 === 1) await pool.close();
      if (i % 3 === 2) pool.destroy();
      registry.register(pool, i);
    }
  })();
  await collectUntil(() => collected === 30, 'all 30 pools finalized');
  expect(collected).toBe(30);
  // Without the leak, 30 pools leave nothing behind (with it: ~10 MiB).
  await collectUntil(() => external() - before < 2 * 1024 * 1024, 'the pools\' external memory freed');
  expect(external() - before).toBeLessThan(2 * 1024 * 1024);
});

// execute() reaches the native pool through a handle (an External shared by
// the pool's JS object and its native wrap, src/addon/pool_wrap.h). A handle
// that outlives its pool must answer "no pool" (-1), never touch freed memory.
test('an execute handle that outlives its collected pool answers -1', async () => {
  const binding = require('../lib/binding');
  const { closedPort } = require('./helpers/raw-server');
  const url = `http://127.0.0.1:${await closedPort()}/`;
  let handle;
  let collected = false;
  const registry = new FinalizationRegistry(() => {
    collected = true;
  });
  await (async () => {
    const pool = new ConnectionPoolCore();
    const kHandle = Object.getOwnPropertySymbols(pool).find((s) => s.description === 'kHandle');
    handle = pool[kHandle];
    // Registers the URL as target 0 (the request fails: nothing listens).
    await expect(pool.execute(url)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    // While the pool lives, the handle reaches it: a request handle >= 0
    // (its failure settles nothing: no promise waits on that slot).
    expect(binding.execute(handle, 0)).toBeGreaterThanOrEqual(0);
    registry.register(pool, 'pool');
  })();
  await collectUntil(() => collected, 'the pool finalized');
  // The native wrap goes in a later collection than the JS object, once its
  // last request has settled: collect until the handle finds no pool.
  await collectUntil(() => binding.execute(handle, 0) === -1, 'the handle to find no pool');
  expect(binding.execute(handle, 0)).toBe(-1);
  expect(binding.execute({}, 0)).toBe(-1);
  expect(binding.execute(undefined, 0)).toBe(-1);
});
