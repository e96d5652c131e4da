#!/usr/bin/env node
// Entry point for `npx barista ...`, `npm start` and every node process `barista dev` spawns.
// Runs the compiled CLI in dist/ (built by `npm install`'s prepare step or `npm run build`) when it
// is fresh, i.e. at least as new as every source file (bin/dist-freshness.mjs); otherwise it
// registers scripts/ts-loader.mjs and runs src/ directly, so a developer editing src never runs stale JavaScript.
// Either way the CLI runs in THIS process: there is no child to orphan, and SIGINT, SIGTERM and
// SIGHUP reach the command's own handlers (a `barista dev` supervisor stops its nodes).
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { distIsFresh } from './dist-freshness.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
let cli;
if (distIsFresh(root)) {
  cli = await import(pathToFileURL(join(root, 'dist', 'cli', 'main.js')).href);
} else {
  // Resolved from this package, so `barista` works from any working directory: the loader the
  // tests use (esbuild, compiled files cached; scripts/ts-hooks.mjs says why not tsx).
  await import(pathToFileURL(join(root, 'scripts', 'ts-loader.mjs')).href);
  cli = await import(pathToFileURL(join(root, 'src', 'cli', 'main.ts')).href);
}
process.exitCode = await cli.main(process.argv.slice(2));
