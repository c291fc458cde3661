'use strict';

// undici's Pool.request(), reading the full body. For an https: origin the Pool's
// connector verifies the server against `ca` (connect: { ca }).
const { Pool } = require('undici');

module.exports = {
  id: 'undici-pool',
  name: 'undici Pool.request',
  create({ origin, connections, idleTimeoutMs, ca }) {
    const pool = new Pool(origin, {
      connections,
      ...(idleTimeoutMs && { keepAliveTimeout: idleTimeoutMs, keepAliveMaxTimeout: idleTimeoutMs }),
      ...(ca && { connect: { ca } }),
    });
    return {
      async request(path) {
        const { statusCode, body } = await pool.request({ path, method: 'GET' });
        const data = await body.arrayBuffer();
        if (statusCode !== 200) throw new Error(`status ${statusCode}`);
        return data.byteLength;
      },
      close: () => pool.close(),
    };
  },
};
