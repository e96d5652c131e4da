// Goal: Redis 7.0 Pub/Sub on the store's RESP front end (pubsub.ts), over simulated client links and
// virtual time: SUBSCRIBE / PSUBSCRIBE confirm each name with the connection's count, PUBLISH
// answers its receivers and delivers `message` / `pmessage` (patterns by Redis' glob), a RESP2
// subscriber may only send (P)(UN)SUBSCRIBE, PING (answered ["pong", arg]), QUIT and RESET (other
// commands get Redis' text) while a RESP3 one may send anything and gets `>` pushes; UNSUBSCRIBE
// with no names drops all; RESET and close drop subscriptions. On a 3-node cluster a PUBLISH on one
// node reaches subscribers on the others; so does an SPUBLISH to shard subscribers (SSUBSCRIBE's
// channels must share a slot there). A subscriber that stops reading is closed at the pubsub
// output limit (client-output-buffer-limit pubsub 32mb 8mb 60) and counted; one that reads is not.
// The peer message codec round-trips and garbage is counted, not thrown.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { limits } from '../../lib/limits.ts';
import type { NodeServices } from '../../node/services.ts';
import type { Simulation } from '../../sim/simulation.ts';
import { simServices } from '../../../test/support/sim-services.ts';
import { ProtocolError } from '../../lib/errors.ts';
import { decodePublish, encodePublish } from './pubsub.ts';
import { storeOf, storeService } from './service.ts';
import { show, SimRespClient } from './sim-client.ts';

const text = (s: string) => new TextEncoder().encode(s);

function node(seed: string, chunking: 'random' | 'whole' = 'random'): Simulation<NodeServices> {
  return simServices({
    seed,
    nodes: ['n1'],
    services: [storeService],
    // Megabyte messages go whole: seven-byte segments would make millions of them.
    clientLinks: chunking === 'random' ? { chunking, chunkBytesMax: 7 } : { chunking },
  });
}

/** Runs until `c` holds at least `count` replies (pushes included). */
function until(sim: Simulation<NodeServices>, c: SimRespClient, count: number): string[] {
  assert.ok(
    sim.runUntilCondition(() => c.replies.length >= count || c.closed !== undefined, 10_000),
    `${count} replies (have ${c.replies.length}: ${c.replies.map(show).join(' ')})`,
  );
  return c.replies.map(show);
}

test('RESP2: subscribe, publish, pattern messages, subscribed-mode restrictions, unsubscribe all', () => {
  const sim = node('pubsub-resp2');
  const sub = new SimRespClient(sim, 'n1');
  const pub = new SimRespClient(sim, 'n1');
  sub.send('SUBSCRIBE', 'news', 'sport');
  sub.send('PSUBSCRIBE', 'h?llo');
  assert.deepEqual(until(sim, sub, 3), [
    '*[$subscribe,$news,:1]',
    '*[$subscribe,$sport,:2]',
    '*[$psubscribe,$h?llo,:3]',
  ]);
  assert.equal(sub.replies[0]!.type, 'array', 'a RESP2 connection gets arrays, not pushes');
  pub.send('PUBLISH', 'news', 'hi');
  pub.send('PUBLISH', 'hello', 'world');
  pub.send('PUBLISH', 'nobody', 'x'); // negative control: no subscriber, no message
  pub.send('PUBSUB', 'NUMSUB', 'news', 'nobody');
  pub.send('PUBSUB', 'NUMPAT');
  pub.send('PUBSUB', 'CHANNELS', 's*');
  assert.deepEqual(until(sim, pub, 6), [':1', ':1', ':0', '*[$news,:1,$nobody,:0]', ':1', '*[$sport]']);
  const info = new SimRespClient(sim, 'n1');
  info.send('INFO', 'stats');
  const stats = until(sim, info, 1)[0]!;
  assert.match(stats, /pubsub_channels:2\r\n/, 'INFO counts the two channels');
  assert.match(stats, /pubsub_patterns:1\r\n/, 'and the pattern');
  sub.send('GET', 'k');
  sub.send('CLIENT', 'ID');
  sub.send('PING');
  sub.send('PING', 'x');
  assert.deepEqual(until(sim, sub, 9).slice(3), [
    '*[$message,$news,$hi]',
    '*[$pmessage,$h?llo,$hello,$world]',
    "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
    "-ERR Can't execute 'client|id': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
    '*[$pong,$]',
    '*[$pong,$x]',
  ]);
  sub.send('UNSUBSCRIBE');
  sub.send('PUNSUBSCRIBE');
  sub.send('PUNSUBSCRIBE');
  sub.send('GET', 'k');
  sub.send('PING');
  assert.deepEqual(until(sim, sub, 15).slice(9), [
    '*[$unsubscribe,$news,:2]',
    '*[$unsubscribe,$sport,:1]',
    '*[$punsubscribe,$h?llo,:0]',
    '*[$punsubscribe,_,:0]',
    '_',
    '+PONG',
  ]);
  pub.send('PUBLISH', 'news', 'gone');
  assert.deepEqual(until(sim, pub, 7).slice(6), [':0']);
});

test('RESP3: pushes, any command allowed while subscribed; RESET and close drop subscriptions', () => {
  const sim = node('pubsub-resp3');
  const sub = new SimRespClient(sim, 'n1');
  const pub = new SimRespClient(sim, 'n1');
  sub.send('HELLO', '3');
  sub.send('SUBSCRIBE', 'c');
  sub.send('SET', 'k', 'v');
  sub.send('PING');
  until(sim, sub, 4);
  assert.deepEqual(sub.replies.slice(1).map(show), ['*[$subscribe,$c,:1]', '+OK', '+PONG']);
  assert.equal(sub.replies[1]!.type, 'push');
  pub.send('PUBLISH', 'c', 'm');
  until(sim, pub, 1);
  until(sim, sub, 5);
  assert.equal(sub.replies[4]!.type, 'push');
  assert.equal(show(sub.replies[4]), '*[$message,$c,$m]');
  sub.send('RESET');
  until(sim, sub, 6);
  pub.send('PUBLISH', 'c', 'after-reset');
  const other = new SimRespClient(sim, 'n1');
  other.send('SUBSCRIBE', 'd');
  until(sim, other, 1);
  other.close();
  assert.ok(sim.runUntilCondition(() => storeOf(sim.instance('n1')!).server.sessions.size === 2, 5_000));
  pub.send('PUBLISH', 'd', 'after-close');
  assert.deepEqual(until(sim, pub, 3).slice(1), [':0', ':0']);
});

test('SUBSCRIBE inside MULTI is refused at EXEC; PUBLISH runs there', () => {
  const sim = node('pubsub-multi');
  const c = new SimRespClient(sim, 'n1');
  c.send('MULTI');
  c.send('SUBSCRIBE', 'x');
  c.send('PUBLISH', 'x', 'y');
  c.send('EXEC');
  assert.deepEqual(until(sim, c, 4), ['+OK', '+QUEUED', '+QUEUED', '*[-ERR this command cannot run inside MULTI,:0]']);
});

const NODES = ['n1', 'n2', 'n3'];

test('a PUBLISH on one node reaches subscribers on every node of a 3-node cluster', () => {
  const sim = simServices({
    seed: 'pubsub-cluster',
    nodes: NODES,
    services: [storeService],
    clientLinks: { chunking: 'random', chunkBytesMax: 9 },
  });
  const subs = NODES.map((id) => {
    const c = new SimRespClient(sim, id);
    c.send('PSUBSCRIBE', 'orders.*');
    return c;
  });
  const bystander = new SimRespClient(sim, 'n3');
  bystander.send('SUBSCRIBE', 'other');
  for (const c of subs) until(sim, c, 1);
  until(sim, bystander, 1);
  const pub = new SimRespClient(sim, 'n1');
  pub.send('PUBLISH', 'orders.1', 'paid');
  // Redis Cluster's count: receivers on the node that ran PUBLISH.
  assert.deepEqual(until(sim, pub, 1), [':1']);
  for (const c of subs) assert.deepEqual(until(sim, c, 2)[1], '*[$pmessage,$orders.*,$orders.1,$paid]');
  sim.runFor(1_000);
  assert.equal(bystander.replies.length, 1, 'a subscriber of another channel got nothing');
  const received = NODES.reduce((n, id) => n + sim.metrics(id).value('store_pubsub_peer_received_total'), 0);
  assert.equal(received, 2, 'one peer message to each other node');
});

test('sharded Pub/Sub on a 3-node cluster: SPUBLISH on one node reaches shard subscribers on every node; CROSSSLOT', () => {
  const sim = simServices({
    seed: 'pubsub-shard-cluster',
    nodes: NODES,
    services: [storeService],
    clientLinks: { chunking: 'random', chunkBytesMax: 9 },
  });
  assert.ok(
    sim.runUntilCondition(() => NODES.every((id) => storeOf(sim.instance(id)!).server.cluster()?.ring.version), 20_000),
    'ring known',
  );
  const subs = NODES.map((id) => {
    const c = new SimRespClient(sim, id);
    c.send('SSUBSCRIBE', 'orders:{user1}', 'mail:{user1}');
    return c;
  });
  const plain = new SimRespClient(sim, 'n2');
  plain.send('SUBSCRIBE', 'orders:{user1}'); // another namespace: sees no SPUBLISH
  for (const c of subs)
    assert.deepEqual(until(sim, c, 2), ['*[$ssubscribe,$orders:{user1},:1]', '*[$ssubscribe,$mail:{user1},:2]']);
  until(sim, plain, 1);
  const pub = new SimRespClient(sim, 'n3');
  pub.send('SPUBLISH', 'orders:{user1}', 'paid');
  pub.send('SSUBSCRIBE', 'a', 'b'); // different slots on a cluster
  pub.send('PUBSUB', 'SHARDNUMSUB', 'orders:{user1}');
  assert.deepEqual(until(sim, pub, 3), [
    ':1',
    "-CROSSSLOT Keys in request don't hash to the same slot",
    '*[$orders:{user1},:1]',
  ]);
  for (const c of subs) assert.equal(until(sim, c, 3)[2], '*[$smessage,$orders:{user1},$paid]');
  sim.runFor(1_000);
  assert.equal(plain.replies.length, 1, 'a SUBSCRIBE to the same name got nothing');
});

test('a subscriber that stops reading is closed at the pubsub hard output limit; a reader is not', () => {
  const sim = node('pubsub-slow', 'whole');
  const slow = new SimRespClient(sim, 'n1');
  const fast = new SimRespClient(sim, 'n1');
  slow.send('SUBSCRIBE', 'big');
  fast.send('SUBSCRIBE', 'big');
  until(sim, slow, 1);
  until(sim, fast, 1);
  slow.conn.pauseReading();
  const pub = new SimRespClient(sim, 'n1');
  const payload = 'x'.repeat(1024 * 1024);
  const count = Math.ceil(limits.storePubsubHardOutputBytesMax / payload.length) + 4;
  for (let i = 0; i < count; i++) {
    pub.send('PUBLISH', 'big', payload);
    until(sim, pub, i + 1);
  }
  // The server closes its end (the bytes already written still flush, after which a paused
  // client sees the FIN): the session is gone and counted.
  const store = storeOf(sim.instance('n1')!);
  assert.equal(store.server.pubsub.stats.slowClosed, 1);
  assert.equal(store.server.pubsub.numsub(text('big')), 1, 'only the reader is still subscribed');
  slow.conn.resumeReading();
  assert.ok(
    sim.runUntilCondition(() => slow.closed !== undefined, 10_000),
    'the slow subscriber sees the close',
  );
  assert.ok(slow.replies.length < count + 1, 'the slow subscriber missed messages');
  until(sim, fast, count + 1);
  assert.equal(fast.closed, undefined, 'the reading subscriber stays connected');
  assert.equal(fast.replies.length, count + 1);
});

test('a subscriber over the soft output limit for the soft period is closed', () => {
  const sim = node('pubsub-soft', 'whole');
  const slow = new SimRespClient(sim, 'n1');
  slow.send('SUBSCRIBE', 'c');
  until(sim, slow, 1);
  slow.conn.pauseReading();
  const pub = new SimRespClient(sim, 'n1');
  const payload = 'y'.repeat(1024 * 1024);
  const count = Math.ceil(limits.storePubsubSoftOutputBytesMax / payload.length) + 1;
  for (let i = 0; i < count; i++) pub.send('PUBLISH', 'c', payload);
  until(sim, pub, count);
  sim.runFor(limits.storePubsubSoftOverMsMax / 2);
  pub.send('PUBLISH', 'c', 'small');
  until(sim, pub, count + 1);
  assert.equal(
    storeOf(sim.instance('n1')!).server.pubsub.stats.slowClosed,
    0,
    'not yet: over for less than the period',
  );
  sim.runFor(limits.storePubsubSoftOverMsMax);
  pub.send('PUBLISH', 'c', 'small');
  until(sim, pub, count + 2);
  assert.equal(storeOf(sim.instance('n1')!).server.pubsub.stats.slowClosed, 1, 'closed after the soft period');
});

test('the peer publish message round-trips; garbage decodes to a protocol error', () => {
  const m = decodePublish(encodePublish(text('ch'), new Uint8Array([0, 255, 13, 10])));
  assert.ok(!(m instanceof ProtocolError));
  assert.deepEqual([...m.channel], [...text('ch')]);
  assert.deepEqual([...m.message], [0, 255, 13, 10]);
  assert.equal(m.kind, 'channel');
  assert.equal(encodePublish(text('ch'), text('x'))[0], 1, 'a PUBLISH goes as version 1, which every node reads');
  const shard = decodePublish(encodePublish(text('ch:{u}'), text('m'), 'shard'));
  assert.ok(!(shard instanceof ProtocolError));
  assert.deepEqual([shard.kind, show({ type: 'bulk', value: shard.channel })], ['shard', '$ch:{u}']);
  for (const bad of [
    new Uint8Array([]),
    new Uint8Array([3, 0, 0]),
    new Uint8Array([2, 2, 0, 0]),
    new Uint8Array([2, 0, 0]),
    new Uint8Array([1, 5, 1]),
    new Uint8Array([1, 0, 0, 9]),
  ])
    assert.ok(decodePublish(bad) instanceof ProtocolError, `${[...bad]}`);
});
