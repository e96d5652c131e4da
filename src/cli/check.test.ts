// Goal: `barista check` end to end through runCheckCommand — one verdict line per file and a
// total, exit codes 0 (all valid) / 1 (any invalid) / 2 (unknown, unreadable, malformed with the
// line number, bad flags), folders walked recursively, --json and --html outputs, --initial; and the
// Knossos corpus and Porcupine KV verdicts when ../shared/data is present (skipped with a message
// otherwise).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Command } from 'commander';
import { HistoryParseError } from '../check/errors.ts';
import { sharedDataDir, sharedDataHint } from '../check/shared-data.ts';
import {
  type CheckCommandArgs,
  exitCodeOf,
  parseInitialValue,
  registerCheckCommand,
  runCheckCommand,
} from './check.ts';

const VALID_EDN = `[{:process 0, :type :invoke, :f :write, :value 1}
 {:process 0, :type :ok, :f :write, :value 1}
 {:process 1, :type :invoke, :f :read, :value nil}
 {:process 1, :type :ok, :f :read, :value 1}]
`;
// The read of 0 after the write of 1 completed cannot be linearized.
const INVALID_EDN = `[{:process 0, :type :invoke, :f :write, :value 1}
 {:process 0, :type :ok, :f :write, :value 1}
 {:process 1, :type :invoke, :f :read, :value nil}
 {:process 1, :type :ok, :f :read, :value 0}]
`;
const VALID_JSONL = [
  { type: 'invoke', process: 0, f: 'write', value: 2, index: 0 },
  { type: 'ok', process: 0, f: 'write', value: 2, index: 1 },
  { type: 'invoke', process: 0, f: 'read', value: null, index: 2 },
  { type: 'ok', process: 0, f: 'read', value: 2, index: 3 },
]
  .map((op) => JSON.stringify(op))
  .join('\n');
const MALFORMED_JSONL = `${JSON.stringify({ type: 'invoke', process: 0, f: 'read', value: null, index: 0 })}\n{"type": "ok", "process": 0,\n`;
// A stale read after the own write: fails read-your-writes.
const RYW_BAD_JSONL = [
  { type: 'invoke', process: 0, f: 'write', value: 1 },
  { type: 'ok', process: 0, f: 'write', value: 1 },
  { type: 'invoke', process: 1, f: 'write', value: 2 },
  { type: 'ok', process: 1, f: 'write', value: 2 },
  { type: 'invoke', process: 1, f: 'read', value: null },
  { type: 'ok', process: 1, f: 'read', value: 1 },
]
  .map((op, index) => JSON.stringify({ ...op, index }))
  .join('\n');

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'barista-check-'));
  mkdirSync(join(dir, 'good', 'nested'), { recursive: true });
  mkdirSync(join(dir, 'bad'));
  writeFileSync(join(dir, 'good', 'a.edn'), VALID_EDN);
  writeFileSync(join(dir, 'good', 'nested', 'b.jsonl'), VALID_JSONL);
  writeFileSync(join(dir, 'good', 'notes.md'), 'not a history');
  writeFileSync(join(dir, 'bad', 'inv.edn'), INVALID_EDN);
  writeFileSync(join(dir, 'malformed.jsonl'), MALFORMED_JSONL);
  writeFileSync(join(dir, 'ryw.jsonl'), RYW_BAD_JSONL);
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: Partial<CheckCommandArgs> & { files: string[] }) {
  let stdout = '';
  let stderr = '';
  let clock = 0;
  const code = await runCheckCommand(
    { model: 'cas-register', ...args },
    {
      stdout: (s) => {
        stdout += s;
      },
      stderr: (s) => {
        stderr += s;
      },
      now: () => (clock += 0.5),
    },
  );
  return { code, stdout, stderr };
}

describe('barista check', () => {
  it('exit 0 and one line per file for a folder of valid histories (recursive, known extensions)', async () => {
    const r = await run({ files: [join(dir, 'good')] });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 3);
    assert.match(lines[0]!, /^valid\s+\S+good\/a\.edn {2}\(2 ops, [\d.]+ ms\)$/);
    assert.match(lines[1]!, /^valid\s+\S+good\/nested\/b\.jsonl/);
    assert.match(lines[2]!, /^total: 2 files: 2 valid, 0 invalid, 0 unknown, 0 error in [\d.]+ ms$/);
  });

  it('exit 1 on an invalid file, with the reason', async () => {
    const r = await run({ files: [join(dir, 'good', 'a.edn'), join(dir, 'bad')] });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^invalid\s+\S+inv\.edn {2}\(2 ops, [\d.]+ ms\) {2}.*read/m);
  });

  it('exit 2 on a malformed file, naming the line', async () => {
    const r = await run({ files: [join(dir, 'malformed.jsonl')] });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error\s+\S+malformed\.jsonl {2}\S+malformed\.jsonl:2: bad JSON/m);
    assert.match(r.stdout, /1 error/);
  });

  it('an invalid file wins over an error for the exit code', () => {
    assert.equal(exitCodeOf(['valid', 'error', 'invalid']), 1);
    assert.equal(exitCodeOf(['valid', 'unknown']), 2);
    assert.equal(exitCodeOf([]), 2);
    assert.equal(exitCodeOf(['valid']), 0);
  });

  it('exit 2 on a missing file, an unknown model or format, an empty folder', async () => {
    assert.equal((await run({ files: [join(dir, 'nope.edn')] })).code, 2);
    const model = await run({ files: [dir], model: 'nope' });
    assert.equal(model.code, 2);
    assert.match(model.stderr, /unknown model 'nope'; models: register, cas-register/);
    assert.equal((await run({ files: [dir], format: 'yaml' })).code, 2);
    mkdirSync(join(dir, 'empty'), { recursive: true });
    const empty = await run({ files: [join(dir, 'empty')] });
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /no history files/);
  });

  it('runs the consistency checks by name', async () => {
    const bad = await run({ files: [join(dir, 'ryw.jsonl')], model: 'read-your-writes', cas: 'etcd' });
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(bad.stdout, /^invalid .*read-your-writes/m);
    const good = await run({ files: [join(dir, 'good')], model: 'monotonic-reads' });
    assert.equal(good.code, 0, good.stderr);
  });

  it('--json prints one machine-readable document', async () => {
    const r = await run({ files: [join(dir, 'good'), join(dir, 'bad'), join(dir, 'malformed.jsonl')], json: true });
    assert.equal(r.code, 1);
    const doc = JSON.parse(r.stdout) as {
      files: Array<{ path: string; verdict: string; ops: number; failingOp?: { index: number }; reason?: string }>;
      total: Record<string, number>;
      exitCode: number;
    };
    assert.deepEqual(
      doc.files.map((f) => f.verdict),
      ['valid', 'valid', 'invalid', 'error'],
    );
    assert.equal(doc.files[2]?.failingOp?.index, 2);
    assert.match(doc.files[3]?.reason ?? '', /:2:/);
    assert.equal(doc.total.invalid, 1);
    assert.equal(doc.exitCode, 1);
  });

  it('--html writes one self-contained report for the run', async () => {
    const out = join(dir, 'report.html');
    const r = await run({ files: [join(dir, 'good'), join(dir, 'bad'), join(dir, 'malformed.jsonl')], html: out });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /report: /);
    const html = readFileSync(out, 'utf8');
    assert.ok(html.startsWith('<!DOCTYPE html>'));
    assert.match(html, /4 files: 2 valid, 1 invalid, 1 unknown/);
    assert.match(html, /id="op-2"/);
    assert.ok(!/(src|href)="(https?:)?\/\//.test(html), 'no external assets');
  });

  it('registers `check` with commander and sets the exit code', async () => {
    const program = new Command('barista').exitOverride();
    registerCheckCommand(program);
    const help = program.commands.find((c) => c.name() === 'check')!.helpInformation();
    assert.match(help, /--model <name>/);
    assert.match(help, /--cas-convention/);
    const before = process.exitCode;
    const writes: string[] = [];
    const original = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((s: string) => {
      writes.push(s);
      return true;
    }) as typeof process.stdout.write;
    try {
      await program.parseAsync(['check', join(dir, 'bad'), '--model', 'cas-register', '--time-budget-ms', '5000'], {
        from: 'user',
      });
    } finally {
      process.stdout.write = original;
    }
    assert.equal(process.exitCode, 1);
    process.exitCode = before;
    assert.match(writes.join(''), /^invalid/m);
  });
});

const KNOSSOS = sharedDataDir('knossos');

describe('barista check on the Knossos corpus', () => {
  it('matches expected.tsv on a sample of cas-register histories', async (t) => {
    if (KNOSSOS === undefined) {
      t.skip(`Knossos corpus absent (${sharedDataHint('knossos')}): skipped`);
      return;
    }
    const expectedPath = join(KNOSSOS, 'expected.tsv');
    const rows = readFileSync(expectedPath, 'utf8')
      .split('\n')
      .slice(1)
      .map((l) => l.split('\t'))
      .filter((c) => c[0]?.startsWith('cas-register/') === true && (c[1] === 'true' || c[1] === 'false'));
    const sample = [...rows.filter((c) => c[1] === 'false'), ...rows.filter((c) => c[1] === 'true').slice(0, 10)];
    const r = await run({ files: sample.map((c) => join(KNOSSOS, c[0]!)), json: true });
    const doc = JSON.parse(r.stdout) as { files: Array<{ verdict: string }> };
    sample.forEach((c, i) => {
      assert.equal(doc.files[i]?.verdict, c[1] === 'true' ? 'valid' : 'invalid', c[0]);
    });
    assert.equal(r.code, 1);
  });
});

// Porcupine's KV model: a key never written reads as "" (its get of a missing key returns "").
// This history reads "" before any put, then sees the append: linearizable only with initial "".
const EMPTY_INITIAL_EDN = `[{:process 0, :type :invoke, :f :get, :key "k", :value nil}
 {:process 0, :type :ok, :f :get, :key "k", :value ""}
 {:process 1, :type :invoke, :f :append, :key "k", :value "x"}
 {:process 1, :type :ok, :f :append, :key "k", :value "x"}
 {:process 0, :type :invoke, :f :get, :key "k", :value nil}
 {:process 0, :type :ok, :f :get, :key "k", :value "x"}]
`;

describe('barista check --initial', () => {
  it('an EDN history written with the missing-key-reads-"" convention is valid only with --initial ""', async () => {
    const file = join(dir, 'empty-initial.edn');
    writeFileSync(file, EMPTY_INITIAL_EDN);
    const without = await run({ files: [file], model: 'kv' });
    assert.equal(without.code, 1, without.stdout);
    assert.match(without.stdout, /^invalid .*get k → ""/m);
    const withFlag = await run({ files: [file], model: 'kv', initial: '' });
    assert.equal(withFlag.code, 0, withFlag.stdout);
    assert.match(withFlag.stdout, /^valid /m);
    // The same history as JSONL (our recorder's format) follows the flag the same way.
    const jsonl = join(dir, 'empty-initial.jsonl');
    writeFileSync(
      jsonl,
      [
        { type: 'invoke', process: 0, f: 'get', key: 'k', value: null },
        { type: 'ok', process: 0, f: 'get', key: 'k', value: '' },
      ]
        .map((op, index) => JSON.stringify({ ...op, index }))
        .join('\n'),
    );
    assert.equal((await run({ files: [jsonl], model: 'kv' })).code, 1);
    assert.equal((await run({ files: [jsonl], model: 'kv', initial: '' })).code, 0);
  });

  it('parses --initial as an EDN literal, an empty argument as the empty string', () => {
    assert.equal(parseInitialValue(''), '');
    assert.equal(parseInitialValue('0'), 0);
    assert.equal(parseInitialValue('nil'), null);
    assert.equal(parseInitialValue('"x y"'), 'x y');
    assert.throws(
      () => parseInitialValue('[1'),
      (e: unknown) => e instanceof HistoryParseError,
    );
  });

  it('commander passes --initial through (and rejects a malformed value with exit 2)', async () => {
    const file = join(dir, 'empty-initial-cli.edn');
    writeFileSync(file, EMPTY_INITIAL_EDN);
    const before = process.exitCode;
    const original = process.stdout.write.bind(process.stdout);
    const originalErr = process.stderr.write.bind(process.stderr);
    const writes: string[] = [];
    const capture = ((s: string) => {
      writes.push(s);
      return true;
    }) as typeof process.stdout.write;
    const parse = async (extra: string[]) => {
      const program = new Command('barista').exitOverride();
      registerCheckCommand(program);
      await program.parseAsync(['check', file, '--model', 'kv', ...extra], { from: 'user' });
      return process.exitCode;
    };
    process.stdout.write = capture;
    process.stderr.write = capture;
    try {
      assert.equal(await parse(['--initial', '']), 0);
      assert.equal(await parse([]), 1);
      assert.equal(await parse(['--initial', '[1']), 2);
    } finally {
      process.stdout.write = original;
      process.stderr.write = originalErr;
      process.exitCode = before;
    }
    assert.match(writes.join(''), /error: --initial: /);
  });
});

const PORCUPINE = sharedDataDir('porcupine');

describe('barista check on Porcupine KV histories', () => {
  it('the porcupine-kv format reads a missing key as "" by default: every verdict of expected.tsv', async (t) => {
    if (PORCUPINE === undefined) {
      t.skip(`Porcupine histories absent (${sharedDataHint('porcupine')}): skipped`);
      return;
    }
    const expectedPath = join(PORCUPINE, 'expected.tsv');
    const rows = readFileSync(expectedPath, 'utf8')
      .split('\n')
      .map((l) => l.split('\t'))
      .filter((c) => c[0]?.startsWith('kv/') === true);
    assert.equal(rows.length, 6, 'c01, c10, c50 ok and bad');
    const r = await run({ files: rows.map((c) => join(PORCUPINE, c[0]!)), model: 'kv', json: true });
    const doc = JSON.parse(r.stdout) as { files: Array<{ verdict: string; reason?: string }> };
    const got = rows.map((c, i) => `${c[0]} ${doc.files[i]?.verdict} ${doc.files[i]?.reason ?? ''}`.trim());
    const want = rows.map((c) => `${c[0]} ${c[1] === 'true' ? 'valid' : 'invalid'}`);
    assert.deepEqual(
      got.map((g) => g.split(' ').slice(0, 2).join(' ')),
      want,
      got.join('\n'),
    );
  });
});
