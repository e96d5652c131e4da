// Goal: a hash tag's SERIAL state (tag-state.ts) round-trips every value type with its deadline,
// encodes one state one way (keys sorted), and its decoder turns every broken rule, every cut and
// random bytes into ProtocolError dynamo_malformed (or ByteReader's own codes), never an assert or
// a huge allocation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ProtocolError } from '../../lib/errors.ts';
import { decodeTagState, encodeTagState, registerOf, type TagState, tagOf } from './tag-state.ts';

const b = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));

function sample(): TagState {
  return new Map([
    ['{t}s', { value: { type: 'string', value: b('hello') }, expiresAtMs: 1_700_000_000_000 }],
    ['{t}l', { value: { type: 'list', values: [b('a'), b(''), b('\u0000\u00ff')] } }],
    ['{t}set', { value: { type: 'set', members: [b('m')] }, expiresAtMs: 5 }],
    [
      '{t}z',
      {
        value: {
          type: 'zset',
          entries: [
            [b('a'), 1.5],
            [b('b'), -Infinity],
          ],
        },
      },
    ],
    ['{t}h', { value: { type: 'hash', entries: [[b('f'), b('v')]] } }],
  ] as const);
}

test('every type and deadline round-trips; one state has one encoding; an empty state is the absent value', () => {
  const state = sample();
  const bytes = encodeTagState(state)!;
  assert.deepEqual(decodeTagState(bytes), state);
  const reversed: TagState = new Map([...state].reverse());
  assert.deepEqual(encodeTagState(reversed), bytes, 'insertion order does not matter');
  assert.equal(encodeTagState(new Map()), null);
  assert.equal(decodeTagState(null).size, 0);
});

test('tag and register names: {t} for every key of tag t; untagged keys have none', () => {
  assert.deepEqual(tagOf(b('{user1}:a')), b('user1'));
  assert.equal(tagOf(b('plain')), undefined);
  assert.equal(tagOf(b('foo{}{bar}')), undefined, 'an empty first tag: the whole key');
  assert.deepEqual(registerOf(b('user1')), b('{user1}'));
  assert.deepEqual(tagOf(registerOf(b('{bar'))), b('{bar'), "the register's own tag is the tag");
});

function throwsMalformed(bytes: Uint8Array, what: string): void {
  assert.throws(
    () => decodeTagState(bytes),
    (e: unknown) => e instanceof ProtocolError,
    what,
  );
}

test('broken rules are ProtocolError: format, order, repeats, type, a count past the bytes, NaN, trailing cut', () => {
  const good = encodeTagState(sample())!;
  const bad = good.slice();
  bad[0] = 2;
  throwsMalformed(bad, 'format 2');
  const one = (key: string) => encodeTagState(new Map([[key, { value: { type: 'string', value: b('v') } }]]))!;
  const twice = new Uint8Array([1, 2, ...one('a').subarray(2), ...one('a').subarray(2)]);
  throwsMalformed(twice, 'a repeated key');
  const reversed = new Uint8Array([1, 2, ...one('b').subarray(2), ...one('a').subarray(2)]);
  throwsMalformed(reversed, 'keys out of order');
  throwsMalformed(new Uint8Array([1, 1, 1, 0x61, 0, 9]), 'value type 9');
  throwsMalformed(new Uint8Array([1, 1, 1, 0x61, 0, 2, 0xff, 0xff, 0xff, 0x0f]), 'a list count past the bytes');
  throwsMalformed(new Uint8Array([1, 1, 1, 0x61, 0, 2, 0]), 'an empty list');
  throwsMalformed(new Uint8Array([1, 0]), 'no key: the absent value is null, not an empty state');
  throwsMalformed(new Uint8Array([...one('a'), 0]), 'a trailing byte');
  // The empty key is a key (the untagged key "" holds its state in a register of its own).
  assert.deepEqual(
    decodeTagState(new Uint8Array([1, 1, 0, 0, 1, 0])),
    new Map([['', { value: { type: 'string', value: b('') } }]]),
  );
  const nan = encodeTagState(new Map([['z', { value: { type: 'zset', entries: [[b('m'), 1]] } }]]))!;
  nan.set([0x7f, 0xf8, 0, 0, 0, 0, 0, 0], nan.length - 8);
  throwsMalformed(nan, 'a NaN score');
  for (let cut = 1; cut < good.length; cut++) throwsMalformed(good.subarray(0, cut), `cut at ${cut}`);
});

test('random bytes after the format byte never escape as anything but ProtocolError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (tail) => {
      try {
        decodeTagState(new Uint8Array([1, ...tail]));
      } catch (e) {
        assert.ok(e instanceof ProtocolError, String(e));
      }
    }),
    { numRuns: 2_000 },
  );
});
