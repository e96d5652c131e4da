// A scripted transient read fault for tests: wraps a Disk so that its next `flips` non-empty reads
// come back with the first byte changed (the stored bytes stay intact). The simulator's
// `DiskFaults.readCorruptionProbability` draws such faults at random; this places them exactly,
// so a test can say "one bad read, then good ones" (a transient error that must be read again) or
// "every read bad" (damage that must be believed).

import type { Disk } from '../env/types.ts';

export function flakyReads(inner: Disk, flips: number, damage: (firstByte: number) => number): Disk {
  let left = flips;
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
          if (left > 0 && out.length > 0) {
            left--;
            out[0] = damage(out[0]!);
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
