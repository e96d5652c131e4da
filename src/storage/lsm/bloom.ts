// The bloom filter of one sorted run: a point read skips a run whose filter says the key is
// absent (never wrong when it says absent; wrong with probability ~0.8 % at 10 bits per key and
// 7 probes when it says present). Probes come from one 32-bit hash by double hashing (LevelDB's
// scheme: the hash plus multiples of a rotation of it).
//
// Size: ceil(keys * bitsPerKey / 8) bytes (10 bits per key: 1.25 bytes per key, held in memory
// for every live run).
//
// Serialized (inside the run, covered by the run's bloom CRC):
//   bloom := probes:u8 bitCount:u32 bits:ceil(bitCount/8)

export const BLOOM_HEADER_BYTES = 5;
const PROBES_MAX = 30;
/**
 * The most bits a filter has: its count is a u32 in the format, and probes come from a 32-bit hash
 * (no bit past 2^32 is ever probed). A run of more keys gets a less selective filter, never a
 * wrong one. Sized without it, a compaction of 429,496,730 entries or more wrapped the count and
 * the run's own reader refused the filter as malformed (an audit, 2026-12-07).
 */
export const BLOOM_BITS_MAX = 0xffff_ffff;

/** The bits of a filter for `keys` keys at `bitsPerKey` each: at least 64, at most BLOOM_BITS_MAX. */
export function bloomBitCount(keys: number, bitsPerKey: number): number {
  return Math.min(BLOOM_BITS_MAX, Math.max(64, Math.ceil(Math.max(1, keys) * bitsPerKey)));
}

function hashKey(key: Uint8Array): number {
  // FNV-1a, then a murmur3 finalizer so nearby keys spread over the whole word.
  let h = 0x811c9dc5;
  for (let i = 0; i < key.byteLength; i++) {
    h ^= key[i]!;
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export class BloomFilter {
  private constructor(
    private readonly probes: number,
    private readonly bitCount: number,
    private readonly bits: Uint8Array,
  ) {}

  /** An empty filter sized for `keys` keys at `bitsPerKey` bits each. */
  static create(keys: number, bitsPerKey: number): BloomFilter {
    const bitCount = bloomBitCount(keys, bitsPerKey);
    const probes = Math.min(PROBES_MAX, Math.max(1, Math.round(bitsPerKey * Math.LN2)));
    return new BloomFilter(probes, bitCount, new Uint8Array(Math.ceil(bitCount / 8)));
  }

  /** Decodes a serialized filter (CRC already checked); a reason string when malformed. */
  static decode(bytes: Uint8Array): BloomFilter | string {
    if (bytes.byteLength < BLOOM_HEADER_BYTES) return 'bloom filter header cut off';
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const probes = view.getUint8(0);
    const bitCount = view.getUint32(1, true);
    if (probes < 1 || probes > PROBES_MAX) return `bloom filter with ${probes} probes`;
    if (bitCount < 1 || Math.ceil(bitCount / 8) !== bytes.byteLength - BLOOM_HEADER_BYTES) {
      return `bloom filter of ${bitCount} bits in ${bytes.byteLength - BLOOM_HEADER_BYTES} bytes`;
    }
    return new BloomFilter(probes, bitCount, bytes.slice(BLOOM_HEADER_BYTES));
  }

  add(key: Uint8Array): void {
    let h = hashKey(key);
    const delta = ((h >>> 17) | (h << 15)) >>> 0;
    for (let i = 0; i < this.probes; i++) {
      const bit = h % this.bitCount;
      this.bits[bit >>> 3]! |= 1 << (bit & 7);
      h = (h + delta) >>> 0;
    }
  }

  /** False: the key is certainly not in the run. True: it may be. */
  mayContain(key: Uint8Array): boolean {
    let h = hashKey(key);
    const delta = ((h >>> 17) | (h << 15)) >>> 0;
    for (let i = 0; i < this.probes; i++) {
      const bit = h % this.bitCount;
      if ((this.bits[bit >>> 3]! & (1 << (bit & 7))) === 0) return false;
      h = (h + delta) >>> 0;
    }
    return true;
  }

  /** Bytes held in memory (and on disk, plus the header). */
  get bytes(): number {
    return this.bits.byteLength;
  }

  encode(): Uint8Array {
    const out = new Uint8Array(BLOOM_HEADER_BYTES + this.bits.byteLength);
    const view = new DataView(out.buffer);
    view.setUint8(0, this.probes);
    view.setUint32(1, this.bitCount, true);
    out.set(this.bits, BLOOM_HEADER_BYTES);
    return out;
  }
}
