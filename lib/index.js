'use strict';

const { ConnectionPoolCore } = require('./connection-pool-core');
const { configFromEnv } = require('./config');
const { PoolError, ERROR_CODES } = require('./errors');

module.exports = { ConnectionPoolCore, configFromEnv, PoolError, ERROR_CODES };
