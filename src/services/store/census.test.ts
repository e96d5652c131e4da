// Goal: the key census (census.ts) publishes exact per-slot counts at the end of each pass, answers
// only for the slots asked and only past redisCountWalkKeysMax keys (below: undefined, the caller
// walks), estimates from the token space covered during the first pass, and keeps the last pass'
// counts (not a half-walked one) while a later pass runs; the stored bytes (INFO used_memory) are summed too.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SLOT_COUNT } from '../../dynamo/slots.ts';
import { limits } from '../../lib/limits.ts';
import { SeededRng } from '../../lib/rng.ts';
import { type CensusWalk, KeyCensus } from './census.ts';

interface Key {
  readonly token: bigint;
  readonly slot: number;
  readonly expiring: boolean;
}

function keys(n: number, seed: number): Key[] {
  const rng = new SeededRng(seed);
  return Array.from({ length: n }, () => ({
    token: BigInt.asUintN(64, (BigInt(rng.int(2 ** 32)) << 32n) | BigInt(rng.int(2 ** 32))),
    slot: rng.int(SLOT_COUNT),
    expiring: rng.int(4) === 0,
  })).sort((a, b) => (a.token < b.token ? -1 : a.token > b.token ? 1 : 0));
}

/** The store as the census sees it: keys in token order, pages of countMax cut before the next token. */
function walkOver(store: { keys: Key[] }): CensusWalk {
  return (from, countMax, visit, stored) => {
    const page = store.keys.filter((k) => k.token >= from).slice(0, countMax + 1);
    for (const k of page.slice(0, countMax)) {
      stored(10);
      visit(k.slot, k.expiring);
    }
    return page.length > countMax ? page[countMax]!.token : null;
  };
}

const neverTimers = { after: () => ({ cancel() {} }), every: () => ({ cancel() {} }) };
const even = (slot: number) => slot % 2 === 0;

function exact(ks: Key[], pick: (slot: number) => boolean) {
  const mine = ks.filter((k) => pick(k.slot));
  return { keys: mine.length, expires: mine.filter((k) => k.expiring).length };
}

test('a finished pass: exact counts of the slots asked; below the walk bound, undefined', () => {
  const small = { keys: keys(limits.redisCountWalkKeysMax, 1) };
  const c1 = new KeyCensus(walkOver(small), neverTimers, () => 0);
  while (!c1.step());
  assert.equal(
    c1.counts(() => true),
    undefined,
    'few keys: the caller walks, exact',
  );
  const big = { keys: keys(limits.redisCountWalkKeysMax * 2, 2) };
  const c2 = new KeyCensus(walkOver(big), neverTimers, () => 0);
  while (!c2.step());
  assert.deepEqual(c2.counts(even), exact(big.keys, even));
  assert.deepEqual(
    c2.counts(() => true),
    exact(big.keys, () => true),
  );
  assert.equal(c2.storedBytes(), 10 * big.keys.length, "INFO used_memory at N > 1: every stored value's bytes");
});

test('the first pass estimates from the token space covered; later passes keep the last finished count until they end', () => {
  const store = { keys: keys(limits.redisCountWalkKeysMax * 4, 3) };
  const census = new KeyCensus(walkOver(store), neverTimers, () => 0);
  // The first ask walks CENSUS_FIRST_STEPS steps at once and answers the estimate.
  const first = census.counts(() => true)!;
  const truth = store.keys.length;
  assert.ok(Math.abs(first.keys - truth) < truth * 0.15, `first estimate ${first.keys} of ${truth}`);
  for (let i = 0; i < 10; i++) census.step();
  const estimate = census.counts(() => true)!;
  assert.ok(Math.abs(estimate.keys - truth) < truth * 0.1, `estimate ${estimate.keys} of ${truth}`);
  while (!census.step());
  assert.deepEqual(census.counts(even), exact(store.keys, even));
  // The store changes; a pass half done still answers the last finished one.
  const before = census.counts(even);
  store.keys = store.keys.slice(0, store.keys.length / 2);
  for (let i = 0; i < 5; i++) census.step();
  assert.deepEqual(census.counts(even), before);
  while (!census.step());
  assert.deepEqual(census.counts(even), exact(store.keys, even));
  assert.equal(census.passes, 2);
});
