// CRC-32C (Castagnoli, the iSCSI/ext4/Kafka polynomial 0x1EDC6F41, reflected 0x82F63B78) for peer
// frames (src/net/frame.ts) and log records (src/storage/log/frame.ts). Two implementations, chosen
// by length: @node-rs/crc32's native one (hardware CRC instructions) for long inputs, and a
// slicing-by-8 table loop in JavaScript for short ones, because a native call costs a fixed few
// hundred ns (N-API transition and a view object) that dwarfs the checksum of a 100-byte frame:
// measured on this machine under load, native 583 ns vs JavaScript 199 ns at 64 B, equal near 256
// B, native 3.5 µs vs JavaScript 12 µs at 4 KiB.
// Both give identical results (tested); `crc32cOf(bytes, start, end, seed)` continues from `seed`
// (the CRC of the bytes before), so a checksum can cover bytes held in separate buffers.

import { crc32c as nativeCrc32c } from '@node-rs/crc32';

/** Inputs shorter than this are checksummed in JavaScript (the crossover measured above). */
export const crc32cNativeBytesMin = 256;

const table = new Int32Array(256 * 8);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  table[n] = c;
}
for (let n = 0; n < 256; n++) {
  let c = table[n]!;
  for (let k = 1; k < 8; k++) {
    c = table[c & 0xff]! ^ (c >>> 8);
    table[k * 256 + n] = c;
  }
}

/** CRC-32C of `bytes[start, end)`, continuing from `seed` (the CRC of what came before; 0 for none). */
export function crc32cOf(bytes: Uint8Array, start: number, end: number, seed = 0): number {
  if (end - start >= crc32cNativeBytesMin) return nativeCrc32c(bytes.subarray(start, end), seed);
  const t = table;
  let crc = ~seed;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const a = crc ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
    crc =
      t[1792 + (a & 0xff)]! ^
      t[1536 + ((a >>> 8) & 0xff)]! ^
      t[1280 + ((a >>> 16) & 0xff)]! ^
      t[1024 + (a >>> 24)]! ^
      t[768 + bytes[i + 4]!]! ^
      t[512 + bytes[i + 5]!]! ^
      t[256 + bytes[i + 6]!]! ^
      t[bytes[i + 7]!]!;
  }
  for (; i < end; i++) crc = t[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}
