// Whether the compiled CLI in dist/ may run instead of the TypeScript in src/. The rule: dist is
// fresh when its build stamp exists and is at least as new as every non-test .ts file under src
// (and the build config). The stamp carries the time the build STARTED, so a file edited while
// tsc ran counts as newer. A developer who edits src therefore never runs stale JavaScript: the
// wrapper falls back to src/ (scripts/ts-loader.mjs) until `npm run build` (or the next `npm install`) refreshes dist.
// Plain JavaScript with no dependencies: it runs before anything is compiled.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const BUILD_STAMP = '.build-stamp';

/** Newest mtime (ms) of the files the build reads; test files do not reach dist. */
export function newestSourceMs(root) {
  let newest = 0;
  for (const config of ['tsconfig.json', 'tsconfig.build.json']) {
    try {
      newest = Math.max(newest, statSync(join(root, config)).mtimeMs);
    } catch {
      // absent: nothing to compare
    }
  }
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts'))
        newest = Math.max(newest, statSync(path).mtimeMs);
    }
  };
  walk(join(root, 'src'));
  return newest;
}

/** Whether dist/ holds a build at least as new as src/ (see the header for the rule). */
export function distIsFresh(root) {
  let stampMs;
  try {
    stampMs = statSync(join(root, 'dist', BUILD_STAMP)).mtimeMs;
    statSync(join(root, 'dist', 'cli', 'main.js'));
  } catch {
    return false;
  }
  return stampMs >= newestSourceMs(root);
}
