// What a snapshot of a big znode tree costs the node that takes it (issue 9: "snapshots and other
// big state-machine work must not stall the event loop beyond a bound: with a million znodes, pings
// must still be answered in time"), measured in this process as the Raft driver runs it:
// the coord group's state machine's snapshotInSlices (the tree's walk in slices of COORD_SNAPSHOT_SLICE_NODES_DEFAULT znodes, 256,
// then the image assembled 8 MiB per slice), one slice per timer turn 1 ms apart, while a writer applies a
// setData every millisecond through the namespace (as the driver goes on applying), and a probe
// timer every millisecond records how late it ran (the event loop's stalls: what a ping waits).
// Then the image is written as the Raft driver writes it (src/storage/snapshot.ts saveInSlices on
// the real FileDisk: raft.snapshotWriteSliceBytes (1 MiB) written and fdatasync'd per turn, rename and directory sync at the
// last), and, beside it, the same file in one call as before. Then a restart's side: the file read
// and checked, and the tree restored from it in slices as the driver does at start-up.
//   npm run bench -- coord-snapshot [--znodes N] [--data-bytes B] [--fanout F]
// Defaults: 1,000,000 znodes of 100 B data, 1,000 children per parent (coord-memory's tree).
// No reference: ZooKeeper snapshots in a background thread (its loop does not stall); the numbers
// stand on their own against the bound a client needs (a ping answered well within its session
// timeout's third: 2/3 of the 4 s minimum session is 2.7 s).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { encodeCommand } from '../src/coord/command.ts';
import { COORD_SNAPSHOT_SLICE_NODES_DEFAULT } from '../src/coord/namespace.ts';
import { nullMetrics, silentLogger } from '../src/net/testing.ts';
import { FileDisk } from '../src/storage/file-disk.ts';
import { defaultRaftTiming } from '../src/raft/driver.ts';
import { SnapshotStore, snapshotDefaults } from '../src/storage/snapshot.ts';
import { CoordStateMachine } from '../src/services/coord/state-machine.ts';
import { machineLine } from './_machine.ts';
import { buildTree, childPath, shapeOf, shapeOptions } from './_znode-tree.ts';

export default async function coordSnapshot(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      ...shapeOptions,
    },
  });
  const shape = shapeOf(values);
  const { znodes, dataBytes, fanout } = shape;

  const pct = (xs: number[], p: number): number => {
    const s = xs.slice().sort((a, b) => a - b);
    return s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
  };
  const ms = (x: number): string => `${x.toFixed(1)} ms`;

  // The coord group's state machine as a node builds it (its snapshotInSlices is what the driver calls).
  const sm = new CoordStateMachine();
  const ns = sm.znodes;
  const built = performance.now();
  let zxid = buildTree(ns.tree, shape);
  process.stdout.write(`${machineLine()}\n`);
  process.stdout.write(
    `command: npm run bench -- coord-snapshot --znodes ${znodes} --data-bytes ${dataBytes} --fanout ${fanout}\n`,
  );
  process.stdout.write(
    `tree: ${ns.tree.size} znodes of ${dataBytes} B, ${fanout} per parent, built in ${((performance.now() - built) / 1000).toFixed(1)} s\n`,
  );

  // The writer: one setData per millisecond through the namespace's apply (a command as the log
  // carries it), each on a znode spread over the tree; its delay is how late it ran.
  const setData = (i: number): Uint8Array =>
    encodeCommand({
      type: 'write',
      header: { timeMs: 1_764_000_000_000 + zxid, sessionId: 0, identities: [] },
      op: {
        op: 'setData',
        path: childPath(shape, (i * 7919) % znodes),
        data: new Uint8Array(dataBytes).fill(65),
        version: -1,
      },
    });

  interface Run {
    readonly slices: number[];
    readonly lastSliceMs: number;
    readonly totalMs: number;
    readonly probeLateMs: number[];
    readonly writes: number;
    readonly writeLateMs: number[];
    readonly kept: number;
    readonly image: Uint8Array;
  }

  function takeSnapshot(done: (r: Run) => void): void {
    const slices: number[] = [];
    const probeLateMs: number[] = [];
    const writeLateMs: number[] = [];
    let writes = 0;
    let kept = 0;
    let finished = false;
    const started = performance.now();
    let probeDue = performance.now() + 1;
    const probe = (): void => {
      if (finished) return;
      const now = performance.now();
      probeLateMs.push(Math.max(0, now - probeDue));
      probeDue = now + 1;
      setTimeout(probe, 1);
    };
    let writeDue = performance.now() + 1;
    const writer = (): void => {
      if (finished) return;
      const now = performance.now();
      writeLateMs.push(Math.max(0, now - writeDue));
      ns.apply({ index: ++zxid, logTimeMs: 0, term: 1, sessionId: 0 }, setData(writes++));
      writeDue = performance.now() + 1;
      setTimeout(writer, 1);
    };
    const step = sm.snapshotInSlices();
    const slice = (): void => {
      const t = performance.now();
      kept = Math.max(kept, ns.tree.frozenKept);
      const image = step();
      slices.push(performance.now() - t);
      if (image === undefined) {
        setTimeout(slice, 1);
        return;
      }
      finished = true;
      done({
        slices,
        lastSliceMs: slices[slices.length - 1]!,
        totalMs: performance.now() - started,
        probeLateMs,
        writes,
        writeLateMs,
        kept,
        image,
      });
    };
    setTimeout(probe, 1);
    setTimeout(writer, 1);
    setTimeout(slice, 1);
  }

  const r = await new Promise<Run>((resolve) => takeSnapshot(resolve));
  {
    process.stdout.write(
      `snapshot in slices (${COORD_SNAPSHOT_SLICE_NODES_DEFAULT} znodes, or 8 MiB of the image, a slice): ${r.slices.length} slices in ${(r.totalMs / 1000).toFixed(1)} s; ` +
        `slice p50 ${ms(pct(r.slices, 50))}, p99 ${ms(pct(r.slices, 99))}, max before the last ${ms(Math.max(...r.slices.slice(0, -1)))}; ` +
        `image ${(r.image.length / 2 ** 20).toFixed(0)} MiB; last slice ${ms(r.lastSliceMs)}\n`,
    );
    process.stdout.write(
      `meanwhile: ${r.writes} setData applied (late p50 ${ms(pct(r.writeLateMs, 50))}, p99 ${ms(pct(r.writeLateMs, 99))}, max ${ms(Math.max(...r.writeLateMs))}); ` +
        `1 ms probe late p99 ${ms(pct(r.probeLateMs, 99))}, max ${ms(Math.max(...r.probeLateMs))}; frozen view kept ${r.kept} records\n`,
    );
    const dir = mkdtempSync(join(tmpdir(), 'coord-snapshot-'));
    try {
      const store = new SnapshotStore(
        { disk: new FileDisk({ root: dir }), log: silentLogger, metrics: nullMetrics },
        { dir: 'snap', retainCount: 3, dataBytesMax: snapshotDefaults.dataBytesMax, configBytesMax: 1024 },
      );
      const snapshot = { index: zxid, term: 1, config: new Uint8Array(0), data: r.image };
      // As the driver writes it: one slice of snapshotWriteSliceBytes (written and synced) per turn.
      const sliceBytes = defaultRaftTiming.snapshotWriteSliceBytes;
      const sliceMs: number[] = [];
      const started = performance.now();
      await new Promise<void>((resolve) => {
        const save = store.saveInSlices({ ...snapshot, index: zxid + 1 }, sliceBytes);
        const slice = (): void => {
          const t = performance.now();
          const name = save.step();
          sliceMs.push(performance.now() - t);
          if (name === undefined) setTimeout(slice, 1);
          else resolve();
        };
        slice();
      });
      const slicedMs = performance.now() - started;
      const t = performance.now();
      store.save(snapshot);
      const oneCallMs = performance.now() - t;
      process.stdout.write(
        `file write in slices of ${sliceBytes / 2 ** 20} MiB (each written and fdatasync'd; rename and dir sync at the last): ` +
          `${sliceMs.length} slices in ${ms(slicedMs)}, slice p50 ${ms(pct(sliceMs, 50))}, max ${ms(Math.max(...sliceMs))}; ` +
          `the same file in one call (temp, fdatasync, rename, dir sync): ${ms(oneCallMs)}\n`,
      );
      // A restart: the file read and checked (one call, before the node answers anything), then
      // restored in slices as the driver does at start-up (restoreInSlicesAtStartBytes), one per turn.
      const readStarted = performance.now();
      const loaded = store.load(snapshot.index, snapshot.term);
      const readMs = performance.now() - readStarted;
      const restored = new CoordStateMachine();
      const restoreMs: number[] = [];
      const restoreStarted = performance.now();
      await new Promise<void>((resolve) => {
        const step = restored.restoreInSlices(snapshot.index, loaded.data);
        const slice = (): void => {
          const t = performance.now();
          const done = step();
          restoreMs.push(performance.now() - t);
          if (done) resolve();
          else setTimeout(slice, 1);
        };
        slice();
      });
      if (restored.znodes.tree.size !== ns.tree.size) throw new Error(`restored ${restored.znodes.tree.size} znodes`);
      process.stdout.write(
        `restart: file read and checked in one call ${ms(readMs)}; restored in ${restoreMs.length} slices in ` +
          `${ms(performance.now() - restoreStarted)}, slice p50 ${ms(pct(restoreMs, 50))}, p99 ${ms(pct(restoreMs, 99))}, ` +
          `max ${ms(Math.max(...restoreMs))} (slice ${restoreMs.indexOf(Math.max(...restoreMs)) + 1}); ${restored.znodes.tree.size} znodes\n`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
