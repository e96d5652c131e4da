// `node --import ./scripts/ts-loader.mjs`: runs the project's TypeScript directly, for the test
// suite (scripts/run-tests.mjs), the swarm, the benchmarks and bin/barista.mjs off a stale dist.
// Registers scripts/ts-hooks.mjs (why not tsx: see there) and maps stack traces to the .ts lines.
import { register } from 'node:module';

process.setSourceMapsEnabled(true);
register('./ts-hooks.mjs', import.meta.url);
