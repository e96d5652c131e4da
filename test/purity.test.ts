// Goal: keep protocol cores pure (../shared/STYLE.md habit 2). A core that reads the wall clock,
// draws ambient randomness, schedules real timers or touches node:* cannot run in the deterministic
// simulator, so a seed would no longer replay. This test scans the source; a hit names file:line.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CORE_DIRS, sourceFiles } from './source-files.ts';

/** Directories whose non-test files must be pure. */
const PURE_DIRS = [
  ...CORE_DIRS,
  // Protocol front ends: codecs and session handlers run in the simulator too.
  'src/wire',
  // Our ZooKeeper client and recipes (its TCP adapter is src/net/zk-tcp.ts).
  'src/zkclient',
  // The LSM engine: I/O only through the Env's Disk, time only through its Clock.
  'src/storage/lsm',
];

const BANNED: ReadonlyArray<[RegExp, string]> = [
  [/\bDate\.now\s*\(/, 'Date.now (use Clock from the Env, passed in as a number)'],
  [/\bnew Date\s*\(\s*\)/, 'new Date() (wall clock)'],
  [/\bMath\.random\s*\(/, 'Math.random (use the injected Rng)'],
  [/\bperformance\.now\s*\(/, 'performance.now (use Clock)'],
  [/\bsetTimeout\s*\(|\bsetInterval\s*\(|\bsetImmediate\s*\(/, 'real timers (use Timers / ticks)'],
  [/\bprocess\./, 'process (cores do not see the process)'],
  [/\bcrypto\.(random|getRandom)/, 'crypto randomness (use the injected Rng)'],
  [/from\s+['"]node:|import\(\s*['"]node:|require\(\s*['"]node:/, 'node:* import'],
];

function stripComments(line: string): string {
  const i = line.indexOf('//');
  return i >= 0 ? line.slice(0, i) : line;
}

test('protocol cores and the simulator use only what the Env hands them', () => {
  const hits: string[] = [];
  for (const dir of PURE_DIRS) {
    for (const file of sourceFiles(dir)) {
      const lines = readFileSync(file, 'utf8').split('\n');
      lines.forEach((raw, i) => {
        const line = stripComments(raw);
        if (/^\s*\*/.test(line)) return; // block comment body
        for (const [pattern, why] of BANNED) if (pattern.test(line)) hits.push(`${file}:${i + 1}: ${why}`);
      });
    }
  }
  assert.deepEqual(hits, [], `impure code in a core:\n${hits.join('\n')}`);
});

test('the purity scan itself catches a banned call', () => {
  const sample = 'const t = Date.now();';
  assert.ok(BANNED.some(([p]) => p.test(sample)));
});
