#!/usr/bin/env node
'use strict';

// The figures issue 3's closing note asks for, measured on this machine:
//
//  (a) TLS handshake time to a local https server, full vs resumed: a new
//      socket per request (keepAlive: false), tls.sessionCache false (full)
//      and true (resumed); median of 100 of each, from timings.connect (TCP
//      connect + handshake) and from the whole request. A request counts as
//      resumed only if the pool's tlsResumed grew during it. https.Agent
//      (maxCachedSessions 0 vs default) is measured the same way for context.
//  (b) RSS per idle TLS socket, 500 idle sockets: pool.warmup(url, 500) vs
//      https.Agent({ keepAlive: true, maxSockets: 500 }) opening 500 sockets
//      with 500 concurrent requests. Each client in its own fresh child
//      process; the baseline is taken with one TLS socket already open (so
//      the CA store, SSL_CTX and first-use costs are not counted per socket),
//      after gc; rounds interleave the two clients.
//
// The server is Node's `https` (TLS 1.3, P-256 certificate from
// test/helpers/tls-certs.js) in its own process. With --pin (taskset, 2+ CPUs)
// the server runs on CPU 0 and the clients on CPU 1; off by default, because on
// a small shared machine a pinned process waits behind whatever else runs on
// its CPU, which shows up as milliseconds of handshake time.
//
//   node bench/tls-figures.js [--rounds N] [--samples N] [--sockets N] [--json] [--pin]
//
// Not part of `npm test`. Prints a markdown summary on stdout, progress on stderr.

const path = require('node:path');
const os = require('node:os');
const { spawn, spawnSync } = require('node:child_process');
const { performance } = require('node:perf_hooks');

const ROOT = path.resolve(__dirname, '..');

// --- child roles ------------------------------------------------------------------

async function runServer() {
  const fs = require('node:fs');
  const https = require('node:https');
  const server = https.createServer(
    { cert: fs.readFileSync(process.env.TLS_CERT), key: fs.readFileSync(process.env.TLS_KEY) },
    (req, res) => {
      req.resume();
      req.on('end', () => res.end('{}'));
    },
  );
  server.keepAliveTimeout = 120000;
  server.headersTimeout = 130000;
  server.requestTimeout = 0;
  let connections = 0;
  let resumed = 0;
  server.on('secureConnection', (s) => {
    connections += 1;
    if (s.isSessionReused()) resumed += 1;
  });
  server.on('tlsClientError', () => {});
  process.on('message', (m) => {
    if (m === 'stats') process.send({ connections, resumed });
  });
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

async function runHandshakes() {
  const fs = require('node:fs');
  const https = require('node:https');
  const { ConnectionPoolCore } = require(ROOT);
  const ca = fs.readFileSync(process.env.TLS_CA, 'utf8');
  const url = process.env.TARGET;
  const samples = Number(process.env.SAMPLES);

  const full = new ConnectionPoolCore({ keepAlive: false, tls: { ca, sessionCache: false } });
  const resuming = new ConnectionPoolCore({ keepAlive: false, tls: { ca } });
  const out = {
    pool: { full: { connect: [], total: [] }, resumed: { connect: [], total: [] }, resumingPoolFull: 0 },
    agent: { full: { connect: [], total: [] }, resumed: { connect: [], total: [] }, resumingAgentFull: 0 },
  };

  async function poolSample(pool) {
    const before = pool.getMetrics().tlsResumed;
    const r = await pool.execute(url);
    if (r.statusCode !== 200) throw new Error(`status ${r.statusCode}`);
    return { connect: r.timings.connect, total: r.timings.total, resumed: pool.getMetrics().tlsResumed > before };
  }

  const agentFull = new https.Agent({ keepAlive: false, ca, maxCachedSessions: 0 });
  const agentResuming = new https.Agent({ keepAlive: false, ca });
  function agentSample(agent) {
    return new Promise((resolve, reject) => {
      const t0 = performance.now();
      const req = https.get(url, { agent }, (res) => {
        res.resume();
        res.on('end', () => resolve({ connect: tConnect - t0, total: performance.now() - t0, resumed }));
      });
      let tConnect = NaN;
      let resumed = false;
      req.on('socket', (socket) => {
        socket.once('secureConnect', () => {
          tConnect = performance.now();
          resumed = socket.isSessionReused();
        });
      });
      req.on('error', reject);
    });
  }

  // Warm both code paths (JIT, CA parsing, first session).
  for (let i = 0; i < 20; i++) {
    await poolSample(full);
    await poolSample(resuming);
    await agentSample(agentFull);
    await agentSample(agentResuming);
  }
  const cap = samples * 10;
  for (let i = 0; i < cap; i++) {
    const p = out.pool;
    const a = out.agent;
    const done =
      p.full.connect.length >= samples && p.resumed.connect.length >= samples &&
      a.full.connect.length >= samples && a.resumed.connect.length >= samples;
    if (done) break;
    // Interleaved: full, resumed, full, resumed ...
    if (p.full.connect.length < samples) {
      const s = await poolSample(full);
      p.full.connect.push(s.connect);
      p.full.total.push(s.total);
    }
    if (p.resumed.connect.length < samples) {
      const s = await poolSample(resuming);
      if (s.resumed) {
        p.resumed.connect.push(s.connect);
        p.resumed.total.push(s.total);
      } else {
        p.resumingPoolFull += 1;
      }
    }
    if (a.full.connect.length < samples) {
      const s = await agentSample(agentFull);
      a.full.connect.push(s.connect);
      a.full.total.push(s.total);
    }
    if (a.resumed.connect.length < samples) {
      const s = await agentSample(agentResuming);
      if (s.resumed) {
        a.resumed.connect.push(s.connect);
        a.resumed.total.push(s.total);
      } else {
        a.resumingAgentFull += 1;
      }
    }
  }
  full.destroy();
  resuming.destroy();
  agentFull.destroy();
  agentResuming.destroy();
  const summary = (x) => ({ n: x.connect.length, connectMs: median(x.connect), totalMs: median(x.total) });
  process.stdout.write(
    JSON.stringify({
      pool: {
        full: summary(out.pool.full),
        resumed: summary(out.pool.resumed),
        resumingPoolFullHandshakes: out.pool.resumingPoolFull,
      },
      agent: {
        full: summary(out.agent.full),
        resumed: summary(out.agent.resumed),
        resumingAgentFullHandshakes: out.agent.resumingAgentFull,
      },
    }),
  );
}

async function settleMemory() {
  for (let i = 0; i < 3; i++) {
    global.gc();
    await new Promise((r) => setTimeout(r, 100));
  }
  return process.memoryUsage();
}

async function runIdle(kind) {
  const fs = require('node:fs');
  const ca = fs.readFileSync(process.env.TLS_CA, 'utf8');
  const url = process.env.TARGET;
  const n = Number(process.env.SOCKETS);
  let before;
  let after;
  let idle;
  let nativeBefore = 0;
  let nativeAfter = 0;
  if (kind === 'pool') {
    const { ConnectionPoolCore } = require(ROOT);
    const pool = new ConnectionPoolCore({
      maxSockets: n + 1,
      maxFreeSockets: n + 1,
      freeSocketTimeout: 600000,
      connectTimeout: 30000,
      tls: { ca },
    });
    if ((await pool.warmup(url, 1)) !== 1) throw new Error('warmup(1) failed');
    before = await settleMemory();
    nativeBefore = pool.getMetrics().nativeMemory;
    await pool.warmup(url, n + 1);
    after = await settleMemory();
    const m = pool.getMetrics();
    nativeAfter = m.nativeMemory;
    idle = m.idleConnections;
    pool.destroy();
  } else {
    const https = require('node:https');
    const agent = new https.Agent({ keepAlive: true, maxSockets: n + 1, maxFreeSockets: n + 1, timeout: 600000, ca });
    const get = () =>
      new Promise((resolve, reject) => {
        https.get(url, { agent }, (res) => {
          res.resume();
          res.on('end', resolve);
        }).on('error', reject);
      });
    await get();
    before = await settleMemory();
    // n + 1 at once: the idle socket takes one, n new sockets the rest.
    await Promise.all(Array.from({ length: n + 1 }, get));
    after = await settleMemory();
    idle = Object.values(agent.freeSockets).reduce((sum, list) => sum + list.length, 0);
    agent.destroy();
  }
  // Sockets opened after the baseline (one was idle before it).
  const added = idle - 1;
  if (added !== n) throw new Error(`${kind}: expected ${n + 1} idle sockets, found ${idle}`);
  process.stdout.write(
    JSON.stringify({
      kind,
      idle,
      rssPerSocket: (after.rss - before.rss) / added,
      heapPerSocket: (after.heapUsed - before.heapUsed) / added,
      externalPerSocket: (after.external - before.external) / added,
      nativeMemoryPerSocket: kind === 'pool' ? (nativeAfter - nativeBefore) / added : null,
      rssBefore: before.rss,
      rssAfter: after.rss,
    }),
  );
}

// --- orchestration ----------------------------------------------------------------

function parseArgs(argv) {
  const opts = { rounds: 5, samples: 100, sockets: 500, json: false, pin: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--rounds') opts.rounds = Number(argv[++i]);
    else if (a === '--samples') opts.samples = Number(argv[++i]);
    else if (a === '--sockets') opts.sockets = Number(argv[++i]);
    else if (a === '--json') opts.json = true;
    else if (a === '--pin') opts.pin = true;
    else if (a === '--no-pin') opts.pin = false;
    else throw new Error(`unknown argument ${a}`);
  }
  return opts;
}

function canPin() {
  return os.cpus().length >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
}

function nodeCommand(cpu, args, pin) {
  const node = [process.execPath, ...args];
  return pin ? ['taskset', ['-c', String(cpu), ...node]] : [node[0], node.slice(1)];
}

function runChild(role, env, pin) {
  const [cmd, args] = nodeCommand(1, ['--expose-gc', __filename, `--role=${role}`], pin);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`${role} exited ${code}: ${err}`));
      else resolve(JSON.parse(out));
    });
  });
}

function startServerProcess(env, pin) {
  const [cmd, args] = nodeCommand(0, [__filename, '--role=server'], pin);
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ child, port: m.port }));
    child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
}

function serverStats(child) {
  return new Promise((resolve) => {
    child.once('message', resolve);
    child.send('stats');
  });
}

const fmtMs = (x) => x.toFixed(3);
const fmtKiB = (x) => (x / 1024).toFixed(1);

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const pin = opts.pin && canPin();
  const { getCerts, writePemFile } = require(path.join(ROOT, 'test', 'helpers', 'tls-certs'));
  const certs = getCerts();
  const files = [
    writePemFile(certs.leaf.cert, 'leaf.pem'),
    writePemFile(certs.leaf.key, 'leaf.key'),
    writePemFile(certs.ca.cert, 'ca.pem'),
  ];
  const [certFile, keyFile, caFile] = files.map((f) => f.path);
  let server = null;
  const cleanup = () => {
    if (server) server.child.kill();
    for (const f of files) f.remove();
  };
  process.on('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  try {
    server = await startServerProcess({ TLS_CERT: certFile, TLS_KEY: keyFile }, pin);
    const target = `https://127.0.0.1:${server.port}/`;
    const env = { TLS_CA: caFile, TARGET: target };
    process.stderr.write(`server on ${target}${pin ? ' (pinned: server CPU 0, clients CPU 1)' : ''}\n`);

    process.stderr.write(`(a) handshakes: ${opts.samples} full + ${opts.samples} resumed per client...\n`);
    const hs = await runChild('handshakes', { ...env, SAMPLES: String(opts.samples) }, pin);

    const idle = { pool: [], agent: [] };
    for (let round = 0; round < opts.rounds; round++) {
      const order = round % 2 ? ['agent', 'pool'] : ['pool', 'agent'];
      for (const kind of order) {
        process.stderr.write(`(b) round ${round + 1}/${opts.rounds}: ${kind}, ${opts.sockets} idle sockets\n`);
        idle[kind].push(await runChild(`idle-${kind}`, { ...env, SOCKETS: String(opts.sockets) }, pin));
      }
    }
    const stats = await serverStats(server.child);
    const result = {
      machine: { cpus: os.cpus().length, model: os.cpus()[0].model, node: process.version, openssl: process.versions.openssl, pinned: pin },
      handshakes: hs,
      idle: {
        sockets: opts.sockets,
        rounds: opts.rounds,
        pool: { rssPerSocketMedian: median(idle.pool.map((r) => r.rssPerSocket)), runs: idle.pool },
        agent: { rssPerSocketMedian: median(idle.agent.map((r) => r.rssPerSocket)), runs: idle.agent },
      },
      server: stats,
    };
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      return;
    }
    const p = hs.pool;
    const a = hs.agent;
    const lines = [
      `# TLS figures (${result.machine.model}, ${result.machine.cpus} CPUs, Node ${process.version}, OpenSSL ${process.versions.openssl}, TLS 1.3, P-256)`,
      '',
      `## (a) Handshake to a local https server, median of ${opts.samples}, new socket per request`,
      '',
      '| client | full: connect+TLS (ms) | resumed: connect+TLS (ms) | full: request (ms) | resumed: request (ms) |',
      '|---|---|---|---|---|',
      `| connection-pool-core (timings.connect / timings.total) | ${fmtMs(p.full.connectMs)} | ${fmtMs(p.resumed.connectMs)} | ${fmtMs(p.full.totalMs)} | ${fmtMs(p.resumed.totalMs)} |`,
      `| https.Agent (request start → secureConnect / → end) | ${fmtMs(a.full.connectMs)} | ${fmtMs(a.resumed.connectMs)} | ${fmtMs(a.full.totalMs)} | ${fmtMs(a.resumed.totalMs)} |`,
      '',
      `Resumed/full handshake time: pool ${(p.resumed.connectMs / p.full.connectMs).toFixed(2)}, https.Agent ${(a.resumed.connectMs / a.full.connectMs).toFixed(2)}.`,
      `Sockets of the resuming client that did a full handshake anyway while collecting ${opts.samples} resumed ones: pool ${p.resumingPoolFullHandshakes}, https.Agent ${a.resumingAgentFullHandshakes}.`,
      '',
      `## (b) RSS per idle TLS socket, ${opts.sockets} idle sockets, median of ${opts.rounds} fresh processes each, interleaved`,
      '',
      '| client | RSS per socket (KiB), median | runs (KiB) | JS heap per socket (KiB) | pool nativeMemory per socket (KiB) |',
      '|---|---|---|---|---|',
      `| connection-pool-core warmup(url, ${opts.sockets}) | ${fmtKiB(result.idle.pool.rssPerSocketMedian)} | ${idle.pool.map((r) => fmtKiB(r.rssPerSocket)).join(', ')} | ${fmtKiB(median(idle.pool.map((r) => r.heapPerSocket)))} | ${fmtKiB(median(idle.pool.map((r) => r.nativeMemoryPerSocket)))} |`,
      `| https.Agent keepAlive, ${opts.sockets} concurrent requests | ${fmtKiB(result.idle.agent.rssPerSocketMedian)} | ${idle.agent.map((r) => fmtKiB(r.rssPerSocket)).join(', ')} | ${fmtKiB(median(idle.agent.map((r) => r.heapPerSocket)))} | — |`,
      '',
      `Idle sockets at measurement: pool ${idle.pool.map((r) => r.idle).join('/')}, https.Agent ${idle.agent.map((r) => r.idle).join('/')}. ` +
        `Ratio https.Agent / pool: ${(result.idle.agent.rssPerSocketMedian / result.idle.pool.rssPerSocketMedian).toFixed(1)}×.`,
      `Server saw ${stats.connections} TLS connections, ${stats.resumed} resumed.`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    cleanup();
  }
}

const roleArg = process.argv.find((a) => a.startsWith('--role='));
const role = roleArg ? roleArg.slice('--role='.length) : null;
const entry =
  role === 'server' ? runServer
    : role === 'handshakes' ? runHandshakes
      : role === 'idle-pool' ? () => runIdle('pool')
        : role === 'idle-agent' ? () => runIdle('agent')
          : main;
entry().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
