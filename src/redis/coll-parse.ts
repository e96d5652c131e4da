// Argument parsing shared by the collection commands (hash.ts, set.ts, list.ts, zset.ts), with
// Redis 7.0.15's acceptance rules and error texts (util.c string2ll / string2d, object.c
// getLongLongFromObjectOrReply / getRangeLongFromObjectOrReply, t_zset.c zslParseRange /
// zslParseLexRangeItem, db.c parseScanCursorOrReply), implemented from their description.
//
// Grammars:
//   int64  := "0" / ["-"] [1-9] [0-9]*        ; signed 64-bit, fewer than 21 bytes (string2ll)
//   double := [+-]? ( digits ["." digits?] / "." digits ) ([eE] [+-]? digits)?
//           / [+-]? ("inf" / "infinity")       ; case-insensitive; no blank first, nothing after
//             (string2d over strtod: NaN refused, overflow to +-inf refused, underflow to 0 refused;
//             strtod's hexadecimal floats are not accepted here: a client never sends one)
//   score range item := ["("] double-as-strtod ; "(" = exclusive; blanks before the number allowed
//   lex range item   := "-" / "+" / "[" bytes / "(" bytes
//   cursor := decimal u64 (strtoul: no blank first; our cursors are element keys, see scanCursor)
// Each parser returns the value, or the error reply Redis gives: the callers return it as is.

import { reply, type RespValue } from '../wire/resp/index.ts';
import { optionIs, parseInt64 } from './args.ts';

export { parseInt64 };

export const collErrors = {
  syntax: reply.error('ERR syntax error'),
  notInteger: reply.error('ERR value is not an integer or out of range'),
  outOfRange: reply.error('ERR value is out of range'),
  outOfRangePositive: reply.error('ERR value is out of range, must be positive'),
  notFloat: reply.error('ERR value is not a valid float'),
  wrongType: reply.error('WRONGTYPE Operation against a key holding the wrong kind of value'),
  noSuchKey: reply.error('ERR no such key'),
  indexOutOfRange: reply.error('ERR index out of range'),
  invalidCursor: reply.error('ERR invalid cursor'),
  minMaxNotFloat: reply.error('ERR min or max is not a float'),
  minMaxNotLex: reply.error('ERR min or max not valid string range item'),
} as const;

/** Redis' LONG_MAX (a 64-bit long). */
export const longMax = 2n ** 63n - 1n;
export const longMin = -(2n ** 63n);

function isError(v: unknown): v is RespValue {
  return typeof v === 'object' && v !== null && 'type' in v;
}
export { isError as isErrorReply };

/** getLongLongFromObjectOrReply: the int64, or "ERR value is not an integer or out of range". */
export function int64Arg(bytes: Uint8Array): bigint | RespValue {
  return parseInt64(bytes) ?? collErrors.notInteger;
}

/** getLongFromObjectOrReply then a range check, as a JS number (collection sizes fit in 2^53). */
export function longArg(bytes: Uint8Array): number | RespValue {
  const v = parseInt64(bytes);
  return v === undefined ? collErrors.notInteger : Number(v);
}

/**
 * getRangeLongFromObjectOrReply(min, max) with Redis' default message, or `message` when given
 * (Redis passes its own message for e.g. count arguments).
 */
export function rangeLongArg(bytes: Uint8Array, min: bigint, max: bigint, message?: string): number | RespValue {
  const v = parseInt64(bytes);
  if (v === undefined) return message === undefined ? collErrors.notInteger : reply.error(message);
  if (v < min || v > max)
    return reply.error(message ?? `ERR value is out of range, value must between ${min} and ${max}`);
  return Number(v);
}

/**
 * getPositiveLongFromObjectOrReply without a message: Redis substitutes its own, "value is out of
 * range, must be positive", for a non-integer too.
 */
export function positiveLongArg(bytes: Uint8Array): number | RespValue {
  const v = parseInt64(bytes);
  if (v === undefined || v < 0n) return collErrors.outOfRangePositive;
  return Number(v);
}

/** LMPOP / ZMPOP's arguments: the keys, which end (the first of `ends`, or the second) and how many. */
export interface MpopArgs {
  readonly keys: readonly Uint8Array[];
  readonly first: boolean;
  readonly count: number;
}

/**
 * `numkeys key [key ...] END [COUNT count]` from argv[at] on, as Redis 7.0's mpopGenericCommand
 * parses it: numkeys 1..LONG_MAX ("numkeys should be greater than 0", for a non-integer too); a
 * syntax error when fewer arguments than numkeys keys and the end follow; the end one of `ends`
 * (either case); then only one COUNT, 1..LONG_MAX ("count should be greater than 0"); COUNT 1 by
 * default.
 */
export function mpopArgs(
  argv: readonly Uint8Array[],
  at: number,
  ends: readonly [string, string],
): MpopArgs | RespValue {
  const numkeys = rangeLongArg(argv[at]!, 1n, longMax, 'ERR numkeys should be greater than 0');
  if (isError(numkeys)) return numkeys;
  if (numkeys > argv.length - at - 2) return collErrors.syntax;
  const where = argv[at + 1 + numkeys]!;
  const first = optionIs(where, ends[0]);
  if (!first && !optionIs(where, ends[1])) return collErrors.syntax;
  let count = -1;
  for (let j = at + 2 + numkeys; j < argv.length; j++) {
    if (count !== -1 || !optionIs(argv[j]!, 'count') || j + 1 >= argv.length) return collErrors.syntax;
    const c = rangeLongArg(argv[++j]!, 1n, longMax, 'ERR count should be greater than 0');
    if (isError(c)) return c;
    count = c;
  }
  return { keys: argv.slice(at + 1, at + 1 + numkeys), first, count: count === -1 ? 1 : count };
}

const ascii = new TextDecoder('latin1');

/** The argument as text, one char per byte (options, numbers). */
export function latin1(bytes: Uint8Array): string {
  return ascii.decode(bytes);
}

/** strcasecmp(arg, name) == 0 on the argument as a C string (args.ts). */
export const isOption = optionIs;

const decimalFloat = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
const infinity = /^[+-]?(?:inf|infinity)$/i;
const nonZeroDigit = /[1-9]/;

/**
 * strtod over the whole of `text` (no blank first: callers that allow blanks strip them), with
 * string2d's refusals: NaN, overflow to +-inf, underflow to zero. undefined when refused.
 */
export function parseStrtod(text: string): number | undefined {
  if (infinity.test(text)) return text.startsWith('-') ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  if (!decimalFloat.test(text)) return undefined;
  const v = Number(text);
  if (!Number.isFinite(v)) return undefined; // overflow: strtod gives HUGE_VAL with ERANGE
  if (v === 0) {
    // Underflow to zero is ERANGE; a written zero ("0.000", "-0e5") is not.
    const mantissa = text.replace(/[eE].*$/, '');
    if (nonZeroDigit.test(mantissa)) return undefined;
  }
  return v;
}

/** getDoubleFromObjectOrReply: a double (never NaN), or "ERR value is not a valid float". */
export function doubleArg(bytes: Uint8Array): number | RespValue {
  const v = parseStrtod(latin1(bytes));
  return v === undefined ? collErrors.notFloat : v;
}

/** One end of a score range: the value and whether it is exclusive ("("). */
export interface ScoreBound {
  readonly value: number;
  readonly exclusive: boolean;
}

export interface ScoreRange {
  readonly min: ScoreBound;
  readonly max: ScoreBound;
}

/** strtod as zslParseRange calls it: leading blanks skipped (C isspace), the rest must parse. */
function rangeDouble(text: string): number | undefined {
  // An empty string converts nothing and leaves the end pointer on its NUL: strtod's 0 is taken.
  if (text.length === 0) return 0;
  const trimmed = text.replace(/^[ \t\n\v\f\r]+/, '');
  if (trimmed.length === 0) return undefined;
  // zslParseRange checks only "whole string consumed and not NaN": overflow to inf is accepted.
  if (infinity.test(trimmed)) return trimmed.startsWith('-') ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  if (!decimalFloat.test(trimmed)) return undefined;
  return Number(trimmed);
}

function scoreBound(bytes: Uint8Array): ScoreBound | undefined {
  const text = latin1(bytes);
  const exclusive = text.startsWith('(');
  const v = rangeDouble(exclusive ? text.slice(1) : text);
  return v === undefined ? undefined : { value: v, exclusive };
}

/** zslParseRange: "ERR min or max is not a float" on either end. */
export function scoreRangeArg(min: Uint8Array, max: Uint8Array): ScoreRange | RespValue {
  const a = scoreBound(min);
  const b = scoreBound(max);
  if (a === undefined || b === undefined) return collErrors.minMaxNotFloat;
  return { min: a, max: b };
}

export function scoreAboveMin(score: number, range: ScoreRange): boolean {
  return range.min.exclusive ? score > range.min.value : score >= range.min.value;
}

export function scoreBelowMax(score: number, range: ScoreRange): boolean {
  return range.max.exclusive ? score < range.max.value : score <= range.max.value;
}

/** zslIsInRange's emptiness test: min above max, or equal with either end exclusive. */
export function scoreRangeEmpty(range: ScoreRange): boolean {
  return (
    range.min.value > range.max.value ||
    (range.min.value === range.max.value && (range.min.exclusive || range.max.exclusive))
  );
}

/** One end of a lex range: -inf / +inf, or bytes inclusive or exclusive. */
export type LexBound =
  | { readonly kind: 'minusInf' }
  | { readonly kind: 'plusInf' }
  | { readonly kind: 'value'; readonly value: Uint8Array; readonly exclusive: boolean };

export interface LexRange {
  readonly min: LexBound;
  readonly max: LexBound;
}

function lexBound(bytes: Uint8Array): LexBound | undefined {
  const first = bytes[0];
  if (first === 0x2b && bytes.length === 1) return { kind: 'plusInf' };
  if (first === 0x2d && bytes.length === 1) return { kind: 'minusInf' };
  if (first === 0x28) return { kind: 'value', value: bytes.subarray(1), exclusive: true };
  if (first === 0x5b) return { kind: 'value', value: bytes.subarray(1), exclusive: false };
  return undefined;
}

/** zslParseLexRange: "ERR min or max not valid string range item". */
export function lexRangeArg(min: Uint8Array, max: Uint8Array): LexRange | RespValue {
  const a = lexBound(min);
  const b = lexBound(max);
  if (a === undefined || b === undefined) return collErrors.minMaxNotLex;
  return { min: a, max: b };
}

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

export function lexAboveMin(v: Uint8Array, range: LexRange): boolean {
  const m = range.min;
  if (m.kind === 'minusInf') return true;
  if (m.kind === 'plusInf') return false;
  const c = compareBytes(v, m.value);
  return m.exclusive ? c > 0 : c >= 0;
}

export function lexBelowMax(v: Uint8Array, range: LexRange): boolean {
  const m = range.max;
  if (m.kind === 'plusInf') return true;
  if (m.kind === 'minusInf') return false;
  const c = compareBytes(v, m.value);
  return m.exclusive ? c < 0 : c <= 0;
}

/** zslIsInLexRange's emptiness test. */
export function lexRangeEmpty(range: LexRange): boolean {
  const { min, max } = range;
  if (min.kind === 'plusInf' || max.kind === 'minusInf') return true;
  if (min.kind === 'minusInf' || max.kind === 'plusInf') return false;
  const c = compareBytes(min.value, max.value);
  return c > 0 || (c === 0 && (min.exclusive || max.exclusive));
}

/**
 * Redis' list/zset index normalisation for a [start, stop] range over `length` items (LRANGE,
 * ZRANGE, LTRIM): negative counts from the end; the clamped range, or null when empty.
 */
export function clampRange(start: number, stop: number, length: number): { start: number; stop: number } | null {
  let s = start < 0 ? length + start : start;
  let e = stop < 0 ? length + stop : stop;
  if (s < 0) s = 0;
  if (s > e || s >= length) return null;
  if (e >= length) e = length - 1;
  return { start: s, stop: e };
}

/**
 * HRANDFIELD's and ZRANDMEMBER's `count [option]` (argv[2], argv[3]): the count in
 * [-LONG_MAX, LONG_MAX], the option word only, and with it Redis' LONG_MAX / 2 bound (the reply is
 * twice as long), exact on bigints.
 */
export function randomCountArgs(
  argv: readonly Uint8Array[],
  option: string,
): { readonly count: number; readonly withOption: boolean } | RespValue {
  const count = rangeLongArg(argv[2]!, -longMax, longMax);
  if (isError(count)) return count;
  if (argv.length > 4 || (argv.length === 4 && !isOption(argv[3]!, option))) return collErrors.syntax;
  const withOption = argv.length === 4;
  const exact = parseInt64(argv[2]!)!;
  if (withOption && (exact < -(longMax / 2n) || exact > longMax / 2n)) return collErrors.outOfRange;
  return { count, withOption };
}
