// A sorted run (an SSTable): an immutable file of entries in strictly increasing key order, one
// version per key, written once by a flush or a compaction and read by point lookups and range
// cursors. Owns the run's file format, its writer (streamed block by block, never the whole run in
// memory) and its reader (index and bloom filter in memory, data blocks read on demand).
//
// File grammar (little-endian):
//   run     := block* index bloom footer
//   block   := entry+ crc:u32               crc32c of the block's entries (entry: entry.ts)
//   index   := count:u32 (cut:u8 keyBytes:u16 lastKey offset:u64 bytes:u32){count} crc:u32
//              one entry per block, in file order: the block's last key (cut = 0), or when that key
//              is longer than indexKeyBytes its first indexKeyBytes bytes (cut = 1), where the
//              block starts, its bytes
//   bloom   := bloom.ts's encoding, crc:u32
//   footer  := magic:u32 version:u16 indexKeyBytes:u16 indexOffset:u64 indexBytes:u32
//              bloomOffset:u64 bloomBytes:u32 entries:u64 minSeq:u64 maxSeq:u64 0:u32 crc:u32
//              (64 bytes) crc = crc32c(footer[0, 60)); indexBytes and bloomBytes include their crc
// Version 1 (still read): index entries without `cut`, every last key whole, and 0 for indexKeyBytes.
// Every byte of the file is under exactly one CRC, so any flipped bit is detected by the open (footer,
// index, bloom) or by the read of its block — a CorruptionError naming the file and offset, never
// wrong data. A CRC mismatch is believed only when a re-read agrees (up to diskReadAttemptsMax), so
// a transient read error does not fail a read.
//
// Durability: the writer writes `<name>.tmp`, fdatasyncs it, renames it into place and syncs the
// directory; a run under its final name is therefore complete. Whether it is live is the
// manifest's decision (manifest.ts), not the file's.
//
// Memory of an open run: its index, per block of at least blockBytes (one entry when entries are
// larger) at most indexKeyBytes of its last key + 17 bytes, however long the keys are; and its
// bloom filter (bitsPerKey / 8 bytes per key); data blocks are read per lookup, through the
// engine's bounded BlockCache. A lookup whose key begins with a cut key's kept bytes cannot tell
// from the index alone whether that block ends below it, and reads the block's last key from the
// block (through the cache). The blocks whose cut keys keep the same bytes are searched so, one
// block read per step: about log2 of their number per lookup. In the store that is the elements
// of one collection whose escaped name is 246 bytes or more (a review measured 7.3 block reads
// per lookup in 10,000 such blocks: 191 us against 39 with whole keys and a 1 MiB cache, 108
// against 39 all cached); keys that differ within their first 256 bytes never pay it.

import { crc32c } from '@node-rs/crc32';
import { diskReadAttemptsMax } from '../../env/disk-io.ts';
import type { Disk, DiskFile } from '../../env/types.ts';
import { assert } from '../../lib/assert.ts';
import { CorruptionError } from '../../lib/errors.ts';
import { BloomFilter } from './bloom.ts';
import {
  compareKeys,
  compareKeysAt,
  decodeEntryAt,
  type Entry,
  type EntryBounds,
  ENTRY_HEADER_BYTES,
  entryBytes,
  entryEndAt,
  entryExtentAt,
  entryKeyBytesAt,
  entryNumbersProblemAt,
  getU64,
  setU64,
  writeEntry,
} from './entry.ts';

export const RUN_SUFFIX = '.sst';
export const RUN_TEMP_SUFFIX = '.tmp';
const FOOTER_BYTES = 64;
const RUN_MAGIC = 0x4c534d52; // 'LSMR'
const RUN_VERSION = 2;
const CRC_BYTES = 4;
/** How many bytes of a block's last key the index keeps (RunFormat.indexKeyBytes's default). */
export const RUN_INDEX_KEY_BYTES = 256;
/** A cut key in the index is at most this long (the footer's u16, and the engine's key bound). */
const INDEX_KEY_BYTES_MAX = 65_535;

export function runFileName(id: number): string {
  return `run-${String(id).padStart(10, '0')}${RUN_SUFFIX}`;
}

/** The id in a run file name, or undefined for any other name. */
export function parseRunFileName(name: string): number | undefined {
  const m = /^run-(\d{10})\.sst$/.exec(name);
  return m === null ? undefined : Number(m[1]);
}

export interface RunFormat {
  /** A data block is closed once it holds at least this many bytes. */
  readonly blockBytes: number;
  readonly bloomBitsPerKey: number;
  readonly bounds: EntryBounds;
  /** The index keeps at most this many bytes of each block's last key (default RUN_INDEX_KEY_BYTES). */
  readonly indexKeyBytes?: number;
}

/** What a finished run holds (also what the reader learns from its footer). */
export interface RunInfo {
  readonly id: number;
  readonly entries: number;
  readonly fileBytes: number;
  readonly minSeq: number;
  readonly maxSeq: number;
}

function corrupt(path: string, offset: number, what: string): CorruptionError {
  return new CorruptionError(`lsm run ${path}: ${what} at offset ${offset}`, { file: path, offset });
}

class Growable {
  bytes = new Uint8Array(4096);
  view = new DataView(this.bytes.buffer);
  length = 0;
  reserve(more: number): void {
    if (this.length + more <= this.bytes.byteLength) return;
    let size = this.bytes.byteLength;
    while (size < this.length + more) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
    this.view = new DataView(grown.buffer);
  }
}

/**
 * Writes one run. `add` entries in strictly increasing key order, then `finish`; `abort` drops the
 * temp file. Disk errors propagate (the engine then stops: see engine.ts).
 */
export class RunWriter {
  private readonly file: DiskFile;
  private readonly tempPath: string;
  private readonly path: string;
  private readonly block = new Growable();
  private readonly index = new Growable();
  private readonly bloom: BloomFilter;
  private readonly indexKeyBytes: number;
  private lastKey: Uint8Array | null = null;
  private offset = 0;
  private blocks = 0;
  private entries = 0;
  private minSeq = Number.MAX_SAFE_INTEGER;
  private maxSeq = 0;

  constructor(
    private readonly disk: Disk,
    private readonly dir: string,
    readonly id: number,
    expectedKeys: number,
    private readonly format: RunFormat,
    private readonly syncBeforeRename = true,
  ) {
    this.path = `${dir}/${runFileName(id)}`;
    this.tempPath = `${this.path}${RUN_TEMP_SUFFIX}`;
    if (disk.exists(this.tempPath)) disk.remove(this.tempPath);
    this.file = disk.open(this.tempPath, { create: true });
    this.bloom = BloomFilter.create(expectedKeys, format.bloomBitsPerKey);
    this.indexKeyBytes = format.indexKeyBytes ?? RUN_INDEX_KEY_BYTES;
    assert(
      Number.isSafeInteger(this.indexKeyBytes) && this.indexKeyBytes >= 1 && this.indexKeyBytes <= INDEX_KEY_BYTES_MAX,
      'indexKeyBytes out of range',
    );
    this.index.length = 4; // count, written at finish
  }

  add(e: Entry): void {
    assert(this.lastKey === null || compareKeys(this.lastKey, e.key) < 0, 'run entries out of order');
    const size = entryBytes(e);
    this.block.reserve(size + CRC_BYTES);
    this.block.length = writeEntry(e, this.block.bytes, this.block.view, this.block.length);
    this.lastKey = e.key;
    this.bloom.add(e.key);
    this.entries++;
    this.minSeq = Math.min(this.minSeq, e.seq);
    this.maxSeq = Math.max(this.maxSeq, e.seq);
    if (this.block.length >= this.format.blockBytes) this.closeBlock();
  }

  get entryCount(): number {
    return this.entries;
  }

  private closeBlock(): void {
    if (this.block.length === 0) return;
    const b = this.block;
    b.view.setUint32(b.length, crc32c(b.bytes.subarray(0, b.length)), true);
    const bytes = b.length + CRC_BYTES;
    this.file.append(b.bytes.subarray(0, bytes));
    const whole = this.lastKey!;
    const cut = whole.byteLength > this.indexKeyBytes;
    const key = cut ? whole.subarray(0, this.indexKeyBytes) : whole;
    const ix = this.index;
    ix.reserve(3 + key.byteLength + 12);
    ix.bytes[ix.length] = cut ? 1 : 0;
    ix.view.setUint16(ix.length + 1, key.byteLength, true);
    ix.bytes.set(key, ix.length + 3);
    ix.length += 3 + key.byteLength;
    setU64(ix.view, ix.length, this.offset);
    ix.view.setUint32(ix.length + 8, bytes, true);
    ix.length += 12;
    this.offset += bytes;
    this.blocks++;
    b.length = 0;
  }

  /** Completes the run durably under its final name. At least one entry must have been added. */
  finish(): RunInfo {
    assert(this.entries > 0, 'a run holds at least one entry');
    this.closeBlock();
    const ix = this.index;
    ix.view.setUint32(0, this.blocks, true);
    ix.reserve(CRC_BYTES);
    ix.view.setUint32(ix.length, crc32c(ix.bytes.subarray(0, ix.length)), true);
    const indexBytes = ix.length + CRC_BYTES;
    // The footer's u32 (a run past ~15 million blocks; the growing buffer stops at 4 GiB first).
    if (indexBytes > 0xffff_ffff) throw new RangeError(`lsm run ${this.path}: index of ${indexBytes} bytes`);
    const indexOffset = this.offset;
    this.file.append(ix.bytes.subarray(0, indexBytes));
    const bloom = this.bloom.encode();
    const bloomRegion = new Uint8Array(bloom.byteLength + CRC_BYTES);
    bloomRegion.set(bloom);
    new DataView(bloomRegion.buffer).setUint32(bloom.byteLength, crc32c(bloom), true);
    const bloomOffset = indexOffset + indexBytes;
    this.file.append(bloomRegion);
    const footer = new Uint8Array(FOOTER_BYTES);
    const v = new DataView(footer.buffer);
    const u64 = (at: number, n: number) => setU64(v, at, n);
    v.setUint32(0, RUN_MAGIC, true);
    v.setUint16(4, RUN_VERSION, true);
    v.setUint16(6, this.indexKeyBytes, true);
    u64(8, indexOffset);
    v.setUint32(16, indexBytes, true);
    u64(20, bloomOffset);
    v.setUint32(28, bloomRegion.byteLength, true);
    u64(32, this.entries);
    u64(40, this.minSeq);
    u64(48, this.maxSeq);
    v.setUint32(60, crc32c(footer.subarray(0, 60)), true);
    this.file.append(footer);
    if (this.syncBeforeRename) this.file.sync();
    this.file.close();
    this.disk.rename(this.tempPath, this.path);
    this.disk.syncDir(this.dir);
    return {
      id: this.id,
      entries: this.entries,
      fileBytes: bloomOffset + bloomRegion.byteLength + FOOTER_BYTES,
      minSeq: this.minSeq,
      maxSeq: this.maxSeq,
    };
  }

  /** Drops the unfinished run (after an error other than a disk failure). */
  abort(): void {
    this.file.close();
    this.disk.remove(this.tempPath);
  }
}

/** A verified data block, and once a point lookup asked, where each of its entries starts. */
export interface CachedBlock {
  readonly bytes: Uint8Array;
  /** Entry starts in key order, every header and the key order checked (RunReader.entryStarts). */
  starts: Int32Array | undefined;
}

/**
 * Verified data blocks of every run, least recently used evicted first, at most `bytesMax` bytes
 * (0: no caching), a block's entry starts counted with it. Keyed by a reader's cacheBase plus the
 * block's number (a number: no string made and hashed per lookup); a compaction's removed runs
 * age out.
 */
export class BlockCache {
  private readonly blocks = new Map<number, CachedBlock>();
  private heldBytes = 0;

  constructor(readonly bytesMax: number) {}

  get(id: number): CachedBlock | undefined {
    const b = this.blocks.get(id);
    if (b !== undefined) {
      this.blocks.delete(id);
      this.blocks.set(id, b);
    }
    return b;
  }

  /** Caches `bytes` as block `id` (not when over the bound) and returns its entry either way. */
  put(id: number, bytes: Uint8Array): CachedBlock {
    const block: CachedBlock = { bytes, starts: undefined };
    if (bytes.byteLength > this.bytesMax) return block;
    const replaced = this.blocks.get(id);
    if (replaced !== undefined) {
      this.blocks.delete(id);
      this.heldBytes -= replaced.bytes.byteLength + (replaced.starts?.byteLength ?? 0);
    }
    this.blocks.set(id, block);
    this.heldBytes += bytes.byteLength;
    this.evict();
    return block;
  }

  /** Whether `block` is the one cached as `id`. */
  holds(id: number, block: CachedBlock): boolean {
    return this.blocks.get(id) === block;
  }

  /** Block `id` (cached or not) was given its entry starts. */
  addStarts(id: number, block: CachedBlock, starts: Int32Array): void {
    // Not with a block they would push out of the cache (every other block first): kept without.
    if (block.bytes.byteLength + starts.byteLength > this.bytesMax) return;
    block.starts = starts;
    if (!this.holds(id, block)) return;
    this.heldBytes += starts.byteLength;
    this.evict();
  }

  private evict(): void {
    for (const [k, v] of this.blocks) {
      if (this.heldBytes <= this.bytesMax) break;
      this.blocks.delete(k);
      this.heldBytes -= v.bytes.byteLength + (v.starts?.byteLength ?? 0);
    }
  }

  get bytes(): number {
    return this.heldBytes;
  }
}

const noCache = new BlockCache(0);

/** A run's blocks in a BlockCache's keys (4 KiB blocks: runs to 256 GiB); blocks past it are not cached. */
const CACHED_BLOCKS_PER_RUN_MAX = 2 ** 26;
/** Readers opened in this process: each has its own range of cache keys (2^27 of them). */
let readersOpened = 0;

/**
 * A run's block index in memory: per block the bytes of its last key the index keeps (whole, or
 * cut to the first indexKeyBytes), where the block starts and its bytes. Typed arrays and one
 * buffer of key bytes: no object per block.
 */
interface BlockIndex {
  /** The kept key bytes, block after block: block b's are keys[keyStarts[b], keyStarts[b + 1]). */
  readonly keys: Uint8Array;
  readonly keyStarts: Uint32Array;
  /** 1 where the kept bytes are the beginning of a longer last key. */
  readonly cut: Uint8Array;
  readonly offsets: Float64Array;
  readonly lengths: Uint32Array;
}

/**
 * Parses and checks an index region (its CRC already checked): entries that tile the data blocks
 * from offset 0 to `dataEnd`, kept keys in order. Version 1's whole keys are cut here to
 * `indexKeyBytes`, so an old run's index takes no more memory than a new one's.
 */
function parseIndex(
  index: Uint8Array,
  version: number,
  indexKeyBytes: number,
  keyBytesMax: number,
  dataEnd: number,
  fail: (at: number, what: string) => CorruptionError,
): BlockIndex {
  const iv = new DataView(index.buffer, index.byteOffset, index.byteLength);
  const end = index.byteLength - CRC_BYTES;
  const count = iv.getUint32(0, true);
  const entryBytesMin = version === 1 ? 14 : 15;
  if (count === 0 || count > (end - 4) / entryBytesMin) throw fail(0, `index count ${count} does not fit the index`);
  const kept = new Uint8Array(Math.min(end, count * indexKeyBytes));
  const keyStarts = new Uint32Array(count + 1);
  const cut = new Uint8Array(count);
  const offsets = new Float64Array(count);
  const lengths = new Uint32Array(count);
  let keptBytes = 0;
  let p = 4;
  let expectOffset = 0;
  // Version 1: where the previous whole key is in the region (its order is checked on whole keys).
  let prevKeyAt = -1;
  let prevKeyBytes = 0;
  for (let i = 0; i < count; i++) {
    const entryAt = p;
    let cutHere = 0;
    if (version !== 1) {
      if (p + 1 > end) throw fail(entryAt, 'index entry cut off');
      cutHere = index[p++]!;
      if (cutHere > 1) throw fail(entryAt, `index entry flag ${cutHere}`);
    }
    if (p + 2 > end) throw fail(entryAt, 'index entry cut off');
    const keyBytes = iv.getUint16(p, true);
    if (keyBytes > keyBytesMax || p + 2 + keyBytes + 12 > end) throw fail(entryAt, 'index entry cut off');
    if (version !== 1 && (cutHere === 1 ? keyBytes !== indexKeyBytes : keyBytes > indexKeyBytes)) {
      throw fail(entryAt, `index key of ${keyBytes} bytes (the index keeps ${indexKeyBytes})`);
    }
    if (version === 1 && keyBytes > indexKeyBytes) cutHere = 1;
    const keep = Math.min(keyBytes, indexKeyBytes);
    kept.set(index.subarray(p + 2, p + 2 + keep), keptBytes);
    keyStarts[i] = keptBytes;
    keptBytes += keep;
    keyStarts[i + 1] = keptBytes;
    cut[i] = cutHere;
    p += 2 + keyBytes;
    const offset = getU64(iv, p);
    const length = iv.getUint32(p + 8, true);
    p += 12;
    if (offset !== expectOffset || length <= CRC_BYTES) throw fail(entryAt, 'index blocks do not tile');
    if (version === 1) {
      // Whole keys, checked whole (cut first, two keys out of order past the kept bytes would tie).
      const keyAt = entryAt + 2;
      if (prevKeyAt >= 0 && compareKeysAt(index, prevKeyAt, prevKeyBytes, index, keyAt, keyBytes) >= 0)
        throw fail(entryAt, 'index keys out of order');
      prevKeyAt = keyAt;
      prevKeyBytes = keyBytes;
    } else if (i > 0) {
      const c = compareKeysAt(kept, keyStarts[i - 1]!, keyStarts[i]! - keyStarts[i - 1]!, kept, keyStarts[i]!, keep);
      // The last keys strictly ascend; a cut one may keep the same bytes as the key before it.
      if (c > 0 || (c === 0 && cutHere === 0)) throw fail(entryAt, 'index keys out of order');
    }
    expectOffset = offset + length;
    offsets[i] = offset;
    lengths[i] = length;
  }
  if (p !== end || expectOffset !== dataEnd) throw fail(0, 'index does not cover the data blocks');
  return { keys: kept.slice(0, keptBytes), keyStarts, cut, offsets, lengths };
}

/** Reads one live run: footer, index and bloom checked at open; blocks checked per read. */
export class RunReader {
  private readonly offsets: Float64Array;
  private readonly lengths: Uint32Array;

  private constructor(
    readonly info: RunInfo,
    readonly path: string,
    private readonly file: DiskFile,
    private readonly bounds: EntryBounds,
    private readonly index: BlockIndex,
    private readonly bloom: BloomFilter,
    private readonly verifyBlocks: boolean,
    private readonly cache: BlockCache,
  ) {
    assert(readersOpened < 2 ** 27, 'run readers opened in this process exhaust the block cache keys');
    this.cacheBase = readersOpened++ * CACHED_BLOCKS_PER_RUN_MAX;
    this.offsets = index.offsets;
    this.lengths = index.lengths;
  }

  /** This reader's first BlockCache key (a number: no string made and hashed per lookup). */
  private readonly cacheBase: number;

  /** Opens run `id` in `dir`; CorruptionError if any structural check fails. */
  static open(
    disk: Disk,
    dir: string,
    id: number,
    bounds: EntryBounds,
    more: { readonly verifyBlocks?: boolean; readonly cache?: BlockCache } = {},
  ): RunReader {
    const path = `${dir}/${runFileName(id)}`;
    const file = disk.open(path, { create: false });
    try {
      return RunReader.read(file, path, id, bounds, more.verifyBlocks !== false, more.cache ?? noCache);
    } catch (error) {
      file.close();
      throw error;
    }
  }

  private static read(
    file: DiskFile,
    path: string,
    id: number,
    bounds: EntryBounds,
    verifyBlocks: boolean,
    cache: BlockCache,
  ) {
    const size = file.size();
    if (size < FOOTER_BYTES) throw corrupt(path, 0, `file of ${size} bytes is shorter than a footer`);
    const footerAt = size - FOOTER_BYTES;
    const footer = readChecked(file, path, footerAt, FOOTER_BYTES, 'footer', (b) => {
      const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
      return crc32c(b.subarray(0, 60)) === v.getUint32(60, true);
    });
    const v = new DataView(footer.buffer, footer.byteOffset, footer.byteLength);
    const u64 = (at: number) => getU64(v, at);
    if (v.getUint32(0, true) !== RUN_MAGIC) throw corrupt(path, footerAt, 'bad magic');
    const version = v.getUint16(4, true);
    if (version !== RUN_VERSION && version !== 1) throw corrupt(path, footerAt, `unknown version ${version}`);
    const indexKeyBytes = version === 1 ? RUN_INDEX_KEY_BYTES : v.getUint16(6, true);
    if (indexKeyBytes === 0) throw corrupt(path, footerAt, 'index keeps 0 bytes of each key');
    const indexOffset = u64(8);
    const indexBytes = v.getUint32(16, true);
    const bloomOffset = u64(20);
    const bloomBytes = v.getUint32(28, true);
    const info: RunInfo = { id, entries: u64(32), fileBytes: size, minSeq: u64(40), maxSeq: u64(48) };
    if (indexOffset + indexBytes !== bloomOffset || bloomOffset + bloomBytes !== footerAt || indexBytes < 8) {
      throw corrupt(path, footerAt, 'footer regions do not tile the file');
    }
    const crcOk = (b: Uint8Array) =>
      crc32c(b.subarray(0, b.byteLength - CRC_BYTES)) ===
      new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(b.byteLength - CRC_BYTES, true);
    const index = readChecked(file, path, indexOffset, indexBytes, 'index', crcOk);
    const bloomRegion = readChecked(file, path, bloomOffset, bloomBytes, 'bloom filter', crcOk);
    const bloom = BloomFilter.decode(bloomRegion.subarray(0, bloomBytes - CRC_BYTES));
    if (typeof bloom === 'string') throw corrupt(path, bloomOffset, bloom);
    const blocks = parseIndex(index, version, indexKeyBytes, bounds.keyBytesMax, indexOffset, (at, what) =>
      corrupt(path, indexOffset + at, what),
    );
    const count = blocks.cut.length;
    // The footer's counts size a compaction's bloom filter: they must fit the data they describe.
    if (info.entries < count || info.entries * ENTRY_HEADER_BYTES > indexOffset || info.minSeq > info.maxSeq) {
      throw corrupt(path, footerAt, 'footer counts do not fit the data blocks');
    }
    return new RunReader(info, path, file, bounds, blocks, bloom, verifyBlocks, cache);
  }

  /** Bytes this reader holds in memory (index keys and positions, bloom bits). */
  get memoryBytes(): number {
    const x = this.index;
    return (
      x.keys.byteLength +
      x.keyStarts.byteLength +
      x.cut.byteLength +
      x.offsets.byteLength +
      x.lengths.byteLength +
      this.bloom.bytes
    );
  }

  get blockCount(): number {
    return this.index.cut.length;
  }

  mayContain(key: Uint8Array): boolean {
    return this.bloom.mayContain(key);
  }

  /** The first block whose last key is >= key (blockCount when none). */
  private blockFor(key: Uint8Array): number {
    let lo = 0;
    let hi = this.blockCount;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.compareLastKey(mid, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Block b's last key compared with `key` (<0, 0, >0). From the index alone, unless the index
   * keeps only the beginning of that last key and `key` begins with it: then from the block.
   */
  private compareLastKey(b: number, key: Uint8Array): number {
    const x = this.index;
    const at = x.keyStarts[b]!;
    const n = x.keyStarts[b + 1]! - at;
    const c = compareKeysAt(x.keys, at, n, key, 0, key.byteLength);
    if (x.cut[b] === 0) return c;
    // The last key is longer than the n bytes kept: above `key` when those are >= it.
    if (c >= 0) return 1;
    if (key.byteLength <= n || compareKeysAt(x.keys, at, n, key, 0, n) !== 0) return c;
    const block = this.block(b);
    const starts = block.starts ?? this.entryStarts(b, block);
    const buf = block.bytes;
    const last = starts[starts.length - 1]!;
    const lastKeyBytes = entryKeyBytesAt(buf, last);
    this.checkLastKey(b, buf.subarray(last + ENTRY_HEADER_BYTES, last + ENTRY_HEADER_BYTES + lastKeyBytes));
    return compareKeysAt(buf, last + ENTRY_HEADER_BYTES, lastKeyBytes, key, 0, key.byteLength);
  }

  /** The bytes of block `b` (its CRC checked), from the cache or the file; the CRC excluded. */
  blockBytes(b: number): Uint8Array {
    return this.block(b).bytes;
  }

  private blockId(b: number): number {
    return b < CACHED_BLOCKS_PER_RUN_MAX ? this.cacheBase + b : -1;
  }

  private block(b: number): CachedBlock {
    const id = this.blockId(b);
    const cached = id < 0 ? undefined : this.cache.get(id);
    if (cached !== undefined) return cached;
    const offset = this.offsets[b]!;
    const length = this.lengths[b]!;
    const ok = (buf: Uint8Array) =>
      !this.verifyBlocks ||
      crc32c(buf.subarray(0, length - CRC_BYTES)) ===
        new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(length - CRC_BYTES, true);
    const buf = readChecked(this.file, this.path, offset, length, `block ${b}`, ok).subarray(0, length - CRC_BYTES);
    return id >= 0 ? this.cache.put(id, buf) : { bytes: buf, starts: undefined };
  }

  /** Where the entry at `at` of block `b`'s bytes ends (its header checked), or a CorruptionError. */
  private entryEnd(b: number, buf: Uint8Array, at: number): number {
    const next = entryEndAt(buf, at, buf.byteLength, this.bounds);
    if (next >= 0) return next;
    this.extentAt(b, buf, at); // throws, saying why the entry is malformed
    throw this.corruptAt(b, at, 'malformed entry'); // (the two checks agree: entry.test.ts)
  }

  /** The extent of the entry at `at` of block `b`'s bytes, or a CorruptionError. */
  extentAt(b: number, buf: Uint8Array, at: number): { keyAt: number; keyBytes: number; end: number } {
    const x = entryExtentAt(buf, at, buf.byteLength, this.bounds);
    if (typeof x === 'string') throw corrupt(this.path, this.offsets[b]! + at, x);
    return x;
  }

  /** The entry at `at` of block `b`'s bytes, decoded (copies), or a CorruptionError. */
  decodeAt(b: number, buf: Uint8Array, at: number): { entry: Entry; end: number } {
    const d = decodeEntryAt(buf, at, buf.byteLength, this.bounds);
    if (typeof d === 'string') throw corrupt(this.path, this.offsets[b]! + at, d);
    return d;
  }

  corruptAt(b: number, at: number, reason: string): CorruptionError {
    return corrupt(this.path, this.offsets[b]! + at, reason);
  }

  /** The last entry of block `b` must carry the block's indexed key (begin with it, when cut). */
  checkLastKey(b: number, key: Uint8Array): void {
    const x = this.index;
    const at = x.keyStarts[b]!;
    const n = x.keyStarts[b + 1]! - at;
    const matches =
      x.cut[b] === 0
        ? compareKeysAt(x.keys, at, n, key, 0, key.byteLength) === 0
        : key.byteLength > n && compareKeysAt(x.keys, at, n, key, 0, n) === 0;
    if (!matches) throw corrupt(this.path, this.offsets[b]!, 'block does not end at its indexed key');
  }

  /**
   * The run's entry for `key` (tombstones included), or undefined. Consults the bloom filter, then
   * walks the one block that can hold the key comparing keys in place, and decodes only the match.
   */
  get(key: Uint8Array): Entry | undefined {
    if (!this.bloom.mayContain(key)) return undefined;
    const b = this.blockFor(key);
    if (b >= this.blockCount) return undefined;
    const block = this.block(b);
    const buf = block.bytes;
    if (block.starts === undefined && !this.cache.holds(this.blockId(b), block)) {
      // Not kept: one walk to the key, no starts made for nothing.
      const end = buf.byteLength;
      let at = 0;
      while (at < end) {
        const next = this.entryEnd(b, buf, at);
        const c = compareKeysAt(buf, at + ENTRY_HEADER_BYTES, entryKeyBytesAt(buf, at), key, 0, key.byteLength);
        if (c > 0) return undefined;
        if (c === 0) return this.decodeAt(b, buf, at).entry;
        at = next;
      }
      return undefined;
    }
    const starts = block.starts ?? this.entryStarts(b, block);
    // Binary search over the entries' keys, in place.
    let lo = 0;
    let hi = starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const at = starts[mid]!;
      const c = compareKeysAt(buf, at + ENTRY_HEADER_BYTES, entryKeyBytesAt(buf, at), key, 0, key.byteLength);
      if (c === 0) return this.decodeAt(b, buf, at).entry;
      if (c < 0) lo = mid + 1;
      else hi = mid;
    }
    return undefined;
  }

  /**
   * Where each entry of block `b` starts, kept with the block: every header checked as a walk
   * checks it and the keys strictly ascending (a CorruptionError otherwise), once per cached block.
   */
  private entryStarts(b: number, block: CachedBlock): Int32Array {
    const buf = block.bytes;
    const end = buf.byteLength;
    const starts: number[] = [];
    let prev = -1;
    let at = 0;
    while (at < end) {
      const next = this.entryEnd(b, buf, at);
      if (prev >= 0) {
        const c = compareKeysAt(
          buf,
          prev + ENTRY_HEADER_BYTES,
          entryKeyBytesAt(buf, prev),
          buf,
          at + ENTRY_HEADER_BYTES,
          entryKeyBytesAt(buf, at),
        );
        if (c >= 0) throw this.corruptAt(b, at, 'block keys out of order');
      }
      starts.push(at);
      prev = at;
      at = next;
    }
    const kept = Int32Array.from(starts);
    this.cache.addStarts(this.blockId(b), block, kept);
    return kept;
  }

  /** A cursor over entries with start <= key < end (end null: to the last key). */
  cursor(start: Uint8Array, end: Uint8Array | null): RunCursor {
    return new RunCursor(this, this.blockFor(start), start, end);
  }

  /** A cursor over entries with start <= key < end (end null: to the last key), in descending key order. */
  reverseCursor(start: Uint8Array, end: Uint8Array | null): ReverseRunCursor {
    // Blocks before blockFor(end) end below `end`; that block itself may hold keys below it.
    const last = end === null ? this.blockCount - 1 : Math.min(this.blockFor(end), this.blockCount - 1);
    return new ReverseRunCursor(this, last, start, end);
  }

  close(): void {
    this.file.close();
  }
}

/**
 * A run read backwards, one block at a time from the last that can hold a key below `end`. Entries
 * are encoded forward only, so each block is walked from its start, every entry checked as the
 * forward cursor checks it (grammar, seq and time, keys increasing, the last at the indexed key),
 * and the offsets of those in range are kept; they are then decoded and returned last first. A
 * block whose first key is below `start` is the last one read. Holds one block and its offsets.
 */
export class ReverseRunCursor {
  private buf: Uint8Array | null = null;
  private bufBlock = -1;
  /** Offsets in `buf` of the block's entries in range, in key order; returned from the end. */
  private readonly offsets: number[] = [];
  private current: Entry | undefined;
  /** No block below the current one can hold a key >= start. */
  private lastBlock = false;

  constructor(
    private readonly reader: RunReader,
    private block: number,
    private readonly start: Uint8Array,
    private readonly end: Uint8Array | null,
  ) {}

  /** Loads blocks downward until one holds an entry in range; false at the end. */
  private ensureEntries(): boolean {
    while (this.offsets.length === 0) {
      if (this.lastBlock || this.block < 0) {
        this.buf = null;
        return false;
      }
      this.bufBlock = this.block--;
      const buf = this.reader.blockBytes(this.bufBlock);
      if (buf.byteLength === 0) throw this.reader.corruptAt(this.bufBlock, 0, 'empty block');
      this.buf = buf;
      let prevAt = -1;
      let prevBytes = 0;
      for (let at = 0; at < buf.byteLength; ) {
        const x = this.reader.extentAt(this.bufBlock, buf, at);
        const problem = entryNumbersProblemAt(buf, at);
        if (problem !== undefined) throw this.reader.corruptAt(this.bufBlock, at, problem);
        if (prevAt >= 0 && compareKeysAt(buf, prevAt, prevBytes, buf, x.keyAt, x.keyBytes) >= 0) {
          throw this.reader.corruptAt(this.bufBlock, at, 'block keys out of order');
        }
        if (x.end === buf.byteLength)
          this.reader.checkLastKey(this.bufBlock, buf.subarray(x.keyAt, x.keyAt + x.keyBytes));
        const start = this.start;
        if (compareKeysAt(buf, x.keyAt, x.keyBytes, start, 0, start.byteLength) < 0) this.lastBlock = true;
        else if (this.end === null || compareKeysAt(buf, x.keyAt, x.keyBytes, this.end, 0, this.end.byteLength) < 0)
          this.offsets.push(at);
        prevAt = x.keyAt;
        prevBytes = x.keyBytes;
        at = x.end;
      }
    }
    return true;
  }

  peek(): Entry | undefined {
    if (this.current === undefined) {
      if (!this.ensureEntries()) return undefined;
      this.current = this.reader.decodeAt(this.bufBlock, this.buf!, this.offsets[this.offsets.length - 1]!).entry;
    }
    return this.current;
  }

  advance(): void {
    if (this.current === undefined && this.peek() === undefined) return;
    this.offsets.pop();
    this.current = undefined;
  }
}

/**
 * Reads blocks lazily, one at a time: a scan of a run holds one block in memory, and decodes only
 * the entries it returns. Entries below `start` are passed over in place (their extents read and
 * their keys compared in the block, as `get` does), so a short range costs one decoded entry per
 * entry returned, not a decode of the whole block (LPOP, LRANGE, the evictor's samples read one to
 * a few entries of a 4 KiB block). Every entry walked is checked as a decode would be (grammar,
 * seq and time), keys strictly increase, and a block walked to its end ends at its indexed key.
 */
export class RunCursor {
  /** The current block's bytes (CRC checked), or null before the first and after the last. */
  private buf: Uint8Array | null = null;
  private bufBlock = -1;
  /** Offset of the current entry in `buf`. */
  private pos = 0;
  /** The current entry's decoded form (made on the first peek) and where the next one starts. */
  private current: Entry | undefined;
  private next = 0;
  /** The previous entry's key extent in `buf` (-1: none in this block), for the order check. */
  private prevAt = -1;
  private prevBytes = 0;

  constructor(
    private readonly reader: RunReader,
    private block: number,
    start: Uint8Array,
    private readonly end: Uint8Array | null,
  ) {
    // Pass over the entries below `start` without decoding them.
    for (;;) {
      if (!this.ensureBlock()) return;
      const buf = this.buf!;
      const x = this.reader.extentAt(this.bufBlock, buf, this.pos);
      if (compareKeysAt(buf, x.keyAt, x.keyBytes, start, 0, start.byteLength) >= 0) return;
      // Not decoded, still checked as a decode would (seq and time in range).
      const problem = entryNumbersProblemAt(buf, this.pos);
      if (problem !== undefined) throw this.reader.corruptAt(this.bufBlock, this.pos, problem);
      this.check(buf, x.keyAt, x.keyBytes, x.end);
      this.step(x.keyAt, x.keyBytes, x.end);
    }
  }

  /** A block with an entry at `pos`, moving to the next block when this one is walked; false at the end. */
  private ensureBlock(): boolean {
    while (this.buf === null || this.pos >= this.buf.byteLength) {
      if (this.block >= this.reader.blockCount) {
        this.buf = null;
        return false;
      }
      this.bufBlock = this.block++;
      this.buf = this.reader.blockBytes(this.bufBlock);
      if (this.buf.byteLength === 0) throw this.reader.corruptAt(this.bufBlock, 0, 'empty block');
      this.pos = 0;
      this.prevAt = -1;
    }
    return true;
  }

  /**
   * Checks the entry [pos, end) before anyone sees it: its key above the previous one, and, the
   * block's last, equal to the indexed key (a cursor read for one entry checks it too).
   */
  private check(buf: Uint8Array, keyAt: number, keyBytes: number, end: number): void {
    if (this.prevAt >= 0 && compareKeysAt(buf, this.prevAt, this.prevBytes, buf, keyAt, keyBytes) >= 0) {
      throw this.reader.corruptAt(this.bufBlock, this.pos, 'block keys out of order');
    }
    if (end === buf.byteLength) this.reader.checkLastKey(this.bufBlock, buf.subarray(keyAt, keyAt + keyBytes));
  }

  /** Moves past the checked entry [pos, end). */
  private step(keyAt: number, keyBytes: number, end: number): void {
    this.prevAt = keyAt;
    this.prevBytes = keyBytes;
    this.pos = end;
  }

  peek(): Entry | undefined {
    if (this.current === undefined) {
      if (!this.ensureBlock()) return undefined;
      const d = this.reader.decodeAt(this.bufBlock, this.buf!, this.pos);
      this.check(this.buf!, this.pos + ENTRY_HEADER_BYTES, d.entry.key.byteLength, d.end);
      this.current = d.entry;
      this.next = d.end;
    }
    const e = this.current;
    if (this.end !== null && compareKeys(e.key, this.end) >= 0) return undefined;
    return e;
  }

  advance(): void {
    if (this.current === undefined && this.peek() === undefined) return;
    this.step(this.pos + ENTRY_HEADER_BYTES, this.current!.key.byteLength, this.next);
    this.current = undefined;
  }
}

/**
 * Reads [offset, offset + length) and checks it with `ok`; a failed check is believed only when a
 * re-read returns the same bytes (a transient flip in one read is not corruption).
 */
function readChecked(
  file: DiskFile,
  path: string,
  offset: number,
  length: number,
  what: string,
  ok: (bytes: Uint8Array) => boolean,
): Uint8Array {
  let previous: Uint8Array | null = null;
  for (let attempt = 0; attempt < diskReadAttemptsMax; attempt++) {
    const bytes = file.read(offset, length);
    if (bytes.byteLength !== length)
      throw corrupt(path, offset, `${what} cut off (${bytes.byteLength} of ${length} bytes)`);
    if (ok(bytes)) return bytes;
    if (previous !== null && Buffer.compare(previous, bytes) === 0) break;
    previous = bytes;
  }
  throw corrupt(path, offset, `${what} fails its CRC`);
}
