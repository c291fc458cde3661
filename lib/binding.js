'use strict';

// Loads the native addon (a prebuild for this platform, else build/Release)
// and hands it the error factory, so every PoolError is built in errors.js.
const path = require('node:path');
const { createPoolError } = require('./errors');

const binding = require('node-gyp-build')(path.join(__dirname, '..'));
binding.init({ createPoolError });

module.exports = binding;
