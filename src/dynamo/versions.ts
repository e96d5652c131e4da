// Causality for one key's value in the Dynamo-style store: dotted version vectors (Preguiça,
// Baquero, Almeida, Fonte, Gonçalves, "Dotted Version Vectors: Logical Clocks for Optimistic
// Replication", 2010; Riak 2.0's dvv_enabled), keeping concurrent writes as siblings instead of
// losing one of them. A last-write-wins keyspace (store.conflicts) uses the same states: its writes
// supersede what their coordinating replica holds instead of what a read returned (replica.ts,
// ClientRequest.overHeld), and GET's `chosen` picks by HLC timestamp.
//
// A Versioned value is a set of siblings. Each sibling is one write: a *dot* (replica, counter)
// naming the write uniquely, the *past* it superseded (the causal context the client wrote with),
// the coordinator's HLC timestamp and the value (null = a delete, kept as a tombstone so it
// supersedes causally like any write). A sibling's causal history is past ∪ {dot}.
//   - update (at a coordinator that is a replica of the key, on its local state): the new dot is
//     (replica, max(what the local state and the context know of replica, the replica's counter
//     floor over all keys) + 1); every local sibling
//     whose dot the context covers is superseded; the rest stay as concurrent siblings.
//   - merge (replicas: write fan-out, read repair, anti-entropy): union by dot, minus every sibling
//     whose dot lies in another sibling's past. Commutative, associative, idempotent on states
//     this protocol produces (test: versions.test.ts).
//   - context: the join of every sibling's history, handed to the client to write back with.
// Why a dot per write and not one vector clock per value: a vector clock per value cannot tell
// two writes coordinated by the same replica from the same context apart (one overwrites the
// other, the "sibling explosion"/lost update of vnode vclocks); a dot per write can.
// What the protocol needs from its users (or acknowledged writes are lost):
//   1. A coordinator replicates its whole resulting state (all siblings), not the new sibling
//      alone: a dot (r, n) implies knowledge of r's earlier dots, so it must travel with them.
//   2. A replica's state of a key is durable before the write is acknowledged, and never rolled
//      back or forgotten while other replicas may still hold its dots (a replica that restarts
//      empty would reuse counters). Tombstone garbage collection forgets states: the replica passes
//      a counter floor over all keys (replica.ts), so counters never restart.
//
// Choosing one value for a RESP GET: `chosen` is the sibling with the highest HLC timestamp, then
// the greatest replica id, then the greatest counter — the same answer on every replica and for
// every merge order — except that an emptied collection does not hide a concurrent add to it
// (shownOf, below).
//
// Encoding (integers big-endian; uvarint = UNSIGNED_VARINT, src/lib/bytes.ts):
//   versioned    = format siblingCount sibling*
//   format       = u8                ; 1
//   siblingCount = uvarint           ; 0..dvvSiblingsCountMax
//   sibling      = replica counter past ts value   ; strictly ascending by (replica, counter)
//   replica      = uvarint length (1..nodeIdBytesMax) + UTF-8
//   counter      = uvarint           ; >= 1
//   past         = vector clock (src/lib/clocks/vector.ts): uvarint count (<= dvvEntriesCountMax),
//                  then (node id, uvarint counter >= 1) strictly ascending by id;
//                  past[replica] < counter (a write does not supersede itself)
//   ts           = u64               ; encodeHlc (src/lib/clocks/hlc.ts)
//   value        = u8 tag            ; 0 tombstone, 1 bytes followed by uvarint length + bytes,
//                                    ; 2 an encoded CRDT (src/crdt) followed by uvarint length + bytes,
//                                    ; 3 bytes with an expiry: deadline:u64 (absolute wall ms,
//                                    ;   1..2^53-1) then uvarint length + bytes,
//                                    ; 4 an encoded CRDT with an expiry: deadline:u64 as in 3, then
//                                    ;   uvarint length + bytes as in 2
// Expiry: a sibling past its deadline reads as a tombstone (expiredAsTombstones, at the reader's
// clock); its dot and past stay, so it still supersedes and is superseded like any write, and no
// repair can bring the value back (the deadline is absolute and travels with it).
// Canonical: no sibling's dot lies in another sibling's past. Untrusted bytes never reach an
// assert: a broken rule is a ProtocolError (dvv_bad_version, dvv_malformed, invalid_vector_clock,
// truncated, trailing_bytes, ...). Decoded values are views of the input bytes (not copies).

import type { NodeId } from '../env/types.ts';
import { assert } from '../lib/assert.ts';
import { ByteReader, ByteWriter, bytesEqual, utf8ByteLength } from '../lib/bytes.ts';
import { compareHlc, type HlcTimestamp, isValidHlc, readHlc, writeHlc } from '../lib/clocks/hlc.ts';
import { VectorClock } from '../lib/clocks/vector.ts';
import { LimitError, ProtocolError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import { CollectionMarker, type Crdt, decodeCrdt, mergeCrdt, ORMap, ORSet } from '../crdt/crdt.ts';
import { schemaEqual } from '../crdt/causal.ts';

export const DVV_FORMAT_VERSION = 1;

export interface Dot {
  readonly replica: NodeId;
  readonly counter: number;
}

export interface Sibling {
  readonly dot: Dot;
  /** What this write superseded: the causal context its client wrote with. */
  readonly past: VectorClock;
  /** The coordinator's HLC timestamp at the write. */
  readonly ts: HlcTimestamp;
  /** null: a delete (tombstone). */
  readonly value: Uint8Array | null;
  /** The value is an encoded CRDT (counter.ts: a PN-Counter for INCR at N > 1), not plain bytes. */
  readonly crdt?: boolean;
  /** The absolute wall-clock ms from which the value (plain bytes or a CRDT) reads as deleted. */
  readonly expiresAtMs?: number;
}

/** Whether `s` holds a value past its deadline at `nowMs`. */
export function isExpired(s: Sibling, nowMs: number): boolean {
  return s.expiresAtMs !== undefined && s.expiresAtMs <= nowMs;
}

/** An empty causal context (a client that read nothing, or a blind write). */
export function emptyContext(): VectorClock {
  return VectorClock.empty(limits.dvvEntriesCountMax);
}

/** Whether `dot` lies in `clock` (the clock's entry for its replica reaches its counter). */
function covers(clock: VectorClock, dot: Dot): boolean {
  return clock.get(dot.replica) >= dot.counter;
}

function compareDots(a: Dot, b: Dot): number {
  if (a.replica !== b.replica) return a.replica < b.replica ? -1 : 1;
  return a.counter - b.counter;
}

/** One write: the shown sibling may be a copy (shownOf), so siblings are told apart by dot. */
export const sameDot = (a: Dot, b: Dot): boolean => a.replica === b.replica && a.counter === b.counter;

export class Versioned {
  /** Ascending by dot; no sibling's dot lies in another's past. */
  readonly siblings: readonly Sibling[];
  /** encode()'s bytes once computed (see encode). */
  private encoded: Uint8Array | undefined;
  /** context() once computed (a write asks for it several times: the counter, the reply). */
  private ctx: VectorClock | undefined;

  private constructor(siblings: readonly Sibling[]) {
    this.siblings = siblings;
  }

  private static readonly EMPTY = new Versioned([]);

  static empty(): Versioned {
    return Versioned.EMPTY;
  }

  get isEmpty(): boolean {
    return this.siblings.length === 0;
  }

  /** The causal context to hand a client: the join of every sibling's history. */
  context(): VectorClock {
    if (this.ctx === undefined) {
      this.ctx = VectorClock.join(
        this.siblings.map((s) => s.past),
        this.siblings.map((s) => [s.dot.replica, s.dot.counter] as const),
        limits.dvvEntriesCountMax,
      );
    }
    return this.ctx;
  }

  /**
   * context().get(replica), throwing as it throws: without making the context for one sibling
   * whose past has room for its dot (a join of more could pass dvvEntriesCountMax).
   */
  contextCounter(replica: NodeId): number {
    if (this.siblings.length === 0) return 0;
    const only = this.siblings.length === 1 ? this.siblings[0]! : undefined;
    if (this.ctx !== undefined || only === undefined || only.past.size >= limits.dvvEntriesCountMax) {
      return this.context().get(replica);
    }
    return Math.max(only.past.get(replica), only.dot.replica === replica ? only.dot.counter : 0);
  }

  /**
   * A write coordinated by `replica` on its local state (this), with the client's `context`.
   * Throws LimitError when the result would hold more than dvvSiblingsCountMax siblings or the
   * context more than dvvEntriesCountMax entries (the client must resolve siblings first).
   */
  update(
    context: VectorClock,
    replica: NodeId,
    value: Uint8Array | null,
    ts: HlcTimestamp,
    crdt = false,
    expiresAtMs?: number,
    counterFloor = 0,
  ): Versioned {
    assert(
      expiresAtMs === undefined || (value !== null && Number.isSafeInteger(expiresAtMs) && expiresAtMs >= 1),
      'an expiry needs a value and a deadline of 1..2^53-1 ms',
    );
    assert(isValidHlc(ts), 'update needs a valid HLC timestamp');
    const idBytes = utf8ByteLength(replica);
    assert(idBytes >= 1 && idBytes <= limits.nodeIdBytesMax, `replica id of ${idBytes} bytes`);
    if (context.size > limits.dvvEntriesCountMax) {
      throw new LimitError(
        'dvvEntriesCountMax',
        `context has ${context.size} entries, max ${limits.dvvEntriesCountMax}`,
      );
    }
    // counterFloor: the replica's highest counter on any key (replica.ts), so a key whose state
    // was garbage-collected never gets a counter again that a lagging replica may still hold.
    const counter = Math.max(context.get(replica), this.contextCounter(replica), counterFloor) + 1;
    if (!Number.isSafeInteger(counter)) {
      // Only a forged context gets here (a replica's own counters grow by one per write).
      throw new ProtocolError('invalid_vector_clock', `context exhausts ${replica}'s dot counter`);
    }
    const kept = this.siblings.filter((s) => !covers(context, s.dot));
    if (kept.length + 1 > limits.dvvSiblingsCountMax) {
      throw new LimitError(
        'dvvSiblingsCountMax',
        `a write would leave ${kept.length + 1} siblings, max ${limits.dvvSiblingsCountMax}`,
      );
    }
    const past = context.entriesMax === limits.dvvEntriesCountMax ? context : emptyContext().merge(context);
    kept.push({
      dot: { replica, counter },
      past,
      ts,
      value,
      ...(crdt && value !== null ? { crdt: true } : {}),
      ...(expiresAtMs === undefined ? {} : { expiresAtMs }),
    });
    kept.sort((a, b) => compareDots(a.dot, b.dot));
    return new Versioned(kept);
  }

  /** Both states' siblings, minus those another sibling superseded. Throws LimitError past the bound. */
  merge(other: Versioned): Versioned {
    if (other.siblings.length === 0) return this;
    if (this.siblings.length === 0) return other;
    // The common case of a read: every replica answered the same state.
    if (this.equals(other)) return this;
    // The common case of a write: one sibling superseded by one (the general rule below, without
    // its map and copies). Two siblings in each other's past (forged) take the general rule.
    if (this.siblings.length === 1 && other.siblings.length === 1) {
      const x = this.siblings[0]!;
      const y = other.siblings[0]!;
      if (!sameDot(x.dot, y.dot)) {
        const yOverX = covers(y.past, x.dot);
        const xOverY = covers(x.past, y.dot);
        if (yOverX && !xOverY) return other;
        if (xOverY && !yOverX) return this;
      }
    }
    const byDot = new Map<string, Sibling>();
    for (const s of [...this.siblings, ...other.siblings]) {
      const key = `${s.dot.counter}@${s.dot.replica}`;
      const held = byDot.get(key);
      // One dot is one write; two different bodies for a dot can only come from a bug or a replica
      // that reused counters. Keep the greater encoding, so the merge stays commutative anyway.
      if (held === undefined || compareBytes(encodeSibling(s), encodeSibling(held)) > 0) byDot.set(key, s);
    }
    const all = [...byDot.values()];
    const live = all.filter((s) => !all.some((o) => !sameDot(o.dot, s.dot) && covers(o.past, s.dot)));
    if (live.length > limits.dvvSiblingsCountMax) {
      throw new LimitError(
        'dvvSiblingsCountMax',
        `a merge would leave ${live.length} siblings, max ${limits.dvvSiblingsCountMax}`,
      );
    }
    live.sort((a, b) => compareDots(a.dot, b.dot));
    return new Versioned(live);
  }

  /**
   * This state as a reader at `nowMs` sees it: every sibling past its deadline as a tombstone (same
   * dot, same past). For answers only: never store or ship the result (it changes siblings' bodies).
   */
  expiredAsTombstones(nowMs: number): Versioned {
    if (!this.siblings.some((s) => isExpired(s, nowMs))) return this;
    const v = new Versioned(
      this.siblings.map((s) => (isExpired(s, nowMs) ? { dot: s.dot, past: s.past, ts: s.ts, value: null } : s)),
    );
    // A shown copy (withShown) stays while its sibling is still the one shown and live (a review of
    // 8d72496: a concurrent sibling past its deadline dropped it, and the key read as absent).
    const copy = this.override;
    if (copy !== undefined && !isExpired(copy, nowMs)) {
      const top = v.chosen();
      if (top !== undefined && sameDot(top.dot, copy.dot)) {
        v.shown = copy;
        v.override = copy;
      }
    }
    return v;
  }

  /**
   * The deadline a write that keeps the key's expiry carries on (Redis: INCR, SADD, HSET keep the
   * TTL): the chosen sibling's, when it holds a value. Call on the state as read at `nowMs`
   * (expiredAsTombstones), so an expired value passes on nothing.
   */
  keptDeadline(): number | undefined {
    const top = this.chosen();
    return top === undefined || top.value === null ? undefined : top.expiresAtMs;
  }

  /**
   * The sibling the key shows: what a single-valued read (RESP GET) returns, and what EXISTS, TYPE,
   * TTL, the deadline a write keeps, the WRONGTYPE checks, RENAME, the key census and eviction
   * decide from; undefined when there is none. The newest by HLC timestamp (compareChosen), except
   * that an emptied collection does not hide a concurrent add to it (shownOf).
   */
  chosen(): Sibling | undefined {
    if (this.shown === undefined) this.shown = shownOf(this.siblings) ?? null;
    return this.shown ?? undefined;
  }

  /** chosen()'s answer once computed (null: none). */
  private shown: Sibling | null | undefined;

  /**
   * This state with `s` as the sibling it shows, a copy of its chosen one (same dot, past and
   * time): its siblings, context and encoding are this state's, so what is stored, repaired or
   * written from it is unchanged; only what the key shows (EXISTS, TYPE, WRONGTYPE, the deadline a
   * write keeps) reads `s` (src/dynamo/replica.ts shownWithRows).
   */
  withShown(s: Sibling): Versioned {
    const top = this.chosen();
    assert(top !== undefined && sameDot(top.dot, s.dot), 'a shown copy is of the chosen sibling');
    const v = new Versioned(this.siblings);
    v.encoded = this.encoded;
    v.ctx = this.ctx;
    v.shown = s;
    v.override = s;
    return v;
  }

  /** The copy withShown set, which expiredAsTombstones carries on. */
  private override: Sibling | undefined;

  /** The shown copy withShown set, if any (a forwarded result carries its count: messages.ts). */
  shownCopy(): Sibling | undefined {
    return this.override;
  }

  equals(other: Versioned): boolean {
    if (this === other) return true;
    const a = this.siblings;
    const b = other.siblings;
    if (a.length !== b.length) return false;
    // Siblings ascend by dot and the encoding starts each with its dot: unlike dots, unlike
    // encodings (a replicated write against the state it supersedes), with no encoding made.
    for (let i = 0; i < a.length; i++) if (!sameDot(a[i]!.dot, b[i]!.dot)) return false;
    if (this.encoded !== undefined && other.encoded !== undefined) return bytesEqual(this.encoded, other.encoded);
    // Field by field, as writeSibling encodes them (no encoding made: a merge of two states read
    // back from bytes asked for both, a writer and a buffer each).
    for (let i = 0; i < a.length; i++) if (!sameEncoding(a[i]!, b[i]!)) return false;
    return true;
  }

  /**
   * The encoding (grammar above). Without a writer it is computed once per value (a Versioned is
   * immutable) and the same bytes are returned each time: callers must not modify them.
   */
  encode(writer?: ByteWriter): Uint8Array {
    if (writer === undefined && this.encoded !== undefined) return this.encoded;
    const w = writer ?? new ByteWriter({ initialBytes: this.sizeHint() });
    w.u8(DVV_FORMAT_VERSION).uvarint(this.siblings.length);
    for (const s of this.siblings) writeSibling(w, s);
    const bytes = w.finish();
    if (writer === undefined) this.encoded = bytes;
    return bytes;
  }

  /**
   * About the encoding's length (ASCII node ids of about 5 bytes, counters under 2^21), so its
   * writer is made once at that size: within 64 bytes in V8's heap, and no growth past them.
   */
  private sizeHint(): number {
    let bytes = 2;
    for (const s of this.siblings) {
      bytes += 14 + s.dot.replica.length + 8 * s.past.size;
      if (s.value !== null) bytes += 3 + s.value.length + (s.expiresAtMs === undefined ? 0 : 8);
    }
    return bytes;
  }

  /** Decodes an encoded Versioned from untrusted bytes (grammar at the top of this file). */
  static decode(bytes: Uint8Array): Versioned {
    const r = new ByteReader(bytes);
    const format = r.u8();
    if (format !== DVV_FORMAT_VERSION) {
      throw new ProtocolError('dvv_bad_version', `versioned format ${format}, this build reads ${DVV_FORMAT_VERSION}`, {
        format,
      });
    }
    const count = r.uvarint();
    if (count > limits.dvvSiblingsCountMax) malformed(`${count} siblings, max ${limits.dvvSiblingsCountMax}`);
    const siblings: Sibling[] = [];
    for (let i = 0; i < count; i++) {
      const replica = r.stringUvarint();
      const idBytes = utf8ByteLength(replica);
      if (idBytes < 1 || idBytes > limits.nodeIdBytesMax) malformed(`replica id of ${idBytes} bytes`);
      const counter = r.uvarint();
      if (counter < 1) malformed('dot counter 0');
      const dot = { replica, counter };
      if (i > 0 && compareDots(siblings[i - 1]!.dot, dot) >= 0) malformed('siblings not strictly ascending by dot');
      const past = VectorClock.decodeFrom(r, limits.dvvEntriesCountMax);
      if (covers(past, dot)) malformed(`sibling ${counter}@${replica} supersedes itself`);
      const ts = readHlc(r);
      const tag = r.u8();
      let value: Uint8Array | null;
      let expiresAtMs: number | undefined;
      if (tag === 0) value = null;
      else if (tag === 1) value = r.bytesUvarint();
      else if (tag === 2) {
        value = r.bytesUvarint();
        // Checked here, so no reader of a merged state meets untrusted CRDT bytes later.
        try {
          decodeCrdt(value);
        } catch (e) {
          if (e instanceof ProtocolError) malformed(`sibling ${counter}@${replica}: ${e.message}`);
          throw e;
        }
      } else if (tag === 3 || tag === 4) {
        const deadline = r.u64();
        if (deadline < 1n || deadline > BigInt(Number.MAX_SAFE_INTEGER)) malformed(`expiry deadline ${deadline}`);
        expiresAtMs = Number(deadline);
        value = r.bytesUvarint();
        if (tag === 4) {
          try {
            decodeCrdt(value);
          } catch (e) {
            if (e instanceof ProtocolError) malformed(`sibling ${counter}@${replica}: ${e.message}`);
            throw e;
          }
        }
      } else malformed(`value tag ${tag}`);
      siblings.push({
        dot,
        past,
        ts,
        value,
        ...(tag === 2 || tag === 4 ? { crdt: true } : {}),
        ...(expiresAtMs === undefined ? {} : { expiresAtMs }),
      });
    }
    r.expectEnd('versioned value');
    for (const s of siblings) {
      for (const o of siblings) {
        if (o !== s && covers(o.past, s.dot)) malformed(`sibling ${s.dot.counter}@${s.dot.replica} is superseded`);
      }
    }
    return new Versioned(siblings);
  }
}

function malformed(message: string): never {
  throw new ProtocolError('dvv_malformed', message);
}

/** Whether writeSibling writes the same bytes for `a` and `b` (dots aside: equals compares them first). */
function sameEncoding(a: Sibling, b: Sibling): boolean {
  if (!a.past.equals(b.past) || a.ts.wallMs !== b.ts.wallMs || a.ts.logical !== b.ts.logical) return false;
  if (a.value === null || b.value === null) return a.value === b.value; // a tombstone's tag 0 says nothing else
  return a.expiresAtMs === b.expiresAtMs && (a.crdt === true) === (b.crdt === true) && bytesEqual(a.value, b.value);
}

function writeSibling(w: ByteWriter, s: Sibling): void {
  w.stringUvarint(s.dot.replica).uvarint(s.dot.counter);
  s.past.encodeInto(w);
  writeHlc(w, s.ts);
  if (s.value === null) w.u8(0);
  else if (s.expiresAtMs !== undefined)
    w.u8(s.crdt === true ? 4 : 3)
      .u64(BigInt(s.expiresAtMs))
      .bytesUvarint(s.value);
  else w.u8(s.crdt === true ? 2 : 1).bytesUvarint(s.value);
}

function encodeSibling(s: Sibling): Uint8Array {
  const w = new ByteWriter();
  writeSibling(w, s);
  return w.finish();
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** A sibling's deadline, Infinity when it has none. */
const deadlineOf = (s: Sibling): number => s.expiresAtMs ?? Number.POSITIVE_INFINITY;

/**
 * The sibling a key shows (Versioned.chosen). The newest by compareChosen, except when that one
 * is an emptied OR-Set or OR-Map (the whole layout; its write's coordinator saw the collection
 * emptied; not a rows layout marker: see below) while the join of the key's
 * siblings of that collection type still holds elements: an add concurrent with the removal of
 * everything survives it (OR-Set and OR-Map: add wins), so the key is that collection and shows
 * its newest sibling holding elements.
 *   - Only siblings newer than every write of another kind (a DEL's tombstone, a string, a
 *     counter, another collection type) take part: such a write hides the older adds as the
 *     emptied sibling hides it. A sibling past its deadline is a tombstone at its time (as in the
 *     plain order: expiredAsTombstones), so it hides the older adds too.
 *   - Its deadline is when the key vanishes: the emptied sibling's (from then on it is a tombstone,
 *     the newest write), or the first deadline of a taking part sibling from which their join holds
 *     nothing; none when neither comes. When that differs from the shown sibling's own, the shown
 *     sibling is a copy with that deadline (its dot, past, time and value the same: compare
 *     siblings by dot, not identity).
 * The join is exact (the union of adds minus the removes each sibling saw: what SMEMBERS reads).
 * A rows layout marker joins by its largest count, which is no count of rows: applied to markers,
 * the rule showed a key whose rows held nothing, and the next add kept that phantom's deadline (a
 * review: the new element vanished at it), so markers keep the plain order (docs/COMPAT-REDIS.md).
 * The key's value stays the join of all its siblings of the type (typed.ts setOf, mapOf): their
 * contexts hold the dots a write must not reuse (joining only the siblings taking part made a
 * coordinator reuse one of its own dots held in a left-out sibling, and an acknowledged SADD was
 * lost: a review), so an add the rule hides still answers in SMEMBERS and joins the key's next
 * write (a known gap, docs/COMPAT-REDIS.md).
 * Before 2026-12-06 (session 32) the newest sibling was always shown: the key read as absent
 * (EXISTS 0, TYPE none, INCR made a counter of it) while SMEMBERS answered the added element. A
 * value that does not decode, or a join past a bound, leaves the plain order.
 */
function shownOf(siblings: readonly Sibling[]): Sibling | undefined {
  let top: Sibling | undefined;
  for (const s of siblings) if (top === undefined || compareChosen(s, top) > 0) top = s;
  if (siblings.length < 2 || top === undefined || top.value === null || top.crdt !== true) return top;
  try {
    const emptied = decodeCrdt(top.value);
    // The whole layout only: a marker's count is what its coordinator's rows held, so a join of
    // markers can show a key whose rows hold nothing, and the next write then kept that phantom's
    // deadline (a review: a new element vanished at it). The rows layout keeps the plain order.
    if (emptied instanceof CollectionMarker || collectionSize(emptied) !== 0) return top;
    const kin: { readonly s: Sibling; readonly c: Crdt }[] = [];
    let other: Sibling | undefined;
    for (const s of siblings) {
      if (s === top) continue;
      const c = s.value !== null && s.crdt === true ? decodeCrdt(s.value) : undefined;
      if (c !== undefined && sameCollection(c, emptied)) kin.push({ s, c });
      else if (other === undefined || compareChosen(s, other) > 0) other = s;
    }
    // The siblings taking part after time t: those still live, newer than every write of another
    // kind and than every one of them past its deadline by then (a sibling reads as deleted from
    // its deadline: a tombstone at its time, which hides what is older, as in the plain order).
    const takingAfter = (t: number): { readonly s: Sibling; readonly c: Crdt }[] => {
      let hider = other;
      for (const k of kin)
        if (deadlineOf(k.s) <= t && (hider === undefined || compareChosen(k.s, hider) > 0)) hider = k.s;
      return kin.filter((k) => deadlineOf(k.s) > t && (hider === undefined || compareChosen(k.s, hider) > 0));
    };
    const holds = (taking: readonly { readonly c: Crdt }[]): boolean => {
      let joined: Crdt = emptied;
      for (const k of taking) joined = mergeCrdt(joined, k.c);
      return (collectionSize(joined) ?? 0) > 0;
    };
    const now = takingAfter(Number.NEGATIVE_INFINITY);
    let shown: Sibling | undefined;
    for (const k of now)
      if ((collectionSize(k.c) ?? 0) > 0 && (shown === undefined || compareChosen(k.s, shown) > 0)) shown = k.s;
    if (shown === undefined || !holds(now)) return top;
    // When the key vanishes: at the emptied sibling's deadline (from then on a tombstone, the
    // newest write), or earlier at the first deadline from which the siblings taking part hold nothing.
    let vanish = deadlineOf(top);
    const deadlines = new Set(now.map((k) => deadlineOf(k.s)).filter((d) => d < vanish));
    for (const d of [...deadlines].sort((a, b) => a - b))
      if (!holds(takingAfter(d))) {
        vanish = d;
        break;
      }
    if (vanish === deadlineOf(shown)) return shown;
    const { expiresAtMs: _own, ...rest } = shown;
    return vanish === Number.POSITIVE_INFINITY ? rest : { ...rest, expiresAtMs: vanish };
  } catch (e) {
    if (e instanceof ProtocolError || e instanceof LimitError) return top;
    throw e;
  }
}

/** An OR-Set's or OR-Map's element count, or undefined for another CRDT (markers never reach shownOf's join). */
function collectionSize(c: Crdt): number | undefined {
  return c instanceof ORSet || c instanceof ORMap ? c.size : undefined;
}

/** Two collections of one type that join (a list and a hash are both OR-Maps, of other schemas). */
function sameCollection(a: Crdt, b: Crdt): boolean {
  if (a instanceof ORSet) return b instanceof ORSet;
  return a instanceof ORMap && b instanceof ORMap && schemaEqual(a.valueSchema, b.valueSchema);
}

/** Order of `chosen`: timestamp, then replica id, then counter. */
function compareChosen(a: Sibling, b: Sibling): number {
  const byTs = compareHlc(a.ts, b.ts);
  if (byTs !== 0) return byTs;
  return compareDots(a.dot, b.dot);
}

/** Decodes a client's causal context (VectorClock encoding, bounded by dvvEntriesCountMax). */
export function decodeContext(bytes: Uint8Array): VectorClock {
  return VectorClock.decode(bytes, limits.dvvEntriesCountMax);
}
