// Goal: a follower's touch batch round-trips, and every malformed payload (each truncation, a
// wrong version, an over-long batch, trailing bytes) is a ProtocolError, never an assert.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProtocolError } from '../../lib/errors.ts';
import { limits } from '../../lib/limits.ts';
import { decodeTouches, encodeTouches } from './touch-codec.ts';

test('touch batches round-trip; every malformed payload is a ProtocolError', () => {
  const ids = [1, 300, 2 ** 40, Number.MAX_SAFE_INTEGER];
  const bytes = encodeTouches(ids);
  assert.deepEqual(decodeTouches(bytes), ids);
  assert.deepEqual(decodeTouches(encodeTouches([])), []);
  for (let n = 0; n < bytes.length; n++)
    assert.throws(() => decodeTouches(bytes.subarray(0, n)), ProtocolError, `prefix ${n}`);
  const wrongVersion = bytes.slice();
  wrongVersion[0] = 9;
  assert.throws(() => decodeTouches(wrongVersion), ProtocolError);
  assert.throws(() => decodeTouches(Uint8Array.of(...bytes, 0)), ProtocolError, 'trailing bytes');
  const tooMany = Uint8Array.of(1, ...uvarint(limits.coordTouchBatchSessionsMax + 1));
  assert.throws(() => decodeTouches(tooMany), ProtocolError);
});

function uvarint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}
