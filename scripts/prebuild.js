#!/usr/bin/env node
'use strict';
// npm's "prepack" hook: makes what the published tarball carries so that
// `npm install connection-pool-core` needs no compiler and no system package.
//
//   prebuilds/<platform>-<arch>/connection-pool-core.node
//       the addon built here with prebuildify --napi (Node-API 8: one binary for
//       every Node >= 20), stripped; node-gyp-build (lib/binding.js) loads it.
//   deps/llhttp/{llhttp.c,api.c,http.c,llhttp.h}
//       llhttp's sources, copied from the system package, for the fallback build
//       on a platform without a prebuild (scripts/build-addon.js uses them when
//       the system has none). Git-ignored: never committed.
//
// Like scripts/build-addon.js, node-gyp runs offline against this Node's own
// headers (npm_config_nodedir), never downloading any.

const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { copyLlhttp, nodeGypCommand } = require('./build-addon');

const root = path.resolve(__dirname, '..');

function fail(msg) {
  console.error(`connection-pool-core prebuild: ${msg}`);
  process.exit(1);
}

copyLlhttp();

let prebuildify;
try {
  prebuildify = require.resolve('prebuildify/bin.js', { paths: [root] });
} catch {
  fail('prebuildify is not installed (a devDependency: run npm install first)');
}

// Built in a staging copy of the build inputs, so packing never touches the
// working tree's build/ (node-gyp rebuild wipes it; a test run may be using it).
const stage = fs.mkdtempSync(path.join(require('os').tmpdir(), 'cpc-prebuild-'));
for (const item of ['binding.gyp', 'package.json', 'src', 'deps/llhttp', 'scripts/exports.map']) {
  fs.cpSync(path.join(root, item), path.join(stage, item), { recursive: true });
}
fs.symlinkSync(path.join(root, 'node_modules'), path.join(stage, 'node_modules'), 'dir');

const nodedir = path.resolve(process.execPath, '..', '..');
const gyp = nodeGypCommand();
const env = {
  ...process.env,
  npm_config_nodedir: nodedir,
  // prebuildify spawns this without a shell: node-gyp.js is executable.
  PREBUILD_NODE_GYP: gyp[gyp.length - 1],
  JOBS: process.env.JOBS || 'max',
};
const args = [prebuildify, '--napi', '--strip', `--target=${process.versions.node}`, `--out=${root}`];
console.error(`connection-pool-core prebuild: prebuildify ${args.slice(1).join(' ')} (in ${stage})`);
const r = spawnSync(process.execPath, args, { cwd: stage, env, stdio: 'inherit' });
fs.rmSync(stage, { recursive: true, force: true });
if (r.error) fail(`cannot run prebuildify: ${r.error.message}`);
if (r.status !== 0) process.exit(r.status || 1);

const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const built = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.node')) : [];
if (built.length !== 1) fail(`expected one .node file in ${dir}, found ${built.length}`);
const file = path.join(dir, built[0]);

// It must load in a fresh Node and export only the module entry points
// (BUILD.md: the llhttp symbol clash).
const check = spawnSync(process.execPath, ['-e', `
  const b = require(${JSON.stringify(file)});
  if (typeof b.NativePool !== 'function') throw new Error('no NativePool export');
`], { stdio: 'inherit' });
if (check.status !== 0) fail(`${file} does not load`);
const nm = spawnSync('nm', ['-D', '--defined-only', file], { encoding: 'utf8' });
if (nm.status === 0 && /llhttp/.test(nm.stdout)) fail(`${file} exports llhttp symbols`);
console.error(`connection-pool-core prebuild: ${path.relative(root, file)} (${fs.statSync(file).size} bytes)`);
