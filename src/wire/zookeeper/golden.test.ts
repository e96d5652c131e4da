// Goal: our codec agrees byte for byte with the real ZooKeeper 3.8 clients and server. The fixtures
// (test/fixtures/zookeeper/*.json, captured by scripts/capture-zk-fixtures.mjs through a relay in
// front of a standalone Debian ZooKeeper 3.8.0, driven by node-zookeeper-client 1.1.3 and one
// interactive zkCli.sh 3.8.0 session) are decoded with our server decoder (requests) and reply
// decoder (replies), and every decoded frame re-encodes to the identical bytes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OpCode, Xid, ZkErr } from '../../coord/codes.ts';
import { ProtocolError } from '../../lib/errors.ts';
import { bytewise } from '../../net/testing.ts';
import {
  encodeConnectRequest,
  encodeConnectResponse,
  encodeNotification,
  encodeReply,
  encodeRequest,
  type ResponseType,
  type ZkClientReply,
  ZkReplyDecoder,
  ZkRequestDecoder,
  type ZkServerRequest,
} from './index.ts';
import { loadFixtures } from '../../../test/support/fixtures.ts';

interface Fixture {
  readonly name: string;
  readonly requests: string[];
  readonly replies: string[];
}

const { named: fixture } = loadFixtures<Fixture>('zookeeper');

const hex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function decodeRequests(frames: string[], chunks: (b: Uint8Array) => Uint8Array[] = (b) => [b]): ZkServerRequest[] {
  const d = new ZkRequestDecoder();
  const out: ZkServerRequest[] = [];
  for (const c of chunks(hex(frames.join('')))) {
    d.push(c);
    for (let r = d.next(); r !== undefined; r = d.next()) {
      if (r instanceof ProtocolError) throw r;
      out.push(r);
    }
  }
  return out;
}

/** Replies decoded with the xid -> type map the requests give (as our client keeps it). */
function decodeReplies(requests: ZkServerRequest[], frames: string[]): ZkClientReply[] {
  const types = new Map<number, ResponseType>();
  for (const r of requests) if (r.kind === 'request') types.set(r.xid, r.body.type as ResponseType);
  const d = new ZkReplyDecoder({ typeOfXid: (xid) => types.get(xid) });
  const out: ZkClientReply[] = [];
  for (const f of frames) {
    d.push(hex(f));
    const r = d.next();
    if (r instanceof ProtocolError) throw r;
    assert.ok(r !== undefined, `a whole frame decodes: ${f}`);
    out.push(r);
    assert.equal(d.next(), undefined);
  }
  return out;
}

function reencodeRequest(r: ZkServerRequest): Uint8Array {
  switch (r.kind) {
    case 'connect':
      return encodeConnectRequest(r.request);
    case 'request':
      return encodeRequest(r.xid, r.body);
    default:
      throw new Error(`a real client sent a ${r.kind} frame`);
  }
}

function reencodeReply(r: ZkClientReply): Uint8Array {
  switch (r.kind) {
    case 'connect':
      return encodeConnectResponse(r.response);
    case 'notification':
      return encodeNotification(r.event, r.header.zxid);
    case 'reply':
      return encodeReply(r.header, r.body);
  }
}

for (const name of ['node-client-session', 'node-client-reconnect', 'zkcli-session']) {
  test(`golden ${name}: every request and reply decodes and re-encodes to the captured bytes`, () => {
    const f = fixture(name);
    const requests = decodeRequests(f.requests);
    assert.equal(requests.length, f.requests.length);
    requests.forEach((r, i) => {
      assert.equal(toHex(reencodeRequest(r)), f.requests[i], `request ${i}`);
    });
    // Byte by byte gives the same requests.
    assert.deepEqual(decodeRequests(f.requests, bytewise), requests);
    const replies = decodeReplies(requests, f.replies);
    replies.forEach((r, i) => {
      assert.equal(toHex(reencodeReply(r)), f.replies[i], `reply ${i}`);
    });
  });
}

test('golden: zkCli sends the readOnly byte and ZooKeeper answers with one; node-zookeeper-client sends none and gets none', () => {
  for (const [name, readOnly] of [
    ['zkcli-session', false],
    ['node-client-session', null],
  ] as const) {
    const f = fixture(name);
    const [first] = decodeRequests(f.requests);
    assert.ok(first?.kind === 'connect');
    assert.equal(first.request.readOnly, readOnly);
    const [reply] = decodeReplies([], f.replies.slice(0, 1));
    assert.ok(reply?.kind === 'connect');
    assert.equal(reply.response.readOnly, readOnly);
  }
});

test('golden: zkCli exercised the opcodes the service must serve', () => {
  const requests = decodeRequests(fixture('zkcli-session').requests);
  const types = new Set(requests.flatMap((r) => (r.kind === 'request' ? [r.body.type] : [])));
  for (const t of [
    OpCode.create,
    OpCode.createContainer,
    OpCode.createTTL,
    OpCode.getData,
    OpCode.setData,
    OpCode.getChildren,
    OpCode.getChildren2,
    OpCode.exists,
    OpCode.getACL,
    OpCode.setACL,
    OpCode.auth,
    OpCode.whoAmI,
    OpCode.getEphemerals,
    OpCode.getAllChildrenNumber,
    OpCode.sync,
    OpCode.addWatch,
    OpCode.removeWatches,
    OpCode.delete,
    OpCode.multi,
    OpCode.closeSession,
  ]) {
    assert.ok(types.has(t), `zkCli sent opcode ${t}`);
  }
  const replies = decodeReplies(requests, fixture('zkcli-session').replies);
  const notes = replies.filter((r) => r.kind === 'notification');
  assert.ok(notes.length >= 1, 'the get -w watch fired');
  const who = replies.find((r) => r.kind === 'reply' && r.type === OpCode.whoAmI);
  assert.ok(who?.kind === 'reply' && who.body?.type === OpCode.whoAmI);
  assert.deepEqual(who.body.clientInfo, [
    { authScheme: 'ip', user: '127.0.0.1' },
    { authScheme: 'digest', user: 'user' },
  ]);
});

test('golden: node-zookeeper-client multi ok and failing, with per-op results', () => {
  const f = fixture('node-client-session');
  const requests = decodeRequests(f.requests);
  const multis = requests.flatMap((r) => (r.kind === 'request' && r.body.type === OpCode.multi ? [r] : []));
  assert.equal(multis.length, 2);
  const replies = decodeReplies(requests, f.replies);
  const results = replies.flatMap((r) =>
    r.kind === 'reply' && r.body?.type === OpCode.multi ? [r.body.results.map((x) => x.type)] : [],
  );
  assert.deepEqual(results[0], [OpCode.create, OpCode.setData, OpCode.check, OpCode.delete]);
  assert.deepEqual(results[1], [OpCode.error, OpCode.error]);
  const existsAbsent = replies.find((r) => r.kind === 'reply' && r.type === OpCode.exists && r.header.err !== 0);
  assert.ok(existsAbsent?.kind === 'reply');
  assert.equal(existsAbsent.header.err, ZkErr.noNode);
  assert.equal(existsAbsent.body, null);
  const auth = requests.find((r) => r.kind === 'request' && r.body.type === OpCode.auth);
  assert.ok(auth?.kind === 'request' && auth.xid === Xid.auth);
});

test('golden: a reconnect carries the session id, password and lastZxidSeen, re-sends auth and SetWatches', () => {
  const first = decodeReplies([], fixture('node-client-session').replies.slice(0, 1))[0];
  const again = decodeRequests(fixture('node-client-reconnect').requests);
  assert.ok(first?.kind === 'connect' && again[0]?.kind === 'connect');
  assert.equal(again[0].request.sessionId, first.response.sessionId);
  assert.deepEqual(again[0].request.passwd, first.response.passwd);
  assert.ok(again[0].request.lastZxidSeen > 0n);
  const bodies = again.flatMap((r) => (r.kind === 'request' ? [r.body] : []));
  assert.equal(bodies[0]?.type, OpCode.auth);
  const sw = bodies.find((b) => b.type === OpCode.setWatches);
  assert.ok(sw?.type === OpCode.setWatches);
  assert.deepEqual([sw.dataWatches, sw.existWatches, sw.childWatches], [['/nzk'], ['/nzk/later'], []]);
});

test('golden: an unknown opcode gets UNIMPLEMENTED with zxid -1 (then ZooKeeper closes)', () => {
  const f = fixture('unknown-opcode');
  const requests = decodeRequests(f.requests);
  assert.deepEqual(requests[1], { kind: 'unknown', xid: 1, type: 999, body: new Uint8Array(0) });
  assert.equal(toHex(encodeReply({ xid: 1, zxid: -1n, err: ZkErr.unimplemented }, null)), f.replies[1]);
});

test('golden: ruok is a four-letter word, and ZooKeeper answers imok', () => {
  const f = fixture('four-letter-ruok');
  assert.deepEqual(decodeRequests(f.requests), [{ kind: 'fourLetter', word: 'ruok', traceMask: null }]);
  assert.equal(Buffer.from(hex(f.replies[0] ?? '')).toString('latin1'), 'imok');
});
