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
  private readonly counters: ReadonlyMap<NodeId, number>;
  readonly entriesMax: number;
  /** entries() once made (the clock is immutable); encodeInto reads it, callers get copies. */
  private sorted: Array<[NodeId, number]> | undefined;

  private constructor(counters: ReadonlyMap<NodeId, number>, entriesMax: number) {
    this.counters = counters;
    this.entriesMax = entriesMax;
  }

  static empty(entriesMax = VECTOR_CLOCK_ENTRIES_MAX_DEFAULT): VectorClock {
    assert(Number.isSafeInteger(entriesMax) && entriesMax > 0, `entriesMax must be positive: ${entriesMax}`);
    return new VectorClock(new Map(), entriesMax);
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
    return new VectorClock(m, entriesMax);
  }

  get size(): number {
    return this.counters.size;
  }

  get(node: NodeId): number {
    return this.counters.get(node) ?? 0;
  }

  /** Entries sorted by node id. */
  entries(): Array<[NodeId, number]> {
    return this.sortedEntries().map(([node, n]) => [node, n]);
  }

  private sortedEntries(): ReadonlyArray<readonly [NodeId, number]> {
    this.sorted ??= [...this.counters].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return this.sorted;
  }

  /** This clock with `node`'s counter plus one (a local or send event at `node`). */
  increment(node: NodeId): VectorClock {
    const next = new Map(this.counters);
    const n = this.get(node);
    assert(n < Number.MAX_SAFE_INTEGER, 'vector clock counter exhausted');
    next.set(node, n + 1);
    if (next.size > this.entriesMax) {
      throw new LimitError(
        'vectorClockEntriesMax',
        `vector clock would have ${next.size} entries, max ${this.entriesMax}`,
      );
    }
    return new VectorClock(next, this.entriesMax);
  }

  /** Entry-wise maximum (least upper bound). Commutative, associative, idempotent. */
  merge(other: VectorClock): VectorClock {
    // Immutable clocks: a side that adds nothing is the answer (same bound, so the same LimitError).
    if (other.entriesMax === this.entriesMax) {
      if (other.counters.size === 0) return this;
      if (this.counters.size === 0) return other;
    }
    const next = new Map(this.counters);
    for (const [node, n] of other.counters) if (n > (next.get(node) ?? 0)) next.set(node, n);
    if (next.size > this.entriesMax) {
      throw new LimitError(
        'vectorClockEntriesMax',
        `merged vector clock has ${next.size} entries, max ${this.entriesMax}`,
      );
    }
    return new VectorClock(next, this.entriesMax);
  }

  /**
   * The entry-wise maximum of every clock in `clocks` and every single entry in `points`, built in
   * one Map: what folding merge over them gives (zero counters dropped), with the same LimitError
   * when the result passes `entriesMax` (a fold's every step is a subset of its result).
   */
  static join(
    clocks: readonly VectorClock[],
    points: readonly (readonly [NodeId, number])[],
    entriesMax = VECTOR_CLOCK_ENTRIES_MAX_DEFAULT,
  ): VectorClock {
    const next = new Map<NodeId, number>();
    for (const clock of clocks) {
      for (const [node, n] of clock.counters) if (n > (next.get(node) ?? 0)) next.set(node, n);
    }
    for (const [node, n] of points) {
      assert(Number.isSafeInteger(n) && n >= 0, `vector clock counter must be a non-negative integer: ${n}`);
      if (n > (next.get(node) ?? 0)) next.set(node, n);
    }
    if (next.size > entriesMax) {
      throw new LimitError('vectorClockEntriesMax', `merged vector clock has ${next.size} entries, max ${entriesMax}`);
    }
    return new VectorClock(next, entriesMax);
  }

  /** How this clock relates to `other`: before = this happened before other. */
  compare(other: VectorClock): VectorOrder {
    let thisLess = false; // some entry of this < other
    let otherLess = false; // some entry of other < this
    for (const [node, n] of this.counters) {
      const m = other.get(node);
      if (n < m) thisLess = true;
      else if (n > m) otherLess = true;
    }
    if (!thisLess) {
      // Entries only `other` has are > 0 = this clock's value for them.
      for (const node of other.counters.keys()) {
        if (!this.counters.has(node)) {
          thisLess = true;
          break;
        }
      }
    }
    if (thisLess && otherLess) return 'concurrent';
    if (thisLess) return 'before';
    if (otherLess) return 'after';
    return 'equal';
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
    const entries = this.sortedEntries();
    writer.uvarint(entries.length);
    for (const [node, n] of entries) writer.stringUvarint(node).uvarint(n);
  }

  /** Reads one vector clock from `reader`; untrusted input, so every rule is checked. */
  static decodeFrom(reader: ByteReader, entriesMax = VECTOR_CLOCK_ENTRIES_MAX_DEFAULT): VectorClock {
    const count = reader.uvarint();
    if (count > entriesMax) {
      throw new ProtocolError('invalid_vector_clock', `vector clock has ${count} entries, max ${entriesMax}`, {
        count,
      });
    }
    const m = new Map<NodeId, number>();
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
      m.set(node, n);
      prev = node;
    }
    return new VectorClock(m, entriesMax);
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
