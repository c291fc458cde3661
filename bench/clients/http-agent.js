'use strict';

// Node's http.Agent({ keepAlive: true }) + http.request, reading the full body.
const http = require('node:http');
const { httpGet } = require('./http-get');

module.exports = {
  id: 'http-agent',
  name: 'http.Agent',
  // No socket timeout: an idle keep-alive socket stays until the server closes it.
  create({ origin, connections }) {
    const agent = new http.Agent({
      keepAlive: true,
      maxSockets: connections,
      maxFreeSockets: connections,
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
