// Membership-change requests between nodes over the peer transport: an operator's change made on
// a follower is forwarded to the leader, and a rejoining node (src/node/identity.ts) asks the
// leader to re-add it. Answers travel as ForwardedResponse (client-codec.ts) on
// RaftClientResponse, in the requester's request-id space, so one pending map serves both.
//
//   Request = u8 version(1) | uvarint requestId | u8 op | uvarint-string nodeId
//             | (op = rejoin: uvarint-string rejoinId)
//   op: 1 add (as learner), 2 remove, 3 promote (learner → voter once caught up),
//       4 replace (remove, add as learner, promote once caught up), 5 rejoin (from the node itself)
//   Rejoin answer result = uvarint learnerIndex: the log index of the entry that re-added the
//   node for this rejoin id (0 = not yet). A rejoin is answered to `nodeId`, whoever relayed it.

import { ByteReader, ByteWriter } from '../lib/bytes.ts';
import { ProtocolError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';

const VERSION = 1;
const MEMBER_REQUEST_BYTES_MAX = limits.memberRequestBytesMax;
/** A rejoin id is a short random token (hex). */
export const REJOIN_ID_BYTES_MAX = limits.rejoinIdBytesMax;

export const MEMBER_OPS = ['add', 'remove', 'promote', 'replace'] as const;
export type MemberOp = (typeof MEMBER_OPS)[number];

export type MemberRequest =
  | { readonly requestId: number; readonly op: MemberOp; readonly nodeId: string }
  | {
      readonly requestId: number;
      readonly op: 'rejoin';
      readonly nodeId: string;
      readonly rejoinId: string;
    };

const OP_TAG = { add: 1, remove: 2, promote: 3, replace: 4, rejoin: 5 } as const;

export function encodeMemberRequest(r: MemberRequest): Uint8Array {
  const w = new ByteWriter({ bytesMax: MEMBER_REQUEST_BYTES_MAX })
    .u8(VERSION)
    .uvarint(r.requestId)
    .u8(OP_TAG[r.op])
    .stringUvarint(r.nodeId);
  if (r.op === 'rejoin') w.stringUvarint(r.rejoinId);
  return w.finish();
}

export function decodeMemberRequest(data: Uint8Array): MemberRequest | ProtocolError {
  try {
    if (data.length > MEMBER_REQUEST_BYTES_MAX)
      return new ProtocolError('member_request_too_large', `${data.length} bytes`);
    const r = new ByteReader(data);
    if (r.u8() !== VERSION) return new ProtocolError('member_unknown_version', 'member request: unknown version');
    const requestId = r.uvarint();
    const tag = r.u8();
    const nodeId = r.stringUvarint();
    if (nodeId.length === 0 || nodeId.length > limits.nodeIdBytesMax)
      return new ProtocolError('member_malformed', `member request: bad node id length ${nodeId.length}`);
    if (tag === OP_TAG.rejoin) {
      const rejoinId = r.stringUvarint();
      r.expectEnd('member request');
      if (rejoinId.length === 0 || rejoinId.length > REJOIN_ID_BYTES_MAX)
        return new ProtocolError('member_malformed', 'member request: bad rejoin id');
      return { requestId, op: 'rejoin', nodeId, rejoinId };
    }
    r.expectEnd('member request');
    const op = MEMBER_OPS.find((o) => OP_TAG[o] === tag);
    if (op === undefined) return new ProtocolError('member_malformed', `member request: unknown op ${tag}`);
    return { requestId, op, nodeId };
  } catch (err) {
    return new ProtocolError('member_malformed', `member request: ${(err as Error).message}`);
  }
}

export function encodeRejoinAnswer(learnerIndex: number): Uint8Array {
  return new ByteWriter().uvarint(learnerIndex).finish();
}

export function decodeRejoinAnswer(data: Uint8Array): number | ProtocolError {
  try {
    const r = new ByteReader(data);
    const index = r.uvarint();
    r.expectEnd('rejoin answer');
    return index;
  } catch (err) {
    return new ProtocolError('member_malformed', `rejoin answer: ${(err as Error).message}`);
  }
}
