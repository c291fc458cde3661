'use strict';

const { ConnectionPoolCore } = require('./connection-pool-core');
const { BalancedPool } = require('./balanced-pool');
const { configFromEnv } = require('./config');
const { PoolError, ERROR_CODES } = require('./errors');
const { createEthersGetUrl } = require('./ethers');

module.exports = { ConnectionPoolCore, BalancedPool, configFromEnv, PoolError, ERROR_CODES,
  createEthersGetUrl };
