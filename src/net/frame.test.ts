// Goal: the peer frame codec (frame.ts grammar) round-trips any frame under any chunking, and turns
// every malformed header into a typed, terminal ProtocolError — never an exception, never a crash,
// and never buffering the body of an oversize frame. Chunking-independence follows the nats.js
// parser tests: the same bytes fed whole, a byte at a time and in random chunks decode identically.
// Also: the FrameSink path (what the transport uses) parses in place, copies only frames that
// straddle chunks, notices id changes between frames despite its id cache, and stops on request.
// The CRC-32C trailer: a byte fixture pins the format, and every single-bit flip anywhere in a
// frame (and random multi-byte corruption) is reported as frame_checksum_mismatch or another
// ProtocolError under any chunking — never delivered.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { ProtocolError } from '../lib/errors.ts';
import { limits, peerEnvelopeBytesMax } from '../lib/limits.ts';
import { crc32cOf } from '../lib/crc32c.ts';
import { bytewise, splitAt } from './testing.ts';
import {
  type DecodeEvent,
  FrameDecoder,
  FrameEncoder,
  FrameErrorCode,
  type FrameSink,
  envelopeVersion,
  heldPartsMax,
} from './frame.ts';

interface Msg {
  type: number;
  payload: Uint8Array;
}

function decodeAll(decoder: FrameDecoder, chunks: Uint8Array[]): DecodeEvent[] {
  const out: DecodeEvent[] = [];
  for (const c of chunks) out.push(...decoder.push(c));
  return out;
}

function framesOf(events: DecodeEvent[]): Msg[] {
  return events.map((e) => {
    assert.equal(e.kind, 'frame', e.kind === 'error' ? e.error.code : '');
    if (e.kind !== 'frame') throw new Error('unreachable');
    return { type: e.frame.type, payload: Uint8Array.from(e.frame.payload) };
  });
}

/**
 * Builds raw frame bytes by hand, independent of FrameEncoder (the oracle for malformed cases).
 * `length` overrides the envelope+payload bytes the frame declares (the body is cut or padded with
 * zeros to it); the checksum is then computed over what is sent, so the header fault is what the
 * decoder meets (unless `checksum` overrides it).
 */
function raw(parts: {
  length?: number;
  checksum?: number;
  version?: number;
  type?: number;
  cluster?: number[];
  sender?: number[];
  payload?: number[];
}): Uint8Array {
  const cluster = parts.cluster ?? [...Buffer.from('c1')];
  const sender = parts.sender ?? [...Buffer.from('n1')];
  const body = [
    parts.version ?? envelopeVersion,
    ((parts.type ?? 7) >> 8) & 0xff,
    (parts.type ?? 7) & 0xff,
    cluster.length,
    ...cluster,
    sender.length,
    ...sender,
    ...(parts.payload ?? []),
  ];
  const bodyLength = parts.length ?? body.length;
  const declared = bodyLength + 4; // + checksum
  const out = Uint8Array.from([
    (declared >>> 24) & 0xff,
    (declared >>> 16) & 0xff,
    (declared >>> 8) & 0xff,
    declared & 0xff,
    ...Array.from({ length: bodyLength }, (_, i) => body[i] ?? 0),
    0,
    0,
    0,
    0,
  ]);
  const crc = parts.checksum ?? crc32cOf(out, 0, out.length - 4);
  new DataView(out.buffer).setUint32(out.length - 4, crc);
  return out;
}

const msgArb = fc.record({
  type: fc.integer({ min: 0, max: 0xffff }),
  payload: fc.uint8Array({ maxLength: 300 }),
});

test('round trip: any frames, any chunking, whole or byte by byte', () => {
  fc.assert(
    fc.property(
      fc.string({ minLength: 1, maxLength: 20 }),
      fc.string({ minLength: 1, maxLength: 20 }),
      fc.array(msgArb, { maxLength: 12 }),
      fc.array(fc.nat(), { maxLength: 20 }),
      (clusterId, senderId, msgs, cuts) => {
        fc.pre(Buffer.byteLength(clusterId) <= 64 && Buffer.byteLength(senderId) <= 64);
        const enc = new FrameEncoder({ clusterId, senderId });
        const wire = Buffer.concat(msgs.map((m) => enc.encode(m.type, m.payload)));
        for (const chunks of [[wire], splitAt(wire, cuts), bytewise(wire)]) {
          const events = decodeAll(new FrameDecoder(), chunks);
          assert.deepEqual(
            framesOf(events),
            msgs.map((m) => ({ type: m.type, payload: Uint8Array.from(m.payload) })),
          );
          for (const e of events) {
            if (e.kind === 'frame') {
              assert.equal(e.frame.clusterId, clusterId);
              assert.equal(e.frame.senderId, senderId);
              assert.equal(e.frame.envelopeVersion, envelopeVersion);
            }
          }
        }
      },
    ),
    { numRuns: 200 },
  );
});

test('encode copies the payload: mutating it afterwards does not change the frame', () => {
  const enc = new FrameEncoder({ clusterId: 'c', senderId: 's' });
  const payload = Uint8Array.from([1, 2, 3]);
  const frame = enc.encode(9, payload);
  payload.fill(0);
  const [e] = new FrameDecoder().push(frame);
  assert.ok(e?.kind === 'frame');
  assert.deepEqual(Uint8Array.from(e.frame.payload), Uint8Array.from([1, 2, 3]));
});

test('a zero-byte payload and the largest allowed frame both decode', () => {
  const frameBytesMax = 1024;
  const enc = new FrameEncoder({ clusterId: 'c', senderId: 's', bounds: { frameBytesMax } });
  const maxPayload = frameBytesMax - enc.frameBytes(0);
  assert.equal(enc.fits(maxPayload), true);
  assert.equal(enc.fits(maxPayload + 1), false);
  const wire = Buffer.concat([enc.encode(1, new Uint8Array(0)), enc.encode(2, new Uint8Array(maxPayload).fill(5))]);
  const events = decodeAll(new FrameDecoder({ frameBytesMax }), bytewise(wire));
  const frames = framesOf(events);
  assert.equal(frames.length, 2);
  assert.equal(frames[0]?.payload.byteLength, 0);
  assert.equal(frames[1]?.payload.byteLength, maxPayload);
  assert.throws(() => enc.encode(3, new Uint8Array(maxPayload + 1)), { code: 'limit_exceeded' });
});

test('encoder rejects ids that do not fit the envelope', () => {
  assert.throws(() => new FrameEncoder({ clusterId: '', senderId: 's' }), { code: 'config_invalid' });
  assert.throws(() => new FrameEncoder({ clusterId: 'c', senderId: 'x'.repeat(65) }), { code: 'config_invalid' });
});

/** Every malformed-header case: the decoder reports `code` (fed whole and byte by byte) and then stays silent. */
const malformed: Array<[string, Uint8Array, string]> = [
  ['length below the envelope minimum', raw({ length: 3 }), FrameErrorCode.truncatedEnvelope],
  ['length zero', Uint8Array.from([0, 0, 0, 0]), FrameErrorCode.truncatedEnvelope],
  [
    'length without room for the checksum',
    Uint8Array.from([0, 0, 0, 7, 2, 0, 7, 1, 97, 1, 98]),
    FrameErrorCode.truncatedEnvelope,
  ],
  ['unknown envelope version 0', raw({ version: 0 }), FrameErrorCode.unknownEnvelopeVersion],
  [
    'envelope version 1 (the retired format without a checksum)',
    raw({ version: 1 }),
    FrameErrorCode.unknownEnvelopeVersion,
  ],
  ['unknown envelope version 3', raw({ version: 3 }), FrameErrorCode.unknownEnvelopeVersion],
  ['checksum mismatch', raw({ payload: [1, 2, 3], checksum: 0x12345678 }), FrameErrorCode.checksumMismatch],
  ['cluster id length 0', raw({ cluster: [] }), FrameErrorCode.badIdLength],
  ['sender id length 0', raw({ sender: [] }), FrameErrorCode.badIdLength],
  ['cluster id longer than the bound', raw({ cluster: new Array(65).fill(97) }), FrameErrorCode.badIdLength],
  ['sender id longer than the bound', raw({ sender: new Array(65).fill(97) }), FrameErrorCode.badIdLength],
  ['cluster id runs past the frame', raw({ length: 6, cluster: [97, 98, 99] }), FrameErrorCode.truncatedEnvelope],
  [
    'frame ends before the sender id length',
    raw({ length: 6, cluster: [97, 98], sender: [] }),
    FrameErrorCode.truncatedEnvelope,
  ],
  [
    'sender id runs past the frame',
    raw({ length: 8, cluster: [97], sender: [98, 99, 100] }),
    FrameErrorCode.truncatedEnvelope,
  ],
  ['sender id is not UTF-8', raw({ sender: [0xff, 0xfe] }), FrameErrorCode.badIdEncoding],
  ['oversize length', Uint8Array.from([0xff, 0xff, 0xff, 0xff, 1, 0, 7]), FrameErrorCode.frameTooLarge],
];

for (const [name, bytes, code] of malformed) {
  test(`malformed header: ${name} -> ${code}`, () => {
    const good = new FrameEncoder({ clusterId: 'c1', senderId: 'n1' }).encode(5, Uint8Array.from([1, 2]));
    const wire = Buffer.concat([good, bytes, good]);
    for (const chunks of [[wire], bytewise(wire)]) {
      const decoder = new FrameDecoder();
      const events = decodeAll(decoder, chunks);
      assert.equal(events.length, 2, 'the good frame before the bad one, then exactly one error');
      assert.equal(events[0]?.kind, 'frame');
      const err = events[1];
      assert.ok(err?.kind === 'error');
      assert.equal(err.error.code, code);
      assert.equal(err.error.name, 'ProtocolError');
      assert.equal(decoder.failed?.code, code);
      assert.deepEqual(decoder.push(good), [], 'a failed decoder yields nothing more');
      assert.equal(decoder.buffered, 0, 'a failed decoder releases its buffer');
    }
  });
}

test('oversize length is rejected on its 4 bytes, without buffering the body', () => {
  const decoder = new FrameDecoder({ frameBytesMax: 1024 });
  const length = Buffer.alloc(4);
  length.writeUInt32BE(1021); // 1021 + 4 > 1024 (the checksum counts in frameLength)
  const events = decoder.push(length);
  assert.equal(events.length, 1);
  assert.ok(events[0]?.kind === 'error');
  assert.equal(events[0].error.code, FrameErrorCode.frameTooLarge);
  assert.equal(decoder.buffered, 0);
  assert.deepEqual(decoder.push(new Uint8Array(1 << 20)), [], 'the body that follows is ignored, not buffered');
  assert.equal(decoder.buffered, 0);
  // Exactly at the bound is accepted.
  const ok = new FrameDecoder({ frameBytesMax: 1024 });
  length.writeUInt32BE(1020);
  assert.deepEqual(ok.push(length), []);
});

test('random garbage never throws and yields at most one error, last', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), fc.array(fc.nat(), { maxLength: 10 }), (bytes, cuts) => {
      const decoder = new FrameDecoder({ frameBytesMax: 4096 });
      const events = decodeAll(decoder, splitAt(bytes, cuts));
      const errors = events.filter((e) => e.kind === 'error');
      assert.ok(errors.length <= 1);
      if (errors.length === 1) assert.equal(events.at(-1)?.kind, 'error');
      // Chunking does not change the outcome.
      const whole = new FrameDecoder({ frameBytesMax: 4096 }).push(bytes);
      assert.deepEqual(
        whole.map((e) => (e.kind === 'error' ? e.error.code : e.frame.type)),
        events.map((e) => (e.kind === 'error' ? e.error.code : e.frame.type)),
      );
    }),
    { numRuns: 300 },
  );
});

test('decoding a byte at a time is linear: 4 MiB of small frames fed in 1-byte chunks', () => {
  const enc = new FrameEncoder({ clusterId: 'c', senderId: 's' });
  const frame = enc.encode(1, new Uint8Array(100));
  const count = 2000;
  const wire = Buffer.concat(new Array(count).fill(frame));
  const decoder = new FrameDecoder();
  let frames = 0;
  for (let i = 0; i < wire.byteLength; i++) frames += decoder.push(wire.subarray(i, i + 1)).length;
  assert.equal(frames, count);
  // A single 1 MiB frame fed a byte at a time: quadratic concatenation would take minutes here.
  // It also holds a bounded number of views (heldPartsMax), whatever the chunking, and the bytes
  // survive the switch to one assembly buffer in order.
  const payload = Uint8Array.from({ length: 1 << 20 }, (_, i) => (i * 7) & 0xff);
  const big = enc.encode(2, payload);
  const d2 = new FrameDecoder();
  const held = (): number => (d2 as unknown as { parts: unknown[] }).parts.length;
  let got: DecodeEvent[] = [];
  let heldMost = 0;
  for (let i = 0; i < big.byteLength; i++) {
    got = got.concat(d2.push(big.subarray(i, i + 1)));
    heldMost = Math.max(heldMost, held());
  }
  assert.ok(heldMost <= heldPartsMax, `held ${heldMost} views`);
  assert.equal(got.length, 1);
  assert.ok(got[0]?.kind === 'frame');
  assert.deepEqual(got[0].frame.payload, payload);
});

/** A FrameSink that records frames (copying payloads) and may stop after `stopAfter` frames. */
class RecordingSink implements FrameSink {
  frames: Array<{ type: number; clusterId: string; senderId: string; payload: Uint8Array; view: Uint8Array }> = [];
  errors: string[] = [];
  constructor(private readonly stopAfter = Number.POSITIVE_INFINITY) {}
  frame(type: number, clusterId: string, senderId: string, payload: Uint8Array): boolean {
    this.frames.push({ type, clusterId, senderId, payload: Uint8Array.from(payload), view: payload });
    return this.frames.length < this.stopAfter;
  }
  error(error: ProtocolError): void {
    this.errors.push(error.code);
  }
}

test('frames from several senders interleaved on one stream keep their ids, under any chunking', () => {
  // The decoder caches the last id bytes; a change of ids between frames must be noticed every time.
  const ids = fc.constantFrom(['c1', 'n1'], ['c1', 'n2'], ['c2', 'n1'], ['c1', 'n1x'], ['c11', 'n1']);
  fc.assert(
    fc.property(
      fc.array(
        fc.record({ ids, type: fc.integer({ min: 0, max: 0xffff }), payload: fc.uint8Array({ maxLength: 40 }) }),
        {
          maxLength: 15,
        },
      ),
      fc.array(fc.nat(), { maxLength: 20 }),
      (msgs, cuts) => {
        const wire = Buffer.concat(
          msgs.map((m) => new FrameEncoder({ clusterId: m.ids[0]!, senderId: m.ids[1]! }).encode(m.type, m.payload)),
        );
        for (const chunks of [[wire], splitAt(wire, cuts), bytewise(wire)]) {
          const sink = new RecordingSink();
          const decoder = new FrameDecoder();
          for (const c of chunks) decoder.decode(c, sink);
          assert.deepEqual(sink.errors, []);
          assert.deepEqual(
            sink.frames.map((f) => [f.clusterId, f.senderId, f.type, [...f.payload]]),
            msgs.map((m) => [m.ids[0], m.ids[1], m.type, [...m.payload]]),
          );
        }
      },
    ),
    { numRuns: 200 },
  );
});

test('a frame inside one chunk is a view of it; a frame that straddles chunks is one copy', () => {
  const enc = new FrameEncoder({ clusterId: 'c', senderId: 's' });
  const a = enc.encode(1, Uint8Array.of(1, 2, 3));
  const b = enc.encode(2, Uint8Array.of(4, 5, 6, 7));
  const wire = Buffer.concat([a, b]);
  const cut = a.length + 4 + 5; // b's length prefix and 5 bytes of its envelope
  const first = Uint8Array.from(wire.subarray(0, cut)); // each chunk owns its memory
  const second = Uint8Array.from(wire.subarray(cut));
  const sink = new RecordingSink();
  const decoder = new FrameDecoder();
  decoder.decode(first, sink);
  assert.equal(decoder.buffered, 5, "b's 5 body bytes are held (its prefix is parsed)");
  decoder.decode(second, sink);
  assert.equal(decoder.buffered, 0);
  const [fa, fb] = sink.frames;
  assert.ok(fa !== undefined && fb !== undefined);
  assert.equal(fa.view.buffer, first.buffer, 'in-chunk payload shares the chunk memory');
  assert.deepEqual([...fb.view], [4, 5, 6, 7]);
  assert.notEqual(fb.view.buffer, second.buffer, 'the straddling frame was copied into its own buffer');
  // A prefix split inside its 4 bytes decodes the same.
  const sink2 = new RecordingSink();
  const d2 = new FrameDecoder();
  d2.decode(wire.subarray(0, a.length + 2), sink2);
  assert.equal(d2.buffered, 2);
  d2.decode(wire.subarray(a.length + 2), sink2);
  assert.deepEqual(
    sink2.frames.map((f) => [...f.payload]),
    [
      [1, 2, 3],
      [4, 5, 6, 7],
    ],
  );
});

test('a sink that returns false stops the decoder for good and releases what it held', () => {
  const enc = new FrameEncoder({ clusterId: 'c', senderId: 's' });
  const frames = [1, 2, 3, 4].map((i) => enc.encode(i, Uint8Array.of(i)));
  const wire = Buffer.concat(frames);
  const sink = new RecordingSink(2);
  const decoder = new FrameDecoder();
  decoder.decode(wire.subarray(0, wire.length - 3), sink); // the last frame is incomplete
  assert.deepEqual(
    sink.frames.map((f) => f.type),
    [1, 2],
  );
  assert.equal(decoder.buffered, 0);
  decoder.decode(wire.subarray(wire.length - 3), sink);
  decoder.decode(frames[0]!, sink);
  assert.equal(sink.frames.length, 2, 'nothing after a stop');
  assert.equal(decoder.failed, null, 'a stop is not a protocol error');
});

test('a sink that throws stops the decoder; the exception reaches the caller', () => {
  const enc = new FrameEncoder({ clusterId: 'c', senderId: 's' });
  const wire = Buffer.concat([1, 2, 3].map((i) => enc.encode(i, Uint8Array.of(i))));
  const decoder = new FrameDecoder();
  const seen: number[] = [];
  const sink: FrameSink = {
    frame(type) {
      seen.push(type);
      if (type === 2) throw new Error('handler bug');
      return true;
    },
    error() {},
  };
  assert.throws(() => decoder.decode(wire, sink), /handler bug/);
  decoder.decode(wire, sink);
  assert.deepEqual(seen, [1, 2]);
  assert.equal(decoder.buffered, 0);
});

test('encodeInto treats a bad type or a short target as a programmer error', () => {
  const enc = new FrameEncoder({ clusterId: 'c', senderId: 's' });
  const target = new Uint8Array(64);
  assert.throws(() => enc.encodeInto(target, 0, 0x10000, new Uint8Array(1)), { name: 'AssertionError' });
  assert.throws(() => enc.encodeInto(target, 0, 1.5, new Uint8Array(1)), { name: 'AssertionError' });
  assert.throws(() => enc.encodeInto(target, 60, 1, new Uint8Array(1)), { name: 'AssertionError' });
  assert.equal(enc.encodeInto(target, 0, 0xffff, new Uint8Array(3)), enc.frameBytes(3));
});

test('a byte fixture pins the frame format, checksum included', () => {
  const frame = new FrameEncoder({ clusterId: 'c', senderId: 'n1' }).encode(0x0102, Uint8Array.of(0xaa, 0xbb));
  // frameLength 14 | version 2 | type 0x0102 | 1 'c' | 2 'n1' | payload aa bb | CRC-32C of the 14 bytes before
  const head = [0, 0, 0, 14, 2, 1, 2, 1, 0x63, 2, 0x6e, 0x31, 0xaa, 0xbb];
  assert.deepEqual([...frame.subarray(0, head.length)], head);
  assert.equal(frame.readUInt32BE(head.length), crc32cOf(Uint8Array.from(head), 0, head.length));
  assert.equal(frame.length, head.length + 4);
});

test('every single-bit flip anywhere in a frame is rejected, fed whole, a byte at a time or in random chunks', () => {
  fc.assert(
    fc.property(msgArb, fc.array(fc.nat(), { maxLength: 8 }), (m, cuts) => {
      const enc = new FrameEncoder({ clusterId: 'c1', senderId: 'n1' });
      const good = enc.encode(5, Uint8Array.of(9));
      const frame = enc.encode(m.type, m.payload);
      const bits = frame.length * 8;
      // Every bit for short frames; a sample for long ones.
      const step = Math.max(1, Math.floor(bits / 200));
      for (let bit = 0; bit < bits; bit += step) {
        const bad = Uint8Array.from(frame);
        bad[bit >>> 3]! ^= 1 << (bit & 7);
        const wire = Buffer.concat([good, bad, good]);
        for (const chunks of [[wire], bytewise(wire), splitAt(wire, cuts)]) {
          const events = decodeAll(new FrameDecoder(), chunks);
          assert.equal(events[0]?.kind, 'frame', 'the good frame before it is delivered');
          // A flipped length bit may make the frame longer than what follows: then nothing more yet.
          assert.ok(events.length <= 2, `bit ${bit}: nothing after the corrupted frame`);
          if (events.length === 2) {
            const e = events[1]!;
            assert.ok(e.kind === 'error', `bit ${bit}: a corrupted frame is never delivered`);
          }
        }
      }
    }),
    { numRuns: 40 },
  );
});

test('random corruption of a frame stream never delivers a frame that was not sent', () => {
  const enc = new FrameEncoder({ clusterId: 'c1', senderId: 'n1' });
  fc.assert(
    fc.property(
      fc.array(msgArb, { minLength: 1, maxLength: 5 }),
      fc.nat(),
      fc.uint8Array({ minLength: 1, maxLength: 4 }),
      fc.array(fc.nat(), { maxLength: 8 }),
      (msgs, at, noise, cuts) => {
        const frames = msgs.map((m) => enc.encode(m.type, m.payload));
        const wire = Uint8Array.from(Buffer.concat(frames));
        const pos = at % wire.length;
        let changed = false;
        for (let i = 0; i < noise.length && pos + i < wire.length; i++) {
          changed ||= noise[i] !== 0;
          wire[pos + i]! ^= noise[i]!;
        }
        fc.pre(changed);
        const events = decodeAll(new FrameDecoder(), splitAt(wire, cuts));
        const got = events.filter((e) => e.kind === 'frame');
        // Frames wholly before the corruption arrive as sent; nothing after the corrupted one does.
        assert.ok(got.length < msgs.length, 'the corrupted frame is not delivered');
        got.forEach((e, i) => {
          assert.ok(e.kind === 'frame');
          assert.equal(e.frame.type, msgs[i]!.type);
          assert.deepEqual(Uint8Array.from(e.frame.payload), Uint8Array.from(msgs[i]!.payload));
        });
      },
    ),
    { numRuns: 300 },
  );
});

test('a forged large length followed by a trickle holds memory in proportion to the bytes received (issue 7 item 13)', () => {
  const frameBytesMax = 16 * 1024 * 1024;
  const decoder = new FrameDecoder({ frameBytesMax });
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(frameBytesMax - 4);
  prefix[4] = envelopeVersion;
  decoder.push(prefix);
  // One byte per segment, far past heldPartsMax: the held body switches to one assembly buffer.
  for (let i = 0; i < heldPartsMax * 4; i++) decoder.push(Uint8Array.of(i & 0xff));
  assert.equal(decoder.buffered, 1 + heldPartsMax * 4);
  assert.ok(decoder.heldBytes <= 4096, `holds ${decoder.heldBytes} bytes for ${decoder.buffered} received`);
  // It still assembles a real large frame correctly as the bytes arrive.
  const enc = new FrameEncoder({ clusterId: 'c', senderId: 's' });
  const payload = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 13) & 0xff);
  const frame = enc.encode(3, payload);
  const d2 = new FrameDecoder();
  const got: DecodeEvent[] = [];
  let heldMost = 0;
  for (let at = 0; at < frame.length; at += 100) {
    got.push(...d2.push(frame.subarray(at, at + 100)));
    heldMost = Math.max(heldMost, d2.heldBytes);
  }
  assert.ok(heldMost <= frame.length, `held at most the frame (${heldMost})`);
  assert.equal(got.length, 1);
  assert.ok(got[0]?.kind === 'frame');
  assert.deepEqual(Uint8Array.from(got[0].frame.payload), payload);
});

test('frameBytesMax can be raised on a live decoder, never lowered', () => {
  const decoder = new FrameDecoder({ frameBytesMax: 256 });
  const enc = new FrameEncoder({ clusterId: 'c', senderId: 's' });
  decoder.raiseFrameBytesMax(4096);
  const events = decoder.push(enc.encode(1, new Uint8Array(1000)));
  assert.equal(events[0]?.kind, 'frame');
  assert.throws(() => decoder.raiseFrameBytesMax(100), { name: 'AssertionError' });
});

test("peerEnvelopeBytesMax is a frame's exact overhead with the longest ids: a payload it admits fits, one byte more does not", () => {
  const enc = new FrameEncoder({
    clusterId: 'c'.repeat(limits.clusterIdBytesMax),
    senderId: 'n'.repeat(limits.nodeIdBytesMax),
  });
  assert.equal(enc.frameBytes(0), peerEnvelopeBytesMax(limits));
  const admitted = limits.peerFrameBytesMax - peerEnvelopeBytesMax(limits);
  assert.equal(enc.fits(admitted), true);
  assert.equal(enc.fits(admitted + 1), false);
});
