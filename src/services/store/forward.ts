// Forwarding a Redis command to the node that owns its key, and answering commands forwarded to
// this node. With N = 1 a key lives on exactly one node (its ring owner, ring.ts); a client may be
// connected to any node, so the node it reached sends the command to the owner, which runs it
// exactly as it runs a command of its own clients (atomic, in its order, durable per the sync
// policy before the answer leaves) and answers with the reply. The client sees Redis' semantics
// whichever node it reached, as it would from one server (Redis Cluster answers MOVED instead;
// every node of ours coordinates every key).
//
// Messages (big-endian; uvarint as src/lib/bytes.ts):
//   Forward      = u8 version(1) | u64 opId | args                   ; for a RESP3 client
//                | u8 version(2) | u8 protocol(2 or 3) | u64 opId | args
//   args         = uvarint argc (1..) | (uvarint length | bytes)*argc
//   ForwardReply = u8 version(1) | u64 opId | reply     ; reply: exactly one RESP reply, encoded for
//                                                       ; the protocol the Forward named
// The owner encodes the reply for the client's protocol, as it would for a client of its own: the
// coordinator decodes it and encodes it again for its client, unchanged. (Until 2026-12-06 every
// reply travelled as RESP3 and was downgraded at the coordinator, which cannot know that
// ZRANGE ... WITHSCORES' RESP3 pairs are one flat array in RESP2: a RESP2 client through another
// node got nested pairs. Found by the differential fuzz, test/fuzz/redis-differential.test.ts.)
// A RESP3 client's Forward stays version 1, which builds before version 2 read; they refuse version
// 2 (dropped and counted: the coordinator answers -TIMEOUT). Op ids start at a random base
// (a restarted node does not take a late answer for a new op) and are matched only against the
// node the op was sent to.
//
// Failures a client sees (RESP errors; Redis has no word for them, so the prefixes are ours and
// docs/COMPAT-REDIS.md lists them):
//   -CLUSTERDOWN  the owner is unreachable (unknown, send queue full): definite, nothing ran;
//   -TIMEOUT      no answer within timeoutMs: indefinite, the command may have run (a client must
//                 not retry a non-idempotent command blindly);
//   -BUSY         more than forwardPendingCountMax forwarded commands await answers: definite.
// Untrusted bytes: a peer's message that does not decode is dropped and counted (malformed), never
// thrown; a reply that is not exactly one RESP reply is a -TIMEOUT-like indefinite error.

import type { Logger, Metrics, NodeId, PeerMessage, Rng, Timers } from '../../env/types.ts';
import { ByteReader, ByteWriter } from '../../lib/bytes.ts';
import { ProtocolError } from '../../lib/errors.ts';
import { limits, peerEnvelopeBytesMax } from '../../lib/limits.ts';
import { RecentIds } from '../../lib/recent-ids.ts';
import { MessageType } from '../../lib/message-types.ts';
import { encodeReply, RespReplyDecoder, type RespProtocol, type RespValue, reply } from '../../wire/resp/index.ts';

const VERSION = 1;
/** A Forward naming its client's protocol. */
const VERSION_WITH_PROTOCOL = 2;

export interface ForwarderDeps {
  readonly self: NodeId;
  send(to: NodeId, type: number, payload: Uint8Array): boolean;
  readonly timers: Timers;
  readonly rng: Rng;
  readonly log: Logger;
  readonly metrics: Pick<Metrics, 'counter' | 'gauge'>;
  /**
   * Runs a command forwarded to this node; calls `done` once its reply may leave (durable).
   * Callbacks, not Promises: the simulator runs every node in one synchronous loop, where a
   * Promise's continuation would wait for the whole run to end.
   */
  execute(argv: readonly Uint8Array[], done: (value: RespValue) => void): void;
}

export interface ForwarderOptions {
  readonly timeoutMs: number;
  /** Default limits.storeForwardPendingCountMax. */
  readonly pendingMax?: number;
}

interface Pending {
  readonly to: NodeId;
  readonly done: (value: RespValue) => void;
  readonly timer: { cancel(): void };
}

export function encodeForward(opId: bigint, argv: readonly Uint8Array[], protocol: RespProtocol = 3): Uint8Array {
  let bytes = 2 + 8 + 10;
  for (const a of argv) bytes += 10 + a.length;
  const w = new ByteWriter({ bytesMax: bytes });
  if (protocol === 3) w.u8(VERSION);
  else w.u8(VERSION_WITH_PROTOCOL).u8(protocol);
  w.u64(opId).uvarint(argv.length);
  for (const a of argv) w.bytesUvarint(a);
  return w.finish();
}

export function decodeForward(
  payload: Uint8Array,
): { opId: bigint; argv: Uint8Array[]; protocol: RespProtocol } | ProtocolError {
  try {
    const r = new ByteReader(payload);
    const version = r.u8();
    if (version !== VERSION && version !== VERSION_WITH_PROTOCOL)
      return new ProtocolError('malformed', 'store forward: unknown version');
    const protocol = version === VERSION ? 3 : r.u8();
    if (protocol !== 2 && protocol !== 3) return new ProtocolError('malformed', `store forward: protocol ${protocol}`);
    const opId = r.u64();
    const argc = r.uvarint();
    if (argc < 1 || argc > r.remaining)
      return new ProtocolError('malformed', `store forward: bad argument count ${argc}`);
    const argv: Uint8Array[] = [];
    for (let i = 0; i < argc; i++) argv.push(r.bytesUvarint().slice());
    r.expectEnd('store forward');
    return { opId, argv, protocol };
  } catch (err) {
    if (err instanceof ProtocolError) return err;
    throw err;
  }
}

export function encodeForwardReply(opId: bigint, value: RespValue, protocol: RespProtocol = 3): Uint8Array {
  const body = encodeReply(value, protocol);
  const w = new ByteWriter({ bytesMax: 9 + body.length }).u8(VERSION).u64(opId);
  const head = w.finish();
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

export function decodeForwardReply(payload: Uint8Array): { opId: bigint; value: RespValue } | ProtocolError {
  if (payload.length < 9 || payload[0] !== VERSION)
    return new ProtocolError('malformed', 'store forward reply: bad header');
  const opId = new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getBigUint64(1);
  const decoder = new RespReplyDecoder({ replyBytesMax: Math.max(1, payload.length) });
  decoder.push(payload.subarray(9));
  const value = decoder.next();
  if (value === undefined || value instanceof ProtocolError)
    return new ProtocolError('malformed', 'store forward reply: not one RESP reply');
  if (decoder.next() !== undefined) return new ProtocolError('malformed', 'store forward reply: trailing bytes');
  return { opId, value };
}

export class CommandForwarder {
  private readonly pending = new Map<bigint, Pending>();
  /**
   * Op ids served per sender, the last `pendingMax` of them: a sender has at most that many
   * waiting, so an older duplicate of one of its ops has already been answered or timed out.
   */
  private readonly seen: RecentIds<bigint>;
  private nextOpId: bigint;
  private readonly pendingMax: number;

  constructor(
    private readonly deps: ForwarderDeps,
    private readonly options: ForwarderOptions,
  ) {
    this.pendingMax = options.pendingMax ?? limits.storeForwardPendingCountMax;
    this.seen = new RecentIds(this.pendingMax, limits.clusterNodesMax);
    // Random base, 2^52 apart from 0: ids of this life and the last do not meet in practice.
    this.nextOpId = BigInt(deps.rng.int(2 ** 30)) * 2n ** 32n;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /**
   * Sends `argv` to `to` for a client of `protocol`; `done` gets its reply (or one of the errors in
   * the header), once.
   */
  forward(to: NodeId, argv: readonly Uint8Array[], protocol: RespProtocol, done: (value: RespValue) => void): void {
    if (this.pending.size >= this.pendingMax) {
      this.count('busy');
      return done(reply.error(`BUSY ${this.pendingMax} forwarded commands are waiting for answers`));
    }
    const opId = this.nextOpId++;
    const payload = encodeForward(opId, argv, protocol);
    if (payload.length + peerEnvelopeBytesMax(limits) > limits.peerFrameBytesMax) {
      this.count('too_large');
      return done(
        reply.error(
          `ERR the command (${payload.length} bytes) is too large to forward to ${to}, the node owning the key (peerFrameBytesMax): connect there`,
        ),
      );
    }
    if (!this.deps.send(to, MessageType.StoreForward, payload)) {
      this.count('unreachable');
      return done(reply.error(`CLUSTERDOWN the node owning the key (${to}) is unreachable`));
    }
    const timer = this.deps.timers.after(this.options.timeoutMs, () => {
      if (!this.pending.delete(opId)) return;
      this.count('timeout');
      done(
        reply.error(
          `TIMEOUT no answer from ${to}, the node owning the key, within ${this.options.timeoutMs} ms (the command may have run)`,
        ),
      );
    });
    this.pending.set(opId, { to, done, timer });
  }

  /** Handles StoreForward and StoreForwardReply messages from peers. */
  receive(message: PeerMessage): void {
    if (message.type === MessageType.StoreForward) {
      const f = decodeForward(message.payload);
      if (f instanceof ProtocolError) return this.malformed(message.from, f);
      // A duplicate (the simulator's network duplicates; a reconnecting transport could) must not
      // run twice: an INCR would count two. Its first answer went, or will time out.
      if (!this.seen.admit(message.from, f.opId)) return this.count('duplicate');
      this.count('served');
      this.deps.execute(f.argv, (value) => {
        const answer = encodeForwardReply(f.opId, value, f.protocol);
        const sent = this.deps.send(message.from, MessageType.StoreForwardReply, answer);
        if (sent) return;
        // Too large for a peer frame (a big GET or HGETALL), or the link is gone: a small
        // definite answer instead of a silent TIMEOUT (the command did run: only a write's
        // effect stands, and that is what the text says).
        this.count('reply_unsendable');
        this.deps.send(
          message.from,
          MessageType.StoreForwardReply,
          encodeForwardReply(
            f.opId,
            reply.error(
              `ERR the reply is too large to forward back from ${this.deps.self} (it ran there): connect there`,
            ),
            f.protocol,
          ),
        );
      });
      return;
    }
    if (message.type === MessageType.StoreForwardReply) {
      const r = decodeForwardReply(message.payload);
      if (r instanceof ProtocolError) return this.malformed(message.from, r);
      const p = this.pending.get(r.opId);
      // Late (timed out) or not ours, or from another node than the one asked: ignored.
      if (p === undefined || p.to !== message.from) return this.count('stale_reply');
      this.pending.delete(r.opId);
      p.timer.cancel();
      this.count('answered');
      p.done(r.value);
    }
  }

  /** Fails every waiting command (the node stops). */
  stop(): void {
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.timer.cancel();
      p.done(reply.error('TIMEOUT the node is stopping (the command may have run)'));
    }
  }

  private malformed(from: NodeId, err: ProtocolError): void {
    this.count('malformed');
    this.deps.log.warn({ from, err: err.message }, 'store: malformed forwarding message dropped');
  }

  private count(outcome: string): void {
    this.deps.metrics
      .counter('store_forwarded_total', 'Commands forwarded to or from the key owner, by outcome', { outcome })
      .inc();
  }
}
