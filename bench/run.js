#!/usr/bin/env node
'use strict';

// `npm run bench`: connection-pool-core against Node's http.Agent, agentkeepalive,
// undici Pool.request and undici fetch, on a local server in its own process.
//
// Each client runs in its own process (bench/client-worker.js) pinned to CPU 1, the
// server in its own (bench/server.js) pinned to CPU 0, when taskset exists and there are
// 2+ CPUs. A client's throughput runs share one long-lived process (its JIT stays warm),
// each run with a fresh pool/agent; each idle-memory run gets a fresh process.
// A round runs every scenario once for every client, clients back to back in an order
// rotated each round; figures are medians across rounds, and each client's ratio to
// connection-pool-core is the median of its per-round ratios.
//
// Output: a markdown table on stdout, a progress line on stderr, bench/results/latest.json
// and bench/results/chart.svg (plus docs/bench-chart.svg with --update-docs).

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { performance } = require('node:perf_hooks');
const { startServer } = require('./server');
const { CLIENTS, loadClient } = require('./clients');
const { median, medianRatio } = require('./stats');
const { renderChart } = require('./chart');
const wrkFloor = require('./wrk-floor');

const ROOT = path.resolve(__dirname, '..');
const RESULTS_DIR = path.join(__dirname, 'results');
const DOCS_CHART = path.join(ROOT, 'docs', 'bench-chart.svg');
const WORKER = path.join(__dirname, 'client-worker.js');
const REFERENCE = 'pool';

const SCENARIOS = [
  { id: 'seq', name: '1 in flight, 1 socket', inflight: 1, connections: 1, route: 'small' },
  { id: 'c64', name: '64 in flight, 64 sockets', inflight: 64, connections: 64, route: 'small' },
  { id: 'c256', name: '256 in flight, 50 sockets', inflight: 256, connections: 50, route: 'small' },
  { id: 'body16k', name: '16 KiB bodies, 64 in flight', inflight: 64, connections: 64, route: 'large' },
  // Over TLS to the server's second listener, each client verifying its certificate
  // against the test CA made at start (see bench/server.js).
  { id: 'https', name: 'https, 64 in flight, 64 sockets', inflight: 64, connections: 64, route: 'small', tls: true },
];
const IDLE = { route: 'small' };

// The idle-memory scenario opens its sockets with concurrent requests for every client;
// connection-pool-core is measured a second time with warmup(), which opens sockets
// without sending a request.
// A client that cannot verify the test CA (Node's global fetch: its trust is fixed at
// process start) declares tls: false and sits out the https scenario.
function runsIn(scenario, clientId) {
  return !(scenario.tls && loadClient(clientId).tls === false);
}

function idleVariants(clients) {
  const out = [];
  for (const c of clients) {
    // The drop-in adapters share pool's sockets, or (Node's fetch) cannot hold them idle.
    if (loadClient(c).idle === false) continue;
    out.push({ id: c, client: c, open: 'requests', name: loadClient(c).name });
    if (c === REFERENCE) out.push({ id: `${c}-warmup`, client: c, open: 'warmup', name: `${loadClient(c).name} (warmup())` });
  }
  return out;
}

// firstWarmupMs: unmeasured time of a client process's first run (JIT warm-up);
// warmupMs: of every later run. Both count from when every in-flight loop has had its
// first response (the fresh client has opened its sockets and done its TLS handshakes).
const PROFILES = {
  full: { rounds: 7, firstWarmupMs: 2500, warmupMs: 300, durationMs: 1000, idleRounds: 3 },
  quick: { rounds: 2, firstWarmupMs: 800, warmupMs: 80, durationMs: 200, idleRounds: 1 },
};

const USAGE = `usage: npm run bench -- [options]
  --quick               2 short rounds (under a minute)
  --update-docs         also write docs/bench-chart.svg (the README's chart)
  --rounds N            rounds of every scenario and client (default 7, quick 2)
  --duration MS         measured time per run (default 1000, quick 200)
  --warmup MS           unmeasured time before it, after the sockets are open (default 300, quick 80)
  --first-warmup MS     ... in a client process's first run (default 2500, quick 800)
  --idle-sockets N      idle sockets for the RSS scenario (default 1000; 0 skips it)
  --idle-rounds N       rounds of the RSS scenario (default 3, quick 1)
  --clients a,b         subset of: ${CLIENTS.join(', ')}
  --scenarios a,b       subset of: ${SCENARIOS.map((s) => s.id).join(', ')}
  --server KIND         auto (default: nginx if installed, else Node), nginx or node
  --no-pin              do not pin server and clients to CPUs with taskset
  --no-wrk              leave out the wrk reference rows (they need Debian's wrk; never in --quick)
`;

function parseArgs(argv) {
  const opts = { quick: false, updateDocs: false, pin: true, wrk: true, server: 'auto', idleSockets: 1000 };
  const num = (name, v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${name} needs a number >= 0, got ${v}`);
    return n;
  };
  const list = (name, v, known) => {
    const items = String(v || '').split(',').filter(Boolean);
    for (const i of items) if (!known.includes(i)) throw new Error(`${name}: unknown ${i}; known: ${known.join(', ')}`);
    return items;
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    const value = () => (inline !== undefined ? inline : argv[++i]);
    switch (flag) {
      case '--quick': opts.quick = true; break;
      case '--update-docs': opts.updateDocs = true; break;
      case '--no-pin': opts.pin = false; break;
      case '--no-wrk': opts.wrk = false; break;
      case '--rounds': opts.rounds = Math.max(1, Math.floor(num(flag, value()))); break;
      case '--duration': opts.durationMs = num(flag, value()); break;
      case '--warmup': opts.warmupMs = num(flag, value()); break;
      case '--first-warmup': opts.firstWarmupMs = num(flag, value()); break;
      case '--idle-sockets': opts.idleSockets = Math.floor(num(flag, value())); break;
      case '--idle-rounds': opts.idleRounds = Math.floor(num(flag, value())); break;
      case '--clients': opts.clients = list(flag, value(), CLIENTS); break;
      case '--scenarios': opts.scenarios = list(flag, value(), SCENARIOS.map((s) => s.id)); break;
      case '--server': opts.server = value(); break;
      case '-h': case '--help': process.stdout.write(USAGE); process.exit(0); break;
      default: throw new Error(`unknown option ${argv[i]}\n${USAGE}`);
    }
  }
  if (!['auto', 'nginx', 'node'].includes(opts.server)) throw new Error(`--server: auto, nginx or node`);
  const profile = PROFILES[opts.quick ? 'quick' : 'full'];
  for (const k of Object.keys(profile)) if (opts[k] === undefined) opts[k] = profile[k];
  // Keep the table's order (the reference client first) whatever order was asked for.
  opts.clients = CLIENTS.filter((c) => !opts.clients || opts.clients.includes(c));
  opts.scenarios = SCENARIOS.filter((s) => !opts.scenarios || opts.scenarios.includes(s.id));
  if (opts.scenarios.length === 0 && opts.idleSockets === 0) throw new Error('nothing to run');
  return opts;
}

// ---- the machine ----------------------------------------------------------------------

function canPin() {
  const cpus = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  if (cpus < 2) return { ok: false, why: `${cpus} CPU` };
  const r = spawnSync('taskset', ['-c', '1', 'true'], { stdio: 'ignore' });
  if (r.error || r.status !== 0) return { ok: false, why: 'taskset not available' };
  return { ok: true };
}

function fdLimits() {
  const r = spawnSync('sh', ['-c', 'ulimit -Sn; ulimit -Hn'], { encoding: 'utf8' });
  const [soft, hard] = (r.stdout || '').trim().split(/\s+/).map((v) => (v === 'unlimited' ? Infinity : Number(v)));
  return { soft: soft || 1024, hard: hard || soft || 1024 };
}

// ---- running clients in their own processes -----------------------------------------

// Every client process we started and have not seen exit, by pid (for cleanup).
const children = new Set();

function workerCommand(ctx, { idle }) {
  let argv = [process.execPath, ...(idle ? ['--expose-gc'] : []), WORKER];
  if (ctx.pin) argv = ['taskset', '-c', '1', ...argv];
  if (idle && ctx.raiseFdLimit) {
    argv = ['sh', '-c', 'ulimit -n "$1" 2>/dev/null; shift; exec "$@"', 'sh', String(ctx.raiseFdLimit), ...argv];
  }
  return argv;
}

// A client process: throughput jobs of one client share one (the JIT stays warm between
// rounds); each idle-memory job gets a fresh one.
class Worker {
  constructor(ctx, { idle }) {
    const argv = workerCommand(ctx, { idle });
    this.child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.runs = 0;
    this.pending = null;
    this.exited = false;
    children.add(this.child);
    this.child.on('message', (msg) => this.onMessage(msg));
    this.child.on('error', (err) => this.settle({ error: err }));
    this.child.on('exit', (code, signal) => {
      this.exited = true;
      children.delete(this.child);
      this.settle({ error: new Error(`client process exited (${code ?? signal})`) });
    });
  }

  onMessage(msg) {
    if (!this.pending) return;
    if (msg.type === 'result') this.settle({ result: msg.result });
    else if (msg.type === 'error') this.settle({ error: new Error(msg.error) });
    else {
      Promise.resolve(this.pending.onMessage(msg, this)).catch((err) => {
        this.settle({ error: err });
        this.kill();
      });
    }
  }

  settle({ result, error }) {
    const p = this.pending;
    if (!p) return;
    this.pending = null;
    clearTimeout(p.timer);
    if (error) p.reject(error);
    else p.resolve(result);
  }

  send(msg) {
    if (!this.exited) this.child.send(msg);
  }

  // Runs `job`; `onMessage(msg, worker)` sees the worker's 'mark'/'holding' messages.
  run(job, onMessage, timeoutMs) {
    if (this.exited) return Promise.reject(new Error('client process is gone'));
    this.runs++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.settle({ error: new Error(`${job.client} did not finish within ${timeoutMs} ms`) });
        this.kill();
      }, timeoutMs);
      this.pending = { resolve, reject, onMessage, timer };
      this.send({ type: 'run', job });
    });
  }

  // Asks the process to exit; resolves when it has.
  stop() {
    if (this.exited) return Promise.resolve();
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.send({ type: 'exit' });
    const timer = setTimeout(() => this.kill(), 5000);
    return exited.finally(() => clearTimeout(timer));
  }

  kill() {
    killChild(this.child);
  }
}

function killChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

// The long-lived throughput worker of a client (a new one if the last one died).
function sessionWorker(ctx, clientId) {
  let w = ctx.sessions.get(clientId);
  if (!w || w.exited) {
    w = new Worker(ctx, { idle: false });
    ctx.sessions.set(clientId, w);
  }
  return w;
}

async function runThroughput(ctx, scenario, clientId) {
  const { server } = ctx;
  const job = {
    mode: 'throughput',
    client: clientId,
    origin: scenario.tls ? server.tls.origin : server.origin,
    ...(scenario.tls && { ca: server.tls.ca }),
    path: server.routes[scenario.route],
    expectedBytes: server.sizes[scenario.route],
    inflight: scenario.inflight,
    connections: scenario.connections,
    durationMs: ctx.opts.durationMs,
  };
  const worker = sessionWorker(ctx, clientId);
  // A new process first warms its JIT (undici fetch needs ~2 s to reach its steady pace).
  job.warmupMs = worker.runs === 0 ? ctx.opts.firstWarmupMs : ctx.opts.warmupMs;
  const before = await server.stats();
  let windowStart = null;
  let serverCpu = null;
  const onMessage = (msg) => {
    if (msg.type !== 'mark') return;
    const now = { t: performance.now(), cpu: server.cpuTimeMs() };
    if (msg.phase === 'start') windowStart = now;
    else if (windowStart && now.cpu != null && windowStart.cpu != null) {
      serverCpu = { ms: now.cpu - windowStart.cpu, wallMs: now.t - windowStart.t };
    }
  };
  const r = await worker.run(job, onMessage, job.warmupMs + job.durationMs + 60000);
  const after = await server.stats();
  return {
    ...r,
    sockets: after.accepts - before.accepts,
    serverBusy: serverCpu ? serverCpu.ms / serverCpu.wallMs : null,
  };
}

async function runIdle(ctx, variant) {
  const { server } = ctx;
  const job = {
    mode: 'idle',
    client: variant.client,
    open: variant.open,
    origin: server.origin,
    path: server.routes[IDLE.route],
    expectedBytes: server.sizes[IDLE.route],
    sockets: ctx.idleSockets,
  };
  const before = await server.stats();
  let held = null;
  const onMessage = async (msg, worker) => {
    if (msg.type !== 'holding') return;
    held = (await server.stats()).active;
    worker.send({ type: 'release' });
  };
  const worker = new Worker(ctx, { idle: true });
  let r;
  try {
    r = await worker.run(job, onMessage, 120000);
  } finally {
    await worker.stop();
  }
  const after = await server.stats();
  return {
    ...r,
    held,
    sockets: after.accepts - before.accepts,
    kibPerSocket: held > 0 ? (r.rssAfter - r.rssBefore) / held / 1024 : null,
    heapKibPerSocket: held > 0 ? (r.heapAfter - r.heapBefore) / held / 1024 : null,
  };
}

// ---- progress on stderr ---------------------------------------------------------------

function makeProgress(total) {
  const tty = process.stderr.isTTY;
  const t0 = Date.now();
  let done = 0;
  const clock = (ms) => {
    const s = Math.round(ms / 1000);
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  };
  const prefix = () => {
    const elapsed = Date.now() - t0;
    const eta = done > 0 ? ` eta ${clock((elapsed / done) * (total - done))}` : '';
    return `[${String(done + 1).padStart(String(total).length)}/${total} ${clock(elapsed)}${eta}]`;
  };
  // On a terminal one line, rewritten in place (cut to the width so it never wraps);
  // otherwise (CI logs) one line per finished run.
  const fit = (line) => line.slice(0, Math.max(20, (process.stderr.columns || 120) - 1));
  return {
    start(label) {
      if (tty) process.stderr.write(`\r\x1b[K${fit(`${prefix()} ${label} …`)}`);
    },
    finish(label, outcome) {
      const line = `${prefix()} ${label}: ${outcome}`;
      done++;
      if (tty) process.stderr.write(`\r\x1b[K${fit(line)}`);
      else process.stderr.write(`${line}\n`);
    },
    end() {
      if (tty) process.stderr.write('\r\x1b[K');
    },
  };
}

// ---- formatting -----------------------------------------------------------------------

const fmt = {
  int: (v) => (v == null ? '–' : Math.round(v).toLocaleString('en-US')),
  ms: (v) => (v == null ? '–' : v < 1 ? v.toFixed(3) : v < 10 ? v.toFixed(2) : v.toFixed(1)),
  us: (v) => (v == null ? '–' : v < 10 ? v.toFixed(2) : v.toFixed(1)),
  kib: (v) => (v == null ? '–' : v.toFixed(1)),
  ratio: (v) => (v == null ? '–' : `${v.toFixed(2)}×`),
  pct: (v) => (v == null ? '–' : `${Math.round(v * 100)}%`),
};

function summarize(ctx, results) {
  const clientName = (id) => loadClient(id).name;
  const scenarios = ctx.opts.scenarios.map((s) => {
    const ref = results.scenarios[s.id][REFERENCE] || [];
    const clients = {};
    for (const c of ctx.opts.clients) {
      const rounds = results.scenarios[s.id][c];
      const ok = rounds.filter((r) => !r.error);
      const m = (key) => median(ok.map((r) => r[key]));
      clients[c] = {
        name: clientName(c),
        rounds: ok.length,
        errors: rounds.filter((r) => r.error).map((r) => r.error),
        rps: m('rps'),
        p50: m('p50'),
        p99: m('p99'),
        cpuUsPerReq: m('cpuUsPerReq'),
        openMs: m('openMs'),
        sockets: m('sockets'),
        serverBusy: m('serverBusy'),
        rpsVsPool: medianRatio(rounds, ref, 'rps'),
        cpuVsPool: medianRatio(rounds, ref, 'cpuUsPerReq'),
        p99VsPool: medianRatio(rounds, ref, 'p99'),
      };
    }
    return { ...s, clients };
  });
  let idle = null;
  if (ctx.idleSockets > 0) {
    const ref = results.idle[REFERENCE] || [];
    const variants = {};
    for (const v of ctx.idleVariants) {
      const rounds = results.idle[v.id];
      const ok = rounds.filter((r) => !r.error);
      variants[v.id] = {
        name: v.name,
        client: v.client,
        open: v.open,
        rounds: ok.length,
        errors: rounds.filter((r) => r.error).map((r) => r.error),
        held: median(ok.map((r) => r.held)),
        sockets: median(ok.map((r) => r.sockets)),
        kibPerSocket: median(ok.map((r) => r.kibPerSocket)),
        heapKibPerSocket: median(ok.map((r) => r.heapKibPerSocket)),
        kibVsPool: medianRatio(rounds, ref, 'kibPerSocket'),
      };
    }
    idle = { name: `${ctx.idleSockets.toLocaleString('en-US')} idle sockets`, sockets: ctx.idleSockets, variants };
  }
  return { scenarios, idle, reference: summarizeReference(ctx, results) };
}

// The wrk rows (bench/wrk-floor.js): medians, and ratios to connection-pool-core in
// the same round, like a client's.
function summarizeReference(ctx, results) {
  if (!ctx.wrk) return null;
  const out = {};
  for (const [id, rounds] of Object.entries(results.reference)) {
    const ok = rounds.filter((r) => r && !r.error);
    const ref = results.scenarios[id][REFERENCE] || [];
    const m = (key) => median(ok.map((r) => r[key]));
    out[id] = {
      name: `wrk ${ctx.wrk} (C, reference)`,
      rounds: ok.length,
      errors: rounds.filter((r) => r && r.error).map((r) => r.error),
      rps: m('rps'),
      p50: m('p50'),
      p99: m('p99'),
      cpuUsPerReq: m('cpuUsPerReq'),
      rpsVsPool: medianRatio(rounds, ref, 'rps'),
      cpuVsPool: medianRatio(rounds, ref, 'cpuUsPerReq'),
    };
  }
  return out;
}

function markdown(ctx, summary) {
  const { opts, server } = ctx;
  const out = [];
  out.push(`### connection-pool-core benchmark`);
  out.push('');
  out.push(`${ctx.meta.date} · Node ${process.version} · ${ctx.meta.cpu} × ${ctx.meta.cpus} · ` +
    `server: ${server.version} (${server.kind === 'nginx' ? '1 worker' : 'fallback'}) · ` +
    `${opts.rounds} rounds × ${opts.durationMs} ms measured per client and scenario` +
    `${opts.quick ? ' · --quick' : ''}`);
  out.push('');
  out.push('| scenario | client | req/s | vs pool | p50 ms | p99 ms | CPU µs/req | vs pool | sockets |');
  out.push('|---|---|--:|--:|--:|--:|--:|--:|--:|');
  for (const s of summary.scenarios) {
    for (const c of opts.clients) {
      const r = s.clients[c];
      if (r.rounds === 0) {
        out.push(`| ${s.name} | ${r.name} | ${runsIn(s, c) ? 'error' : 'not run (no CA option)'} | | | | | | |`);
        continue;
      }
      out.push(`| ${s.name} | ${c === REFERENCE ? `**${r.name}**` : r.name} | ${fmt.int(r.rps)} | ` +
        `${fmt.ratio(r.rpsVsPool)} | ${fmt.ms(r.p50)} | ${fmt.ms(r.p99)} | ${fmt.us(r.cpuUsPerReq)} | ` +
        `${fmt.ratio(r.cpuVsPool)} | ${fmt.int(r.sockets)} |`);
    }
    const w = summary.reference && summary.reference[s.id];
    if (w && w.rounds > 0) {
      out.push(`| ${s.name} | *${w.name}* | ${fmt.int(w.rps)} | ${fmt.ratio(w.rpsVsPool)} | ${fmt.ms(w.p50)} | ` +
        `${fmt.ms(w.p99)} | ${fmt.us(w.cpuUsPerReq)} | ${fmt.ratio(w.cpuVsPool)} | ${fmt.int(s.connections)} |`);
    }
  }
  if (summary.idle) {
    out.push('');
    out.push('| idle keep-alive sockets | client | sockets held | RSS KiB per idle socket | vs pool | JS heap KiB per idle socket |');
    out.push('|---|---|--:|--:|--:|--:|');
    for (const [id, r] of Object.entries(summary.idle.variants)) {
      if (r.rounds === 0) {
        out.push(`| ${summary.idle.name} | ${r.name} | error | | | |`);
        continue;
      }
      out.push(`| ${summary.idle.name} | ${id === REFERENCE ? `**${r.name}**` : r.name} | ${fmt.int(r.held)} | ` +
        `${fmt.kib(r.kibPerSocket)} | ${fmt.ratio(r.kibVsPool)} | ${fmt.kib(r.heapKibPerSocket)} |`);
    }
  }
  out.push('');
  const busy = summary.scenarios.flatMap((s) => Object.values(s.clients).map((r) => r.serverBusy)).filter((v) => v != null);
  const notes = [
    `Medians of ${opts.rounds} rounds; every round runs each client once per scenario, back to back, in an order ` +
      `rotated each round. "vs pool": median over rounds of the client's figure ÷ connection-pool-core's in the ` +
      `same round (req/s below 1× = slower; CPU above 1× = more CPU per request).`,
    `Each client runs in its own long-lived process (warmed up for ${opts.firstWarmupMs} ms in its first run), ` +
      `with a fresh pool/agent per run; the measured window starts ${opts.warmupMs} ms after every in-flight ` +
      `request has had its first response (every socket open, TLS handshakes done). ` +
      `CPU µs/req: user + system CPU of the client's process over the window ÷ requests completed in it. ` +
      `Latency: from the call to the full body read. Sockets: connections the server accepted during the run.`,
    ctx.pin
      ? `Server pinned to CPU 0, each client in its own process pinned to CPU 1 (taskset).`
      : `Not pinned (${ctx.pinWhy}): client CPU figures include more noise.`,
    busy.length ? `Server busy during measured windows: at most ${fmt.pct(Math.max(...busy))} of its CPU.` : null,
    summary.scenarios.some((s) => s.tls)
      ? `https: the same server's TLS listener (TLSv1.2/TLSv1.3, session cache and tickets on), EC P-256 certificate for 127.0.0.1 signed by a test CA made with \`openssl\` at ` +
        `start; every client verifies it against that CA (pool: tls.ca; https.Agent and agentkeepalive's HttpsAgent: ` +
        `ca; undici: connect.ca). The handshakes fall before the measured window: it measures ` +
        `keep-alive requests over established TLS connections.`
      : null,
    summary.idle
      ? `Idle memory: growth of the client process's RSS (and of its JS heap in use) from a baseline ` +
        `(a throwaway client of the same kind ran the same burst first and was closed, so one-time process ` +
        `costs such as optimised code are not counted per socket; then GC) to after ${summary.idle.sockets.toLocaleString('en-US')} concurrent requests ` +
        `have left that many keep-alive sockets idle (GC again), ÷ the sockets the server saw open; ` +
        `medians of ${ctx.idleRounds} runs, each in a fresh process. "(warmup())": the sockets opened by ` +
        `pool.warmup(url, n), without a request.`
      : null,
    summary.reference
      ? `*wrk* (in italics): Debian's wrk, a C client (one thread, epoll), run in the same rounds against the ` +
        `same server on the same CPU with \`-t1 -c<sockets>\` (it does not pipeline, so only where one request ` +
        `is in flight per socket); CPU from bash's \`times\`. Not a Node client and not in the targets: it ` +
        `shows the floor of CPU per request on this machine, most of it the kernel's loopback TCP work.`
      : null,
    ...ctx.notes,
  ].filter(Boolean);
  for (const n of notes) out.push(`- ${n}`);
  return out.join('\n');
}

// What the wrk row says about the 64-in-flight CPU target: its budget in µs next to
// what wrk itself needs here. Null without the row.
function floorLine(ctx, summary) {
  const w = summary.reference && summary.reference.c64;
  const sc = summary.scenarios.find((s) => s.id === 'c64');
  const u = sc && sc.clients['undici-pool'];
  const p = sc && sc.clients[REFERENCE];
  if (!w || !w.rounds || !u || !u.rounds || !p || !p.rounds) return null;
  return `floor (64 in flight): wrk needs ${fmt.us(w.cpuUsPerReq)} µs CPU per request and does ` +
    `${fmt.int(w.rps)} req/s; connection-pool-core ${fmt.us(p.cpuUsPerReq)} µs and ${fmt.int(p.rps)} req/s. ` +
    `The targets ask for ≤ ${fmt.us(0.4 * u.cpuUsPerReq)} µs (0.4 × undici's ${fmt.us(u.cpuUsPerReq)}) and ` +
    `≥ ${fmt.int(2.5 * u.rps)} req/s (2.5 × undici's ${fmt.int(u.rps)}).`;
}

// Issue 4's targets, as connection-pool-core ÷ undici Pool.request.
function targets(ctx, results, summary) {
  const u = 'undici-pool';
  const list = [];
  const sc = (id) => (results.scenarios[id] ? results.scenarios[id] : null);
  dropInTargets(ctx, sc, list);
  if (!ctx.opts.clients.includes(u) || !ctx.opts.clients.includes(REFERENCE)) return finishTargets(list);
  const ratio = (id, key) => medianRatio(sc(id)[REFERENCE], sc(id)[u], key);
  if (sc('c64')) {
    list.push({ target: '64 in flight: req/s ≥ 2.5× undici', value: ratio('c64', 'rps'), ok: (v) => v >= 2.5 });
    list.push({ target: '64 in flight: CPU/req ≤ 0.4× undici', value: ratio('c64', 'cpuUsPerReq'), ok: (v) => v <= 0.4 });
  }
  if (sc('c256')) {
    list.push({ target: '256 in flight on 50 sockets: req/s ≥ 2.5× undici', value: ratio('c256', 'rps'), ok: (v) => v >= 2.5 });
    list.push({ target: '256 in flight on 50 sockets: p99 ≤ undici', value: ratio('c256', 'p99'), ok: (v) => v <= 1 });
  }
  if (sc('seq')) list.push({ target: '1 in flight: req/s ≥ 1.3× undici', value: ratio('seq', 'rps'), ok: (v) => v >= 1.3 });
  if (summary.idle) {
    const ok = (v) => v <= 4;
    const { variants } = summary.idle;
    list.push({ target: 'RSS per idle socket ≤ 4 KiB (opened by requests)', value: variants[REFERENCE].kibPerSocket, unit: ' KiB', ok });
    const w = variants[`${REFERENCE}-warmup`];
    if (w) list.push({ target: 'RSS per idle socket ≤ 4 KiB (opened by warmup())', value: w.kibPerSocket, unit: ' KiB', ok });
  }
  return finishTargets(list);
}

function finishTargets(list) {
  return list.map((t) => ({
    target: t.target,
    value: t.value,
    met: t.value == null ? null : t.ok(t.value),
    text: t.value == null ? '–' : t.unit ? `${t.value.toFixed(1)}${t.unit}` : `${t.value.toFixed(2)}×`,
  }));
}

// Issue 9's targets for the drop-in transports, at 64 in flight: pool.fetch ÷ Node's
// global fetch, undici's request API over pool.dispatcher ÷ undici Pool, and the CPU
// pool.fetch adds to execute() per request (the Response it builds; ~16 µs budget).
function dropInTargets(ctx, sc, list) {
  const c64 = sc('c64');
  const has = (...ids) => c64 && ids.every((id) => ctx.opts.clients.includes(id));
  const perRound = (a, b, f) => {
    const n = Math.min(c64[a].length, c64[b].length);
    const v = [];
    for (let i = 0; i < n; i++) {
      const x = c64[a][i];
      const y = c64[b][i];
      if (x && y && typeof x.rps === 'number' && typeof y.rps === 'number') v.push(f(x, y));
    }
    return v.length ? median(v) : null;
  };
  if (has('pool-fetch', 'node-fetch')) {
    list.push({ target: '64 in flight: pool.fetch req/s ≥ 4× Node global fetch',
      value: perRound('pool-fetch', 'node-fetch', (x, y) => x.rps / y.rps), ok: (v) => v >= 4 });
  }
  if (has('pool-fetch', REFERENCE)) {
    list.push({ target: '64 in flight: pool.fetch CPU/req − execute() CPU/req ≤ 16 µs',
      value: perRound('pool-fetch', REFERENCE, (x, y) => x.cpuUsPerReq - y.cpuUsPerReq), unit: ' µs', ok: (v) => v <= 16 });
  }
  if (has('pool-fetch', 'pool-response')) {
    // The same budget measured here: execute() plus a Response built and read on its own.
    list.push({ target: '64 in flight: pool.fetch CPU/req ≤ 1.1× execute() + new Response()',
      value: perRound('pool-fetch', 'pool-response', (x, y) => x.cpuUsPerReq / y.cpuUsPerReq), ok: (v) => v <= 1.1 });
  }
  if (has('pool-dispatcher', 'undici-pool')) {
    list.push({ target: '64 in flight: undici request over pool.dispatcher req/s ≥ 1.3× undici Pool',
      value: perRound('pool-dispatcher', 'undici-pool', (x, y) => x.rps / y.rps), ok: (v) => v >= 1.3 });
  }
}

function chartSummary(ctx, summary) {
  const names = ctx.opts.clients.map((c) => loadClient(c).name);
  return {
    title: 'connection-pool-core vs Node http.Agent, agentkeepalive and undici',
    subtitle: `${ctx.meta.date} · Node ${process.version} · ${ctx.server.version} on 127.0.0.1 · ` +
      `medians of ${ctx.opts.rounds} interleaved rounds · client and server pinned to separate CPUs` +
      `${ctx.pin ? '' : ' (not pinned)'}`,
    clients: names,
    scenarios: summary.scenarios.map((s) => ({
      name: s.name,
      rps: ctx.opts.clients.map((c) => s.clients[c].rps),
      cpu: ctx.opts.clients.map((c) => s.clients[c].cpuUsPerReq),
    })),
    idle: summary.idle && {
      name: `${summary.idle.name}, opened by requests`,
      // null for a client that sits out the idle scenario (idle: false).
      kib: ctx.opts.clients.map((c) => (summary.idle.variants[c] ? summary.idle.variants[c].kibPerSocket : null)),
    },
  };
}

// ---- main -----------------------------------------------------------------------------

function checkAddon() {
  try {
    require(ROOT);
  } catch (err) {
    throw new Error(`connection-pool-core does not load (${err.message}); run \`npm install\` or \`npm run build\` first`);
  }
}

// One measurement under a progress line: its result, or { error } with the
// first line of what it threw (the whole message also goes to stderr).
async function step(progress, label, run, describe) {
  progress.start(label);
  try {
    const r = await run();
    progress.finish(label, describe(r));
    return r;
  } catch (err) {
    const error = String(err.message).split('\n')[0];
    progress.finish(label, `error: ${error}`);
    process.stderr.write(`\n${err.message}\n`);
    return { error };
  }
}

async function main() {
  const started = Date.now();
  const opts = parseArgs(process.argv.slice(2));
  checkAddon();
  const pin = opts.pin ? canPin() : { ok: false, why: '--no-pin' };
  const ctx = {
    opts,
    pin: pin.ok,
    pinWhy: pin.why,
    notes: [],
    sessions: new Map(),
    idleSockets: opts.idleSockets,
    idleVariants: idleVariants(opts.clients),
    raiseFdLimit: null,
    meta: {
      date: new Date().toISOString().slice(0, 10),
      cpu: (os.cpus()[0] && os.cpus()[0].model.trim()) || os.arch(),
      cpus: os.cpus().length,
    },
  };

  // The idle scenario's client holds that many sockets (plus a few closing ones from its
  // warm-up, and its own files); make sure it may open that many files.
  if (ctx.idleSockets > 0) {
    const { soft, hard } = fdLimits();
    const need = ctx.idleSockets + 256;
    if (soft < need) {
      if (hard >= need) {
        ctx.raiseFdLimit = need;
      } else {
        const fit = Math.max(0, Math.floor((hard - 256) / 100) * 100);
        ctx.notes.push(`Idle scenario scaled down from ${ctx.idleSockets} to ${fit} sockets: open-file limit ` +
          `(ulimit -n) is ${soft}, hard limit ${hard}; it needs ${need}.`);
        process.stderr.write(`note: ${ctx.notes[ctx.notes.length - 1]}\n`);
        ctx.idleSockets = fit;
        ctx.raiseFdLimit = fit > 0 && soft < fit + 256 ? hard : null;
      }
    }
  }

  const server = await startServer({
    prefer: opts.server,
    cpu: ctx.pin ? 0 : null,
    maxConnections: Math.max(1024, ctx.idleSockets * 2),
  });
  ctx.server = server;
  registerCleanup(server);
  ctx.wrk = null;
  if (opts.wrk && !opts.quick && opts.scenarios.some((s) => wrkFloor.SCENARIOS.includes(s.id))) {
    ctx.wrk = wrkFloor.wrkVersion();
    if (!ctx.wrk) {
      ctx.notes.push('wrk reference rows left out: wrk is not installed (apt-get install wrk).');
      process.stderr.write(`note: ${ctx.notes[ctx.notes.length - 1]}\n`);
    }
  }
  const wrkIn = (s) => Boolean(ctx.wrk) && wrkFloor.SCENARIOS.includes(s.id) && !s.tls;
  process.stderr.write(`server: ${server.version} at ${server.origin}` +
    `${server.tls ? ` and ${server.tls.origin}` : ''}, pid ${server.pid} (${server.note})\n`);
  process.stderr.write(ctx.pin
    ? 'pinning: server on CPU 0, clients on CPU 1 (taskset)\n'
    : `pinning: off (${ctx.pinWhy})\n`);
  if (server.kind !== 'nginx') ctx.notes.push(`Server: ${server.note}.`);
  if (!server.tls && opts.scenarios.some((s) => s.tls)) {
    opts.scenarios = opts.scenarios.filter((s) => !s.tls);
    ctx.notes.push(`https scenario skipped: no TLS listener (${server.tlsUnavailable}).`);
    process.stderr.write(`note: ${ctx.notes[ctx.notes.length - 1]}\n`);
    if (opts.scenarios.length === 0 && ctx.idleSockets === 0) throw new Error('nothing to run');
  }

  const results = { scenarios: {}, idle: {} };
  for (const s of opts.scenarios) {
    results.scenarios[s.id] = Object.fromEntries(opts.clients.map((c) => [c, []]));
  }
  results.idle = Object.fromEntries(ctx.idleVariants.map((v) => [v.id, []]));
  results.reference = Object.fromEntries(opts.scenarios.filter(wrkIn).map((s) => [s.id, []]));

  const idleRounds = ctx.idleSockets > 0 ? Math.max(1, opts.idleRounds) : 0;
  ctx.idleRounds = idleRounds;
  const runs = opts.scenarios.reduce((n, sc) => n + opts.clients.filter((c) => runsIn(sc, c)).length, 0);
  const total = opts.rounds * (runs + opts.scenarios.filter(wrkIn).length) +
    idleRounds * ctx.idleVariants.length;
  const progress = makeProgress(total);

  for (let round = 0; round < Math.max(opts.rounds, idleRounds); round++) {
    const order = opts.clients.map((_, i) => opts.clients[(i + round) % opts.clients.length]);
    if (round < opts.rounds) {
      for (const s of opts.scenarios) {
        for (const c of order) {
          if (!runsIn(s, c)) continue;
          const r = await step(progress, `round ${round + 1}/${opts.rounds} · ${s.name} · ${loadClient(c).name}`,
            () => runThroughput(ctx, s, c),
            (x) => `${fmt.int(x.rps)} req/s, ${fmt.us(x.cpuUsPerReq)} µs/req, p99 ${fmt.ms(x.p99)} ms`);
          results.scenarios[s.id][c][round] = { round, ...r };
        }
        if (wrkIn(s)) {
          const r = await step(progress, `round ${round + 1}/${opts.rounds} · ${s.name} · wrk (reference)`,
            () => wrkFloor.runWrk({ url: server.origin + server.routes[s.route], connections: s.connections,
              durationMs: opts.durationMs, pin: ctx.pin }),
            (x) => `${fmt.int(x.rps)} req/s, ${fmt.us(x.cpuUsPerReq)} µs/req`);
          results.reference[s.id][round] = { round, ...r };
        }
      }
    }
    if (round < idleRounds) {
      const variants = ctx.idleVariants;
      const idleOrder = variants.map((_, i) => variants[(i + round) % variants.length]);
      for (const v of idleOrder) {
        const r = await step(progress, `round ${round + 1}/${idleRounds} · ${ctx.idleSockets} idle sockets · ${v.name}`,
          () => runIdle(ctx, v),
          (x) => `${fmt.kib(x.kibPerSocket)} KiB RSS per idle socket (${x.held} held)`);
        results.idle[v.id][round] = { round, ...r };
      }
    }
  }
  progress.end();
  await Promise.all([...ctx.sessions.values()].map((w) => w.stop()));
  await server.stop();

  const summary = summarize(ctx, results);
  const table = markdown(ctx, summary);
  process.stdout.write(`${table}\n`);

  const targetList = targets(ctx, results, summary);
  if (targetList.length) {
    process.stderr.write('\ntargets (issue 4: connection-pool-core ÷ undici Pool.request; issue 9: the drop-in ' +
      'transports; medians of per-round ratios):\n');
    for (const t of targetList) {
      process.stderr.write(`  ${t.met == null ? '?' : t.met ? 'met    ' : 'NOT met'}  ${t.target}: ${t.text}\n`);
    }
  }
  const floor = floorLine(ctx, summary);
  if (floor) process.stderr.write(`\n${floor}\n`);

  const elapsedS = (Date.now() - started) / 1000;
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const json = {
    meta: {
      ...ctx.meta,
      node: process.version,
      platform: `${os.type()} ${os.release()} ${os.arch()}`,
      server: {
        kind: server.kind,
        version: server.version,
        note: server.note,
        tls: server.tls
          ? { origin: server.tls.origin, protocols: ['TLSv1.2', 'TLSv1.3'], certificate: 'EC P-256, SAN IP:127.0.0.1 DNS:localhost, signed by a test CA made at start' }
          : { unavailable: server.tlsUnavailable },
      },
      pinned: ctx.pin ? { server: 0, client: 1 } : null,
      profile: opts.quick ? 'quick' : 'full',
      rounds: opts.rounds,
      firstWarmupMs: opts.firstWarmupMs,
      warmupMs: opts.warmupMs,
      durationMs: opts.durationMs,
      idleRounds,
      idleSockets: ctx.idleSockets,
      clients: Object.fromEntries(opts.clients.map((c) => [c, loadClient(c).name])),
      versions: versions(),
      elapsedS,
      notes: ctx.notes,
    },
    scenarios: summary.scenarios.map((s) => ({
      id: s.id,
      name: s.name,
      inflight: s.inflight,
      connections: s.connections,
      scheme: s.tls ? 'https' : 'http',
      path: server.routes[s.route],
      bodyBytes: server.sizes[s.route],
      median: s.clients,
      rounds: results.scenarios[s.id],
    })),
    idle: summary.idle && { ...summary.idle, median: summary.idle.variants, variants: undefined, rounds: results.idle },
    targets: targetList.map(({ target, value, met }) => ({ target, value, met })),
    reference: summary.reference && {
      tool: `wrk ${ctx.wrk}`,
      note: 'C client, one thread; not in the ratios or targets: the floor of CPU per request here',
      median: summary.reference,
      rounds: results.reference,
    },
    floor,
    table,
  };
  const jsonPath = path.join(RESULTS_DIR, 'latest.json');
  fs.writeFileSync(jsonPath, `${JSON.stringify(json, null, 2)}\n`);
  const svg = renderChart(chartSummary(ctx, summary));
  const chartPath = path.join(RESULTS_DIR, 'chart.svg');
  fs.writeFileSync(chartPath, svg);
  const written = [jsonPath, chartPath];
  if (opts.updateDocs) {
    fs.mkdirSync(path.dirname(DOCS_CHART), { recursive: true });
    fs.writeFileSync(DOCS_CHART, svg);
    written.push(DOCS_CHART);
  }
  process.stderr.write(`\nwrote ${written.map((p) => path.relative(process.cwd(), p)).join(', ')} ` +
    `(${Math.floor(elapsedS / 60)} min ${Math.round(elapsedS % 60)} s)\n`);
  const failed = summary.scenarios.some((s) => Object.values(s.clients).some((r) => r.errors.length)) ||
    (summary.idle && Object.values(summary.idle.variants).some((r) => r.errors.length));
  if (failed) process.exitCode = 1;
}

function versions() {
  const v = { 'connection-pool-core': require(path.join(ROOT, 'package.json')).version };
  for (const name of ['undici', 'agentkeepalive']) {
    try {
      v[name] = require(`${name}/package.json`).version;
    } catch {
      v[name] = null;
    }
  }
  return v;
}

// Stop what we started, by PID, however the run ends.
function registerCleanup(server) {
  const killWorkers = () => {
    for (const child of children) killChild(child);
  };
  const onSignal = (signal) => {
    process.stderr.write(`\n${signal}: stopping the client and the server\n`);
    killWorkers();
    server.stop().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', () => {
    killWorkers();
    server.stopSync();
  });
}

main().catch((err) => {
  process.stderr.write(`\nbench failed: ${err.stack || err}\n`);
  process.exit(1); // the 'exit' handler stops the worker and the server
});
