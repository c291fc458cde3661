'use strict';

// The JS face of the pool: argument checks and URL handling here, all
// pooling in the native core (src/core), glue in src/addon.
const { EventEmitter } = require('node:events');
const binding = require('./binding');
const { createPoolError, PoolError } = require('./errors');
const { resolveOptions } = require('./config');

const { kNative, kTrack, kMaxResponseSize } = require('./symbols');

const kTargets = Symbol('kTargets');
const kSettle = Symbol('kSettle');
const kHandle = Symbol('kHandle');

// Entry layout of the native ResultBatch (src/addon/result_batch.h).
const FIELDS = 13;

// Node's IncomingMessage rules: these keep their first value only.
const KEEP_FIRST = new Set(['content-type', 'content-length', 'user-agent', 'referer', 'host',
  'authorization', 'proxy-authorization', 'if-modified-since', 'if-unmodified-since', 'from',
  'location', 'max-forwards', 'retry-after', 'etag', 'last-modified', 'server', 'age', 'expires']);

// Adds one header to a headers object by Node's rules: set-cookie an array,
// cookie joined with '; ', others with ', ', KEEP_FIRST ones their first value.
function addHeader(headers, name, value) {
  const prior = headers[name];
  if (prior === undefined) {
    headers[name] = name === 'set-cookie' ? [value] : value;
  } else if (name === 'set-cookie') {
    prior.push(value);
  } else if (!KEEP_FIRST.has(name)) {
    headers[name] = prior + (name === 'cookie' ? '; ' : ', ') + value;
  }
}

// "name\0value\0..." (names lower-case) -> headers object.
function parseHeaderBlock(block) {
  const headers = {};
  if (block.length === 0) return headers;
  const parts = block.split('\0');
  for (let i = 0; i + 1 < parts.length; i += 2) addHeader(headers, parts[i], parts[i + 1]);
  return headers;
}

// A header shape (src/addon/header_shapes.h): the names of a response's
// headers, in order, sent once; later responses of that shape carry only
// their values. `template` has the names as keys, in order, so a copy of it
// already has the final object layout and each value is a store to an
// existing field with an interned key.
function makeShape(block) {
  const names = block === '' ? [] : block.split('\0');
  // Names that repeat, set-cookie (an array) and __proto__ (not a plain key)
  // take the general path, header by header.
  const plain = new Set(names).size === names.length && !names.includes('set-cookie') &&
    !names.includes('__proto__');
  const template = {};
  if (plain) for (const name of names) template[name] = undefined;
  return { names, plain, template };
}

// "value\0value...\0value" in the shape's name order -> headers object.
// indexOf and substring stay in generated code; split() would call into the
// runtime and allocate an array of parts.
function shapedHeaders(shape, block) {
  const { names, plain } = shape;
  const headers = plain ? { ...shape.template } : {};
  let start = 0;
  for (let i = 0; i < names.length; i++) {
    let end = block.indexOf('\0', start);
    if (end === -1) end = block.length;  // the last value has no separator after it
    const value = block.substring(start, end);
    if (plain) headers[names[i]] = value;
    else addHeader(headers, names[i], value);
    start = end + 1;
  }
  return headers;
}

// Bodies up to this many bytes are copied out of the arena byte by byte:
// cheaper than copy(), which makes a temporary view (about twice as fast
// at 13 bytes, even at 48, slower beyond).
const TINY_BODY = 32;

// Events the core produces; it queues them only while one has a listener.
const POOL_EVENTS = ['socket:created', 'socket:reused', 'socket:closed', 'socket:error', 'leak',
  'endpoint:health', 'endpoint:breaker'];

// Parsed URL parts by URL string: services call a handful of endpoints, so
// a small cache turns the per-request URL parse into one Map lookup.
const TARGET_CACHE_LIMIT = 512;

// Node's default trust for https: tls.rootCertificates plus the PEMs in
// NODE_EXTRA_CA_CERTS, handed to the core once per process, on the first
// https URL (the core builds its shared X509_STORE from them lazily).
let defaultTrustSent = false;
function sendDefaultTrust() {
  if (defaultTrustSent) return;
  defaultTrustSent = true;
  const pems = [...require('node:tls').rootCertificates];
  const extra = process.env.NODE_EXTRA_CA_CERTS;
  if (extra) {
    try {
      pems.push(require('node:fs').readFileSync(extra, 'utf8'));
    } catch {
      // Node warns about an unreadable file at startup and goes on; so do we.
    }
  }
  binding.setDefaultCaPems(pems);
}

function invalidUrl(url, detail) {
  return createPoolError('ERR_INVALID_URL', `Invalid URL ${JSON.stringify(String(url))}: ${detail}`, {
    url: String(url),
  });
}

function parseTarget(url) {
  let u;
  if (url instanceof URL) {
    u = url;
  } else if (typeof url === 'string') {
    try {
      u = new URL(url);
    } catch {
      throw invalidUrl(url, 'it does not parse');
    }
  } else {
    throw invalidUrl(url, 'expected a string or URL');
  }
  const https = u.protocol === 'https:';
  if (!https && u.protocol !== 'http:') throw invalidUrl(url, `unsupported scheme ${u.protocol}`);
  let host = u.hostname;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host === '') throw invalidUrl(url, 'no host');
  return {
    origin: u.origin,
    host,
    port: u.port ? Number(u.port) : https ? 443 : 80,
    https,
    target: (u.pathname || '/') + u.search,
    hostHeader: u.host,
    href: u.href,
  };
}

function flattenHeaders(headers) {
  const flat = [];
  const push = (name, value) => {
    if (typeof name !== 'string') throw new TypeError('header name');
    if (Array.isArray(value)) {
      for (const v of value) flat.push(name, String(v));
    } else if (value !== undefined) {
      flat.push(name, String(value));
    }
  };
  if (headers == null) return undefined;
  if (Array.isArray(headers)) {
    for (const pair of headers) {
      if (!Array.isArray(pair) || pair.length !== 2) throw new TypeError('header pair');
      push(pair[0], pair[1]);
    }
  } else if (typeof headers === 'object') {
    if (typeof headers[Symbol.iterator] === 'function' && typeof headers.get === 'function') {
      for (const [name, value] of headers) push(name, value);  // a Headers object
    } else {
      for (const name of Object.keys(headers)) push(name, headers[name]);
    }
  } else {
    throw new TypeError('headers');
  }
  return flat;
}

// Like every other failure, argument errors settle from a loop callback,
// never within the call (STYLE.md: execute() never settles synchronously).
function rejectLater(err) {
  return new Promise((resolve, reject) => setImmediate(reject, err));
}

function abortError(signal, url, origin) {
  return createPoolError('ABORT_ERR', 'The operation was aborted', { cause: signal.reason, url, origin });
}

// A request's failure names the URL it was for (API.md: `url` where known).
// Only the pool's own errors: an error given to destroy(err) is the caller's
// object, shared by every request it failed, and is left as it is.
// `url` is a string, or a function of the error that returns one (BalancedPool:
// the URL depends on the endpoint the error names); it is called only on failure.
function withUrl(err, url) {
  if (url !== undefined && err instanceof PoolError && err.url === undefined) {
    const href = typeof url === 'function' ? url(err) : url;
    if (href !== undefined) err.url = href;
  }
  return err;
}

// Made outside the constructor on purpose: a closure created there would
// share the constructor's context, which holds `this`.
function makeEmitter(poolRef) {
  return (name, payload) => poolRef.deref()?.emit(name, payload);
}

// Reads one ResultBatch (src/addon/result_batch.h) and settles its promises.
function makeBatchReader(settle) {
  return function onBatch(count, extras) {
    const { meta, bytes, shapes } = settle;
    for (let i = 0; i < count; i++) {
      const m = i * FIELDS;
      const slot = meta[m];
      const resolve = settle.resolve[slot];
      const reject = settle.reject[slot];
      settle.resolve[slot] = undefined;
      settle.reject[slot] = undefined;
      if (resolve === undefined) continue;
      const status = meta[m + 1];
      if (status < 0) {
        reject(withUrl(extras[meta[m + 11]], settle.url[slot]));
        continue;
      }
      const offset = meta[m + 7];
      const messageLength = meta[m + 8];
      const headerLength = meta[m + 9];
      let statusMessage;
      let headers;
      let bodyStart = offset;
      if (headerLength >= 0) {
        statusMessage = messageLength === 2 && bytes[offset] === 79 && bytes[offset + 1] === 75
          ? 'OK'
          : bytes.toString('latin1', offset, offset + messageLength);
        const block = bytes.toString('latin1', offset + messageLength, offset + messageLength + headerLength);
        const shapeId = meta[m + 12];
        if (shapeId >= 0) {
          const shape = shapes[shapeId] || (shapes[shapeId] = makeShape(settle.shapeNames(shapeId)));
          headers = shapedHeaders(shape, block);
        } else {
          headers = parseHeaderBlock(block);
        }
        bodyStart += messageLength + headerLength;
      } else {
        const block = extras[-headerLength - 1];
        statusMessage = block.slice(0, messageLength);
        headers = parseHeaderBlock(block.slice(messageLength));
      }
      const bodyLength = meta[m + 10];
      let body;
      if (bodyLength >= 0) {
        body = Buffer.allocUnsafe(bodyLength);
        if (bodyLength <= TINY_BODY) {
          for (let b = 0; b < bodyLength; b++) body[b] = bytes[bodyStart + b];
        } else {
          bytes.copy(body, 0, bodyStart, bodyStart + bodyLength);
        }
      } else {
        body = extras[-bodyLength - 1];
      }
      resolve({
        statusCode: status,
        statusMessage,
        headers,
        body,
        reused: meta[m + 2] === 1,
        timings: { queued: meta[m + 3], connect: meta[m + 4], ttfb: meta[m + 5], total: meta[m + 6] },
      });
    }
  };
}

// What a call without init asks for. Frozen and shared: parseInit's result is
// only read.
const NO_INIT = Object.freeze({
  method: 'GET', headers: undefined, body: undefined, timeout: -1, signal: undefined, idempotent: false,
});

// execute()'s init, checked: { method, headers (flat), body, timeout, signal,
// idempotent }. Throws a PoolError for a bad field. The result is read-only.
function parseInit(init) {
  if (init == null) return NO_INIT;
  const a = { ...NO_INIT };
  if (typeof init !== 'object') throw createPoolError('ERR_INVALID_ARG_VALUE', 'init must be an object');
  if (init.method !== undefined) {
    if (typeof init.method !== 'string') {
      throw createPoolError('ERR_INVALID_ARG_VALUE', 'init.method must be a string');
    }
    a.method = init.method;
  }
  try {
    a.headers = flattenHeaders(init.headers);
  } catch {
    throw createPoolError('ERR_INVALID_ARG_VALUE',
      'init.headers must be an object, a Headers or an array of [name, value] pairs');
  }
  let body = init.body;
  if (body != null && typeof body !== 'string' && !(body instanceof Uint8Array)) {
    if (body instanceof ArrayBuffer) {
      body = new Uint8Array(body);
    } else {
      throw createPoolError('ERR_INVALID_ARG_VALUE', 'init.body must be a string, Buffer, Uint8Array or null');
    }
  }
  a.body = body;
  if (init.timeout !== undefined) {
    if (typeof init.timeout !== 'number' || !(init.timeout >= 0) || !Number.isFinite(init.timeout)) {
      throw createPoolError('ERR_INVALID_ARG_VALUE', 'init.timeout must be a number of ms >= 0');
    }
    a.timeout = Math.floor(init.timeout);
  }
  const signal = init.signal;
  if (signal != null) {
    if (typeof signal.aborted !== 'boolean' || typeof signal.addEventListener !== 'function') {
      throw createPoolError('ERR_INVALID_ARG_VALUE', 'init.signal must be an AbortSignal');
    }
    if (signal.aborted) throw abortError(signal);  // execute() adds the url
    a.signal = signal;
  }
  a.idempotent = init.idempotent === true;
  return a;
}

class ConnectionPoolCore extends EventEmitter {
  constructor(options) {
    super();
    const resolved = resolveOptions(options);
    this[kTargets] = new Map();
    this[kMaxResponseSize] = resolved.maxResponseSize;  // undefined: the core's default
    // Promise settlers by request slot; a slot is reused only after its
    // result was delivered, so an index is never shared by two live requests.
    // url: the href of each slot's request, read only when it fails.
    // shapes: header shapes by id (makeShape), filled on first sight.
    this[kSettle] = { resolve: [], reject: [], url: [], shapes: [], shapeNames: undefined };
    // The core calls emit only for events someone listens to, and onBatch
    // once per batch of finished requests.
    // The native side holds its callbacks in persistent references: through
    // a WeakRef, emit does not keep this pool alive, so an unreferenced pool
    // with no work is collected and its native core shut down.
    this[kNative] = new binding.NativePool(resolved, makeEmitter(new WeakRef(this)),
      makeBatchReader(this[kSettle]));
    // execute() calls binding.execute(handle, ...): the handle reaches the
    // native pool without the addon unwrapping `this` on every call.
    this[kHandle] = this[kNative].callHandle();
    const [meta, bytes] = this[kNative].arena();
    // Through a WeakRef: the reader (held by the native side) must not hold
    // the native object, or neither could ever be collected. It is alive
    // whenever a batch is read: the native side holds it while work is out.
    const nativeRef = new WeakRef(this[kNative]);
    this[kSettle].shapeNames = (id) => nativeRef.deref().headerShape(id);
    this[kSettle].meta = new Float64Array(meta);
    this[kSettle].bytes = Buffer.from(bytes);
    this.#watchListeners();
  }

  // The core queues events only while one has a listener: these two hooks
  // keep it told. They are ordinary listeners, so removeAllListeners() (no
  // name, or 'newListener'/'removeListener') takes them away too; it is
  // overridden below to put them back.
  #onNewListener = (name) => {
    if (POOL_EVENTS.includes(name)) this[kNative].setEventsEnabled(true);
  };

  #onRemoveListener = (name) => {
    if (POOL_EVENTS.includes(name)) this.#syncEvents();
  };

  #syncEvents() {
    this[kNative].setEventsEnabled(POOL_EVENTS.some((e) => this.listenerCount(e) > 0));
  }

  #watchListeners() {
    if (!this.rawListeners('newListener').includes(this.#onNewListener)) {
      this.on('newListener', this.#onNewListener);
    }
    if (!this.rawListeners('removeListener').includes(this.#onRemoveListener)) {
      this.on('removeListener', this.#onRemoveListener);
    }
  }

  removeAllListeners(...args) {
    super.removeAllListeners(...args);
    this.#watchListeners();
    this.#syncEvents();
    return this;
  }

  // The URL string of the last call and its target: a service calling one
  // endpoint with a URL it builds per call (`base + path`) pays a string
  // compare, not a hash of a fresh string.
  #lastUrl = undefined;
  #lastTarget = undefined;

  // Parsed and registered with the core once per URL string: execute()
  // then passes one number instead of five strings.
  #target(url) {
    if (typeof url === 'string' && url === this.#lastUrl) return this.#lastTarget;
    const key = typeof url === 'string' ? url : url instanceof URL ? url.href : undefined;
    const cache = this[kTargets];
    let t = key === undefined ? undefined : cache.get(key);
    if (t === undefined) {
      t = parseTarget(url);
      if (t.https) sendDefaultTrust();
      if (cache.size >= TARGET_CACHE_LIMIT) {
        // The core keeps registered targets by id: forget both sides together,
        // or a service calling unique URLs (/item/<id>) grows without bound.
        cache.clear();
        this[kNative].clearTargets();
        this.#lastUrl = undefined;
      }
      t.id = this[kNative].registerTarget(t.origin, t.host, t.port, t.https, t.target, t.hostHeader);
      cache.set(key, t);
    }
    // Strings only: a URL object may change after the call.
    if (typeof url === 'string') {
      this.#lastUrl = url;
      this.#lastTarget = t;
    }
    return t;
  }

  execute(url, init) {
    let t;
    let a;
    try {
      t = this.#target(url);
      a = parseInit(init);
    } catch (err) {
      return rejectLater(t === undefined ? err : withUrl(err, t.href));
    }
    // A plain GET passes only the target: the addon then checks no other argument.
    const handle = a === NO_INIT
      ? binding.execute(this[kHandle], t.id)
      : binding.execute(this[kHandle], t.id, a.method === 'GET' ? undefined : a.method, a.headers, a.body,
        a.timeout);
    return this[kTrack](handle, a.signal, t.href);
  }

  // The promise of a native request handle (execute() and BalancedPool).
  // `url`, the request's href where known (or a function of the error that
  // gives it, see withUrl), goes on its errors.
  [kTrack](handle, signal, url) {
    if (handle < 0) return rejectLater(withUrl(createPoolError('ERR_POOL_CLOSED', 'The pool is closed'), url));
    const native = this[kNative];
    const settle = this[kSettle];
    const slot = handle % 4294967296;
    settle.url[slot] = url;
    const promise = new Promise((resolve, reject) => {
      settle.resolve[slot] = resolve;
      settle.reject[slot] = reject;
    });
    if (!signal) return promise;
    const onAbort = () => native.abort(handle);
    signal.addEventListener('abort', onAbort, { once: true });
    const cleanup = () => signal.removeEventListener('abort', onAbort);
    return promise.then(
      (res) => {
        cleanup();
        return res;
      },
      (err) => {
        cleanup();
        if (err && err.code === 'ABORT_ERR' && err.cause === undefined) {
          throw abortError(signal, err.url, err.origin);
        }
        throw err;
      },
    );
  }

  warmup(url, count) {
    let t;
    try {
      t = this.#target(url);
      if (typeof count !== 'number' || !(count >= 0)) {
        throw createPoolError('ERR_INVALID_ARG_VALUE', 'warmup(url, count): count must be a number >= 0');
      }
    } catch (err) {
      return rejectLater(err);
    }
    return this[kNative].warmup(t.origin, t.host, t.port, t.https, Math.floor(count));
  }

  // pool.fetch (lib/fetch.js) and pool.dispatcher (lib/dispatcher.js): built
  // on first use, then own properties, so `pool.fetch` works as a plain
  // function (`http(url, { fetchFn: pool.fetch })`).
  get fetch() {
    const { createFetch } = require('./fetch');
    const fetch = createFetch((url, init) => this.execute(url, init),
      { maxResponseSize: this[kMaxResponseSize] });
    Object.defineProperty(this, 'fetch', { value: fetch, writable: true, configurable: true });
    return fetch;
  }

  get dispatcher() {
    const { PoolDispatcher } = require('./dispatcher');
    const dispatcher = new PoolDispatcher({
      execute: (url, init) => this.execute(url, init),
      close: () => this.close(),
      destroy: (err) => this.destroy(err),
    });
    Object.defineProperty(this, 'dispatcher', { value: dispatcher, writable: true, configurable: true });
    return dispatcher;
  }

  getMetrics() {
    return this[kNative].getMetrics();
  }

  close() {
    return this[kNative].close();
  }

  destroy(err) {
    this[kNative].destroy(err instanceof Error ? err : undefined);
  }
}

// For tests of the leak audit: runs the sweep now / breaks an invariant.
const testHooks = {
  sweepNow: (pool) => pool[kNative].sweepNow(),
  corruptOneSocket: (pool) => pool[kNative].corruptForTest(),
};

module.exports = { ConnectionPoolCore, testHooks, parseTarget, parseInit, rejectLater, sendDefaultTrust };
