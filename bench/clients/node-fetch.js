'use strict';

// Node's own global fetch (the undici bundled in Node) with its default global
// dispatcher, as a service that calls fetch() gets it: no connection limit, so it opens
// as many sockets as requests in flight. This process loads nothing else that could
// replace the global dispatcher. Its trust is fixed at process start (root store plus
// NODE_EXTRA_CA_CERTS) and a call cannot pass a CA, so it sits out the https scenario
// (tls: false; bench/run.js runsIn).
module.exports = {
  id: 'node-fetch',
  name: 'Node global fetch',
  idle: false,  // not in the idle-memory scenario (see bench/run.js idleVariants)
  tls: false,
  create({ origin, ca }) {
    if (ca) throw new Error('Node global fetch: no per-call CA for the https scenario');
    return {
      async request(path) {
        const res = await fetch(origin + path);
        const data = await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`status ${res.status}`);
        return data.byteLength;
      },
      close: async () => {},
    };
  },
};
