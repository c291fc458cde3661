'use strict';
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  testMatch: ['<rootDir>/test/**/*.test.js'],
  testTimeout: 30000,
  // Plain CommonJS: no Babel transform; V8 coverage (`npx jest --coverage`).
  transform: {},
  coverageProvider: 'v8',
  modulePathIgnorePatterns: ['<rootDir>/build/', '<rootDir>/build-cpp', '<rootDir>/deps/', '<rootDir>/prebuilds/'],
};
