#!/usr/bin/env node
// Runs every compiled test file with Node's own test runner. Node 20's `--test` takes no globs,
// so the file list is built here. Narrow with e.g. `npm test -- store` (substring of the path) or
// AUDITSTREAM_TEST_STORES=sqlite to skip the PostgreSQL half of the contract suite.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

const filters = process.argv.slice(2);
const files = walk('dist/test')
  .filter((f) => f.endsWith('.test.js'))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
