// Goal: one client, one command at a time, a random mix of string, key, list, set, hash and sorted-set
// commands (the ones N > 1 offers below SERIAL) gets the same replies, byte for byte once
// unordered replies are sorted, from
//   - one node (N = 1): Redis' semantics, the reference;
//   - three nodes at N = 1, each command sent through a random node, so most are forwarded to the
//     key's owner (forward.ts);
//   - three nodes at N = 3 in the rows layout at QUORUM, each command through a random node.
// Nothing is concurrent and no fault is injected: where the clusters answer otherwise, a client
// would see a difference from Redis that is not a documented trade-off.
// Found on its first run (2026-12-06): through a node that forwards, a RESP2 client got
// ZRANGE ... WITHSCORES and ZPOPMAX key count as nested pairs (the forwarded reply travelled as
// RESP3, where a flat RESP2 array and RESP3 pairs cannot be told apart); the owner now encodes for
// the client's protocol. The clusters' clocks are set equal (EXPIRE's deadlines are absolute), and
// *STORE commands write keys only they write (into a key of another type N > 1 answers an error,
// documented). Negative control, run by hand: with the owner encoding RESP3 again, seed 1 fails
// at step 65 (ZPOPMAX {t}z2 2 through a forwarding node). 12 seeds pass by hand;
// DIFF_SEEDS=a,b,... runs others.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SeededRng } from '../../src/lib/rng.ts';
import type { NodeServices } from '../../src/node/services.ts';
import { membershipService } from '../../src/services/membership/service.ts';
import { storeOf, storeService } from '../../src/services/store/service.ts';
import { show, SimRespClient } from '../../src/services/store/sim-client.ts';
import type { Simulation } from '../../src/sim/simulation.ts';
import { simServices } from '../support/sim-services.ts';

const STEPS = 500;

function cluster(seed: string, nodes: readonly string[], replicas: number): Simulation<NodeServices> {
  const sim = simServices({
    seed,
    nodes,
    services: [membershipService, storeService],
    store: { consistency: 'QUORUM', replication: { replicas, antiEntropyIntervalMs: 0, collections: 'rows' } },
  });
  assert.ok(
    sim.runUntilCondition(() => nodes.every((id) => (storeOf(sim.instance(id)!).ring.ring.version ?? 0) > 0), 20_000),
    'ring',
  );
  // The simulator starts each node's wall clock days apart; deadlines (EXPIRE) are absolute, so
  // replicas would disagree on what expired. Set equal, as NTP keeps a real cluster's.
  const wall = (id: string) => sim.instance(id)!.env.clock.wallMs();
  const base = wall(nodes[0]!);
  for (const id of nodes) sim.setClock(id, { skewMs: base - (wall(id) - sim.clock(id).skewMs) });
  sim.runFor(2_000);
  return sim;
}

/** Three keys of one hash tag: multi-key commands stay on one owner at N = 1 (no CROSSSLOT). */
/**
 * Keys of one hash tag (multi-key commands stay on one owner at N = 1: no CROSSSLOT), a few per
 * type: a command takes a key of its own type six times in seven, any key otherwise (WRONGTYPE).
 */
const POOLS: Record<string, readonly string[]> = {
  string: ['{t}s1', '{t}s2'],
  list: ['{t}l1', '{t}l2'],
  set: ['{t}S1', '{t}S2'],
  hash: ['{t}h1', '{t}h2'],
  zset: ['{t}z1', '{t}z2'],
};
const ALL_KEYS = Object.values(POOLS).flat();

function familyOf(name: string): string {
  if (/^(L|R)(PUSH|POP|RANGE|INDEX|LEN|SET|REM|INSERT|TRIM|POS|MOVE|MPOP)|^RPOPLPUSH|^LPUSHX|^RPUSHX/.test(name))
    return 'list';
  if (name.startsWith('Z')) return 'zset';
  if (name.startsWith('H')) return 'hash';
  if (name.startsWith('S') && !['SET', 'SETNX', 'SETRANGE', 'STRLEN'].includes(name)) return 'set';
  return 'string';
}

const M = ['x', 'y', 'z', 'w'];
function gen(rng: SeededRng): string[] {
  let family = 'string';
  const k = () => (rng.int(7) === 0 ? rng.pick(ALL_KEYS) : rng.pick(POOLS[family]!));
  const m = () => rng.pick(M);
  const i = () => String(rng.int(7) - 3);
  const n = () => String(rng.int(5));
  const forms: (() => string[])[] = [
    () => ['SET', k(), m()],
    () => ['GET', k()],
    () => ['INCR', k()],
    () => ['APPEND', k(), m()],
    () => ['DEL', k()],
    () => ['EXISTS', k()],
    () => ['TYPE', k()],
    () => ['LPUSH', k(), m(), m()],
    () => ['RPUSH', k(), m()],
    () => ['LPOP', k()],
    () => ['RPOP', k()],
    () => ['LPOP', k(), n()],
    () => ['LRANGE', k(), i(), i()],
    () => ['LINDEX', k(), i()],
    () => ['LLEN', k()],
    () => ['LSET', k(), i(), m()],
    () => ['LREM', k(), i(), m()],
    () => ['LINSERT', k(), rng.pick(['BEFORE', 'AFTER']), m(), m()],
    () => ['LTRIM', k(), i(), i()],
    () => ['LPOS', k(), m()],
    () => ['LMOVE', k(), k(), rng.pick(['LEFT', 'RIGHT']), rng.pick(['LEFT', 'RIGHT'])],
    () => ['SADD', k(), m(), m()],
    () => ['SREM', k(), m()],
    () => ['SCARD', k()],
    () => ['SISMEMBER', k(), m()],
    () => ['SMEMBERS', k()],
    () => ['SMOVE', k(), k(), m()],
    () => ['HSET', k(), m(), m()],
    () => ['HDEL', k(), m()],
    () => ['HGET', k(), m()],
    () => ['HLEN', k()],
    () => ['HINCRBY', k(), m(), i()],
    () => ['HGETALL', k()],
    () => ['HKEYS', k()],
    () => ['ZADD', k(), i(), m()],
    () => ['ZINCRBY', k(), i(), m()],
    () => ['ZREM', k(), m()],
    () => ['ZRANGE', k(), i(), i(), 'WITHSCORES'],
    () => ['ZREVRANGE', k(), i(), i()],
    () => ['ZRANK', k(), m()],
    () => ['ZSCORE', k(), m()],
    () => ['ZCARD', k()],
    () => ['ZPOPMIN', k()],
    () => ['ZRANGEBYSCORE', k(), i(), i()],
    () => ['ZCOUNT', k(), i(), i()],
    () => ['EXPIRE', k(), '100'],
    () => ['TTL', k()],
    () => ['PERSIST', k()],
    () => ['RENAME', k(), k()],
    () => ['GETSET', k(), m()],
    () => ['GETDEL', k()],
    () => ['SETRANGE', k(), n(), m()],
    () => ['GETRANGE', k(), i(), i()],
    () => ['STRLEN', k()],
    () => ['INCRBYFLOAT', k(), '1.5'],
    () => ['DECRBY', k(), i()],
    () => ['MSET', k(), m(), k(), m()],
    () => ['MGET', k(), k()],
    () => ['HSETNX', k(), m(), m()],
    () => ['HMGET', k(), m(), m()],
    () => ['HSTRLEN', k(), m()],
    () => ['HEXISTS', k(), m()],
    () => ['HVALS', k()],
    () => ['HINCRBYFLOAT', k(), m(), '0.5'],
    () => ['SINTER', k(), k()],
    () => ['SUNION', k(), k()],
    () => ['SDIFF', k(), k()],
    // *STORE into a key of another type answers an error at N > 1 (documented: Redis replaces
    // it), so destinations are keys only these commands write.
    () => ['SINTERSTORE', '{t}sd', k(), k()],
    () => ['SUNIONSTORE', '{t}sd', k(), k()],
    () => ['SMEMBERS', '{t}sd'],
    () => ['SMISMEMBER', k(), m(), m()],
    () => ['SINTERCARD', '2', k(), k()],
    () => ['ZADD', k(), rng.pick(['NX', 'XX', 'GT', 'LT', 'CH']), i(), m()],
    () => ['ZADD', k(), 'INCR', i(), m()],
    () => ['ZRANGE', k(), i(), i(), 'BYSCORE', 'REV'],
    () => ['ZRANGE', k(), '0', '-1', 'BYSCORE', 'LIMIT', n(), n()],
    () => ['ZRANGEBYLEX', k(), '-', '+'],
    () => ['ZREMRANGEBYRANK', k(), i(), i()],
    () => ['ZREMRANGEBYSCORE', k(), i(), i()],
    () => ['ZMSCORE', k(), m(), m()],
    () => ['ZUNIONSTORE', '{t}zd', '2', k(), k()],
    () => ['ZINTERSTORE', '{t}zd', '2', k(), k(), 'AGGREGATE', 'MAX'],
    () => ['ZRANGE', '{t}zd', '0', '-1', 'WITHSCORES'],
    () => ['ZPOPMAX', k(), n()],
    () => ['ZREVRANK', k(), m()],
    () => ['LMPOP', '2', k(), k(), rng.pick(['LEFT', 'RIGHT']), 'COUNT', n()],
    () => ['RPOPLPUSH', k(), k()],
    () => ['LPUSHX', k(), m()],
    () => ['RPUSHX', k(), m()],
    () => ['RPOP', k(), n()],
    () => ['COPY', k(), k()],
    () => ['RENAMENX', k(), k()],
    () => ['PEXPIRE', k(), '50000', rng.pick(['NX', 'XX', 'GT', 'LT'])],
    () => ['GETEX', k(), 'PERSIST'],
    () => ['UNLINK', k(), k()],
  ];
  const form = rng.pick(forms);
  family = familyOf(form()[0]!); // a first call names the command; the second draws its keys
  return form();
}

/** Commands whose reply is a set: compared sorted. */
const UNORDERED = new Set(['SMEMBERS', 'HGETALL', 'HKEYS', 'HVALS', 'SINTER', 'SUNION', 'SDIFF']);

function sorted(name: string, shown: string): string {
  if (!UNORDERED.has(name) || !shown.startsWith('*[')) return shown;
  return `*[${shown.slice(2, -1).split(',').sort().join(',')}]`;
}

interface Subject {
  readonly name: string;
  readonly sim: Simulation<NodeServices>;
  readonly clients: SimRespClient[];
}

function subject(name: string, sim: Simulation<NodeServices>, nodes: readonly string[]): Subject {
  return { name, sim, clients: nodes.map((id) => new SimRespClient(sim, id)) };
}

/** Sends `cmd` through client `at` (modulo the subject's nodes) and returns its reply, shown. */
function ask(s: Subject, at: number, cmd: readonly string[]): string {
  const c = s.clients[at % s.clients.length]!;
  c.send(...cmd);
  assert.ok(
    s.sim.runUntilCondition(() => c.settled || c.closed !== undefined, 20_000),
    `${s.name} answers ${cmd.join(' ')}`,
  );
  return sorted(cmd[0]!, show(c.replies.at(-1)));
}

for (const seed of (process.env['DIFF_SEEDS'] ?? '1,2,3,4').split(',')) {
  test(`seed ${seed}: random commands answer alike on one node, three nodes at N = 1 (forwarded) and three at N = 3 (rows, QUORUM)`, () => {
    const three = ['n1', 'n2', 'n3'];
    const reference = subject('one node', cluster(`diff-ref-${seed}`, ['n1'], 1), ['n1']);
    const others = [
      subject('N = 1 on 3 nodes', cluster(`diff-n1-${seed}`, three, 1), three),
      subject('N = 3 rows', cluster(`diff-n3-${seed}`, three, 3), three),
    ];
    const rng = new SeededRng(`diff-${seed}`);
    const history: string[] = [];
    for (let i = 0; i < STEPS; i++) {
      const cmd = gen(rng);
      history.push(cmd.join(' '));
      const want = ask(reference, 0, cmd);
      for (const s of others) {
        const got = ask(s, rng.int(3), cmd);
        if (got !== want)
          assert.fail(
            `step ${i} ${s.name}: ${cmd.join(' ')}\n  want ${want}\n  got  ${got}\n  before: ${history.slice(-100, -1).join(' | ')}`,
          );
      }
    }
    const errors = reference.clients[0]!.replies.filter((r) => r.type === 'error').length;
    assert.ok(errors < STEPS / 2, `mostly commands that run (${errors} errors of ${STEPS})`);
  });
}
