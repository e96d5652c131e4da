// The bit commands on strings (Redis 7.0.15 bitops.c, implemented from its behaviour): SETBIT,
// GETBIT, BITCOUNT [start end [BYTE|BIT]], BITPOS bit [start [end [BYTE|BIT]]], BITOP
// AND|OR|XOR|NOT. A bitmap is a string (keys.ts' string head); bit 0 is the most significant bit
// of byte 0, as Redis.
// Error order follows Redis' checks one by one (the live test compares them): GETBIT and SETBIT
// parse the offset (and SETBIT the bit) before the key is looked up; BITCOUNT looks the key up
// first (an absent key answers 0 whatever its other arguments); BITPOS parses the bit, then looks
// the key up (absent: -1 for a 1, 0 for a 0), then the range.
// Our bound: SETBIT past keyspace.stringBytesMax bytes (16 MiB: bit offset 134,217,727) answers
// Redis' "string exceeds maximum allowed size (proto-max-bulk-len)", as SETRANGE does; Redis'
// offsets go to 2^32 - 1 (proto-max-bulk-len 512 MB), and past that both answer the offset error.
// BITFIELD and BITFIELD_RO (since 2026-12-07): GET, SET, INCRBY of signed (i1-i64) and unsigned
// (u1-u63) fields at bit offsets or `#n` (n times the width), OVERFLOW WRAP|SAT|FAIL for the ops
// after it, as Redis 7.0's bitfieldGeneric: every argument parsed first (the first bad one answers
// its error), then the key's type; a command with a write creates or zero-pads the string up to the
// last bit any write reaches before it runs its ops in order, even when every write then FAILs.
// Arithmetic in bigint with Redis' 64-bit wrapping. Differs: a `#n` whose product passes 2^63 is
// refused with the offset error (7.0 multiplied in 64 bits and wrapped; later Redis refuses it too);
// a write reaching past keyspace.stringBytesMax answers the string-length error, as SETBIT.

import { reply, type RespValue } from '../wire/resp/index.ts';
import { optionIs, parseInt64 } from './args.ts';
import { type CommandContext, type CommandSpec, defineCommand } from './command.ts';
import { redisErrorReply } from './errors.ts';
import { readString } from './strings.ts';

/** Redis' largest bit offset: (proto-max-bulk-len 512 MB) * 8 - 1. */
const BIT_OFFSET_MAX = 512n * 1024n * 1024n * 8n - 1n;
const bitOffsetError = reply.error('ERR bit offset is not an integer or out of range');
const bitValueError = reply.error('ERR bit is not an integer or out of range');
const bitArgumentError = reply.error('ERR The bit argument must be 1 or 0.');

/** getBitOffsetFromArgument (no '#' form): 0 .. BIT_OFFSET_MAX, or undefined. */
function parseBitOffset(arg: Uint8Array): number | undefined {
  const n = parseInt64(arg);
  if (n === undefined || n < 0n || n > BIT_OFFSET_MAX) return undefined;
  return Number(n);
}

const setbit = defineCommand('setbit', 4, ['write', 'denyoom'], [1, 1, 1], (ctx, argv) => {
  const offset = parseBitOffset(argv[2]!);
  if (offset === undefined) return bitOffsetError;
  const on = parseInt64(argv[3]!);
  if (on === undefined || (on !== 0n && on !== 1n)) return bitValueError;
  const read = readString(ctx, argv[1]!);
  if (read === 'wrongtype') return redisErrorReply.wrongType;
  const byte = offset >>> 3;
  const old = read === 'absent' ? new Uint8Array(0) : read.head.value;
  if (byte + 1 > ctx.keyspace.stringBytesMax) return redisErrorReply.stringTooLong;
  const mask = 1 << (7 - (offset & 7));
  const was = byte < old.length && (old[byte]! & mask) !== 0 ? 1 : 0;
  const value = new Uint8Array(Math.max(old.length, byte + 1));
  value.set(old);
  value[byte] = on === 1n ? value[byte]! | mask : value[byte]! & ~mask;
  ctx.keyspace.putHead(
    argv[1]!,
    { type: 'string', value, expiresAtMs: read === 'absent' ? 0 : read.head.expiresAtMs },
    ctx.nowMs,
  );
  return reply.integer(was);
});

const getbit = defineCommand('getbit', 3, ['readonly', 'fast'], [1, 1, 1], (ctx, argv) => {
  const offset = parseBitOffset(argv[2]!);
  if (offset === undefined) return bitOffsetError;
  const read = readString(ctx, argv[1]!);
  if (read === 'wrongtype') return redisErrorReply.wrongType;
  if (read === 'absent') return reply.integer(0);
  const byte = offset >>> 3;
  const v = read.head.value;
  return reply.integer(byte < v.length && (v[byte]! & (1 << (7 - (offset & 7)))) !== 0 ? 1 : 0);
});

/** A [start, end] range over `length` bytes after Redis' clamping, in bytes, with edge masks in BIT mode. */
interface BitRange {
  /** First and last byte (start > end: empty). */
  readonly start: number;
  readonly end: number;
  /** BIT mode: the bits of the first / last byte before / after the range (0: none). */
  readonly firstNegMask: number;
  readonly lastNegMask: number;
}

/**
 * Redis' index conversion shared by BITCOUNT and BITPOS: negative indexes from the end, clamped
 * to [0, total - 1]; in BIT mode, then cut to bytes with masks for the partial edge bytes.
 */
function clampRange(start: bigint, end: bigint, length: number, isBit: boolean): BitRange {
  const total = BigInt(isBit ? length * 8 : length);
  if (start < 0n) start += total;
  if (end < 0n) end += total;
  if (start < 0n) start = 0n;
  if (end < 0n) end = 0n;
  if (end >= total) end = total - 1n;
  let firstNegMask = 0;
  let lastNegMask = 0;
  if (isBit && start <= end) {
    firstNegMask = ~((1 << (8 - Number(start & 7n))) - 1) & 0xff;
    lastNegMask = (1 << (7 - Number(end & 7n))) - 1;
    start >>= 3n;
    end >>= 3n;
  }
  // Past the value on either side means empty; Number() of the clamped values is exact.
  return { start: start > end ? 1 : Number(start), end: start > end ? 0 : Number(end), firstNegMask, lastNegMask };
}

/** BYTE or BIT (any case), else undefined. */
function rangeUnit(arg: Uint8Array): 'byte' | 'bit' | undefined {
  if (optionIs(arg, 'bit')) return 'bit';
  if (optionIs(arg, 'byte')) return 'byte';
  return undefined;
}

function popcount8(b: number): number {
  let n = b - ((b >> 1) & 0x55);
  n = (n & 0x33) + ((n >> 2) & 0x33);
  return (n + (n >> 4)) & 0x0f;
}

const bitcount = defineCommand('bitcount', -2, ['readonly'], [1, 1, 1], (ctx, argv) => {
  const read = readString(ctx, argv[1]!);
  if (read === 'absent') return reply.integer(0);
  if (read === 'wrongtype') return redisErrorReply.wrongType;
  const v = read.head.value;
  let range: BitRange;
  if (argv.length === 4 || argv.length === 5) {
    const start = parseInt64(argv[2]!);
    if (start === undefined) return redisErrorReply.notInteger;
    const end = parseInt64(argv[3]!);
    if (end === undefined) return redisErrorReply.notInteger;
    const unit = argv.length === 5 ? rangeUnit(argv[4]!) : 'byte';
    if (unit === undefined) return redisErrorReply.syntax;
    if (start < 0n && end < 0n && start > end) return reply.integer(0);
    range = clampRange(start, end, v.length, unit === 'bit');
  } else if (argv.length === 2) {
    range = { start: 0, end: v.length - 1, firstNegMask: 0, lastNegMask: 0 };
  } else {
    return redisErrorReply.syntax;
  }
  const { start, end, firstNegMask, lastNegMask } = range;
  if (start > end) return reply.integer(0);
  let count = 0;
  for (let i = start; i <= end; i++) count += popcount8(v[i]!);
  // The edge bytes' bits outside the range were counted: take them off.
  if (firstNegMask !== 0) count -= popcount8(v[start]! & firstNegMask);
  if (lastNegMask !== 0) count -= popcount8(v[end]! & lastNegMask);
  return reply.integer(count);
});

/**
 * redisBitpos: the first bit equal to `bit` in bytes [from, from + count) of `p`, counted from
 * `from`'s first bit; not found: -1 for a 1, and for a 0 the bit just past the bytes (count * 8),
 * as if the string went on with zeros.
 */
function firstBit(p: Uint8Array, from: number, count: number, bit: 0 | 1): number {
  for (let i = 0; i < count; i++) {
    const b = p[from + i]!;
    if (bit === 1 ? b !== 0 : b !== 0xff) {
      for (let j = 0; j < 8; j++) if (((b >> (7 - j)) & 1) === bit) return i * 8 + j;
    }
  }
  return bit === 1 ? -1 : count * 8;
}

const bitpos = defineCommand('bitpos', -3, ['readonly'], [1, 1, 1], (ctx, argv) => {
  const b = parseInt64(argv[2]!);
  if (b === undefined) return redisErrorReply.notInteger;
  if (b !== 0n && b !== 1n) return bitArgumentError;
  const bit = b === 1n ? 1 : 0;
  const read = readString(ctx, argv[1]!);
  if (read === 'absent') return reply.integer(bit === 1 ? -1 : 0);
  if (read === 'wrongtype') return redisErrorReply.wrongType;
  const p = read.head.value;
  let range: BitRange;
  let endGiven = false;
  if (argv.length >= 4 && argv.length <= 6) {
    const start = parseInt64(argv[3]!);
    if (start === undefined) return redisErrorReply.notInteger;
    let unit: 'byte' | 'bit' = 'byte';
    if (argv.length === 6) {
      const u = rangeUnit(argv[5]!);
      if (u === undefined) return redisErrorReply.syntax;
      unit = u;
    }
    let end: bigint;
    if (argv.length >= 5) {
      const e = parseInt64(argv[4]!);
      if (e === undefined) return redisErrorReply.notInteger;
      end = e;
      endGiven = true;
    } else {
      end = unit === 'bit' ? BigInt(p.length) * 8n + 7n : BigInt(p.length) - 1n;
    }
    range = clampRange(start, end, p.length, unit === 'bit');
  } else if (argv.length === 3) {
    range = { start: 0, end: p.length - 1, firstNegMask: 0, lastNegMask: 0 };
  } else {
    return redisErrorReply.syntax;
  }
  const { firstNegMask, lastNegMask, end } = range;
  let start = range.start;
  // An empty range holds neither a 0 nor a 1.
  if (start > end) return reply.integer(-1);
  let bytes = end - start + 1;
  let pos: number;
  found: {
    if (firstNegMask !== 0) {
      let c = bit === 1 ? p[start]! & ~firstNegMask & 0xff : p[start]! | firstNegMask;
      // Only one byte: its bits past the range are masked too.
      if (lastNegMask !== 0 && bytes === 1) c = bit === 1 ? c & ~lastNegMask & 0xff : c | lastNegMask;
      pos = firstBit(Uint8Array.of(c), 0, 1, bit);
      if (bytes === 1 || (pos !== -1 && pos !== 8)) break found;
      start++;
      bytes--;
    }
    // The last byte, partly outside the range, is looked at on its own.
    const whole = bytes - (lastNegMask !== 0 ? 1 : 0);
    if (whole > 0) {
      pos = firstBit(p, start, whole, bit);
      if (bytes === whole || (pos !== -1 && pos !== whole * 8)) break found;
      start += whole;
      bytes -= whole;
    }
    const c = bit === 1 ? p[end]! & ~lastNegMask & 0xff : p[end]! | lastNegMask;
    pos = firstBit(Uint8Array.of(c), 0, 1, bit);
  }
  // Looking for a 0 within an explicit end: the bit just past the range is not in it.
  if (endGiven && bit === 0 && pos === bytes * 8) return reply.integer(-1);
  if (pos !== -1) pos += start * 8;
  return reply.integer(pos);
});

const bitopNotArity = reply.error('ERR BITOP NOT must be called with a single source key.');
const BITOP_KINDS = ['and', 'or', 'xor', 'not'] as const;

/**
 * BITOP AND|OR|XOR|NOT destkey srckey...: the result as long as the longest source (a missing
 * key or a shorter string reads as zero bytes), written as a new string (any TTL or type the
 * destination had is gone); an empty result deletes the destination. Every source is read before
 * anything is written, so a WRONGTYPE source changes nothing.
 */
const bitop = defineCommand('bitop', -4, ['write', 'denyoom'], [2, -1, 1], (ctx, argv) => {
  const op = argv[1]!;
  const kind = BITOP_KINDS.find((k) => optionIs(op, k));
  if (kind === undefined) return redisErrorReply.syntax;
  const keys = argv.slice(3);
  if (kind === 'not' && keys.length !== 1) return bitopNotArity;
  const sources: Uint8Array[] = [];
  let longest = 0;
  for (const key of keys) {
    const read = readString(ctx, key);
    if (read === 'wrongtype') return redisErrorReply.wrongType;
    const v = read === 'absent' ? new Uint8Array(0) : read.head.value;
    sources.push(v);
    if (v.length > longest) longest = v.length;
  }
  const dest = argv[2]!;
  if (longest === 0) {
    ctx.keyspace.deleteKey(dest, ctx.nowMs);
    return reply.integer(0);
  }
  const out = new Uint8Array(longest);
  if (kind === 'not') {
    const src = sources[0]!;
    for (let i = 0; i < longest; i++) out[i] = ~src[i]! & 0xff;
  } else {
    out.set(sources[0]!);
    for (let k = 1; k < sources.length; k++) {
      const src = sources[k]!;
      for (let i = 0; i < longest; i++) {
        const b = i < src.length ? src[i]! : 0;
        out[i] = kind === 'and' ? out[i]! & b : kind === 'or' ? out[i]! | b : out[i]! ^ b;
      }
    }
  }
  ctx.keyspace.putHead(dest, { type: 'string', value: out, expiresAtMs: 0 }, ctx.nowMs);
  return reply.integer(longest);
});

const bitfieldTypeError = reply.error(
  'ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.',
);
const overflowTypeError = reply.error('ERR Invalid OVERFLOW type specified');
const bitfieldReadonlyError = reply.error('ERR BITFIELD_RO only supports the GET subcommand');

type Overflow = 'wrap' | 'sat' | 'fail';
interface BitfieldOp {
  readonly kind: 'get' | 'set' | 'incrby';
  readonly signed: boolean;
  readonly bits: number;
  readonly offset: number;
  readonly value: bigint;
  readonly overflow: Overflow;
}

const U64 = (1n << 64n) - 1n;
/** A 64-bit pattern read as a two's complement int64. */
const asInt64 = (u: bigint): bigint => (u & (1n << 63n) ? u - (1n << 64n) : u);

/** getBitfieldTypeFromArgument: 'i' 1..64 or 'u' 1..63 (case-sensitive, string2ll digits). */
function parseBitfieldType(arg: Uint8Array): { signed: boolean; bits: number } | undefined {
  const signed = arg[0] === 0x69; // i
  if (!signed && arg[0] !== 0x75) return undefined; // u
  const n = parseInt64(arg.subarray(1));
  if (n === undefined || n < 1n || n > (signed ? 64n : 63n)) return undefined;
  return { signed, bits: Number(n) };
}

/** getBitOffsetFromArgument with the '#' form: `#n` is n * bits. */
function parseBitfieldOffset(arg: Uint8Array, bits: number): number | undefined {
  const hash = arg[0] === 0x23;
  let n = parseInt64(hash ? arg.subarray(1) : arg);
  if (n === undefined || n < 0n) return undefined;
  if (hash) n *= BigInt(bits);
  return n > BIT_OFFSET_MAX ? undefined : Number(n);
}

/** The `bits`-wide field at bit `offset` (most significant bit first), zero past the end. */
function readField(p: Uint8Array, offset: number, bits: number): bigint {
  let v = 0n;
  for (let i = 0; i < bits; i++) {
    // Offsets reach 2^32 + 62: byte indexes by division, never by a 32-bit shift.
    const at = offset + i;
    const byte = Math.floor(at / 8);
    v = (v << 1n) | (byte < p.length && (p[byte]! & (0x80 >> (at & 7))) !== 0 ? 1n : 0n);
  }
  return v;
}

function writeField(p: Uint8Array, offset: number, bits: number, value: bigint): void {
  for (let i = 0; i < bits; i++) {
    const at = offset + i;
    const mask = 0x80 >> (at & 7);
    const byte = Math.floor(at / 8);
    if ((value >> BigInt(bits - 1 - i)) & 1n) p[byte]! |= mask;
    else p[byte]! &= ~mask;
  }
}

/** checkUnsignedBitfieldOverflow: undefined when value + incr fits, else what WRAP or SAT store (FAIL: null). */
function unsignedOverflow(value: bigint, incr: bigint, bits: number, overflow: Overflow): bigint | null | undefined {
  const max = (1n << BigInt(bits)) - 1n;
  const wrapped = (value + incr) & U64 & max;
  if (value > max || (incr > 0n && incr > max - value))
    return overflow === 'fail' ? null : overflow === 'wrap' ? wrapped : max;
  if (incr < 0n && incr < -value) return overflow === 'fail' ? null : overflow === 'wrap' ? wrapped : 0n;
  return undefined;
}

/** checkSignedBitfieldOverflow, the same way (WRAP: the sum's low bits, sign-extended). */
function signedOverflow(value: bigint, incr: bigint, bits: number, overflow: Overflow): bigint | null | undefined {
  const max = (1n << BigInt(bits - 1)) - 1n;
  const min = -max - 1n;
  const wrap = (): bigint => {
    let c = (value + incr) & U64;
    if (bits < 64) {
      const high = U64 ^ ((1n << BigInt(bits)) - 1n);
      c = c & (1n << BigInt(bits - 1)) ? c | high : c & ~high & U64;
    }
    return asInt64(c);
  };
  // Computed in 64 bits as Redis does: a SET of a value far outside a narrow field wraps them.
  const maxIncr = asInt64((max - value) & U64);
  const minIncr = asInt64((min - value) & U64);
  const up = value > max || (bits !== 64 && incr > maxIncr) || (value >= 0n && incr > 0n && incr > maxIncr);
  if (up) return overflow === 'fail' ? null : overflow === 'wrap' ? wrap() : max;
  const down = value < min || (bits !== 64 && incr < minIncr) || (value < 0n && incr < 0n && incr < minIncr);
  if (down) return overflow === 'fail' ? null : overflow === 'wrap' ? wrap() : min;
  return undefined;
}

function bitfieldGeneric(ctx: CommandContext, argv: readonly Uint8Array[], readOnlyCommand: boolean): RespValue {
  const ops: BitfieldOp[] = [];
  let overflow: Overflow = 'wrap';
  let writes = false;
  let highestBit = 0;
  for (let j = 2; j < argv.length; j++) {
    const left = argv.length - j - 1;
    const sub = argv[j]!;
    let kind: BitfieldOp['kind'];
    if (optionIs(sub, 'get') && left >= 2) kind = 'get';
    else if (optionIs(sub, 'set') && left >= 3) kind = 'set';
    else if (optionIs(sub, 'incrby') && left >= 3) kind = 'incrby';
    else if (optionIs(sub, 'overflow') && left >= 1) {
      const name = argv[++j]!;
      if (optionIs(name, 'wrap')) overflow = 'wrap';
      else if (optionIs(name, 'sat')) overflow = 'sat';
      else if (optionIs(name, 'fail')) overflow = 'fail';
      else return overflowTypeError;
      continue;
    } else return redisErrorReply.syntax;
    const type = parseBitfieldType(argv[j + 1]!);
    if (type === undefined) return bitfieldTypeError;
    const offset = parseBitfieldOffset(argv[j + 2]!, type.bits);
    if (offset === undefined) return bitOffsetError;
    let value = 0n;
    if (kind !== 'get') {
      writes = true;
      highestBit = Math.max(highestBit, offset + type.bits - 1);
      const v = parseInt64(argv[j + 3]!);
      if (v === undefined) return redisErrorReply.notInteger;
      value = v;
    }
    ops.push({ kind, ...type, offset, value, overflow });
    j += kind === 'get' ? 2 : 3;
  }
  const read = readString(ctx, argv[1]!);
  if (!writes) {
    if (read === 'wrongtype') return redisErrorReply.wrongType;
    const p = read === 'absent' ? new Uint8Array(0) : read.head.value;
    return reply.array(
      ops.map((op) => {
        const u = readField(p, op.offset, op.bits);
        return reply.integer(op.signed ? signExtend(u, op.bits) : u);
      }),
    );
  }
  if (readOnlyCommand) return bitfieldReadonlyError;
  if (read === 'wrongtype') return redisErrorReply.wrongType;
  const needed = Math.floor(highestBit / 8) + 1;
  if (needed > ctx.keyspace.stringBytesMax) return redisErrorReply.stringTooLong;
  const old = read === 'absent' ? new Uint8Array(0) : read.head.value;
  const p = new Uint8Array(Math.max(old.length, needed));
  p.set(old);
  const out: RespValue[] = [];
  for (const op of ops) {
    const u = readField(p, op.offset, op.bits);
    if (op.kind === 'get') {
      out.push(reply.integer(op.signed ? signExtend(u, op.bits) : u));
      continue;
    }
    const old64 = op.signed ? signExtend(u, op.bits) : u;
    // SET checks the new value alone (an unsigned SET takes the int64 as its 64-bit pattern).
    const base = op.kind === 'set' ? (op.signed ? op.value : op.value & U64) : old64;
    const incr = op.kind === 'set' ? 0n : op.value;
    const limited = op.signed
      ? signedOverflow(base, incr, op.bits, op.overflow)
      : unsignedOverflow(base, incr, op.bits, op.overflow);
    if (limited === null) {
      out.push(reply.null);
      continue;
    }
    const stored = limited ?? base + incr;
    writeField(p, op.offset, op.bits, stored & ((1n << BigInt(op.bits)) - 1n));
    out.push(reply.integer(op.kind === 'set' ? old64 : stored));
  }
  ctx.keyspace.putHead(
    argv[1]!,
    { type: 'string', value: p, expiresAtMs: read === 'absent' ? 0 : read.head.expiresAtMs },
    ctx.nowMs,
  );
  return reply.array(out);
}

/** A `bits`-wide two's complement field as a signed number. */
function signExtend(u: bigint, bits: number): bigint {
  return u & (1n << BigInt(bits - 1)) ? u - (1n << BigInt(bits)) : u;
}

const bitfield = defineCommand('bitfield', -2, ['write', 'denyoom'], [1, 1, 1], (ctx, argv) =>
  bitfieldGeneric(ctx, argv, false),
);
const bitfieldRo = defineCommand('bitfield_ro', -2, ['readonly', 'fast'], [1, 1, 1], (ctx, argv) =>
  bitfieldGeneric(ctx, argv, true),
);

export const bitmapCommands: readonly CommandSpec[] = [setbit, getbit, bitcount, bitpos, bitop, bitfield, bitfieldRo];
