// Redis counters (INCR, DECR, INCRBY, DECRBY) at N > 1: a PN-Counter (src/crdt/counters.ts) kept
// as a CRDT sibling of the key's Versioned state, so increments coordinated concurrently by
// different replicas (both sides of a partition) all count once the siblings meet, instead of one
// of them being lost as with read-modify-write of a plain value.
//
// The update (`counterUpdate`, run by the coordinating replica on its LOCAL state, inside the
// replica's synchronous step):
//   base = the join of every CRDT sibling the replica holds, or — when the shown sibling (by the
//          `chosen` order) is a plain value — that value parsed as a Redis integer, as a fresh
//          counter holding it under an entry named after that sibling's dot (`=` and 16 hex digits
//          of murmur3 of `replica/counter`: short enough for any node id's bound),
//          so replicas that rebase from the same SET concurrently count its value once, not once
//          each (Redis: SET k 10, INCR k gives 11); a tombstone or no sibling is 0;
//   new  = base.increment(replica, by), written as one sibling whose context is everything the
//          replica holds (it supersedes all of it).
// The CRDT contract (src/crdt/crdt.ts): an operation under replica id r must run on a state holding
// every earlier operation of r. It holds here: r's own counter sibling is written locally and
// durably before anything is acknowledged, and a sibling that superseded it elsewhere joined it
// into its base (its past covers r's dot only if its coordinator held it).
// The read (`counterValue`): when the shown sibling is a CRDT, the join of all CRDT siblings;
// otherwise the newest plain value (a SET concurrent with INCRs wins over them by timestamp, as
// last-write-wins would; mixing SET and INCR concurrently on one key is not recommended at N > 1).
// Errors, Redis' texts: a plain value that is not an integer -> not_integer; a result outside
// int64 -> overflow.

import { showsValue } from './shown.ts';
import type { NodeId } from '../env/types.ts';
import { BaristaError } from '../lib/errors.ts';
import type { HlcTimestamp } from '../lib/clocks/hlc.ts';
import { PNCounter } from '../crdt/counters.ts';
import { int64, parseInt64 } from '../redis/args.ts';
import { decodeCrdt } from '../crdt/crdt.ts';
import { murmur3X64_128 } from './partitioner.ts';
import type { Sibling, Versioned } from './versions.ts';

export const NOT_INTEGER = 'value is not an integer or out of range';
export const OVERFLOW = 'increment or decrement would overflow';
export const WRONGTYPE = 'Operation against a key holding the wrong kind of value';

function newest(state: Versioned): Sibling | undefined {
  return state.chosen();
}

/** The join of the key's PN-Counter siblings (other CRDT siblings are another type's: skipped). */
function joinCrdt(state: Versioned): PNCounter {
  let c = PNCounter.empty;
  for (const s of state.siblings) {
    if (s.crdt !== true || s.value === null) continue;
    const d = decodeCrdt(s.value);
    if (d instanceof PNCounter) c = c.merge(d);
  }
  return c;
}

/** Whether the sibling is a counter (its CRDT type), for wrong-type answers. */
function isCounter(s: Sibling): boolean {
  return s.value !== null && s.crdt === true && decodeCrdt(s.value) instanceof PNCounter;
}

/** The counter entry a plain value rebases into: named after its dot, the same on every replica. */
function rebaseEntry(s: Sibling): string {
  const { h1 } = murmur3X64_128(new TextEncoder().encode(`${s.dot.replica}/${s.dot.counter}`));
  return `=${h1.toString(16).padStart(16, '0')}`;
}

/** The counter's value as a read shows it; null when the key holds nothing (or a tombstone). */
export function counterValue(state: Versioned): bigint | null | BaristaError {
  const top = newest(state);
  if (top === undefined || top.value === null || !showsValue(top)) return null;
  if (top.crdt === true) {
    if (!isCounter(top)) return new BaristaError('wrong_type', WRONGTYPE);
    return joinCrdt(state).value();
  }
  return parseInt64(top.value) ?? new BaristaError('bad_request', NOT_INTEGER);
}

/** The key's plain value as GET shows it: a counter as its decimal text. */
export function readableValue(state: Versioned): Uint8Array | null {
  const top = newest(state);
  if (top === undefined || top.value === null || !showsValue(top)) return null;
  if (top.crdt !== true) return top.value;
  if (!isCounter(top)) return null; // a set: GET answers WRONGTYPE before asking (replicated.ts)
  return new TextEncoder().encode(joinCrdt(state).value().toString());
}

/** The local state after `replica` adds `by` (see the header); throws BaristaError. */
export function counterUpdate(
  local: Versioned,
  replica: NodeId,
  by: bigint,
  ts: HlcTimestamp,
  counterFloor = 0,
): Versioned {
  const top = newest(local);
  let base: PNCounter;
  if (top === undefined || top.value === null || !showsValue(top)) base = PNCounter.empty;
  else if (top.crdt === true) {
    if (!isCounter(top)) throw new BaristaError('wrong_type', WRONGTYPE);
    base = joinCrdt(local);
  } else {
    const v = parseInt64(top.value);
    if (v === undefined) throw new BaristaError('bad_request', NOT_INTEGER);
    // Named after the SET's dot: every replica rebasing from it makes the same entry (joined, not added).
    base = v === 0n ? PNCounter.empty : PNCounter.empty.increment(rebaseEntry(top), v).state;
  }
  const sum = base.value() + by;
  if (sum < int64.min || sum > int64.max) throw new BaristaError('bad_request', OVERFLOW);
  const next = by === 0n ? base : base.increment(replica, by).state;
  return local.update(
    local.context(),
    replica,
    next.encode(),
    ts,
    true,
    showsValue(local.chosen()) ? local.keptDeadline() : undefined,
    counterFloor,
  );
}
