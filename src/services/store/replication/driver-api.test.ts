// Goal: the API the RESP layer calls (ReplicaNode.get / put / delete, promises) on simulated nodes:
// what a key's state looks like (siblings, context, chosen), causal overwrite vs concurrent
// siblings, deletes as tombstones, a request taken at a node that is no replica of the key
// (forwarded), the typed errors with their codes and definiteness (bad level, oversized key, a
// write timeout is indefinite, a read timeout definite, stopped), the bounds (a key's state over
// dynamoStateBytesMax, a malformed peer message or a hint for a stranger rejected and counted by
// the router, never a crash), and the metrics by kind / level / outcome.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeMessage } from '../../../dynamo/messages.ts';
import { chooseTokens, Ring } from '../../../dynamo/ring.ts';
import { Versioned } from '../../../dynamo/versions.ts';
import { BaristaError, ProtocolError } from '../../../lib/errors.ts';
import { limits } from '../../../lib/limits.ts';
import { SeededRng } from '../../../lib/rng.ts';
import { MessageType } from '../../../lib/message-types.ts';
import { SimulationFailure } from '../../../sim/failure.ts';
import { TripwireError } from '../../../sim/observe.ts';
import { configuredRing, type KeyState } from './driver.ts';
import { Harness, keysFor, NODES } from './test-support.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();
const values = (s: KeyState) => s.siblings.map((x) => (x.value === null ? null : dec.decode(x.value))).sort();

/** Drives the simulation until the promise settled (its callback ran inside the simulation). */
async function settle<T>(h: Harness, p: Promise<T>, forMs = 3_000): Promise<T> {
  let done = false;
  p.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  for (let ms = 0; ms < forMs && !done; ms += 50) {
    h.sim.runFor(50);
    await Promise.resolve(); // lets the settled promise's reaction run
  }
  return p;
}

async function rejection(p: Promise<unknown>): Promise<BaristaError> {
  try {
    await p;
  } catch (error) {
    assert.ok(error instanceof BaristaError, `not a BaristaError: ${String(error)}`);
    return error;
  }
  assert.fail('the request succeeded');
}

describe('ReplicaNode API (what the RESP layer calls)', () => {
  test('put, get, causal overwrite, concurrent siblings, delete, forwarding', async () => {
    const h = new Harness('api');
    h.settleViews();
    const key = keysFor(1, 'api')[0]!;
    const k = enc.encode(key);
    const [a, b] = h.replicasOf(key);
    const stranger = NODES.find((n) => !h.replicasOf(key).includes(n))!;
    // b's wall clock a minute ahead of a's: more than hlcMaxDriftMs, so a's HLC does not follow it.
    const [ca, cb] = [h.sim.clock(a!), h.sim.clock(b!)];
    h.sim.setClock(b!, { skewMs: ca.wallMs() - (cb.wallMs() - cb.skewMs) + 60_000 });

    const empty = await settle(h, h.node(a!).get(k, 'QUORUM'));
    assert.deepEqual(values(empty), []);
    assert.equal(empty.chosen, undefined);

    const first = await settle(h, h.node(a!).put(k, enc.encode('one'), 'QUORUM'));
    assert.deepEqual(values(first), ['one']);
    const read = await settle(h, h.node(b!).get(k, 'QUORUM'));
    assert.deepEqual(values(read), ['one']);

    // Written with the read's context: supersedes. Blind (no context): a concurrent sibling.
    await settle(h, h.node(b!).put(k, enc.encode('two'), 'QUORUM', read.context));
    await settle(h, h.node(a!).put(k, enc.encode('blind'), 'QUORUM'));
    const both = await settle(h, h.node(stranger).get(k, 'ALL')); // forwarded: the stranger is no replica
    assert.deepEqual(values(both), ['blind', 'two']);
    assert.ok(both.chosen !== undefined && both.chosen.value !== null);
    assert.equal(
      dec.decode(both.chosen.value),
      'blind',
      'chosen: the later write, though the node of the earlier one has a clock a minute ahead',
    );

    // A delete with the merged context leaves one tombstone.
    await settle(h, h.node(stranger).delete(k, 'QUORUM', both.context));
    const gone = await settle(h, h.node(a!).get(k, 'ALL'));
    assert.deepEqual(values(gone), [null]);
    assert.equal(gone.chosen?.value, null);
    assert.ok(h.sim.metrics(stranger).value('dynamo_forwarded_total') >= 2);

    const m = h.sim.metrics(a!);
    assert.ok(m.value('dynamo_ops_total', { kind: 'put', level: 'QUORUM', outcome: 'ok' }) >= 2);
    assert.ok(m.value('dynamo_ops_total', { kind: 'get', level: 'ALL', outcome: 'ok' }) >= 1);
    assert.ok(m.value('dynamo_op_latency_ms') >= 4, 'latency observed per op');
  });

  test('typed errors: bad level, oversized key, stopped; write timeout indefinite, read timeout definite', async () => {
    const h = new Harness('errors', { config: { requestTimeoutMs: 300 } });
    h.settleViews();
    const key = keysFor(1, 'err')[0]!;
    const k = enc.encode(key);
    const [a] = h.replicasOf(key);
    const node = h.node(a!);

    const anyRead = await rejection(settle(h, node.get(k, 'ANY')));
    assert.equal(anyRead.code, 'bad_request');
    assert.equal(anyRead.definite, true);
    for (const level of [0, 17, 2.5, 'TWO' as never]) {
      assert.equal((await rejection(settle(h, node.get(k, level)))).code, 'bad_request');
    }
    assert.equal(
      h.sim.metrics(a!).value('dynamo_ops_total', { kind: 'get', level: 'invalid' }),
      4,
      'one series for every bad level',
    );
    const tooBig = await rejection(
      settle(h, node.put(new Uint8Array(limits.kvKeyBytesMax + 1), enc.encode('x'), 'ONE')),
    );
    assert.equal(tooBig.code, 'key_too_large');
    assert.equal(h.sim.metrics(a!).value('dynamo_ops_total', { kind: 'put', outcome: 'key_too_large' }), 1);

    // Cut a off from everyone before its failure detector notices: the level counts the others
    // as live, their answers never come.
    const cut = h.sim.network.isolate(a!);
    const write = await rejection(settle(h, node.put(k, enc.encode('w'), 'QUORUM')));
    assert.equal(write.code, 'timeout');
    assert.equal(write.definite, false, 'a write that timed out may have happened');
    const readTimeout = await rejection(settle(h, node.get(k, 'QUORUM')));
    assert.equal(readTimeout.code, 'timeout');
    assert.equal(readTimeout.definite, true);
    // Once the detector calls the others down, the same write is refused up front.
    h.settleViews();
    const unavailable = await rejection(settle(h, node.put(k, enc.encode('w2'), 'QUORUM')));
    assert.equal(unavailable.code, 'replicas_unavailable');
    assert.equal(unavailable.definite, true);
    cut.heal();

    node.stop();
    const stopped = await rejection(node.get(k, 'ONE'));
    assert.equal(stopped.code, 'stopped');
  });

  test('an empty ring (not bootstrapped yet) refuses every request; setRing with the bootstrap ring serves them', async () => {
    const h = new Harness('ring', { ring: Ring.empty() });
    h.settleViews();
    const key = enc.encode('k');
    const node = h.node('n1');
    assert.equal((await rejection(settle(h, node.put(key, enc.encode('v'), 'ONE')))).code, 'replicas_unavailable');
    assert.equal((await rejection(settle(h, node.get(key, 'ONE')))).code, 'replicas_unavailable');
    for (const id of NODES) h.node(id).setRing(h.ring);
    const at = h.node(h.replicasOf('k')[0]!);
    assert.deepEqual(values(await settle(h, at.put(key, enc.encode('v'), 'QUORUM'))), ['v']);
    assert.deepEqual(values(await settle(h, node.get(key, 'QUORUM'))), ['v']);
  });

  test('backpressure: past inflightRequestsMax requests in flight the next is refused, limit_exceeded and definite', async () => {
    const h = new Harness('backpressure', { config: { inflightRequestsMax: 2, requestTimeoutMs: 500 } });
    h.settleViews();
    const key = keysFor(1, 'bp')[0]!;
    const a = h.replicasOf(key)[0]!;
    const node = h.node(a);
    // Cut off before the failure detector notices: the writes wait for acks that never come.
    const cut = h.sim.network.isolate(a);
    const waiting = [
      node.put(enc.encode(key), enc.encode('1'), 'QUORUM'),
      node.put(enc.encode(key), enc.encode('2'), 'ALL'),
    ];
    assert.equal(node.requestsInFlight, 2);
    const refused = await rejection(node.get(enc.encode(key), 'ONE'));
    assert.equal(refused.code, 'limit_exceeded');
    assert.equal(refused.definite, true);
    for (const p of waiting) assert.equal((await rejection(settle(h, p))).code, 'timeout');
    assert.equal(node.requestsInFlight, 0);
    cut.heal();
    assert.equal(h.sim.metrics(a).value('dynamo_requests_inflight'), 0);
  });

  test("a put that would bring a key's state past dynamoStateBytesMax is refused, definite", async () => {
    const h = new Harness('state-bound');
    h.settleViews();
    const key = keysFor(1, 'big')[0]!;
    const k = enc.encode(key);
    const node = h.node(h.replicasOf(key)[0]!);
    const big = new Uint8Array(limits.kvValueBytesMax).fill(0x61);
    let refused: BaristaError | undefined;
    let written = 0;
    // Blind writes pile up siblings until the state would pass the bound.
    for (let i = 0; i < 8 && refused === undefined; i++) {
      try {
        await settle(h, node.put(k, big, 'ONE'));
        written++;
      } catch (error) {
        refused = error as BaristaError;
      }
    }
    assert.ok(refused !== undefined, `${written} full-size blind writes, none refused`);
    assert.equal(refused.code, 'limit_exceeded');
    assert.equal(refused.definite, true);
    // k full values held plus their encoding overhead and one more value pass the bound at k = bound/value.
    assert.equal(written, Math.ceil(limits.dynamoStateBytesMax / limits.kvValueBytesMax) - 1);
  });

  test('a malformed peer message is rejected and a hint for a stranger dropped, each counted, never a crash', () => {
    const h = new Harness('hostile', { tripwireCounters: [] }); // garbage on purpose
    h.settleViews();
    const { sim } = h;
    const state = Versioned.empty().update(h.node('n1').peek(enc.encode('x')).context(), 'n2', enc.encode('v'), {
      wallMs: 1,
      logical: 0,
    });
    sim.env('n2')!.transport.send('n1', MessageType.DynamoReplica, Uint8Array.of(1, 99, 0));
    sim
      .env('n2')!
      .transport.send(
        'n1',
        MessageType.DynamoReplica,
        encodeMessage({ type: 'hint', op: 7, owner: 'not-a-node', key: enc.encode('x'), state }),
      );
    sim.runFor(100);
    const rejected = sim.metrics('n1').value('peer_messages_rejected_total', {
      type: String(MessageType.DynamoReplica),
    });
    assert.equal(rejected, 1, 'the malformed message');
    // A hint for a node not on n1's ring: honest while a ring change is applied at different times.
    assert.equal(sim.metrics('n1').value('dynamo_hints_stray_total'), 1);
    assert.equal(h.sim.instance('n1')!.store.hintCount, 0);
  });

  test("replicaRank: a natural replica's place in the preference list; a pending replica (a join under way) and a stranger come after every natural one (blocking pops wake by it)", () => {
    const four = NODES.slice(0, 4);
    const base = configuredRing(four, 4);
    const joining = base.beginJoin('n5', chooseTokens(new SeededRng('rank-tokens'), 4, base));
    const h = new Harness('rank', { ring: joining });
    let pendingSeen = 0;
    for (const key of keysFor(200, 'rank')) {
      const k = enc.encode(key);
      const { replicas, pending } = joining.locate(k, 3);
      for (const id of NODES) {
        const node = h.node(id);
        const natural = replicas.indexOf(id);
        const rank = node.replicaRank(k);
        if (natural >= 0) assert.equal(rank, natural, `${id} is replica ${natural} of ${key}`);
        else
          assert.equal(
            rank,
            replicas.length,
            `${id} (${pending.includes(id) ? 'pending' : 'no replica'}) after every natural replica of ${key}`,
          );
        assert.equal(node.holdsReplica(k), natural >= 0 || pending.includes(id));
      }
      if (pending.includes('n5')) pendingSeen++;
    }
    assert.ok(pendingSeen > 0, 'some keys have n5 pending');
  });
  test("a continuation that throws a ProtocolError is answered as internal, counted, and its peer's reply is not refused; the simulator's tripwire fails the run on it by default", () => {
    const run = (tripwireCounters?: readonly string[]) => {
      const h = new Harness('continuation', tripwireCounters === undefined ? {} : { tripwireCounters });
      h.settleViews();
      const key = keysFor(1, 'continuation')[0]!;
      const a = h.replicasOf(key)[0]!;
      h.await(h.op(a, 'put', key, 'QUORUM', 'v'));
      const seen: string[] = [];
      const other: { outcome?: unknown } = {};
      h.node(a).submit({ kind: 'get', key: enc.encode(key), level: 'QUORUM' }, (o) => {
        seen.push(o.ok ? 'ok' : o.error.code);
        if (o.ok) throw new ProtocolError('crdt_unknown_type', 'a sibling decoded as the wrong type');
      });
      const box = h.op(a, 'get', key, 'QUORUM');
      other.outcome = h.await(box);
      assert.ok(
        h.sim.runUntilCondition(() => seen.length === 2, 5_000),
        `answers: ${seen.join(',')}`,
      );
      return { h, a, seen, other: box.outcome };
    };
    const { h, a, seen, other } = run([]);
    assert.deepEqual(seen, ['ok', 'internal']);
    assert.equal(other?.ok, true);
    const m = h.sim.metrics(a);
    assert.equal(m.value('continuation_failures_total', { component: 'dynamo' }), 1);
    assert.equal(m.value('peer_messages_rejected_total'), 0);
    // Negative control: the default tripwires include the counter, so the run fails where it rose.
    assert.throws(
      () => run(),
      (e: unknown) =>
        e instanceof SimulationFailure &&
        e.cause instanceof TripwireError &&
        e.cause.counter === 'continuation_failures_total',
    );
  });
});
