// Goal: the command-line surface keeps its promises without running any command: --version
// prints package.json's version, --endpoint takes exactly one value per flag (it used to be
// variadic and swallowed the `key value` arguments after it), and a duration without a unit is
// an error naming the flag and the expected form.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { type Command, CommanderError } from 'commander';
import { ConfigError } from '../lib/errors.ts';
import { buildProgram } from './main.ts';
import { parseDurationMs, simDurationMs } from './sim.ts';

function quiet(program: Command): { out(): string } {
  let text = '';
  program.configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s) });
  return { out: () => text };
}

test('--version prints the version from package.json', async () => {
  const program = buildProgram();
  const output = quiet(program);
  const version = (
    JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  ).version;
  await assert.rejects(program.parseAsync(['--version'], { from: 'user' }), (err: unknown) => {
    assert.ok(err instanceof CommanderError);
    assert.equal(err.exitCode, 0);
    return true;
  });
  assert.equal(output.out(), `${version}\n`);
});

test('kv --endpoint takes one value per flag and does not swallow the arguments after it', async () => {
  const program = buildProgram();
  quiet(program);
  const kv = program.commands.find((c) => c.name() === 'kv')!;
  let positional: unknown[] = [];
  kv.action((...a: unknown[]) => {
    positional = a.slice(0, 3);
  });
  const args = ['kv', 'put', '--endpoint', '127.0.0.1:7101', 'greeting', 'hello', '--endpoint', '127.0.0.1:7111'];
  await program.parseAsync(args, { from: 'user' });
  assert.deepEqual(kv.opts<{ endpoint: string[] }>().endpoint, ['127.0.0.1:7101', '127.0.0.1:7111']);
  assert.deepEqual(positional, ['put', 'greeting', 'hello']);
});

test('a duration needs a unit; the error names the flag and the form', () => {
  assert.equal(parseDurationMs('--duration', '20s'), 20_000);
  assert.equal(parseDurationMs('--duration', '500ms'), 500);
  assert.equal(parseDurationMs('--duration', '2m'), 120_000);
  assert.throws(
    () => simDurationMs('10'),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.message === '--duration: must be a duration like 20s or 500ms (units ms, s, m), got "10"',
  );
  // Faults start 1 s in, so a shorter run was rejected by the nemesis with a message naming
  // nemesis.endMs, not the flag.
  assert.throws(
    () => simDurationMs('10ms'),
    (err: unknown) => err instanceof ConfigError && err.message.startsWith('--duration: must be at least 1s'),
  );
});

test('a reader that goes away (`barista status | head`) ends the output quietly: exit 0, no unhandled EPIPE', async () => {
  // The child writes ~1 MB of help into a pipe of 64 KiB, so a write fails with EPIPE once the
  // reader is gone, whatever the timing. Before: an unhandled 'error' event, exit 1 with a stack.
  const mainUrl = new URL('./main.ts', import.meta.url).href;
  const script = `const { main } = await import(${JSON.stringify(mainUrl)}); let code = 0; for (let i = 0; i < 400; i++) code |= await main(['--help']); process.exitCode = code;`;
  const loader = new URL('../../scripts/ts-loader.mjs', import.meta.url).href;
  const child = spawn(process.execPath, ['--import', loader, '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += String(d)));
  child.stdout.once('data', () => child.stdout.destroy());
  const code = await new Promise<number | null>((resolve, reject) => {
    const bound = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('the child did not exit within 60 s'));
    }, 60_000);
    child.on('exit', (c) => {
      clearTimeout(bound);
      resolve(c);
    });
  });
  assert.equal(code, 0, stderr);
  assert.doesNotMatch(stderr, /EPIPE|Unhandled/);
});
