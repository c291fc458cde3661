'use strict';

// wrk (C, epoll, one thread; Debian's `wrk` package) against the same server, in the
// same rounds as the Node clients: the floor of what an HTTP/1.1 keep-alive client pays
// per request on this machine. On loopback most of that CPU is the kernel's (the write
// also carries the server side's TCP receive), which every client pays alike. It is a
// reference row, not a client: it is not in the ratios or the targets, it shows how
// close a figure is to what any client can do here. Runs where one request in flight
// per connection is the scenario (wrk does not pipeline): `seq` and `c64`.
// CPU: bash's `times` after wrk exits (user and system time of its children).

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const SCENARIOS = ['seq', 'c64'];

function wrkVersion() {
  const r = spawnSync('wrk', ['--version'], { encoding: 'utf8' });
  if (r.error) return null;
  const m = /wrk (\S+)/.exec(`${r.stdout}${r.stderr}`);
  return m ? m[1] : 'unknown';
}

// "1.23ms" / "456.78us" / "1.2s" -> ms
function parseWrkTime(text) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (!m) return null;
  const scale = { us: 1e-3, ms: 1, s: 1e3, m: 60e3 }[m[2]];
  return Number(m[1]) * scale;
}

// One wrk run: { rps, cpuUsPerReq, p50, p99, requests } or throws.
function runWrk({ url, connections, durationMs, pin }) {
  const seconds = Math.max(1, Math.round(durationMs / 1000));
  const out = path.join(os.tmpdir(), `cpc-wrk-${process.pid}.txt`);
  const cmd = `${pin ? 'taskset -c 1 ' : ''}wrk -t1 -c${connections} -d${seconds}s --latency "$1" > "$2" 2>&1; ` +
    'status=$?; times; exit $status';
  const r = spawnSync('bash', ['-c', cmd, 'bash', url, out], { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
  let text = '';
  try {
    text = fs.readFileSync(out, 'utf8');
    fs.unlinkSync(out);
  } catch {
    // reported below
  }
  if (r.status !== 0) throw new Error(`wrk failed (${r.status ?? r.signal}): ${text.trim().split('\n').pop()}`);
  const requests = Number((/(\d+) requests in ([\d.]+)(ms|s|m)/.exec(text) || [])[1]);
  const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(text);
  if (!requests) throw new Error(`wrk: no request count in its output: ${text.trim().split('\n').pop()}`);
  if (errors) throw new Error(`wrk: ${errors[0]}`);
  const rps = Number((/Requests\/sec:\s+([\d.]+)/.exec(text) || [])[1]);
  // `times` prints the shell's own times, then its children's: "0m1.234s 0m5.678s".
  const lines = r.stdout.trim().split('\n');
  const m = /(\d+)m([\d.]+)s (\d+)m([\d.]+)s/.exec(lines[lines.length - 1] || '');
  if (!m) throw new Error('wrk: no CPU times from bash `times`');
  const cpuS = Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4]);
  const pct = (p) => parseWrkTime((new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(text) || [])[1] || '');
  return { rps, cpuUsPerReq: (cpuS * 1e6) / requests, p50: pct(50), p99: pct(99), requests };
}

module.exports = { SCENARIOS, wrkVersion, runWrk };
