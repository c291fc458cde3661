'use strict';

// The clients, in the order the table lists them; the first is the reference for ratios.
const CLIENTS = ['pool', 'http-agent', 'agentkeepalive', 'undici-pool', 'undici-fetch',
  // The drop-in transports (issue 9): pool.fetch vs Node's global fetch (and vs the
  // floor, execute() + new Response()), undici's request API over pool.dispatcher vs
  // undici-pool.
  'pool-fetch', 'pool-response', 'node-fetch', 'pool-dispatcher'];

function loadClient(id) {
  if (!CLIENTS.includes(id)) throw new Error(`unknown client ${id}; known: ${CLIENTS.join(', ')}`);
  return require(`./${id}`);
}

module.exports = { CLIENTS, loadClient };
