// HSCAN / SSCAN / ZSCAN (db.c scanGenericCommand for a collection), on collections kept in sub-key
// order. Redis' cursor is a position in its hash table; ours is the number of elements already
// passed in sub-key order (a decimal u64, as clients expect). A collection of at most
// `scanWholeCountMax` elements is returned whole with cursor 0, as Redis does for its small
// encodings (listpack / intset), so small collections answer byte for byte like Redis.
// Guarantee: with no concurrent change every element is returned exactly once; an element deleted
// behind the cursor shifts later ones back by one, so one element may be missed or repeated then
// (Redis only promises "at least once for elements present throughout" — ours is weaker under
// deletes, documented here and in the report).
//
// Grammar: cursor := [+-]? digits   (strtoul: "-1" wraps; no blank first; "" is 0)
//          options := (COUNT n | MATCH pattern)*    ; COUNT < 1 or a non-integer: errors below

import { reply, type RespValue } from '../wire/resp/index.ts';
import { collErrors, isOption, parseInt64 } from './coll-parse.ts';
import { globMatch } from './glob.ts';

/** Collections up to this size scan in one reply (Redis' hash/zset listpack default, 128). */
export const scanWholeCountMax = 128;
const u64Max = 2n ** 64n - 1n;

/** parseScanCursorOrReply: strtoul's acceptance; the cursor as a position (huge ones run past the end). */
export function scanCursorArg(bytes: Uint8Array): number | RespValue {
  let text = '';
  for (const b of bytes) text += String.fromCharCode(b);
  if (text.length === 0) return 0;
  const m = /^([+-]?)([0-9]+)$/.exec(text);
  if (!m) return collErrors.invalidCursor;
  const v = BigInt(m[2]!);
  if (v > u64Max) return collErrors.invalidCursor;
  const wrapped = m[1] === '-' && v !== 0n ? 2n ** 64n - v : v;
  return wrapped > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(wrapped);
}

export interface ScanOptions {
  readonly count: number;
  readonly pattern: Uint8Array | null;
}

/** The options after the cursor (argv[3...]). */
export function scanOptionsArg(argv: readonly Uint8Array[], from: number): ScanOptions | RespValue {
  let count = 10;
  let pattern: Uint8Array | null = null;
  for (let i = from; i < argv.length; i += 2) {
    const more = argv.length - i;
    if (isOption(argv[i]!, 'count') && more >= 2) {
      const v = parseInt64(argv[i + 1]!);
      if (v === undefined) return collErrors.notInteger;
      if (v < 1n) return collErrors.syntax;
      count = v > 1_000_000_000n ? 1_000_000_000 : Number(v);
    } else if (isOption(argv[i]!, 'match') && more >= 2) {
      const p = argv[i + 1]!;
      pattern = p.length === 1 && p[0] === 0x2a ? null : p;
    } else return collErrors.syntax;
  }
  return { count, pattern };
}

/** The empty scan reply Redis gives for a missing key: ["0", []]. */
export const emptyScanReply: RespValue = reply.array([reply.bulk('0'), reply.array([])]);

/**
 * One page: `items` are the collection's elements in order (read lazily), each with the key it is
 * matched on and the replies it contributes (field + value, member, member + score).
 */
export function scanPage<T>(
  items: Iterable<T>,
  size: number,
  cursor: number,
  options: ScanOptions,
  matchKey: (item: T) => Uint8Array,
  replies: (item: T) => RespValue[],
): RespValue {
  const whole = size <= scanWholeCountMax;
  const from = whole ? 0 : cursor;
  const take = whole ? size : options.count;
  const out: RespValue[] = [];
  let i = 0;
  let taken = 0;
  for (const item of items) {
    if (i++ < from) continue;
    if (taken >= take) break;
    taken++;
    if (options.pattern === null || globMatch(options.pattern, matchKey(item))) out.push(...replies(item));
  }
  const next = whole || from + taken >= size ? 0 : from + taken;
  return reply.array([reply.bulk(String(next)), reply.array(out)]);
}
