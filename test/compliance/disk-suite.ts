// Disk compliance suite: one set of cases, run against every Disk implementation (the js-libp2p
// model). test/compliance/real.test.ts runs it against FileDisk on a temp directory;
// test/compliance/sim.test.ts runs it against the simulator's disk.
//
// What is checked (the contract of `Disk`/`DiskFile` in src/env/types.ts):
//   - create, append, read, size; writeAt (inside and extending the file); truncate (shrink, grow);
//   - read past end of file returns fewer bytes (or none);
//   - list() is sorted, names not paths, and [] for a missing directory;
//   - rename replaces an existing target; remove deletes; exists tracks both;
//   - open({create:false}) on a missing file throws a BaristaError with code 'file_not_found';
//   - after sync() + syncDir() and a crash, synced bytes are intact and synced entries exist;
//   - after the process alone restarts (no power loss), every write is still visible, synced or
//     not — the page cache outlives the process. The WAL's rule after a failed fsync rests on this
//     (src/storage/wal/wal.ts): it must re-persist what it reads back rather than trust it;
//   - failures are BaristaErrors with the stable codes of src/env/disk-paths.ts (a full disk is
//     'disk_no_space', other I/O failures 'disk_io' with the errno; the simulator injects them, and
//     FileDisk maps ENOSPC/EDQUOT the same way).
// What is NOT checked here: which unsynced bytes survive a crash (the real disk keeps them all, the
// simulator drops or tears them per seed; the contract allows both).
// Paths: '/'-separated, relative to the data directory; '' names the data directory itself
// (list(''), syncDir('')).
//
// Harness contract. `setup()` returns a world on an empty data directory:
//   - `disk` is the Disk before any crash.
//   - `crash()` ends the current incarnation and returns the Disk of the next one. The real
//     harness closes every open file and opens a new FileDisk on the same root; the simulator
//     crashes the node's disk (unsynced writes may be lost). Files opened before are not used again.
//   - `restartProcess()` ends the process but not the machine: the real harness closes every file
//     and opens a new FileDisk; the simulator kills the node's process and keeps its page cache.
//   - `teardown()` frees what the harness made (temp directories).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Disk } from '../../src/env/types.ts';
import { BaristaError } from '../../src/lib/errors.ts';
import { DiskErrorCode, diskErrorCodeFor } from '../../src/env/disk-paths.ts';

export interface DiskWorld {
  readonly disk: Disk;
  crash(): Promise<Disk>;
  restartProcess(): Promise<Disk>;
  teardown(): Promise<void>;
}

export interface DiskHarness {
  setup(): Promise<DiskWorld>;
}

/** The stable code a Disk throws for open({create:false}) of a missing file. */
export const fileNotFoundCode = 'file_not_found';

const bytesOf = (text: string): Uint8Array => new TextEncoder().encode(text);
const textOf = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
/** Compares contents only: an implementation may return a Buffer or a plain Uint8Array. */
const plain = (bytes: Uint8Array): Uint8Array => Uint8Array.from(bytes);

async function withWorld(harness: DiskHarness, body: (world: DiskWorld) => Promise<void>): Promise<void> {
  const world = await harness.setup();
  try {
    await body(world);
  } finally {
    await world.teardown();
  }
}

export function diskCompliance(name: string, harness: DiskHarness): void {
  describe(`Disk compliance: ${name}`, () => {
    test('create, append, read and size', async () => {
      await withWorld(harness, async ({ disk }) => {
        assert.equal(disk.exists('a.log'), false);
        const f = disk.open('a.log', { create: true });
        assert.equal(f.path, 'a.log');
        assert.equal(disk.exists('a.log'), true);
        assert.equal(f.size(), 0);
        f.append(bytesOf('hello '));
        f.append(bytesOf('world'));
        f.append(new Uint8Array(0));
        assert.equal(f.size(), 11);
        assert.equal(textOf(f.read(0, 11)), 'hello world');
        assert.equal(textOf(f.read(6, 5)), 'world');
        assert.equal(f.read(3, 0).byteLength, 0);
        f.close();
        const again = disk.open('a.log', { create: true });
        assert.equal(again.size(), 11, 'create on an existing file keeps its bytes');
        assert.equal(textOf(again.read(0, 100)), 'hello world');
        again.append(bytesOf('!'));
        assert.equal(textOf(again.read(0, 100)), 'hello world!', 'append goes to the end of an existing file');
        again.close();
      });
    });

    test('writeAt overwrites in place and extends past the end', async () => {
      await withWorld(harness, async ({ disk }) => {
        const f = disk.open('w.dat', { create: true });
        f.append(bytesOf('abcdefgh'));
        f.writeAt(2, bytesOf('XY'));
        assert.equal(textOf(f.read(0, 100)), 'abXYefgh');
        assert.equal(f.size(), 8);
        f.writeAt(6, bytesOf('1234'));
        assert.equal(f.size(), 10);
        assert.equal(textOf(f.read(0, 100)), 'abXYef1234');
        f.append(bytesOf('Z'));
        assert.equal(textOf(f.read(0, 100)), 'abXYef1234Z', 'append after writeAt goes to the new end');
        f.close();
      });
    });

    test('truncate shrinks and grows with zeros', async () => {
      await withWorld(harness, async ({ disk }) => {
        const f = disk.open('t.dat', { create: true });
        f.append(bytesOf('0123456789'));
        f.truncate(4);
        assert.equal(f.size(), 4);
        assert.equal(textOf(f.read(0, 100)), '0123');
        f.append(bytesOf('ab'));
        assert.equal(textOf(f.read(0, 100)), '0123ab', 'append after truncate continues at the new end');
        f.truncate(8);
        assert.equal(f.size(), 8);
        assert.deepEqual(plain(f.read(6, 10)), new Uint8Array([0, 0]));
        f.truncate(0);
        assert.equal(f.size(), 0);
        assert.equal(f.read(0, 10).byteLength, 0);
        f.close();
      });
    });

    test('read past the end returns fewer bytes', async () => {
      await withWorld(harness, async ({ disk }) => {
        const f = disk.open('r.dat', { create: true });
        f.append(bytesOf('12345'));
        assert.equal(textOf(f.read(3, 10)), '45');
        assert.equal(f.read(5, 10).byteLength, 0);
        assert.equal(f.read(50, 10).byteLength, 0);
        f.close();
      });
    });

    test('list is sorted, names only, and [] for a missing directory', async () => {
      await withWorld(harness, async ({ disk }) => {
        assert.deepEqual(disk.list('nope'), []);
        disk.mkdirp('d/sub');
        disk.mkdirp('d/sub'); // idempotent
        for (const n of ['c.log', 'a.log', 'b.log', '10.log', '2.log']) disk.open(`d/${n}`, { create: true }).close();
        assert.deepEqual(disk.list('d'), ['10.log', '2.log', 'a.log', 'b.log', 'c.log', 'sub']);
        assert.deepEqual(disk.list('d/sub'), []);
      });
    });

    test('rename replaces the target; remove deletes', async () => {
      await withWorld(harness, async ({ disk }) => {
        const tmp = disk.open('state.tmp', { create: true });
        tmp.append(bytesOf('new'));
        tmp.sync();
        tmp.close();
        const old = disk.open('state', { create: true });
        old.append(bytesOf('old-and-longer'));
        old.close();
        disk.rename('state.tmp', 'state');
        assert.equal(disk.exists('state.tmp'), false);
        const now = disk.open('state', { create: false });
        assert.equal(textOf(now.read(0, 100)), 'new');
        assert.equal(now.size(), 3);
        now.close();
        disk.remove('state');
        assert.equal(disk.exists('state'), false);
        assert.deepEqual(disk.list(''), []);
      });
    });

    test('open without create on a missing file is a typed error', async () => {
      await withWorld(harness, async ({ disk }) => {
        assert.throws(
          () => disk.open('missing.log', { create: false }),
          (err: unknown) => err instanceof BaristaError && err.code === fileNotFoundCode,
        );
        assert.equal(disk.exists('missing.log'), false, 'the failed open created nothing');
      });
    });

    test('a process restart without a power loss keeps every write visible, synced or not', async () => {
      await withWorld(harness, async (world) => {
        const disk = world.disk;
        disk.mkdirp('wal');
        disk.syncDir('');
        const f = disk.open('wal/seg', { create: true });
        f.append(bytesOf('synced|'));
        f.sync();
        disk.syncDir('wal');
        f.append(bytesOf('unsynced'));
        disk.open('wal/new-unsynced-entry', { create: true }).close();
        const after = await world.restartProcess();
        const g = after.open('wal/seg', { create: false });
        assert.equal(textOf(g.read(0, 100)), 'synced|unsynced');
        g.close();
        assert.deepEqual(after.list('wal'), ['new-unsynced-entry', 'seg']);
      });
    });

    test('disk error codes are the stable, shared ones', () => {
      assert.equal(DiskErrorCode.io, 'disk_io');
      assert.equal(DiskErrorCode.noSpace, 'disk_no_space');
      assert.equal(diskErrorCodeFor('ENOSPC'), DiskErrorCode.noSpace);
      assert.equal(diskErrorCodeFor('EDQUOT'), DiskErrorCode.noSpace);
      assert.equal(diskErrorCodeFor('EIO'), DiskErrorCode.io);
    });

    test('synced data and synced directory entries survive a crash', async () => {
      await withWorld(harness, async (world) => {
        const disk = world.disk;
        disk.mkdirp('wal');
        const f = disk.open('wal/0001.log', { create: true });
        const record = new Uint8Array(4096).map((_, i) => (i * 31) & 0xff);
        f.append(record);
        f.writeAt(0, bytesOf('HEAD'));
        f.sync();
        disk.syncDir('wal');
        disk.syncDir('');
        // Atomic replace of a small file: write temp, sync, rename, syncDir.
        const tmp = disk.open('meta.tmp', { create: true });
        tmp.append(bytesOf('term=7'));
        tmp.sync();
        tmp.close();
        disk.rename('meta.tmp', 'meta');
        disk.syncDir('');
        f.append(bytesOf('unsynced tail')); // may or may not survive; not checked

        const after = await world.crash();
        assert.equal(after.exists('wal/0001.log'), true);
        assert.deepEqual(after.list('wal'), ['0001.log']);
        const g = after.open('wal/0001.log', { create: false });
        assert.ok(g.size() >= 4096, `synced bytes lost: size ${g.size()}`);
        const expected = Uint8Array.from(record);
        expected.set(bytesOf('HEAD'), 0);
        assert.deepEqual(plain(g.read(0, 4096)), expected);
        g.close();
        assert.equal(after.exists('meta.tmp'), false);
        const meta = after.open('meta', { create: false });
        assert.equal(textOf(meta.read(0, 100)), 'term=7');
        meta.close();
      });
    });
  });
}
