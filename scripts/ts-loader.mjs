// `node --import ./scripts/ts-loader.mjs`: runs the project's TypeScript directly, for the test
// suite (scripts/run-tests.mjs), the swarm and the benchmarks. Registers scripts/ts-hooks.mjs (why not tsx: see there) and maps stack traces back to the .ts lines.
import { register } from 'node:module';

process.setSourceMapsEnabled(true);
register('./ts-hooks.mjs', import.meta.url);
