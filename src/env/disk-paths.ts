// The Disk contract's path rules and error codes, shared by the real FileDisk (src/storage) and
// the simulator's SimDisk (src/sim), so both reject exactly the same paths with the same codes.
// Pure: no node:* imports (the simulator may use it).
//
// Paths are '/'-separated and relative to the node's data directory; '' is the directory itself.
// Absolute paths, '.', '..', empty segments, backslashes and NUL are rejected before any I/O.

import type { ErrorCode } from '../lib/error-codes.ts';
import { BaristaError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';

export const DiskErrorCode = {
  pathInvalid: 'disk_path_invalid',
  fileNotFound: 'file_not_found',
  /** An I/O failure; `fields.errno` carries the errno (EIO, EISDIR, ...). Not retriable in place. */
  io: 'disk_io',
  /**
   * The file system is full (ENOSPC, EDQUOT): nothing of the failed write may be relied on, but the
   * data written before it is intact. Separate from `io` so operators and callers can tell a full
   * disk from a failing one.
   */
  noSpace: 'disk_no_space',
  closed: 'disk_file_closed',
  /** Simulator only: a handle from before a crash was used. */
  stale: 'disk_handle_stale',
} as const satisfies Record<string, ErrorCode>;
export type DiskErrorCode = (typeof DiskErrorCode)[keyof typeof DiskErrorCode];

/** Longest relative path accepted (UTF-16 code units; far below PATH_MAX). */
export const diskPathCharsMax = limits.diskPathCharsMax;

/** The errnos FileDisk reports as `disk_no_space` instead of `disk_io`. */
export const noSpaceErrnos: ReadonlySet<string> = new Set(['ENOSPC', 'EDQUOT']);

/** Stable code for a failed disk operation with this errno. */
export function diskErrorCodeFor(errno: string | undefined): 'disk_no_space' | 'disk_io' {
  return errno !== undefined && noSpaceErrnos.has(errno) ? DiskErrorCode.noSpace : DiskErrorCode.io;
}

/** Checks a relative path and returns its segments ([] for the root); throws disk_path_invalid. */
export function checkRelativePath(path: string): string[] {
  const invalid = (why: string): BaristaError =>
    new BaristaError(DiskErrorCode.pathInvalid, `invalid data path ${JSON.stringify(path)}: ${why}`, {
      fields: { path },
    });
  if (path.length > diskPathCharsMax) throw invalid(`longer than ${diskPathCharsMax} characters`);
  if (path === '') return [];
  if (path.startsWith('/')) throw invalid('absolute paths are not allowed');
  if (path.includes('\\') || path.includes('\0')) throw invalid('backslash and NUL are not allowed');
  const segments = path.split('/');
  for (const s of segments) {
    if (s === '') throw invalid('empty segment');
    if (s === '.' || s === '..') throw invalid(`'${s}' segments are not allowed`);
  }
  return segments;
}
