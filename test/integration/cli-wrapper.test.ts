// Goal: `barista` starts fast without ever running stale code. bin/barista.mjs runs the compiled
// dist/ only while its build stamp is at least as new as every source file the build reads, and
// falls back to src/ through scripts/ts-loader.mjs otherwise (bin/dist-freshness.mjs holds the rule). Also, as real
// processes through the wrapper: --version, and no colour escapes when stdout is a pipe unless
// FORCE_COLOR asks (cli-table3 used to colour its borders and heads regardless).
import assert from 'node:assert/strict';
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BUILD_STAMP, distIsFresh } from '../../bin/dist-freshness.mjs';
import { spawnCli, tempDir } from './helpers.ts';

function at(path: string, seconds: number): void {
  utimesSync(path, seconds, seconds);
}

test('dist is run only while its stamp is at least as new as every non-test source file', () => {
  const dir = tempDir('baristas-fresh-');
  try {
    const root = dir.path;
    mkdirSync(join(root, 'src', 'cli'), { recursive: true });
    mkdirSync(join(root, 'dist', 'cli'), { recursive: true });
    const source = join(root, 'src', 'cli', 'main.ts');
    const testFile = join(root, 'src', 'cli', 'main.test.ts');
    const stamp = join(root, 'dist', BUILD_STAMP);
    writeFileSync(source, '');
    writeFileSync(testFile, '');
    writeFileSync(join(root, 'dist', 'cli', 'main.js'), '');
    assert.equal(distIsFresh(root), false, 'no stamp: never built (or the build failed)');
    writeFileSync(stamp, '');
    at(source, 1_000);
    at(testFile, 1_000);
    at(stamp, 2_000);
    assert.equal(distIsFresh(root), true);
    at(source, 2_000);
    assert.equal(distIsFresh(root), true, 'edited in the same instant the build started: included');
    at(source, 3_000);
    assert.equal(distIsFresh(root), false, 'a source edited after the build started: stale');
    at(source, 1_000);
    at(testFile, 3_000);
    assert.equal(distIsFresh(root), true, 'tests do not reach dist');
    writeFileSync(join(root, 'tsconfig.build.json'), '{}');
    at(join(root, 'tsconfig.build.json'), 3_000);
    assert.equal(distIsFresh(root), false, 'a changed build config: stale');
  } finally {
    dir.remove();
  }
});

test('barista --version prints the package version', async () => {
  const cli = spawnCli(['--version']);
  assert.equal(await cli.exited(), 0, cli.output());
  assert.match(cli.output(), /^\d+\.\d+\.\d+\n$/);
});

test('barista status: no colour escapes into a pipe, or with NO_COLOR; FORCE_COLOR brings them back', async () => {
  // Port 1 refuses connections: status prints its table with the row marked unreachable.
  const args = ['status', '--endpoint', '127.0.0.1:1'];
  const env = { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, CI: undefined };
  const piped = spawnCli(args, env);
  await piped.exited();
  assert.match(piped.output(), /unreachable/);
  assert.doesNotMatch(piped.output(), /\x1b\[/, 'escapes in piped output');
  const noColour = spawnCli(args, { ...env, NO_COLOR: '1', FORCE_COLOR: '1' });
  await noColour.exited();
  assert.doesNotMatch(noColour.output(), /\x1b\[/, 'escapes with NO_COLOR');
  const forced = spawnCli(args, { ...env, FORCE_COLOR: '1' });
  await forced.exited();
  assert.match(forced.output(), /\x1b\[/, 'FORCE_COLOR asks for colours');
});
