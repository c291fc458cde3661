'use strict';

// PoolError: the one error class of connection-pool-core, and the one
// function that builds every instance (createPoolError). The native addon
// receives createPoolError at init and calls it for every failure it reports,
// so the JS side and the C++ side cannot disagree on shape or messages.
//
// The brand lives under a Symbol.for key, not in the prototype chain, so an
// error created by another loaded copy of this package (two versions in one
// node_modules tree, a worker that loaded its own copy) still passes
// `err instanceof PoolError` — the way undici's errors.js does it.

const { getSystemErrorMap } = require('node:util');

const kPoolError = Symbol.for('connection-pool-core.PoolError');

// Every code of API.md's error table with its default message. A message
// given by the caller (the core knows more: the variable name, the timeout)
// replaces the default; the default is what a reader sees when it does not.
const ERROR_CODES = Object.freeze({
  ERR_INVALID_URL: 'Invalid URL: the scheme must be http: or https:',
  ERR_INVALID_ARG_VALUE: 'Invalid argument value',
  ERR_POOL_CONNECT_TIMEOUT: 'Connect timeout: the connection was not established within connectTimeout',
  ERR_POOL_REQUEST_TIMEOUT: 'Request timeout: the request did not complete within its timeout',
  ERR_POOL_RESPONSE_TOO_LARGE: 'Response too large: the body exceeded maxResponseSize',
  ERR_POOL_PARSE: 'Malformed HTTP response',
  ERR_POOL_SOCKET_CLOSED: 'The server closed the connection before the response was complete',
  ERR_POOL_QUEUE_FULL: 'Queue full: maxQueue requests are already waiting for a socket',
  ERR_POOL_TLS: 'TLS handshake or certificate failure',
  ERR_POOL_CLOSED: 'The pool is closing or closed',
  ABORT_ERR: 'The operation was aborted',
  ERR_POOL_UNSUPPORTED: 'The pool does not serve this request',
  ERR_POOL_NO_ENDPOINT: 'No endpoint left to try',
  ERR_POOL_CONFIG: 'Invalid pool configuration',
  // Not a rejection of execute(): the entry of err.errors / getStats().lastError
  // for a BalancedPool endpoint that answered 502, 503 or 504.
  ERR_POOL_HTTP_STATUS: 'The endpoint answered with a 5xx status',
});

// Optional properties a PoolError may carry; anything else in `props` is
// ignored so the shape stays the documented one.
const PROPS = ['origin', 'url', 'reason', 'syscall', 'errno', 'errors'];

// Node's messages for system errors ('ECONNREFUSED' -> 'connection refused'),
// built once on first use from util.getSystemErrorMap().
let systemMessages = null;
function systemMessage(code) {
  if (systemMessages === null) {
    systemMessages = new Map();
    for (const [, [name, message]] of getSystemErrorMap()) systemMessages.set(name, message);
  }
  return systemMessages.get(code);
}

function defaultMessage(code, props) {
  if (Object.prototype.hasOwnProperty.call(ERROR_CODES, code)) {
    const base = ERROR_CODES[code];
    // The parser's or OpenSSL's reason is the most useful part of these two.
    return props && props.reason ? `${base}: ${props.reason}` : base;
  }
  // A system error: word it the way Node does ("connect ECONNREFUSED").
  const parts = [];
  if (props && props.syscall) parts.push(props.syscall);
  parts.push(code);
  const text = systemMessage(code);
  let message = parts.join(' ');
  if (text) message += ` (${text})`;
  if (props && props.origin) message += ` ${props.origin}`;
  return message;
}

class PoolError extends Error {
  // new PoolError(code, message?, props?) — same arguments as createPoolError.
  constructor(code, message, props) {
    const text = typeof message === 'string' && message.length > 0
      ? message
      : defaultMessage(code, props);
    if (props && props.cause !== undefined) super(text, { cause: props.cause });
    else super(text);
    this.name = code === 'ABORT_ERR' ? 'AbortError' : 'PoolError';
    this.code = code;
    if (props) {
      for (const key of PROPS) {
        if (props[key] !== undefined) this[key] = props[key];
      }
    }
  }

  get [kPoolError]() {
    return true;
  }

  // Brand check, so instances from another copy of this module match too.
  // A subclass (none today) falls back to the ordinary prototype check.
  static [Symbol.hasInstance](instance) {
    if (this !== PoolError) return Function.prototype[Symbol.hasInstance].call(this, instance);
    return instance != null && typeof instance === 'object' && instance[kPoolError] === true;
  }
}

// The one place every PoolError is built (the native addon calls exactly
// this). `message` falls back to the code's default; `props` may carry
// origin, url, reason, syscall, errno, cause and errors.
function createPoolError(code, message, props) {
  return new PoolError(String(code), message, props);
}

module.exports = { PoolError, ERROR_CODES, createPoolError };
