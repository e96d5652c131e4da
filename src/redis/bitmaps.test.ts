// BITFIELD where it cannot be compared with redis-server 7.0 (live.test.ts compares the rest): our
// string bound, Redis' last bit offset. Redis would grow the string to 512 MB there; we answer its
// string-length error and change nothing, as SETBIT does past keyspace.stringBytesMax.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RedisHarness } from './testing.ts';

const text = (v: ReturnType<RedisHarness['run']>): string =>
  JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? String(x) : x));

test('BITFIELD: a write at the last bit offset answers the string-length error and leaves the key; a read there answers 0', () => {
  const h = new RedisHarness({ seed: 'bitfield-bound' });
  h.run('SET', 'k', new Uint8Array([0xff]));
  const write = h.run('BITFIELD', 'k', 'SET', 'u8', '4294967295', '255');
  assert.equal(write.type, 'error', text(write));
  assert.match(write.type === 'error' ? String(write.message) : '', /string exceeds maximum allowed size/);
  const after = h.run('GET', 'k');
  assert.deepEqual(after.type === 'bulk' ? [...after.value] : after, [0xff], 'unchanged');
  // Bits past 2^32 are never byte 0 again (a 32-bit shift made this read 127).
  const read = h.run('BITFIELD_RO', 'k', 'GET', 'u8', '4294967295', 'GET', 'i64', '4294967295');
  assert.equal(
    text(read),
    text({
      type: 'array',
      items: [
        { type: 'integer', value: 0n },
        { type: 'integer', value: 0n },
      ],
    }),
  );
  const absent = h.run('BITFIELD', 'none', 'OVERFLOW', 'FAIL', 'SET', 'u8', '#536870911', '1');
  assert.equal(absent.type, 'error', text(absent));
  assert.equal(text(h.run('EXISTS', 'none')), text({ type: 'integer', value: 0n }), 'nothing created');
});
