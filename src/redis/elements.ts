// The collection families' view of the keyspace (hash.ts, set.ts, list.ts, zset.ts): one typed
// collection's head and its elements, on helper A's Keyspace (keyspace.ts) and the element layout
// of src/storage/lsm/keys.ts. Sub-keys here are the element part only (the field, the member, the
// list position, 0x01 member / 0x02 score member); the keyspace prefixes token and key.
//
// Head values (ours, per type): hash, set, zset: the element count as u64be; list: leftPos:i64be
// rightPos:i64be (list.ts). Counts live in the head so HLEN / SCARD / ZCARD / LLEN are one read,
// and an emptied collection is seen at once (Redis deletes the key: deleteColl).
// Reads within one command see that command's writes (the keyspace's contract), so a command reads
// an element it just wrote back as written.

import { limits } from '../lib/limits.ts';
import { reply, type RespValue } from '../wire/resp/index.ts';
import type { CommandContext, CommandSpec } from './command.ts';

export type CollType = 'hash' | 'set' | 'list' | 'zset';

export interface Element {
  readonly sub: Uint8Array;
  readonly value: Uint8Array;
}

const wrongType = reply.error('WRONGTYPE Operation against a key holding the wrong kind of value');

/** The head of `key` when it holds a `type`; null when absent (or expired); WRONGTYPE otherwise. */
export function openColl(ctx: CommandContext, key: Uint8Array, type: CollType): Uint8Array | null | RespValue {
  const head = ctx.keyspace.getHead(key, ctx.nowMs);
  if (head === undefined) return null;
  return head.type === type ? head.value : wrongType;
}

export function getElem(ctx: CommandContext, key: Uint8Array, sub: Uint8Array): Uint8Array | undefined {
  return ctx.keyspace.getElement(key, sub);
}

export function putElem(ctx: CommandContext, key: Uint8Array, sub: Uint8Array, value: Uint8Array): void {
  ctx.keyspace.putElement(key, sub, value);
}

export function deleteElem(ctx: CommandContext, key: Uint8Array, sub: Uint8Array): void {
  ctx.keyspace.deleteElement(key, sub, ctx.nowMs);
}

/** Creates or rewrites the head, keeping the key's expiry (a new key has none). */
export function putHead(ctx: CommandContext, key: Uint8Array, type: CollType, head: Uint8Array): void {
  const old = ctx.keyspace.getHead(key, ctx.nowMs);
  const expiresAtMs = old !== undefined && old.type === type ? old.expiresAtMs : 0;
  ctx.keyspace.putHead(key, { type, value: head, expiresAtMs }, ctx.nowMs);
}

/**
 * Starts a collection at a missing key. Called BEFORE its first element is written: the keyspace
 * clears a key's old elements when a head appears (keyspace.ts putHead), staged ones included.
 */
export function createColl(ctx: CommandContext, key: Uint8Array, type: CollType, head: Uint8Array): void {
  ctx.keyspace.putHead(key, { type, value: head, expiresAtMs: 0 }, ctx.nowMs);
}

/** Deletes the key, head and elements (an emptied collection, or a STORE destination). */
export function deleteColl(ctx: CommandContext, key: Uint8Array): void {
  ctx.keyspace.deleteKey(key, ctx.nowMs);
}

/** Elements per keyspace page: a generator's consumer that stops early reads at most one page more. */
const pageCountMax = 256;

/**
 * The elements with sub-keys in [start, end) (end null: to the collection's end), in sub-key
 * order, read lazily page by page: a caller that stops early reads no further.
 */
export function* elems(
  ctx: CommandContext,
  key: Uint8Array,
  start: Uint8Array,
  end: Uint8Array | null,
): Generator<Element> {
  let from: Uint8Array | null = start;
  while (from !== null) {
    const page = ctx.keyspace.scanElements(
      key,
      end === null ? { from, limit: pageCountMax } : { from, to: end, limit: pageCountMax },
    );
    yield* page.elements;
    from = page.next;
  }
}

/** Hash fields and set members as sub-keys: a tag byte first, so the empty field "" is an element too. */
export function tagged(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length + 1);
  out[0] = 0x01;
  out.set(bytes, 1);
  return out;
}

/** The field or member of a tagged sub-key. */
export function untagged(sub: Uint8Array): Uint8Array {
  return sub.subarray(1);
}

const countView = (head: Uint8Array): DataView => new DataView(head.buffer, head.byteOffset, head.byteLength);

export function encodeCount(n: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), false);
  return out;
}

export function decodeCount(head: Uint8Array): number {
  return head.byteLength === 8 ? Number(countView(head).getBigUint64(0, false)) : 0;
}

export function isReply(v: unknown): v is RespValue {
  return typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && 'type' in v;
}

/**
 * `count` positions in [0, size) chosen at random: distinct ones in ascending order (Floyd's
 * sampling, count <= size), or with repeats in the order drawn. One pass over the collection
 * (pickAt) then serves them: an LSM has no random access by rank, so a random element costs a
 * scan up to its position; a batch of them costs one scan, not one each.
 */
export function randomPositions(rng: CommandContext['rng'], size: number, count: number, distinct: boolean): number[] {
  if (!distinct) {
    const out: number[] = [];
    for (let i = 0; i < count; i++) out.push(rng.int(size));
    return out;
  }
  const chosen = new Set<number>();
  for (let j = size - count; j < size; j++) {
    const t = rng.int(j + 1);
    chosen.add(chosen.has(t) ? j : t);
  }
  return [...chosen].sort((a, b) => a - b);
}

/** The items at `positions` (any order, repeats allowed) from one pass over `items`. */
export function pickAt<T>(items: Iterable<T>, positions: readonly number[]): T[] {
  const wanted = [...new Set(positions)].sort((a, b) => a - b);
  const found = new Map<number, T>();
  let i = 0;
  let w = 0;
  for (const item of items) {
    if (w >= wanted.length) break;
    if (i === wanted[w]) {
      found.set(i, item);
      w++;
    }
    i++;
  }
  return positions.map((p) => found.get(p)!).filter((x) => x !== undefined);
}

/** One random item of a collection of `size` (> 0) items. */
export function pickOne<T>(ctx: CommandContext, items: Iterable<T>, size: number): T {
  const [one] = pickAt(items, randomPositions(ctx.rng, size, 1, true));
  return one!;
}

/**
 * SRANDMEMBER / HRANDFIELD with a count `l` (non-zero): l > 0 distinct items, at most all of
 * them; l < 0 |l| items with repeats, refused past redisRandomCountMax (Redis has no bound).
 * `fromEnd`: positions count from the last item (ZRANDMEMBER's order) while `items` streams from
 * the first, so nothing is held but what is picked.
 */
export function sample<T>(
  ctx: CommandContext,
  items: Iterable<T>,
  size: number,
  l: number,
  fromEnd = false,
): T[] | RespValue {
  const count = Math.abs(l);
  if (l < 0 && count > limits.redisRandomCountMax)
    return reply.error(`ERR count is above this store's bound (redisRandomCountMax ${limits.redisRandomCountMax})`);
  const distinct = l > 0;
  const positions = randomPositions(ctx.rng, size, distinct ? Math.min(count, size) : count, distinct);
  return pickAt(items, fromEnd ? positions.map((p) => size - 1 - p) : positions);
}

/** A family's command spec; keys default to Redis' (1, 1, 1): one key at argv[1]. */
export function collSpec(
  name: string,
  arity: number,
  flags: readonly string[],
  run: CommandSpec['run'],
  keys: readonly [number, number, number] = [1, 1, 1],
): CommandSpec {
  return { name, arity, flags, firstKey: keys[0], lastKey: keys[1], step: keys[2], run };
}
