// Redis sorted sets (t_zset.c, 7.0.15 behaviour) as two element families (keys.ts):
//   sub = 0x01 member                  -> the score (f64 big-endian)   (ZSCORE, ZADD's lookup)
//   sub = 0x02 orderedF64(score) member -> empty                      (the score index)
// The index's byte order is Redis' skiplist order (score, then member bytes), so ZRANGEBYSCORE /
// ZCOUNT seek to the first score and scan forward. ZADD / ZREM / ZINCRBY write at most three
// entries (the member, the old index entry's delete, the new one) plus the head.
// Costs on an LSM without an order-statistics tree or a reverse scan: a rank (ZRANK, ZRANGE by
// index, ZREMRANGEBYRANK) is a scan of the index up to it, O(rank) entries read; anything counted
// from the top (ZREVRANK, ZREVRANGE, ZPOPMAX, REV score and lex ranges) scans up from the bottom,
// O(card) entries read, holding only what it returns (a ring of the last `count` for ZPOPMAX and
// REV LIMIT). Reads are paged by the keyspace, so memory stays bounded by the reply, but for
// ZUNION and its STORE form, which hold every input's members as Redis' accumulator does.

import { formatDouble, reply, type RespValue } from '../wire/resp/index.ts';
import type { CommandContext, CommandSpec } from './command.ts';
import {
  clampRange,
  collErrors,
  compareBytes,
  doubleArg,
  isOption,
  type LexRange,
  lexAboveMin,
  lexBelowMax,
  latin1,
  lexRangeArg,
  longArg,
  longMax,
  mpopArgs,
  positiveLongArg,
  randomCountArgs,
  rangeLongArg,
  type ScoreRange,
  scoreAboveMin,
  scoreBelowMax,
  scoreRangeArg,
} from './coll-parse.ts';
import { scanCommand } from './coll-scan.ts';
import { redisErrorReply } from './errors.ts';
import {
  collSpec,
  createColl,
  decodeCount,
  deleteColl,
  deleteElem,
  elems,
  encodeCount,
  getElem,
  isReply,
  openColl,
  pickOne,
  putElem,
  putHead,
  sample,
  tagged,
  untagged,
} from './elements.ts';
import { decodeOrderedF64, decodeScore, encodeScore, orderedF64, scoreBytes } from './score.ts';

const memberTag = 0x01;
const indexTag = 0x02;
const indexStart = Uint8Array.of(indexTag);
const indexEnd = Uint8Array.of(indexTag + 1);

function memberSub(member: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + member.length);
  out[0] = memberTag;
  out.set(member, 1);
  return out;
}

function indexSub(score: number, member: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + scoreBytes + member.length);
  out[0] = indexTag;
  out.set(orderedF64(score), 1);
  out.set(member, 1 + scoreBytes);
  return out;
}

interface Scored {
  readonly member: Uint8Array;
  readonly score: number;
}

/** Index entries from `start` (a sub-key at or after 0x02) in (score, member) order. */
function* ascending(ctx: CommandContext, key: Uint8Array, start: Uint8Array = indexStart): Generator<Scored> {
  for (const e of elems(ctx, key, start, indexEnd)) {
    yield { score: decodeOrderedF64(e.sub, 1), member: e.sub.subarray(1 + scoreBytes) };
  }
}

/** Entries of a score range, ascending: a seek to min, a scan until past max. */
function* inScoreRange(ctx: CommandContext, key: Uint8Array, range: ScoreRange): Generator<Scored> {
  const from = range.min.value === Number.NEGATIVE_INFINITY ? indexStart : indexSub(range.min.value, new Uint8Array(0));
  for (const s of ascending(ctx, key, from)) {
    if (!scoreAboveMin(s.score, range)) continue;
    if (!scoreBelowMax(s.score, range)) return;
    yield s;
  }
}

/** Entries of a lex range as Redis' listpack walk finds them: from the first >= min, while <= max. */
function* inLexRange(items: Iterable<Scored>, range: LexRange): Generator<Scored> {
  let started = false;
  for (const s of items) {
    if (!started) {
      if (!lexAboveMin(s.member, range)) continue;
      started = true;
    }
    if (!lexBelowMax(s.member, range)) return;
    yield s;
  }
}

/** The same walk from the top: from the last <= max, down while >= min (over items in descending order). */
function* inLexRangeDescending(items: Iterable<Scored>, range: LexRange): Generator<Scored> {
  let started = false;
  for (const s of items) {
    if (!started) {
      if (!lexBelowMax(s.member, range)) continue;
      started = true;
    }
    if (!lexAboveMin(s.member, range)) return;
    yield s;
  }
}

function descendingAll(ctx: CommandContext, key: Uint8Array): Scored[] {
  return [...ascending(ctx, key)].reverse();
}

/** The last `n` items of a stream, in stream order, holding at most n. */
function lastN<T>(items: Iterable<T>, n: number): T[] {
  if (n <= 0) return [];
  const ring: T[] = [];
  let at = 0;
  for (const item of items) {
    if (ring.length < n) ring.push(item);
    else {
      ring[at] = item;
      at = (at + 1) % n;
    }
  }
  return [...ring.slice(at), ...ring.slice(0, at)];
}

function scoreOf(ctx: CommandContext, key: Uint8Array, member: Uint8Array): number | undefined {
  const v = getElem(ctx, key, memberSub(member));
  return v === undefined ? undefined : decodeScore(v);
}

function writeScore(
  ctx: CommandContext,
  key: Uint8Array,
  member: Uint8Array,
  old: number | undefined,
  score: number,
): void {
  if (old !== undefined) deleteElem(ctx, key, indexSub(old, member));
  // -0 is stored as 0: Redis' listpack keeps a score as its d2string text, "-0", which listpack
  // stores as the integer 0, so a small zset answers ZSCORE 0 (checked live).
  putElem(ctx, key, memberSub(member), encodeScore(score === 0 ? 0 : score));
  putElem(ctx, key, indexSub(score, member), new Uint8Array(0));
}

/** Removes members (known present, with their scores); deletes the key when it empties. */
function removeScored(ctx: CommandContext, key: Uint8Array, head: Uint8Array, gone: readonly Scored[]): void {
  for (const s of gone) {
    deleteElem(ctx, key, memberSub(s.member));
    deleteElem(ctx, key, indexSub(s.score, s.member));
  }
  const left = decodeCount(head) - gone.length;
  if (left <= 0) deleteColl(ctx, key);
  else if (gone.length > 0) putHead(ctx, key, 'zset', encodeCount(left));
}

const scoreReply = (score: number): RespValue => ({ type: 'double', value: score });

/** Redis' d2string: the text a listpack keeps for a score (ZSCAN sends it as a bulk string). */
export function d2string(score: number): string {
  if (score === 0) return Object.is(score, -0) ? '-0' : '0';
  const half = 2 ** 62; // LLONG_MAX / 2, as double2ll bounds it
  if (Number.isFinite(score) && Number.isInteger(score) && score >= -half && score <= half)
    return BigInt(score).toString();
  return formatDouble(score);
}

function pairs(items: readonly Scored[], withScores: boolean): RespValue {
  if (!withScores) return reply.array(items.map((s) => reply.bulk(s.member)));
  return {
    type: 'array',
    flatInResp2: true,
    items: items.map((s) => reply.array([reply.bulk(s.member), scoreReply(s.score)])),
  };
}

// --- ZADD / ZINCRBY -------------------------------------------------------------------------------

function zaddGeneric(ctx: CommandContext, argv: readonly Uint8Array[], incrOnly: boolean): RespValue {
  let nx = false;
  let xx = false;
  let gt = false;
  let lt = false;
  let ch = false;
  let incr = incrOnly;
  let at = 2;
  for (; at < argv.length; at++) {
    const o = argv[at]!;
    if (isOption(o, 'nx')) nx = true;
    else if (isOption(o, 'xx')) xx = true;
    else if (isOption(o, 'ch')) ch = true;
    else if (isOption(o, 'incr')) incr = true;
    else if (isOption(o, 'gt')) gt = true;
    else if (isOption(o, 'lt')) lt = true;
    else break;
  }
  const rest = argv.length - at;
  if (rest % 2 !== 0 || rest === 0) return collErrors.syntax;
  if (nx && xx) return reply.error('ERR XX and NX options at the same time are not compatible');
  if ((gt && nx) || (lt && nx) || (gt && lt))
    return reply.error('ERR GT, LT, and/or NX options at the same time are not compatible');
  if (incr && rest > 2) return reply.error('ERR INCR option supports a single increment-element pair');
  const scores: number[] = [];
  for (let j = at; j < argv.length; j += 2) {
    const s = doubleArg(argv[j]!);
    if (isReply(s)) return s;
    scores.push(s);
  }
  const key = argv[1]!;
  const head = openColl(ctx, key, 'zset');
  if (isReply(head)) return head;
  let count = head === null ? 0 : decodeCount(head);
  let added = 0;
  let updated = 0;
  let processed = 0;
  let last = 0;
  if (head !== null || !xx) {
    if (head === null) createColl(ctx, key, 'zset', encodeCount(0));
    for (let j = 0; j < scores.length; j++) {
      const member = argv[at + 1 + 2 * j]!;
      let score = scores[j]!;
      const old = scoreOf(ctx, key, member);
      if (old !== undefined) {
        if (nx) continue;
        if (incr) {
          score += old;
          if (Number.isNaN(score)) return reply.error('ERR resulting score is not a number (NaN)');
        }
        if ((lt && score >= old) || (gt && score <= old)) continue;
        processed++;
        last = score;
        if (score !== old) {
          writeScore(ctx, key, member, old, score);
          updated++;
        }
      } else {
        if (xx) continue;
        writeScore(ctx, key, member, undefined, score);
        added++;
        count++;
        processed++;
        last = score;
      }
    }
  }
  if (added > 0 || (head === null && processed > 0)) putHead(ctx, key, 'zset', encodeCount(count));
  if (incr) return processed > 0 ? scoreReply(last) : reply.null;
  return reply.integer(ch ? added + updated : added);
}

const zadd = (ctx: CommandContext, argv: readonly Uint8Array[]): RespValue => zaddGeneric(ctx, argv, false);
const zincrby = (ctx: CommandContext, argv: readonly Uint8Array[]): RespValue => zaddGeneric(ctx, argv, true);

// --- point reads and removal -------------------------------------------------------------------------

function zrem(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const key = argv[1]!;
  const head = openColl(ctx, key, 'zset');
  if (isReply(head)) return head;
  if (head === null) return reply.integer(0);
  const gone: Scored[] = [];
  for (const m of argv.slice(2)) {
    if (gone.some((g) => compareBytes(g.member, m) === 0)) continue;
    const score = scoreOf(ctx, key, m);
    if (score !== undefined) gone.push({ member: m, score });
  }
  removeScored(ctx, key, head, gone);
  return reply.integer(gone.length);
}

function zscore(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const head = openColl(ctx, argv[1]!, 'zset');
  if (isReply(head)) return head;
  const s = head === null ? undefined : scoreOf(ctx, argv[1]!, argv[2]!);
  return s === undefined ? reply.null : scoreReply(s);
}

function zmscore(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const head = openColl(ctx, argv[1]!, 'zset');
  if (isReply(head)) return head;
  return reply.array(
    argv.slice(2).map((m) => {
      const s = head === null ? undefined : scoreOf(ctx, argv[1]!, m);
      return s === undefined ? reply.null : scoreReply(s);
    }),
  );
}

function zcard(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const head = openColl(ctx, argv[1]!, 'zset');
  if (isReply(head)) return head;
  return reply.integer(head === null ? 0 : decodeCount(head));
}

function countOf(items: Iterable<unknown>): number {
  let n = 0;
  for (const _ of items) n++;
  return n;
}

function zcount(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const range = scoreRangeArg(argv[2]!, argv[3]!);
  if (isReply(range)) return range;
  const head = openColl(ctx, argv[1]!, 'zset');
  if (isReply(head)) return head;
  return reply.integer(head === null ? 0 : countOf(inScoreRange(ctx, argv[1]!, range)));
}

function zlexcount(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const range = lexRangeArg(argv[2]!, argv[3]!);
  if (isReply(range)) return range;
  const head = openColl(ctx, argv[1]!, 'zset');
  if (isReply(head)) return head;
  return reply.integer(head === null ? 0 : countOf(inLexRange(ascending(ctx, argv[1]!), range)));
}

function rank(reverse: boolean) {
  return (ctx: CommandContext, argv: readonly Uint8Array[]): RespValue => {
    const key = argv[1]!;
    const head = openColl(ctx, key, 'zset');
    if (isReply(head)) return head;
    const score = head === null ? undefined : scoreOf(ctx, key, argv[2]!);
    if (head === null || score === undefined) return reply.null;
    // Everything below the member's own index entry: a scan of [0x02, its sub-key).
    const r = countOf(elems(ctx, key, indexStart, indexSub(score, argv[2]!)));
    return reply.integer(reverse ? decodeCount(head) - 1 - r : r);
  };
}

// --- ranges --------------------------------------------------------------------------------------------

type RangeBy = 'rank' | 'score' | 'lex';

interface RangeQuery {
  readonly by: RangeBy;
  readonly reverse: boolean;
  readonly withScores: boolean;
  readonly offset: number;
  /** -1: no LIMIT. */
  readonly limit: number;
  readonly start: number;
  readonly stop: number;
  readonly score?: ScoreRange;
  readonly lex?: LexRange;
}

/** zrangeGenericCommand's option parsing; `fixed` presets the type and direction (ZRANGEBYSCORE, ZREVRANGE, ...). */
/** `store`: ZRANGESTORE's options (its argv from the source on), where WITHSCORES is a syntax error. */
function rangeQueryArg(
  argv: readonly Uint8Array[],
  fixed?: { by: RangeBy; reverse: boolean },
  store = false,
): RangeQuery | RespValue {
  let by: RangeBy | undefined = fixed?.by;
  let reverse: boolean | undefined = fixed?.reverse;
  let withScores = false;
  let offset = 0;
  let limit = -1;
  for (let j = 4; j < argv.length; j++) {
    const left = argv.length - j - 1;
    const o = argv[j]!;
    if (!store && isOption(o, 'withscores')) withScores = true;
    else if (isOption(o, 'limit') && left >= 2) {
      const a = longArg(argv[j + 1]!);
      if (isReply(a)) return a;
      const b = longArg(argv[j + 2]!);
      if (isReply(b)) return b;
      offset = a;
      limit = b;
      j += 2;
    } else if (reverse === undefined && isOption(o, 'rev')) reverse = true;
    else if (by === undefined && isOption(o, 'bylex')) by = 'lex';
    else if (by === undefined && isOption(o, 'byscore')) by = 'score';
    else return collErrors.syntax;
  }
  const rangeBy = by ?? 'rank';
  const rev = reverse ?? false;
  if (limit !== -1 && rangeBy === 'rank')
    return reply.error('ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX');
  if (withScores && rangeBy === 'lex')
    return reply.error('ERR syntax error, WITHSCORES not supported in combination with BYLEX');
  const [minArg, maxArg] = rev && rangeBy !== 'rank' ? [argv[3]!, argv[2]!] : [argv[2]!, argv[3]!];
  const base = { by: rangeBy, reverse: rev, withScores, offset, limit, start: 0, stop: 0 };
  if (rangeBy === 'rank') {
    const start = longArg(minArg);
    if (isReply(start)) return start;
    const stop = longArg(maxArg);
    if (isReply(stop)) return stop;
    return { ...base, start, stop };
  }
  if (rangeBy === 'score') {
    const score = scoreRangeArg(minArg, maxArg);
    return isReply(score) ? score : { ...base, score };
  }
  const lex = lexRangeArg(minArg, maxArg);
  return isReply(lex) ? lex : { ...base, lex };
}

/** Skips `offset` then takes `limit` (-1: all) as genericZrangebyscoreCommand does (negative offset: none). */
function* window<T>(items: Iterable<T>, offset: number, limit: number): Generator<T> {
  if (offset < 0 || limit === 0) return;
  let skipped = 0;
  let taken = 0;
  for (const item of items) {
    if (skipped < offset) {
      skipped++;
      continue;
    }
    yield item;
    if (limit > 0 && ++taken >= limit) return;
  }
}

function runRange(ctx: CommandContext, key: Uint8Array, card: number, q: RangeQuery): Scored[] {
  if (q.by === 'rank') {
    const r = clampRange(q.start, q.stop, card);
    if (r === null) return [];
    if (!q.reverse) return [...window(ascending(ctx, key), r.start, r.stop - r.start + 1)];
    // Reverse ranks [start, stop] are ascending ranks [card-1-stop, card-1-start], read backwards.
    return [...window(ascending(ctx, key), card - 1 - r.stop, r.stop - r.start + 1)].reverse();
  }
  if (q.offset > 0 && q.offset >= card) return [];
  if (q.by === 'score') {
    const range = q.score!;
    if (!q.reverse) return [...window(inScoreRange(ctx, key, range), q.offset, q.limit)];
    const matching = inScoreRange(ctx, key, range);
    const held = q.limit >= 0 && q.offset >= 0 ? lastN(matching, q.offset + q.limit) : [...matching];
    return [...window(held.reverse(), q.offset, q.limit)];
  }
  const range = q.lex!;
  if (!q.reverse) return [...window(inLexRange(ascending(ctx, key), range), q.offset, q.limit)];
  return [...window(inLexRangeDescending(descendingAll(ctx, key), range), q.offset, q.limit)];
}

function zrangeCommand(fixed?: { by: RangeBy; reverse: boolean }) {
  return (ctx: CommandContext, argv: readonly Uint8Array[]): RespValue => {
    const q = rangeQueryArg(argv, fixed);
    if (isReply(q)) return q;
    const head = openColl(ctx, argv[1]!, 'zset');
    if (isReply(head)) return head;
    if (head === null) return reply.array([]);
    return pairs(runRange(ctx, argv[1]!, decodeCount(head), q), q.withScores);
  };
}

function zremrange(by: RangeBy) {
  return (ctx: CommandContext, argv: readonly Uint8Array[]): RespValue => {
    let q: RangeQuery;
    const base = { by, reverse: false, withScores: false, offset: 0, limit: -1, start: 0, stop: 0 };
    if (by === 'rank') {
      const start = longArg(argv[2]!);
      if (isReply(start)) return start;
      const stop = longArg(argv[3]!);
      if (isReply(stop)) return stop;
      q = { ...base, start, stop };
    } else if (by === 'score') {
      const score = scoreRangeArg(argv[2]!, argv[3]!);
      if (isReply(score)) return score;
      q = { ...base, score };
    } else {
      const lex = lexRangeArg(argv[2]!, argv[3]!);
      if (isReply(lex)) return lex;
      q = { ...base, lex };
    }
    const key = argv[1]!;
    const head = openColl(ctx, key, 'zset');
    if (isReply(head)) return head;
    if (head === null) return reply.integer(0);
    const gone = runRange(ctx, key, decodeCount(head), q);
    removeScored(ctx, key, head, gone);
    return reply.integer(gone.length);
  };
}

function zpop(max: boolean) {
  return (ctx: CommandContext, argv: readonly Uint8Array[]): RespValue => {
    if (argv.length > 3) return collErrors.syntax;
    let count = -1;
    if (argv.length === 3) {
      const c = positiveLongArg(argv[2]!);
      if (isReply(c)) return c;
      count = c;
    }
    const key = argv[1]!;
    const head = openColl(ctx, key, 'zset');
    if (isReply(head)) return head;
    if (head === null || count === 0) return reply.array([]);
    const n = count === -1 ? 1 : count;
    const popped = max ? lastN(ascending(ctx, key), n).reverse() : [...window(ascending(ctx, key), 0, n)];
    removeScored(ctx, key, head, popped);
    if (count === -1) return reply.array([reply.bulk(popped[0]!.member), scoreReply(popped[0]!.score)]);
    return pairs(popped, true);
  };
}

/**
 * ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]: [key, [[member, score], ...]] from the first
 * non-empty sorted set; the pairs nested in RESP2 too (Redis 7.0's zmpop, unlike ZPOPMIN's flat list).
 */
function zmpop(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const a = mpopArgs(argv, 1, ['min', 'max']);
  if (isReply(a)) return a;
  for (const key of a.keys) {
    const head = openColl(ctx, key, 'zset');
    if (isReply(head)) return head;
    if (head === null) continue;
    const popped = a.first
      ? [...window(ascending(ctx, key), 0, a.count)]
      : lastN(ascending(ctx, key), a.count).reverse();
    removeScored(ctx, key, head, popped);
    return reply.array([
      reply.bulk(key),
      reply.array(popped.map((s) => reply.array([reply.bulk(s.member), scoreReply(s.score)]))),
    ]);
  }
  return reply.nullArray;
}

// --- ZUNION, ZINTER, ZDIFF and their STORE forms, ZINTERCARD (t_zset.c zunionInterDiffGenericCommand) ---

type ZAlgebra = 'union' | 'inter' | 'diff';
type Aggregate = 'sum' | 'min' | 'max';

/**
 * One input of the algebra, read lazily: a sorted set, or a set whose members score 1 (Redis takes
 * both). `card` from its head; `entries` streams it in its order; `score` looks one member up.
 */
const NO_BYTES = new Uint8Array(0);

interface AlgebraInput {
  readonly card: number;
  entries(): Iterable<Scored>;
  score(member: Uint8Array): number | undefined;
}

/** The input at `key`: null when absent, WRONGTYPE unless a sorted set or a set. */
function algebraInput(ctx: CommandContext, key: Uint8Array): AlgebraInput | null | RespValue {
  const head = ctx.keyspace.getHead(key, ctx.nowMs);
  if (head === undefined) return null;
  if (head.type === 'zset')
    return { card: decodeCount(head.value), entries: () => ascending(ctx, key), score: (m) => scoreOf(ctx, key, m) };
  if (head.type !== 'set') return redisErrorReply.wrongType;
  return {
    card: decodeCount(head.value),
    *entries() {
      for (const e of elems(ctx, key, NO_BYTES, null)) yield { member: untagged(e.sub), score: 1 };
    },
    score: (m) => (getElem(ctx, key, tagged(m)) === undefined ? undefined : 1),
  };
}

/** zunionInterAggregate: a sum of +inf and -inf is 0, as Redis keeps it. */
function aggregateInto(target: number, value: number, how: Aggregate): number {
  if (how === 'sum') {
    const s = target + value;
    return Number.isNaN(s) ? 0 : s;
  }
  // Redis' C comparisons: a NaN value (an infinite score weighted by 0) keeps the target, where
  // Math.min and Math.max would answer NaN.
  // biome-ignore lint/complexity/useMathMinMax: NaN keeps the target, as in zunionInterAggregate.
  if (how === 'min') return value < target ? value : target;
  // biome-ignore lint/complexity/useMathMinMax: as above.
  return value > target ? value : target;
}

/**
 * The result of `op` over the inputs, in (score, member) order, stopping at `limit` members (0:
 * none; ZINTERCARD's LIMIT). As Redis: a union reads every input (its result holds them all); an
 * intersection walks the smallest input and looks each member up in the others, a difference the
 * first, so neither costs more than its walked input's size in lookups (a review measured ZINTER of
 * 1 member and 200,000 at 3.1 s and 93 MB when every input was read whole).
 */
function combineScored(
  op: ZAlgebra,
  inputs: ReadonlyArray<AlgebraInput | null>,
  weights: readonly number[],
  how: Aggregate,
  limit = 0,
): Scored[] {
  const weighted = (score: number, w: number): number => {
    const v = score * w;
    return Number.isNaN(v) ? 0 : v;
  };
  const out: Scored[] = [];
  const full = () => limit > 0 && out.length >= limit;
  const byCard = (a: number, b: number) => (inputs[a]?.card ?? 0) - (inputs[b]?.card ?? 0);
  if (op === 'union') {
    const acc = new Map<string, Scored>();
    // Redis iterates the inputs from the smallest: the order of a sum's terms.
    for (const i of inputs.map((_, x) => x).sort(byCard)) {
      for (const s of inputs[i]?.entries() ?? []) {
        const k = latin1(s.member);
        const v = weighted(s.score, weights[i]!);
        const held = acc.get(k);
        acc.set(k, { member: s.member, score: held === undefined ? v : aggregateInto(held.score, v, how) });
      }
    }
    out.push(...acc.values());
  } else if (op === 'inter') {
    if (inputs.some((x) => x === null || x.card === 0)) return [];
    const order = inputs.map((_, x) => x).sort(byCard);
    const [first, ...rest] = order as [number, ...number[]];
    for (const s of inputs[first]!.entries()) {
      let score = weighted(s.score, weights[first]!);
      let all = true;
      for (const j of rest) {
        const v = inputs[j]!.score(s.member);
        if (v === undefined) {
          all = false;
          break;
        }
        score = aggregateInto(score, v * weights[j]!, how);
      }
      if (all) out.push({ member: s.member, score });
      if (full()) break;
    }
  } else {
    const base = inputs[0];
    if (base === null || base === undefined) return [];
    const others = inputs.slice(1).filter((x) => x !== null);
    for (const s of base.entries()) {
      if (!others.some((x) => x.score(s.member) !== undefined)) out.push(s);
    }
  }
  return out.sort((a, b) => (a.score === b.score ? compareBytes(a.member, b.member) : a.score - b.score));
}

function zsetAlgebra(op: ZAlgebra, store: boolean, cardinality = false) {
  return (ctx: CommandContext, argv: readonly Uint8Array[]): RespValue => {
    const at = store ? 2 : 1; // numkeys
    const n = longArg(argv[at]!);
    if (isReply(n)) return n;
    if (n < 1) {
      const name = latin1(argv[0]!).toLowerCase();
      return reply.error(`ERR at least 1 input key is needed for '${name}' command`);
    }
    if (n > argv.length - at - 1) return collErrors.syntax;
    const inputs: Array<AlgebraInput | null> = [];
    for (let i = 0; i < n; i++) {
      const input = algebraInput(ctx, argv[at + 1 + i]!);
      if (isReply(input)) return input;
      inputs.push(input);
    }
    const weights: number[] = new Array(n).fill(1);
    let how: Aggregate = 'sum';
    let withScores = false;
    let limit = 0;
    for (let j = at + 1 + n; j < argv.length; ) {
      const remaining = argv.length - j;
      if (cardinality) {
        if (remaining < 2 || !isOption(argv[j]!, 'limit')) return collErrors.syntax;
        const l = rangeLongArg(argv[j + 1]!, 0n, longMax, "ERR LIMIT can't be negative");
        if (isReply(l)) return l;
        limit = l;
        j += 2;
      } else if (op !== 'diff' && remaining >= n + 1 && isOption(argv[j]!, 'weights')) {
        j++;
        for (let i = 0; i < n; i++, j++) {
          const w = doubleArg(argv[j]!);
          if (isReply(w)) return reply.error('ERR weight value is not a float');
          weights[i] = w;
        }
      } else if (op !== 'diff' && remaining >= 2 && isOption(argv[j]!, 'aggregate')) {
        const a = argv[j + 1]!;
        if (isOption(a, 'sum')) how = 'sum';
        else if (isOption(a, 'min')) how = 'min';
        else if (isOption(a, 'max')) how = 'max';
        else return collErrors.syntax;
        j += 2;
      } else if (!store && isOption(argv[j]!, 'withscores')) {
        withScores = true;
        j++;
      } else return collErrors.syntax;
    }
    const result = combineScored(op, inputs, weights, how, cardinality ? limit : 0);
    if (cardinality) return reply.integer(result.length);
    if (!store) return pairs(result, withScores);
    return storeScored(ctx, argv[1]!, result);
  };
}

/** A STORE form's destination, replaced whatever it held (setKey: no TTL; deleted when the result is empty). */
function storeScored(ctx: CommandContext, dst: Uint8Array, result: readonly Scored[]): RespValue {
  deleteColl(ctx, dst);
  if (result.length > 0) {
    createColl(ctx, dst, 'zset', encodeCount(0));
    for (const s of result) writeScore(ctx, dst, s.member, undefined, s.score);
    putHead(ctx, dst, 'zset', encodeCount(result.length));
  }
  return reply.integer(result.length);
}

/** ZRANGESTORE dst src min max [BYSCORE | BYLEX] [REV] [LIMIT offset count] (zrangeGenericCommand's store). */
function zrangestore(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const q = rangeQueryArg(argv.slice(1), undefined, true);
  if (isReply(q)) return q;
  const src = argv[2]!;
  const head = openColl(ctx, src, 'zset');
  if (isReply(head)) return head;
  return storeScored(ctx, argv[1]!, head === null ? [] : runRange(ctx, src, decodeCount(head), q));
}

/**
 * ZRANDMEMBER key [count [WITHSCORES]] (zrandmemberCommand), as HRANDFIELD: a positive count gives
 * distinct members (all of them, highest score first, when it reaches the size, as Redis' case 2), a
 * negative one |count| picks with repeats (past redisRandomCountMax refused, as SRANDMEMBER).
 */
function zrandmember(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const key = argv[1]!;
  if (argv.length === 2) {
    const head = openColl(ctx, key, 'zset');
    if (isReply(head)) return head;
    if (head === null) return reply.null;
    return reply.bulk(pickOne(ctx, ascending(ctx, key), decodeCount(head)).member);
  }
  const args = randomCountArgs(argv, 'withscores');
  if (isReply(args)) return args;
  const { count: l, withOption: withScores } = args;
  const head = openColl(ctx, key, 'zset');
  if (isReply(head)) return head;
  if (head === null || l === 0) return reply.array([]);
  // From the top down: Redis' zuiNext walks a sorted set from its tail, so the whole set (case 2)
  // comes highest score first (checked live); positions count from the end of the ascending walk.
  const chosen = sample(ctx, ascending(ctx, key), decodeCount(head), l, true);
  if (isReply(chosen)) return chosen;
  return pairs(chosen, withScores);
}

const zscan = scanCommand(
  'zset',
  (ctx, key) => ascending(ctx, key),
  (s) => s.member,
  (s) => [reply.bulk(s.member), reply.bulk(d2string(s.score))],
);

export const zsetCommands: readonly CommandSpec[] = [
  collSpec('zadd', -4, ['write', 'denyoom', 'fast'], zadd),
  collSpec('zincrby', 4, ['write', 'denyoom', 'fast'], zincrby),
  collSpec('zrem', -3, ['write', 'fast'], zrem),
  collSpec('zscore', 3, ['readonly', 'fast'], zscore),
  collSpec('zmscore', -3, ['readonly', 'fast'], zmscore),
  collSpec('zcard', 2, ['readonly', 'fast'], zcard),
  collSpec('zcount', 4, ['readonly', 'fast'], zcount),
  collSpec('zlexcount', 4, ['readonly', 'fast'], zlexcount),
  collSpec('zrank', 3, ['readonly', 'fast'], rank(false)),
  collSpec('zrevrank', 3, ['readonly', 'fast'], rank(true)),
  collSpec('zrange', -4, ['readonly'], zrangeCommand()),
  collSpec('zrangebyscore', -4, ['readonly'], zrangeCommand({ by: 'score', reverse: false })),
  collSpec('zrevrangebyscore', -4, ['readonly'], zrangeCommand({ by: 'score', reverse: true })),
  collSpec('zrangebylex', -4, ['readonly'], zrangeCommand({ by: 'lex', reverse: false })),
  collSpec('zrevrangebylex', -4, ['readonly'], zrangeCommand({ by: 'lex', reverse: true })),
  collSpec('zrevrange', -4, ['readonly'], zrangeCommand({ by: 'rank', reverse: true })),
  collSpec('zpopmin', -2, ['write', 'fast'], zpop(false)),
  collSpec('zpopmax', -2, ['write', 'fast'], zpop(true)),
  collSpec('zmpop', -4, ['write', 'movablekeys'], zmpop, [0, 0, 0]),
  collSpec('zremrangebyscore', 4, ['write'], zremrange('score')),
  collSpec('zremrangebyrank', 4, ['write'], zremrange('rank')),
  collSpec('zremrangebylex', 4, ['write'], zremrange('lex')),
  collSpec('zscan', -3, ['readonly'], zscan),
  collSpec('zunion', -3, ['readonly', 'movablekeys'], zsetAlgebra('union', false), [0, 0, 0]),
  collSpec('zinter', -3, ['readonly', 'movablekeys'], zsetAlgebra('inter', false), [0, 0, 0]),
  collSpec('zdiff', -3, ['readonly', 'movablekeys'], zsetAlgebra('diff', false), [0, 0, 0]),
  collSpec('zunionstore', -4, ['write', 'denyoom', 'movablekeys'], zsetAlgebra('union', true), [1, 1, 1]),
  collSpec('zinterstore', -4, ['write', 'denyoom', 'movablekeys'], zsetAlgebra('inter', true), [1, 1, 1]),
  collSpec('zdiffstore', -4, ['write', 'denyoom', 'movablekeys'], zsetAlgebra('diff', true), [1, 1, 1]),
  collSpec('zrandmember', -2, ['readonly'], zrandmember),
  collSpec('zrangestore', -5, ['write', 'denyoom'], zrangestore, [1, 2, 1]),
  collSpec('zintercard', -3, ['readonly', 'movablekeys'], zsetAlgebra('inter', false, true), [0, 0, 0]),
];
