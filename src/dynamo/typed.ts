// Typed values at N > 1: Redis commands whose concurrent updates must merge instead of one winning.
// Each is a CRDT (src/crdt) kept as a CRDT sibling (value tag 2) of the key's Versioned state, and
// each operation runs at the coordinating replica, on its LOCAL state, inside its synchronous step
// (the CRDT contract: an operation under replica id r sees every earlier operation of r):
//   incr  by        PN-Counter (counter.ts)
//   sadd  members   OR-Set add-wins: base = the join of the key's OR-Set siblings, each member not
//                   in it added under the replica's id;
//   srem  members   OR-Set: each member in the base removed — only the adds this replica has
//                   observed, so the RESP layer reads at the connection's level first (a read merges
//                   what it saw into the coordinator's local state: replica.ts), and an add
//                   concurrent with the remove survives (add wins).
//   hset  f v ...   OR-Map of MV-Registers (a Redis hash): each field's register written with the
//                   coordinator's HLC timestamp (supersedes the values it saw; HGET reads the
//                   register's LWW view, resolve());
//   hdel  f ...     OR-Map remove: the field's observed writes; a concurrent HSET survives.
//   zset  m s ...   a sorted set: an OR-Map from member to a one-key OR-Map holding an MV-Register
//                   of the score (8 bytes, float64 big-endian); a pair with an empty score removes
//                   the member's observed writes. A score's concurrent writes resolve by HLC, as a
//                   hash field's (the nesting gives the sorted set a schema of its own, so a hash
//                   and a sorted set never merge);
//   list  k v ...   a list: an OR-Map from element key (list-positions.ts: the keys' byte order is
//                   the list's order) to an OR-Set holding the element's value; a pair (k, 1 v)
//                   inserts, (k, 0) removes the element's observed add. The RESP layer runs Redis'
//                   own command on the list it read (src/redis/scratch.ts) and sends the difference.
// The new sibling's context is everything the replica holds: it supersedes all of it. An empty set
// is kept as a value (its context carries the removes' dots) and reads as no key.
// Wrong types: a key whose shown sibling (Versioned.chosen) is a plain value, or another CRDT, answers Redis' WRONGTYPE
// (code wrong_type); a tombstone or nothing is an empty set.

import { showsValue } from './shown.ts';
import type { NodeId } from '../env/types.ts';
import type { HlcTimestamp } from '../lib/clocks/hlc.ts';
import { BaristaError, ProtocolError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import { type ByteString, byteStringOf, bytesOfByteString, compareBytes, type Update } from '../crdt/codec.ts';
import { CollectionMarker, type Crdt, crdtType, decodeCrdt, mergeCrdt } from '../crdt/crdt.ts';
import { ORSet } from '../crdt/orset.ts';
import { ORMap } from '../crdt/ormap.ts';
import { MVRegister } from '../crdt/registers.ts';
import { type Schema, schemaEqual } from '../crdt/causal.ts';
import { counterUpdate, WRONGTYPE } from './counter.ts';
import { sameDot, type Versioned } from './versions.ts';

export type TypedOp =
  | { readonly type: 'incr'; readonly by: bigint }
  | { readonly type: 'sadd'; readonly members: readonly Uint8Array[] }
  | { readonly type: 'srem'; readonly members: readonly Uint8Array[] }
  /** HSET: field, value, field, value, ... */
  | { readonly type: 'hset'; readonly members: readonly Uint8Array[] }
  /** HDEL: fields. */
  | { readonly type: 'hdel'; readonly members: readonly Uint8Array[] }
  /** Sorted set changes: member, score (8 bytes float64 BE; empty: remove), ... */
  | { readonly type: 'zset'; readonly members: readonly Uint8Array[] }
  /** List changes: element key, [1, ...value] (insert) or [0] (remove), ... */
  | { readonly type: 'list'; readonly members: readonly Uint8Array[] }
  /** EXPIRE / PERSIST of a counter, set or hash: its join rewritten with this deadline (0: none). */
  | { readonly type: 'expire'; readonly expiresAtMs: number };

export { WRONGTYPE };

/**
 * The size error a typed op answers before anything is read or written (replica.ts validate, so
 * a node forwarding it refuses it too), or undefined: each member at most kvValueBytesMax (a list
 * change one byte more: its insert marker before a value of up to kvValueBytesMax, as SET takes),
 * and the members together at most storeChangeBytesMax. A peer's decoder takes exactly these
 * (messages.ts), and the change's message then fits dynamoMessageBytesMax.
 */
export function typedOpTooLarge(op: TypedOp): BaristaError | undefined {
  if (!('members' in op)) return undefined;
  let total = 0;
  for (let i = 0; i < op.members.length; i++) {
    const n = op.members[i]!.length;
    if (n > typedMemberBytesMax(op.type, i))
      return new BaristaError(
        'value_too_large',
        `an element or value of ${n} bytes, max ${limits.kvValueBytesMax} (nothing was written)`,
      );
    total += n;
  }
  // Not limit_exceeded (BUSY: try again later): the same command never fits.
  if (total > limits.storeChangeBytesMax)
    return new BaristaError(
      'value_too_large',
      `the command's elements and values take ${total} bytes, max ${limits.storeChangeBytesMax} (storeChangeBytesMax) at N > 1 (nothing was written)`,
    );
  return undefined;
}

/** The longest member `i` of a typed op of `type` (a list's changes: a marker byte and a value). */
export function typedMemberBytesMax(type: string, i: number): number {
  return type === 'list' && i % 2 === 1 ? limits.kvValueBytesMax + 1 : limits.kvValueBytesMax;
}

/**
 * The deadline a collection's next write keeps: its shown sibling's, unless that reads as no key
 * (an emptied collection: Redis deletes the key with its TTL, so an add makes it anew without one;
 * found by test/fuzz/redis-differential.test.ts, 2026-12-06: ZREM of the last member, then ZADD,
 * and PERSIST answered 1).
 */
export function shownDeadline(local: Versioned): number | undefined {
  return showsValue(local.chosen()) ? local.keptDeadline() : undefined;
}

/** The local state after `replica` applies `op`; throws BaristaError (wrong type, bounds, overflow). */
export function applyTyped(
  local: Versioned,
  replica: NodeId,
  op: TypedOp,
  ts: HlcTimestamp,
  counterFloor = 0,
): Versioned {
  if (op.type === 'incr') return counterUpdate(local, replica, op.by, ts, counterFloor);
  if (op.type === 'expire') return expireTyped(local, replica, op.expiresAtMs, ts, counterFloor);
  if (op.type === 'zset' || op.type === 'list') {
    const kind = op.type;
    let map = mapOf(local, kind === 'zset' ? ZSET_SCHEMA : LIST_SCHEMA);
    if (map instanceof BaristaError) throw map;
    for (let i = 0; i + 1 < op.members.length; i += 2) {
      const key = byteStringOf(op.members[i]!);
      const change = op.members[i + 1]!;
      if (kind === 'zset' ? change.length === 0 : change[0] === 0) {
        if (map.has(key)) map = map.remove(key).state;
      } else if (kind === 'zset') {
        map = map.apply<ORMap>(key, (m) => writeScore(m, replica, change, ts)).state;
      } else {
        const value = byteStringOf(change.subarray(1));
        map = map.apply<ORSet>(key, (set) => set.add(replica, value)).state;
      }
    }
    return local.update(local.context(), replica, map.encode(), ts, true, shownDeadline(local), counterFloor);
  }
  if (op.type === 'hset' || op.type === 'hdel') {
    let hash = hashOf(local);
    if (hash instanceof BaristaError) throw hash;
    if (op.type === 'hset') {
      for (let i = 0; i + 1 < op.members.length; i += 2) {
        const value = op.members[i + 1]!;
        hash = hash.apply<MVRegister>(byteStringOf(op.members[i]!), (r) => r.write(replica, value, ts)).state;
      }
    } else {
      for (const f of op.members) {
        const field = byteStringOf(f);
        if (hash.has(field)) hash = hash.remove(field).state;
      }
    }
    return local.update(local.context(), replica, hash.encode(), ts, true, shownDeadline(local), counterFloor);
  }
  let set = setOf(local);
  if (set instanceof BaristaError) throw set;
  for (const m of op.members) {
    const e = byteStringOf(m);
    if (op.type === 'sadd' && !set.has(e)) set = set.add(replica, e).state;
    else if (op.type === 'srem' && set.has(e)) set = set.remove(e).state;
  }
  return local.update(local.context(), replica, set.encode(), ts, true, shownDeadline(local), counterFloor);
}

/**
 * EXPIRE / PERSIST of a typed key: the join of the CRDT siblings of the shown one's type, written
 * as one sibling with the new deadline (0: none) that supersedes everything held. An operation
 * concurrent with it on another replica stays a sibling of its own, without the deadline: at the
 * deadline the key loses what this replica held, and keeps what it did not see.
 */
function expireTyped(
  local: Versioned,
  replica: NodeId,
  expiresAtMs: number,
  ts: HlcTimestamp,
  counterFloor: number,
): Versioned {
  const shown = local.chosen();
  // The stored sibling of the shown one's dot: the shown one may be a copy nothing writes (another
  // deadline: shownOf; a rows count: Versioned.withShown). A review of 8d72496 found EXPIRE writing
  // an emptied list's shown count, and the key read as a list holding nothing for good.
  const top = shown === undefined ? undefined : (local.siblings.find((s) => sameDot(s.dot, shown.dot)) ?? shown);
  if (top === undefined || top.value === null || top.crdt !== true)
    throw new BaristaError('bad_request', 'the key holds no counter, set or hash here (it changed meanwhile)');
  let joined: Crdt = decodeCrdt(top.value);
  for (const s of local.siblings) {
    if (sameDot(s.dot, top.dot) || s.crdt !== true || s.value === null) continue;
    const other = decodeCrdt(s.value);
    if (crdtType(other) !== crdtType(joined)) continue;
    // An emptied marker that says what it saw (the key shown by its rows: replica.ts
    // shownWithRows) stays one: a concurrent marker's count, joined in, outlived the rows a
    // concurrent pop took (a key holding nothing read as a list). A counting marker shown keeps
    // the larger count, as before (an emptied one winning hid a newer list whose rows this replica
    // lacked, and INCR took it over: a review of c3f3e1c).
    if (
      joined instanceof CollectionMarker &&
      joined.seen !== undefined &&
      other instanceof CollectionMarker &&
      other.count > 0
    )
      continue;
    try {
      joined = mergeCrdt(joined, other);
    } catch (e) {
      // Two collections of one CRDT type and other schemas (a list and a hash are both OR-Maps; in
      // the rows layout both are markers): a concurrent RPUSH and HSET, which stay apart until the
      // key is deleted (docs/COMPAT-REDIS.md). Before, the merge's crdt_unknown_type reached the
      // client as "cannot merge a ormap with a ormap".
      if (!(e instanceof ProtocolError) || e.code !== 'crdt_unknown_type') throw e;
      // An emptied collection of the other schema reads as no key: left as it is (a review: HDEL
      // of the last field on one side, DEL and RPUSH on the other, and EXPIRE of the list failed).
      if (!showsValue(s)) continue;
      throw new BaristaError(
        'bad_request',
        'the key holds concurrent writes of two collection types (replicas saw them in different orders): DEL it, then write it again',
      );
    }
  }
  const deadline = expiresAtMs === 0 ? undefined : expiresAtMs;
  return local.update(local.context(), replica, joined.encode(), ts, true, deadline, counterFloor);
}

/** The key's set: the join of its OR-Set siblings (empty when it holds nothing or a tombstone). */
export function setOf(state: Versioned): ORSet | BaristaError {
  const top = state.chosen();
  if (top === undefined || top.value === null) return ORSet.empty;
  if (top.crdt !== true) return new BaristaError('wrong_type', WRONGTYPE);
  let set = ORSet.empty;
  for (const s of state.siblings) {
    if (s.crdt !== true || s.value === null) continue;
    const c = decodeCrdt(s.value);
    if (!(c instanceof ORSet)) {
      // An emptied collection of another type reads as no key (shown.ts); the set starts anew.
      if (sameDot(s.dot, top.dot)) return showsValue(top) ? new BaristaError('wrong_type', WRONGTYPE) : ORSet.empty;
      continue;
    }
    set = set.merge(c);
  }
  return set;
}

/**
 * The set's members as bytes, in byte order. Kept per set (CRDT values are immutable: a set read
 * whole again, unchanged, answers from the first), so callers must not change the array.
 */
export function setMembers(set: ORSet): readonly Uint8Array[] {
  const kept = SET_MEMBERS_KEPT.get(set);
  if (kept !== undefined) return kept;
  const out = set.value().map(bytesOfByteString);
  SET_MEMBERS_KEPT.set(set, out);
  return out;
}

const SET_MEMBERS_KEPT = new WeakMap<ORSet, readonly Uint8Array[]>();

const HASH_SCHEMA = MVRegister.schema;
/** A sorted set's value schema: member -> { SCORE_FIELD -> MV-Register of the score }. */
export const ZSET_SCHEMA: Schema = Object.freeze({ type: 'ormap', value: MVRegister.schema });
/** A list's value schema: element key -> OR-Set of the element's value. */
export const LIST_SCHEMA: Schema = ORSet.schema;
const SCORE_FIELD = 's';

/** A sorted set member's value (its nested map) with `score` written by `replica`: the one way a score is set. */
export function writeScore(member: ORMap, replica: string, score: Uint8Array, ts: HlcTimestamp): Update<ORMap> {
  return member.apply<MVRegister>(SCORE_FIELD, (r) => r.write(replica, score, ts));
}

/** The key's hash: the join of its OR-Map siblings (empty when nothing or a tombstone). */
export function hashOf(state: Versioned): ORMap | BaristaError {
  return mapOf(state, HASH_SCHEMA);
}

/** The key's sorted set or list (by its schema): the join of its siblings of that schema. */
export function mapOf(state: Versioned, schema: Schema): ORMap | BaristaError {
  const top = state.chosen();
  const empty = ORMap.empty(schema);
  if (top === undefined || top.value === null) return empty;
  if (top.crdt !== true) return new BaristaError('wrong_type', WRONGTYPE);
  let map = empty;
  for (const s of state.siblings) {
    if (s.crdt !== true || s.value === null) continue;
    const c = decodeCrdt(s.value);
    if (!(c instanceof ORMap) || !schemaEqual(c.valueSchema, schema)) {
      if (sameDot(s.dot, top.dot)) return showsValue(top) ? new BaristaError('wrong_type', WRONGTYPE) : empty;
      continue;
    }
    map = map.merge(c);
  }
  return map;
}

/** A sorted set's members and scores in Redis' order: by score, then member bytes (a score not 8 bytes, or NaN, is skipped). */
export function zsetEntries(zset: ORMap): ReadonlyArray<readonly [Uint8Array, number]> {
  // An OR-Map is immutable (its operations return new values): a sorted set read whole again,
  // unchanged (replica-rows.ts keeps its view), is answered from the first decode.
  const kept = ZSET_ENTRIES_KEPT.get(zset);
  if (kept !== undefined) return kept;
  const out: Array<[Uint8Array, number]> = [];
  for (const k of zset.keys()) {
    const score = memberScore(zset, k);
    if (score !== undefined) out.push([bytesOfByteString(k), score]);
  }
  // keys() is in member order and the sort is stable: equal scores stay in member order.
  out.sort((a, b) => a[1] - b[1] || 0);
  ZSET_ENTRIES_KEPT.set(zset, out);
  return out;
}

/**
 * Gives `next` (a sorted set equal to `prev` but for the members `changed`) its zsetEntries from
 * prev's, when those are kept: each changed member's entry taken out where its old score puts it
 * and put in where its new one does (binary searches, and a move of the entries after each place:
 * O(n) a change, so for at most ZSET_CARRY_CHANGES_MAX changes), instead of decoding and sorting
 * every member again. Nothing when prev's are not kept, or more changed.
 */
export function carryZsetEntries(
  prev: ORMap,
  next: ORMap,
  changed: ReadonlySet<ByteString> | ReadonlyMap<ByteString, unknown>,
): void {
  const kept = ZSET_ENTRIES_KEPT.get(prev);
  // Each change moves up to every entry (a splice): past ZSET_CARRY_CHANGES_MAX a sort is cheaper.
  if (kept === undefined || changed.size > ZSET_CARRY_CHANGES_MAX) return;
  const out = kept.slice();
  for (const m of changed.keys()) {
    const member = bytesOfByteString(m);
    const before = memberScore(prev, m);
    if (before !== undefined) {
      const at = entryPlace(out, before, member);
      if (at < out.length && out[at]![1] === before && compareBytes(out[at]![0], member) === 0) out.splice(at, 1);
    }
    const after = memberScore(next, m);
    if (after !== undefined) out.splice(entryPlace(out, after, member), 0, [member, after]);
  }
  ZSET_ENTRIES_KEPT.set(next, out);
}

/** Changed members carryZsetEntries carries over at most (more: zsetEntries sorts every member again). */
const ZSET_CARRY_CHANGES_MAX = 64;

/** A member's score as zsetEntries reads it (undefined: absent, not 8 bytes, or NaN). */
function memberScore(zset: ORMap, k: ByteString): number | undefined {
  const m = zset.get(k);
  const r = m instanceof ORMap ? m.get(SCORE_FIELD) : undefined;
  const v = r instanceof MVRegister ? r.resolve()?.value : undefined;
  if (v === undefined || v.length !== 8) return undefined;
  const score = new DataView(v.buffer, v.byteOffset, 8).getFloat64(0);
  return Number.isNaN(score) ? undefined : score;
}

/** The first place in `entries` (zsetEntries' order: score, then member bytes) not before (score, member). */
function entryPlace(entries: ReadonlyArray<readonly [Uint8Array, number]>, score: number, member: Uint8Array): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const [m, s] = entries[mid]!;
    const before = s < score || (!(s > score) && compareBytes(m, member) < 0);
    if (before) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** zsetEntries' answers, by the OR-Map they were made from (dropped with it). */
const ZSET_ENTRIES_KEPT = new WeakMap<ORMap, ReadonlyArray<readonly [Uint8Array, number]>>();

/** A score as the zset op carries it. */
export function encodeScore(score: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setFloat64(0, score);
  return out;
}

/**
 * A list's elements in order: each element key and its value (values at one key in byte order).
 * Kept per list as setMembers is: callers must not change the array.
 */
export function listElements(list: ORMap): ReadonlyArray<readonly [Uint8Array, Uint8Array]> {
  const kept = LIST_ELEMENTS_KEPT.get(list);
  if (kept !== undefined) return kept;
  const out: Array<[Uint8Array, Uint8Array]> = [];
  for (const k of list.keys()) {
    const set = list.get(k);
    if (!(set instanceof ORSet)) continue;
    const key = bytesOfByteString(k);
    for (const v of set.value()) out.push([key, bytesOfByteString(v)]);
  }
  LIST_ELEMENTS_KEPT.set(list, out);
  return out;
}

const LIST_ELEMENTS_KEPT = new WeakMap<ORMap, ReadonlyArray<readonly [Uint8Array, Uint8Array]>>();

/** A field's value as HGET shows it (the register's LWW view); undefined when absent. */
export function hashField(hash: ORMap, field: Uint8Array): Uint8Array | undefined {
  const r = hash.get(byteStringOf(field));
  return r instanceof MVRegister ? r.resolve()?.value : undefined;
}

/** Every field and its value, fields in byte order. */
export function hashEntries(hash: ORMap): Array<[Uint8Array, Uint8Array]> {
  const out: Array<[Uint8Array, Uint8Array]> = [];
  for (const k of hash.keys()) {
    const v = hashField(hash, bytesOfByteString(k));
    if (v !== undefined) out.push([bytesOfByteString(k), v]);
  }
  return out;
}
