'use strict';

// lib/index.d.ts against a typed use of the whole public API (test/types/usage.ts):
// `tsc --strict` must accept every use and reject every `@ts-expect-error` line.

const path = require('node:path');
const { spawnSync } = require('node:child_process');

test('lib/index.d.ts type-checks a use of the whole API under tsc --strict', () => {
  const tsc = require.resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', path.join(__dirname, 'types', 'tsconfig.json')], {
    encoding: 'utf8', timeout: 60000,
  });
  expect(r.error).toBeUndefined();
  expect(`${r.stdout}${r.stderr}`).toBe('');
  expect(r.status).toBe(0);
}, 70000);
