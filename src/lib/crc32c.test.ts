// Goal: the JavaScript CRC-32C used for short frames equals the native one for every length and
// offset (so which one runs is invisible on the wire), matches the standard check value, and
// continues correctly from a seed (a checksum over bytes held in two buffers).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32c as nativeCrc32c } from '@node-rs/crc32';
import fc from 'fast-check';
import { crc32cNativeBytesMin, crc32cOf } from './crc32c.ts';

test('check value: CRC-32C("123456789") = 0xe3069283', () => {
  const bytes = new TextEncoder().encode('123456789');
  assert.equal(crc32cOf(bytes, 0, bytes.length), 0xe3069283);
});

test('JavaScript and native agree on any slice, and seeds continue a checksum', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: crc32cNativeBytesMin * 2 }),
      fc.nat(),
      fc.nat(),
      fc.nat(),
      (bytes, a, b, c) => {
        const start = a % (bytes.length + 1);
        const end = start + (b % (bytes.length - start + 1));
        assert.equal(crc32cOf(bytes, start, end), nativeCrc32c(bytes.subarray(start, end)));
        const mid = start + (c % (end - start + 1));
        assert.equal(crc32cOf(bytes, mid, end, crc32cOf(bytes, start, mid)), crc32cOf(bytes, start, end));
      },
    ),
    { numRuns: 500 },
  );
});
