// Goal: each string command's replies, options and error cases (Redis 7.0 t_string.c behaviour;
// the same commands run against a real redis-server in live.test.ts), here on the simulator's disk
// with virtual time, so expiry is checked to the millisecond and the tests run without Redis.
// Also our own bounds: a string over stringBytesMax gets Redis' proto-max-bulk-len error, and an
// expiry past 2^53 ms the "invalid expire time" error.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RedisHarness, show } from './testing.ts';

type Line = readonly [args: readonly string[], expected: unknown];

function transcript(h: RedisHarness, lines: readonly Line[]): void {
  for (const [args, expected] of lines) assert.deepEqual(show(h.run(...args)), expected, args.join(' '));
}

const WRONGTYPE = '-WRONGTYPE Operation against a key holding the wrong kind of value';
const NOT_INT = '-ERR value is not an integer or out of range';
const SYNTAX = '-ERR syntax error';

/** A key of another type than string (a list head written directly, as the list family would). */
function makeList(h: RedisHarness, key: string): void {
  h.keyspace.putHead(
    new TextEncoder().encode(key),
    { type: 'list', value: new Uint8Array(16), expiresAtMs: 0 },
    h.clock.nowMs,
  );
  h.keyspace.endCommand();
}

test('GET / SET with NX, XX, GET, KEEPTTL and the option conflicts', () => {
  const h = new RedisHarness();
  makeList(h, 'L');
  transcript(h, [
    [['GET', 'k'], null],
    [['SET', 'k', 'v'], '+OK'],
    [['GET', 'k'], 'v'],
    [['SET', 'k', 'w', 'NX'], null],
    [['SET', 'k', 'w', 'XX'], '+OK'],
    [['SET', 'n', 'w', 'XX'], null],
    [['SET', 'k', 'x', 'GET'], 'w'],
    [['SET', 'n', 'x', 'GET'], null],
    [['SET', 'n', 'y', 'NX', 'GET'], 'x'],
    [['GET', 'n'], 'x'],
    [['SET', 'k', 'v', 'NX', 'XX'], SYNTAX],
    [['SET', 'k', 'v', 'EX', '1', 'PX', '1'], SYNTAX],
    [['SET', 'k', 'v', 'KEEPTTL', 'EX', '1'], SYNTAX],
    [['SET', 'k', 'v', 'PERSIST'], SYNTAX],
    [['SET', 'k', 'v', 'EX'], SYNTAX],
    [['SET', 'k', 'v', 'EX', 'x'], NOT_INT],
    [['SET', 'k', 'v', 'EX', '0'], "-ERR invalid expire time in 'set' command"],
    [['SET', 'k', 'v', 'PX', '-1'], "-ERR invalid expire time in 'set' command"],
    [['SET', 'k', 'v', 'EX', '9223372036854776'], "-ERR invalid expire time in 'set' command"],
    [['SET', 'k'], "-ERR wrong number of arguments for 'set' command"],
    [['GET', 'L'], WRONGTYPE],
    [['SET', 'L', 'v', 'GET'], WRONGTYPE],
    [['SET', 'L', 'v'], '+OK'],
    [['GET', 'L'], 'v'],
  ]);
});

test('SET expiry: EX/PX relative, EXAT/PXAT absolute, KEEPTTL keeps, a plain SET clears', () => {
  const h = new RedisHarness();
  const now = h.clock.nowMs;
  transcript(h, [
    [['SET', 'k', 'v', 'PX', '100'], '+OK'],
    [['PTTL', 'k'], 100],
    [['SET', 'k', 'w', 'KEEPTTL'], '+OK'],
    [['PTTL', 'k'], 100],
  ]);
  h.clock.nowMs += 99;
  transcript(h, [[['GET', 'k'], 'w']]);
  h.clock.nowMs += 1;
  transcript(h, [
    [['GET', 'k'], null],
    [['SET', 'k', 'v', 'EX', '10'], '+OK'],
    [['TTL', 'k'], 10],
    [['SET', 'k', 'v'], '+OK'],
    [['TTL', 'k'], -1],
    [['SET', 'k', 'v', 'PXAT', String(now + 1000)], '+OK'],
    [['PTTL', 'k'], 900],
    [['SET', 'k', 'v', 'EXAT', String(Math.floor(now / 1000) + 5)], '+OK'],
    [['SET', 'k', 'v', 'PXAT', String(now)], '+OK'],
    [['EXISTS', 'k'], 0],
  ]);
});

test('SETNX, SETEX, PSETEX, GETSET, GETDEL', () => {
  const h = new RedisHarness();
  makeList(h, 'L');
  transcript(h, [
    [['SETNX', 'a', '1'], 1],
    [['SETNX', 'a', '2'], 0],
    [['SETEX', 'e', '5', 'v'], '+OK'],
    [['TTL', 'e'], 5],
    [['SETEX', 'e', '0', 'v'], "-ERR invalid expire time in 'setex' command"],
    [['SETEX', 'e', 'x', 'v'], NOT_INT],
    [['PSETEX', 'p', '1500', 'v'], '+OK'],
    [['PTTL', 'p'], 1500],
    [['PSETEX', 'p', '0', 'v'], "-ERR invalid expire time in 'psetex' command"],
    [['GETSET', 'e', 'w'], 'v'],
    [['TTL', 'e'], -1],
    [['GETSET', 'new', 'w'], null],
    [['GETSET', 'L', 'w'], WRONGTYPE],
    [['GETDEL', 'e'], 'w'],
    [['GETDEL', 'e'], null],
    [['GETDEL', 'L'], WRONGTYPE],
    [['TYPE', 'L'], '+list'],
  ]);
});

test('MGET, MSET, MSETNX (all or nothing), arity of MSET', () => {
  const h = new RedisHarness();
  makeList(h, 'L');
  transcript(h, [
    [['MSET', 'a', '1', 'b', '2'], '+OK'],
    [
      ['MGET', 'a', 'L', 'nokey', 'b'],
      ['1', null, null, '2'],
    ],
    [['MSET', 'a', '1', 'b'], "-ERR wrong number of arguments for 'mset' command"],
    [['MSETNX', 'a', '9', 'c', '9'], 0],
    [['EXISTS', 'c'], 0],
    [['MSETNX', 'c', '9', 'd', '9'], 1],
    [['MSETNX', 'x'], "-ERR wrong number of arguments for 'msetnx' command"],
    [['MSET', 'L', 'now-a-string'], '+OK'],
    [['GET', 'L'], 'now-a-string'],
  ]);
});

test('GETEX: EX/PX/EXAT/PXAT/PERSIST, conflicts, and EXAT in the past deletes', () => {
  const h = new RedisHarness();
  makeList(h, 'L');
  const now = h.clock.nowMs;
  transcript(h, [
    [['SET', 'k', 'v'], '+OK'],
    [['GETEX', 'k'], 'v'],
    [['GETEX', 'k', 'PX', '500'], 'v'],
    [['PTTL', 'k'], 500],
    [['GETEX', 'k', 'PERSIST'], 'v'],
    [['PTTL', 'k'], -1],
    [['GETEX', 'k', 'EXAT', String(Math.floor(now / 1000) + 10)], 'v'],
    [['GETEX', 'k', 'EX', '1', 'PERSIST'], SYNTAX],
    [['GETEX', 'k', 'KEEPTTL'], SYNTAX],
    [['GETEX', 'k', 'NX'], SYNTAX],
    [['GETEX', 'k', 'EX', '0'], "-ERR invalid expire time in 'getex' command"],
    [['GETEX', 'nokey', 'EX', '0'], null],
    [['GETEX', 'L'], WRONGTYPE],
    [['GETEX', 'k', 'PXAT', String(now - 1)], 'v'],
    [['EXISTS', 'k'], 0],
  ]);
});

test('APPEND, STRLEN, SETRANGE, GETRANGE, SUBSTR: TTL kept, ranges clamped, errors', () => {
  const h = new RedisHarness({ keyspace: { stringBytesMax: 16 } });
  makeList(h, 'L');
  transcript(h, [
    [['SET', 's', 'abc', 'PX', '1000'], '+OK'],
    [['APPEND', 's', 'def'], 6],
    [['PTTL', 's'], 1000],
    [['STRLEN', 's'], 6],
    [['STRLEN', 'nokey'], 0],
    [['SETRANGE', 's', '8', 'Z'], 9],
    [['GET', 's'], 'abcdef\u0000\u0000Z'],
    [['SETRANGE', 's', '0', ''], 9],
    [['SETRANGE', 'n', '2', ''], 0],
    [['EXISTS', 'n'], 0],
    [['SETRANGE', 's', '-1', 'x'], '-ERR offset is out of range'],
    [['SETRANGE', 's', 'x', 'x'], NOT_INT],
    [['SETRANGE', 's', '16', 'x'], '-ERR string exceeds maximum allowed size (proto-max-bulk-len)'],
    [['SETRANGE', 's', '15', 'x'], 16],
    [['APPEND', 's', 'x'], '-ERR string exceeds maximum allowed size (proto-max-bulk-len)'],
    [['SET', 'big', 'x'.repeat(17)], '-ERR string exceeds maximum allowed size (proto-max-bulk-len)'],
    [['SET', 'g', 'This is a string'], '+OK'],
    [['GETRANGE', 'g', '0', '3'], 'This'],
    [['GETRANGE', 'g', '-3', '-1'], 'ing'],
    [['GETRANGE', 'g', '5', '2'], ''],
    [['GETRANGE', 'g', '-1', '-5'], ''],
    [['GETRANGE', 'g', '10', '100'], 'string'],
    [['GETRANGE', 'g', 'a', '1'], NOT_INT],
    [['GETRANGE', 'nokey', '0', '1'], ''],
    [['SUBSTR', 'g', '0', '3'], 'This'],
    [['APPEND', 'L', 'x'], WRONGTYPE],
    [['STRLEN', 'L'], WRONGTYPE],
    [['SETRANGE', 'L', '0', 'x'], WRONGTYPE],
    [['GETRANGE', 'L', '0', '1'], WRONGTYPE],
  ]);
});

test('INCR family: 64-bit bounds, overflow, parse errors, TTL kept', () => {
  const h = new RedisHarness();
  makeList(h, 'L');
  transcript(h, [
    [['INCR', 'n'], 1],
    [['INCRBY', 'n', '41'], 42],
    [['DECR', 'n'], 41],
    [['DECRBY', 'n', '50'], -9],
    [['SET', 'n', '9223372036854775807', 'PX', '700'], '+OK'],
    [['INCR', 'n'], '-ERR increment or decrement would overflow'],
    [['DECR', 'n'], Number('9223372036854775806')],
    [['PTTL', 'n'], 700],
    [['SET', 'm', '-9223372036854775808'], '+OK'],
    [['DECR', 'm'], '-ERR increment or decrement would overflow'],
    [['DECRBY', 'm', '-9223372036854775808'], '-ERR decrement would overflow'],
    [['INCRBY', 'm', '9223372036854775808'], NOT_INT],
    [['SET', 'x', '01'], '+OK'],
    [['INCR', 'x'], NOT_INT],
    [['SET', 'x', ' 1'], '+OK'],
    [['INCR', 'x'], NOT_INT],
    [['SET', 'x', '-0'], '+OK'],
    [['INCR', 'x'], NOT_INT],
    [['INCR', 'L'], WRONGTYPE],
    [['INCRBY', 'n', '1.5'], NOT_INT],
  ]);
});

test('INCRBYFLOAT: long double sums and "%.17Lf" text, refusals as Redis', () => {
  const h = new RedisHarness();
  makeList(h, 'L');
  transcript(h, [
    [['SET', 'f', '10.50'], '+OK'],
    [['INCRBYFLOAT', 'f', '0.1'], '10.6'],
    [['INCRBYFLOAT', 'f', '-5.0e3'], '-4989.39999999999999991'],
    [['INCRBYFLOAT', 'g', '3.0e3'], '3000'],
    [['INCRBYFLOAT', 'g', '0x1.8p1'], '3003'],
    [['INCRBYFLOAT', 'g', '-3003'], '0'],
    [['INCRBYFLOAT', 'g', 'inf'], '-ERR increment would produce NaN or Infinity'],
    [['INCRBYFLOAT', 'g', 'nan'], '-ERR value is not a valid float'],
    [['INCRBYFLOAT', 'g', '1e5000'], '-ERR value is not a valid float'],
    [['INCRBYFLOAT', 'g', '1e-5000'], '-ERR value is not a valid float'],
    [['INCRBYFLOAT', 'g', ' 1'], '-ERR value is not a valid float'],
    [['INCRBYFLOAT', 'g', '1e'], '-ERR value is not a valid float'],
    [['SET', 'h', '1e4931'], '+OK'],
    [['INCRBYFLOAT', 'h', '1.1e4932'], '-ERR increment would produce NaN or Infinity'],
    [['INCRBYFLOAT', 'h', '1.2e4932'], '-ERR value is not a valid float'],
    [['INCRBYFLOAT', 'L', '1'], WRONGTYPE],
  ]);
});
