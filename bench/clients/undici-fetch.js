'use strict';

// undici's fetch() with an Agent dispatcher limited to the same number of connections.
// For an https: origin the Agent's connector verifies the server against `ca`
// (new Agent({ connect: { ca } })).
const { fetch, Agent } = require('undici');

module.exports = {
  id: 'undici-fetch',
  name: 'undici fetch',
  create({ origin, connections, idleTimeoutMs, ca }) {
    const dispatcher = new Agent({
      connections,
      ...(idleTimeoutMs && { keepAliveTimeout: idleTimeoutMs, keepAliveMaxTimeout: idleTimeoutMs }),
      ...(ca && { connect: { ca } }),
    });
    return {
      async request(path) {
        const res = await fetch(origin + path, { dispatcher });
        const data = await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`status ${res.status}`);
        return data.byteLength;
      },
      close: () => dispatcher.close(),
    };
  },
};
