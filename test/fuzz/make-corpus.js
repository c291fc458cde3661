#!/usr/bin/env node
'use strict';
// Writes the seed corpora in test/fuzz/corpus/<target>/ from the raw responses in
// test/fuzz/seeds/ (node-*.http and nginx-*.http were captured from Node's http server
// and nginx 1.22 on loopback; crafted-*.http are hostile shapes from test/helpers/raw-server.js).
// Each target reads a few control bytes before the payload (layouts in the targets' headers).
//
//   node test/fuzz/make-corpus.js      rewrites the seed-* files; other files (regressions
//                                      named regress-*) are left alone
//
// Seeds are named seed-<what>; regressions found by fuzzing are committed next to them as
// regress-<what> (the input libFuzzer saved, renamed), so every run replays them first.

const fs = require('node:fs');
const path = require('node:path');

const here = __dirname;
const seeds = path.join(here, 'seeds');
const corpus = path.join(here, 'corpus');

function u16(n) {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(Math.min(n, 0xffff));
  return b;
}

function writeSeeds(target, files) {
  const dir = path.join(corpus, target);
  fs.mkdirSync(dir, { recursive: true });
  for (const name of fs.readdirSync(dir)) {
    if (name.startsWith('seed-')) fs.unlinkSync(path.join(dir, name));
  }
  for (const [name, bytes] of files) fs.writeFileSync(path.join(dir, `seed-${name}`), bytes);
  console.log(`${target}: ${files.length} seeds`);
}

const responses = fs.readdirSync(seeds)
  .filter((f) => f.endsWith('.http'))
  .sort()
  .map((f) => [f.replace(/\.http$/, ''), fs.readFileSync(path.join(seeds, f))]);

// --- response_fuzz: u8 flags, u8 n, n x u16 chunk lengths, bytes --------------------
{
  const files = [];
  for (const [name, raw] of responses) {
    const head = name.endsWith('-head') ? 1 : 0;
    const eof = /close|http10|truncated/.test(name) ? 16 : 0;
    files.push([name, Buffer.concat([Buffer.from([head | eof, 0]), raw])]);
    // The same bytes split three ways: 1 byte, the status line, the rest in 7s.
    const line = raw.indexOf('\r\n') + 2;
    files.push([`${name}-split`, Buffer.concat([Buffer.from([head | eof, 3]), u16(1), u16(line - 1), u16(7), raw])]);
  }
  // Limits: a 16-byte body limit, a 64-byte header limit.
  const json = responses.find(([n]) => n === 'node-json')[1];
  files.push(['body-limit-16', Buffer.concat([Buffer.from([4, 0]), json])]);
  files.push(['header-limit-64', Buffer.concat([Buffer.from([8, 0]), json])]);
  writeSeeds('response_fuzz', files);
}

// --- connection_fuzz: config, count, 3 request flags, scripts -------------------------
{
  const script = (mode, chunks, bytes) =>
    Buffer.concat([Buffer.from([mode, chunks.length]), ...chunks.map(u16), u16(bytes.length), bytes]);
  const input = (config, count, flags, scripts) =>
    Buffer.concat([Buffer.from([config, count, ...flags, scripts.length - 1]), ...scripts]);
  const get = (n) => responses.find(([name]) => name === n)[1];
  const files = [];
  const keepAlive = ['node-json', 'node-chunked', 'node-cookies', 'node-204', 'node-304', 'node-500',
    'node-trailers', 'node-continue', 'node-hints', 'nginx-index', 'nginx-404', 'nginx-301', 'nginx-range'];
  for (const name of keepAlive) {
    const r = get(name);
    // Three GETs answered alike on one keep-alive socket.
    files.push([`${name}-x3`, input(0, 1, [0, 0, 0], [script(0, [], r), script(0, [], r), script(0, [], r)])]);
  }
  for (const [name, raw] of responses.filter(([n]) => n.startsWith('crafted-'))) {
    // A good answer, then the hostile one on the reused socket, then a good one.
    const ok = get('node-json');
    files.push([name.replace(/^crafted-/, ''), input(0, 1, [0, 0, 0],
      [script(0, [], ok), script(0, [3, 5], raw), script(0, [], ok)])]);
  }
  const ok = get('node-json');
  const line = ok.indexOf('\r\n') + 2;
  files.push(['split-byte-by-byte', input(0, 0, [0, 0, 0], [script(0, [1, 1, 1, 1, 1, 1, 1], ok), script(0, [line, 2, 2], ok)])]);
  files.push(['fin-after-answer', input(0, 1, [0, 0, 0], [script(1, [], ok), script(1, [], ok), script(0, [], ok)])]);
  files.push(['rst-after-answer', input(0, 1, [0, 0, 0], [script(2, [], ok), script(0, [], ok), script(0, [], ok)])]);
  // The idle-socket race: the reused socket is closed unanswered; the GET is retried.
  files.push(['idle-race-retry', input(0, 0, [0, 0, 0], [script(0, [], ok), script(3, [], ok), script(0, [], ok)])]);
  files.push(['idle-poke', input(0, 1, [0, 0, 0], [script(4, [], ok), script(0, [], ok), script(0, [], ok)])]);
  files.push(['mid-headers-fin', input(0, 0, [0, 0, 0], [script(1, [], ok.subarray(0, line + 10)), script(0, [], ok)])]);
  files.push(['mid-body-rst', input(0, 0, [0, 0, 0], [script(2, [], ok.subarray(0, ok.length - 4)), script(0, [], ok)])]);
  files.push(['head-post-delete', input(0, 1, [1, 2, 3], [script(0, [], get('node-head')), script(0, [], ok), script(0, [], ok)])]);
  files.push(['close-delimited', input(0, 0, [0, 0, 0], [script(1, [4], get('nginx-http10')), script(0, [], ok)])]);
  files.push(['abort-now-and-later', input(0, 1, [4, 8, 0], [script(0, [], ok), script(0, [], ok), script(0, [], ok)])]);
  files.push(['queued-one-socket', input(0x80, 1, [0, 0, 0], [script(0, [], ok), script(0, [], ok), script(0, [], ok)])]);
  files.push(['graceful-close-events-fifo', input(0x70, 1, [0, 0, 0], [script(0, [], ok), script(0, [], ok), script(0, [], ok)])]);
  files.push(['no-keepalive-limits', input(0x0f, 1, [0, 0, 0], [script(0, [], ok), script(0, [], ok), script(0, [], ok)])]);
  files.push(['stall-timeout', input(0, 0, [0, 0, 0], [script(0, [], ok.subarray(0, 20)), script(0, [], ok)])]);
  writeSeeds('connection_fuzz', files);
}

// --- config_fuzz: u8 mode, NUL-separated env values, FE FE, option records ------------
{
  // Values for KEEP_ALIVE_ENABLED, KEEP_ALIVE_MSECS, MAX_SOCKETS, MAX_FREE_SOCKETS,
  // CONNECTION_TIMEOUT, SOCKET_SCHEDULING, TCP_NO_DELAY, RESPONSE_SIZE_LIMIT,
  // CLEANUP_PERIOD_MS, UNRELATED_VAR; "\xff" = unset.
  const UNSET = '\xff';
  const env = (values) => Buffer.from(values.join('\0'), 'latin1');
  const option = (index, kind, v, number) => {
    const b = Buffer.alloc(11);
    b[0] = index;
    b[1] = kind;
    b[2] = v;
    b.writeDoubleLE(number, 3);
    return b;
  };
  const files = [
    ['defaults-all-set', env(['true', '1000', '50', '256', '10000', 'lifo', 'true', '10485760', '1000', 'x'])],
    ['cased-and-infinity', env(['YES', '0', 'Infinity', 'infinity', '0', 'FIFO', 'No', 'Infinity', '1', ''])],
    ['bad-socket-count', env([UNSET, UNSET, 'abc'])],
    ['bad-scheduling', env([UNSET, UNSET, UNSET, UNSET, UNSET, 'random'])],
    ['zero-sockets', env([UNSET, UNSET, '0'])],
    ['above-safe-integer', env([UNSET, UNSET, '9007199254740993'])],
    ['max-safe-integer', env([UNSET, '9007199254740991'])],
    ['signs-and-spaces', env([' true', '+5', '-1', '1e3', '0x10', ' lifo', 'on', '1.5', '07'])],
  ].map(([n, b]) => [n, Buffer.concat([Buffer.from([0]), b])]);
  files.push(['options', Buffer.concat([Buffer.from([1]), env(['true']), Buffer.from([0xfe, 0xfe]),
    option(2, 1, 0, 10), option(2, 0x81, 0, Infinity), option(0, 0, 1, 0), option(8, 2, 2, 0),
    option(1, 1, 0, -1), option(6, 1, 0, 0.5), option(10, 1, 0, 9007199254740992), option(16, 1, 0, 3),
    option(15, 1, 0, NaN), option(4, 1, 0, 9007199254740991)])]);
  writeSeeds('config_fuzz', files);
}
