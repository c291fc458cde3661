'use strict';

// undici's request API over connection-pool-core's pool.dispatcher: the same call and
// body handling as undici-pool (Dispatcher.request, body.arrayBuffer()), only the
// transport differs, so the ratio between the two rows is the transport's.
// (undici.request(url, { dispatcher }) adds the same URL parse to either.)
require('undici');  // attaches the request API to undici's Dispatcher, which pool.dispatcher extends
const { ConnectionPoolCore } = require('../..');

module.exports = {
  id: 'pool-dispatcher',
  name: 'undici request → pool.dispatcher',
  idle: false,  // not in the idle-memory scenario (see bench/run.js idleVariants)
  create({ origin, connections, idleTimeoutMs, ca }) {
    const pool = new ConnectionPoolCore({
      maxSockets: connections,
      maxFreeSockets: connections,
      ...(idleTimeoutMs && { freeSocketTimeout: idleTimeoutMs }),
      ...(ca && { tls: { ca } }),
    });
    const { dispatcher } = pool;
    if (typeof dispatcher.request !== 'function') throw new Error('pool.dispatcher is not an undici Dispatcher here');
    return {
      async request(path) {
        const { statusCode, body } = await dispatcher.request({ origin, path, method: 'GET' });
        const data = await body.arrayBuffer();
        if (statusCode !== 200) throw new Error(`status ${statusCode}`);
        return data.byteLength;
      },
      close: () => pool.close(),
    };
  },
};
