// Goal: the pure SHA-1/base64 behind the digest ACL scheme equals node:crypto and FIPS 180 vectors,
// so `addauth digest u:p` authenticates as the id ZooKeeper computes for it.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { base64, digestId, sha1 } from './sha1.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const utf8 = (s: string) => new TextEncoder().encode(s);

test('SHA-1 matches the FIPS 180 vectors', () => {
  assert.equal(hex(sha1(utf8('abc'))), 'a9993e364706816aba3e25717850c26c9cd0d89d');
  assert.equal(hex(sha1(utf8(''))), 'da39a3ee5e6b4b0d3255bfef95601890afd80709');
  assert.equal(
    hex(sha1(utf8('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'))),
    '84983e441c3bd26ebaae4aa1f95129e5e54670f1',
  );
});

test('SHA-1 and base64 match node:crypto and Buffer on random inputs (block boundaries included)', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      assert.equal(hex(sha1(b)), createHash('sha1').update(b).digest('hex'));
      assert.equal(base64(b), Buffer.from(b).toString('base64'));
    }),
    { numRuns: 500 },
  );
});

test('digestId is user:base64(sha1(user:password)), as ZooKeeper documents for super:admin', () => {
  assert.equal(digestId('super:admin'), 'super:xQJmxLMiHGwaqBvst5y6rkB6HQs=');
  // What Debian's ZooKeeper 3.8 stored for `addauth digest alice:pw` + `create /r3 x auth::cdrwa`.
  assert.equal(digestId('alice:pw'), 'alice:V55/p2T0OpjQ+low3NVAH4aLvm0=');
  assert.equal(digestId('a:b:c').split(':')[0], 'a');
});
