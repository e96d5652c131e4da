// scripts/ts-loader.mjs (the suite's own TypeScript loader): a compiled file cut short in the cache
// (a power loss after its rename, a full disk) is compiled again, not run as it is. Before, an
// emptied cached file ran as an empty module: a test file whose module was cut ran no test and passed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { tempDir } from './integration/helpers.ts';

const loader = pathToFileURL(join(import.meta.dirname, '..', 'scripts', 'ts-loader.mjs')).href;
const cacheDir = join(import.meta.dirname, '..', 'node_modules', '.cache', 'baristas-ts');

function run(file: string): string {
  const r = spawnSync(process.execPath, ['--import', loader, file], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

const listCache = (): Set<string> => {
  try {
    return new Set(readdirSync(cacheDir));
  } catch {
    return new Set();
  }
};

test('a cached compiled file cut short or emptied is compiled again', () => {
  const dir = tempDir('baristas-loader-');
  try {
    const marker = randomUUID();
    const file = join(dir.path, 'm.ts');
    writeFileSync(file, `const answer: number = 41;\nconsole.log('${marker}', answer + 1);\n`);
    const before = listCache();
    assert.equal(run(file), `${marker} 42`);
    const mine = [...listCache()]
      .filter((f) => !before.has(f) && f.endsWith('.js'))
      .map((f) => join(cacheDir, f))
      .filter((p) => readFileSync(p, 'utf8').includes(marker));
    assert.equal(mine.length, 1, 'the compiled file is cached');
    const cached = mine[0]!;
    const whole = readFileSync(cached, 'utf8');
    for (const cut of [0, Math.floor(whole.length / 2)]) {
      truncateSync(cached, cut);
      assert.equal(run(file), `${marker} 42`, `cut to ${cut} bytes: the module still runs`);
      assert.equal(readFileSync(cached, 'utf8'), whole, `cut to ${cut} bytes: compiled and cached again`);
    }
  } finally {
    dir.remove();
  }
});
