'use strict';

// pool.dispatcher's half that reads undici's dispatch options: what undici's
// core/request.js checks (path, method, headers, body kinds, timeouts), and
// the conversion into one pool.execute() call. Requests the pool does not
// serve (CONNECT, upgrades, proxy-form targets) are ERR_POOL_UNSUPPORTED.

const { createPoolError } = require('./errors');
const { readAll } = require('./fetch-body');

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

// Normalized origins by opts.origin string ('http://h:1/' -> 'http://h:1'),
// each with the request URLs built from it by path: a dispatch for a path
// seen before passes execute() the same URL string as last time, whose hash
// is already computed, instead of a new concatenation to flatten and hash.
const ORIGIN_CACHE_LIMIT = 256;
const URL_CACHE_LIMIT = 512;
const origins = new Map();

function originOf(value) {
  if (typeof value !== 'string' && !(value instanceof URL)) {
    throw invalidArg('opts.origin must be a non-empty string or URL.');
  }
  const key = String(value);
  let entry = origins.get(key);
  if (entry !== undefined) return entry;
  let url;
  try {
    url = new URL(key);
  } catch {
    throw createPoolError('ERR_INVALID_URL', `Invalid origin ${JSON.stringify(key)}`, { url: key });
  }
  const origin = url.origin;
  if (origin === 'null') {
    throw createPoolError('ERR_INVALID_URL', `Invalid origin ${JSON.stringify(key)}: unsupported scheme ${url.protocol}`, { url: key });
  }
  if (origins.size >= ORIGIN_CACHE_LIMIT) origins.clear();
  entry = { origin, urls: new Map() };
  origins.set(key, entry);
  return entry;
}

function urlOf(entry, path) {
  const { urls } = entry;
  let url = urls.get(path);
  if (url === undefined) {
    url = entry.origin + path;
    if (urls.size >= URL_CACHE_LIMIT) urls.clear();
    urls.set(path, url);
  }
  return url;
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

// Adds the Content-Type a Blob or FormData body implies unless the caller set
// one, as undici does.
function addContentType(init, type) {
  if (!type) return;
  const { headers } = init;
  if (headers === undefined) {
    init.headers = { 'content-type': type };
  } else if (Array.isArray(headers)) {
    if (!headers.some(([name]) => name.toLowerCase() === 'content-type')) headers.push(['content-type', type]);
  } else if (!Object.keys(headers).some((name) => name.toLowerCase() === 'content-type')) {
    headers['content-type'] = type;
  }
}

// A dispatch body -> bytes or a string for execute(), or a function that
// reads it (streams, iterables, Blob, FormData) once the handler has started.
function requestBody(body, init) {
  if (body == null) return null;
  if (typeof body === 'string' || body instanceof Uint8Array) return body.length === 0 ? null : body;
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (typeof body !== 'object') {
    throw invalidArg('body must be a string, a Buffer, a Readable stream, an iterable, or an async iterable');
  }
  if (typeof FormData === 'function' && body instanceof FormData) {
    return () => {
      const encoded = new Response(body);  // the platform's multipart encoding and boundary
      return encoded.arrayBuffer().then((buf) => {
        addContentType(init, encoded.headers.get('content-type'));
        return new Uint8Array(buf);
      });
    };
  }
  if (typeof body.arrayBuffer === 'function' && typeof body.stream === 'function') {
    return () => body.arrayBuffer().then((buf) => {  // a Blob
      addContentType(init, body.type);
      return new Uint8Array(buf);
    });
  }
  if (typeof body[Symbol.asyncIterator] === 'function') return (token) => readAll(body, token);
  if (isSyncIterable(body)) return (token) => readAll(syncToAsync(body), token);
  throw invalidArg('body must be a string, a Buffer, a Readable stream, an iterable, or an async iterable');
}

function checkHandler(handler, method, upgrade) {
  if (typeof handler.onRequestStart === 'function') return;
  if (typeof handler.onConnect !== 'function') throw invalidArg('invalid onConnect method');
  if (typeof handler.onError !== 'function') throw invalidArg('invalid onError method');
  if (upgrade || method === 'CONNECT') return;
  if (typeof handler.onHeaders !== 'function') throw invalidArg('invalid onHeaders method');
  if (typeof handler.onData !== 'function') throw invalidArg('invalid onData method');
  if (typeof handler.onComplete !== 'function') throw invalidArg('invalid onComplete method');
}

// undici's timeouts, as one bound for the whole request: their sum, 0 (no
// bound) when either is 0, undefined (the pool's) when neither is set.
function requestTimeout({ headersTimeout, bodyTimeout }) {
  if (headersTimeout == null && bodyTimeout == null) return undefined;
  if (headersTimeout != null && (!Number.isFinite(headersTimeout) || headersTimeout < 0)) {
    throw invalidArg('invalid headersTimeout');
  }
  if (bodyTimeout != null && (!Number.isFinite(bodyTimeout) || bodyTimeout < 0)) {
    throw invalidArg('invalid bodyTimeout');
  }
  if (headersTimeout === 0 || bodyTimeout === 0) return 0;
  return (headersTimeout ?? 0) + (bodyTimeout ?? 0);
}

// undici destroys a Node stream body that will not be sent.
function destroyBody(source, reason) {
  if (source != null && typeof source.destroy === 'function' && typeof source.pipe === 'function') {
    source.destroy(reason instanceof Error ? reason : undefined);
  }
}

// undici's dispatch options -> { url, init, body } for execute(): `body` is
// bytes, a string, null, or a function that reads it (given the request as
// the abort token). Throws a PoolError for anything undici would refuse.
function toExecuteCall(opts, token) {
  const { method, path, upgrade } = opts;
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
  const entry = originOf(opts.origin);
  const url = opts.query ? entry.origin + appendQuery(path, opts.query) : urlOf(entry, path);
  const init = {
    method,
    headers: requestHeaders(opts.headers),
    body: null,
    timeout: requestTimeout(opts),
    signal: token,
  };
  return { url, init, body: requestBody(opts.body, init) };
}

module.exports = { invalidArg, checkHandler, toExecuteCall, destroyBody };
