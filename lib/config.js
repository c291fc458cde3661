'use strict';

// Configuration layers (API.md): built-in defaults (in the core), then the
// environment, then explicit options. The core validates both layers with
// one table (src/core/config.cc), so this file only merges them.
const binding = require('./binding');
const { createPoolError } = require('./errors');

// The options the environment alone produces, validated (ERR_POOL_CONFIG
// names the variable and the bad value).
function configFromEnv(env = process.env) {
  if (env === null || typeof env !== 'object') {
    throw createPoolError('ERR_POOL_CONFIG', 'configFromEnv(env): env must be an object');
  }
  return binding.configFromEnv(env);
}

// Environment first, explicit options over it; undefined options do not
// hide an environment value.
function resolveOptions(options) {
  if (options === undefined || options === null) options = {};
  if (typeof options !== 'object') {
    throw createPoolError('ERR_POOL_CONFIG', 'options must be an object');
  }
  const merged = configFromEnv(process.env);
  for (const key of Object.keys(options)) {
    if (options[key] !== undefined) merged[key] = options[key];
  }
  return merged;
}

module.exports = { configFromEnv, resolveOptions };
