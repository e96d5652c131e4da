// Module hooks (registered by scripts/ts-loader.mjs, run on Node's loader thread): a .ts file is
// compiled by esbuild to JavaScript as it is loaded, types stripped, nothing else changed.
//
// Why not tsx: tsx compiles with esbuild's
// keepNames, which wraps every function and closure created at run time in a call that redefines
// its `name`. On the simulator's hot paths (an invariant check after every event builds small
// closures) that was a quarter of the CPU of test/sim/raft-sim (profiled 2026-12-07). Without
// minification nothing renames an identifier, so names stay as the source wrote them without it.
// Imports name their .ts files (tsconfig allowImportingTsExtensions), so Node's own resolution
// finds them; only loading needs help.
//
// Each compiled file is kept in node_modules/.cache/baristas-ts under a hash of everything that
// decides its output (esbuild's version, the options, this file, the path, the source text), so it
// is never stale, and used only when it ends as every compiled file does (a torn one is compiled
// again): the suite starts ~240 processes that load the same modules, and esbuild's asynchronous
// service (not transformSync, which cost ~2.5 ms a file from this thread) compiles each once.
// scripts/ts-loader.mjs empties the cache past CACHE_FILES_MAX files.
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CACHE_DIR = fileURLToPath(new URL('../node_modules/.cache/baristas-ts/', import.meta.url));

const tsconfig = parseTsconfig();
/** The compiler options esbuild honours when compiling one file (import elision, class fields). */
const tsconfigRaw = {
  compilerOptions: {
    verbatimModuleSyntax: tsconfig.compilerOptions?.verbatimModuleSyntax,
    useDefineForClassFields: tsconfig.compilerOptions?.useDefineForClassFields,
    target: tsconfig.compilerOptions?.target,
  },
};
const options = {
  loader: 'ts',
  format: 'esm',
  target: `node${process.versions.node}`,
  sourcemap: 'inline',
  sourcesContent: false,
  tsconfigRaw,
};
/** How every compiled file ends (its inline source map): a cached file without it is torn. */
const COMPLETE_END = /\/\/# sourceMappingURL=data:application\/json;base64,[A-Za-z0-9+/=]+\n$/;
// esbuild itself is imported only to compile (a miss): importing it costs each process ~0.1 s.
const esbuildVersion = JSON.parse(
  readFileSync(new URL('../node_modules/esbuild/package.json', import.meta.url), 'utf8'),
).version;
// This file's own text too: a change to what load() does makes every older compiled file a miss.
const self = readFileSync(new URL(import.meta.url), 'utf8');
const optionsKey = `${esbuildVersion}\0${JSON.stringify(options)}\0${self}`;

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !/\.(m?ts)$/.test(new URL(url).pathname)) return nextLoad(url, context);
  const path = fileURLToPath(url);
  const source = readFileSync(path, 'utf8');
  const key = createHash('sha256').update(optionsKey).update('\0').update(path).update('\0').update(source);
  const cached = join(CACHE_DIR, `${key.digest('hex')}.js`);
  let code;
  try {
    code = readFileSync(cached, 'utf8');
  } catch {}
  if (code === undefined || !COMPLETE_END.test(code)) {
    const { transform } = await import('esbuild');
    code = (await transform(source, { ...options, sourcefile: path })).code;
    try {
      mkdirSync(CACHE_DIR, { recursive: true });
      // Written aside and renamed: a process starting at the same moment reads all of it or none.
      const aside = `${cached}.${randomUUID()}.tmp`;
      try {
        writeFileSync(aside, code);
        renameSync(aside, cached);
      } catch (err) {
        try {
          unlinkSync(aside);
        } catch {}
        throw err;
      }
    } catch {
      // A read-only or full disk: compiling every time is only slower.
    }
  }
  return { format: 'module', source: code, shortCircuit: true };
}

/** tsconfig.json as JSON (it holds no comments); a clear error naming it if that ever changes. */
function parseTsconfig() {
  const path = new URL('../tsconfig.json', import.meta.url);
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`scripts/ts-hooks.mjs reads tsconfig.json as plain JSON (no comments): ${err.message}`);
  }
}
