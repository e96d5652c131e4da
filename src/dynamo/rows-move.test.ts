// Ring moves and the rows layout (replica-rows.ts, move.ts): a set kept in rows does not travel in
// its key's state, so a join's and a decommission's pages make the receiver pull the rows of each
// such key from the page's sender, and the page counts (acknowledged, or the next fetched) only
// once the rows are here. Checked: after the move every replica of the new ring holds every member
// of every set as rows; the pulls ran; a pull that fails (its sender cut off) leaves the page to be
// sent again, and the move still completes with every row.
// Negative controls (mutations tried by hand, 2026-12-05): without deps.pullRows every test fails
// (the receivers hold the sets' states, none of their rows); a page counted as merged before its
// pulls ended fails the third (the pulls cut off are never made again). 2026-12-06: the fourth
// (400 sets, pages of well over dynamoRowPullsCountMax sets) never finished while a page past the
// 64th pull was refused whole and sent again; the fifth fails when a pull whose page was refused
// ends as if it had gone well (the page counted without that set's rows). 2026-12-05: the last
// fails when a pushed page sent again with more keys is acknowledged once the first sending's
// pulls end (its new keys' rows never pulled). 2026-12-05 (session 23): the last fails when a
// pushed page and a fetched one share a page id (sender and first key alone).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { byteStringOf } from '../crdt/codec.ts';
import { limits } from '../lib/limits.ts';
import { noMutations } from '../lib/mutations.ts';
import { SeededRng } from '../lib/rng.ts';
import { decodeMessage, encodeMessage } from './messages.ts';
import { MoveRunner } from './move.ts';
import { chooseTokens, Ring } from './ring.ts';
import { MemoryReplicaStore } from './store.ts';
import { Versioned } from './versions.ts';
import { DynamoCluster } from './testing.ts';

const IDS = ['a', 'b', 'c', 'd'];
const enc = new TextEncoder();
const SETS = 40;
const members = (i: number) => Array.from({ length: 3 + (i % 4) }, (_, j) => `m${i}-${j}`);

function loaded(seed: string, sets = SETS, scanEntriesMax = 8): DynamoCluster {
  const c = new DynamoCluster({
    ids: IDS,
    seed,
    config: { antiEntropyScanEntriesMax: scanEntriesMax, antiEntropyTimeoutTicks: 10, collections: 'rows' },
  });
  c.checkInvariants = false;
  for (let i = 0; i < sets; i++) {
    const id = c.typed(
      IDS[i % IDS.length]!,
      `s${i}`,
      { type: 'sadd', members: members(i).map((m) => enc.encode(m)) },
      'ALL',
    );
    c.deliverAll();
    assert.ok(c.result(id)?.ok, `SADD s${i}`);
  }
  c.settle();
  return c;
}

/** The members `node` holds as rows of set `key`. */
function rowsAt(c: DynamoCluster, node: string, key: string): string[] {
  const page = c.node(node).store.scanRows(enc.encode(key), new Uint8Array(0), 1000);
  return page.entries.map((r) => byteStringOf(r.element)).sort();
}

function assertEveryReplicaHoldsRows(c: DynamoCluster, sets = SETS): void {
  for (let i = 0; i < sets; i++) {
    for (const r of c.replicasOf(`s${i}`)) assert.deepEqual(rowsAt(c, r, `s${i}`), members(i).sort(), `${r} s${i}`);
  }
}

function runMove(c: DynamoCluster, roundsMax = 3_000): void {
  const mover = c.ring.moving!.id;
  for (let round = 0; round < roundsMax; round++) {
    c.deliverAll();
    if (c.node(mover).replica.moveProgress()?.done === true) return;
    c.tick();
  }
  assert.fail(`the move of ${mover} did not finish in ${roundsMax} rounds`);
}

const pulls = (c: DynamoCluster) => [...c.nodes.values()].reduce((n, x) => n + x.replica.stats.rowPulls, 0);

test('a join makes the new node pull the rows of every set its pages bring, before it fetches on', () => {
  const c = loaded('rows-join');
  c.addNode('e');
  c.setRing(c.ring.beginJoin('e', chooseTokens(c.rng.fork('tokens/e'), 4, c.ring)));
  runMove(c);
  assert.ok(pulls(c) > 0, 'rows were pulled');
  c.setRing(c.ring.completeMove());
  assert.ok(
    Array.from({ length: SETS }, (_, i) => c.replicasOf(`s${i}`)).some((r) => r.includes('e')),
    'e replicates some set',
  );
  assertEveryReplicaHoldsRows(c);
});

test('a decommission pushes pages whose rows the receivers pull before they acknowledge', () => {
  const c = loaded('rows-leave');
  c.setRing(c.ring.beginLeave('d'));
  runMove(c);
  assert.ok(pulls(c) > 0, 'rows were pulled');
  c.setRing(c.ring.completeMove());
  assertEveryReplicaHoldsRows(c);
});

test('a pull cut off mid-move leaves its page unacknowledged; sent again, the move completes with every row', () => {
  const c = loaded('rows-cut');
  c.addNode('e');
  c.setRing(c.ring.beginJoin('e', chooseTokens(c.rng.fork('tokens/e'), 4, c.ring)));
  // Deliver until e has started a pull, then cut e off from everyone while it is in flight.
  const e = c.node('e').replica;
  for (let i = 0; e.stats.rowPulls === 0; i++) {
    assert.ok(i < 10_000, 'e never pulled');
    if (c.queue.length > 0) c.deliver(0);
    else c.tick();
  }
  c.partition([['e'], IDS]);
  for (let i = 0; i < 40; i++) {
    c.deliverAll();
    c.tick();
  }
  assert.notEqual(c.node('e').replica.moveProgress()?.done, true, 'not done while cut off');
  c.heal();
  runMove(c);
  c.setRing(c.ring.completeMove());
  assertEveryReplicaHoldsRows(c);
});

test('a page bringing more sets than pulls may run at once (dynamoRowPullsCountMax) starts the rest as pulls end', () => {
  // 400 sets, pages of up to 400 keys: a page of a join brings well over 64 sets. Once, such a
  // page was refused whole at the 65th pull and sent again, which started the same 64 pulls: the
  // move never finished.
  const c = loaded('rows-many', 400, 400);
  c.addNode('e');
  c.setRing(c.ring.beginJoin('e', chooseTokens(c.rng.fork('tokens/e'), 4, c.ring)));
  runMove(c, 6_000);
  assert.ok(c.node('e').replica.stats.rowPulls > 64, `${c.node('e').replica.stats.rowPulls} pulls`);
  c.setRing(c.ring.completeMove());
  assertEveryReplicaHoldsRows(c, 400);
});

test('a pull whose page the puller refuses (out of order) fails: the move page waits and goes again, not counted without its rows', () => {
  const c = loaded('rows-refused');
  c.addNode('e');
  c.setRing(c.ring.beginJoin('e', chooseTokens(c.rng.fork('tokens/e'), 4, c.ring)));
  // Deliver until a pull's first page is on its way to e, then make it claim to start elsewhere.
  let forged = false;
  for (let i = 0; !forged; i++) {
    assert.ok(i < 20_000, 'no page of a pull reached e');
    const at = c.queue.findIndex((m) => {
      if (m.to !== 'e') return false;
      const msg = decodeMessage(m.bytes);
      return msg.type === 'rowReadReply' && msg.rows?.rows.kind === 'page' && msg.rows.rows.page.from === '';
    });
    if (at < 0) {
      if (c.queue.length > 0) c.deliver(0);
      else c.tick();
      continue;
    }
    const msg = decodeMessage(c.queue[at]!.bytes);
    assert.ok(msg.type === 'rowReadReply' && msg.rows?.rows.kind === 'page');
    const page = { ...msg.rows.rows.page, from: '\u0000' };
    const bytes = encodeMessage({ ...msg, rows: { ...msg.rows, rows: { kind: 'page', page } } });
    c.queue[at] = { ...c.queue[at]!, bytes };
    c.deliver(at);
    forged = true;
  }
  assert.ok(c.node('e').replica.stats.mergesRefused > 0, 'e refused the page');
  runMove(c);
  c.setRing(c.ring.completeMove());
  assertEveryReplicaHoldsRows(c);
});

test('a move aborted while its pages wait for rows drops those waits (no pull starts for them after)', () => {
  const c = loaded('rows-abort', 400, 400);
  c.addNode('e');
  c.setRing(c.ring.beginJoin('e', chooseTokens(c.rng.fork('tokens/e'), 4, c.ring)));
  const mover = () => c.node('e').replica['mover'] as { waitingPages: number };
  for (let i = 0; mover().waitingPages === 0; i++) {
    assert.ok(i < 20_000, 'no page of e waited for its rows');
    if (c.queue.length > 0) c.deliver(0);
    else c.tick();
  }
  c.setRing(c.ring.abortMove());
  assert.equal(mover().waitingPages, 0);
  const pulls = c.node('e').replica.stats.rowPulls;
  c.settle();
  // No pull starts after the move ended (those under way end on their own).
  assert.ok(
    c.node('e').replica.stats.rowPulls - pulls <= 0,
    `${c.node('e').replica.stats.rowPulls - pulls} pulls after the abort`,
  );
});

/**
 * A receiver's MoveRunner alone (r, with sender p on its ring; joining: r joins p's ring, its move
 * set), its pulls and acks recorded; a pull ends when the test says.
 */
function receiver(seed: string, joining = false): { runner: MoveRunner; acks: number[]; pulled: string[] } {
  const rng = new SeededRng(seed);
  let ring = Ring.empty().bootstrap('p', chooseTokens(rng, 4, Ring.empty()));
  ring = joining ? ring.beginJoin('r', chooseTokens(rng, 4, ring)) : ring.bootstrap('r', chooseTokens(rng, 4, ring));
  const acks: number[] = [];
  const pulled: string[] = [];
  let op = 1000;
  const runner = new MoveRunner(
    {
      id: 'r',
      replicas: 2,
      store: new MemoryReplicaStore(),
      isUp: () => true,
      send: (_to, m) => {
        if (m.type === 'movePageAck') acks.push(m.op);
      },
      merge: () => true,
      newOp: () => op++,
      mutations: noMutations,
      pullRows: (from, key) => {
        const id = `${from}\0${new TextDecoder().decode(key)}`;
        pulled.push(id);
        return id;
      },
    },
    { delayTicks: 0, timeoutTicks: 5, scanEntriesMax: 100 },
    ring,
  );
  if (joining) runner.setRing(ring);
  return { runner, acks, pulled };
}

const pageEntry = (k: string) => ({ key: enc.encode(k), state: Versioned.empty().encode() });

test('a pushed page sent again with more keys (read again from its cursor) is acknowledged only after those keys are pulled too', () => {
  const { runner, acks, pulled } = receiver('rows-resend');
  const entry = pageEntry;
  runner.onPage('p', {
    type: 'movePage',
    op: 1,
    push: true,
    next: enc.encode('k3'),
    entries: [entry('k1'), entry('k2')],
  });
  // Its ack timed out at the pusher, which read the page again from its cursor: k3 fits now.
  runner.onPage('p', {
    type: 'movePage',
    op: 2,
    push: true,
    next: null,
    entries: [entry('k1'), entry('k2'), entry('k3')],
  });
  runner.onPullEnd('p\0k1', true);
  runner.onPullEnd('p\0k2', true);
  assert.deepEqual(pulled, ['p\0k1', 'p\0k2', 'p\0k3'], 'k1 and k2 are not pulled again, k3 is');
  assert.deepEqual(acks, [], 'acknowledged before k3 was pulled');
  runner.onPullEnd('p\0k3', true);
  assert.deepEqual(acks, [2]);
});

test('pushed pages waiting for their rows are bounded (dynamoMovePageWaitsCountMax): one past it is not taken, and taken once waits end', () => {
  const { runner, acks } = receiver('rows-waits');
  const max = limits.dynamoMovePageWaitsCountMax;
  for (let i = 0; i <= max; i++)
    runner.onPage('p', { type: 'movePage', op: i + 1, push: true, next: null, entries: [pageEntry(`k${i}`)] });
  assert.equal(runner.waitingPages, max);
  assert.deepEqual(acks, [], 'no page acknowledged while its pull runs');
  runner.onPullEnd('p\0k0', true);
  assert.deepEqual(acks, [1]);
  // The page not taken, sent again: taken now.
  runner.onPage('p', { type: 'movePage', op: 9999, push: true, next: null, entries: [pageEntry(`k${max}`)] });
  assert.equal(runner.waitingPages, max);
  runner.onPullEnd(`p\0k${max}`, true);
  assert.deepEqual(acks, [1, 9999]);
});

test('a pushed page and a fetched page from one sender with the same first key wait apart: both count once the pull ends', () => {
  // r joins p's ring (fetching from p) while a page p pushed (an earlier move's) still waits for
  // its rows. Both pages begin with k1: one page id for both, the fetched page's wait replaced the
  // pushed one's, which was never acknowledged (and, sent again, took the fetched page's place).
  const { runner, acks, pulled } = receiver('rows-page-ids', true);
  runner.onPage('p', { type: 'movePage', op: 1, push: true, next: null, entries: [pageEntry('k1')] });
  runner.tick(0); // the join's first fetch: op 1000
  runner.onPage('p', { type: 'movePage', op: 1000, push: false, next: null, entries: [pageEntry('k1')] });
  assert.equal(runner.waitingPages, 2);
  runner.onPullEnd(pulled[0]!, true);
  assert.deepEqual(acks, [1], 'the pushed page is acknowledged');
  runner.tick(1);
  assert.equal(runner.progress()?.done, true, 'the fetched page counted: the join is done');
});
