// Redis hashes (t_hash.c, 7.0.15 behaviour): one element entry per field (sub = the field, value
// = the field's value; keys.ts), the field count in the head. HSET / HDEL / HINCRBY write one
// entry and the head whatever the hash's size; HGETALL / HKEYS / HVALS / HRANDFIELD / HSCAN scan
// the hash's range. Replies in field byte order (Redis' small hashes answer in insertion order,
// large ones in hash-table order: clients must not rely on either).

import { reply, type RespValue } from '../wire/resp/index.ts';
import type { CommandContext, CommandSpec } from './command.ts';
import { collErrors, int64Arg, isOption, longMax, longMin, parseInt64, randomCountArgs } from './coll-parse.ts';
import { scanCommand } from './coll-scan.ts';
import {
  collSpec,
  createColl,
  decodeCount,
  deleteColl,
  deleteElem,
  type Element,
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
import { wrongArityError } from './errors.ts';
import { addLongDouble, formatLongDouble, parseLongDouble } from './long-double.ts';

const empty = new Uint8Array(0);
const utf8 = new TextEncoder();
const zeroText = utf8.encode('0');

/** The hash's fields and values in field byte order (sub-keys are tagged fields: elements.ts). */
function* all(ctx: CommandContext, key: Uint8Array): Generator<Element> {
  for (const e of elems(ctx, key, empty, null)) yield { sub: untagged(e.sub), value: e.value };
}

const fieldGet = (ctx: CommandContext, key: Uint8Array, field: Uint8Array): Uint8Array | undefined =>
  getElem(ctx, key, tagged(field));

/** Sets fields on an existing or new hash; the number of fields created. */
function setFields(
  ctx: CommandContext,
  key: Uint8Array,
  head: Uint8Array | null,
  pairs: readonly Uint8Array[],
): number {
  let count = head === null ? 0 : decodeCount(head);
  if (head === null) createColl(ctx, key, 'hash', encodeCount(0));
  let created = 0;
  for (let i = 0; i < pairs.length; i += 2) {
    if (fieldGet(ctx, key, pairs[i]!) === undefined) created++;
    putElem(ctx, key, tagged(pairs[i]!), pairs[i + 1]!);
  }
  count += created;
  if (created > 0 || head === null) putHead(ctx, key, 'hash', encodeCount(count));
  return created;
}

function hset(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  if (argv.length % 2 === 1) return wrongArityError(isOption(argv[0]!, 'hmset') ? 'hmset' : 'hset');
  const head = openColl(ctx, argv[1]!, 'hash');
  if (isReply(head)) return head;
  const created = setFields(ctx, argv[1]!, head, argv.slice(2));
  return isOption(argv[0]!, 'hmset') ? reply.ok : reply.integer(created);
}

function hsetnx(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const head = openColl(ctx, argv[1]!, 'hash');
  if (isReply(head)) return head;
  if (head !== null && fieldGet(ctx, argv[1]!, argv[2]!) !== undefined) return reply.integer(0);
  setFields(ctx, argv[1]!, head, [argv[2]!, argv[3]!]);
  return reply.integer(1);
}

function hget(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const head = openColl(ctx, argv[1]!, 'hash');
  if (isReply(head)) return head;
  const v = head === null ? undefined : fieldGet(ctx, argv[1]!, argv[2]!);
  return v === undefined ? reply.null : reply.bulk(v);
}

function hmget(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const head = openColl(ctx, argv[1]!, 'hash');
  if (isReply(head)) return head;
  return reply.array(
    argv.slice(2).map((f) => {
      const v = head === null ? undefined : fieldGet(ctx, argv[1]!, f);
      return v === undefined ? reply.null : reply.bulk(v);
    }),
  );
}

function hdel(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const key = argv[1]!;
  const head = openColl(ctx, key, 'hash');
  if (isReply(head)) return head;
  if (head === null) return reply.integer(0);
  let count = decodeCount(head);
  let deleted = 0;
  for (const f of argv.slice(2)) {
    if (fieldGet(ctx, key, f) === undefined) continue;
    deleteElem(ctx, key, tagged(f));
    deleted++;
    count--;
    if (count === 0) break; // Redis stops at an emptied hash and deletes the key
  }
  if (count === 0) deleteColl(ctx, key);
  else if (deleted > 0) putHead(ctx, key, 'hash', encodeCount(count));
  return reply.integer(deleted);
}

function hlen(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const head = openColl(ctx, argv[1]!, 'hash');
  if (isReply(head)) return head;
  return reply.integer(head === null ? 0 : decodeCount(head));
}

function hexists(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const head = openColl(ctx, argv[1]!, 'hash');
  if (isReply(head)) return head;
  return reply.integer(head !== null && fieldGet(ctx, argv[1]!, argv[2]!) !== undefined ? 1 : 0);
}

function hstrlen(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const head = openColl(ctx, argv[1]!, 'hash');
  if (isReply(head)) return head;
  return reply.integer(head === null ? 0 : (fieldGet(ctx, argv[1]!, argv[2]!)?.length ?? 0));
}

function hgetallLike(what: 'keys' | 'vals' | 'all') {
  return (ctx: CommandContext, argv: readonly Uint8Array[]): RespValue => {
    const head = openColl(ctx, argv[1]!, 'hash');
    if (isReply(head)) return head;
    const found = head === null ? [] : [...all(ctx, argv[1]!)];
    if (what === 'all') return { type: 'map', entries: found.map((e) => [reply.bulk(e.sub), reply.bulk(e.value)]) };
    return reply.array(found.map((e) => reply.bulk(what === 'keys' ? e.sub : e.value)));
  };
}

function hincrby(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const incr = int64Arg(argv[3]!);
  if (isReply(incr)) return incr;
  const key = argv[1]!;
  const head = openColl(ctx, key, 'hash');
  if (isReply(head)) return head;
  const stored = head === null ? undefined : fieldGet(ctx, key, argv[2]!);
  let value = 0n;
  if (stored !== undefined) {
    const v = parseInt64(stored);
    if (v === undefined) return reply.error('ERR hash value is not an integer');
    value = v;
  }
  const sum = value + incr;
  if (sum > longMax || sum < longMin) return reply.error('ERR increment or decrement would overflow');
  setFields(ctx, key, head, [argv[2]!, utf8.encode(sum.toString())]);
  return reply.integer(sum);
}

function hincrbyfloat(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const incr = parseLongDouble(argv[3]!);
  if (incr === undefined) return collErrors.notFloat;
  if (incr.kind === 'inf') return reply.error('ERR value is NaN or Infinity');
  const key = argv[1]!;
  const head = openColl(ctx, key, 'hash');
  if (isReply(head)) return head;
  const stored = head === null ? undefined : fieldGet(ctx, key, argv[2]!);
  let value = parseLongDouble(zeroText)!;
  if (stored !== undefined) {
    const v = parseLongDouble(stored);
    if (v === undefined) return reply.error('ERR hash value is not a float');
    value = v;
  }
  const sum = addLongDouble(value, incr);
  if (sum === undefined) return reply.error('ERR increment would produce NaN or Infinity');
  const text = formatLongDouble(sum);
  setFields(ctx, key, head, [argv[2]!, text]);
  return reply.bulk(text);
}

function hrandfield(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  const key = argv[1]!;
  if (argv.length === 2) {
    const head = openColl(ctx, key, 'hash');
    if (isReply(head)) return head;
    if (head === null) return reply.null;
    return reply.bulk(pickOne(ctx, all(ctx, key), decodeCount(head)).sub);
  }
  const args = randomCountArgs(argv, 'withvalues');
  if (isReply(args)) return args;
  const { count: l, withOption: withValues } = args;
  const head = openColl(ctx, key, 'hash');
  if (isReply(head)) return head;
  if (head === null || l === 0) return reply.array([]);
  const chosen = sample(ctx, all(ctx, key), decodeCount(head), l);
  if (isReply(chosen)) return chosen;
  if (!withValues) return reply.array(chosen.map((e) => reply.bulk(e.sub)));
  return {
    type: 'array',
    flatInResp2: true,
    items: chosen.map((e) => reply.array([reply.bulk(e.sub), reply.bulk(e.value)])),
  };
}

const hscan = scanCommand(
  'hash',
  all,
  (e) => e.sub,
  (e) => [reply.bulk(e.sub), reply.bulk(e.value)],
);

export const hashCommands: readonly CommandSpec[] = [
  collSpec('hset', -4, ['write', 'denyoom', 'fast'], hset),
  collSpec('hsetnx', 4, ['write', 'denyoom', 'fast'], hsetnx),
  collSpec('hget', 3, ['readonly', 'fast'], hget),
  collSpec('hmget', -3, ['readonly', 'fast'], hmget),
  collSpec('hmset', -4, ['write', 'denyoom', 'fast'], hset),
  collSpec('hdel', -3, ['write', 'fast'], hdel),
  collSpec('hlen', 2, ['readonly', 'fast'], hlen),
  collSpec('hexists', 3, ['readonly', 'fast'], hexists),
  collSpec('hkeys', 2, ['readonly'], hgetallLike('keys')),
  collSpec('hvals', 2, ['readonly'], hgetallLike('vals')),
  collSpec('hgetall', 2, ['readonly'], hgetallLike('all')),
  collSpec('hincrby', 4, ['write', 'denyoom', 'fast'], hincrby),
  collSpec('hincrbyfloat', 4, ['write', 'denyoom', 'fast'], hincrbyfloat),
  collSpec('hstrlen', 3, ['readonly', 'fast'], hstrlen),
  collSpec('hrandfield', -2, ['readonly'], hrandfield),
  collSpec('hscan', -3, ['readonly'], hscan),
];
