'use strict';

// Real JSON-RPC clients over the pool, against a real node (ganache) on
// 127.0.0.1: viem with `fetchFn: pool.fetch` (single calls and batch: true),
// ethers v6 through createEthersGetUrl, undici.request through
// setGlobalDispatcher(pool.dispatcher), and Node's global fetch through the
// same (in its own process). Each sends a transaction, and the node is asked
// whether it arrived exactly once: the sender's nonce and the chain height
// each grew by one, and the new block holds that one transaction.

const path = require('node:path');
const { execFile } = require('node:child_process');
const ganache = require('ganache');
const undici = require('undici');
const { createPublicClient, createWalletClient, http } = require('viem');
const { localhost } = require('viem/chains');
const ethers = require('ethers');
const { createResources } = require('./helpers/resources');
const { createEthersGetUrl } = require('..');

const res = createResources();
afterEach(async () => {
  expect(await res.cleanup()).toEqual([]);
});

let node;       // the ganache server
let url;        // its JSON-RPC endpoint
let accounts;   // unlocked accounts of its deterministic wallet

beforeAll(async () => {
  node = ganache.server({
    logging: { quiet: true },
    wallet: { deterministic: true, totalAccounts: 10 },
    chain: { chainId: 1337 },
  });
  await node.listen(0, '127.0.0.1');
  url = `http://127.0.0.1:${node.address().port}`;
  accounts = await rpc('eth_accounts');
}, 30000);

afterAll(async () => {
  await node.close();
});

// Asks the node directly (in process, not over HTTP).
function rpc(method, ...params) {
  return node.provider.request({ method, params });
}

async function snapshot(from) {
  return {
    nonce: Number(await rpc('eth_getTransactionCount', from, 'latest')),
    height: Number(await rpc('eth_blockNumber')),
  };
}

async function expectSentOnce(from, before, hash) {
  const after = await snapshot(from);
  expect(after.nonce).toBe(before.nonce + 1);
  expect(after.height).toBe(before.height + 1);
  const block = await rpc('eth_getBlockByNumber', `0x${after.height.toString(16)}`, false);
  expect(block.transactions).toEqual([hash]);
  const receipt = await rpc('eth_getTransactionReceipt', hash);
  expect(receipt.from.toLowerCase()).toBe(from.toLowerCase());
  expect(Number(receipt.status)).toBe(1);
}

describe('viem', () => {
  test('reads the chain with fetchFn: pool.fetch, one request per call', async () => {
    const pool = res.pool();
    const client = createPublicClient({ chain: localhost, transport: http(url, { fetchFn: pool.fetch }) });
    expect(await client.getChainId()).toBe(1337);
    expect(typeof (await client.getBlockNumber())).toBe('bigint');
    expect(await client.getBalance({ address: accounts[0] })).toBeGreaterThan(0n);
    const m = pool.getMetrics();
    expect(m.completedRequests).toBe(3);
    expect(m.totalConnections).toBe(1);
  });

  test('sends one HTTP request for a batch of calls with batch: true', async () => {
    const pool = res.pool();
    const client = createPublicClient({ chain: localhost, transport: http(url, { fetchFn: pool.fetch, batch: true }) });
    const [chainId, height, balance] = await Promise.all([
      client.getChainId(),
      client.getBlockNumber(),
      client.getBalance({ address: accounts[0] }),
    ]);
    expect(chainId).toBe(1337);
    expect(typeof height).toBe('bigint');
    expect(balance).toBeGreaterThan(0n);
    expect(pool.getMetrics().completedRequests).toBe(1);
  });

  test('sends a transaction exactly once', async () => {
    const pool = res.pool();
    const from = accounts[1];
    const before = await snapshot(from);
    const wallet = createWalletClient({ account: from, chain: localhost, transport: http(url, { fetchFn: pool.fetch }) });
    const hash = await wallet.sendTransaction({ to: accounts[9], value: 1000n });
    await expectSentOnce(from, before, hash);
    expect(pool.getMetrics().failedRequests).toBe(0);
  });
});

describe('ethers v6', () => {
  let provider;
  afterEach(() => {
    if (provider) provider.destroy();
    provider = undefined;
    ethers.FetchRequest.registerGetUrl(ethers.FetchRequest.createGetUrlFunc());
  });

  test('serves a JsonRpcProvider through FetchRequest.registerGetUrl', async () => {
    const pool = res.pool();
    ethers.FetchRequest.registerGetUrl(createEthersGetUrl(pool));
    provider = new ethers.JsonRpcProvider(url, undefined, { staticNetwork: true });
    expect(Number((await provider.getNetwork()).chainId)).toBe(1337);
    expect(await provider.getBalance(accounts[0])).toBeGreaterThan(0n);
    expect(pool.getMetrics().completedRequests).toBeGreaterThanOrEqual(1);
  });

  test('sends a transaction exactly once', async () => {
    const pool = res.pool();
    ethers.FetchRequest.registerGetUrl(createEthersGetUrl(pool));
    provider = new ethers.JsonRpcProvider(url, undefined, { staticNetwork: true });
    const from = accounts[2];
    const before = await snapshot(from);
    const signer = await provider.getSigner(from);
    const tx = await signer.sendTransaction({ to: accounts[9], value: 1000n });
    await expectSentOnce(from, before, tx.hash);
    const sent = pool.getMetrics();
    expect(sent.completedRequests).toBeGreaterThanOrEqual(1);
    expect(sent.failedRequests).toBe(0);
  });

  test('serves one provider through getUrlFunc, and decodes gzip', async () => {
    const pool = res.pool();
    const req = new ethers.FetchRequest(url);
    req.getUrlFunc = createEthersGetUrl(pool);
    provider = new ethers.JsonRpcProvider(req, undefined, { staticNetwork: true });
    expect(await provider.getBlockNumber()).toBeGreaterThanOrEqual(0);
    expect(pool.getMetrics().completedRequests).toBeGreaterThanOrEqual(1);

    const zlib = require('node:zlib');
    const getUrl = createEthersGetUrl(pool);
    const { startHttpServer } = require('./helpers/http-server');
    const srv = res.server(await startHttpServer({
      routes: {
        '/gz': (q, r) => {
          r.writeHead(200, { 'content-encoding': 'gzip', 'content-type': 'application/json' });
          r.end(zlib.gzipSync('{"jsonrpc":"2.0","id":1,"result":"0x1"}'));
        },
      },
    }));
    const gz = new ethers.FetchRequest(srv.url('/gz'));
    gz.allowGzip = true;
    gz.getUrlFunc = getUrl;
    const answer = await gz.send();
    expect(answer.bodyJson).toEqual({ jsonrpc: '2.0', id: 1, result: '0x1' });
  });

  test('rejects with the PoolError when the node is unreachable', async () => {
    const pool = res.pool();
    const getUrl = createEthersGetUrl(pool);
    const err = await getUrl(new ethers.FetchRequest('http://127.0.0.1:9/')).catch((e) => e);
    expect(err.code).toBe('ECONNREFUSED');
  });
});

describe('undici.request through setGlobalDispatcher(pool.dispatcher)', () => {
  let previous;
  beforeEach(() => {
    previous = undici.getGlobalDispatcher();
  });
  afterEach(() => {
    undici.setGlobalDispatcher(previous);
  });

  test('sends a transaction exactly once', async () => {
    const pool = res.pool();
    undici.setGlobalDispatcher(pool.dispatcher);
    const from = accounts[3];
    const before = await snapshot(from);
    const r = await undici.request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        jsonrpc: '2.0', id: 1, method: 'eth_sendTransaction', params: [{ from, to: accounts[9], value: '0x3e8' }],
      }),
    });
    const { result: hash } = await r.body.json();
    await expectSentOnce(from, before, hash);
    expect(pool.getMetrics().completedRequests).toBe(1);
  });
});

describe('Node\'s global fetch through setGlobalDispatcher(pool.dispatcher)', () => {
  // In its own process: Jest's sandbox has its own globalThis, which Node's
  // built-in fetch does not read.
  test('sends a transaction exactly once', async () => {
    const from = accounts[4];
    const before = await snapshot(from);
    const script = path.join(__dirname, 'fixtures', 'global-fetch-rpc.js');
    const stdout = await new Promise((resolve, reject) => {
      execFile(process.execPath, [script, url, from, accounts[9]], { timeout: 20000 },
        (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out)));
    });
    const out = JSON.parse(stdout);
    expect(out.metrics).toEqual({ total: 1, completed: 1, failed: 0 });
    await expectSentOnce(from, before, out.hash);
  });
});
