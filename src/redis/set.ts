// Redis sets (t_set.c, 7.0.15 behaviour): one element entry per member (sub = the member, value
// empty; keys.ts), the member count in the head. SADD / SREM / SMOVE write one entry per member
// and the head; SMEMBERS and the set algebra scan the sets' ranges, which come sorted by member
// bytes, so SINTER / SUNION / SDIFF are merges of sorted streams: O(total size), never a hash
// table of a whole set. Replies are RESP3 sets in member byte order (Redis' order is its hash
// table's; clients must not rely on it).

import { limits } from '../lib/limits.ts';
import { reply, type RespValue } from '../wire/resp/index.ts';
import type { CommandContext, CommandSpec } from './command.ts';
import { collErrors, compareBytes, isOption, longMax, positiveLongArg, rangeLongArg } from './coll-parse.ts';
import { emptyScanReply, scanCursorArg, scanOptionsArg, scanPage } from './coll-scan.ts';
import {
  createColl,
  decodeCount,
  deleteColl,
  deleteElem,
  elems,
  encodeCount,
  getElem,
  isReply,
  openColl,
  pickAt,
  putElem,
  putHead,
  randomPositions,
  tagged,
  untagged,
} from './elements.ts';

const empty = new Uint8Array(0);

function* members(ctx: CommandContext, key: Uint8Array): Generator<Uint8Array> {
  for (const e of elems(ctx, key, empty, null)) yield untagged(e.sub);
}

const setReply = (items: readonly Uint8Array[]): RespValue => ({ type: 'set', items: items.map((m) => reply.bulk(m)) });

function addMembers(ctx: CommandContext, key: Uint8Array, head: Uint8Array | null, add: readonly Uint8Array[]): number {
  let added = 0;
  if (head === null && add.length > 0) createColl(ctx, key, 'set', encodeCount(0));
  for (const m of add) {
    if (head !== null || added > 0) {
      if (getElem(ctx, key, tagged(m)) !== undefined) continue;
    }
    putElem(ctx, key, tagged(m), empty);
    added++;
  }
  if (added > 0) putHead(ctx, key, 'set', encodeCount((head === null ? 0 : decodeCount(head)) + added));
  return added;
}

/** Removes members known present; deletes the key when it empties. */
function removeMembers(ctx: CommandContext, key: Uint8Array, head: Uint8Array, gone: readonly Uint8Array[]): void {
  for (const m of gone) deleteElem(ctx, key, tagged(m));
  const left = decodeCount(head) - gone.length;
  if (left <= 0) deleteColl(ctx, key);
  else if (gone.length > 0) putHead(ctx, key, 'set', encodeCount(left));
}

function sadd(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const head = openColl(ctx, argv[1]!, 'set');
  if (isReply(head)) return head;
  return reply.integer(addMembers(ctx, argv[1]!, head, argv.slice(2)));
}

function srem(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const key = argv[1]!;
  const head = openColl(ctx, key, 'set');
  if (isReply(head)) return head;
  if (head === null) return reply.integer(0);
  const gone: Uint8Array[] = [];
  for (const m of argv.slice(2)) {
    if (getElem(ctx, key, tagged(m)) === undefined || gone.some((g) => compareBytes(g, m) === 0)) continue;
    gone.push(m);
  }
  removeMembers(ctx, key, head, gone);
  return reply.integer(gone.length);
}

function sismember(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const head = openColl(ctx, argv[1]!, 'set');
  if (isReply(head)) return head;
  return reply.integer(head !== null && getElem(ctx, argv[1]!, tagged(argv[2]!)) !== undefined ? 1 : 0);
}

function smismember(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const head = openColl(ctx, argv[1]!, 'set');
  if (isReply(head)) return head;
  return reply.array(
    argv.slice(2).map((m) => reply.integer(head !== null && getElem(ctx, argv[1]!, tagged(m)) !== undefined ? 1 : 0)),
  );
}

function scard(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const head = openColl(ctx, argv[1]!, 'set');
  if (isReply(head)) return head;
  return reply.integer(head === null ? 0 : decodeCount(head));
}

function smembers(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const head = openColl(ctx, argv[1]!, 'set');
  if (isReply(head)) return head;
  return setReply(head === null ? [] : [...members(ctx, argv[1]!)]);
}

function spop(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const key = argv[1]!;
  if (argv.length > 3) return collErrors.syntax;
  if (argv.length === 2) {
    const head = openColl(ctx, key, 'set');
    if (isReply(head)) return head;
    if (head === null) return reply.null;
    const [m] = pickAt(members(ctx, key), randomPositions(ctx.rng, decodeCount(head), 1, true));
    removeMembers(ctx, key, head, [m!]);
    return reply.bulk(m!);
  }
  const count = positiveLongArg(argv[2]!);
  if (isReply(count)) return count;
  const head = openColl(ctx, key, 'set');
  if (isReply(head)) return head;
  if (head === null || count === 0) return setReply([]);
  const size = decodeCount(head);
  const popped =
    count >= size ? [...members(ctx, key)] : pickAt(members(ctx, key), randomPositions(ctx.rng, size, count, true));
  removeMembers(ctx, key, head, popped);
  return setReply(popped);
}

function srandmember(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const key = argv[1]!;
  if (argv.length > 3) return collErrors.syntax;
  if (argv.length === 2) {
    const head = openColl(ctx, key, 'set');
    if (isReply(head)) return head;
    if (head === null) return reply.null;
    const [m] = pickAt(members(ctx, key), randomPositions(ctx.rng, decodeCount(head), 1, true));
    return reply.bulk(m!);
  }
  const l = rangeLongArg(argv[2]!, -longMax, longMax);
  if (isReply(l)) return l;
  const head = openColl(ctx, key, 'set');
  if (isReply(head)) return head;
  if (head === null || l === 0) return reply.array([]);
  const size = decodeCount(head);
  const count = Math.abs(l);
  if (l < 0 && count > limits.redisRandomCountMax)
    return reply.error(`ERR count is above this store's bound (redisRandomCountMax ${limits.redisRandomCountMax})`);
  const distinct = l > 0;
  const chosen = pickAt(
    members(ctx, key),
    randomPositions(ctx.rng, size, distinct ? Math.min(count, size) : count, distinct),
  );
  return reply.array(chosen.map((m) => reply.bulk(m)));
}

function smove(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const [, src, dst, m] = argv as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  const srcHead = openColl(ctx, src, 'set');
  const dstHead = openColl(ctx, dst, 'set');
  if (srcHead === null) return reply.integer(0);
  if (isReply(srcHead)) return srcHead;
  if (isReply(dstHead)) return dstHead;
  const present = getElem(ctx, src, tagged(m)) !== undefined;
  if (compareBytes(src, dst) === 0 || !present) return reply.integer(present ? 1 : 0);
  removeMembers(ctx, src, srcHead, [m]);
  addMembers(ctx, dst, dstHead, [m]);
  return reply.integer(1);
}

type Algebra = 'inter' | 'union' | 'diff';

/** Each key's members as a sorted list (null: missing), or WRONGTYPE from the first wrong key. */
function readSets(ctx: CommandContext, keys: readonly Uint8Array[]): Array<Uint8Array[] | null> | RespValue {
  const heads: Array<Uint8Array | null> = [];
  for (const k of keys) {
    const h = openColl(ctx, k, 'set');
    if (isReply(h)) return h;
    heads.push(h);
  }
  return heads.map((h, i) => (h === null ? null : [...members(ctx, keys[i]!)]));
}

/** The algebra over sorted member lists: a merge, so O(total members); `limit` > 0 stops SINTERCARD early. */
function combine(op: Algebra, sets: Array<Uint8Array[] | null>, limit = 0): Uint8Array[] {
  const lists = sets.map((s) => s ?? []);
  if (op === 'inter' && sets.some((s) => s === null)) return [];
  const out: Uint8Array[] = [];
  if (op === 'union') {
    const all = lists.flat().sort(compareBytes);
    for (const m of all) if (out.length === 0 || compareBytes(out[out.length - 1]!, m) !== 0) out.push(m);
    return out;
  }
  const [first, ...rest] = lists;
  const idx = rest.map(() => 0);
  for (const m of first ?? []) {
    let inAll = true;
    let inAny = false;
    rest.forEach((list, r) => {
      while (idx[r]! < list.length && compareBytes(list[idx[r]!]!, m) < 0) idx[r]!++;
      const hit = idx[r]! < list.length && compareBytes(list[idx[r]!]!, m) === 0;
      inAll &&= hit;
      inAny ||= hit;
    });
    if (op === 'inter' ? inAll : !inAny) out.push(m);
    if (limit > 0 && out.length >= limit) break;
  }
  return out;
}

function algebra(op: Algebra, store: boolean) {
  return (ctx: CommandContext, argv: readonly Uint8Array[]): RespValue => {
    const keys = argv.slice(store ? 2 : 1);
    const sets = readSets(ctx, keys);
    if (isReply(sets)) return sets;
    const result = combine(op, sets);
    if (!store) return setReply(result);
    const dst = argv[1]!;
    // The destination is replaced whatever it held (Redis' setKey): delete, then write the result.
    deleteColl(ctx, dst);
    if (result.length > 0) addMembers(ctx, dst, null, result);
    return reply.integer(result.length);
  };
}

function sintercard(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const numkeys = rangeLongArg(argv[1]!, 1n, longMax, 'ERR numkeys should be greater than 0');
  if (isReply(numkeys)) return numkeys;
  if (numkeys > argv.length - 2) return reply.error("ERR Number of keys can't be greater than number of args");
  let limit = 0;
  for (let i = 2 + numkeys; i < argv.length; i++) {
    if (isOption(argv[i]!, 'limit') && argv.length - 1 - i > 0) {
      i++;
      const l = rangeLongArg(argv[i]!, 0n, longMax, "ERR LIMIT can't be negative");
      if (isReply(l)) return l;
      limit = l;
    } else return collErrors.syntax;
  }
  const sets = readSets(ctx, argv.slice(2, 2 + numkeys));
  if (isReply(sets)) return sets;
  return reply.integer(combine('inter', sets, limit).length);
}

function sscan(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const cursor = scanCursorArg(argv[2]!);
  if (isReply(cursor)) return cursor;
  const head = openColl(ctx, argv[1]!, 'set');
  if (isReply(head)) return head;
  if (head === null) return emptyScanReply;
  const options = scanOptionsArg(argv, 3);
  if (isReply(options)) return options;
  return scanPage(
    members(ctx, argv[1]!),
    decodeCount(head),
    cursor,
    options,
    (m) => m,
    (m) => [reply.bulk(m)],
  );
}

type Run = CommandSpec['run'];
const spec = (
  name: string,
  arity: number,
  flags: readonly string[],
  run: Run,
  keys: readonly [number, number, number] = [1, 1, 1],
): CommandSpec => ({ name, arity, flags, firstKey: keys[0], lastKey: keys[1], step: keys[2], run });

export const setCommands: readonly CommandSpec[] = [
  spec('sadd', -3, ['write', 'denyoom', 'fast'], sadd),
  spec('srem', -3, ['write', 'fast'], srem),
  spec('sismember', 3, ['readonly', 'fast'], sismember),
  spec('smismember', -3, ['readonly', 'fast'], smismember),
  spec('scard', 2, ['readonly', 'fast'], scard),
  spec('smembers', 2, ['readonly'], smembers),
  spec('spop', -2, ['write', 'fast'], spop),
  spec('srandmember', -2, ['readonly'], srandmember),
  spec('smove', 4, ['write', 'fast'], smove, [1, 2, 1]),
  spec('sinter', -2, ['readonly'], algebra('inter', false), [1, -1, 1]),
  spec('sinterstore', -3, ['write', 'denyoom'], algebra('inter', true), [1, -1, 1]),
  spec('sunion', -2, ['readonly'], algebra('union', false), [1, -1, 1]),
  spec('sunionstore', -3, ['write', 'denyoom'], algebra('union', true), [1, -1, 1]),
  spec('sdiff', -2, ['readonly'], algebra('diff', false), [1, -1, 1]),
  spec('sdiffstore', -3, ['write', 'denyoom'], algebra('diff', true), [1, -1, 1]),
  spec('sintercard', -3, ['readonly', 'movablekeys'], sintercard, [0, 0, 0]),
  spec('sscan', -3, ['readonly'], sscan),
];
