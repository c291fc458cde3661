'use strict';

// Node's http.Agent({ keepAlive: true }) + http.request, reading the full body; for an
// https: origin, https.Agent (same options, plus the CA to verify the server with) +
// https.request.
const http = require('node:http');
const https = require('node:https');
const { httpGet } = require('./http-get');

module.exports = {
  id: 'http-agent',
  name: 'http.Agent',
  // No socket timeout: an idle keep-alive socket stays until the server closes it.
  create({ origin, connections, ca }) {
    const { protocol, hostname, port } = new URL(origin);
    const secure = protocol === 'https:';
    const mod = secure ? https : http;
    const agent = new mod.Agent({
      keepAlive: true,
      maxSockets: connections,
      maxFreeSockets: connections,
      scheduling: 'lifo',
      ...(secure && { ca }),
    });
    return {
      request: (path) => httpGet(mod, agent, hostname, port, path),
      async close() {
        agent.destroy();
      },
    };
  },
};
