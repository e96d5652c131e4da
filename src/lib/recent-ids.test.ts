// Goal: RecentIds recognises a copy of an id within its window, per sender, and keeps its bounds:
// the oldest id of a sender and the first sender added are forgotten past them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RecentIds } from './recent-ids.ts';

test('a copy within the window is refused, per sender; past the window the oldest is forgotten', () => {
  const r = new RecentIds<number>(3, 2);
  assert.equal(r.admit('a', 1), true);
  assert.equal(r.admit('a', 1), false, 'a copy');
  assert.equal(r.admit('b', 1), true, 'another sender, its own ids');
  for (const id of [2, 3, 4]) assert.equal(r.admit('a', id), true);
  assert.equal(r.admit('a', 2), false, 'still within the last 3');
  assert.equal(r.admit('a', 1), true, 'forgotten: 4 ids came after it');
});

test('at most sendersMax senders: the first added is forgotten', () => {
  const r = new RecentIds<bigint>(10, 2);
  r.admit('a', 1n);
  r.admit('b', 1n);
  r.admit('c', 1n);
  assert.equal(r.admit('b', 1n), false);
  assert.equal(r.admit('a', 1n), true, 'a was forgotten when c came');
});
