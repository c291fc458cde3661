// Compiled (never run) by test/types.test.js with `tsc --noEmit --strict`:
// every use below must type-check against lib/index.d.ts, and each
// `@ts-expect-error` line must be rejected, so a typing that is too loose fails too.
import {
  BalancedPool, ConnectionPoolCore, PoolError, configFromEnv, createEthersGetUrl,
  type PoolMetrics, type PoolResponse, type SocketClosedEvent, type EndpointStats,
} from 'connection-pool-core';

async function main(): Promise<void> {
  const pool = new ConnectionPoolCore({
    keepAlive: true, keepAliveMsecs: 1000, maxSockets: 10, maxFreeSockets: 5, maxTotalSockets: Infinity,
    connectTimeout: 1000, timeout: 5000, freeSocketTimeout: 4000, scheduling: 'fifo', noDelay: true,
    maxResponseSize: 1024, cleanupPeriodMs: 1000, maxRequestsPerSocket: 100, maxSocketLifetime: 60000,
    maxQueue: 100, tls: { ca: 'pem', rejectUnauthorized: false, minVersion: 'TLSv1.3', sessionCache: false },
  });
  // @ts-expect-error scheduling is 'lifo' | 'fifo'
  new ConnectionPoolCore({ scheduling: 'random' });

  const res: PoolResponse = await pool.execute('http://127.0.0.1:1/', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}', timeout: 10,
    signal: AbortSignal.timeout(10),
  });
  const status: number = res.statusCode;
  const body: Buffer = res.body;
  const reused: boolean = res.reused;
  const total: number = res.timings.total;
  const cookies: string | string[] | undefined = res.headers['set-cookie'];
  await pool.execute(new URL('http://127.0.0.1:1/'), { headers: [['a', 'b']] });
  // @ts-expect-error body is a string, Buffer, Uint8Array or null
  await pool.execute('http://127.0.0.1:1/', { body: 42 });

  const m: PoolMetrics = pool.getMetrics();
  const reuse: number = m.socketReusePercentage + m.socketLeaks + m.nativeMemory + m.tlsResumed;
  const originTotal: number = m.origins['http://127.0.0.1:1'].total;

  pool.on('socket:closed', (e: SocketClosedEvent) => { const r: string = e.reason; void r; });
  pool.on('leak', (e) => { const d: string = e.detail; void d; });
  // @ts-expect-error socket:closed payloads have no statusCode
  pool.on("socket:closed", (e: SocketClosedEvent) => e.statusCode);

  const n: number = await pool.warmup('http://127.0.0.1:1/', 2);
  const f: Response = await pool.fetch('http://127.0.0.1:1/', { method: 'POST', body: 'x', timeout: 5 });
  pool.dispatcher.on('error', () => {});

  try {
    await pool.execute('nope');
  } catch (err) {
    if (err instanceof PoolError) {
      const code: string = err.code;
      const url: string | undefined = err.url;
      const reason: string | undefined = err.reason;
      void code; void url; void reason;
    }
  }
  const env = configFromEnv({ MAX_SOCKETS: '5' });
  const getUrl = createEthersGetUrl(pool);
  void getUrl;

  const rpc = new BalancedPool(['http://127.0.0.1:1', new URL('http://127.0.0.1:2')], {
    pool, strategy: 'least-latency',
    health: { path: '/', method: 'POST', body: '{}', intervalMs: 1000, timeoutMs: 500 },
    thresholds: { healthyMs: 50 },
    breaker: { consecutiveFailures: 5, cooldownMs: 1000 },
    retry: { attempts: 3, baseDelayMs: 50, maxDelayMs: 2000, budgetPercent: 20 },
  });
  // @ts-expect-error strategy is one of three names
  new BalancedPool(['http://127.0.0.1:1'], { strategy: 'random' });
  await rpc.execute('/', { method: 'POST', body: '{}', idempotent: true });
  const stats: EndpointStats[] = rpc.getStats().endpoints;
  rpc.on('endpoint:breaker', (e) => { const to: 'closed' | 'open' | 'half-open' = e.to; void to; });
  rpc.addEndpoint('http://127.0.0.1:3');
  const removed: boolean = rpc.removeEndpoint('http://127.0.0.1:3');
  await rpc.close();

  pool.destroy(new Error('x'));
  await pool.close();
  void [status, body, reused, total, cookies, reuse, originTotal, n, f, env, stats, removed];
}
void main;
