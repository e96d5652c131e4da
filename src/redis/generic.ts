// The generic key commands (Redis 7.0.15 db.c and expire.c, implemented from their behaviour):
// DEL, UNLINK, EXISTS, TYPE, RENAME, RENAMENX, EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (NX/XX/GT/LT),
// TTL, PTTL, EXPIRETIME, PEXPIRETIME, PERSIST, TOUCH, SCAN, KEYS, RANDOMKEY, DBSIZE, FLUSHALL,
// FLUSHDB. Costs that differ from Redis (keyspace.ts has the why): DEL/UNLINK of a collection
// remove its head and at most 1,024 elements at once and leave the rest to the sweep (on the
// node's keyspace: lazyElementDeletes; UNLINK is DEL); RENAME of a collection copies it element by
// element, O(elements) writes in the command's one batch (bounded by redisCommandBatchBytesMax);
// DBSIZE walks the heads below redisCountWalkKeysMax keys; KEYS past redisKeysCountMax keys
// answers an error naming SCAN; FLUSHALL and FLUSHALL ASYNC drop every entry at once (the
// engine's truncate: O(runs), whatever the keyspace's size).

import { bytesEqual } from '../lib/bytes.ts';
import { limits } from '../lib/limits.ts';
import { reply, type RespValue } from '../wire/resp/index.ts';
import { int64, optionIs, parseInt64 } from './args.ts';
import { type CommandContext, type CommandSpec, defineCommand } from './command.ts';
import { invalidExpireTimeError, limitError, redisErrorReply, unsupportedOptionError } from './errors.ts';
import { globMatch } from './glob.ts';

const ZERO = reply.integer(0);
const ONE = reply.integer(1);

function deleteKeys(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  let n = 0;
  for (let j = 1; j < argv.length; j++) if (ctx.keyspace.deleteKey(argv[j]!, ctx.nowMs)) n++;
  return reply.integer(n);
}

/** Live keys among argv[1..] (repeats counted: EXISTS a a = 2). */
function countLive(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  let n = 0;
  for (let j = 1; j < argv.length; j++) if (ctx.keyspace.getHead(argv[j]!, ctx.nowMs) !== undefined) n++;
  return reply.integer(n);
}

const del = defineCommand('del', -2, ['write'], [1, -1, 1], deleteKeys);
const unlink = defineCommand('unlink', -2, ['write', 'fast'], [1, -1, 1], deleteKeys);
const exists = defineCommand('exists', -2, ['readonly', 'fast'], [1, -1, 1], countLive);
const touch = defineCommand('touch', -2, ['readonly', 'fast'], [1, -1, 1], countLive);

const type = defineCommand('type', 2, ['readonly', 'fast'], [1, 1, 1], (ctx, argv) =>
  reply.simple(ctx.keyspace.typeOf(argv[1]!, ctx.nowMs) ?? 'none'),
);

// OBJECT FREQ | IDLETIME | REFCOUNT key (Redis 7.0 object.c): from the keyspace's access sketch
// (eviction.ts), which tracks only while maxmemory is set with an LRU or LFU policy (Redis tracks
// LRU always); without it the answer is an error saying so. Reading is not an access. REFCOUNT is 1
// (Redis shares small integers: 2147483647 for those). ENCODING and HELP are not offered.
const LFU_SELECTED =
  'ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.';
const LFU_NOT_SELECTED =
  'ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.';

// Redis' COMMAND INFO: a container, no flags, no key positions (routing.ts knows its key).
const object = defineCommand('object', -2, [], [0, 0, 0], (ctx, argv) => {
  const sub = new TextDecoder().decode(argv[1]!).toLowerCase();
  if (!['freq', 'idletime', 'refcount'].includes(sub)) {
    return reply.error(`ERR unknown subcommand '${new TextDecoder().decode(argv[1]!)}'. Try OBJECT HELP.`);
  }
  if (argv.length !== 3) return reply.error(`ERR wrong number of arguments for 'object|${sub}' command`);
  const key = argv[2]!;
  if (ctx.keyspace.peekHead(key, ctx.nowMs) === undefined) return reply.null;
  if (sub === 'refcount') return ONE;
  const sketch = ctx.keyspace.access;
  const mode = sketch?.tracking ?? 'off';
  if (sub === 'idletime' && mode === 'lfu') return reply.error(LFU_SELECTED);
  if (sub === 'freq' && mode !== 'lfu') {
    return mode === 'lru' ? reply.error(LFU_NOT_SELECTED) : reply.error(`${LFU_NOT_SELECTED} ${NOT_TRACKED}`);
  }
  if (sketch === undefined || mode === 'off') return reply.error(`ERR idle time not tracked. ${NOT_TRACKED}`);
  sketch.nowMs = ctx.nowMs;
  const storageKey = ctx.keyspace.peekHeadKey(key);
  return reply.integer(sub === 'freq' ? sketch.frequency(storageKey) : Math.floor(sketch.idleMs(storageKey) / 1000));
});
const NOT_TRACKED = '(Baristas tracks accesses only while maxmemory is set with an LRU or LFU maxmemory-policy.)';

function renameGeneric(ctx: CommandContext, argv: readonly Uint8Array[], nx: boolean): RespValue {
  const [, from, to] = argv as [Uint8Array, Uint8Array, Uint8Array];
  if (ctx.keyspace.getHead(from, ctx.nowMs) === undefined) return redisErrorReply.noSuchKey;
  if (bytesEqual(from, to)) return nx ? ZERO : reply.ok;
  if (nx && ctx.keyspace.getHead(to, ctx.nowMs) !== undefined) return ZERO;
  ctx.keyspace.renameKey(from, to, ctx.nowMs);
  return nx ? ONE : reply.ok;
}

const rename = defineCommand('rename', 3, ['write'], [1, 2, 1], (ctx, argv) => renameGeneric(ctx, argv, false));
const renamenx = defineCommand('renamenx', 3, ['write', 'fast'], [1, 2, 1], (ctx, argv) =>
  renameGeneric(ctx, argv, true),
);

const ExpireFlag = { nx: 1, xx: 2, gt: 4, lt: 8 } as const;

/** EXPIRE's request after its argument checks: NX/XX/GT/LT flags and the absolute deadline (ms). */
export interface ExpireRequest {
  readonly flags: number;
  readonly when: bigint;
}

/**
 * expire.c expireGenericCommand, its argument half: the options and the absolute deadline, or the
 * error reply. `relative`: EXPIRE/PEXPIRE (from `nowMs`); `seconds`: EXPIRE/EXPIREAT.
 */
export function parseExpireArgs(
  argv: readonly Uint8Array[],
  name: string,
  relative: boolean,
  seconds: boolean,
  nowMs: number,
): ExpireRequest | RespValue {
  let flags = 0;
  for (let j = 3; j < argv.length; j++) {
    const opt = argv[j]!;
    if (optionIs(opt, 'nx')) flags |= ExpireFlag.nx;
    else if (optionIs(opt, 'xx')) flags |= ExpireFlag.xx;
    else if (optionIs(opt, 'gt')) flags |= ExpireFlag.gt;
    else if (optionIs(opt, 'lt')) flags |= ExpireFlag.lt;
    else return unsupportedOptionError(opt);
  }
  if ((flags & ExpireFlag.nx) !== 0 && (flags & (ExpireFlag.xx | ExpireFlag.gt | ExpireFlag.lt)) !== 0) {
    return redisErrorReply.expireNxConflict;
  }
  if ((flags & ExpireFlag.gt) !== 0 && (flags & ExpireFlag.lt) !== 0) return redisErrorReply.expireGtLtConflict;
  let when = parseInt64(argv[2]!);
  if (when === undefined) return redisErrorReply.notInteger;
  if (seconds) {
    // C's LLONG_MAX / 1000 and LLONG_MIN / 1000 truncate toward zero, as bigint division does.
    if (when > int64.max / 1000n || when < int64.min / 1000n) return invalidExpireTimeError(name);
    when *= 1000n;
  }
  const base = relative ? BigInt(nowMs) : 0n;
  if (when > int64.max - base) return invalidExpireTimeError(name);
  return { flags, when: when + base };
}

/**
 * expire.c expireGenericCommand, its decision for a key whose deadline is `currentMs` (0: none;
 * undefined: no such key): leave it (`zero`), delete it (a deadline not in the future), or set
 * the deadline; or the error reply.
 */
export function expireOutcome(
  req: ExpireRequest,
  currentMs: number | undefined,
  nowMs: number,
  name: string,
): 'zero' | 'delete' | { readonly deadlineMs: number } | RespValue {
  if (currentMs === undefined) return 'zero';
  const { flags, when } = req;
  const current = currentMs === 0 ? -1n : BigInt(currentMs);
  if ((flags & ExpireFlag.nx) !== 0 && current !== -1n) return 'zero';
  if ((flags & ExpireFlag.xx) !== 0 && current === -1n) return 'zero';
  if ((flags & ExpireFlag.gt) !== 0 && (when <= current || current === -1n)) return 'zero';
  if ((flags & ExpireFlag.lt) !== 0 && current !== -1n && when >= current) return 'zero';
  if (when <= BigInt(nowMs)) return 'delete';
  // Ours: the engine keeps deadlines as safe integers (year 287,396); Redis accepts up to 2^63 - 1.
  if (when > BigInt(Number.MAX_SAFE_INTEGER)) return invalidExpireTimeError(name);
  return { deadlineMs: Number(when) };
}

/** expire.c expireGenericCommand on the local keyspace. */
function expireGeneric(
  ctx: CommandContext,
  argv: readonly Uint8Array[],
  name: string,
  relative: boolean,
  seconds: boolean,
): RespValue {
  const req = parseExpireArgs(argv, name, relative, seconds, ctx.nowMs);
  if ('type' in req) return req;
  const key = argv[1]!;
  const head = ctx.keyspace.getHead(key, ctx.nowMs);
  const outcome = expireOutcome(req, head === undefined ? undefined : head.expiresAtMs, ctx.nowMs, name);
  if (outcome === 'zero') return ZERO;
  if (outcome === 'delete') {
    ctx.keyspace.deleteKey(key, ctx.nowMs);
    return ONE;
  }
  if ('type' in outcome) return outcome;
  ctx.keyspace.setExpiry(key, outcome.deadlineMs, ctx.nowMs);
  return ONE;
}

const expire = defineCommand('expire', -3, ['write', 'fast'], [1, 1, 1], (ctx, argv) =>
  expireGeneric(ctx, argv, 'expire', true, true),
);
const pexpire = defineCommand('pexpire', -3, ['write', 'fast'], [1, 1, 1], (ctx, argv) =>
  expireGeneric(ctx, argv, 'pexpire', true, false),
);
const expireat = defineCommand('expireat', -3, ['write', 'fast'], [1, 1, 1], (ctx, argv) =>
  expireGeneric(ctx, argv, 'expireat', false, true),
);
const pexpireat = defineCommand('pexpireat', -3, ['write', 'fast'], [1, 1, 1], (ctx, argv) =>
  expireGeneric(ctx, argv, 'pexpireat', false, false),
);

/** expire.c ttlGenericCommand's reply for a key whose deadline is `expiresAtMs` (0: none; undefined: no key). */
export function ttlReply(expiresAtMs: number | undefined, nowMs: number, ms: boolean, absolute: boolean): RespValue {
  if (expiresAtMs === undefined) return reply.integer(-2);
  if (expiresAtMs === 0) return reply.integer(-1);
  const ttl = Math.max(0, absolute ? expiresAtMs : expiresAtMs - nowMs);
  return reply.integer(ms ? ttl : Math.floor((ttl + 500) / 1000));
}

/** expire.c ttlGenericCommand. */
function ttlGeneric(ctx: CommandContext, key: Uint8Array, ms: boolean, absolute: boolean): RespValue {
  return ttlReply(ctx.keyspace.getHead(key, ctx.nowMs)?.expiresAtMs, ctx.nowMs, ms, absolute);
}

const ttl = defineCommand('ttl', 2, ['readonly', 'fast'], [1, 1, 1], (ctx, argv) =>
  ttlGeneric(ctx, argv[1]!, false, false),
);
const pttl = defineCommand('pttl', 2, ['readonly', 'fast'], [1, 1, 1], (ctx, argv) =>
  ttlGeneric(ctx, argv[1]!, true, false),
);
const expiretime = defineCommand('expiretime', 2, ['readonly', 'fast'], [1, 1, 1], (ctx, argv) =>
  ttlGeneric(ctx, argv[1]!, false, true),
);
const pexpiretime = defineCommand('pexpiretime', 2, ['readonly', 'fast'], [1, 1, 1], (ctx, argv) =>
  ttlGeneric(ctx, argv[1]!, true, true),
);

const persist = defineCommand('persist', 2, ['write', 'fast'], [1, 1, 1], (ctx, argv) => {
  const head = ctx.keyspace.getHead(argv[1]!, ctx.nowMs);
  if (head === undefined || head.expiresAtMs === 0) return ZERO;
  ctx.keyspace.setExpiry(argv[1]!, 0, ctx.nowMs);
  return ONE;
});

const U64_MAX = (1n << 64n) - 1n;

/**
 * db.c parseScanCursorOrReply: C strtoul(base 10) over the argument as a C string, refused when it
 * starts with a blank, leaves bytes unread or is out of range. strtoul takes a sign ("-1" is
 * 2^64 - 1) and reads "" as 0.
 */
export function parseScanCursor(arg: Uint8Array): bigint | undefined {
  let n = arg.indexOf(0);
  if (n < 0) n = arg.length;
  if (n === 0) return 0n;
  const first = arg[0]!;
  if (first === 0x20 || (first >= 0x09 && first <= 0x0d)) return undefined;
  let i = 0;
  let neg = false;
  if (first === 0x2b || first === 0x2d) {
    neg = first === 0x2d;
    i = 1;
  }
  if (i >= n) return undefined; // a lone sign: no conversion, the sign is left unread
  let v = 0n;
  for (; i < n; i++) {
    const b = arg[i]!;
    if (b < 0x30 || b > 0x39) return undefined;
    v = v * 10n + BigInt(b - 0x30);
    if (v > U64_MAX) return undefined; // ERANGE
  }
  return neg ? (U64_MAX + 1n - v) & U64_MAX : v;
}

/** SCAN's arguments: the cursor, COUNT (capped at redisScanEntriesMax), MATCH (none for `*`), TYPE. */
export interface ScanArgs {
  readonly cursor: bigint;
  readonly count: number;
  readonly match?: (key: Uint8Array) => boolean;
  readonly type?: string;
}

/** db.c scanGenericCommand's parsing, its errors as replies (SCAN at N = 1 and at N > 1). */
export function parseScanArgs(argv: readonly Uint8Array[]): ScanArgs | RespValue {
  const cursor = parseScanCursor(argv[1]!);
  if (cursor === undefined) return redisErrorReply.invalidCursor;
  let count = 10;
  let pattern: Uint8Array | undefined;
  let typeName: string | undefined;
  for (let i = 2; i < argv.length; i += 2) {
    const opt = argv[i]!;
    const hasValue = argv.length - i >= 2;
    if (optionIs(opt, 'count') && hasValue) {
      const c = parseInt64(argv[i + 1]!);
      if (c === undefined) return redisErrorReply.notInteger;
      if (c < 1n) return redisErrorReply.syntax;
      count = c > BigInt(limits.redisScanEntriesMax) ? limits.redisScanEntriesMax : Number(c);
    } else if (optionIs(opt, 'match') && hasValue) {
      pattern = argv[i + 1]!;
    } else if (optionIs(opt, 'type') && hasValue) {
      const t = argv[i + 1]!;
      const nul = t.indexOf(0);
      typeName = String.fromCharCode(...(nul < 0 ? t : t.subarray(0, nul)));
    } else {
      return redisErrorReply.syntax;
    }
  }
  const usePattern = pattern !== undefined && !(pattern.length === 1 && pattern[0] === 0x2a);
  return {
    cursor,
    count,
    ...(typeName === undefined ? {} : { type: typeName }),
    ...(usePattern ? { match: (k: Uint8Array) => globMatch(pattern!, k) } : {}),
  };
}

/** The reply of a SCAN page: the next cursor (0: done) and the keys. */
export function scanReply(cursor: bigint, keys: readonly Uint8Array[]): RespValue {
  return reply.array([reply.bulk(cursor.toString()), reply.array(keys.map((k) => reply.bulk(k)))]);
}

/** KEYS' filter: every key for `*`, else the glob. */
export function keysMatcher(pattern: Uint8Array): (key: Uint8Array) => boolean {
  return pattern.length === 1 && pattern[0] === 0x2a ? () => true : (k) => globMatch(pattern, k);
}

/** KEYS past redisKeysCountMax keys. */
export const tooManyKeysReply = (): RespValue =>
  limitError(`KEYS would return more than ${limits.redisKeysCountMax} keys: use SCAN`, 'redisKeysCountMax');

const scan = defineCommand('scan', -2, ['readonly'], [0, 0, 0], (ctx, argv) => {
  const args = parseScanArgs(argv);
  if (!('cursor' in args)) return args;
  const page = ctx.keyspace.scanKeys(
    args.cursor,
    {
      count: args.count,
      ...(args.type === undefined ? {} : { type: args.type }),
      ...(args.match === undefined ? {} : { match: args.match }),
    },
    ctx.nowMs,
  );
  return scanReply(page.cursor, page.keys);
});

const keys = defineCommand('keys', 2, ['readonly'], [0, 0, 0], (ctx, argv) => {
  const found = ctx.keyspace.keys(ctx.nowMs, keysMatcher(argv[1]!), limits.redisKeysCountMax);
  if (found === undefined) return tooManyKeysReply();
  return reply.array(found.map((k) => reply.bulk(k)));
});

const randomkey = defineCommand('randomkey', 1, ['readonly'], [0, 0, 0], (ctx) => {
  const key = ctx.keyspace.randomKey(ctx.nowMs, ctx.rng.bytes(8));
  return key === undefined ? reply.null : reply.bulk(key);
});

const dbsize = defineCommand('dbsize', 1, ['readonly', 'fast'], [0, 0, 0], (ctx) =>
  reply.integer(ctx.keyspace.size(ctx.nowMs)),
);

/** db.c getFlushCommandFlags: nothing, SYNC or ASYNC; Redis' syntax error otherwise. */
export function flushArgsError(argv: readonly Uint8Array[]): RespValue | undefined {
  if (argv.length > 2 || (argv.length === 2 && !optionIs(argv[1]!, 'sync') && !optionIs(argv[1]!, 'async'))) {
    return redisErrorReply.syntax;
  }
  return undefined;
}

/** FLUSHALL / FLUSHDB [SYNC|ASYNC] (both drop every entry at once here: Keyspace.flushAll). */
function flush(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const bad = flushArgsError(argv);
  if (bad !== undefined) return bad;
  ctx.keyspace.flushAll();
  return reply.ok;
}

const flushall = defineCommand('flushall', -1, ['write'], [0, 0, 0], flush);
const flushdb = defineCommand('flushdb', -1, ['write'], [0, 0, 0], flush);

export const genericCommands: readonly CommandSpec[] = [
  del,
  unlink,
  exists,
  touch,
  type,
  object,
  rename,
  renamenx,
  expire,
  pexpire,
  expireat,
  pexpireat,
  ttl,
  pttl,
  expiretime,
  pexpiretime,
  persist,
  scan,
  keys,
  randomkey,
  dbsize,
  flushall,
  flushdb,
];
