'use strict';

// Every row of API.md's error table, produced for real: bad input, or a
// server on 127.0.0.1 that misbehaves on purpose. Each row checks the code,
// that the error is a PoolError (and an Error) with a message, and that it
// arrived as a promise rejection — execute() never throws synchronously.

const dns = require('node:dns');
const { ConnectionPoolCore, PoolError } = require('..');
const { ERROR_CODES, createPoolError } = require('../lib/errors');
const { createResources } = require('./helpers/resources');
const { startHttpServer } = require('./helpers/http-server');
const {
  startRawServer,
  startRequestServer,
  startNonAcceptingServer,
  closedPort,
  response,
  answer,
  neverAnswer,
  truncatedBody,
  badChunking,
  contentLengthAndChunked,
  hugeHeaders,
  resetOnRequest,
  resetMidResponse,
} = require('./helpers/raw-server');
const { waitFor } = require('./helpers/wait');

const API_CODES = [
  'ERR_INVALID_URL',
  'ERR_INVALID_ARG_VALUE',
  'ERR_POOL_CONNECT_TIMEOUT',
  'ERR_POOL_REQUEST_TIMEOUT',
  'ERR_POOL_RESPONSE_TOO_LARGE',
  'ERR_POOL_PARSE',
  'ERR_POOL_SOCKET_CLOSED',
  'ERR_POOL_QUEUE_FULL',
  'ERR_POOL_TLS',
  'ERR_POOL_CLOSED',
  'ABORT_ERR',
  'ERR_POOL_UNSUPPORTED',
  'ERR_POOL_NO_ENDPOINT',
  'ERR_POOL_CONFIG',
  // Not an execute() rejection: a BalancedPool endpoint's 502/503/504, as it
  // appears in err.errors of ERR_POOL_NO_ENDPOINT and in getStats().
  'ERR_POOL_HTTP_STATUS',
];

const res = createResources();
afterEach(async () => {
  expect(await res.cleanup()).toEqual([]);
});

// Calls fn (which starts a request) and returns { sync, err }: sync is true
// when fn threw instead of returning a rejected promise.
async function rejectionOf(fn) {
  let promise;
  try {
    promise = fn();
  } catch (err) {
    return { sync: true, err };
  }
  try {
    const value = await promise;
    return { sync: false, err: null, value };
  } catch (err) {
    return { sync: false, err };
  }
}

async function echoServer() {
  return res.server(await startHttpServer());
}

// Each row: [code, what, async () => ({ fn, origin?, check? })]. `fn` makes
// the failing call; `origin` is the origin the error must name.
const rows = [
  ['ERR_INVALID_URL', 'a url that does not parse', async () => ({
    fn: () => res.pool().execute('not a url'),
    url: 'not a url',
  })],
  ['ERR_INVALID_URL', 'a url with the ftp: scheme', async () => ({
    fn: () => res.pool().execute('ftp://127.0.0.1/file'),
    url: 'ftp://127.0.0.1/file',
  })],
  ['ERR_INVALID_ARG_VALUE', 'a method that is not a token', async () => {
    const srv = await echoServer();
    return { fn: () => res.pool().execute(srv.url(), { method: 'GE T' }), url: srv.url() };
  }],
  ['ERR_INVALID_ARG_VALUE', 'a header name with CR', async () => {
    const srv = await echoServer();
    return { fn: () => res.pool().execute(srv.url(), { headers: { 'x-a\r': 'v' } }), url: srv.url() };
  }],
  ['ERR_INVALID_ARG_VALUE', 'a header value with LF', async () => {
    const srv = await echoServer();
    return { fn: () => res.pool().execute(srv.url(), { headers: { 'x-a': 'a\nInjected: yes' } }), url: srv.url() };
  }],
  ['ERR_INVALID_ARG_VALUE', 'a header value with NUL', async () => {
    const srv = await echoServer();
    return { fn: () => res.pool().execute(srv.url(), { headers: [['x-a', 'a\0b']] }), url: srv.url() };
  }],
  ['ERR_INVALID_ARG_VALUE', 'a body that is a number', async () => {
    const srv = await echoServer();
    return { fn: () => res.pool().execute(srv.url(), { method: 'POST', body: 42 }), url: srv.url() };
  }],
  ['ERR_INVALID_ARG_VALUE', 'a body that is a plain object', async () => {
    const srv = await echoServer();
    return { fn: () => res.pool().execute(srv.url(), { method: 'POST', body: { a: 1 } }), url: srv.url() };
  }],
  ['ERR_INVALID_ARG_VALUE', 'a user transfer-encoding header', async () => {
    const srv = await echoServer();
    return {
      url: srv.url(),
      fn: () => res.pool().execute(srv.url(), {
        method: 'POST', headers: { 'transfer-encoding': 'chunked' }, body: 'hello',
      }),
    };
  }],
  ['ERR_INVALID_ARG_VALUE', 'a content-length that does not match the body', async () => {
    const srv = await echoServer();
    return {
      url: srv.url(),
      fn: () => res.pool().execute(srv.url(), { method: 'POST', headers: { 'content-length': '3' }, body: 'hello' }),
    };
  }],
  ['ECONNREFUSED', 'a port nothing listens on', async () => {
    const port = await closedPort();
    const origin = `http://127.0.0.1:${port}`;
    return { fn: () => res.pool().execute(`${origin}/`), origin, url: `${origin}/` };
  }],
  ['ECONNRESET', 'a server that resets the connection before responding', async () => {
    const srv = res.server(await startRequestServer(resetOnRequest()));
    return { fn: () => res.pool().execute(srv.url()), origin: srv.origin, url: srv.url() };
  }],
  ['ERR_POOL_CONNECT_TIMEOUT', 'a listener whose accept queue is full', async () => {
    const srv = await startNonAcceptingServer();
    res.defer(() => srv.close());
    return {
      url: srv.url(),
      fn: () => res.pool({ connectTimeout: 300, timeout: 10000 }).execute(srv.url()),
      origin: srv.origin,
    };
  }],
  ['ERR_POOL_REQUEST_TIMEOUT', 'a server that never answers', async () => {
    const srv = res.server(await startRequestServer(neverAnswer()));
    return { fn: () => res.pool({ timeout: 200 }).execute(srv.url()), origin: srv.origin, url: srv.url() };
  }],
  ['ERR_POOL_RESPONSE_TOO_LARGE', 'a body over maxResponseSize', async () => {
    const srv = res.server(await startRequestServer(answer(response({ body: 'x'.repeat(100) }))));
    return { fn: () => res.pool({ maxResponseSize: 10 }).execute(srv.url()), origin: srv.origin, url: srv.url() };
  }],
  ['ERR_POOL_PARSE', 'a chunk size that is not hex', async () => {
    const srv = res.server(await startRequestServer(badChunking()));
    return {
      url: srv.url(),
      fn: () => res.pool().execute(srv.url()),
      origin: srv.origin,
      check: (err) => expect(err.reason).toMatch(/^HPE_/),
    };
  }],
  ['ERR_POOL_PARSE', 'both Content-Length and Transfer-Encoding', async () => {
    const srv = res.server(await startRequestServer(contentLengthAndChunked()));
    return {
      url: srv.url(),
      fn: () => res.pool().execute(srv.url()),
      origin: srv.origin,
      check: (err) => expect(err.reason).toMatch(/^HPE_/),
    };
  }],
  ['ERR_POOL_PARSE', 'a header section over 16 KiB', async () => {
    const srv = res.server(await startRequestServer(hugeHeaders()));
    return {
      url: srv.url(),
      fn: () => res.pool().execute(srv.url()),
      origin: srv.origin,
      check: (err) => expect(err.reason).toBe('HPE_HEADER_OVERFLOW'),
    };
  }],
  ['ERR_POOL_PARSE', 'a status line that is not HTTP', async () => {
    const srv = res.server(await startRequestServer(answer('HELLO THERE\r\n\r\n')));
    return {
      url: srv.url(),
      fn: () => res.pool().execute(srv.url()),
      origin: srv.origin,
      check: (err) => expect(err.reason).toMatch(/^HPE_/),
    };
  }],
  ['ERR_POOL_SOCKET_CLOSED', 'a body cut short by FIN', async () => {
    const srv = res.server(await startRequestServer(truncatedBody()));
    return { fn: () => res.pool().execute(srv.url()), origin: srv.origin, url: srv.url() };
  }],
  ['ERR_POOL_SOCKET_CLOSED', 'a FIN before any response byte on a fresh socket', async () => {
    const srv = res.server(await startRequestServer((req, socket) => socket.end()));
    return { fn: () => res.pool().execute(srv.url(), { method: 'POST', body: 'x' }), origin: srv.origin, url: srv.url() };
  }],
  ['ERR_POOL_QUEUE_FULL', 'a request beyond maxQueue', async () => {
    const srv = res.server(await startRequestServer(neverAnswer()));
    const pool = res.pool({ maxSockets: 1, maxQueue: 1 });
    const first = pool.execute(srv.url('/1')).catch(() => {});
    await waitFor(() => srv.requests.length === 1, { label: 'the first request to reach the server' });
    const queued = pool.execute(srv.url('/2')).catch(() => {});
    res.defer(() => Promise.all([first, queued]));
    return { fn: () => pool.execute(srv.url('/3')), origin: srv.origin, url: srv.url('/3') };
  }],
  ['ERR_POOL_TLS', 'an https: url whose server does not speak TLS', async () => {
    const srv = res.server(await startRawServer((socket) => {
      socket.once('data', () => socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n'));
    }));
    const origin = `https://127.0.0.1:${srv.port}`;
    return { fn: () => res.pool({ connectTimeout: 3000 }).execute(`${origin}/`), url: `${origin}/` };
  }],
  ['ERR_POOL_CLOSED', 'execute() after close()', async () => {
    const srv = await echoServer();
    const pool = res.pool();
    await pool.close();
    return { fn: () => pool.execute(srv.url()), url: srv.url() };
  }],
  ['ABORT_ERR', 'an already aborted signal', async () => {
    const srv = await echoServer();
    return {
      url: srv.url(),
      fn: () => res.pool().execute(srv.url(), { signal: AbortSignal.abort() }),
      check: (err) => expect(err.name).toBe('AbortError'),
    };
  }],
  ['ERR_POOL_UNSUPPORTED', 'the CONNECT method', async () => {
    const srv = await echoServer();
    return { fn: () => res.pool().execute(srv.url(), { method: 'CONNECT' }), url: srv.url() };
  }],
  ['ERR_POOL_UNSUPPORTED', 'an upgrade header', async () => {
    const srv = await echoServer();
    return {
      url: srv.url(),
      fn: () => res.pool().execute(srv.url(), { headers: { connection: 'upgrade', upgrade: 'websocket' } }),
    };
  }],
];

describe('every API.md error row', () => {
  test.each(rows)('rejects %s for %s', async (code, what, setup) => {
    const { fn, origin, url, check } = await setup();
    const { sync, err } = await rejectionOf(fn);
    expect(sync).toBe(false);
    expect(err).toBeInstanceOf(Error);
    expect(err instanceof PoolError).toBe(true);
    expect(err.code).toBe(code);
    expect(typeof err.message).toBe('string');
    expect(err.message.length).toBeGreaterThan(0);
    if (code !== 'ABORT_ERR') expect(err.name).toBe('PoolError');
    if (origin) expect(err.origin).toBe(origin);
    expect(url).toEqual(expect.any(String));
    expect(err.url).toBe(url);
    if (check) check(err);
  });

  test('rejects with the code Node gives for a host name that does not resolve', async () => {
    // An empty label: glibc rejects it without sending a DNS query, so the
    // test stays on this machine (traffic only to 127.0.0.1 / ::1).
    const host = 'a..b';
    const expected = await new Promise((resolve) => dns.lookup(host, (err) => resolve(err && err.code)));
    expect(expected).toBeTruthy();
    const { sync, err } = await rejectionOf(() => res.pool().execute(`http://${host}:80/`));
    expect(sync).toBe(false);
    expect(err instanceof PoolError).toBe(true);
    expect(err.code).toBe(expected); // ENOTFOUND where the resolver answers NXDOMAIN
    expect(err.message.length).toBeGreaterThan(0);
  });

  test('throws ERR_POOL_CONFIG from the constructor for maxSockets: -1', () => {
    let thrown;
    try {
      // eslint-disable-next-line no-new
      new ConnectionPoolCore({ maxSockets: -1 });
    } catch (err) {
      thrown = err;
    }
    expect(thrown instanceof PoolError).toBe(true);
    expect(thrown.code).toBe('ERR_POOL_CONFIG');
    expect(thrown.message).toMatch(/maxSockets/);
    expect(thrown.message).toMatch(/-1/);
  });

  test('rejects ERR_POOL_NO_ENDPOINT with each endpoint\'s error when every endpoint refuses', async () => {
    const { BalancedPool } = require('..');
    const ports = [await closedPort(), await closedPort()];
    const pool = res.pool();
    const rpc = new BalancedPool(ports.map((p) => `http://127.0.0.1:${p}`), {
      pool, retry: { attempts: 3, baseDelayMs: 1 },
    });
    const { sync, err } = await rejectionOf(() => rpc.execute('/'));
    expect(sync).toBe(false);
    expect(err instanceof PoolError).toBe(true);
    expect(err.code).toBe('ERR_POOL_NO_ENDPOINT');
    expect(err.errors.map((e) => e.code)).toEqual(['ECONNREFUSED', 'ECONNREFUSED']);
    expect(err.errors.map((e) => e.origin).sort()).toEqual(ports.map((p) => `http://127.0.0.1:${p}`).sort());
    await rpc.close();
  });

  test('covers every code of the API.md table with a row', () => {
    const covered = new Set(rows.map(([code]) => code));
    covered.add('ERR_POOL_CONFIG'); // the constructor test above
    covered.add('ERR_POOL_NO_ENDPOINT'); // the BalancedPool test above
    // Never an execute() rejection: an endpoint's 5xx inside err.errors and
    // getStats(), covered by test/balanced-pool.test.js.
    covered.add('ERR_POOL_HTTP_STATUS');
    for (const code of API_CODES) expect([...covered]).toContain(code);
  });
});

describe('err.url', () => {
  test('is the href of the requested URL, for a string without a path and for a URL object', async () => {
    const port = await closedPort();
    const pool = res.pool();
    const bare = await pool.execute(`http://127.0.0.1:${port}`).catch((e) => e);
    expect(bare.code).toBe('ECONNREFUSED');
    expect(bare.url).toBe(`http://127.0.0.1:${port}/`);
    const url = new URL(`http://127.0.0.1:${port}/a/b?c=1`);
    const obj = await pool.execute(url).catch((e) => e);
    expect(obj.code).toBe('ECONNREFUSED');
    expect(obj.url).toBe(url.href);
  });

  test('names each request of a batch that fails together', async () => {
    const srv = res.server(await startRequestServer(neverAnswer()));
    const pool = res.pool({ maxSockets: 1 });
    const urls = [srv.url('/1'), srv.url('/2'), srv.url('/3')];
    const failures = urls.map((u) => pool.execute(u).catch((e) => e));
    await waitFor(() => srv.requests.length === 1, { label: 'the first request to reach the server' });
    pool.destroy();
    const errs = await Promise.all(failures);
    expect(errs.map((e) => e.code)).toEqual(['ERR_POOL_CLOSED', 'ERR_POOL_CLOSED', 'ERR_POOL_CLOSED']);
    expect(errs.map((e) => e.url)).toEqual(urls);
  });

  test('is set on an abort in flight', async () => {
    const srv = res.server(await startRequestServer(neverAnswer()));
    const ac = new AbortController();
    const pending = res.pool().execute(srv.url('/held'), { signal: ac.signal }).catch((e) => e);
    await waitFor(() => srv.requests.length === 1, { label: 'the request to reach the server' });
    ac.abort();
    const err = await pending;
    expect(err.code).toBe('ABORT_ERR');
    expect(err.url).toBe(srv.url('/held'));
  });

  test('is not added to the caller\'s own error given to destroy(err)', async () => {
    const srv = res.server(await startRequestServer(neverAnswer()));
    const pool = res.pool();
    const pending = pool.execute(srv.url()).catch((e) => e);
    await waitFor(() => srv.requests.length === 1, { label: 'the request to reach the server' });
    const mine = new Error('shutting down');
    pool.destroy(mine);
    expect(await pending).toBe(mine);
    expect('url' in mine).toBe(false);
  });
});

describe('sockets after an error', () => {
  // A RST after part of the response: libuv turns the POLLHUP that follows a
  // partial read into UV_EOF without reading the error, so the pool may see a
  // plain close here. Either code is a rejection with the socket gone.
  test('rejects a response cut by a reset with ECONNRESET or ERR_POOL_SOCKET_CLOSED', async () => {
    const srv = res.server(await startRequestServer(resetMidResponse()));
    const err = await res.pool().execute(srv.url()).catch((e) => e);
    expect(err instanceof PoolError).toBe(true);
    expect(['ECONNRESET', 'ERR_POOL_SOCKET_CLOSED']).toContain(err.code);
  });

  test('never reuses a socket after a parse error', async () => {
    const srv = res.server(await startRequestServer((req, socket) => {
      if (req.connection === 0) socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n');
      else socket.write(response({ body: `conn-${req.connection}` }));
    }));
    const pool = res.pool();
    await expect(pool.execute(srv.url())).rejects.toMatchObject({ code: 'ERR_POOL_PARSE' });
    const r = await pool.execute(srv.url());
    expect(r.body.toString()).toBe('conn-1');
    expect(r.reused).toBe(false);
    expect(srv.connections.length).toBe(2);
  });

  test('destroys the socket whose body exceeded maxResponseSize', async () => {
    const srv = res.server(await startRequestServer((req, socket) => {
      socket.write(response({ body: req.path === '/big' ? 'x'.repeat(1000) : 'small' }));
    }));
    const pool = res.pool({ maxResponseSize: 100 });
    await expect(pool.execute(srv.url('/big'))).rejects.toMatchObject({ code: 'ERR_POOL_RESPONSE_TOO_LARGE' });
    await waitFor(() => srv.openConnections === 0, { label: 'the oversized response socket to close' });
    const r = await pool.execute(srv.url('/small'));
    expect(r.body.toString()).toBe('small');
    expect(srv.connections.length).toBe(2);
  });

  test('accepts a body of exactly maxResponseSize bytes', async () => {
    const srv = res.server(await startRequestServer(answer(response({ body: 'x'.repeat(100) }))));
    const r = await res.pool({ maxResponseSize: 100 }).execute(srv.url());
    expect(r.body.length).toBe(100);
  });
});

describe('PoolError', () => {
  test('the error table lists exactly the codes of API.md', () => {
    expect(Object.keys(ERROR_CODES).sort()).toEqual([...API_CODES].sort());
    for (const code of API_CODES) {
      expect(typeof ERROR_CODES[code]).toBe('string');
      expect(ERROR_CODES[code].length).toBeGreaterThan(0);
    }
  });

  test.each(API_CODES)('createPoolError(%s) carries the code and the default message', (code) => {
    const err = createPoolError(code);
    expect(err).toBeInstanceOf(Error);
    expect(err instanceof PoolError).toBe(true);
    expect(err.code).toBe(code);
    expect(err.message).toBe(ERROR_CODES[code]);
    expect(err.name).toBe(code === 'ABORT_ERR' ? 'AbortError' : 'PoolError');
    expect(typeof err.stack).toBe('string');
  });

  test('a given message replaces the default', () => {
    const err = createPoolError('ERR_POOL_CONFIG', 'MAX_SOCKETS must be a positive integer, got "abc"');
    expect(err.message).toBe('MAX_SOCKETS must be a positive integer, got "abc"');
  });

  test('copies origin, url, reason, syscall, errno, cause and errors, and nothing else', () => {
    const cause = new Error('inner');
    const errors = [new Error('a'), new Error('b')];
    const err = createPoolError('ERR_POOL_PARSE', undefined, {
      origin: 'http://127.0.0.1:1',
      url: 'http://127.0.0.1:1/x',
      reason: 'HPE_INVALID_CHUNK_SIZE',
      syscall: 'read',
      errno: -104,
      cause,
      errors,
      unrelated: 'dropped',
    });
    expect(err).toMatchObject({
      origin: 'http://127.0.0.1:1',
      url: 'http://127.0.0.1:1/x',
      reason: 'HPE_INVALID_CHUNK_SIZE',
      syscall: 'read',
      errno: -104,
    });
    expect(err.cause).toBe(cause);
    expect(err.errors).toBe(errors);
    expect(err.unrelated).toBeUndefined();
    expect(err.message).toContain('HPE_INVALID_CHUNK_SIZE');
  });

  test('leaves absent properties undefined', () => {
    const err = createPoolError('ERR_POOL_CLOSED');
    expect(err.origin).toBeUndefined();
    expect(err.reason).toBeUndefined();
    expect('cause' in err).toBe(false);
  });

  test('a system error is a PoolError with Node\'s code and a message naming it', () => {
    const err = createPoolError('ECONNREFUSED', undefined, { syscall: 'connect', errno: -111 });
    expect(err instanceof PoolError).toBe(true);
    expect(err.code).toBe('ECONNREFUSED');
    expect(err.message).toContain('ECONNREFUSED');
    expect(err.message).toContain('connect');
    expect(err.name).toBe('PoolError');
  });

  test('ERR_POOL_NO_ENDPOINT carries each endpoint\'s last error in errors', () => {
    const inner = [createPoolError('ECONNREFUSED'), createPoolError('ERR_POOL_CONNECT_TIMEOUT')];
    const err = createPoolError('ERR_POOL_NO_ENDPOINT', undefined, { errors: inner });
    expect(err.errors).toEqual(inner);
    expect(err.errors.every((e) => e instanceof PoolError)).toBe(true);
  });

  test('matches instanceof for errors from another loaded copy of the module', () => {
    let other;
    jest.isolateModules(() => {
      other = require('../lib/errors');
    });
    expect(other.PoolError).not.toBe(PoolError);
    const foreign = other.createPoolError('ERR_POOL_CLOSED');
    expect(foreign instanceof PoolError).toBe(true);
    expect(createPoolError('ERR_POOL_CLOSED') instanceof other.PoolError).toBe(true);
  });

  test('does not match ordinary errors or non-objects', () => {
    const plain = Object.assign(new Error('x'), { code: 'ERR_POOL_CLOSED' });
    expect(plain instanceof PoolError).toBe(false);
    expect(null instanceof PoolError).toBe(false);
    expect('ERR_POOL_CLOSED' instanceof PoolError).toBe(false);
    expect({ code: 'ERR_POOL_CLOSED' } instanceof PoolError).toBe(false);
  });

  test('the PoolError exported by the package is the one lib/errors.js builds', () => {
    expect(createPoolError('ERR_POOL_PARSE') instanceof PoolError).toBe(true);
    expect(require('../lib/errors').PoolError).toBe(PoolError);
  });
});
