'use strict';

// A keep-alive HTTP/1.1 server that fails on purpose, in a child process (so the test
// process's socket descriptors are the pool's alone, and server and client get a CPU each).
//
//   const srv = await startFaultServer({ seed, dropRate, stallRate, restartEveryMs });
//   srv.url('/x'); await srv.stats(); await srv.close();
//
// Every request draws its fate from the seeded PRNG: most are answered well; `dropRate` of
// them end their keep-alive connection (FIN or RST) at a random point — before the
// response, mid-headers, mid-body, or while idle after a complete response; `stallRate`
// of them are never answered (the client's timeout must end them). Every `restartEveryMs`
// the server restarts: the listener closes, every connection is destroyed, and after
// `downMs` it listens again on the same port (connects in between are refused).
// Responses are 200 with a deterministic body of a random length (Content-Length or
// chunked); `x-len` repeats the length so the client can check the bytes it got.
// Paths: /big/<n> answers with an n-byte body; /bad... with a malformed response.

const path = require('node:path');
const { fork } = require('node:child_process');

const HOST = '127.0.0.1';

// The body every response of length n carries: byte i is 'a' + i % 26.
function expectedBody(n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = 0x61 + (i % 26);
  return b;
}

// True when `body` is exactly expectedBody(n), without allocating one.
function isExpectedBody(body, n) {
  if (!Buffer.isBuffer(body) || !Number.isInteger(n) || body.length !== n) return false;
  for (let i = 0; i < n; i++) {
    if (body[i] !== 0x61 + (i % 26)) return false;
  }
  return true;
}

async function startFaultServer(options = {}) {
  const child = fork(__filename, ['--child', JSON.stringify(options)], {
    execArgv: [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const pending = new Map();
  let nextId = 0;
  child.on('message', (msg) => {
    const waiter = pending.get(msg.id);
    if (waiter) {
      pending.delete(msg.id);
      waiter(msg);
    }
  });
  const call = (type, timeoutMs = 5000) => new Promise((resolve, reject) => {
    const id = ++nextId;
    const timer = setTimeout(() => {
      pending.delete(id);
      reject(new Error(`fault server did not answer '${type}' within ${timeoutMs} ms`));
    }, timeoutMs);
    pending.set(id, (msg) => {
      clearTimeout(timer);
      resolve(msg);
    });
    child.send({ id, type });
  });
  const { port } = await call('port');
  const origin = `http://${HOST}:${port}`;
  return {
    port,
    origin,
    url: (p = '/') => origin + p,
    stats: async () => (await call('stats')).stats,
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        await call('stop');
      } finally {
        child.disconnect();
        // Give the child 3 s to exit on its own; the timer is cleared once it has, so it
        // does not keep the test process alive after the run.
        let timer;
        await Promise.race([exited, new Promise((r) => { timer = setTimeout(r, 3000); })]);
        clearTimeout(timer);
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGKILL');
          await exited;
        }
      }
    },
  };
}

// --- the child ------------------------------------------------------------------------

function runChild(options) {
  const net = require('node:net');
  const { parseRequests } = require(path.join(__dirname, 'raw-server.js'));
  const {
    seed = 1,
    dropRate = 0.1,
    stallRate = 0.005,
    restartEveryMs = 0,
    downMs = 30,
    maxBody = 4096,
  } = options;

  let a = seed >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));
  const pick = (xs) => xs[int(0, xs.length - 1)];

  const stats = {
    connections: 0, requests: 0, answered: 0, stalled: 0, restarts: 0,
    drops: { before: 0, 'mid-headers': 0, 'mid-body': 0, idle: 0 },
  };
  const open = new Set();
  let port = 0;
  let server = null;
  let stopping = false;

  function kill(socket, how) {
    if (socket.destroyed) return;
    if (how === 'rst') socket.resetAndDestroy();
    else socket.end();
  }

  function responseBytes(n) {
    const body = expectedBody(n);
    if (int(0, 3) === 0) {
      const parts = [Buffer.from(`HTTP/1.1 200 OK\r\nX-Len: ${n}\r\nTransfer-Encoding: chunked\r\n\r\n`)];
      let pos = 0;
      while (pos < n) {
        const k = Math.min(n - pos, int(1, 1500));
        parts.push(Buffer.from(`${k.toString(16)}\r\n`), body.subarray(pos, pos + k), Buffer.from('\r\n'));
        pos += k;
      }
      parts.push(Buffer.from('0\r\n\r\n'));
      return { bytes: Buffer.concat(parts), headEnd: parts[0].length };
    }
    const head = Buffer.from(`HTTP/1.1 200 OK\r\nX-Len: ${n}\r\nContent-Length: ${n}\r\n\r\n`);
    return { bytes: Buffer.concat([head, body]), headEnd: head.length };
  }

  function onConnection(socket) {
    stats.connections++;
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    socket.on('error', () => {});
    socket.setNoDelay(true);
    parseRequests(socket, (req) => {
      stats.requests++;
      if (socket.destroyed || socket.writableEnded) return;
      // This request's fate: most are answered; dropRate of them end their connection.
      const fate = rand() < dropRate
        ? { at: pick(['before', 'mid-headers', 'mid-body', 'idle']), how: pick(['fin', 'rst']) }
        : null;
      if (fate && fate.at !== 'idle') {
        stats.drops[fate.at]++;
        const { bytes, headEnd } = responseBytes(int(1, maxBody));
        if (fate.at === 'before') {
          kill(socket, fate.how);
        } else {
          const cut = fate.at === 'mid-headers' ? int(1, headEnd - 1) : int(headEnd, bytes.length - 1);
          socket.write(bytes.subarray(0, cut), () => kill(socket, fate.how));
        }
        return;
      }
      if (rand() < stallRate) {
        stats.stalled++;
        return;  // never answered: the client's timeout ends it and closes the socket
      }
      stats.answered++;
      if (req.path.startsWith('/bad')) {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: zz\r\n\r\n');  // ERR_POOL_PARSE
        return;
      }
      const big = /^\/big\/(\d+)/.exec(req.path);
      socket.write(responseBytes(big ? Number(big[1]) : int(0, maxBody)).bytes);
      if (fate) {
        stats.drops.idle++;
        setTimeout(() => kill(socket, fate.how), int(0, 5));
      }
    });
  }

  function listen(onListening) {
    server = net.createServer(onConnection);
    server.listen(port, HOST, () => {
      port = server.address().port;
      if (onListening) onListening();
    });
  }

  function restart() {
    if (stopping) return;
    stats.restarts++;
    const old = server;
    old.close();
    for (const socket of open) socket.destroy();
    setTimeout(() => {
      if (!stopping) listen();
    }, downMs);
  }

  // Registered at once: a message that arrives before a listener exists is lost.
  let restartTimer = null;
  let listening = false;
  const portWaiters = [];
  process.on('message', (msg) => {
    if (msg.type === 'port') {
      if (listening) process.send({ id: msg.id, port });
      else portWaiters.push(msg.id);
    } else if (msg.type === 'stats') {
      process.send({ id: msg.id, stats });
    } else if (msg.type === 'stop') {
      stopping = true;
      clearInterval(restartTimer);
      for (const socket of open) socket.destroy();
      server.close(() => process.send({ id: msg.id, stats }));
    }
  });
  process.on('disconnect', () => process.exit(0));
  listen(() => {
    listening = true;
    if (restartEveryMs > 0) restartTimer = setInterval(restart, restartEveryMs);
    for (const id of portWaiters.splice(0)) process.send({ id, port });
  });
}

if (require.main === module && process.argv[2] === '--child') {
  runChild(JSON.parse(process.argv[3] || '{}'));
}

module.exports = { startFaultServer, expectedBody, isExpectedBody };
