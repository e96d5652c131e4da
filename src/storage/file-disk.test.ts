// Goal: FileDisk-specific behaviour beyond the shared Disk compliance suite
// (test/compliance/disk-suite.ts, run against FileDisk in test/compliance/real.test.ts): paths
// cannot escape the data directory, size is tracked across reopen, closed handles fail typed, and
// closeAll releases every descriptor (the suite's crash-and-reopen relies on it).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { BaristaError } from '../lib/errors.ts';
import { checkRelativePath, DiskErrorCode, FileDisk } from './file-disk.ts';

const root = mkdtempSync(join(tmpdir(), 'baristas-file-disk-'));
after(() => rmSync(root, { recursive: true, force: true }));

const isCode = (code: string) => (err: unknown) => err instanceof BaristaError && err.code === code;

test('paths that could escape the data directory are rejected before any system call', () => {
  const disk = new FileDisk({ root: join(root, 'escape') });
  writeFileSync(join(root, 'outside.txt'), 'secret');
  for (const bad of ['../outside.txt', '/etc/passwd', 'a/../../outside.txt', './a', 'a//b', 'a/', 'a\\..\\b', 'a\0b']) {
    assert.throws(() => disk.open(bad, { create: true }), isCode(DiskErrorCode.pathInvalid), bad);
    assert.throws(() => disk.exists(bad), isCode(DiskErrorCode.pathInvalid), bad);
    assert.throws(() => disk.list(bad), isCode(DiskErrorCode.pathInvalid), bad);
    assert.throws(() => disk.rename('x', bad), isCode(DiskErrorCode.pathInvalid), bad);
  }
  assert.deepEqual(disk.list(''), [], 'nothing was created by the rejected calls');
});

test('checkRelativePath accepts exactly the segment paths (property)', () => {
  const segment = fc.stringMatching(/^[a-z0-9._-]{1,12}$/).filter((s) => s !== '.' && s !== '..');
  fc.assert(
    fc.property(fc.array(segment, { minLength: 1, maxLength: 6 }), (segments) => {
      assert.deepEqual(checkRelativePath(segments.join('/')), segments);
    }),
  );
});

test('size is read once at open and tracked by append, writeAt and truncate', () => {
  const disk = new FileDisk({ root: join(root, 'size') });
  const f = disk.open('f', { create: true });
  for (let i = 0; i < 100; i++) f.append(new Uint8Array(i));
  assert.equal(f.size(), (99 * 100) / 2);
  f.writeAt(10_000, Uint8Array.of(1));
  assert.equal(f.size(), 10_001);
  f.truncate(5);
  f.close();
  const g = disk.open('f', { create: false });
  assert.equal(g.size(), 5);
  g.close();
});

test('a closed handle fails with a typed error; close is idempotent', () => {
  const disk = new FileDisk({ root: join(root, 'closed') });
  const f = disk.open('f', { create: true });
  f.close();
  f.close();
  assert.throws(() => f.append(Uint8Array.of(1)), isCode(DiskErrorCode.closed));
  assert.throws(() => f.read(0, 1), isCode(DiskErrorCode.closed));
});

test('closeAll closes every open file', () => {
  const disk = new FileDisk({ root: join(root, 'close-all') });
  const files = ['a', 'b', 'c'].map((n) => disk.open(n, { create: true }));
  assert.equal(disk.openFileCount, 3);
  files[0]?.close();
  assert.equal(disk.openFileCount, 2);
  disk.closeAll();
  assert.equal(disk.openFileCount, 0);
  assert.throws(() => files[1]?.size(), isCode(DiskErrorCode.closed));
});

test('opening a directory as a file is a typed I/O error, not a crash', () => {
  const disk = new FileDisk({ root: join(root, 'dir-as-file') });
  disk.mkdirp('d');
  assert.throws(() => disk.open('d', { create: false }), isCode(DiskErrorCode.io));
  assert.equal(disk.openFileCount, 0);
});
