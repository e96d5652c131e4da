// The TypeScript sources under a directory (tests excluded), for the tests that scan the code:
// purity (cores take time, randomness and I/O from the Env), import boundaries, the error catalogue.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Paths of the non-test `.ts` files under `dir`, depth first; [] if `dir` does not exist. */
export function sourceFiles(dir: string, out: string[] = []): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sourceFiles(p, out);
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

/**
 * The cores: pure (test/purity.test.ts) and below every I/O layer, the node and the services
 * (test/boundaries.test.ts). One list, so a new core is named once.
 */
export const CORE_DIRS: readonly string[] = [
  'src/lib',
  'src/raft',
  'src/rsm',
  'src/membership',
  'src/metadata',
  'src/sim',
  'src/metrics',
  'src/check/models',
  'src/coord',
  'src/crdt',
  'src/dynamo',
  'src/redis',
];
