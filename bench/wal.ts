// WAL throughput with fsync on: appends/s, MB/s and p50/p99 sync latency at batch sizes 1, 16, 256
// and entry sizes 100 B and 4 KiB, side by side with the raw disk in the same run — a plain
// node:fs append + fdatasync loop writing the same bytes per batch, interleaved batch by batch with
// the WAL so both see the same disk — as a ratio (WAL / raw).
//   npm run bench -- wal [--seconds S]   (default 3 s per cell, both sides interleaved)
// Files live in a temp dir on the same filesystem as os.tmpdir(); they are removed afterwards.
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Clock } from '../src/env/types.ts';
import { FileDisk } from '../src/storage/file-disk.ts';
import { memoryLogger } from '../src/env/log.ts';
import { RecordingMetrics } from '../src/storage/wal/test-components.ts';
import { Wal } from '../src/storage/wal/wal.ts';
import { machineLine } from './_machine.ts';

interface Result {
  appendsPerSec: number;
  mbPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

const clock: Clock = { monotonicMs: () => performance.now(), wallMs: () => Date.now() };

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

function summarize(latencies: number[], appends: number, bytes: number, elapsedMs: number): Result {
  latencies.sort((a, b) => a - b);
  return {
    appendsPerSec: (appends / elapsedMs) * 1000,
    mbPerSec: (bytes / 2 ** 20 / elapsedMs) * 1000,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
  };
}

/**
 * Runs the WAL and the raw loop interleaved (one WAL batch, one raw batch, repeat) so both see the
 * same disk conditions on a shared machine; each side's rate is its appends over its own time.
 */
function benchCell(walRoot: string, rawRoot: string, batch: number, entryBytes: number, seconds: number) {
  const disk = new FileDisk({ root: walRoot });
  const { wal } = Wal.open(
    { disk, clock, log: memoryLogger(10_000), metrics: new RecordingMetrics() },
    { dir: 'wal', segmentBytesMax: 64 * 2 ** 20, recordPayloadBytesMax: 2 ** 20, pendingBytesMax: 64 * 2 ** 20 },
  );
  const fd = openSync(join(rawRoot, 'raw.log'), 'a');
  const data = new Uint8Array(entryBytes).fill(7);
  const chunk = Buffer.alloc(batch * entryBytes, 7);
  const walLatencies: number[] = [];
  const rawLatencies: number[] = [];
  let index = 0;
  let walMs = 0;
  let rawMs = 0;
  const deadline = performance.now() + seconds * 1000;
  while (performance.now() < deadline) {
    const records = [];
    for (let i = 0; i < batch; i++) records.push({ type: 'entry' as const, index: ++index, term: 1, data });
    const t0 = performance.now();
    wal.append(records);
    wal.sync();
    const t1 = performance.now();
    writeSync(fd, chunk);
    fdatasyncSync(fd);
    const t2 = performance.now();
    walLatencies.push(t1 - t0);
    rawLatencies.push(t2 - t1);
    walMs += t1 - t0;
    rawMs += t2 - t1;
  }
  wal.close();
  closeSync(fd);
  return {
    wal: summarize(walLatencies, index, index * entryBytes, walMs),
    raw: summarize(rawLatencies, index, index * entryBytes, rawMs),
  };
}

export default async function (args: string[]): Promise<void> {
  const i = args.indexOf('--seconds');
  const seconds = i >= 0 ? Number(args[i + 1]) : 3;
  console.log(`command: npm run bench -- wal --seconds ${seconds}`);
  console.log(machineLine());
  console.log(`dir: ${tmpdir()} (fsync on: one fdatasync per batch)`);
  const header = ['batch', 'entry', 'WAL appends/s', 'raw appends/s', 'ratio', 'WAL MB/s', 'raw MB/s'];
  const header2 = ['WAL sync p50/p99 ms', 'raw p50/p99 ms'];
  console.log([...header, ...header2].join(' | '));
  for (const entryBytes of [100, 4096]) {
    for (const batch of [1, 16, 256]) {
      const walRoot = mkdtempSync(join(tmpdir(), 'bench-wal-'));
      const rawRoot = mkdtempSync(join(tmpdir(), 'bench-raw-'));
      try {
        const { wal: w, raw } = benchCell(walRoot, rawRoot, batch, entryBytes, seconds);
        console.log(
          [
            batch,
            entryBytes === 4096 ? '4 KiB' : `${entryBytes} B`,
            w.appendsPerSec.toFixed(0),
            raw.appendsPerSec.toFixed(0),
            (w.appendsPerSec / raw.appendsPerSec).toFixed(2),
            w.mbPerSec.toFixed(1),
            raw.mbPerSec.toFixed(1),
            `${w.p50Ms.toFixed(2)}/${w.p99Ms.toFixed(2)}`,
            `${raw.p50Ms.toFixed(2)}/${raw.p99Ms.toFixed(2)}`,
          ].join(' | '),
        );
      } finally {
        rmSync(walRoot, { recursive: true, force: true });
        rmSync(rawRoot, { recursive: true, force: true });
      }
    }
  }
}
