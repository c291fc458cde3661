'use strict';

// The clients, in the order the table lists them; the first is the reference for ratios.
const CLIENTS = ['pool', 'http-agent', 'agentkeepalive', 'undici-pool', 'undici-fetch'];

function loadClient(id) {
  if (!CLIENTS.includes(id)) throw new Error(`unknown client ${id}; known: ${CLIENTS.join(', ')}`);
  return require(`./${id}`);
}

module.exports = { CLIENTS, loadClient };
