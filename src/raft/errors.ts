// Operating errors of the Raft core's commands (propose, proposeConfChange, readIndex,
// transferLeadership). All are definite: the command certainly did not enter the log. Codes and
// flags come from the catalogue (src/lib/error-codes.ts): the core's "not leader" and "proposal
// dropped" are the same `not_leader` / `proposal_dropped` a client sees (the `raft_` twins were
// merged, so a driver passes a core error through unchanged).
// Programmer errors (calling advance() with the wrong Ready, breaking storage invariants) are
// assertions instead.

import type { NodeId } from '../env/types.ts';
import { BaristaError } from '../lib/errors.ts';

/** This node is not the leader. `leaderHint` is the leader it last heard from, if any. */
export class NotLeaderError extends BaristaError<'not_leader'> {
  override readonly name = 'NotLeaderError';
  readonly leaderHint: NodeId | undefined;
  constructor(leaderHint: NodeId | undefined) {
    super(
      'not_leader',
      leaderHint === undefined ? 'not the leader; leader unknown' : `not the leader; try ${leaderHint}`,
      { fields: { leaderHint } },
    );
    this.leaderHint = leaderHint;
  }
}

export type ProposalDroppedReason = 'leadership_transfer' | 'leader_removed';

/** The leader refused the proposal for a transient reason (a transfer is in progress, ...). */
export class ProposalDroppedError extends BaristaError<'proposal_dropped'> {
  override readonly name = 'ProposalDroppedError';
  readonly reason: ProposalDroppedReason;
  constructor(reason: ProposalDroppedReason) {
    super('proposal_dropped', `proposal dropped: ${reason}`, { fields: { reason } });
    this.reason = reason;
  }
}

export type ConfChangeRejectedReason =
  | 'change_pending'
  | 'no_commit_in_term'
  | 'already_member'
  | 'not_a_member'
  | 'not_a_learner'
  | 'learner_behind'
  | 'last_voter';

/** A membership change the leader will not append now (one change at a time, catch-up first, ...). */
export class ConfChangeRejectedError extends BaristaError<'raft_conf_change_rejected'> {
  override readonly name = 'ConfChangeRejectedError';
  readonly reason: ConfChangeRejectedReason;
  constructor(reason: ConfChangeRejectedReason, nodeId: NodeId) {
    const retriable = reason === 'change_pending' || reason === 'no_commit_in_term' || reason === 'learner_behind';
    super('raft_conf_change_rejected', `membership change for ${nodeId} rejected: ${reason}`, {
      retriable,
      fields: { reason, nodeId },
    });
    this.reason = reason;
  }
}

/** transferLeadership to a node that cannot take over (not a voter, unknown). */
export class TransferRejectedError extends BaristaError<'raft_transfer_rejected'> {
  override readonly name = 'TransferRejectedError';
  constructor(to: NodeId, why: string) {
    super('raft_transfer_rejected', `cannot transfer leadership to ${to}: ${why}`, { fields: { to } });
  }
}
