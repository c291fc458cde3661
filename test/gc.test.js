'use strict';

// Pools that are done with must not stay in memory. A service that makes a pool per
// tenant, per test or per reload would otherwise grow without bound. Found by the soak
// (test/soak/soak.js), which creates and closes a short-lived pool every 5 s.

const v8 = require('node:v8');
const vm = require('node:vm');
const { ROOT } = require('./helpers/resources');

const { ConnectionPoolCore } = require(ROOT);

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

async function collect(rounds = 6) {
  for (let i = 0; i < rounds; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
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
  await collect();
  const before = external();
  await (async () => {
    for (let i = 0; i < 30; i++) {
      const pool = new ConnectionPoolCore();
      if (i % 3 === 1) await pool.close();
      if (i % 3 === 2) pool.destroy();
      registry.register(pool, i);
    }
  })();
  await collect();
  expect(collected).toBe(30);
  // Without the leak, 30 pools leave nothing behind (with it: ~10 MiB).
  expect(external() - before).toBeLessThan(2 * 1024 * 1024);
});
