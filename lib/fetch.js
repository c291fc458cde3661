'use strict';

// pool.fetch: a WHATWG fetch served by pool.execute() (API.md, "Drop-in
// transport"). The request is normalized here with undici's checks (a
// TypeError for a bad URL, method or header), sent whole through execute(),
// redirects are followed by the Fetch standard's rules, and the global
// Response is built in one step from the whole body: no stream plumbing and
// no per-chunk JS for a body the core already holds in full.

const { extractBody } = require('./fetch-body');
const { decodeBody } = require('./content-decoding');

const MAX_REDIRECTS = 20;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
// Statuses whose Response must have a null body (Fetch "null body status").
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);
const NORMALIZED_METHODS = {
  delete: 'DELETE', get: 'GET', head: 'HEAD', options: 'OPTIONS', post: 'POST', put: 'PUT',
};
const FORBIDDEN_METHODS = new Set(['CONNECT', 'TRACE', 'TRACK']);
const REDIRECT_MODES = new Set(['follow', 'error', 'manual']);
// The request headers fetch adds when the caller sets none (as undici's fetch).
const DEFAULT_ACCEPT = '*/*';
const DEFAULT_ACCEPT_ENCODING = 'gzip, deflate, br';
// Dropped when a redirect turns the request into a body-less GET.
const REQUEST_BODY_HEADERS = ['content-encoding', 'content-language', 'content-location',
  'content-type', 'content-length'];
// Dropped on a cross-origin hop: the standard's `authorization`, plus what
// undici also drops so credentials never leak to another origin.
const CROSS_ORIGIN_HEADERS = ['authorization', 'proxy-authorization', 'cookie', 'host'];

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// A header value after trimming: no NUL, CR or LF, and a ByteString.
const BAD_VALUE = /[\0\r\n\u0100-\uffff]/;
const EDGE_WHITESPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g;

// Parsed URLs by input string: a service fetches a handful of endpoints, so
// the per-call parse becomes one Map lookup (execute() keeps its own cache).
const URL_CACHE_LIMIT = 512;
const urlCache = new Map();

function parseUrl(input) {
  const key = typeof input === 'string' ? input : input instanceof URL ? input.href : String(input);
  let entry = urlCache.get(key);
  if (entry !== undefined) return entry;
  let url;
  try {
    url = new URL(key);
  } catch (cause) {
    throw new TypeError(`Failed to parse URL from ${key}`, { cause });
  }
  entry = urlEntry(url);
  if (urlCache.size >= URL_CACHE_LIMIT) urlCache.clear();
  urlCache.set(key, entry);
  return entry;
}

// `href` is what the request is sent to and what Response.url reports (no
// fragment); `fragment` carries over to a redirect target that has none.
function urlEntry(url) {
  if (url.username !== '' || url.password !== '') {
    throw new TypeError(`Request cannot be constructed from a URL that includes credentials: ${url.href}`);
  }
  const cut = url.href.indexOf('#');
  return {
    href: cut === -1 ? url.href : url.href.slice(0, cut),
    fragment: cut === -1 ? null : url.href.slice(cut),
    origin: url.origin,
    http: url.protocol === 'http:' || url.protocol === 'https:',
    local: url.protocol === 'data:' || url.protocol === 'blob:',
  };
}

function normalizeMethod(value) {
  const method = String(value);
  if (!TOKEN.test(method)) throw new TypeError(`'${method}' is not a valid HTTP method.`);
  const upper = NORMALIZED_METHODS[method.toLowerCase()];
  if (upper !== undefined) return upper;
  if (FORBIDDEN_METHODS.has(method.toUpperCase())) throw new TypeError(`'${method}' HTTP method is unsupported.`);
  return method;
}

function appendHeader(out, name, value) {
  name = String(name);
  if (!TOKEN.test(name)) throw new TypeError(`Headers.append: "${name}" is an invalid header name.`);
  value = String(value);
  if (value.length > 0) {
    const first = value.charCodeAt(0);
    const last = value.charCodeAt(value.length - 1);
    if (first <= 32 || last <= 32) value = value.replace(EDGE_WHITESPACE, '');
  }
  if (BAD_VALUE.test(value)) {
    throw new TypeError(`Headers.append: "${value}" is an invalid header value.`);
  }
  const key = name.toLowerCase();
  const prior = out[key];
  out[key] = prior === undefined ? value : `${prior}, ${value}`;
}

function isHeaders(value) {
  return (typeof Headers === 'function' && value instanceof Headers)
    || (typeof value.get === 'function' && typeof value.append === 'function'
      && typeof value.getSetCookie === 'function');
}

// HeadersInit (Headers, record or [name, value] pairs) -> a record of
// lower-case names, repeats joined with ', ' as Headers does.
function normalizeHeaders(init) {
  const out = Object.create(null);
  if (init == null) return out;
  if (typeof init !== 'object' && typeof init !== 'function') {
    throw new TypeError('Headers: the provided value is not of type \'(record<ByteString, ByteString> or sequence<sequence<ByteString>>)\'.');
  }
  if (isHeaders(init)) {
    for (const [name, value] of init) appendHeader(out, name, value);
  } else if (typeof init[Symbol.iterator] === 'function') {
    for (const pair of init) {
      if (pair == null || typeof pair[Symbol.iterator] !== 'function' || typeof pair === 'string') {
        throw new TypeError('Headers: each header pair must be an iterable [name, value]');
      }
      const items = Array.isArray(pair) ? pair : [...pair];
      if (items.length !== 2) {
        throw new TypeError(`Headers constructor: expected name/value pair to be length 2, found ${items.length}.`);
      }
      appendHeader(out, items[0], items[1]);
    }
  } else {
    for (const name of Object.keys(init)) appendHeader(out, name, init[name]);
  }
  return out;
}

function isRequest(input) {
  return (typeof Request === 'function' && input instanceof Request)
    || (input != null && typeof input === 'object' && typeof input.url === 'string'
      && typeof input.method === 'string' && typeof input.arrayBuffer === 'function'
      && input.headers != null && typeof input.headers.get === 'function');
}

function checkSignal(signal) {
  if (signal != null && (typeof signal.aborted !== 'boolean' || typeof signal.addEventListener !== 'function')) {
    throw new TypeError('Failed to construct \'Request\': member signal is not of type AbortSignal.');
  }
  return signal == null ? null : signal;
}

// (input, init) -> the request pool.fetch sends: { url, method, headers,
// body, bodyType, pending, replayable, signal, redirect, timeout }. Throws
// the TypeErrors that `new Request(input, init)` throws.
function normalize(input, init) {
  if (init != null && typeof init !== 'object') {
    throw new TypeError('Failed to construct \'Request\': cannot convert init to a dictionary.');
  }
  if (init == null && typeof input === 'string') {
    // fetch(url): nothing to check but the URL, and a headers record with a
    // fixed shape (no user-supplied names, so no null prototype is needed).
    return {
      url: parseUrl(input),
      method: 'GET',
      headers: { accept: DEFAULT_ACCEPT, 'accept-encoding': DEFAULT_ACCEPT_ENCODING },
      body: null,
      pending: null,
      replayable: true,
      signal: null,
      redirect: 'follow',
      timeout: undefined,
    };
  }
  const options = init == null ? {} : init;
  const fromRequest = typeof input !== 'string' && isRequest(input) ? input : null;
  const url = parseUrl(fromRequest ? fromRequest.url : input);
  const method = options.method !== undefined ? normalizeMethod(options.method)
    : fromRequest ? fromRequest.method : 'GET';
  const headers = normalizeHeaders(options.headers !== undefined ? options.headers
    : fromRequest ? fromRequest.headers : undefined);
  const signal = checkSignal(options.signal !== undefined ? options.signal
    : fromRequest ? fromRequest.signal : null);
  const redirect = options.redirect !== undefined ? String(options.redirect)
    : fromRequest && typeof fromRequest.redirect === 'string' ? fromRequest.redirect : 'follow';
  if (!REDIRECT_MODES.has(redirect)) {
    throw new TypeError(`Failed to construct 'Request': '${redirect}' is not a valid value for redirect.`);
  }
  let timeout;
  if (options.timeout !== undefined) {
    timeout = options.timeout;
    if (typeof timeout !== 'number' || !(timeout >= 0) || !Number.isFinite(timeout)) {
      throw new TypeError('pool.fetch: init.timeout must be a finite number of ms >= 0');
    }
  }
  const request = {
    url, method, headers, body: null, pending: null, replayable: true, signal, redirect, timeout,
  };
  let source = options.body;
  if (source === undefined && fromRequest && fromRequest.body != null) {
    if (fromRequest.bodyUsed) {
      throw new TypeError('Cannot construct a Request with a Request object that has already been used.');
    }
    source = fromRequest;  // its bytes, read below; its headers already hold the type
  }
  if (source == null) return request;
  if (method === 'GET' || method === 'HEAD') {
    throw new TypeError('Request with GET/HEAD method cannot have body.');
  }
  if (source === fromRequest) {
    request.pending = fromRequest.arrayBuffer().then((buf) => ({ body: new Uint8Array(buf), type: null, replayable: true }));
    return request;
  }
  const extracted = extractBody(source, signal);
  if (extracted.pending) {
    request.pending = extracted.pending;
  } else {
    setBody(request, extracted);
  }
  return request;
}

function setBody(request, { body, type, replayable }) {
  request.body = body;
  request.replayable = replayable;
  if (type !== null && request.headers['content-type'] === undefined) request.headers['content-type'] = type;
}

function fetchFailed(cause) {
  return new TypeError('fetch failed', { cause });
}

// A failure of execute() as fetch reports it: the signal's reason once it
// aborted, else TypeError('fetch failed') caused by the PoolError.
function failure(err, signal) {
  if (signal !== null && signal.aborted) return signal.reason;
  return fetchFailed(err);
}

// The next hop of a 3xx with a Location (Fetch, "HTTP-redirect fetch"), or
// a TypeError('fetch failed') when the standard says network error.
function redirectTarget(request, status, location, hops) {
  let next;
  try {
    next = new URL(location, request.url.href);
  } catch (cause) {
    throw fetchFailed(cause);
  }
  const entry = urlEntry(next);
  if (entry.fragment === null && request.url.fragment !== null) entry.fragment = request.url.fragment;
  if (!entry.http) throw fetchFailed(new TypeError('URL scheme must be a HTTP(S) scheme'));
  if (hops >= MAX_REDIRECTS) throw fetchFailed(new TypeError('redirect count exceeded'));
  if (status !== 303 && request.body !== null && !request.replayable) {
    throw fetchFailed(new TypeError('Cannot follow a redirect with a streamed request body'));
  }
  const { method } = request;
  if (((status === 301 || status === 302) && method === 'POST')
    || (status === 303 && method !== 'GET' && method !== 'HEAD')) {
    request.method = 'GET';
    request.body = null;
    for (const name of REQUEST_BODY_HEADERS) delete request.headers[name];
  }
  if (entry.origin !== request.url.origin) {
    for (const name of CROSS_ORIGIN_HEADERS) delete request.headers[name];
  }
  request.url = entry;
}

// Response headers by Node's rules -> a HeadersInit: the record itself, or
// pairs when set-cookie (an array) must stay separate values.
function headersInit(headers) {
  const cookies = headers['set-cookie'];
  if (cookies === undefined) return headers;
  const pairs = [];
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (name === 'set-cookie') {
      for (const cookie of value) pairs.push([name, cookie]);
    } else {
      pairs.push([name, value]);
    }
  }
  return pairs;
}

// The Response class pool.fetch returns: the global Response with `url` and
// `redirected` answered from the request (the constructor cannot set them).
// Getters on a subclass's prototype, as the platform's own Response has them,
// rather than a defineProperty per response (a runtime call and a map
// migration of every Response). Made on first use: globalThis.Response is
// read only when a response is built.
let FetchResponse = null;

function fetchResponseClass() {
  const Base = globalThis.Response;
  FetchResponse = class Response extends Base {
    #url;
    #redirected;

    constructor(body, init, url, redirected) {
      super(body, init);
      this.#url = url;
      this.#redirected = redirected;
    }

    get url() {
      return this.#url;
    }

    get redirected() {
      return this.#redirected;
    }
  };
  return FetchResponse;
}

// The global Response, built in one step from the whole body.
function makeResponse(res, body, url, redirected) {
  const Class = FetchResponse || fetchResponseClass();
  const status = res.statusCode;
  const inRange = status >= 200 && status <= 599;
  const headers = headersInit(res.headers);
  let response;
  try {
    response = new Class(body, { status: inRange ? status : 200, statusText: res.statusMessage, headers },
      url, redirected);
  } catch {
    // A reason phrase the constructor refuses (it allows fewer bytes than
    // HTTP/1.1 does): keep everything else.
    response = new Class(body, { status: inRange ? status : 200, headers }, url, redirected);
  }
  if (!inRange) {
    Object.defineProperty(response, 'status', { value: status, enumerable: true });
    Object.defineProperty(response, 'ok', { value: false, enumerable: true });
  }
  return response;
}

// createFetch(execute, { maxResponseSize }) -> fetch(input, init).
// `execute(url, init)` is the pool's execute(); maxResponseSize bounds the
// decoded body as the pool bounds the received one.
//
// The common path is a chain of plain promise callbacks, not async functions:
// every await costs the caller turns of the microtask queue, and with many
// requests in flight those turns decide how soon the next request goes out.
function createFetch(execute, { maxResponseSize } = {}) {
  const limit = maxResponseSize;  // undefined: decodeBody's default

  // The Response for `res`, or a promise of it while a large body decodes.
  function respond(request, res, redirected) {
    let body = null;
    if (request.method !== 'HEAD' && !NULL_BODY_STATUSES.has(res.statusCode)) {
      body = res.body;
      const coding = res.headers['content-encoding'];
      if (coding !== undefined) {
        try {
          body = decodeBody(body, coding, limit, request.url.href);
        } catch (err) {
          throw failure(err, request.signal);
        }
        if (typeof body.then === 'function') {
          return body.then((decoded) => finish(request, res, decoded, redirected),
            (err) => { throw failure(err, request.signal); });
        }
      }
    }
    return finish(request, res, body, redirected);
  }

  function finish(request, res, body, redirected) {
    try {
      return makeResponse(res, body, request.url.href, redirected);
    } catch (err) {
      throw fetchFailed(err);
    }
  }

  // One hop: execute(), then the Response, or the next hop of a redirect.
  function send(request, hops) {
    const { signal } = request;
    return execute(request.url.href, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      timeout: request.timeout,
      signal: signal === null ? undefined : signal,
    }).then((res) => {
      if (REDIRECT_STATUSES.has(res.statusCode) && request.redirect !== 'manual') {
        const { location } = res.headers;
        if (location !== undefined) {
          if (request.redirect === 'error') throw fetchFailed(new TypeError('unexpected redirect'));
          redirectTarget(request, res.statusCode, location, hops);
          return send(request, hops + 1);
        }
      }
      return respond(request, res, hops > 0);
    }, (err) => {
      throw failure(err, signal);
    });
  }

  function start(request) {
    const { signal } = request;
    if (signal !== null && signal.aborted) throw signal.reason;
    if (request.headers['accept'] === undefined) request.headers['accept'] = DEFAULT_ACCEPT;
    if (request.headers['accept-encoding'] === undefined) request.headers['accept-encoding'] = DEFAULT_ACCEPT_ENCODING;
    return send(request, 0);
  }

  // A body that must be read first (stream, Blob, FormData, Request).
  async function readThenStart(request) {
    const { signal } = request;
    if (signal !== null && signal.aborted) throw signal.reason;
    try {
      setBody(request, await request.pending);
    } catch (err) {
      throw failure(err, signal);  // a body that errors: undici's 'fetch failed'
    }
    return start(request);
  }

  return function fetch(input, init) {
    let request;
    try {
      request = normalize(input, init);
      if (request.url.local) return globalThis.fetch(input, init);  // data: and blob: need no socket
      if (request.pending !== null) return readThenStart(request);
      return start(request);
    } catch (err) {
      return Promise.reject(err);
    }
  };
}

module.exports = { createFetch, normalizeHeaders, normalizeMethod };
