// The leader's membership operations: each is a short sequence of one-server conf changes
// (src/raft/conf.ts) that the leader drives one step per tick, waiting for each step to commit:
//
//   add      addLearner
//   remove   remove
//   promote  addVoter once the learner has caught up
//   replace  remove (if a member), addLearner, addVoter once caught up — the repair of a node
//            whose data is gone: its old votes and acknowledgements no longer count anywhere
//            once the remove commits, and it votes again only after it holds the log.
//
// A rejoining node (src/node/identity.ts) asks for itself with `rejoin` and its rejoin id. The
// first request for a rejoin id starts a replace; once its addLearner committed, the leader
// answers every request for that id with that entry's index (the node withholds its vote until it
// has committed that far: configs from before the wipe may list it too), and promotes the learner
// once caught up. A leader that does not know the id (a new leader) replaces again: one more
// remove/add round, never a wrong answer.
//
// Catch-up: on top of the core's lag check, a learner is promoted only once it holds the entry
// that made it a learner (match >= that index), so a newly promoted voter always knows it was
// re-added. Operations are bounded (memberOpsMax) and expire (a definite-or-not timeout).
// Pure: time comes in as numbers.

import { BaristaError, LimitError } from '../lib/errors.ts';
import type { RaftNode } from './raft.ts';
import type { ConfChange, NodeId } from './types.ts';
import type { MemberOp } from './member-codec.ts';
import { limits } from '../lib/limits.ts';

/** Membership operations in progress on a leader at once (one per node id). */
export const memberOpsMax = limits.memberOpsMax;
/** Rejoin ids remembered per leader (one per node id that rejoined). */
const rejoinsRememberedMax = limits.memberRejoinsRememberedMax;

export type MemberOpDone = (error: BaristaError | undefined) => void;

interface PendingOp {
  readonly kind: MemberOp;
  readonly nodeId: NodeId;
  readonly deadlineMs: number;
  readonly done: MemberOpDone;
  /** replace: the remove step has committed (or the node was not a member). */
  removed: boolean;
  /** The index of the committed addLearner this op made; promotion waits for match >= it. */
  learnerSince: number;
  /** Set when a rejoining node asked for this replace. */
  readonly rejoinId: string | undefined;
  waiting: { readonly index: number; readonly term: number; readonly change: ConfChange } | undefined;
}

export type MemberRole = 'voter' | 'learner' | 'none';

export class MemberChanges {
  private readonly ops = new Map<NodeId, PendingOp>();
  /** Per node: the rejoin this leader replaced it for, and the index of its addLearner (0 = not yet). */
  private readonly rejoins = new Map<NodeId, { rejoinId: string; learnerIndex: number }>();

  constructor(
    private readonly core: RaftNode,
    private readonly onLog: (fields: Record<string, unknown>, message: string) => void,
  ) {}

  get size(): number {
    return this.ops.size;
  }

  roleOf(nodeId: NodeId): MemberRole {
    const conf = this.core.config;
    return conf.voters.includes(nodeId) ? 'voter' : conf.learners.includes(nodeId) ? 'learner' : 'none';
  }

  /** Starts an operator's operation on this leader; `done` is called once it finishes or fails. */
  start(kind: MemberOp, nodeId: NodeId, deadlineMs: number, done: MemberOpDone, rejoinId?: string): void {
    if (this.core.role !== 'leader') return done(new BaristaError('not_leader', 'not the leader'));
    if (this.ops.has(nodeId))
      return done(new BaristaError('change_pending', `a membership operation on ${nodeId} is in progress`));
    if (this.ops.size >= memberOpsMax)
      return done(new LimitError('memberOpsMax', `${memberOpsMax} membership operations in progress`));
    if (kind === 'replace' && nodeId === this.core.id)
      return done(new BaristaError('bad_request', `${nodeId} is the leader; transfer leadership before replacing it`));
    if (kind === 'remove' || kind === 'replace') {
      const conf = this.core.config;
      if (conf.voters.length === 1 && conf.voters[0] === nodeId)
        return done(new BaristaError('last_voter', `${nodeId} is the only voter`));
    }
    this.ops.set(nodeId, {
      kind,
      nodeId,
      deadlineMs,
      done,
      removed: false,
      learnerSince: 0,
      rejoinId,
      waiting: undefined,
    });
    this.onLog({ op: kind, nodeId }, 'members: operation started');
  }

  /**
   * A rejoining node asked to be re-added (it asks again until it is a voter). Returns the index
   * of the entry that re-added it for this rejoin id, or 0 while that is not committed yet.
   */
  rejoin(nodeId: NodeId, rejoinId: string, deadlineMs: number): number {
    if (this.core.role !== 'leader') return 0;
    const known = this.rejoins.get(nodeId);
    const role = this.roleOf(nodeId);
    const log: MemberOpDone = (error) =>
      this.onLog({ nodeId, rejoinId, error: error?.code ?? null }, 'members: rejoin operation finished');
    if (known?.rejoinId === rejoinId && (this.ops.has(nodeId) || (known.learnerIndex > 0 && role !== 'none'))) {
      if (role === 'learner' && !this.ops.has(nodeId)) this.start('promote', nodeId, deadlineMs, log);
      return known.learnerIndex;
    }
    if (this.ops.has(nodeId)) return 0; // an operator's operation on it is in progress
    this.rejoins.delete(nodeId);
    this.rejoins.set(nodeId, { rejoinId, learnerIndex: 0 });
    if (this.rejoins.size > rejoinsRememberedMax) this.rejoins.delete(this.rejoins.keys().next().value!);
    this.start('replace', nodeId, deadlineMs, log, rejoinId);
    return 0;
  }

  /** Drives every operation one step (call on each tick). Fails them all if leadership is gone. */
  step(nowMs: number): void {
    if (this.ops.size === 0) return;
    if (this.core.role !== 'leader') {
      this.failAll(new BaristaError('leadership_lost', 'leadership lost; the membership change may or may not apply'));
      return;
    }
    for (const op of [...this.ops.values()]) {
      if (nowMs >= op.deadlineMs) {
        this.finish(
          op,
          new BaristaError('timeout', `membership change for ${op.nodeId} timed out; it may be partly done`, {
            definite: false,
          }),
        );
        continue;
      }
      this.advance(op);
    }
  }

  failAll(error: BaristaError): void {
    for (const op of [...this.ops.values()]) this.finish(op, error);
  }

  private finish(op: PendingOp, error: BaristaError | undefined): void {
    this.ops.delete(op.nodeId);
    this.onLog({ op: op.kind, nodeId: op.nodeId, error: error?.code ?? null }, 'members: operation finished');
    op.done(error);
  }

  private advance(op: PendingOp): void {
    if (op.waiting !== undefined) {
      const w = op.waiting;
      if (this.core.commitIndex < w.index) return;
      op.waiting = undefined;
      if (this.core.termAt(w.index) === w.term) {
        if (w.change.type === 'remove') op.removed = true;
        if (w.change.type === 'addLearner') {
          op.learnerSince = w.index;
          const r = op.rejoinId === undefined ? undefined : this.rejoins.get(op.nodeId);
          if (r !== undefined && r.rejoinId === op.rejoinId) r.learnerIndex = w.index;
        }
      }
      // Either committed (next step) or overwritten by a new leader's log (re-evaluate).
    }
    const role = this.roleOf(op.nodeId);
    switch (op.kind) {
      case 'add':
        if (role === 'learner') return this.finish(op, undefined);
        if (role === 'voter') return this.finish(op, alreadyVoter(op.nodeId));
        return this.propose(op, { type: 'addLearner', nodeId: op.nodeId });
      case 'remove':
        if (role === 'none') return this.finish(op, undefined);
        return this.propose(op, { type: 'remove', nodeId: op.nodeId });
      case 'promote':
        if (role === 'voter') return this.finish(op, undefined);
        if (role === 'none')
          return this.finish(op, new BaristaError('not_a_learner', `${op.nodeId} is not a learner; add it first`));
        return this.promote(op);
      case 'replace':
        if (!op.removed) {
          if (role !== 'none') return this.propose(op, { type: 'remove', nodeId: op.nodeId });
          op.removed = true;
        }
        if (role === 'none') return this.propose(op, { type: 'addLearner', nodeId: op.nodeId });
        if (role === 'learner') return this.promote(op);
        return this.finish(op, undefined);
    }
  }

  private promote(op: PendingOp): void {
    const pr = this.core.progress(op.nodeId);
    if (pr === undefined || pr.match < op.learnerSince) return; // still catching up
    this.propose(op, { type: 'addVoter', nodeId: op.nodeId });
  }

  private propose(op: PendingOp, change: ConfChange): void {
    const r = this.core.proposeConfChange(change);
    if (r.ok) {
      op.waiting = { index: r.value.index, term: r.value.term, change };
      this.onLog({ change: change.type, nodeId: change.nodeId, index: r.value.index }, 'members: change proposed');
      return;
    }
    // One change at a time, a commit in the leader's term first, learner catch-up: try next tick.
    if (r.error.retriable) return;
    this.finish(op, r.error);
  }
}

function alreadyVoter(nodeId: NodeId): BaristaError {
  return new BaristaError('already_member', `${nodeId} is already a voter`);
}
