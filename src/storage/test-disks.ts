// Test support: the two Disks every storage test runs on — a FileDisk in a fresh temp directory
// (removed when the test file ends) and the simulator's SimDisk — so one test body proves the same
// behaviour on the real and the simulated disk. Not used in production code.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import type { Disk } from '../env/types.ts';
import { SeededRng } from '../lib/rng.ts';
import { SimDiskStore } from '../sim/disk.ts';
import { FileDisk } from './file-disk.ts';

/** [name, make a fresh empty disk] for FileDisk and SimDisk; `label` names temp dirs and the rng. */
export function bothDisks(label: string): ReadonlyArray<readonly [string, () => Disk]> {
  const roots: string[] = [];
  after(() => {
    for (const root of roots) rmSync(root, { recursive: true, force: true });
  });
  const fileDisk = (): Disk => {
    const root = mkdtempSync(join(tmpdir(), `baristas-${label}-`));
    roots.push(root);
    return new FileDisk({ root });
  };
  return [
    ['FileDisk', fileDisk],
    ['SimDisk', () => new SimDiskStore(new SeededRng(label)).view()],
  ];
}
