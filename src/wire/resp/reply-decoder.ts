// The client-side RESP reply decoder: replies of a RESP2 or RESP3 connection (reply.ts has the
// grammar; every type of both versions is accepted on either) out of a byte stream, any chunking.
// For our tests, the `barista store` CLI and benchmarks: strict where Redis is well-formed (every
// line ends in CRLF, a bulk's data is followed by CRLF, numbers are decimal and in range) so that
// a decoded reply re-encodes to the bytes it came from.
//
// Bounds: one reply's bytes on the wire (bulk data included) at most replyBytesMax, and aggregates
// nested at most depthMax deep. An aggregate's declared count is checked against the bytes it
// would at least take (3 bytes per element), and its items array grows as elements arrive, so a
// forged count allocates nothing. Errors (ProtocolError, terminal: the connection is unusable):
//   resp_reply_malformed   an unknown type byte, a bad number or length, a line without CRLF,
//                          a bulk not followed by CRLF, a verbatim string without its "fmt:"
//   resp_reply_too_large   a reply over replyBytesMax, or nested deeper than depthMax
//
// Incremental: elements decoded so far stay decoded (a stack of open aggregates), a partial line
// remembers where its search stopped, a large bulk is assembled once (buffer.ts): O(n) for any
// chunking.

import { assert } from '../../lib/assert.ts';
import { ProtocolError } from '../../lib/errors.ts';
import { limits } from '../../lib/limits.ts';
import { StreamBuffer } from './buffer.ts';
import { RespReplyErrorCode as Code } from './errors.ts';
import type { RespText, RespValue } from './reply.ts';

export interface RespReplyBounds {
  readonly replyBytesMax: number;
  readonly depthMax: number;
}

export const defaultRespReplyBounds: RespReplyBounds = {
  replyBytesMax: limits.respReplyBytesMax,
  depthMax: limits.respReplyNestingCountMax,
};

/** An aggregate being filled. */
interface Open {
  readonly type: 'array' | 'set' | 'push' | 'map';
  /** Elements still to come (a map counts keys and values). */
  left: number;
  readonly items: RespValue[];
}

/** What the current bulk-like value becomes once its bytes are in. */
interface Pending {
  readonly kind: 'bulk' | 'verbatim';
  readonly length: number;
}

const CR = 0x0d;
const LF = 0x0a;
const utf8Strict = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');
const int64Min = -(2n ** 63n);
const int64Max = 2n ** 63n - 1n;
const integerText = /^-?(0|[1-9][0-9]*)$/;
const bignumText = /^[-+]?[0-9]+$/;
const doubleText = /^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?$/;

function text(bytes: Uint8Array): RespText {
  try {
    return utf8Strict.decode(bytes);
  } catch {
    return Uint8Array.from(bytes);
  }
}

export class RespReplyDecoder {
  readonly bounds: RespReplyBounds;
  private readonly input = new StreamBuffer();
  private failure: ProtocolError | null = null;
  private readonly stack: Open[] = [];
  private pending: Pending | undefined;
  /** The pending string's data, once taken, while the CRLF after it is awaited. */
  private pendingData: Uint8Array | undefined;
  /** Bytes of the current reply consumed so far. */
  private replyBytes = 0;
  private scanned = 0;

  constructor(bounds: Partial<RespReplyBounds> = {}) {
    this.bounds = { ...defaultRespReplyBounds, ...bounds };
    for (const [name, value] of Object.entries(this.bounds)) {
      assert(Number.isSafeInteger(value) && value > 0, `RespReplyBounds.${name} must be a positive integer`);
    }
  }

  get failed(): ProtocolError | null {
    return this.failure;
  }

  /** Memory held for the partial reply's bytes (StreamBuffer.heldBytes; decoded elements not counted). */
  get heldBytes(): number {
    return this.input.heldBytes;
  }

  /** Bytes copied so far (StreamBuffer.copiedBytes): a small multiple of the bytes received. */
  get copiedBytes(): number {
    return this.input.copiedBytes;
  }

  push(chunk: Uint8Array): void {
    if (this.failure !== null || chunk.length === 0) return;
    this.input.push(chunk);
  }

  /** The next complete reply, the terminal error (once), or undefined for more bytes. */
  next(): RespValue | ProtocolError | undefined {
    while (this.failure === null) {
      const value = this.pending !== undefined ? this.readPending(this.pending) : this.readElement();
      if (value === undefined) return this.failure ?? undefined;
      if (value === opened) continue;
      const done = this.add(value);
      if (done !== undefined) {
        this.replyBytes = 0;
        return done;
      }
    }
    return undefined;
  }

  /** Adds a finished element to the open aggregates; returns the reply once the outermost closes. */
  private add(value: RespValue): RespValue | undefined {
    let v = value;
    for (;;) {
      const top = this.stack[this.stack.length - 1];
      if (top === undefined) return v;
      top.items.push(v);
      if (--top.left > 0) return undefined;
      this.stack.pop();
      v = close(top);
    }
  }

  /** One element's header line: a scalar, `opened` for a non-empty aggregate, or undefined. */
  private readElement(): RespValue | typeof opened | undefined {
    const line = this.line();
    if (line === undefined) return undefined;
    const input = this.input;
    const type = input.at(0);
    const body = input.view(1, line);
    let value: RespValue | typeof opened | undefined;
    switch (type) {
      case 0x2b: // +
        value = { type: 'simple', value: text(body) };
        break;
      case 0x2d: // -
        value = { type: 'error', message: text(body) };
        break;
      case 0x3a: {
        // :
        const s = latin1.decode(body);
        const n = integerText.test(s) ? BigInt(s) : undefined;
        if (n === undefined || n < int64Min || n > int64Max) return this.malformed(`bad integer '${s}'`);
        value = { type: 'integer', value: n };
        break;
      }
      case 0x5f: // _
        if (body.length !== 0) return this.malformed('a null with a body');
        value = { type: 'null' };
        break;
      case 0x23: // #
        if (body.length !== 1 || (body[0] !== 0x74 && body[0] !== 0x66)) return this.malformed('a bad boolean');
        value = { type: 'boolean', value: body[0] === 0x74 };
        break;
      case 0x2c: {
        // ,
        const s = latin1.decode(body);
        const d =
          s === 'inf'
            ? Infinity
            : s === '-inf'
              ? -Infinity
              : s === 'nan'
                ? NaN
                : doubleText.test(s)
                  ? Number(s)
                  : undefined;
        if (d === undefined) return this.malformed(`bad double '${s}'`);
        value = { type: 'double', value: d };
        break;
      }
      case 0x28: {
        // (
        const s = latin1.decode(body);
        if (!bignumText.test(s)) return this.malformed(`bad big number '${s}'`);
        value = { type: 'bignum', value: BigInt(s) };
        break;
      }
      case 0x24: // $
      case 0x3d: {
        // =
        const length = this.length(body, type === 0x24);
        if (length === undefined) return undefined;
        if (length < 0) value = { type: 'null' };
        else {
          if (type === 0x3d && length < 4) return this.malformed('a verbatim string shorter than its format');
          if (!this.count(length + 2)) return undefined;
          this.pending = { kind: type === 0x24 ? 'bulk' : 'verbatim', length };
        }
        break;
      }
      case 0x2a: // *
      case 0x25: // %
      case 0x7e: // ~
      case 0x3e: {
        // >
        const count = this.length(body, type === 0x2a);
        if (count === undefined) return undefined;
        if (count < 0) {
          value = { type: 'nullArray' };
          break;
        }
        const aggregate = type === 0x2a ? 'array' : type === 0x25 ? 'map' : type === 0x7e ? 'set' : 'push';
        const elements = aggregate === 'map' ? 2 * count : count;
        if (elements > (this.bounds.replyBytesMax - this.replyBytes) / 3) {
          return this.tooLarge(`an aggregate of ${count} elements`);
        }
        if (elements === 0) value = close({ type: aggregate, left: 0, items: [] });
        else if (this.stack.length >= this.bounds.depthMax) {
          return this.tooLarge(`aggregates nested deeper than ${this.bounds.depthMax}`);
        } else {
          this.stack.push({ type: aggregate, left: elements, items: [] });
          value = opened;
        }
        break;
      }
      default:
        return this.malformed(`unknown reply type byte 0x${type.toString(16).padStart(2, '0')}`);
    }
    input.consume(line + 2);
    return value ?? (this.pending !== undefined ? this.readPending(this.pending) : undefined);
  }

  /** The current bulk or verbatim string once its data and the CRLF after it are in. */
  private readPending(p: Pending): RespValue | undefined {
    const input = this.input;
    if (this.pendingData === undefined) {
      this.pendingData = input.take(p.length);
      if (this.pendingData === undefined) return undefined;
    }
    if (input.held < 2) return undefined;
    if (input.at(0) !== CR || input.at(1) !== LF) return this.malformed('a bulk string not followed by CRLF');
    input.consume(2);
    const data = this.pendingData;
    this.pendingData = undefined;
    this.pending = undefined;
    if (p.kind === 'bulk') return { type: 'bulk', value: data };
    if (data[3] !== 0x3a) return this.malformed('a verbatim string without its format');
    return { type: 'verbatim', format: latin1.decode(data.subarray(0, 3)), text: data.subarray(4) };
  }

  /** The offset of the CR of the current line (its LF held too), undefined for more bytes or a failure. */
  private line(): number | undefined {
    const input = this.input;
    const limit = this.bounds.replyBytesMax - this.replyBytes;
    const at = input.indexOf(CR, this.scanned, limit, false);
    if (at < 0 || at + 1 >= input.held) {
      this.scanned = at < 0 ? Math.min(input.held, limit) : at;
      if (at < 0 && input.held >= limit) this.tooLarge('a line longer than the reply bound');
      return undefined;
    }
    this.scanned = 0;
    if (input.at(at + 1) !== LF) return this.malformed('a CR not followed by LF');
    if (at === 0) return this.malformed('an empty line');
    if (!this.count(at + 2)) return undefined;
    return at;
  }

  /** A length or count: -1 only where `nullable` ("$-1", "*-1"); undefined after a failure. */
  private length(body: Uint8Array, nullable: boolean): number | undefined {
    const s = latin1.decode(body);
    if (nullable && s === '-1') return -1;
    if (!/^(0|[1-9][0-9]{0,15})$/.test(s)) return this.malformed(`bad length '${s}'`);
    return Number(s);
  }

  /** Charges `bytes` to the current reply; false (failed) past the bound. */
  private count(bytes: number): boolean {
    this.replyBytes += bytes;
    if (this.replyBytes <= this.bounds.replyBytesMax) return true;
    this.tooLarge(`a reply over ${this.bounds.replyBytesMax} bytes`);
    return false;
  }

  private malformed(message: string): undefined {
    return this.fail(new ProtocolError(Code.malformed, message));
  }

  private tooLarge(message: string): undefined {
    return this.fail(new ProtocolError(Code.tooLarge, message, { replyBytesMax: this.bounds.replyBytesMax }));
  }

  private fail(error: ProtocolError): undefined {
    this.failure = error;
    this.input.release();
    this.stack.length = 0;
    this.pending = undefined;
    this.pendingData = undefined;
    return undefined;
  }
}

/** readElement's result for an aggregate that now waits for its elements. */
const opened = Symbol('opened');

function close(open: Open): RespValue {
  if (open.type !== 'map') return { type: open.type, items: open.items };
  const entries: Array<readonly [RespValue, RespValue]> = [];
  for (let i = 0; i < open.items.length; i += 2) entries.push([open.items[i]!, open.items[i + 1]!]);
  return { type: 'map', entries };
}
