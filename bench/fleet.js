#!/usr/bin/env node
'use strict';

// Fleet scenario (issue 8): BalancedPool over 3 local endpoints, each a Node
// `http` server in its own child process answering a small JSON-RPC body.
// Traffic runs at a fixed concurrency; in the middle one endpoint's process
// is killed (SIGKILL: its sockets are reset, its port refuses) and, a few
// seconds later, started again on the same port. Reported: requests/s, p50
// and p99 latency (whole run and per phase), the failed count (every request
// is idempotent, so the target is 0), the time from the kill until that
// endpoint's breaker opens, and the time from the restart until traffic
// reaches it again.
//
//   node bench/fleet.js [--seconds 15] [--concurrency 32] [--down 4]
//                       [--strategy round-robin|least-pending|least-latency|all] [--json]
//
// The endpoint mode (`node bench/fleet.js --endpoint ID [--port P]`) is the
// child process: it prints its port on stdout and serves until killed.

const http = require('node:http');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { performance } = require('node:perf_hooks');
const { percentiles } = require('./stats');

const HOST = '127.0.0.1';
const STRATEGIES = ['round-robin', 'least-pending', 'least-latency'];
const BODY = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_blockNumber', params: [] });

const USAGE = `usage: node bench/fleet.js [options]
  --seconds N        length of the run (default 15)
  --concurrency N    requests in flight (default 32)
  --down N           seconds the killed endpoint stays down (default 4)
  --strategy S       ${STRATEGIES.join(' | ')} | all (default round-robin)
  --json             print the figures as JSON instead of a table
`;

function parseArgs(argv) {
  const o = { seconds: 15, concurrency: 32, down: 4, strategy: 'round-robin', json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!(v > 0)) throw new Error(`${a} needs a positive number`);
      return v;
    };
    if (a === '--seconds') o.seconds = num();
    else if (a === '--concurrency') o.concurrency = Math.floor(num());
    else if (a === '--down') o.down = num();
    else if (a === '--strategy') o.strategy = argv[++i];
    else if (a === '--json') o.json = true;
    else if (a === '--endpoint') o.endpoint = argv[++i];
    else if (a === '--port') o.port = Number(argv[++i]);
    else if (a === '--help' || a === '-h') o.help = true;
    else throw new Error(`unknown option ${a}`);
  }
  if (o.strategy !== 'all' && !STRATEGIES.includes(o.strategy)) throw new Error(`unknown strategy ${o.strategy}`);
  if (o.down >= o.seconds * 0.6) throw new Error('--down must be well under --seconds');
  return o;
}

// ---- the endpoint (child process) ----------------------------------------------------

function serveEndpoint(id, port) {
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, result: '0x10d4f' });
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'x-node': id, 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 10000;
  // A restart on the same port: the killed process's listener is gone at
  // once, but retry briefly in case the kernel has not released it yet.
  let tries = 0;
  server.on('error', (err) => {
    if (err.code === 'EADDRINUSE' && tries++ < 40) setTimeout(() => server.listen(port, HOST), 25);
    else throw err;
  });
  server.listen(port || 0, HOST, () => process.stdout.write(`${server.address().port}\n`));
}

function spawnEndpoint(id, port) {
  const args = [__filename, '--endpoint', String(id)];
  if (port) args.push('--port', String(port));
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const listening = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`endpoint ${id} did not start within 5 s`)), 5000);
    let text = '';
    child.stdout.on('data', (d) => {
      text += d;
      if (text.includes('\n')) {
        clearTimeout(timer);
        resolve(Number(text.trim()));
      }
    });
    child.once('exit', () => {
      clearTimeout(timer);
      reject(new Error(`endpoint ${id} exited before listening`));
    });
  });
  return {
    child,
    listening,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

// ---- one run -------------------------------------------------------------------------

async function runFleet(strategy, o) {
  const { BalancedPool, ConnectionPoolCore } = require(path.join(__dirname, '..'));
  const procs = [0, 1, 2].map((i) => spawnEndpoint(i));
  const ports = await Promise.all(procs.map((p) => p.listening));
  const origins = ports.map((p) => `http://${HOST}:${p}`);
  const victim = 0;
  const pool = new ConnectionPoolCore({ maxSockets: o.concurrency, timeout: 5000, connectTimeout: 1000 });
  const bp = new BalancedPool(origins, {
    pool,
    strategy,
    health: { path: '/health', method: 'GET', intervalMs: 250, timeoutMs: 500 },
    breaker: { consecutiveFailures: 5, cooldownMs: 1000 },
    retry: { attempts: 3, baseDelayMs: 5, maxDelayMs: 200, budgetPercent: 20 },
  });

  const t0 = performance.now();
  const marks = {};  // ms since t0
  const mark = (name) => {
    if (marks[name] === undefined) marks[name] = performance.now() - t0;
  };
  bp.on('endpoint:breaker', (e) => {
    if (e.origin !== origins[victim] || marks.stop === undefined) return;
    if (e.to === 'open') mark('breakerOpen');
    if (e.to === 'closed' && marks.restart !== undefined) mark('breakerClosed');
  });
  bp.on('endpoint:health', (e) => {
    if (e.origin === origins[victim] && e.to === 'dead' && marks.stop !== undefined) mark('dead');
  });

  const durationMs = o.seconds * 1000;
  const stopAtMs = Math.round((durationMs - o.down * 1000) / 2);
  // Samples: [start ms since t0, latency ms]; outcomes counted per phase.
  const starts = [];
  const latencies = [];
  const failures = [];
  const served = [0, 0, 0];
  let running = true;

  async function worker() {
    while (running) {
      const start = performance.now();
      let failed = null;
      try {
        const r = await bp.execute('/', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: BODY,
          idempotent: true,
        });
        if (r.statusCode !== 200) failed = `HTTP ${r.statusCode}`;
        else {
          const node = Number(r.headers['x-node']);
          served[node]++;
          if (node === victim && marks.restart !== undefined) mark('trafficBack');
        }
      } catch (err) {
        failed = err.code || String(err);
      }
      const end = performance.now();
      starts.push(start - t0);
      latencies.push(end - start);
      if (failed) failures.push({ at: start - t0, code: failed });
    }
  }

  const workers = Array.from({ length: o.concurrency }, worker);
  const schedule = (async () => {
    await new Promise((r) => setTimeout(r, stopAtMs));
    mark('stop');
    await procs[victim].kill();
    await new Promise((r) => setTimeout(r, o.down * 1000));
    procs[victim] = spawnEndpoint(victim, ports[victim]);
    await procs[victim].listening;
    mark('restart');
    const left = durationMs - (performance.now() - t0);
    if (left > 0) await new Promise((r) => setTimeout(r, left));
    running = false;
  })();
  await schedule;
  await Promise.all(workers);
  const elapsedMs = performance.now() - t0;
  const stats = bp.getStats().endpoints;
  await bp.close();
  await pool.close();
  await Promise.all(procs.map((p) => p.kill()));

  const phase = (from, to) => {
    const lat = [];
    for (let i = 0; i < starts.length; i++) if (starts[i] >= from && starts[i] < to) lat.push(latencies[i]);
    const p = percentiles(lat, [50, 99]);
    return {
      requests: lat.length,
      rps: lat.length / ((to - from) / 1000),
      p50: p.p50,
      p99: p.p99,
      failed: failures.filter((f) => f.at >= from && f.at < to).length,
    };
  };
  const all = phase(0, elapsedMs);
  return {
    strategy,
    concurrency: o.concurrency,
    seconds: elapsedMs / 1000,
    downSeconds: (marks.restart - marks.stop) / 1000,
    total: all,
    phases: {
      before: phase(0, marks.stop),
      outage: phase(marks.stop, marks.restart),
      after: phase(marks.restart, elapsedMs),
    },
    failures: failures.slice(0, 20),
    breakerOpenMs: marks.breakerOpen === undefined ? null : marks.breakerOpen - marks.stop,
    deadMs: marks.dead === undefined ? null : marks.dead - marks.stop,
    breakerClosedMs: marks.breakerClosed === undefined ? null : marks.breakerClosed - marks.restart,
    trafficBackMs: marks.trafficBack === undefined ? null : marks.trafficBack - marks.restart,
    served,
    endpoints: stats.map((e) => ({ origin: e.origin, requests: e.requests, failures: e.failures, breaker: e.breaker, health: e.health })),
  };
}

// ---- output --------------------------------------------------------------------------

const f0 = (v) => (v == null ? 'n/a' : Math.round(v).toLocaleString('en-US'));
const f1 = (v) => (v == null ? 'n/a' : v.toFixed(1));
const f2 = (v) => (v == null ? 'n/a' : v.toFixed(2));

function table(results) {
  const head = ['', ...results.map((r) => r.strategy)];
  const rows = [
    ['requests/s (whole run)', ...results.map((r) => f0(r.total.rps))],
    ['p50 / p99 ms (whole run)', ...results.map((r) => `${f2(r.total.p50)} / ${f2(r.total.p99)}`)],
    ['failed requests', ...results.map((r) => `${r.total.failed} of ${f0(r.total.requests)}`)],
    ['requests/s before / outage / after', ...results.map((r) => ['before', 'outage', 'after'].map((k) => f0(r.phases[k].rps)).join(' / '))],
    ['p99 ms before / outage / after', ...results.map((r) => ['before', 'outage', 'after'].map((k) => f2(r.phases[k].p99)).join(' / '))],
    ['kill → breaker open (ms)', ...results.map((r) => f1(r.breakerOpenMs))],
    ['kill → health dead (ms)', ...results.map((r) => f1(r.deadMs))],
    ['restart → breaker closed (ms)', ...results.map((r) => f1(r.breakerClosedMs))],
    ['restart → first response from it (ms)', ...results.map((r) => f1(r.trafficBackMs))],
    ['responses per endpoint (killed first)', ...results.map((r) => r.served.map(f0).join(' / '))],
  ];
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map((_, i) => (i === 0 ? '---' : '---:'))), ...rows.map(line)].join('\n');
}

async function main() {
  let o;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${err.message}\n${USAGE}`);
    process.exit(2);
  }
  if (o.help) return process.stdout.write(USAGE);
  if (o.endpoint !== undefined) return serveEndpoint(o.endpoint, o.port);
  const strategies = o.strategy === 'all' ? STRATEGIES : [o.strategy];
  const results = [];
  for (const s of strategies) {
    process.stderr.write(`fleet: ${s}, ${o.concurrency} in flight, ${o.seconds} s, endpoint 0 down for ${o.down} s in the middle\n`);
    results.push(await runFleet(s, o));
  }
  if (o.json) {
    process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  } else {
    process.stdout.write(`${table(results)}\n`);
    for (const r of results) {
      if (r.failures.length) process.stdout.write(`\n${r.strategy}: first failures ${JSON.stringify(r.failures)}\n`);
    }
    process.stdout.write(`\n3 endpoints (Node http, one child process each), POST JSON-RPC with idempotent: true; `
      + `health probes every 250 ms, breaker after 5 failures, cooldown 1000 ms, retry 3 attempts within a 20 % budget.\n`);
  }
  return undefined;
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
