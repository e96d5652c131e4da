// The byte store both RESP decoders parse from: unconsumed bytes of one connection in one reusable
// buffer, plus the assembly of one large bulk string straight into its own array.
//
// Invariants (what makes decoding O(n) for any chunking):
//   - push copies each chunk once (the pipeline's chunks are valid only during the call). The
//     buffer grows by doubling when the held bytes pass half of it and is compacted otherwise, so
//     growth and compaction copy at most about one byte per byte received;
//   - a bulk of at least bigBulkBytes that has not fully arrived is assembled in its own array,
//     which grows by doubling through sizes that land on the declared length (never to it up
//     front: a forged length followed by a trickle costs at most twice the bytes sent), and is
//     handed out as is: each byte of it is copied in once, and growth copies at most as much. While it
//     is assembled the buffer holds nothing (the bulk is the last thing received); later chunks
//     fill the bulk first;
//   - the buffer goes back to its initial size once emptied, so one large request does not pin
//     its memory for the life of the connection.

import { assert } from '../../lib/assert.ts';
import { parseRedisInteger } from './integer.ts';

/** Redis' PROTO_MBULK_BIG_ARG: bulks this large are assembled in place rather than in the buffer. */
export const bigBulkBytes = 32 * 1024;
const initialBytes = 1024;

export class StreamBuffer {
  private buf = new Uint8Array(initialBytes);
  private start = 0;
  private end = 0;
  private assembly: Uint8Array | undefined;
  private assemblyFilled = 0;
  private assemblyTarget = 0;
  /** Bytes copied so far (into the buffer, by growth and compaction, out of it): the O(n) witness. */
  copiedBytes = 0;

  /** Unconsumed bytes held in the buffer (an assembling bulk not included). */
  get held(): number {
    return this.end - this.start;
  }

  /** Memory held for this connection's partial input: the buffer and any bulk being assembled. */
  get heldBytes(): number {
    return this.buf.length + (this.assembly?.length ?? 0);
  }

  push(chunk: Uint8Array): void {
    if (this.assembly !== undefined) chunk = this.fillAssembly(chunk);
    const n = chunk.length;
    if (n === 0) return;
    const held = this.end - this.start;
    if (held + n > this.buf.length >>> 1 || this.end + n > this.buf.length) {
      if (held + n > this.buf.length >>> 1) {
        let size = Math.max(initialBytes, this.buf.length * 2);
        while (size < 2 * (held + n)) size *= 2;
        const grown = new Uint8Array(size);
        grown.set(this.buf.subarray(this.start, this.end));
        this.buf = grown;
      } else this.buf.copyWithin(0, this.start, this.end);
      this.copiedBytes += held;
      this.start = 0;
      this.end = held;
    }
    this.buf.set(chunk, this.end);
    this.end += n;
    this.copiedBytes += n;
  }

  /** The held byte at `offset` (0 = the first unconsumed byte); offset < held. */
  at(offset: number): number {
    return this.buf[this.start + offset]!;
  }

  /**
   * Offset of the first `byte` at or after `from` and before `limit` (both relative to the first
   * unconsumed byte), or -1. With `stopAtNul`, a NUL byte first ends the search with -2 (Redis
   * looks for line ends with strchr, which stops at a NUL: such a line never ends).
   */
  indexOf(byte: number, from: number, limit: number, stopAtNul: boolean): number {
    const buf = this.buf;
    const stop = Math.min(this.end, this.start + limit);
    for (let i = this.start + from; i < stop; i++) {
      const b = buf[i]!;
      if (b === byte) return i - this.start;
      if (stopAtNul && b === 0) return -2;
    }
    return -1;
  }

  /** Redis' string2ll of held bytes [from, to) (parseRedisInteger), without a view. */
  integer(from: number, to: number): number | undefined {
    return parseRedisInteger(this.buf, this.start + from, this.start + to);
  }

  /** A view of held bytes [from, to): valid until the next push or consume. */
  view(from: number, to: number): Uint8Array {
    return this.buf.subarray(this.start + from, this.start + to);
  }

  consume(bytes: number): void {
    assert(bytes <= this.end - this.start, 'consume past the held bytes');
    this.start += bytes;
    if (this.start === this.end) {
      this.start = 0;
      this.end = 0;
      if (this.buf.length > initialBytes) this.buf = new Uint8Array(initialBytes);
    }
  }

  /**
   * Takes `length` bytes as a new array, or undefined until they have all arrived (call again with
   * the same length after the next push). A large bulk is assembled in place meanwhile.
   */
  take(length: number): Uint8Array | undefined {
    if (this.assembly !== undefined) {
      assert(this.assemblyTarget === length, 'take resumed with another length');
      if (this.assemblyFilled < length) return undefined;
      const out = this.assembly;
      this.assembly = undefined;
      return out;
    }
    const held = this.end - this.start;
    if (held >= length) {
      const out = this.buf.slice(this.start, this.start + length);
      this.copiedBytes += length;
      this.consume(length);
      return out;
    }
    if (length < bigBulkBytes) return undefined;
    this.assembly = new Uint8Array(assemblySize(held, Math.max(2 * held, bigBulkBytes), length));
    this.assembly.set(this.buf.subarray(this.start, this.end));
    this.copiedBytes += held;
    this.assemblyFilled = held;
    this.assemblyTarget = length;
    this.consume(held);
    return undefined;
  }

  /** Puts the head of `chunk` into the bulk being assembled; returns what is left of it. */
  private fillAssembly(chunk: Uint8Array): Uint8Array {
    let assembly = this.assembly!;
    const n = Math.min(chunk.length, this.assemblyTarget - this.assemblyFilled);
    const need = this.assemblyFilled + n;
    if (need > assembly.length) {
      const grown = new Uint8Array(assemblySize(need, 2 * assembly.length, this.assemblyTarget));
      grown.set(assembly.subarray(0, this.assemblyFilled));
      this.copiedBytes += this.assemblyFilled;
      this.assembly = assembly = grown;
    }
    assembly.set(n === chunk.length ? chunk : chunk.subarray(0, n), this.assemblyFilled);
    this.copiedBytes += n;
    this.assemblyFilled = need;
    return chunk.subarray(n);
  }

  /** Drops everything (after a terminal error). */
  release(): void {
    this.buf = new Uint8Array(0);
    this.start = 0;
    this.end = 0;
    this.assembly = undefined;
  }
}

/**
 * The next size of an assembly holding `need` bytes of `target`: the smallest floor(target / 2^k)
 * that holds `need` and `doubled`. Sizes so picked double and land exactly on the target, so the
 * copies growth makes add up to at most the target (plain doubling can end just short of it and
 * copy it all once more for the last bytes), and a size is at most twice the bytes received.
 */
function assemblySize(need: number, doubled: number, target: number): number {
  const want = Math.max(need, doubled);
  let size = target;
  while (Math.floor(size / 2) >= want) size = Math.floor(size / 2);
  return size;
}
