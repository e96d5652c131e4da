// FileDisk: the real Disk (src/env/types.ts) over node:fs, rooted at one node's data directory.
// This is an I/O layer: it uses node:fs synchronously, by design (drivers batch and group-commit).
//
// Durability contract (what a crash — power loss, kill -9 with an OS crash — leaves behind):
//   - bytes written to a file survive only once `sync()` (fdatasync) of that file has returned;
//     unsynced writes may be lost, kept, or kept in part;
//   - a directory entry (a created, renamed or removed file) survives only once `syncDir()` of its
//     parent directory has returned (fsync on a directory fd). Atomic replace is: write a temp file,
//     sync it, rename over the target, syncDir the parent;
//   - `mkdirp` does not sync the directories it creates; call syncDir on their parents.
// Paths are '/'-separated and relative to the root; '' is the root itself. Absolute paths, '..',
// '.', empty segments, backslashes and NUL are rejected with a BaristaError 'disk_path_invalid'
// before any system call, so no path can escape the data directory.
// Errors: open({create:false}) of a missing file throws 'file_not_found'; a full file system
// (ENOSPC, EDQUOT) throws 'disk_no_space'; other failures throw a BaristaError 'disk_io' carrying
// the errno code and the relative path (the cause is attached).
// Invariant: each FileHandle knows its size without an fstat per append (kept in `sizeBytes`,
// set by fstat at open and updated by append/writeAt/truncate; this process is the only writer).

import {
  closeSync,
  fdatasyncSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
  constants as fsConstants,
} from 'node:fs';
import { join, resolve } from 'node:path';
import type { Disk, DiskFile } from '../env/types.ts';
import { assert } from '../lib/assert.ts';
import { BaristaError } from '../lib/errors.ts';
import { checkRelativePath, DiskErrorCode, diskErrorCodeFor } from '../env/disk-paths.ts';

export { checkRelativePath, DiskErrorCode, diskPathCharsMax } from '../env/disk-paths.ts';

function errnoOf(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

function ioError(op: string, path: string, err: unknown): BaristaError {
  const errno = errnoOf(err);
  return new BaristaError(diskErrorCodeFor(errno), `${op} ${JSON.stringify(path)} failed: ${errno ?? String(err)}`, {
    cause: err,
    // a failed write or sync may have reached the disk in part
    fields: { op, path, errno },
  });
}

export class FileDisk implements Disk {
  readonly root: string;
  private readonly openFiles = new Set<FileHandle>();

  /** `root` must exist (created with mkdir -p here if missing). */
  constructor(options: { root: string }) {
    this.root = resolve(options.root);
    mkdirSync(this.root, { recursive: true });
  }

  /** Absolute path for a checked relative path. */
  private abs(path: string): string {
    const segments = checkRelativePath(path);
    return segments.length === 0 ? this.root : join(this.root, ...segments);
  }

  open(path: string, options: { create: boolean }): DiskFile {
    const abs = this.abs(path);
    assert(path !== '', 'cannot open the data directory as a file');
    const flags = fsConstants.O_RDWR | (options.create ? fsConstants.O_CREAT : 0);
    let fd: number;
    try {
      fd = openSync(abs, flags, 0o644);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT' && !options.create) {
        throw new BaristaError(DiskErrorCode.fileNotFound, `no such file ${JSON.stringify(path)}`, {
          cause: err,
          fields: { path },
        });
      }
      throw ioError('open', path, err);
    }
    let sizeBytes: number;
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new Error(`not a regular file`);
      sizeBytes = st.size;
    } catch (err) {
      closeSync(fd);
      throw ioError('open', path, err);
    }
    const handle = new FileHandle(path, fd, sizeBytes, (h) => this.openFiles.delete(h));
    this.openFiles.add(handle);
    return handle;
  }

  exists(path: string): boolean {
    try {
      statSync(this.abs(path));
      return true;
    } catch (err) {
      if (err instanceof BaristaError) throw err;
      if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR') return false;
      throw ioError('stat', path, err);
    }
  }

  list(dir: string): string[] {
    try {
      // Byte order of UTF-16 code units, locale-independent, as the contract's "sorted".
      return readdirSync(this.abs(dir)).sort();
    } catch (err) {
      if (err instanceof BaristaError) throw err;
      if (errnoOf(err) === 'ENOENT') return [];
      throw ioError('list', dir, err);
    }
  }

  mkdirp(dir: string): void {
    try {
      mkdirSync(this.abs(dir), { recursive: true });
    } catch (err) {
      if (err instanceof BaristaError) throw err;
      throw ioError('mkdirp', dir, err);
    }
  }

  rename(from: string, to: string): void {
    const a = this.abs(from);
    const b = this.abs(to);
    try {
      renameSync(a, b);
    } catch (err) {
      throw ioError('rename', `${from} -> ${to}`, err);
    }
  }

  remove(path: string): void {
    const abs = this.abs(path);
    assert(path !== '', 'cannot remove the data directory');
    try {
      rmSync(abs, { recursive: true, force: true });
    } catch (err) {
      throw ioError('remove', path, err);
    }
  }

  syncDir(dir: string): void {
    const abs = this.abs(dir);
    let fd: number;
    try {
      fd = openSync(abs, fsConstants.O_RDONLY | (fsConstants.O_DIRECTORY ?? 0));
    } catch (err) {
      throw ioError('syncDir', dir, err);
    }
    try {
      fsyncSync(fd);
    } catch (err) {
      throw ioError('syncDir', dir, err);
    } finally {
      closeSync(fd);
    }
  }

  /** Files opened through this disk and not yet closed. */
  get openFileCount(): number {
    return this.openFiles.size;
  }

  /** Closes every open file (shutdown, and the compliance suite's crash-and-reopen). */
  closeAll(): void {
    for (const f of [...this.openFiles]) f.close();
  }
}

class FileHandle implements DiskFile {
  readonly path: string;
  private fd: number;
  private sizeBytes: number;
  private readonly onClose: (h: FileHandle) => void;

  constructor(path: string, fd: number, sizeBytes: number, onClose: (h: FileHandle) => void) {
    this.path = path;
    this.fd = fd;
    this.sizeBytes = sizeBytes;
    this.onClose = onClose;
  }

  private live(): number {
    if (this.fd < 0) {
      throw new BaristaError(DiskErrorCode.closed, `file ${JSON.stringify(this.path)} is closed`, {
        fields: { path: this.path },
      });
    }
    return this.fd;
  }

  size(): number {
    this.live();
    return this.sizeBytes;
  }

  read(offset: number, length: number): Uint8Array {
    const fd = this.live();
    assert(Number.isSafeInteger(offset) && offset >= 0, `read offset must be a non-negative integer: ${offset}`);
    assert(Number.isSafeInteger(length) && length >= 0, `read length must be a non-negative integer: ${length}`);
    const wanted = Math.max(0, Math.min(length, this.sizeBytes - offset));
    const out = Buffer.allocUnsafe(wanted);
    let filled = 0;
    try {
      while (filled < wanted) {
        const n = readSync(fd, out, filled, wanted - filled, offset + filled);
        if (n === 0) break; // shorter than we believed: someone truncated behind our back
        filled += n;
      }
    } catch (err) {
      throw ioError('read', this.path, err);
    }
    return filled === wanted ? out : out.subarray(0, filled);
  }

  append(data: Uint8Array): void {
    this.writeAt(this.sizeBytes, data);
  }

  writeAt(offset: number, data: Uint8Array): void {
    const fd = this.live();
    assert(Number.isSafeInteger(offset) && offset >= 0, `write offset must be a non-negative integer: ${offset}`);
    let written = 0;
    try {
      while (written < data.byteLength) {
        written += writeSync(fd, data, written, data.byteLength - written, offset + written);
      }
    } catch (err) {
      // Bytes before the failure may be on the page cache: our size reflects what was written.
      this.sizeBytes = Math.max(this.sizeBytes, offset + written);
      throw ioError('write', this.path, err);
    }
    this.sizeBytes = Math.max(this.sizeBytes, offset + data.byteLength);
  }

  truncate(length: number): void {
    const fd = this.live();
    assert(Number.isSafeInteger(length) && length >= 0, `truncate length must be a non-negative integer: ${length}`);
    try {
      ftruncateSync(fd, length);
    } catch (err) {
      throw ioError('truncate', this.path, err);
    }
    this.sizeBytes = length;
  }

  sync(): void {
    const fd = this.live();
    try {
      fdatasyncSync(fd);
    } catch (err) {
      throw ioError('sync', this.path, err);
    }
  }

  close(): void {
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    this.onClose(this);
    try {
      closeSync(fd);
    } catch (err) {
      throw ioError('close', this.path, err);
    }
  }
}
