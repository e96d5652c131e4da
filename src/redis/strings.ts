// The string commands (Redis 7.0.15 t_string.c, implemented from its behaviour): GET, SET with
// EX/PX/EXAT/PXAT/NX/XX/GET/KEEPTTL, SETNX, SETEX, PSETEX, MGET, MSET, MSETNX, GETSET, GETDEL,
// GETEX, APPEND, STRLEN, SETRANGE, GETRANGE, SUBSTR, INCR, INCRBY, INCRBYFLOAT, DECR, DECRBY.
// A string is a head of type 'string' whose value is the bytes (keys.ts). TTL rules as Redis:
// SET/GETSET/MSET/SETEX replace the TTL (SET KEEPTTL keeps it); APPEND, SETRANGE, INCR* keep it.
// Error order follows Redis' checks one by one (the live test compares them).
// Our bound: a string is at most keyspace.stringBytesMax bytes (limits.redisStringBytesMax,
// 16 MiB; Redis' proto-max-bulk-len is 512 MB): APPEND and SETRANGE past it answer Redis' own
// "string exceeds maximum allowed size (proto-max-bulk-len)", and so does any other write of a
// longer string (Redis refuses those at the protocol: a bulk over proto-max-bulk-len).
// Expiry deadlines past 2^53 - 1 ms (year 287,396) are refused as "invalid expire time": the
// engine keeps deadlines as safe integers; Redis accepts up to 2^63 - 1.

import { concatBytes } from '../lib/bytes.ts';
import { reply, type RespValue } from '../wire/resp/index.ts';
import { decimalBytes, int64, optionIs, parseInt64 } from './args.ts';
import { type CommandContext, type CommandSpec, defineCommand } from './command.ts';
import { invalidExpireTimeError, redisErrorReply, wrongArityError } from './errors.ts';
import type { Head } from './keyspace.ts';
import { formatLongDouble, parseLongDouble, addLongDouble } from './long-double.ts';

const ZERO = reply.integer(0);
const ONE = reply.integer(1);
const EMPTY_BULK = reply.bulk(new Uint8Array(0));

/** A string read: the value (with its head), absent, or WRONGTYPE. */
export type StringRead = { readonly head: Head } | 'absent' | 'wrongtype';

export function readString(ctx: CommandContext, key: Uint8Array): StringRead {
  const head = ctx.keyspace.getHead(key, ctx.nowMs);
  if (head === undefined) return 'absent';
  return head.type === 'string' ? { head } : 'wrongtype';
}

/** Writes a string value (replacing any key of any type), after our length bound. */
function writeString(ctx: CommandContext, key: Uint8Array, value: Uint8Array, expiresAtMs: number): RespValue | null {
  if (value.length > ctx.keyspace.stringBytesMax) return redisErrorReply.stringTooLong;
  ctx.keyspace.putHead(key, { type: 'string', value, expiresAtMs }, ctx.nowMs);
  return null;
}

// --- expiry arguments -------------------------------------------------------------------------------

export const Opt = {
  nx: 1 << 0,
  xx: 1 << 1,
  ex: 1 << 2,
  px: 1 << 3,
  keepTtl: 1 << 4,
  get: 1 << 5,
  exat: 1 << 6,
  pxat: 1 << 7,
  persist: 1 << 8,
} as const;
const ANY_EXPIRE = Opt.ex | Opt.px | Opt.exat | Opt.pxat;

/**
 * t_string.c getExpireMillisecondsOrReply: the absolute deadline in ms of an EX/PX/EXAT/PXAT
 * argument, or the error reply. `name` is the command's name for the error text.
 */
export function expireDeadline(
  arg: Uint8Array,
  flags: number,
  nowMs: number,
  name: string,
): { deadlineMs: number } | { error: RespValue } {
  const raw = parseInt64(arg);
  if (raw === undefined) return { error: redisErrorReply.notInteger };
  const seconds = (flags & (Opt.ex | Opt.exat)) !== 0;
  if (raw <= 0n || (seconds && raw > int64.max / 1000n)) return { error: invalidExpireTimeError(name) };
  let ms = seconds ? raw * 1000n : raw;
  if ((flags & (Opt.ex | Opt.px)) !== 0) ms += BigInt(nowMs);
  // Redis: a sum past 2^63 - 1 wraps negative and is refused; ours stops at the engine's safe integers.
  if (ms > BigInt(Number.MAX_SAFE_INTEGER)) return { error: invalidExpireTimeError(name) };
  return { deadlineMs: Number(ms) };
}

/** t_string.c parseExtendedStringArgumentsOrReply: flags and the expire argument, or undefined (syntax error). */
export function parseStringOptions(
  argv: readonly Uint8Array[],
  forSet: boolean,
): { flags: number; expire: Uint8Array | undefined } | undefined {
  let flags = 0;
  let expire: Uint8Array | undefined;
  for (let j = forSet ? 3 : 2; j < argv.length; j++) {
    const opt = argv[j]!;
    const hasNext = j < argv.length - 1;
    if (forSet && optionIs(opt, 'nx') && (flags & Opt.xx) === 0) flags |= Opt.nx;
    else if (forSet && optionIs(opt, 'xx') && (flags & Opt.nx) === 0) flags |= Opt.xx;
    else if (forSet && optionIs(opt, 'get')) flags |= Opt.get;
    else if (forSet && optionIs(opt, 'keepttl') && (flags & (Opt.persist | ANY_EXPIRE)) === 0) flags |= Opt.keepTtl;
    else if (!forSet && optionIs(opt, 'persist') && (flags & (ANY_EXPIRE | Opt.keepTtl)) === 0) flags |= Opt.persist;
    else {
      const which = optionIs(opt, 'ex')
        ? Opt.ex
        : optionIs(opt, 'px')
          ? Opt.px
          : optionIs(opt, 'exat')
            ? Opt.exat
            : optionIs(opt, 'pxat')
              ? Opt.pxat
              : 0;
      const conflicts = Opt.keepTtl | Opt.persist | (ANY_EXPIRE & ~which);
      if (which === 0 || (flags & conflicts) !== 0 || !hasNext) return undefined;
      flags |= which;
      expire = argv[++j]!;
    }
  }
  return { flags, expire };
}

// --- the commands -----------------------------------------------------------------------------------

function getReply(read: StringRead): RespValue {
  if (read === 'wrongtype') return redisErrorReply.wrongType;
  return read === 'absent' ? reply.null : reply.bulk(read.head.value);
}

/**
 * setGenericCommand: `expire` in the command's unit flags; `okReply` / `abortReply` replace OK and
 * null (SETNX's 1 and 0).
 */
function setGeneric(
  ctx: CommandContext,
  name: string,
  key: Uint8Array,
  value: Uint8Array,
  flags: number,
  expire: Uint8Array | undefined,
  okReply: RespValue = reply.ok,
  abortReply: RespValue = reply.null,
): RespValue {
  let deadlineMs = 0;
  if (expire !== undefined) {
    const d = expireDeadline(expire, flags, ctx.nowMs, name);
    if ('error' in d) return d.error;
    deadlineMs = d.deadlineMs;
  }
  const old = ctx.keyspace.getHead(key, ctx.nowMs);
  let getResult: RespValue | undefined;
  if ((flags & Opt.get) !== 0) {
    if (old !== undefined && old.type !== 'string') return redisErrorReply.wrongType;
    getResult = old === undefined ? reply.null : reply.bulk(old.value);
  }
  const found = old !== undefined;
  if (((flags & Opt.nx) !== 0 && found) || ((flags & Opt.xx) !== 0 && !found)) return getResult ?? abortReply;
  const keep = (flags & Opt.keepTtl) !== 0 && old !== undefined ? old.expiresAtMs : 0;
  const tooLong = writeString(ctx, key, value, expire !== undefined ? deadlineMs : keep);
  if (tooLong !== null) return tooLong;
  return getResult ?? okReply;
}

const get = defineCommand('get', 2, ['readonly', 'fast'], [1, 1, 1], (ctx, argv) =>
  getReply(readString(ctx, argv[1]!)),
);

const set = defineCommand('set', -3, ['write', 'denyoom'], [1, 1, 1], (ctx, argv) => {
  const o = parseStringOptions(argv, true);
  if (o === undefined) return redisErrorReply.syntax;
  return setGeneric(ctx, 'set', argv[1]!, argv[2]!, o.flags, o.expire);
});

const setnx = defineCommand('setnx', 3, ['write', 'denyoom', 'fast'], [1, 1, 1], (ctx, argv) =>
  setGeneric(ctx, 'setnx', argv[1]!, argv[2]!, Opt.nx, undefined, ONE, ZERO),
);

const setex = defineCommand('setex', 4, ['write', 'denyoom'], [1, 1, 1], (ctx, argv) =>
  setGeneric(ctx, 'setex', argv[1]!, argv[3]!, Opt.ex, argv[2]!),
);

const psetex = defineCommand('psetex', 4, ['write', 'denyoom'], [1, 1, 1], (ctx, argv) =>
  setGeneric(ctx, 'psetex', argv[1]!, argv[3]!, Opt.px, argv[2]!),
);

const mget = defineCommand('mget', -2, ['readonly', 'fast'], [1, -1, 1], (ctx, argv) => {
  const items: RespValue[] = [];
  for (let j = 1; j < argv.length; j++) {
    const read = readString(ctx, argv[j]!);
    items.push(typeof read === 'string' ? reply.null : reply.bulk(read.head.value));
  }
  return reply.array(items);
});

function msetGeneric(ctx: CommandContext, argv: readonly Uint8Array[], nx: boolean): RespValue {
  if (argv.length % 2 === 0) return wrongArityError(nx ? 'msetnx' : 'mset');
  if (nx) {
    for (let j = 1; j < argv.length; j += 2) if (ctx.keyspace.getHead(argv[j]!, ctx.nowMs) !== undefined) return ZERO;
  }
  for (let j = 1; j < argv.length; j += 2) {
    const tooLong = writeString(ctx, argv[j]!, argv[j + 1]!, 0);
    if (tooLong !== null) {
      ctx.keyspace.abortCommand(); // none of the pairs: the command is one batch
      return tooLong;
    }
  }
  return nx ? ONE : reply.ok;
}

const mset = defineCommand('mset', -3, ['write', 'denyoom'], [1, -1, 2], (ctx, argv) => msetGeneric(ctx, argv, false));
const msetnx = defineCommand('msetnx', -3, ['write', 'denyoom'], [1, -1, 2], (ctx, argv) =>
  msetGeneric(ctx, argv, true),
);

const getset = defineCommand('getset', 3, ['write', 'denyoom', 'fast'], [1, 1, 1], (ctx, argv) => {
  const read = readString(ctx, argv[1]!);
  if (read === 'wrongtype') return redisErrorReply.wrongType;
  const tooLong = writeString(ctx, argv[1]!, argv[2]!, 0);
  return tooLong ?? getReply(read);
});

const getdel = defineCommand('getdel', 2, ['write', 'fast'], [1, 1, 1], (ctx, argv) => {
  const read = readString(ctx, argv[1]!);
  if (typeof read !== 'string') ctx.keyspace.deleteKey(argv[1]!, ctx.nowMs);
  return getReply(read);
});

const getex = defineCommand('getex', -2, ['write', 'fast'], [1, 1, 1], (ctx, argv) => {
  const o = parseStringOptions(argv, false);
  if (o === undefined) return redisErrorReply.syntax;
  const key = argv[1]!;
  const read = readString(ctx, key);
  if (typeof read === 'string') return getReply(read);
  let deadlineMs = 0;
  if (o.expire !== undefined) {
    const d = expireDeadline(o.expire, o.flags, ctx.nowMs, 'getex');
    if ('error' in d) return d.error;
    deadlineMs = d.deadlineMs;
  }
  if ((o.flags & (Opt.exat | Opt.pxat)) !== 0 && deadlineMs <= ctx.nowMs) ctx.keyspace.deleteKey(key, ctx.nowMs);
  else if (o.expire !== undefined) ctx.keyspace.setExpiry(key, deadlineMs, ctx.nowMs);
  else if ((o.flags & Opt.persist) !== 0 && read.head.expiresAtMs !== 0) ctx.keyspace.setExpiry(key, 0, ctx.nowMs);
  return reply.bulk(read.head.value);
});

const append = defineCommand('append', 3, ['write', 'denyoom', 'fast'], [1, 1, 1], (ctx, argv) => {
  const read = readString(ctx, argv[1]!);
  if (read === 'wrongtype') return redisErrorReply.wrongType;
  const old = read === 'absent' ? undefined : read.head;
  if (old !== undefined && old.value.length + argv[2]!.length > ctx.keyspace.stringBytesMax) {
    return redisErrorReply.stringTooLong;
  }
  const value = old === undefined ? argv[2]! : concatBytes([old.value, argv[2]!]);
  const tooLong = writeString(ctx, argv[1]!, value, old?.expiresAtMs ?? 0);
  return tooLong ?? reply.integer(value.length);
});

const strlen = defineCommand('strlen', 2, ['readonly', 'fast'], [1, 1, 1], (ctx, argv) => {
  const read = readString(ctx, argv[1]!);
  if (read === 'wrongtype') return redisErrorReply.wrongType;
  return reply.integer(read === 'absent' ? 0 : read.head.value.length);
});

const setrange = defineCommand('setrange', 4, ['write', 'denyoom'], [1, 1, 1], (ctx, argv) => {
  const offset = parseInt64(argv[2]!);
  if (offset === undefined) return redisErrorReply.notInteger;
  if (offset < 0n) return redisErrorReply.offsetOutOfRange;
  const value = argv[3]!;
  const read = readString(ctx, argv[1]!);
  if (read === 'wrongtype') return redisErrorReply.wrongType;
  const old = read === 'absent' ? undefined : read.head;
  if (value.length === 0) return reply.integer(old?.value.length ?? 0);
  if (offset + BigInt(value.length) > BigInt(ctx.keyspace.stringBytesMax)) return redisErrorReply.stringTooLong;
  const at = Number(offset);
  const oldValue = old?.value ?? new Uint8Array(0);
  const out = new Uint8Array(Math.max(oldValue.length, at + value.length));
  out.set(oldValue);
  out.set(value, at);
  const tooLong = writeString(ctx, argv[1]!, out, old?.expiresAtMs ?? 0);
  return tooLong ?? reply.integer(out.length);
});

function getrangeGeneric(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  let start = parseInt64(argv[2]!);
  if (start === undefined) return redisErrorReply.notInteger;
  let end = parseInt64(argv[3]!);
  if (end === undefined) return redisErrorReply.notInteger;
  const read = readString(ctx, argv[1]!);
  if (read === 'wrongtype') return redisErrorReply.wrongType;
  if (read === 'absent') return EMPTY_BULK;
  const value = read.head.value;
  const len = BigInt(value.length);
  if (start < 0n && end < 0n && start > end) return EMPTY_BULK;
  if (start < 0n) start += len;
  if (end < 0n) end += len;
  if (start < 0n) start = 0n;
  if (end < 0n) end = 0n;
  if (end >= len) end = len - 1n;
  if (start > end || len === 0n) return EMPTY_BULK;
  return reply.bulk(value.subarray(Number(start), Number(end) + 1));
}

const getrange = defineCommand('getrange', 4, ['readonly'], [1, 1, 1], getrangeGeneric);
const substr = defineCommand('substr', 4, ['readonly'], [1, 1, 1], getrangeGeneric);

/** incrDecrCommand: the old value (0 when absent) as an int64, plus `by`, TTL kept. */
function incrDecr(ctx: CommandContext, key: Uint8Array, by: bigint): RespValue {
  const read = readString(ctx, key);
  if (read === 'wrongtype') return redisErrorReply.wrongType;
  const old = read === 'absent' ? 0n : parseInt64(read.head.value);
  if (old === undefined) return redisErrorReply.notInteger;
  if ((by < 0n && old < 0n && by < int64.min - old) || (by > 0n && old > 0n && by > int64.max - old)) {
    return redisErrorReply.overflow;
  }
  const value = old + by;
  const tooLong = writeString(ctx, key, decimalBytes(value), read === 'absent' ? 0 : read.head.expiresAtMs);
  return tooLong ?? reply.integer(value);
}

const incr = defineCommand('incr', 2, ['write', 'denyoom', 'fast'], [1, 1, 1], (ctx, argv) =>
  incrDecr(ctx, argv[1]!, 1n),
);
const decr = defineCommand('decr', 2, ['write', 'denyoom', 'fast'], [1, 1, 1], (ctx, argv) =>
  incrDecr(ctx, argv[1]!, -1n),
);
const incrby = defineCommand('incrby', 3, ['write', 'denyoom', 'fast'], [1, 1, 1], (ctx, argv) => {
  const by = parseInt64(argv[2]!);
  return by === undefined ? redisErrorReply.notInteger : incrDecr(ctx, argv[1]!, by);
});
const decrby = defineCommand('decrby', 3, ['write', 'denyoom', 'fast'], [1, 1, 1], (ctx, argv) => {
  const by = parseInt64(argv[2]!);
  if (by === undefined) return redisErrorReply.notInteger;
  if (by === int64.min) return redisErrorReply.decrementOverflow;
  return incrDecr(ctx, argv[1]!, -by);
});

const incrbyfloat = defineCommand('incrbyfloat', 3, ['write', 'denyoom', 'fast'], [1, 1, 1], (ctx, argv) => {
  const read = readString(ctx, argv[1]!);
  if (read === 'wrongtype') return redisErrorReply.wrongType;
  const old = read === 'absent' ? parseLongDouble(new Uint8Array([0x30])) : parseLongDouble(read.head.value);
  const by = parseLongDouble(argv[2]!);
  if (old === undefined || by === undefined) return redisErrorReply.notFloat;
  const sum = addLongDouble(old, by);
  if (sum === undefined) return redisErrorReply.nanOrInfinity;
  const text = formatLongDouble(sum);
  const tooLong = writeString(ctx, argv[1]!, text, read === 'absent' ? 0 : read.head.expiresAtMs);
  return tooLong ?? reply.bulk(text);
});

export const stringCommands: readonly CommandSpec[] = [
  get,
  set,
  setnx,
  setex,
  psetex,
  mget,
  mset,
  msetnx,
  getset,
  getdel,
  getex,
  append,
  strlen,
  setrange,
  getrange,
  substr,
  incr,
  decr,
  incrby,
  decrby,
  incrbyfloat,
];
