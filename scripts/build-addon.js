#!/usr/bin/env node
'use strict';
// Builds the native addon (build/Release/connection_pool_core.node).
//
//   node scripts/build-addon.js              always rebuild (npm run build)
//   node scripts/build-addon.js --if-needed  npm's "install" hook: keep a prebuilt or an
//                                            existing build that loads, else rebuild
//   node scripts/build-addon.js --llhttp-only  step (a) alone (scripts/prebuild.js, npm pack)
//
// Steps: (a) copy llhttp's C sources and header into deps/llhttp/ (git-ignored; node-gyp's
// make backend needs relative paths in `sources`), (b) run node-gyp rebuild offline with
// --nodedir pointing at this Node's own headers (node provides libuv and OpenSSL).
// The published tarball carries deps/llhttp/ (copied in at pack time), so on a machine
// without the Debian package the fallback build uses that copy as it is.
// See ../../shared/BUILD.md.

const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.resolve(__dirname, '..');
const LLHTTP_SOURCES = ['llhttp.c', 'api.c', 'http.c'];
const LLHTTP_HINT =
  'install Debian package node-llhttp (apt-get install node-llhttp) or set LLHTTP_DIR ' +
  '(a directory holding llhttp.c, api.c, http.c and llhttp.h, directly or in src/ and include/)';

function fail(msg) {
  console.error(`connection-pool-core: ${msg}`);
  process.exit(1);
}

function truthy(v) {
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

// node-gyp-build's own rule: a prebuild for this platform, or build/Release, that loads.
function existingBuildLoads() {
  if (truthy(process.env.npm_config_build_from_source || '')) return false;
  try {
    require('node-gyp-build')(root);
    return true;
  } catch (_) {
    return false;
  }
}

function findFile(dirs, name) {
  for (const d of dirs) {
    const p = path.join(d, name);
    if (fs.existsSync(p)) return p;
  }
  return null;
}

function copyLlhttp() {
  // Same lookup as CMakeLists.txt: sources in DIR or DIR/src; llhttp.h in DIR, DIR/include,
  // DIR/include/llhttp or DIR/../include/llhttp (Debian: /usr/share/llhttp + /usr/share/include/llhttp).
  const d = path.resolve(process.env.LLHTTP_DIR || '/usr/share/llhttp');
  const srcDirs = [d, path.join(d, 'src')];
  const incDirs = [d, path.join(d, 'include'), path.join(d, 'include', 'llhttp'), path.join(d, '..', 'include', 'llhttp')];
  const files = {};
  for (const name of LLHTTP_SOURCES) files[name] = findFile(srcDirs, name);
  files['llhttp.h'] = findFile(incDirs, 'llhttp.h');
  const missing = Object.keys(files).filter((k) => !files[k]);
  if (missing.length && !process.env.LLHTTP_DIR && bundledLlhttp()) {
    // No system package, but the copy a packed tarball carries: build from it.
    console.error('connection-pool-core: using the llhttp sources in deps/llhttp/');
    return;
  }
  if (missing.length) {
    fail(
      `llhttp sources not found (missing ${missing.join(', ')} in ` +
        `${[...new Set([...srcDirs, ...incDirs])].join(', ')}): ${LLHTTP_HINT}`,
    );
  }
  const out = path.join(root, 'deps', 'llhttp');
  fs.mkdirSync(out, { recursive: true });
  for (const [name, from] of Object.entries(files)) {
    const to = path.join(out, name);
    const data = fs.readFileSync(from);
    // Leave an identical copy untouched so make does not recompile it.
    if (!fs.existsSync(to) || !fs.readFileSync(to).equals(data)) fs.writeFileSync(to, data);
  }
}

// deps/llhttp/ holds a complete copy (from an earlier build or the npm tarball).
function bundledLlhttp() {
  const dir = path.join(root, 'deps', 'llhttp');
  return [...LLHTTP_SOURCES, 'llhttp.h'].every((name) => fs.existsSync(path.join(dir, name)));
}

function nodeGypCommand() {
  // npm sets npm_config_node_gyp for lifecycle scripts (its bundled node-gyp).
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js', { paths: [root] }));
  } catch (_) {}
  // npm's bundled copy next to this node: <prefix>/lib/node_modules/npm/node_modules/node-gyp
  const prefix = path.resolve(process.execPath, '..', '..');
  candidates.push(
    path.join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  );
  for (const c of candidates) {
    if (c && fs.existsSync(c)) return [process.execPath, c];
  }
  return ['node-gyp']; // last resort: whatever is on PATH
}

function runNodeGyp() {
  // Node's own headers (include/node: node_api.h, uv.h, openssl/) — never download.
  const nodedir = path.resolve(process.execPath, '..', '..');
  if (!fs.existsSync(path.join(nodedir, 'include', 'node', 'node_api.h'))) {
    fail(`Node headers not found in ${nodedir}/include/node (needed for --nodedir)`);
  }
  const [cmd, ...pre] = nodeGypCommand();
  const args = [...pre, 'rebuild', `--nodedir=${nodedir}`];
  const jobs = process.env.JOBS || 'max';
  args.push(`--jobs=${jobs}`);
  console.error(`connection-pool-core: ${[cmd, ...args].join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.error) fail(`cannot run node-gyp: ${r.error.message}`);
  if (r.status !== 0) process.exit(r.status || 1);
}

if (require.main === module) {
  if (process.argv.includes('--if-needed') && existingBuildLoads()) {
    process.exit(0);
  }
  copyLlhttp();
  if (!process.argv.includes('--llhttp-only')) runNodeGyp();
}

module.exports = { copyLlhttp, nodeGypCommand };
