#!/usr/bin/env node
'use strict';

// The foundation figure: N sequential GETs (default 1,000) to a local keep-alive
// server, through one ConnectionPoolCore. Prints the connections the server
// accepted, the pool's connection counters and socketReusePercentage, and the
// process's RSS growth from a warmed-up, garbage-collected baseline to the end.
//
//   node --expose-gc bench/sequential.js [--requests N] [--json]
//
// The server is the benchmark's (nginx when installed, else the Node fallback),
// in its own process, started and stopped by PID here.

const { ConnectionPoolCore } = require('..');
const { startServer } = require('./server');

function parseArgs(argv) {
  const o = { requests: 1000, json: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--requests') o.requests = Number(argv[++i]);
    else if (argv[i] === '--json') o.json = true;
    else throw new Error(`unknown argument ${argv[i]}\nusage: node --expose-gc bench/sequential.js [--requests N] [--json]`);
  }
  if (!Number.isInteger(o.requests) || o.requests < 1) throw new Error('--requests must be a positive integer');
  return o;
}

function memory() {
  if (typeof global.gc === 'function') global.gc();
  const m = process.memoryUsage();
  return { rss: m.rss / 1024, heap: m.heapUsed / 1024 };
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const server = await startServer();
  try {
    const url = `${server.origin}${server.routes.small}`;
    // Warm-up in a pool of its own: JIT, the addon's first-use allocations.
    const warm = new ConnectionPoolCore();
    for (let i = 0; i < 200; i++) await warm.execute(url);
    await warm.close();
    const before = await server.stats();
    const memBefore = memory();

    const pool = new ConnectionPoolCore();
    let bytes = 0;
    for (let i = 0; i < o.requests; i++) {
      const res = await pool.execute(url);
      if (res.statusCode !== 200) throw new Error(`request ${i}: status ${res.statusCode}`);
      bytes += res.body.length;
    }
    const m = pool.getMetrics();
    const memAfter = memory();
    const after = await server.stats();
    await pool.close();

    const figures = {
      requests: o.requests,
      bodyBytes: bytes,
      serverAcceptedConnections: after.accepts - before.accepts,
      totalConnections: m.totalConnections,
      newConnections: m.newConnections,
      reusedConnections: m.reusedConnections,
      socketReusePercentage: m.socketReusePercentage,
      failedRequests: m.failedRequests,
      socketLeaks: m.socketLeaks,
      rssGrowthKiB: Math.round(memAfter.rss - memBefore.rss),
      heapUsedGrowthKiB: Math.round(memAfter.heap - memBefore.heap),
      nativeMemory: m.nativeMemory,
      server: `${server.kind} ${server.version}`,
    };
    if (o.json) {
      console.log(JSON.stringify(figures, null, 2));
    } else {
      for (const [k, v] of Object.entries(figures)) console.log(`${k}: ${v}`);
    }
  } finally {
    await server.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
