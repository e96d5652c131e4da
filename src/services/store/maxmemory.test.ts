// Goal: maxmemory through the real RESP front end on a simulated node (virtual time, the
// simulator's disk): CONFIG SET/GET with Redis' texts (atomic, duplicate, unknown, bad value),
// -OOM for denyoom commands under noeviction while reads and DEL still run, MULTI refusing to
// queue, INFO's used_memory/maxmemory/evicted_keys/expired_keys; allkeys-lru under a write load
// keeps used_memory under maxmemory (the count checked against a full scan of the engine); the
// active expiry sweep deletes expired keys nobody reads; after a power loss the recount makes
// used_memory exact again within a bounded virtual time; OBJECT IDLETIME / FREQ read the access sketch.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NodeServices } from '../../node/services.ts';
import type { Simulation } from '../../sim/simulation.ts';
import { simServices } from '../../../test/support/sim-services.ts';
import { entryBytes } from '../../redis/memory.ts';
import { storeOf, storeService } from './service.ts';
import { show, SimRespClient } from './sim-client.ts';

const NODE = 'n1';

function node(seed: string, store: Record<string, unknown> = {}): Simulation<NodeServices> {
  return simServices({ seed, nodes: [NODE], services: [storeService], clientLinks: { chunking: 'whole' }, store });
}

function settle(sim: Simulation<NodeServices>, c: SimRespClient): string[] {
  assert.ok(
    sim.runUntilCondition(() => c.settled || c.closed !== undefined, 10_000),
    `replies to ${c.sent} commands`,
  );
  return c.replies.map(show);
}

/** INFO's fields of a fresh request. */
function info(sim: Simulation<NodeServices>, c: SimRespClient): Map<string, string> {
  const before = c.replies.length;
  c.send('INFO', 'everything');
  settle(sim, c);
  const text = show(c.replies[before]!) as string;
  const out = new Map<string, string>();
  for (const line of text.split('\r\n')) {
    const at = line.indexOf(':');
    if (at > 0 && !line.startsWith('#')) out.set(line.slice(0, at).replace(/^[$=]/, ''), line.slice(at + 1));
  }
  return out;
}

/** The stored bytes by a full scan of the node's engine. */
function scanned(sim: Simulation<NodeServices>): number {
  const engine = storeOf(sim.instance(NODE)!).engine;
  let sum = 0;
  let start: Uint8Array | null = new Uint8Array(0);
  while (start !== null) {
    const page = engine.scan({ start, end: null, includeDead: true });
    for (const e of page.entries) sum += entryBytes(e);
    start = page.next;
  }
  return sum;
}

test('CONFIG SET maxmemory & co: Redis texts, atomic; -OOM for writes under noeviction, reads and DEL still run', () => {
  const sim = node('maxmemory-config');
  sim.runFor(2_000); // the first recount pass
  const c = new SimRespClient(sim, NODE);
  c.send('SET', 'a', 'hello');
  c.send('CONFIG', 'SET', 'maxmemory', '100mb', 'maxmemory-policy', 'ALLKEYS-LRU');
  c.send('CONFIG', 'GET', 'maxmemory');
  c.send('CONFIG', 'GET', 'maxmemory-policy');
  c.send('CONFIG', 'SET', 'maxmemory', '2', 'maxmemory-policy', 'bogus');
  c.send('CONFIG', 'GET', 'maxmemory');
  c.send('CONFIG', 'SET', 'maxmemory', '1.5mb');
  c.send('CONFIG', 'SET', 'maxmemory', '1', 'maxmemory', '2');
  c.send('CONFIG', 'SET', 'nosuch', '1');
  c.send('CONFIG', 'SET', 'maxmemory', '1', 'maxmemory-policy');
  c.send('CONFIG', 'SET', 'maxmemory-samples', '0');
  c.send('CONFIG', 'SET', 'appendfsync', 'always');
  c.send('CONFIG', 'SET', 'maxmemory-policy', 'noeviction', 'maxmemory', '1');
  c.send('SET', 'b', 'x');
  c.send('INCR', 'n');
  c.send('GET', 'a');
  c.send('EXPIRE', 'a', '100');
  c.send('MULTI');
  c.send('GET', 'a');
  c.send('EXEC');
  c.send('DEL', 'a');
  c.send('SET', 'b', 'x'); // the data set is empty now: under the bound again
  const r = settle(sim, c);
  const failed = (arg: string, why: string) =>
    `-ERR CONFIG SET failed (possibly related to argument '${arg}') - ${why}`;
  assert.deepEqual(r, [
    '+OK',
    '+OK',
    '*[$maxmemory,$104857600]',
    '*[$maxmemory-policy,$allkeys-lru]',
    failed(
      'maxmemory-policy',
      'argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction',
    ),
    '*[$maxmemory,$104857600]',
    failed('maxmemory', 'argument must be a memory value'),
    failed('maxmemory', 'duplicate parameter'),
    "-ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'",
    '-ERR syntax error',
    failed('maxmemory-samples', 'argument must be between 1 and 64 inclusive'),
    failed('appendfsync', "not settable at run time on Baristas: set it in the node config's store section"),
    '+OK',
    "-OOM command not allowed when used memory > 'maxmemory'.",
    "-OOM command not allowed when used memory > 'maxmemory'.",
    '$hello',
    ':1',
    '+OK',
    "-OOM command not allowed when used memory > 'maxmemory'.",
    '-EXECABORT Transaction discarded because of previous errors.',
    ':1',
    '+OK',
  ]);
  const fields = info(sim, c);
  assert.equal(fields.get('maxmemory'), '1');
  assert.equal(fields.get('maxmemory_policy'), 'noeviction');
  assert.equal(Number(fields.get('used_memory')), scanned(sim));
  assert.equal(fields.get('evicted_keys'), '0');
  assert.ok(Number(fields.get('total_error_replies')) >= 4);
});

test('allkeys-lru under a write load keeps used_memory under maxmemory; the count is the stored bytes', () => {
  const limit = 200_000;
  const sim = node('maxmemory-lru', { maxmemory: limit, maxmemoryPolicy: 'allkeys-lru' });
  sim.runFor(2_000);
  const c = new SimRespClient(sim, NODE);
  const value = 'v'.repeat(200);
  let maxUsed = 0;
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < 100; i++) c.send('SET', `key:${round}:${i}`, value);
    settle(sim, c);
    sim.runFor(1_000); // the LRU clock counts seconds, as Redis'
    maxUsed = Math.max(maxUsed, Number(info(sim, c).get('used_memory')));
  }
  const r = c.replies.map(show).filter((v) => !String(v).startsWith('='));
  assert.ok(
    r.every((v) => v === '+OK' || String(v).startsWith('$')),
    'every SET accepted',
  );
  const fields = info(sim, c);
  const evicted = Number(fields.get('evicted_keys'));
  assert.ok(evicted > 500, `evicted ${evicted} of 2000`);
  assert.ok(maxUsed <= limit + 400, `used_memory peaked at ${maxUsed}`);
  assert.equal(Number(fields.get('used_memory')), scanned(sim));
  c.send('DBSIZE');
  const dbsize = Number(String(settle(sim, c).at(-1)).slice(1));
  assert.equal(dbsize, 2000 - evicted);
  // The newest round is still there (LRU evicts the oldest writes first).
  c.send('EXISTS', ...Array.from({ length: 100 }, (_, i) => `key:19:${i}`));
  assert.equal(settle(sim, c).at(-1), ':100');
});

test('active expiry: keys nobody reads are deleted by the sweep, counted in expired_keys and out of used_memory', () => {
  const sim = node('maxmemory-expiry');
  sim.runFor(2_000);
  const c = new SimRespClient(sim, NODE);
  for (let i = 0; i < 300; i++) c.send('SET', `t:${i}`, 'x'.repeat(50), 'PX', '500');
  c.send('SET', 'stays', 'y');
  c.send('HSET', 'h', 'f', 'v');
  c.send('PEXPIRE', 'h', '500');
  settle(sim, c);
  const before = Number(info(sim, c).get('used_memory'));
  sim.runFor(3_000);
  const fields = info(sim, c);
  assert.equal(fields.get('expired_keys'), '301');
  assert.ok(Number(fields.get('used_memory')) < before / 10, `${fields.get('used_memory')} of ${before}`);
  assert.equal(Number(fields.get('used_memory')), scanned(sim));
});

test('after a power loss used_memory is recounted from the engine within a bounded virtual time', () => {
  const sim = node('maxmemory-restart', { sync: 'always' });
  sim.runFor(2_000);
  const c = new SimRespClient(sim, NODE);
  for (let i = 0; i < 500; i++) c.send('SET', `k:${i}`, 'z'.repeat(i % 100));
  for (let i = 0; i < 50; i++) c.send('RPUSH', 'list', `item:${i}`);
  settle(sim, c);
  const used = Number(info(sim, c).get('used_memory'));
  assert.equal(used, scanned(sim));
  sim.crash(NODE);
  sim.restart(NODE);
  assert.ok(
    sim.runUntilCondition(() => sim.instance(NODE) !== undefined, 5_000),
    'restarted',
  );
  assert.ok(
    sim.runUntilCondition(() => storeOf(sim.instance(NODE)!).server.keyspaceOps.keyspace.account.complete, 5_000),
    'the recount pass completes',
  );
  const r = new SimRespClient(sim, NODE);
  const fields = info(sim, r);
  assert.equal(fields.get('baristas_dataset_counted'), '1');
  assert.equal(Number(fields.get('used_memory')), used);
});

test('OBJECT IDLETIME and FREQ from the access sketch: seconds since the last access, the LFU counter; reading is no access', () => {
  const sim = node('maxmemory-object');
  sim.runFor(2_000);
  const c = new SimRespClient(sim, NODE);
  c.send('OBJECT', 'IDLETIME', 'k');
  c.send('SET', 'k', 'v');
  c.send('OBJECT', 'IDLETIME', 'k');
  c.send('CONFIG', 'SET', 'maxmemory', '100mb', 'maxmemory-policy', 'allkeys-lru');
  c.send('SET', 'k', 'v');
  c.send('SET', 'other', 'v');
  const first = settle(sim, c);
  assert.deepEqual(first.slice(0, 2), ['_', '+OK'], 'no key: nil');
  assert.match(first[2]!, /^-ERR idle time not tracked\. \(Baristas tracks/, 'no maxmemory: not tracked');
  sim.runFor(7_500);
  const d = new SimRespClient(sim, NODE);
  d.send('OBJECT', 'IDLETIME', 'k');
  d.send('OBJECT', 'IDLETIME', 'k'); // reading is not an access
  d.send('GET', 'k');
  d.send('OBJECT', 'IDLETIME', 'k');
  d.send('OBJECT', 'FREQ', 'k');
  d.send('OBJECT', 'REFCOUNT', 'k');
  const r = settle(sim, d);
  assert.ok(['7', '8'].includes(r[0]!.slice(1)), `idle ${r[0]}`);
  assert.equal(r[1], r[0]);
  assert.deepEqual(r.slice(2, 4), ['$v', ':0']);
  assert.match(r[4]!, /^-ERR An LFU maxmemory policy is not selected/);
  assert.equal(r[5], ':1');
  const e = new SimRespClient(sim, NODE);
  e.send('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lfu');
  for (let i = 0; i < 50; i++) e.send('GET', 'k');
  e.send('OBJECT', 'FREQ', 'k');
  e.send('OBJECT', 'FREQ', 'other');
  e.send('OBJECT', 'IDLETIME', 'k');
  const f = settle(sim, e);
  assert.ok(Number(f[51]!.slice(1)) > 5, `50 GETs raise the counter above LFU_INIT_VAL: ${f[51]}`);
  assert.equal(f[52], ':5', 'a key not read since the switch: LFU_INIT_VAL');
  assert.match(f[53]!, /^-ERR An LFU maxmemory policy is selected/);
});
