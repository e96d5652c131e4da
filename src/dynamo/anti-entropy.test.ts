// Goal: anti-entropy (replica.ts, Dynamo §4.7) converges replicas that neither a read (read repair)
// nor a hint would ever fix — here every write reached only its coordinator, and nothing reads —
// without a client request; replicas that agree exchange a root and stream nothing; the work is
// paged (a build reads at most antiEntropyScanEntriesMax values per tick); a round with a busy or
// silent peer ends and is counted. On the in-test network of testing.ts (5 nodes, N = 3) with its
// invariants checked after every step. Negative control: the same history without anti-entropy
// does not converge (checkConverged throws).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { limits } from '../lib/limits.ts';
import { decodeMessage, encodeMessage } from './messages.ts';
import type { ReplicaStats } from './replica.ts';
import { DynamoCluster } from './testing.ts';

const IDS = ['n1', 'n2', 'n3', 'n4', 'n5'];
const KEYS = Array.from({ length: 60 }, (_, i) => `key:${i}`);
const SCAN_PAGE = 7;

/** Every key written at ONE by its first replica, with every replicate message lost: one copy each. */
function diverged(seed: number, pacing?: { share: number; monotonicMs: () => number; scan: number }): DynamoCluster {
  // Timeout hints off: the dropped replicates would otherwise be hinted and replayed (tested in
  // replica.test.ts); here anti-entropy alone repairs.
  const c = new DynamoCluster({
    ids: IDS,
    seed,
    config: {
      antiEntropyScanEntriesMax: pacing?.scan ?? SCAN_PAGE,
      timeoutHints: false,
      ...(pacing === undefined ? {} : { antiEntropyLoopShare: pacing.share }),
    },
    ...(pacing === undefined ? {} : { monotonicMs: pacing.monotonicMs }),
  });
  for (const [i, key] of KEYS.entries()) {
    const at = c.replicasOf(key)[i % 3]!;
    c.put(at, key, `v${i}`, 'ONE');
    c.queue = c.queue.filter((m) => decodeMessage(m.bytes).type !== 'replicate');
  }
  c.settle();
  return c;
}

/** Every node starts a round with each other node in turn, until no round or job is left. */
function repairAll(c: DynamoCluster): number {
  let ticks = 0;
  for (let pass = 0; pass < IDS.length - 1; pass++) {
    for (const id of IDS) assert.ok(c.node(id).replica.repairNow(), `${id} starts a round`);
    for (;;) {
      c.deliverAll();
      if (![...c.nodes.values()].some((n) => n.replica.antiEntropyBusy)) break;
      c.tick();
      ticks++;
      assert.ok(ticks < 10_000, 'anti-entropy does not finish');
    }
  }
  c.settle();
  return ticks;
}

const stat = (c: DynamoCluster, name: keyof ReplicaStats): number =>
  [...c.nodes.values()].reduce((n, node) => n + node.replica.stats[name], 0);

test('anti-entropy converges replicas that only the coordinator wrote, with no read and no hint', () => {
  const c = diverged(11);
  assert.throws(() => c.checkConverged(KEYS), /replicas of .* differ/, 'negative control: diverged before repair');
  const ticks = repairAll(c);
  c.checkConverged(KEYS);
  assert.equal(stat(c, 'readRepairs'), 0, 'no read repaired anything');
  assert.equal(stat(c, 'hintsStored'), 0, 'no hint was involved');
  assert.ok(stat(c, 'antiEntropyValuesStreamed') >= KEYS.length * 2, 'each key reached its two other replicas');
  // Paging: 60 keys at 7 per page take several ticks per build.
  assert.ok(ticks >= Math.ceil(KEYS.length / 3 / SCAN_PAGE), `paged builds (${ticks} ticks)`);
});

test('antiEntropyLoopShare: walks that take time rest in proportion, still converge, and fail no more rounds', () => {
  // A clock every reading of which is 10 ms later: each page "takes" 10 ms. At share 0.05 its walk
  // rests 190 ms after it, ~19 readings, so a repair takes many times the ticks it takes unpaced;
  // at share 1 nothing rests. Pages of one value, every node starting a round at once: walks
  // overlap, and each rests on its own (a review found a rest shared by all of a node's walks
  // making a peer's answering build miss the round's deadline: 5 of 20 rounds failed at 0.05
  // against 1 unpaced). (The simulator's clock does not move while code runs: there the walks
  // never rest.)
  const at = (share: number): { ticks: number; failed: number } => {
    let now = 0;
    const c = diverged(15, {
      share,
      scan: 1,
      monotonicMs: () => {
        now += 10;
        return now;
      },
    });
    const ticks = repairAll(c);
    c.checkConverged(KEYS);
    return { ticks, failed: stat(c, 'antiEntropyRoundsFailed') };
  };
  const unpaced = at(1);
  const paced = at(0.05);
  assert.ok(paced.ticks >= 4 * unpaced.ticks, `paced ${paced.ticks} ticks vs unpaced ${unpaced.ticks}`);
  assert.ok(paced.failed <= unpaced.failed, `rounds failed: paced ${paced.failed}, unpaced ${unpaced.failed}`);
});

test('replicas that agree exchange roots only: same, nothing streamed', () => {
  const c = diverged(12);
  repairAll(c);
  const streamed = stat(c, 'antiEntropyValuesStreamed');
  const inSync = stat(c, 'antiEntropyInSync');
  repairAll(c);
  assert.equal(stat(c, 'antiEntropyValuesStreamed'), streamed, 'nothing streamed between equal replicas');
  assert.equal(
    stat(c, 'antiEntropyInSync') - inSync,
    IDS.length * (IDS.length - 1),
    'every round found its peer equal',
  );
});

test('one differing key costs one leaf range: a handful of values streamed, not the store', () => {
  const c = diverged(13);
  repairAll(c);
  const before = stat(c, 'antiEntropyValuesStreamed');
  const [a, b] = c.replicasOf(KEYS[5]!) as [string, string];
  c.put(a, KEYS[5]!, 'changed', 'ONE');
  c.queue = c.queue.filter((m) => decodeMessage(m.bytes).type !== 'replicate');
  c.settle();
  assert.ok(c.node(a).replica.repairNow(b));
  for (let i = 0; i < 1_000 && [...c.nodes.values()].some((n) => n.replica.antiEntropyBusy); i++) {
    c.deliverAll();
    c.tick();
  }
  c.settle();
  const streamed = stat(c, 'antiEntropyValuesStreamed') - before;
  assert.ok(streamed >= 1 && streamed <= 4, `streamed ${streamed} values for one differing key`);
  assert.ok(c.stateOf(b, KEYS[5]!).equals(c.stateOf(a, KEYS[5]!)));
});

/** Ticks `a` until its round's treeRequest is queued (its build done); returns the queue index. */
function untilTreeRequest(c: DynamoCluster, a: string): number {
  for (let i = 0; i < 1_000; i++) {
    const at = c.queue.findIndex((m) => {
      const d = decodeMessage(m.bytes);
      return m.from === a && d.type === 'merkle' && d.merkle.type === 'treeRequest';
    });
    if (at >= 0) return at;
    c.tick();
  }
  assert.fail('no treeRequest');
}

test('a peer past its job bound answers busy: the round ends, counted on both sides', () => {
  const c = diverged(14);
  const [a, b] = c.replicasOf(KEYS[0]!) as [string, string];
  assert.ok(c.node(a).replica.repairNow(b));
  untilTreeRequest(c, a);
  // Before a's request, b gets as many requests as it has job slots (from the other nodes).
  const others = IDS.filter((id) => id !== a && id !== b);
  for (let i = 0; i < limits.dynamoAntiEntropyJobsCountMax; i++) {
    const merkle = {
      type: 'treeRequest' as const,
      op: 100 + i,
      range: { start: 0n, end: 0n },
      depth: 4,
      root: new Uint8Array(16),
    };
    c.queue.unshift({
      from: others[i % others.length]!,
      to: b,
      bytes: encodeMessage({ type: 'merkle', op: merkle.op, merkle }),
    });
  }
  const failed = stat(c, 'antiEntropyRoundsFailed');
  c.deliverAll();
  assert.equal(c.node(b).replica.stats.antiEntropyRefused, 1, 'b refused the request past its bound');
  assert.equal(stat(c, 'antiEntropyRoundsFailed') - failed, 1, "a's round ended on busy");
  assert.ok(!c.node(a).replica.antiEntropyBusy);
});

test('a silent peer: the round times out after antiEntropyTimeoutTicks (plus twice its own build), counted; the next one can start', () => {
  const c = diverged(15);
  const [a, b] = c.replicasOf(KEYS[0]!) as [string, string];
  assert.ok(c.node(a).replica.repairNow(b));
  c.queue.splice(untilTreeRequest(c, a), 1); // lost
  assert.equal(c.node(a).replica.repairNow(b), false, 'one round at a time');
  // The deadline: antiEntropyTimeoutTicks plus twice the ticks a's own build took (a few here).
  const timeout = c.node(a).replica.config.antiEntropyTimeoutTicks;
  let waited = 0;
  for (; waited < timeout + 100 && c.node(a).replica.antiEntropyBusy; waited++) c.tick();
  assert.ok(waited >= timeout, `the round waited its timeout (${waited} ticks)`);
  assert.ok(!c.node(a).replica.antiEntropyBusy, 'the round ended');
  assert.equal(c.node(a).replica.stats.antiEntropyRoundsFailed, 1);
  assert.ok(c.node(a).replica.repairNow(b), 'a new round starts');
});

test('the timer starts rounds by itself every antiEntropyIntervalTicks and converges the cluster', () => {
  const c = new DynamoCluster({
    ids: IDS,
    seed: 16,
    config: { antiEntropyIntervalTicks: 5, antiEntropyScanEntriesMax: SCAN_PAGE },
  });
  for (const [i, key] of KEYS.entries()) {
    c.put(c.replicasOf(key)[i % 3]!, key, `v${i}`, 'ONE');
    c.queue = c.queue.filter((m) => decodeMessage(m.bytes).type !== 'replicate');
  }
  for (let i = 0; i < 400; i++) {
    c.deliverAll();
    c.tick();
  }
  c.settle();
  c.checkConverged(KEYS);
  assert.ok(stat(c, 'antiEntropyRounds') >= IDS.length, 'rounds started by the timer');
});
