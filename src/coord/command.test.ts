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
    ],
  },
  { type: 'deleteContainer', header, path: '/c' },
  { type: 'deleteExpiredTtl', header, path: '/t' },
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
        { path: '/a', type: EventType.nodeCreated },
        { path: '/', type: EventType.nodeChildrenChanged },
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
