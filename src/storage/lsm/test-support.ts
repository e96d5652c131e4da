// Test support for the LSM engine's tests (not used in production): a clock the test moves, an
// engine opened on a simulated disk, keys and values from numbers, and a Map model of the store.

import type { Clock, Disk } from '../../env/types.ts';
import type { SimDiskStore } from '../../sim/disk.ts';
import { RecordingMetrics, recordingComponents } from '../wal/test-components.ts';
import { type LsmEngine as Engine, LsmEngine, type LsmOptions, type Write } from './engine.ts';
import { type Entry, keyString } from './entry.ts';

/** Wall time the test sets; monotonic time advances with it. */
export class ManualClock implements Clock {
  nowMs = 1_700_000_000_000;
  monotonicMs(): number {
    return this.nowMs;
  }
  wallMs(): number {
    return this.nowMs;
  }
}

/** Small bounds, so a few hundred writes flush, roll segments and compact. */
export const smallOptions: LsmOptions = {
  dir: 'lsm',
  sync: 'always',
  tombstoneGraceMs: 1000,
  memtableBytesMax: 2048,
  blockBytes: 256,
  commitLogSegmentBytesMax: 8192,
  commitLogPendingBytesMax: 4096,
  keyBytesMax: 64,
  metaBytesMax: 16,
  valueBytesMax: 1024,
  compactionMinRuns: 3,
  runsCountMax: 6,
};

export function openEngine(
  disk: Disk,
  clock: Clock,
  options: Partial<LsmOptions> = {},
  metrics: RecordingMetrics = new RecordingMetrics(),
): Engine {
  const c = recordingComponents();
  return LsmEngine.open({ disk, clock, log: c.log, metrics }, { ...smallOptions, ...options });
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function key(n: number): Uint8Array {
  return encoder.encode(`k${String(n).padStart(4, '0')}`);
}
export function bytes(s: string): Uint8Array {
  return encoder.encode(s);
}
export function text(b: Uint8Array | undefined): string | undefined {
  return b === undefined ? undefined : decoder.decode(b);
}

/** What a reader must see: live values by key string (latin1 of the key bytes). */
export type Model = Map<string, string>;

/** Applies writes to the model as the engine's reads see them at `nowMs` (expired = absent). */
export function applyToModel(model: Model, writes: readonly Write[], nowMs: number): void {
  for (const w of writes) {
    const k = keyString(w.key);
    if (w.kind === 'put' && (w.expiresAtMs === undefined || w.expiresAtMs === 0 || w.expiresAtMs > nowMs)) {
      model.set(k, text(w.value)!);
    } else model.delete(k);
  }
}

/** The engine's live contents, read by one full scan (paged through `next`). */
export function scanAll(engine: Engine, pageEntries = 1000): Model {
  const out: Model = new Map();
  let start: Uint8Array | null = new Uint8Array(0);
  while (start !== null) {
    const page: { entries: Entry[]; next: Uint8Array | null } = engine.scan({ start, end: null, limit: pageEntries });
    for (const e of page.entries) out.set(keyString(e.key), text(e.value)!);
    start = page.next;
  }
  return out;
}

/** The simulated power loss (or process death) an armed disk throws. */
export class PowerLoss extends Error {}

const MUTATING = new Set(['append', 'writeAt', 'truncate', 'sync', 'rename', 'remove', 'syncDir', 'mkdirp']);

/**
 * The simulator's disk with a power loss armed before the n-th mutating call (log-crash.test.ts);
 * with `processOnly` the process dies there instead (kill -9: the page cache survives, unsynced
 * writes may still reach the disk later, or be lost at a later power loss).
 */
export function armedDisk(store: SimDiskStore, countdown: { ops: number; processOnly?: boolean }): Disk {
  const strike = (): void => {
    if (countdown.ops-- === 0) {
      if (countdown.processOnly === true) store.restartProcess();
      else store.crash();
      throw new PowerLoss('power loss');
    }
  };
  const arm = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(t, k, receiver) {
        const v = Reflect.get(t, k, receiver);
        if (typeof v !== 'function') return v;
        return (...args: unknown[]) => {
          const creates =
            k === 'open' && (args[1] as { create: boolean }).create && !(t as Disk).exists(args[0] as string);
          if (MUTATING.has(String(k)) || creates) strike();
          const out = v.apply(t, args);
          return k === 'open' ? arm(out as object) : out;
        };
      },
    });
  return arm(store.view());
}
