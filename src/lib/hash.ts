// Small non-cryptographic hashes used for seeds, trace hashes and ids. Pure, no node:* imports.

const FNV_OFFSET_64 = 0xcbf29ce484222325n;
const FNV_PRIME_64 = 0x100000001b3n;
const MASK_64 = 0xffffffffffffffffn;

/** 32-bit FNV-1a over UTF-8 code units of a string (ASCII-exact; fine for labels). */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Incremental 64-bit FNV-1a, for trace hashes: feed numbers, strings and bytes in order. */
export class Hash64 {
  private h = FNV_OFFSET_64;

  bytes(data: Uint8Array): this {
    let h = this.h;
    for (let i = 0; i < data.length; i++) {
      h ^= BigInt(data[i]!);
      h = (h * FNV_PRIME_64) & MASK_64;
    }
    this.h = h;
    return this;
  }

  /** Mixes a 32-bit unsigned chunk (faster than bytes for numbers). */
  u32(value: number): this {
    this.h = ((this.h ^ BigInt(value >>> 0)) * FNV_PRIME_64) & MASK_64;
    return this;
  }

  number(value: number): this {
    // Integers up to 2^53 exactly; fractional virtual times are mixed through their string form.
    if (Number.isSafeInteger(value)) return this.u32(value % 0x100000000).u32(Math.floor(value / 0x100000000));
    return this.string(String(value));
  }

  string(text: string): this {
    this.u32(text.length);
    for (let i = 0; i < text.length; i++) this.u32(text.charCodeAt(i));
    return this;
  }

  hex(): string {
    return this.h.toString(16).padStart(16, '0');
  }
}
