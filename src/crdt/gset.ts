// G-Set, the grow-only set (Shapiro et al., INRIA RR-7506, §3.3.1): join is union, the delta of an
// add is the one element. Elements are byte strings (src/crdt/codec.ts ByteString).
//
// Invariants: an immutable value; at most crdtElementsCountMax elements through add (LimitError).
// Encoding (body after the header):
//   gset = n:uvarint { element }         ; elements strictly sorted (byte order)

import { assert } from '../lib/assert.ts';
import { LimitError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import {
  type ByteString,
  type CrdtBounds,
  checkAscending,
  compareStrings,
  DEFAULT_CRDT_BOUNDS,
  decodeValue,
  encodeValue,
  isByteString,
  readCount,
  readElement,
  type Update,
  writeElement,
} from './codec.ts';

export class GSet {
  static readonly empty = new GSet(new Set());

  private constructor(private readonly elements: ReadonlySet<ByteString>) {}

  has(e: ByteString): boolean {
    return this.elements.has(e);
  }

  get size(): number {
    return this.elements.size;
  }

  /** The elements in byte order. */
  value(): ByteString[] {
    return [...this.elements].sort(compareStrings);
  }

  add(e: ByteString): Update<GSet> {
    assert(isByteString(e), 'G-Set elements are byte strings (byteStringOf)');
    if (!this.elements.has(e) && this.elements.size >= limits.crdtElementsCountMax) {
      throw new LimitError('crdtElementsCountMax', `G-Set holds ${this.elements.size} elements`);
    }
    const delta = new GSet(new Set([e]));
    return { state: this.elements.has(e) ? this : new GSet(new Set([...this.elements, e])), delta };
  }

  merge(other: GSet): GSet {
    if (other.elements.size === 0) return this;
    return new GSet(new Set([...this.elements, ...other.elements]));
  }

  static merge(a: GSet, b: GSet): GSet {
    return a.merge(b);
  }

  encode(bounds: CrdtBounds = DEFAULT_CRDT_BOUNDS): Uint8Array {
    return encodeValue(
      'gset',
      (w, budget) => {
        const sorted = this.value();
        budget.takeElements(sorted.length);
        w.uvarint(sorted.length);
        for (const e of sorted) writeElement(w, e);
      },
      bounds,
    );
  }

  static decode(bytes: Uint8Array, bounds: CrdtBounds = DEFAULT_CRDT_BOUNDS): GSet {
    return decodeValue(
      bytes,
      'gset',
      (r, budget) => {
        const n = readCount(r, 1, 'G-Set element');
        budget.takeElements(n);
        const out = new Set<ByteString>();
        let prev: ByteString | undefined;
        for (let i = 0; i < n; i++) {
          const at = r.position;
          const e = readElement(r);
          checkAscending(prev, e, 'G-Set element', at);
          prev = e;
          out.add(e);
        }
        return new GSet(out);
      },
      bounds,
    );
  }
}
