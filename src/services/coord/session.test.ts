// Goal: the ZooKeeper front end over simulated client connections (byte-chunked links, virtual
// time, the real service code on a 3-node cluster): a session is created through the log and
// resumed on another node with its password (a wrong one is told "expired"); writes through a
// follower are answered with their zxid and read back in order on the same session; a watch
// event reaches the stream before the reply that reflects its change; an abandoned session
// expires (its ephemeral gone, as seen from another node) while a pinging one does not; a client
// that has seen a zxid the node has not applied is refused; garbage closes only its connection;
// the four-letter words answer behind the whitelist.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CreateMode, EventType, OpCode, ZkErr } from '../../coord/codes.ts';
import type { Env } from '../../env/types.ts';
import { limits } from '../../lib/limits.ts';
import { mutationsFrom } from '../../lib/mutations.ts';
import { attachRaftInvariants } from '../../node/sim-raft-invariants.ts';
import { registeredServices } from '../../node/registry.ts';
import type { NodeServices } from '../../node/services.ts';
import { SimulationFailure } from '../../sim/failure.ts';
import type { Simulation } from '../../sim/simulation.ts';
import { simServices } from '../../../test/support/sim-services.ts';
import { coordOf, coordService } from './service.ts';
import { CoordStateMachine } from './state-machine.ts';
import { SimZkClient } from './sim-client.ts';
import { ZnodeTree } from '../../coord/tree.ts';

const ids = ['n1', 'n2', 'n3'];
const enc = new TextEncoder();
const dec = new TextDecoder();
const openAcl = [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }];

function cluster(seed: string, coord: Record<string, unknown> = {}): Simulation<NodeServices> {
  return simServices({
    seed,
    nodes: ids,
    clientLinks: { chunking: 'random', chunkBytesMax: 7 },
    coord: { tickTimeMs: 200, fourLetterWords: ['ruok', 'srvr'], ...coord },
  });
}

function leaderOf(sim: Simulation<NodeServices>): string | undefined {
  return ids.find((id) => {
    const node = sim.instance(id);
    return (
      node !== undefined &&
      coordOf(node).backend.runtime.leaderInContact &&
      node.groups.get('coord')?.status().role === 'leader'
    );
  });
}

function connected(sim: Simulation<NodeServices>, node: string, timeOutMs = 4000): SimZkClient {
  const c = new SimZkClient(sim, node);
  c.sendConnect({ timeOutMs });
  assert.ok(
    sim.runUntilCondition(() => c.session() !== undefined, 5_000),
    `connected to ${node}`,
  );
  return c;
}

function answered(sim: Simulation<NodeServices>, c: SimZkClient, xid: number) {
  assert.ok(
    sim.runUntilCondition(() => c.reply(xid) !== undefined, 5_000),
    `reply to ${xid}`,
  );
  return c.reply(xid)!;
}

function ready(
  seed: string,
  coord: Record<string, unknown> = {},
): { sim: Simulation<NodeServices>; leader: string; follower: string } {
  const sim = cluster(seed, coord);
  assert.ok(
    sim.runUntilCondition(() => leaderOf(sim) !== undefined, 10_000),
    'a coord leader',
  );
  const leader = leaderOf(sim)!;
  return { sim, leader, follower: ids.find((i) => i !== leader)! };
}

test('sessions: created through the log, resumed on another node by password, refused with the wrong one', () => {
  const { sim, leader, follower } = ready('zk-sessions');
  const a = connected(sim, follower, 1000);
  const s = a.session()!;
  assert.ok(s.sessionId > 0n);
  assert.equal(s.timeOutMs, 1000, 'within [2, 20] ticks of 200 ms');
  const xid = a.send({
    type: OpCode.create,
    path: '/e',
    data: enc.encode('x'),
    acl: openAcl,
    flags: CreateMode.ephemeral,
  });
  const created = answered(sim, a, xid);
  assert.equal(created.header.err, ZkErr.ok);
  assert.ok(created.header.zxid > 0n);
  a.close();

  const b = new SimZkClient(sim, leader);
  b.sendConnect({ resume: s, lastZxidSeen: created.header.zxid });
  assert.ok(sim.runUntilCondition(() => b.session() !== undefined, 5_000));
  assert.equal(b.session()!.sessionId, s.sessionId, 'the same session on another node');
  assert.equal(b.session()!.timeOutMs, 1000);

  const wrong = new SimZkClient(sim, leader);
  wrong.sendConnect({ resume: { ...s, passwd: new Uint8Array(16) } });
  assert.ok(sim.runUntilCondition(() => wrong.closed !== undefined, 5_000));
  assert.equal(wrong.session()?.timeOutMs, 0, 'timeOut 0: the client reads it as session expired');
});

test('per-session FIFO through a follower; a watch event precedes the reply that reflects its change', () => {
  const { sim, follower } = ready('zk-fifo');
  const a = connected(sim, follower);
  const other = connected(sim, ids.find((i) => i !== follower)!);
  const c1 = a.send({ type: OpCode.create, path: '/f', data: enc.encode('1'), acl: openAcl, flags: 0 });
  const s1 = a.send({ type: OpCode.setData, path: '/f', data: enc.encode('2'), version: 0 });
  const g1 = a.send({ type: OpCode.getData, path: '/f', watch: true });
  const r = answered(sim, a, g1);
  assert.equal(answered(sim, a, c1).header.err, ZkErr.ok);
  assert.equal(answered(sim, a, s1).header.err, ZkErr.ok);
  assert.ok(r.body !== null && r.body.type === OpCode.getData);
  assert.equal(dec.decode(r.body.data ?? new Uint8Array()), '2', 'the read sees the session earlier writes');
  assert.ok(r.header.zxid >= a.reply(s1)!.header.zxid, 'zxids never go back for a session');

  // Another session changes /f; a's next read must come after the event in a's stream.
  const s2 = other.send({ type: OpCode.setData, path: '/f', data: enc.encode('3'), version: -1 });
  answered(sim, other, s2);
  const g2 = a.send({ type: OpCode.sync, path: '/f' });
  const g3 = a.send({ type: OpCode.getData, path: '/f', watch: false });
  const r3 = answered(sim, a, g3);
  answered(sim, a, g2);
  assert.ok(r3.body !== null && r3.body.type === OpCode.getData);
  assert.equal(dec.decode(r3.body.data ?? new Uint8Array()), '3');
  const events = a.notifications();
  assert.equal(events.length, 1, 'one-shot');
  assert.deepEqual([events[0]!.event.type, events[0]!.event.path], [EventType.nodeDataChanged, '/f']);
  assert.ok(a.stream.indexOf(events[0]!) < a.indexOfReply(g3), 'the event before the reply that shows the change');
});

test('an abandoned session expires and its ephemeral goes; a pinging one stays', () => {
  const { sim, follower, leader } = ready('zk-expiry');
  const quiet = connected(sim, follower, 800);
  const busy = connected(sim, follower, 800);
  const x1 = quiet.send({
    type: OpCode.create,
    path: '/quiet',
    data: new Uint8Array(),
    acl: openAcl,
    flags: CreateMode.ephemeral,
  });
  const x2 = busy.send({
    type: OpCode.create,
    path: '/busy',
    data: new Uint8Array(),
    acl: openAcl,
    flags: CreateMode.ephemeral,
  });
  answered(sim, quiet, x1);
  answered(sim, busy, x2);
  quiet.conn.reset(); // the client vanished: no closeSession, no more pings
  const watcher = connected(sim, leader);
  for (let t = 0; t < 20; t++) {
    busy.send({ type: OpCode.ping });
    sim.runFor(200);
  }
  const q = watcher.send({ type: OpCode.exists, path: '/quiet', watch: false });
  const b = watcher.send({ type: OpCode.exists, path: '/busy', watch: false });
  assert.equal(answered(sim, watcher, q).header.err, ZkErr.noNode, 'expired: its ephemeral is gone');
  assert.equal(answered(sim, watcher, b).header.err, ZkErr.ok, 'kept alive by pings through a follower');
  assert.equal(busy.closed, undefined);
});

test('a client ahead of the node is refused; garbage closes its own connection only; 4lw behind the whitelist', () => {
  const { sim, leader } = ready('zk-edges');
  const ahead = new SimZkClient(sim, leader);
  ahead.sendConnect({ lastZxidSeen: 1_000_000n });
  assert.ok(sim.runUntilCondition(() => ahead.closed !== undefined, 5_000));
  assert.equal(ahead.session(), undefined, 'closed without an answer, as ZooKeeper does');

  const good = connected(sim, leader);
  const junk = new SimZkClient(sim, leader);
  junk.conn.write(Uint8Array.of(0xff, 0xff, 0xff, 0xf0, 1, 2, 3));
  assert.ok(
    sim.runUntilCondition(() => junk.closed !== undefined, 5_000),
    'a negative frame length closes it',
  );
  const p = good.send({ type: OpCode.exists, path: '/', watch: false });
  assert.equal(answered(sim, good, p).header.err, ZkErr.ok, 'the other connection is unaffected');
  // A known opcode whose body does not decode: MarshallingError, and the connection goes on.
  const bad = good.sendRaw(OpCode.create, Uint8Array.of(0, 0, 0, 9, 47));
  assert.equal(answered(sim, good, bad).header.err, ZkErr.marshallingError);
  const p2 = good.send({ type: OpCode.exists, path: '/', watch: false });
  assert.equal(answered(sim, good, p2).header.err, ZkErr.ok);
  // An opcode ZooKeeper does not serve: Unimplemented with zxid -1, then the close.
  const unknown = good.sendRaw(999, new Uint8Array(0));
  const u = answered(sim, good, unknown);
  assert.deepEqual([u.header.err, u.header.zxid], [ZkErr.unimplemented, -1n]);
  assert.ok(sim.runUntilCondition(() => good.closed !== undefined, 5_000));

  const ruok = new SimZkClient(sim, leader);
  ruok.sendFourLetter('ruok');
  assert.ok(sim.runUntilCondition(() => ruok.closed !== undefined, 5_000));
  assert.equal(ruok.text, 'imok');
  const mntr = new SimZkClient(sim, leader);
  mntr.sendFourLetter('mntr');
  assert.ok(sim.runUntilCondition(() => mntr.closed !== undefined, 5_000));
  assert.equal(mntr.text, 'mntr is not executed because it is not in the whitelist.\n');
});

test('a node cut off from its leader closes its clients and refuses new ones; healed, it serves again', () => {
  const { sim, follower } = ready('zk-leader-lost', { leaderLostCloseMs: 1000 });
  const a = connected(sim, follower, 4000);
  const cut = sim.network.isolate(follower);
  assert.ok(
    sim.runUntilCondition(() => a.closed !== undefined, 5_000),
    'closed within the bound (plus election time)',
  );
  const refused = new SimZkClient(sim, follower);
  refused.sendConnect();
  assert.ok(sim.runUntilCondition(() => refused.closed !== undefined, 2_000));
  assert.equal(refused.session(), undefined);
  cut.heal();
  assert.ok(
    sim.runUntilCondition(() => coordOf(sim.instance(follower)!).runtime.leaderInContact, 5_000),
    'in contact again',
  );
  const back = new SimZkClient(sim, follower);
  back.sendConnect({ resume: a.session()! });
  assert.ok(sim.runUntilCondition(() => back.session() !== undefined, 5_000));
  assert.equal(back.session()!.sessionId, a.session()!.sessionId, 'its session outlived the cut (timeout 4 s)');
});

test('the other opcodes: whoAmI, getEphemerals, getAllChildrenNumber, addWatch, check/removeWatches, setWatches, multiRead, TTL gate', () => {
  const { sim, leader, follower } = ready('zk-ops', { containerCheckIntervalMs: 500 });
  const a = connected(sim, follower);
  const b = connected(sim, leader);
  const send = (c: SimZkClient, body: Parameters<SimZkClient['send']>[0]) => answered(sim, c, c.send(body));
  assert.equal(
    send(a, { type: OpCode.create, path: '/p', data: new Uint8Array(), acl: openAcl, flags: 0 }).header.err,
    0,
  );
  send(a, { type: OpCode.create, path: '/p/e1', data: new Uint8Array(), acl: openAcl, flags: CreateMode.ephemeral });
  send(a, { type: OpCode.create, path: '/p/e2', data: new Uint8Array(), acl: openAcl, flags: CreateMode.ephemeral });
  send(a, { type: OpCode.auth, authType: 0, scheme: 'digest', auth: enc.encode('bob:pw') });

  const who = send(a, { type: OpCode.whoAmI });
  assert.ok(who.body?.type === OpCode.whoAmI);
  // ZooKeeper's hash-set order (javaHashSetOrder), whatever the order they were added in.
  const infos = who.body.clientInfo ?? [];
  assert.deepEqual(infos.map((i) => i.authScheme).sort(), ['digest', 'ip']);
  assert.equal(infos.find((i) => i.authScheme === 'digest')?.user, 'bob');
  const eph = send(a, { type: OpCode.getEphemerals, prefixPath: '/p' });
  assert.ok(eph.body?.type === OpCode.getEphemerals);
  assert.deepEqual(eph.body.ephemerals, ['/p/e1', '/p/e2']);
  const count = send(a, { type: OpCode.getAllChildrenNumber, path: '/p' });
  assert.ok(count.body?.type === OpCode.getAllChildrenNumber);
  assert.equal(count.body.totalNumber, 2);

  // A recursive watch on /p through b sees a's changes below it; removing it is checked by type.
  assert.equal(send(b, { type: OpCode.addWatch, path: '/p', mode: 1 }).header.err, 0);
  assert.equal(send(b, { type: OpCode.checkWatches, path: '/p', watcherType: 2 }).header.err, 0);
  assert.equal(send(b, { type: OpCode.checkWatches, path: '/p', watcherType: 1 }).header.err, ZkErr.noWatcher);
  send(a, { type: OpCode.setData, path: '/p/e1', data: enc.encode('z'), version: -1 });
  assert.ok(sim.runUntilCondition(() => b.notifications().length === 1, 5_000));
  assert.deepEqual(
    [b.notifications()[0]!.event.type, b.notifications()[0]!.event.path],
    [EventType.nodeDataChanged, '/p/e1'],
  );
  assert.equal(send(b, { type: OpCode.removeWatches, path: '/p', watcherType: 3 }).header.err, 0);
  assert.equal(send(b, { type: OpCode.removeWatches, path: '/p', watcherType: 3 }).header.err, ZkErr.noWatcher);

  // setWatches after a "reconnect": the data changed since relativeZxid fires at once, before the reply.
  const before = send(b, { type: OpCode.exists, path: '/p/e2', watch: false }).header.zxid;
  send(a, { type: OpCode.setData, path: '/p/e2', data: enc.encode('w'), version: -1 });
  sim.runFor(100);
  const sw = b.send({
    type: OpCode.setWatches,
    relativeZxid: before,
    dataWatches: ['/p/e2', '/p/e1'],
    existWatches: ['/nope'],
    childWatches: [],
  });
  answered(sim, b, sw);
  const fired = b.notifications().slice(1);
  assert.deepEqual(
    fired.map((n) => [n.event.type, n.event.path]),
    [[EventType.nodeDataChanged, '/p/e2']],
  );
  assert.ok(b.stream.indexOf(fired[0]!) < b.indexOfReply(sw));

  const mr = send(a, {
    type: OpCode.multiRead,
    ops: [
      { type: OpCode.getData, path: '/p/e1', watch: false },
      { type: OpCode.getChildren, path: '/p', watch: false },
      { type: OpCode.getData, path: '/none', watch: false },
    ],
  });
  assert.ok(mr.body?.type === OpCode.multiRead);
  assert.deepEqual(
    mr.body.results.map((r) => r.type),
    [OpCode.getData, OpCode.getChildren, OpCode.error],
  );

  const ttl = send(a, {
    type: OpCode.createTTL,
    path: '/t',
    data: new Uint8Array(),
    acl: openAcl,
    flags: 5,
    ttl: 1000n,
  });
  assert.equal(ttl.header.err, ZkErr.unimplemented, 'TTL nodes are off unless extendedTypesEnabled');

  // A container goes once its last child does (the leader's cleanup).
  const container = send(a, {
    type: OpCode.createContainer,
    path: '/c',
    data: new Uint8Array(),
    acl: openAcl,
    flags: CreateMode.container,
  });
  assert.ok(container.header.err === 0 && container.body?.type === OpCode.createContainer);
  assert.equal(
    send(a, { type: OpCode.create, path: '/c/x', data: new Uint8Array(), acl: openAcl, flags: 0 }).header.err,
    0,
  );
  sim.runFor(1000);
  assert.notEqual(
    coordOf(sim.instance(leader)!).state.znodes.tree.record('/c'),
    undefined,
    'kept while it has a child',
  );
  send(a, { type: OpCode.delete, path: '/c/x', version: -1 });
  assert.ok(
    sim.runUntilCondition(() => coordOf(sim.instance(leader)!).state.znodes.tree.record('/c') === undefined, 5_000),
    'the empty container was deleted',
  );
});

test("a watch event goes only to a connection with READ on the node at the change, the watch used up either way; a multi's op refused at the door fails in its place (ZooKeeper 3.8)", () => {
  const { sim, leader, follower } = ready('zk-watch-acl');
  const a = connected(sim, follower);
  const b = connected(sim, leader);
  const send = (c: SimZkClient, body: Parameters<SimZkClient['send']>[0]) => answered(sim, c, c.send(body));
  const noRead = [{ perms: 0b11110, id: { scheme: 'world', id: 'anyone' } }];
  const create = (path: string, acl = openAcl) =>
    send(a, { type: OpCode.create, path, data: new Uint8Array(), acl, flags: 0 }).header.err;
  assert.equal(create('/w'), ZkErr.ok);
  assert.equal(create('/w/hidden', noRead), ZkErr.ok);
  // b watches /w/hidden (exists needs no READ), /w/open's creation and /w's children.
  for (const path of ['/w/hidden', '/w/open']) send(b, { type: OpCode.exists, path, watch: true });
  send(b, { type: OpCode.getChildren, path: '/w', watch: true });
  send(a, { type: OpCode.setData, path: '/w/hidden', data: enc.encode('x'), version: -1 });
  assert.equal(create('/w/open'), ZkErr.ok);
  send(b, { type: OpCode.sync, path: '/w' });
  const heard = () => b.notifications().map((n) => `${n.event.type} ${n.event.path}`);
  // Not NodeDataChanged of /w/hidden: b cannot read it. /w's children changed (READ on /w).
  assert.deepEqual(heard(), [`${EventType.nodeCreated} /w/open`, `${EventType.nodeChildrenChanged} /w`]);
  // The hidden node's watch was used up: readable now, a change still fires nothing.
  send(a, { type: OpCode.setACL, path: '/w/hidden', acl: openAcl, version: -1 });
  send(a, { type: OpCode.setData, path: '/w/hidden', data: enc.encode('y'), version: -1 });
  send(b, { type: OpCode.sync, path: '/w' });
  assert.equal(heard().length, 2);

  // A TTL create inside a multi (extended types off): the ops before it are checked first.
  const multi = (ops: NonNullable<Parameters<SimZkClient['send']>[0]> & { type: typeof OpCode.multi }) =>
    send(a, ops).body;
  const ttl = { type: OpCode.createTTL, path: '/w/t', data: new Uint8Array(), acl: openAcl, flags: 5, ttl: 1000n };
  const r1 = multi({ type: OpCode.multi, ops: [{ type: OpCode.delete, path: '/w', version: -1 }, ttl] });
  const r2 = multi({ type: OpCode.multi, ops: [{ type: OpCode.check, path: '/w', version: -1 }, ttl, ttl] });
  const errs = (r: typeof r1) => (r?.type === OpCode.multi ? r.results.map((x) => (x as { err?: number }).err) : r);
  assert.deepEqual(errs(r1), [ZkErr.notEmpty, ZkErr.runtimeInconsistency]);
  assert.deepEqual(errs(r2), [ZkErr.ok, ZkErr.unimplemented, ZkErr.runtimeInconsistency]);
  assert.equal(send(a, { type: OpCode.exists, path: '/w/t', watch: false }).header.err, ZkErr.noNode);
});

test('a follower that installs a snapshot disconnects its clients, whose setWatches then fires what they missed', () => {
  const sim = simServices({
    seed: 'zk-snapshot',
    nodes: ids,
    raft: { snapshotEveryEntries: 20, snapshotRetainEntries: 2 },
    coord: { tickTimeMs: 200, leaderLostCloseMs: 600_000 },
  });
  assert.ok(sim.runUntilCondition(() => leaderOf(sim) !== undefined, 10_000));
  const leader = leaderOf(sim)!;
  const follower = ids.find((i) => i !== leader)!;
  const w = connected(sim, leader, 8000);
  answered(sim, w, w.send({ type: OpCode.create, path: '/x', data: enc.encode('0'), acl: openAcl, flags: 0 }));
  const a = connected(sim, follower, 8000);
  const g = answered(sim, a, a.send({ type: OpCode.getData, path: '/x', watch: true }));
  assert.equal(g.header.err, ZkErr.ok);
  const cut = sim.network.isolate(follower);
  answered(sim, w, w.send({ type: OpCode.setData, path: '/x', data: enc.encode('1'), version: -1 }));
  for (let i = 0; i < 60; i++)
    w.send({ type: OpCode.create, path: `/fill${i}`, data: new Uint8Array(), acl: openAcl, flags: 0 });
  assert.ok(
    sim.runUntilCondition(() => w.stream.length >= 63, 10_000),
    'the fill writes committed',
  );
  cut.heal();
  assert.ok(
    sim.runUntilCondition(() => a.closed !== undefined, 10_000),
    'disconnected by the snapshot install',
  );
  assert.equal(a.notifications().length, 0, 'no event could fire for the skipped entries');
  const again = new SimZkClient(sim, follower);
  again.sendConnect({ resume: a.session()!, lastZxidSeen: g.header.zxid });
  assert.ok(sim.runUntilCondition(() => again.session() !== undefined, 5_000));
  const sw = again.send({
    type: OpCode.setWatches,
    relativeZxid: g.header.zxid,
    dataWatches: ['/x'],
    existWatches: [],
    childWatches: [],
  });
  answered(sim, again, sw);
  assert.deepEqual(
    again.notifications().map((n) => [n.event.type, n.event.path]),
    [[EventType.nodeDataChanged, '/x']],
  );
});

test("the tree's bounds are answered at the door (BadArguments, AuthFailed), and the connection keeps serving", () => {
  const { sim, follower } = ready('zk-bounds');
  const a = connected(sim, follower);
  const send = (body: Parameters<SimZkClient['send']>[0]) => answered(sim, a, a.send(body));
  const manyChecks = Array.from({ length: limits.coordMultiOpsMax + 1 }, () => ({
    type: OpCode.check,
    path: '/',
    version: -1,
  }));
  assert.equal(send({ type: OpCode.multi, ops: manyChecks } as never).header.err, ZkErr.badArguments);
  const bigAcl = Array.from({ length: limits.coordAclEntriesMax + 1 }, (_, i) => ({
    perms: 31,
    id: { scheme: 'digest', id: `u${i}:x` },
  }));
  const create = (path: string, acl: typeof openAcl) =>
    send({ type: OpCode.create, path, data: new Uint8Array(), acl, flags: 0 }).header.err;
  assert.equal(create('/big-acl', bigAcl), ZkErr.badArguments);
  // addauth past the identities a write may carry: the extra ones are refused (AuthFailed), so
  // the connection keeps the ip identity plus bound − 2 digests (a place stays for `super`).
  for (let i = 0; i < limits.coordIdentityEntriesMax + 2; i++)
    send({ type: OpCode.auth, authType: 0, scheme: 'digest', auth: enc.encode(`u${i}:pw`) });
  const who = send({ type: OpCode.whoAmI });
  assert.ok(who.body?.type === OpCode.whoAmI);
  const digests = (who.body.clientInfo ?? []).filter((i) => i.authScheme === 'digest').length;
  assert.equal(digests, limits.coordIdentityEntriesMax - 2);
  assert.equal(create('/after', openAcl), ZkErr.ok, 'writes still go through');
});

test('an auth ACL expanding past coordAclEntriesMax answers InvalidACL, and an identity past coordIdentityBytesMax AuthFailed: the writes after still go through (an audit, 2026-12-07)', () => {
  const { sim, follower } = ready('zk-identity-bounds');
  const a = connected(sim, follower);
  const send = (body: Parameters<SimZkClient['send']>[0]) => answered(sim, a, a.send(body));
  // Auth replies all carry xid -4: what each did is read from whoAmI, answered after it in order.
  const addauth = (auth: Uint8Array): number => {
    a.send({ type: OpCode.auth, authType: 0, scheme: 'digest', auth });
    const who = send({ type: OpCode.whoAmI });
    assert.ok(who.body?.type === OpCode.whoAmI);
    return (who.body.clientInfo ?? []).filter((i) => i.authScheme === 'digest').length;
  };
  // Two user names of a million 0xFF bytes (each decodes to U+FFFD, 3 bytes): unbounded, every
  // later write carried 6 MB of identities, past raftEntryBytesMax, and the session's writes
  // closed its connection. Refused (AuthFailed), they leave no identity.
  const huge = (c: number) => Uint8Array.from([...new Uint8Array(1_000_000).fill(c), ...enc.encode(':pw')]);
  assert.equal(addauth(huge(0xff)), 0);
  assert.equal(addauth(huge(0xfe)), 0);
  assert.equal(addauth(enc.encode('u1:p1')), 1);
  assert.equal(addauth(enc.encode('u2:p2')), 2);
  const create = (path: string, acl: typeof openAcl) =>
    send({ type: OpCode.create, path, data: new Uint8Array(), acl, flags: 0 }).header.err;
  assert.equal(create('/after-auth', openAcl), ZkErr.ok, 'writes go through');
  // An `auth` entry stands for both digests: 1,023 entries and it store 1,025 (the snapshot
  // loader refused the tree after); 1,022 and it store the bound exactly.
  const digests = (n: number) =>
    Array.from({ length: n }, (_, i) => ({ perms: 31, id: { scheme: 'digest', id: `x${i}:h` } }));
  const auth = { perms: 31, id: { scheme: 'auth', id: '' } };
  assert.equal(create('/acl-over', [...digests(limits.coordAclEntriesMax - 1), auth]), ZkErr.invalidACL);
  assert.equal(create('/acl-at', [...digests(limits.coordAclEntriesMax - 2), auth]), ZkErr.ok);
  const acl = send({ type: OpCode.getACL, path: '/acl-at' });
  assert.ok(acl.body?.type === OpCode.getACL);
  assert.equal(acl.body.acl?.length, limits.coordAclEntriesMax);
});

/** A cluster whose coord group takes and installs snapshots `nodesPerSlice` znodes per slice, often. */
function slicedCluster(
  seed: string,
  nodesPerSlice: number,
  raft: Record<string, number> = {},
  mutations: readonly string[] = [],
): Simulation<NodeServices> {
  const sliced = {
    ...coordService,
    raftGroups: coordService.raftGroups.map((g) => ({
      ...g,
      namespace: {
        ...g.namespace!,
        create: (env: Pick<Env, 'mutations' | 'metrics'>) =>
          new CoordStateMachine(env.mutations, {}, { snapshotSliceNodes: nodesPerSlice }),
      },
    })),
  };
  return simServices({
    seed,
    nodes: ids,
    // Snapshot files written 512 bytes a turn, so the file write goes in slices too.
    raft: { snapshotEveryEntries: 40, snapshotRetainEntries: 2, snapshotWriteSliceBytes: 512, ...raft },
    coord: { tickTimeMs: 200, leaderLostCloseMs: 600_000 },
    services: registeredServices.map((s) => (s === coordService ? sliced : s)),
    ...(mutations.length === 0 ? {} : { mutations: mutationsFrom([...mutations]) }),
  });
}

test('a snapshot taken in slices: writes, reads and pings are answered between slices; a follower restores it', () => {
  // The coord group with 2 znodes per slice (a real node: limits.coordSnapshotSliceNodesMax), so a
  // snapshot of ~50 znodes takes ~25 slices, each a turn of the node's event loop.
  const sim = slicedCluster('zk-sliced-snapshot', 2);
  assert.ok(sim.runUntilCondition(() => leaderOf(sim) !== undefined, 10_000));
  const leader = leaderOf(sim)!;
  const follower = ids.find((i) => i !== leader)!;
  const w = connected(sim, leader, 8000);
  const r = connected(sim, leader, 8000);
  const slices = () => sim.metrics(leader).value('raft_snapshot_slices_total', { group: 'coord' });
  const snapshots = () => sim.metrics(leader).value('raft_snapshots_total', { group: 'coord' });
  const taking = () => sim.instance(leader)!.groups.get('coord')!.snapshotting;
  // One create and one read per step, each step run until both are answered: a create sent while
  // the leader takes a snapshot in slices and answered before that snapshot is saved was applied
  // meanwhile (the tree's frozen view: applies are not held).
  let answeredWhileTaking = 0;
  for (let i = 0; i < 60; i++) {
    const [takingAtSend, savedAtSend] = [taking(), snapshots()];
    const cx = w.send({ type: OpCode.create, path: `/s${i}`, data: enc.encode(`v${i}`), acl: openAcl, flags: 0 });
    const rx = r.send({ type: OpCode.exists, path: '/s0', watch: false });
    let createAnsweredWhileTaking = false;
    assert.ok(
      sim.runUntilCondition(() => {
        if (w.reply(cx) === undefined) return false;
        createAnsweredWhileTaking ||= takingAtSend && snapshots() === savedAtSend;
        return r.reply(rx) !== undefined;
      }, 1_000),
      `create ${i} and its read answered within a second`,
    );
    if (createAnsweredWhileTaking) answeredWhileTaking++;
  }
  assert.ok(slices() >= 20, `the snapshot went in slices: ${slices()}`);
  assert.ok(snapshots() >= 1, 'a snapshot was saved');
  const writeSlices = sim.metrics(leader).value('raft_snapshot_write_slices_total', { group: 'coord' });
  assert.ok(writeSlices >= 2, `its file was written in slices: ${writeSlices}`);
  assert.ok(answeredWhileTaking > 0, `creates answered while a snapshot was being taken: ${answeredWhileTaking}`);
  // A follower cut off past the snapshot gets it (installs the sliced image) and holds every znode.
  const cut = sim.network.isolate(follower);
  for (let i = 60; i < 110; i++) {
    w.send({ type: OpCode.create, path: `/s${i}`, data: enc.encode(`v${i}`), acl: openAcl, flags: 0 });
  }
  assert.ok(
    sim.runUntilCondition(() => w.stream.length >= 111, 20_000),
    'the later creates committed',
  );
  cut.heal();
  const tree = () => coordOf(sim.instance(follower)!).state.znodes.tree;
  assert.ok(
    sim.runUntilCondition(() => tree().record('/s109') !== undefined, 20_000),
    'the follower caught up',
  );
  const leaderTree = coordOf(sim.instance(leader)!).state.znodes.tree;
  for (let i = 0; i < 110; i++) assert.deepEqual(tree().record(`/s${i}`), leaderTree.record(`/s${i}`), `/s${i}`);
});

/**
 * Creates on a cluster that snapshots in slices (2 znodes each, the file 512 bytes a turn) until
 * the leader has saved `snapshots` snapshots, every event watched on every node: how many events
 * took an image's last slice and also wrote (the first slice of) its file.
 */
function fileSlicesInImageTurn(mutations: readonly string[], snapshots: number): { both: number; saved: number } {
  const sim = slicedCluster('zk-snapshot-file-next-turn', 2, {}, mutations);
  const coord = { group: 'coord' };
  const counts = (id: string) => {
    const m = sim.metrics(id);
    return {
      image: m.value('raft_snapshot_slices_total', coord),
      file: m.value('raft_snapshot_write_slices_total', coord) + m.value('raft_snapshots_total', coord),
    };
  };
  const before = new Map(ids.map((id) => [id, counts(id)]));
  let both = 0;
  sim.addInvariant('snapshot-file-after-image-turn', () => {
    for (const id of ids) {
      const now = counts(id);
      const was = before.get(id)!;
      if (now.image > was.image && now.file > was.file) both++;
      before.set(id, now);
    }
    return undefined;
  });
  assert.ok(sim.runUntilCondition(() => leaderOf(sim) !== undefined, 10_000));
  const leader = leaderOf(sim)!;
  const w = connected(sim, leader, 8000);
  const saved = () => sim.metrics(leader).value('raft_snapshots_total', coord);
  for (let i = 0; i < 400 && saved() < snapshots; i++) {
    answered(
      sim,
      w,
      w.send({ type: OpCode.create, path: `/t${i}`, data: enc.encode(`v${i}`), acl: openAcl, flags: 0 }),
    );
  }
  return { both, saved: saved() };
}

test("a snapshot's file is written from the turn after the image's last slice, never in it", (t) => {
  const ok = fileSlicesInImageTurn([], 3);
  assert.ok(ok.saved >= 3, `the leader saved snapshots: ${ok.saved}`);
  assert.equal(ok.both, 0, 'no event took the last image slice and a file slice');
  // Negative control: the planted bug starts the file in the last slice's turn, and every
  // snapshot (on every node) shows it.
  const bug = fileSlicesInImageTurn(['raft-snapshot-file-same-turn'], 3);
  assert.ok(bug.saved >= 3, `the leader saved snapshots: ${bug.saved}`);
  assert.ok(bug.both >= 3, `events with both under the planted bug: ${bug.both}`);
  t.diagnostic(JSON.stringify({ ok, bug }));
});

/**
 * Writes /z0../z{count-1} in multis of `perMulti`, then 50 setData of /z0: more than
 * snapshotEveryEntries entries after the multis, and waits until the leader has saved a snapshot
 * past them (it is taken in slices while the setData go on), so its log no longer has them.
 */
function writeZnodes(sim: Simulation<NodeServices>, w: SimZkClient, count: number, perMulti: number): void {
  let lastMulti = 0;
  for (let m = 0; m < count / perMulti; m++) {
    const ops = Array.from({ length: perMulti }, (_, i) => ({
      type: OpCode.create,
      path: `/z${m * perMulti + i}`,
      data: enc.encode(`v${m * perMulti + i}`),
      acl: openAcl,
      flags: 0,
    }));
    lastMulti = Number(answered(sim, w, w.send({ type: OpCode.multi, ops } as never)).header.zxid);
  }
  for (let i = 0; i < 50; i++) w.send({ type: OpCode.setData, path: '/z0', data: enc.encode(`s${i}`), version: -1 });
  assert.ok(sim.runUntilCondition(() => w.stream.length >= count / perMulti + 51, 20_000));
  const leader = () => sim.instance(leaderOf(sim)!)!.groups.get('coord')!;
  assert.ok(
    sim.runUntilCondition(() => leader().snapshotIndex > lastMulti, 20_000),
    `the leader saved a snapshot past ${lastMulti}`,
  );
}

/**
 * A follower cut off while the leader writes `znodeCount` znodes (and compacts its log) gets them
 * as a snapshot after the heal. Returns, per virtual millisecond of the follower's install, how
 * many znodes it decoded (each slice is a turn of its event loop, a millisecond from the next),
 * what its clients saw, and the tree it ends with.
 */
function installBehind(seed: string, nodesPerSlice: number, znodeCount: number) {
  const sim = slicedCluster(seed, nodesPerSlice);
  assert.ok(sim.runUntilCondition(() => leaderOf(sim) !== undefined, 10_000));
  const leader = leaderOf(sim)!;
  const follower = ids.find((i) => i !== leader)!;
  const w = connected(sim, leader, 8000);
  const client = connected(sim, follower, 8000);
  const tree = () => coordOf(sim.instance(follower)!).state.znodes.tree;
  const cut = sim.network.isolate(follower);
  const perMulti = 100;
  writeZnodes(sim, w, znodeCount, perMulti);
  const sizeBefore = tree().size;
  // Spy on the decode: znodes loaded per virtual millisecond, and the tree clients see meanwhile.
  const loadedAtMs = new Map<number, number>();
  let halfVisible = 0;
  const original = ZnodeTree.prototype.loadNode;
  ZnodeTree.prototype.loadNode = function (this: ZnodeTree, n) {
    loadedAtMs.set(sim.nowMs, (loadedAtMs.get(sim.nowMs) ?? 0) + 1);
    if (tree().size !== sizeBefore) halfVisible++;
    original.call(this, n);
  };
  let refusedWhileSyncing = 0;
  let clientClosedWhileSyncing = false;
  try {
    cut.heal();
    let probe: SimZkClient | undefined;
    assert.ok(
      sim.runUntilCondition(() => {
        const restoring = sim.instance(follower)!.groups.get('coord')!.restoringSnapshot;
        // A handshake while the snapshot goes in: refused (the node serves no client meanwhile).
        if (restoring && probe === undefined) {
          probe = new SimZkClient(sim, follower);
          probe.sendConnect({ timeOutMs: 8000 });
        }
        if (probe?.closed !== undefined && probe.session() === undefined && refusedWhileSyncing === 0)
          refusedWhileSyncing++;
        if (restoring && client.closed !== undefined) clientClosedWhileSyncing = true;
        // Caught up: the last setData (after the snapshot's index) applied too.
        return tree().record('/z0')?.version === 50 && (probe === undefined || probe.closed !== undefined);
      }, 30_000),
      'the follower installed the snapshot',
    );
  } finally {
    ZnodeTree.prototype.loadNode = original;
  }
  const leaderTree = coordOf(sim.instance(leader)!).state.znodes.tree;
  for (let i = 0; i < znodeCount; i += 97) assert.deepEqual(tree().record(`/z${i}`), leaderTree.record(`/z${i}`));
  assert.deepEqual(tree().record('/z0'), leaderTree.record('/z0'));
  return {
    perMsMax: Math.max(...loadedAtMs.values()),
    loaded: [...loadedAtMs.values()].reduce((a, b) => a + b, 0),
    spanMs: Math.max(...loadedAtMs.keys()) - Math.min(...loadedAtMs.keys()),
    halfVisible,
    refusedWhileSyncing,
    clientClosedWhileSyncing,
    slices: sim.metrics(follower).value('raft_snapshot_restore_slices_total', { group: 'coord' }),
    receiveSlices: sim.metrics(follower).value('raft_snapshot_receive_slices_total', { group: 'coord' }),
  };
}

test('a follower far behind installs a big snapshot in slices: a bounded number of znodes per turn, no client served meanwhile, never a half tree', (t) => {
  const znodeCount = 3_000;
  const r = installBehind('zk-sliced-restore', 10, znodeCount);
  t.diagnostic(`sliced: ${JSON.stringify(r)}`);
  assert.ok(r.loaded >= znodeCount, `the follower decoded the snapshot: ${r.loaded}`);
  assert.ok(r.perMsMax <= 10, `at most one slice of znodes per virtual millisecond: ${r.perMsMax}`);
  assert.ok(r.slices >= znodeCount / 10, `slices: ${r.slices}`);
  assert.ok(r.spanMs >= znodeCount / 10, `the install spread over ${r.spanMs} ms of the node's loop`);
  assert.equal(r.halfVisible, 0, 'clients never see a half-restored tree');
  assert.equal(r.refusedWhileSyncing, 1, 'a handshake during the install is refused');
  assert.ok(r.clientClosedWhileSyncing, 'its client was closed while it synced (to move elsewhere)');
  // Its file was written 512 bytes a turn too (raft.snapshotWriteSliceBytes), its ack held until then.
  assert.ok(r.receiveSlices >= 10, `the received snapshot's file went in slices: ${r.receiveSlices}`);
  // Negative control: one slice as large as the tree is the old one-go install; the measure sees it.
  const oneGo = installBehind('zk-sliced-restore', 1_000_000, znodeCount);
  t.diagnostic(`one go: ${JSON.stringify(oneGo)}`);
  assert.ok(oneGo.perMsMax >= znodeCount, `one go: ${oneGo.perMsMax} znodes in one turn`);
});

/**
 * The leader writes `znodeCount` znodes; a follower that snapshotted them is crashed and restarted.
 * Returns, as installBehind, the znodes its restore decoded per virtual millisecond, whether a
 * handshake during it was refused, whether its Raft log kept up with a write committed meanwhile
 * (the node answered its peers), and checks the tree it ends with.
 */
function restartWithSnapshot(seed: string, restoreInSlicesAtStartBytes: number, znodeCount: number) {
  const sim = slicedCluster(seed, 10, { restoreInSlicesAtStartBytes });
  assert.ok(sim.runUntilCondition(() => leaderOf(sim) !== undefined, 10_000));
  const leader = leaderOf(sim)!;
  const follower = ids.find((i) => i !== leader)!;
  const w = connected(sim, leader, 8000);
  const perMulti = 100;
  writeZnodes(sim, w, znodeCount, perMulti);
  const coordGroup = () => sim.instance(follower)?.groups.get('coord');
  assert.ok(
    sim.runUntilCondition(() => (coordGroup()?.status().appliedIndex ?? 0) >= 80, 5_000),
    'the follower applied the writes',
  );
  sim.runFor(3_000); // its snapshot of them, taken in slices, is saved
  const loadedAtMs = new Map<number, number>();
  const original = ZnodeTree.prototype.loadNode;
  ZnodeTree.prototype.loadNode = function (this: ZnodeTree, n) {
    loadedAtMs.set(sim.nowMs, (loadedAtMs.get(sim.nowMs) ?? 0) + 1);
    original.call(this, n);
  };
  let refused = false;
  let keptUp = false;
  let sawRestoring = false;
  try {
    sim.crash(follower);
    sim.restart(follower);
    let probe: SimZkClient | undefined;
    assert.ok(
      sim.runUntilCondition(() => {
        const g = coordGroup();
        if (g === undefined) return false;
        if (g.restoringSnapshot) {
          sawRestoring = true;
          if (probe === undefined) {
            probe = new SimZkClient(sim, follower);
            probe.sendConnect({ timeOutMs: 8000 });
            // A write committed while the follower restores: its log must take it meanwhile.
            w.send({ type: OpCode.setData, path: '/z1', data: enc.encode('during'), version: -1 });
          }
          if (probe.closed !== undefined && probe.session() === undefined) refused = true;
          const leaderCommit = sim.instance(leader)!.groups.get('coord')!.status().commitIndex;
          if (w.stream.length >= znodeCount / perMulti + 52 && g.status().commitIndex >= leaderCommit) keptUp = true;
        }
        return !g.restoringSnapshot && coordOf(sim.instance(follower)!).state.znodes.tree.size > znodeCount;
      }, 30_000),
      'the follower restored its snapshot',
    );
    assert.ok(
      !sawRestoring || sim.runUntilCondition(() => w.stream.length >= znodeCount / perMulti + 52, 5_000),
      'the write made during the restore was answered',
    );
  } finally {
    ZnodeTree.prototype.loadNode = original;
  }
  const tree = coordOf(sim.instance(follower)!).state.znodes.tree;
  const leaderTree = coordOf(sim.instance(leader)!).state.znodes.tree;
  assert.ok(
    sim.runUntilCondition(() => tree.record('/z1')?.version === leaderTree.record('/z1')?.version, 5_000),
    'caught up',
  );
  for (let i = 0; i < znodeCount; i += 97) assert.deepEqual(tree.record(`/z${i}`), leaderTree.record(`/z${i}`));
  assert.deepEqual(tree.record('/z0'), leaderTree.record('/z0'));
  return {
    perMsMax: Math.max(...loadedAtMs.values()),
    spanMs: Math.max(...loadedAtMs.keys()) - Math.min(...loadedAtMs.keys()),
    sawRestoring,
    refused,
    keptUp,
  };
}

test('a node restarting with a big snapshot restores it in slices: peers answered, no client served meanwhile, the tree whole after', (t) => {
  const znodeCount = 3_000;
  const r = restartWithSnapshot('zk-start-sliced', 0, znodeCount);
  t.diagnostic(`sliced: ${JSON.stringify(r)}`);
  assert.ok(r.sawRestoring, 'the restore outlived the start');
  assert.ok(r.perMsMax <= 10, `at most one slice of znodes per virtual millisecond: ${r.perMsMax}`);
  assert.ok(r.spanMs >= znodeCount / 10, `spread over ${r.spanMs} ms of the node's loop`);
  assert.ok(r.refused, 'a handshake during the restore is refused');
  assert.ok(r.keptUp, "the node's Raft log took a write committed during its restore");
  // Negative control: below the size threshold the restore is one go, and the measure sees it.
  const oneGo = restartWithSnapshot('zk-start-sliced', 1 << 30, znodeCount);
  t.diagnostic(`one go: ${JSON.stringify(oneGo)}`);
  assert.equal(oneGo.sawRestoring, false);
  assert.ok(oneGo.perMsMax >= znodeCount, `one go: ${oneGo.perMsMax} znodes in one turn`);
});

test('SessionMoved: a thief resumes the session on another node; the old connection is closed and its write in flight never applies', () => {
  const { sim, leader, follower } = ready('zk-session-moved');
  const a = connected(sim, follower);
  const s = a.session()!;
  const e = a.send({
    type: OpCode.create,
    path: '/mine',
    data: enc.encode('a'),
    acl: openAcl,
    flags: CreateMode.ephemeral,
  });
  const zxid = answered(sim, a, e).header.zxid;

  // The thief's move enters the leader's log at once; a's write still has a hop to the leader,
  // made slower than any jitter (the follower's links clogged): otherwise which reaches the log
  // first depends on the network's draws, and a write ordered before the move may rightly apply.
  const thief = new SimZkClient(sim, leader);
  thief.sendConnect({ resume: s, lastZxidSeen: zxid });
  sim.network.clog(follower, 50);
  const stale = a.send({ type: OpCode.create, path: '/stale', data: enc.encode('a'), acl: openAcl, flags: 0 });
  assert.ok(
    sim.runUntilCondition(() => thief.session() !== undefined && a.closed !== undefined, 5_000),
    'the thief holds the session; the old connection is closed',
  );
  sim.network.unclog(follower);
  assert.equal(thief.session()!.sessionId, s.sessionId);
  assert.equal(
    a.reply(stale),
    undefined,
    'no answer: ZooKeeper closes the connection (the client sees ConnectionLoss)',
  );
  sim.runFor(500);
  assert.equal(sim.metrics(follower).value('coord_session_moved_total'), 1, 'refused at apply, not before');
  for (const id of ids) {
    const tree = coordOf(sim.instance(id)!).backend.tree();
    assert.equal(tree.exists('/stale').stat, undefined, `${id}: the stale write never applied`);
    assert.ok(tree.exists('/mine').stat !== undefined, `${id}: the session (and its ephemeral) lives on`);
  }
  const w = thief.send({ type: OpCode.setData, path: '/mine', data: enc.encode('t'), version: -1 });
  assert.equal(answered(sim, thief, w).header.err, ZkErr.ok, 'the new owner writes');
});

test('4lw latency: srvr and mntr report min/avg/max from receipt to reply of this node’s requests; srst starts over', () => {
  const { sim, follower } = ready('zk-latency', { fourLetterWords: ['srvr', 'mntr', 'srst'] });
  const word = (w: 'srvr' | 'mntr' | 'srst'): string => {
    const c = new SimZkClient(sim, follower);
    c.sendFourLetter(w);
    assert.ok(
      sim.runUntilCondition(() => c.closed !== undefined, 5_000),
      `${w} answered`,
    );
    return c.text;
  };
  const latencyOf = (srvr: string): [number, number, number] => {
    const m = /\nLatency min\/avg\/max: (\d+)\/(\d+\.\d+)\/(\d+)\n/.exec(srvr);
    assert.ok(m, srvr);
    return [Number(m[1]), Number(m[2]), Number(m[3])];
  };
  assert.deepEqual(latencyOf(word('srvr')), [0, 0, 0], 'no request yet (four-letter words are not requests)');
  const a = connected(sim, follower);
  let last = 0;
  for (let i = 0; i < 5; i++)
    last = a.send({ type: OpCode.create, path: `/l${i}`, data: enc.encode('x'), acl: openAcl, flags: 0 });
  answered(sim, a, last);
  const g = a.send({ type: OpCode.getData, path: '/l0', watch: false });
  answered(sim, a, g);
  a.close();
  sim.runFor(50);
  const [min, avg, max] = latencyOf(word('srvr'));
  // Writes through a follower wait for a Raft commit (peer round trips of simulated latency).
  assert.ok(max > 0 && min <= avg && avg <= max, `${min}/${avg}/${max}`);
  const mntr = new Map(
    word('mntr')
      .trimEnd()
      .split('\n')
      .map((l) => l.split('\t') as [string, string]),
  );
  assert.deepEqual(
    [mntr.get('zk_min_latency'), Number(mntr.get('zk_avg_latency')), mntr.get('zk_max_latency')],
    [String(min), avg, String(max)],
  );
  assert.equal(word('srst'), 'Server stats reset.\n');
  const after = word('srvr');
  assert.deepEqual(latencyOf(after), [0, 0, 0], after);
  assert.match(after, /\nReceived: 1\n/, 'the packet counters start over too (only this srvr since)');
});

test('replicas-agree: a follower whose tree changed outside the log is caught at the next image', () => {
  const sim = slicedCluster('zk-replicas-agree', 3);
  attachRaftInvariants(sim);
  assert.ok(sim.runUntilCondition(() => leaderOf(sim) !== undefined, 10_000));
  const leader = leaderOf(sim)!;
  const follower = ids.find((i) => i !== leader)!;
  const w = connected(sim, leader, 8000);
  for (let i = 0; i < 45; i++)
    answered(sim, w, w.send({ type: OpCode.create, path: `/a${i}`, data: enc.encode('v'), acl: openAcl, flags: 0 }));
  // Snapshots were taken in slices meanwhile (every 40 entries, 3 znodes a slice) and the states agree.
  sim.runFor(1_000);
  assert.ok(sim.metrics(leader).value('raft_snapshots_total', { group: 'coord' }) >= 1, 'a snapshot was taken');
  // Negative control: one replica's tree changed without the log (a nondeterministic apply would do this).
  const tree = coordOf(sim.instance(follower)!).state.znodes.tree;
  const txn = { zxid: 1_000_000, timeMs: 0, caller: { sessionId: 0, identities: [] } };
  assert.equal(tree.write(txn, { op: 'setData', path: '/a1', data: enc.encode('x'), version: -1 }).err, ZkErr.ok);
  assert.throws(
    () => sim.runFor(1_000),
    (err: unknown) =>
      err instanceof SimulationFailure && err.invariant === 'replicas-agree' && err.detail.includes('group coord'),
  );
});

test('a membership change applied while a snapshot is taken in slices: the snapshot records the configuration of its own index', () => {
  // 2 znodes per slice: a snapshot of ~60 znodes spans ~30 turns, while a learner is added.
  const sim = slicedCluster('zk-slices-conf-change', 2);
  assert.ok(sim.runUntilCondition(() => leaderOf(sim) !== undefined, 10_000));
  const leader = leaderOf(sim)!;
  const w = connected(sim, leader, 8000);
  const driver = () => sim.instance(leader)!.groups.get('coord')!;
  for (let i = 0; i < 30; i++)
    answered(sim, w, w.send({ type: OpCode.create, path: `/c${i}`, data: enc.encode('v'), acl: openAcl, flags: 0 }));
  let changedAt: number | undefined;
  for (let i = 30; i < 120 && changedAt === undefined; i++) {
    w.send({ type: OpCode.create, path: `/c${i}`, data: enc.encode('v'), acl: openAcl, flags: 0 });
    sim.runUntilCondition(() => driver().snapshotting, 5);
    if (driver().snapshotting) {
      assert.equal(driver().changeMembership({ type: 'addLearner', nodeId: 'n9' }), undefined);
      changedAt = driver().appliedIndex;
    }
  }
  assert.ok(changedAt !== undefined, 'a snapshot in slices was caught in progress');
  const saved = sim.metrics(leader).value('raft_snapshots_total', { group: 'coord' });
  // The learner joins the configuration (applied) before the snapshot's last slice; the node lives on.
  assert.ok(
    sim.runUntilCondition(() => sim.metrics(leader).value('raft_snapshots_total', { group: 'coord' }) > saved, 5_000),
    'the snapshot was saved',
  );
  assert.ok(driver().core.config.learners.includes('n9'), 'the learner is in the configuration');
  sim.runFor(500);
});

/**
 * The leader needs the follower that is writing a received snapshot's file (the third node is
 * down), and the file goes in slices for longer than an election timeout (8 bytes a turn). Returns
 * whether the leader kept its leadership and term until the follower's install was done.
 */
function leaderKeptDuringReceive(mutations: readonly string[]): { kept: boolean; receiveSlices: number } {
  const sim = slicedCluster('zk-receive-hold', 10, { snapshotWriteSliceBytes: 8 }, mutations);
  assert.ok(sim.runUntilCondition(() => leaderOf(sim) !== undefined, 10_000));
  const leader = leaderOf(sim)!;
  const [follower, third] = ids.filter((i) => i !== leader) as [string, string];
  const w = connected(sim, leader, 8000);
  const cut = sim.network.isolate(follower);
  writeZnodes(sim, w, 300, 100);
  const coord = (id: string) => sim.instance(id)!.groups.get('coord')!;
  const term = coord(leader).status().term;
  cut.heal();
  sim.crash(third);
  let kept = true;
  const receiveSlices = () => sim.metrics(follower).value('raft_snapshot_receive_slices_total', { group: 'coord' });
  assert.ok(
    sim.runUntilCondition(() => {
      const s = coord(leader).status();
      if (s.role !== 'leader' || s.term !== term) kept = false;
      // Caught up: the last setData (after the snapshot's index) applied too.
      return coordOf(sim.instance(follower)!).state.znodes.tree.record('/z0')?.version === 50;
    }, 60_000),
    'the follower received and installed the snapshot',
  );
  return { kept, receiveSlices: receiveSlices() };
}

test('a follower writing a received snapshot in slices keeps answering heartbeats: a leader that needs it keeps its leadership (negative control: holding every message loses it)', (t) => {
  const r = leaderKeptDuringReceive([]);
  t.diagnostic(JSON.stringify(r));
  assert.ok(r.receiveSlices >= 1000, `the file took ${r.receiveSlices} slices (longer than an election timeout)`);
  assert.ok(r.kept, 'the leader stayed leader in its term');
  const held = leaderKeptDuringReceive(['raft-hold-all-while-receiving']);
  t.diagnostic(JSON.stringify(held));
  assert.equal(held.kept, false, 'with every message held, checkQuorum takes the leadership away');
});
