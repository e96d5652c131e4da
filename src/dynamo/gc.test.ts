// Tombstone garbage collection at the replica (replica.ts collectGarbage) and why dot counters are
// one sequence per actor over all keys (the counter floor): once a key's tombstone is collected
// somewhere, a new write of the key must not reuse a counter a lagging replica's tombstone covers.
// The in-test network's per-step invariant (every acknowledged write held by its level's count of
// replicas) does not know that collected writes are gone on purpose: it is off here, and each test
// checks what it means explicitly.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mutationsFrom } from '../lib/mutations.ts';
import { MemoryReplicaStore } from './store.ts';
import { DynamoCluster } from './testing.ts';
import { DynamoReplica } from './replica.ts';
import { SeededRng } from '../lib/rng.ts';

const IDS = ['a', 'b', 'c'];
const text = new TextDecoder();
const GRACE = 10_000;

function cluster(mutations: string[] = []): DynamoCluster {
  const c = new DynamoCluster({
    ids: IDS,
    seed: 'gc',
    config: { tombstoneGraceMs: GRACE, gcIntervalTicks: 1 },
    ...(mutations.length > 0 ? { mutations: mutationsFrom(mutations) } : {}),
  });
  c.checkInvariants = false;
  return c;
}

function values(c: DynamoCluster, at: string, key: string): string[] {
  return c
    .stateOf(at, key)
    .siblings.map((s) => (s.value === null ? '<deleted>' : text.decode(s.value)))
    .sort();
}

/** A delete of `key` at ALL through `at`, superseding what a read at ALL saw. */
function del(c: DynamoCluster, at: string, key: string): void {
  const read = c.get(at, key, 'ALL');
  c.settle();
  const r = c.result(read);
  assert.ok(r?.ok);
  c.put(at, key, null, 'ALL', r.state.context());
  c.settle();
}

test('a key dead for longer than the grace is deleted; younger tombstones and live keys stay', () => {
  const c = cluster();
  c.put('a', 'gone', 'v', 'ALL');
  c.put('a', 'live', 'v', 'ALL');
  c.settle();
  del(c, 'a', 'gone');
  for (const id of IDS) assert.deepEqual(values(c, id, 'gone'), ['<deleted>']);
  c.tick(GRACE - 10); // the tombstone's HLC wall time is a few ms: not yet past the grace
  for (const id of IDS) assert.deepEqual(values(c, id, 'gone'), ['<deleted>'], 'inside the grace: kept');
  c.tick(GRACE + 100);
  for (const id of IDS) {
    assert.equal(c.node(id).store.values().has('gone'), false, `${id} collected the tombstone`);
    assert.deepEqual(values(c, id, 'live'), ['v'], 'a live key stays');
    assert.equal(c.node(id).replica.stats.tombstonesCollected, 1);
  }
});

test('after a tombstone is collected, a new write of the key outlives a replica still holding it (counter floor)', () => {
  const run = (mutations: string[]) => {
    const c = cluster(mutations);
    c.put('a', 'k', 'v1', 'ALL');
    c.settle();
    del(c, 'a', 'k');
    // c is down while a and b collect: it still holds the tombstone (its dot and past cover a:1, a:2).
    c.down('c');
    c.tick(GRACE + 100);
    assert.equal(c.node('a').store.values().has('k'), false);
    c.up('c');
    c.put('a', 'k', 'v2', 'ONE'); // a blind write: a's local state of k is empty
    c.settle();
    const read = c.get('a', 'k', 'ALL');
    c.settle();
    const r = c.result(read);
    assert.ok(r?.ok);
    return r.state.siblings.map((s) => (s.value === null ? '<deleted>' : text.decode(s.value)));
  };
  assert.ok(run([]).includes('v2'), 'the new write survives the lagging tombstone');
  // Negative control: counters per key again, the new write is a:1, which c's tombstone covers.
  assert.ok(!run(['dynamo-counter-per-key']).includes('v2'), 'the new write is swallowed');
});

test('the counter reservation is durable: a restarted replica counts above every counter it may have used', () => {
  const store = new MemoryReplicaStore();
  const ring = new DynamoCluster({ ids: ['a'], seed: 'r', config: { replicas: 1 } }).ring;
  const make = (life: number) =>
    new DynamoReplica(
      { id: 'a', replicas: 1, requestTimeoutTicks: 5, hintReplayIntervalTicks: 2 },
      { store, ring, rng: new SeededRng(`life-${life}`), isUp: () => true },
    );
  const enc = new TextEncoder();
  const first = make(1);
  const out = first.request(1, {
    kind: 'put',
    key: enc.encode('x'),
    value: enc.encode('1'),
    context: first.peek(enc.encode('x')).context(),
    level: 'ONE',
    ts: { wallMs: 1, logical: 0 },
  });
  assert.ok(out.syncNeeded);
  store.sync();
  const used = first.peek(enc.encode('x')).siblings[0]!.dot.counter;
  store.crash();
  const second = make(2);
  second.request(2, {
    kind: 'put',
    key: enc.encode('y'),
    value: enc.encode('2'),
    context: second.peek(enc.encode('y')).context(),
    level: 'ONE',
    ts: { wallMs: 2, logical: 0 },
  });
  const next = second.peek(enc.encode('y')).siblings[0]!.dot.counter;
  assert.ok(next > used + (1 << 20) - 1, `after a restart counters resume past the reservation (${used} -> ${next})`);
});
