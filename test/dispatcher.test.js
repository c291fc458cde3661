'use strict';

// pool.dispatcher: an undici Dispatcher served by the pool (API.md "Drop-in
// transport"): both handler styles, request bodies, abort through the
// handler's callback, errors carrying the PoolError code, and the global
// dispatcher that Node's fetch and undici's request/fetch use.

const { Readable } = require('node:stream');
const undici = require('undici');
const { createResources } = require('./helpers/resources');
const { startHttpServer } = require('./helpers/http-server');
const { PoolError } = require('..');
const { waitFor, withDeadline } = require('./helpers/wait');

const res = createResources();
afterEach(async () => {
  expect(await res.cleanup()).toEqual([]);
});

async function setup(routes, options) {
  const srv = res.server(await startHttpServer({ routes }));
  const pool = res.pool(options);
  return { srv, pool, dispatcher: pool.dispatcher };
}

// A legacy (onConnect/onHeaders/...) handler that records every call and
// settles when the request ends either way.
function legacyHandler(hooks = {}) {
  const calls = [];
  let resolve;
  const done = new Promise((r) => { resolve = r; });
  const chunks = [];
  const handler = {
    onConnect(abort) {
      calls.push('onConnect');
      handler.abort = abort;
      if (hooks.onConnect) hooks.onConnect(abort);
    },
    onHeaders(status, rawHeaders, resume, statusText) {
      calls.push('onHeaders');
      handler.response = { status, rawHeaders, statusText, resume };
      if (hooks.onHeaders) return hooks.onHeaders(status, rawHeaders);
      return true;
    },
    onData(chunk) {
      calls.push('onData');
      chunks.push(chunk);
      return true;
    },
    onComplete(trailers) {
      calls.push('onComplete');
      resolve({ calls, trailers, body: Buffer.concat(chunks), response: handler.response });
    },
    onError(err) {
      calls.push('onError');
      resolve({ calls, error: err });
    },
  };
  return { handler, done };
}

function modernHandler(hooks = {}) {
  const calls = [];
  let resolve;
  const done = new Promise((r) => { resolve = r; });
  const chunks = [];
  const handler = {
    onRequestStart(controller, context) {
      calls.push('onRequestStart');
      handler.controller = controller;
      if (hooks.onRequestStart) hooks.onRequestStart(controller, context);
    },
    onResponseStart(controller, status, headers, statusMessage) {
      calls.push('onResponseStart');
      handler.response = { status, headers, statusMessage };
    },
    onResponseData(controller, chunk) {
      calls.push('onResponseData');
      chunks.push(chunk);
    },
    onResponseEnd(controller, trailers) {
      calls.push('onResponseEnd');
      resolve({ calls, trailers, body: Buffer.concat(chunks), response: handler.response });
    },
    onResponseError(controller, err) {
      calls.push('onResponseError');
      resolve({ calls, error: err });
    },
  };
  return { handler, done };
}

function headerPairs(rawHeaders) {
  const out = [];
  for (let i = 0; i < rawHeaders.length; i += 2) out.push([rawHeaders[i].toString(), rawHeaders[i + 1].toString()]);
  return out;
}

describe('the object', () => {
  test('is one undici Dispatcher per pool', () => {
    const pool = res.pool();
    expect(pool.dispatcher).toBe(pool.dispatcher);
    expect(pool.dispatcher).toBeInstanceOf(undici.Dispatcher);
    expect(typeof pool.dispatcher.dispatch).toBe('function');
    expect(res.pool().dispatcher).not.toBe(pool.dispatcher);
  });
});

describe('without undici installed', () => {
  test('is a duck-typed EventEmitter that undici\'s API and compose() still drive', async () => {
    let PoolDispatcher;
    jest.isolateModules(() => {
      jest.doMock('undici/lib/dispatcher/dispatcher', () => {
        throw new Error('Cannot find module');
      });
      ({ PoolDispatcher } = require('../lib/dispatcher'));
    });
    jest.dontMock('undici/lib/dispatcher/dispatcher');
    const srv = res.server(await startHttpServer());
    const pool = res.pool();
    const dispatcher = new PoolDispatcher({
      execute: (url, init) => pool.execute(url, init),
      close: () => pool.close(),
      destroy: (err) => pool.destroy(err),
    });
    expect(dispatcher).toBeInstanceOf(require('node:events').EventEmitter);
    expect(dispatcher).not.toBeInstanceOf(undici.Dispatcher);
    const r = await undici.request(srv.url('/duck'), { dispatcher });
    expect((await r.body.json()).url).toBe('/duck');
    const seen = [];
    const composed = dispatcher.compose((dispatch) => (opts, handler) => {
      seen.push(opts.path);
      return dispatch(opts, handler);
    });
    await (await undici.request(srv.url('/composed'), { dispatcher: composed })).body.text();
    expect(seen).toEqual(['/composed']);
    await dispatcher.close();
  });
});

describe('handler styles', () => {
  test('calls onConnect, onHeaders, onData and onComplete in order', async () => {
    const { srv, dispatcher } = await setup({
      '/h': (req, r) => {
        r.setHeader('set-cookie', ['a=1', 'b=2']);
        r.writeHead(201, 'Made', { 'x-one': '1' });
        r.end('body!');
      },
    });
    const { handler, done } = legacyHandler();
    expect(dispatcher.dispatch({ origin: srv.origin, path: '/h', method: 'GET' }, handler)).toBe(true);
    const out = await done;
    expect(out.calls).toEqual(['onConnect', 'onHeaders', 'onData', 'onComplete']);
    expect(out.response.status).toBe(201);
    expect(out.response.statusText).toBe('Made');
    expect(out.response.rawHeaders.every((b) => Buffer.isBuffer(b))).toBe(true);
    const pairs = headerPairs(out.response.rawHeaders);
    expect(pairs).toContainEqual(['x-one', '1']);
    expect(pairs.filter(([n]) => n === 'set-cookie').map(([, v]) => v)).toEqual(['a=1', 'b=2']);
    expect(out.body.toString()).toBe('body!');
    expect(out.trailers).toEqual([]);
  });

  test('calls onRequestStart, onResponseStart, onResponseData and onResponseEnd in order', async () => {
    const { srv, dispatcher } = await setup({ '/m': { status: 202, headers: { 'x-m': 'yes' }, body: 'modern' } });
    const { handler, done } = modernHandler();
    dispatcher.dispatch({ origin: srv.origin, path: '/m', method: 'GET' }, handler);
    const out = await done;
    expect(out.calls).toEqual(['onRequestStart', 'onResponseStart', 'onResponseData', 'onResponseEnd']);
    expect(out.response.status).toBe(202);
    expect(out.response.statusMessage).toBe('Accepted');
    expect(out.response.headers['x-m']).toBe('yes');
    expect(out.body.toString()).toBe('modern');
    expect(out.trailers).toEqual({});
  });

  test('skips onData for an empty body', async () => {
    const { srv, dispatcher } = await setup({ '/e': { status: 204 } });
    const { handler, done } = legacyHandler();
    dispatcher.dispatch({ origin: srv.origin, path: '/e', method: 'GET' }, handler);
    expect((await done).calls).toEqual(['onConnect', 'onHeaders', 'onComplete']);
  });

  test('runs under undici 7 interceptors (compose)', async () => {
    const { srv, dispatcher, pool } = await setup({
      '/from': (req, r) => {
        r.writeHead(302, { location: '/to' });
        r.end();
      },
    });
    const composed = dispatcher.compose(undici.interceptors.redirect({ maxRedirections: 3 }));
    const r = await undici.request(srv.url('/from'), { dispatcher: composed });
    expect(r.statusCode).toBe(200);
    expect((await r.body.json()).url).toBe('/to');
    expect(pool.getMetrics().completedRequests).toBe(2);
  });
});

describe('request options', () => {
  test('sends method, path, query and headers in every undici form', async () => {
    const { srv, dispatcher } = await setup();
    const forms = [
      { 'x-a': '1', 'x-list': ['p', 'q'], 'x-skip': undefined },
      ['x-a', '1', 'x-list', 'p', 'x-list', 'q'],
      [['x-a', '1'], ['x-list', 'p'], ['x-list', 'q']],
    ];
    for (const headers of forms) {
      const r = await dispatcher.request({
        origin: srv.origin, path: '/p?z=0', method: 'PATCH', headers, query: { y: 'a b' },
      });
      const seen = await r.body.json();
      expect(seen.method).toBe('PATCH');
      expect(seen.url).toBe('/p?z=0&y=a+b');
      expect(seen.headers['x-a']).toBe('1');
      expect(seen.headers['x-list']).toBe('p, q');
      expect(seen.headers['x-skip']).toBeUndefined();
    }
  });

  test('accepts an origin as a URL, with or without a trailing slash', async () => {
    const { srv, dispatcher } = await setup();
    for (const origin of [new URL(srv.origin), `${srv.origin}/`]) {
      const r = await dispatcher.request({ origin, path: '/o', method: 'GET' });
      expect((await r.body.json()).url).toBe('/o');
    }
  });

  test('maps headersTimeout and bodyTimeout to the request timeout', async () => {
    const { srv, dispatcher } = await setup();
    srv.hold();
    const err = await dispatcher.request({
      origin: srv.origin, path: '/slow', method: 'GET', headersTimeout: 30, bodyTimeout: 20,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(PoolError);
    expect(err.code).toBe('ERR_POOL_REQUEST_TIMEOUT');
    srv.release();
  });
});

describe('request bodies', () => {
  const cases = [
    ['a string', () => 'text body', 'text body'],
    ['a Buffer', () => Buffer.from('buffer body'), 'buffer body'],
    ['a Uint8Array', () => new TextEncoder().encode('u8 body'), 'u8 body'],
    ['an ArrayBuffer', () => new TextEncoder().encode('ab body').buffer, 'ab body'],
    ['a Readable stream', () => Readable.from([Buffer.from('str'), Buffer.from('eam')]), 'stream'],
    ['an async iterable', () => (async function* gen() {
      yield Buffer.from('as');
      yield 'ync';
    })(), 'async'],
    ['an array of chunks', () => [Buffer.from('ar'), Buffer.from('ray')], 'array'],
    ['a Blob', () => new Blob(['bl', 'ob']), 'blob'],
  ];
  test.each(cases)('sends %s', async (_, make, expected) => {
    const { srv, dispatcher } = await setup();
    const r = await undici.request(srv.url('/b'), { dispatcher, method: 'POST', body: make() });
    const seen = await r.body.json();
    expect(seen.body).toBe(expected);
    expect(seen.headers['content-length']).toBe(String(expected.length));
  });

  test('sends a Blob\'s type and FormData\'s multipart type as content-type', async () => {
    const { srv, dispatcher } = await setup();
    const blob = await undici.request(srv.url('/b'), {
      dispatcher, method: 'POST', body: new Blob(['{}'], { type: 'application/json' }),
    });
    expect((await blob.body.json()).headers['content-type']).toBe('application/json');
    const form = new FormData();
    form.append('field', 'value');
    const r = await undici.request(srv.url('/f'), { dispatcher, method: 'POST', body: form });
    const seen = await r.body.json();
    expect(seen.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    expect(seen.body).toContain('name="field"\r\n\r\nvalue');
  });

  test('reports a body stream that errors through onError and sends nothing', async () => {
    const { srv, dispatcher } = await setup();
    const boom = new Error('boom');
    const body = new Readable({ read() { this.destroy(boom); } });
    const err = await undici.request(srv.url('/'), { dispatcher, method: 'POST', body }).catch((e) => e);
    expect(err).toBe(boom);
    expect(srv.requests).toHaveLength(0);
  });
});

describe('abort', () => {
  test('sends nothing when the handler aborts in onConnect', async () => {
    const { srv, dispatcher, pool } = await setup();
    const reason = new Error('not now');
    const { handler, done } = legacyHandler({ onConnect: (abort) => abort(reason) });
    dispatcher.dispatch({ origin: srv.origin, path: '/', method: 'GET' }, handler);
    const out = await done;
    expect(out.calls).toEqual(['onConnect', 'onError']);
    expect(out.error).toBe(reason);
    expect(pool.getMetrics().totalRequests).toBe(0);
    // A request after it, on the same pool: the only one the server sees.
    const after = legacyHandler();
    dispatcher.dispatch({ origin: srv.origin, path: '/after', method: 'GET' }, after.handler);
    expect((await after.done).calls).toEqual(['onConnect', 'onHeaders', 'onData', 'onComplete']);
    expect(srv.requests.map((r) => r.url)).toEqual(['/after']);
    expect(pool.getMetrics().totalRequests).toBe(1);
  });

  test('aborts a request in flight through the abort callback', async () => {
    const { srv, dispatcher, pool } = await setup();
    srv.hold();
    const { handler, done } = legacyHandler();
    dispatcher.dispatch({ origin: srv.origin, path: '/held', method: 'GET' }, handler);
    await new Promise((r) => srv.events.once('held', r));
    handler.abort();
    const out = await done;
    expect(out.calls).toEqual(['onConnect', 'onError']);
    expect(out.error.code).toBe('ABORT_ERR');
    srv.release();
    expect(pool.getMetrics().failedRequests).toBe(1);
  });

  test('aborts through the controller of an undici 7 handler', async () => {
    const { srv, dispatcher } = await setup();
    srv.hold();
    const { handler, done } = modernHandler();
    dispatcher.dispatch({ origin: srv.origin, path: '/held', method: 'GET' }, handler);
    await new Promise((r) => srv.events.once('held', r));
    const reason = new Error('controller says stop');
    handler.controller.abort(reason);
    const out = await done;
    expect(out.calls).toEqual(['onRequestStart', 'onResponseError']);
    expect(out.error).toBe(reason);
    expect(handler.controller.aborted).toBe(true);
    srv.release();
  });

  test('stops reading a request body that never ends', async () => {
    const { srv, dispatcher } = await setup();
    const controller = new AbortController();
    let reads = 0;
    // Aborts when the dispatcher first asks for body bytes: it is reading.
    const body = new Readable({
      read() {
        if (reads++ === 0) controller.abort();
      },
    });
    const pending = undici.request(srv.url('/'), { dispatcher, method: 'POST', body, signal: controller.signal });
    const err = await pending.catch((e) => e);
    expect(err.name).toBe('AbortError');
    expect(reads).toBe(1);
    expect(body.destroyed).toBe(true);
    expect(srv.requests).toHaveLength(0);
  });

  test('rejects undici.request with the signal\'s reason and sends nothing for an aborted signal', async () => {
    const { srv, dispatcher } = await setup();
    const controller = new AbortController();
    controller.abort(new Error('early'));
    const err = await undici.request(srv.url('/'), { dispatcher, signal: controller.signal }).catch((e) => e);
    expect(err.message).toBe('early');
    expect(srv.requests).toHaveLength(0);
  });

  test('turns a throwing handler callback into onError', async () => {
    const { srv, dispatcher } = await setup();
    const bug = new Error('handler bug');
    const { handler, done } = legacyHandler({ onHeaders: () => { throw bug; } });
    dispatcher.dispatch({ origin: srv.origin, path: '/', method: 'GET' }, handler);
    const out = await done;
    expect(out.calls).toEqual(['onConnect', 'onHeaders', 'onError']);
    expect(out.error).toBe(bug);
  });
});

describe('errors', () => {
  test('reports a network failure through onError with the PoolError code', async () => {
    const srv = res.server(await startHttpServer());
    const { origin } = srv;
    await srv.close();
    const pool = res.pool();
    const { handler, done } = legacyHandler();
    pool.dispatcher.dispatch({ origin, path: '/', method: 'GET' }, handler);
    const out = await done;
    expect(out.error).toBeInstanceOf(PoolError);
    expect(out.error.code).toBe('ECONNREFUSED');
    const modern = modernHandler();
    pool.dispatcher.dispatch({ origin, path: '/', method: 'GET' }, modern.handler);
    expect((await modern.done).error.code).toBe('ECONNREFUSED');
  });

  test.each([
    ['CONNECT', { method: 'CONNECT', path: '/' }, 'ERR_POOL_UNSUPPORTED'],
    ['an upgrade', { method: 'GET', path: '/', upgrade: 'websocket' }, 'ERR_POOL_UNSUPPORTED'],
    ['an absolute-form target', { method: 'GET', path: 'http://example.com/' }, 'ERR_POOL_UNSUPPORTED'],
    ['a bad method', { method: 'GE T', path: '/' }, 'ERR_INVALID_ARG_VALUE'],
    ['a method that is not a string', { method: 1, path: '/' }, 'ERR_INVALID_ARG_VALUE'],
    ['a path with a space', { method: 'GET', path: '/a b' }, 'ERR_INVALID_ARG_VALUE'],
    ['a relative path', { method: 'GET', path: 'a' }, 'ERR_INVALID_ARG_VALUE'],
    ['a bad header name', { method: 'GET', path: '/', headers: { 'a b': '1' } }, 'ERR_INVALID_ARG_VALUE'],
    ['a header value with CR LF', { method: 'GET', path: '/', headers: { a: 'x\r\ny: 1' } }, 'ERR_INVALID_ARG_VALUE'],
    ['transfer-encoding', { method: 'POST', path: '/', headers: { 'transfer-encoding': 'chunked' } }, 'ERR_INVALID_ARG_VALUE'],
    ['an odd flat header array', { method: 'GET', path: '/', headers: ['a'] }, 'ERR_INVALID_ARG_VALUE'],
    ['a body of another type', { method: 'POST', path: '/', body: 5 }, 'ERR_INVALID_ARG_VALUE'],
    ['a bad timeout', { method: 'GET', path: '/', headersTimeout: -1 }, 'ERR_INVALID_ARG_VALUE'],
  ])('refuses %s through onError with %s, sending nothing', async (_, opts, code) => {
    const { srv, dispatcher, pool } = await setup();
    const { handler, done } = legacyHandler();
    handler.onUpgrade = () => {};
    dispatcher.dispatch({ origin: srv.origin, ...opts }, handler);
    const out = await done;
    expect(out.error).toBeInstanceOf(PoolError);
    expect(out.error.code).toBe(code);
    expect(srv.requests).toHaveLength(0);
    expect(pool.getMetrics().bytesSent).toBe(0);
  });

  test('rejects undici.upgrade and undici.connect with ERR_POOL_UNSUPPORTED', async () => {
    const { srv, dispatcher } = await setup();
    await expect(undici.upgrade(srv.url('/'), { dispatcher })).rejects.toMatchObject({ code: 'ERR_POOL_UNSUPPORTED' });
    await expect(undici.connect(srv.url('/'), { dispatcher })).rejects.toMatchObject({ code: 'ERR_POOL_UNSUPPORTED' });
    expect(srv.requests).toHaveLength(0);
  });

  test('reports a missing origin through onError', async () => {
    const { dispatcher } = await setup();
    const { handler, done } = legacyHandler();
    dispatcher.dispatch({ path: '/', method: 'GET' }, handler);
    expect((await done).error.code).toBe('ERR_INVALID_ARG_VALUE');
  });

  test('throws for a handler it cannot report to', async () => {
    const { srv, dispatcher } = await setup();
    expect(() => dispatcher.dispatch({ origin: srv.origin, path: '/', method: 'GET' }, null)).toThrow(PoolError);
    expect(() => dispatcher.dispatch({ origin: srv.origin, path: '/', method: 'GET' }, { onConnect() {} }))
      .toThrow('invalid onError method');
  });
});

describe('an undici 7 handler without onResponseError', () => {
  // undici accepts such a handler, then emits an InvalidArgumentError as the
  // client's 'error' when a request of it fails; it never just hangs.
  const bareHandler = (calls) => ({
    onRequestStart() { calls.push('onRequestStart'); },
    onResponseStart() { calls.push('onResponseStart'); },
    onResponseData() { calls.push('onResponseData'); },
    onResponseEnd() { calls.push('onResponseEnd'); },
  });

  test('gets a failure reported as \'error\' on the dispatcher, with the cause', async () => {
    const srv = res.server(await startHttpServer());
    const { origin } = srv;
    await srv.close();
    const pool = res.pool();
    const calls = [];
    const errored = waitFor(pool.dispatcher, 'error', { label: 'the dispatcher\'s error event' });
    expect(pool.dispatcher.dispatch({ origin, path: '/', method: 'GET' }, bareHandler(calls))).toBe(true);
    const err = await errored;
    expect(err).toBeInstanceOf(PoolError);
    expect(err.code).toBe('ERR_INVALID_ARG_VALUE');
    expect(err.message).toMatch(/onResponseError/);
    expect(err.cause.code).toBe('ECONNREFUSED');
    expect(calls).toEqual(['onRequestStart']);
  });

  test('gets a refusal at dispatch thrown to the caller', async () => {
    const { srv, dispatcher } = await setup();
    await dispatcher.destroy();
    let thrown;
    try {
      dispatcher.dispatch({ origin: srv.origin, path: '/', method: 'GET' }, bareHandler([]));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(PoolError);
    expect(thrown.code).toBe('ERR_POOL_CLOSED');
  });

  test('is served normally when nothing fails', async () => {
    const { srv, dispatcher } = await setup();
    const calls = [];
    const handler = bareHandler(calls);
    const ended = new Promise((resolve) => {
      handler.onResponseEnd = () => resolve(calls.push('onResponseEnd'));
    });
    dispatcher.dispatch({ origin: srv.origin, path: '/', method: 'GET' }, handler);
    await withDeadline(ended, 5000, 'onResponseEnd');
    expect(calls).toEqual(['onRequestStart', 'onResponseStart', 'onResponseData', 'onResponseEnd']);
    expect(srv.requests).toHaveLength(1);
  });
});

describe('close and destroy', () => {
  test('close() lets in-flight requests finish, then refuses new ones', async () => {
    const { srv, dispatcher, pool } = await setup();
    srv.hold();
    const inflight = dispatcher.request({ origin: srv.origin, path: '/last', method: 'GET' });
    await new Promise((r) => srv.events.once('held', r));
    const closed = dispatcher.close();
    expect(dispatcher.closed).toBe(true);
    srv.release();
    const r = await inflight;
    expect((await r.body.json()).url).toBe('/last');
    await closed;
    const m = pool.getMetrics();
    expect(m.activeConnections + m.idleConnections).toBe(0);
    const err = await dispatcher.request({ origin: srv.origin, path: '/', method: 'GET' }).catch((e) => e);
    expect(err.code).toBe('ERR_POOL_CLOSED');
  });

  test('close(callback) calls back once closed', async () => {
    const { dispatcher } = await setup();
    await new Promise((resolve, reject) => dispatcher.close((err) => (err ? reject(err) : resolve())));
    expect(dispatcher.closed).toBe(true);
  });

  test('destroy() fails requests in flight with ERR_POOL_CLOSED', async () => {
    const { srv, dispatcher } = await setup();
    srv.hold();
    const inflight = dispatcher.request({ origin: srv.origin, path: '/held', method: 'GET' }).catch((e) => e);
    await new Promise((r) => srv.events.once('held', r));
    await dispatcher.destroy();
    expect(dispatcher.destroyed).toBe(true);
    expect((await inflight).code).toBe('ERR_POOL_CLOSED');
    srv.release();
  });
});

describe('as the global dispatcher', () => {
  // In its own process: Jest's sandbox has a globalThis of its own, which
  // Node's built-in fetch never reads.
  test('serves Node\'s global fetch, undici.fetch and undici.request, counted in getMetrics()', async () => {
    const zlib = require('node:zlib');
    const { execFile } = require('node:child_process');
    const path = require('node:path');
    const srv = res.server(await startHttpServer({
      routes: {
        '/gz': (req, r) => {
          r.writeHead(200, { 'content-encoding': 'gzip' });
          r.end(zlib.gzipSync('squeezed'));
        },
        // Never answered: the child aborts once told the request is here.
        '/held': () => child.stdin.write('held\n'),
      },
    }));
    let child;
    const stdout = await new Promise((resolve, reject) => {
      child = execFile(process.execPath, [path.join(__dirname, 'fixtures', 'global-dispatcher.js'), srv.origin],
        { timeout: 20000 }, (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out)));
      child.stdin.on('error', () => {});  // the child lets stdin go once told
    });
    const out = JSON.parse(stdout);
    expect(out.globalFetch.status).toBe(200);
    expect(out.globalFetch.echo).toMatchObject({ method: 'POST', body: '{"c":1}' });
    expect(out.globalFetch.echo.headers['user-agent']).toBe('node');  // Node's fetch built the request
    expect(out.undiciFetch.echo).toMatchObject({ method: 'POST', body: 'b' });
    expect(out.request.echo).toMatchObject({ method: 'POST', body: 'a' });
    expect(out.gzip).toBe('squeezed');
    expect(out.failure).toEqual({ message: 'fetch failed', causeName: 'PoolError', code: 'ECONNREFUSED' });
    expect(out.abort.name).toBe('AbortError');
    // 4 answered + the refused one + the aborted one, all through the pool.
    expect(out.metrics).toEqual({ completed: 4, failed: 2, total: 6 });
    expect(out.openAfterClose).toBe(0);
    expect(srv.requests.map((q) => q.url)).toEqual(['/global-fetch', '/undici-fetch', '/request', '/gz', '/held']);
    expect(srv.connectionCount).toBeLessThanOrEqual(2);
  });
});
