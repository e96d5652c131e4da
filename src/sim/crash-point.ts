// Crashes in the middle of a node's disk I/O, not only between events.
//
// The Disk API is synchronous and drivers write and fsync a whole batch inside one event (group
// commit), so a crash scheduled between events finds nothing unsynced: torn and lost writes, the
// very faults the WAL's recovery exists for, would never happen in a cluster run. A CrashPoint is
// armed with a number of disk operations; when the node's Disk reaches that operation the node
// loses power *before* it takes effect (mid-batch: earlier writes of the batch are unsynced and
// fall under the disk's crash semantics, sim/disk.ts), and the node's code is unwound by throwing
// NodeCrashedInIo, which the engine treats as the end of that node's event.
//
// Invariants: a disarmed point costs one integer test per disk operation and changes nothing; a
// point fires at most once per arming; only operations that change or persist state count
// (open-with-create, writes, truncates, syncs, renames, removes, mkdirp) — reads do not.

import type { Disk, DiskFile, NodeId } from '../env/types.ts';

/** Thrown through a node's code at the operation where its CrashPoint fired. Never caught by node code. */
export class NodeCrashedInIo extends Error {
  override readonly name = 'NodeCrashedInIo';
  constructor(readonly node: NodeId) {
    super(`${node} lost power in the middle of a disk operation (simulated)`);
  }
}

export class CrashPoint {
  private opsLeft = 0;

  /** `fire` crashes the node (sim.crash) and throws NodeCrashedInIo. */
  constructor(private readonly fire: () => never) {}

  /** Crash before the `ops`-th state-changing disk operation from now (ops >= 1). */
  arm(ops: number): void {
    this.opsLeft = Math.max(1, Math.floor(ops));
  }

  disarm(): void {
    this.opsLeft = 0;
  }

  get armed(): boolean {
    return this.opsLeft > 0;
  }

  /** Called before each state-changing operation. */
  check(): void {
    if (this.opsLeft > 0 && --this.opsLeft === 0) this.fire();
  }

  wrap(disk: Disk): Disk {
    return new CrashPointDisk(disk, this);
  }
}

class CrashPointDisk implements Disk {
  constructor(
    private readonly inner: Disk,
    private readonly point: CrashPoint,
  ) {}
  open(path: string, options: { create: boolean }): DiskFile {
    if (options.create) this.point.check();
    return new CrashPointFile(this.inner.open(path, options), this.point);
  }
  exists(path: string): boolean {
    return this.inner.exists(path);
  }
  list(dir: string): string[] {
    return this.inner.list(dir);
  }
  mkdirp(dir: string): void {
    this.point.check();
    this.inner.mkdirp(dir);
  }
  rename(from: string, to: string): void {
    this.point.check();
    this.inner.rename(from, to);
  }
  remove(path: string): void {
    this.point.check();
    this.inner.remove(path);
  }
  syncDir(dir: string): void {
    this.point.check();
    this.inner.syncDir(dir);
  }
}

class CrashPointFile implements DiskFile {
  constructor(
    private readonly inner: DiskFile,
    private readonly point: CrashPoint,
  ) {}
  get path(): string {
    return this.inner.path;
  }
  size(): number {
    return this.inner.size();
  }
  read(offset: number, length: number): Uint8Array {
    return this.inner.read(offset, length);
  }
  append(data: Uint8Array): void {
    this.point.check();
    this.inner.append(data);
  }
  writeAt(offset: number, data: Uint8Array): void {
    this.point.check();
    this.inner.writeAt(offset, data);
  }
  truncate(length: number): void {
    this.point.check();
    this.inner.truncate(length);
  }
  sync(): void {
    this.point.check();
    this.inner.sync();
  }
  close(): void {
    this.inner.close();
  }
}
