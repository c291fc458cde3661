'use strict';

// agentkeepalive's Agent + http.request, reading the full body.
const Agent = require('agentkeepalive');
const { httpGet } = require('./http-get');

module.exports = {
  id: 'agentkeepalive',
  name: 'agentkeepalive',
  create({ origin, connections, idleTimeoutMs }) {
    const agent = new Agent({
      maxSockets: connections,
      maxFreeSockets: connections,
      ...(idleTimeoutMs && { freeSocketTimeout: idleTimeoutMs }),
      scheduling: 'lifo',
    });
    const { hostname, port } = new URL(origin);
    return {
      request: (path) => httpGet(agent, hostname, port, path),
      async close() {
        agent.destroy();
      },
    };
  },
};
