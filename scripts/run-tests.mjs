#!/usr/bin/env node
// Runs every *.test.ts under src/ and test/ with node's own test runner (compiled as loaded by
// scripts/ts-loader.mjs: esbuild without tsx's keepNames, which cost a quarter of a simulation), with
// test/fc-setup.ts preloaded so property tests are deterministic (FC_SEED=random to explore).
// Node 20 does not expand globs, and `--test` with no files passes vacuously, so we list
// the files ourselves and refuse to run on zero. Extra arguments narrow the set by substring:
//   npm run test:unit -- raft check
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

function walk(dir, out) {
  let names;
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    if (name === 'node_modules') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

// The longest files start first (measured 2026-12-07, each file on its own with one other beside
// it, wall seconds): the runner takes files in order, two at a time, and in path order these came
// last, so the suite ended with one core running them alone. Simulations only: they run on virtual
// time, so sharing the cores with them changes no real-process test's timing more than path order did.
const LONG_FIRST = [
  'test/sim/swarm-bites.test.ts', // 52 s
  'src/services/store/rows-sim.test.ts', // 33 s
  'test/sim/raft-sim.test.ts', // 33 s
  'test/sim/swarm-sim.test.ts', // 31 s
  'test/sim/coord-sim.test.ts', // 21 s
  'test/sim/membership-sim.test.ts', // 18 s
];
const rank = (f) => {
  const i = LONG_FIRST.findIndex((l) => f.endsWith(l));
  return i < 0 ? LONG_FIRST.length : i;
};
const filters = process.argv.slice(2);
const files = walk('src', walk('test', []))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
if (files.length === 0) {
  console.error('run-tests: no test files matched; refusing to report a vacuous pass');
  process.exit(1);
}
const concurrency = process.env.TEST_CONCURRENCY ?? '2';
const result = spawnSync(
  process.execPath,
  [
    '--import',
    pathToFileURL(resolve('scripts/ts-loader.mjs')).href,
    '--import',
    pathToFileURL(resolve('test/fc-setup.ts')).href,
    '--test',
    `--test-concurrency=${concurrency}`,
    '--test-timeout=300000',
    ...files,
  ],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
