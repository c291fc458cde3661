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

test('the remembered last URL never outlives a registry clear made by URL objects', async () => {
  // execute() remembers the last URL string and its native target id. Clearing
  // the registry (past 512 targets) hands the ids out again from 0, so the
  // remembered one must be forgotten with it, even when the URLs that forced
  // the clear were URL objects, which are never remembered.
  const srv = res.server(await startHttpServer());
  const pool = res.pool({ maxSockets: 8 });
  const first = srv.url('/remembered');
  expect(JSON.parse((await pool.execute(first)).body).url).toBe('/remembered');
  for (let start = 0; start < 600; start += 100) {
    const batch = [];
    for (let i = start; i < start + 100; i++) batch.push(pool.execute(new URL(srv.url(`/object/${i}`))));
    expect((await Promise.all(batch)).every((r) => r.statusCode === 200)).toBe(true);
  }
  expect(ids.filter((id) => id === 0).length).toBeGreaterThanOrEqual(2);
  // The same string again (equal, not the same object as before or after).
  expect(JSON.parse((await pool.execute(`${first}`)).body).url).toBe('/remembered');
  expect(JSON.parse((await pool.execute(first)).body).url).toBe('/remembered');
});
