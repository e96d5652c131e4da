// The test protocol's codec: a tiny line protocol that exists to exercise the client listener
// (test/compliance/listener-suite.ts, bench/listener.ts) the way RESP and ZooKeeper will, without
// their grammar. Not a product protocol.
//
// Grammar (one request or reply per line; bytes, ASCII):
//
//   request   = verb [ SP argument ] LF      ; at most testProtoLineBytesMax bytes, LF included
//   verb      = 1*( %x41-5A )                ; upper-case letters; the session knows ECHO UPPER SLOW
//                                            ; FLOOD QUIT and answers any other with an error reply
//   argument  = *( %x20-7E )                 ; printable ASCII (spaces allowed)
//   reply     = ( "+" / "-" ) text LF        ; "+" ok, "-" error: "-" code [ SP detail ]
//   text      = *( %x20-7E )
//
// Decoding errors (ProtocolError, terminal: the stream cannot resynchronise and is closed):
//   test_proto_line_too_long   a line (or the bytes before its LF) passes testProtoLineBytesMax
//   test_proto_bad_byte        a byte that is neither printable ASCII nor LF
//   test_proto_bad_verb        an empty verb or one with other than upper-case letters
//   test_proto_bad_reply       (reply decoder) a line that starts with neither "+" nor "-"
//
// LineDecoder accepts any chunking: it keeps unconsumed bytes in one buffer (the listener stops
// reading while complete requests wait, so that is at most a chunk plus a partial line) and scans
// each byte once. Untrusted bytes never reach an assert.

import type { ProtocolErrorCode } from '../../lib/error-codes.ts';
import { ProtocolError } from '../../lib/errors.ts';
import type { RequestDecoder } from '../pipeline.ts';

/** Longest line, LF included. */
export const testProtoLineBytesMax = 64 * 1024;

export const TestProtoErrorCode = {
  lineTooLong: 'test_proto_line_too_long',
  badByte: 'test_proto_bad_byte',
  badVerb: 'test_proto_bad_verb',
  badReply: 'test_proto_bad_reply',
} as const;

export interface TestRequest {
  readonly verb: string;
  /** '' when the request has no argument. */
  readonly argument: string;
}

export interface TestReply {
  readonly ok: boolean;
  readonly text: string;
}

const LF = 0x0a;
const SP = 0x20;

/** Splits a byte stream into lines (without the LF), checking bytes and length. */
export class LineDecoder {
  private buf = new Uint8Array(256);
  private start = 0;
  private end = 0;
  /** Bytes before `scan` (from `start`) are known not to be LF and to be printable. */
  private scan = 0;
  private failed: ProtocolError | null = null;

  constructor(private readonly lineBytesMax: number = testProtoLineBytesMax) {}

  /** Bytes held (unconsumed input). */
  get heldBytes(): number {
    return this.end - this.start;
  }

  push(chunk: Uint8Array): void {
    if (this.failed !== null || chunk.length === 0) return;
    const held = this.end - this.start;
    if (this.start > 0) {
      this.buf.copyWithin(0, this.start, this.end);
      this.scan -= this.start;
      this.start = 0;
      this.end = held;
    }
    if (held + chunk.length > this.buf.length) {
      let size = this.buf.length;
      while (size < held + chunk.length) size *= 2;
      const grown = new Uint8Array(size);
      grown.set(this.buf.subarray(0, held));
      this.buf = grown;
    }
    this.buf.set(chunk, this.end);
    this.end += chunk.length;
  }

  /** The next line's text, a terminal ProtocolError, or undefined (needs more bytes). */
  nextLine(): string | ProtocolError | undefined {
    if (this.failed !== null) return this.failed;
    const buf = this.buf;
    for (let i = this.scan; i < this.end; i++) {
      const b = buf[i]!;
      if (b === LF) {
        const line = latin1(buf, this.start, i);
        this.start = i + 1;
        this.scan = this.start;
        return line;
      }
      if (i - this.start + 2 > this.lineBytesMax) {
        return this.fail(TestProtoErrorCode.lineTooLong, 'line longer than the bound', {
          lineBytesMax: this.lineBytesMax,
        });
      }
      if (b < SP || b > 0x7e) {
        return this.fail(TestProtoErrorCode.badByte, 'byte outside printable ASCII', { byte: b });
      }
    }
    this.scan = this.end;
    return undefined;
  }

  private fail(code: ProtocolErrorCode, message: string, fields: Record<string, unknown>): ProtocolError {
    this.failed = new ProtocolError(code, message, fields);
    this.start = this.end = this.scan = 0;
    return this.failed;
  }
}

/** Server side: lines to requests. */
export class TestRequestDecoder implements RequestDecoder<TestRequest> {
  private readonly lines: LineDecoder;
  private failed: ProtocolError | null = null;

  constructor(lineBytesMax: number = testProtoLineBytesMax) {
    this.lines = new LineDecoder(lineBytesMax);
  }

  get heldBytes(): number {
    return this.lines.heldBytes;
  }

  push(chunk: Uint8Array): void {
    this.lines.push(chunk);
  }

  next(): TestRequest | ProtocolError | undefined {
    if (this.failed !== null) return this.failed;
    const line = this.lines.nextLine();
    if (line === undefined || line instanceof ProtocolError) return line;
    const space = line.indexOf(' ');
    const verb = space < 0 ? line : line.slice(0, space);
    if (!/^[A-Z]+$/.test(verb)) {
      this.failed = new ProtocolError(TestProtoErrorCode.badVerb, 'the verb must be upper-case letters', {
        verbBytes: verb.length,
      });
      return this.failed;
    }
    return { verb, argument: space < 0 ? '' : line.slice(space + 1) };
  }
}

/** Client side: lines to replies. */
export class TestReplyDecoder {
  private readonly lines: LineDecoder;

  constructor(lineBytesMax: number = testProtoLineBytesMax) {
    this.lines = new LineDecoder(lineBytesMax);
  }

  push(chunk: Uint8Array): void {
    this.lines.push(chunk);
  }

  next(): TestReply | ProtocolError | undefined {
    const line = this.lines.nextLine();
    if (line === undefined || line instanceof ProtocolError) return line;
    const sign = line.charCodeAt(0);
    if (sign !== 0x2b && sign !== 0x2d) {
      return new ProtocolError(TestProtoErrorCode.badReply, 'a reply starts with + or -', {});
    }
    return { ok: sign === 0x2b, text: line.slice(1) };
  }

  /** Every reply the bytes so far complete. Throws the ProtocolError of a malformed stream. */
  drain(): TestReply[] {
    const out: TestReply[] = [];
    for (;;) {
      const r = this.next();
      if (r === undefined) return out;
      if (r instanceof ProtocolError) throw r;
      out.push(r);
    }
  }
}

export function encodeRequest(verb: string, argument?: string): Uint8Array {
  return ascii(argument === undefined ? `${verb}\n` : `${verb} ${argument}\n`);
}

export function encodeReply(reply: TestReply): Uint8Array {
  return ascii(`${reply.ok ? '+' : '-'}${reply.text}\n`);
}

/** Text of printable ASCII (the caller's contract; other code units are cut to their low byte). */
export function ascii(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}

function latin1(bytes: Uint8Array, from: number, to: number): string {
  let s = '';
  for (let i = from; i < to; i += 4096) {
    s += String.fromCharCode(...bytes.subarray(i, Math.min(to, i + 4096)));
  }
  return s;
}
