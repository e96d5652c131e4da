// Two Raft groups on one node: one WAL per group against one shared WAL, on the same disk in the
// same run. Disk calls are synchronous, so per-group WALs fsync one after the other on the one
// event loop; a shared WAL makes one fsync per event-loop turn cover every group (as TiKV and
// CockroachDB share their storage engine). Each "turn" is what the driver's group commit folds
// into one Ready per group: `kv` appends a batch, `metadata` appends a batch, and the turn ends
// when both are durable. Both layouts run interleaved turn by turn, so they see the same disk.
//
// The shared side is a prototype: one existing Wal holding both groups' records in one index
// sequence (a real shared WAL would add a group id to each record, a few bytes, and keep one
// index sequence per group); what it measures is the cost that matters, the number of fsyncs.
//   npm run bench -- raft-groups-wal [--seconds S]   (default 3 s per scenario)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Clock } from '../src/env/types.ts';
import { memoryLogger } from '../src/env/log.ts';
import { FileDisk } from '../src/storage/file-disk.ts';
import { RecordingMetrics } from '../src/storage/wal/test-components.ts';
import { Wal } from '../src/storage/wal/wal.ts';
import { machineLine } from './_machine.ts';

const clock: Clock = { monotonicMs: () => performance.now(), wallMs: () => Date.now() };

function openWal(root: string, dir: string): Wal {
  return Wal.open(
    { disk: new FileDisk({ root }), clock, log: memoryLogger(10_000), metrics: new RecordingMetrics() },
    { dir, segmentBytesMax: 64 * 2 ** 20, recordPayloadBytesMax: 2 ** 20, pendingBytesMax: 64 * 2 ** 20 },
  ).wal;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

interface Scenario {
  readonly name: string;
  /** Entries per turn and bytes per entry, per group. */
  readonly kv: { batch: number; entryBytes: number };
  readonly metadata: { batch: number; entryBytes: number };
}

interface Side {
  turns: number;
  fsyncs: number;
  ms: number;
  /** Turn start to both groups durable (on one event loop, a group's write waits for every fsync ahead of it). */
  turnMs: number[];
}

function run(root: string, s: Scenario, seconds: number): { perGroup: Side; shared: Side } {
  const kvWal = openWal(root, 'raft/kv/wal');
  const metaWal = openWal(root, 'raft/metadata/wal');
  const sharedWal = openWal(root, 'raft/shared/wal');
  const kvData = new Uint8Array(s.kv.entryBytes).fill(7);
  const metaData = new Uint8Array(s.metadata.entryBytes).fill(9);
  const idx = { kv: 0, meta: 0, shared: 0 };
  const side = (): Side => ({ turns: 0, fsyncs: 0, ms: 0, turnMs: [] });
  const perGroup = side();
  const shared = side();
  const records = (n: number, data: Uint8Array, next: () => number) =>
    Array.from({ length: n }, () => ({ type: 'entry' as const, index: next(), term: 1, data }));
  const deadline = performance.now() + seconds * 1000;
  while (performance.now() < deadline) {
    // One WAL per group: the kv group's Ready is processed first (its fsync), then metadata's.
    let t0 = performance.now();
    kvWal.append(records(s.kv.batch, kvData, () => ++idx.kv));
    kvWal.sync();
    metaWal.append(records(s.metadata.batch, metaData, () => ++idx.meta));
    metaWal.sync();
    let t1 = performance.now();
    perGroup.turns++;
    perGroup.fsyncs += 2;
    perGroup.ms += t1 - t0;
    perGroup.turnMs.push(t1 - t0);
    // One shared WAL: both groups' records, one fsync.
    t0 = performance.now();
    sharedWal.append([
      ...records(s.kv.batch, kvData, () => ++idx.shared),
      ...records(s.metadata.batch, metaData, () => ++idx.shared),
    ]);
    sharedWal.sync();
    t1 = performance.now();
    shared.turns++;
    shared.fsyncs += 1;
    shared.ms += t1 - t0;
    shared.turnMs.push(t1 - t0);
  }
  kvWal.close();
  metaWal.close();
  sharedWal.close();
  return { perGroup, shared };
}

export default async function (args: string[]): Promise<void> {
  const i = args.indexOf('--seconds');
  const seconds = i >= 0 ? Number(args[i + 1]) : 3;
  console.log(`command: npm run bench -- raft-groups-wal --seconds ${seconds}`);
  console.log(machineLine());
  console.log(`dir: ${tmpdir()} (one fdatasync per WAL per turn; both layouts interleaved turn by turn)`);
  const scenarios: Scenario[] = [
    { name: 'both c=1, 100 B', kv: { batch: 1, entryBytes: 100 }, metadata: { batch: 1, entryBytes: 100 } },
    { name: 'both 16 x 100 B', kv: { batch: 16, entryBytes: 100 }, metadata: { batch: 16, entryBytes: 100 } },
    {
      name: 'kv storm 256 x 4 KiB, metadata 1 x 100 B',
      kv: { batch: 256, entryBytes: 4096 },
      metadata: { batch: 1, entryBytes: 100 },
    },
  ];
  console.log('scenario | layout | turns/s | fsyncs/s | entries/s | turn p50/p99 ms');
  for (const s of scenarios) {
    const root = mkdtempSync(join(tmpdir(), 'bench-groups-'));
    try {
      const r = run(root, s, seconds);
      for (const [layout, side] of [
        ['WAL per group', r.perGroup],
        ['shared WAL', r.shared],
      ] as const) {
        const perSec = (n: number) => ((n / side.ms) * 1000).toFixed(0);
        side.turnMs.sort((a, b) => a - b);
        console.log(
          [
            s.name,
            layout,
            perSec(side.turns),
            perSec(side.fsyncs),
            perSec(side.turns * (s.kv.batch + s.metadata.batch)),
            `${percentile(side.turnMs, 50).toFixed(2)}/${percentile(side.turnMs, 99).toFixed(2)}`,
          ].join(' | '),
        );
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }
}
