// Goal: one client, one command at a time, a random mix of string, key, list, set, hash and sorted-set
// commands (the ones N > 1 offers below SERIAL) gets the same replies, byte for byte once
// unordered replies are sorted, from
//   - one node (N = 1): Redis' semantics, the reference;
//   - three nodes at N = 1, each command sent through a random node, so most are forwarded to the
//     key's owner (forward.ts);
//   - three nodes at N = 3 at QUORUM, each command through a random node, in the rows layout and
//     in the whole layout (clusters made before 2026-12-05), and at SERIAL (every command a Paxos
//     round of its key's register).
// Odd seeds speak RESP2, even seeds RESP3.
// Nothing is concurrent and no fault is injected: where the clusters answer otherwise, a client
// would see a difference from Redis that is not a documented trade-off.
// Found on its first run (2026-12-06): through a node that forwards, a RESP2 client got
// ZRANGE ... WITHSCORES and ZPOPMAX key count as nested pairs (the forwarded reply travelled as
// RESP3, where a flat RESP2 array and RESP3 pairs cannot be told apart); the owner now encodes for
// the client's protocol. The clusters' clocks are set equal (EXPIRE's deadlines are absolute), and
// *STORE commands write keys only they write (into a key of another type N > 1 answers an error,
// documented). The same day it found a collection emptied and written again keeping its old
// deadline (Redis deletes an emptied key with its TTL): fixed in typed.ts (shownDeadline).
// Negative controls, run by hand: with the owner encoding RESP3 again, seed 1 fails at step 347
// (ZPOPMAX {t}z1 4 through a forwarding node); with the old deadline kept, seed 2 fails at a
// PERSIST. 8 seeds pass by hand; DIFF_SEEDS=a,b,... runs others.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SeededRng } from '../../src/lib/rng.ts';
import type { NodeServices } from '../../src/node/services.ts';
import { membershipService } from '../../src/services/membership/service.ts';
import { storeOf, storeService } from '../../src/services/store/service.ts';
import { show, SimRespClient } from '../../src/services/store/sim-client.ts';
import type { RespValue } from '../../src/wire/resp/index.ts';
import type { Simulation } from '../../src/sim/simulation.ts';
import { simServices } from '../support/sim-services.ts';

const STEPS = 500;
/** DIFF_TRACE=key prints every step that names the key, per subject: its node, the reference's reply and its own. */
const trace = process.env['DIFF_TRACE'];

function cluster(
  seed: string,
  nodes: readonly string[],
  replicas: number,
  collections: 'whole' | 'rows' = 'rows',
  consistency = 'QUORUM',
): Simulation<NodeServices> {
  const sim = simServices({
    seed,
    nodes,
    services: [membershipService, storeService],
    store: { consistency, replication: { replicas, antiEntropyIntervalMs: 0, collections } },
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
    () => ['LPOS', k(), m(), 'RANK', rng.pick(['1', '-1', '2']), 'COUNT', n()],
    () => ['ZLEXCOUNT', k(), '-', '+'],
    () => ['ZRANGEBYLEX', k(), rng.pick(['[x', '(w', '-']), rng.pick(['[z', '(y', '+'])],
    () => ['ZREMRANGEBYLEX', k(), rng.pick(['[x', '-']), rng.pick(['(z', '+'])],
    () => ['ZDIFF', '2', k(), k(), 'WITHSCORES'],
    () => ['ZINTER', '2', k(), k(), 'WITHSCORES'],
    () => ['ZUNION', '2', k(), k(), 'WEIGHTS', '2', '1'],
    () => ['ZINTERCARD', '2', k(), k()],
    () => ['ZRANGESTORE', '{t}zd', k(), '0', i()],
    () => ['SDIFFSTORE', '{t}sd', k(), k()],
    () => ['SET', k(), m(), 'EX', '100'],
    () => ['GETEX', k(), 'EX', '200'],
    () => ['TOUCH', k(), k()],
    () => ['DECR', k()],
    () => ['LINSERT', k(), 'BEFORE', m(), m()],
    () => ['ZMPOP', '2', k(), k(), rng.pick(['MIN', 'MAX']), 'COUNT', n()],
    () => ['HKEYS', k()],
    () => ['ZSCAN', k(), '0'],
    () => ['SSCAN', k(), '0'],
    () => ['HSCAN', k(), '0'],
  ];
  const form = rng.pick(forms);
  family = familyOf(form()[0]!); // a first call names the command; the second draws its keys
  return form();
}

/** Commands whose reply is a set: compared sorted. */
const UNORDERED = new Set(['SMEMBERS', 'HGETALL', 'HKEYS', 'HVALS', 'SINTER', 'SUNION', 'SDIFF']);

/** A reply as `show` writes it, a RESP3 set as `~[...]`; a set's or map's elements sorted for UNORDERED commands. */
function shownSorted(name: string, v: RespValue | undefined): string {
  const shown = v?.type === 'set' ? `~${show(v).slice(1)}` : show(v);
  if (!UNORDERED.has(name)) return shown;
  const open = shown.slice(0, 2);
  if (open !== '*[' && open !== '~[' && open !== '%{') return shown;
  return `${open}${shown.slice(2, -1).split(',').sort().join(',')}${shown.at(-1)}`;
}

/** TTLs a second apart: the clusters' virtual clocks run apart by what each command took. */
/**
 * TTLs alike: within a second, plus the virtual time one setup has spent beyond the other since
 * the steps began (a replicated command takes round trips where the reference's take none: seed 45
 * set a TTL 300 steps before reading it, and the rows setup's clock had run 2 s further).
 */
function ttlAlike(name: string, a: string, b: string, driftMs: number): boolean {
  if (name !== 'TTL' || !/^:\d+$/.test(a) || !/^:\d+$/.test(b)) return false;
  return Math.abs(Number(a.slice(1)) - Number(b.slice(1))) <= 1 + Math.ceil(Math.abs(driftMs) / 1000);
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
  return shownSorted(cmd[0]!, c.replies.at(-1));
}

for (const seed of (process.env['DIFF_SEEDS'] ?? '1,2,3,4').split(',')) {
  // Odd seeds speak RESP2, even ones RESP3 (HELLO 3 on every connection first).
  const protocol = Number(seed) % 2 === 0 ? 3 : 2;
  test(`seed ${seed}, RESP${protocol}: random commands answer alike on one node, three nodes at N = 1 (forwarded) and three at N = 3 (rows and whole at QUORUM, SERIAL)`, () => {
    const three = ['n1', 'n2', 'n3'];
    const reference = subject('one node', cluster(`diff-ref-${seed}`, ['n1'], 1), ['n1']);
    const others = [
      subject('N = 1 on 3 nodes', cluster(`diff-n1-${seed}`, three, 1), three),
      subject('N = 3 rows', cluster(`diff-n3-${seed}`, three, 3), three),
      subject('N = 3 whole', cluster(`diff-n3w-${seed}`, three, 3, 'whole'), three),
      subject('N = 3 SERIAL', cluster(`diff-n3s-${seed}`, three, 3, 'rows', 'SERIAL'), three),
    ];
    if (protocol === 3) {
      for (const s of [reference, ...others]) {
        for (let at = 0; at < s.clients.length; at++)
          assert.match(ask(s, at, ['HELLO', '3']), /^%\{/, `${s.name} HELLO 3`);
      }
    }
    const rng = new SeededRng(`diff-${seed}`);
    const history: string[] = [];
    const started = new Map([reference, ...others].map((x) => [x, x.sim.nowMs] as const));
    const elapsed = (x: Subject) => x.sim.nowMs - started.get(x)!;
    for (let i = 0; i < STEPS; i++) {
      const cmd = gen(rng);
      history.push(cmd.join(' '));
      const want = ask(reference, 0, cmd);
      for (const s of others) {
        const at = rng.int(3);
        const got = ask(s, at, cmd);
        if (trace !== undefined && cmd.includes(trace))
          console.log(`${i} ${s.name} via n${(at % 3) + 1}: ${cmd.join(' ')} => ${want} / ${got}`);
        if (got !== want && !ttlAlike(cmd[0]!, want, got, elapsed(s) - elapsed(reference)))
          assert.fail(
            `step ${i} ${s.name}: ${cmd.join(' ')}\n  want ${want}\n  got  ${got}\n  before: ${history.slice(-100, -1).join(' | ')}`,
          );
      }
    }
    const errors = reference.clients[0]!.replies.filter((r) => r.type === 'error').length;
    // Not a degenerate run (seed 108 has exactly half its commands answer an error: WRONGTYPE and
    // syntax errors are a fair share of what the generator makes).
    assert.ok(errors < STEPS * 0.6, `mostly commands that run (${errors} errors of ${STEPS})`);
  });
}
