// Merkle trees for anti-entropy per token range (Dynamo §4.7; Cassandra's repair): two replicas of
// a range each build a tree of fixed depth over their keys, exchange them, and stream only the key
// ranges under leaves that differ. Pure: no clock, no I/O; the driver scans the store.
//
// The tree: a token range (start, end] (ring.ts' TokenRange; start >= end wraps, start === end is
// the whole ring) is cut into 2^depth leaves of (nearly) equal token width, by offset from start:
//   offset(t) = (t - start - 1) mod 2^64          in [0, width), width = (end - start) mod 2^64 (0: 2^64)
//   leaf i    = offsets [floor(i*width/L), floor((i+1)*width/L)),   L = 2^depth
// Each leaf holds a 16-byte hash and a count of its entries. The leaf hash is the XOR of one digest
// per entry, e = murmur3_x64_128(token:i64 ‖ uvarint keyLength ‖ key ‖ u8 stateHashLength ‖
// stateHash) (Cassandra's MerkleTree also XORs its row hashes), so the tree does not depend on the
// order entries come in: a replica whose store is not in ring order (the LsmReplicaStore is in
// Murmur3-token order, while a key's ring position is its slot's token), builds it in one pass with memory for the 2^depth leaves only, bounded by
// limits.merkleTreeLevelsCountMax whatever the number of keys. Each key must be added once (two
// equal entries would cancel); that is the driver's to keep, and the count catches a key missing on
// one side even when XOR cannot. The root (hashes of pairs, level by level) says "equal" in one
// comparison (it covers every leaf's count too); the diff compares leaves and coalesces adjacent
// differing leaves into token ranges.
//
// What a driver feeds (replica.ts' anti-entropy does this):
//   - One entry per user key both replicas hold a copy of (the head entry, with stateHash = a
//     digest of the key's whole stored state, e.g. murmur3 of the encoded Versioned), in any order.
//     Tombstones within their grace period count as state (so repair spreads deletions); expired
//     values count as tombstones (so repair never brings them back). An entry outside the range is
//     a driver bug (assert).

// Exchange protocol (messages below; one peer message type of its own, e.g. DynamoMerkle):
//   1. A (the initiator, on a timer per range — Cassandra's repair schedule — or on demand) builds
//      its tree for range R at depth d and sends treeRequest{op, R, d, root}.
//   2. B builds its tree for R at d; replies treeReply{op, R, d, same} when its root equals A's,
//      else treeReply with its leaves and counts. B may refuse (busy: too many trees in flight)
//      with status `busy`; A retries later.
//   3. A diffs the trees (diffTrees) → differing ranges (coalesced, at most merkleStreamRangesCountMax
//      per streamRequest; more ranges go in several requests or a deeper tree next time). A streams
//      its entries of those ranges to B as replica.ts `replicate` messages (B merges), and sends
//      streamRequest{op, ranges} so B streams its entries of those ranges back to A.
//   Both sides merge what they receive (Versioned merge / CRDT merge), so the exchange converges
//   whatever the order; a lost message only delays convergence to the next exchange.
//   Trees must be built from a consistent view (an LSM snapshot or a scan without concurrent
//   writes to the range): a write during the build at worst shows as a false difference.
//
// Grammar of the messages (integers big-endian; uvarint = UNSIGNED_VARINT, src/lib/bytes.ts):
//   message       = version type op body
//   version       = u8                             ; 1
//   type          = u8                             ; 1..3
//   treeRequest   = range depth root               ; 1
//   treeReply     = range depth status [leaves]    ; 2: status u8 0 leaves follow, 1 same, 2 busy
//   leaves        = 2^depth * (hash:16 bytes count:uvarint)
//   streamRequest = uvarint n (1..merkleStreamRangesCountMax) range{n}   ; 3
//   op            = uvarint
//   range         = start:i64 end:i64
//   depth         = u8 (0..merkleTreeLevelsCountMax)
//   root          = 16 bytes
// Untrusted bytes never reach an assert: a ProtocolError with a stable code (dynamo_bad_version,
// dynamo_bad_type, dynamo_malformed, or ByteReader's truncated, trailing_bytes, varint_*).

import { assert } from '../lib/assert.ts';
import { ByteReader, ByteWriter, bytesEqual } from '../lib/bytes.ts';
import { ProtocolError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import { murmur3X64_128Into, type Token } from './partitioner.ts';
import type { TokenRange } from './ring.ts';

export const MERKLE_HASH_BYTES = 16;
export const MERKLE_MESSAGE_VERSION = 1;
const SPAN = 1n << 64n;

/** Token width of a range (2^64 for the whole ring). */
export function rangeWidth(range: TokenRange): bigint {
  const w = BigInt.asUintN(64, range.end - range.start);
  return w === 0n ? SPAN : w;
}

function offsetOf(range: TokenRange, token: Token): bigint {
  return BigInt.asUintN(64, token - range.start - 1n);
}

/** Whether (start, end] holds `token` (start >= end wraps; start === end is everything). */
export function rangeContains(range: TokenRange, token: Token): boolean {
  return offsetOf(range, token) < rangeWidth(range);
}

const leafStart = (width: bigint, leaves: bigint, i: bigint): bigint => (i * width) / leaves;

/** The leaf of `token` in a tree of `depth` over `range` (the token must be in the range). */
export function leafOf(range: TokenRange, depth: number, token: Token): number {
  const o = offsetOf(range, token);
  const width = rangeWidth(range);
  assert(o < width, 'token outside the tree range');
  const leaves = 1n << BigInt(depth);
  // The largest i with floor(i*width/L) <= o.
  return Number(((o + 1n) * leaves - 1n) / width);
}

/** The tokens of leaf `i`: (start + lo, start + hi] — empty when lo === hi (a range narrower than its leaves). */
export function leafRange(range: TokenRange, depth: number, i: number): TokenRange | null {
  const width = rangeWidth(range);
  const leaves = 1n << BigInt(depth);
  const lo = leafStart(width, leaves, BigInt(i));
  const hi = leafStart(width, leaves, BigInt(i) + 1n);
  if (lo === hi) return null;
  return { start: BigInt.asIntN(64, range.start + lo), end: BigInt.asIntN(64, range.start + hi) };
}

function checkDepth(depth: number): void {
  assert(
    Number.isInteger(depth) && depth >= 0 && depth <= limits.merkleTreeLevelsCountMax,
    `Merkle depth must be 0..${limits.merkleTreeLevelsCountMax}: ${depth}`,
  );
}

/** A finished tree: 2^depth leaf hashes and counts over a range. */
export class MerkleTree {
  private rootHash: Uint8Array | undefined;

  constructor(
    readonly range: TokenRange,
    readonly depth: number,
    /** 2^depth * MERKLE_HASH_BYTES: leaf i at i * 16. */
    readonly leafHashes: Uint8Array,
    readonly counts: Uint32Array,
  ) {
    checkDepth(depth);
    assert(leafHashes.length === MERKLE_HASH_BYTES << depth && counts.length === 1 << depth, 'tree shape');
  }

  get leafCount(): number {
    return 1 << this.depth;
  }

  leafHash(i: number): Uint8Array {
    return this.leafHashes.subarray(i * MERKLE_HASH_BYTES, (i + 1) * MERKLE_HASH_BYTES);
  }

  /** Entries the tree was built from. */
  get entryCount(): number {
    let n = 0;
    for (const c of this.counts) n += c;
    return n;
  }

  /**
   * The root: each leaf's XOR and entry count hashed together (so equal XORs with different counts,
   * e.g. a key added twice, still differ), then level by level, each node the hash of its two
   * children.
   */
  root(): Uint8Array {
    if (this.rootHash !== undefined) return this.rootHash;
    let level = new Uint8Array(this.leafHashes.length);
    const withCount = new Uint8Array(MERKLE_HASH_BYTES + 4);
    const countView = new DataView(withCount.buffer);
    for (let i = 0; i < this.leafCount; i++) {
      withCount.set(this.leafHash(i), 0);
      countView.setUint32(MERKLE_HASH_BYTES, this.counts[i]!, false);
      level.set(digest(withCount), i * MERKLE_HASH_BYTES);
    }
    while (level.length > MERKLE_HASH_BYTES) {
      const up = new Uint8Array(level.length / 2);
      for (let p = 0; p < up.length; p += MERKLE_HASH_BYTES) {
        up.set(digest(level.subarray(2 * p, 2 * p + 2 * MERKLE_HASH_BYTES)), p);
      }
      level = up;
    }
    this.rootHash = level.slice();
    return this.rootHash;
  }
}

function digest(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(MERKLE_HASH_BYTES);
  murmur3X64_128Into(data, out, 0);
  return out;
}

/** Builds a tree from entries in any order; memory is the leaves (each key added once). */
export class MerkleTreeBuilder {
  private readonly leafHashes: Uint8Array;
  private readonly counts: Uint32Array;
  private finished = false;
  private readonly width: bigint;
  /** Reused input of an entry's digest: token, key, state hash; and the digest itself. */
  private scratch = new Uint8Array(256);
  private scratchView = new DataView(this.scratch.buffer);
  private readonly entryDigest = new Uint8Array(MERKLE_HASH_BYTES);

  constructor(
    readonly range: TokenRange,
    readonly depth: number,
  ) {
    checkDepth(depth);
    this.leafHashes = new Uint8Array(MERKLE_HASH_BYTES << depth);
    this.counts = new Uint32Array(1 << depth);
    this.width = rangeWidth(range);
  }

  add(token: Token, key: Uint8Array, stateHash: Uint8Array): void {
    assert(!this.finished, 'add after finish');
    assert(stateHash.length <= limits.merkleStateHashBytesMax, 'state hash too long');
    assert(offsetOf(this.range, token) < this.width, 'entry outside the tree range');
    const i = leafOf(this.range, this.depth, token);
    // token:i64 ‖ uvarint keyLength ‖ key ‖ u8 stateHashLength ‖ stateHash
    const need = 8 + 5 + key.length + 1 + stateHash.length;
    if (this.scratch.length < need) {
      this.scratch = new Uint8Array(need * 2);
      this.scratchView = new DataView(this.scratch.buffer);
    }
    const buf = this.scratch;
    this.scratchView.setBigInt64(0, token, false);
    let p = 8;
    for (let n = key.length; ; n = Math.floor(n / 128)) {
      if (n < 128) {
        buf[p++] = n;
        break;
      }
      buf[p++] = (n & 0x7f) | 0x80;
    }
    buf.set(key, p);
    p += key.length;
    buf[p++] = stateHash.length;
    buf.set(stateHash, p);
    p += stateHash.length;
    murmur3X64_128Into(buf.subarray(0, p), this.entryDigest, 0);
    const at = i * MERKLE_HASH_BYTES;
    for (let b = 0; b < MERKLE_HASH_BYTES; b++) this.leafHashes[at + b]! ^= this.entryDigest[b]!;
    this.counts[i]!++;
  }

  finish(): MerkleTree {
    this.finished = true;
    return new MerkleTree(this.range, this.depth, this.leafHashes, this.counts);
  }
}

/**
 * A set of token ranges for fast membership: each range (start, end] (wrapping, or the whole ring)
 * is cut into inclusive non-wrapping intervals, sorted and coalesced; `has` is a binary search.
 * An anti-entropy stream tests every scanned key against up to merkleStreamRangesCountMax ranges.
 */
export class TokenRangeSet {
  private readonly lo: bigint[] = [];
  private readonly hi: bigint[] = [];

  constructor(ranges: readonly TokenRange[]) {
    const parts: Array<[bigint, bigint]> = [];
    for (const r of ranges) {
      if (r.start === r.end) parts.push([TOKEN_MIN_, TOKEN_MAX_]);
      else if (r.start < r.end) parts.push([r.start + 1n, r.end]);
      else {
        if (r.start < TOKEN_MAX_) parts.push([r.start + 1n, TOKEN_MAX_]);
        parts.push([TOKEN_MIN_, r.end]);
      }
    }
    parts.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    for (const [l, h] of parts) {
      const last = this.hi.length - 1;
      if (last >= 0 && l <= this.hi[last]! + 1n) {
        if (h > this.hi[last]!) this.hi[last] = h;
      } else {
        this.lo.push(l);
        this.hi.push(h);
      }
    }
  }

  has(token: Token): boolean {
    let a = 0;
    let b = this.lo.length - 1;
    while (a <= b) {
      const m = (a + b) >>> 1;
      if (token < this.lo[m]!) b = m - 1;
      else if (token > this.hi[m]!) a = m + 1;
      else return true;
    }
    return false;
  }
}

const TOKEN_MIN_ = -(1n << 63n);
const TOKEN_MAX_ = (1n << 63n) - 1n;

/** What two trees disagree on: leaf indexes, and their token ranges with adjacent leaves merged. */
export interface MerkleDiff {
  readonly leaves: readonly number[];
  readonly ranges: readonly TokenRange[];
  /** Entries under the differing leaves, on each side (what streaming them costs). */
  readonly entriesLocal: number;
  readonly entriesRemote: number;
}

/** The leaves where two trees of the same range and depth differ; nothing when they are equal. */
export function diffTrees(local: MerkleTree, remote: MerkleTree): MerkleDiff {
  assert(
    local.depth === remote.depth && local.range.start === remote.range.start && local.range.end === remote.range.end,
    'only trees of the same range and depth compare',
  );
  const leaves: number[] = [];
  const ranges: TokenRange[] = [];
  let entriesLocal = 0;
  let entriesRemote = 0;
  if (bytesEqual(local.root(), remote.root())) return { leaves, ranges, entriesLocal, entriesRemote };
  for (let i = 0; i < local.leafCount; i++) {
    if (bytesEqual(local.leafHash(i), remote.leafHash(i)) && local.counts[i] === remote.counts[i]) continue;
    leaves.push(i);
    entriesLocal += local.counts[i]!;
    entriesRemote += remote.counts[i]!;
    const r = leafRange(local.range, local.depth, i);
    if (r === null) continue;
    const prev = ranges[ranges.length - 1];
    if (prev !== undefined && leaves.length > 1 && leaves[leaves.length - 2] === i - 1 && prev.end === r.start) {
      ranges[ranges.length - 1] = { start: prev.start, end: r.end };
    } else {
      ranges.push(r);
    }
  }
  return { leaves, ranges, entriesLocal, entriesRemote };
}

// --- exchange messages ------------------------------------------------------------------------------

export type MerkleMessage =
  | {
      readonly type: 'treeRequest';
      readonly op: number;
      readonly range: TokenRange;
      readonly depth: number;
      readonly root: Uint8Array;
    }
  | {
      readonly type: 'treeReply';
      readonly op: number;
      readonly range: TokenRange;
      readonly depth: number;
      /** 'tree': `tree` follows; 'same': the roots are equal; 'busy': refused, retry later. */
      readonly status: 'tree' | 'same' | 'busy';
      readonly tree?: MerkleTree;
    }
  | { readonly type: 'streamRequest'; readonly op: number; readonly ranges: readonly TokenRange[] };

const STATUS_TAGS = { tree: 0, same: 1, busy: 2 } as const;
const STATUS_BY_TAG = ['tree', 'same', 'busy'] as const;

function malformed(message: string): never {
  throw new ProtocolError('dynamo_malformed', `merkle: ${message}`);
}

export function encodeMerkleMessage(m: MerkleMessage): Uint8Array {
  const w = new ByteWriter({ bytesMax: limits.peerFrameBytesMax });
  w.u8(MERKLE_MESSAGE_VERSION);
  switch (m.type) {
    case 'treeRequest':
      assert(m.root.length === MERKLE_HASH_BYTES, 'a root is 16 bytes');
      w.u8(1).uvarint(m.op).i64(m.range.start).i64(m.range.end).u8(m.depth).raw(m.root);
      break;
    case 'treeReply': {
      w.u8(2).uvarint(m.op).i64(m.range.start).i64(m.range.end).u8(m.depth).u8(STATUS_TAGS[m.status]);
      if (m.status !== 'tree') break;
      const t = m.tree!;
      assert(t.depth === m.depth, 'the tree has the reply depth');
      for (let i = 0; i < t.leafCount; i++) w.raw(t.leafHash(i)).uvarint(t.counts[i]!);
      break;
    }
    case 'streamRequest':
      assert(m.ranges.length >= 1 && m.ranges.length <= limits.merkleStreamRangesCountMax, 'stream ranges bound');
      w.u8(3).uvarint(m.op).uvarint(m.ranges.length);
      for (const r of m.ranges) w.i64(r.start).i64(r.end);
      break;
  }
  return w.finish();
}

function readRange(r: ByteReader): TokenRange {
  return { start: r.i64(), end: r.i64() };
}

function readDepth(r: ByteReader): number {
  const depth = r.u8();
  if (depth > limits.merkleTreeLevelsCountMax) malformed(`depth ${depth}, max ${limits.merkleTreeLevelsCountMax}`);
  return depth;
}

/** Decodes one Merkle exchange message from untrusted bytes (grammar at the top of this file). */
export function decodeMerkleMessage(bytes: Uint8Array): MerkleMessage {
  const r = new ByteReader(bytes);
  const version = r.u8();
  if (version !== MERKLE_MESSAGE_VERSION) {
    throw new ProtocolError('dynamo_bad_version', `merkle message version ${version}, this build reads 1`, { version });
  }
  const tag = r.u8();
  let m: MerkleMessage;
  switch (tag) {
    case 1: {
      const op = r.uvarint();
      const range = readRange(r);
      const depth = readDepth(r);
      m = { type: 'treeRequest', op, range, depth, root: r.raw(MERKLE_HASH_BYTES).slice() };
      break;
    }
    case 2: {
      const op = r.uvarint();
      const range = readRange(r);
      const depth = readDepth(r);
      const statusTag = r.u8();
      const status = STATUS_BY_TAG[statusTag];
      if (status === undefined) malformed(`tree reply status ${statusTag}`);
      if (status !== 'tree') {
        m = { type: 'treeReply', op, range, depth, status };
        break;
      }
      const leaves = 1 << depth;
      // Each leaf takes at least 17 bytes: refuse a count the payload cannot hold before allocating.
      if (r.remaining < leaves * (MERKLE_HASH_BYTES + 1)) malformed(`a depth-${depth} tree in ${r.remaining} bytes`);
      const hashes = new Uint8Array(leaves * MERKLE_HASH_BYTES);
      const counts = new Uint32Array(leaves);
      for (let i = 0; i < leaves; i++) {
        hashes.set(r.raw(MERKLE_HASH_BYTES), i * MERKLE_HASH_BYTES);
        const count = r.uvarint();
        if (count > 0xffffffff) malformed(`leaf count ${count}`);
        counts[i] = count;
      }
      m = { type: 'treeReply', op, range, depth, status, tree: new MerkleTree(range, depth, hashes, counts) };
      break;
    }
    case 3: {
      const op = r.uvarint();
      const n = r.uvarint();
      if (n < 1 || n > limits.merkleStreamRangesCountMax) malformed(`${n} stream ranges`);
      if (r.remaining < n * 16) malformed(`${n} stream ranges in ${r.remaining} bytes`);
      const ranges: TokenRange[] = [];
      for (let i = 0; i < n; i++) ranges.push(readRange(r));
      m = { type: 'streamRequest', op, ranges };
      break;
    }
    default:
      throw new ProtocolError('dynamo_bad_type', `merkle message type ${tag}`, { type: tag });
  }
  r.expectEnd('merkle message');
  return m;
}
