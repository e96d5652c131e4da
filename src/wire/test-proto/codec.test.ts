// Goal: the test protocol's decoders (codec.ts grammar) yield the same requests, replies and errors
// for any chunking of the same bytes — whole, one byte at a time, and random cuts (the nats.js
// parser discipline, as src/net/frame.test.ts does for peer frames) — and turn every malformed
// stream into a typed, terminal ProtocolError without buffering past the line bound.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ProtocolError } from '../../lib/errors.ts';
import { bytewise, splitAt } from '../../net/testing.ts';
import {
  ascii,
  encodeReply,
  encodeRequest,
  TestProtoErrorCode,
  TestReplyDecoder,
  type TestRequest,
  TestRequestDecoder,
} from './codec.ts';

type Out = TestRequest | { error: string };

function decodeChunks(chunks: Uint8Array[], lineBytesMax?: number): Out[] {
  const d = new TestRequestDecoder(lineBytesMax);
  const out: Out[] = [];
  for (const c of chunks) {
    d.push(c);
    for (;;) {
      const r = d.next();
      if (r === undefined) break;
      if (r instanceof ProtocolError) {
        out.push({ error: r.code });
        return out; // terminal
      }
      out.push(r);
    }
  }
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const verbArb = fc.constantFrom('ECHO', 'UPPER', 'SLOW', 'QUIT', 'X');
const argArb = fc.option(fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) }), {
  nil: undefined,
});

test('requests decode identically whole, byte by byte and in random chunks', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(verbArb, argArb), { maxLength: 20 }),
      fc.array(fc.nat(), { maxLength: 30 }),
      (requests, cuts) => {
        const bytes = concat(requests.map(([v, a]) => encodeRequest(v, a)));
        const expected = requests.map(([verb, a]) => ({ verb, argument: a ?? '' }));
        assert.deepEqual(decodeChunks([bytes]), expected);
        assert.deepEqual(decodeChunks(bytewise(bytes)), expected);
        assert.deepEqual(decodeChunks(splitAt(bytes, cuts)), expected);
      },
    ),
  );
});

test('replies round-trip under any chunking', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), argArb), { maxLength: 20 }), fc.array(fc.nat()), (replies, cuts) => {
      const list = replies.map(([ok, t]) => ({ ok, text: t ?? '' }));
      const bytes = concat(list.map(encodeReply));
      for (const chunks of [[bytes], bytewise(bytes), splitAt(bytes, cuts)]) {
        const d = new TestReplyDecoder();
        const got = [];
        for (const c of chunks) {
          d.push(c);
          got.push(...d.drain());
        }
        assert.deepEqual(got, list);
      }
    }),
  );
});

test('a line one byte over the bound is refused before its LF, under any chunking', () => {
  const max = 16;
  const fits = ascii(`ECHO ${'a'.repeat(max - 6)}\n`); // exactly max bytes with the LF
  assert.equal(fits.length, max);
  assert.deepEqual(decodeChunks(bytewise(fits), max), [{ verb: 'ECHO', argument: 'a'.repeat(max - 6) }]);
  const over = ascii(`ECHO ${'a'.repeat(max - 5)}`); // no LF yet: already too long
  for (const chunks of [[over], bytewise(over)]) {
    assert.deepEqual(decodeChunks(chunks, max), [{ error: TestProtoErrorCode.lineTooLong }]);
  }
  // Nothing past the bound is held: a huge line without LF fails at the bound, not at its end.
  const d = new TestRequestDecoder(max);
  d.push(new Uint8Array(max * 4).fill(0x41));
  const r = d.next();
  assert.ok(r instanceof ProtocolError && r.code === TestProtoErrorCode.lineTooLong);
  assert.equal(d.heldBytes, 0);
});

test('malformed bytes are terminal typed errors, whatever follows', () => {
  const cases: [string, Uint8Array][] = [
    [TestProtoErrorCode.badByte, Uint8Array.from([0x45, 0x00, 0x0a])],
    [TestProtoErrorCode.badByte, ascii('ECHO caf\u00e9\n')],
    [TestProtoErrorCode.badByte, ascii('ECHO a\r\n')],
    [TestProtoErrorCode.badVerb, ascii('echo a\n')],
    [TestProtoErrorCode.badVerb, ascii(' ECHO\n')],
    [TestProtoErrorCode.badVerb, ascii('\n')],
  ];
  for (const [code, bytes] of cases) {
    const withTail = concat([ascii('ECHO ok\n'), bytes, ascii('ECHO after\n')]);
    for (const chunks of [[withTail], bytewise(withTail)]) {
      assert.deepEqual(decodeChunks(chunks), [{ verb: 'ECHO', argument: 'ok' }, { error: code }], code);
    }
  }
  const replies = new TestReplyDecoder();
  replies.push(ascii('?x\n'));
  assert.throws(
    () => replies.drain(),
    (e: unknown) => e instanceof ProtocolError && e.code === 'test_proto_bad_reply',
  );
});

test('random bytes never throw anything but a ProtocolError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.array(fc.nat(), { maxLength: 10 }), (bytes, cuts) => {
      const a = decodeChunks(splitAt(bytes, cuts), 32);
      const b = decodeChunks(bytewise(bytes), 32);
      assert.deepEqual(a, b);
    }),
  );
});
