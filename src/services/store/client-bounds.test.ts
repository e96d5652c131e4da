// Goal: what one connection asks a node to hold for it is bounded in bytes, not only in count (an
// audit, 2026-12-07: each of these held up to 10,000 entries of 16 MiB, or a million keys, per
// connection): WATCHed keys (storeWatchedKeysBytesMax; a key longer than the engine stores is
// not kept: no write can touch it), subscribed channel and pattern names
// (storePubsubSubscriptionsBytesMax), the keys blocked pops wait on (storeBlockedKeysCountMax at
// N = 1, storeCollectionKeysCountMax per command at N > 1), and a connection's name and library
// strings (storeClientNameBytesMax). Each refusal is an error reply and the connection goes on;
// each bound is checked at its edge (one more byte or key is refused, the bound itself is not).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { limits } from '../../lib/limits.ts';
import { simServices } from '../../../test/support/sim-services.ts';
import { replicatedCluster } from '../../../test/support/replicated-cluster.ts';
import { storeOf, storeService } from './service.ts';
import { runCommands, show, SimRespClient } from './sim-client.ts';

const one = (seed: string) =>
  simServices({ seed, nodes: ['n1'], services: [storeService], clientLinks: { chunking: 'whole' } });
const x = (n: number, c = 'k') => c.repeat(n);

test('WATCH: keys past storeWatchedKeysBytesMax are refused, keys longer than the engine stores are not kept', () => {
  const sim = one('bounds-watch');
  const key = x(limits.lsmKeyBytesMax);
  const fit = Math.floor(limits.storeWatchedKeysBytesMax / key.length);
  const keys = Array.from({ length: fit }, (_, i) => `${i}`.padEnd(key.length, 'k'));
  const replies = runCommands(sim, 'n1', [
    ['WATCH', ...keys],
    ['WATCH', `${fit}`.padEnd(key.length, 'k')],
    // Longer than any stored key: accepted, not kept (the bytes held do not move).
    ['WATCH', x(limits.lsmKeyBytesMax + 1, 'z'), x(2 * 1024 * 1024, 'y')],
    ['UNWATCH'],
    ['WATCH', `${fit}`.padEnd(key.length, 'k')],
    ['CLIENT', 'SETNAME', 'still-here'],
  ]);
  assert.equal(replies[0], '+OK');
  assert.match(replies[1]!, /^-ERR too many WATCHed keys \(.*storeWatchedKeysBytesMax/);
  assert.deepEqual(replies.slice(2), ['+OK', '+OK', '+OK', '+OK'], 'UNWATCH gave the bytes back');
});

test('SUBSCRIBE and PSUBSCRIBE: names past storePubsubSubscriptionsBytesMax are refused, UNSUBSCRIBE gives their bytes back', () => {
  const sim = one('bounds-pubsub');
  const name = (i: number) => `${i}`.padEnd(1024 * 1024, 'c');
  const fit = limits.storePubsubSubscriptionsBytesMax / (1024 * 1024);
  // A subscribing connection gets a reply per name: counted by hand.
  const c = new SimRespClient(sim, 'n1');
  c.send('SUBSCRIBE', ...Array.from({ length: fit }, (_, i) => name(i)));
  c.send('PSUBSCRIBE', name(fit));
  c.send('UNSUBSCRIBE', name(0));
  c.send('PSUBSCRIBE', name(fit));
  assert.ok(sim.runUntilCondition(() => c.replies.length >= fit + 3 || c.closed !== undefined, 20_000));
  const replies = c.replies.map(show);
  assert.equal(replies.length, fit + 3);
  const errors = replies.filter((r) => r.startsWith('-'));
  assert.equal(errors.length, 1, replies.map((r) => r.slice(0, 40)).join(' | '));
  assert.match(replies[fit]!, /^-ERR too many subscriptions \(.*storePubsubSubscriptionsBytesMax/);
  assert.match(replies[fit + 2]!, /^\*\[\$psubscribe,/, 'UNSUBSCRIBE gave the bytes back');
});

test('blocking pops: past storeBlockedKeysCountMax keys at N = 1 are refused; at N > 1 past storeCollectionKeysCountMax per command', () => {
  const sim = one('bounds-blocked');
  const keys = (n: number) => Array.from({ length: n }, (_, i) => `b${i}`);
  // A million keys: written as RESP by hand (an argument list that long overflows a spread).
  const c = new SimRespClient(sim, 'n1');
  const args = [...keys(limits.storeBlockedKeysCountMax + 1), '0.01'];
  c.sendRaw(`*${args.length + 1}\r\n$5\r\nBLPOP\r\n${args.map((k) => `$${k.length}\r\n${k}\r\n`).join('')}`, 1);
  c.send('BLPOP', ...keys(10), '0.01');
  assert.ok(sim.runUntilCondition(() => c.settled, 20_000));
  assert.deepEqual(c.replies.map(show), ['-ERR too many blocked keys (storeBlockedKeysCountMax)', '_']);
  const cluster = replicatedCluster('bounds-blocked-n3', ['n1', 'n2', 'n3'], 3, {
    consistency: 'QUORUM',
    replication: { antiEntropyIntervalMs: 0, collections: 'rows' },
  });
  const [many, few] = runCommands(cluster, 'n1', [
    ['BLPOP', ...keys(limits.storeCollectionKeysCountMax + 1), '0.01'],
    ['BLPOP', ...keys(limits.storeCollectionKeysCountMax), '0.01'],
  ]);
  assert.match(many!, /^-ERR \d+ keys in one command, max \d+ at N > 1/);
  assert.equal(few, '_');
});

test('CLIENT SETNAME, SETINFO and HELLO SETNAME: longer than storeClientNameBytesMax is refused', () => {
  const sim = one('bounds-names');
  const at = x(limits.storeClientNameBytesMax, 'n');
  const over = `${at}n`;
  const replies = runCommands(sim, 'n1', [
    ['CLIENT', 'SETNAME', at],
    ['CLIENT', 'SETNAME', over],
    ['CLIENT', 'SETINFO', 'lib-name', over],
    ['CLIENT', 'SETINFO', 'lib-ver', at],
    ['HELLO', '2', 'SETNAME', over],
    ['CLIENT', 'GETNAME'],
  ]);
  assert.equal(replies[0], '+OK');
  for (const r of [replies[1], replies[2], replies[4]]) assert.match(r!, /^-ERR .*storeClientNameBytesMax/);
  assert.equal(replies[3], '+OK');
  assert.equal(replies[5], `$${at}`);
});

test('WATCH at N > 1 (SERIAL): the keys and the values seen past storeWatchedValuesBytesMax are refused; UNWATCH gives them back', () => {
  const cluster = replicatedCluster('bounds-watch-n3', ['n1', 'n2', 'n3'], 3, {
    consistency: 'SERIAL',
    replication: { antiEntropyIntervalMs: 0 },
  });
  // One register holds a hash tag's keys together (about 1 MiB), but WATCH keeps each value as
  // first seen: SET, WATCH, DEL key after key kept them all (the audit's case).
  const value = x(512 * 1024, 'v');
  const fit = Math.floor(limits.storeWatchedValuesBytesMax / (value.length + 8));
  const key = (i: number) => `{t}${String(i).padStart(4, '0')}`;
  const c = new SimRespClient(cluster, 'n1');
  const watchAt: number[] = [];
  for (let i = 0; i <= fit; i++) {
    c.send('SET', key(i), value);
    watchAt.push(c.send('WATCH', key(i)));
    c.send('DEL', key(i));
  }
  c.send('UNWATCH');
  c.send('SET', key(fit), value);
  const last = c.send('WATCH', key(fit));
  assert.ok(cluster.runUntilCondition(() => c.settled || c.closed !== undefined, 300_000));
  const replies = c.replies.map(show);
  assert.ok(watchAt.slice(0, fit).every((at) => replies[at] === '+OK'));
  assert.match(replies[watchAt[fit]!]!, /^-ERR too many WATCHed keys \(.*storeWatchedValuesBytesMax/);
  assert.equal(replies[last], '+OK', 'UNWATCH gave the bytes back');
});

test('requests held behind a blocked one are bounded in bytes (clientInflightRequestBytesMax): the rest wait unread, and all answer once it returns', () => {
  // An audit, 2026-12-07: behind a BLPOP a connection could park 1,023 requests of 64 MiB.
  const sim = one('bounds-held');
  const c = new SimRespClient(sim, 'n1');
  c.send('BLPOP', 'q', '0');
  const value = x(1024 * 1024, 'v');
  const count = Math.ceil(limits.clientInflightRequestBytesMax / value.length) + 20;
  for (let i = 0; i < count; i++) c.send('SET', `k${i}`, value);
  sim.runFor(2_000);
  const session = [...storeOf(sim.instance('n1')!).server.sessions.values()].find(
    (s) => (s.output?.inflightRequestBytes ?? 0) > 0,
  );
  const held = session?.output?.inflightRequestBytes ?? 0;
  assert.ok(held >= limits.clientInflightRequestBytesMax, `requests up to the bound taken (${held})`);
  assert.ok(held <= limits.clientInflightRequestBytesMax + value.length + 1024, `and no more (${held})`);
  assert.deepEqual(runCommands(sim, 'n1', [['RPUSH', 'q', 'job']]), [':1']);
  assert.ok(sim.runUntilCondition(() => c.settled || c.closed !== undefined, 60_000));
  assert.equal(show(c.replies[0]!), '*[$q,$job]');
  assert.ok(c.replies.slice(1).every((r) => show(r) === '+OK'));
  assert.equal(c.replies.length, count + 1);
});

test("MULTI's queue prices each argument beside its bytes: many empty arguments reach storeMultiQueuedBytesMax", () => {
  // An audit, 2026-12-07: a DEL of a million empty keys was 3 bytes of arguments toward the bound,
  // and ~190 MB of heap.
  const sim = one('bounds-multi');
  const keys = 100_000; // 6.4 MB priced each
  const fit = Math.floor(limits.storeMultiQueuedBytesMax / ((keys + 1) * 64 + 3));
  const c = new SimRespClient(sim, 'n1');
  c.send('MULTI');
  const del = `*${keys + 1}\r\n$3\r\nDEL\r\n${'$0\r\n\r\n'.repeat(keys)}`;
  for (let i = 0; i <= fit; i++) c.sendRaw(del, 1);
  c.send('EXEC');
  assert.ok(sim.runUntilCondition(() => c.settled || c.closed !== undefined, 60_000));
  const replies = c.replies.map(show);
  assert.equal(replies[0], '+OK');
  assert.ok(replies.slice(1, fit + 1).every((r) => r === '+QUEUED'));
  assert.match(replies[fit + 1]!, /^-ERR MULTI queue over its bound/);
  assert.match(replies[fit + 2]!, /^-EXECABORT/);
});

test("the RESP listener's memory bound (maxmemory-clients) counts a MULTI queue: the client holding the most is evicted, the others served", () => {
  const bound = 8 * 1024 * 1024;
  const sim = simServices({
    seed: 'bounds-client-memory',
    nodes: ['n1'],
    services: [storeService],
    clientLinks: { chunking: 'whole' },
    store: { listen: { resp: { memoryBytesMax: bound } } },
  });
  const closed = () =>
    sim.metrics('n1').value('client_connections_closed_total', { protocol: 'resp', reason: 'client_memory' });
  const other = new SimRespClient(sim, 'n1');
  other.send('SET', 'k', 'v');
  const big = new SimRespClient(sim, 'n1');
  big.send('MULTI');
  const value = x(1024 * 1024, 'v');
  for (let i = 0; i < 7; i++) big.send('SET', `q${i}`, value); // 7 MiB queued: within the bound
  assert.ok(sim.runUntilCondition(() => big.replies.length === 8 && other.replies.length === 1, 20_000));
  assert.ok(big.replies.slice(1).every((r) => show(r) === '+QUEUED'));
  assert.equal(closed(), 0);
  big.send('SET', 'q7', value);
  big.send('SET', 'q8', value); // 9 MiB queued: past it
  assert.ok(
    sim.runUntilCondition(() => big.closed !== undefined, 20_000),
    'the queueing client is evicted',
  );
  assert.equal(closed(), 1);
  assert.ok(sim.metrics('n1').value('client_memory_bytes', { protocol: 'resp' }) <= bound);
  assert.deepEqual(
    runCommands(sim, 'n1', [
      ['EXISTS', 'q0'],
      ['GET', 'k'],
    ]),
    [':0', '$v'],
    'nothing queued ran',
  );
  other.send('GET', 'k');
  assert.ok(sim.runUntilCondition(() => other.replies.length === 2, 20_000));
  assert.equal(show(other.replies[1]!), '$v', 'the other client stays');
  const [info, config] = runCommands(sim, 'n1', [
    ['INFO', 'stats'],
    ['CONFIG', 'GET', 'maxmemory-clients'],
  ]);
  assert.match(info!, /evicted_clients:1\r\n/);
  assert.equal(config, `*[$maxmemory-clients,$${bound}]`);
});
