// Goal: the znode command codec is total and exact — every command round-trips, every strict prefix
// and every random byte string is refused with a ProtocolError (never another exception), data over
// the limit is refused before the tree sees it — and the namespace around it keeps the Namespace
// contract (a refused payload changes nothing; triggers reach the observer; a corrupt snapshot
// section is a CorruptionError and leaves the current tree alone).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { CorruptionError, ProtocolError } from '../lib/errors.ts';
import { CreateMode, EventType, ZkErr } from './codes.ts';
import { type CoordCommand, decodeCommand, decodeResult, encodeCommand, encodeResult } from './command.ts';
import { CoordNamespace } from './namespace.ts';
import type { Trigger } from './tree.ts';

const header = { timeMs: 1_700_000_000_123, sessionId: 7, identities: [{ scheme: 'digest', id: 'u:h' }] };
const samples: CoordCommand[] = [
  { type: 'createSession', timeoutMs: 30_000, passwd: new Uint8Array(16).fill(3) },
  { type: 'closeSession', sessionId: 12 },
  {
    type: 'write',
    header,
    op: {
      op: 'create',
      path: '/a/é',
      data: new Uint8Array([0, 255]),
      acl: [{ perms: 31, scheme: 'world', id: 'anyone' }],
      mode: 6,
      ttlMs: 5000,
    },
  },
  { type: 'write', header, op: { op: 'create', path: '/m', data: new Uint8Array(0), acl: [], mode: -9, ttlMs: -1 } },
  { type: 'write', header, op: { op: 'delete', path: '/a', version: -1 } },
  {
    type: 'write',
    header,
    op: { op: 'setACL', path: '/a', acl: [{ perms: 1, scheme: 'ip', id: '1.2.3.4/8' }], version: 3 },
  },
  {
    type: 'multi',
    header,
    ops: [
      { op: 'check', path: '/a', version: 2 },
      { op: 'setData', path: '/a', data: new Uint8Array([1, 2, 3]), version: -1 },
      { op: 'fail', err: ZkErr.unimplemented },
    ],
  },
  { type: 'deleteContainer', header, path: '/c' },
  { type: 'deleteExpiredTtl', header, path: '/t' },
  { type: 'createSession', timeoutMs: 4000, passwd: new Uint8Array(16).fill(1), owner: 2 ** 48 - 1 },
  { type: 'setOwner', sessionId: 12, owner: 99 },
  { type: 'write', header: { ...header, owner: 5 }, op: { op: 'delete', path: '/a', version: -1 } },
];

test('every command round-trips', () => {
  for (const c of samples) assert.deepEqual(decodeCommand(encodeCommand(c)), c);
});

test('every strict prefix of a command is refused with a ProtocolError', () => {
  for (const c of samples) {
    const bytes = encodeCommand(c);
    for (let n = 0; n < bytes.length; n++)
      assert.throws(() => decodeCommand(bytes.subarray(0, n)), ProtocolError, `${c.type} cut at ${n}`);
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    assert.throws(() => decodeCommand(longer), ProtocolError, `${c.type} with a trailing byte`);
  }
});

test('random bytes decode or are refused with a ProtocolError, never anything else', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.boolean(), (tail, prefixed) => {
      const bytes = prefixed ? Uint8Array.from([1, 1 + ((tail[0] ?? 0) % 6), ...tail]) : tail;
      try {
        decodeCommand(bytes);
      } catch (err) {
        assert.ok(err instanceof ProtocolError, String(err));
      }
    }),
    { numRuns: 3000 },
  );
});

test("a multi's fail op carries an error code: 0 or a positive err is refused as malformed", () => {
  for (const err of [ZkErr.ok, 1, 2 ** 31 - 1]) {
    const bytes = encodeCommand({ type: 'multi', header, ops: [{ op: 'fail', err: err as ZkErr }] });
    assert.throws(
      () => decodeCommand(bytes),
      (e: unknown) => e instanceof ProtocolError && e.code === 'malformed' && e.fields['err'] === err,
      `err ${err}`,
    );
  }
  const least = -(2 ** 31) as ZkErr;
  assert.deepEqual(decodeCommand(encodeCommand({ type: 'multi', header, ops: [{ op: 'fail', err: least }] })), {
    type: 'multi',
    header,
    ops: [{ op: 'fail', err: least }],
  });
});

test('znode data over the configured limit (jute.maxbuffer) is refused as malformed', () => {
  const c: CoordCommand = {
    type: 'write',
    header,
    op: { op: 'setData', path: '/a', data: new Uint8Array(11), version: -1 },
  };
  assert.throws(
    () => decodeCommand(encodeCommand(c), 10),
    (e: unknown) => e instanceof ProtocolError && e.code === 'invalid_length',
  );
  assert.equal(decodeCommand(encodeCommand(c), 11).type, 'write');
});

test('results round-trip, Stat and the i64 ephemeralOwner included', () => {
  const stat = {
    czxid: 5,
    mzxid: 6,
    ctime: 1.7e12,
    mtime: 1.7e12 + 1,
    version: -1,
    cversion: 2,
    aversion: 3,
    ephemeralOwner: -(2n ** 63n),
    dataLength: 4,
    numChildren: 0,
    pzxid: 9,
  };
  const all = [
    { err: ZkErr.ok, sessionId: 44 },
    { err: ZkErr.noNode },
    { err: ZkErr.ok, op: { err: ZkErr.ok, path: '/x0000000001', stat } },
    {
      err: ZkErr.badVersion,
      results: [{ err: ZkErr.ok }, { err: ZkErr.badVersion }, { err: ZkErr.runtimeInconsistency }],
    },
  ];
  for (const r of all) assert.deepEqual(decodeResult(encodeResult(r)), r);
});

test('a malformed payload is refused before any change; applied triggers reach the observer in order', () => {
  const ns = new CoordNamespace();
  const seen: [number, readonly Trigger[]][] = [];
  ns.observe((index, triggers) => seen.push([index, triggers]));
  const ctx = (index: number) => ({ index, logTimeMs: 0, term: 1, sessionId: 0 });
  const before = ns.snapshot();
  const create = encodeCommand({
    type: 'write',
    header: { ...header, sessionId: 0 },
    op: {
      op: 'create',
      path: '/a',
      data: new Uint8Array(0),
      acl: [{ perms: 31, scheme: 'world', id: 'anyone' }],
      mode: CreateMode.persistent,
      ttlMs: -1,
    },
  });
  assert.throws(() => ns.apply(ctx(1), create.subarray(0, create.length - 1)), ProtocolError);
  assert.deepEqual(ns.snapshot(), before);
  assert.deepEqual(seen, []);
  const r = decodeResult(ns.apply(ctx(2), create));
  assert.equal(r.err, ZkErr.ok);
  assert.equal(r.op?.stat?.czxid, 2, 'zxid = the log index');
  assert.deepEqual(seen, [
    [
      2,
      [
        { path: '/a', type: EventType.nodeCreated, acl: [{ perms: 31, scheme: 'world', id: 'anyone' }] },
        { path: '/', type: EventType.nodeChildrenChanged, acl: [{ perms: 31, scheme: 'world', id: 'anyone' }] },
      ],
    ],
  ]);
  const s = decodeResult(
    ns.apply(ctx(3), encodeCommand({ type: 'createSession', timeoutMs: 5000, passwd: new Uint8Array(16) })),
  );
  assert.deepEqual(s, { err: ZkErr.ok, sessionId: 3 }, 'a session id = its createSession index');
});

test('a corrupt snapshot section is a CorruptionError and leaves the current tree in place', () => {
  const ns = new CoordNamespace();
  const ctx = { index: 5, logTimeMs: 0, term: 1, sessionId: 0 };
  ns.apply(ctx, encodeCommand({ type: 'createSession', timeoutMs: 1, passwd: new Uint8Array(1) }));
  ns.apply(
    { ...ctx, index: 6 },
    encodeCommand({
      type: 'write',
      header: { ...header, sessionId: 5 },
      op: {
        op: 'create',
        path: '/e',
        data: new Uint8Array(1),
        acl: [{ perms: 31, scheme: 'world', id: 'anyone' }],
        mode: CreateMode.ephemeral,
        ttlMs: -1,
      },
    }),
  );
  const image = ns.snapshot();
  for (let n = 0; n < image.length; n++)
    assert.throws(() => ns.loadSnapshot(image.subarray(0, n)), CorruptionError, `cut at ${n}`);
  fc.assert(
    fc.property(fc.nat(image.length - 1), fc.integer({ min: 1, max: 255 }), (at, x) => {
      const bad = image.slice();
      bad[at] = bad[at]! ^ x;
      try {
        ns.loadSnapshot(bad);
      } catch (err) {
        assert.ok(err instanceof CorruptionError, String(err));
      }
    }),
    { numRuns: 500 },
  );
  assert.deepEqual(ns.snapshot(), image);
  assert.deepEqual(ns.tree.getEphemerals(5, ''), ['/e']);
  const empty = new CoordNamespace();
  empty.loadSnapshot(undefined)();
  assert.equal(empty.tree.size, 4);
});

test('v1 commands (no owner fields) still decode, as unchecked; a v1 setOwner is refused', () => {
  // v1 = v2 less the owner fields: header owner after sessionId, createSession owner at the end.
  const v2 = encodeCommand({ type: 'write', header, op: { op: 'delete', path: '/a', version: -1 } });
  const ownerAt = 2 + 8 + 1; // version, type, f64 time, uvarint sessionId (7)
  assert.equal(v2[ownerAt], 0, 'owner 0 when absent');
  const v1 = new Uint8Array([1, ...v2.subarray(1, ownerAt), ...v2.subarray(ownerAt + 1)]);
  assert.deepEqual(decodeCommand(v1), { type: 'write', header, op: { op: 'delete', path: '/a', version: -1 } });
  const session = encodeCommand({ type: 'createSession', timeoutMs: 4000, passwd: new Uint8Array(2) });
  const v1Session = new Uint8Array([1, ...session.subarray(1, session.length - 1)]);
  assert.deepEqual(decodeCommand(v1Session), { type: 'createSession', timeoutMs: 4000, passwd: new Uint8Array(2) });
  const move = encodeCommand({ type: 'setOwner', sessionId: 3, owner: 4 });
  assert.throws(() => decodeCommand(new Uint8Array([1, ...move.subarray(1)])), ProtocolError);
});

test("SessionMoved: a write through the session's former owner is refused at apply and changes nothing; the owner survives a snapshot", () => {
  const ns = new CoordNamespace();
  const moves: [number, number][] = [];
  ns.observeOwners((id, owner) => moves.push([id, owner]));
  const ctx = (index: number) => ({ index, logTimeMs: 0, term: 1, sessionId: 0 });
  const open = [{ perms: 31, scheme: 'world', id: 'anyone' }];
  const create = (owner: number, path: string, ephemeral = false) =>
    encodeCommand({
      type: 'write',
      header: { ...header, sessionId: 1, owner },
      op: { op: 'create', path, data: new Uint8Array(0), acl: open, mode: ephemeral ? 1 : 0, ttlMs: -1 },
    });
  ns.apply(ctx(1), encodeCommand({ type: 'createSession', timeoutMs: 4000, passwd: new Uint8Array(16), owner: 10 }));
  assert.equal(decodeResult(ns.apply(ctx(2), create(10, '/a', true))).err, ZkErr.ok, 'the owner writes');
  assert.deepEqual(decodeResult(ns.apply(ctx(3), encodeCommand({ type: 'setOwner', sessionId: 1, owner: 20 }))), {
    err: ZkErr.ok,
  });
  assert.deepEqual(moves, [[1, 20]], 'the move is told to the runtime');
  const before = ns.snapshot();
  assert.equal(decodeResult(ns.apply(ctx(4), create(10, '/b'))).op?.err, ZkErr.sessionMoved);
  const multi = encodeCommand({
    type: 'multi',
    header: { ...header, sessionId: 1, owner: 10 },
    ops: [{ op: 'setData', path: '/a', data: new Uint8Array(1), version: -1 }],
  });
  assert.equal(decodeResult(ns.apply(ctx(5), multi)).results?.[0]?.err, ZkErr.sessionMoved);
  assert.deepEqual(ns.snapshot(), before, 'nothing changed');
  assert.equal(decodeResult(ns.apply(ctx(6), create(20, '/b'))).op?.err, ZkErr.ok, 'the new owner writes');
  assert.equal(decodeResult(ns.apply(ctx(7), create(0, '/c'))).op?.err, ZkErr.ok, 'unchecked (0) passes');
  // A replica restored from a snapshot refuses the stale owner just the same.
  const restored = new CoordNamespace();
  restored.loadSnapshot(ns.snapshot())();
  assert.equal(decodeResult(restored.apply(ctx(8), create(10, '/d'))).op?.err, ZkErr.sessionMoved);
  assert.equal(
    decodeResult(ns.apply(ctx(8), encodeCommand({ type: 'setOwner', sessionId: 99, owner: 1 }))).err,
    ZkErr.sessionExpired,
  );
});

test('a v1 snapshot section (sessions without an owner) loads, its sessions unchecked until they move', () => {
  const ns = new CoordNamespace();
  const ctx = (index: number) => ({ index, logTimeMs: 0, term: 1, sessionId: 0 });
  const passwd = new Uint8Array(16).fill(0xab);
  ns.apply(ctx(1), encodeCommand({ type: 'createSession', timeoutMs: 4000, passwd, owner: 5 }));
  const v2 = ns.snapshot(); // v3 (v2 depth first): with only /, /zookeeper and its two children, the same order as v1's
  assert.equal(v2[0], 3);
  const at = v2.findIndex((_, i) => passwd.every((b, j) => v2[i + j] === b)) + passwd.length;
  assert.equal(v2[at], 5, 'the owner follows the password');
  const v1 = new Uint8Array([1, ...v2.subarray(1, at), ...v2.subarray(at + 1)]);
  const old = new CoordNamespace();
  old.loadSnapshot(v1)();
  const write = (owner: number) =>
    encodeCommand({
      type: 'write',
      header: { ...header, sessionId: 1, owner },
      op: {
        op: 'create',
        path: `/w${owner}`,
        data: new Uint8Array(0),
        acl: [{ perms: 31, scheme: 'world', id: 'anyone' }],
        mode: 0,
        ttlMs: -1,
      },
    });
  assert.equal(decodeResult(old.apply(ctx(2), write(9))).op?.err, ZkErr.ok, 'no owner recorded: unchecked');
  assert.equal(decodeResult(ns.apply(ctx(2), write(9))).op?.err, ZkErr.sessionMoved, 'v2 kept owner 5');
  old.apply(ctx(3), encodeCommand({ type: 'setOwner', sessionId: 1, owner: 7 }));
  assert.equal(decodeResult(old.apply(ctx(4), write(9))).op?.err, ZkErr.sessionMoved, 'checked once it moved');
});
