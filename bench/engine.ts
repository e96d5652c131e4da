// LSM engine throughput on the real file disk (src/storage/file-disk.ts): puts/s of 100 B values
// under each sync policy — 'always' one apply (one fdatasync) per put and with 50 puts per apply
// (group commit, as a server gathers one turn's writes from 50 clients), 'periodic' with the
// driver's sync every 1000 ms (Redis appendfsync everysec), 'none' — then gets/s of random
// written keys, all served from runs after a flush (data blocks read from the page cache, bloom
// and index in memory). Keys are 16 bytes, values 100 bytes, default engine options (64 MiB
// memtable, 4 KiB blocks, 10 bloom bits per key): flushes and compactions in the put phase count.
//   npm run bench -- engine [--seconds S]   (default 3 s per phase)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Clock } from '../src/env/types.ts';
import { memoryLogger } from '../src/env/log.ts';
import { FileDisk } from '../src/storage/file-disk.ts';
import { LsmEngine, type SyncPolicy } from '../src/storage/lsm/engine.ts';
import { RecordingMetrics } from '../src/storage/wal/test-components.ts';
import { machineLine } from './_machine.ts';

const clock: Clock = { monotonicMs: () => performance.now(), wallMs: () => Date.now() };
const periodicSyncMs = 1000;

function keyOf(i: number): Uint8Array {
  return new TextEncoder().encode(`key:${String(i).padStart(12, '0')}`);
}

interface Row {
  readonly label: string;
  readonly putsPerSec: number;
  readonly getsPerSec: number;
  readonly keys: number;
  readonly runs: number;
  readonly runMemoryBytes: number;
}

function benchPolicy(root: string, policy: SyncPolicy, batch: number, seconds: number): Row {
  const disk = new FileDisk({ root });
  const engine = LsmEngine.open(
    { disk, clock, log: memoryLogger(1000), metrics: new RecordingMetrics() },
    { dir: 'lsm', sync: policy, tombstoneGraceMs: 864_000_000 },
  );
  const value = new Uint8Array(100).fill(7);
  let puts = 0;
  let lastSyncMs = performance.now();
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  while (performance.now() < deadline) {
    const writes = [];
    for (let i = 0; i < batch; i++) writes.push({ kind: 'put' as const, key: keyOf(puts++), value });
    engine.apply(writes);
    if (policy === 'periodic' && (puts & 255) < batch) {
      const now = performance.now();
      if (now - lastSyncMs >= periodicSyncMs) {
        engine.sync();
        lastSyncMs = now;
      }
    }
  }
  const putMs = performance.now() - t0;
  engine.flush();
  let gets = 0;
  let state = 12345;
  const g0 = performance.now();
  const gDeadline = g0 + seconds * 1000;
  while (performance.now() < gDeadline) {
    for (let i = 0; i < 256; i++) {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      const found = engine.get(keyOf(state % puts));
      if (found === undefined) throw new Error('a written key is missing');
      gets++;
    }
  }
  const getMs = performance.now() - g0;
  const stats = engine.stats();
  engine.close();
  return {
    label: batch === 1 ? policy : `${policy} x${batch}/apply`,
    putsPerSec: (puts / putMs) * 1000,
    getsPerSec: (gets / getMs) * 1000,
    keys: puts,
    runs: stats.runs.length,
    runMemoryBytes: stats.runMemoryBytes,
  };
}

export default async function (args: string[]): Promise<void> {
  const i = args.indexOf('--seconds');
  const seconds = i >= 0 ? Number(args[i + 1]) : 3;
  console.log(`command: npm run bench -- engine --seconds ${seconds}`);
  console.log(machineLine());
  console.log(`dir: ${tmpdir()}; 16 B keys, 100 B values; gets after a flush (from runs)`);
  console.log(['policy', 'puts/s', 'gets/s', 'keys', 'runs', 'index+bloom bytes'].join(' | '));
  const cells: [SyncPolicy, number][] = [
    ['always', 1],
    ['always', 50],
    ['periodic', 1],
    ['none', 1],
  ];
  for (const [policy, batch] of cells) {
    const root = mkdtempSync(join(tmpdir(), 'bench-lsm-'));
    try {
      const r = benchPolicy(root, policy, batch, seconds);
      console.log(
        [r.label, r.putsPerSec.toFixed(0), r.getsPerSec.toFixed(0), r.keys, r.runs, r.runMemoryBytes].join(' | '),
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }
}
