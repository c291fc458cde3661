'use strict';

// Header shapes (src/addon/header_shapes.h): after the first response with a
// given sequence of header names, a pool sends JS only the values and builds
// the headers object from a cached template. Every case here answers the
// same bytes at least twice, so the first response (the shape is new) and
// the later ones (the shape is reused) must give the same headers object,
// by Node's rules, in arrival order.

const { createResources } = require('./helpers/resources');
const { startRequestServer, answer } = require('./helpers/raw-server');

const res = createResources();
afterEach(async () => {
  expect(await res.cleanup()).toEqual([]);
});

// A server answering each request with `head(req)` (the header lines, without
// the status line and blank line) and a 2-byte keep-alive body.
async function serverWith(head) {
  return res.server(await startRequestServer(answer((req) => Buffer.from(
    `HTTP/1.1 200 OK\r\n${head(req)}Content-Length: 2\r\n\r\nok`, 'latin1'))));
}

async function headersOf(pool, url, times) {
  const out = [];
  for (let i = 0; i < times; i++) {
    const r = await pool.execute(url);
    expect(r.statusCode).toBe(200);
    expect(r.body.toString()).toBe('ok');
    out.push(r.headers);
  }
  return out;
}

test('a reused shape gives the same headers, keys in arrival order', async () => {
  const srv = await serverWith(() => 'Server: raw\r\nX-Trace: abc\r\nContent-Type: text/plain\r\n');
  const pool = res.pool();
  const all = await headersOf(pool, srv.url('/'), 3);
  for (const h of all) {
    expect(h).toEqual({ server: 'raw', 'x-trace': 'abc', 'content-type': 'text/plain', 'content-length': '2' });
    expect(Object.keys(h)).toEqual(['server', 'x-trace', 'content-type', 'content-length']);
    expect(Object.getPrototypeOf(h)).toBe(Object.prototype);
  }
  expect(all[1]).not.toBe(all[2]);  // a fresh object each time, never the template
  all[1].server = 'changed';
  expect(all[2].server).toBe('raw');
});

test('repeated names follow Node\'s rules on every response of the shape', async () => {
  const srv = await serverWith(() => [
    'Set-Cookie: a=1', 'Vary: accept', 'Content-Type: text/plain', 'Set-Cookie: b=2',
    'Vary: origin', 'Content-Type: text/html', 'Cookie: x=1', 'Cookie: y=2',
  ].join('\r\n') + '\r\n');
  const pool = res.pool();
  for (const h of await headersOf(pool, srv.url('/'), 3)) {
    expect(h).toEqual({
      'set-cookie': ['a=1', 'b=2'],
      vary: 'accept, origin',
      'content-type': 'text/plain',  // keeps its first value
      cookie: 'x=1; y=2',
      'content-length': '2',
    });
  }
});

test('a lone set-cookie is an array on every response', async () => {
  const srv = await serverWith(() => 'Set-Cookie: s=1\r\n');
  const pool = res.pool();
  for (const h of await headersOf(pool, srv.url('/'), 3)) {
    expect(h['set-cookie']).toEqual(['s=1']);
  }
});

test('empty values, obs-text and a __proto__ header come through the same way', async () => {
  const srv = await serverWith(() => 'X-Empty:\r\n__proto__: polluted\r\nX-Name: caf\xe9\r\nX-Last: \r\n');
  const pool = res.pool();
  for (const h of await headersOf(pool, srv.url('/'), 3)) {
    expect(Object.getPrototypeOf(h)).toBe(Object.prototype);
    expect(Object.keys(h)).toEqual(['x-empty', 'x-name', 'x-last', 'content-length']);
    expect(h['x-empty']).toBe('');
    expect(h['x-name']).toBe('caf\u00e9');
    expect(h['x-last']).toBe('');
    expect({}.polluted).toBeUndefined();
  }
});

test('responses alternating between shapes keep their own headers', async () => {
  const srv = await serverWith((req) => (req.path === '/a'
    ? 'X-A: 1\r\nX-Common: a\r\n'
    : 'X-Common: b\r\nX-B: 2\r\nX-B2: 3\r\n'));
  const pool = res.pool();
  for (let i = 0; i < 4; i++) {
    const a = await pool.execute(srv.url('/a'));
    const b = await pool.execute(srv.url('/b'));
    expect(a.headers).toEqual({ 'x-a': '1', 'x-common': 'a', 'content-length': '2' });
    expect(b.headers).toEqual({ 'x-common': 'b', 'x-b': '2', 'x-b2': '3', 'content-length': '2' });
  }
});

test('past the table\'s 128 shapes, new ones are still delivered whole, and old ones still match', async () => {
  // Each path gets its own header name: 150 shapes, more than the table holds.
  const srv = await serverWith((req) => `X-Path-${req.path.slice(1)}: v${req.path.slice(1)}\r\nX-Fixed: f\r\n`);
  const pool = res.pool();
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 150; i++) {
      const r = await pool.execute(srv.url(`/${i}`));
      expect(r.headers).toEqual({ [`x-path-${i}`]: `v${i}`, 'x-fixed': 'f', 'content-length': '2' });
    }
  }
});

test('a response with no header lines gives an empty object each time', async () => {
  // HTTP/1.0 without headers: the body runs to the close, so no socket is kept.
  const srv = res.server(await startRequestServer((req, socket) => socket.end('HTTP/1.0 200 OK\r\n\r\nok')));
  const pool = res.pool();
  for (let i = 0; i < 3; i++) {
    const r = await pool.execute(srv.url('/'));
    expect(r.body.toString()).toBe('ok');
    expect(r.headers).toEqual({});
  }
});
