'use strict';

// agentkeepalive's Agent + http.request, reading the full body; for an https: origin,
// its HttpsAgent (same options, plus the CA to verify the server with) + https.request.
const http = require('node:http');
const https = require('node:https');
const Agent = require('agentkeepalive');
const { httpGet } = require('./http-get');

module.exports = {
  id: 'agentkeepalive',
  name: 'agentkeepalive',
  create({ origin, connections, idleTimeoutMs, ca }) {
    const { protocol, hostname, port } = new URL(origin);
    const secure = protocol === 'https:';
    const AgentClass = secure ? Agent.HttpsAgent : Agent;
    const agent = new AgentClass({
      maxSockets: connections,
      maxFreeSockets: connections,
      ...(idleTimeoutMs && { freeSocketTimeout: idleTimeoutMs }),
      scheduling: 'lifo',
      ...(secure && { ca }),
    });
    return {
      request: (path) => httpGet(secure ? https : http, agent, hostname, port, path),
      async close() {
        agent.destroy();
      },
    };
  },
};
