'use strict';

// Configuration: defaults, then environment variables, then options.
// Environment variables are read by the constructor from process.env, so
// every test of that runs in a child process with its own environment;
// configFromEnv(env) takes the environment as an argument and is tested here.

const { spawnSync } = require('node:child_process');
const { ConnectionPoolCore, configFromEnv, PoolError } = require('..');
const { ROOT, createResources } = require('./helpers/resources');
const { startHttpServer } = require('./helpers/http-server');
const { waitFor } = require('./helpers/wait');

const res = createResources();
afterEach(async () => {
  expect(await res.cleanup()).toEqual([]);
});

const ENV_VARS = [
  'KEEP_ALIVE_ENABLED',
  'KEEP_ALIVE_MSECS',
  'MAX_SOCKETS',
  'MAX_FREE_SOCKETS',
  'CONNECTION_TIMEOUT',
  'SOCKET_SCHEDULING',
  'TCP_NO_DELAY',
  'RESPONSE_SIZE_LIMIT',
  'CLEANUP_PERIOD_MS',
];

// The parent's environment without any of the pool's variables, plus `env`.
function childEnv(env) {
  const base = { ...process.env };
  for (const name of ENV_VARS) delete base[name];
  return { ...base, ...env };
}

// Runs `body` (the text of an async function body; `lib` is the package) in
// a child process with `env` and returns what it printed as JSON. Bounded:
// the child is killed after 10 s.
function runChild(env, body) {
  const script = `
    const lib = require(${JSON.stringify(ROOT)});
    (async () => { ${body} })().then(
      (value) => { process.stdout.write(JSON.stringify({ ok: true, value })); },
      (err) => { process.stdout.write(JSON.stringify({ ok: false, name: err.name, code: err.code, message: err.message, isPoolError: err instanceof lib.PoolError })); },
    );`;
  const out = spawnSync(process.execPath, ['-e', script], {
    env: childEnv(env),
    encoding: 'utf8',
    timeout: 10000,
  });
  if (out.error) throw out.error;
  if (out.status !== 0 || !out.stdout) {
    throw new Error(`child failed (status ${out.status}, signal ${out.signal}): ${out.stderr}`);
  }
  return JSON.parse(out.stdout);
}

// In a child: starts an http server that answers after 20 ms, sends
// `concurrency` requests at once through a pool made with `optionsJson`,
// and returns what the pool and the server saw.
function loadProbe(optionsJson, concurrency = 4) {
  return `
    const http = require('node:http');
    let open = 0; let maxOpen = 0; const connHeaders = [];
    const server = http.createServer((req, res) => {
      connHeaders.push(req.headers.connection);
      setTimeout(() => res.end('ok'), 20);
    });
    server.on('connection', (s) => { open++; maxOpen = Math.max(maxOpen, open); s.on('close', () => open--); });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const url = 'http://127.0.0.1:' + server.address().port + '/';
    const pool = new lib.ConnectionPoolCore(${optionsJson});
    await Promise.all(Array.from({ length: ${concurrency} }, () => pool.execute(url)));
    await pool.execute(url);
    const m = pool.getMetrics();
    await pool.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    return { totalConnections: m.totalConnections, reused: m.reusedConnections, maxOpen, connHeaders };`;
}

describe('environment variables (child processes)', () => {
  test('MAX_SOCKETS=abc makes the constructor throw ERR_POOL_CONFIG naming the variable and the value', () => {
    const out = runChild({ MAX_SOCKETS: 'abc' }, 'new lib.ConnectionPoolCore(); return "constructed";');
    expect(out.ok).toBe(false);
    expect(out.isPoolError).toBe(true);
    expect(out.code).toBe('ERR_POOL_CONFIG');
    expect(out.message).toContain('MAX_SOCKETS');
    expect(out.message).toContain('abc');
  });

  test('SOCKET_SCHEDULING=random makes the constructor throw ERR_POOL_CONFIG naming both', () => {
    const out = runChild({ SOCKET_SCHEDULING: 'random' }, 'new lib.ConnectionPoolCore(); return "constructed";');
    expect(out.ok).toBe(false);
    expect(out.code).toBe('ERR_POOL_CONFIG');
    expect(out.message).toContain('SOCKET_SCHEDULING');
    expect(out.message).toContain('random');
  });

  test.each([
    ['KEEP_ALIVE_ENABLED', 'maybe'],
    ['CONNECTION_TIMEOUT', '-5'],
    ['MAX_FREE_SOCKETS', '1.5x'],
    ['TCP_NO_DELAY', '2'],
    ['RESPONSE_SIZE_LIMIT', 'big'],
  ])('%s=%s makes the constructor throw ERR_POOL_CONFIG', (name, value) => {
    const out = runChild({ [name]: value }, 'new lib.ConnectionPoolCore(); return "constructed";');
    expect(out.ok).toBe(false);
    expect(out.code).toBe('ERR_POOL_CONFIG');
    expect(out.message).toContain(name);
    expect(out.message).toContain(value);
  });

  test('MAX_SOCKETS=1 from the environment limits the pool to one socket', () => {
    const out = runChild({ MAX_SOCKETS: '1' }, loadProbe('{}'));
    expect(out).toMatchObject({ ok: true });
    expect(out.value.totalConnections).toBe(1);
    expect(out.value.maxOpen).toBe(1);
  });

  test('an explicit maxSockets option beats MAX_SOCKETS', () => {
    const out = runChild({ MAX_SOCKETS: '1' }, loadProbe('{ maxSockets: 4 }'));
    expect(out).toMatchObject({ ok: true });
    expect(out.value.totalConnections).toBe(4);
  });

  test('KEEP_ALIVE_ENABLED=No sends Connection: close and reuses nothing', () => {
    const out = runChild({ KEEP_ALIVE_ENABLED: 'No' }, loadProbe('{}', 1));
    expect(out).toMatchObject({ ok: true });
    expect(out.value.reused).toBe(0);
    expect(out.value.connHeaders.map((h) => h.toLowerCase())).toEqual(['close', 'close']);
  });

  test('an explicit keepAlive: true beats KEEP_ALIVE_ENABLED=0', () => {
    const out = runChild({ KEEP_ALIVE_ENABLED: '0' }, loadProbe('{ keepAlive: true }', 1));
    expect(out).toMatchObject({ ok: true });
    expect(out.value.reused).toBe(1);
    expect(out.value.totalConnections).toBe(1);
  });

  test('configFromEnv() with no argument reads process.env', () => {
    const out = runChild(
      { MAX_SOCKETS: '9', SOCKET_SCHEDULING: 'FIFO' },
      'return lib.configFromEnv();',
    );
    expect(out.ok).toBe(true);
    expect(out.value).toMatchObject({ maxSockets: 9, scheduling: 'fifo' });
  });
});

describe('configFromEnv(env)', () => {
  test('returns the options the environment produces, typed', () => {
    const options = configFromEnv({
      KEEP_ALIVE_ENABLED: 'false',
      KEEP_ALIVE_MSECS: '500',
      MAX_SOCKETS: '7',
      MAX_FREE_SOCKETS: '3',
      CONNECTION_TIMEOUT: '1234',
      SOCKET_SCHEDULING: 'fifo',
      TCP_NO_DELAY: '0',
      RESPONSE_SIZE_LIMIT: '100',
      CLEANUP_PERIOD_MS: '250',
    });
    expect(options).toMatchObject({
      keepAlive: false,
      keepAliveMsecs: 500,
      maxSockets: 7,
      maxFreeSockets: 3,
      connectTimeout: 1234,
      scheduling: 'fifo',
      noDelay: false,
      maxResponseSize: 100,
      cleanupPeriodMs: 250,
    });
  });

  test('ignores variables it does not know', () => {
    const options = configFromEnv({ MAX_SOCKETS: '5', HOME: '/root', PATH: '/bin' });
    expect(options.maxSockets).toBe(5);
    expect(options.HOME).toBeUndefined();
    expect(options.PATH).toBeUndefined();
  });

  test('does not invent values for variables that are not set', () => {
    const options = configFromEnv({ MAX_SOCKETS: '5' });
    expect(options.maxSockets).toBe(5);
    expect(typeof options).toBe('object');
    // Only variables that are set, or the defaults: never something else.
    if ('scheduling' in options) expect(options.scheduling).toBe('lifo');
    if ('keepAlive' in options) expect(options.keepAlive).toBe(true);
  });

  test.each(['true', 'TRUE', 'True', '1', 'yes', 'YES', 'Yes'])('reads %s as true', (value) => {
    expect(configFromEnv({ KEEP_ALIVE_ENABLED: value }).keepAlive).toBe(true);
    expect(configFromEnv({ TCP_NO_DELAY: value }).noDelay).toBe(true);
  });

  test.each(['false', 'FALSE', 'False', '0', 'no', 'NO', 'nO'])('reads %s as false', (value) => {
    expect(configFromEnv({ KEEP_ALIVE_ENABLED: value }).keepAlive).toBe(false);
    expect(configFromEnv({ TCP_NO_DELAY: value }).noDelay).toBe(false);
  });

  test.each(['lifo', 'fifo', 'LIFO', 'Fifo'])('reads SOCKET_SCHEDULING=%s', (value) => {
    expect(configFromEnv({ SOCKET_SCHEDULING: value }).scheduling).toBe(value.toLowerCase());
  });

  test.each([
    ['MAX_SOCKETS', 'abc'],
    ['MAX_SOCKETS', '-1'],
    ['SOCKET_SCHEDULING', 'random'],
    ['KEEP_ALIVE_ENABLED', 'maybe'],
  ])('throws ERR_POOL_CONFIG for %s=%s, naming both', (name, value) => {
    let thrown;
    try {
      configFromEnv({ [name]: value });
    } catch (err) {
      thrown = err;
    }
    expect(thrown instanceof PoolError).toBe(true);
    expect(thrown.code).toBe('ERR_POOL_CONFIG');
    expect(thrown.message).toContain(name);
    expect(thrown.message).toContain(value);
  });
});

describe('options', () => {
  test.each([
    ['maxSockets', -1],
    ['maxSockets', 0],
    ['maxSockets', 'abc'],
    ['maxSockets', NaN],
    ['scheduling', 'x'],
    ['timeout', -5],
    ['connectTimeout', -1],
    ['keepAlive', 'yes-please'],
  ])('throws ERR_POOL_CONFIG for %s: %p, naming the option and the value', (name, value) => {
    let thrown;
    try {
      // eslint-disable-next-line no-new
      new ConnectionPoolCore({ [name]: value });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeDefined();
    expect(thrown instanceof PoolError).toBe(true);
    expect(thrown.code).toBe('ERR_POOL_CONFIG');
    expect(thrown.message).toContain(name);
    expect(thrown.message).toContain(String(value));
  });

  test('accepts Infinity where API.md allows it, as no limit', async () => {
    const big = Buffer.alloc(10 * 1024 * 1024 + 1, 'x');  // one byte over the default maxResponseSize
    const srv = res.server(await startHttpServer({ routes: { '/big': { body: big } } }));
    const pool = res.pool({
      maxSockets: 1,
      maxTotalSockets: Infinity,
      maxResponseSize: Infinity,
      maxRequestsPerSocket: Infinity,
      maxSocketLifetime: Infinity,
      maxQueue: Infinity,
    });
    // maxQueue: many requests wait behind one held on the only socket.
    srv.hold();
    const queued = Array.from({ length: 40 }, (_, i) => pool.execute(srv.url(`/q${i}`)));
    await waitFor(() => srv.held.length === 1, { label: 'the first request held' });
    expect(pool.getMetrics().pendingRequests).toBe(40);
    srv.release();
    const results = await Promise.all(queued);
    expect(results.map((r) => r.statusCode)).toEqual(Array(40).fill(200));
    // maxResponseSize: a body over the default limit arrives whole.
    const r = await pool.execute(srv.url('/big'));
    expect(r.body.length).toBe(big.length);
    // maxRequestsPerSocket, maxSocketLifetime, maxTotalSockets: one socket served everything.
    expect(srv.connectionCount).toBe(1);
    expect(results.slice(1).every((x) => x.reused)).toBe(true);
  });

  test('accepts every documented option with a valid value', async () => {
    const pool = new ConnectionPoolCore({
      keepAlive: true,
      keepAliveMsecs: 2000,
      maxSockets: 10,
      maxFreeSockets: 5,
      maxTotalSockets: 100,
      connectTimeout: 5000,
      timeout: 0,
      freeSocketTimeout: 1000,
      scheduling: 'fifo',
      noDelay: false,
      maxResponseSize: 1024,
      cleanupPeriodMs: 500,
      maxRequestsPerSocket: 100,
      maxSocketLifetime: 60000,
      maxQueue: 10,
      tls: {},
    });
    expect(pool.getMetrics().totalRequests).toBe(0);
    await pool.close();
  });
});
