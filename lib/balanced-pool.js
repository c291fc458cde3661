'use strict';

// BalancedPool (API.md): one logical endpoint served by several origins.
// Every routing decision, health figure, breaker and retry lives in the
// native core (src/core/balancer.*); this class checks arguments, forwards
// the events of its own balancer, and tracks its promises for close().
const { EventEmitter } = require('node:events');
const { ConnectionPoolCore, parseTarget, parseInit, rejectLater, sendDefaultTrust } = require('./connection-pool-core');
const { createPoolError, PoolError } = require('./errors');
const { kNative, kTrack, kMaxResponseSize } = require('./symbols');

const STRATEGIES = ['round-robin', 'least-pending', 'least-latency'];

// The `url` of a failed BalancedPool request, computed only when it fails:
// the URL that was really requested, i.e. the request target (path + query)
// resolved against the endpoint the error names (err.origin: the endpoint of
// the attempt that failed last), so `url` and `origin` always agree. An error
// that names no endpoint (no attempt was made) gets the URL as the caller gave
// it: the absolute URL's href, or the path itself. The entries of
// ERR_POOL_NO_ENDPOINT's err.errors get their own endpoint's URL.
function balancedUrl(target, fallback) {
  return (err) => {
    if (Array.isArray(err.errors)) {
      for (const e of err.errors) {
        if (e instanceof PoolError && e.url === undefined && typeof e.origin === 'string') e.url = e.origin + target;
      }
    }
    return typeof err.origin === 'string' ? err.origin + target : fallback;
  };
}

function positive(name, v, fallback, { integer = false, zero = false } = {}) {
  if (v === undefined) return fallback;
  const ok = typeof v === 'number' && Number.isFinite(v) && (zero ? v >= 0 : v > 0) && (!integer || Number.isInteger(v));
  if (!ok) throw createPoolError('ERR_POOL_CONFIG', `Invalid value for option ${name}: ${String(v)}`);
  return v;
}

function flatHeaders(headers) {
  if (headers == null) return undefined;
  const entries = Array.isArray(headers) ? headers : Object.entries(headers);
  return entries.flatMap(([k, v]) => [String(k), String(v)]);
}

// The options object -> the flat config the native createBalancer reads.
function balancerConfig(options) {
  const strategy = options.strategy === undefined ? 'round-robin' : options.strategy;
  if (!STRATEGIES.includes(strategy)) {
    throw createPoolError('ERR_POOL_CONFIG', `Invalid value for option strategy: ${String(strategy)}`);
  }
  const c = { strategy };
  const health = options.health;
  if (health) {
    c.probeIntervalMs = positive('health.intervalMs', health.intervalMs, 5000, { integer: true });
    c.probeTimeoutMs = positive('health.timeoutMs', health.timeoutMs, 2000, { integer: true });
    c.probeMethod = health.method || 'GET';
    c.probePath = health.path || '/';
    c.probeHeaders = flatHeaders(health.headers);
    if (health.body != null) c.probeBody = String(health.body);
  }
  // Health classes move with real requests too, so the thresholds may be
  // given at the top level (`thresholds`) as well as in `health.thresholds`
  // (the older place; it wins where both name a value).
  const t = { ...options.thresholds, ...(health && health.thresholds) };
  const where = (k) => (health && health.thresholds && health.thresholds[k] !== undefined ? 'health.thresholds.' : 'thresholds.') + k;
  c.healthyMs = positive(where('healthyMs'), t.healthyMs, 50);
  c.degradedMs = positive(where('degradedMs'), t.degradedMs, 200);
  c.unhealthyFailures = positive(where('unhealthyFailures'), t.unhealthyFailures, 3, { integer: true });
  c.deadFailures = positive(where('deadFailures'), t.deadFailures, 5, { integer: true });
  const breaker = options.breaker || {};
  c.breakerFailures = positive('breaker.consecutiveFailures', breaker.consecutiveFailures, 5, { integer: true });
  c.breakerCooldownMs = positive('breaker.cooldownMs', breaker.cooldownMs, 10000, { integer: true, zero: true });
  const retry = options.retry || {};
  c.attempts = positive('retry.attempts', retry.attempts, 3, { integer: true });
  c.baseDelayMs = positive('retry.baseDelayMs', retry.baseDelayMs, 50, { zero: true });
  c.maxDelayMs = positive('retry.maxDelayMs', retry.maxDelayMs, 2000, { zero: true });
  c.budgetPercent = positive('retry.budgetPercent', retry.budgetPercent, 20, { zero: true });
  return c;
}

class BalancedPool extends EventEmitter {
  #pool;
  #ownsPool;
  #id;
  #origins = new Map();  // origin -> parsed target of the member
  #pending = new Set();
  #closing = null;

  constructor(urls, options = {}) {
    super();
    if (!Array.isArray(urls)) throw createPoolError('ERR_INVALID_ARG_VALUE', 'urls must be an array');
    if (options === null || typeof options !== 'object') {
      throw createPoolError('ERR_POOL_CONFIG', 'options must be an object');
    }
    const config = balancerConfig(options);
    this.#ownsPool = !options.pool;
    this.#pool = options.pool || new ConnectionPoolCore();
    this.#id = this.#pool[kNative].createBalancer(config);
    for (const url of urls) this.addEndpoint(url);
    // Forward this balancer's endpoint events while someone listens here.
    const forward = (event) => (payload) => {
      if (payload.balancer !== this.#id) return;
      const { balancer, ...rest } = payload;
      this.emit(event, rest);
    };
    const listeners = {
      'endpoint:health': forward('endpoint:health'),
      'endpoint:breaker': forward('endpoint:breaker'),
    };
    this.on('newListener', (name) => {
      if (listeners[name] && this.listenerCount(name) === 0) this.#pool.on(name, listeners[name]);
    });
    this.on('removeListener', (name) => {
      if (listeners[name] && this.listenerCount(name) === 0) this.#pool.off(name, listeners[name]);
    });
  }

  get pool() {
    return this.#pool;
  }

  addEndpoint(url) {
    const t = parseTarget(url);
    if (this.#origins.has(t.origin)) return;
    // As ConnectionPoolCore does for an https URL: the core builds its one
    // shared default-trust store on the first https handshake, from the PEMs
    // handed over here; without them that store would be built empty.
    if (t.https) sendDefaultTrust();
    this.#origins.set(t.origin, t);
    this.#pool[kNative].balancerAdd(this.#id, t.origin, t.host, t.port, t.https, t.hostHeader);
  }

  removeEndpoint(url) {
    const t = parseTarget(url);
    this.#origins.delete(t.origin);
    return this.#pool[kNative].balancerRemove(this.#id, t.origin);
  }

  // execute(pathOrUrl, init): a path ('/'), or an absolute URL of a member.
  // Its errors carry `url` (see balancedUrl).
  execute(pathOrUrl, init) {
    const given = typeof pathOrUrl === 'string' ? pathOrUrl : pathOrUrl instanceof URL ? pathOrUrl.href : undefined;
    if (this.#closing) {
      return rejectLater(createPoolError('ERR_POOL_CLOSED', 'The BalancedPool is closed', { url: given }));
    }
    let target;
    let href;
    let a;
    try {
      if (typeof pathOrUrl === 'string' && pathOrUrl.startsWith('/')) {
        target = pathOrUrl;
      } else {
        const t = parseTarget(pathOrUrl);
        href = t.href;
        if (!this.#origins.has(t.origin)) {
          throw createPoolError('ERR_INVALID_URL', `${t.origin} is not an endpoint of this BalancedPool`, { url: href });
        }
        target = t.target;
      }
      a = parseInit(init);
    } catch (err) {
      if (err instanceof PoolError && err.url === undefined && given !== undefined) err.url = href ?? given;
      return rejectLater(err);
    }
    const handle = this.#pool[kNative].executeBalanced(this.#id, a.method === 'GET' ? undefined : a.method,
      target, a.headers, a.body, a.timeout, a.idempotent);
    const promise = this.#pool[kTrack](handle, a.signal, balancedUrl(target, href ?? target));
    this.#pending.add(promise);
    const done = () => this.#pending.delete(promise);
    promise.then(done, done);
    return promise;
  }

  // fetch(pathOrUrl, init): pool.fetch's semantics, routed like execute().
  // A path is resolved against the first endpoint (that is the Response's
  // url); init.idempotent lets a POST be retried like a GET.
  fetch(pathOrUrl, init) {
    const { createFetch } = require('./fetch');
    const idempotent = init != null && init.idempotent === true;
    let input = pathOrUrl;
    if (typeof pathOrUrl === 'string' && pathOrUrl.startsWith('/')) {
      const first = this.#origins.keys().next().value;
      if (first === undefined) {
        return Promise.reject(new TypeError('fetch failed', {
          cause: createPoolError('ERR_POOL_NO_ENDPOINT', 'The BalancedPool has no endpoint'),
        }));
      }
      input = first + pathOrUrl;
    }
    const run = (href, i) => {
      const u = new URL(href);
      // Redirects to a non-member origin go through the plain pool.
      if (!this.#origins.has(u.origin)) return this.#pool.execute(href, i);
      return this.execute(u.pathname + u.search, { ...i, idempotent });
    };
    return createFetch(run, { maxResponseSize: this.#pool[kMaxResponseSize] })(input, init);
  }

  getStats() {
    return { endpoints: this.#pool[kNative].balancerStats(this.#id) };
  }

  // Graceful: new requests are refused, live ones finish, probes stop.
  close() {
    if (!this.#closing) {
      this.#closing = (async () => {
        await Promise.allSettled([...this.#pending]);
        this.#pool[kNative].balancerClose(this.#id);
        if (this.#ownsPool) await this.#pool.close();
      })();
    }
    return this.#closing;
  }
}

module.exports = { BalancedPool };
