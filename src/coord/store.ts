// The znode store: where a million znodes live in as few bytes as we can manage (issue 9's memory
// goal: at most ZooKeeper's per znode). No rules here — tree.ts owns them; this file only keeps
// records and the indexes the rules need.
//
// Layout (struct of arrays, one slot per znode, slots reused through a free list):
//  - Stat numbers in typed columns (Float64Array for zxids, times and the owner; Int32Array for
//    versions and the interned ACL number), so a znode costs no object and no boxed numbers;
//  - data as a binary string (one char per byte): small values cost a string header, not a
//    Uint8Array + ArrayBuffer pair; empty data is the shared empty string;
//  - children as a Set of child slots, allocated only for nodes that have children (the name is the
//    tail of the child's path, so no second copy of it is kept);
//  - one Map from path to slot.
// numChildren and dataLength are derived, never stored. `owner` encodes ZooKeeper's
// ephemeralOwner: 0 none, > 0 a session id, -1 a container, ≤ -2 a TTL node with ttl = -owner - 1.

import { assert } from '../lib/assert.ts';

/** Everything a znode holds, as a plain record (undo logs, snapshots, tests). */
export interface NodeRecord {
  data: string;
  acl: number;
  czxid: number;
  mzxid: number;
  pzxid: number;
  ctimeMs: number;
  mtimeMs: number;
  version: number;
  cversion: number;
  aversion: number;
  owner: number;
}

export const OWNER_CONTAINER = -1;
export const ownerOfTtl = (ttlMs: number): number => -ttlMs - 1;
export const ttlOfOwner = (owner: number): number => -owner - 1;

const INITIAL_SLOTS = 1024;

export class ZnodeStore {
  private readonly slots = new Map<string, number>();
  private pathOf: (string | undefined)[] = [];
  private dataOf: string[] = [];
  private kids: (Set<number> | undefined)[] = [];
  private parentOf = new Int32Array(INITIAL_SLOTS);
  private zx = new Float64Array(INITIAL_SLOTS * 3); // czxid, mzxid, pzxid
  private times = new Float64Array(INITIAL_SLOTS * 2); // ctime, mtime
  private ownerOf = new Float64Array(INITIAL_SLOTS);
  private ints = new Int32Array(INITIAL_SLOTS * 4); // version, cversion, aversion, acl
  private readonly free: number[] = [];
  private capacity = INITIAL_SLOTS;
  private used = 0;

  get size(): number {
    return this.slots.size;
  }

  slot(path: string): number | undefined {
    return this.slots.get(path);
  }

  path(slot: number): string {
    return this.pathOf[slot]!;
  }

  private grow(): void {
    const cap = this.capacity * 2;
    const widen = <T extends Float64Array | Int32Array>(a: T, per: number, make: (n: number) => T): T => {
      const b = make(cap * per);
      b.set(a);
      return b;
    };
    this.parentOf = widen(this.parentOf, 1, (n) => new Int32Array(n));
    this.zx = widen(this.zx, 3, (n) => new Float64Array(n));
    this.times = widen(this.times, 2, (n) => new Float64Array(n));
    this.ownerOf = widen(this.ownerOf, 1, (n) => new Float64Array(n));
    this.ints = widen(this.ints, 4, (n) => new Int32Array(n));
    this.capacity = cap;
  }

  /** Adds a node under `parent` (-1 for the root); the path must be free. */
  insert(path: string, parent: number, r: NodeRecord): number {
    assert(!this.slots.has(path), `znode ${path} exists`);
    let s = this.free.pop();
    if (s === undefined) {
      if (this.used === this.capacity) this.grow();
      s = this.used++;
    }
    this.slots.set(path, s);
    this.pathOf[s] = path;
    this.parentOf[s] = parent;
    this.kids[s] = undefined;
    this.write(s, r);
    if (parent >= 0) {
      let k = this.kids[parent];
      if (k === undefined) {
        k = new Set();
        this.kids[parent] = k;
      }
      k.add(s);
    }
    return s;
  }

  /** Removes a childless node. */
  remove(slot: number): void {
    assert(this.childCount(slot) === 0, 'only a childless znode is removed');
    const parent = this.parentOf[slot]!;
    if (parent >= 0) {
      const k = this.kids[parent]!;
      k.delete(slot);
      if (k.size === 0) this.kids[parent] = undefined;
    }
    this.slots.delete(this.pathOf[slot]!);
    this.pathOf[slot] = undefined;
    this.dataOf[slot] = '';
    this.free.push(slot);
  }

  write(s: number, r: NodeRecord): void {
    this.dataOf[s] = r.data;
    this.zx[s * 3] = r.czxid;
    this.zx[s * 3 + 1] = r.mzxid;
    this.zx[s * 3 + 2] = r.pzxid;
    this.times[s * 2] = r.ctimeMs;
    this.times[s * 2 + 1] = r.mtimeMs;
    this.ownerOf[s] = r.owner;
    this.ints[s * 4] = r.version;
    this.ints[s * 4 + 1] = r.cversion;
    this.ints[s * 4 + 2] = r.aversion;
    this.ints[s * 4 + 3] = r.acl;
  }

  read(s: number): NodeRecord {
    return {
      data: this.dataOf[s]!,
      czxid: this.zx[s * 3]!,
      mzxid: this.zx[s * 3 + 1]!,
      pzxid: this.zx[s * 3 + 2]!,
      ctimeMs: this.times[s * 2]!,
      mtimeMs: this.times[s * 2 + 1]!,
      owner: this.ownerOf[s]!,
      version: this.ints[s * 4]!,
      cversion: this.ints[s * 4 + 1]!,
      aversion: this.ints[s * 4 + 2]!,
      acl: this.ints[s * 4 + 3]!,
    };
  }

  data(s: number): string {
    return this.dataOf[s]!;
  }
  owner(s: number): number {
    return this.ownerOf[s]!;
  }
  acl(s: number): number {
    return this.ints[s * 4 + 3]!;
  }
  version(s: number): number {
    return this.ints[s * 4]!;
  }
  cversion(s: number): number {
    return this.ints[s * 4 + 1]!;
  }
  aversion(s: number): number {
    return this.ints[s * 4 + 2]!;
  }
  mtimeMs(s: number): number {
    return this.times[s * 2 + 1]!;
  }
  pzxid(s: number): number {
    return this.zx[s * 3 + 2]!;
  }

  childCount(s: number): number {
    return this.kids[s]?.size ?? 0;
  }

  /** Child slots (unordered). */
  children(s: number): Iterable<number> {
    return this.kids[s] ?? [];
  }

  /** Every path, in no particular order. */
  paths(): IterableIterator<string> {
    return this.slots.keys();
  }
}
