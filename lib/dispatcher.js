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
const { invalidArg, checkHandler, toExecuteCall, destroyBody } = require('./dispatch-options');

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
// The values are written into one Buffer in one call and handed out as
// views of it: a Buffer.from(string) per value costs a call into C++ each.
// Values are latin1 strings (one byte a character), so a value's byte range
// is its character range in the joined string. for-in, not Object.keys():
// V8 reads `headers[name]` through the enum cache there, where a keyed load
// by a name from an array is a megamorphic lookup per header. `headers` is
// execute()'s own plain object (parseHeaderBlock), so every enumerable
// name is its own.
function rawHeaders(headers) {
  const raw = [];
  let joined = '';
  for (const name in headers) {
    const value = headers[name];
    const key = nameBuffer(name);
    if (typeof value === 'string') {
      raw.push(key, value);
      joined += value;
    } else {
      for (let j = 0; j < value.length; j++) {
        raw.push(key, value[j]);
        joined += value[j];
      }
    }
  }
  const bytes = Buffer.from(joined, 'latin1');
  const memory = bytes.buffer;
  let at = bytes.byteOffset;
  for (let i = 1; i < raw.length; i += 2) {
    const length = raw[i].length;
    raw[i] = Buffer.from(memory, at, length);
    at += length;
  }
  return raw;
}

const EMPTY_TRAILERS = Object.freeze([]);

// The whole body is handed over at once, so a handler's pause has nothing to
// hold back: resume() is a no-op (as controller.pause()/resume() below).
function resumeNothing() {}

// One dispatched request. It is also the AbortSignal-shaped token execute()
// and the body reader listen to (aborted, reason, one 'abort' listener), and
// the controller of an undici 7 handler (abort, pause, resume).
class DispatchRequest {
  // `unreported(err)`: called with an error the handler has no callback for.
  constructor(handler, unreported) {
    this.handler = handler;
    this.unreported = unreported;
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
      h.onHeaders(res.statusCode, rawHeaders(res.headers), resumeNothing, res.statusMessage);
      if (this.done) return;
      if (res.body.length > 0) h.onData(res.body);
      if (this.done) return;
      this.done = true;
      h.onComplete(EMPTY_TRAILERS);
    } catch (err) {
      if (!this.done) {
        this.abort(err);
      } else {
        // onComplete threw: undici hands that to the handler's onError too.
        try {
          if (!this.modern) h.onError(err);
          else if (typeof h.onResponseError === 'function') h.onResponseError(this, err);
          else this.unreported(err);
        } catch (again) {
          process.nextTick(() => { throw again; });  // a bug in the handler: uncaught, as from an event
        }
      }
    }
  }

  error(err) {
    if (this.done) return;
    this.done = true;
    if (!this.modern) {
      this.handler.onError(err);
    } else if (typeof this.handler.onResponseError === 'function') {
      this.handler.onResponseError(this, err);
    } else {
      this.unreported(err);
    }
  }
}

// A handler with no callback for errors (an undici 7 handler without
// onResponseError): undici accepts it and, when a request of it fails, emits
// an InvalidArgumentError as 'error' on the client. So do we, on the
// dispatcher, from a tick of its own: uncaught (loud) unless the application
// listens, never a request that just hangs.
function unreportedError(err) {
  return createPoolError('ERR_INVALID_ARG_VALUE',
    'invalid onResponseError method: the dispatch handler has no callback for this error', { cause: err });
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

  #unreported = (err) => {
    const error = unreportedError(err);
    process.nextTick(() => this.emit('error', error));
  };

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
    const request = new DispatchRequest(handler, this.#unreported);
    let call;
    try {
      if (opts == null || typeof opts !== 'object') throw invalidArg('opts must be an object.');
      checkHandler(handler, opts.method, opts.upgrade);
      if (this.#destroyed) throw createPoolError('ERR_POOL_CLOSED', 'The dispatcher is destroyed');
      if (this.#closed) throw createPoolError('ERR_POOL_CLOSED', 'The dispatcher is closed');
      call = toExecuteCall(opts, request);
    } catch (err) {
      if (opts != null) destroyBody(opts.body, err);
      // Nothing to report it to: the caller gets it here (as from undici).
      if (typeof (request.modern ? handler.onResponseError : handler.onError) !== 'function') throw err;
      request.error(err);
      return false;
    }
    this.#run(request, call.url, call.init, call.body, opts.body);
    return true;
  }

  // Plain promise callbacks, no async function: each await would cost the
  // caller turns of the microtask queue before its next request goes out.
  #run(request, url, init, body, source) {
    request.start();
    if (request.done) {
      destroyBody(source, request.reason);
      return;
    }
    if (typeof body !== 'function') {
      this.#send(request, url, init, body);
      return;
    }
    this.#reading++;
    const read = () => {
      if (--this.#reading === 0 && this.#onRead) this.#onRead();
    };
    body(request).then((bytes) => {
      read();
      if (!request.done) this.#send(request, url, init, bytes);
    }, (err) => {
      read();
      request.error(err);
    });
  }

  #send(request, url, init, body) {
    init.body = body;
    this.#execute(url, init).then((res) => {
      if (!request.done) request.respond(res, body);
    }, (err) => request.error(err));
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

module.exports = { PoolDispatcher };
