// The manifest: the one file that says which runs are live, in which order, and up to which write
// sequence the runs hold everything (the commit log is replayed above it). Replaced atomically
// (writeFileAtomic: temp, fdatasync, rename, syncDir), so after any crash it is the old list or
// the new one; a run file not listed is an unfinished flush or compaction and is removed at open.
//
// Grammar (little-endian):
//   manifest := magic:u32 version:u16 0:u16 flushedSeq:u64 nextRunId:u64 count:u32 runId:u64{count} crc:u32
//   crc      := crc32c of everything before it
//   runIds are oldest first; runs cover disjoint, increasing seq ranges (compaction merges only
//   adjacent runs), so a point read may stop at the newest run holding the key.

import { crc32c } from '@node-rs/crc32';
import { readWholeFileStable, writeFileAtomic } from '../../env/disk-io.ts';
import type { Disk } from '../../env/types.ts';
import { CorruptionError } from '../../lib/errors.ts';
import { getU64, setU64 } from './entry.ts';

export const MANIFEST_NAME = 'MANIFEST';
const MAGIC = 0x4c534d4d; // 'LSMM'
const VERSION = 1;

export interface Manifest {
  /** Every write with seq <= flushedSeq is in the runs; the commit log replays the ones above. */
  readonly flushedSeq: number;
  /** The id the next run file gets (ids are never reused). */
  readonly nextRunId: number;
  /** Live runs, oldest first. */
  readonly runIds: readonly number[];
}

export const emptyManifest: Manifest = { flushedSeq: 0, nextRunId: 1, runIds: [] };

export function encodeManifest(m: Manifest): Uint8Array {
  const out = new Uint8Array(28 + 8 * m.runIds.length + 4);
  const v = new DataView(out.buffer);
  const u64 = (at: number, n: number) => setU64(v, at, n);
  v.setUint32(0, MAGIC, true);
  v.setUint16(4, VERSION, true);
  u64(8, m.flushedSeq);
  u64(16, m.nextRunId);
  v.setUint32(24, m.runIds.length, true);
  for (const [i, id] of m.runIds.entries()) u64(28 + 8 * i, id);
  v.setUint32(out.byteLength - 4, crc32c(out.subarray(0, out.byteLength - 4)), true);
  return out;
}

/** Decodes manifest bytes; a reason string when they are not a valid manifest. */
export function decodeManifest(b: Uint8Array): Manifest | string {
  if (b.byteLength < 32) return `manifest of ${b.byteLength} bytes is too short`;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (crc32c(b.subarray(0, b.byteLength - 4)) !== v.getUint32(b.byteLength - 4, true)) return 'manifest fails its CRC';
  if (v.getUint32(0, true) !== MAGIC) return 'bad manifest magic';
  if (v.getUint16(4, true) !== VERSION) return `unknown manifest version ${v.getUint16(4, true)}`;
  const u64 = (at: number) => getU64(v, at);
  const count = v.getUint32(24, true);
  if (b.byteLength !== 32 + 8 * count) return `manifest of ${b.byteLength} bytes does not hold ${count} runs`;
  const runIds: number[] = [];
  for (let i = 0; i < count; i++) runIds.push(u64(28 + 8 * i));
  const nextRunId = u64(16);
  const flushedSeq = u64(8);
  if (!Number.isSafeInteger(nextRunId) || !Number.isSafeInteger(flushedSeq)) return 'manifest numbers out of range';
  if (runIds.some((id) => id < 1 || id >= nextRunId) || new Set(runIds).size !== runIds.length) {
    return 'manifest run ids out of range or repeated';
  }
  return { flushedSeq, nextRunId, runIds };
}

/** Reads the manifest of `dir` (emptyManifest when there is none); CorruptionError when damaged. */
export function readManifest(disk: Disk, dir: string): Manifest {
  const path = `${dir}/${MANIFEST_NAME}`;
  if (!disk.exists(path)) return emptyManifest;
  const { bytes } = readWholeFileStable(disk, path);
  const m = decodeManifest(bytes);
  if (typeof m === 'string')
    throw new CorruptionError(`lsm manifest ${path}: ${m} at offset 0`, { file: path, offset: 0 });
  return m;
}

export function writeManifest(disk: Disk, dir: string, m: Manifest): void {
  writeFileAtomic(disk, `${dir}/${MANIFEST_NAME}`, [encodeManifest(m)]);
}
