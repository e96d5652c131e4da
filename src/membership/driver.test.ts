// Goal: a node's incarnation grows on every start even when a read of the incarnation file is
// corrupted in transit (one flipped bit in one read, the simulator's read-bitflip fault): a
// flipped "2" must not be read as "0" and hand out an incarnation a previous life already used.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Disk, Env } from '../env/types.ts';
import { SeededRng } from '../lib/rng.ts';
import { SimDiskStore } from '../sim/disk.ts';
import { SimLogSink } from '../sim/observe.ts';
import { bumpIncarnation } from './driver.ts';

/** A Disk whose next `flips` non-empty reads come back with bit 1 of the first byte flipped. */
function flaky(inner: Disk, flips: number): Disk {
  return {
    exists: (p) => inner.exists(p),
    list: (d) => inner.list(d),
    mkdirp: (d) => inner.mkdirp(d),
    rename: (a, b) => inner.rename(a, b),
    remove: (p) => inner.remove(p),
    syncDir: (d) => inner.syncDir(d),
    open: (path, o) => {
      const f = inner.open(path, o);
      return {
        path: f.path,
        size: () => f.size(),
        read: (offset, length) => {
          const out = f.read(offset, length);
          if (flips > 0 && out.length > 0) {
            flips--;
            out[0]! ^= 0x02; // '2' (0x32) reads as '0' (0x30)
          }
          return out;
        },
        append: (d) => f.append(d),
        writeAt: (at, d) => f.writeAt(at, d),
        truncate: (n) => f.truncate(n),
        sync: () => f.sync(),
        close: () => f.close(),
      };
    },
  };
}

function env(disk: Disk): Env {
  const logs = new SimLogSink(() => 0, 100);
  return {
    disk,
    clock: { monotonicMs: () => 0, wallMs: () => 1_767_225_600_000 },
    log: logs.logger('n1'),
  } as unknown as Env;
}

test('a transient bit flip in one read of the incarnation file does not lower the incarnation', () => {
  const store = new SimDiskStore(new SeededRng('inc'));
  assert.equal(bumpIncarnation(env(store.view())), 1);
  assert.equal(bumpIncarnation(env(store.view())), 2);
  assert.equal(bumpIncarnation(env(flaky(store.view(), 1))), 3, 'the file says 2: the next life is 3');
  assert.equal(bumpIncarnation(env(store.view())), 4);
});
