// Ring moves at the replica (move.ts) on the in-test network (testing.ts): a join pulls every range
// the new node takes, a decommission pushes every range the leaving node gives up, pages are
// retried when lost, a source that is down is waited for, a crash of the mover starts it over.
// The cluster checks after every step that each acknowledged write is held by at least its level's
// count of the key's replicas ON THE CURRENT RING, so completing a move that did not stream (the
// negative controls) fails that check at once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeMessage, encodeMessage } from './messages.ts';
import { chooseTokens } from './ring.ts';
import { DynamoCluster } from './testing.ts';
import { limits } from '../lib/limits.ts';

const IDS = ['a', 'b', 'c', 'd'];

/** Four nodes, N = 3, `keys` keys written at ALL and settled; pages of at most 16 scanned values. */
function loaded(seed: string, keys = 200, moveDelayTicks = 0): DynamoCluster {
  const c = new DynamoCluster({
    ids: IDS,
    seed,
    config: { antiEntropyScanEntriesMax: 16, moveDelayTicks, antiEntropyTimeoutTicks: 10 },
  });
  // The per-step checks cost O(acked writes) each step: off while loading, on for the move.
  c.checkInvariants = false;
  for (let i = 0; i < keys; i++) {
    c.put(IDS[i % IDS.length]!, `k${i}`, `v${i}`, 'ALL');
    c.deliverAll();
  }
  c.settle();
  c.checkInvariants = true;
  c.checkStep();
  assert.equal(c.acked.length, keys);
  return c;
}

function beginJoin(c: DynamoCluster, id: string): void {
  c.addNode(id);
  c.setRing(c.ring.beginJoin(id, chooseTokens(c.rng.fork(`tokens/${id}`), 4, c.ring)));
}

/** Delivers and ticks until the moving node says its streams are done; the rounds it took. */
function runMove(c: DynamoCluster, roundsMax = 2_000): number {
  const mover = c.ring.moving!.id;
  for (let round = 0; round < roundsMax; round++) {
    c.deliverAll();
    if (c.node(mover).replica.moveProgress()?.done === true) return round;
    c.tick();
  }
  assert.fail(`the move of ${mover} did not finish in ${roundsMax} rounds`);
}

/** Every acknowledged key held, with its value, by every replica of the current ring. */
function assertEveryReplicaHolds(c: DynamoCluster): void {
  for (const w of c.acked) {
    for (const r of c.replicasOf(w.key)) {
      const values = c
        .stateOf(r, w.key)
        .siblings.map((s) => (s.value === null ? null : new TextDecoder().decode(s.value)));
      assert.ok(values.includes(w.value), `${r} lacks ${w.key}=${w.value} (holds ${JSON.stringify(values)})`);
    }
  }
}

test('a join pulls every range the new node takes from the replica losing it, page by page', () => {
  const c = loaded('move-join', 120);
  beginJoin(c, 'e');
  const plan = c.node('e').replica.moveProgress()!;
  assert.equal(plan.kind, 'join');
  assert.ok(plan.transfers.length > 0 && plan.transfers.every((t) => t.direction === 'pull'));
  runMove(c);
  const done = c.node('e').replica.moveProgress()!;
  const pulled = done.transfers.reduce((s, t) => s + t.entries, 0);
  assert.ok(pulled > 0, 'the joining node received entries');
  assert.ok(
    done.transfers.some((t) => t.pages > 1),
    'a transfer took several pages (16 scanned values per page)',
  );
  c.setRing(c.ring.completeMove()); // checkStep: every ALL write on all 3 of its new replicas
  assertEveryReplicaHolds(c);
  assert.ok(
    c.acked.some((w) => c.replicasOf(w.key).includes('e')),
    'the new node replicates some keys',
  );
  assert.equal(c.node('e').replica.moveProgress(), undefined, 'no move once completed');
});

test('negative control: completing a join without its streams leaves acknowledged writes short of replicas', () => {
  const c = loaded('move-join', 120);
  beginJoin(c, 'e');
  assert.throws(() => c.setRing(c.ring.completeMove()), /held by 2 replicas, needs 3/);
});

test('a decommission pushes every range of the leaving node to the range new replica', () => {
  const c = loaded('move-leave', 120);
  c.setRing(c.ring.beginLeave('b'));
  const plan = c.node('b').replica.moveProgress()!;
  assert.equal(plan.kind, 'leave');
  assert.ok(plan.transfers.length > 0 && plan.transfers.every((t) => t.direction === 'push'));
  runMove(c);
  c.setRing(c.ring.completeMove());
  assert.ok(!c.ring.nodes.some((n) => n.id === 'b'));
  assertEveryReplicaHolds(c);
});

test('negative control: completing a decommission without its streams leaves acknowledged writes short', () => {
  const c = loaded('move-leave', 120);
  c.setRing(c.ring.beginLeave('b'));
  assert.throws(() => c.setRing(c.ring.completeMove()), /held by 2 replicas, needs 3/);
});

test('writes during a join reach the pending replica, so nothing written after a page was copied is missed', () => {
  const c = loaded('move-writes', 60);
  beginJoin(c, 'e');
  // Interleave the move with QUORUM and ALL writes, new keys and overwrites, coordinated everywhere.
  for (let i = 0; i < 120; i++) {
    c.put(['a', 'b', 'c', 'd', 'e'][i % 5]!, `k${i % 90}`, `w${i}`, i % 2 === 0 ? 'QUORUM' : 'ALL');
    if (i % 3 === 0) c.tick();
    c.deliver(0);
  }
  runMove(c);
  c.settle();
  c.setRing(c.ring.completeMove());
  // Each key's last acknowledged write is on every new replica (no faults: every write reached all).
  const last = new Map<string, string>();
  for (const w of c.acked) last.set(w.key, w.value);
  for (const [key, value] of last) {
    for (const r of c.replicasOf(key)) {
      const vs = c.stateOf(r, key).siblings.map((s) => (s.value === null ? '' : new TextDecoder().decode(s.value)));
      assert.ok(vs.includes(value), `${r} lacks ${key}=${value}`);
    }
  }
});

test('lost pages are sent again, and a source that is down is waited for, not replaced', () => {
  const c = loaded('move-faults', 120);
  beginJoin(c, 'e');
  const sources = c
    .node('e')
    .replica.moveProgress()!
    .transfers.map((t) => t.peer);
  const source = sources[0]!;
  c.down(source);
  for (let i = 0; i < 30; i++) {
    c.deliverAll();
    c.tick();
  }
  const waiting = c.node('e').replica.moveProgress()!;
  assert.equal(waiting.transfers.find((t) => t.peer === source)!.pages, 0, 'nothing pulled from a source that is down');
  assert.ok(!waiting.done);
  c.up(source);
  c.dropRate = 0.3;
  runMove(c, 20_000);
  c.dropRate = 0;
  const progress = c.node('e').replica.moveProgress()!;
  assert.ok(progress.transfers.reduce((s, t) => s + t.retries, 0) > 0, 'some fetch or page was lost and sent again');
  c.setRing(c.ring.completeMove());
  assertEveryReplicaHolds(c);
});

test('a first fetch lost is sent again (its cursor is still the start, not the end)', () => {
  const c = loaded('move-first-lost', 60);
  beginJoin(c, 'e');
  c.tick(); // the first fetches leave
  assert.ok(
    c.queue.some((m) => m.from === 'e'),
    'e fetched',
  );
  c.queue = []; // every one of them lost
  for (let i = 0; i < 20; i++) c.tick(); // past the fetch timeout
  runMove(c);
  assert.ok(
    c
      .node('e')
      .replica.moveProgress()!
      .transfers.every((t) => t.retries > 0 && t.pages > 0),
  );
  c.setRing(c.ring.completeMove());
  assertEveryReplicaHolds(c);
});

test('a crash of the joining node mid-move starts its streams over, and the move still completes', () => {
  const c = loaded('move-crash', 120);
  beginJoin(c, 'e');
  c.tick(); // the first fetches go out
  for (let i = 0; i < 6; i++) c.deliver(0); // a few pages merged, the move not done
  assert.ok(
    c
      .node('e')
      .replica.moveProgress()!
      .transfers.some((t) => t.pages > 0),
  );
  assert.ok(!c.node('e').replica.moveProgress()!.done);
  c.crash('e');
  c.up('e');
  assert.equal(
    c
      .node('e')
      .replica.moveProgress()!
      .transfers.reduce((s, t) => s + t.pages, 0),
    0,
    'the new life starts over',
  );
  runMove(c);
  c.setRing(c.ring.completeMove());
  assertEveryReplicaHolds(c);
});

test('the ring delay holds the first page back for moveDelayTicks', () => {
  const c = loaded('move-delay', 40, 6);
  beginJoin(c, 'e');
  assert.equal(c.node('e').replica.moveProgress()!.delayTicksLeft, 6);
  for (let i = 0; i < 5; i++) {
    c.tick();
    c.deliverAll();
  }
  const early = c.node('e').replica.moveProgress()!;
  assert.equal(
    early.transfers.reduce((s, t) => s + t.pages, 0),
    0,
  );
  const rounds = runMove(c);
  assert.ok(rounds >= 1);
  c.setRing(c.ring.completeMove());
  assertEveryReplicaHolds(c);
});

test('a node off the ring is not served a page, and a stray page is not merged', () => {
  const c = loaded('move-stray', 20);
  const stranger = c.addNode('x'); // not on the ring
  stranger.replica.receive('a', { type: 'movePage', op: 1, push: true, next: null, entries: [] });
  const out = c
    .node('a')
    .replica.receive('x', { type: 'moveFetch', op: 7, cursor: null, ranges: [{ start: 0n, end: 0n }] });
  assert.equal(out.messages.length, 0, 'a fetch from a node off the ring is ignored');
  assert.equal(c.node('a').replica.moveStats.ignored, 1);
  // The push from a ring node to a node that replicates nothing: acked, nothing merged.
  assert.equal(stranger.store.values().size, 0);
});

test('move messages round-trip, and a page claiming more entries than its bytes is refused', () => {
  const page = {
    type: 'movePage' as const,
    op: 9,
    push: true,
    next: new Uint8Array([1, 2]),
    entries: [{ key: new Uint8Array([7]), state: c0State() }],
  };
  assert.deepEqual(decodeMessage(encodeMessage(page)), page);
  const fetch = {
    type: 'moveFetch' as const,
    op: 3,
    cursor: null,
    ranges: [
      { start: -5n, end: 10n },
      { start: 10n, end: -5n },
    ],
  };
  assert.deepEqual(decodeMessage(encodeMessage(fetch)), fetch);
  assert.deepEqual(decodeMessage(encodeMessage({ type: 'movePageAck', op: 4 })), { type: 'movePageAck', op: 4 });
  const lying = encodeMessage({ ...page, entries: [] });
  lying[lying.length - 1] = 0x7f; // 127 entries in 0 bytes
  assert.throws(() => decodeMessage(lying), /entries in a move page/);
  const noRanges = encodeMessage({ ...fetch, ranges: [] });
  assert.throws(() => decodeMessage(noRanges), /0 ranges in a move fetch/);
});

function c0State(): Uint8Array {
  const c = new DynamoCluster({ ids: ['a'], seed: 'state', config: { replicas: 1 } });
  c.put('a', 'k', 'v', 'ONE');
  return c.stateOf('a', 'k').encode();
}

// A state merged from partition sides may be up to dynamoMergedStateBytesMax, more than a page's
// target: a page ends before a state that would take it past what a message carries, so such a
// state travels alone. Kept in a page with others, a 7 MB merge made every send of that page pass
// dynamoMessageBytesMax, and the move never finished (an audit, 2026-12-07).
test('a join moves states merged past the page target, each page within a replica message', () => {
  const c = new DynamoCluster({ ids: IDS, seed: 'move-big', config: { antiEntropyScanEntriesMax: 16 } });
  c.checkInvariants = false;
  const member = (side: string, i: number) => new TextEncoder().encode(`${side}${i}${'m'.repeat(975_000)}`);
  // Two sides grow the same sets (kept whole) to 3.9 MB each; healed, every replica merges them
  // (7.8 MB); values of 950 KB beside them fill the pages up to the target before a merged set.
  c.partition([
    ['a', 'b'],
    ['c', 'd'],
  ]);
  for (const key of ['s0', 's1', 's2']) {
    for (const [side, at] of [
      ['x', 'a'],
      ['y', 'c'],
    ] as const) {
      for (let i = 0; i < 4; i++) {
        c.typed(at, key, { type: 'sadd', members: [member(side, i)] }, 'ONE');
        c.deliverAll();
      }
    }
  }
  for (let i = 0; i < 24; i++) {
    c.put(IDS[i % IDS.length]!, `k${i}`, `${i}${'v'.repeat(950_000)}`, 'ONE');
    c.deliverAll();
  }
  c.heal();
  for (const key of ['s0', 's1', 's2']) for (const id of IDS) c.get(id, key, 'ALL');
  c.settle();
  const largest = Math.max(...IDS.flatMap((id) => ['s0', 's1', 's2'].map((k) => c.stateOf(id, k).encode().length)));
  assert.ok(largest > 7_500_000 && largest <= limits.dynamoMergedStateBytesMax, `merged states of ${largest} bytes`);
  let biggest = 0;
  const push = c.queue.push.bind(c.queue);
  c.queue.push = (...items) => {
    for (const m of items) biggest = Math.max(biggest, m.bytes.length);
    return push(...items);
  };
  beginJoin(c, 'e');
  const mover = c.ring.moving!.id;
  for (let round = 0; round < 2_000 && c.node(mover).replica.moveProgress()?.done !== true; round++) {
    c.deliverAll();
    c.tick();
  }
  assert.equal(c.node(mover).replica.moveProgress()?.done, true, 'the move finished');
  assert.ok(biggest <= limits.dynamoMessageBytesMax, `a message of ${biggest} bytes`);
});
