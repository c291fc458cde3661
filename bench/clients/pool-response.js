'use strict';

// The floor for any fetch built on execute(): execute(), then a global Response built
// from the whole body, read with arrayBuffer(). pool.fetch's CPU per request is
// measured against this row (issue 9: no more than execute() plus the Response's own cost).
// It sends the request pool.fetch sends (fetch adds accept and accept-encoding, as undici's
// fetch does), so the two rows differ only by the fetch layer, not by the bytes on the wire.
const { ConnectionPoolCore } = require('../..');

const FETCH_REQUEST = { headers: { accept: '*/*', 'accept-encoding': 'gzip, deflate, br' } };

module.exports = {
  id: 'pool-response',
  name: 'execute() + new Response()',
  idle: false,  // not in the idle-memory scenario (see bench/run.js idleVariants)
  create({ origin, connections, idleTimeoutMs, ca }) {
    const pool = new ConnectionPoolCore({
      maxSockets: connections,
      maxFreeSockets: connections,
      ...(idleTimeoutMs && { freeSocketTimeout: idleTimeoutMs }),
      ...(ca && { tls: { ca } }),
    });
    return {
      async request(path) {
        const r = await pool.execute(origin + path, FETCH_REQUEST);
        const res = new Response(r.body, { status: r.statusCode, statusText: r.statusMessage, headers: r.headers });
        const data = await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`status ${res.status}`);
        return data.byteLength;
      },
      close: () => pool.close(),
    };
  },
};
