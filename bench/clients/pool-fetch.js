'use strict';

// connection-pool-core's pool.fetch: a global Response per request, body read with
// arrayBuffer() (as a fetch user does). Compare with Node's global fetch (node-fetch)
// and with execute() (pool): the difference to execute() is the Response's own cost.
const { ConnectionPoolCore } = require('../..');

module.exports = {
  id: 'pool-fetch',
  name: 'connection-pool-core pool.fetch',
  idle: false,  // not in the idle-memory scenario (see bench/run.js idleVariants)
  create({ origin, connections, idleTimeoutMs, ca }) {
    const pool = new ConnectionPoolCore({
      maxSockets: connections,
      maxFreeSockets: connections,
      ...(idleTimeoutMs && { freeSocketTimeout: idleTimeoutMs }),
      ...(ca && { tls: { ca } }),
    });
    const { fetch } = pool;
    return {
      async request(path) {
        const res = await fetch(origin + path);
        const data = await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`status ${res.status}`);
        return data.byteLength;
      },
      close: () => pool.close(),
    };
  },
};
