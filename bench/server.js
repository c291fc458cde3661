'use strict';

// The benchmark's local HTTP server, in its own process so it never shares a CPU
// budget with the client being measured:
//   - nginx (Debian's nginx-light) when /usr/sbin/nginx or `nginx` on PATH exists,
//     configured in a private temp dir (own pid, logs and temp paths), 1 worker;
//   - otherwise the fallback below: Node's `http` in one child process
//     (`node bench/server.js --fallback`).
// Both serve the same routes on 127.0.0.1, over plain HTTP on one port and over TLS
// (TLSv1.2/TLSv1.3, same keep-alive settings) on a second one:
//   /small     200, 2-byte JSON `{}`
//   /16k       200, 16 KiB body
//   /__status  server-side connection counters (nginx stub_status, or JSON from the fallback),
//              counting the connections of both listeners
// and both are stopped by PID (the one we spawned) at the end, on SIGINT and on errors.
// The TLS listener's certificate is made at start with the `openssl` CLI in the server's
// temp dir: a test CA and a leaf for IP:127.0.0.1 and DNS:localhost signed by it (EC P-256);
// clients verify it against that CA (server.tls.ca). Without `openssl` the server runs
// without the TLS listener (server.tls = null, server.tlsUnavailable says why).

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const http = require('node:http');
const net = require('node:net');
const { spawn, spawnSync, execFileSync } = require('node:child_process');
const https = require('node:https');

const ROUTES = { small: '/small', large: '/16k', status: '/__status' };
const SIZES = { small: 2, large: 16 * 1024 };

// Deterministic 16 KiB body (printable, so it is easy to eyeball in a capture).
function largeBody() {
  const buf = Buffer.alloc(SIZES.large);
  for (let i = 0; i < buf.length; i++) buf[i] = 0x61 + (i % 26);
  return buf;
}

// ---- the TLS listener's certificates -------------------------------------------------

const OPENSSL_REQ_CNF = `[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = placeholder
`;
const LEAF_EXT = `basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
authorityKeyIdentifier = keyid
subjectKeyIdentifier = hash
subjectAltName = IP:127.0.0.1, DNS:localhost
`;
const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function openssl(args, cwd) {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    if (err.code === 'ENOENT') throw new Error('the `openssl` command is not installed (apt-get install openssl)');
    const stderr = err.stderr ? err.stderr.toString().trim() : '';
    throw new Error(`openssl ${args[0]} failed: ${stderr || err.message}`);
  }
}

// A test CA and a leaf signed by it, in `dir` (own minimal openssl config, none of the
// system's). Returns the paths and the CA's PEM. Files are world-readable like the rest
// of the nginx dir (a throw-away key for 127.0.0.1, removed with the dir at the end).
function makeCerts(dir) {
  fs.writeFileSync(path.join(dir, 'req.cnf'), OPENSSL_REQ_CNF);
  fs.writeFileSync(path.join(dir, 'leaf.ext'), LEAF_EXT);
  openssl(['req', '-x509', '-config', 'req.cnf', ...EC_KEY, '-keyout', 'ca.key', '-out', 'ca.pem',
    '-subj', '/CN=connection-pool-core bench CA', '-days', '30',
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-addext', 'subjectKeyIdentifier=hash'], dir);
  openssl(['req', '-new', '-config', 'req.cnf', ...EC_KEY, '-keyout', 'leaf.key', '-out', 'leaf.csr',
    '-subj', '/CN=localhost'], dir);
  openssl(['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', '0x1001',
    '-days', '30', '-sha256', '-extfile', 'leaf.ext', '-out', 'leaf.pem'], dir);
  const files = { ca: path.join(dir, 'ca.pem'), cert: path.join(dir, 'leaf.pem'), key: path.join(dir, 'leaf.key') };
  for (const f of Object.values(files)) fs.chmodSync(f, 0o644);
  return { ...files, caPem: fs.readFileSync(files.ca, 'utf8') };
}

// makeCerts, or null (and why) when it cannot; the bench then skips its https scenario.
function tryMakeCerts(dir) {
  try {
    return { certs: makeCerts(dir), why: null };
  } catch (err) {
    return { certs: null, why: err.message.split('\n')[0] };
  }
}

function findNginx() {
  const candidates = ['/usr/sbin/nginx'];
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (dir) candidates.push(path.join(dir, 'nginx'));
  }
  for (const c of candidates) {
    try {
      fs.accessSync(c, fs.constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  return null;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function waitForPort(port, child, deadlineMs, describeFailure) {
  const deadline = Date.now() + deadlineMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        reject(new Error(`server exited during start-up (${child.exitCode ?? child.signalCode})${describeFailure()}`));
        return;
      }
      const sock = net.connect(port, '127.0.0.1');
      sock.once('connect', () => {
        sock.destroy();
        resolve();
      });
      sock.once('error', () => {
        sock.destroy();
        if (Date.now() > deadline) reject(new Error(`server did not listen on ${port}${describeFailure()}`));
        else setTimeout(attempt, 25);
      });
    };
    attempt();
  });
}

// GET /__status on a fresh connection; the response counts that connection itself,
// which stats() subtracts.
function fetchStatus(port) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: ROUTES.status, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve(text));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('status request timed out')));
  });
}

// nginx stub_status:
//   Active connections: 1
//   server accepts handled requests
//    12 12 345
//   Reading: 0 Writing: 1 Waiting: 0
// fallback: {"accepts":12,"active":1}
function parseStatus(text) {
  if (text.trimStart().startsWith('{')) {
    const j = JSON.parse(text);
    return { accepts: j.accepts, active: j.active };
  }
  const active = /Active connections:\s*(\d+)/.exec(text);
  const counters = /accepts handled requests\s+(\d+)\s+(\d+)\s+(\d+)/.exec(text);
  if (!active || !counters) throw new Error(`unexpected status page: ${JSON.stringify(text)}`);
  return { accepts: Number(counters[1]), active: Number(active[1]) };
}

// CPU time (ms) of processes by pid, from /proc (Linux); null where unreadable.
let clockTicks = null;
function cpuTimeMs(pids) {
  if (clockTicks === null) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  let total = 0;
  for (const pid of pids) {
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return null;
    }
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    total += Number(fields[11]) + Number(fields[12]);
  }
  return (total * 1000) / clockTicks;
}

// Child pids of `pid` (nginx's workers), from /proc.
function childPids(pid) {
  const out = [];
  let entries;
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(e));
    } catch {
      // raced with an exit
    }
  }
  return out;
}

function pinnedCommand(cpu, argv) {
  return cpu == null ? argv : ['taskset', '-c', String(cpu), ...argv];
}

function nginxGroup() {
  try {
    const groups = fs.readFileSync('/etc/group', 'utf8');
    if (/^nogroup:/m.test(groups)) return 'nogroup';
  } catch {
    // fall through
  }
  return 'nobody';
}

function nginxConfig(dir, port, maxConnections, tls) {
  const workerConnections = Math.max(1024, maxConnections * 2 + 256);
  const p = (...parts) => path.join(dir, ...parts);
  // Workers drop root privileges (to nobody) when the master runs as root; the temp
  // dir is made world-readable for them.
  const user = process.getuid && process.getuid() === 0 ? `user nobody ${nginxGroup()};\n` : '';
  return `# generated by bench/server.js
${user}worker_processes 1;
worker_rlimit_nofile ${workerConnections * 2};
daemon off;
master_process on;
pid ${p('nginx.pid')};
lock_file ${p('nginx.lock')};
error_log ${p('error.log')} warn;

events {
  worker_connections ${workerConnections};
  accept_mutex off;
}

http {
  access_log off;
  server_tokens off;
  keepalive_requests 1000000;
  keepalive_timeout 65s;
  tcp_nodelay on;
  sendfile on;
  open_file_cache max=16 inactive=600s;
  client_body_temp_path ${p('tmp', 'body')};
  proxy_temp_path ${p('tmp', 'proxy')};
  fastcgi_temp_path ${p('tmp', 'fastcgi')};
  uwsgi_temp_path ${p('tmp', 'uwsgi')};
  scgi_temp_path ${p('tmp', 'scgi')};

  server {
    listen 127.0.0.1:${port} backlog=4096;${tls ? `
    listen 127.0.0.1:${tls.port} ssl backlog=4096;
    ssl_certificate ${tls.cert};
    ssl_certificate_key ${tls.key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:10m;
    ssl_session_timeout 10m;
    ssl_session_tickets on;` : ''}
    location = ${ROUTES.small} {
      default_type application/json;
      return 200 '{}';
    }
    location = ${ROUTES.large} {
      default_type application/octet-stream;
      root ${p('www')};
      try_files /16k.bin =404;
    }
    location = ${ROUTES.status} {
      stub_status;
    }
    location / {
      return 404;
    }
  }
}
`;
}

function nginxVersion(bin) {
  try {
    // `nginx -v` prints to stderr.
    const out = spawnSync(bin, ['-v'], { encoding: 'utf8' });
    const m = /nginx\/[\d.]+/.exec(`${out.stderr}${out.stdout}`);
    return m ? m[0] : 'nginx';
  } catch {
    return 'nginx';
  }
}

class BenchServer {
  // tls: { port, ca (PEM) } of the TLS listener, or null (tlsUnavailable: why).
  constructor({ kind, version, port, child, dir, workerPids, note, tls = null, tlsUnavailable = null }) {
    this.kind = kind;
    this.version = version;
    this.port = port;
    this.origin = `http://127.0.0.1:${port}`;
    this.tls = tls && { port: tls.port, origin: `https://127.0.0.1:${tls.port}`, ca: tls.ca };
    this.tlsUnavailable = tls ? null : tlsUnavailable || 'no TLS listener';
    this.pid = child.pid;
    this.child = child;
    this.dir = dir;
    this.workerPids = workerPids;
    this.note = note;
    this.routes = ROUTES;
    this.sizes = SIZES;
    this.statusQueries = 0;
    this.stopped = false;
  }

  // Server-side counters, excluding the connections our own status queries opened.
  async stats() {
    const text = await fetchStatus(this.port);
    this.statusQueries++;
    const s = parseStatus(text);
    return { accepts: s.accepts - this.statusQueries, active: s.active - 1 };
  }

  // CPU ms used so far by the server's processes (master + worker, or the fallback).
  cpuTimeMs() {
    return cpuTimeMs([this.pid, ...this.workerPids]);
  }

  // Stop by PID: SIGTERM (nginx: fast shutdown; the master ends its worker), then
  // SIGKILL to the pids we started if it has not exited within 5 s.
  async stop() {
    if (this.stopped) return;
    this.stopped = true;
    const exited = new Promise((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) resolve();
      else this.child.once('exit', resolve);
    });
    try {
      process.kill(this.pid, 'SIGTERM');
    } catch {
      // already gone
    }
    const timedOut = await Promise.race([exited.then(() => false), sleep(5000).then(() => true)]);
    if (timedOut) {
      for (const pid of [this.pid, ...this.workerPids]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await exited;
    }
    this.removeDir();
  }

  // For process 'exit' handlers: signal and clean up without waiting.
  stopSync() {
    if (!this.stopped) {
      this.stopped = true;
      try {
        process.kill(this.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    this.removeDir();
  }

  removeDir() {
    if (this.dir) {
      fs.rmSync(this.dir, { recursive: true, force: true });
      this.dir = null;
    }
  }
}

async function startNginx(bin, { cpu, maxConnections }) {
  let lastError;
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cpc-bench-nginx-'));
    fs.chmodSync(dir, 0o755);
    fs.mkdirSync(path.join(dir, 'tmp'));
    fs.mkdirSync(path.join(dir, 'www'), { mode: 0o755 });
    fs.writeFileSync(path.join(dir, 'www', '16k.bin'), largeBody(), { mode: 0o644 });
    const port = await freePort();
    const { certs, why } = tryMakeCerts(dir);
    let tlsPort = null;
    while (certs && (tlsPort === null || tlsPort === port)) tlsPort = await freePort();
    const tls = certs && { port: tlsPort, cert: certs.cert, key: certs.key, ca: certs.caPem };
    const conf = path.join(dir, 'nginx.conf');
    fs.writeFileSync(conf, nginxConfig(dir, port, maxConnections, tls));
    const argv = pinnedCommand(cpu, [bin, '-p', `${dir}/`, '-c', conf, '-e', path.join(dir, 'error.log')]);
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', (err) => (stderr += String(err)));
    const describe = () => {
      let log = '';
      try {
        log = fs.readFileSync(path.join(dir, 'error.log'), 'utf8');
      } catch {
        // none
      }
      const text = `${stderr}${log}`.trim();
      return text ? `:\n${text}` : '';
    };
    try {
      await waitForPort(port, child, 5000, describe);
      if (tls) await waitForPort(tls.port, child, 5000, describe);
    } catch (err) {
      lastError = err;
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // gone
      }
      fs.rmSync(dir, { recursive: true, force: true });
      continue;
    }
    // The master forks its worker before listening sockets accept; give /proc a moment.
    let workers = childPids(child.pid);
    for (let i = 0; i < 20 && workers.length === 0; i++) {
      await sleep(25);
      workers = childPids(child.pid);
    }
    return new BenchServer({
      kind: 'nginx',
      version: nginxVersion(bin),
      port,
      child,
      dir,
      workerPids: workers,
      note: `${bin}, 1 worker`,
      tls,
      tlsUnavailable: why,
    });
  }
  throw lastError;
}

async function startFallback({ cpu, why }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cpc-bench-node-'));
  const { certs, why: tlsWhy } = tryMakeCerts(dir);
  const args = [__filename, '--fallback'];
  if (certs) args.push('--tls-cert', certs.cert, '--tls-key', certs.key);
  const argv = pinnedCommand(cpu, [process.execPath, ...args]);
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  let tlsPort = null;
  const port = await new Promise((resolve, reject) => {
    let out = '';
    const onData = (d) => {
      out += d;
      const m = /^PORT (\d+)(?: TLS (\d+))?$/m.exec(out);
      if (m) {
        child.stdout.off('data', onData);
        child.stdout.resume();
        if (m[2]) tlsPort = Number(m[2]);
        resolve(Number(m[1]));
      }
    };
    child.stdout.on('data', onData);
    child.once('error', reject);
    child.once('exit', (code, sig) => reject(new Error(`fallback server exited (${code ?? sig})`)));
  }).catch((err) => {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  return new BenchServer({
    kind: 'node',
    version: `node:http ${process.version}`,
    port,
    child,
    dir,
    workerPids: [],
    note: `fallback (${why}): Node http/https in one process; it may be the bottleneck`,
    tls: certs && tlsPort ? { port: tlsPort, ca: certs.caPem } : null,
    tlsUnavailable: tlsWhy,
  });
}

// prefer: 'auto' | 'nginx' | 'node'. cpu: CPU to pin the server to, or null.
async function startServer({ prefer = 'auto', cpu = null, maxConnections = 1024 } = {}) {
  if (prefer !== 'node') {
    const bin = findNginx();
    if (bin) return startNginx(bin, { cpu, maxConnections });
    if (prefer === 'nginx') throw new Error('nginx not found (install nginx-light)');
  }
  return startFallback({ cpu, why: prefer === 'node' ? '--server node' : 'nginx not found' });
}

// The fallback server itself (child process).
function runFallback() {
  const small = Buffer.from('{}');
  const large = largeBody();
  let accepts = 0;
  let active = 0;
  const handler = (req, res) => {
    if (req.url === ROUTES.small) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': small.length });
      res.end(small);
    } else if (req.url === ROUTES.large) {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': large.length });
      res.end(large);
    } else if (req.url === ROUTES.status) {
      const body = JSON.stringify({ accepts, active });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    } else {
      res.writeHead(404, { 'content-length': 0 });
      res.end();
    }
    req.resume();
  };
  const arg = (name) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : null;
  };
  const servers = [http.createServer(handler)];
  if (arg('--tls-cert')) {
    servers.push(https.createServer({
      cert: fs.readFileSync(arg('--tls-cert')),
      key: fs.readFileSync(arg('--tls-key')),
      minVersion: 'TLSv1.2',
      maxVersion: 'TLSv1.3',
    }, handler));
  }
  for (const server of servers) {
    server.keepAliveTimeout = 65000;
    server.headersTimeout = 66000;
    server.requestTimeout = 0;
    server.maxRequestsPerSocket = 0;
    // 'connection' is the TCP connection on both (for https, before the handshake).
    server.on('connection', (sock) => {
      accepts++;
      active++;
      sock.setNoDelay(true);
      sock.once('close', () => active--);
    });
  }
  const listen = (server) => new Promise((resolve) => {
    server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => resolve(server.address().port));
  });
  Promise.all(servers.map(listen)).then(([port, tlsPort]) => {
    process.stdout.write(tlsPort ? `PORT ${port} TLS ${tlsPort}\n` : `PORT ${port}\n`);
  });
  const quit = () => {
    for (const server of servers) {
      server.close();
      server.closeAllConnections();
    }
    process.exit(0);
  };
  process.on('SIGTERM', quit);
  process.on('SIGINT', quit);
}

if (require.main === module && process.argv.includes('--fallback')) runFallback();

module.exports = { startServer, parseStatus, ROUTES, SIZES };
