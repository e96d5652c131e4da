// `node --import ./scripts/ts-loader.mjs`: runs the project's TypeScript directly, for the test
// suite (scripts/run-tests.mjs), the swarm, the benchmarks and bin/barista.mjs off a stale dist.
// Registers scripts/ts-hooks.mjs (why not tsx: see there) and maps stack traces to the .ts lines.
import { readdirSync, rmSync } from 'node:fs';
import { register } from 'node:module';

// The hooks keep each compiled file under a hash of its source, so every edit adds one: the cache
// is emptied past CACHE_FILES_MAX by whichever process starts then (a process loading meanwhile
// finds its file gone and compiles it again).
const CACHE_DIR = new URL('../node_modules/.cache/baristas-ts/', import.meta.url);
const CACHE_FILES_MAX = 4096;
let cached = 0;
try {
  cached = readdirSync(CACHE_DIR).length;
} catch {}
if (cached > CACHE_FILES_MAX) rmSync(CACHE_DIR, { recursive: true, force: true });

process.setSourceMapsEnabled(true);
register('./ts-hooks.mjs', import.meta.url);
