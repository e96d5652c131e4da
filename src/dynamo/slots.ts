// Redis Cluster's key slots on our token ring: which of the 16384 slots a key is in, and where
// each slot sits on the ring, so that a cluster-aware client (ioredis Cluster, redis-cli -c,
// redis-benchmark --cluster) that computes a key's slot reaches the node that owns the key.
//
// Key slot (Redis Cluster specification, "Keys distribution model"; redis/redis src/cluster.c
// keyHashSlot, src/crc16.c): HASH_SLOT = CRC16(key) mod 16384, where CRC16 is the XMODEM variant
// (polynomial 0x1021, initial value 0, input and output not reflected, no final xor; check value
// CRC16("123456789") = 0x31C3). Hash tags: if the key has a '{' and a '}' after the first '{' with
// at least one byte between them, only the bytes between the first '{' and the first '}' after it
// are hashed ("{user1000}.following" and "{user1000}.followers" share a slot; "foo{}{bar}" hashes
// the whole key; "foo{{bar}}zap" hashes "{bar").
//
// Slot -> token: the ring's 2^64 tokens are cut into 16384 equal spans, slot s covering
// [TOKEN_MIN + s * 2^50, TOKEN_MIN + (s + 1) * 2^50). A key is placed at its slot's LAST token
// (slotToken), so every key of a slot has the same token, the same owner and the same preference
// list (ring.ts locate), and the slot belongs to the range (start, end] that holds that token.
// The storage engine keeps its own per-key Murmur3 token (src/redis/keyspace.ts: the LSM layout
// and the SCAN cursor); only placement uses the slot token.
// Pure: no I/O, no clock, no randomness.

import { TOKEN_MIN, type Token } from './partitioner.ts';

/** Redis Cluster's slot count (cluster.h CLUSTER_SLOTS). */
export const SLOT_COUNT = 16384;

const SLOT_SPAN = (1n << 64n) / BigInt(SLOT_COUNT); // 2^50

/** CRC16 XMODEM table (poly 0x1021, MSB first). */
const CRC16_TABLE: Uint16Array = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let b = 0; b < 8; b++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

/** CRC16-XMODEM of `bytes` (Redis' crc16). */
export function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (let i = 0; i < bytes.length; i++) crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >>> 8) ^ bytes[i]!) & 0xff]!;
  return crc;
}

/** The bytes Redis hashes for a key's slot: its non-empty hash tag, else the whole key. */
export function hashTag(key: Uint8Array): Uint8Array {
  const open = key.indexOf(0x7b); // {
  if (open < 0) return key;
  const close = key.indexOf(0x7d, open + 1); // }
  if (close < 0 || close === open + 1) return key;
  return key.subarray(open + 1, close);
}

/** The key's Redis Cluster slot, 0..16383 (CLUSTER KEYSLOT). */
export function keySlot(key: Uint8Array): number {
  return crc16(hashTag(key)) & (SLOT_COUNT - 1);
}

const SLOT_TOKENS: readonly Token[] = Array.from(
  { length: SLOT_COUNT },
  (_, s) => TOKEN_MIN + BigInt(s + 1) * SLOT_SPAN - 1n,
);

/** The ring position of every key of slot `s`: the last token of the slot's span. */
export function slotToken(slot: number): Token {
  const t = SLOT_TOKENS[slot];
  if (t === undefined) throw new RangeError(`slot must be 0..${SLOT_COUNT - 1}: ${slot}`);
  return t;
}

/** Where a key is placed on the ring: its slot's token. */
export function keyToken(key: Uint8Array): Token {
  return SLOT_TOKENS[keySlot(key)]!;
}
