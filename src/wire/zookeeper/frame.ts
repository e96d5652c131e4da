// ZooKeeper's client-connection framing: the server-side streaming decoder (a RequestDecoder for
// src/wire/pipeline.ts), the client-side reply decoder, and the framed encoders of both sides.
//
// Grammar (bytes of one TCP connection):
//
//   client stream = four-letter-word / ( connect-frame *request-frame )
//   four-letter-word = 4 ASCII bytes that, read as a big-endian int, are one of ZooKeeper 3.8's
//                      FourLetterCommands (conf cons crst dirs dump envi gtmk ruok stmk srvr srst
//                      stat wchc wchp wchs mntr isro hash); "stmk" is followed by a long (the trace
//                      mask). Only recognised where the first frame's length would be; the server
//                      answers in text and closes, so bytes after it are ignored.
//   connect-frame = int:len ConnectRequest          ; len in 0..zkPacketBytesMax
//   request-frame = int:len RequestHeader body      ; body = the record of RequestHeader.type
//   server stream = int:len ConnectResponse *( int:len ReplyHeader [response | WatcherEvent] )
//
// ZooKeeper 3.8's server (NIOServerCnxn.readLength) closes the connection when a frame's length is
// below 0 or above jute.maxbuffer (0xfffff = 1,048,575 bytes by default), before reading it:
// limits.zkPacketBytesMax is that bound, checked on the length prefix alone.
//
// Decoding errors (ProtocolError). Terminal ones end the stream (the caller closes the connection):
//   invalid_length        a frame length below 0                                         terminal
//   zk_packet_too_large   a frame length above the bound                                 terminal
//   truncated             a ConnectRequest or RequestHeader shorter than its fields      terminal
//   invalid_length        a ConnectRequest's passwd length out of range                  terminal
//   zk_unexpected_xid     (reply decoder) a reply to no pending request                  terminal
// Not terminal (the frame bounds the damage): a request body that does not decode yields
// `{ kind: 'malformed', xid, type, error }` (ZooKeeper answers MARSHALLINGERROR, -5, and goes on);
// an opcode ZooKeeper does not serve yields `{ kind: 'unknown', ... }` (see records.ts).
//
// Any chunking gives the same requests: the decoder keeps unconsumed bytes in one buffer, which
// holds at most a partial frame plus the chunk being pushed (the pipeline stops reading while
// complete requests wait). Untrusted bytes never reach an assert.

import { OpCode, Xid } from '../../coord/codes.ts';
import { ProtocolError } from '../../lib/errors.ts';
import { limits } from '../../lib/limits.ts';
import type { RequestDecoder } from '../pipeline.ts';
import { decodeWith, JuteReader, JuteWriter } from './jute.ts';
import {
  type ConnectRequest,
  type ConnectResponse,
  type Long,
  type ReplyHeader,
  readConnectRequest,
  readConnectResponse,
  readReplyHeader,
  readWatcherEvent,
  type WatcherEvent,
  writeConnectRequest,
  writeConnectResponse,
  writeReplyHeader,
  writeWatcherEvent,
} from './records.ts';
import { isKnownRequestType, type RequestBody, readRequestBody, writeRequestBody } from './requests.ts';
import { type ResponseBody, type ResponseType, readResponseBody, writeResponseBody } from './responses.ts';

/** ZooKeeper 3.8's FourLetterCommands. */
export const fourLetterWords = [
  'conf',
  'cons',
  'crst',
  'dirs',
  'dump',
  'envi',
  'gtmk',
  'ruok',
  'stmk',
  'srvr',
  'srst',
  'stat',
  'wchc',
  'wchp',
  'wchs',
  'mntr',
  'isro',
  'hash',
] as const;
export type FourLetterWord = (typeof fourLetterWords)[number];

const fourLetterByInt = new Map<number, FourLetterWord>(
  fourLetterWords.map((w) => [
    (w.charCodeAt(0) << 24) | (w.charCodeAt(1) << 16) | (w.charCodeAt(2) << 8) | w.charCodeAt(3) | 0,
    w,
  ]),
);

/** What the server-side decoder yields. */
export type ZkServerRequest =
  | { readonly kind: 'connect'; readonly request: ConnectRequest }
  | {
      readonly kind: 'fourLetter';
      readonly word: FourLetterWord /** stmk's mask; null for the others. */;
      readonly traceMask: bigint | null;
    }
  | { readonly kind: 'request'; readonly xid: number; readonly body: RequestBody }
  | { readonly kind: 'unknown'; readonly xid: number; readonly type: number; readonly body: Uint8Array }
  | { readonly kind: 'malformed'; readonly xid: number; readonly type: number; readonly error: ProtocolError };

/** What the client-side decoder yields. */
export type ZkClientReply =
  | { readonly kind: 'connect'; readonly response: ConnectResponse }
  /** body is null when header.err is not 0 (ZooKeeper sends no record then) or the type has none. */
  | {
      readonly kind: 'reply';
      readonly header: ReplyHeader;
      readonly type: ResponseType;
      readonly body: ResponseBody | null;
    }
  | { readonly kind: 'notification'; readonly header: ReplyHeader; readonly event: WatcherEvent };

/** Length-prefixed frames out of a byte stream, in one reusable buffer. */
class FrameBuffer {
  private buf = new Uint8Array(1024);
  private start = 0;
  private end = 0;

  get heldBytes(): number {
    return this.end - this.start;
  }

  /** Bytes of buffer kept (held bytes plus room). */
  get capacityBytes(): number {
    return this.buf.length;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    const held = this.end - this.start;
    if (this.start > 0 && held + chunk.length > this.buf.length - this.start) {
      this.buf.copyWithin(0, this.start, this.end);
      this.start = 0;
      this.end = held;
    }
    if (this.end + chunk.length > this.buf.length) {
      let size = this.buf.length;
      while (size < this.end + chunk.length) size *= 2;
      const grown = new Uint8Array(size);
      grown.set(this.buf.subarray(this.start, this.end));
      this.buf = grown;
      this.end = held;
      this.start = 0;
    }
    this.buf.set(chunk, this.end);
    this.end += chunk.length;
  }

  /** The first 4 held bytes as a big-endian int, or undefined. */
  peekInt(): number | undefined {
    if (this.end - this.start < 4) return undefined;
    const b = this.buf;
    const s = this.start;
    return (b[s]! << 24) | (b[s + 1]! << 16) | (b[s + 2]! << 8) | b[s + 3]! | 0;
  }

  /** Consumes `n` bytes and returns a copy (the buffer is reused). */
  take(n: number): Uint8Array {
    const out = this.buf.slice(this.start, this.start + n);
    this.start += n;
    // Emptied: back to the small buffer, so one 1 MiB frame does not pin 1 MiB per connection.
    if (this.start === this.end) this.clear();
    return out;
  }

  clear(): void {
    this.start = this.end = 0;
    if (this.buf.length > 1024) this.buf = new Uint8Array(1024);
  }

  /**
   * The next frame's body (prefix removed), a terminal error, or undefined (more bytes needed).
   * The length is checked before any of the body is awaited.
   */
  nextFrame(packetBytesMax: number): Uint8Array | ProtocolError | undefined {
    const len = this.peekInt();
    if (len === undefined) return undefined;
    if (len < 0) {
      return new ProtocolError('invalid_length', `zookeeper: frame length ${len} is negative`, { length: len });
    }
    if (len > packetBytesMax) {
      return new ProtocolError('zk_packet_too_large', `zookeeper: frame length ${len} is over the bound`, {
        length: len,
        packetBytesMax,
      });
    }
    if (this.end - this.start < 4 + len) return undefined;
    this.start += 4;
    return this.take(len);
  }
}

export interface ZkDecoderOptions {
  /** Largest frame body accepted; default limits.zkPacketBytesMax (ZooKeeper's jute.maxbuffer). */
  readonly packetBytesMax?: number;
}

/** The server side: a connection's bytes to requests (a RequestDecoder for the pipeline). */
export class ZkRequestDecoder implements RequestDecoder<ZkServerRequest> {
  private readonly frames = new FrameBuffer();
  private readonly packetBytesMax: number;
  private state: 'first' | 'requests' | 'fourLetterDone' = 'first';
  private failed: ProtocolError | null = null;

  constructor(options: ZkDecoderOptions = {}) {
    this.packetBytesMax = options.packetBytesMax ?? limits.zkPacketBytesMax;
  }

  /** Bytes held (unconsumed input). */
  get heldBytes(): number {
    return this.frames.heldBytes;
  }

  /** Buffer kept for this connection (back to 1 KiB whenever no input is held). */
  get bufferBytes(): number {
    return this.frames.capacityBytes;
  }

  /** The bytes of the frame the last request came in (its length prefix included). */
  get lastFrameBytes(): number {
    return this.lastFrame;
  }
  private lastFrame = 0;

  push(chunk: Uint8Array): void {
    if (this.failed !== null || this.state === 'fourLetterDone') return;
    this.frames.push(chunk);
  }

  next(): ZkServerRequest | ProtocolError | undefined {
    if (this.failed !== null) return this.failed;
    if (this.state === 'fourLetterDone') return undefined;
    if (this.state === 'first') {
      const word = fourLetterByInt.get(this.frames.peekInt() ?? 0);
      if (word !== undefined) return this.fourLetter(word);
    }
    const frame = this.frames.nextFrame(this.packetBytesMax);
    if (frame === undefined) return undefined;
    if (frame instanceof ProtocolError) return this.fail(frame);
    this.lastFrame = frame.length + 4;
    if (this.state === 'first') {
      const request = decodeWith(frame, readConnectRequest);
      if (request instanceof ProtocolError) return this.fail(request);
      this.state = 'requests';
      return { kind: 'connect', request };
    }
    return this.request(frame);
  }

  private fourLetter(word: FourLetterWord): ZkServerRequest | undefined {
    let traceMask: bigint | null = null;
    if (word === 'stmk') {
      if (this.frames.heldBytes < 12) return undefined;
      this.frames.take(4);
      traceMask = new JuteReader(this.frames.take(8)).long();
    } else {
      this.frames.take(4);
    }
    this.state = 'fourLetterDone';
    this.frames.clear();
    return { kind: 'fourLetter', word, traceMask };
  }

  private request(frame: Uint8Array): ZkServerRequest | ProtocolError {
    const r = new JuteReader(frame);
    if (r.remaining < 8) {
      return this.fail(
        new ProtocolError('truncated', 'zookeeper: a frame shorter than its RequestHeader', {
          frameBytes: frame.length,
        }),
      );
    }
    const xid = r.int('RequestHeader.xid');
    const type = r.int('RequestHeader.type');
    if (!isKnownRequestType(type)) return { kind: 'unknown', xid, type, body: r.rest() };
    try {
      return { kind: 'request', xid, body: readRequestBody(type, r) };
    } catch (e) {
      if (e instanceof ProtocolError) return { kind: 'malformed', xid, type, error: e };
      throw e;
    }
  }

  private fail(error: ProtocolError): ProtocolError {
    this.failed = error;
    this.frames.clear();
    return error;
  }
}

export interface ZkReplyDecoderOptions extends ZkDecoderOptions {
  /**
   * The type of the request the client sent with this xid (the client keeps its pending requests),
   * or undefined when none is pending (a terminal zk_unexpected_xid). Reserved xids (ping -2,
   * auth -4, setWatches -8) are resolved by the decoder; notifications (-1) need no type.
   */
  typeOfXid(xid: number): ResponseType | undefined;
}

/** The client side: a connection's bytes to the connect response, replies and notifications. */
export class ZkReplyDecoder {
  private readonly frames = new FrameBuffer();
  private readonly packetBytesMax: number;
  private connected = false;
  private failed: ProtocolError | null = null;

  constructor(private readonly options: ZkReplyDecoderOptions) {
    this.packetBytesMax = options.packetBytesMax ?? limits.zkPacketBytesMax;
  }

  push(chunk: Uint8Array): void {
    if (this.failed === null) this.frames.push(chunk);
  }

  next(): ZkClientReply | ProtocolError | undefined {
    if (this.failed !== null) return this.failed;
    const frame = this.frames.nextFrame(this.packetBytesMax);
    if (frame === undefined) return undefined;
    if (frame instanceof ProtocolError) return this.fail(frame);
    const out = decodeWith(frame, (r) => this.decodeFrame(r));
    return out instanceof ProtocolError ? this.fail(out) : out;
  }

  private decodeFrame(r: JuteReader): ZkClientReply {
    if (!this.connected) {
      const response = readConnectResponse(r);
      this.connected = true;
      return { kind: 'connect', response };
    }
    const header = readReplyHeader(r);
    if (header.xid === Xid.notification) return { kind: 'notification', header, event: readWatcherEvent(r) };
    const type = reservedXidType(header.xid) ?? this.options.typeOfXid(header.xid);
    if (type === undefined) {
      throw new ProtocolError('zk_unexpected_xid', `zookeeper: a reply with xid ${header.xid} answers no request`, {
        xid: header.xid,
      });
    }
    // A failed request carries no record; neither do the types with an empty response.
    const body = header.err === 0 ? readResponseBody(type, r) : null;
    return { kind: 'reply', header, type, body };
  }

  private fail(error: ProtocolError): ProtocolError {
    this.failed = error;
    this.frames.clear();
    return error;
  }
}

function reservedXidType(xid: number): ResponseType | undefined {
  switch (xid) {
    case Xid.ping:
      return OpCode.ping;
    case Xid.auth:
      return OpCode.auth;
    case Xid.setWatches:
      return OpCode.setWatches;
    default:
      return undefined;
  }
}

// ---- framed encoders -----------------------------------------------------------------------------

function framed(write: (w: JuteWriter) => void): Uint8Array {
  const w = new JuteWriter();
  w.int(0);
  write(w);
  w.patchInt(0, w.length - 4);
  return w.finish();
}

/** Client: the first frame of a connection. */
export function encodeConnectRequest(request: ConnectRequest<Long>): Uint8Array {
  return framed((w) => writeConnectRequest(w, request));
}

/** Client: a request frame (RequestHeader{xid, body.type} + body). */
export function encodeRequest(xid: number, body: RequestBody<Long>): Uint8Array {
  return framed((w) => {
    w.int(xid).int(body.type);
    writeRequestBody(w, body);
  });
}

/** Server: the answer to a ConnectRequest (with a readOnly byte iff the response has one). */
export function encodeConnectResponse(response: ConnectResponse<Long>): Uint8Array {
  return framed((w) => writeConnectResponse(w, response));
}

/** Server: a reply; the body is written only when header.err is 0 (as ZooKeeper does). */
export function encodeReply(header: ReplyHeader<Long>, body: ResponseBody<Long> | null): Uint8Array {
  return framed((w) => {
    writeReplyHeader(w, header);
    if (header.err === 0 && body !== null) writeResponseBody(w, body);
  });
}

/** Server: a watch notification (xid -1; ZooKeeper sends zxid -1 in it). */
export function encodeNotification(event: WatcherEvent, zxid: Long = -1n): Uint8Array {
  return framed((w) => {
    writeReplyHeader(w, { xid: Xid.notification, zxid, err: 0 });
    writeWatcherEvent(w, event);
  });
}

/** Client: a four-letter word (stmk takes the trace mask). */
export function encodeFourLetterWord(word: FourLetterWord, traceMask?: Long): Uint8Array {
  const w = new JuteWriter(12);
  for (let i = 0; i < 4; i++) w.raw(Uint8Array.of(word.charCodeAt(i)));
  if (word === 'stmk') w.long(traceMask ?? 0n);
  return w.finish();
}
