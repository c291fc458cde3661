'use strict';

// undici's Pool.request(), reading the full body.
const { Pool } = require('undici');

module.exports = {
  id: 'undici-pool',
  name: 'undici Pool.request',
  create({ origin, connections, idleTimeoutMs }) {
    const pool = new Pool(origin, {
      connections,
      ...(idleTimeoutMs && { keepAliveTimeout: idleTimeoutMs, keepAliveMaxTimeout: idleTimeoutMs }),
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
