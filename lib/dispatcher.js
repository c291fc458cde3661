'use strict';

// pool.dispatcher: an undici Dispatcher served by pool.execute() (API.md,
// "Drop-in transport"). After `setGlobalDispatcher(pool.dispatcher)`,
// Node's global fetch and undici's request/fetch send through the pool.
//
// undici is not a dependency: when the application has it installed, the
// class extends undici's own Dispatcher (so compose() and instanceof work);
// otherwise it is an EventEmitter with the same shape, which is all that
// setGlobalDispatcher and Node's bundled fetch look at.
//
// Each dispatch reads the request body fully, runs one execute() and hands
// the whole response to the handler: headers, one data chunk, the end. Both
// handler styles are served: the onConnect/onHeaders/onData/onComplete/
// onError callbacks that undici.request and Node 20's fetch pass, and undici
// 7's onRequestStart/onResponseStart/onResponseData/onResponseEnd/
// onResponseError with a controller.

const { EventEmitter } = require('node:events');
const { createPoolError } = require('./errors');
const { readAll } = require('./fetch-body');

function undiciDispatcherClass() {
  try {
    // A deep path: requiring undici's index would install its own global
    // dispatcher as a side effect. Present in undici 6 and 7.
    const Base = require('undici/lib/dispatcher/dispatcher');
    return typeof Base === 'function' ? Base : null;
  } catch {
    return null;
  }
}

const Base = undiciDispatcherClass() || EventEmitter;

// undici's request-path rule: no control characters, space or DEL.
const INVALID_PATH = /[^\u0021-\u00ff]/;
// Framing headers the pool owns, refused as undici refuses them.
const REFUSED_HEADERS = new Set(['transfer-encoding', 'keep-alive', 'upgrade']);

function invalidArg(message) {
  return createPoolError('ERR_INVALID_ARG_VALUE', message);
}

function unsupported(message) {
  return createPoolError('ERR_POOL_UNSUPPORTED', message);
}

// Normalized origins by opts.origin string ('http://h:1/' -> 'http://h:1').
const ORIGIN_CACHE_LIMIT = 256;
const origins = new Map();

function originOf(value) {
  if (typeof value !== 'string' && !(value instanceof URL)) {
    throw invalidArg('opts.origin must be a non-empty string or URL.');
  }
  const key = String(value);
  let origin = origins.get(key);
  if (origin !== undefined) return origin;
  let url;
  try {
    url = new URL(key);
  } catch {
    throw createPoolError('ERR_INVALID_URL', `Invalid origin ${JSON.stringify(key)}`, { url: key });
  }
  origin = url.origin;
  if (origin === 'null') {
    throw createPoolError('ERR_INVALID_URL', `Invalid origin ${JSON.stringify(key)}: unsupported scheme ${url.protocol}`, { url: key });
  }
  if (origins.size >= ORIGIN_CACHE_LIMIT) origins.clear();
  origins.set(key, origin);
  return origin;
}

function appendQuery(path, query) {
  const search = new URLSearchParams(query).toString();
  if (search === '') return path;
  return path + (path.includes('?') ? '&' : '?') + search;
}

// undici's header forms -> what execute() takes (a record or [name, value]
// pairs), refusing the framing headers the pool writes itself.
function requestHeaders(headers) {
  if (headers == null) return undefined;
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) return checkPairs(headers);
    if (headers.length % 2 !== 0) throw invalidArg('headers array must be even');
    const pairs = [];
    for (let i = 0; i < headers.length; i += 2) pairs.push([headers[i], headers[i + 1]]);
    return checkPairs(pairs);
  }
  if (typeof headers !== 'object') throw invalidArg('headers must be an object or an array');
  if (typeof headers[Symbol.iterator] === 'function') return checkPairs([...headers]);
  const out = {};
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value === undefined) continue;
    if (REFUSED_HEADERS.has(name.toLowerCase())) throw invalidArg(`invalid ${name} header`);
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) throw invalidArg(`invalid ${name} header`);
    out[name] = value === null ? '' : value;
  }
  return out;
}

function checkPairs(pairs) {
  const out = [];
  for (const pair of pairs) {
    if (!Array.isArray(pair) || pair.length !== 2) throw invalidArg('headers must be in key-value pair format');
    const [name, value] = pair;
    if (value === undefined) continue;
    if (typeof name !== 'string') throw invalidArg('invalid header key');
    if (REFUSED_HEADERS.has(name.toLowerCase())) throw invalidArg(`invalid ${name} header`);
    if (Array.isArray(value)) {
      for (const v of value) out.push([name, v === null ? '' : String(v)]);
    } else {
      out.push([name, value === null ? '' : String(value)]);
    }
  }
  return out;
}

function isSyncIterable(value) {
  return typeof value[Symbol.iterator] === 'function';
}

function syncToAsync(iterable) {
  return {
    async* [Symbol.asyncIterator]() {
      yield* iterable;
    },
  };
}

// A dispatch body -> bytes or a string for execute(), or a function that
// reads it (streams, iterables, Blob) once the handler has started.
function requestBody(body) {
  if (body == null) return null;
  if (typeof body === 'string' || body instanceof Uint8Array) return body.length === 0 ? null : body;
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (typeof body !== 'object') {
    throw invalidArg('body must be a string, a Buffer, a Readable stream, an iterable, or an async iterable');
  }
  if (typeof FormData === 'function' && body instanceof FormData) {
    throw invalidArg('Form-Data bodies are only supported with fetch');
  }
  if (typeof body.arrayBuffer === 'function' && typeof body.stream === 'function') {
    return () => body.arrayBuffer().then((buf) => new Uint8Array(buf));  // a Blob
  }
  if (typeof body[Symbol.asyncIterator] === 'function') return (token) => readAll(body, token);
  if (isSyncIterable(body)) return (token) => readAll(syncToAsync(body), token);
  throw invalidArg('body must be a string, a Buffer, a Readable stream, an iterable, or an async iterable');
}

// Header names as Buffers, shared: Node 20's fetch looks names up in its
// tree of known headers only when they are bytes.
const NAME_CACHE_LIMIT = 512;
const nameBuffers = new Map();

function nameBuffer(name) {
  let buf = nameBuffers.get(name);
  if (buf === undefined) {
    buf = Buffer.from(name, 'latin1');
    if (nameBuffers.size >= NAME_CACHE_LIMIT) nameBuffers.clear();
    nameBuffers.set(name, buf);
  }
  return buf;
}

// Response headers by Node's rules -> undici's rawHeaders [name, value, ...].
function rawHeaders(headers) {
  const raw = [];
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    const key = nameBuffer(name);
    if (typeof value === 'string') {
      raw.push(key, Buffer.from(value, 'latin1'));
    } else {
      for (const v of value) raw.push(key, Buffer.from(v, 'latin1'));
    }
  }
  return raw;
}

const EMPTY_TRAILERS = Object.freeze([]);

// One dispatched request. It is also the AbortSignal-shaped token execute()
// and the body reader listen to (aborted, reason, one 'abort' listener), and
// the controller of an undici 7 handler (abort, pause, resume).
class DispatchRequest {
  constructor(handler) {
    this.handler = handler;
    this.modern = typeof handler.onRequestStart === 'function';
    this.done = false;       // the handler has had its last callback
    this.aborted = false;
    this.reason = undefined;
    this.paused = false;
    this.listener = null;
    this.rawHeaders = null;
    this.rawTrailers = null;
    this.abort = this.abort.bind(this);
  }

  // ---- AbortSignal shape, for execute() and readAll() --------------------
  addEventListener(type, fn) {
    this.listener = fn;
  }

  removeEventListener(type, fn) {
    if (this.listener === fn) this.listener = null;
  }

  // ---- controller (undici 7) and the abort callback (both styles) --------
  abort(reason) {
    if (this.done) return;
    this.aborted = true;
    this.reason = reason !== undefined ? reason
      : createPoolError('ABORT_ERR', 'Request aborted');
    const fn = this.listener;
    this.listener = null;
    if (fn) fn();
    this.error(this.reason);
  }

  pause() {
    this.paused = true;
  }

  resume() {
    this.paused = false;
  }

  // ---- calls into the handler; a throwing callback aborts, as in undici --
  start() {
    try {
      if (this.modern) this.handler.onRequestStart(this, {});
      else this.handler.onConnect(this.abort, {});
    } catch (err) {
      this.abort(err);
    }
  }

  respond(res, sentBody) {
    const h = this.handler;
    try {
      if (this.modern) {
        h.onResponseStart?.(this, res.statusCode, res.headers, res.statusMessage);
        if (this.done) return;
        if (res.body.length > 0) h.onResponseData?.(this, res.body);
        if (this.done) return;
        this.done = true;
        h.onResponseEnd?.(this, {});
        return;
      }
      if (sentBody !== null && typeof h.onBodySent === 'function') h.onBodySent(sentBody);
      if (typeof h.onRequestSent === 'function') h.onRequestSent();
      if (typeof h.onResponseStarted === 'function') h.onResponseStarted();
      if (this.done) return;
      h.onHeaders(res.statusCode, rawHeaders(res.headers), this.resume.bind(this), res.statusMessage);
      if (this.done) return;
      if (res.body.length > 0) h.onData(res.body);
      if (this.done) return;
      this.done = true;
      h.onComplete(EMPTY_TRAILERS);
    } catch (err) {
      if (!this.done) {
        this.abort(err);
      } else {
        throw err;  // from onComplete: the handler's own bug, as undici lets it surface
      }
    }
  }

  error(err) {
    if (this.done) return;
    this.done = true;
    if (this.modern) {
      if (typeof this.handler.onResponseError === 'function') this.handler.onResponseError(this, err);
    } else {
      this.handler.onError(err);
    }
  }
}

function checkHandler(handler, method, upgrade) {
  if (typeof handler.onRequestStart === 'function') return;
  for (const name of ['onConnect', 'onError']) {
    if (typeof handler[name] !== 'function') throw invalidArg(`invalid ${name} method`);
  }
  if (upgrade || method === 'CONNECT') return;
  for (const name of ['onHeaders', 'onData', 'onComplete']) {
    if (typeof handler[name] !== 'function') throw invalidArg(`invalid ${name} method`);
  }
}

// undici's timeouts, as one bound for the whole request: their sum, 0 (no
// bound) when either is 0, undefined (the pool's) when neither is set.
function requestTimeout({ headersTimeout, bodyTimeout }) {
  if (headersTimeout == null && bodyTimeout == null) return undefined;
  for (const [name, v] of [['headersTimeout', headersTimeout], ['bodyTimeout', bodyTimeout]]) {
    if (v != null && (!Number.isFinite(v) || v < 0)) throw invalidArg(`invalid ${name}`);
  }
  if (headersTimeout === 0 || bodyTimeout === 0) return 0;
  return (headersTimeout ?? 0) + (bodyTimeout ?? 0);
}

class PoolDispatcher extends Base {
  #execute;
  #closePool;
  #destroyPool;
  #closed = false;
  #destroyed = false;
  #closing = null;
  #reading = 0;          // dispatches still reading their request body
  #onRead = null;        // resolves close()'s wait for them

  // `execute`, `closePool`, `destroyPool`: the pool's methods.
  constructor({ execute, close, destroy }) {
    super();
    this.#execute = execute;
    this.#closePool = close;
    this.#destroyPool = destroy;
  }

  get closed() {
    return this.#closed;
  }

  get destroyed() {
    return this.#destroyed;
  }

  dispatch(opts, handler) {
    if (handler == null || typeof handler !== 'object') throw invalidArg('handler must be an object');
    const request = new DispatchRequest(handler);
    let url;
    let init;
    let body;
    try {
      if (opts == null || typeof opts !== 'object') throw invalidArg('opts must be an object.');
      const { method, path, upgrade } = opts;
      checkHandler(handler, method, upgrade);
      if (this.#destroyed) throw createPoolError('ERR_POOL_CLOSED', 'The dispatcher is destroyed');
      if (this.#closed) throw createPoolError('ERR_POOL_CLOSED', 'The dispatcher is closed');
      if (typeof method !== 'string') throw invalidArg('method must be a string');
      if (method === 'CONNECT') throw unsupported('CONNECT is not supported by connection-pool-core');
      if (upgrade) throw unsupported(`Upgrade (${String(upgrade)}) is not supported by connection-pool-core`);
      if (typeof path !== 'string') throw invalidArg('path must be a string');
      if (path[0] !== '/') {
        if (path.startsWith('http://') || path.startsWith('https://')) {
          throw unsupported('An absolute-form request target (proxy request) is not supported by connection-pool-core');
        }
        throw invalidArg('path must be an absolute URL or start with a slash');
      }
      if (INVALID_PATH.test(path)) throw invalidArg('invalid request path');
      const origin = originOf(opts.origin);
      url = origin + (opts.query ? appendQuery(path, opts.query) : path);
      init = {
        method,
        headers: requestHeaders(opts.headers),
        body: null,
        timeout: requestTimeout(opts),
        signal: request,
      };
      body = requestBody(opts.body);
    } catch (err) {
      if (opts != null) destroyBody(opts.body, err);
      if (typeof handler.onError !== 'function' && typeof handler.onResponseError !== 'function') throw err;
      request.error(err);
      return false;
    }
    this.#run(request, url, init, body, opts.body);
    return true;
  }

  async #run(request, url, init, body, source) {
    request.start();
    if (request.done) {
      destroyBody(source, request.reason);
      return;
    }
    if (typeof body === 'function') {
      this.#reading++;
      try {
        body = await body(request);
      } catch (err) {
        request.error(err);
        return;
      } finally {
        if (--this.#reading === 0 && this.#onRead) this.#onRead();
      }
      if (request.done) return;
    }
    init.body = body;
    let res;
    try {
      res = await this.#execute(url, init);
    } catch (err) {
      request.error(err);
      return;
    }
    if (!request.done) request.respond(res, body);
  }

  close(callback) {
    if (callback === undefined) {
      return new Promise((resolve, reject) => {
        this.close((err) => (err ? reject(err) : resolve()));
      });
    }
    if (typeof callback !== 'function') throw invalidArg('invalid callback');
    if (this.#destroyed) {
      queueMicrotask(() => callback(createPoolError('ERR_POOL_CLOSED', 'The dispatcher is destroyed'), null));
      return undefined;
    }
    this.#closed = true;
    if (this.#closing === null) {
      // Dispatches still reading a body get to send it; then the pool
      // closes gracefully (in-flight requests finish).
      const read = this.#reading === 0 ? Promise.resolve()
        : new Promise((resolve) => { this.#onRead = resolve; });
      this.#closing = read.then(() => this.#closePool());
    }
    this.#closing.then(() => callback(null, null), (err) => callback(err, null));
    return undefined;
  }

  destroy(err, callback) {
    if (typeof err === 'function') {
      callback = err;
      err = null;
    }
    if (callback === undefined) {
      return new Promise((resolve, reject) => {
        this.destroy(err, (e) => (e ? reject(e) : resolve()));
      });
    }
    if (typeof callback !== 'function') throw invalidArg('invalid callback');
    this.#closed = true;
    this.#destroyed = true;
    this.#destroyPool(err instanceof Error ? err : undefined);
    queueMicrotask(() => callback(null, null));
    return undefined;
  }
}

// Without undici's class there is no compose(); interceptors come from
// undici, so an application that has them has undici and the real one.
if (Base === EventEmitter) {
  PoolDispatcher.prototype.compose = function compose(...args) {
    const interceptors = Array.isArray(args[0]) ? args[0] : args;
    let dispatch = this.dispatch.bind(this);
    for (const interceptor of interceptors) {
      if (interceptor == null) continue;
      if (typeof interceptor !== 'function') throw new TypeError(`invalid interceptor, expected function received ${typeof interceptor}`);
      dispatch = interceptor(dispatch);
    }
    return new Proxy(this, { get: (target, key) => (key === 'dispatch' ? dispatch : target[key]) });
  };
}

// undici destroys a Node stream body that will not be sent.
function destroyBody(source, reason) {
  if (source != null && typeof source.destroy === 'function' && typeof source.pipe === 'function') {
    source.destroy(reason instanceof Error ? reason : undefined);
  }
}

module.exports = { PoolDispatcher };
