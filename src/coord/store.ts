// The znode store: where a million znodes live in as few bytes as we can manage (issue 9's memory
// goal: at most ZooKeeper's per znode). No rules here — tree.ts owns them; this file only keeps
// records and the indexes the rules need.
//
// Layout (struct of arrays, one slot per znode, slots reused through a free list):
//  - Stat numbers in typed columns (Float64Array for zxids, times and the owner; Int32Array for
//    versions and the interned ACL number), so a znode costs no object and no boxed numbers;
//  - data as a binary string (one char per byte): small values cost a string header, not a
//    Uint8Array + ArrayBuffer pair; empty data is the shared empty string;
//  - children as a set of child slots, allocated only for nodes that have children (the name is the
//    tail of the child's path, so no second copy of it is kept), in insertion order, in Sets of
//    at most CHILD_CHUNK_MEMBERS_MAX (ChildSlots: a single Set's rehash at 2M children held an
//    insert 0.5 s);
//  - the path -> slot index in 16 Maps of unequal shares (by a hash of the path's tail), and the
//    columns (typed ones, and each slot's path, data and children) in pages of 65,536 slots:
//    nothing grows by one big copy (at a million znodes a single Map's rehash took ~250 ms,
//    doubling the typed columns ~0.4 s, growing one plain array 80-120 ms, 16 equal Maps
//    doubling together ~55 ms, each in one insert).
// numChildren and dataLength are derived, never stored. `owner` encodes ZooKeeper's
// ephemeralOwner: 0 none, > 0 a session id, -1 a container, ≤ -2 a TTL node with ttl = -owner - 1.
//
// A frozen view (freeze/thaw) is the store as it was at freeze() while writes go on: the snapshot
// walk reads it in slices across many event-loop turns with applies continuing (issue 9: a
// million znodes take seconds to encode; holding applies that long delayed every write reply).
// Copy on write, by path: before a node's record changes or the node goes, its record as of the
// freeze is kept (once); a node created after the freeze is kept as `null` (not in the view); a
// removed node is also listed under its parent, so the view's children of P are P's live children
// not created since, plus those removed since (listed in pages: a path may come twice, see
// FrozenChildren). Slots are reused, paths are not
// confused: everything is keyed by path. The kept map grows by one entry per distinct path
// written during the view that existed at the freeze or still exists, at most twice
// coordZnodeCountMax.

import { assert } from '../lib/assert.ts';
import { utf8ByteLength } from '../lib/bytes.ts';

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

/**
 * A znode record's bytes in a snapshot section beside its path and data (namespace.ts's Node: the
 * path's and data's lengths, the ACL number, three zxids as uvarints of up to 2^53, three f64s,
 * three i32 varints and the f64 owner, at most 83), rounded up.
 */
export const ZNODE_RECORD_BYTES_MAX = 96;

/** What a znode counts toward the tree's bytes (tree.ts TreeOptions.bytesMax): at least its snapshot record. */
export function znodeBytes(path: string, dataBytes: number): number {
  return utf8ByteLength(path) + dataBytes + ZNODE_RECORD_BYTES_MAX;
}

export const OWNER_CONTAINER = -1;
export const ownerOfTtl = (ttlMs: number): number => -ttlMs - 1;
export const ttlOfOwner = (owner: number): number => -owner - 1;

const INITIAL_SLOTS = 1024;

/** A child set's chunks hold at most this many members: no rehash copies more. */
export const CHILD_CHUNK_MEMBERS_MAX = 1 << 15;

/**
 * A znode's child slots, in insertion order, in chunks of at most CHILD_CHUNK_MEMBERS_MAX (one Set
 * each): no add rehashes more than one chunk, so a parent with millions of children (a queue, a
 * registry) grows without an insert that holds the event loop (a single Set's rehash at 2M took
 * 0.5 s). Insertion order is kept on purpose: the snapshot walk sorts a parent's children, and
 * children created in name order (sequential nodes) sort in linear time; a split by slot modulo
 * 64 shuffled them and the sort of a 1M-children parent took one slice 0.7 s instead of 0.19.
 * A delete probes the chunks in turn (at most count / CHILD_CHUNK_MEMBERS_MAX Sets); an emptied
 * chunk goes. `add` takes a slot that is not a member (the store's new node), as `has` would
 * cost as much as a delete.
 */
export class ChildSlots implements Iterable<number> {
  private readonly chunks: Set<number>[] = [new Set()];
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(slot: number): void {
    let last = this.chunks[this.chunks.length - 1]!;
    if (last.size >= CHILD_CHUNK_MEMBERS_MAX) {
      last = new Set();
      this.chunks.push(last);
    }
    last.add(slot);
    this.count++;
  }

  delete(slot: number): void {
    const chunks = this.chunks;
    for (let i = 0; i < chunks.length; i++) {
      const chunk = chunks[i]!;
      if (!chunk.delete(slot)) continue;
      this.count--;
      if (chunk.size === 0 && chunks.length > 1) chunks.splice(i, 1);
      return;
    }
  }

  [Symbol.iterator](): Iterator<number> {
    return this.members()[Symbol.iterator]();
  }

  /** The members in insertion order: the one chunk itself, or the chunks' members in one array. */
  members(): Iterable<number> {
    if (this.chunks.length === 1) return this.chunks[0]!;
    const out = new Array<number>(this.count);
    let i = 0;
    for (const chunk of this.chunks) for (const c of chunk) out[i++] = c;
    return out;
  }

  /**
   * The chunks as they are now (a copy of the list, the Sets themselves): a paged walk of the
   * members that survives changes between pages (store's FrozenChildren relies on it) — a member
   * never moves to another chunk, an emptied chunk only leaves the list, and new members go to
   * the last chunk or a new one.
   */
  chunkSets(): Set<number>[] {
    return [...this.chunks];
  }

  /** Chunks in use (for tests). */
  get chunkCount(): number {
    return this.chunks.length;
  }
}

/**
 * A paged listing of one node's children in a frozen view: each call visits up to `countMax` more
 * live children (listing those not created since the freeze), and the last call adds the children
 * removed since the freeze (as many as the view's writes removed); `done` with the last. A path
 * may be listed twice (a child removed after it was listed alive, or removed and re-created): the
 * caller sorts and drops repeats. Valid only while its view lasts.
 */
export type FrozenChildren = (countMax: number) => { paths: string[]; done: boolean };

/** The copy-on-write state of a frozen view (see the header). */
interface Frozen {
  /** Path -> its record at the freeze, or null: created after it. Absent: unchanged since. */
  readonly kept: Map<string, NodeRecord | null>;
  /** Parent path -> children removed since the freeze that were there at it. */
  readonly removed: Map<string, Set<string>>;
}

/** Slots per page of the typed columns (2^16): past the first page, growth adds a page, copies nothing. */
const PAGE_BITS = 16;
const PAGE_SLOTS = 1 << PAGE_BITS;
const PAGE_MASK = PAGE_SLOTS - 1;
/** Maps the path index is split into, so no one rehash moves a million entries (~250 ms at 1 Mi). */
const PATH_SHARDS = 16;
/**
 * Shard i takes 2i + 1 parts of every 256 (1 + 3 + ... + 31), not 1/16 each: equal shards reach
 * each doubling of their table at the same total and rehash in the same insert (~55 ms at 2^19
 * znodes, all 16 at 2^15). Shares in a power-of-2 ratio would too (one share's doubling k at the
 * other's k + 1); no two odd numbers are in one, so the doublings fall at distinct totals (the
 * nearest, 15 and 31 parts, ~3 % apart). The largest shard holds 12 %.
 */
const SHARD_OF_PART: Uint8Array = (() => {
  const parts: number[] = [];
  for (let i = 0; i < PATH_SHARDS; i++) for (let j = 0; j < 2 * i + 1; j++) parts.push(i);
  return Uint8Array.from(parts);
})();

/**
 * One page of the columns: `slots` slots. The typed ones, and the path, data and children of each
 * slot in plain arrays of the page's own (one array over every slot grew by 1.5x in one insert:
 * 80 ms at 580k znodes and 120 ms at 870k here, in a snapshot restore or a create alike).
 */
interface Page {
  readonly parent: Int32Array;
  readonly zx: Float64Array; // czxid, mzxid, pzxid
  readonly times: Float64Array; // ctime, mtime
  readonly owner: Float64Array;
  readonly ints: Int32Array; // version, cversion, aversion, acl
  readonly paths: (string | undefined)[];
  readonly data: string[];
  readonly kids: (ChildSlots | undefined)[];
}

function newPage(slots: number, from?: Page): Page {
  // Page 0's arrays are kept as it doubles (they grow to PAGE_SLOTS by themselves, small copies);
  // a later page's are made whole (holey, under V8's bound for fast elements).
  const page: Page = {
    parent: new Int32Array(slots),
    zx: new Float64Array(slots * 3),
    times: new Float64Array(slots * 2),
    owner: new Float64Array(slots),
    ints: new Int32Array(slots * 4),
    paths: from?.paths ?? (slots === PAGE_SLOTS ? new Array(PAGE_SLOTS) : []),
    data: from?.data ?? (slots === PAGE_SLOTS ? new Array(PAGE_SLOTS) : []),
    kids: from?.kids ?? (slots === PAGE_SLOTS ? new Array(PAGE_SLOTS) : []),
  };
  if (from !== undefined) {
    page.parent.set(from.parent);
    page.zx.set(from.zx);
    page.times.set(from.times);
    page.owner.set(from.owner);
    page.ints.set(from.ints);
  }
  return page;
}

/**
 * The path index shard of `path`: a hash of its length and last 16 chars (sequential names differ
 * at the end; /svc/<uuid>/status within the uuid).
 */
function shardOf(path: string): number {
  const n = path.length;
  let h = n;
  for (let i = n > 16 ? n - 16 : 0; i < n; i++) h = Math.imul(h ^ path.charCodeAt(i), 0x01000193);
  return SHARD_OF_PART[((h ^ (h >>> 15)) >>> 0) % SHARD_OF_PART.length]!;
}

export class ZnodeStore {
  private readonly slots: Map<string, number>[] = Array.from({ length: PATH_SHARDS }, () => new Map());
  private count = 0;
  /**
   * The typed columns in pages: page 0 grows by doubling from INITIAL_SLOTS up to PAGE_SLOTS (a
   * small tree stays small); every later page is PAGE_SLOTS from the start. Doubling one set of
   * columns at a million znodes copied ~80 MiB in one insert (0.3-0.6 s).
   */
  private readonly pages: Page[] = [newPage(INITIAL_SLOTS)];
  private readonly free: number[] = [];
  private capacity = INITIAL_SLOTS;
  private used = 0;
  private frozen: Frozen | undefined;
  /** Σ znodeBytes over the live nodes: kept at every insert, remove and data change. */
  private nodeBytes = 0;

  get size(): number {
    return this.count;
  }

  /** The live nodes' bytes (znodeBytes each): what they take in a snapshot section, at most. */
  get bytes(): number {
    return this.nodeBytes;
  }

  slot(path: string): number | undefined {
    return this.slots[shardOf(path)]!.get(path);
  }

  path(slot: number): string {
    return this.pathAt(slot)!;
  }

  private grow(): void {
    if (this.capacity < PAGE_SLOTS) {
      this.capacity = Math.min(PAGE_SLOTS, this.capacity * 2);
      this.pages[0] = newPage(this.capacity, this.pages[0]);
    } else {
      this.pages.push(newPage(PAGE_SLOTS));
      this.capacity += PAGE_SLOTS;
    }
  }

  private page(s: number): Page {
    return this.pages[s >>> PAGE_BITS]!;
  }

  private pathAt(s: number): string | undefined {
    return this.pages[s >>> PAGE_BITS]!.paths[s & PAGE_MASK];
  }

  private kidsAt(s: number): ChildSlots | undefined {
    return this.pages[s >>> PAGE_BITS]!.kids[s & PAGE_MASK];
  }

  /** Adds a node under `parent` (-1 for the root); the path must be free. */
  insert(path: string, parent: number, r: NodeRecord): number {
    const shard = this.slots[shardOf(path)]!;
    assert(!shard.has(path), `znode ${path} exists`);
    if (this.frozen !== undefined && !this.frozen.kept.has(path)) this.frozen.kept.set(path, null);
    let s = this.free.pop();
    if (s === undefined) {
      if (this.used === this.capacity) this.grow();
      s = this.used++;
    }
    shard.set(path, s);
    this.count++;
    this.nodeBytes += znodeBytes(path, 0);
    const pg = this.page(s);
    pg.paths[s & PAGE_MASK] = path;
    pg.parent[s & PAGE_MASK] = parent;
    pg.kids[s & PAGE_MASK] = undefined;
    this.write(s, r);
    if (parent >= 0) {
      let k = this.kidsAt(parent);
      if (k === undefined) {
        k = new ChildSlots();
        this.page(parent).kids[parent & PAGE_MASK] = k;
      }
      k.add(s);
    }
    return s;
  }

  /** Removes a childless node. */
  remove(slot: number): void {
    assert(this.childCount(slot) === 0, 'only a childless znode is removed');
    const parent = this.page(slot).parent[slot & PAGE_MASK]!;
    if (this.frozen !== undefined) this.keepRemoved(slot, parent);
    if (parent >= 0) {
      const k = this.kidsAt(parent)!;
      k.delete(slot);
      if (k.size === 0) this.page(parent).kids[parent & PAGE_MASK] = undefined;
    }
    const path = this.pathAt(slot)!;
    this.slots[shardOf(path)]!.delete(path);
    this.count--;
    const pg = this.page(slot);
    this.nodeBytes -= znodeBytes(path, pg.data[slot & PAGE_MASK]!.length);
    pg.paths[slot & PAGE_MASK] = undefined;
    pg.data[slot & PAGE_MASK] = '';
    this.free.push(slot);
  }

  write(s: number, r: NodeRecord): void {
    if (this.frozen !== undefined) this.keep(s);
    const pg = this.page(s);
    const o = s & PAGE_MASK;
    // A new slot's data is a hole (a page's array) or '' (a removed node's).
    this.nodeBytes += r.data.length - (pg.data[o]?.length ?? 0);
    pg.data[o] = r.data;
    pg.zx[o * 3] = r.czxid;
    pg.zx[o * 3 + 1] = r.mzxid;
    pg.zx[o * 3 + 2] = r.pzxid;
    pg.times[o * 2] = r.ctimeMs;
    pg.times[o * 2 + 1] = r.mtimeMs;
    pg.owner[o] = r.owner;
    pg.ints[o * 4] = r.version;
    pg.ints[o * 4 + 1] = r.cversion;
    pg.ints[o * 4 + 2] = r.aversion;
    pg.ints[o * 4 + 3] = r.acl;
  }

  read(s: number): NodeRecord {
    const pg = this.page(s);
    const o = s & PAGE_MASK;
    return {
      data: pg.data[o]!,
      czxid: pg.zx[o * 3]!,
      mzxid: pg.zx[o * 3 + 1]!,
      pzxid: pg.zx[o * 3 + 2]!,
      ctimeMs: pg.times[o * 2]!,
      mtimeMs: pg.times[o * 2 + 1]!,
      owner: pg.owner[o]!,
      version: pg.ints[o * 4]!,
      cversion: pg.ints[o * 4 + 1]!,
      aversion: pg.ints[o * 4 + 2]!,
      acl: pg.ints[o * 4 + 3]!,
    };
  }

  data(s: number): string {
    return this.page(s).data[s & PAGE_MASK]!;
  }
  owner(s: number): number {
    return this.page(s).owner[s & PAGE_MASK]!;
  }
  czxid(s: number): number {
    return this.page(s).zx[(s & PAGE_MASK) * 3]!;
  }
  acl(s: number): number {
    return this.page(s).ints[(s & PAGE_MASK) * 4 + 3]!;
  }
  version(s: number): number {
    return this.page(s).ints[(s & PAGE_MASK) * 4]!;
  }
  cversion(s: number): number {
    return this.page(s).ints[(s & PAGE_MASK) * 4 + 1]!;
  }
  aversion(s: number): number {
    return this.page(s).ints[(s & PAGE_MASK) * 4 + 2]!;
  }
  mtimeMs(s: number): number {
    return this.page(s).times[(s & PAGE_MASK) * 2 + 1]!;
  }
  pzxid(s: number): number {
    return this.page(s).zx[(s & PAGE_MASK) * 3 + 2]!;
  }

  childCount(s: number): number {
    return this.kidsAt(s)?.size ?? 0;
  }

  /** Child slots (unordered). */
  children(s: number): Iterable<number> {
    return this.kidsAt(s)?.members() ?? [];
  }

  /** Every path, in no particular order. */
  *paths(): IterableIterator<string> {
    for (const shard of this.slots) yield* shard.keys();
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

  /**
   * A node of the frozen view: its record and a paged listing of its children's paths (unordered,
   * a path possibly twice: see FrozenChildren); undefined if not in it.
   */
  frozenNode(path: string): { record: NodeRecord; children: FrozenChildren | undefined } | undefined {
    const f = this.frozen;
    assert(f !== undefined, 'the store is not frozen');
    const kept = f.kept.get(path);
    if (kept === null) return undefined;
    const s = this.slot(path);
    const record = kept ?? (s === undefined ? undefined : this.read(s));
    if (record === undefined) return undefined;
    // The live children in pages over the chunks as they are now, each taken when it is still
    // not created since the freeze; then every child removed since that was there at the freeze
    // (keepRemoved). A child there at the freeze and never removed is in one of these chunks all
    // along; one removed is in `removed` (and maybe met alive too, re-created or met before its
    // removal: hence a path may come twice); nothing else is listed.
    // No chunk and nothing removed: no child in the view (one there at the freeze would be in
    // either), and no listing to allocate (most znodes are leaves).
    const kids = s === undefined ? undefined : this.kidsAt(s);
    if (kids === undefined && !f.removed.has(path)) return { record, children: undefined };
    const chunks = kids?.chunkSets() ?? [];
    let at = 0;
    let members: Iterator<number> | undefined;
    let ended = false;
    return {
      record,
      children: (countMax) => {
        assert(this.frozen === f && !ended, 'a frozen listing outlived its view or its end');
        const paths: string[] = [];
        // countMax members visited, listed or not (those created since the freeze cost a visit too).
        for (let visited = 0; visited < countMax && at < chunks.length; visited++) {
          members ??= chunks[at]!.values();
          const next = members.next();
          if (next.done === true) {
            at++;
            members = undefined;
            continue;
          }
          const child = this.pathAt(next.value)!;
          if (f.kept.get(child) !== null) paths.push(child);
        }
        if (at < chunks.length) return { paths, done: false };
        ended = true;
        for (const child of f.removed.get(path) ?? []) paths.push(child);
        return { paths, done: true };
      },
    };
  }

  private keep(s: number): void {
    const kept = this.frozen!.kept;
    const path = this.pathAt(s)!;
    if (!kept.has(path)) kept.set(path, this.read(s));
  }

  private keepRemoved(slot: number, parent: number): void {
    this.keep(slot);
    const path = this.pathAt(slot)!;
    // Created after the freeze and gone again: nothing of it is in the view, so nothing is kept
    // (a queue of sequential nodes would otherwise grow the map by one per node during a view).
    if (this.frozen!.kept.get(path) === null) {
      this.frozen!.kept.delete(path);
      return;
    }
    if (parent < 0) return;
    const parentPath = this.pathAt(parent)!;
    let removed = this.frozen!.removed.get(parentPath);
    if (removed === undefined) {
      removed = new Set();
      this.frozen!.removed.set(parentPath, removed);
    }
    removed.add(path);
  }
}
