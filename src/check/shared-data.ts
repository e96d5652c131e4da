// Locates the shared test corpora (Knossos' and Porcupine's histories) for tests and benchmarks.
// They live in a `shared/data` folder beside the repository (../shared from the main checkout);
// a git worktree sits one level deeper, so the nearest ancestor holding `shared/data/NAME` wins.
// The corpora are never copied into the repository. Returns undefined when absent, so callers
// skip with a message naming where they looked.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Ancestors of the repository root searched at most (the main checkout needs 1, a worktree 2). */
const ANCESTORS_SEARCHED_MAX = 3;

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The first `shared/data/<name>` beside the repository root or one of its ancestors. */
export function sharedDataDir(name: string): string | undefined {
  let dir = REPO_ROOT;
  for (let i = 0; i < ANCESTORS_SEARCHED_MAX; i++) {
    dir = dirname(dir);
    const candidate = join(dir, 'shared', 'data', name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** Where sharedDataDir looked first, for skip messages. */
export function sharedDataHint(name: string): string {
  return join(REPO_ROOT, '..', 'shared', 'data', name);
}
