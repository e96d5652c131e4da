// Goal (issue 10: MULTI/EXEC at N > 1 when every key shares a hash tag, via SERIAL): 5 simulated
// nodes, N = 3, Redis clients at SERIAL over simulated client connections from every node, under a
// partition, a crash and clock skew. Writers run `MULTI; INCR {c}a; INCRBY {c}b 2; EXEC` and
// readers `MULTI; GET {c}a; GET {c}b; EXEC` (a tag's keys are one Paxos register: tag-state.ts).
// Checked by clients, not inside the store:
//   - atomic and isolated: every read transaction sees b = 2a (never one INCR without the other);
//   - no lost update: at the end (healed, read from another node) a = b / 2 lies between the
//     transactions acknowledged and those acknowledged plus those whose outcome is unknown
//     (-TIMEOUT, or a connection lost with the EXEC in flight);
//   - a minority side answers -UNAVAILABLE (definite), never a partial write.
// Negative control: the planted 'serial-tag-blind-write' (the register written without comparing
// the state read) loses concurrent transactions' updates, and the count check catches it.
// Also: WATCH sees another node's write (EXEC answers the null array and writes nothing), and
// what a transaction at N > 1 refuses (below SERIAL, keys of two tags or none, server commands).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Mutation } from '../../src/lib/mutations.ts';
import { limits } from '../../src/lib/limits.ts';
import { SeededRng } from '../../src/lib/rng.ts';
import { storeOf } from '../../src/services/store/service.ts';
import { show, SimRespClient } from '../../src/services/store/sim-client.ts';
import { decodeRegister, encodeTagState } from '../../src/services/store/tag-state.ts';
import { SERIAL_NODES, serialCluster } from '../support/serial-cluster.ts';

const NODES = SERIAL_NODES;
const THINK_MS_MAX = 100;

const cluster = serialCluster;

interface Client {
  conn: SimRespClient;
  kind: 'write' | 'read';
  /** Replies expected for the transaction in flight (0: idle). */
  awaiting: number;
  readyAtMs: number;
}

interface Outcome {
  acked: number;
  unknown: number;
  unavailable: number;
  reads: number;
  final: { a: bigint; b: bigint };
  torn: string[];
}

function runSeed(seed: number, transactions: number, mutation?: Mutation): Outcome {
  const sim = cluster(`tx-${seed}`, mutation);
  const rng = new SeededRng(seed);
  const connect = (kind: Client['kind']): Client => ({
    conn: new SimRespClient(sim, NODES[rng.int(NODES.length)]!),
    kind,
    awaiting: 0,
    readyAtMs: sim.nowMs + rng.int(THINK_MS_MAX),
  });
  const clients: Client[] = [
    ...Array.from({ length: 5 }, () => connect('write')),
    ...Array.from({ length: 2 }, () => connect('read')),
  ];
  const out: Outcome = { acked: 0, unknown: 0, unavailable: 0, reads: 0, final: { a: 0n, b: 0n }, torn: [] };
  let issued = 0;
  const begin = (c: Client): void => {
    const before = c.conn.replies.length;
    c.conn.send('MULTI');
    if (c.kind === 'write') {
      c.conn.send('INCR', '{c}a');
      c.conn.send('INCRBY', '{c}b', '2');
      issued++;
    } else {
      c.conn.send('GET', '{c}a');
      c.conn.send('GET', '{c}b');
    }
    c.conn.send('EXEC');
    c.awaiting = before + 4;
  };
  /** The EXEC's reply: true to keep the connection. */
  const end = (c: Client, exec: string | undefined): boolean => {
    c.awaiting = 0;
    if (c.kind === 'read') {
      if (exec?.startsWith('*[') !== true) return exec !== undefined;
      out.reads++;
      const [a, b] = exec
        .slice(2, -1)
        .split(',')
        .map((v) => (v === '_' ? 0n : BigInt(v.slice(1))));
      if (b !== 2n * a!) out.torn.push(exec);
      return true;
    }
    if (exec === undefined || exec.startsWith('-TIMEOUT')) {
      out.unknown++;
      return false;
    }
    // -UNAVAILABLE (no majority of the tag's replicas) and -BUSY (the register kept moving) are definite.
    if (exec.startsWith('-UNAVAILABLE') || exec.startsWith('-BUSY')) {
      out.unavailable++;
      return true;
    }
    assert.match(exec, /^\*\[:\d+,:\d+\]$/, `a write transaction answered ${exec}`);
    out.acked++;
    return true;
  };
  sim.setClock('n2', { skewMs: -2_000 });
  sim.setClock('n4', { skewMs: 1_500 });
  let cut: { heal(): void } | undefined;
  for (let step = 0; step < 5_000 && (issued < transactions || clients.some((c) => c.awaiting > 0)); step++) {
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
      if (c.awaiting === 0) {
        if (sim.nowMs >= c.readyAtMs && (c.kind === 'read' || issued < transactions)) begin(c);
        continue;
      }
      const closed = c.conn.closed !== undefined;
      if (c.conn.replies.length < c.awaiting && !closed) continue;
      const keep = end(c, c.conn.replies.length >= c.awaiting ? show(c.conn.replies[c.awaiting - 1]) : undefined);
      if (keep) c.readyAtMs = sim.nowMs + rng.int(THINK_MS_MAX);
      else {
        c.conn.close();
        clients[i] = connect(c.kind);
      }
    }
  }
  // Readers keep going until the writers are done; what they still have in flight does not count.
  for (const c of clients) if (c.kind === 'write' && c.awaiting > 0) out.unknown++;
  sim.runFor(3_000);
  const reader = new SimRespClient(sim, 'n5');
  reader.send('MULTI');
  reader.send('GET', '{c}a');
  reader.send('GET', '{c}b');
  reader.send('EXEC');
  assert.ok(
    sim.runUntilCondition(() => reader.settled, 20_000),
    'the final read',
  );
  const final = show(reader.replies[3]);
  const [a, b] = final
    .slice(2, -1)
    .split(',')
    .map((v) => (v === '_' ? 0n : BigInt(v.slice(1))));
  out.final = { a: a!, b: b! };
  return out;
}

const describe = (o: Outcome) =>
  `acked ${o.acked}, unknown ${o.unknown}, unavailable ${o.unavailable}, reads ${o.reads}, final a=${o.final.a} b=${o.final.b}, torn ${o.torn.length}`;

test('MULTI/EXEC over one hash tag at SERIAL: atomic, isolated, no acknowledged transaction lost, under a partition, a crash and clock skew', (t) => {
  for (const seed of [1, 2, 3]) {
    const o = runSeed(seed, 120);
    t.diagnostic(`seed ${seed}: ${describe(o)}`);
    assert.deepEqual(o.torn, [], `seed ${seed}: a read transaction saw one INCR without the other`);
    assert.equal(o.final.b, 2n * o.final.a, `seed ${seed}: the final state is whole: ${describe(o)}`);
    assert.ok(
      o.final.a >= BigInt(o.acked) && o.final.a <= BigInt(o.acked + o.unknown),
      `seed ${seed}: acknowledged <= applied <= acknowledged + unknown: ${describe(o)}`,
    );
    assert.ok(o.acked >= 60, `seed ${seed}: enough transactions committed: ${describe(o)}`);
    assert.ok(o.reads >= 20, `seed ${seed}: enough read transactions: ${describe(o)}`);
  }
});

test("negative control: with the tag's register written blind (no compare), concurrent transactions lose updates and the count check says so", () => {
  let caught = 0;
  for (const seed of [1, 2, 3]) {
    const o = runSeed(seed, 120, 'serial-tag-blind-write');
    if (o.final.a < BigInt(o.acked)) caught++;
  }
  assert.ok(caught > 0, 'a lost update shows as fewer increments than acknowledged transactions');
});

test('WATCH at SERIAL sees a write through another node: EXEC answers the null array and writes nothing', () => {
  const sim = cluster('tx-watch');
  const a = new SimRespClient(sim, 'n1');
  const b = new SimRespClient(sim, 'n4');
  const settle = (c: SimRespClient) => {
    assert.ok(
      sim.runUntilCondition(() => c.settled, 20_000),
      `replies to ${c.sent} commands`,
    );
    return c.replies.map(show);
  };
  a.send('SET', '{w}k', '1');
  a.send('WATCH', '{w}k', '{w}other');
  assert.deepEqual(settle(a), ['+OK', '+OK']);
  b.send('SET', '{w}k', '2');
  assert.deepEqual(settle(b), ['+OK']);
  a.send('MULTI');
  a.send('SET', '{w}other', 'x');
  a.send('EXEC');
  a.send('MGET', '{w}k', '{w}other');
  // Unchanged since WATCH: EXEC runs.
  a.send('WATCH', '{w}k');
  a.send('MULTI');
  a.send('SET', '{w}other', 'y');
  a.send('EXEC');
  a.send('GET', '{w}other');
  assert.deepEqual(settle(a).slice(2), ['+OK', '+QUEUED', '_', '*[$2,_]', '+OK', '+OK', '+QUEUED', '*[+OK]', '$y']);
});

test('what a transaction at N > 1 refuses: below SERIAL, keys of two registers (two tags, a tag and an untagged key, two untagged keys), commands that are not data commands; MGET and MSET over two registers run key by key', () => {
  const sim = cluster('tx-refused');
  const c = new SimRespClient(sim, 'n2');
  const crossslot =
    "-CROSSSLOT Keys in request don't hash to the same slot (at SERIAL, keys run together only when they share a hash tag: {tag}a {tag}b)";
  const notSerial =
    '-ERR MULTI/EXEC and WATCH with store.replication.replicas > 1 run at SERIAL over one key or the keys of one hash tag: BARISTA CONSISTENCY SERIAL first';
  c.send('MULTI');
  c.send('SET', '{x}a', '1');
  c.send('SET', '{y}a', '1');
  c.send('EXEC');
  c.send('MULTI');
  c.send('SET', 'plain', '1');
  c.send('EXEC');
  c.send('MULTI');
  c.send('SET', 'plain', '1');
  c.send('SET', 'other', '1');
  c.send('EXEC');
  c.send('MULTI');
  c.send('PING');
  c.send('EXEC');
  c.send('MSET', '{x}a', '1', 'plain', '2');
  c.send('WATCH', '{x}a', '{y}b');
  c.send('MGET', '{x}a', 'plain');
  c.send('RENAME', 'plain', 'other');
  c.send('RENAME', '{x}a', 'plain');
  c.send('BARISTA', 'CONSISTENCY', 'QUORUM');
  c.send('MULTI');
  c.send('SET', '{x}a', '1');
  c.send('EXEC');
  c.send('WATCH', '{x}a');
  const execAbort = '-EXECABORT Transaction discarded because of previous errors.';
  assert.deepEqual(
    (() => {
      assert.ok(sim.runUntilCondition(() => c.settled, 20_000));
      return c.replies.map(show);
    })(),
    [
      '+OK',
      '+QUEUED',
      crossslot,
      execAbort,
      '+OK',
      '+QUEUED',
      '*[+OK]', // one untagged key is a register of its own
      '+OK',
      '+QUEUED',
      crossslot,
      execAbort,
      '+OK',
      "-ERR 'ping' cannot be queued with store.replication.replicas > 1 (a transaction there holds data commands over one key or the keys of one hash tag)",
      execAbort,
      '+OK', // MSET {x}a 1 plain 2: key by key
      crossslot,
      '*[$1,$2]',
      crossslot,
      crossslot,
      '+OK',
      '+OK',
      notSerial,
      execAbort,
      notSerial,
    ],
  );
});

/** Runs the simulation until `c` has every reply, returning the replies since the last call. */
function settler(sim: ReturnType<typeof cluster>, c: SimRespClient): () => string[] {
  let seen = 0;
  return () => {
    assert.ok(
      sim.runUntilCondition(() => c.settled, 20_000),
      `replies to ${c.sent} commands`,
    );
    const fresh = c.replies.slice(seen).map(show);
    seen = c.replies.length;
    return fresh;
  };
}

test("a tag's keys at SERIAL: a key over the key bound and a state over tagStateItemsCountMax are refused, not written; an expired key is absent to BARISTA CAS; the legacy register of the key named {t} is read as that key", () => {
  const sim = cluster('tx-bounds');
  const c = new SimRespClient(sim, 'n3');
  const settle = settler(sim, c);
  const long = `{b}${'x'.repeat(limits.kvKeyBytesMax)}`;
  c.send('SET', long, 'v');
  c.send('GET', '{b}a');
  c.send('RPUSH', '{b}l', ...Array.from({ length: limits.tagStateItemsCountMax + 1 }, (_, i) => `e${i}`));
  c.send('LLEN', '{b}l');
  c.send('SET', '{b}e', 'old', 'PX', '100');
  assert.deepEqual(settle(), [
    `-ERR key_too_large: key of ${long.length} bytes, max ${limits.kvKeyBytesMax}`,
    '_',
    `-ERR the keys of hash tag {b} would hold ${limits.tagStateItemsCountMax + 1} elements at SERIAL, over the ${limits.tagStateItemsCountMax} one register may hold (tagStateItemsCountMax; not written)`,
    ':0',
    '+OK',
  ]);
  sim.runFor(500);
  // Reads of the expired key write nothing (n3 coordinates: no compare-and-set of the register).
  const casApplied = () => sim.metrics('n3').value('dynamo_serial_ops_total', { kind: 'cas', outcome: 'applied' });
  const casBefore = casApplied();
  c.send('BARISTA', 'CAS', '{b}e', 'old', 'new');
  c.send('GET', '{b}e');
  c.send('EXISTS', '{b}e');
  c.send('TTL', '{b}e');
  assert.deepEqual(settle(), ['*[:0,_]', '_', ':0', ':-2']);
  assert.equal(casApplied(), casBefore, 'an expired key read is not deleted by a write');
  // A build before tag registers: the key "{legacy}" kept its string in a register of that name.
  const replica = storeOf(sim.instance('n1')!).replica!;
  let wrote: boolean | undefined;
  replica.serial(
    new TextEncoder().encode('{legacy}'),
    { kind: 'write', value: new TextEncoder().encode('kept') },
    (o) => {
      wrote = o.ok;
    },
  );
  assert.ok(sim.runUntilCondition(() => wrote !== undefined, 20_000) && wrote, 'the legacy register written');
  c.send('GET', '{legacy}');
  c.send('SET', '{legacy}b', 'x');
  c.send('MGET', '{legacy}', '{legacy}b');
  assert.deepEqual(settle(), ['$kept', '+OK', '*[$kept,$x]']);
});

test("an untagged key at SERIAL holds any type in a register of its own (strings, collections, deadlines in one history); an older build's raw string there is read as the key's string and rewritten as a state by the next write", () => {
  const sim = cluster('serial-untagged');
  const c = new SimRespClient(sim, 'n2');
  const settle = settler(sim, c);
  const enc = (s: string) => new TextEncoder().encode(s);
  const replica = storeOf(sim.instance('n1')!).replica!;
  const serial = (key: string, op: Parameters<typeof replica.serial>[1]): Uint8Array | null => {
    let out: { ok: boolean; current?: Uint8Array | null } | undefined;
    replica.serial(enc(key), op, (o) => {
      out = o.ok ? { ok: true, current: o.current } : { ok: false };
    });
    assert.ok(sim.runUntilCondition(() => out !== undefined, 20_000) && out!.ok, `serial ${op.kind} of ${key}`);
    return out!.current ?? null;
  };
  // What a build before this one left: raw strings in per-key registers, one starting with the
  // state's format byte, one that is a state byte for byte but of another key.
  serial('old:s', { kind: 'write', value: enc('kept') });
  serial('old:one', { kind: 'write', value: new Uint8Array([1, 0x41, 0x42]) });
  const other = encodeTagState(new Map([['elsewhere', { value: { type: 'string', value: enc('x') } }]]))!;
  serial('old:f', { kind: 'write', value: other });
  c.send('GET', 'old:s');
  c.send('TYPE', 'old:s');
  c.send('LPUSH', 'old:s', 'a');
  c.send('BARISTA', 'CAS', 'old:s', 'other', 'x');
  assert.deepEqual(settle(), [
    '$kept',
    '+string',
    '-WRONGTYPE Operation against a key holding the wrong kind of value',
    '*[:0,$kept]',
  ]);
  assert.deepEqual(serial('old:s', { kind: 'read' }), enc('kept'), 'reads and refused writes leave the raw bytes');
  c.send('APPEND', 'old:s', '!');
  c.send('STRLEN', 'old:one');
  c.send('STRLEN', 'old:f');
  c.send('DEL', 'old:one', 'old:f', 'old:none');
  c.send('GET', 'old:one');
  assert.deepEqual(settle(), [':5', ':3', `:${other.length}`, ':2', '_']);
  const rewritten = serial('old:s', { kind: 'read' });
  assert.equal(rewritten?.[0], 1, 'the APPEND wrote a state');
  assert.deepEqual(decodeRegister(enc('old:s'), rewritten).get('old:s')?.value, {
    type: 'string',
    value: enc('kept!'),
  });
  // Every type, a deadline, and a transaction on one untagged key.
  c.send('LPUSH', 'u:k', 'a', 'b');
  c.send('GET', 'u:k');
  c.send('SET', 'u:k', 'v', 'EX', '100');
  c.send('TYPE', 'u:k');
  c.send('TTL', 'u:k');
  c.send('HSET', 'u:k', 'f', '1');
  c.send('SET', 'u:k', 'w');
  c.send('TTL', 'u:k');
  c.send('MULTI');
  c.send('DEL', 'u:k');
  c.send('HSET', 'u:k', 'f', '1');
  c.send('HINCRBY', 'u:k', 'f', '4');
  c.send('EXEC');
  c.send('HGETALL', 'u:k');
  c.send('LMOVE', 'u:l', 'u:l', 'LEFT', 'RIGHT');
  assert.deepEqual(settle(), [
    ':2',
    '-WRONGTYPE Operation against a key holding the wrong kind of value',
    '+OK',
    '+string',
    ':100',
    '-WRONGTYPE Operation against a key holding the wrong kind of value',
    '+OK',
    ':-1',
    '+OK',
    '+QUEUED',
    '+QUEUED',
    '+QUEUED',
    '*[:1,:1,:5]',
    '*[$f,$5]',
    '_',
  ]);
});

test('an untagged key at SERIAL: the empty key, per-key MSET and DEL over several registers (what an error says was written before it), WATCH, a plain SET as one Paxos write, the bounds', () => {
  const sim = cluster('serial-untagged-2');
  const c = new SimRespClient(sim, 'n1');
  const settle = settler(sim, c);
  c.send('SET', '', 'x');
  c.send('GET', '');
  c.send('STRLEN', '');
  c.send('LPUSH', '', 'a');
  c.send('BARISTA', 'CAS', '', 'x', 'y');
  c.send('APPEND', '', 'z');
  c.send('DEL', '');
  c.send('GET', '');
  c.send('MSET', 'pk:a', '1', 'pk:b', '2', '{t}c', '3');
  c.send('UNLINK', 'pk:a', 'pk:none', '{t}c');
  c.send('TOUCH', 'pk:a', 'pk:b', '{t}c');
  c.send('SINTERCARD', '0', 'pk:a');
  c.send('SINTERCARD', '0x1', 'pk:a');
  c.send('LMOVE', 'pk:a', 'pk:b', 'LEFT', 'RIGHT');
  c.send('MSETNX', 'pk:a', '1', 'pk:b', '2');
  c.send('WATCH', 'pk:a', 'pk:b');
  c.send('RPUSH', 'pk:l', ...Array.from({ length: limits.tagStateItemsCountMax + 1 }, (_, i) => `e${i}`));
  const crossslot =
    "-CROSSSLOT Keys in request don't hash to the same slot (at SERIAL, keys run together only when they share a hash tag: {tag}a {tag}b)";
  assert.deepEqual(settle(), [
    '+OK',
    '$x',
    ':1',
    '-WRONGTYPE Operation against a key holding the wrong kind of value',
    '*[:1,$y]',
    ':2',
    ':1',
    '_',
    '+OK',
    ':2',
    ':1',
    '-ERR numkeys should be greater than 0',
    '-ERR numkeys should be greater than 0',
    crossslot,
    crossslot,
    crossslot,
    `-ERR key pk:l would hold ${limits.tagStateItemsCountMax + 1} elements at SERIAL, over the ${limits.tagStateItemsCountMax} one register may hold (tagStateItemsCountMax; not written)`,
  ]);
  // A plain SET of an untagged key is one Paxos write, no read.
  const ops = (kind: string) =>
    ['applied', 'not_applied'].reduce(
      (n, outcome) => n + sim.metrics('n1').value('dynamo_serial_ops_total', { kind, outcome }),
      0,
    );
  const [reads, writes] = [ops('read'), ops('write')];
  c.send('SET', 'pk:one', 'v');
  assert.deepEqual(settle(), ['+OK']);
  assert.deepEqual([ops('read') - reads, ops('write') - writes], [0, 1], 'one write, no read');
  // WATCH of an untagged key: another node's write aborts EXEC.
  const other = new SimRespClient(sim, 'n3');
  c.send('WATCH', 'pk:one');
  assert.deepEqual(settle(), ['+OK']);
  other.send('SET', 'pk:one', 'w');
  assert.ok(sim.runUntilCondition(() => other.settled, 20_000));
  c.send('MULTI');
  c.send('GET', 'pk:one');
  c.send('EXEC');
  c.send('GET', 'pk:one');
  assert.deepEqual(settle(), ['+OK', '+QUEUED', '_', '$w']);
  // n1 and n2 cut from the rest: a key with both among its replicas has a majority on n1's side,
  // a key with at most one does not. A per-key MSET and DEL failing after a first key say so.
  const keys = [...Array(60).keys()].map((i) => `pk:k${i}`);
  for (const k of keys) c.send('BARISTA', 'WHERE', k);
  const where = settle();
  const both = (i: number) => where[i]!.includes('$n1') && where[i]!.includes('$n2');
  const ok = keys.find((_, i) => both(i))!;
  const bad = keys.find((_, i) => !both(i))!;
  assert.ok(ok !== undefined && bad !== undefined, `keys on both sides: ${where.join(' ')}`);
  c.send('SET', ok, '1');
  c.send('SET', bad, '1');
  assert.deepEqual(settle(), ['+OK', '+OK']);
  sim.network.partition([['n1', 'n2'], NODES.filter((n) => n !== 'n1' && n !== 'n2')]);
  sim.runFor(3_000); // the failure detectors see the cut: the far side's replicas are down
  c.send('MSET', ok, '2', bad, '2');
  c.send('DEL', ok, bad);
  c.send('DEL', 'pk:none', bad);
  c.send('GET', ok);
  const [mset, del, delNone, get] = settle();
  assert.match(mset!, /^-UNAVAILABLE .*\(the 1 keys before it were written\)$/, mset);
  assert.match(del!, /^-UNAVAILABLE .*\(the 1 keys before it were deleted\)$/, del);
  assert.match(delNone!, /^-UNAVAILABLE .*\(nothing was written\)$/, `no key deleted before it: ${delNone}`);
  assert.equal(get, '_', 'the DEL of the first key stays');
});

/** LPUSHes from three clients on every node at once onto one untagged key, then a SET over the list: the replies. */
function concurrentPushes(seed: string): { lengths: number[]; after: string[] } {
  const sim = cluster(seed);
  const clients = [...NODES, ...NODES, ...NODES].map((n) => new SimRespClient(sim, n));
  for (let round = 0; round < 3; round++)
    for (const [i, c] of clients.entries()) c.send('LPUSH', 'q', `c${i}r${round}`);
  assert.ok(sim.runUntilCondition(() => clients.every((c) => c.settled), 60_000));
  const lengths = clients
    .flatMap((c) => c.replies.map(show))
    .map((r) => {
      assert.match(r, /^:\d+$/, `LPUSH answered ${r}`);
      return Number(r.slice(1));
    });
  const c = clients[0]!;
  const settle = settler(sim, c);
  settle();
  c.send('SET', 'q', 'over');
  c.send('LPUSH', 'q', 'late');
  c.send('GET', 'q');
  return { lengths, after: settle() };
}

// The register's compare-and-set is tagUpdate's, whose blind-write negative control is the tagged
// transactions' above (a lost update needs a read between another's read and write: with one key
// and no think time the proposers' backoff lines the pushes up, so it does not show here).
test('concurrent LPUSHes onto one untagged key at SERIAL from every node: each answers a length no other answered (one history), and a SET then replaces the list', () => {
  const { lengths, after } = concurrentPushes('serial-untagged-push');
  assert.deepEqual(
    [...lengths].sort((a, b) => a - b),
    lengths.map((_, i) => i + 1),
    'the lengths 1..n, each once',
  );
  assert.deepEqual(after, ['+OK', '-WRONGTYPE Operation against a key holding the wrong kind of value', '$over']);
});

test('SERIAL INCRs on one key from ten connections to one node (run one at a time there: replicated.ts inRegister) answer every count once', () => {
  const sim = cluster('serial-one-node');
  const clients = Array.from({ length: 10 }, () => new SimRespClient(sim, 'n2'));
  for (let i = 0; i < 3; i++) for (const c of clients) c.send('INCR', 'shared');
  assert.ok(sim.runUntilCondition(() => clients.every((c) => c.settled), 60_000));
  const counts = clients.flatMap((c) => c.replies.map(show)).map((r) => Number(r.slice(1)));
  assert.deepEqual(
    [...counts].sort((x, y) => x - y),
    Array.from({ length: 30 }, (_, i) => i + 1),
  );
});

test("past the register's queue bound on a node, a SERIAL command answers -BUSY and writes nothing; the ones queued run in turn", () => {
  const sim = cluster('serial-queue-bound');
  const replicated = storeOf(sim.instance('n2')!).server.replicated!;
  replicated.serialQueuedCountMax = 2; // one running, two waiting
  const clients = Array.from({ length: 6 }, () => new SimRespClient(sim, 'n2'));
  for (const c of clients) c.send('INCR', 'bounded');
  assert.ok(sim.runUntilCondition(() => clients.every((c) => c.settled), 60_000));
  const replies = clients.map((c) => show(c.replies[0]));
  const busy = replies.filter((r) => r.startsWith('-BUSY'));
  assert.equal(busy.length, 3, `three past the bound: ${replies}`);
  for (const r of busy)
    assert.match(
      r,
      /^-BUSY 2 SERIAL operations wait on key bounded on this node, storeSerialQueuedCountMax \(not written\)$/,
    );
  const counts = replies.filter((r) => r.startsWith(':')).sort();
  assert.deepEqual(counts, [':1', ':2', ':3'], 'the three that ran counted once each');
  const check = new SimRespClient(sim, 'n1');
  check.send('GET', 'bounded');
  assert.ok(sim.runUntilCondition(() => check.settled, 20_000));
  assert.equal(show(check.replies[0]), '$3', 'nothing written by the refused ones');
});
