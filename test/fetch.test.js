'use strict';

// pool.fetch: a WHATWG fetch served by the pool (API.md "Drop-in transport"):
// inputs, bodies, redirects by the Fetch standard, decoding, the global
// Response it builds, and undici's answers to bad input.

const zlib = require('node:zlib');
const { Readable } = require('node:stream');
const { createResources } = require('./helpers/resources');
const { startHttpServer } = require('./helpers/http-server');
const { PoolError } = require('..');

const res = createResources();
afterEach(async () => {
  expect(await res.cleanup()).toEqual([]);
});

// The echo route's answer (see helpers/http-server.js) as an object.
async function echoed(response) {
  expect(response.status).toBe(200);
  return response.json();
}

async function rejection(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

async function setup(routes, options) {
  const srv = res.server(await startHttpServer({ routes }));
  const pool = res.pool(options);
  return { srv, pool, fetch: pool.fetch };
}

describe('the function', () => {
  test('works as a plain function, bound to its pool', async () => {
    const { srv, pool } = await setup();
    const { fetch } = pool;
    expect(typeof fetch).toBe('function');
    expect(pool.fetch).toBe(fetch);
    const call = fetch;
    const r = await call.call(undefined, srv.url('/plain'));
    expect((await echoed(r)).url).toBe('/plain');
    expect(pool.getMetrics().completedRequests).toBe(1);
  });

  test('gives each pool its own fetch', async () => {
    const a = res.pool();
    const b = res.pool();
    expect(a.fetch).not.toBe(b.fetch);
    const srv = res.server(await startHttpServer());
    await b.fetch(srv.url('/'));
    expect(a.getMetrics().totalRequests).toBe(0);
    expect(b.getMetrics().totalRequests).toBe(1);
  });
});

describe('inputs', () => {
  test('accepts a string, a URL and a Request', async () => {
    const { srv, fetch } = await setup();
    expect((await echoed(await fetch(srv.url('/s?q=1')))).url).toBe('/s?q=1');
    expect((await echoed(await fetch(new URL(srv.url('/u'))))).url).toBe('/u');
    const request = new Request(srv.url('/r'), {
      method: 'PUT',
      headers: { 'x-from': 'request' },
      body: 'request body',
    });
    const seen = await echoed(await fetch(request));
    expect(seen).toMatchObject({ method: 'PUT', url: '/r', body: 'request body' });
    expect(seen.headers['x-from']).toBe('request');
    expect(seen.headers['content-type']).toBe('text/plain;charset=UTF-8');
  });

  test('lets init override a Request\'s method, headers and body', async () => {
    const { srv, fetch } = await setup();
    const request = new Request(srv.url('/r'), { method: 'PUT', headers: { 'x-a': '1' }, body: 'old' });
    const seen = await echoed(await fetch(request, { method: 'POST', headers: { 'x-b': '2' }, body: 'new' }));
    expect(seen.method).toBe('POST');
    expect(seen.body).toBe('new');
    expect(seen.headers['x-a']).toBeUndefined();
    expect(seen.headers['x-b']).toBe('2');
  });

  test('takes headers as a Headers, a record or pairs, repeats joined', async () => {
    const { srv, fetch } = await setup();
    const h = new Headers([['x-one', 'a'], ['x-one', 'b']]);
    expect((await echoed(await fetch(srv.url('/'), { headers: h }))).headers['x-one']).toBe('a, b');
    const record = (await echoed(await fetch(srv.url('/'), { headers: { 'X-Rec': '  v  ', 'x-n': 5 } }))).headers;
    expect(record['x-rec']).toBe('v');
    expect(record['x-n']).toBe('5');
    const pairs = (await echoed(await fetch(srv.url('/'), { headers: [['X-P', '1'], ['x-p', '2']] }))).headers;
    expect(pairs['x-p']).toBe('1, 2');
  });

  test('normalizes the six standard methods to upper case and keeps others as given', async () => {
    const { srv, fetch } = await setup();
    expect((await echoed(await fetch(srv.url('/'), { method: 'delete' }))).method).toBe('DELETE');
    expect((await echoed(await fetch(srv.url('/'), { method: 'post', body: 'x' }))).method).toBe('POST');
    expect((await echoed(await fetch(srv.url('/'), { method: 'PATCH', body: 'x' }))).method).toBe('PATCH');
  });

  test('accepts and ignores fields that mean nothing in Node', async () => {
    const { srv, fetch } = await setup();
    const r = await fetch(srv.url('/'), {
      mode: 'cors', credentials: 'include', cache: 'no-store', keepalive: true, duplex: 'half',
      referrer: 'about:client', referrerPolicy: 'no-referrer', integrity: '', priority: 'high',
      window: null, dispatcher: {},
    });
    expect(r.status).toBe(200);
  });

  test('sends accept and accept-encoding unless the caller set them', async () => {
    const { srv, fetch } = await setup();
    const def = (await echoed(await fetch(srv.url('/')))).headers;
    expect(def['accept-encoding']).toBe('gzip, deflate, br');
    expect(def.accept).toBe('*/*');
    const own = (await echoed(await fetch(srv.url('/'), {
      headers: { 'Accept-Encoding': 'identity', accept: 'application/json' },
    }))).headers;
    expect(own['accept-encoding']).toBe('identity');
    expect(own.accept).toBe('application/json');
  });

  test('applies the pool\'s own timeout option', async () => {
    const { srv, fetch } = await setup();
    srv.hold();
    const err = await rejection(fetch(srv.url('/slow'), { timeout: 50 }));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toBe('fetch failed');
    expect(err.cause).toBeInstanceOf(PoolError);
    expect(err.cause.code).toBe('ERR_POOL_REQUEST_TIMEOUT');
    srv.release();
  });

  test('answers a data: URL without the network, as undici does', async () => {
    const pool = res.pool();
    const r = await pool.fetch('data:text/plain,hello');
    expect(await r.text()).toBe('hello');
    expect(pool.getMetrics().totalRequests).toBe(0);
  });
});

describe('request bodies', () => {
  const cases = [
    ['a string', () => 'héllo', 'héllo', 'text/plain;charset=UTF-8'],
    ['an ArrayBuffer', () => new TextEncoder().encode('ab').buffer, 'ab', undefined],
    ['a Uint8Array view', () => new TextEncoder().encode('xabcx').subarray(1, 4), 'abc', undefined],
    ['a Buffer', () => Buffer.from('buf'), 'buf', undefined],
    ['a DataView', () => new DataView(new TextEncoder().encode('-dv-').buffer, 1, 2), 'dv', undefined],
    ['a Blob', () => new Blob(['bl', 'ob'], { type: 'application/x-blob' }), 'blob', 'application/x-blob'],
    ['URLSearchParams', () => new URLSearchParams({ a: '1', b: 'x y' }), 'a=1&b=x+y',
      'application/x-www-form-urlencoded;charset=UTF-8'],
    ['a ReadableStream', () => new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode('str'));
        c.enqueue(new TextEncoder().encode('eam'));
        c.close();
      },
    }), 'stream', undefined],
    ['an async iterable', () => (async function* gen() {
      yield Buffer.from('it');
      yield 'er';
    })(), 'iter', undefined],
    ['a Node Readable', () => Readable.from([Buffer.from('no'), Buffer.from('de')]), 'node', undefined],
    ['a number (converted to a string)', () => 42, '42', 'text/plain;charset=UTF-8'],
  ];
  test.each(cases)('sends %s', async (_, make, expected, type) => {
    const { srv, fetch } = await setup();
    const seen = await echoed(await fetch(srv.url('/b'), { method: 'POST', body: make(), duplex: 'half' }));
    expect(seen.body).toBe(expected);
    expect(seen.headers['content-length']).toBe(String(Buffer.byteLength(expected)));
    expect(seen.headers['content-type']).toBe(type);
  });

  test('sends FormData as multipart with its boundary', async () => {
    const { srv, fetch } = await setup();
    const form = new FormData();
    form.append('field', 'value');
    form.append('file', new Blob(['contents'], { type: 'text/plain' }), 'a.txt');
    const seen = await echoed(await fetch(srv.url('/f'), { method: 'POST', body: form }));
    const boundary = /^multipart\/form-data; boundary=(.+)$/.exec(seen.headers['content-type'])[1];
    expect(seen.body).toContain(`--${boundary}`);
    expect(seen.body).toContain('name="field"\r\n\r\nvalue');
    expect(seen.body).toContain('filename="a.txt"');
    expect(seen.body).toContain('contents');
  });

  test('keeps the caller\'s content-type over the implied one', async () => {
    const { srv, fetch } = await setup();
    const seen = await echoed(await fetch(srv.url('/'), {
      method: 'POST', body: '{}', headers: { 'content-type': 'application/json' },
    }));
    expect(seen.headers['content-type']).toBe('application/json');
  });

  test('sends content-length 0 for a POST without a body', async () => {
    const { srv, fetch } = await setup();
    expect((await echoed(await fetch(srv.url('/'), { method: 'POST' }))).headers['content-length']).toBe('0');
  });

  test('rejects with fetch failed when the body stream errors, and sends nothing', async () => {
    const { srv, fetch } = await setup();
    const boom = new Error('boom');
    const err = await rejection(fetch(srv.url('/'), {
      method: 'POST',
      duplex: 'half',
      body: new ReadableStream({ pull(c) { c.error(boom); } }),
    }));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toBe('fetch failed');
    expect(err.cause).toBe(boom);
    expect(srv.requests).toHaveLength(0);
  });

  test('rejects with fetch failed for a chunk that is not bytes', async () => {
    const { srv, fetch } = await setup();
    const err = await rejection(fetch(srv.url('/'), {
      method: 'POST', body: (async function* gen() { yield 1; })(),
    }));
    expect(err.message).toBe('fetch failed');
    expect(err.cause).toBeInstanceOf(TypeError);
    expect(srv.requests).toHaveLength(0);
  });
});

describe('abort', () => {
  test('rejects with the reason of an already aborted signal and sends nothing', async () => {
    const { srv, fetch } = await setup();
    const controller = new AbortController();
    controller.abort();
    const err = await rejection(fetch(srv.url('/'), { signal: controller.signal }));
    expect(err).toBe(controller.signal.reason);
    expect(err.name).toBe('AbortError');
    expect(err).toBeInstanceOf(DOMException);
    expect(srv.requests).toHaveLength(0);
  });

  test('rejects with a custom reason when aborted in flight', async () => {
    const { srv, fetch, pool } = await setup();
    srv.hold();
    const controller = new AbortController();
    const pending = fetch(srv.url('/held'), { signal: controller.signal });
    await new Promise((resolve) => srv.events.once('held', resolve));
    const reason = new Error('stop');
    controller.abort(reason);
    expect(await rejection(pending)).toBe(reason);
    srv.release();
    expect(pool.getMetrics().failedRequests).toBe(1);
  });

  test('stops reading a body stream that never ends, and sends nothing', async () => {
    const { srv, fetch } = await setup();
    const controller = new AbortController();
    let cancelled = false;
    let pulls = 0;
    const pending = fetch(srv.url('/'), {
      method: 'POST',
      signal: controller.signal,
      body: new ReadableStream({
        // The first pull: fetch is reading the body. Abort then, and never
        // give it a byte.
        pull: () => {
          pulls++;
          controller.abort();
          return new Promise(() => {});
        },
        cancel: () => { cancelled = true; },
      }, { highWaterMark: 0 }),  // pull only when read, not to fill a queue
    });
    const err = await rejection(pending);
    expect(err.name).toBe('AbortError');
    expect(pulls).toBe(1);
    expect(srv.requests).toHaveLength(0);
    expect(cancelled).toBe(true);
  });

  test('takes the signal of a Request input', async () => {
    const { srv, fetch } = await setup();
    const controller = new AbortController();
    controller.abort(new Error('from request'));
    const err = await rejection(fetch(new Request(srv.url('/'), { signal: controller.signal })));
    expect(err.message).toBe('from request');
    expect(srv.requests).toHaveLength(0);
  });
});

describe('redirects', () => {
  function redirector(status, to) {
    return (req, res) => {
      res.writeHead(status, { location: to });
      res.end('moved');
    };
  }

  test.each([
    [301, 'POST', 'GET'], [302, 'POST', 'GET'], [303, 'POST', 'GET'], [303, 'PUT', 'GET'],
    [307, 'POST', 'POST'], [308, 'POST', 'POST'], [301, 'PUT', 'PUT'], [302, 'DELETE', 'DELETE'],
  ])('follows a %i of a %s as a %s', async (status, method, expected) => {
    const { srv, fetch } = await setup({ '/from': redirector(status, '/to') });
    const r = await fetch(srv.url('/from'), {
      method, body: 'payload', headers: { 'content-type': 'text/x-payload', 'x-keep': 'yes' },
    });
    const seen = await echoed(r);
    expect(seen.method).toBe(expected);
    expect(seen.url).toBe('/to');
    expect(seen.headers['x-keep']).toBe('yes');
    if (expected === 'GET') {
      expect(seen.body).toBe('');
      expect(seen.headers['content-type']).toBeUndefined();
      expect(seen.headers['content-length']).toBeUndefined();
    } else {
      expect(seen.body).toBe('payload');
      expect(seen.headers['content-type']).toBe('text/x-payload');
    }
    expect(r.redirected).toBe(true);
    expect(r.url).toBe(srv.url('/to'));
  });

  test('drops authorization and cookie on a cross-origin hop and keeps them on the same origin', async () => {
    const other = res.server(await startHttpServer());
    const { srv, fetch } = await setup({
      '/same': redirector(302, '/echo'),
      '/cross': redirector(302, other.url('/echo')),
    });
    const headers = { authorization: 'Bearer x', cookie: 'a=1', 'x-other': 'kept' };
    const same = await echoed(await fetch(srv.url('/same'), { headers }));
    expect(same.headers.authorization).toBe('Bearer x');
    expect(same.headers.cookie).toBe('a=1');
    const cross = await echoed(await fetch(srv.url('/cross'), { headers }));
    expect(cross.headers.authorization).toBeUndefined();
    expect(cross.headers.cookie).toBeUndefined();
    expect(cross.headers['x-other']).toBe('kept');
    expect(other.requests).toHaveLength(1);
  });

  test('follows 20 redirects and fails on the 21st', async () => {
    const chain = (req, r) => {
      const n = Number(new URL(req.url, 'http://x').searchParams.get('n'));
      if (n === 0) {
        r.end('done');
        return;
      }
      r.writeHead(302, { location: `/chain?n=${n - 1}` });
      r.end();
    };
    const { srv, fetch } = await setup({ '/chain': chain });
    const ok = await fetch(srv.url('/chain?n=20'));
    expect(await ok.text()).toBe('done');
    expect(ok.url).toBe(srv.url('/chain?n=0'));
    const err = await rejection(fetch(srv.url('/chain?n=21')));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toBe('fetch failed');
    expect(err.cause.message).toBe('redirect count exceeded');
  });

  test('returns the 3xx as it is with redirect: manual', async () => {
    const { srv, fetch } = await setup({ '/from': redirector(301, '/to') });
    const r = await fetch(srv.url('/from'), { redirect: 'manual' });
    expect(r.status).toBe(301);
    expect(r.headers.get('location')).toBe('/to');
    expect(r.redirected).toBe(false);
    expect(await r.text()).toBe('moved');
    expect(srv.requests).toHaveLength(1);
  });

  test('rejects with redirect: error', async () => {
    const { srv, fetch } = await setup({ '/from': redirector(302, '/to') });
    const err = await rejection(fetch(srv.url('/from'), { redirect: 'error' }));
    expect(err.message).toBe('fetch failed');
    expect(err.cause.message).toBe('unexpected redirect');
    expect(srv.requests).toHaveLength(1);
  });

  test('returns a 3xx without a location as it is', async () => {
    const { srv, fetch } = await setup({ '/nowhere': { status: 302, body: 'stay' } });
    const r = await fetch(srv.url('/nowhere'));
    expect(r.status).toBe(302);
    expect(await r.text()).toBe('stay');
  });

  test('will not resend a streamed body on a 307, but does follow a 303', async () => {
    const { srv, fetch } = await setup({ '/307': redirector(307, '/to'), '/303': redirector(303, '/to') });
    const stream = () => Readable.from([Buffer.from('once')]);
    const err = await rejection(fetch(srv.url('/307'), { method: 'POST', body: stream() }));
    expect(err.message).toBe('fetch failed');
    const r = await fetch(srv.url('/303'), { method: 'POST', body: stream() });
    expect((await echoed(r)).method).toBe('GET');
  });

  test('fails on a redirect to another scheme', async () => {
    const { srv, fetch } = await setup({ '/ftp': redirector(302, 'ftp://example.com/') });
    const err = await rejection(fetch(srv.url('/ftp')));
    expect(err.message).toBe('fetch failed');
  });

  test('keeps the fragment out of the sent target and of Response.url', async () => {
    const { srv, fetch } = await setup({ '/from': redirector(302, '/to') });
    const r = await fetch(`${srv.url('/from')}#frag`);
    expect(r.url).toBe(srv.url('/to'));
    expect(srv.requests.map((q) => q.url)).toEqual(['/from', '/to']);
  });
});

describe('content decoding', () => {
  const text = 'decoded body '.repeat(50);
  function encoded(coding, body) {
    return (req, r) => {
      r.writeHead(200, { 'content-encoding': coding, 'content-type': 'text/plain' });
      r.end(body);
    };
  }

  test.each([
    ['gzip', zlib.gzipSync(text)],
    ['x-gzip', zlib.gzipSync(text)],
    ['deflate', zlib.deflateSync(text)],
    ['deflate', zlib.deflateRawSync(text)],
    ['br', zlib.brotliCompressSync(text)],
    ['gzip, br', zlib.brotliCompressSync(zlib.gzipSync(text))],
    ['GZIP', zlib.gzipSync(text)],
  ])('decodes %s', async (coding, body) => {
    const { srv, fetch } = await setup({ '/z': encoded(coding, body) });
    const r = await fetch(srv.url('/z'));
    expect(await r.text()).toBe(text);
    expect(r.headers.get('content-encoding')).toBe(coding);
  });

  test('leaves a body with an unknown coding as received', async () => {
    const raw = zlib.gzipSync(text);
    const { srv, fetch } = await setup({ '/z': encoded('gzip, snappy', raw) });
    const r = await fetch(srv.url('/z'));
    expect(Buffer.from(await r.arrayBuffer())).toEqual(raw);
  });

  test('decodes a large body off the main thread', async () => {
    const big = require('node:crypto').randomBytes(200 * 1024).toString('hex');
    const { srv, fetch } = await setup({ '/z': encoded('gzip', zlib.gzipSync(big)) });
    const r = await fetch(srv.url('/z'));
    expect(await r.text()).toBe(big);
  });

  test('applies maxResponseSize to the decoded body', async () => {
    const bomb = zlib.gzipSync(Buffer.alloc(1024 * 1024));
    const { srv, fetch } = await setup({ '/z': encoded('gzip', bomb) }, { maxResponseSize: 64 * 1024 });
    expect(bomb.length).toBeLessThan(64 * 1024);
    const err = await rejection(fetch(srv.url('/z')));
    expect(err.message).toBe('fetch failed');
    expect(err.cause.code).toBe('ERR_POOL_RESPONSE_TOO_LARGE');
  });

  test('fails on a corrupt compressed body', async () => {
    const { srv, fetch } = await setup({ '/z': encoded('gzip', Buffer.from('not gzip at all')) });
    const err = await rejection(fetch(srv.url('/z')));
    expect(err.message).toBe('fetch failed');
    expect(err.cause.code).toBe('Z_DATA_ERROR');
  });

  test('does not decode when the caller asked for identity, and never in execute()', async () => {
    const raw = zlib.gzipSync(text);
    const { srv, pool } = await setup({ '/z': encoded('gzip', raw) });
    expect((await pool.execute(srv.url('/z'))).body).toEqual(raw);
  });
});

describe('the Response', () => {
  test('is a global Response with status, headers, url and a body readable once', async () => {
    const { srv, fetch } = await setup({
      '/r': (req, r) => {
        r.setHeader('set-cookie', ['a=1', 'b=2']);
        r.writeHead(201, 'Made It', { 'content-type': 'application/json', 'x-multi': ['1', '2'] });
        r.end('{"ok":true}');
      },
    });
    const r = await fetch(srv.url('/r'));
    expect(r).toBeInstanceOf(Response);
    expect(r.status).toBe(201);
    expect(r.statusText).toBe('Made It');
    expect(r.ok).toBe(true);
    expect(r.url).toBe(srv.url('/r'));
    expect(r.redirected).toBe(false);
    expect(r.headers).toBeInstanceOf(Headers);
    expect(r.headers.get('content-type')).toBe('application/json');
    expect(r.headers.get('x-multi')).toBe('1, 2');
    expect(r.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(r.bodyUsed).toBe(false);
    expect(await r.json()).toEqual({ ok: true });
    expect(r.bodyUsed).toBe(true);
    await expect(r.text()).rejects.toThrow('Body is unusable');
  });

  test('resolves an error status as a response', async () => {
    const { srv, fetch } = await setup({ '/e': { status: 503, body: 'down' } });
    const r = await fetch(srv.url('/e'));
    expect(r.status).toBe(503);
    expect(r.ok).toBe(false);
    expect(await r.text()).toBe('down');
  });

  test('offers the body as a blob and as a stream', async () => {
    const { srv, fetch } = await setup({ '/b': { headers: { 'content-type': 'text/x-b' }, body: 'blobby' } });
    const blob = await (await fetch(srv.url('/b'))).blob();
    expect(blob.type).toBe('text/x-b');
    expect(await blob.text()).toBe('blobby');
    const chunks = [];
    for await (const chunk of (await fetch(srv.url('/b'))).body) chunks.push(Buffer.from(chunk));
    expect(Buffer.concat(chunks).toString()).toBe('blobby');
  });

  test.each([
    ['a 204', 'GET', 204], ['a 304', 'GET', 304], ['a HEAD', 'HEAD', 200], ['a 205', 'GET', 205],
  ])('has a null body for %s', async (_, method, status) => {
    const { srv, fetch } = await setup({
      '/n': (req, r) => {
        r.writeHead(status, { 'x-s': String(status) });
        r.end();
      },
    });
    const r = await fetch(srv.url('/n'), { method });
    expect(r.status).toBe(status);
    expect(r.body).toBeNull();
    expect(await r.text()).toBe('');
  });
});

describe('bad input (what undici gives)', () => {
  test.each([
    ['an unparsable URL', 'not a url', undefined, /^Failed to parse URL from not a url$/],
    ['a URL with credentials', 'http://u:p@127.0.0.1:1/', undefined, /includes credentials/],
    ['a bad method', 'http://127.0.0.1:1/', { method: 'a b' }, /is not a valid HTTP method/],
    ['CONNECT', 'http://127.0.0.1:1/', { method: 'CONNECT' }, /HTTP method is unsupported/],
    ['TRACE', 'http://127.0.0.1:1/', { method: 'trace' }, /HTTP method is unsupported/],
    ['a bad header name', 'http://127.0.0.1:1/', { headers: { 'a b': '1' } }, /invalid header name/],
    ['a header value with LF', 'http://127.0.0.1:1/', { headers: { a: 'x\ny' } }, /invalid header value/],
    ['a header value with NUL', 'http://127.0.0.1:1/', { headers: [['a', 'x\0y']] }, /invalid header value/],
    ['a header value beyond latin1', 'http://127.0.0.1:1/', { headers: { a: 'é€' } }, /invalid header value/],
    ['a header pair of one', 'http://127.0.0.1:1/', { headers: [['a']] }, /length 2, found 1/],
    ['headers that are a string', 'http://127.0.0.1:1/', { headers: 'x' }, /Headers/],
    ['a GET with a body', 'http://127.0.0.1:1/', { body: 'x' }, /GET\/HEAD method cannot have body/],
    ['a HEAD with a body', 'http://127.0.0.1:1/', { method: 'HEAD', body: 'x' }, /cannot have body/],
    ['a bad redirect mode', 'http://127.0.0.1:1/', { redirect: 'nope' }, /redirect/],
    ['a signal that is not one', 'http://127.0.0.1:1/', { signal: 'x' }, /AbortSignal/],
    ['a bad timeout', 'http://127.0.0.1:1/', { timeout: -1 }, /timeout/],
    ['an init that is not an object', 'http://127.0.0.1:1/', 5, /init/],
  ])('rejects %s with a TypeError before sending', async (_, input, init, message) => {
    const pool = res.pool();
    const pending = pool.fetch(input, init);
    expect(pending).toBeInstanceOf(Promise);
    const err = await rejection(pending);
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toMatch(message);
    expect(pool.getMetrics().totalRequests).toBe(0);
  });

  test('rejects a scheme the pool does not serve with fetch failed', async () => {
    const err = await rejection(res.pool().fetch('ftp://127.0.0.1/'));
    expect(err.message).toBe('fetch failed');
    expect(err.cause.code).toBe('ERR_INVALID_URL');
  });

  test('rejects a network failure with fetch failed caused by the PoolError', async () => {
    const srv = res.server(await startHttpServer());
    const { port } = srv;
    await srv.close();
    const err = await rejection(res.pool().fetch(`http://127.0.0.1:${port}/`));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toBe('fetch failed');
    expect(err.cause).toBeInstanceOf(PoolError);
    expect(err.cause.code).toBe('ECONNREFUSED');
  });

  test('rejects with fetch failed once the pool is closed', async () => {
    const pool = res.pool();
    await pool.close();
    const err = await rejection(pool.fetch('http://127.0.0.1:1/'));
    expect(err.message).toBe('fetch failed');
    expect(err.cause.code).toBe('ERR_POOL_CLOSED');
  });

  test('rejects a used Request', async () => {
    const { srv, fetch } = await setup();
    const request = new Request(srv.url('/'), { method: 'POST', body: 'x' });
    await request.text();
    const err = await rejection(fetch(request));
    expect(err).toBeInstanceOf(TypeError);
    expect(srv.requests).toHaveLength(0);
  });
});

describe('sockets', () => {
  test('reuses one keep-alive socket across sequential fetches and redirects', async () => {
    const { srv, fetch, pool } = await setup({
      '/from': (req, r) => {
        r.writeHead(302, { location: '/to' });
        r.end();
      },
    });
    for (let i = 0; i < 5; i++) await (await fetch(srv.url('/from'))).text();
    expect(srv.connectionCount).toBe(1);
    expect(pool.getMetrics().completedRequests).toBe(10);
  });

  test('serves many concurrent fetches within maxSockets', async () => {
    const { srv, fetch } = await setup(undefined, { maxSockets: 4 });
    const all = await Promise.all(Array.from({ length: 64 }, (_, i) => fetch(srv.url(`/c${i}`))
      .then((r) => r.json())));
    expect(all.map((j) => j.url)).toEqual(Array.from({ length: 64 }, (_, i) => `/c${i}`));
    expect(srv.maxOpenConnections).toBeLessThanOrEqual(4);
  });
});

describe('https', () => {
  test('fetches an https URL through the pool\'s TLS settings, and fails an untrusted one', async () => {
    const { getCerts } = require('./helpers/tls-certs');
    const { startHttpsServer } = require('./helpers/https-server');
    const certs = getCerts();
    const srv = res.server(await startHttpsServer({ cert: certs.leaf.cert, key: certs.leaf.key }));
    const trusting = res.pool({ tls: { ca: certs.ca.cert } });
    const url = srv.url('/secure');
    const r = await trusting.fetch(url, { method: 'POST', body: 'over tls' });
    expect(r.status).toBe(200);
    expect(r.url).toBe(url);
    expect((await r.json()).bodyLength).toBe(8);
    const err = await rejection(res.pool().fetch(url));
    expect(err.message).toBe('fetch failed');
    expect(err.cause.code).toBe('ERR_POOL_TLS');
  });
});
