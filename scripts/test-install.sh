#!/usr/bin/env bash
# Installing without a compiler (API.md "Installing"), run by .ci/run after npm test:
#
#  1. `npm pack` (its prepack hook, scripts/prebuild.js, builds the Node-API prebuild and copies
#     llhttp's sources into deps/llhttp/); prints the tarball's size and contents.
#  2. A fresh project in a temp dir gets `npm install <tarball> viem` with a PATH that holds only
#     links to node, npm and sh: no compiler, no make, no python, no node-gyp. npm 11 runs no
#     dependency install script there unless approved, so the addon must come from the prebuild.
#  3. From that install: a request through execute(), pool.fetch and Node's global fetch over
#     pool.dispatcher (no undici installed), and viem with fetchFn: pool.fetch (single and
#     batch) against a ganache node from this repo's devDependencies.
#  4. The fallback: `npm rebuild connection-pool-core` (build from source) in that project builds
#     with the package's own deps/llhttp/ when the system has no llhttp and node_modules/.bin
#     has no node-gyp. The system llhttp is hidden in a private mount namespace, or, when
#     unshare -m is not permitted, from node by a preload; never skipped: the script fails when
#     the llhttp cannot be hidden or the build did not take the fallback.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
START=$SECONDS

TMP=$(mktemp -d /tmp/cpc-install-XXXXXX)
HAD_PREBUILDS=0
[[ -d prebuilds ]] && HAD_PREBUILDS=1
cleanup() {
  rm -rf "$TMP"
  # A prebuild left in the working tree would be loaded by a later `npm install` here
  # instead of building the current sources: remove what this script made.
  if [[ $HAD_PREBUILDS == 0 ]]; then rm -rf "$ROOT/prebuilds"; fi
}
trap cleanup EXIT

step() { echo; echo "== $* ($((SECONDS - START)) s)"; }

step "npm pack"
npm pack --pack-destination "$TMP" --loglevel=warn 2>&1 | grep -v 'Unknown user config' || true
TARBALL=$(ls "$TMP"/connection-pool-core-*.tgz)
echo "tarball: $(basename "$TARBALL"), $(stat -c %s "$TARBALL") bytes"
tar tzvf "$TARBALL" | awk '{ printf "  %9s  %s\n", $3, $6 }' | sort -k2
CONTENTS=$(tar tzf "$TARBALL")
grep -q '^package/prebuilds/linux-x64/.*\.node$' <<<"$CONTENTS" || { echo "no linux-x64 prebuild in the tarball"; exit 1; }
for f in llhttp.c api.c http.c llhttp.h; do
  grep -qx "package/deps/llhttp/$f" <<<"$CONTENTS" || { echo "deps/llhttp/$f missing from the tarball"; exit 1; }
done

step "npm install <tarball> viem, PATH = node, npm, sh only"
mkdir -p "$TMP/bin" "$TMP/project"
ln -s "$(command -v node)" "$TMP/bin/node"
ln -s "$(command -v npm)" "$TMP/bin/npm"
ln -s "$(command -v sh)" "$TMP/bin/sh"
VIEM=$(node -p "require('./node_modules/viem/package.json').version")
(
  cd "$TMP/project"
  export PATH="$TMP/bin"
  for tool in cc gcc g++ c++ clang make python3 node-gyp; do
    if command -v "$tool" >/dev/null 2>&1; then echo "a $tool is reachable: $(command -v "$tool")"; exit 1; fi
  done
  echo "PATH=$PATH:" "$TMP"/bin/*
  npm init -y >/dev/null
  npm install --no-audit --no-fund "$TARBALL" "viem@$VIEM" 2>&1
  test ! -e node_modules/connection-pool-core/build || { echo "something was built at install"; exit 1; }
  test ! -e node_modules/.bin/node-gyp || { echo "node-gyp is in node_modules/.bin"; exit 1; }
) | grep -v 'Unknown user config'  # grep runs outside the restricted PATH

step "a request, pool.fetch, global fetch over pool.dispatcher and viem from that install"
cat > "$TMP/project/check.js" <<'EOF'
'use strict';
const assert = require('node:assert');
const http = require('node:http');
const path = require('node:path');
const { ConnectionPoolCore } = require('connection-pool-core');
const { createPublicClient, http: viemHttp } = require('viem');
const ganache = require(path.join(process.env.CPC_ROOT, 'node_modules', 'ganache'));

async function main() {
  const addon = require('node-gyp-build').path(path.dirname(require.resolve('connection-pool-core/package.json')));
  assert.match(addon, /prebuilds\/linux-x64\//);
  console.log(`addon: ${path.relative(process.cwd(), addon)}`);
  assert.throws(() => require.resolve('undici'), /Cannot find module/);

  const server = http.createServer((req, res) => res.end('hello from the server'));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${server.address().port}`;
  const pool = new ConnectionPoolCore();
  const res = await pool.execute(`${origin}/x`);
  assert.strictEqual(res.body.toString(), 'hello from the server');
  console.log(`execute: ${res.statusCode} ${res.body}`);
  const viaFetch = await pool.fetch(`${origin}/y`);
  console.log(`pool.fetch: ${viaFetch.status} ${await viaFetch.text()}`);
  // What undici's setGlobalDispatcher does, without undici installed.
  // (Node's own undici has defined the property already: writable, not configurable.)
  globalThis[Symbol.for('undici.globalDispatcher.1')] = pool.dispatcher;
  const viaGlobal = await fetch(`${origin}/z`);
  console.log(`global fetch over pool.dispatcher: ${viaGlobal.status} ${await viaGlobal.text()}`);

  const node = ganache.server({ logging: { quiet: true }, wallet: { deterministic: true }, chain: { chainId: 1337 } });
  await node.listen(0, '127.0.0.1');
  const rpc = `http://127.0.0.1:${node.address().port}`;
  const before = pool.getMetrics().completedRequests;
  const single = createPublicClient({ transport: viemHttp(rpc, { fetchFn: pool.fetch }) });
  const chainId = await single.getChainId();
  const batch = createPublicClient({ transport: viemHttp(rpc, { fetchFn: pool.fetch, batch: true }) });
  const [height, balance] = await Promise.all([
    batch.getBlockNumber(),
    batch.getBalance({ address: '0x90f8bf6a479f320ead074411a4b0e7944ea8c9c1' }),
  ]);
  assert.strictEqual(chainId, 1337);
  assert.ok(balance > 0n);
  const m = pool.getMetrics();
  assert.strictEqual(m.completedRequests - before, 2);
  console.log(`viem: chainId ${chainId}; batch of 2 in one request: block ${height}, balance ${balance}`);
  console.log(`metrics: ${m.completedRequests} requests, ${m.totalConnections} sockets, ${m.failedRequests} failed`);
  await pool.close();
  await node.close();
  server.close();
}
main().catch((err) => {
  console.error(err);
  process.exit(1);
});
EOF
(cd "$TMP/project" && PATH="$TMP/bin" CPC_ROOT="$ROOT" node check.js)

step "fallback: npm rebuild connection-pool-core from the tarball's deps/llhttp, no system llhttp, no node-gyp in .bin"
# Never skipped: the system llhttp (the Debian layout scripts/build-addon.js looks in) is hidden
# in a private mount namespace when unshare -m is permitted, else by a preload that makes it
# invisible to every node process of the build; either way the script checks that it is hidden,
# that build-addon.js took its fallback, and that deps/llhttp/ was used as shipped. Set
# CPC_INSTALL_TEST_HIDE=preload to take the second way where unshare works.
PKG="$TMP/project/node_modules/connection-pool-core"
HIDE_DIRS=(/usr/share/llhttp /usr/share/include/llhttp)
fail() { echo "FAILED: $*" >&2; exit 1; }
[[ -f "$PKG/deps/llhttp/llhttp.c" ]] || fail "the installed package has no deps/llhttp/"
[[ ! -e "$PKG/build" ]] || fail "$PKG/build exists before the fallback build"
DEPS_SUM=$(cd "$PKG/deps/llhttp" && sha256sum -- * | sort)
mkdir -p "$TMP/empty"
cat > "$TMP/hide-llhttp.js" <<'EOF'
'use strict';
// Preloaded through NODE_OPTIONS: the directories in CPC_HIDE_DIRS (':'-separated) do not
// exist for this node process and its node children (fs calls answer ENOENT).
const fs = require('fs');
const path = require('path');
const dirs = (process.env.CPC_HIDE_DIRS || '').split(':').filter(Boolean);
function hidden(p) {
  if (typeof p !== 'string' && !(p instanceof URL) && !Buffer.isBuffer(p)) return false;
  const r = path.resolve(p instanceof URL ? p.pathname : String(p));
  return dirs.some((d) => r === d || r.startsWith(d + '/'));
}
function enoent(p, syscall) {
  return Object.assign(new Error(`ENOENT: no such file or directory, ${syscall} '${p}'`), {
    code: 'ENOENT', errno: -2, syscall, path: String(p),
  });
}
const existsSync = fs.existsSync;
fs.existsSync = (p) => !hidden(p) && existsSync(p);
for (const name of ['stat', 'lstat', 'access', 'readFile', 'readdir', 'open', 'realpath', 'copyFile', 'opendir']) {
  const sync = fs[`${name}Sync`];
  if (sync) {
    fs[`${name}Sync`] = function (p, ...rest) {
      if (hidden(p)) throw enoent(p, name);
      return sync.call(this, p, ...rest);
    };
  }
  const cb = fs[name];
  if (cb) {
    fs[name] = function (p, ...rest) {
      if (!hidden(p)) return cb.call(this, p, ...rest);
      process.nextTick(rest[rest.length - 1], enoent(p, name));
    };
  }
  const promised = fs.promises[name];
  if (promised) {
    fs.promises[name] = async function (p, ...rest) {
      if (hidden(p)) throw enoent(p, name);
      return promised.call(this, p, ...rest);
    };
  }
}
EOF
if [[ "${CPC_INSTALL_TEST_HIDE:-}" != preload ]] && unshare -m true 2>/dev/null; then
  HIDE=mount-namespace
else
  HIDE=preload
  [[ "${CPC_INSTALL_TEST_HIDE:-}" == preload ]] || echo "unshare -m is not permitted here: hiding the system llhttp with a node preload instead"
fi
echo "hiding ${HIDE_DIRS[*]} with: $HIDE"
# hidden CMD...: runs CMD with the system llhttp hidden.
hidden() {
  if [[ $HIDE == mount-namespace ]]; then
    unshare -m bash -c '
      set -e
      empty=$1; shift
      for d in /usr/share/llhttp /usr/share/include/llhttp; do
        if [[ -d $d ]]; then mount --bind "$empty" "$d"; fi
      done
      exec "$@"
    ' _ "$TMP/empty" "$@"
  else
    NODE_OPTIONS="--require $TMP/hide-llhttp.js ${NODE_OPTIONS:-}" CPC_HIDE_DIRS="$(IFS=:; echo "${HIDE_DIRS[*]}")" "$@"
  fi
}
# Seen from node, the way build-addon.js looks: none of llhttp's files may be there.
(cd "$TMP/project" && hidden node -e '
  const fs = require("fs");
  const seen = ["/usr/share/llhttp/llhttp.c", "/usr/share/llhttp/src/llhttp.c", "/usr/share/include/llhttp/llhttp.h"]
    .filter((f) => fs.existsSync(f));
  if (seen.length) { console.error("still visible: " + seen.join(", ")); process.exit(1); }
') || fail "the system llhttp could not be hidden ($HIDE): the fallback build cannot be exercised"
LOG="$TMP/rebuild.log"
RC=0
(cd "$TMP/project" && hidden env npm_config_build_from_source=true JOBS=max \
  npm rebuild connection-pool-core --offline --foreground-scripts --no-audit --no-fund) >"$LOG" 2>&1 || RC=$?
grep -E "connection-pool-core|gyp info ok|error|ERR" "$LOG" | grep -v 'Unknown user config' || true
[[ $RC == 0 ]] || { tail -40 "$LOG"; fail "npm rebuild connection-pool-core exited $RC"; }
grep -q "connection-pool-core: using the llhttp sources in deps/llhttp/" "$LOG" ||
  fail "build-addon.js did not take its deps/llhttp fallback (did npm rebuild run the install script? was the system llhttp visible?)"
grep -q "gyp info ok" "$LOG" || fail "node-gyp did not finish the fallback build"
test -f "$PKG/build/Release/connection_pool_core.node" || fail "the fallback build made nothing"
[[ "$(cd "$PKG/deps/llhttp" && sha256sum -- * | sort)" == "$DEPS_SUM" ]] || fail "deps/llhttp/ changed during the fallback build"
(cd "$TMP/project" && node -e "
  const p = require('node-gyp-build').path(require('path').dirname(require.resolve('connection-pool-core/package.json')));
  if (!p.includes('build/Release')) throw new Error('loaded ' + p);
  const { ConnectionPoolCore } = require('connection-pool-core');
  const pool = new ConnectionPoolCore();
  pool.execute('http://127.0.0.1:9/').catch((e) => { console.log('built from deps/llhttp ($HIDE): loads, execute() answers ' + e.code); return pool.close(); });
")

step "install test passed"
