'use strict';

// What goes on the wire and what comes back: methods, headers, bodies, the
// response object, and the HTTP/1.1 framing cases the parser must get right.

const { createResources } = require('./helpers/resources');
const { startHttpServer } = require('./helpers/http-server');
const {
  startRequestServer,
  response,
  answer,
  answerThenKeepOpen,
  answerWithExtraBytes,
  answerByteByByte,
} = require('./helpers/raw-server');
const { waitFor } = require('./helpers/wait');

const res = createResources();
afterEach(async () => {
  expect(await res.cleanup()).toEqual([]);
});

// rawHeaders [n1, v1, n2, v2, ...] -> [[lower-case name, value], ...]
function pairs(rawHeaders) {
  const out = [];
  for (let i = 0; i < rawHeaders.length; i += 2) out.push([rawHeaders[i].toLowerCase(), rawHeaders[i + 1]]);
  return out;
}

function headerValues(req, name) {
  return pairs(req.rawHeaders).filter(([n]) => n === name).map(([, v]) => v);
}

// A raw server that answers each request with its own numbered body
// ("resp-1", "resp-2", ...), so a test can tell whose answer it got.
async function numberedServer(extra = {}) {
  let n = 0;
  return res.server(await startRequestServer((req, socket) => {
    n += 1;
    socket.write(response({ body: `resp-${n}`, ...extra }));
  }));
}

describe('request line and methods', () => {
  test.each(['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'])('sends the %s method', async (method) => {
    const srv = res.server(await startHttpServer());
    const r = await res.pool().execute(srv.url('/m'), { method });
    expect(r.statusCode).toBe(200);
    expect(JSON.parse(r.body).method).toBe(method);
  });

  test('uses GET when no method is given', async () => {
    const srv = res.server(await startHttpServer());
    const r = await res.pool().execute(srv.url('/m'));
    expect(JSON.parse(r.body).method).toBe('GET');
  });

  test('sends the path and query string of the url', async () => {
    const srv = res.server(await startHttpServer());
    const r = await res.pool().execute(srv.url('/a/b?x=1&y=two'));
    expect(JSON.parse(r.body).url).toBe('/a/b?x=1&y=two');
  });

  test('accepts a URL object', async () => {
    const srv = res.server(await startHttpServer());
    const r = await res.pool().execute(new URL(srv.url('/from-url?q=1')));
    expect(JSON.parse(r.body).url).toBe('/from-url?q=1');
  });

  test('sends / for a url without a path', async () => {
    const srv = res.server(await startRequestServer(answer(response({ body: 'ok' }))));
    await res.pool().execute(srv.origin);
    expect(srv.requests[0].path).toBe('/');
  });
});

describe('request headers', () => {
  test('sets Host and Connection: keep-alive by default', async () => {
    const srv = await numberedServer();
    await res.pool().execute(srv.url());
    const [req] = srv.requests;
    expect(headerValues(req, 'host')).toEqual([`127.0.0.1:${srv.port}`]);
    expect(headerValues(req, 'connection').map((v) => v.toLowerCase())).toEqual(['keep-alive']);
  });

  test('sends headers given as an object', async () => {
    const srv = await numberedServer();
    await res.pool().execute(srv.url(), { headers: { 'X-Trace-Id': 'abc', accept: 'application/json' } });
    const [req] = srv.requests;
    expect(headerValues(req, 'x-trace-id')).toEqual(['abc']);
    expect(headerValues(req, 'accept')).toEqual(['application/json']);
  });

  test('sends headers given as pairs, keeping repeats and their order', async () => {
    const srv = await numberedServer();
    await res.pool().execute(srv.url(), {
      headers: [['X-Multi', 'one'], ['X-Other', 'x'], ['X-Multi', 'two']],
    });
    const [req] = srv.requests;
    expect(headerValues(req, 'x-multi')).toEqual(['one', 'two']);
    const names = pairs(req.rawHeaders).map(([n]) => n).filter((n) => n.startsWith('x-'));
    expect(names).toEqual(['x-multi', 'x-other', 'x-multi']);
  });

  test('keeps a Host given by the caller, whatever its case, and sends only that one', async () => {
    const srv = await numberedServer();
    await res.pool().execute(srv.url(), { headers: { HOST: 'api.example.test' } });
    expect(headerValues(srv.requests[0], 'host')).toEqual(['api.example.test']);
  });

  test('keeps a Connection header given by the caller and sends only that one', async () => {
    const srv = await numberedServer();
    await res.pool().execute(srv.url(), { headers: [['Connection', 'keep-alive']] });
    expect(headerValues(srv.requests[0], 'connection')).toHaveLength(1);
  });

  test('keeps a Content-Length given by the caller that matches the body', async () => {
    const srv = await numberedServer();
    await res.pool().execute(srv.url(), { method: 'POST', headers: { 'Content-Length': '5' }, body: 'hello' });
    expect(headerValues(srv.requests[0], 'content-length')).toEqual(['5']);
    expect(srv.requests[0].body.toString()).toBe('hello');
  });
});

describe('request bodies', () => {
  test('sends a string body as UTF-8 with its byte length', async () => {
    const srv = await numberedServer();
    const text = 'héllo wörld ✓';
    await res.pool().execute(srv.url(), { method: 'POST', body: text });
    const [req] = srv.requests;
    expect(headerValues(req, 'content-length')).toEqual([String(Buffer.byteLength(text))]);
    expect(req.body.toString('utf8')).toBe(text);
  });

  test('sends a Buffer body byte for byte', async () => {
    const srv = await numberedServer();
    const body = Buffer.alloc(256);
    for (let i = 0; i < body.length; i++) body[i] = i;
    await res.pool().execute(srv.url(), { method: 'PUT', body });
    expect(srv.requests[0].body.equals(body)).toBe(true);
    expect(headerValues(srv.requests[0], 'content-length')).toEqual(['256']);
  });

  test('sends only the viewed bytes of a Uint8Array with an offset', async () => {
    const srv = await numberedServer();
    const all = new Uint8Array(20).map((_, i) => 65 + i); // 'ABCDEFGHIJKLMNOPQRST'
    const view = new Uint8Array(all.buffer, 5, 10); // 'FGHIJKLMNO'
    await res.pool().execute(srv.url(), { method: 'POST', body: view });
    expect(srv.requests[0].body.toString('latin1')).toBe('FGHIJKLMNO');
    expect(headerValues(srv.requests[0], 'content-length')).toEqual(['10']);
  });

  test('sends a 4 MiB body whole', async () => {
    const srv = await numberedServer();
    const body = Buffer.alloc(4 * 1024 * 1024, 'abcdefgh');
    const r = await res.pool().execute(srv.url(), { method: 'POST', body });
    expect(r.statusCode).toBe(200);
    expect(srv.requests[0].body.length).toBe(body.length);
    expect(srv.requests[0].body.equals(body)).toBe(true);
  });

  test('sends an empty string body with Content-Length: 0', async () => {
    const srv = await numberedServer();
    await res.pool().execute(srv.url(), { method: 'POST', body: '' });
    expect(headerValues(srv.requests[0], 'content-length')).toEqual(['0']);
    expect(srv.requests[0].body.length).toBe(0);
  });

  test('sends no body for body: null', async () => {
    const srv = await numberedServer();
    const r = await res.pool().execute(srv.url(), { method: 'POST', body: null });
    expect(r.statusCode).toBe(200);
    expect(srv.requests[0].body.length).toBe(0);
  });
});

describe('the response object', () => {
  test('resolves with status, message, headers by Node\'s rules, body and timings', async () => {
    const srv = res.server(await startRequestServer(answer(response({
      status: 201,
      reason: 'Created',
      headers: [
        ['Content-Type', 'text/plain'],
        ['X-Dup', 'a'],
        ['X-Dup', 'b'],
        ['Set-Cookie', 'a=1; Path=/'],
        ['Set-Cookie', 'b=2'],
        ['X-UPPER-Case', 'Value'],
      ],
      body: 'hello',
    }))));
    const r = await res.pool().execute(srv.url());
    expect(r.statusCode).toBe(201);
    expect(r.statusMessage).toBe('Created');
    expect(r.headers['content-type']).toBe('text/plain');
    expect(r.headers['x-dup']).toBe('a, b');
    expect(r.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2']);
    expect(r.headers['x-upper-case']).toBe('Value');
    expect(r.headers['content-length']).toBe('5');
    for (const name of Object.keys(r.headers)) expect(name).toBe(name.toLowerCase());
    expect(Buffer.isBuffer(r.body)).toBe(true);
    expect(r.body.toString()).toBe('hello');
    expect(r.reused).toBe(false);
    for (const key of ['queued', 'connect', 'ttfb', 'total']) {
      expect(typeof r.timings[key]).toBe('number');
      expect(Number.isFinite(r.timings[key])).toBe(true);
      expect(r.timings[key]).toBeGreaterThanOrEqual(0);
    }
    expect(r.timings.total).toBeGreaterThanOrEqual(r.timings.ttfb);
    expect(r.timings.total).toBeGreaterThanOrEqual(r.timings.connect);
  });

  test('gives a single Set-Cookie as an array', async () => {
    const srv = res.server(await startRequestServer(answer(response({ headers: [['Set-Cookie', 'only=1']], body: '' }))));
    const r = await res.pool().execute(srv.url());
    expect(r.headers['set-cookie']).toEqual(['only=1']);
  });

  test('resolves a 500 as a response, not an error', async () => {
    const srv = res.server(await startRequestServer(answer(response({ status: 500, body: 'boom' }))));
    const r = await res.pool().execute(srv.url());
    expect(r.statusCode).toBe(500);
    expect(r.body.toString()).toBe('boom');
  });

  test('reports a reused socket with reused: true and connect 0', async () => {
    const srv = await numberedServer();
    const pool = res.pool();
    await pool.execute(srv.url());
    const r = await pool.execute(srv.url());
    expect(r.reused).toBe(true);
    expect(r.timings.connect).toBe(0);
    expect(r.body.toString()).toBe('resp-2');
  });

  test('gives an empty Buffer for an empty body', async () => {
    const srv = res.server(await startRequestServer(answer(response({ body: '' }))));
    const r = await res.pool().execute(srv.url());
    expect(Buffer.isBuffer(r.body)).toBe(true);
    expect(r.body.length).toBe(0);
  });
});

describe('responses without a body', () => {
  test('reads no body for HEAD even with a Content-Length, and reuses the socket', async () => {
    const srv = res.server(await startRequestServer((req, socket) => {
      if (req.method === 'HEAD') socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n');
      else socket.write(response({ body: 'after-head' }));
    }));
    const pool = res.pool();
    const head = await pool.execute(srv.url(), { method: 'HEAD' });
    expect(head.statusCode).toBe(200);
    expect(head.headers['content-length']).toBe('100');
    expect(head.body.length).toBe(0);
    const next = await pool.execute(srv.url());
    expect(next.body.toString()).toBe('after-head');
    expect(srv.connections.length).toBe(1);
  });

  test.each([
    ['204', 'HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n'],
    ['304', 'HTTP/1.1 304 Not Modified\r\nETag: "abc"\r\nContent-Length: 100\r\n\r\n'],
  ])('reads no body for a %s and reuses the socket', async (status, bytes) => {
    const srv = res.server(await startRequestServer((req, socket) => {
      if (req.path === '/empty') socket.write(bytes);
      else socket.write(response({ body: 'after' }));
    }));
    const pool = res.pool();
    const r = await pool.execute(srv.url('/empty'));
    expect(r.statusCode).toBe(Number(status));
    expect(r.body.length).toBe(0);
    const next = await pool.execute(srv.url('/next'));
    expect(next.body.toString()).toBe('after');
    expect(srv.connections.length).toBe(1);
  });

  test('skips 1xx responses and resolves with the final one', async () => {
    const srv = res.server(await startRequestServer((req, socket) => {
      if (req.path === '/hints') {
        socket.write(
          'HTTP/1.1 100 Continue\r\n\r\n'
          + 'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n'
          + 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Final: yes\r\n\r\nfinal',
        );
      } else {
        socket.write(response({ body: 'next' }));
      }
    }));
    const pool = res.pool();
    const r = await pool.execute(srv.url('/hints'));
    expect(r.statusCode).toBe(200);
    expect(r.body.toString()).toBe('final');
    expect(r.headers['x-final']).toBe('yes');
    expect(r.headers.link).toBeUndefined();
    const next = await pool.execute(srv.url('/next'));
    expect(next.body.toString()).toBe('next');
    expect(srv.connections.length).toBe(1);
  });
});

describe('framing', () => {
  // This also proves the addon parses with its own llhttp (BUILD.md): with
  // node's exported llhttp bound instead, a response read in pieces crashes.
  test('de-chunks a chunked response that arrives one byte per read', async () => {
    const chunked = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Kind: chunked\r\n\r\n'
      + '5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n';
    const srv = res.server(await startRequestServer((req, socket) => {
      if (req.indexOnConnection === 0) answerByteByByte(chunked)(req, socket);
      else socket.write(response({ body: 'second' }));
    }));
    const pool = res.pool();
    const r = await pool.execute(srv.url());
    expect(r.statusCode).toBe(200);
    expect(r.headers['x-kind']).toBe('chunked');
    expect(r.body.toString()).toBe('hello world');
    const next = await pool.execute(srv.url());
    expect(next.body.toString()).toBe('second');
    expect(next.reused).toBe(true);
    expect(srv.connections.length).toBe(1);
  });

  test('reads a Content-Length response that arrives one byte per read', async () => {
    const srv = res.server(await startRequestServer(
      answerByteByByte(response({ headers: { 'X-Slow': 'yes' }, body: 'piece by piece' })),
    ));
    const r = await res.pool().execute(srv.url());
    expect(r.headers['x-slow']).toBe('yes');
    expect(r.body.toString()).toBe('piece by piece');
  });

  test('reads a large chunked body of many chunks', async () => {
    const parts = [];
    let expected = '';
    for (let i = 0; i < 500; i++) {
      const chunk = `chunk-${i}-${'y'.repeat(i % 50)}`;
      expected += chunk;
      parts.push(`${Buffer.byteLength(chunk).toString(16)}\r\n${chunk}\r\n`);
    }
    const bytes = `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${parts.join('')}0\r\n\r\n`;
    const srv = res.server(await startRequestServer(answer(bytes)));
    const r = await res.pool().execute(srv.url());
    expect(r.body.toString()).toBe(expected);
  });

  test('reads a close-delimited body and does not reuse that socket', async () => {
    const srv = res.server(await startRequestServer((req, socket) => {
      if (req.connection === 0) {
        socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil ');
        socket.end('the end');
      } else {
        socket.write(response({ body: 'fresh' }));
      }
    }));
    const pool = res.pool();
    const r = await pool.execute(srv.url());
    expect(r.body.toString()).toBe('until the end');
    const next = await pool.execute(srv.url());
    expect(next.body.toString()).toBe('fresh');
    expect(next.reused).toBe(false);
    expect(srv.connections.length).toBe(2);
  });

  test('closes the socket after an HTTP/1.0 response without keep-alive', async () => {
    const srv = res.server(await startRequestServer((req, socket) => {
      if (req.connection === 0) answerThenKeepOpen(response({ version: '1.0', body: 'old' }))(req, socket);
      else socket.write(response({ body: 'new' }));
    }));
    const pool = res.pool();
    const r = await pool.execute(srv.url());
    expect(r.body.toString()).toBe('old');
    await waitFor(() => srv.connections[0].destroyed, { label: 'the client to close the HTTP/1.0 socket' });
    const next = await pool.execute(srv.url());
    expect(next.body.toString()).toBe('new');
    expect(srv.connections.length).toBe(2);
  });

  test('closes the socket after a response with Connection: close', async () => {
    const srv = res.server(await startRequestServer((req, socket) => {
      if (req.connection === 0) answerThenKeepOpen(response({ headers: { Connection: 'close' }, body: 'bye' }))(req, socket);
      else socket.write(response({ body: 'hello again' }));
    }));
    const pool = res.pool();
    const r = await pool.execute(srv.url());
    expect(r.body.toString()).toBe('bye');
    const next = await pool.execute(srv.url());
    expect(next.body.toString()).toBe('hello again');
    expect(next.reused).toBe(false);
    expect(srv.connections.length).toBe(2);
    await waitFor(() => srv.connections[0].destroyed, { label: 'the Connection: close socket to be closed' });
  });

  test('resolves a response followed by extra bytes, then never reuses that socket', async () => {
    const srv = res.server(await startRequestServer((req, socket) => {
      if (req.connection === 0) answerWithExtraBytes('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON', response({ body: 'first' }))(req, socket);
      else socket.write(response({ body: `own-${req.connection}` }));
    }));
    const pool = res.pool();
    const r = await pool.execute(srv.url());
    expect(r.body.toString()).toBe('first');
    const next = await pool.execute(srv.url());
    expect(next.body.toString()).toBe('own-1');
    expect(srv.connections.length).toBe(2);
    await waitFor(() => srv.connections[0].destroyed, { label: 'the socket with extra bytes to be closed' });
  });
});
