// A store's layout of collections (ReplicaConfig.collections) is recorded at its first open
// (replica.ts checkCollectionsLayout): a set kept in rows is invisible to the whole layout and
// the other way round, so a replica configured with the other layout refuses to start (a typed
// ConfigError naming the setting) instead of answering every such key as absent. A store written
// before the record existed is read for its collections at that first open: one kept in the other
// layout is refused too; one of strings and counters alone takes the configured layout. Negative
// control (2026-12-05): without the check both first tests fail (the replica opens); without the
// read of an unrecorded store the third fails.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BaristaError } from '../lib/errors.ts';
import { SeededRng } from '../lib/rng.ts';
import { COLLECTIONS_LAYOUT_META, DynamoReplica } from './replica.ts';
import type { ReplicaStore } from './store.ts';
import { DynamoCluster } from './testing.ts';

const enc = new TextEncoder();

function reopen(c: DynamoCluster, id: string, collections: 'whole' | 'rows', unrecorded = false): DynamoReplica {
  const store = c.node(id).store;
  // As written by a build before the record: the store's own, without its layout's record.
  const view: ReplicaStore = unrecorded
    ? Object.create(store, {
        getMeta: { value: (name: string) => (name === COLLECTIONS_LAYOUT_META ? undefined : store.getMeta(name)) },
      })
    : store;
  return new DynamoReplica(
    { ...c.config, collections, id },
    { store: view, ring: c.ring, rng: new SeededRng(`reopen-${id}`), isUp: () => true },
  );
}

function errorOf(f: () => unknown): BaristaError {
  try {
    f();
  } catch (error) {
    assert.ok(error instanceof BaristaError, String(error));
    return error;
  }
  assert.fail('no error');
}

test('a store first opened in the rows layout refuses a replica configured whole, and keeps serving rows', () => {
  const c = new DynamoCluster({ ids: ['a', 'b', 'c'], seed: 'layout', config: { collections: 'rows' } });
  c.checkInvariants = false;
  const w = c.typed('a', 's', { type: 'sadd', members: [enc.encode('x')] }, 'ALL');
  c.settle();
  assert.ok(c.result(w)?.ok);
  assert.equal(new TextDecoder().decode(c.node('a').store.getMeta(COLLECTIONS_LAYOUT_META)), 'rows');
  const e = errorOf(() => reopen(c, 'a', 'whole'));
  assert.equal(e.code, 'config_invalid');
  assert.match(e.message, /^store\.replication\.collections: is whole, but .* in the rows layout/);
  // The same layout opens.
  reopen(c, 'a', 'rows');
});

test('a store first opened whole refuses rows; an unreadable record is corruption, not a layout', () => {
  const c = new DynamoCluster({ ids: ['a', 'b', 'c'], seed: 'layout-whole' });
  c.checkInvariants = false;
  assert.equal(new TextDecoder().decode(c.node('b').store.getMeta(COLLECTIONS_LAYOUT_META)), 'whole');
  assert.equal(errorOf(() => reopen(c, 'b', 'rows')).code, 'config_invalid');
  c.node('b').store.putMeta(COLLECTIONS_LAYOUT_META, enc.encode('sideways'));
  assert.equal(errorOf(() => reopen(c, 'b', 'whole')).code, 'data_corrupt');
});

test('a store written before the record is read for its collections: one kept in the other layout is refused', () => {
  for (const [layout, other] of [
    ['rows', 'whole'],
    ['whole', 'rows'],
  ] as const) {
    const c = new DynamoCluster({
      ids: ['a', 'b', 'c'],
      seed: `unrecorded-${layout}`,
      config: { collections: layout },
    });
    c.checkInvariants = false;
    const strings = c.put('a', 'k', 'v', 'ALL');
    const counter = c.typed('a', 'n', { type: 'incr', by: 1n }, 'ALL');
    c.settle();
    assert.ok(c.result(strings)?.ok && c.result(counter)?.ok);
    // Strings and counters read alike in both layouts: the configured one is taken.
    reopen(c, 'a', other, true);
    const w = c.typed('a', 's', { type: 'sadd', members: [enc.encode('x')] }, 'ALL');
    c.settle();
    assert.ok(c.result(w)?.ok);
    const e = errorOf(() => reopen(c, 'a', other, true));
    assert.equal(e.code, 'config_invalid', layout);
    assert.match(e.message, new RegExp(`is ${other}, but .* in the ${layout} layout`));
    reopen(c, 'a', layout, true);
  }
});
