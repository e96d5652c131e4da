// Operating errors of the Raft core's commands (propose, proposeConfChange, readIndex,
// transferLeadership). All are definite: the command certainly did not enter the log.
// Programmer errors (calling advance() with the wrong Ready, breaking storage invariants) are
// assertions instead.

import type { NodeId } from '../env/types.ts';
import { BaristaError } from '../lib/errors.ts';

/** This node is not the leader. `leaderHint` is the leader it last heard from, if any. */
export class NotLeaderError extends BaristaError {
  override readonly name = 'NotLeaderError';
  readonly leaderHint: NodeId | undefined;
  constructor(leaderHint: NodeId | undefined) {
    super(
      'raft_not_leader',
      leaderHint === undefined ? 'not the leader; leader unknown' : `not the leader; try ${leaderHint}`,
      {
        retriable: true,
        definite: true,
        fields: { leaderHint },
      },
    );
    this.leaderHint = leaderHint;
  }
}

export type ProposalDroppedReason = 'leadership_transfer' | 'leader_removed';

/** The leader refused the proposal for a transient reason (a transfer is in progress, ...). */
export class ProposalDroppedError extends BaristaError {
  override readonly name = 'ProposalDroppedError';
  readonly reason: ProposalDroppedReason;
  constructor(reason: ProposalDroppedReason) {
    super('raft_proposal_dropped', `proposal dropped: ${reason}`, {
      retriable: true,
      definite: true,
      fields: { reason },
    });
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
export class ConfChangeRejectedError extends BaristaError {
  override readonly name = 'ConfChangeRejectedError';
  readonly reason: ConfChangeRejectedReason;
  constructor(reason: ConfChangeRejectedReason, nodeId: NodeId) {
    const retriable = reason === 'change_pending' || reason === 'no_commit_in_term' || reason === 'learner_behind';
    super('raft_conf_change_rejected', `membership change for ${nodeId} rejected: ${reason}`, {
      retriable,
      definite: true,
      fields: { reason, nodeId },
    });
    this.reason = reason;
  }
}

/** transferLeadership to a node that cannot take over (not a voter, unknown). */
export class TransferRejectedError extends BaristaError {
  override readonly name = 'TransferRejectedError';
  constructor(to: NodeId, why: string) {
    super('raft_transfer_rejected', `cannot transfer leadership to ${to}: ${why}`, { definite: true, fields: { to } });
  }
}
