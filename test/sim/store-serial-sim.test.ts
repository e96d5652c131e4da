// Goal (issue 10: SERIAL and Paxos CAS linearizable per key): 5 simulated nodes, N = 3, Redis
// clients at SERIAL (BARISTA CONSISTENCY SERIAL) over simulated client connections doing GET, SET,
// INCR and BARISTA CAS on one key from every node, under partitions, a crash and clock skew. Every
// command is recorded as a Jepsen history (cas-register model with INCR) and the project's checker must say
// `valid` — not `unknown` — on each seed. A definite refusal (-UNAVAILABLE) is a `fail`; -TIMEOUT
// or a connection lost is `info` (the client then takes a new process id and connection).
// Also: SET NX at SERIAL is insert-if-absent (exactly one of several concurrent NX wins), and SERIAL
// commands get -UNAVAILABLE, definite, on a side without a majority of the key's replicas.
// Negative control: the acceptor's planted 'paxos-promise-unsynced' is caught by src/dynamo's own
// Paxos tests; here a history that lies about CAS (every CAS reported applied) or about INCR
// (every answer reported one lower) is seen invalid.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkLinearizable } from '../../src/check/linearizability.ts';
import { casIncrRegisterModel } from '../../src/check/models/register.ts';
import { HistoryRecorder } from '../../src/check/recorder.ts';
import { SeededRng } from '../../src/lib/rng.ts';
import { show, SimRespClient } from '../../src/services/store/sim-client.ts';
import { SERIAL_NODES, serialCluster } from '../support/serial-cluster.ts';

const NODES = SERIAL_NODES;
const KEY = 'reg';
/** A client waits up to this long between operations, so 5 clients span the fault schedule. */
const THINK_MS_MAX = 120;
const model = casIncrRegisterModel({ initial: null, nilReadUnknown: false });

const cluster = serialCluster;

interface Client {
  conn: SimRespClient;
  process: number;
  pending?: { f: 'read' | 'write' | 'cas' | 'incr'; value: unknown } | undefined;
  /** Virtual time of its next operation (think time spreads operations over the faults). */
  readyAtMs: number;
}

/** Runs `opsCount` operations from 5 clients under a fault schedule; returns the history's verdict. */
function runSeed(
  seed: number,
  opsCount: number,
  lie: 'cas' | 'incr' | false = false,
  key = KEY,
): { verdict: string; reason?: string; stats: string } {
  const sim = cluster(`serial-${seed}`);
  const rng = new SeededRng(seed);
  const recorder = new HistoryRecorder();
  let nextProcess = 0;
  const connect = (): Client => ({
    conn: new SimRespClient(sim, NODES[rng.int(NODES.length)]!),
    process: nextProcess++,
    readyAtMs: sim.nowMs + rng.int(THINK_MS_MAX),
  });
  const clients = Array.from({ length: 5 }, connect);
  let invoked = 0;
  const counts = { ok: 0, fail: 0, info: 0 };
  const issue = (c: Client): void => {
    const v = String(rng.int(3));
    const r = rng.float();
    if (r < 0.4) {
      c.pending = { f: 'read', value: null };
      recorder.invoke(c.process, 'read', null);
      c.conn.send('GET', key);
    } else if (r < 0.6) {
      c.pending = { f: 'write', value: v };
      recorder.invoke(c.process, 'write', v);
      c.conn.send('SET', key, v);
    } else if (r < 0.75) {
      // INCR at SERIAL: a fetch-and-add through Paxos (casIncrRegisterModel).
      c.pending = { f: 'incr', value: null };
      recorder.invoke(c.process, 'incr', null);
      c.conn.send('INCR', key);
    } else {
      const expected = String(rng.int(3));
      c.pending = { f: 'cas', value: [expected, v] };
      recorder.invoke(c.process, 'cas', [expected, v]);
      c.conn.send('BARISTA', 'CAS', key, expected, v);
    }
    invoked++;
  };
  const complete = (c: Client, text: string | undefined): boolean => {
    const p = c.pending!;
    c.pending = undefined;
    if (
      text === undefined ||
      text.startsWith('-TIMEOUT') ||
      (text.startsWith('-') && !text.startsWith('-UNAVAILABLE'))
    ) {
      counts.info++;
      recorder.info(c.process, null, { error: text ?? 'connection closed' });
      return false; // the client moves on as a new process, on a new connection
    }
    if (text.startsWith('-UNAVAILABLE')) {
      counts.fail++;
      recorder.fail(c.process, null, { error: 'unavailable' });
      return true;
    }
    counts.ok++;
    if (p.f === 'read') recorder.ok(c.process, text === '_' ? null : text.slice(1));
    else if (p.f === 'write') recorder.ok(c.process, p.value);
    else if (p.f === 'incr') {
      assert.match(text, /^:\d+$/, `INCR answered ${text}`);
      // The 'incr' lie: every INCR reported one lower than it answered (a lost update's look).
      const answered = BigInt(text.slice(1));
      recorder.ok(c.process, String(lie === 'incr' ? answered - 1n : answered));
    } else {
      const applied = text.startsWith('*[:1');
      recorder.ok(c.process, applied || lie === 'cas' ? p.value : false);
    }
    return true;
  };
  // Faults: a partition, a crash and restart, clock skew; each bounded in time.
  sim.setClock('n2', { skewMs: -2_000 });
  sim.setClock('n4', { skewMs: 1_500 });
  let cut: { heal(): void } | undefined;
  for (let step = 0; step < 4_000 && (invoked < opsCount || clients.some((c) => c.pending)); step++) {
    sim.runFor(10);
    if (step === 100)
      cut = sim.network.partition([
        ['n1', 'n2'],
        ['n3', 'n4', 'n5'],
      ]);
    if (step === 250) cut?.heal();
    if (step === 300) sim.crash('n3');
    if (step === 400) sim.restart('n3');
    for (const [i, c] of clients.entries()) {
      if (c.pending === undefined) {
        if (invoked < opsCount && sim.nowMs >= c.readyAtMs) issue(c);
        continue;
      }
      const closed = c.conn.closed !== undefined;
      if (!c.conn.settled && !closed) continue;
      const keep = complete(c, c.conn.settled ? show(c.conn.replies[c.conn.replies.length - 1]) : undefined);
      if (keep) c.readyAtMs = sim.nowMs + rng.int(THINK_MS_MAX);
      else {
        c.conn.close();
        clients[i] = connect();
      }
    }
  }
  for (const c of clients) if (c.pending) recorder.info(c.process, null, { error: 'still open at the end' });
  const result = checkLinearizable(recorder.history(), model, { timeBudgetMs: 10_000, now: () => performance.now() });
  return {
    verdict: result.verdict,
    ...(result.reason === undefined ? {} : { reason: result.reason }),
    stats: JSON.stringify(counts),
  };
}

test('SERIAL GET / SET / BARISTA CAS through RESP are linearizable under a partition, a crash and clock skew', (t) => {
  for (const seed of [1, 2, 3]) {
    const r = runSeed(seed, 200);
    t.diagnostic(`seed ${seed}: ${r.verdict} ${r.stats}`);
    assert.equal(r.verdict, 'valid', `seed ${seed}: ${r.verdict} ${r.reason ?? ''} ${r.stats}`);
    const counts = JSON.parse(r.stats) as { ok: number };
    assert.ok(counts.ok >= 100, `seed ${seed}: enough operations succeeded (${r.stats})`);
  }
});

test("the same through a hash tag's register (tag-state.ts: the key {reg}x is one entry of the tag's map, each command a CAS of it)", (t) => {
  for (const seed of [4, 5]) {
    const r = runSeed(seed, 200, false, '{reg}x');
    t.diagnostic(`seed ${seed}: ${r.verdict} ${r.stats}`);
    assert.equal(r.verdict, 'valid', `seed ${seed}: ${r.verdict} ${r.reason ?? ''} ${r.stats}`);
    const counts = JSON.parse(r.stats) as { ok: number };
    assert.ok(counts.ok >= 100, `seed ${seed}: enough operations succeeded (${r.stats})`);
  }
});

test('negative controls: the same histories with every CAS reported applied, or every INCR one lower, are not linearizable', () => {
  for (const lie of ['cas', 'incr'] as const) {
    let invalid = 0;
    for (const seed of [1, 2, 3]) if (runSeed(seed, 200, lie).verdict === 'invalid') invalid++;
    assert.ok(invalid > 0, `the checker catches a lying ${lie}`);
  }
});

test('SET NX at SERIAL: of concurrent inserts from every node exactly one wins; a minority side is refused, definite', () => {
  const sim = cluster('serial-nx');
  const clients = NODES.map((id) => new SimRespClient(sim, id));
  for (const [i, c] of clients.entries()) c.send('SET', 'lock', `owner-${i}`, 'NX');
  assert.ok(
    sim.runUntilCondition(() => clients.every((c) => c.settled), 20_000),
    'every SET NX answered',
  );
  const replies = clients.map((c) => show(c.replies[0]));
  assert.equal(replies.filter((r) => r === '+OK').length, 1, replies.join(' '));
  assert.equal(replies.filter((r) => r === '_').length, NODES.length - 1, replies.join(' '));
  const winner = replies.indexOf('+OK');
  const reader = new SimRespClient(sim, 'n5');
  reader.send('GET', 'lock');
  assert.ok(sim.runUntilCondition(() => reader.settled, 10_000));
  assert.equal(show(reader.replies[0]), `$owner-${winner}`);

  // A key whose replicas are mostly across a partition: SERIAL is refused on the small side.
  const where = new SimRespClient(sim, 'n1');
  where.send('BARISTA', 'WHERE', 'lock');
  assert.ok(sim.runUntilCondition(() => where.settled, 10_000));
  const replicas = show(where.replies[0])
    .slice(2, -1)
    .split(',')
    .map((x) => x.slice(1));
  const alone = NODES.find((n) => !replicas.includes(n))!;
  sim.network.partition([[alone], NODES.filter((n) => n !== alone)]);
  sim.runFor(5_000);
  const lonely = new SimRespClient(sim, alone);
  lonely.send('SET', 'lock', 'x', 'NX');
  lonely.send('GET', 'lock');
  assert.ok(sim.runUntilCondition(() => lonely.settled, 20_000));
  for (const r of lonely.replies.map(show)) assert.match(r, /^-UNAVAILABLE/, 'no replica reachable: definite refusal');
});
