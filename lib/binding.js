'use strict';

// Loads the native addon (a prebuild for this platform, else build/Release)
// and hands it the error factory, so every PoolError is built in errors.js.
const path = require('node:path');
const { createPoolError } = require('./errors');

const root = path.join(__dirname, '..');
let binding;
try {
  binding = require('node-gyp-build')(root);
} catch (err) {
  // No prebuild for this platform and no build: under npm 11 the package's
  // install script (the fallback build) runs only once approved.
  err.message += '\nconnection-pool-core: the package carries prebuilt addons for '
    + 'linux-x64 only; elsewhere build it from source (needs a C++ toolchain): '
    + `node ${path.join(root, 'scripts', 'build-addon.js')} `
    + '(or approve its install script: npm 11 runs dependency install scripts only when allowed)';
  throw err;
}
binding.init({ createPoolError });

module.exports = binding;
