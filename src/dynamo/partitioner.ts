// The partitioner: maps a key's bytes to its token on the ring, as Cassandra's Murmur3Partitioner
// does, so a token here equals the `token(k)` cqlsh prints for a blob key with the same bytes.
//
// Hash: MurmurHash3_x64_128 (Austin Appleby, public domain, smhasher MurmurHash3.cpp), seed 0;
// the token is the first 64-bit half (h1) read as a signed integer. Facts taken from Cassandra
// (src/java/org/apache/cassandra/dht/Murmur3Partitioner.java, utils/MurmurHash.java):
//   - tokens are signed 64-bit, the ring runs from MINIMUM = -2^63 to 2^63 - 1;
//   - the empty key maps to MINIMUM, and a hash equal to -2^63 is moved to 2^63 - 1 ("normalize"),
//     so no non-empty key ever has the MINIMUM token (it stays free as the ring's lower bound);
//   - Cassandra's tail loop reads bytes as signed Java bytes: a tail byte >= 0x80 is
//     sign-extended before it is shifted into k1/k2. Keys whose last (length mod 16) bytes are all
//     ASCII hash the same as the reference; others differ. `murmur3X64_128` computes the reference
//     (checked against its published vectors); `{ cassandraTail: true }` gives Cassandra's variant,
//     which the partitioner uses so tokens stay comparable with Cassandra's for every key.
//
// Arithmetic is on 32-bit halves with Math.imul (no BigInt in the loop): a key is hashed on every
// request, and BigInt arithmetic costs ~20x more per block. Only the final token becomes a bigint.
// Pure: no I/O, no clock, no randomness.

import { writeU32BE } from '../lib/bytes.ts';

/** A ring position: a signed 64-bit integer in [TOKEN_MIN, TOKEN_MAX]. */
export type Token = bigint;

export const TOKEN_MIN: Token = -(1n << 63n);
export const TOKEN_MAX: Token = (1n << 63n) - 1n;

export interface Murmur3Options {
  /** Sign-extend tail bytes >= 0x80 as Cassandra's MurmurHash.hash3_x64_128 does. */
  readonly cassandraTail?: boolean;
}

/** Both 64-bit halves of the hash, unsigned (h1 is the first 8 bytes of the digest, little-endian). */
export interface Murmur128 {
  readonly h1: bigint;
  readonly h2: bigint;
}

// A 64-bit lane is a pair (hi, lo) of int32s (the 32 bits of each half, read as signed) held in
// module scratch (the hash is synchronous and re-entrant-free, so one scratch pair per lane is
// enough). Signed, not uint32: an int32 is a small integer to V8 on 64-bit Node, so passing a lane
// to mul64 and the rest never boxes it; a uint32 above 2^31 was a heap number per call (the hash
// allocated ~0.4 KB per short key and ran at ~0.7 us; measured 2026-12-07).
const C1_HI = 0x87c37b91 | 0;
const C1_LO = 0x114253d5 | 0;
const C2_HI = 0x4cf5ad43 | 0;
const C2_LO = 0x2745937f | 0;
const F1_HI = 0xff51afd7 | 0;
const F1_LO = 0xed558ccd | 0;
const F2_HI = 0xc4ceb9fe | 0;
const F2_LO = 0x1a85ec53 | 0;

// The scratch lanes, in a typed array rather than module `let`s (whose stores may box): R[RHI],
// R[RLO]: a result lane; R[H1HI], R[H1LO]: the last digest's h1; R[M*]: the memo's digest.
const R = new Int32Array(8);
const RHI = 0;
const RLO = 1;
const H1HI = 2;
const H1LO = 3;
const MH1HI = 4;
const MH1LO = 5;
const MH2HI = 6;
const MH2LO = 7;

/** (aHi,aLo) * (bHi,bLo) mod 2^64 into (R[RHI], R[RLO]). */
function mul64(aHi: number, aLo: number, bHi: number, bLo: number): void {
  // lo*lo needs the full 64-bit product: split into 16-bit limbs.
  const a0 = aLo & 0xffff;
  const a1 = aLo >>> 16;
  const b0 = bLo & 0xffff;
  const b1 = bLo >>> 16;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  const lo = ((mid & 0xffff) << 16) | (p00 & 0xffff);
  const carry = a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + Math.floor(mid / 0x10000);
  R[RHI] = (carry + Math.imul(aHi, bLo) + Math.imul(aLo, bHi)) | 0;
  R[RLO] = lo;
}

/** rotl64((hi,lo), n) into (R[RHI], R[RLO]), 0 < n < 64. */
function rotl64(hi: number, lo: number, n: number): void {
  if (n === 32) {
    R[RHI] = lo;
    R[RLO] = hi;
    return;
  }
  if (n > 32) {
    const t = hi;
    hi = lo;
    lo = t;
    n -= 32;
  }
  R[RHI] = (hi << n) | (lo >>> (32 - n));
  R[RLO] = (lo << n) | (hi >>> (32 - n));
}

/** (aHi,aLo) + (bHi,bLo) mod 2^64 into (R[RHI], R[RLO]). */
function add64(aHi: number, aLo: number, bHi: number, bLo: number): void {
  const lo = (aLo >>> 0) + (bLo >>> 0);
  R[RLO] = lo | 0;
  R[RHI] = (aHi + bHi + (lo > 0xffffffff ? 1 : 0)) | 0;
}

/** The fmix64 finaliser into (R[RHI], R[RLO]). */
function fmix64(hi: number, lo: number): void {
  lo ^= hi >>> 1; // k ^= k >>> 33
  mul64(hi, lo, F1_HI, F1_LO);
  hi = R[RHI]!;
  lo = R[RLO]! ^ (hi >>> 1);
  mul64(hi, lo, F2_HI, F2_LO);
  hi = R[RHI]!;
  lo = R[RLO]! ^ (hi >>> 1);
  R[RHI] = hi;
  R[RLO] = lo;
}

function readLe32(data: Uint8Array, at: number): number {
  return data[at]! | (data[at + 1]! << 8) | (data[at + 2]! << 16) | (data[at + 3]! << 24);
}

/**
 * Loads the tail bytes data[from .. from+count) (count 1..8) as a little-endian 64-bit lane into
 * (R[RHI], R[RLO]); with cassandraTail, each byte >= 0x80 is sign-extended before it is XORed in (Java's
 * `(long) key.get(i) << 8*j`), which sets every bit above it.
 */
function tailLane(data: Uint8Array, from: number, count: number, cassandraTail: boolean): void {
  let hi = 0;
  let lo = 0;
  for (let j = count - 1; j >= 0; j--) {
    const b = data[from + j]!;
    const shift = 8 * j;
    if (shift < 32) lo ^= b << shift;
    else hi ^= b << (shift - 32);
    if (cassandraTail && b >= 0x80) {
      // ~0 << (shift + 8): every bit above this byte
      const above = shift + 8;
      if (above < 32) {
        lo ^= ~0 << above;
        hi ^= ~0;
      } else if (above < 64) hi ^= ~0 << (above - 32);
    }
  }
  R[RHI] = hi;
  R[RLO] = lo;
}

function toBigU64(hi: number, lo: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** MurmurHash3_x64_128 of `data` with a 32-bit seed. */
export function murmur3X64_128(data: Uint8Array, seed = 0, options: Murmur3Options = {}): Murmur128 {
  hash(data, seed, options.cassandraTail === true);
  return { h1: toBigU64(R[H1HI]!, R[H1LO]!), h2: toBigU64(R[RHI]!, R[RLO]!) };
}

// The last hash() of a short key, compared by content: a request hashes its key several times on
// one node (the ring's preference list, then each store lookup: value, header, rows), all in one
// synchronous turn, so a one-entry memo saves most of them. Content, not identity: the caller's
// bytes may be reused for another key. Keys past MEMO_KEY_BYTES_MAX are hashed every time (the
// comparison would cost as much as the hash).
const MEMO_KEY_BYTES_MAX = 64;
const memoKey = new Uint8Array(MEMO_KEY_BYTES_MAX);
let memoLength = -1;
let memoSeed = 0;
let memoTail = false;

function hash(data: Uint8Array, seed: number, cassandraTail: boolean): void {
  const length = data.length;
  if (length === memoLength && seed === memoSeed && cassandraTail === memoTail) {
    let same = true;
    for (let i = 0; i < length; i++) {
      if (data[i] !== memoKey[i]) {
        same = false;
        break;
      }
    }
    if (same) {
      R[H1HI] = R[MH1HI]!;
      R[H1LO] = R[MH1LO]!;
      R[RHI] = R[MH2HI]!;
      R[RLO] = R[MH2LO]!;
      return;
    }
  }
  hashBlocks(data, seed, cassandraTail);
  if (length <= MEMO_KEY_BYTES_MAX) {
    memoKey.set(data);
    memoLength = length;
    memoSeed = seed;
    memoTail = cassandraTail;
    R[MH1HI] = R[H1HI]!;
    R[MH1LO] = R[H1LO]!;
    R[MH2HI] = R[RHI]!;
    R[MH2LO] = R[RLO]!;
  }
}

function hashBlocks(data: Uint8Array, seed: number, cassandraTail: boolean): void {
  const length = data.length;
  const nblocks = Math.floor(length / 16);
  let h1Hi = 0;
  let h1Lo = seed | 0;
  let h2Hi = 0;
  let h2Lo = seed | 0;
  for (let i = 0; i < nblocks; i++) {
    const at = i * 16;
    // k1
    mul64(readLe32(data, at + 4), readLe32(data, at), C1_HI, C1_LO);
    rotl64(R[RHI]!, R[RLO]!, 31);
    mul64(R[RHI]!, R[RLO]!, C2_HI, C2_LO);
    h1Hi = h1Hi ^ R[RHI]!;
    h1Lo = h1Lo ^ R[RLO]!;
    rotl64(h1Hi, h1Lo, 27);
    add64(R[RHI]!, R[RLO]!, h2Hi, h2Lo);
    mul64(R[RHI]!, R[RLO]!, 0, 5);
    add64(R[RHI]!, R[RLO]!, 0, 0x52dce729);
    h1Hi = R[RHI]!;
    h1Lo = R[RLO]!;
    // k2
    mul64(readLe32(data, at + 12), readLe32(data, at + 8), C2_HI, C2_LO);
    rotl64(R[RHI]!, R[RLO]!, 33);
    mul64(R[RHI]!, R[RLO]!, C1_HI, C1_LO);
    h2Hi = h2Hi ^ R[RHI]!;
    h2Lo = h2Lo ^ R[RLO]!;
    rotl64(h2Hi, h2Lo, 31);
    add64(R[RHI]!, R[RLO]!, h1Hi, h1Lo);
    mul64(R[RHI]!, R[RLO]!, 0, 5);
    add64(R[RHI]!, R[RLO]!, 0, 0x38495ab5);
    h2Hi = R[RHI]!;
    h2Lo = R[RLO]!;
  }
  const tail = nblocks * 16;
  const rest = length & 15;
  if (rest > 8) {
    tailLane(data, tail + 8, rest - 8, cassandraTail);
    mul64(R[RHI]!, R[RLO]!, C2_HI, C2_LO);
    rotl64(R[RHI]!, R[RLO]!, 33);
    mul64(R[RHI]!, R[RLO]!, C1_HI, C1_LO);
    h2Hi = h2Hi ^ R[RHI]!;
    h2Lo = h2Lo ^ R[RLO]!;
  }
  if (rest > 0) {
    tailLane(data, tail, Math.min(rest, 8), cassandraTail);
    mul64(R[RHI]!, R[RLO]!, C1_HI, C1_LO);
    rotl64(R[RHI]!, R[RLO]!, 31);
    mul64(R[RHI]!, R[RLO]!, C2_HI, C2_LO);
    h1Hi = h1Hi ^ R[RHI]!;
    h1Lo = h1Lo ^ R[RLO]!;
  }
  // Finalisation: the length is XORed in as a 64-bit value (lengths here fit 32 bits).
  h1Lo = h1Lo ^ length;
  h2Lo = h2Lo ^ length;
  add64(h1Hi, h1Lo, h2Hi, h2Lo);
  h1Hi = R[RHI]!;
  h1Lo = R[RLO]!;
  add64(h2Hi, h2Lo, h1Hi, h1Lo);
  h2Hi = R[RHI]!;
  h2Lo = R[RLO]!;
  fmix64(h1Hi, h1Lo);
  h1Hi = R[RHI]!;
  h1Lo = R[RLO]!;
  fmix64(h2Hi, h2Lo);
  h2Hi = R[RHI]!;
  h2Lo = R[RLO]!;
  add64(h1Hi, h1Lo, h2Hi, h2Lo);
  h1Hi = R[RHI]!;
  h1Lo = R[RLO]!;
  R[H1HI] = R[RHI]!;
  R[H1LO] = R[RLO]!;
  add64(h2Hi, h2Lo, h1Hi, h1Lo);
}

/** MurmurHash3_x64_128 of `data` (seed 0) as 16 bytes at out[at..]: h1 then h2, big-endian (no BigInt: hot loops). */
export function murmur3X64_128Into(data: Uint8Array, out: Uint8Array, at: number): void {
  hash(data, 0, false);
  writeU32BE(out, at, R[H1HI]!);
  writeU32BE(out, at + 4, R[H1LO]!);
  writeU32BE(out, at + 8, R[RHI]!);
  writeU32BE(out, at + 12, R[RLO]!);
}

const utf8 = new TextEncoder();

/**
 * Cassandra's Murmur3Partitioner.getToken: the empty key is TOKEN_MIN; otherwise h1 (Cassandra's
 * tail variant) as a signed 64-bit integer, with -2^63 moved to 2^63 - 1.
 */
export function tokenOf(key: Uint8Array): Token {
  if (key.length === 0) return TOKEN_MIN;
  hash(key, 0, true);
  const t = BigInt.asIntN(64, toBigU64(R[H1HI]!, R[H1LO]!));
  return t === TOKEN_MIN ? TOKEN_MAX : t;
}

/**
 * tokenOf(key) as the 8 big-endian bytes of its 64-bit two's complement, written to out[0..8): the
 * first 8 bytes of a storage key (src/storage/lsm/keys.ts), with no BigInt (the hot path of every
 * Redis command). Same value as tokenOf, including the two special cases.
 */
export function tokenBytesInto(key: Uint8Array, out: Uint8Array, at = 0): void {
  let hi = 0x80000000; // the empty key: TOKEN_MIN
  let lo = 0;
  if (key.length > 0) {
    hash(key, 0, true);
    hi = R[H1HI]!;
    lo = R[H1LO]!;
    if (hi === (0x80000000 | 0) && lo === 0) {
      hi = 0x7fffffff; // -2^63 moves to TOKEN_MAX
      lo = 0xffffffff;
    }
  }
  writeU32BE(out, at, hi);
  writeU32BE(out, at + 4, lo);
}

/** tokenOf the key's UTF-8 bytes (Redis keys arrive as bytes; this is for tests and tools). */
export function tokenOfString(key: string): Token {
  return tokenOf(utf8.encode(key));
}

export function isToken(value: bigint): boolean {
  return value >= TOKEN_MIN && value <= TOKEN_MAX;
}
