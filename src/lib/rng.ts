// Seeded PRNG (sfc32, 128-bit state, passes PractRand for our purposes). Deterministic: the same
// seed yields the same stream on every platform. fork(label) derives an independent stream from
// (seed, label) alone, so adding a draw in one component does not shift another's stream.

import type { Rng } from '../env/types.ts';
import { assert } from './assert.ts';
import { fnv1a32 } from './hash.ts';

export class SeededRng implements Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  readonly seed: string;

  constructor(seed: string | number) {
    this.seed = String(seed);
    this.a = fnv1a32(`a:${this.seed}`);
    this.b = fnv1a32(`b:${this.seed}`);
    this.c = fnv1a32(`c:${this.seed}`);
    this.d = 1;
    for (let i = 0; i < 15; i++) this.next32(); // warm-up mixes the seed through the state
  }

  /** Next uniform unsigned 32-bit integer. */
  next32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  float(): number {
    const hi = this.next32() >>> 5; // 27 bits
    const lo = this.next32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  int(n: number): number {
    assert(Number.isSafeInteger(n) && n > 0, `Rng.int needs a positive safe integer, got ${n}`);
    return Math.floor(this.float() * n);
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      let word = this.next32();
      for (let j = i; j < Math.min(n, i + 4); j++) {
        out[j] = word & 0xff;
        word >>>= 8;
      }
    }
    return out;
  }

  fork(label: string): SeededRng {
    return new SeededRng(`${this.seed}/${label}`);
  }

  /** Picks one element uniformly; the array must be non-empty. */
  pick<T>(items: readonly T[]): T {
    assert(items.length > 0, 'pick from an empty array');
    return items[this.int(items.length)]!;
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return p > 0 && this.float() < p;
  }
}
