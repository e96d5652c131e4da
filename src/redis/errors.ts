// Redis' exact error replies for the data commands, as Redis 7.0.15 sends them (server.c's shared
// objects createSharedObjects, networking.c's addReplyErrorArity / addReplyErrorExpireTime,
// t_string.c, expire.c, db.c). One place, so every family answers the same bytes and the live
// comparison test (src/redis/live.test.ts) checks them once. The texts include Redis' "ERR " /
// "WRONGTYPE " prefix: a reply is `reply.error(text)` as is.

import type { RespValue } from '../wire/resp/index.ts';

const error = (message: string): RespValue => ({ type: 'error', message });

/** Texts without a parameter (server.c shared.*, and the fixed addReplyError texts). */
export const RedisError = {
  wrongType: 'WRONGTYPE Operation against a key holding the wrong kind of value',
  notInteger: 'ERR value is not an integer or out of range',
  notFloat: 'ERR value is not a valid float',
  syntax: 'ERR syntax error',
  noSuchKey: 'ERR no such key',
  overflow: 'ERR increment or decrement would overflow',
  decrementOverflow: 'ERR decrement would overflow',
  nanOrInfinity: 'ERR increment would produce NaN or Infinity',
  stringTooLong: 'ERR string exceeds maximum allowed size (proto-max-bulk-len)',
  offsetOutOfRange: 'ERR offset is out of range',
  invalidCursor: 'ERR invalid cursor',
  expireNxConflict: 'ERR NX and XX, GT or LT options at the same time are not compatible',
  expireGtLtConflict: 'ERR GT and LT options at the same time are not compatible',
  /** Redis' `shared.outofrangeerr` (getLongFromObjectOrReply's range check with a message: none here). */
  outOfRange: 'ERR value is out of range',
} as const;

/** The replies of the texts above, built once. */
export const redisErrorReply = {
  wrongType: error(RedisError.wrongType),
  notInteger: error(RedisError.notInteger),
  notFloat: error(RedisError.notFloat),
  syntax: error(RedisError.syntax),
  noSuchKey: error(RedisError.noSuchKey),
  overflow: error(RedisError.overflow),
  decrementOverflow: error(RedisError.decrementOverflow),
  nanOrInfinity: error(RedisError.nanOrInfinity),
  stringTooLong: error(RedisError.stringTooLong),
  offsetOutOfRange: error(RedisError.offsetOutOfRange),
  invalidCursor: error(RedisError.invalidCursor),
  expireNxConflict: error(RedisError.expireNxConflict),
  expireGtLtConflict: error(RedisError.expireGtLtConflict),
} as const;

/** Bytes as Redis prints them in a "%s": one char per byte (latin1), so the reply carries the bytes. */
function latin1(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

/** The bytes a C "%s" prints: up to the first NUL. */
function cString(bytes: Uint8Array): Uint8Array {
  const nul = bytes.indexOf(0);
  return nul < 0 ? bytes : bytes.subarray(0, nul);
}

/** addReplyErrorArity: `name` is the command's full name in lower case (c->cmd->fullname). */
export function wrongArityError(name: string): RespValue {
  return error(`ERR wrong number of arguments for '${name}' command`);
}

/** addReplyErrorExpireTime: "invalid expire time in 'set' command" (the command's lower-case name). */
export function invalidExpireTimeError(name: string): RespValue {
  return error(`ERR invalid expire time in '${name}' command`);
}

/** expire.c parseExtendedExpireArgumentsOrReply: the option's bytes as sent (up to a NUL, as C reads it). */
export function unsupportedOptionError(option: Uint8Array): RespValue {
  return error(`ERR Unsupported option ${latin1(cString(option))}`);
}

/**
 * server.c processCommand: "unknown command '<name>', with args beginning with: '<a>' '<b>' ...";
 * the session (helper C) sends it. Redis cuts each shown text at 128 bytes and lists args while the
 * total stays under 128 bytes; each is printed by "%s" (up to a NUL); CR and LF become spaces.
 */
export function unknownCommandError(argv: readonly Uint8Array[]): RespValue {
  const shown = (b: Uint8Array): string => latin1(cString(b).subarray(0, 128)).replace(/[\r\n]/g, ' ');
  let args = '';
  for (let i = 1; i < argv.length && args.length < 128; i++) {
    args += `'${shown(argv[i]!).slice(0, 128 - args.length)}' `;
  }
  return error(`ERR unknown command '${shown(argv[0] ?? new Uint8Array(0))}', with args beginning with: ${args}`);
}

/** Our own text for a write over one of our bounds (Redis has none: it has no such bound). */
export function limitError(what: string, limitName: string): RespValue {
  return error(`ERR ${what} (${limitName})`);
}
