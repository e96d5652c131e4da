// POST /v1/members on the admin port: an operator's membership operation, JSON in and out.
//
//   request   {"op": "add" | "remove" | "promote" | "replace", "nodeId": "n2"}
//   answer    200 {"ok": true, "op", "nodeId", "members": <GET /v1/members view>}
//             4xx/5xx {"ok": false, "code", "message", "definite"}
//
// The operation runs on the leader (a follower forwards it, src/raft/driver.ts) and is
// answered when done: add = learner committed; promote = voter committed (after catch-up);
// replace = removed, re-added as a learner, caught up and promoted; remove = removed.
// Status codes (src/node/http-status.ts): 400 bad request, 409 refused by the configuration
// (already a member, last voter, an operation on that node in progress), 429 overloaded, 503 no
// leader / not leader (retry), 504 timed out (indefinite: it may be partly done; look at GET /v1/members).

import { BaristaError } from '../../lib/errors.ts';
import { limits } from '../../lib/limits.ts';
import { type HttpAnswer, httpErrorAnswer } from '../../node/http-status.ts';
import type { RaftDriver } from '../../raft/driver.ts';
import { MEMBER_OPS, type MemberOp } from '../../raft/member-codec.ts';

const ID_PATTERN = /^[A-Za-z0-9_.-]+$/;

/** Every Raft group (raft-groups.ts RaftGroups) or one driver. */
export type MemberOps = Pick<RaftDriver, 'memberOp' | 'membersView'>;

export function handleMemberRequest(raft: MemberOps, body: unknown): Promise<HttpAnswer> {
  const bad = (message: string) => Promise.resolve(httpErrorAnswer(new BaristaError('bad_request', message)));
  if (typeof body !== 'object' || body === null) return bad('body must be a JSON object');
  const { op, nodeId } = body as Record<string, unknown>;
  if (typeof op !== 'string' || !(MEMBER_OPS as readonly string[]).includes(op))
    return bad(`op must be one of ${MEMBER_OPS.join(', ')}`);
  if (typeof nodeId !== 'string' || nodeId.length === 0 || nodeId.length > limits.nodeIdBytesMax)
    return bad(`nodeId must be a node id of 1 to ${limits.nodeIdBytesMax} characters`);
  if (!ID_PATTERN.test(nodeId)) return bad('nodeId: only letters, digits, and _ . - are allowed');
  return new Promise((resolve) => {
    raft.memberOp(op as MemberOp, nodeId, (error) => {
      if (error === undefined) {
        resolve({ status: 200, body: { ok: true, op, nodeId, members: raft.membersView() } });
        return;
      }
      resolve(httpErrorAnswer(error));
    });
  });
}
