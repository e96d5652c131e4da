// Goal: hinted handoff for collections kept in rows (replica.ts coordinateChange, onRowsOffer). A
// set change while a replica is down leaves a hint at the coordinator (which holds the rows; a
// fallback node would hold none), counted toward ANY; when the owner is up again the replay offers
// the state and the rows (rowsOffer), the owner pulls every row of the key, and only once the pull
// ended well does it acknowledge, so the hint is deleted. Anti-entropy is off: the rows reach the
// owner by the hint alone. Negative controls (tried by hand 2026-12-06): without the hint the
// owner never holds the member; acknowledging the rowsOffer at once (before the pull) deletes the
// hint while the pull is cut off, and the owner ends without the member. 2026-12-05: a replay
// attached to a pull already running (anti-entropy's, past the hinted element) was acknowledged
// when it ended: the hint deleted, the owner without the element (the third test fails so). A
// pull whose answers did not merge (siblings past their bound) never freed its slot, so no later
// pull of that key started and its hint was replayed forever (the fourth test fails so). A key
// that changed type dropped the old collection's context, so a replica that missed a removal
// kept the row and the pulls spread it back (the fifth test fails so; review finding 2026-12-05).
// A pull that ended freed its slot and told the move before starting the next pull promised for
// its key: the move took the slot and the next pull ran past dynamoRowPullsCountMax, and pull ids
// (numbered per key from 0) were used again (the sixth test fails so; the test cluster now checks
// the slots after every step).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { byteStringOf } from '../crdt/codec.ts';
import type { ORSet } from '../crdt/orset.ts';
import { limits } from '../lib/limits.ts';
import { decodeMessage, encodeMessage } from './messages.ts';
import { DynamoCluster } from './testing.ts';
import { Versioned } from './versions.ts';

const enc = new TextEncoder();
const IDS = ['a', 'b', 'c'];

function rowsAt(c: DynamoCluster, node: string, key: string): string[] {
  const page = c.node(node).store.scanRows(enc.encode(key), new Uint8Array(0), 1000);
  return page.entries.map((r) => byteStringOf(r.element)).sort();
}

function cluster(seed: string): DynamoCluster {
  const c = new DynamoCluster({ ids: IDS, seed, config: { collections: 'rows' } });
  c.checkInvariants = false;
  const w = c.typed('a', 's', { type: 'sadd', members: [enc.encode('x')] }, 'ALL');
  c.settle();
  assert.ok(c.result(w)?.ok);
  return c;
}

test('a set change while a replica is down reaches it by the hint its coordinator keeps (ANY counts it)', () => {
  const c = cluster('rows-hint');
  c.down('b');
  c.down('c');
  // At ANY with both other replicas down: the coordinator's own write and its two hints.
  const w = c.typed('a', 's', { type: 'sadd', members: [enc.encode('y')] }, 'ANY');
  c.deliverAll();
  assert.ok(c.result(w)?.ok, JSON.stringify(c.result(w)));
  assert.equal(c.node('a').store.hintCount, 2);
  assert.deepEqual(rowsAt(c, 'c', 's'), ['x']);
  c.up('b');
  c.up('c');
  c.settle();
  assert.equal(c.node('a').store.hintCount, 0, 'the hints were delivered and deleted');
  for (const id of IDS) assert.deepEqual(rowsAt(c, id, 's'), ['x', 'y'], id);
  assert.ok(c.node('c').replica.stats.rowPulls > 0, 'c pulled the rows');
});

test('a hint replay whose pull is cut off is not acknowledged: the hint stays and goes again', () => {
  const c = cluster('rows-hint-cut');
  c.down('c');
  const w = c.typed('a', 's', { type: 'sadd', members: [enc.encode('y')] }, 'QUORUM');
  c.deliverAll();
  assert.ok(c.result(w)?.ok);
  assert.equal(c.node('a').store.hintCount, 1);
  c.up('c');
  // Replay until c asks a for its rows; that read is lost.
  let cut = false;
  for (let i = 0; !cut; i++) {
    assert.ok(i < 1_000, 'no pull of the hinted rows');
    const at = c.queue.findIndex((m) => m.from === 'c' && m.to === 'a' && decodeMessage(m.bytes).type === 'rowRead');
    if (at >= 0) {
      c.queue.splice(at, 1);
      cut = true;
    } else if (c.queue.length > 0) c.deliver(0);
    else c.tick();
  }
  c.deliverAll();
  assert.equal(c.node('a').store.hintCount, 1, 'not acknowledged while the rows are missing');
  c.settle();
  assert.equal(c.node('a').store.hintCount, 0);
  assert.deepEqual(rowsAt(c, 'c', 's'), ['x', 'y']);
});

/** Anti-entropy's stream offers s from a to c (op 0): c pulls a's rows; its second page request is taken out of the queue. */
function pullHeld(c: DynamoCluster): DynamoCluster['queue'][number] {
  c.queue.push({
    from: 'a',
    to: 'c',
    bytes: encodeMessage({ type: 'rowsOffer', op: 0, key: enc.encode('s'), state: Versioned.empty() }),
  });
  for (let i = 0; ; i++) {
    assert.ok(i < 10_000, 'no second page asked for');
    const at = c.queue.findIndex((m) => {
      const d = decodeMessage(m.bytes);
      return m.from === 'c' && d.type === 'rowRead' && d.sel.kind === 'page' && d.sel.from !== '';
    });
    if (at >= 0) return c.queue.splice(at, 1)[0]!;
    if (c.queue.length > 0) c.deliver(0);
    else c.tick();
  }
}

/** Delivers the first message to `to` of type `type` (ticking and delivering others until it comes). */
function deliverFirst(c: DynamoCluster, to: string, type: string): void {
  for (let i = 0; ; i++) {
    assert.ok(i < 10_000, `no ${type} to ${to}`);
    const at = c.queue.findIndex((m) => m.to === to && decodeMessage(m.bytes).type === type);
    if (at >= 0) return c.deliver(at);
    if (c.queue.length > 0) c.deliver(0);
    else c.tick();
  }
}

test('a hint replay that comes while a pull of its key runs waits for a pull started after it (the running one may be past the hinted rows)', () => {
  const pageMax = limits.dynamoRowsPageCountMax;
  (limits as { dynamoRowsPageCountMax: number }).dynamoRowsPageCountMax = 2;
  try {
    const c = cluster('rows-hint-running-pull');
    const w0 = c.typed(
      'a',
      's',
      { type: 'sadd', members: ['m1', 'm2', 'm3', 'm4', 'm5'].map((x) => enc.encode(x)) },
      'ALL',
    );
    c.settle();
    assert.ok(c.result(w0)?.ok);
    const held = pullHeld(c);
    // a suspects c for a moment: 'a0', before the pull's position, is written with a hint for c.
    c.suspected.add('c');
    const w1 = c.typed('a', 's', { type: 'sadd', members: [enc.encode('a0')] }, 'QUORUM');
    c.deliverAll();
    assert.ok(c.result(w1)?.ok);
    assert.equal(c.node('a').store.hintCount, 1);
    c.suspected.delete('c');
    // The hint's replay reaches c while the held pull still runs.
    deliverFirst(c, 'c', 'rowsOffer');
    c.queue.push(held);
    c.deliverAll();
    if (c.node('a').store.hintCount === 0)
      assert.ok(rowsAt(c, 'c', 's').includes('a0'), 'the hint was deleted while c does not hold a0');
    c.settle();
    assert.equal(c.node('a').store.hintCount, 0);
    assert.deepEqual(rowsAt(c, 'c', 's'), ['a0', 'm1', 'm2', 'm3', 'm4', 'm5', 'x']);
  } finally {
    (limits as { dynamoRowsPageCountMax: number }).dynamoRowsPageCountMax = pageMax;
  }
});

test('a pull whose answers do not merge ends (its slot freed): a later hint for that key is delivered', () => {
  const L = limits as { dvvSiblingsCountMax: number };
  const sibMax = L.dvvSiblingsCountMax;
  L.dvvSiblingsCountMax = 3;
  try {
    const c = new DynamoCluster({ ids: IDS, seed: 'pull-leak', config: { collections: 'rows' } });
    c.checkInvariants = false;
    const w0 = c.typed('a', 's', { type: 'sadd', members: [enc.encode('m1')] }, 'ALL');
    c.settle();
    assert.ok(c.result(w0)?.ok);
    // Concurrent blind writes on each side of a partition: a holds 3 siblings, c 2, together 4 (> 3).
    c.partition([['a', 'b'], ['c']]);
    c.put('a', 's', 'v1', 'ONE');
    c.put('a', 's', 'v2', 'ONE');
    c.put('c', 's', 'w', 'ONE');
    c.deliverAll();
    c.heal();
    // Anti-entropy's stream offers s to c (op 0, an empty state): c pulls a's rows; the pull's
    // answers (c's state at its start, a's) do not merge.
    c.queue.push({
      from: 'a',
      to: 'c',
      bytes: encodeMessage({ type: 'rowsOffer', op: 0, key: enc.encode('s'), state: Versioned.empty() }),
    });
    c.deliverAll();
    const pulls = (): Map<string, unknown> => (c.node('c').replica as unknown as { pulls: Map<string, unknown> }).pulls;
    assert.equal(c.node('c').replica.inflightOps, 0, 'the pull op is gone');
    assert.equal(pulls().size, 0, 'and its slot is free');
    // Resolve the siblings (a DEL over everything), make the set again, and write y with a hint for c.
    const ctx = c.stateOf('a', 's').context().merge(c.stateOf('c', 's').context());
    c.put('a', 's', null, 'ALL', ctx);
    c.settle();
    c.suspected.add('c');
    const w1 = c.typed('a', 's', { type: 'sadd', members: [enc.encode('y')] }, 'QUORUM');
    c.deliverAll();
    assert.ok(c.result(w1)?.ok, JSON.stringify(c.result(w1)));
    c.suspected.delete('c');
    assert.equal(c.node('a').store.hintCount, 1);
    for (let i = 0; i < 1000; i++) {
      c.deliverAll();
      c.tick();
    }
    // Before, the slot stayed taken: every replay waited for a pull that never started (the hint
    // was replayed forever and c never got y).
    assert.equal(c.node('a').store.hintCount, 0, 'the hint was delivered');
    assert.ok(rowsAt(c, 'c', 's').includes('y'), `c rows ${rowsAt(c, 'c', 's')}`);
    assert.equal(pulls().size, 0);
  } finally {
    L.dvvSiblingsCountMax = sibMax;
  }
});

test('a member removed before the key changed type and back stays removed at a replica that missed it all (the new type keeps the old context)', () => {
  const c = new DynamoCluster({ ids: IDS, seed: 'drop-resurrect', config: { collections: 'rows' } });
  c.checkInvariants = false;
  const ok = (id: number): void => assert.ok(c.result(id)?.ok, JSON.stringify(c.result(id)));
  let w = c.typed('a', 's', { type: 'sadd', members: [enc.encode('x')] }, 'ALL');
  c.settle();
  ok(w);
  for (const id of IDS) assert.deepEqual(rowsAt(c, id, 's'), ['x']);
  c.down('b');
  // SREM x (b misses it), then the key becomes a hash (the set's header is dropped at a and c),
  // the hash is emptied, and the key becomes a set again with y.
  w = c.typed('a', 's', { type: 'srem', members: [enc.encode('x')] }, 'QUORUM');
  c.deliverAll();
  ok(w);
  w = c.typed('a', 's', { type: 'hset', members: [enc.encode('f'), enc.encode('v')] }, 'QUORUM');
  c.deliverAll();
  ok(w);
  w = c.typed('a', 's', { type: 'hdel', members: [enc.encode('f')] }, 'QUORUM');
  c.deliverAll();
  ok(w);
  w = c.typed('a', 's', { type: 'sadd', members: [enc.encode('y')] }, 'QUORUM');
  c.deliverAll();
  ok(w);
  assert.deepEqual(rowsAt(c, 'a', 's'), ['y']);
  c.up('b');
  c.settle(); // hints replayed: b merges the state, pulls a's rows
  const r = c.rows('a', 's', 'ALL', null);
  c.settle();
  const res = c.result(r);
  assert.ok(res?.ok);
  const members = (res.collection!.view as ORSet).value().sort();
  c.settle();
  // Before, x (removed by an acknowledged SREM) was a member again at every replica: the hash's
  // header had dropped the set's context, so b's x was kept by its join and spread back.
  assert.deepEqual(members, ['y']);
  for (const id of IDS) assert.deepEqual(rowsAt(c, id, 's'), ['y'], id);
});

test('a pull that ends while the next of its key is promised starts that one in its slot before a move page takes the slot', () => {
  // One pull at a time. c pulls s from a (held mid-way); a second offer of s is promised the next
  // pull; a page pushed by a brings x, whose pull waits for the slot. When s's pull ended, its
  // slot was freed and the move told first: x's pull took the slot, then s's next pull started
  // too, two at once past the bound (the test cluster checks the bound after every step).
  const saved = { page: limits.dynamoRowsPageCountMax, pulls: limits.dynamoRowPullsCountMax };
  const mutable = limits as { dynamoRowsPageCountMax: number; dynamoRowPullsCountMax: number };
  mutable.dynamoRowsPageCountMax = 2;
  mutable.dynamoRowPullsCountMax = 1;
  try {
    const c = cluster('rows-pull-slot');
    for (const [key, members] of [
      ['s', ['m1', 'm2', 'm3', 'm4', 'm5']],
      ['x', ['y1']],
    ] as const) {
      const w = c.typed('a', key, { type: 'sadd', members: members.map((m) => enc.encode(m)) }, 'ALL');
      c.settle();
      assert.ok(c.result(w)?.ok);
    }
    const held = pullHeld(c);
    c.queue.push({
      from: 'a',
      to: 'c',
      bytes: encodeMessage({ type: 'rowsOffer', op: 0, key: enc.encode('s'), state: Versioned.empty() }),
    });
    deliverFirst(c, 'c', 'rowsOffer');
    const skipped = c.node('c').replica.stats.rowPullsSkipped;
    c.queue.push({
      from: 'a',
      to: 'c',
      bytes: encodeMessage({
        type: 'movePage',
        op: 77,
        push: true,
        next: null,
        entries: [{ key: enc.encode('x'), state: Versioned.empty().encode() }],
      }),
    });
    deliverFirst(c, 'c', 'movePage');
    assert.equal(c.node('c').replica.stats.rowPullsSkipped, skipped + 1, "x's pull waits for the slot");
    c.queue.push(held);
    c.settle();
    assert.equal(c.node('c').replica.pullsProblem(), null);
    assert.deepEqual(rowsAt(c, 'c', 'x'), ['y1']);
  } finally {
    Object.assign(mutable, { dynamoRowsPageCountMax: saved.page, dynamoRowPullsCountMax: saved.pulls });
  }
});
