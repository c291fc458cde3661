'use strict';

// Content-Encoding decoding for pool.fetch (execute() never decodes).
// undici's rules: codings are undone last to first; an unknown coding leaves
// the whole body as received; more than five codings is an error. The
// pool's maxResponseSize bounds every decoded step (zlib's maxOutputLength),
// so a small compressed body cannot expand past the limit (a "zip bomb").

const zlib = require('node:zlib');
const { promisify } = require('node:util');
const { createPoolError } = require('./errors');

// API.md's default maxResponseSize, for a pool where neither the option nor
// RESPONSE_SIZE_LIMIT set one.
const DEFAULT_MAX_RESPONSE_SIZE = 10485760;

// Bodies up to this many compressed bytes are decoded on the main thread:
// below it, zlib's thread-pool round trip costs more than the work itself.
const SYNC_LIMIT = 64 * 1024;

// undici caps the list too (the CVE behind urllib3's GHSA-gm62-xv2j-4w53).
const MAX_CODINGS = 5;

// Z_SYNC_FLUSH as the final flush accepts a stream cut short the way
// browsers and curl do (undici uses the same options).
const ZLIB_FLUSH = { flush: zlib.constants.Z_SYNC_FLUSH, finishFlush: zlib.constants.Z_SYNC_FLUSH };
const BROTLI_FLUSH = {
  flush: zlib.constants.BROTLI_OPERATION_FLUSH,
  finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH,
};

const DECODERS = {
  gzip: { sync: zlib.gunzipSync, async: promisify(zlib.gunzip), flush: ZLIB_FLUSH },
  'x-gzip': { sync: zlib.gunzipSync, async: promisify(zlib.gunzip), flush: ZLIB_FLUSH },
  deflate: { sync: zlib.inflateSync, async: promisify(zlib.inflate), flush: ZLIB_FLUSH },
  // "deflate" on the wire is sometimes raw DEFLATE without the zlib header.
  'deflate-raw': { sync: zlib.inflateRawSync, async: promisify(zlib.inflateRaw), flush: ZLIB_FLUSH },
  br: { sync: zlib.brotliDecompressSync, async: promisify(zlib.brotliDecompress), flush: BROTLI_FLUSH },
};

// The decoders to run, in order, or null when the body stays as received.
function plan(contentEncoding) {
  const codings = contentEncoding.toLowerCase().split(',');
  if (codings.length > MAX_CODINGS) {
    throw new Error(`too many content-encodings in response: ${codings.length}, maximum allowed is ${MAX_CODINGS}`);
  }
  const steps = [];
  for (let i = codings.length - 1; i >= 0; i--) {
    const coding = codings[i].trim();
    if (coding === 'identity') continue;
    if (!Object.prototype.hasOwnProperty.call(DECODERS, coding) || coding === 'deflate-raw') return null;
    steps.push(coding);
  }
  return steps.length === 0 ? null : steps;
}

function tooLarge(limit, url) {
  return createPoolError('ERR_POOL_RESPONSE_TOO_LARGE',
    `Response too large: the decoded body exceeded maxResponseSize (${limit} bytes)`, { url });
}

// Decodes `body` (a Buffer) per the Content-Encoding header value. Returns
// the decoded Buffer, or a promise of it for large bodies. `limit` is the
// pool's maxResponseSize (Infinity: no bound; undefined: the default). Throws (or rejects) with
// ERR_POOL_RESPONSE_TOO_LARGE past the limit, or with zlib's error for a
// corrupt body.
function decodeBody(body, contentEncoding, limit, url) {
  const steps = plan(contentEncoding);
  if (steps === null || body.length === 0) return body;
  if (limit === undefined) limit = DEFAULT_MAX_RESPONSE_SIZE;
  const bounded = Number.isFinite(limit);
  const options = (coding) => (bounded
    ? { ...DECODERS[coding].flush, maxOutputLength: Math.max(1, limit) }
    : DECODERS[coding].flush);
  const fail = (err) => {
    if (err && err.code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge(limit, url);
    throw err;
  };
  if (body.length <= SYNC_LIMIT) {
    let out = body;
    try {
      for (const step of steps) {
        const coding = rawDeflate(step, out);
        out = DECODERS[coding].sync(out, options(coding));
      }
    } catch (err) {
      fail(err);
    }
    return out;
  }
  return steps.reduce((prev, step) => prev.then((out) => {
    const coding = rawDeflate(step, out);
    return DECODERS[coding].async(out, options(coding));
  }), Promise.resolve(body)).catch(fail);
}

// A zlib stream starts with a CMF byte whose low nibble is 8 (DEFLATE);
// anything else under "deflate" is raw DEFLATE (undici checks the same).
function rawDeflate(coding, input) {
  return coding === 'deflate' && input.length > 0 && (input[0] & 0x0f) !== 0x08 ? 'deflate-raw' : coding;
}

module.exports = { decodeBody, DEFAULT_MAX_RESPONSE_SIZE };
