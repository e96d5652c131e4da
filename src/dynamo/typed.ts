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
// The new sibling's context is everything the replica holds: it supersedes all of it. An empty set
// is kept as a value (its context carries the removes' dots) and reads as no key.
// Wrong types: a key whose newest sibling is a plain value, or another CRDT, answers Redis' WRONGTYPE
// (code wrong_type); a tombstone or nothing is an empty set.

import type { NodeId } from '../env/types.ts';
import type { HlcTimestamp } from '../lib/clocks/hlc.ts';
import { BaristaError } from '../lib/errors.ts';
import { byteStringOf, bytesOfByteString } from '../crdt/codec.ts';
import { type Crdt, crdtType, decodeCrdt, mergeCrdt } from '../crdt/crdt.ts';
import { ORSet } from '../crdt/orset.ts';
import { ORMap } from '../crdt/ormap.ts';
import { MVRegister } from '../crdt/registers.ts';
import { schemaEqual } from '../crdt/causal.ts';
import { counterUpdate, WRONGTYPE } from './counter.ts';
import type { Versioned } from './versions.ts';

export type TypedOp =
  | { readonly type: 'incr'; readonly by: bigint }
  | { readonly type: 'sadd'; readonly members: readonly Uint8Array[] }
  | { readonly type: 'srem'; readonly members: readonly Uint8Array[] }
  /** HSET: field, value, field, value, ... */
  | { readonly type: 'hset'; readonly members: readonly Uint8Array[] }
  /** HDEL: fields. */
  | { readonly type: 'hdel'; readonly members: readonly Uint8Array[] }
  /** EXPIRE / PERSIST of a counter, set or hash: its join rewritten with this deadline (0: none). */
  | { readonly type: 'expire'; readonly expiresAtMs: number };

export { WRONGTYPE };

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
    return local.update(local.context(), replica, hash.encode(), ts, true, local.keptDeadline(), counterFloor);
  }
  let set = setOf(local);
  if (set instanceof BaristaError) throw set;
  for (const m of op.members) {
    const e = byteStringOf(m);
    if (op.type === 'sadd' && !set.has(e)) set = set.add(replica, e).state;
    else if (op.type === 'srem' && set.has(e)) set = set.remove(e).state;
  }
  return local.update(local.context(), replica, set.encode(), ts, true, local.keptDeadline(), counterFloor);
}

/**
 * EXPIRE / PERSIST of a typed key: the join of the CRDT siblings of the newest one's type, written
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
  const top = local.chosen();
  if (top === undefined || top.value === null || top.crdt !== true)
    throw new BaristaError('bad_request', 'the key holds no counter, set or hash here (it changed meanwhile)');
  let joined: Crdt = decodeCrdt(top.value);
  for (const s of local.siblings) {
    if (s === top || s.crdt !== true || s.value === null) continue;
    const other = decodeCrdt(s.value);
    if (crdtType(other) === crdtType(joined)) joined = mergeCrdt(joined, other);
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
      if (s === top) return new BaristaError('wrong_type', WRONGTYPE);
      continue;
    }
    set = set.merge(c);
  }
  return set;
}

/** The set's members as bytes, in byte order. */
export function setMembers(set: ORSet): Uint8Array[] {
  return set.value().map(bytesOfByteString);
}

const HASH_SCHEMA = MVRegister.schema;

/** The key's hash: the join of its OR-Map siblings (empty when nothing or a tombstone). */
export function hashOf(state: Versioned): ORMap | BaristaError {
  const top = state.chosen();
  const empty = ORMap.empty(HASH_SCHEMA);
  if (top === undefined || top.value === null) return empty;
  if (top.crdt !== true) return new BaristaError('wrong_type', WRONGTYPE);
  let hash = empty;
  for (const s of state.siblings) {
    if (s.crdt !== true || s.value === null) continue;
    const c = decodeCrdt(s.value);
    if (!(c instanceof ORMap) || !schemaEqual(c.valueSchema, HASH_SCHEMA)) {
      if (s === top) return new BaristaError('wrong_type', WRONGTYPE);
      continue;
    }
    hash = hash.merge(c);
  }
  return hash;
}

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
