// Durable file-system idioms over the Disk contract (src/env/types.ts), shared by every store
// (WAL, snapshots, membership's incarnation file) and usable in the simulator (pure: no node:*).
//
//   mkdirpDurable    mkdirp + syncDir of every ancestor: Disk.mkdirp does not make new directory
//                    entries durable, so without this a crash can take a new directory, and every
//                    file in it, away even after those files were synced.
//   writeFileAtomic  write `<path>.tmp`, fdatasync, rename over `path`, syncDir: after a crash the
//                    file holds the old content or the new, never a mix.
//   readWholeFile    the bytes of a file as a reader sees them now.

import { bytesEqual } from '../lib/bytes.ts';
import { checkRelativePath } from './disk-paths.ts';
import type { Disk } from './types.ts';
import { limits } from '../lib/limits.ts';

export const TEMP_SUFFIX = '.tmp';

export function mkdirpDurable(disk: Disk, dir: string): void {
  disk.mkdirp(dir);
  const parts = checkRelativePath(dir);
  for (let i = 0; i < parts.length; i++) disk.syncDir(parts.slice(0, i).join('/'));
}

export function parentDir(path: string): string {
  const parts = checkRelativePath(path);
  return parts.slice(0, -1).join('/');
}

/** Replaces `path` with the concatenation of `parts`, atomically and durably. */
export function writeFileAtomic(disk: Disk, path: string, parts: Iterable<Uint8Array>): void {
  const tempPath = `${path}${TEMP_SUFFIX}`;
  if (disk.exists(tempPath)) disk.remove(tempPath);
  const file = disk.open(tempPath, { create: true });
  try {
    for (const part of parts) file.append(part);
    file.sync();
  } finally {
    file.close();
  }
  disk.rename(tempPath, path);
  disk.syncDir(parentDir(path));
}

export function readWholeFile(disk: Disk, path: string): Uint8Array {
  const file = disk.open(path, { create: false });
  try {
    return file.read(0, file.size());
  } finally {
    file.close();
  }
}

/**
 * Reads of one file before a transient read error is no longer assumed: two consecutive reads
 * must agree (or one must verify) before a defect is believed. Shared by the WAL, snapshots, the
 * incarnation and identity files. With a transient flip in up to 10 % of read calls (the swarm's
 * read-bitflip ceiling) a pair disagrees ~19 % of the time: 4 reads refused to boot ~0.7 % of the
 * time (swarm seed 667), 16 leave ~0.19^15, under 1e-10.
 */
export const diskReadAttemptsMax = limits.diskReadAttemptsMax;

/**
 * The bytes of a small file, read until two consecutive reads agree, so one flipped bit in one
 * read (a transient error) is not taken for what the file holds. `agreed` is false when no two
 * consecutive reads of `diskReadAttemptsMax` matched: the caller must not trust `bytes`.
 */
export function readWholeFileStable(disk: Disk, path: string): { bytes: Uint8Array; agreed: boolean } {
  let bytes = readWholeFile(disk, path);
  for (let attempt = 1; attempt < diskReadAttemptsMax; attempt++) {
    const again = readWholeFile(disk, path);
    if (bytesEqual(again, bytes)) return { bytes, agreed: true };
    bytes = again;
  }
  return { bytes, agreed: false };
}
