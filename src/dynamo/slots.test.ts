// Goal: keySlot is Redis Cluster's HASH_SLOT (cluster spec "Keys distribution model": CRC16-XMODEM
// of the hash tag or the key, mod 16384), and slot tokens place every key of a slot at one ring
// position, in slot order across the whole token space.
// Vectors: CRC16("123456789") = 0x31C3 is the spec's check value; the slots were read from
// `CLUSTER KEYSLOT` of Debian's redis-server 7.0.15 started with cluster-enabled yes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { TOKEN_MAX, TOKEN_MIN, tokenOf } from './partitioner.ts';
import { SeededRng } from '../lib/rng.ts';
import { chooseTokens, Ring } from './ring.ts';
import { crc16, hashTag, keySlot, keyToken, SLOT_COUNT, slotToken } from './slots.ts';

const b = (s: string) => new TextEncoder().encode(s);

test('crc16 is XMODEM: the check value of 123456789 is 0x31C3', () => {
  assert.equal(crc16(b('123456789')), 0x31c3);
  assert.equal(crc16(new Uint8Array()), 0);
  // Negative control: a reflected CRC-16 (e.g. CCITT-KERMIT, 0x2189) would give another value.
  assert.notEqual(crc16(b('123456789')), 0x2189);
});

test('keySlot equals redis-server 7.0 CLUSTER KEYSLOT, hash tags included', () => {
  const vectors: Array<[string, number]> = [
    ['123456789', 12739],
    ['foo', 12182],
    ['bar', 5061],
    ['hello', 866],
    ['{user1000}.following', 3443],
    ['user1000', 3443],
    ['foo{}{bar}', 8363], // an empty first tag: the whole key
    ['foo{{bar}}zap', 4015], // the tag is "{bar"
    ['{bar', 4015],
    ['', 0],
    ['a{b}c', 3300], // the tag is "b"
    ['key:000000000000', 13053],
  ];
  for (const [key, slot] of vectors) assert.equal(keySlot(b(key)), slot, key);
  assert.equal(new TextDecoder().decode(hashTag(b('x{y}z'))), 'y');
});

test('every key of a slot gets one token; slot tokens ascend and span the ring', () => {
  assert.equal(keyToken(b('{user1000}.following')), keyToken(b('{user1000}.followers')));
  assert.equal(keyToken(b('user1000')), slotToken(3443));
  // Negative control: keys of different slots get different tokens.
  assert.notEqual(keyToken(b('foo')), keyToken(b('bar')));
  assert.equal(slotToken(SLOT_COUNT - 1), TOKEN_MAX);
  assert.ok(slotToken(0) > TOKEN_MIN);
  assert.equal(slotToken(1) - slotToken(0), 1n << 50n);
  for (let s = 1; s < SLOT_COUNT; s++) assert.ok(slotToken(s) > slotToken(s - 1));
  assert.throws(() => slotToken(SLOT_COUNT), RangeError);
});

test('the ring places keys by slot: keys of one slot share a preference list', () => {
  let ring = Ring.empty();
  for (const id of ['n1', 'n2', 'n3', 'n4']) ring = ring.bootstrap(id, chooseTokens(new SeededRng(id), 8, ring));
  fc.assert(
    fc.property(fc.string(), fc.string(), fc.string(), (tag, a, c) => {
      fc.pre(tag.length > 0 && !tag.includes('}'));
      const k1 = b(`${a.replace(/[{}]/g, '')}{${tag}}x`);
      const k2 = b(`{${tag}}${c}`);
      assert.deepEqual(ring.locate(k1, 3).replicas, ring.locate(k2, 3).replicas);
      assert.equal(ring.locate(k1, 3).token, keyToken(b(tag)));
    }),
  );
  // Placement is not the storage token (Murmur3 of the key): the engine's SCAN order is its own.
  assert.notEqual(ring.locate(b('foo'), 1).token, tokenOf(b('foo')));
});
