// Goal: the collection commands' argument parsers accept and refuse exactly what Redis 7.0.15 does
// (util.c string2ll/string2d, t_zset.c zslParseRange/zslParseLexRangeItem), the score index's
// byte order is numeric order (-inf..+inf, -0 == 0).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { compareKeys } from '../storage/lsm/entry.ts';
import {
  clampRange,
  isErrorReply,
  lexRangeArg,
  lexRangeEmpty,
  parseInt64,
  parseStrtod,
  scoreRangeArg,
} from './coll-parse.ts';
import { decodeOrderedF64, orderedF64 } from './score.ts';

const b = (s: string): Uint8Array => new TextEncoder().encode(s);

test('parseInt64 is string2ll: strict form, exact int64 bounds', () => {
  assert.equal(parseInt64(b('0')), 0n);
  assert.equal(parseInt64(b('-9223372036854775808')), -(2n ** 63n));
  assert.equal(parseInt64(b('9223372036854775807')), 2n ** 63n - 1n);
  for (const bad of ['', '-0', '+1', '01', ' 1', '1 ', '9223372036854775808', '1.0', '-', 'abc'])
    assert.equal(parseInt64(b(bad)), undefined, bad);
});

test('parseStrtod accepts what string2d accepts and refuses NaN, overflow, underflow', () => {
  const ok: Array<[string, number]> = [
    ['1', 1],
    ['-1.5', -1.5],
    ['+.5', 0.5],
    ['1.', 1],
    ['1e3', 1000],
    ['-inf', Number.NEGATIVE_INFINITY],
    ['+Infinity', Number.POSITIVE_INFINITY],
    ['INF', Number.POSITIVE_INFINITY],
    ['0e400', 0],
    ['4e-320', 4e-320],
  ];
  for (const [t, v] of ok) assert.equal(parseStrtod(t), v, t);
  assert.ok(Object.is(parseStrtod('-0'), -0));
  for (const bad of ['', ' 1', '1 ', 'nan', 'NaN', '1e400', '1e-400', '1e', '.', '0x10', 'inf1', '--1'])
    assert.equal(parseStrtod(bad), undefined, bad);
});

test('score ranges: "(" exclusive, blanks before the number, empty is 0, junk refused', () => {
  const r = scoreRangeArg(b('(1'), b(' +inf'));
  assert.ok(!isErrorReply(r));
  assert.deepEqual(r, { min: { value: 1, exclusive: true }, max: { value: Infinity, exclusive: false } });
  assert.deepEqual(scoreRangeArg(b(''), b('(')), {
    min: { value: 0, exclusive: false },
    max: { value: 0, exclusive: true },
  });
  for (const bad of ['nan', 'x', '1x', ' ', '[1'])
    assert.deepEqual(scoreRangeArg(b(bad), b('1')), { type: 'error', message: 'ERR min or max is not a float' }, bad);
});

test('lex ranges: - + [ ( only; emptiness as zslIsInLexRange', () => {
  const r = lexRangeArg(b('[a'), b('(b'));
  assert.ok(!isErrorReply(r) && 'min' in r && !lexRangeEmpty(r));
  for (const bad of ['a', '', '-x', '+x'])
    assert.deepEqual(lexRangeArg(b(bad), b('+')), {
      type: 'error',
      message: 'ERR min or max not valid string range item',
    });
  const empty = lexRangeArg(b('(a'), b('[a'));
  assert.ok(!isErrorReply(empty) && 'min' in empty && lexRangeEmpty(empty));
  const inverted = lexRangeArg(b('+'), b('-'));
  assert.ok(!isErrorReply(inverted) && 'min' in inverted && lexRangeEmpty(inverted));
});

test('clampRange is Redis index arithmetic', () => {
  assert.deepEqual(clampRange(0, -1, 3), { start: 0, stop: 2 });
  assert.deepEqual(clampRange(-100, 100, 3), { start: 0, stop: 2 });
  assert.equal(clampRange(2, 1, 3), null);
  assert.equal(clampRange(3, 5, 3), null);
  assert.equal(clampRange(0, -1, 0), null);
  assert.deepEqual(clampRange(-1, -1, 3), { start: 2, stop: 2 });
});

test('orderedF64 bytes sort as the numbers, -0 with 0, and decode back', () => {
  const score = fc.oneof(fc.double({ noNaN: true }), fc.constantFrom(0, -0, Infinity, -Infinity, Number.MIN_VALUE));
  fc.assert(
    fc.property(score, score, (x, y) => {
      const c = Math.sign(compareKeys(orderedF64(x), orderedF64(y)));
      assert.equal(c, x < y ? -1 : x > y ? 1 : 0);
      assert.equal(decodeOrderedF64(orderedF64(x)), x === 0 ? 0 : x);
    }),
  );
  assert.deepEqual(orderedF64(-0), orderedF64(0));
  assert.throws(() => orderedF64(Number.NaN));
});
