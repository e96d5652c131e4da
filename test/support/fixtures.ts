// Golden fixtures (test/fixtures/<protocol>/*.json, one captured session per file, each with a
// `name`): every file of a folder, in name order, and a lookup that fails the test on a missing name.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';

export function loadFixtures<T extends { readonly name: string }>(
  folder: string,
): { readonly all: readonly T[]; named(name: string): T } {
  const dir = new URL(`../fixtures/${folder}/`, import.meta.url);
  const all = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(new URL(f, dir), 'utf8')) as T);
  return {
    all,
    named: (name) => {
      const f = all.find((x) => x.name === name);
      assert.ok(f, `fixture ${name}`);
      return f;
    },
  };
}
