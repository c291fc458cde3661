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
