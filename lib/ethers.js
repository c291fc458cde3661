'use strict';

// ethers v6 over the pool: a getUrl function for FetchRequest, the hook
// through which every ethers JsonRpcProvider request goes.
//
//   const { FetchRequest, JsonRpcProvider } = require('ethers');
//   FetchRequest.registerGetUrl(createEthersGetUrl(pool));       // every request
//   // or per provider:
//   const req = new FetchRequest(url); req.getUrlFunc = createEthersGetUrl(pool);
//   const provider = new JsonRpcProvider(req);
//
// It does what ethers' own Node getUrl does (lib.commonjs/utils/geturl.js),
// over pool.execute() instead of http.request: the request's method,
// headers and body go out as they are; the answer comes back as
// { statusCode, statusMessage, headers (repeats joined with ', '), body }
// with a gzip body decoded (ethers asks for gzip when allowGzip is set),
// bounded by the pool's maxResponseSize. ethers is not required here: the
// application passes its own FetchRequest the function.

const { decodeBody } = require('./content-decoding');
const { kMaxResponseSize } = require('./symbols');

// ethers' error shape for a cancelled request (its isError(e, 'CANCELLED')
// reads `code`).
function cancelled(message) {
  const err = new Error(message);
  err.code = 'CANCELLED';
  err.shortMessage = message;
  return err;
}

function flatHeaders(headers) {
  const out = {};
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

// createEthersGetUrl(pool) -> getUrl(req, signal) for ethers v6.
// Failures reject with the pool's PoolError (its `code` says what failed);
// a cancelled FetchRequest rejects with ethers' CANCELLED shape and aborts
// the request in the pool.
function createEthersGetUrl(pool) {
  if (pool == null || typeof pool.execute !== 'function') {
    throw new TypeError('createEthersGetUrl(pool): pool must be a ConnectionPoolCore');
  }
  const limit = pool[kMaxResponseSize];
  return async function getUrl(req, signal) {
    if (signal != null && signal.cancelled) throw cancelled('request cancelled before sending');
    let controller;
    let onCancel;
    const cancelledPromise = signal == null ? null : new Promise((resolve, reject) => {
      controller = new AbortController();
      onCancel = () => {
        controller.abort();
        reject(cancelled('request cancelled'));
      };
      signal.addListener(() => onCancel());
    });
    if (cancelledPromise) cancelledPromise.catch(() => {});
    const body = req.body;
    const sent = pool.execute(req.url, {
      method: req.method,
      headers: req.headers,
      body: body == null || body.length === 0 ? undefined : body,
      timeout: typeof req.timeout === 'number' && req.timeout > 0 ? req.timeout : undefined,
      signal: controller ? controller.signal : undefined,
    });
    const res = await (cancelledPromise ? Promise.race([sent, cancelledPromise]) : sent);
    if (cancelledPromise) sent.catch(() => {});
    const headers = flatHeaders(res.headers);
    let data = res.body.length === 0 ? null : res.body;
    const coding = headers['content-encoding'];
    if (data !== null && coding !== undefined) {
      data = decodeBody(data, coding, limit, req.url);
      if (typeof data.then === 'function') data = await data;
    }
    return { statusCode: res.statusCode, statusMessage: res.statusMessage, headers, body: data };
  };
}

module.exports = { createEthersGetUrl };
