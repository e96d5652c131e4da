// Goal: the ZooKeeper codec (jute.ts, records.ts, frame.ts grammars) round-trips every record of
// the client protocol in both directions, decodes the same requests for any chunking of the same
// bytes (whole, byte by byte, random cuts: the nats.js parser discipline, as src/net/frame.test.ts),
// fires each of its error codes where the grammar says, and turns any garbage into values or a
// ProtocolError, never a throw.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { OpCode, Xid, ZkErr } from '../../coord/codes.ts';
import { ProtocolError } from '../../lib/errors.ts';
import { limits } from '../../lib/limits.ts';
import { bytewise, splitAt } from '../../net/testing.ts';
import {
  type Acl,
  type ConnectRequest,
  type ConnectResponse,
  encodeConnectRequest,
  encodeConnectResponse,
  encodeFourLetterWord,
  encodeNotification,
  encodeReply,
  encodeRequest,
  fourLetterWords,
  type MultiOp,
  type MultiResult,
  type RequestBody,
  type ResponseBody,
  type ResponseType,
  type Stat,
  type ZkClientReply,
  ZkReplyDecoder,
  ZkRequestDecoder,
  type ZkServerRequest,
} from './index.ts';
import { JuteReader, JuteWriter } from './jute.ts';

// ---- arbitraries ---------------------------------------------------------------------------------

/** Plain objects (deepStrictEqual compares prototypes; fast-check may draw null-prototype records). */
const rec = ((model: never) => fc.record(model, { noNullPrototype: true })) as unknown as typeof fc.record;
const int = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const long = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
const str = fc.string({ maxLength: 12 });
const ostr = fc.option(str, { nil: null });
const bytes = fc.option(fc.uint8Array({ maxLength: 16 }), { nil: null });
const strings = fc.option(fc.array(str, { maxLength: 4 }), { nil: null });
const acl: fc.Arbitrary<Acl> = rec({ perms: int, id: rec({ scheme: ostr, id: ostr }) });
const acls = fc.option(fc.array(acl, { maxLength: 3 }), { nil: null });
const stat: fc.Arbitrary<Stat> = rec({
  czxid: long,
  mzxid: long,
  ctime: long,
  mtime: long,
  version: int,
  cversion: int,
  aversion: int,
  ephemeralOwner: long,
  dataLength: int,
  numChildren: int,
  pzxid: long,
});
const c = <T extends number>(...types: T[]) => fc.constantFrom(...types);

const createReq = rec({
  type: c(OpCode.create, OpCode.create2, OpCode.createContainer),
  path: ostr,
  data: bytes,
  acl: acls,
  flags: int,
});
const createTtlReq = rec({ type: c(OpCode.createTTL), path: ostr, data: bytes, acl: acls, flags: int, ttl: long });
const deleteReq = rec({ type: c(OpCode.delete), path: ostr, version: int });
const setDataReq = rec({ type: c(OpCode.setData), path: ostr, data: bytes, version: int });
const checkReq = rec({ type: c(OpCode.check), path: ostr, version: int });
const readReq = rec({ type: c(OpCode.getData, OpCode.getChildren), path: ostr, watch: fc.boolean() });
const multiOp: fc.Arbitrary<MultiOp> = fc.oneof(createReq, createTtlReq, deleteReq, setDataReq, checkReq, readReq);

const requestBody: fc.Arbitrary<RequestBody> = fc.oneof(
  createReq,
  createTtlReq,
  deleteReq,
  setDataReq,
  checkReq,
  rec({
    type: c(OpCode.exists, OpCode.getData, OpCode.getChildren, OpCode.getChildren2),
    path: ostr,
    watch: fc.boolean(),
  }),
  rec({ type: c(OpCode.getACL, OpCode.sync, OpCode.getAllChildrenNumber), path: ostr }),
  rec({ type: c(OpCode.setACL), path: ostr, acl: acls, version: int }),
  rec({ type: c(OpCode.reconfig), joiningServers: ostr, leavingServers: ostr, newMembers: ostr, curConfigId: long }),
  rec({ type: c(OpCode.checkWatches, OpCode.removeWatches), path: ostr, watcherType: int }),
  rec({ type: c(OpCode.auth), authType: int, scheme: ostr, auth: bytes }),
  rec({
    type: c(OpCode.setWatches),
    relativeZxid: long,
    dataWatches: strings,
    existWatches: strings,
    childWatches: strings,
  }),
  rec({
    type: c(OpCode.setWatches2),
    relativeZxid: long,
    dataWatches: strings,
    existWatches: strings,
    childWatches: strings,
    persistentWatches: strings,
    persistentRecursiveWatches: strings,
  }),
  rec({ type: c(OpCode.sasl), token: bytes }),
  rec({ type: c(OpCode.getEphemerals), prefixPath: ostr }),
  rec({ type: c(OpCode.addWatch), path: ostr, mode: int }),
  rec({ type: c(OpCode.ping, OpCode.whoAmI, OpCode.closeSession) }),
  rec({ type: c(OpCode.multi, OpCode.multiRead), ops: fc.array(multiOp, { maxLength: 4 }) }),
);

const multiResult: fc.Arbitrary<MultiResult> = fc.oneof(
  rec({ type: c(OpCode.create), path: ostr }),
  rec({ type: c(OpCode.create2, OpCode.createContainer, OpCode.createTTL), path: ostr, stat }),
  rec({ type: c(OpCode.setData), stat }),
  rec({ type: c(OpCode.getData), data: bytes, stat }),
  rec({ type: c(OpCode.getChildren), children: strings }),
  rec({ type: c(OpCode.delete, OpCode.check) }),
  rec({ type: c(OpCode.error), err: int }),
);

const responseBody: fc.Arbitrary<ResponseBody> = fc.oneof(
  rec({ type: c(OpCode.create, OpCode.sync), path: ostr }),
  rec({ type: c(OpCode.create2, OpCode.createContainer, OpCode.createTTL), path: ostr, stat }),
  rec({ type: c(OpCode.setData, OpCode.setACL, OpCode.exists), stat }),
  rec({ type: c(OpCode.getData, OpCode.reconfig), data: bytes, stat }),
  rec({ type: c(OpCode.getACL), acl: acls, stat }),
  rec({ type: c(OpCode.getChildren), children: strings }),
  rec({ type: c(OpCode.getChildren2), children: strings, stat }),
  rec({ type: c(OpCode.getEphemerals), ephemerals: strings }),
  rec({ type: c(OpCode.getAllChildrenNumber), totalNumber: int }),
  rec({
    type: c(OpCode.whoAmI),
    clientInfo: fc.option(fc.array(rec({ authScheme: ostr, user: ostr }), { maxLength: 3 }), { nil: null }),
  }),
  rec({ type: c(OpCode.sasl), token: bytes }),
  rec({ type: c(OpCode.addWatch), err: int }),
  rec({
    type: c(
      OpCode.delete,
      OpCode.check,
      OpCode.ping,
      OpCode.auth,
      OpCode.setWatches,
      OpCode.setWatches2,
      OpCode.checkWatches,
      OpCode.removeWatches,
      OpCode.closeSession,
    ),
  }),
  rec({ type: c(OpCode.multi, OpCode.multiRead), results: fc.array(multiResult, { maxLength: 4 }) }),
);

const readOnly = fc.constantFrom(true, false, null);
const connectRequest: fc.Arbitrary<ConnectRequest> = rec({
  protocolVersion: int,
  lastZxidSeen: long,
  timeOutMs: int,
  sessionId: long,
  passwd: bytes,
  readOnly,
});
const connectResponse: fc.Arbitrary<ConnectResponse> = rec({
  protocolVersion: int,
  timeOutMs: int,
  sessionId: long,
  passwd: bytes,
  readOnly,
});
const xid = fc.integer({ min: 1, max: 2 ** 31 - 1 });

// ---- helpers -------------------------------------------------------------------------------------

type Out = ZkServerRequest | { error: string };

function decodeChunks(chunks: Uint8Array[], packetBytesMax?: number): Out[] {
  const d = new ZkRequestDecoder(packetBytesMax === undefined ? {} : { packetBytesMax });
  const out: Out[] = [];
  for (const ch of chunks) {
    d.push(ch);
    for (;;) {
      const r = d.next();
      if (r === undefined) break;
      if (r instanceof ProtocolError) {
        out.push({ error: r.code });
        return out;
      }
      out.push(r);
    }
  }
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

function frame(body: Uint8Array): Uint8Array {
  const w = new JuteWriter();
  w.int(body.length).raw(body);
  return w.finish();
}

const connect0 = encodeConnectRequest({
  protocolVersion: 0,
  lastZxidSeen: 0n,
  timeOutMs: 30_000,
  sessionId: 0n,
  passwd: new Uint8Array(16),
  readOnly: false,
});

function requestFrame(x: number, type: number, write: (w: JuteWriter) => void): Uint8Array {
  const w = new JuteWriter();
  w.int(x).int(type);
  write(w);
  return frame(w.finish());
}

// ---- round trips ---------------------------------------------------------------------------------

test('connect and requests decode identically whole, byte by byte and in random chunks, and re-encode', () => {
  fc.assert(
    fc.property(
      connectRequest,
      fc.array(fc.tuple(xid, requestBody), { maxLength: 8 }),
      fc.array(fc.nat()),
      (conn, reqs, cuts) => {
        const stream = concat([encodeConnectRequest(conn), ...reqs.map(([x, b]) => encodeRequest(x, b))]);
        const expected: Out[] = [
          { kind: 'connect', request: conn },
          ...reqs.map(([x, body]) => ({ kind: 'request' as const, xid: x, body })),
        ];
        assert.deepEqual(decodeChunks([stream]), expected);
        assert.deepEqual(decodeChunks(bytewise(stream)), expected);
        assert.deepEqual(decodeChunks(splitAt(stream, cuts)), expected);
      },
    ),
    { numRuns: 200 },
  );
});

test('connect responses, replies and notifications round-trip through the reply decoder under any chunking', () => {
  fc.assert(
    fc.property(
      connectResponse,
      fc.array(fc.tuple(xid, long, fc.option(responseBody, { nil: null }), int), { maxLength: 8 }),
      rec({ type: int, state: int, path: ostr }),
      fc.array(fc.nat()),
      (conn, replies, event, cuts) => {
        // Distinct xids so the type map is a function.
        const seen = new Set<number>();
        const list = replies.filter(([x]) => !seen.has(x) && seen.add(x) !== undefined);
        const types = new Map<number, ResponseType>(list.map(([x, , b]) => [x, b?.type ?? OpCode.delete]));
        const frames = [
          encodeConnectResponse(conn),
          ...list.map(([x, zxid, body, err]) =>
            encodeReply({ xid: x, zxid, err: body === null ? err || -1 : 0 }, body),
          ),
          encodeNotification(event, 5n),
        ];
        const expected: ZkClientReply[] = [
          { kind: 'connect', response: conn },
          ...list.map(([x, zxid, body, err]): ZkClientReply => {
            const e = body === null ? err || -1 : 0;
            return {
              kind: 'reply',
              header: { xid: x, zxid, err: e },
              type: types.get(x)!,
              body: e === 0 ? body : null,
            };
          }),
          { kind: 'notification', header: { xid: Xid.notification, zxid: 5n, err: 0 }, event },
        ];
        for (const chunks of [[concat(frames)], bytewise(concat(frames)), splitAt(concat(frames), cuts)]) {
          const d = new ZkReplyDecoder({ typeOfXid: (x) => types.get(x) });
          const got: ZkClientReply[] = [];
          for (const ch of chunks) {
            d.push(ch);
            for (let r = d.next(); r !== undefined; r = d.next()) {
              assert.ok(!(r instanceof ProtocolError), String(r));
              got.push(r);
            }
          }
          assert.deepEqual(got, expected);
        }
      },
    ),
    { numRuns: 200 },
  );
});

test('an i64 given as a number encodes as the same bigint', () => {
  const a = encodeReply({ xid: 1, zxid: 2 ** 40, err: 0 }, { type: OpCode.sync, path: '/a' });
  const b = encodeReply({ xid: 1, zxid: 2n ** 40n, err: 0 }, { type: OpCode.sync, path: '/a' });
  assert.deepEqual(a, b);
});

test('a reply with err != 0 carries no body, whatever body is given', () => {
  const bytes = encodeReply(
    { xid: 3, zxid: 9n, err: ZkErr.noNode },
    { type: OpCode.exists, stat: fc.sample(stat, 1)[0]! },
  );
  assert.equal(bytes.length, 4 + 16);
});

test('jute: null buffer, ustring and vector are length -1; invalid UTF-8 reads with U+FFFD as Java does', () => {
  const w = new JuteWriter();
  w.buffer(null)
    .ustring(null)
    .vector(null, () => {});
  w.int(3).raw(Uint8Array.of(0x61, 0xff, 0x62));
  const r = new JuteReader(w.finish());
  assert.equal(r.buffer(), null);
  assert.equal(r.ustring(), null);
  assert.equal(
    r.vector((x) => x.int()),
    null,
  );
  assert.equal(r.ustring(), 'a\ufffdb');
  assert.equal(r.remaining, 0);
});

test('jute: a boolean byte other than 0 reads as true (DataInput.readBoolean), the connect readOnly byte too', () => {
  const body = encodeConnectRequest({
    protocolVersion: 0,
    lastZxidSeen: 0n,
    timeOutMs: 1,
    sessionId: 0n,
    passwd: null,
    readOnly: false,
  });
  body[body.length - 1] = 7;
  const [first] = decodeChunks([body]);
  assert.ok(first !== undefined && 'kind' in first && first.kind === 'connect');
  assert.equal(first.request.readOnly, true);
});

// ---- four-letter words ---------------------------------------------------------------------------

test("every one of ZooKeeper 3.8's four-letter words decodes as one, under any chunking; bytes after it are ignored", () => {
  for (const word of fourLetterWords) {
    const bytes = concat([encodeFourLetterWord(word, 0x1234n), new TextEncoder().encode('junk')]);
    const expected = [{ kind: 'fourLetter', word, traceMask: word === 'stmk' ? 0x1234n : null }];
    assert.deepEqual(decodeChunks([bytes]), expected, word);
    assert.deepEqual(decodeChunks(bytewise(bytes)), expected, word);
  }
});

test('a four-letter word is only recognised first: after the connect it is a frame length', () => {
  const ruok = encodeFourLetterWord('ruok');
  assert.deepEqual(decodeChunks([connect0, ruok]).slice(1), [{ error: 'zk_packet_too_large' }]);
  // An unknown word ("GET " of an HTTP client) is a length, far over the bound.
  assert.deepEqual(decodeChunks([new TextEncoder().encode('GET / HTTP/1.1\r\n')]), [{ error: 'zk_packet_too_large' }]);
});

// ---- errors --------------------------------------------------------------------------------------

test('zk_packet_too_large: a length over zkPacketBytesMax is terminal before its body arrives; the bound itself is accepted', () => {
  const over = new JuteWriter().int(limits.zkPacketBytesMax + 1).finish();
  assert.deepEqual(decodeChunks([over]), [{ error: 'zk_packet_too_large' }]);
  const at = new JuteWriter().int(limits.zkPacketBytesMax).finish();
  assert.deepEqual(decodeChunks([at]), []); // waits for the body
  assert.deepEqual(decodeChunks([connect0, requestFrame(1, OpCode.ping, () => {})], 8).slice(0, 1), [
    { error: 'zk_packet_too_large' },
  ]);
  assert.equal(limits.zkPacketBytesMax, 0xfffff, "ZooKeeper's jute.maxbuffer default");
});

test('invalid_length: a negative frame length is terminal', () => {
  assert.deepEqual(decodeChunks([new JuteWriter().int(-1).finish()]), [{ error: 'invalid_length' }]);
  assert.deepEqual(decodeChunks([connect0, new JuteWriter().int(-5).finish()]).slice(1), [{ error: 'invalid_length' }]);
});

test('truncated: a connect request or a request header shorter than its fields is terminal', () => {
  assert.deepEqual(decodeChunks([frame(new Uint8Array(10))]), [{ error: 'truncated' }]);
  assert.deepEqual(
    decodeChunks([connect0, frame(new Uint8Array(7)), requestFrame(1, OpCode.ping, () => {})]).slice(1),
    [{ error: 'truncated' }],
  );
});

test('invalid_length: a connect passwd length below -1 or past the frame is terminal', () => {
  const w = new JuteWriter().int(0).long(0n).int(1).long(0n).int(-2);
  assert.deepEqual(decodeChunks([frame(w.finish())]), [{ error: 'invalid_length' }]);
  const v = new JuteWriter().int(0).long(0n).int(1).long(0n).int(100);
  assert.deepEqual(decodeChunks([frame(v.finish())]), [{ error: 'invalid_length' }]);
});

test('a body that does not decode is malformed, not terminal (ZooKeeper answers MARSHALLINGERROR and goes on)', () => {
  const cases: Array<[Uint8Array, string]> = [
    [requestFrame(5, OpCode.getData, (w) => w.int(-2)), 'invalid_length'],
    [requestFrame(5, OpCode.getData, (w) => w.int(1000).int(0)), 'invalid_length'],
    [requestFrame(5, OpCode.getData, (w) => w.ustring('/a')), 'truncated'], // no watch byte
    [requestFrame(5, OpCode.setWatches, (w) => w.long(0n).int(0x7fffffff)), 'invalid_length'],
    [requestFrame(5, OpCode.multi, (w) => w.int(OpCode.sync).bool(false).int(-1).ustring('/a')), 'zk_bad_multi_op'],
    [requestFrame(5, OpCode.multi, (w) => w.int(OpCode.check).bool(false).int(-1).ustring('/a').int(1)), 'truncated'],
  ];
  for (const [bytes, code] of cases) {
    const out = decodeChunks([connect0, bytes, requestFrame(6, OpCode.ping, () => {})]);
    assert.equal(out.length, 3);
    const bad = out[1]!;
    assert.ok(
      'kind' in bad && bad.kind === 'malformed',
      JSON.stringify(bad, (_k, v) => (typeof v === 'bigint' ? String(v) : v)),
    );
    assert.equal(bad.error.code, code);
    assert.equal(bad.xid, 5);
    assert.deepEqual(out[2], { kind: 'request', xid: 6, body: { type: OpCode.ping } });
  }
});

test('an opcode ZooKeeper does not serve decodes as unknown with its body (answered UNIMPLEMENTED)', () => {
  for (const type of [0, 10, 20, 23, 99, 108, -10, -1, 999]) {
    const out = decodeChunks([connect0, requestFrame(9, type, (w) => w.int(42))]);
    assert.deepEqual(out[1], { kind: 'unknown', xid: 9, type, body: Uint8Array.of(0, 0, 0, 42) });
  }
});

test('zk_unexpected_xid and zk_bad_multi_op in replies; reply errors are terminal', () => {
  const conn = encodeConnectResponse({ protocolVersion: 0, timeOutMs: 1, sessionId: 1n, passwd: null, readOnly: null });
  const d = new ZkReplyDecoder({ typeOfXid: () => undefined });
  d.push(concat([conn, encodeReply({ xid: 7, zxid: 1n, err: 0 }, null)]));
  assert.equal((d.next() as ZkClientReply).kind, 'connect');
  const e = d.next();
  assert.ok(e instanceof ProtocolError && e.code === 'zk_unexpected_xid');
  d.push(encodeReply({ xid: Xid.ping, zxid: 1n, err: 0 }, null));
  assert.equal(d.next(), e);

  const bad = (write: (w: JuteWriter) => void): string | undefined => {
    const m = new ZkReplyDecoder({ typeOfXid: () => OpCode.multi });
    const w = new JuteWriter().int(1).long(1n).int(0);
    write(w);
    m.push(concat([conn, frame(w.finish())]));
    m.next();
    const r = m.next();
    return r instanceof ProtocolError ? r.code : undefined;
  };
  assert.equal(
    bad((w) => w.int(OpCode.sync).bool(false).int(0)),
    'zk_bad_multi_op',
  );
  assert.equal(
    bad((w) => w.int(OpCode.error).bool(false).int(-101).int(-102)),
    'zk_bad_multi_op',
  );
  assert.equal(
    bad((w) => w.int(OpCode.error).bool(false).int(-101)),
    'truncated',
  );
  assert.equal(
    bad((w) => w.int(OpCode.error).bool(false).int(-101).int(-101).int(-1).bool(true).int(-1)),
    undefined,
  );
});

// ---- garbage -------------------------------------------------------------------------------------

function drainNoThrow(d: { push(b: Uint8Array): void; next(): unknown }, chunks: Uint8Array[]): void {
  for (const ch of chunks) {
    d.push(ch);
    for (let i = 0; i < 10_000; i++) {
      const r = d.next();
      if (r === undefined || r instanceof ProtocolError) break;
    }
  }
}

test('garbage never throws anything: random bytes, random frames after a connect, random replies', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 300 }),
      fc.array(fc.tuple(fc.constantFrom(...Object.values(OpCode), 999), fc.uint8Array({ maxLength: 64 })), {
        maxLength: 6,
      }),
      fc.array(fc.nat()),
      (noise, frames, cuts) => {
        drainNoThrow(new ZkRequestDecoder(), splitAt(noise, cuts));
        const stream = concat([connect0, ...frames.map(([t, b]) => requestFrame(1, t, (w) => w.raw(b))), noise]);
        drainNoThrow(new ZkRequestDecoder(), splitAt(stream, cuts));
        const types = [OpCode.multi, OpCode.getData, OpCode.whoAmI, OpCode.getACL] as const;
        drainNoThrow(new ZkReplyDecoder({ typeOfXid: (x) => types[Math.abs(x) % types.length] }), splitAt(noise, cuts));
      },
    ),
    { numRuns: 500 },
  );
});

test('a large frame does not leave its buffer pinned to the connection', () => {
  const d = new ZkRequestDecoder();
  d.push(connect0);
  assert.equal((d.next() as ZkServerRequest).kind, 'connect');
  const big = new JuteWriter()
    .int(8 + 500_000)
    .int(1)
    .int(OpCode.sync)
    .raw(new Uint8Array(500_000))
    .finish();
  d.push(big);
  assert.notEqual(d.next(), undefined);
  assert.equal(d.heldBytes, 0);
  assert.ok(d.bufferBytes <= 1024, `kept ${d.bufferBytes} bytes`);
});

test('the decoder holds at most one partial frame, and nothing after a terminal error or a four-letter word', () => {
  const d = new ZkRequestDecoder({ packetBytesMax: 64 });
  d.push(connect0);
  assert.equal((d.next() as ZkServerRequest).kind, 'connect');
  d.push(new JuteWriter().int(64).raw(new Uint8Array(30)).finish());
  assert.equal(d.next(), undefined);
  assert.equal(d.heldBytes, 34);
  d.push(new JuteWriter().raw(new Uint8Array(34)).int(65).finish());
  assert.equal((d.next() as ZkServerRequest).kind, 'unknown'); // type 0 (notification) is not a request
  const e = d.next();
  assert.ok(e instanceof ProtocolError && e.code === 'zk_packet_too_large');
  d.push(new Uint8Array(100));
  assert.equal(d.heldBytes, 0);
  assert.equal(d.next(), e);

  const w = new ZkRequestDecoder();
  w.push(concat([encodeFourLetterWord('srvr'), new Uint8Array(100)]));
  assert.equal((w.next() as ZkServerRequest).kind, 'fourLetter');
  w.push(new Uint8Array(100));
  assert.equal(w.heldBytes, 0);
  assert.equal(w.next(), undefined);
});
