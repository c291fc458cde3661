'use strict';

// One client in one process (spawned by bench/run.js, pinned to its own CPU), so
// process.cpuUsage() and RSS are that client's alone. It runs jobs sent over IPC
// ({ type: 'run', job }), one at a time, answering each with { type: 'result', result }
// or { type: 'error', error }, until { type: 'exit' }. Every job uses a fresh client
// object (new pool/agent/dispatcher, closed at the end); the process lives on between
// throughput jobs so the JIT stays warm, as in a long-running service.
//
//   { mode: 'throughput', client, origin, path, expectedBytes, inflight, connections,
//     warmupMs, durationMs, ca }
//     (`ca`: for an https: origin, the PEM of the CA the client verifies the server with.)
//     `inflight` loops each send a request as soon as their previous one has been read
//     in full. Once every loop has had its first response (so every connection, and its
//     TLS handshake, is established: `openMs` after the start) and `warmupMs` more have
//     passed, the run is measured for `durationMs`: requests completed in the window,
//     their latencies (p50/p99), and the CPU the process used.
//
//   { mode: 'idle', client, origin, path, expectedBytes, sockets, open }
//     Memory per idle keep-alive socket, in a fresh process started with --expose-gc:
//     a few requests on a throw-away client (code loaded, JIT and allocator warmed), GC,
//     baseline RSS and JS heap; then `sockets` concurrent requests on a fresh client
//     (open: 'requests'), or pool.warmup(url, sockets) (open: 'warmup'), which leaves
//     that many keep-alive sockets idle; GC; RSS and heap again. The worker then reports
//     'holding' and keeps the sockets open until the parent (which counts them
//     server-side) says 'release'.

const { performance } = require('node:perf_hooks');
const { loadClient } = require('./clients');
const { percentiles, SampleBuffer } = require('./stats');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function send(msg) {
  return new Promise((resolve) => process.send(msg, resolve));
}

function nextMessage(type) {
  return new Promise((resolve) => {
    const onMessage = (msg) => {
      if (msg && msg.type === type) {
        process.off('message', onMessage);
        resolve(msg);
      }
    };
    process.on('message', onMessage);
  });
}

function checkBytes(n, expected) {
  if (n !== expected) throw new Error(`body of ${n} bytes, expected ${expected}`);
}

async function throughput(job) {
  const adapter = loadClient(job.client);
  const client = adapter.create({ origin: job.origin, connections: job.connections, ca: job.ca });
  const latencies = new SampleBuffer();
  let completed = 0;
  let recording = false;
  let stopping = false;
  let failure = null;
  let firstPending = job.inflight;
  let allStarted;
  const started = new Promise((resolve) => (allStarted = resolve));
  const t0Run = performance.now();

  async function loop() {
    let first = true;
    while (!stopping) {
      const t0 = performance.now();
      let n;
      try {
        n = await client.request(job.path);
        checkBytes(n, job.expectedBytes);
      } catch (err) {
        failure = failure || err;
        stopping = true;
        allStarted();
        return;
      }
      completed++;
      if (recording) latencies.push(performance.now() - t0);
      if (first) {
        first = false;
        if (--firstPending === 0) allStarted();
      }
    }
  }

  const loops = [];
  for (let i = 0; i < job.inflight; i++) loops.push(loop());

  await started;
  const openMs = performance.now() - t0Run;
  await sleep(job.warmupMs);
  const startCount = completed;
  const startCpu = process.cpuUsage();
  const startTime = performance.now();
  recording = true;
  process.send({ type: 'mark', phase: 'start' }); // the parent samples the server's CPU
  await sleep(job.durationMs);
  const cpu = process.cpuUsage(startCpu);
  const seconds = (performance.now() - startTime) / 1000;
  const requests = completed - startCount;
  recording = false;
  process.send({ type: 'mark', phase: 'end' });
  stopping = true;
  await Promise.all(loops);
  await client.close();
  if (failure) throw failure;
  if (requests === 0) throw new Error('no request completed in the measured window');

  const { p50, p99 } = percentiles(latencies.values(), [50, 99]);
  return {
    requests,
    seconds,
    rps: requests / seconds,
    p50,
    p99,
    cpuUsPerReq: (cpu.user + cpu.system) / requests,
    openMs,
    cpuUserUs: cpu.user,
    cpuSystemUs: cpu.system,
  };
}

async function burst(client, job, count = job.sockets) {
  const all = [];
  for (let i = 0; i < count; i++) all.push(client.request(job.path));
  for (const n of await Promise.all(all)) checkBytes(n, job.expectedBytes);
}

async function settleAndGc() {
  await sleep(200);
  for (let i = 0; i < 3; i++) {
    global.gc();
    await sleep(20);
  }
}

async function idle(job) {
  if (typeof global.gc !== 'function') throw new Error('idle mode needs --expose-gc');
  const adapter = loadClient(job.client);
  const options = { origin: job.origin, connections: job.sockets, idleTimeoutMs: 120000, ca: job.ca };

  // The throwaway client runs the same burst first, so what a first burst of
  // that size costs the process once (optimised code paged in, V8 heap pages
  // it keeps) is in the baseline of every client alike, and the figure is
  // what holding the sockets costs.
  const throwaway = adapter.create(options);
  await burst(throwaway, job);
  await throwaway.close();
  await settleAndGc();
  const rssBefore = process.memoryUsage.rss();
  const heapBefore = process.memoryUsage().heapUsed;

  const client = adapter.create(options);
  if (job.open === 'warmup') {
    if (typeof client.warmup !== 'function') throw new Error(`${job.client} has no warmup()`);
    await client.warmup(job.path, job.sockets);
  } else {
    await burst(client, job);
  }
  await settleAndGc();
  const rssAfter = process.memoryUsage.rss();
  const heapAfter = process.memoryUsage().heapUsed;

  const released = nextMessage('release');
  await send({ type: 'holding' });
  await released;
  await client.close();
  return { rssBefore, rssAfter, heapBefore, heapAfter };
}

process.on('message', async (msg) => {
  if (msg.type === 'exit') {
    process.disconnect();
    // Sockets a client left behind must not keep the process alive.
    setTimeout(() => process.exit(0), 1000).unref();
    return;
  }
  if (msg.type !== 'run') return;
  const { job } = msg;
  try {
    const result = job.mode === 'idle' ? await idle(job) : await throughput(job);
    await send({ type: 'result', result });
  } catch (err) {
    await send({ type: 'error', error: (err && err.stack) || String(err) });
  }
});
