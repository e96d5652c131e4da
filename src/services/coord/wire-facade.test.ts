// Goal: the facade between the wire codec and the session handler loses nothing: every request a
// client encodes arrives as the handler's value (nulls as empty values, i64s exact), in any
// chunking; every reply the handler builds decodes, on the client side, as the record of its
// opcode; an error reply carries no body; ipOf reads every address form a listener reports.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OpCode } from '../../coord/codes.ts';
import type { Stat } from '../../coord/tree.ts';
import { ProtocolError } from '../../lib/errors.ts';
import { encodeConnectRequest, encodeRequest, ZkReplyDecoder } from '../../wire/zookeeper/index.ts';
import type { RequestBody, ResponseType } from '../../wire/zookeeper/index.ts';
import { coordConfigSchema } from './config.ts';
import { digestId } from '../../coord/sha1.ts';
import { ipOf, javaHashSetOrder } from './session.ts';
import { zkDecoder, zkEncoder, zkRequestSize } from './wire-facade.ts';
import type { ZkIncoming, ZkReplyBody } from './zk-types.ts';

const config = coordConfigSchema.parse({});
const acl = [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }];
const stat: Stat = {
  czxid: 3,
  mzxid: 4,
  ctime: 1,
  mtime: 2,
  version: 1,
  cversion: 0,
  aversion: 0,
  ephemeralOwner: 9n,
  dataLength: 1,
  numChildren: 0,
  pzxid: 3,
};

function decodeAll(bytes: Uint8Array, chunk: number): ZkIncoming[] {
  const d = zkDecoder(config);
  const out: ZkIncoming[] = [];
  for (let i = 0; i < bytes.length; i += chunk) {
    d.push(bytes.subarray(i, i + chunk));
    for (let r = d.next(); r !== undefined; r = d.next()) {
      assert.ok(!(r instanceof ProtocolError), String(r));
      out.push(r);
    }
  }
  return out;
}

test('requests arrive as the handler values, whatever the chunking', () => {
  const requests: RequestBody<bigint>[] = [
    { type: OpCode.create, path: '/a', data: null, acl, flags: 1 },
    { type: OpCode.createTTL, path: '/t', data: Uint8Array.of(1), acl, flags: 5, ttl: 5000n },
    { type: OpCode.getData, path: '/a', watch: true },
    { type: OpCode.getEphemerals, prefixPath: '/p' },
    { type: OpCode.removeWatches, path: '/a', watcherType: 3 },
    { type: OpCode.auth, authType: 0, scheme: 'digest', auth: new TextEncoder().encode('u:p') },
    {
      type: OpCode.setWatches2,
      relativeZxid: 2n ** 60n,
      dataWatches: ['/d'],
      existWatches: null,
      childWatches: [],
      persistentWatches: ['/p'],
      persistentRecursiveWatches: ['/r'],
    },
    {
      type: OpCode.multi,
      ops: [
        { type: OpCode.delete, path: '/a', version: -1 },
        { type: OpCode.check, path: '/b', version: 2 },
      ],
    },
    { type: OpCode.multiRead, ops: [{ type: OpCode.getChildren, path: '/', watch: false }] },
    { type: OpCode.ping },
  ];
  const connect = encodeConnectRequest({
    protocolVersion: 0,
    lastZxidSeen: 7n,
    timeOutMs: 3000,
    sessionId: 2n ** 62n,
    passwd: new Uint8Array(16),
    readOnly: false,
  });
  const frames = [connect, ...requests.map((r, i) => encodeRequest(i + 1, r))];
  const bytes = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
  let at = 0;
  for (const f of frames) {
    bytes.set(f, at);
    at += f.length;
  }
  for (const chunk of [1, 3, 64, bytes.length]) {
    const got = decodeAll(bytes, chunk);
    assert.equal(got.length, frames.length);
    const c = got[0]!;
    assert.ok(c.kind === 'connect');
    assert.deepEqual([c.lastZxidSeen, c.sessionId, c.timeOutMs, c.readOnly], [7n, 2n ** 62n, 3000, false]);
    const bodies = got.slice(1).map((g) => (g.kind === 'request' ? g.body : undefined));
    assert.deepEqual(bodies[0], {
      t: 'create',
      path: '/a',
      data: new Uint8Array(0),
      acl: [{ perms: 31, scheme: 'world', id: 'anyone' }],
      flags: 1,
      ttl: -1,
    });
    assert.equal(bodies[1]?.t === 'create' && bodies[1].ttl, 5000);
    assert.deepEqual(bodies[2], { t: 'path', path: '/a', watch: true });
    assert.deepEqual(bodies[3], { t: 'path', path: '/p', watch: false });
    assert.deepEqual(bodies[4], { t: 'watchType', path: '/a', type: 3 });
    assert.equal(bodies[5]?.t === 'auth' && new TextDecoder().decode(bodies[5].auth), 'u:p');
    assert.deepEqual(bodies[6], {
      t: 'setWatches',
      relativeZxid: 2n ** 60n,
      dataWatches: ['/d'],
      existWatches: [],
      childWatches: [],
      persistentWatches: ['/p'],
      persistentRecursiveWatches: ['/r'],
    });
    assert.deepEqual(bodies[7], {
      t: 'multi',
      ops: [
        { op: OpCode.delete, body: { t: 'delete', path: '/a', version: -1 } },
        { op: OpCode.check, body: { t: 'check', path: '/b', version: 2 } },
      ],
    });
    assert.deepEqual(bodies[8], { t: 'multiRead', ops: [{ op: OpCode.getChildren, path: '/' }] });
    assert.deepEqual(bodies[9], { t: 'none' });
  }
});

test('replies decode on the client side as the record of their opcode; errors carry no body', () => {
  const enc = zkEncoder();
  const cases: [number, ZkReplyBody][] = [
    [OpCode.create, { t: 'path', path: '/a' }],
    [OpCode.create2, { t: 'pathStat', path: '/a', stat }],
    [OpCode.exists, { t: 'stat', stat }],
    [OpCode.getData, { t: 'data', data: Uint8Array.of(7), stat }],
    [OpCode.getChildren2, { t: 'children2', children: ['x'], stat }],
    [OpCode.getACL, { t: 'acl', acl: [{ perms: 1, scheme: 'ip', id: '10.0.0.1' }], stat }],
    [OpCode.sync, { t: 'path', path: '/s' }],
    [OpCode.getAllChildrenNumber, { t: 'int', n: 12 }],
    [OpCode.addWatch, { t: 'int', n: 0 }],
    [OpCode.whoAmI, { t: 'whoAmI', infos: [{ authScheme: 'ip', user: '127.0.0.1' }] }],
    [
      OpCode.multi,
      {
        t: 'multi',
        results: [
          { op: OpCode.create, err: 0, path: '/m' },
          { op: OpCode.error, err: -101 },
        ],
      },
    ],
  ];
  const types = new Map<number, ResponseType>();
  const dec = new ZkReplyDecoder({ typeOfXid: (xid) => types.get(xid) });
  dec.push(enc.connectResponse({ timeOutMs: 4000, sessionId: 5, passwd: new Uint8Array(16), readOnly: undefined }));
  const first = dec.next();
  assert.ok(first !== undefined && !(first instanceof ProtocolError) && first.kind === 'connect');
  assert.equal(first.response.readOnly, null, 'no readOnly byte when the request had none');
  cases.forEach(([op, body], i) => {
    types.set(i + 1, op as ResponseType);
    dec.push(enc.reply(i + 1, 10, 0, op, body));
    const r = dec.next();
    assert.ok(r !== undefined && !(r instanceof ProtocolError) && r.kind === 'reply', `op ${op}`);
    assert.equal(r.body?.type, op);
  });
  types.set(99, OpCode.getData);
  dec.push(enc.reply(99, 10, -101, OpCode.getData, { t: 'data', data: Uint8Array.of(1), stat }));
  const err = dec.next();
  assert.ok(err !== undefined && !(err instanceof ProtocolError) && err.kind === 'reply');
  assert.deepEqual([err.header.err, err.body], [-101, null]);
  dec.push(enc.notification(3, 3, '/w'));
  const n = dec.next();
  assert.ok(n !== undefined && !(n instanceof ProtocolError) && n.kind === 'notification');
  assert.deepEqual([n.header.zxid, n.event.type, n.event.path], [-1n, 3, '/w']);
});

test('ipOf: v4, v6 in brackets, v4-mapped v6', () => {
  assert.equal(ipOf('127.0.0.1:5000'), '127.0.0.1');
  assert.equal(ipOf('[::1]:5000'), '::1');
  assert.equal(ipOf('[::ffff:10.1.2.3]:80'), '10.1.2.3');
  assert.equal(ipOf('client-3:40001'), 'client-3');
});

test('whoAmI order: ZooKeeper lists digest:alice (alice:secret) before ip:127.0.0.1 (seen on 3.8), by hash bucket', () => {
  const ip = { scheme: 'ip', id: '127.0.0.1' };
  const alice = { scheme: 'digest', id: digestId('alice:secret') };
  assert.deepEqual(javaHashSetOrder([ip, alice]), [alice, ip]);
  assert.deepEqual(javaHashSetOrder([alice, ip]), [alice, ip]);
});

test("the decoder reports the buffer it keeps, and a request's size is its frame's", () => {
  const d = zkDecoder(config);
  const connect = encodeConnectRequest({
    protocolVersion: 0,
    lastZxidSeen: 0n,
    timeOutMs: 3000,
    sessionId: 0n,
    passwd: new Uint8Array(16),
    readOnly: false,
  });
  d.push(connect);
  const opened = d.next();
  assert.ok(opened !== undefined && !(opened instanceof ProtocolError) && opened.kind === 'connect');
  const setData = encodeRequest(1, { type: OpCode.setData, path: '/a', data: new Uint8Array(500_000), version: -1 });
  // A large frame and one byte more: the decoder keeps a buffer for the whole frame (a review:
  // it reported the one unread byte).
  d.push(setData);
  d.push(Uint8Array.of(0));
  const request = d.next();
  assert.ok(request !== undefined && !(request instanceof ProtocolError) && request.kind === 'request');
  assert.ok((d.heldBytes ?? 0) >= setData.length, `${d.heldBytes} bytes kept`);
  assert.equal(zkRequestSize(request), setData.length + 64);
});
