// Vector clocks (Fidge 1988, Mattern 1989): one counter per node; VC(a) < VC(b) exactly when event
// a happened before b, and incomparable vectors mean concurrent events. Dynamo-style stores use
// them to detect conflicting versions.
//
// Invariants:
// - A VectorClock is an immutable value: increment and merge return new clocks.
// - Entries with counter 0 are never stored (absent = 0), so equal clocks have equal encodings.
// - At most `entriesMax` entries; growing past it throws LimitError (we never prune silently,
//   because pruning would break the "iff" of happened-before).
// - Encoding is canonical: UNSIGNED_VARINT count, then entries sorted by node id (code unit order),
//   each UNSIGNED_VARINT-length node id and UNSIGNED_VARINT counter. Decoding rejects anything
//   non-canonical (unsorted, duplicate, zero counter, oversized id) with a ProtocolError.

import type { NodeId } from '../../env/types.ts';
import { assert } from '../assert.ts';
import { ByteReader, ByteWriter, utf8ByteLength } from '../bytes.ts';
import { LimitError, ProtocolError } from '../errors.ts';
import { limits } from '../limits.ts';

/** Default bound on entries: every node of the largest cluster, with room for client ids. */
export const VECTOR_CLOCK_ENTRIES_MAX_DEFAULT = 4 * limits.clusterNodesMax;

export type VectorOrder = 'before' | 'after' | 'equal' | 'concurrent';

export class VectorClock {
  /** Node ids strictly ascending (code unit order), each with its counter (>= 1) in `counts`. */
  private readonly ids: readonly NodeId[];
  private readonly counts: readonly number[];
  readonly entriesMax: number;

  private constructor(ids: readonly NodeId[], counts: readonly number[], entriesMax: number) {
    this.ids = ids;
    this.counts = counts;
    this.entriesMax = entriesMax;
  }

  static empty(entriesMax = VECTOR_CLOCK_ENTRIES_MAX_DEFAULT): VectorClock {
    assert(Number.isSafeInteger(entriesMax) && entriesMax > 0, `entriesMax must be positive: ${entriesMax}`);
    return new VectorClock(NO_IDS, NO_COUNTS, entriesMax);
  }

  /** From explicit entries (tests, decoding). Zero counters are dropped. */
  static from(
    entries: Iterable<readonly [NodeId, number]>,
    entriesMax = VECTOR_CLOCK_ENTRIES_MAX_DEFAULT,
  ): VectorClock {
    const m = new Map<NodeId, number>();
    for (const [node, n] of entries) {
      assert(Number.isSafeInteger(n) && n >= 0, `vector clock counter must be a non-negative integer: ${n}`);
      if (n > 0) m.set(node, n);
    }
    if (m.size > entriesMax)
      throw new LimitError('vectorClockEntriesMax', `vector clock has ${m.size} entries, max ${entriesMax}`);
    const sorted = [...m].sort((a, b) => compareIds(a[0], b[0]));
    return new VectorClock(
      sorted.map((e) => e[0]),
      sorted.map((e) => e[1]),
      entriesMax,
    );
  }

  get size(): number {
    return this.ids.length;
  }

  get(node: NodeId): number {
    const ids = this.ids;
    // Clocks hold a few nodes: a scan beats a search until a dozen.
    if (ids.length <= 12) {
      for (let i = 0; i < ids.length; i++) if (ids[i] === node) return this.counts[i]!;
      return 0;
    }
    let lo = 0;
    let hi = ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const id = ids[mid]!;
      if (id === node) return this.counts[mid]!;
      if (id < node) lo = mid + 1;
      else hi = mid;
    }
    return 0;
  }

  /** Entries sorted by node id. */
  entries(): Array<[NodeId, number]> {
    return this.ids.map((id, i) => [id, this.counts[i]!]);
  }

  /** This clock with `node`'s counter plus one (a local or send event at `node`). */
  increment(node: NodeId): VectorClock {
    const n = this.get(node);
    assert(n < Number.MAX_SAFE_INTEGER, 'vector clock counter exhausted');
    const { ids, counts } = mergeEntries(this.ids, this.counts, [node], [n + 1]);
    if (ids.length > this.entriesMax) {
      throw new LimitError(
        'vectorClockEntriesMax',
        `vector clock would have ${ids.length} entries, max ${this.entriesMax}`,
      );
    }
    return new VectorClock(ids, counts, this.entriesMax);
  }

  /** Entry-wise maximum (least upper bound). Commutative, associative, idempotent. */
  merge(other: VectorClock): VectorClock {
    // Immutable clocks: a side that adds nothing is the answer (same bound, so the same LimitError).
    if (other.entriesMax === this.entriesMax) {
      if (other.ids.length === 0) return this;
      if (this.ids.length === 0) return other;
    }
    const { ids, counts } = mergeEntries(this.ids, this.counts, other.ids, other.counts);
    if (ids.length > this.entriesMax) {
      throw new LimitError(
        'vectorClockEntriesMax',
        `merged vector clock has ${ids.length} entries, max ${this.entriesMax}`,
      );
    }
    return new VectorClock(ids, counts, this.entriesMax);
  }

  /**
   * The entry-wise maximum of every clock in `clocks` and every single entry in `points`: what
   * folding merge over them gives (zero counters dropped), with the same LimitError when the
   * result passes `entriesMax` (a fold's every step is a subset of its result).
   */
  static join(
    clocks: readonly VectorClock[],
    points: readonly (readonly [NodeId, number])[],
    entriesMax = VECTOR_CLOCK_ENTRIES_MAX_DEFAULT,
  ): VectorClock {
    let ids: readonly NodeId[] = NO_IDS;
    let counts: readonly number[] = NO_COUNTS;
    for (const clock of clocks) ({ ids, counts } = mergeEntries(ids, counts, clock.ids, clock.counts));
    for (const [node, n] of points) {
      assert(Number.isSafeInteger(n) && n >= 0, `vector clock counter must be a non-negative integer: ${n}`);
      if (n > 0) ({ ids, counts } = mergeEntries(ids, counts, [node], [n]));
    }
    if (ids.length > entriesMax) {
      throw new LimitError('vectorClockEntriesMax', `merged vector clock has ${ids.length} entries, max ${entriesMax}`);
    }
    return new VectorClock(ids, counts, entriesMax);
  }

  /** How this clock relates to `other`: before = this happened before other. */
  compare(other: VectorClock): VectorOrder {
    let thisLess = false; // some entry of this < other (absent = 0)
    let otherLess = false; // some entry of other < this
    const a = this.ids;
    const b = other.ids;
    let i = 0;
    let j = 0;
    while (i < a.length || j < b.length) {
      if (j === b.length || (i < a.length && a[i]! < b[j]!)) {
        otherLess = true; // this has a node other lacks
        i++;
      } else if (i === a.length || b[j]! < a[i]!) {
        thisLess = true;
        j++;
      } else {
        const n = this.counts[i++]!;
        const m = other.counts[j++]!;
        if (n < m) thisLess = true;
        else if (n > m) otherLess = true;
      }
    }
    if (thisLess && otherLess) return 'concurrent';
    if (thisLess) return 'before';
    if (otherLess) return 'after';
    return 'equal';
  }

  /** The same entries (the form is canonical: equal clocks encode to equal bytes). */
  equals(other: VectorClock): boolean {
    if (this === other) return true;
    const a = this.ids;
    const b = other.ids;
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i] || this.counts[i] !== other.counts[i]) return false;
    return true;
  }

  /** True when this ≤ other entry-wise (this happened before or equals other). */
  dominatedBy(other: VectorClock): boolean {
    const o = this.compare(other);
    return o === 'before' || o === 'equal';
  }

  encode(writer: ByteWriter = new ByteWriter()): Uint8Array {
    this.encodeInto(writer);
    return writer.finish();
  }

  /** Appends the canonical encoding to `writer` (for embedding in a larger message). */
  encodeInto(writer: ByteWriter): void {
    const ids = this.ids;
    writer.uvarint(ids.length);
    for (let i = 0; i < ids.length; i++) writer.stringUvarint(ids[i]!).uvarint(this.counts[i]!);
  }

  /** Reads one vector clock from `reader`; untrusted input, so every rule is checked. */
  static decodeFrom(reader: ByteReader, entriesMax = VECTOR_CLOCK_ENTRIES_MAX_DEFAULT): VectorClock {
    const count = reader.uvarint();
    if (count > entriesMax) {
      throw new ProtocolError('invalid_vector_clock', `vector clock has ${count} entries, max ${entriesMax}`, {
        count,
      });
    }
    if (count === 0) return new VectorClock(NO_IDS, NO_COUNTS, entriesMax);
    // At their size (a few entries: an empty array's first push reserves 17).
    const ids = new Array<NodeId>(count);
    const counts = new Array<number>(count);
    let prev: string | undefined;
    for (let i = 0; i < count; i++) {
      const node = reader.stringUvarint();
      const n = reader.uvarint();
      if (utf8ByteLength(node) > limits.nodeIdBytesMax) {
        throw new ProtocolError('invalid_vector_clock', `node id longer than ${limits.nodeIdBytesMax} bytes`);
      }
      if (prev !== undefined && !(prev < node)) {
        throw new ProtocolError('invalid_vector_clock', 'vector clock entries not strictly sorted by node id');
      }
      if (n === 0) throw new ProtocolError('invalid_vector_clock', `zero counter for node ${JSON.stringify(node)}`);
      ids[i] = node;
      counts[i] = n;
      prev = node;
    }
    return new VectorClock(ids, counts, entriesMax);
  }

  static decode(bytes: Uint8Array, entriesMax = VECTOR_CLOCK_ENTRIES_MAX_DEFAULT): VectorClock {
    const reader = new ByteReader(bytes);
    const vc = VectorClock.decodeFrom(reader, entriesMax);
    reader.expectEnd('vector clock');
    return vc;
  }

  toString(): string {
    return `{${this.entries()
      .map(([n, c]) => `${n}:${c}`)
      .join(', ')}}`;
  }
}

const NO_IDS: readonly NodeId[] = Object.freeze([]);
const NO_COUNTS: readonly number[] = Object.freeze([]);

/** Code unit order (the encoding's). */
function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The entry-wise maximum of two sorted entry lists, in one pass; a list that adds nothing to the
 * other is returned as it is (clocks are immutable, so their arrays are shared).
 */
function mergeEntries(
  aIds: readonly NodeId[],
  aCounts: readonly number[],
  bIds: readonly NodeId[],
  bCounts: readonly number[],
): { ids: readonly NodeId[]; counts: readonly number[] } {
  if (bIds.length === 0) return { ids: aIds, counts: aCounts };
  if (aIds.length === 0) return { ids: bIds, counts: bCounts };
  // At most both lengths, cut to what was merged (an empty array's first push reserves 17).
  const ids = new Array<NodeId>(aIds.length + bIds.length);
  const counts = new Array<number>(aIds.length + bIds.length);
  let k = 0;
  let aWins = true; // every entry of the result is a's
  let i = 0;
  let j = 0;
  while (i < aIds.length || j < bIds.length) {
    if (j === bIds.length || (i < aIds.length && aIds[i]! < bIds[j]!)) {
      ids[k] = aIds[i]!;
      counts[k++] = aCounts[i++]!;
    } else if (i === aIds.length || bIds[j]! < aIds[i]!) {
      aWins = false;
      ids[k] = bIds[j]!;
      counts[k++] = bCounts[j++]!;
    } else {
      const n = aCounts[i++]!;
      const m = bCounts[j++]!;
      if (m > n) aWins = false;
      ids[k] = aIds[i - 1]!;
      counts[k++] = Math.max(n, m);
    }
  }
  if (aWins) return { ids: aIds, counts: aCounts };
  ids.length = k;
  counts.length = k;
  return { ids, counts };
}
