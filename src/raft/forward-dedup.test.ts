// Goal: the leader's filter of forwarded requests (issue 7 item 10) lets each (sender,
// incarnation, request id) through once, drops copies, drops requests of a sender's previous
// process, starts afresh for a new one, and stays within its bounds.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ForwardDedup } from './forward-dedup.ts';

test('a request is new once; its copies are duplicates, even after a reordering', () => {
  const d = new ForwardDedup({ windowIds: 100, sendersMax: 4 });
  assert.equal(d.admit('n2', 7, 2), 'new');
  assert.equal(d.admit('n2', 7, 1), 'new', 'reordered: an older id arriving later is still new');
  assert.equal(d.admit('n2', 7, 2), 'duplicate');
  assert.equal(d.admit('n2', 7, 1), 'duplicate');
  assert.equal(d.admit('n3', 7, 1), 'new', 'ids are per sender');
});

test('a new incarnation starts a fresh window; the old one is stale', () => {
  const d = new ForwardDedup({ windowIds: 100, sendersMax: 4 });
  assert.equal(d.admit('n2', 7, 1), 'new');
  assert.equal(d.admit('n2', 8, 1), 'new', 'the restarted sender counts from 1 again');
  assert.equal(d.admit('n2', 7, 2), 'stale_incarnation', 'its previous process is gone');
  assert.equal(d.admit('n2', 8, 1), 'duplicate');
});

test('ids a full window behind the newest are too old; memory stays within the bounds', () => {
  const d = new ForwardDedup({ windowIds: 10, sendersMax: 2 });
  for (let id = 1; id <= 1_000; id++) assert.equal(d.admit('n2', 1, id), 'new');
  assert.ok(d.size <= 10, `at most windowIds ids per sender (${d.size})`);
  assert.equal(d.admit('n2', 1, 990), 'too_old');
  assert.equal(d.admit('n2', 1, 995), 'duplicate');
  d.admit('n3', 1, 1);
  d.admit('n4', 1, 1);
  assert.ok(d.size <= 20, 'the least recently active sender is forgotten beyond sendersMax');
  assert.equal(d.admit('n2', 1, 1_001), 'new', 'a forgotten sender starts a fresh window');
});
