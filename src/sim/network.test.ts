// Goal: each partition helper blocks exactly the directed links it names (checked against a naive
// oracle of the intended reachability), cuts compose as a multiset, and the message path copies
// payloads, keeps per-link FIFO, and applies loss, duplication, reordering and clogging.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SeededRng } from '../lib/rng.ts';
import { defaultNetworkConfig, type NetworkConfig, SimNetwork } from './network.ts';

const ids = ['a', 'b', 'c', 'd', 'e'];

interface Sent {
  atMs: number;
  from: number;
  to: number;
  type: number;
  payload: Uint8Array;
}

function net(
  config: Partial<NetworkConfig> = {},
  nodes = ids,
): { n: SimNetwork; out: Sent[]; setNow(ms: number): void } {
  const out: Sent[] = [];
  let now = 0;
  const n = new SimNetwork(nodes, { ...defaultNetworkConfig, ...config }, new SeededRng('net'), {
    nowMs: () => now,
    deliverAt: (atMs, from, to, type, payload) => {
      out.push({ atMs, from, to, type, payload });
    },
  });
  return {
    n,
    out,
    setNow: (ms) => {
      now = ms;
    },
  };
}

/** All directed links a->b (a != b) for which `blocked(a, b)` holds, in node order. */
function expected(blocked: (a: string, b: string) => boolean): [string, string][] {
  const out: [string, string][] = [];
  for (const a of ids) for (const b of ids) if (a !== b && blocked(a, b)) out.push([a, b]);
  return out;
}

test('partition(groups) blocks exactly the links between different groups, both ways', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: -1, max: 2 }), { minLength: 5, maxLength: 5 }), (assign) => {
      // assign[i] = group of node i, or -1 for "not listed".
      const groups: string[][] = [[], [], []];
      assign.forEach((g, i) => {
        if (g >= 0) groups[g]!.push(ids[i]!);
      });
      const { n } = net();
      const cut = n.partition(groups);
      const group = (id: string): number => assign[ids.indexOf(id)]!;
      const want = expected((a, b) => group(a) >= 0 && group(b) >= 0 && group(a) !== group(b));
      assert.deepEqual(n.blockedLinks(), want);
      cut.heal();
      assert.deepEqual(n.blockedLinks(), []);
    }),
    { numRuns: 200, seed: 7 },
  );
});

test('isolate cuts one node off in both directions and nothing else', () => {
  const { n } = net();
  n.isolate('c');
  assert.deepEqual(
    n.blockedLinks(),
    expected((a, b) => a === 'c' || b === 'c'),
  );
});

test('blockLink is one-way', () => {
  const { n } = net();
  n.blockLink('a', 'b');
  assert.equal(n.linkBlocked('a', 'b'), true);
  assert.equal(n.linkBlocked('b', 'a'), false);
  assert.deepEqual(n.blockedLinks(), [['a', 'b']]);
});

test('bridge: the halves cannot see each other, both see the bridge node', () => {
  const { n } = net();
  const left = ['a', 'b'];
  const right = ['d', 'e'];
  n.bridge(left, 'c', right);
  const side = (id: string): number => (left.includes(id) ? 0 : right.includes(id) ? 1 : -1);
  assert.deepEqual(
    n.blockedLinks(),
    expected((a, b) => side(a) >= 0 && side(b) >= 0 && side(a) !== side(b)),
  );
  for (const x of [...left, ...right]) {
    assert.equal(n.linkBlocked(x, 'c'), false);
    assert.equal(n.linkBlocked('c', x), false);
  }
});

test('majorityMinority splits every node into floor(n/2)+1 and the rest, fully cut', () => {
  for (let seed = 0; seed < 20; seed++) {
    const { n } = net();
    const { majority, minority } = n.majorityMinority(new SeededRng(seed));
    assert.equal(majority.length, 3);
    assert.equal(minority.length, 2);
    assert.deepEqual([...majority, ...minority].sort(), ids);
    assert.deepEqual(
      n.blockedLinks(),
      expected((a, b) => majority.includes(a) !== majority.includes(b)),
    );
  }
});

test('cuts compose as a multiset: healing one leaves the other in place; heal() clears all', () => {
  const { n } = net();
  const one = n.isolate('a');
  const two = n.blockLink('a', 'b');
  one.heal();
  one.heal(); // idempotent: does not eat `two`'s count
  assert.deepEqual(n.blockedLinks(), [['a', 'b']]);
  two.heal();
  assert.deepEqual(n.blockedLinks(), []);
  n.isolate('a');
  n.partition([['b'], ['c']]);
  n.heal();
  assert.deepEqual(n.blockedLinks(), []);
});

test('send copies the payload, drops on a blocked link, and rejects unknown peers', () => {
  const { n, out } = net();
  const buf = new Uint8Array([1, 2, 3]);
  assert.equal(n.send(0, 'b', 9, buf), true);
  buf.fill(0);
  assert.deepEqual([...out[0]!.payload], [1, 2, 3]);
  assert.equal(n.send(0, 'zz', 9, buf), false);
  n.blockLink('a', 'b');
  assert.equal(n.send(0, 'b', 9, buf), true, 'a partition drop is silent');
  assert.equal(out.length, 1);
  assert.equal(n.counters.dropped.partition, 1);
});

test('per-link FIFO holds under jitter; other links are independent', () => {
  const { n, out, setNow } = net({ latencyBaseMs: 1, latencyJitterMs: 50, latencyJitter: 'exponential' });
  for (let i = 0; i < 200; i++) {
    setNow(i * 0.1);
    n.send(0, 'b', 1, new Uint8Array([i]));
    n.send(0, 'c', 1, new Uint8Array([i]));
  }
  for (const to of [1, 2]) {
    const times = out.filter((m) => m.to === to).map((m) => m.atMs);
    assert.deepEqual(
      times,
      times.slice().sort((x, y) => x - y),
    );
  }
});

test('without FIFO, jitter reorders a link; the reorder knob reorders even with FIFO', () => {
  for (const cfg of [
    { fifoPerLink: false, latencyJitterMs: 20 },
    { fifoPerLink: true, reorderProbability: 0.3, reorderDelayMs: 50 },
  ]) {
    const { n, out } = net(cfg);
    for (let i = 0; i < 100; i++) n.send(0, 'b', 1, new Uint8Array([i]));
    const times = out.map((m) => m.atMs);
    assert.notDeepEqual(
      times,
      times.slice().sort((x, y) => x - y),
      JSON.stringify(cfg),
    );
  }
});

test('loss and duplication happen at about their configured rates, each duplicate its own copy', () => {
  const { n, out } = net({ lossProbability: 0.2, duplicateProbability: 0.1 });
  const total = 10_000;
  for (let i = 0; i < total; i++) n.send(0, 'b', 1, new Uint8Array([1]));
  const lost = n.counters.dropped.loss;
  assert.ok(Math.abs(lost / total - 0.2) < 0.02, `loss rate ${lost / total}`);
  const dup = n.counters.duplicated;
  assert.ok(Math.abs(dup / (total - lost) - 0.1) < 0.02, `dup rate ${dup / (total - lost)}`);
  assert.equal(out.length, total - lost + dup);
  assert.equal(new Set(out.map((m) => m.payload)).size, out.length, 'no two deliveries share a buffer');
});

test('clogging a node delays its traffic in both directions; unclog restores it', () => {
  const { n, out } = net({ latencyBaseMs: 1, latencyJitterMs: 0 });
  n.clog('b', 500);
  n.send(0, 'b', 1, new Uint8Array());
  n.send(1, 'a', 1, new Uint8Array());
  n.send(0, 'c', 1, new Uint8Array());
  assert.deepEqual(
    out.map((m) => m.atMs),
    [501, 501, 1],
  );
  n.unclog('b');
  n.send(2, 'b', 1, new Uint8Array());
  assert.equal(out[3]!.atMs, 1);
});

test('config is validated with the field named', () => {
  assert.throws(() => net({ lossProbability: 2 }), /network.lossProbability/);
  assert.throws(() => net({ latencyBaseMs: -1 }), /network.latencyBaseMs/);
});

test('message filters drop or delay targeted messages, in install order, and can be removed', () => {
  const { n, out } = net({ latencyBaseMs: 1, latencyJitterMs: 0 });
  const removeDrop = n.addFilter((from, to, type) => (from === 'a' && to === 'b' && type === 7 ? 'drop' : 'pass'));
  n.addFilter((_from, to) => (to === 'c' ? { delayMs: 100 } : 'pass'));
  n.send(0, 'b', 7, new Uint8Array());
  n.send(0, 'b', 8, new Uint8Array());
  n.send(0, 'c', 7, new Uint8Array());
  assert.deepEqual(
    out.map((m) => [m.to, m.type, m.atMs]),
    [
      [1, 8, 1],
      [2, 7, 101],
    ],
  );
  assert.equal(n.counters.dropped.filtered, 1);
  removeDrop();
  n.send(0, 'b', 7, new Uint8Array());
  assert.equal(out.length, 3);
  n.heal();
  n.send(1, 'c', 7, new Uint8Array()); // another link: a->c's FIFO order would hold this one back
  assert.equal(out[3]!.atMs, 1, 'heal() removes filters');
});

test('corrupt-detected drops and counts; corrupt-undetected flips 1..3 bits of the delivered copy only', () => {
  const { n, out } = net({ corruptDetectedProbability: 0.3 });
  const payload = new Uint8Array(32).fill(0xaa);
  for (let i = 0; i < 1_000; i++) n.send(0, 'b', 1, payload);
  const dropped = n.counters.dropped['corrupt-detected'];
  assert.ok(dropped > 200 && dropped < 400, `${dropped} of 1000 dropped at p=0.3`);
  assert.equal(out.length, 1_000 - dropped);
  assert.ok(
    out.every((s) => s.payload.every((b) => b === 0xaa)),
    'a detected corruption is never delivered',
  );

  const u = net({ corruptUndetectedProbability: 0.5 });
  for (let i = 0; i < 1_000; i++) u.n.send(0, 'b', 1, payload);
  assert.equal(u.out.length, 1_000, 'undetected corruption delivers every message');
  const bitsDiffering = (p: Uint8Array): number => {
    let bits = 0;
    for (const b of p) for (let x = b ^ 0xaa; x !== 0; x &= x - 1) bits++;
    return bits;
  };
  const corrupted = u.out.filter((s) => bitsDiffering(s.payload) > 0);
  // A bit may be flipped twice (back), so a few counted corruptions can arrive intact.
  assert.ok(corrupted.length <= u.n.counters.corrupted && corrupted.length > 400, `${corrupted.length}`);
  assert.ok(corrupted.every((s) => bitsDiffering(s.payload) <= 3));
  assert.ok(
    payload.every((b) => b === 0xaa),
    "the sender's buffer is never touched",
  );
});

test('planted bug net-skip-frame-checksum: corrupt-detected messages are delivered corrupted instead of dropped', () => {
  const out: Sent[] = [];
  const n = new SimNetwork(ids, { ...defaultNetworkConfig, corruptDetectedProbability: 0.5 }, new SeededRng('net'), {
    nowMs: () => 0,
    deliverAt: (atMs, from, to, type, payload) => {
      out.push({ atMs, from, to, type, payload });
    },
    skipFrameChecksum: true,
  });
  const payload = new Uint8Array(16).fill(0x55);
  for (let i = 0; i < 200; i++) n.send(0, 'b', 1, payload);
  assert.equal(out.length, 200, 'nothing dropped');
  assert.equal(n.counters.dropped['corrupt-detected'], 0);
  assert.ok(n.counters.corrupted > 50, `${n.counters.corrupted} delivered corrupted`);
  assert.ok(out.some((s) => s.payload.some((b) => b !== 0x55)));
});
