// Redis lists (t_list.c, 7.0.15 behaviour) on dense positions (keys.ts): the head holds
// (leftPos, rightPos), the items sit at positions leftPos..rightPos (sub = u64be(pos + 2^63)), an
// empty list has leftPos = rightPos + 1 and is never stored (Redis deletes emptied lists).
// Costs, in entries written: LPUSH / RPUSH / LPOP / RPOP / LSET: one per item plus the head, at any
// length (redis-benchmark's 200,000 pushes onto one list are 200,000 small writes). LINDEX / LSET:
// one point read. LRANGE: one contiguous scan of the asked range. LTRIM: one delete per trimmed
// item. Middle edits keep positions dense, so they shift: LINSERT moves the shorter side (items
// before the pivot one left, or after it one right), min(i, n - i) writes; LREM closes its gaps
// from the cheaper end, at most the number of items on that side of the removed ones. Dense
// positions were kept over gapped ones (fractional keys) because LINDEX / LRANGE / LSET by index are
// point reads and contiguous scans only while positions are dense, and those are the common
// commands; LINSERT / LREM are O(n) in Redis too (a scan to find the pivot or the matches).
// Iterating from the tail reads windows of positions backwards (positions are dense), so the engine
// needs no reverse scan.

import { readU32BE, writeU32BE } from '../lib/bytes.ts';
import { reply, type RespValue } from '../wire/resp/index.ts';
import type { CommandContext, CommandSpec } from './command.ts';
import {
  clampRange,
  collErrors,
  compareBytes,
  isOption,
  longArg,
  longMax,
  mpopArgs,
  positiveLongArg,
  rangeLongArg,
} from './coll-parse.ts';
import {
  collSpec,
  createColl,
  deleteColl,
  deleteElem,
  elems,
  getElem,
  isReply,
  openColl,
  putElem,
  putHead,
} from './elements.ts';
import { wrongArityError } from './errors.ts';

interface ListHead {
  readonly left: number;
  readonly right: number;
}

const length = (h: ListHead): number => h.right - h.left + 1;
const TWO_32 = 2 ** 32;

/** Writes the 64-bit two's complement of the safe integer `v` at out[at..at+8), big-endian (no BigInt: every push and pop). */
function writeI64be(out: Uint8Array, at: number, v: number): void {
  const hi = Math.floor(v / TWO_32); // signed, |hi| < 2^21 for a safe integer
  const lo = v - hi * TWO_32; // 0 <= lo < 2^32
  writeU32BE(out, at, hi >>> 0);
  writeU32BE(out, at + 4, lo);
}

/** A position's sub-key: u64be(pos + 2^63), so positions sort numerically. */
export function positionSub(pos: number): Uint8Array {
  const out = new Uint8Array(8);
  writeI64be(out, 0, pos);
  out[0]! ^= 0x80; // + 2^63 flips the sign bit of the two's complement
  return out;
}

export function encodeListHead(h: ListHead): Uint8Array {
  const out = new Uint8Array(16);
  writeI64be(out, 0, h.left);
  writeI64be(out, 8, h.right);
  return out;
}

export function decodeListHead(bytes: Uint8Array): ListHead {
  if (bytes.byteLength !== 16) return { left: 0, right: -1 };
  const i64 = (at: number) => (readU32BE(bytes, at) | 0) * TWO_32 + readU32BE(bytes, at + 4);
  return { left: i64(0), right: i64(8) };
}

function openList(ctx: CommandContext, key: Uint8Array): ListHead | null | RespValue {
  const head = openColl(ctx, key, 'list');
  return head === null || isReply(head) ? head : decodeListHead(head);
}

function saveHead(ctx: CommandContext, key: Uint8Array, h: ListHead): void {
  if (length(h) <= 0) deleteColl(ctx, key);
  else putHead(ctx, key, 'list', encodeListHead(h));
}

/** Windows of at most this many items are read by position, point by point (LPOP, RPOP, LINDEX-like). */
const pointReadsMax = 4;

/** Items at indexes [from, to] (inclusive, clamped by the caller), head to tail. */
function* forward(ctx: CommandContext, key: Uint8Array, h: ListHead, from: number, to: number): Generator<Uint8Array> {
  if (from > to) return;
  if (to - from < pointReadsMax) {
    // Positions are dense (every one in [left, right] holds an item), so a short window is a few
    // point reads: no range scan over the memtable and every run (a pop was ~3x slower that way).
    for (let i = from; i <= to; i++) {
      const v = getElem(ctx, key, positionSub(h.left + i));
      if (v !== undefined) yield v;
    }
    return;
  }
  for (const e of elems(ctx, key, positionSub(h.left + from), positionSub(h.left + to + 1))) yield e.value;
}

const windowCountMax = 256;

/** Items at indexes [from, to], tail to head: windows of positions read backwards. */
function* backward(ctx: CommandContext, key: Uint8Array, h: ListHead, from: number, to: number): Generator<Uint8Array> {
  for (let hi = to; hi >= from; hi -= windowCountMax) {
    const lo = Math.max(from, hi - windowCountMax + 1);
    const window = [...forward(ctx, key, h, lo, hi)];
    for (let i = window.length - 1; i >= 0; i--) yield window[i]!;
  }
}

function push(left: boolean, onlyIfExists: boolean) {
  return (ctx: CommandContext, argv: readonly Uint8Array[]): RespValue => {
    const key = argv[1]!;
    const found = openList(ctx, key);
    if (isReply(found)) return found;
    if (found === null && onlyIfExists) return reply.integer(0);
    if (found === null) createColl(ctx, key, 'list', encodeListHead({ left: 0, right: -1 }));
    let { left: l, right: r } = found ?? { left: 0, right: -1 };
    for (const item of argv.slice(2)) {
      if (left) putElem(ctx, key, positionSub(--l), item);
      else putElem(ctx, key, positionSub(++r), item);
    }
    const h = { left: l, right: r };
    saveHead(ctx, key, h);
    return reply.integer(length(h));
  };
}

/** Pops `count` items from one end (count within the length); head to tail order of popping. */
function popItems(ctx: CommandContext, key: Uint8Array, h: ListHead, fromLeft: boolean, count: number): Uint8Array[] {
  const n = length(h);
  const items = fromLeft ? [...forward(ctx, key, h, 0, count - 1)] : [...backward(ctx, key, h, n - count, n - 1)];
  for (let i = 0; i < count; i++) deleteElem(ctx, key, positionSub(fromLeft ? h.left + i : h.right - i));
  saveHead(ctx, key, fromLeft ? { left: h.left + count, right: h.right } : { left: h.left, right: h.right - count });
  return items;
}

function pop(fromLeft: boolean) {
  return (ctx: CommandContext, argv: readonly Uint8Array[]): RespValue => {
    if (argv.length > 3) return wrongArityError(fromLeft ? 'lpop' : 'rpop');
    let count = 0;
    const hasCount = argv.length === 3;
    if (hasCount) {
      const c = positiveLongArg(argv[2]!);
      if (isReply(c)) return c;
      count = c;
    }
    const key = argv[1]!;
    const h = openList(ctx, key);
    if (isReply(h)) return h;
    if (h === null) return hasCount ? reply.nullArray : reply.null;
    if (hasCount && count === 0) return reply.array([]);
    if (!hasCount) return reply.bulk(popItems(ctx, key, h, fromLeft, 1)[0]!);
    const items = popItems(ctx, key, h, fromLeft, Math.min(count, length(h)));
    return reply.array(items.map((v) => reply.bulk(v)));
  };
}

/** LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]: [key, [elements]] from the first non-empty list. */
function lmpop(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const a = mpopArgs(argv, 1, ['left', 'right']);
  if (isReply(a)) return a;
  for (const key of a.keys) {
    const h = openList(ctx, key);
    if (isReply(h)) return h;
    if (h === null) continue;
    const items = popItems(ctx, key, h, a.first, Math.min(a.count, length(h)));
    return reply.array([reply.bulk(key), reply.array(items.map((v) => reply.bulk(v)))]);
  }
  return reply.nullArray;
}

function llen(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const h = openList(ctx, argv[1]!);
  if (isReply(h)) return h;
  return reply.integer(h === null ? 0 : length(h));
}

/** Redis' index: negative counts from the tail; undefined when outside the list. */
function resolveIndex(h: ListHead, index: number): number | undefined {
  const i = index < 0 ? length(h) + index : index;
  return i < 0 || i >= length(h) ? undefined : i;
}

function lindex(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const h = openList(ctx, argv[1]!);
  if (isReply(h)) return h;
  if (h === null) return reply.null;
  const index = longArg(argv[2]!);
  if (isReply(index)) return index;
  const i = resolveIndex(h, index);
  const v = i === undefined ? undefined : getElem(ctx, argv[1]!, positionSub(h.left + i));
  return v === undefined ? reply.null : reply.bulk(v);
}

function lset(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const h = openList(ctx, argv[1]!);
  if (isReply(h)) return h;
  if (h === null) return collErrors.noSuchKey;
  const index = longArg(argv[2]!);
  if (isReply(index)) return index;
  const i = resolveIndex(h, index);
  if (i === undefined) return collErrors.indexOutOfRange;
  putElem(ctx, argv[1]!, positionSub(h.left + i), argv[3]!);
  return reply.ok;
}

function lrange(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const start = longArg(argv[2]!);
  if (isReply(start)) return start;
  const stop = longArg(argv[3]!);
  if (isReply(stop)) return stop;
  const h = openList(ctx, argv[1]!);
  if (isReply(h)) return h;
  const r = h === null ? null : clampRange(start, stop, length(h));
  if (h === null || r === null) return reply.array([]);
  return reply.array([...forward(ctx, argv[1]!, h, r.start, r.stop)].map((v) => reply.bulk(v)));
}

function ltrim(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const start = longArg(argv[2]!);
  if (isReply(start)) return start;
  const stop = longArg(argv[3]!);
  if (isReply(stop)) return stop;
  const key = argv[1]!;
  const h = openList(ctx, key);
  if (isReply(h)) return h;
  if (h === null) return reply.ok;
  const r = clampRange(start, stop, length(h));
  const keep = r === null ? { left: h.right + 1, right: h.right } : { left: h.left + r.start, right: h.left + r.stop };
  if (length(keep) === 0) {
    deleteColl(ctx, key);
    return reply.ok;
  }
  for (let p = h.left; p < keep.left; p++) deleteElem(ctx, key, positionSub(p));
  for (let p = keep.right + 1; p <= h.right; p++) deleteElem(ctx, key, positionSub(p));
  saveHead(ctx, key, keep);
  return reply.ok;
}

/**
 * Rewrites the list so its items are `items` (the old items with some removed or one inserted),
 * anchored at whichever end changes fewer positions: the kept end's items do not move.
 */
function rewrite(
  ctx: CommandContext,
  key: Uint8Array,
  h: ListHead,
  old: readonly Uint8Array[],
  items: readonly Uint8Array[],
): void {
  const cost = (left: number): number => {
    let n = 0;
    items.forEach((v, i) => {
      const oldIndex = left + i - h.left;
      if (oldIndex < 0 || oldIndex >= old.length || old[oldIndex] !== v) n++;
    });
    return n;
  };
  const leftAnchored = h.left;
  const rightAnchored = h.right - items.length + 1;
  const newLeft = cost(leftAnchored) <= cost(rightAnchored) ? leftAnchored : rightAnchored;
  const newRight = newLeft + items.length - 1;
  items.forEach((v, i) => {
    const oldIndex = newLeft + i - h.left;
    if (oldIndex < 0 || oldIndex >= old.length || old[oldIndex] !== v) putElem(ctx, key, positionSub(newLeft + i), v);
  });
  for (let p = h.left; p <= h.right; p++) if (p < newLeft || p > newRight) deleteElem(ctx, key, positionSub(p));
  saveHead(ctx, key, { left: newLeft, right: newRight });
}

function lrem(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const toRemove = longArg(argv[2]!);
  if (isReply(toRemove)) return toRemove;
  const key = argv[1]!;
  const h = openList(ctx, key);
  if (isReply(h)) return h;
  if (h === null) return reply.integer(0);
  const old = [...forward(ctx, key, h, 0, length(h) - 1)];
  const limit = Math.abs(toRemove);
  const removed = new Set<number>();
  const n = old.length;
  for (let k = 0; k < n && (limit === 0 || removed.size < limit); k++) {
    const i = toRemove < 0 ? n - 1 - k : k;
    if (compareBytes(old[i]!, argv[3]!) === 0) removed.add(i);
  }
  if (removed.size > 0)
    rewrite(
      ctx,
      key,
      h,
      old,
      old.filter((_, i) => !removed.has(i)),
    );
  return reply.integer(removed.size);
}

function linsert(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const after = isOption(argv[2]!, 'after');
  if (!after && !isOption(argv[2]!, 'before')) return collErrors.syntax;
  const key = argv[1]!;
  const h = openList(ctx, key);
  if (isReply(h)) return h;
  if (h === null) return reply.integer(0);
  const old = [...forward(ctx, key, h, 0, length(h) - 1)];
  const pivot = old.findIndex((v) => compareBytes(v, argv[3]!) === 0);
  if (pivot < 0) return reply.integer(-1);
  const at = after ? pivot + 1 : pivot;
  rewrite(ctx, key, h, old, [...old.slice(0, at), argv[4]!, ...old.slice(at)]);
  return reply.integer(old.length + 1);
}

function lpos(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  let rank = 1;
  let count = -1;
  let maxlen = 0;
  for (let j = 3; j < argv.length; j++) {
    const more = argv.length - 1 - j > 0;
    if (isOption(argv[j]!, 'rank') && more) {
      const r = longArg(argv[++j]!);
      if (isReply(r)) return r;
      if (r === 0)
        return reply.error(
          "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
        );
      rank = r;
    } else if (isOption(argv[j]!, 'count') && more) {
      const c = rangeLongArg(argv[++j]!, 0n, longMax, "ERR COUNT can't be negative");
      if (isReply(c)) return c;
      count = c;
    } else if (isOption(argv[j]!, 'maxlen') && more) {
      const m = rangeLongArg(argv[++j]!, 0n, longMax, "ERR MAXLEN can't be negative");
      if (isReply(m)) return m;
      maxlen = m;
    } else return collErrors.syntax;
  }
  const fromTail = rank < 0;
  rank = Math.abs(rank);
  const key = argv[1]!;
  const h = openList(ctx, key);
  if (isReply(h)) return h;
  if (h === null) return count !== -1 ? reply.array([]) : reply.null;
  const n = length(h);
  const span = maxlen === 0 ? n : Math.min(n, maxlen);
  const items = fromTail ? backward(ctx, key, h, n - span, n - 1) : forward(ctx, key, h, 0, span - 1);
  const found: number[] = [];
  let matches = 0;
  let index = 0;
  for (const v of items) {
    if (compareBytes(v, argv[2]!) === 0) {
      matches++;
      if (matches >= rank) {
        found.push(fromTail ? n - index - 1 : index);
        if (count === -1 || (count !== 0 && matches - rank + 1 >= count)) break;
      }
    }
    index++;
  }
  if (count !== -1) return reply.array(found.map((i) => reply.integer(i)));
  return found.length > 0 ? reply.integer(found[0]!) : reply.null;
}

/** LMOVE / RPOPLPUSH: pop one end of src, push onto one end of dst (src may be dst: a rotation). */
function move(ctx: CommandContext, src: Uint8Array, dst: Uint8Array, fromLeft: boolean, toLeft: boolean): RespValue {
  const h = openList(ctx, src);
  if (isReply(h)) return h;
  if (h === null) return reply.null;
  const d = openList(ctx, dst);
  if (isReply(d)) return d;
  const [item] = popItems(ctx, src, h, fromLeft, 1);
  // Re-read the destination: when it is the source, the pop just changed its head.
  const now = openList(ctx, dst);
  const dh = now === null || isReply(now) ? { left: 0, right: -1 } : now;
  if (now === null) createColl(ctx, dst, 'list', encodeListHead(dh));
  const pos = toLeft ? dh.left - 1 : dh.right + 1;
  putElem(ctx, dst, positionSub(pos), item!);
  saveHead(ctx, dst, toLeft ? { left: pos, right: dh.right } : { left: dh.left, right: pos });
  return reply.bulk(item!);
}

function whereArg(bytes: Uint8Array): boolean | undefined {
  if (isOption(bytes, 'left')) return true;
  if (isOption(bytes, 'right')) return false;
  return undefined;
}

function lmove(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const from = whereArg(argv[3]!);
  const to = whereArg(argv[4]!);
  if (from === undefined || to === undefined) return collErrors.syntax;
  return move(ctx, argv[1]!, argv[2]!, from, to);
}

function rpoplpush(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  return move(ctx, argv[1]!, argv[2]!, false, true);
}

export const listCommands: readonly CommandSpec[] = [
  collSpec('lpush', -3, ['write', 'denyoom', 'fast'], push(true, false)),
  collSpec('rpush', -3, ['write', 'denyoom', 'fast'], push(false, false)),
  collSpec('lpushx', -3, ['write', 'denyoom', 'fast'], push(true, true)),
  collSpec('rpushx', -3, ['write', 'denyoom', 'fast'], push(false, true)),
  collSpec('lpop', -2, ['write', 'fast'], pop(true)),
  collSpec('rpop', -2, ['write', 'fast'], pop(false)),
  collSpec('llen', 2, ['readonly', 'fast'], llen),
  collSpec('lindex', 3, ['readonly'], lindex),
  collSpec('lrange', 4, ['readonly'], lrange),
  collSpec('lset', 4, ['write', 'denyoom'], lset),
  collSpec('ltrim', 4, ['write'], ltrim),
  collSpec('lrem', 4, ['write'], lrem),
  collSpec('linsert', 5, ['write', 'denyoom'], linsert),
  collSpec('lpos', -3, ['readonly'], lpos),
  collSpec('rpoplpush', 3, ['write', 'denyoom'], rpoplpush, [1, 2, 1]),
  collSpec('lmove', 5, ['write', 'denyoom'], lmove, [1, 2, 1]),
  collSpec('lmpop', -4, ['write', 'movablekeys'], lmpop, [0, 0, 0]),
];
