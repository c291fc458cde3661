'use strict';

// Regression (found by the soak): every new URL string was registered with the
// addon, which kept its target forever, so a service calling /item/<id> grew
// without bound. lib/ bounds its URL cache and clears the addon's targets with
// it: the native target ids handed out stay below the cache limit.

const binding = require('../lib/binding');

// Records every registerTarget() id of the pools made in this file.
const ids = [];
const NativePool = binding.NativePool;
binding.NativePool = function RecordingNativePool(...args) {
  const native = new NativePool(...args);
  const register = native.registerTarget;
  // The addon's methods are read-only on its prototype: shadow with an own property.
  Object.defineProperty(native, 'registerTarget', {
    value: (...a) => {
      const id = register.apply(native, a);
      ids.push(id);
      return id;
    },
  });
  return native;
};

const { startHttpServer } = require('./helpers/http-server');
const { createResources } = require('./helpers/resources');

const res = createResources();
afterEach(async () => {
  expect(await res.cleanup()).toEqual([]);
});
afterAll(() => {
  binding.NativePool = NativePool;
});

test('1,300 unique URLs keep the native target registry bounded (ids < 512)', async () => {
  const srv = res.server(await startHttpServer());
  const pool = res.pool({ maxSockets: 8 });
  const N = 1300;
  for (let start = 0; start < N; start += 100) {
    const batch = [];
    for (let i = start; i < Math.min(N, start + 100); i++) batch.push(pool.execute(srv.url(`/item/${i}`)));
    const out = await Promise.all(batch);
    expect(out.every((r) => r.statusCode === 200)).toBe(true);
  }
  expect(ids).toHaveLength(N);
  expect(Math.max(...ids)).toBeLessThan(512);
  // The registry was cleared and reused, not grown: ids restart from 0.
  expect(ids.filter((id) => id === 0).length).toBeGreaterThanOrEqual(2);
  // A cleared target's URL still works when it comes back.
  expect((await pool.execute(srv.url('/item/0'))).statusCode).toBe(200);
  expect(pool.getMetrics().failedRequests).toBe(0);
});
