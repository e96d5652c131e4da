// Several Raft groups on one node: the group envelope every Raft-family peer message carries, and
// the one component that owns Raft's message types on the node's MessageRouter and hands each
// message to the driver of its group (src/raft/driver.ts attaches one link per group).
//
// Grammar (the payload of a Raft, RaftClientRequest, RaftClientResponse or RaftMemberRequest frame):
//   groupFrame := version:u8(=16) groupLength:uvarint group:byte{groupLength} inner:byte*
//   group      := 1..raftGroupIdBytesMax of [a-z0-9-], starting with a letter
//   inner      := the payload of that type's own codec (codec.ts, client-codec.ts, member-codec.ts)
// Version 16 lies above every inner codec's version byte (1 and 2 so far): a payload from a node
// that predates groups is refused as `raft_group_bad_version`, never misread as a group name.
//
// Why a string id and not a small integer: the id is also the group's directory
// (`raft/<group>/`), its metrics label (group="kv") and its name in logs and /status; one name
// everywhere needs no table that every node must agree on, and costs a few bytes per message
// (next to a 64-byte transport header and Raft's own fields). The id pattern keeps it safe as a
// path component and as a label value.
//
// Untrusted bytes: decodeGroupFrame returns a ProtocolError, never throws. The router turns a
// malformed envelope or an unknown group into a thrown ProtocolError, which the MessageRouter
// counts (peer_messages_rejected_total{type, code}) and drops with a rate-limited log line: a
// group this node does not host (a newer peer, or a group not opened yet) never crashes it.

import type { NodeId, PeerMessage, Transport } from '../env/types.ts';
import { assert } from '../lib/assert.ts';
import { ByteReader } from '../lib/bytes.ts';
import { ProtocolError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import { MessageType } from '../lib/message-types.ts';
import type { MessageHandler, MessageRouter } from '../lib/router.ts';

export const GROUP_FRAME_VERSION = 16;
const GROUP_ID_PATTERN = /^[a-z][a-z0-9-]*$/;

/** The peer message types that belong to a Raft group (all carry the group envelope). */
export const RAFT_GROUP_MESSAGE_TYPES: readonly number[] = [
  MessageType.Raft,
  MessageType.RaftClientRequest,
  MessageType.RaftClientResponse,
  MessageType.RaftMemberRequest,
];

export function isValidGroupId(group: string): boolean {
  return group.length >= 1 && group.length <= limits.raftGroupIdBytesMax && GROUP_ID_PATTERN.test(group);
}

export function encodeGroupFrame(group: string, inner: Uint8Array): Uint8Array {
  assert(isValidGroupId(group), `invalid Raft group id ${JSON.stringify(group)}`);
  // One exact allocation and one copy of the inner payload (Appends can be megabytes); the id is
  // at most raftGroupIdBytesMax (< 128) ASCII bytes, so its uvarint length is one byte.
  const out = new Uint8Array(2 + group.length + inner.length);
  out[0] = GROUP_FRAME_VERSION;
  out[1] = group.length;
  for (let i = 0; i < group.length; i++) out[2 + i] = group.charCodeAt(i);
  out.set(inner, 2 + group.length);
  return out;
}

/** `inner` is a view into `bytes` (the inner decoders copy what they keep). */
export function decodeGroupFrame(bytes: Uint8Array): { group: string; inner: Uint8Array } | ProtocolError {
  try {
    const r = new ByteReader(bytes);
    const version = r.u8();
    if (version !== GROUP_FRAME_VERSION)
      return new ProtocolError('raft_group_bad_version', `Raft group frame version ${version}`, { version });
    const length = r.uvarint();
    if (length < 1 || length > limits.raftGroupIdBytesMax)
      return new ProtocolError('raft_group_bad_id', `Raft group id of ${length} bytes`, { length });
    const raw = r.raw(length);
    let group = '';
    for (const b of raw) group += String.fromCharCode(b);
    if (!GROUP_ID_PATTERN.test(group)) return new ProtocolError('raft_group_bad_id', 'Raft group id is not [a-z0-9-]');
    return { group, inner: r.rest() };
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err; // a bug, not bad input
    return new ProtocolError(err.code, `Raft group frame: ${err.message}`, err.fields);
  }
}

/** One group's view of the peer network: its handlers in, its group-tagged sends out. */
export interface RaftGroupLink {
  readonly group: string;
  /** Registers this group's handler for one Raft-family message type (once per type). */
  on(type: number, handler: MessageHandler): void;
  send(to: NodeId, type: number, inner: Uint8Array): boolean;
}

export class RaftGroupRouter {
  private readonly links = new Map<string, Map<number, MessageHandler>>();

  constructor(
    router: MessageRouter,
    private readonly transport: Transport,
  ) {
    router.register(RAFT_GROUP_MESSAGE_TYPES, (m) => this.dispatch(m));
  }

  /** The groups attached, in the order they were. */
  get groups(): readonly string[] {
    return [...this.links.keys()];
  }

  attach(group: string): RaftGroupLink {
    assert(isValidGroupId(group), `invalid Raft group id ${JSON.stringify(group)}`);
    assert(!this.links.has(group), `Raft group ${group} attached twice`);
    assert(this.links.size < limits.raftGroupsCountMax, `more than raftGroupsCountMax groups`);
    const handlers = new Map<number, MessageHandler>();
    this.links.set(group, handlers);
    return {
      group,
      on: (type, handler) => {
        assert(RAFT_GROUP_MESSAGE_TYPES.includes(type), `message type ${type} is not a Raft group type`);
        assert(!handlers.has(type), `group ${group}: message type ${type} registered twice`);
        handlers.set(type, handler);
      },
      send: (to, type, inner) => this.transport.send(to, type, encodeGroupFrame(group, inner)),
    };
  }

  /** A stopped group's messages are dropped (counted as unknown) from now on. */
  detach(group: string): void {
    this.links.delete(group);
  }

  private dispatch(m: PeerMessage): void {
    const frame = decodeGroupFrame(m.payload);
    if (frame instanceof ProtocolError) throw frame;
    const handler = this.links.get(frame.group)?.get(m.type);
    if (handler === undefined)
      throw new ProtocolError('raft_group_unknown', `no Raft group ${frame.group} on this node`, {
        group: frame.group,
      });
    handler({ from: m.from, type: m.type, payload: frame.inner });
  }
}
