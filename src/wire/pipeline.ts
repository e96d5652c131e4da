// The request loop every request/response front end shares (test protocol now; RESP and ZooKeeper
// next): decode requests from a ClientConnection's chunks, hand each to the session's `serve`, and
// write the replies back in request order, under the connection's in-flight bound.
//
// No business rules live here: what a request means is `serve`'s affair; how bytes become requests
// is the protocol decoder's.
//
// Invariants:
//   - replies leave in the order their requests arrived (pipelining clients rely on it), whatever
//     order `serve` answers them in; each request is answered at most once.
//   - requestStarted() is called per request dispatched and requestFinished() per reply written, so
//     the listener stops reading at inflightRequestsMax (TCP pushes back, no error is sent). A chunk
//     may hold more complete requests than the bound admits: they stay in the decoder, and the
//     pipeline holds reading (pause) until the decoder has none left, so it holds at most one chunk
//     beyond a partial request; they are dispatched as replies go out.
//   - fairness: at most inflightRequestsMax requests are dispatched between two yields of the
//     event loop (timers.after(0)), reading held meanwhile, so a connection whose requests are
//     answered synchronously cannot run a whole chunk's thousands of requests in one go.
//   - memory: after each burst of dispatching and each push, the connection is told what the
//     pipeline holds for it (reportHeldBytes): the decoder's unread input, the requests in flight
//     (sizeOf), the answered replies not yet written, and the session's own (PipelineOptions.heldBytes);
//     the listener adds its buffered replies and evicts the largest connections past its bound.
//   - a decode error is terminal (a byte stream cannot resynchronise): nothing more is dispatched,
//     replies to earlier requests still go out, then the protocol's error reply, then the
//     connection closes. Counted in client_protocol_errors_total{protocol, code}; never thrown.

import type { ClientCloseReason, ClientConnection, Counter, Metrics, Timers } from '../env/types.ts';
import { assert } from '../lib/assert.ts';
import { ProtocolError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';

const WRITE_BATCH_BYTES_MAX = limits.clientWriteBatchBytesMax;
const INFLIGHT_REQUEST_BYTES_MAX = limits.clientInflightRequestBytesMax;

/** A streaming decoder that yields one request at a time (so dispatch can stop at a bound). */
export interface RequestDecoder<Req> {
  /** Appends a chunk; the decoder copies what it keeps (the chunk is valid only during the call). */
  push(chunk: Uint8Array): void;
  /** The next complete request, a terminal ProtocolError, or undefined when more bytes are needed. */
  next(): Req | ProtocolError | undefined;
  /** Memory held for input not yet returned by next() (undefined: not counted). */
  readonly heldBytes?: number;
}

/**
 * Takes every complete item out of a decoder (a client's reply decoder, a test's): `each` per item;
 * returns the terminal ProtocolError if one came (nothing more is taken after it).
 */
export function drainDecoder<T>(
  decoder: Pick<RequestDecoder<T>, 'next'>,
  each: (item: T) => void,
): ProtocolError | undefined {
  for (;;) {
    const r = decoder.next();
    if (r === undefined) return undefined;
    if (r instanceof ProtocolError) return r;
    each(r);
  }
}

export interface ReplyOptions {
  /** Close the connection once this reply has been written (a QUIT). */
  readonly thenClose?: boolean;
}

/** Answers one request; call it exactly once, now or later. */
export type Reply = (bytes: Uint8Array, options?: ReplyOptions) => void;

export interface PipelineOptions<Req> {
  readonly connection: ClientConnection;
  readonly decoder: RequestDecoder<Req>;
  readonly metrics: Metrics;
  /** For yielding the event loop between bursts of requests (see yieldTurn). */
  readonly timers: Timers;
  serve(request: Req, reply: Reply): void;
  /**
   * The connection closed (the pipeline owns the connection's onData and onClose slots; a session
   * that must know, e.g. to mark a ZooKeeper session disconnected, hooks in here).
   */
  onClose?(reason: ClientCloseReason): void;
  /** The bytes to send before closing on a decode error (the protocol's error reply), if any. */
  protocolErrorReply(error: ProtocolError): Uint8Array | undefined;
  /**
   * The memory a request holds while in flight, for clientInflightRequestBytesMax (undefined: the
   * count bound alone).
   */
  sizeOf?(request: Req): number;
  /**
   * Memory the session holds for this connection beside the pipeline's (a MULTI queue, WATCHed
   * keys), reported with the pipeline's to the listener's memory bound.
   */
  heldBytes?(): number;
}

interface Slot {
  bytes: Uint8Array | null;
  thenClose: boolean;
  /** A decode error's reply: not a request, so not counted in flight. */
  counted: boolean;
}

export class RequestPipeline<Req> {
  private readonly conn: ClientConnection;
  /** Requests dispatched and not yet written, oldest first (at most inflightRequestsMax + 1). */
  private readonly slots: Slot[] = [];
  private stopped = false;
  /** pump() is on the stack: a synchronous reply must not re-enter it (the loop continues). */
  private pumping = false;
  /** A reply was answered during pump(): write after the dispatch loop. */
  private flushPending = false;
  /** Requests dispatched since this connection last yielded the event loop. */
  private dispatchedSinceYield = 0;
  private yieldScheduled = false;
  /** Bytes of answered slots not yet written (behind an unanswered one, or within pump()). */
  private heldBytesCount = 0;
  /**
   * A write left the connection's buffer at half its bound or more: answered replies wait for its
   * drain. Written all at once, a burst of large replies to a client that reads them all (5
   * pipelined GETs of a 15 MiB value) passed the bound in one write and evicted it as a slow
   * reader (an audit, 2026-12-07).
   */
  private awaitingDrain = false;
  /** The sizes (PipelineOptions.sizeOf) of the requests taken and not yet answered. */
  private inflightBytes = 0;
  /** One-shot callbacks for the next drain (whenDrained); at most one per writer pacing itself. */
  private drainWaiters: (() => void)[] = [];
  private readonly errors = new Map<string, Counter>();

  constructor(private readonly options: PipelineOptions<Req>) {
    this.conn = options.connection;
    this.conn.onClose((reason) => {
      this.stopped = true;
      this.slots.length = 0;
      this.heldBytesCount = 0;
      this.options.onClose?.(reason);
    });
    this.conn.onData((chunk) => {
      this.options.decoder.push(chunk);
      this.pump();
    });
    this.conn.onDrain(() => {
      this.awaitingDrain = false;
      if (this.conn.closed) return;
      this.writeAnswered();
      if (!this.stopped && !this.conn.closed) this.pump();
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const fn of waiters) fn();
    });
  }

  /**
   * Dispatches decoded requests while the bounds admit them. Replies answered meanwhile are written
   * together after the loop (one write per burst, not one per request), then dispatching goes on.
   */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    let drained = false;
    try {
      for (;;) {
        drained = this.dispatch();
        if (!this.flushPending) break;
        this.flushPending = false;
        this.writeAnswered();
        if (drained || this.stopped || this.conn.closed) break;
      }
    } finally {
      this.pumping = false;
    }
    this.reportMemory();
    // Read more only once the decoder holds no complete request: otherwise every resume would add
    // a chunk while the bound lets only a few requests out, and the decoder would grow.
    if (this.stopped || this.conn.closed) return;
    if (drained && !this.yieldScheduled) this.conn.resume();
    else this.conn.pause();
  }

  /** Dispatches what the bounds admit; true when the decoder has no complete request left. */
  private dispatch(): boolean {
    const max = this.conn.bounds.inflightRequestsMax;
    while (
      !this.stopped &&
      !this.conn.closed &&
      this.conn.inflightRequests < max &&
      this.inflightBytes < INFLIGHT_REQUEST_BYTES_MAX
    ) {
      if (this.dispatchedSinceYield >= max) {
        this.yieldTurn();
        return false;
      }
      const next = this.options.decoder.next();
      if (next === undefined) return true;
      if (next instanceof ProtocolError) {
        this.failDecode(next);
        return false;
      }
      const slot: Slot = { bytes: null, thenClose: false, counted: true };
      this.slots.push(slot);
      this.dispatchedSinceYield++;
      this.conn.requestStarted();
      const size = this.options.sizeOf?.(next) ?? 0;
      this.inflightBytes += size;
      let answered = false;
      this.options.serve(next, (bytes, replyOptions) => {
        assert(!answered, 'a request was answered twice');
        answered = true;
        this.inflightBytes -= size;
        if (this.conn.closed) return;
        slot.bytes = bytes;
        this.heldBytesCount += bytes.length;
        slot.thenClose = replyOptions?.thenClose === true;
        this.answered();
      });
    }
    return false;
  }

  /**
   * Synchronous answers never fill the in-flight window, so without this one chunk of 64 KiB of
   * tiny requests would run thousands of requests in one go while every other connection waits.
   * After inflightRequestsMax requests the connection stops reading and yields the event loop.
   */
  private yieldTurn(): void {
    if (this.yieldScheduled) return;
    this.yieldScheduled = true;
    this.options.timers.after(0, () => {
      this.yieldScheduled = false;
      this.dispatchedSinceYield = 0;
      if (!this.stopped && !this.conn.closed) this.pump();
    });
  }

  /**
   * Bytes that answer no request (a Redis Pub/Sub message): written after every reply to a request
   * dispatched before it, so a SUBSCRIBE's confirmation always precedes the messages it brings.
   * Not counted in flight. Ignored once the connection is stopping.
   */
  push(bytes: Uint8Array): void {
    if (this.stopped || this.conn.closed) return;
    this.slots.push({ bytes, thenClose: false, counted: false });
    this.heldBytesCount += bytes.length;
    // Write only: no dispatch from here. A push comes from another connection's command (a
    // PUBLISH, maybe inside its EXEC); running this connection's requests inside it would break
    // that command's atomicity. A push frees no in-flight slot, so nothing waits on it.
    if (this.pumping) this.flushPending = true;
    else {
      this.writeAnswered();
      this.reportMemory();
    }
  }

  /** Tells the connection what this pipeline and its session hold for it now. */
  private reportMemory(): void {
    if (this.conn.closed) return;
    const o = this.options;
    this.conn.reportHeldBytes(
      (o.decoder.heldBytes ?? 0) + this.inflightBytes + this.heldBytesCount + (o.heldBytes?.() ?? 0),
    );
  }

  /**
   * Runs `fn` once at the connection's next drain: for a writer that paces itself by backpressure
   * beside the replies (the connection's one drain slot is the pipeline's, which its held replies
   * need; a writer taking it left them held for good).
   */
  whenDrained(fn: () => void): void {
    this.drainWaiters.push(fn);
  }

  /** The sizes of the requests taken and not yet answered (clientInflightRequestBytesMax). */
  get inflightRequestBytes(): number {
    return this.inflightBytes;
  }

  /** Bytes waiting behind an unanswered reply (not yet handed to the connection). */
  get heldBytes(): number {
    return this.heldBytesCount;
  }

  private failDecode(error: ProtocolError): void {
    this.stopped = true;
    let counter = this.errors.get(error.code);
    if (counter === undefined) {
      counter = this.options.metrics.counter(
        'client_protocol_errors_total',
        'Client byte streams that failed to decode, by code (the connection is closed)',
        { protocol: this.conn.protocol, code: error.code },
      );
      this.errors.set(error.code, counter);
    }
    counter.inc();
    const bytes = this.options.protocolErrorReply(error) ?? new Uint8Array(0);
    this.slots.push({ bytes, thenClose: true, counted: false });
    this.heldBytesCount += bytes.length;
    this.answered();
  }

  /** A slot got its reply: write now, or after the dispatch loop when inside it. */
  private answered(): void {
    if (this.pumping) {
      this.flushPending = true;
      return;
    }
    this.writeAnswered();
    if (!this.stopped && !this.conn.closed) this.pump(); // requests held in the decoder may go now
  }

  /**
   * Writes the answered replies at the head of the order: together, in writes of up to
   * WRITE_BATCH_BYTES_MAX (a larger reply alone), until a write leaves the connection's buffer at
   * half its bound (then the rest waits for its drain).
   */
  private writeAnswered(): void {
    // Not `stopped`: a decode error stops the pipeline, then its reply still goes out (thenClose).
    while (!this.awaitingDrain && !this.conn.closed) {
      const wrote = this.writeBatch();
      if (wrote === 'none') return;
      if (wrote === 'backpressure') this.awaitingDrain = true;
    }
  }

  /** One write of answered replies at the head of the order; what the connection said of it. */
  private writeBatch(): 'none' | 'ok' | 'backpressure' {
    const conn = this.conn;
    let count = 0;
    let bytes = 0;
    let finished = 0;
    let thenClose = false;
    while (count < this.slots.length) {
      const slot = this.slots[count]!;
      if (slot.bytes === null) break;
      if (count > 0 && bytes + slot.bytes.length > WRITE_BATCH_BYTES_MAX) break;
      count++;
      bytes += slot.bytes.length;
      if (slot.counted) finished++;
      if (slot.thenClose) {
        thenClose = true;
        break;
      }
    }
    if (count === 0 || conn.closed) return 'none';
    const ready = this.slots.splice(0, count);
    this.heldBytesCount -= bytes;
    // Reported before the write counts them as buffered (a review: between the two they counted
    // twice, and a lone client within the bound was evicted).
    this.reportMemory();
    let out: Uint8Array;
    if (count === 1) out = ready[0]!.bytes!;
    else {
      out = new Uint8Array(bytes);
      let at = 0;
      for (const slot of ready) {
        out.set(slot.bytes!, at);
        at += slot.bytes!.length;
      }
    }
    const flowing = conn.write(out); // false = backpressure: the listener has stopped reading already
    for (let i = 0; i < finished && !conn.closed; i++) conn.requestFinished();
    if (thenClose) {
      this.stopped = true;
      conn.close();
      return 'none';
    }
    return flowing ? 'ok' : 'backpressure';
  }
}
