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
//
// A frozen view (freeze/thaw) is the store as it was at freeze() while writes go on: the snapshot
// walk reads it in slices across many event-loop turns with applies continuing (issue 9: a
// million znodes take seconds to encode; holding applies that long delayed every write reply).
// Copy on write, by path: before a node's record changes or the node goes, its record as of the
// freeze is kept (once); a node created after the freeze is kept as `null` (not in the view); a
// removed node is also listed under its parent, so the view's children of P are P's live children
// not created since, plus those removed since and not back. Slots are reused, paths are not
// confused: everything is keyed by path. The kept map grows by one entry per distinct path
// written during the view, at most coordZnodeCountMax + the creates applied meanwhile.

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

/** The copy-on-write state of a frozen view (see the header). */
interface Frozen {
  /** Path -> its record at the freeze, or null: created after it. Absent: unchanged since. */
  readonly kept: Map<string, NodeRecord | null>;
  /** Parent path -> children removed since the freeze that were there at it. */
  readonly removed: Map<string, Set<string>>;
}

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
  private frozen: Frozen | undefined;

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
    if (this.frozen !== undefined && !this.frozen.kept.has(path)) this.frozen.kept.set(path, null);
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
    if (this.frozen !== undefined) this.keepRemoved(slot, parent);
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
    if (this.frozen !== undefined) this.keep(s);
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

  // --- the frozen view --------------------------------------------------------------------------

  /** Starts a frozen view of the store as it is now (one at a time). */
  freeze(): void {
    assert(this.frozen === undefined, 'the store is already frozen');
    this.frozen = { kept: new Map(), removed: new Map() };
  }

  /** Ends the frozen view: writes stop keeping old records. */
  thaw(): void {
    this.frozen = undefined;
  }

  get isFrozen(): boolean {
    return this.frozen !== undefined;
  }

  /** Records kept so far by the frozen view (its memory). */
  get frozenKept(): number {
    return this.frozen?.kept.size ?? 0;
  }

  /** A node of the frozen view: its record and its children's paths (unordered); undefined if not in it. */
  frozenNode(path: string): { record: NodeRecord; children: string[] } | undefined {
    const f = this.frozen;
    assert(f !== undefined, 'the store is not frozen');
    const kept = f.kept.get(path);
    if (kept === null) return undefined;
    const s = this.slots.get(path);
    const record = kept ?? (s === undefined ? undefined : this.read(s));
    if (record === undefined) return undefined;
    const children: string[] = [];
    if (s !== undefined)
      for (const c of this.children(s)) {
        const child = this.pathOf[c]!;
        if (f.kept.get(child) !== null) children.push(child);
      }
    for (const child of f.removed.get(path) ?? []) if (!this.slots.has(child)) children.push(child);
    return { record, children };
  }

  private keep(s: number): void {
    const kept = this.frozen!.kept;
    const path = this.pathOf[s]!;
    if (!kept.has(path)) kept.set(path, this.read(s));
  }

  private keepRemoved(slot: number, parent: number): void {
    this.keep(slot);
    const path = this.pathOf[slot]!;
    if (parent < 0 || this.frozen!.kept.get(path) === null) return;
    const parentPath = this.pathOf[parent]!;
    let removed = this.frozen!.removed.get(parentPath);
    if (removed === undefined) {
      removed = new Set();
      this.frozen!.removed.set(parentPath, removed);
    }
    removed.add(path);
  }
}
