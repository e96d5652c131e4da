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

/** Timers the test fires by hand, and a clock it moves. */
class Manual {
  nowMs = 0;
  private next: (() => void) | undefined;
  readonly timers = {
    after: (_ms: number, fn: () => void) => {
      this.next = fn;
      return {
        cancel: () => {
          this.next = undefined;
        },
      };
    },
    every: () => ({ cancel() {} }),
  };
  /** Runs the pending timer (one census step); false when none is pending. */
  fire(): boolean {
    const fn = this.next;
    this.next = undefined;
    fn?.();
    return fn !== undefined;
  }
}

const even = (slot: number) => slot % 2 === 0;

function exact(ks: Key[], pick: (slot: number) => boolean) {
  const mine = ks.filter((k) => pick(k.slot));
  return { keys: mine.length, expires: mine.filter((k) => k.expiring).length };
}

/** Asks once (starting the census), then fires its steps until the pass is published. */
function finishPass(census: KeyCensus, clock: Manual): void {
  const passes = census.passes;
  census.counts(() => true);
  while (census.passes === passes) assert.ok(clock.fire(), 'a step is scheduled');
}

test('a finished pass: exact counts of the slots asked and the stored bytes; a small store: undefined (the caller walks)', () => {
  const clock = new Manual();
  const small = { keys: keys(limits.redisCountWalkKeysMax / 2, 1) };
  const c1 = new KeyCensus(walkOver(small), clock.timers, () => clock.nowMs);
  finishPass(c1, clock);
  assert.equal(
    c1.counts(() => true),
    undefined,
    'few values: the caller walks, exact',
  );
  const big = { keys: keys(limits.redisCountWalkKeysMax * 2, 2) };
  const c2 = new KeyCensus(walkOver(big), clock.timers, () => clock.nowMs);
  finishPass(c2, clock);
  assert.deepEqual(c2.counts(even), exact(big.keys, even));
  assert.deepEqual(
    c2.counts(() => true),
    exact(big.keys, () => true),
  );
  assert.equal(c2.storedBytes(), 10 * big.keys.length, "INFO used_memory at N > 1: every stored value's bytes");
  c2.stop();
  assert.equal(
    c2.counts(() => true),
    undefined,
    'stopped: nothing walked, the caller decides',
  );
});

test('the first ask estimates from the token space covered; a later pass keeps the last finished count until it ends', () => {
  const clock = new Manual();
  const store = { keys: keys(limits.redisCountWalkKeysMax * 8, 3) };
  const census = new KeyCensus(walkOver(store), clock.timers, () => clock.nowMs);
  const truth = store.keys.length;
  const first = census.counts(() => true)!;
  assert.ok(Math.abs(first.keys - truth) < truth * 0.15, `first estimate ${first.keys} of ${truth}`);
  while (census.passes === 0) clock.fire();
  assert.deepEqual(census.counts(even), exact(store.keys, even));
  const before = census.counts(even);
  store.keys = store.keys.slice(0, store.keys.length / 2);
  for (let i = 0; i < 12; i++) clock.fire(); // the rest, then part of the next pass
  assert.deepEqual(census.counts(even), before, 'a pass half done: the last finished one');
  while (census.passes === 1) clock.fire();
  assert.deepEqual(census.counts(even), exact(store.keys, even));
});

test('unasked for a minute the census idles, and the next ask forgets the old pass instead of answering it', () => {
  const clock = new Manual();
  const store = { keys: keys(limits.redisCountWalkKeysMax * 4, 4) };
  const census = new KeyCensus(walkOver(store), clock.timers, () => clock.nowMs);
  finishPass(census, clock);
  clock.nowMs += 61_000;
  let steps = 0;
  while (clock.fire()) steps++;
  assert.ok(steps > 0, 'the pass after the last ask ran, then the timer stopped');
  store.keys = store.keys.filter((_, i) => i % 2 === 0); // half, spread over the token space
  clock.nowMs += 3_600_000;
  const now = census.counts(() => true)!;
  const truth = store.keys.length;
  assert.ok(
    Math.abs(now.keys - truth) < truth * 0.15,
    `${now.keys} keys answered, ${truth} stored (not the hour-old ${truth * 2})`,
  );
});
