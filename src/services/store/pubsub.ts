// Redis Pub/Sub on the store's RESP front end (Redis 7.0.15's pubsub.c semantics, implemented from
// its documentation and behaviour): the node's channel -> subscribers and pattern -> subscribers
// indexes, delivery of `message` / `pmessage` to each subscriber's connection, PUBLISH's fan-out
// to every other node, and the commands SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH
// and PUBSUB CHANNELS | NUMSUB | NUMPAT; sharded Pub/Sub (Redis 7.0): SSUBSCRIBE, SUNSUBSCRIBE,
// SPUBLISH and PUBSUB SHARDCHANNELS | SHARDNUMSUB.
//
// Sharded channels are a namespace of their own (a SUBSCRIBE to "a" does not see an SPUBLISH to
// "a"); their confirmations count the connection's shard channels only, as Redis'
// clientShardSubscriptionsCount; a message is [smessage, channel, payload]. A shard channel is
// placed like a key (its slot, hash tags apply): on a cluster one SSUBSCRIBE's channels must share
// a slot (else CROSSSLOT), as Redis Cluster asks. Redis delivers an SPUBLISH within the slot's
// shard (its master and replicas) and answers MOVED elsewhere; every Baristas node coordinates
// every key, so SSUBSCRIBE and SPUBLISH are accepted on any node and an SPUBLISH reaches the
// shard subscribers of every node, as a PUBLISH does (docs/COMPAT-REDIS.md).
//
// Replies (RESP2 arrays, RESP3 pushes `>`; Redis' addReplyPubsub*):
//   [subscribe|unsubscribe|psubscribe|punsubscribe, name, count]   one per name, count = the
//       connection's channels + patterns after the change; (P)UNSUBSCRIBE with no name and nothing
//       subscribed answers [punsubscribe|unsubscribe, nil, 0];
//   [message, channel, payload] and [pmessage, pattern, channel, payload]: channel subscribers first,
//       then each matching pattern (Redis' stringmatchlen: src/redis/glob.ts).
// A command that confirms several names answers with several replies to its one request
// (RespSession.leading holds all but the last).
//
// Cluster: a PUBLISH runs on the node the client reached, delivers there, and sends one StorePublish
// message to every other node, which delivers to its own subscribers. Best effort and at most once,
// as Redis Cluster's bus: a peer that is down or whose send queue (bounded by the transport,
// peerSendQueueBytesMax) is full misses the message, counted in store_pubsub_peer_dropped_total.
// PUBLISH answers with the receivers on this node only (Redis Cluster does the same); PUBSUB
// CHANNELS / NUMSUB / NUMPAT are this node's too.
//
// Message (big-endian; uvarint as src/lib/bytes.ts):
//   Publish = u8 version(1) | uvarint channel length | channel | uvarint payload length | payload
//           | u8 version(2) | u8 kind (0 channel, 1 shard channel) | the same channel and payload
// A PUBLISH is sent as version 1 (what every node understands), an SPUBLISH as version 2.
// A peer's message that does not decode is dropped and counted (malformed), never thrown.
//
// Slow subscribers: a connection's pending output (bytes held by the pipeline behind unanswered
// requests plus bytes not yet taken by the client) is checked at each message, as Redis'
// client-output-buffer-limit pubsub 32mb 8mb 60: over the hard bound, or over the soft bound for
// the soft period, the connection is closed and counted (store_pubsub_slow_closed_total).

import type { Counter, Logger, Metrics, NodeId, PeerMessage } from '../../env/types.ts';
import { ByteReader, ByteWriter } from '../../lib/bytes.ts';
import { ProtocolError } from '../../lib/errors.ts';
import { limits, peerEnvelopeBytesMax } from '../../lib/limits.ts';
import { MessageType } from '../../lib/message-types.ts';
import { keySlot } from '../../dynamo/slots.ts';
import { globMatch } from '../../redis/glob.ts';
import { encodeReply, type RespValue, reply } from '../../wire/resp/index.ts';
import { latin1, type ServerCommandSpec } from './command-entry.ts';
import { serverCommand } from './connection-commands.ts';
import { CROSSSLOT_MESSAGE } from './routing.ts';
import type { RespSession } from './session.ts';

const VERSION = 1;
const VERSION_WITH_KIND = 2;
const fromLatin1 = (s: string): Uint8Array => {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
};

export type PublishKind = 'channel' | 'shard';

export function encodePublish(channel: Uint8Array, message: Uint8Array, kind: PublishKind = 'channel'): Uint8Array {
  const w = new ByteWriter({ bytesMax: 2 + 10 + channel.length + 10 + message.length });
  if (kind === 'channel') w.u8(VERSION);
  else w.u8(VERSION_WITH_KIND).u8(1);
  return w.bytesUvarint(channel).bytesUvarint(message).finish();
}

export function decodePublish(
  payload: Uint8Array,
): { channel: Uint8Array; message: Uint8Array; kind: PublishKind } | ProtocolError {
  try {
    const r = new ByteReader(payload);
    const version = r.u8();
    let kind: PublishKind = 'channel';
    if (version === VERSION_WITH_KIND) {
      const k = r.u8();
      if (k > 1) return new ProtocolError('malformed', `store publish: unknown kind ${k}`);
      kind = k === 1 ? 'shard' : 'channel';
    } else if (version !== VERSION) return new ProtocolError('malformed', 'store publish: unknown version');
    const channel = r.bytesUvarint().slice();
    const message = r.bytesUvarint().slice();
    r.expectEnd('store publish');
    return { channel, message, kind };
  } catch (err) {
    if (err instanceof ProtocolError) return err;
    throw err;
  }
}

export interface PubSubDeps {
  readonly self: NodeId;
  /** The other nodes of the cluster (a PUBLISH is sent to each). */
  peers(): readonly NodeId[];
  send(to: NodeId, type: number, payload: Uint8Array): boolean;
  monotonicMs(): number;
  readonly metrics: Pick<Metrics, 'counter'>;
  readonly log: Logger;
}

export class PubSubHub {
  private readonly channels = new Map<string, Set<RespSession>>();
  private readonly patterns = new Map<string, Set<RespSession>>();
  private readonly shardChannels = new Map<string, Set<RespSession>>();
  /** The bytes of the names the three indexes hold (storePubsubNodeSubscriptionsBytesMax). */
  private namesBytes = 0;
  private readonly m: {
    readonly published: Counter;
    readonly delivered: Counter;
    readonly slowClosed: Counter;
    readonly peerSent: Counter;
    readonly peerDropped: Counter;
    readonly peerReceived: Counter;
    readonly malformed: Counter;
  };
  readonly stats = { slowClosed: 0, peerDropped: 0, malformed: 0 };

  constructor(private readonly deps: PubSubDeps) {
    const c = (name: string, help: string) => deps.metrics.counter(name, help);
    this.m = {
      published: c('store_pubsub_published_total', 'PUBLISH commands run on this node'),
      delivered: c('store_pubsub_delivered_total', 'Messages delivered to subscribers of this node'),
      slowClosed: c(
        'store_pubsub_slow_closed_total',
        'Subscriber connections closed over the pubsub output limit (client-output-buffer-limit pubsub)',
      ),
      peerSent: c('store_pubsub_peer_sent_total', 'PUBLISH messages sent to other nodes'),
      peerDropped: c(
        'store_pubsub_peer_dropped_total',
        'PUBLISH messages not sent to a node (unreachable, send queue full, too large): best effort',
      ),
      peerReceived: c('store_pubsub_peer_received_total', 'PUBLISH messages received from other nodes'),
      malformed: c('store_pubsub_malformed_total', 'Peer PUBLISH messages that did not decode (dropped)'),
    };
  }

  // ---- subscriptions ----

  /** Adds a channel (or pattern) for `s`; false when a bound refuses it; true if already there. */
  private add(index: Map<string, Set<RespSession>>, mine: Set<string>, s: RespSession, name: Uint8Array): boolean {
    const k = latin1(name);
    if (mine.has(k)) return true;
    if (s.channels.size + s.patterns.size + s.shardChannels.size >= limits.storePubsubSubscriptionsCountMax)
      return false;
    if (s.subscriptionBytes + k.length > limits.storePubsubSubscriptionsBytesMax) return false;
    let set = index.get(k);
    if (set === undefined) {
      const nodeWide = this.channels.size + this.patterns.size + this.shardChannels.size;
      if (nodeWide >= limits.storePubsubNodeSubscriptionsCountMax) return false;
      if (this.namesBytes + k.length > limits.storePubsubNodeSubscriptionsBytesMax) return false;
      set = new Set();
      index.set(k, set);
      this.namesBytes += k.length;
    }
    set.add(s);
    mine.add(k);
    s.subscriptionBytes += k.length;
    return true;
  }

  private remove(index: Map<string, Set<RespSession>>, mine: Set<string>, s: RespSession, k: string): void {
    if (!mine.delete(k)) return;
    s.subscriptionBytes -= k.length;
    const set = index.get(k);
    set?.delete(s);
    if (set?.size === 0) {
      index.delete(k);
      this.namesBytes -= k.length;
    }
  }

  /** The connection closed or RESET: drops every subscription without replies. */
  dropAll(s: RespSession): void {
    for (const k of [...s.channels]) this.remove(this.channels, s.channels, s, k);
    for (const k of [...s.patterns]) this.remove(this.patterns, s.patterns, s, k);
    for (const k of [...s.shardChannels]) this.remove(this.shardChannels, s.shardChannels, s, k);
  }

  // ---- delivery ----

  /** Delivers to this node's subscribers; returns how many received it (PUBLISH's reply). */
  deliverLocal(channel: Uint8Array, message: Uint8Array): number {
    let receivers = 0;
    const subs = this.channels.get(latin1(channel));
    if (subs !== undefined) {
      const value: RespValue = {
        type: 'push',
        items: [reply.bulk('message'), reply.bulk(channel), reply.bulk(message)],
      };
      for (const s of [...subs]) {
        this.push(s, value);
        receivers++;
      }
    }
    for (const [pattern, set] of [...this.patterns]) {
      const p = fromLatin1(pattern);
      if (!globMatch(p, channel)) continue;
      const value: RespValue = {
        type: 'push',
        items: [reply.bulk('pmessage'), reply.bulk(p), reply.bulk(channel), reply.bulk(message)],
      };
      for (const s of [...set]) {
        this.push(s, value);
        receivers++;
      }
    }
    this.m.delivered.inc(receivers);
    return receivers;
  }

  /** Delivers an SPUBLISH to this node's subscribers of the shard channel; returns how many. */
  deliverShard(channel: Uint8Array, message: Uint8Array): number {
    const subs = this.shardChannels.get(latin1(channel));
    if (subs === undefined) return 0;
    const value: RespValue = {
      type: 'push',
      items: [reply.bulk('smessage'), reply.bulk(channel), reply.bulk(message)],
    };
    let receivers = 0;
    for (const s of [...subs]) {
      this.push(s, value);
      receivers++;
    }
    this.m.delivered.inc(receivers);
    return receivers;
  }

  /**
   * PUBLISH (or SPUBLISH, kind 'shard'): delivers here and sends to every other node; returns this
   * node's receivers.
   */
  publish(channel: Uint8Array, message: Uint8Array, kind: PublishKind = 'channel'): number {
    this.m.published.inc();
    const receivers = kind === 'channel' ? this.deliverLocal(channel, message) : this.deliverShard(channel, message);
    const peers = this.deps.peers();
    if (peers.length === 0) return receivers;
    const size = 2 + 10 + channel.length + 10 + message.length;
    const payload =
      size + peerEnvelopeBytesMax(limits) <= limits.peerFrameBytesMax
        ? encodePublish(channel, message, kind)
        : undefined;
    for (const peer of peers) {
      if (peer === this.deps.self) continue;
      if (payload !== undefined && this.deps.send(peer, MessageType.StorePublish, payload)) this.m.peerSent.inc();
      else {
        this.stats.peerDropped++;
        this.m.peerDropped.inc();
      }
    }
    return receivers;
  }

  /** A StorePublish from another node: deliver to this node's subscribers only. */
  receive(m: PeerMessage): void {
    const decoded = decodePublish(m.payload);
    if (decoded instanceof ProtocolError) {
      this.stats.malformed++;
      this.m.malformed.inc();
      this.deps.log.warn({ from: m.from, err: decoded.message }, 'store: malformed publish from a peer (dropped)');
      return;
    }
    this.m.peerReceived.inc();
    if (decoded.kind === 'shard') this.deliverShard(decoded.channel, decoded.message);
    else this.deliverLocal(decoded.channel, decoded.message);
  }

  /**
   * Writes one message to a subscriber, under Redis' pubsub output limits: past the hard bound, or
   * past the soft bound for the soft period, the connection is closed and counted instead.
   */
  private push(s: RespSession, value: RespValue): void {
    if (s.conn.closed) return;
    const bytes = encodeReply(value, s.protocol);
    const pendingBytes = s.conn.bufferedBytes + s.heldOutputBytes() + bytes.length;
    const nowMs = this.deps.monotonicMs();
    let over = pendingBytes > limits.storePubsubHardOutputBytesMax;
    if (pendingBytes > limits.storePubsubSoftOutputBytesMax) {
      s.outputSoftSinceMs ??= nowMs;
      if (nowMs - s.outputSoftSinceMs >= limits.storePubsubSoftOverMsMax) over = true;
    } else s.outputSoftSinceMs = undefined;
    if (over) {
      this.stats.slowClosed++;
      this.m.slowClosed.inc();
      this.deps.log.warn(
        { client: s.id, pendingBytes },
        'store: subscriber closed over the pubsub output limit (client-output-buffer-limit pubsub)',
      );
      s.conn.close();
      return;
    }
    s.pushOut(bytes);
  }

  // ---- introspection ----

  channelsMatching(pattern: Uint8Array | undefined): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const k of this.channels.keys()) {
      const ch = fromLatin1(k);
      if (pattern === undefined || globMatch(pattern, ch)) out.push(ch);
    }
    return out;
  }

  numsub(channel: Uint8Array): number {
    return this.channels.get(latin1(channel))?.size ?? 0;
  }

  shardChannelsMatching(pattern: Uint8Array | undefined): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const k of this.shardChannels.keys()) {
      const ch = fromLatin1(k);
      if (pattern === undefined || globMatch(pattern, ch)) out.push(ch);
    }
    return out;
  }

  shardNumsub(channel: Uint8Array): number {
    return this.shardChannels.get(latin1(channel))?.size ?? 0;
  }

  numpat(): number {
    return this.patterns.size;
  }

  // ---- commands' state changes, each with its confirmation ----

  private indexOf(kind: SubscriptionKind): Map<string, Set<RespSession>> {
    return kind === 'channel' ? this.channels : kind === 'pattern' ? this.patterns : this.shardChannels;
  }

  subscribe(s: RespSession, names: readonly Uint8Array[], kind: SubscriptionKind): RespValue[] {
    const index = this.indexOf(kind);
    const mine = mineOf(s, kind);
    const word = { channel: 'subscribe', pattern: 'psubscribe', shard: 'ssubscribe' }[kind];
    const out: RespValue[] = [];
    for (const name of names) {
      if (!this.add(index, mine, s, name)) {
        out.push(
          reply.error(
            'ERR too many subscriptions (storePubsubSubscriptionsCountMax, storePubsubSubscriptionsBytesMax and their node-wide bounds)',
          ),
        );
        continue;
      }
      out.push(confirmation(word, name, s, kind));
    }
    return out;
  }

  unsubscribe(s: RespSession, names: readonly Uint8Array[], kind: SubscriptionKind): RespValue[] {
    const index = this.indexOf(kind);
    const mine = mineOf(s, kind);
    const word = { channel: 'unsubscribe', pattern: 'punsubscribe', shard: 'sunsubscribe' }[kind];
    const out: RespValue[] = [];
    if (names.length === 0) {
      // Every one of the connection's, in the order it subscribed (Redis: its dict's order).
      for (const k of [...mine]) {
        this.remove(index, mine, s, k);
        out.push(confirmation(word, fromLatin1(k), s, kind));
      }
      if (out.length === 0) out.push(confirmation(word, undefined, s, kind));
      return out;
    }
    for (const name of names) {
      const k = latin1(name);
      if (mine.has(k)) this.remove(index, mine, s, k);
      out.push(confirmation(word, name, s, kind));
    }
    return out;
  }
}

export type SubscriptionKind = 'channel' | 'pattern' | 'shard';

function mineOf(s: RespSession, kind: SubscriptionKind): Set<string> {
  return kind === 'channel' ? s.channels : kind === 'pattern' ? s.patterns : s.shardChannels;
}

/** [word, name, count]: count = channels + patterns, or the shard channels for the shard kind (Redis 7.0). */
function confirmation(word: string, name: Uint8Array | undefined, s: RespSession, kind: SubscriptionKind): RespValue {
  const count = kind === 'shard' ? s.shardChannels.size : s.subscriptionCount;
  return {
    type: 'push',
    items: [reply.bulk(word), name === undefined ? reply.null : reply.bulk(name), reply.integer(count)],
  };
}

/** The commands a RESP2 connection may send while it has subscriptions (server.c processCommand). */
export const ALLOWED_WHILE_SUBSCRIBED: ReadonlySet<string> = new Set([
  'ping',
  'subscribe',
  'ssubscribe',
  'unsubscribe',
  'sunsubscribe',
  'psubscribe',
  'punsubscribe',
  'quit',
  'reset',
]);

/** Redis 7.0's text refusing another command in subscribed mode (RESP2). */
export function subscribedModeError(fullName: string): RespValue {
  return reply.error(
    `ERR Can't execute '${fullName}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context`,
  );
}

/** Answers several replies to one request: all but the last go to `s.leading`. */
function answerAll(s: RespSession, values: RespValue[]): RespValue {
  const last = values.pop()!;
  s.leading.push(...values);
  return last;
}

const ps = (since: string, summary: string) => ({ group: 'pubsub', since, summary });

const pubsubSubcommands: ServerCommandSpec[] = [
  serverCommand(
    'pubsub|channels',
    -2,
    ['pubsub', 'loading', 'stale'],
    ps('2.8.0', 'List active channels'),
    (s, argv) => {
      if (argv.length > 3) return subcommandSyntax(latin1(argv[1]!));
      return reply.array(s.server.pubsub.channelsMatching(argv[2]).map((c) => reply.bulk(c)));
    },
  ),
  serverCommand(
    'pubsub|numsub',
    -2,
    ['pubsub', 'loading', 'stale'],
    ps('2.8.0', 'Get the count of subscribers for channels'),
    (s, argv) => {
      const items: RespValue[] = [];
      for (let i = 2; i < argv.length; i++)
        items.push(reply.bulk(argv[i]!), reply.integer(s.server.pubsub.numsub(argv[i]!)));
      return reply.array(items);
    },
  ),
  serverCommand(
    'pubsub|shardchannels',
    -2,
    ['pubsub', 'loading', 'stale'],
    ps('7.0.0', 'List active shard channels'),
    (s, argv) => {
      if (argv.length > 3) return subcommandSyntax(latin1(argv[1]!));
      return reply.array(s.server.pubsub.shardChannelsMatching(argv[2]).map((c) => reply.bulk(c)));
    },
  ),
  serverCommand(
    'pubsub|shardnumsub',
    -2,
    ['pubsub', 'loading', 'stale'],
    ps('7.0.0', 'Get the count of subscribers for shard channels'),
    (s, argv) => {
      const items: RespValue[] = [];
      for (let i = 2; i < argv.length; i++)
        items.push(reply.bulk(argv[i]!), reply.integer(s.server.pubsub.shardNumsub(argv[i]!)));
      return reply.array(items);
    },
  ),
  serverCommand(
    'pubsub|numpat',
    2,
    ['pubsub', 'loading', 'stale'],
    ps('2.8.0', 'Get the count of unique patterns pattern subscriptions'),
    (s) => reply.integer(s.server.pubsub.numpat()),
  ),
];

/** Redis' addReplySubcommandSyntaxError: the subcommand as the client typed it. */
function subcommandSyntax(sub: string): RespValue {
  return reply.error(`ERR unknown subcommand or wrong number of arguments for '${sub}'. Try PUBSUB HELP.`);
}

/** COMMAND INFO's key positions for a command whose arguments are shard channels. */
function keyed(spec: ServerCommandSpec, keys: readonly [number, number, number]): ServerCommandSpec {
  return { ...spec, firstKey: keys[0], lastKey: keys[1], step: keys[2] };
}

/** On a cluster, whether the shard channels share one slot (Redis Cluster's CROSSSLOT rule). */
function oneSlot(s: RespSession, channels: readonly Uint8Array[]): boolean {
  if (s.server.cluster() === undefined || channels.length < 2) return true;
  const slot = keySlot(channels[0]!);
  return channels.every((c) => keySlot(c) === slot);
}

/** SUBSCRIBE and friends refuse to run inside EXEC (see docs/COMPAT-REDIS.md). */
const IN_EXEC = reply.error('ERR this command cannot run inside MULTI');

export const pubsubCommands: readonly ServerCommandSpec[] = [
  serverCommand(
    'subscribe',
    -2,
    ['pubsub', 'noscript', 'loading', 'stale'],
    ps('2.0.0', 'Listen for messages published to the given channels'),
    (s, argv) => (s.inExec ? IN_EXEC : answerAll(s, s.server.pubsub.subscribe(s, argv.slice(1), 'channel'))),
  ),
  serverCommand(
    'unsubscribe',
    -1,
    ['pubsub', 'noscript', 'loading', 'stale'],
    ps('2.0.0', 'Stop listening for messages posted to the given channels'),
    (s, argv) => (s.inExec ? IN_EXEC : answerAll(s, s.server.pubsub.unsubscribe(s, argv.slice(1), 'channel'))),
  ),
  serverCommand(
    'psubscribe',
    -2,
    ['pubsub', 'noscript', 'loading', 'stale'],
    ps('2.0.0', 'Listen for messages published to channels matching the given patterns'),
    (s, argv) => (s.inExec ? IN_EXEC : answerAll(s, s.server.pubsub.subscribe(s, argv.slice(1), 'pattern'))),
  ),
  serverCommand(
    'punsubscribe',
    -1,
    ['pubsub', 'noscript', 'loading', 'stale'],
    ps('2.0.0', 'Stop listening for messages posted to channels matching the given patterns'),
    (s, argv) => (s.inExec ? IN_EXEC : answerAll(s, s.server.pubsub.unsubscribe(s, argv.slice(1), 'pattern'))),
  ),
  serverCommand(
    'publish',
    3,
    ['pubsub', 'loading', 'stale', 'fast', 'may_replicate'],
    ps('2.0.0', 'Post a message to a channel'),
    (s, argv) => reply.integer(s.server.pubsub.publish(argv[1]!, argv[2]!)),
  ),
  keyed(
    serverCommand(
      'ssubscribe',
      -2,
      ['pubsub', 'noscript', 'loading', 'stale'],
      ps('7.0.0', 'Listen for messages published to the given shard channels'),
      (s, argv) => {
        if (s.inExec) return IN_EXEC;
        const channels = argv.slice(1);
        if (!oneSlot(s, channels)) return reply.error(CROSSSLOT_MESSAGE);
        return answerAll(s, s.server.pubsub.subscribe(s, channels, 'shard'));
      },
    ),
    [1, -1, 1],
  ),
  keyed(
    serverCommand(
      'sunsubscribe',
      -1,
      ['pubsub', 'noscript', 'loading', 'stale'],
      ps('7.0.0', 'Stop listening for messages posted to the given shard channels'),
      (s, argv) => {
        if (s.inExec) return IN_EXEC;
        const channels = argv.slice(1);
        if (!oneSlot(s, channels)) return reply.error(CROSSSLOT_MESSAGE);
        return answerAll(s, s.server.pubsub.unsubscribe(s, channels, 'shard'));
      },
    ),
    [1, -1, 1],
  ),
  keyed(
    serverCommand(
      'spublish',
      3,
      ['pubsub', 'loading', 'stale', 'fast', 'may_replicate'],
      ps('7.0.0', 'Post a message to a shard channel'),
      (s, argv) => reply.integer(s.server.pubsub.publish(argv[1]!, argv[2]!, 'shard')),
    ),
    [1, 1, 1],
  ),
  serverCommand(
    'pubsub',
    -2,
    [],
    ps('2.8.0', 'A container for Pub/Sub commands'),
    () => reply.error('ERR syntax error'),
    pubsubSubcommands,
  ),
];
