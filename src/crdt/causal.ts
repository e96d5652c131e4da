// The dot stores of the causal CRDTs and their join, after Almeida, Shoker and Baquero, "Delta
// State Replicated Data Types" (JPDC 2018), section 7.2. A causal CRDT is a pair (store, context);
// the context holds every dot the store holds plus the dots of writes it has seen overwritten or
// removed. Three stores, chosen by a schema:
//   orset  DotMap<element, DotSet>      an element is present while it keeps a dot
//   mvreg  DotFun<entry>                one entry (HLC timestamp, value) per surviving write
//   ormap  DotMap<key, store(schema)>   a key is present while its nested store keeps a dot
// Join of (s, c) and (s', c') keeps a dot that both sides hold, or that one side holds and the
// other has not seen; a dot one side has seen but no longer holds was overwritten or removed there,
// so it goes. That is what makes remove "observed-remove" and adds concurrent with it win.
// Invariants of a store: dots sorted and unique per set; no empty set, no empty nested store (the
// bottom store is represented by absence); every dot lies in the context it travels with.
//
// Encoding (after the context, which supplies the replica index table `dot` refers to):
//   schema   = 4 (orset) | 6 (mvreg) | 7 (ormap) schema       ; nesting ≤ crdtMapLevelsCountMax
//   orset    = n:uvarint { element dotN:uvarint(≥1) { dot } }        ; elements strictly sorted
//   mvreg    = n:uvarint { dot hlc:u64 blob }                          ; dots strictly sorted
//   ormap    = n:uvarint { element store(value schema) }               ; keys strictly sorted, store ≠ ⊥

import { assert, unreachable } from '../lib/assert.ts';
import type { ByteReader, ByteWriter } from '../lib/bytes.ts';
import { compareHlc, type HlcTimestamp, readHlc, writeHlc } from '../lib/clocks/hlc.ts';
import { ProtocolError } from '../lib/errors.ts';
import {
  type Budget,
  type ByteString,
  CrdtTag,
  checkAscending,
  compareBytes,
  compareStrings,
  malformed,
  type ReplicaId,
  readBlob,
  readCount,
  readElement,
  writeElement,
} from './codec.ts';
import { CausalContext, compareDots, type Dot, readDot, writeDot } from './dots.ts';

export type Schema =
  | { readonly type: 'orset' }
  | { readonly type: 'mvreg' }
  | { readonly type: 'ormap'; readonly value: Schema };

export interface RegisterEntry {
  readonly dot: Dot;
  readonly ts: HlcTimestamp;
  readonly value: Uint8Array;
}

export type MvStore = readonly RegisterEntry[];
export type SetStore = ReadonlyMap<ByteString, readonly Dot[]>;
export type MapStore = ReadonlyMap<ByteString, Store>;
export type Store = MvStore | SetStore | MapStore;

export function schemaEqual(a: Schema, b: Schema): boolean {
  if (a.type !== b.type) return false;
  return a.type !== 'ormap' || schemaEqual(a.value, (b as typeof a).value);
}

/** Nesting depth of an OR-Map whose values have schema `s` (a top-level OR-Map of sets is 1). */
export function schemaDepth(s: Schema): number {
  return s.type === 'ormap' ? 1 + schemaDepth(s.value) : 1;
}

export function bottomStore(schema: Schema): Store {
  return schema.type === 'mvreg' ? [] : new Map();
}

export function isBottom(schema: Schema, s: Store): boolean {
  return schema.type === 'mvreg' ? (s as MvStore).length === 0 : (s as SetStore | MapStore).size === 0;
}

export function dotsOf(schema: Schema, s: Store, out: Dot[] = []): Dot[] {
  switch (schema.type) {
    case 'mvreg':
      for (const e of s as MvStore) out.push(e.dot);
      return out;
    case 'orset':
      for (const dots of (s as SetStore).values()) out.push(...dots);
      return out;
    case 'ormap':
      for (const nested of (s as MapStore).values()) dotsOf(schema.value, nested, out);
      return out;
    default:
      return unreachable(schema);
  }
}

/**
 * Joins two sorted lists of dotted items: keeps an item both hold, or one holds and the other's
 * context has not seen. `pick` chooses between two items with the same dot (equal in honest
 * states: a dot names one write; a deterministic choice keeps join commutative for forged ones).
 */
function joinDotted<T>(
  a: readonly T[],
  ca: CausalContext,
  b: readonly T[],
  cb: CausalContext,
  dotOf: (t: T) => Dot,
  pick: (x: T, y: T) => T,
): T[] {
  const out: T[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const x = a[i];
    const y = b[j];
    const order = x === undefined ? 1 : y === undefined ? -1 : compareDots(dotOf(x), dotOf(y));
    if (order === 0) {
      out.push(pick(x!, y!));
      i++;
      j++;
    } else if (order < 0) {
      if (!cb.has(dotOf(x!))) out.push(x!);
      i++;
    } else {
      if (!ca.has(dotOf(y!))) out.push(y!);
      j++;
    }
  }
  return out;
}

const dotOfDot = (d: Dot): Dot => d;
const dotOfEntry = (e: RegisterEntry): Dot => e.dot;
const first = <T>(x: T): T => x;

export function compareEntries(x: RegisterEntry, y: RegisterEntry): number {
  return compareHlc(x.ts, y.ts) || compareStrings(x.dot.replica, y.dot.replica) || compareBytes(x.value, y.value);
}

const pickEntry = (x: RegisterEntry, y: RegisterEntry): RegisterEntry => (compareEntries(x, y) >= 0 ? x : y);

export function joinStore(schema: Schema, a: Store, ca: CausalContext, b: Store, cb: CausalContext): Store {
  switch (schema.type) {
    case 'mvreg':
      return joinDotted(a as MvStore, ca, b as MvStore, cb, dotOfEntry, pickEntry);
    case 'orset':
      return joinKeyed(a as SetStore, b as SetStore, (x = [], y = []) => {
        const dots = joinDotted(x, ca, y, cb, dotOfDot, first);
        return dots.length === 0 ? undefined : dots;
      });
    case 'ormap': {
      const inner = schema.value;
      return joinKeyed(a as MapStore, b as MapStore, (x, y) => {
        const s = joinStore(inner, x ?? bottomStore(inner), ca, y ?? bottomStore(inner), cb);
        return isBottom(inner, s) ? undefined : s;
      });
    }
    default:
      return unreachable(schema);
  }
}

/** DotMap join: every key of either side, joined, and dropped when the join is bottom. */
function joinKeyed<V>(
  a: ReadonlyMap<ByteString, V>,
  b: ReadonlyMap<ByteString, V>,
  join: (x: V | undefined, y: V | undefined) => V | undefined,
): Map<ByteString, V> {
  const out = new Map<ByteString, V>();
  for (const [k, x] of a) {
    const v = join(x, b.get(k));
    if (v !== undefined) out.set(k, v);
  }
  for (const [k, y] of b) {
    if (a.has(k)) continue;
    const v = join(undefined, y);
    if (v !== undefined) out.set(k, v);
  }
  return out;
}

export function writeSchema(w: ByteWriter, schema: Schema): void {
  w.u8(CrdtTag[schema.type]);
  if (schema.type === 'ormap') writeSchema(w, schema.value);
}

/** Reads the value schema of an OR-Map at nesting `depth` (the map itself). */
export function readSchema(r: ByteReader, budget: Budget, depth: number): Schema {
  budget.checkDepth(depth);
  const at = r.position;
  const tag = r.u8();
  if (tag === CrdtTag.orset) return { type: 'orset' };
  if (tag === CrdtTag.mvreg) return { type: 'mvreg' };
  if (tag === CrdtTag.ormap) {
    budget.checkDepth(depth + 1);
    return { type: 'ormap', value: readSchema(r, budget, depth + 1) };
  }
  throw new ProtocolError('crdt_unknown_type', `OR-Map value tag ${tag} at offset ${at} is not a causal CRDT`, {
    offset: at,
    tag,
  });
}

function sortedKeys<V>(m: ReadonlyMap<ByteString, V>): ByteString[] {
  return [...m.keys()].sort(compareStrings);
}

export function encodeStore(
  schema: Schema,
  s: Store,
  w: ByteWriter,
  index: ReadonlyMap<ReplicaId, number>,
  budget: Budget,
): void {
  switch (schema.type) {
    case 'mvreg': {
      const entries = s as MvStore;
      budget.takeElements(entries.length);
      budget.takeDots(entries.length);
      w.uvarint(entries.length);
      for (const e of entries) {
        writeDot(w, index, e.dot);
        writeHlc(w, e.ts);
        w.bytesUvarint(e.value);
      }
      return;
    }
    case 'orset': {
      const m = s as SetStore;
      budget.takeElements(m.size);
      w.uvarint(m.size);
      for (const k of sortedKeys(m)) {
        const dots = m.get(k)!;
        assert(dots.length > 0, 'OR-Set element without dots');
        budget.takeDots(dots.length);
        writeElement(w, k);
        w.uvarint(dots.length);
        for (const d of dots) writeDot(w, index, d);
      }
      return;
    }
    case 'ormap': {
      const m = s as MapStore;
      budget.takeElements(m.size);
      w.uvarint(m.size);
      for (const k of sortedKeys(m)) {
        writeElement(w, k);
        encodeStore(schema.value, m.get(k)!, w, index, budget);
      }
      return;
    }
    default:
      return unreachable(schema);
  }
}

export function decodeStore(
  schema: Schema,
  r: ByteReader,
  replicas: readonly ReplicaId[],
  context: CausalContext,
  budget: Budget,
): Store {
  switch (schema.type) {
    case 'mvreg': {
      const n = readCount(r, 11, 'register entry');
      budget.takeElements(n);
      budget.takeDots(n);
      const out: RegisterEntry[] = [];
      for (let i = 0; i < n; i++) {
        const at = r.position;
        const dot = readDot(r, replicas, context);
        const ts = readHlc(r);
        const value = readBlob(r);
        const prev = out[i - 1];
        if (prev !== undefined && compareDots(prev.dot, dot) >= 0) {
          throw malformed(`register entries at offset ${at} not strictly sorted by dot`, { offset: at });
        }
        out.push({ dot, ts, value });
      }
      return out;
    }
    case 'orset': {
      const n = readCount(r, 4, 'OR-Set element');
      budget.takeElements(n);
      const out = new Map<ByteString, Dot[]>();
      let prev: ByteString | undefined;
      for (let i = 0; i < n; i++) {
        const at = r.position;
        const k = readElement(r);
        checkAscending(prev, k, 'OR-Set element', at);
        prev = k;
        const dotN = readCount(r, 2, 'element dot');
        if (dotN === 0) throw malformed(`OR-Set element at offset ${at} has no dots`, { offset: at });
        budget.takeDots(dotN);
        out.set(k, readSortedDots(r, dotN, replicas, context));
      }
      return out;
    }
    case 'ormap': {
      const n = readCount(r, 2, 'OR-Map key');
      budget.takeElements(n);
      const out = new Map<ByteString, Store>();
      let prev: ByteString | undefined;
      for (let i = 0; i < n; i++) {
        const at = r.position;
        const k = readElement(r);
        checkAscending(prev, k, 'OR-Map key', at);
        prev = k;
        const nested = decodeStore(schema.value, r, replicas, context, budget);
        if (isBottom(schema.value, nested)) throw malformed(`OR-Map key at offset ${at} has an empty value`);
        out.set(k, nested);
      }
      return out;
    }
    default:
      return unreachable(schema);
  }
}

function readSortedDots(r: ByteReader, n: number, replicas: readonly ReplicaId[], context: CausalContext): Dot[] {
  const dots: Dot[] = [];
  for (let j = 0; j < n; j++) {
    const at = r.position;
    const d = readDot(r, replicas, context);
    const prev = dots[j - 1];
    if (prev !== undefined && compareDots(prev, d) >= 0) {
      throw malformed(`dots at offset ${at} not strictly sorted`, { offset: at });
    }
    dots.push(d);
  }
  return dots;
}

/** A causal CRDT's state: its store and the context that store's dots live in. */
export interface Causal {
  readonly store: Store;
  readonly context: CausalContext;
}

export function joinCausal(schema: Schema, a: Causal, b: Causal): Causal {
  return {
    store: joinStore(schema, a.store, a.context, b.store, b.context),
    context: a.context.merge(b.context),
  };
}

/** body = context store */
export function encodeCausalBody(w: ByteWriter, budget: Budget, schema: Schema, c: Causal): void {
  const index = c.context.encodeInto(w, budget);
  encodeStore(schema, c.store, w, index, budget);
}

export function decodeCausalBody(r: ByteReader, budget: Budget, schema: Schema): Causal {
  const { context, replicas } = CausalContext.decodeFrom(r, budget);
  return { store: decodeStore(schema, r, replicas, context, budget), context };
}
