#!/usr/bin/env node
// Compiles src/ (without tests) to dist/ with tsc (tsconfig.build.json rewrites the .ts import
// extensions), then writes dist/.build-stamp dated at the build's START, so bin/barista.mjs runs
// the JavaScript only while no source file is newer (bin/dist-freshness.mjs).
// `npm install` runs this through `prepare` with --prepare: a failed build then only warns (the
// CLI falls back to src/ through scripts/ts-loader.mjs and `npm test` reports the type errors) instead of failing the install.
import { spawnSync } from 'node:child_process';
import { rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILD_STAMP } from '../bin/dist-freshness.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const prepare = process.argv.includes('--prepare');
const stamp = join(root, 'dist', BUILD_STAMP);
const started = new Date();
rmSync(stamp, { force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit', cwd: root });
if (r.status !== 0) {
  process.stderr.write(
    'build-dist: tsc failed; `barista` will run src/ through scripts/ts-loader.mjs (slower start)\n',
  );
  process.exit(prepare ? 0 : 1);
}
writeFileSync(stamp, `${started.toISOString()}\n`);
utimesSync(stamp, started, started);
