// Goal: the ring namespace is a compare-and-set of the whole versioned ring through the metadata
// group's log: a proposal from the current version applies on every replica alike, one from a stale
// copy answers `conflict` and changes nothing, a proposal that skips a version is `invalid`, bytes
// that are not a ring are malformed (a typed result, never a stopped replica), the snapshot section
// round-trips, and the metadata group's pre-namespace image (cluster-state.ts) restores as an empty
// ring.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SeededRng } from '../lib/rng.ts';
import { NamespaceId } from '../rsm/namespace.ts';
import { TestLog } from '../rsm/testing.ts';
import { chooseTokens, Ring } from './ring.ts';
import { decodeRingCasResult, encodeRingCas, RingStateMachine, type RingCasResult } from './ring-namespace.ts';

function cas(log: TestLog, base: number, next: Ring): RingCasResult | string {
  const r = log.submit({ namespace: NamespaceId.ring, sessionId: 0, seq: 0, payload: encodeRingCas(base, next) });
  if (r.status === 'refused') return r.code;
  const decoded = decodeRingCasResult(r.payload);
  assert.ok(!(decoded instanceof Error));
  return decoded;
}

function threeNodes(seed = 'ring-ns'): Ring {
  const rng = new SeededRng(seed);
  let ring = Ring.empty();
  for (const id of ['n1', 'n2', 'n3']) ring = ring.bootstrap(id, chooseTokens(rng, 4, ring));
  return ring;
}

test('a proposal from the current version applies; one from a stale copy is a conflict and changes nothing', () => {
  const sm = new RingStateMachine();
  const log = new TestLog(sm);
  const seen: number[] = [];
  sm.ringNamespace.onChange((r) => seen.push(r.version));
  // Bootstrap as one change of the empty ring (version 0) into a ring of version 1.
  const rng = new SeededRng('x');
  const first = Ring.empty().bootstrap('n1', chooseTokens(rng, 4, Ring.empty()));
  assert.deepEqual(cas(log, 0, first), { status: 'applied', version: 1 });
  const joined = first.beginJoin('n2', chooseTokens(rng, 4, first));
  assert.deepEqual(cas(log, 1, joined), { status: 'applied', version: 2 });
  // A second proposer derived its change from version 1 too: refused, the ring stays.
  const other = first.beginJoin('n3', chooseTokens(rng, 4, joined));
  assert.deepEqual(cas(log, 1, other), { status: 'conflict', version: 2 });
  assert.ok(sm.ring.equals(joined));
  // A proposal whose ring is not later than the version it names is invalid.
  assert.deepEqual(cas(log, 2, joined), { status: 'invalid', version: 2 });
  // A ring several versions later (built node by node) is one proposal.
  const grown = joined
    .completeMove()
    .beginJoin('n3', chooseTokens(rng, 4, joined))
    .completeMove();
  assert.deepEqual(cas(log, 2, grown), { status: 'applied', version: 5 });
  assert.deepEqual(seen, [1, 2, 5]);
});

test('bytes that are not a ring command are refused as malformed on every replica, never thrown', () => {
  const sm = new RingStateMachine();
  const log = new TestLog(sm);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), (payload) => {
      const r = log.submit({ namespace: NamespaceId.ring, sessionId: 0, seq: 0, payload });
      // A random payload is a valid ring command only by a fluke; either way nothing throws.
      assert.ok(r.status === 'refused' || r.status === 'applied');
    }),
  );
  const before = sm.malformedCount;
  const r = log.submit({ namespace: NamespaceId.ring, sessionId: 0, seq: 0, payload: new Uint8Array([1, 0, 9, 9]) });
  assert.deepEqual(r, { status: 'refused', code: 'malformed_command' });
  assert.equal(sm.malformedCount, before + 1);
});

test('the snapshot restores the same ring; the pre-namespace metadata image restores an empty one', () => {
  const sm = new RingStateMachine();
  const log = new TestLog(sm);
  const ring = threeNodes();
  // Build it as one proposal per node, as the store service bootstraps.
  let base = Ring.empty();
  for (const n of ring.nodes) {
    const next = base.bootstrap(n.id, n.tokens);
    assert.equal((cas(log, base.version, next) as RingCasResult).status, 'applied');
    base = next;
  }
  const image = sm.snapshot();
  const copy = new RingStateMachine();
  copy.restore(log.index, image);
  assert.ok(copy.ring.equals(sm.ring));
  assert.equal(copy.ring.version, 3);
  const legacy = new RingStateMachine();
  legacy.restore(7, new Uint8Array([1]));
  assert.equal(legacy.ring.version, 0);
  assert.equal(legacy.appliedIndex, 7);
  // A damaged section is corruption, not a silent empty ring.
  const damaged = new RingStateMachine();
  assert.throws(() => damaged.restore(3, sm.snapshot().subarray(0, image.length - 1)));
});

test('keyspace settings are recorded once: a ring without them takes them, a proposal that drops or changes them is invalid', () => {
  const sm = new RingStateMachine();
  const log = new TestLog(sm);
  const old = threeNodes();
  assert.equal(old.settings, undefined, 'a ring as a build before settings wrote it');
  assert.deepEqual(cas(log, 0, old), { status: 'applied', version: 3 });
  const set = old.withSettings({ replicas: 3, collections: 'rows' });
  assert.deepEqual(cas(log, 3, set), { status: 'applied', version: 4 });
  assert.deepEqual(sm.ring.settings, { replicas: 3, collections: 'rows' });
  // Every later change carries them (ring.ts), so a join derived from this ring applies.
  const joined = sm.ring.beginJoin('n4', chooseTokens(new SeededRng('n4'), 4, sm.ring));
  assert.deepEqual(joined.settings, { replicas: 3, collections: 'rows' });
  assert.deepEqual(cas(log, 4, joined), { status: 'applied', version: 5 });
  // A proposer that lost them (a build before settings) or changed them: invalid, nothing changes.
  const next = sm.ring.completeMove().encode().slice();
  const without = Uint8Array.from(next.subarray(0, next.length - 2));
  without[0] = 1; // format 1: no settings
  assert.equal(Ring.decode(without).settings, undefined);
  assert.deepEqual(cas(log, 5, Ring.decode(without)), { status: 'invalid', version: 5 });
  const whole = Uint8Array.from(next);
  whole[whole.length - 1] = 0; // collections whole
  assert.deepEqual(Ring.decode(whole).settings, { replicas: 3, collections: 'whole' });
  assert.deepEqual(cas(log, 5, Ring.decode(whole)), { status: 'invalid', version: 5 });
  assert.deepEqual(cas(log, 5, Ring.decode(next)), { status: 'applied', version: 6 });
  // The ring's own rule: other settings are refused at the proposer.
  assert.throws(() => sm.ring.withSettings({ replicas: 2, collections: 'rows' }), /settings/);
  assert.equal(sm.ring.withSettings({ replicas: 3, collections: 'rows' }), sm.ring, 'the same: no change');
});
