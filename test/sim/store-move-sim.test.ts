// Issue 10's acceptance, the ring-move part: "a join and a decommission under load lose nothing".
// 5 simulated nodes, N = 3, sync `always`; the ring starts with n1..n4 (store.ringNodes). Redis
// clients on every node write distinct keys at QUORUM without pause (RESP bytes in random chunks)
// while an operator, through BARISTA RING on another node, joins n5 and then decommissions n2.
// Then, with no read, no repair round and no anti-entropy timer (so nothing but the moves' streams
// and the writes themselves placed the data), every acknowledged key is held with its value by
// every replica of its preference list on the final ring, and a QUORUM GET returns it.
// Negative control: with the planted `dynamo-move-no-stream` (the moving node calls its streams
// done at once) the same run leaves acknowledged keys missing from their new replicas.
// With a crash inside the join: a quorum of every key's final replicas holds it at once, and
// anti-entropy rounds (not the move) restore the third copies the crash cost. After the moves,
// BARISTA CLEANUP on every node drops the copies nodes keep of keys they no longer replicate and
// no final replica loses one (negative control: the planted `dynamo-cleanup-primary-only`).
// The same with collections in rows (what `barista dev --replicas N` makes): writers SADD unique
// members to 8 sets at QUORUM through the moves, and every acknowledged member is a row on every
// final replica of its set, before and after CLEANUP (negative control, by hand 2026-12-05:
// `dynamo-move-no-stream` leaves 549 acknowledged members missing).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mutationsFrom } from '../../src/lib/mutations.ts';
import type { NodeServices } from '../../src/node/services.ts';
import { membershipService } from '../../src/services/membership/service.ts';
import { storeOf, storeService } from '../../src/services/store/service.ts';
import { show, SimRespClient } from '../../src/services/store/sim-client.ts';
import type { Simulation } from '../../src/sim/simulation.ts';
import { simServices } from '../support/sim-services.ts';

const NODES = ['n1', 'n2', 'n3', 'n4', 'n5'];
const enc = new TextEncoder();
const dec = new TextDecoder();

function cluster(
  seed: string,
  mutations: string[] = [],
  collections: 'whole' | 'rows' = 'whole',
  timeoutHints = true,
): Simulation<NodeServices> {
  const sim = simServices({
    seed,
    nodes: NODES,
    services: [membershipService, storeService],
    store: {
      sync: 'always',
      ringNodes: ['n1', 'n2', 'n3', 'n4'],
      replication: {
        replicas: 3,
        antiEntropyIntervalMs: 0,
        ringDelayMs: 300,
        collections,
        timeoutHints,
      },
    },
    clientLinks: { chunking: 'random', chunkBytesMax: 11 },
    ...(mutations.length > 0 ? { mutations: mutationsFrom(mutations) } : {}),
  });
  assert.ok(
    sim.runUntilCondition(() => NODES.every((id) => (storeOf(sim.instance(id)!).ring.ring.version ?? 0) > 0), 20_000),
    'every node learned the ring',
  );
  assert.ok(
    sim.runUntilCondition(
      () =>
        NODES.every((a) =>
          sim
            .instance(a)!
            .membership.view()
            .every((v) => v.status === 'alive'),
        ),
      15_000,
    ),
    'every failure detector calls every node alive',
  );
  return sim;
}

/**
 * A client writing `prefix:i` = `v:i` at QUORUM, one command at a time, until stopped; with
 * `sets`, SADD of member `prefix:i` to set `s:{i mod sets}` instead (acked: member -> set).
 */
class Writer {
  readonly acked = new Map<string, string>();
  readonly refused: string[] = [];
  private readonly c: SimRespClient;
  private i = 0;
  private inFlight: { key: string; value: string; index: number } | undefined;
  stopped = false;

  constructor(
    private readonly sim: Simulation<NodeServices>,
    at: string,
    private readonly prefix: string,
    private readonly sets = 0,
  ) {
    this.c = new SimRespClient(sim, at);
    this.c.send('BARISTA', 'CONSISTENCY', 'QUORUM');
    this.pump();
  }

  /** Nothing in flight, or the connection is gone (its node crashed: an unanswered write is not counted). */
  get idle(): boolean {
    return this.c.closed !== undefined || (this.inFlight === undefined && this.c.settled);
  }

  private readonly pump = (): void => {
    const f = this.inFlight;
    if (f !== undefined && this.c.replies.length > f.index) {
      const r = show(this.c.replies[f.index]!);
      if (r === (this.sets > 0 ? ':1' : '+OK')) this.acked.set(f.key, f.value);
      else this.refused.push(`${f.key}: ${r}`);
      this.inFlight = undefined;
    }
    if (this.inFlight === undefined && this.c.settled && !this.stopped && this.c.closed === undefined) {
      const i = this.i++;
      if (this.sets > 0) {
        const member = `${this.prefix}:${i}`;
        const set = `s:${i % this.sets}`;
        this.inFlight = { key: member, value: set, index: this.c.send('SADD', set, member) };
      } else {
        const key = `${this.prefix}:${i}`;
        this.inFlight = { key, value: `v:${i}`, index: this.c.send('SET', key, `v:${i}`) };
      }
    }
    if (!this.stopped || !this.idle) this.sim.after(5, this.pump, 'writer');
  };
}

function command(sim: Simulation<NodeServices>, at: string, ...argv: string[]): string {
  const c = new SimRespClient(sim, at);
  c.send(...argv);
  assert.ok(
    sim.runUntilCondition(() => c.settled, 20_000),
    `a reply to ${argv.join(' ')} at ${at}`,
  );
  return show(c.replies[0]!);
}

function ringEverywhere(sim: Simulation<NodeServices>, pred: (ids: string[], moving: boolean) => boolean): boolean {
  return NODES.every((id) => {
    const ring = storeOf(sim.instance(id)!).ring.ring;
    return pred(
      ring.nodes.map((n) => n.id),
      ring.moving !== undefined,
    );
  });
}

/** Join n5 and decommission n2 under load; the keys acknowledged, and those missing from a final replica. */
function joinAndLeaveUnderLoad(
  sim: Simulation<NodeServices>,
  faults: { crashDuringJoin?: string } = {},
  sets = 0,
): {
  acked: Map<string, string>;
  missing: string[];
  /** Acknowledged keys held by fewer than a quorum (2) of their final replicas. */
  short: string[];
  /** Writes answered with an error. */
  refused: string[];
  streamed: number;
} {
  const writers = NODES.map((id) => new Writer(sim, id, `w-${id}`, sets));
  sim.runFor(1_000);

  assert.match(command(sim, 'n2', 'BARISTA', 'RING', 'JOIN', 'n5'), /^\+OK ring version \d+$/);
  assert.match(
    command(sim, 'n3', 'BARISTA', 'RING', 'LEAVE', 'n2'),
    /^-ERR .*one move at a time/,
    'one move at a time',
  );
  assert.match(command(sim, 'n3', 'BARISTA', 'CLEANUP'), /^-ERR cleanup refused: a ring move is in progress/);
  if (faults.crashDuringJoin !== undefined) {
    // A node (a stream source, a replica of keys being written) dies inside the join and comes back.
    const victim = faults.crashDuringJoin;
    sim.runFor(400);
    sim.crash(victim);
    sim.runFor(1_500);
    sim.restart(victim);
  }
  assert.ok(
    sim.runUntilCondition(() => ringEverywhere(sim, (ids, moving) => ids.includes('n5') && !moving), 60_000),
    'the join completed on every node',
  );
  const streamed =
    sim.instance('n5') === undefined ? 0 : storeOf(sim.instance('n5')!).replica!.replica.moveStats.entriesMerged;
  sim.runFor(500);

  assert.match(command(sim, 'n1', 'BARISTA', 'RING', 'LEAVE', 'n2'), /^\+OK ring version \d+$/);
  assert.ok(
    sim.runUntilCondition(() => ringEverywhere(sim, (ids, moving) => !ids.includes('n2') && !moving), 60_000),
    'the decommission completed on every node',
  );
  sim.runFor(500);
  for (const w of writers) w.stopped = true;
  assert.ok(
    sim.runUntilCondition(() => writers.every((w) => w.idle), 20_000),
    'the writers drained',
  );
  sim.runFor(3_000); // the last writes' third replica messages land, hints replay

  const acked = new Map<string, string>();
  for (const w of writers) for (const [k, v] of w.acked) acked.set(k, v);
  const placed = sets > 0 ? memberPlacement(sim, acked) : placement(sim, acked);
  return { acked, ...placed, streamed, refused: writers.flatMap((w) => w.refused) };
}

/** Which acknowledged members (member -> set) the final ring's replicas of their set lack as rows. */
function memberPlacement(
  sim: Simulation<NodeServices>,
  acked: ReadonlyMap<string, string>,
): { missing: string[]; short: string[] } {
  const ring = storeOf(sim.instance('n1')!).ring.ring;
  const rows = new Map<string, Set<string>>();
  const rowsAt = (node: string, set: string): Set<string> => {
    const id = `${node}/${set}`;
    let held = rows.get(id);
    if (held === undefined) {
      const page = storeOf(sim.instance(node)!).replica!.replica['store'].scanRows(
        enc.encode(set),
        new Uint8Array(0),
        10_000,
      );
      assert.equal(page.next, null, `${set} at ${node}: more rows than one scan reads`);
      rows.set(id, (held = new Set(page.entries.map((e) => dec.decode(e.element)))));
    }
    return held;
  };
  const missing: string[] = [];
  const short: string[] = [];
  for (const [member, set] of acked) {
    let holders = 0;
    for (const r of ring.locate(enc.encode(set), 3).replicas) {
      if (rowsAt(r, set).has(member)) holders++;
      else missing.push(`${member} of ${set} on ${r}`);
    }
    if (holders < 2) short.push(`${member} (${holders})`);
  }
  return { missing, short };
}

/** Which acknowledged copies the final ring's replicas lack (peeks: no read, no repair). */
function placement(
  sim: Simulation<NodeServices>,
  acked: ReadonlyMap<string, string>,
): { missing: string[]; short: string[] } {
  const ring = storeOf(sim.instance('n1')!).ring.ring;
  const missing: string[] = [];
  const short: string[] = [];
  for (const [key, value] of acked) {
    let holders = 0;
    for (const r of ring.locate(enc.encode(key), 3).replicas) {
      const held = storeOf(sim.instance(r)!)
        .replica!.peek(enc.encode(key))
        .siblings.some((s) => s.value !== null && dec.decode(s.value) === value);
      if (held) holders++;
      else missing.push(`${key} on ${r}`);
    }
    if (holders < 2) short.push(`${key} (${holders})`);
  }
  return { missing, short };
}

/** Copies of acknowledged keys held by a node that is not one of their final replicas. */
function strays(sim: Simulation<NodeServices>, acked: ReadonlyMap<string, string>): number {
  const ring = storeOf(sim.instance('n1')!).ring.ring;
  let n = 0;
  for (const key of acked.keys()) {
    const replicas = ring.locate(enc.encode(key), 3).replicas;
    for (const id of ring.nodes.map((x) => x.id)) {
      if (replicas.includes(id)) continue;
      if (storeOf(sim.instance(id)!).replica!.peek(enc.encode(key)).siblings.length > 0) n++;
    }
  }
  return n;
}

/** BARISTA CLEANUP on every ring node, run to its end; the keys dropped. */
function cleanupEverywhere(sim: Simulation<NodeServices>): number {
  const ids = storeOf(sim.instance('n1')!).ring.ring.nodes.map((x) => x.id);
  for (const id of ids) assert.equal(command(sim, id, 'BARISTA', 'CLEANUP'), '+OK', `cleanup at ${id}`);
  assert.ok(
    sim.runUntilCondition(
      () => ids.every((id) => storeOf(sim.instance(id)!).replica!.cleanupProgress() === undefined),
      30_000,
    ),
    'every cleanup pass ended',
  );
  const status = command(sim, ids[0]!, 'BARISTA', 'CLEANUP', 'STATUS');
  assert.match(status, /^\*\[:0,:0,:0,:1\]$/, 'a finished pass: not running, one pass');
  return ids.reduce((n, id) => n + storeOf(sim.instance(id)!).replica!.replica.stats.cleanupDropped, 0);
}

test('a join and a decommission under QUORUM load lose nothing: every acknowledged key on every final replica', () => {
  const sim = cluster('store-move');
  const { acked, missing, short, streamed, refused } = joinAndLeaveUnderLoad(sim);
  assert.ok(acked.size >= 200, `enough writes acknowledged under load (${acked.size})`);
  assert.deepEqual(refused, [], 'no write refused while the ring moved (no fault)');
  assert.deepEqual(short, []);
  assert.ok(streamed > 0, 'the joining node received streamed values');
  assert.deepEqual(missing.slice(0, 10), [], `${missing.length} acknowledged copies missing`);
  // Reads through the final ring, from the node that left (it forwards now) and others.
  const sample = [...acked].filter((_, i) => i % 25 === 0);
  for (const [i, [key, value]] of sample.entries()) {
    const at = NODES[i % NODES.length]!;
    assert.equal(command(sim, at, 'GET', key), `$${value}`, `GET ${key} at ${at}`);
  }
  const text = command(sim, 'n1', 'BARISTA', 'RING');
  assert.match(text, /move none/);
  assert.doesNotMatch(text, /\nn2 /, 'n2 is off the ring');
  // Cleanup (Cassandra's nodetool cleanup): the old replicas drop what the join handed to n5, and
  // every final replica still holds every acknowledged key.
  const before = strays(sim, acked);
  assert.ok(before > 0, `the join left old copies behind (${before})`);
  const dropped = cleanupEverywhere(sim);
  assert.ok(dropped >= before, `dropped ${dropped} of ${before} stray copies`);
  assert.equal(strays(sim, acked), 0, 'no node keeps a key it does not replicate');
  assert.deepEqual(placement(sim, acked).missing.slice(0, 10), [], 'cleanup dropped no copy a replica needs');
  for (const [key, value] of sample.slice(0, 10)) assert.equal(command(sim, 'n4', 'GET', key), `$${value}`);
});

test('negative control: a cleanup that keeps only first-replica copies loses copies the final replicas need', () => {
  const sim = cluster('store-move', ['dynamo-cleanup-primary-only']);
  const { acked, missing } = joinAndLeaveUnderLoad(sim);
  assert.deepEqual(missing.slice(0, 10), [], 'the moves themselves lose nothing');
  cleanupEverywhere(sim);
  assert.ok(placement(sim, acked).missing.length > 0, 'the planted cleanup dropped needed copies');
});

test('a replica crashing inside the join under load: a quorum keeps every acknowledged key, anti-entropy restores the rest', () => {
  // timeoutHints off: the coordinators' hints for n3 would complete the third copies first.
  const sim = cluster('store-move-crash', [], 'whole', false);
  const { acked, missing, short } = joinAndLeaveUnderLoad(sim, { crashDuringJoin: 'n3' });
  assert.ok(acked.size >= 200, `enough writes acknowledged under load (${acked.size})`);
  // A write in flight when n3 died was acknowledged by the other two and never reached n3's disk:
  // a quorum holds every key, and anti-entropy (not the move) completes the third copy.
  assert.deepEqual(short, [], 'every acknowledged key on a quorum of its final replicas');
  assert.ok(missing.length > 0, 'the crash did cost third copies (else this test shows nothing more than the first)');
  for (let round = 0; round < 3; round++) {
    for (const id of ['n1', 'n3', 'n4', 'n5']) {
      assert.equal(command(sim, id, 'BARISTA', 'REPAIR'), '+OK');
      assert.ok(
        sim.runUntilCondition(() => !storeOf(sim.instance(id)!).replica!.antiEntropyBusy, 30_000),
        `repair round from ${id}`,
      );
    }
  }
  assert.deepEqual(placement(sim, acked).missing.slice(0, 10), [], 'anti-entropy completed every copy');
});

test("the same crash with timeout hints (the default): the writes n3 never acknowledged come back to it by its coordinators' hints, with no repair round", () => {
  const sim = cluster('store-move-crash');
  const { acked, short } = joinAndLeaveUnderLoad(sim, { crashDuringJoin: 'n3' });
  assert.ok(acked.size >= 200, `enough writes acknowledged under load (${acked.size})`);
  assert.deepEqual(short, [], 'every acknowledged key on a quorum of its final replicas');
  let hinted = 0;
  for (const id of NODES) hinted += storeOf(sim.instance(id)!).replica?.replica.stats.hintsOnTimeout ?? 0;
  assert.ok(hinted > 0, 'writes n3 did not acknowledge were hinted');
  assert.ok(
    sim.runUntilCondition(() => placement(sim, acked).missing.length === 0, 30_000),
    `every copy back without a repair: ${placement(sim, acked).missing.slice(0, 5)}`,
  );
});

test('collections in rows: a join and a decommission under QUORUM SADD load lose no member: each on every final replica of its set', () => {
  const sim = cluster('store-move-rows', [], 'rows');
  const { acked, missing, short, refused, streamed } = joinAndLeaveUnderLoad(sim, {}, 8);
  assert.ok(acked.size >= 200, `enough SADDs acknowledged under load (${acked.size})`);
  assert.deepEqual(refused, [], 'no SADD refused while the ring moved (no fault)');
  assert.deepEqual(missing.slice(0, 10), [], `${missing.length} acknowledged members missing`);
  assert.deepEqual(short, []);
  assert.ok(streamed > 0, 'the joining node received streamed states');
  for (let i = 0; i < 8; i++) {
    const want = [...acked].filter(([, set]) => set === `s:${i}`).length;
    assert.equal(command(sim, NODES[i % 4]!, 'SCARD', `s:${i}`), `:${want}`, `SCARD s:${i}`);
  }
  // Cleanup drops the sets' copies (header and rows) nodes no longer replicate, none a replica needs.
  cleanupEverywhere(sim);
  assert.deepEqual(memberPlacement(sim, acked).missing.slice(0, 10), [], 'cleanup dropped no row a replica needs');
});

test('negative control: a move that does not stream leaves acknowledged keys missing from their new replicas', () => {
  const sim = cluster('store-move', ['dynamo-move-no-stream']);
  const { acked, missing } = joinAndLeaveUnderLoad(sim);
  assert.ok(acked.size >= 200);
  assert.ok(missing.length > 0, 'without streams the new replicas miss keys written before the moves');
});
