'use strict';

// Shared by the http.Agent and agentkeepalive adapters: one GET through `agent` with
// `mod` (node:http, or node:https for an https: origin), resolving with the full body's
// length once every chunk has arrived.

function httpGet(mod, agent, host, port, path) {
  return new Promise((resolve, reject) => {
    const req = mod.request({ agent, host, port, path, method: 'GET' }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
        else resolve(chunks.length === 1 ? chunks[0].length : Buffer.concat(chunks).length);
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

module.exports = { httpGet };
