'use strict';

// Request bodies for pool.fetch: every BodyInit the Fetch standard accepts,
// turned into what execute() sends (a string or bytes), plus the
// Content-Type the standard implies. Streams and async iterables are read
// fully first: execute() sends one whole body.

const { Blob } = require('node:buffer');

// What extractBody() returns: `body` for execute(), `type` the implied
// Content-Type (null: none), `replayable` false for a stream source, whose
// bytes the Fetch standard does not resend on a 307/308 redirect.
function extracted(body, type, replayable = true) {
  return { body, type, replayable };
}

function isAsyncIterable(value) {
  return value != null && typeof value[Symbol.asyncIterator] === 'function';
}

function isBlob(value) {
  return value instanceof Blob || (value != null && typeof value === 'object'
    && typeof value.arrayBuffer === 'function' && typeof value.stream === 'function'
    && typeof value.type === 'string' && typeof value.size === 'number');
}

function chunkBytes(chunk) {
  if (chunk instanceof Uint8Array) return chunk;
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
  throw new TypeError('Received non-Uint8Array chunk');
}

// Reads an async iterable (a ReadableStream is one in Node 20) to its end.
// An abort stops the read at once with the signal's reason, so a body that
// never ends cannot hang the call.
async function readAll(source, signal) {
  // A ReadableStream is read through its reader: cancel() ends a pending
  // read at once, where the async iterator's return() would wait behind it.
  const iterator = typeof source.getReader === 'function'
    ? readerIterator(source.getReader())
    : source[Symbol.asyncIterator]();
  const chunks = [];
  let total = 0;
  let onAbort;
  const aborted = signal == null ? null : new Promise((resolve, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  if (aborted) aborted.catch(() => {});
  try {
    for (;;) {
      if (signal != null && signal.aborted) throw signal.reason;
      const step = await (aborted ? Promise.race([iterator.next(), aborted]) : iterator.next());
      if (step.done) break;
      const bytes = chunkBytes(step.value);
      chunks.push(bytes);
      total += bytes.byteLength;
    }
  } catch (err) {
    if (typeof iterator.return === 'function') {
      try {
        Promise.resolve(iterator.return(err)).catch(() => {});
      } catch {
        // The source is broken already; its error is the one to report.
      }
    }
    throw err;
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
  return Buffer.concat(chunks, total);
}

// BodyInit -> { body, type, replayable }. Synchronous kinds resolve without
// a turn of the loop; the caller awaits only when `pending` is set.
function extractBody(init, signal) {
  if (typeof init === 'string') return extracted(init, 'text/plain;charset=UTF-8');
  if (init instanceof Uint8Array) return extracted(init, null);
  if (ArrayBuffer.isView(init)) {
    return extracted(new Uint8Array(init.buffer, init.byteOffset, init.byteLength), null);
  }
  if (init instanceof ArrayBuffer || Object.prototype.toString.call(init) === '[object SharedArrayBuffer]') {
    return extracted(new Uint8Array(init), null);
  }
  if (init instanceof URLSearchParams) {
    return extracted(init.toString(), 'application/x-www-form-urlencoded;charset=UTF-8');
  }
  if (typeof FormData === 'function' && init instanceof FormData) {
    // The multipart encoding (boundary included) is exactly the platform's.
    const encoded = new Response(init);
    return {
      pending: encoded.arrayBuffer().then((buf) => extracted(new Uint8Array(buf),
        encoded.headers.get('content-type'))),
    };
  }
  if (isBlob(init)) {
    return {
      pending: init.arrayBuffer().then((buf) => extracted(new Uint8Array(buf), init.type || null)),
    };
  }
  if (isAsyncIterable(init)) {
    if (init.locked === true) throw new TypeError('Response body object should not be disturbed or locked');
    return { pending: readAll(init, signal).then((buf) => extracted(buf, null, false)) };
  }
  if (init != null && typeof init === 'object' && typeof init.getReader === 'function') {
    // A ReadableStream without the async iterator (another implementation).
    if (init.locked === true) throw new TypeError('Response body object should not be disturbed or locked');
    return { pending: readAll(init, signal).then((buf) => extracted(buf, null, false)) };
  }
  // Everything else is converted to a string, as WebIDL's BodyInit union does.
  return extracted(String(init), 'text/plain;charset=UTF-8');
}

function readerIterator(reader) {
  return {
    next: () => reader.read(),
    return: (reason) => reader.cancel(reason).then(() => ({ done: true })),
  };
}

module.exports = { extractBody, readAll };
