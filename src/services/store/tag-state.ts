// The SERIAL state of one hash tag at N > 1: every key whose hash tag is {t} lives in ONE Paxos
// register, named "{t}", whose value is the map of those keys (each with its type and deadline).
// A command or a MULTI/EXEC queue over keys of one tag is then one compare-and-set of that register
// (replicated.ts runTagged): a serial read of the map, Redis' own code on the keys it names
// (src/redis/scratch.ts runQueue), a CAS from the map read to the map after. So a transaction is
// atomic and isolated against every other SERIAL command on the tag's keys, and every data command
// (lists, hashes, sets, sorted sets too) runs at SERIAL on tagged keys: Redis Cluster's rule that a
// transaction's keys share a slot, made "share a hash tag".
//
// Why a register per tag and not a round over each key's own register: an accept seen by a
// minority is finished by whichever proposer meets it (paxos.ts step 2), per register, so a
// transaction's write of {t}a could be finished while its write of {t}b is not (their next
// proposers meet different quorums). One register has one history.
//
// The register's name "{t}" is never an untagged key's (a key is untagged only when it has no
// non-empty {…}), and hashTag("{t}") = t, so the register sits on the tag's slot: the same
// replicas as its keys. Its value is bounded by the Paxos value bound (paxosValueBytesMax: a value
// of kvValueBytesMax with its key's name and the framing): a tag's keys hold at most that much
// together at SERIAL; past it a write answers an error, not written.
//
// An untagged key k is a group of its own: its register is named k (the per-key register every
// SERIAL command on k used before collections ran there) and holds a state of the one key k, so
// strings, collections, deadlines and types of an untagged key are all one register's history
// too (a SET and an LPUSH of k cannot both win). `serialRegister` names the register a command's
// keys share. Legacy values: a build before this one kept the string of an untagged key k raw in
// register k, and the string of the key named exactly "{t}" raw in register "{t}";
// `decodeRegister` reads such a value as that one key's string (the next write rewrites it as a
// state). A raw value is told from a state by the state's own rules: in a tag's register by its
// first byte (a state's is 1), in a key's register by decoding as a state of exactly the key k
// (a raw string that happens to be one, byte for byte, would be read as that state).
//
// Grammar (uvarint = UNSIGNED_VARINT, src/lib/bytes.ts; f64 big-endian IEEE 754):
//   state    = format uvarint n (1..) entry{n}   ; format = u8 1; keys distinct, ascending byte order
//   entry    = key deadline value
//   key      = uvarint length (0..kvKeyBytesMax) + bytes   ; 0: the untagged key ""
//   deadline = uvarint                   ; 0: none; else the absolute deadline, ms (< 2^53)
//   value    = u8 type body
//     1 string  = bytes
//     2 list    = uvarint n (1..) bytes{n}            ; head first
//     3 set     = uvarint n (1..) bytes{n}
//     4 zset    = uvarint n (1..) (bytes f64){n}      ; member, score (not NaN)
//     5 hash    = uvarint n (1..) (bytes bytes){n}    ; field, value
//   bytes    = uvarint length + bytes
// An empty map is the register's absent value (null), never a state with no entry. The bytes are
// ours (written by this code through Paxos), but the decoder checks them as untrusted: a broken
// rule is ProtocolError dynamo_malformed, answered as an error, never an assert.

import { ByteReader, ByteWriter, bytesEqual } from '../../lib/bytes.ts';
import { ProtocolError } from '../../lib/errors.ts';
import { limits } from '../../lib/limits.ts';
import type { Held, Materialized } from '../../redis/scratch.ts';
import { hashTag } from '../../dynamo/slots.ts';

export const TAG_STATE_FORMAT = 1;

/** A tag's keys (latin1 key -> value with deadline). */
export type TagState = Map<string, Held>;

const latin1 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
const bytesOf = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));

/** The key's hash tag (the bytes between its first { and the first } after it), or undefined if it has none. */
export function tagOf(key: Uint8Array): Uint8Array | undefined {
  const tag = hashTag(key);
  return tag === key ? undefined : tag;
}

/** The register a tag's keys live in: "{" + tag + "}". */
export function registerOf(tag: Uint8Array): Uint8Array {
  const name = new Uint8Array(tag.length + 2);
  name[0] = 0x7b;
  name.set(tag, 1);
  name[tag.length + 1] = 0x7d;
  return name;
}

/** The register a key lives in at SERIAL: its tag's ("{t}"), or its own name when untagged. */
export function keyRegister(key: Uint8Array): Uint8Array {
  const tag = tagOf(key);
  return tag === undefined ? key : registerOf(tag);
}

/**
 * The register every key of a command shares at SERIAL: "{t}" when every key has hash tag t, the
 * key itself when every key is one untagged key; 'crossslot' otherwise (two tags, a tagged and an
 * untagged key, two untagged keys); undefined without keys.
 */
export function serialRegister(keys: readonly Uint8Array[]): Uint8Array | 'crossslot' | undefined {
  let register: Uint8Array | undefined;
  for (const k of keys) {
    const r = keyRegister(k);
    if (register === undefined) register = r;
    else if (!bytesEqual(register, r)) return 'crossslot';
  }
  return register;
}

/** How errors name a register's keys: "the keys of hash tag {t}" or "key k". */
export function describeRegister(register: Uint8Array): string {
  return tagOf(register) === undefined ? `key ${latin1(register)}` : `the keys of hash tag ${latin1(register)}`;
}

/**
 * The state a register's value holds, a legacy raw string read as the key named like the
 * register (see the header). Throws ProtocolError dynamo_malformed for a tag's register whose
 * value starts as a state but breaks its rules.
 */
export function decodeRegister(register: Uint8Array, bytes: Uint8Array | null): TagState {
  if (bytes === null) return new Map();
  const legacy = (): TagState => new Map([[latin1(register), { value: { type: 'string', value: bytes } }]]);
  if (tagOf(register) !== undefined) return bytes[0] === TAG_STATE_FORMAT ? decodeTagState(bytes) : legacy();
  if (bytes[0] !== TAG_STATE_FORMAT) return legacy();
  let state: TagState;
  try {
    state = decodeTagState(bytes);
  } catch (error) {
    if (error instanceof ProtocolError) return legacy();
    throw error;
  }
  return state.size === 1 && state.has(latin1(register)) ? state : legacy();
}

function malformed(message: string): never {
  throw new ProtocolError('dynamo_malformed', `tag state: ${message}`);
}

const TYPE_CODES = { string: 1, list: 2, set: 3, zset: 4, hash: 5 } as const;

/** Elements a state holds: one per string, one per list, set, sorted-set or hash item. */
export function tagStateItems(state: TagState): number {
  let n = 0;
  for (const { value: v } of state.values()) {
    n +=
      v.type === 'string'
        ? 1
        : v.type === 'list'
          ? v.values.length
          : v.type === 'set'
            ? v.members.length
            : v.entries.length;
  }
  return n;
}

/** The register's value for `state`: null when no key is left. */
export function encodeTagState(state: TagState): Uint8Array | null {
  if (state.size === 0) return null;
  const w = new ByteWriter();
  w.u8(TAG_STATE_FORMAT).uvarint(state.size);
  for (const key of [...state.keys()].sort()) {
    const held = state.get(key)!;
    w.bytesUvarint(bytesOf(key));
    w.uvarint(held.expiresAtMs ?? 0);
    const v = held.value;
    w.u8(TYPE_CODES[v.type]);
    switch (v.type) {
      case 'string':
        w.bytesUvarint(v.value);
        break;
      case 'list':
        w.uvarint(v.values.length);
        for (const x of v.values) w.bytesUvarint(x);
        break;
      case 'set':
        w.uvarint(v.members.length);
        for (const x of v.members) w.bytesUvarint(x);
        break;
      case 'zset':
        w.uvarint(v.entries.length);
        for (const [m, s] of v.entries) w.bytesUvarint(m).f64(s);
        break;
      case 'hash':
        w.uvarint(v.entries.length);
        for (const [f, x] of v.entries) w.bytesUvarint(f).bytesUvarint(x);
        break;
    }
  }
  return w.finish().slice();
}

/** The map a register value holds (null: no key). Throws ProtocolError dynamo_malformed on broken bytes. */
export function decodeTagState(bytes: Uint8Array | null): TagState {
  const state: TagState = new Map();
  if (bytes === null) return state;
  if (bytes.length > limits.paxosValueBytesMax) malformed(`${bytes.length} bytes, max ${limits.paxosValueBytesMax}`);
  const r = new ByteReader(bytes);
  const format = r.u8();
  if (format !== TAG_STATE_FORMAT) malformed(`format ${format}, this build reads ${TAG_STATE_FORMAT}`);
  let previous: string | undefined;
  let items = 0;
  const count = (): number => {
    const n = r.uvarint();
    // Every item takes at least one byte: a count past what is left is a lie, not a big allocation.
    if (n < 1 || n > r.remaining) malformed(`a collection of ${n} items with ${r.remaining} bytes left`);
    items += n;
    if (items > limits.tagStateItemsCountMax) malformed(`over ${limits.tagStateItemsCountMax} items`);
    return n;
  };
  const entries = count();
  items = 0;
  for (let i = 0; i < entries; i++) {
    const keyBytes = r.bytesUvarint();
    if (keyBytes.length > limits.kvKeyBytesMax) malformed(`key of ${keyBytes.length} bytes`);
    const key = latin1(keyBytes);
    if (previous !== undefined && key <= previous) malformed('keys out of order or repeated');
    previous = key;
    const deadline = r.uvarint();
    const type = r.u8();
    let value: Materialized;
    switch (type) {
      case 1:
        if (++items > limits.tagStateItemsCountMax) malformed(`over ${limits.tagStateItemsCountMax} items`);
        value = { type: 'string', value: r.bytesUvarint().slice() };
        break;
      case 2:
      case 3: {
        const items = Array.from({ length: count() }, () => r.bytesUvarint().slice());
        value = type === 2 ? { type: 'list', values: items } : { type: 'set', members: items };
        break;
      }
      case 4:
        value = {
          type: 'zset',
          entries: Array.from({ length: count() }, () => {
            const m = r.bytesUvarint().slice();
            const s = r.f64();
            if (Number.isNaN(s)) malformed('a NaN score');
            return [m, s] as const;
          }),
        };
        break;
      case 5:
        value = {
          type: 'hash',
          entries: Array.from({ length: count() }, () => [r.bytesUvarint().slice(), r.bytesUvarint().slice()] as const),
        };
        break;
      default:
        malformed(`value type ${type}`);
    }
    state.set(key, deadline === 0 ? { value } : { value, expiresAtMs: deadline });
  }
  r.expectEnd('tag state');
  return state;
}
