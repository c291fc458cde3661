'use strict';

// connection-pool-core: pool.execute(url) resolves with the whole body in a Buffer.
// For an https: origin the pool verifies the server against `ca` (tls: { ca }).
const { ConnectionPoolCore } = require('../..');

module.exports = {
  id: 'pool',
  name: 'connection-pool-core',
  create({ origin, connections, idleTimeoutMs, ca }) {
    const pool = new ConnectionPoolCore({
      maxSockets: connections,
      maxFreeSockets: connections,
      ...(idleTimeoutMs && { freeSocketTimeout: idleTimeoutMs }),
      ...(ca && { tls: { ca } }),
    });
    return {
      async request(path) {
        const res = await pool.execute(origin + path);
        if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
        return res.body.length;
      },
      // Opens idle sockets without a request (the idle-memory scenario's second variant).
      warmup: (path, count) => pool.warmup(origin + path, count),
      close: () => pool.close(),
    };
  },
};
