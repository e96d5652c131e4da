// Goal: each of ZooKeeper 3.8's data-model rules (DataTree / PrepRequestProcessor / FinalRequestProcessor)
// that the tree keeps, one test per rule, named after the behaviour it protects.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Acl, OPEN_ACL_UNSAFE } from './acl.ts';
import { CreateMode, EventType, Perm, ZkErr } from './codes.ts';
import { javaSpread, javaStringHash } from './java-hash.ts';
import { isValidPath } from './path.ts';
import { digestId } from './sha1.ts';
import { type Caller, defaultTreeOptions, ephemeralOwnerI64, type TxnResult, type WriteOp, ZnodeTree } from './tree.ts';

const anyone: Caller = { sessionId: 0, identities: [] };
let zxid = 100;
const at = (caller: Caller = anyone, timeMs = 1_000) => ({ zxid: ++zxid, timeMs, caller });
const bytes = (s: string) => new TextEncoder().encode(s);
const create = (
  path: string,
  mode: number = CreateMode.persistent,
  acl: readonly Acl[] = OPEN_ACL_UNSAFE,
  ttlMs = -1,
): WriteOp => ({
  op: 'create',
  path,
  data: bytes('d'),
  acl,
  mode,
  ttlMs,
});
const ok = (r: TxnResult): TxnResult => {
  assert.equal(r.err, ZkErr.ok, `expected ok, got ${r.err}`);
  return r;
};

test('a fresh tree holds /, /zookeeper, /zookeeper/quota and /zookeeper/config as DataTree builds them', () => {
  const t = new ZnodeTree();
  assert.deepEqual(t.getChildren('/', []).value, ['zookeeper']);
  assert.deepEqual(t.getChildren('/zookeeper', []).value, ['config', 'quota']);
  const root = t.exists('/').stat!;
  // What Debian's ZooKeeper 3.8 answers to `stat` on a fresh server.
  assert.deepEqual({ ...root, cversion: 0, numChildren: 0 }, t.exists('/zookeeper/quota').stat!);
  assert.deepEqual(
    [root.czxid, root.mzxid, root.pzxid, root.ctime, root.mtime, root.version, root.aversion],
    [0, 0, 0, 0, 0, 0, 0],
  );
  assert.deepEqual([root.cversion, root.numChildren], [-1, 1]);
  assert.deepEqual([t.exists('/zookeeper').stat!.cversion, t.exists('/zookeeper').stat!.numChildren], [-2, 2]);
  assert.equal(t.exists('/zookeeper/config').stat!.aversion, -1);
  assert.equal(t.exists('/zookeeper/config').stat!.cversion, 0);
  assert.deepEqual(t.getACL('/zookeeper/config', []).value, [{ perms: Perm.read, scheme: 'world', id: 'anyone' }]);
  assert.equal(
    t.write(at(), { op: 'setData', path: '/zookeeper/config', data: bytes('x'), version: -1 }).err,
    ZkErr.noAuth,
  );
  assert.equal(t.getAllChildrenNumber('/', []).value, 3);
});

test('create sets czxid = mzxid = pzxid = zxid and ctime = mtime = time, and bumps the parent cversion and pzxid', () => {
  const t = new ZnodeTree();
  const ctx = at(anyone, 5_000);
  const r = ok(t.write(ctx, create('/a')));
  const s = r.stat!;
  assert.deepEqual([s.czxid, s.mzxid, s.pzxid, s.ctime, s.mtime], [ctx.zxid, ctx.zxid, ctx.zxid, 5_000, 5_000]);
  assert.deepEqual(
    [s.version, s.cversion, s.aversion, s.ephemeralOwner, s.dataLength, s.numChildren],
    [0, 0, 0, 0n, 1, 0],
  );
  const root = t.exists('/').stat!;
  assert.equal(t.record('/')!.cversion, 1, 'one create stored');
  assert.equal(root.cversion, 0, 'client cversion: 1 create × 2 − 2 children');
  assert.equal(root.pzxid, ctx.zxid);
  assert.equal(root.numChildren, 2);
  assert.deepEqual(r.triggers, [
    { path: '/a', type: EventType.nodeCreated, acl: OPEN_ACL_UNSAFE },
    { path: '/', type: EventType.nodeChildrenChanged, acl: OPEN_ACL_UNSAFE },
  ]);
});

test('deleting a child moves the parent pzxid, and the client cversion by one while the stored count of creates stays', () => {
  const t = new ZnodeTree();
  ok(t.write(at(), create('/p')));
  ok(t.write(at(), create('/p/c')));
  const before = t.exists('/p').stat!;
  const ctx = at();
  const r = ok(t.write(ctx, { op: 'delete', path: '/p/c', version: -1 }));
  const after = t.exists('/p').stat!;
  // Debian ZooKeeper 3.8: create /p, create /p/c → cversion 1; delete /p/c → cversion 2.
  assert.deepEqual([before.cversion, after.cversion], [1, 2]);
  assert.equal(t.record('/p')!.cversion, 1);
  assert.equal(after.pzxid, ctx.zxid);
  assert.equal(after.numChildren, 0);
  assert.deepEqual(r.triggers, [
    { path: '/p/c', type: EventType.nodeDeleted, acl: OPEN_ACL_UNSAFE },
    { path: '/p', type: EventType.nodeChildrenChanged, acl: OPEN_ACL_UNSAFE },
  ]);
});

test('sequential names append the parent cversion as %010d, and deletes do not reuse a number', () => {
  const t = new ZnodeTree();
  ok(t.write(at(), create('/q')));
  assert.equal(ok(t.write(at(), create('/q/n-', CreateMode.persistentSequential))).path, '/q/n-0000000000');
  ok(t.write(at(), create('/q/x')));
  ok(t.write(at(), { op: 'delete', path: '/q/n-0000000000', version: -1 }));
  assert.equal(ok(t.write(at(), create('/q/n-', CreateMode.persistentSequential))).path, '/q/n-0000000002');
  // A sequential create may end in '/': the name is the number alone.
  assert.equal(ok(t.write(at(), create('/q/', CreateMode.persistentSequential))).path, '/q/0000000003');
});

test('setData bumps version, mtime and mzxid and fires NodeDataChanged; a wrong version is BADVERSION', () => {
  const t = new ZnodeTree();
  ok(t.write(at(), create('/a')));
  const ctx = at(anyone, 9_000);
  const r = ok(t.write(ctx, { op: 'setData', path: '/a', data: bytes('xyz'), version: 0 }));
  assert.deepEqual([r.stat!.version, r.stat!.mtime, r.stat!.mzxid, r.stat!.dataLength], [1, 9_000, ctx.zxid, 3]);
  assert.deepEqual(r.triggers, [{ path: '/a', type: EventType.nodeDataChanged, acl: OPEN_ACL_UNSAFE }]);
  assert.equal(t.write(at(), { op: 'setData', path: '/a', data: bytes('q'), version: 0 }).err, ZkErr.badVersion);
  assert.equal(ok(t.write(at(), { op: 'setData', path: '/a', data: bytes('q'), version: -1 })).stat!.version, 2);
  assert.deepEqual(t.getData('/a', []).value, bytes('q'));
});

test('setACL bumps aversion, checks it, and fires no watch', () => {
  const t = new ZnodeTree();
  ok(t.write(at(), create('/a')));
  const acl: Acl[] = [{ perms: Perm.read | Perm.admin, scheme: 'world', id: 'anyone' }];
  const r = ok(t.write(at(), { op: 'setACL', path: '/a', acl, version: 0 }));
  assert.equal(r.stat!.aversion, 1);
  assert.equal(r.stat!.version, 0);
  assert.deepEqual(r.triggers, []);
  assert.equal(t.write(at(), { op: 'setACL', path: '/a', acl, version: 0 }).err, ZkErr.badVersion);
});

test('delete with children is NOTEMPTY; special paths are BADARGUMENTS; a missing node is NONODE', () => {
  const t = new ZnodeTree();
  ok(t.write(at(), create('/a')));
  ok(t.write(at(), create('/a/b')));
  assert.equal(t.write(at(), { op: 'delete', path: '/a', version: -1 }).err, ZkErr.notEmpty);
  for (const p of ['/', '/zookeeper', '/zookeeper/quota', '/zookeeper/config'])
    assert.equal(t.write(at(), { op: 'delete', path: p, version: -1 }).err, ZkErr.badArguments, p);
  assert.equal(t.write(at(), { op: 'delete', path: '/nope', version: -1 }).err, ZkErr.noNode);
  assert.equal(t.write(at(), { op: 'delete', path: '/a/b', version: 7 }).err, ZkErr.badVersion);
});

test('create: NODEEXISTS, NONODE for a missing parent, BADARGUMENTS for bad paths and modes', () => {
  const t = new ZnodeTree();
  ok(t.write(at(), create('/a')));
  assert.equal(t.write(at(), create('/a')).err, ZkErr.nodeExists);
  assert.equal(t.write(at(), create('/x/y')).err, ZkErr.noNode);
  for (const p of ['a', '/a/', '/a//b', '/a/.', '/a/..', '/a/\u0001', '/a/\ud800x'])
    assert.equal(t.write(at(), create(p)).err, p === '/a//b' ? ZkErr.noNode : ZkErr.badArguments, JSON.stringify(p));
  assert.equal(t.write(at(), create('/m', 7)).err, ZkErr.badArguments);
  assert.equal(t.write(at(), create('/m', CreateMode.persistent, OPEN_ACL_UNSAFE, 5)).err, ZkErr.badArguments);
});

test('PathUtils.validatePath: dots inside names are fine, lone . and .. components are not', () => {
  for (const p of ['/', '/a', '/a.b', '/..a', '/a/...', '/zookeeper/x', '/é']) assert.ok(isValidPath(p), p);
  for (const p of ['', 'a', '/a/', '//', '/./a', '/a/../b', '/\u0000', '/\u007f', '/\ufff0'])
    assert.ok(!isValidPath(p), p);
});

test('ephemerals need a live session, belong to it, cannot have children, and go when it closes', () => {
  const t = new ZnodeTree();
  assert.equal(t.write(at(), create('/e', CreateMode.ephemeral)).err, ZkErr.sessionExpired);
  assert.equal(t.createSession(42, 10_000, new Uint8Array(16)), ZkErr.ok);
  const s42: Caller = { sessionId: 42, identities: [] };
  const r = ok(t.write(at(s42), create('/e', CreateMode.ephemeral)));
  assert.equal(r.stat!.ephemeralOwner, 42n);
  assert.equal(t.write(at(s42), create('/e/child')).err, ZkErr.noChildrenForEphemerals);
  ok(t.write(at(s42), create('/p')));
  ok(t.write(at(s42), create('/p/s-', CreateMode.ephemeralSequential)));
  assert.deepEqual(t.getEphemerals(42, ''), ['/e', '/p/s-0000000000']);
  assert.deepEqual(t.getEphemerals(42, '/p'), ['/p/s-0000000000']);
  const closed = t.closeSession(42, ++zxid);
  assert.equal(closed.err, ZkErr.ok);
  // ZooKeeper's order (the next test): '/p/s-0000000000' falls in bucket 0 of a copy of 4, '/e' in 2.
  assert.deepEqual(closed.triggers, [
    { path: '/p/s-0000000000', type: EventType.nodeDeleted, acl: OPEN_ACL_UNSAFE },
    { path: '/p', type: EventType.nodeChildrenChanged, acl: OPEN_ACL_UNSAFE },
    { path: '/e', type: EventType.nodeDeleted, acl: OPEN_ACL_UNSAFE },
    { path: '/', type: EventType.nodeChildrenChanged, acl: OPEN_ACL_UNSAFE },
  ]);
  assert.equal(t.exists('/e').err, ZkErr.noNode);
  assert.equal(t.exists('/p').err, ZkErr.ok);
  assert.equal(t.exists('/p').stat!.pzxid, zxid);
  assert.equal(t.write(at(s42), create('/late')).err, ZkErr.sessionExpired);
  assert.equal(t.closeSession(42, ++zxid).err, ZkErr.sessionExpired);
});

test("a closing session's ephemerals go in ZooKeeper 3.8's order (its HashSet's), as watchers see them", () => {
  // Observed on Debian's ZooKeeper 3.8 (test/support/zk-random.ts, seed z14): the session's
  // ephemerals created in the order below were deleted as q-0000000006, q-0000000008, b/q-0000000005.
  const t = new ZnodeTree();
  assert.equal(t.createSession(7, 10_000, new Uint8Array(16)), ZkErr.ok);
  const s7: Caller = { sessionId: 7, identities: [] };
  for (const p of ['/rnd-z14', '/rnd-z14/b']) ok(t.write(at(), create(p)));
  for (const p of ['/rnd-z14/b/q-0000000005', '/rnd-z14/q-0000000006', '/rnd-z14/q-0000000008'])
    ok(t.write(at(s7), create(p, CreateMode.ephemeral)));
  const deleted = (r: TxnResult) => r.triggers.filter((x) => x.type === EventType.nodeDeleted).map((x) => x.path);
  assert.deepEqual(deleted(t.closeSession(7, ++zxid)), [
    '/rnd-z14/q-0000000006',
    '/rnd-z14/q-0000000008',
    '/rnd-z14/b/q-0000000005',
  ]);
  // One multi's ephemerals share a czxid: their ties go by path, on a replica restored from a
  // snapshot too (its Set order is the loader's; review of 1eb9e9a: /e17 and /e0 share a bucket).
  const tied = (): string[] => {
    const u = new ZnodeTree();
    assert.equal(u.createSession(9, 10_000, new Uint8Array(16)), ZkErr.ok);
    const ops = ['/e17', '/e0'].map((p) => create(p, CreateMode.ephemeral));
    ok(u.multi(at({ sessionId: 9, identities: [] }), ops));
    return deleted(u.closeSession(9, ++zxid));
  };
  assert.deepEqual(tied(), ['/e0', '/e17']);
  // Ties in the copy's bucket keep the creation order: 13 paths (a held table of 32, a copy of 32).
  assert.equal(t.createSession(8, 10_000, new Uint8Array(16)), ZkErr.ok);
  const made = Array.from({ length: 13 }, (_, i) => `/e${i}`);
  for (const p of made) ok(t.write(at({ sessionId: 8, identities: [] }), create(p, CreateMode.ephemeral)));
  const order = deleted(t.closeSession(8, ++zxid));
  assert.deepEqual([...order].sort(), [...made].sort());
  const bucket = (p: string) => javaSpread(javaStringHash(p)) & 31;
  for (let i = 1; i < order.length; i++) {
    const [a, b] = [order[i - 1]!, order[i]!];
    assert.ok(
      bucket(a) < bucket(b) || (bucket(a) === bucket(b) && made.indexOf(a) < made.indexOf(b)),
      `${a} before ${b}`,
    );
  }
});

test('a container holds Long.MIN_VALUE as ephemeralOwner, may have children, and is a cleanup candidate once emptied', () => {
  const t = new ZnodeTree();
  const r = ok(t.write(at(), create('/c', CreateMode.container)));
  assert.equal(r.stat!.ephemeralOwner, 0n, 'clients see 0 (DataNode.getClientEphemeralOwner)');
  assert.equal(ephemeralOwnerI64(t.record('/c')!.owner), -(2n ** 63n));
  assert.deepEqual(t.cleanupCandidates(0).containers, []);
  ok(t.write(at(), create('/c/x')));
  assert.equal(t.deleteContainer(at(), '/c').err, ZkErr.notEmpty);
  ok(t.write(at(), { op: 'delete', path: '/c/x', version: -1 }));
  assert.deepEqual(t.cleanupCandidates(0).containers, ['/c']);
  ok(t.deleteContainer(at(), '/c'));
  assert.equal(t.deleteContainer(at(), '/c').err, ZkErr.noNode);
  ok(t.write(at(), create('/c')));
  assert.equal(t.deleteContainer(at(), '/c').err, ZkErr.badVersion, 'a stale proposal leaves a persistent node alone');
});

test('TTL creates answer UNIMPLEMENTED unless extended types are on; then ephemeralOwner encodes the TTL', () => {
  const off = new ZnodeTree();
  assert.equal(
    off.write(at(), create('/t', CreateMode.persistentWithTtl, OPEN_ACL_UNSAFE, 1000)).err,
    ZkErr.unimplemented,
  );
  const t = new ZnodeTree({ ...off.options, ttlEnabled: true });
  assert.equal(t.write(at(), create('/t', CreateMode.persistentWithTtl, OPEN_ACL_UNSAFE, 0)).err, ZkErr.badArguments);
  const r = ok(t.write(at(anyone, 1_000), create('/t', CreateMode.persistentWithTtl, OPEN_ACL_UNSAFE, 500)));
  assert.equal(r.stat!.ephemeralOwner, 0n);
  assert.equal(ephemeralOwnerI64(t.record('/t')!.owner), BigInt.asIntN(64, 0xff00_0000_0000_0000n | 500n));
  assert.equal(t.deleteExpiredTtl(at(anyone, 1_500), '/t').err, ZkErr.notEmpty, 'not expired yet at exactly ttl');
  assert.deepEqual(t.cleanupCandidates(1_501).expiredTtls, ['/t']);
  ok(t.deleteExpiredTtl(at(anyone, 1_501), '/t'));
});

test('multi: all or nothing; OK before the failing op, its error, RUNTIMEINCONSISTENCY after', () => {
  const t = new ZnodeTree();
  ok(t.write(at(), create('/a')));
  const before = t.nodesInOrder();
  const r = t.multi(at(), [
    create('/b'),
    { op: 'setData', path: '/a', data: bytes('z'), version: -1 },
    { op: 'check', path: '/a', version: 0 },
    create('/c'),
  ]);
  assert.equal(r.err, ZkErr.badVersion);
  assert.deepEqual(
    r.results!.map((x) => x.err),
    [ZkErr.ok, ZkErr.ok, ZkErr.badVersion, ZkErr.runtimeInconsistency],
  );
  assert.deepEqual(r.triggers, []);
  assert.deepEqual(t.nodesInOrder(), before, 'nothing changed, Stat included');
  const good = t.multi(at(), [
    create('/b'),
    create('/b/s', CreateMode.persistentSequential),
    { op: 'delete', path: '/a', version: 0 },
  ]);
  assert.equal(good.err, ZkErr.ok);
  assert.deepEqual(
    good.results!.map((x) => x.path),
    ['/b', '/b/s0000000000', undefined],
  );
  assert.equal(good.triggers.length, 6);
});

test('ACL: create needs CREATE on the parent, delete DELETE on the parent, setData WRITE, reads READ, setACL ADMIN; exists needs none', () => {
  const t = new ZnodeTree();
  const alice: Caller = { sessionId: 0, identities: [{ scheme: 'digest', id: digestId('alice:pw') }] };
  const only = (perms: number): Acl[] => [{ perms, scheme: 'digest', id: digestId('alice:pw') }];
  ok(t.write(at(alice), create('/r', CreateMode.persistent, only(Perm.read))));
  assert.equal(t.write(at(anyone), create('/r/x')).err, ZkErr.noAuth);
  assert.equal(t.write(at(alice), create('/r/x')).err, ZkErr.noAuth, 'READ is not CREATE');
  assert.equal(t.getData('/r', []).err, ZkErr.noAuth);
  assert.equal(t.getData('/r', alice.identities).err, ZkErr.ok);
  assert.equal(t.exists('/r').err, ZkErr.ok);
  assert.equal(t.write(at(alice), { op: 'setData', path: '/r', data: bytes('1'), version: -1 }).err, ZkErr.noAuth);
  assert.equal(t.write(at(alice), { op: 'setACL', path: '/r', acl: OPEN_ACL_UNSAFE, version: -1 }).err, ZkErr.noAuth);
  ok(t.write(at(alice), create('/d', CreateMode.persistent, only(Perm.create))));
  ok(t.write(at(alice), create('/d/x')));
  assert.equal(t.write(at(alice), { op: 'delete', path: '/d/x', version: -1 }).err, ZkErr.noAuth);
  // getACL without ADMIN hides the digest hash.
  assert.deepEqual(t.getACL('/r', alice.identities).value, [{ perms: Perm.read, scheme: 'digest', id: 'alice:x' }]);
  assert.equal(t.getACL('/d', alice.identities).err, ZkErr.noAuth, 'getACL needs READ or ADMIN');
});

test('ACL: auth expands to the caller digest identities; none is INVALIDACL; super bypasses every check', () => {
  const t = new ZnodeTree({ ...new ZnodeTree().options, superDigest: digestId('super:admin') });
  const auth: Acl[] = [{ perms: Perm.all, scheme: 'auth', id: '' }];
  assert.equal(t.write(at(), create('/x', CreateMode.persistent, auth)).err, ZkErr.invalidACL);
  const bob: Caller = {
    sessionId: 0,
    identities: [
      { scheme: 'ip', id: '10.0.0.1' },
      { scheme: 'digest', id: 'bob:h' },
    ],
  };
  ok(t.write(at(bob), create('/x', CreateMode.persistent, auth)));
  assert.deepEqual(t.getACL('/x', bob.identities).value, [{ perms: Perm.all, scheme: 'digest', id: 'bob:h' }]);
  const superUser: Caller = { sessionId: 0, identities: [{ scheme: 'digest', id: digestId('super:admin') }] };
  ok(t.write(at(superUser), { op: 'setData', path: '/x', data: bytes('s'), version: -1 }));
  assert.equal(t.write(at(), { op: 'setData', path: '/x', data: bytes('s'), version: -1 }).err, ZkErr.noAuth);
  assert.equal(t.write(at(), create('/y', CreateMode.persistent, [])).err, ZkErr.invalidACL);
  assert.equal(
    t.write(at(), create('/y', CreateMode.persistent, [{ perms: 31, scheme: 'world', id: 'me' }])).err,
    ZkErr.invalidACL,
  );
  assert.equal(
    t.write(at(), create('/y', CreateMode.persistent, [{ perms: 31, scheme: 'digest', id: 'nocolon' }])).err,
    ZkErr.invalidACL,
  );
});

test('ACL: ip entries match the caller address under the /bits mask', () => {
  const t = new ZnodeTree();
  ok(t.write(at(), create('/n', CreateMode.persistent, [{ perms: Perm.all, scheme: 'ip', id: '10.1.0.0/16' }])));
  assert.equal(t.getData('/n', [{ scheme: 'ip', id: '10.1.200.3' }]).err, ZkErr.ok);
  assert.equal(t.getData('/n', [{ scheme: 'ip', id: '10.2.0.1' }]).err, ZkErr.noAuth);
  assert.equal(
    t.write(at(), create('/m', CreateMode.persistent, [{ perms: 31, scheme: 'ip', id: '10.0.0.0/33' }])).err,
    ZkErr.invalidACL,
  );
});

test('getAllChildrenNumber counts every descendant; multiRead answers each op on its own', () => {
  const t = new ZnodeTree();
  ok(t.write(at(), create('/a')));
  ok(t.write(at(), create('/a/b')));
  ok(t.write(at(), create('/a/b/c')));
  assert.equal(t.getAllChildrenNumber('/a', []).value, 2);
  assert.equal(t.getAllChildrenNumber('/nope', []).err, ZkErr.noNode);
  const rs = t.multiRead(
    [
      { op: 'getData', path: '/a' },
      { op: 'getChildren', path: '/nope' },
      { op: 'getChildren', path: '/a' },
    ],
    [],
  );
  assert.deepEqual(
    rs.map((r) => r.err),
    [ZkErr.ok, ZkErr.noNode, ZkErr.ok],
  );
  assert.deepEqual(rs[2]!.value, ['b']);
});

test('ACL lists are interned: a thousand nodes with one ACL hold one list', () => {
  const t = new ZnodeTree();
  const acl: Acl[] = [{ perms: Perm.all, scheme: 'digest', id: 'u:h' }];
  const u: Caller = { sessionId: 0, identities: [{ scheme: 'digest', id: 'u:h' }] };
  const base = t.acls.size;
  for (let i = 0; i < 1000; i++) ok(t.write(at(), create(`/n${i}`, CreateMode.persistent, acl)));
  assert.equal(t.acls.size, base + 1);
  for (let i = 0; i < 1000; i++) ok(t.write(at(u), { op: 'delete', path: `/n${i}`, version: -1 }));
  assert.equal(t.acls.size, base);
});

test("the tree's bytes are bounded (bytesMax): a create, setData, setACL or multi past them answers QUOTAEXCEEDED and changes nothing; sessions have their own share", () => {
  const base = new ZnodeTree().bytes;
  // Sessions' share: two sessions with the longest password (2 x 96); 1,000 bytes of znodes beside.
  const bytesMax = base + 192 + 1_000;
  const t = new ZnodeTree({ ...defaultTreeOptions, sessionsMax: 2, bytesMax });
  assert.equal(t.sessionsBytesMax, 192);
  assert.equal(t.createSession(1, 1000, new Uint8Array(16)), ZkErr.ok);
  const big = (path: string, n: number): WriteOp => ({
    op: 'create',
    path,
    data: new Uint8Array(n),
    acl: OPEN_ACL_UNSAFE,
    mode: CreateMode.persistent,
    ttlMs: -1,
  });
  // /a with 600 bytes: 2 + 600 + 96 counted; the session 32 + 16.
  ok(t.write(at(), big('/a', 600)));
  assert.equal(t.bytes, base + 48 + 698);
  const before = t.nodesInOrder();
  const held = t.bytes;
  // 302 bytes of znodes are left: /b with 204 bytes of data takes 2 + 204 + 96 = 302, one more is past.
  assert.equal(t.write(at(), big('/b', 205)).err, ZkErr.quotaExceeded, 'a create one byte past');
  assert.equal(
    t.write(at(), { op: 'setData', path: '/a', data: new Uint8Array(903), version: -1 }).err,
    ZkErr.quotaExceeded,
  );
  const digest: Acl[] = [{ perms: Perm.all, scheme: 'digest', id: `u:${'h'.repeat(400)}` }];
  assert.equal(t.write(at(), { op: 'setACL', path: '/a', acl: digest, version: -1 }).err, ZkErr.quotaExceeded);
  assert.equal(
    t.write(at(), create('/c', CreateMode.persistent, digest)).err,
    ZkErr.quotaExceeded,
    'its new ACL list counts',
  );
  const m = t.multi(at(), [big('/m', 40), big('/n', 40), big('/o', 40)]);
  assert.equal(m.err, ZkErr.quotaExceeded);
  assert.deepEqual(
    m.results!.map((x) => x.err),
    [ZkErr.ok, ZkErr.ok, ZkErr.quotaExceeded],
    'the third op is past what the first two left',
  );
  assert.deepEqual(t.nodesInOrder(), before, 'nothing changed');
  assert.equal(t.bytes, held, 'and nothing is counted');
  // At the bound exactly: taken. A new session still fits (its own share), so a client can
  // connect and delete; past the share (or the count) it does not.
  ok(t.write(at(), big('/b', 204)));
  assert.equal(t.write(at(), create('/d')).err, ZkErr.quotaExceeded);
  assert.equal(t.createSession(2, 1000, new Uint8Array(145)), ZkErr.quotaExceeded, '48 + 177 is past 192');
  assert.equal(t.createSession(2, 1000, new Uint8Array(64)), ZkErr.ok, 'the data is full, a session is not refused');
  assert.equal(t.bytes, bytesMax - 192 + 48 + 96);
  ok(t.write(at(), { op: 'setData', path: '/a', data: new Uint8Array(0), version: -1 }));
  ok(t.write(at(), create('/d', CreateMode.persistent, digest)));
  ok(t.write(at(), { op: 'delete', path: '/d', version: -1 }));
  ok(t.write(at(), { op: 'delete', path: '/b', version: -1 }));
  assert.equal(t.bytes, base + 48 + 96 + 2 + 96, '/a with no data, and the sessions');
  ok(t.closeSession(1, ++zxid));
  ok(t.closeSession(2, ++zxid));
  assert.equal(t.bytes, base + 98);
});

test('the named bounds hold: a full session table and a full tree answer QUOTAEXCEEDED and change nothing', () => {
  const t = new ZnodeTree({ ...defaultTreeOptions, znodesMax: 6, sessionsMax: 1 });
  assert.equal(t.createSession(1, 1000, new Uint8Array(16)), ZkErr.ok);
  assert.equal(t.createSession(2, 1000, new Uint8Array(16)), ZkErr.quotaExceeded);
  assert.deepEqual([...t.sessions.keys()], [1]);
  ok(t.write(at(), create('/a')));
  ok(t.write(at(), create('/b')));
  const before = t.nodesInOrder();
  assert.equal(t.write(at(), create('/c')).err, ZkErr.quotaExceeded);
  assert.deepEqual(t.nodesInOrder(), before);
});
