// Collection commands at N > 1 through Redis' own implementation (src/redis/scratch.ts): the key's
// merged value as the coordinator read it is materialized, the command runs on it exactly as on a
// node at N = 1, and the difference between the value before and after becomes CRDT operations
// (src/dynamo/typed.ts) that the coordinating replica applies to its local state:
//   list   elements removed by key, new elements given keys between their neighbours' keys
//          (list-positions.ts); the difference is the common prefix and suffix kept, and in between
//          the removed elements (the new middle a subsequence of the old: LREM, LPOP, LTRIM), the
//          inserted ones (the old middle a subsequence of the new: LPUSH, LINSERT), or else the old
//          middle replaced (LSET, a rotation)
//   zset   members whose score changed or that are new (score written), members gone (removed)
//   set    members added (sadd), members gone (srem)
//   hash   fields whose value changed or that are new (hset), fields gone (hdel)
// The reply is Redis' on the value read; the effect merges with concurrent ones (removes take only
// what the read observed). Which commands go this way: `collectionCommandNames`.

import type { Rng } from '../../env/types.ts';
import { elementKeysBetween } from '../../dynamo/list-positions.ts';
import {
  encodeScore,
  hashEntries,
  hashOf,
  LIST_SCHEMA,
  listElements,
  mapOf,
  setMembers,
  setOf,
  type TypedOp,
  WRONGTYPE,
  ZSET_SCHEMA,
  zsetEntries,
} from '../../dynamo/typed.ts';
import type { Versioned } from '../../dynamo/versions.ts';
import type { CollectionView } from '../../dynamo/messages.ts';
import { CollectionMarker, type Crdt, decodeCrdt, ORMap, ORSet, PNCounter } from '../../crdt/crdt.ts';
import { schemaEqual } from '../../crdt/causal.ts';
import { BaristaError } from '../../lib/errors.ts';
import { limits } from '../../lib/limits.ts';
import { MVRegister } from '../../crdt/registers.ts';
import { readableValue } from '../../dynamo/counter.ts';
import { hashCommands } from '../../redis/hash.ts';
import { listCommands } from '../../redis/list.ts';
import type { Materialized } from '../../redis/scratch.ts';
import { type RespValue, reply } from '../../wire/resp/index.ts';
import { setCommands } from '../../redis/set.ts';
import { zsetCommands } from '../../redis/zset.ts';

/** The key's value as read, and for a list each element's key (in list order). */
export interface ReadValue {
  readonly value: Materialized | null;
  readonly listKeys: readonly Uint8Array[];
  /**
   * A list push's edge read (LPUSH's head, RPUSH's tail) that found the key absent while a
   * replica read still holds a list's rows (a concurrent list under a newer emptied marker or
   * DEL: docs/COMPAT-REDIS.md's known gap): the low- (head) or high-water element they lie
   * within, so a new list's elements go beyond them, never among them once they meet.
   */
  readonly anchor?: { readonly key: Uint8Array; readonly head: boolean };
  /**
   * A list's head only (its first rows, the rows layout's LPUSH and LPOP): more elements may follow,
   * so the change is matched from the end of what was read (what was pushed went before it, what
   * was popped came off its front), never appended after it.
   */
  readonly head?: boolean;
  /** With head: the length the read found (the most any replica read holds: replica.ts finishRows). */
  readonly count?: number;
  /** The coordinator may hold fewer elements than a replica read (CollectionView.lacking). */
  readonly lacking?: true;
  /** A STORE's destination showed a deadline when read (the STORE then removes it). */
  readonly deadline?: true;
  /**
   * A list's tail only (its last rows, the rows layout's RPOP, LINDEX -i, LRANGE -i -j): more
   * elements may go before it, so the change is matched from the start of what was read (what was
   * popped came off its end), never put before it.
   */
  readonly tail?: boolean;
}

const NO_KEYS: readonly Uint8Array[] = [];

/**
 * The list, set, sorted set and hash commands (the blocking ones are the server's: blocking.ts). A
 * command of several keys reads each, runs on them all, and writes each key's change in turn:
 * per-key operations, not atomic across keys (replicated.ts).
 */
export const collectionCommandNames: ReadonlySet<string> = new Set(
  [...listCommands, ...setCommands, ...zsetCommands, ...hashCommands].map((s) => s.name),
);

/**
 * The type TYPE names for a state ('string' for strings and counters, 'list', 'set', 'zset',
 * 'hash'), or null when it shows no value (showsValue: EXISTS' rule), without building the value:
 * SCAN's TYPE filter, KEYS, DBSIZE and RANDOMKEY at N > 1 ask it of every key they walk.
 */
export function shownType(state: Versioned): string | null {
  const top = state.chosen();
  if (top === undefined || top.value === null) return null;
  if (top.crdt !== true) return 'string';
  return crdtShownType(decodeCrdt(top.value)); // once: showsValue's emptied-collection rule, inline
}

/** TYPE's word for a CRDT value (null: an emptied collection, which reads as no key). */
export function crdtShownType(c: Crdt): string | null {
  if (c instanceof PNCounter) return 'string';
  if (c instanceof CollectionMarker) {
    if (c.count === 0) return null;
    if (c.schema.type === 'orset') return 'set';
    if (c.schema.type === 'ormap' && schemaEqual(c.schema.value, ZSET_SCHEMA)) return 'zset';
    return c.schema.type === 'ormap' && schemaEqual(c.schema.value, LIST_SCHEMA) ? 'list' : 'hash';
  }
  if ((c instanceof ORSet || c instanceof ORMap) && c.size === 0) return null;
  if (c instanceof ORSet) return 'set';
  if (!(c instanceof ORMap)) return null;
  if (schemaEqual(c.valueSchema, MVRegister.schema)) return 'hash';
  return schemaEqual(c.valueSchema, ZSET_SCHEMA) ? 'zset' : 'list';
}

/**
 * The key's value for a command (the newest sibling's type; CRDT siblings of it joined). A set or
 * hash kept in rows (its state holds a marker) is the `collection` a rows read brought: every row,
 * or for a command that names its elements (`named`) those rows only, a partial value. A partial
 * value of a collection that holds other elements keeps one placeholder element besides the named
 * ones (never among them), so Redis' code sees the key's type (SREM on a hash: WRONGTYPE) and does
 * not take the key for emptied; the placeholder is in the value before and after, so no operation
 * comes of it. Without a collection, a marker counting elements is WRONGTYPE: the command is of
 * another type, as Redis' code would say. `partial`: a list command's head or tail read of the key
 * (no element named): a set, hash or sorted set read so keeps a placeholder too (RPUSHX or LPOP on
 * a set: WRONGTYPE, not an absent key). `edgeRead`: that read was of the list's edge without rows
 * (LPUSH's head, RPUSH's tail).
 */
export function materialize(
  state: Versioned,
  collection?: CollectionView,
  named?: readonly Uint8Array[],
  partial = false,
  edgeRead = false,
): ReadValue | BaristaError {
  const edge = edgeRead ? (collection?.after ?? collection?.before) : undefined;
  const absent: ReadValue =
    edge === undefined
      ? { value: null, listKeys: NO_KEYS }
      : { value: null, listKeys: NO_KEYS, anchor: { key: edge, head: collection?.after === undefined } };
  const top = state.chosen();
  if (top === undefined || top.value === null) return absent;
  if (top.crdt !== true) return { value: { type: 'string', value: top.value }, listKeys: NO_KEYS };
  const c = decodeCrdt(top.value);
  if (c instanceof CollectionMarker) {
    if (collection === undefined) return c.count === 0 ? absent : new BaristaError('wrong_type', WRONGTYPE);
    const v = collection.view;
    const held = Math.max(c.count, collection.count);
    if (v instanceof ORMap && schemaEqual(v.valueSchema, LIST_SCHEMA) && edge !== undefined) {
      // A list's tail (RPUSH) or head (LPUSH): no row, one stand-in element at the high- or
      // low-water position, so the elements pushed after (before) it go past (before) every row
      // the replicas read hold.
      if (held === 0) return absent;
      return { value: { type: 'list', values: [new Uint8Array(0)] }, listKeys: [edge] };
    }
    if (v instanceof ORMap && schemaEqual(v.valueSchema, LIST_SCHEMA) && edgeRead && held > 0) {
      // A list's head or tail read (LPUSH, RPUSH) found no edge, yet its marker counts elements:
      // none of the replicas read holds a row of it (the marker came without them, and the
      // replica holding them is not among those read). A push would start the list anew, among
      // its elements once they meet: refused, nothing written.
      return new BaristaError(
        'replicas_unavailable',
        `the list's ${held} elements are on none of the replicas read (read at a higher consistency level, or once a repair or hint brings them here)`,
      );
    }
    if (v instanceof ORMap && schemaEqual(v.valueSchema, LIST_SCHEMA)) {
      // A list's rows as read: its head (LPUSH, LPOP) or all of it, in list order; named rows (a
      // set or hash command on a list) keep its type by a placeholder.
      const all = listElements(v); // shared (kept per view): copied to add to it
      const elements: ReadonlyArray<readonly [Uint8Array, Uint8Array]> =
        named !== undefined && held > all.length ? [...all, [placeholder(named), placeholder(named)]] : all;
      if (elements.length === 0) return absent;
      return { value: { type: 'list', values: elements.map(([, x]) => x) }, listKeys: elements.map(([k]) => k) };
    }
    if (v instanceof ORMap && schemaEqual(v.valueSchema, ZSET_SCHEMA)) {
      // A sorted set's rows as read (every row, or the members named with a placeholder besides).
      const all = zsetEntries(v); // shared (kept per view): copied to add to it
      const entries =
        (named !== undefined || partial) && held > all.length ? [...all, [placeholder(named ?? []), 0] as const] : all;
      if (entries.length === 0) return absent;
      return { value: { type: 'zset', entries }, listKeys: NO_KEYS };
    }
    const isSet = c.schema.type === 'orset';
    let members: readonly Uint8Array[] = v instanceof ORSet ? setMembers(v) : []; // kept per view: copied to add to
    const entries = v instanceof ORMap ? hashEntries(v) : [];
    const shown = isSet ? members.length : entries.length;
    if ((named !== undefined || partial) && held > shown) {
      const p = placeholder(named ?? []);
      if (isSet) members = [...members, p];
      else entries.push([p, new Uint8Array(0)]);
    }
    if (members.length + entries.length === 0) return absent;
    return { value: isSet ? { type: 'set', members } : { type: 'hash', entries }, listKeys: NO_KEYS };
  }
  if (c instanceof PNCounter) {
    const v = readableValue(state);
    return { value: v === null ? null : { type: 'string', value: v }, listKeys: NO_KEYS };
  }
  if (c instanceof ORSet) {
    const set = setOf(state);
    if (set instanceof BaristaError) return set;
    const members = setMembers(set);
    return { value: members.length === 0 ? null : { type: 'set', members }, listKeys: NO_KEYS };
  }
  if (!(c instanceof ORMap)) return new BaristaError('wrong_type', 'the key holds a value of an unknown type');
  if (schemaEqual(c.valueSchema, MVRegister.schema)) {
    const hash = hashOf(state);
    if (hash instanceof BaristaError) return hash;
    const entries = hashEntries(hash);
    return { value: entries.length === 0 ? null : { type: 'hash', entries }, listKeys: NO_KEYS };
  }
  if (schemaEqual(c.valueSchema, ZSET_SCHEMA)) {
    const zset = mapOf(state, ZSET_SCHEMA);
    if (zset instanceof BaristaError) return zset;
    const entries = zsetEntries(zset);
    return { value: entries.length === 0 ? null : { type: 'zset', entries }, listKeys: NO_KEYS };
  }
  const list = mapOf(state, LIST_SCHEMA);
  if (list instanceof BaristaError) return list;
  const elements = listElements(list);
  if (elements.length === 0) return { value: null, listKeys: NO_KEYS };
  return { value: { type: 'list', values: elements.map(([, v]) => v) }, listKeys: elements.map(([k]) => k) };
}

/** An element none of `named` is: the partial value's placeholder (materialize). */
function placeholder(named: readonly Uint8Array[]): Uint8Array {
  const taken = new Set(named.map(latin1));
  for (let i = 0; ; i++) {
    const p = Buffer.from(`\u0000barista-placeholder-${i}`, 'latin1');
    if (!taken.has(latin1(p))) return new Uint8Array(p);
  }
}

/** Set, hash and list commands: in the rows layout their keys are read with a rows request (rowsRead). */
export const rowsCommandNames: ReadonlySet<string> = new Set(
  [...setCommands, ...hashCommands, ...listCommands, ...zsetCommands].map((s) => s.name),
);

const ZADD_OPTIONS = new Set(['nx', 'xx', 'gt', 'lt', 'ch', 'incr']);

/** ZADD's members (after its options, every second argument), or undefined when its arguments do not pair up. */
function zaddMembers(argv: readonly Uint8Array[]): Uint8Array[] | undefined {
  let i = 2;
  while (i < argv.length && ZADD_OPTIONS.has(latin1(argv[i]!).toLowerCase())) i++;
  const pairs = argv.length - i;
  if (pairs < 2 || pairs % 2 !== 0) return undefined;
  return argv.slice(i).filter((_, j) => j % 2 === 1);
}

/** The most rows a read of a list's head asks for (LPOP's count, LRANGE's stop + 1): past it, every row. */
const FRONT_ROWS_MAX = limits.storeCollectionChangesCountMax / 2;

/**
 * A list index or count as Redis' own code takes it, when it is a plain decimal integer from 0 to
 * FRONT_ROWS_MAX ("1e2", " 5", "-1" and the like are not: those read every row, and Redis' code
 * answers them as it does).
 */
function frontIndex(b: Uint8Array): number | undefined {
  const text = latin1(b);
  if (!/^(0|[1-9][0-9]{0,8})$/.test(text)) return undefined;
  const n = Number(text);
  return n <= FRONT_ROWS_MAX ? n : undefined;
}

/**
 * A negative list index as Redis' own code takes it, as the count of rows from the end it reaches:
 * "-1" is 1, up to FRONT_ROWS_MAX ("-0", "- 1", "-1e2" are not: those read every row).
 */
function backIndex(b: Uint8Array): number | undefined {
  const text = latin1(b);
  if (!/^-[1-9][0-9]{0,8}$/.test(text)) return undefined;
  const n = -Number(text);
  return n <= FRONT_ROWS_MAX ? n : undefined;
}

const RANK_RANGE_OPTIONS: Readonly<Record<string, ReadonlySet<string>>> = {
  zrange: new Set(['rev', 'withscores']),
  zrevrange: new Set(['withscores']),
};

/**
 * ZRANGE key start stop [REV] [WITHSCORES] and ZREVRANGE key start stop [WITHSCORES] with start and
 * stop plain integers from 0: the entries their reply can come from, a sorted set's first stop + 1
 * (REV, ZREVRANGE: its last stop + 1) in Redis' order, so Redis' code runs on those instead of a
 * whole sorted set loaded into its keyspace (~25 us an element). Undefined for any other form
 * (BYSCORE, BYLEX, LIMIT, a negative index, a malformed one: Redis' code on every entry answers).
 */
export function zsetRankWindow(
  argv: readonly Uint8Array[],
):
  | ((entries: ReadonlyArray<readonly [Uint8Array, number]>) => ReadonlyArray<readonly [Uint8Array, number]>)
  | undefined {
  const name = latin1(argv[0]!).toLowerCase();
  const allowed = RANK_RANGE_OPTIONS[name];
  if (allowed === undefined || argv.length < 4) return undefined;
  const options = argv.slice(4).map((a) => latin1(a).toLowerCase());
  if (!options.every((o) => allowed.has(o))) return undefined;
  const start = frontIndex(argv[2]!);
  const stop = frontIndex(argv[3]!);
  if (start === undefined || stop === undefined) return undefined;
  const fromTop = name === 'zrevrange' || options.includes('rev');
  // entries are in Redis' order (score, then member: zsetEntries); the last k ascending are the
  // first k of the reverse order.
  return (entries) => (fromTop ? entries.slice(Math.max(0, entries.length - (stop + 1))) : entries.slice(0, stop + 1));
}

/**
 * The reply of a read-only command on a value read whole, as Redis' code gives it, without loading
 * every element into a scratch keyspace for that code (~6-20 µs an element there: ZRANK on 10,000
 * members took 200 ms): ZRANK and ZREVRANK (the member's place in zsetEntries' order, which is
 * Redis'), SMEMBERS (the members in byte order, as setMembers gives them and this node's own
 * SMEMBERS walks them), LINDEX at a non-negative index. Undefined for any other command or form, and for a value
 * of another type (Redis' code answers those, WRONGTYPE included). Checked against Redis' code by a
 * property test.
 */
export function answerWhole(argv: readonly Uint8Array[], value: Materialized | null): RespValue | undefined {
  const name = latin1(argv[0]!).toLowerCase();
  if ((name === 'zrank' || name === 'zrevrank') && argv.length === 3) {
    if (value === null) return reply.null;
    if (value.type !== 'zset') return undefined;
    const member = argv[2]!;
    const at = value.entries.findIndex(([m]) => same(m, member));
    if (at < 0) return reply.null;
    return reply.integer(name === 'zrank' ? at : value.entries.length - 1 - at);
  }
  if (name === 'smembers' && argv.length === 2) {
    // In byte order, as this node's own SMEMBERS walks them (a RESP3 set, an array in RESP2).
    if (value !== null && value.type !== 'set') return undefined;
    return { type: 'set', items: (value?.members ?? []).map((m) => reply.bulk(m)) };
  }
  if (name === 'lindex' && argv.length === 3) {
    const text = latin1(argv[2]!);
    if (!/^(0|[1-9][0-9]{0,14})$/.test(text)) return undefined;
    const index = Number(text);
    if (value === null) return reply.null;
    if (value.type !== 'list') return undefined;
    return index < value.values.length ? reply.bulk(value.values[index]!) : reply.null;
  }
  return undefined;
}

/**
 * What a rows request reads of a key: the elements named, a list's first rows, its last rows, its
 * tail or head without rows, or (absent) every row.
 */
export type RowsRead =
  | readonly Uint8Array[]
  | { readonly front: number }
  | { readonly last: number }
  | { readonly back: true }
  | { readonly fore: true };

/**
 * What a set or hash command reads of each key in the rows layout: the elements it names (its
 * reply and change depend on those only), or null (every row: SMEMBERS, SCARD, HGETALL, SPOP,
 * SINTER, ... the O(n) commands, as Redis' own costs are). Keys by latin1.
 */
export function rowsRead(argv: readonly Uint8Array[]): Map<string, RowsRead> {
  const name = latin1(argv[0]!).toLowerCase();
  const key = latin1(argv[1]!);
  const one = (read: RowsRead) => new Map([[key, read]]);
  switch (name) {
    case 'lpush':
    case 'lpushx':
      // The new elements go before the first: a position below the replicas' low-water elements
      // is all the change needs (no row is read; until 2026-12-06 the first row was, with pages
      // of each peer's head joined). The reply (the length) is the length the read found plus
      // the elements pushed (replicated.ts).
      if (argv.length >= 3) return one({ fore: true });
      break;
    case 'rpush':
    case 'rpushx':
      // The new elements go after the last: a position past the replicas' high-water elements is
      // all the change needs (no row is read). The reply: as LPUSH's.
      if (argv.length >= 3) return one({ back: true });
      break;
    case 'lpop':
    case 'rpop': {
      // The first count rows, or (RPOP) the last.
      const count = argv.length === 2 ? 1 : argv.length === 3 ? frontIndex(argv[2]!) : undefined;
      if (count !== undefined && count >= 1) return one(name === 'lpop' ? { front: count } : { last: count });
      break;
    }
    case 'lrange': {
      // From the head (start and stop not negative): the first stop + 1 rows hold the answer; from
      // the tail (both negative): the last -start rows.
      const start = argv.length === 4 ? frontIndex(argv[2]!) : undefined;
      const stop = argv.length === 4 ? frontIndex(argv[3]!) : undefined;
      if (start !== undefined && stop !== undefined && stop < FRONT_ROWS_MAX) return one({ front: stop + 1 });
      const fromEnd = argv.length === 4 ? backIndex(argv[2]!) : undefined;
      if (fromEnd !== undefined && backIndex(argv[3]!) !== undefined) return one({ last: fromEnd });
      break;
    }
    case 'lset': {
      // The element set and the one beyond it (its neighbour keeps the new row's position between
      // the two): the first index + 2 rows, or the last -index + 1.
      const index = argv.length === 4 ? frontIndex(argv[2]!) : undefined;
      if (index !== undefined && index + 2 <= FRONT_ROWS_MAX) return one({ front: index + 2 });
      const fromEnd = argv.length === 4 ? backIndex(argv[2]!) : undefined;
      if (fromEnd !== undefined && fromEnd + 1 <= FRONT_ROWS_MAX) return one({ last: fromEnd + 1 });
      break;
    }
    case 'lindex': {
      const index = argv.length === 3 ? frontIndex(argv[2]!) : undefined;
      if (index !== undefined && index < FRONT_ROWS_MAX) return one({ front: index + 1 });
      const fromEnd = argv.length === 3 ? backIndex(argv[2]!) : undefined;
      if (fromEnd !== undefined) return one({ last: fromEnd });
      break;
    }
    case 'sadd':
    case 'srem':
    case 'smismember':
    case 'hdel':
    case 'hmget':
    case 'zrem':
    case 'zmscore':
      if (argv.length >= 3) return one(argv.slice(2));
      break;
    case 'zadd': {
      const named = zaddMembers(argv);
      if (named !== undefined) return one(named);
      break;
    }
    case 'zscore':
      if (argv.length === 3) return one([argv[2]!]);
      break;
    case 'zincrby':
      if (argv.length === 4) return one([argv[3]!]);
      break;
    case 'sismember':
    case 'hget':
    case 'hexists':
    case 'hstrlen':
    case 'hsetnx':
    case 'hincrby':
    case 'hincrbyfloat':
      if (argv.length >= 3) return one([argv[2]!]);
      break;
    case 'hset':
    case 'hmset':
      if (argv.length >= 4 && argv.length % 2 === 0) return one(argv.slice(2).filter((_, i) => i % 2 === 0));
      break;
    case 'rpoplpush':
      // A reliable queue's move: src's last row, and dst's head (the new element goes before it).
      if (argv.length === 3) return moveReads(argv[1]!, 'right', argv[2]!, 'left');
      break;
    case 'lmove': {
      const from = argv.length === 5 ? side(argv[3]!) : undefined;
      const to = argv.length === 5 ? side(argv[4]!) : undefined;
      if (from !== undefined && to !== undefined) return moveReads(argv[1]!, from, argv[2]!, to);
      break;
    }
    case 'smove':
      if (argv.length === 4)
        return new Map([
          [key, [argv[3]!]],
          [latin1(argv[2]!), [argv[3]!]],
        ]);
      break;
  }
  return new Map();
}

/** LMOVE's LEFT or RIGHT (any case), or undefined (Redis' code answers the syntax error). */
function side(b: Uint8Array): 'left' | 'right' | undefined {
  const text = latin1(b).toLowerCase();
  return text === 'left' || text === 'right' ? text : undefined;
}

/**
 * What LMOVE and RPOPLPUSH read: src's first or last row (the element moved), and dst's head (no
 * row: a push before its low-water element, as LPUSH) or its tail (no row: a push past its
 * high-water element, as RPUSH). The same key at both ends (a rotation) needs both ends of one list: every row.
 */
function moveReads(
  src: Uint8Array,
  from: 'left' | 'right',
  dst: Uint8Array,
  to: 'left' | 'right',
): Map<string, RowsRead> {
  if (same(src, dst)) return new Map();
  return new Map<string, RowsRead>([
    [latin1(src), from === 'left' ? { front: 1 } : { last: 1 }],
    [latin1(dst), to === 'left' ? { fore: true } : { back: true }],
  ]);
}

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0;
const latin1 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');

/**
 * The operations turning `before` into `after` (empty: nothing changed); a BaristaError when the
 * change is over a bound or of a kind this path does not make (a type change).
 */
export function diffOps(before: ReadValue, after: Materialized | null, rng: Rng): TypedOp[] | BaristaError {
  const b = before.value;
  if (after === b) return []; // the value read, as it was (a read-only command: runOnValues)
  const type = after?.type ?? b?.type;
  if (type === undefined) return [];
  // A string the command left as it was (a collection command on it answered WRONGTYPE).
  if (b?.type === 'string' && after?.type === 'string' && same(b.value, after.value)) return [];
  if ((b !== null && b.type !== type) || type === 'string')
    return new BaristaError('bad_request', 'the command changed the type of the key, which N > 1 does not do');
  let ops: TypedOp[] | BaristaError;
  switch (type) {
    case 'list':
      ops = listOps(
        b?.type === 'list' ? b.values : [],
        before.listKeys,
        after?.type === 'list' ? after.values : [],
        rng,
        before.head === true ? 'head' : before.tail === true ? 'tail' : 'whole',
        b === null ? before.anchor : undefined,
      );
      break;
    case 'zset':
      ops = zsetOps(b?.type === 'zset' ? b.entries : [], after?.type === 'zset' ? after.entries : []);
      break;
    case 'set':
      ops = setOps(b?.type === 'set' ? b.members : [], after?.type === 'set' ? after.members : []);
      break;
    case 'hash':
      ops = hashOps(b?.type === 'hash' ? b.entries : [], after?.type === 'hash' ? after.entries : []);
      break;
  }
  if (ops instanceof BaristaError) return ops;
  for (const op of ops) {
    if (!('members' in op)) continue;
    const max =
      op.type === 'list' || op.type === 'zset' ? limits.storeCollectionChangesCountMax : limits.storeSetMembersCountMax;
    if (op.members.length > max)
      return new BaristaError(
        'limit_exceeded',
        `the command changes ${op.members.length} elements at once, max ${max} at N > 1 (nothing was written)`,
      );
  }
  return ops;
}

const REMOVE = Uint8Array.of(0);

function listOps(
  b: readonly Uint8Array[],
  keys: readonly Uint8Array[],
  a: readonly Uint8Array[],
  rng: Rng,
  read: 'head' | 'tail' | 'whole',
  anchor?: ReadValue['anchor'],
): TypedOp[] | BaristaError {
  const n = b.length;
  // Where an empty list's new elements may go: beyond its anchor (a list's rows lie within it).
  const lowest = anchor !== undefined && !anchor.head ? anchor.key : null;
  const highest = anchor?.head === true ? anchor.key : null;
  const m = a.length;
  let p = 0;
  let s = 0;
  if (read === 'head') {
    // The common suffix first: a head's last element read is not the list's last, so a change
    // goes before an element that stays. Then the common prefix of what is left (LSET's).
    while (s < n && s < m && same(b[n - 1 - s]!, a[m - 1 - s]!)) s++;
    while (p < n - s && p < m - s && same(b[p]!, a[p]!)) p++;
  } else if (read === 'tail') {
    // The common prefix first: a tail's first element read is not the list's first. Then the
    // common suffix of what is left.
    while (p < n && p < m && same(b[p]!, a[p]!)) p++;
    while (s < n - p && s < m - p && same(b[n - 1 - s]!, a[m - 1 - s]!)) s++;
  } else {
    while (p < n && p < m && same(b[p]!, a[p]!)) p++;
    while (s < n - p && s < m - p && same(b[n - 1 - s]!, a[m - 1 - s]!)) s++;
  }
  const members: Uint8Array[] = [];
  const remove = (i: number) => members.push(keys[i]!, REMOVE);
  /** Inserts a[from..to) between old elements lo and hi (-1 / n: the ends). */
  const insert = (lo: number, hi: number, from: number, to: number): BaristaError | undefined => {
    if (to <= from) return undefined;
    const newKeys = elementKeysBetween(lo < 0 ? lowest : keys[lo]!, hi >= n ? highest : keys[hi]!, to - from, rng);
    if (newKeys === undefined) return new BaristaError('limit_exceeded', 'no list position is left there');
    for (let i = from; i < to; i++) {
      const v = a[i]!;
      const change = new Uint8Array(v.length + 1);
      change[0] = 1;
      change.set(v, 1);
      members.push(newKeys[i - from]!, change);
    }
    return undefined;
  };
  const bEnd = n - s;
  const aEnd = m - s;
  // The new middle a subsequence of the old: removes only.
  const matchedB = subsequence(a, p, aEnd, b, p, bEnd);
  if (matchedB !== undefined) {
    for (let i = p; i < bEnd; i++) if (!matchedB.has(i)) remove(i);
    return members.length === 0 ? [] : [{ type: 'list', members }];
  }
  // The old middle a subsequence of the new: inserts only, each run between its old neighbours.
  const matchedA = subsequence(b, p, bEnd, a, p, aEnd);
  if (matchedA !== undefined) {
    let lo = p - 1; // the old element before the next run
    let runFrom = p;
    let nextB = p;
    for (let i = p; i < aEnd; i++) {
      if (!matchedA.has(i)) continue;
      const e = insert(lo, nextB, runFrom, i);
      if (e !== undefined) return e;
      lo = nextB;
      nextB++;
      runFrom = i + 1;
    }
    const e = insert(lo, bEnd, runFrom, aEnd);
    if (e !== undefined) return e;
    return [{ type: 'list', members }];
  }
  for (let i = p; i < bEnd; i++) remove(i);
  const e = insert(p - 1, bEnd, p, aEnd);
  if (e !== undefined) return e;
  return [{ type: 'list', members }];
}

/**
 * Whether small[sFrom..sTo) is a subsequence of big[bFrom..bTo) (greedy, first matches): the
 * indexes of big it matched, or undefined.
 */
function subsequence(
  small: readonly Uint8Array[],
  sFrom: number,
  sTo: number,
  big: readonly Uint8Array[],
  bFrom: number,
  bTo: number,
): Set<number> | undefined {
  if (sTo - sFrom > bTo - bFrom) return undefined;
  const matched = new Set<number>();
  let j = sFrom;
  for (let i = bFrom; i < bTo && j < sTo; i++) {
    if (same(big[i]!, small[j]!)) {
      matched.add(i);
      j++;
    }
  }
  return j === sTo ? matched : undefined;
}

function zsetOps(
  b: ReadonlyArray<readonly [Uint8Array, number]>,
  a: ReadonlyArray<readonly [Uint8Array, number]>,
): TypedOp[] {
  const old = new Map(b.map(([m, score]) => [latin1(m), score]));
  const members: Uint8Array[] = [];
  const kept = new Set<string>();
  for (const [m, score] of a) {
    const k = latin1(m);
    kept.add(k);
    if (old.get(k) !== score) members.push(m, encodeScore(score));
  }
  for (const [m] of b) if (!kept.has(latin1(m))) members.push(m, new Uint8Array(0));
  return members.length === 0 ? [] : [{ type: 'zset', members }];
}

function setOps(b: readonly Uint8Array[], a: readonly Uint8Array[]): TypedOp[] {
  const old = new Set(b.map(latin1));
  const now = new Set(a.map(latin1));
  const added = a.filter((m) => !old.has(latin1(m)));
  const removed = b.filter((m) => !now.has(latin1(m)));
  const ops: TypedOp[] = [];
  if (removed.length > 0) ops.push({ type: 'srem', members: removed });
  if (added.length > 0) ops.push({ type: 'sadd', members: added });
  return ops;
}

function hashOps(
  b: ReadonlyArray<readonly [Uint8Array, Uint8Array]>,
  a: ReadonlyArray<readonly [Uint8Array, Uint8Array]>,
): TypedOp[] {
  const old = new Map(b.map(([f, v]) => [latin1(f), v]));
  const now = new Set(a.map(([f]) => latin1(f)));
  const written: Uint8Array[] = [];
  for (const [f, v] of a) {
    const was = old.get(latin1(f));
    if (was === undefined || !same(was, v)) written.push(f, v);
  }
  const removed = b.filter(([f]) => !now.has(latin1(f))).map(([f]) => f);
  const ops: TypedOp[] = [];
  if (removed.length > 0) ops.push({ type: 'hdel', members: removed });
  if (written.length > 0) ops.push({ type: 'hset', members: written });
  return ops;
}
