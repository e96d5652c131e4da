// Log time for the metadata group: the value a leader stamps into a command's proposedAtMs when it
// proposes it (issue 7 item 9). The state machine measures session idleness against the largest
// stamp it has applied, so the stamp must not depend on which node a client happened to reach:
// one node with a wall clock minutes ahead used to expire every idle session in the cluster.
//
// The stamp is not a wall clock at all. A leader continues from the log time it has applied when
// its term begins and adds the time its own *monotonic* clock has measured since:
//
//   stamp = logTimeAtTermStart + (monotonicNow - monotonicAtTermStart)
//
// so wall-clock skew and steps play no part, and drift only scales the measured idle time (by at
// most the clock's drift rate). A new leader whose applied state lags the log stamps lower values
// for a while; the state machine keeps the maximum, so log time stalls (sessions live a little
// longer) and never runs backwards. Time without a leader is not counted, as in ZooKeeper, where a
// new leader gives every session a fresh timeout.

import type { Clock } from '../env/types.ts';
import { stampProposedAt } from './command.ts';

export class LeaderLogClock {
  private term = -1;
  private baseLogMs = 0;
  private baseMonotonicMs = 0;

  constructor(
    private readonly clock: Clock,
    /** The log time the local state machine has applied (KvStateMachine.logTimeMs). */
    private readonly appliedLogTimeMs: () => number,
    /** PLANTED BUG (mutation 'kv-log-clock-wall-delta'): elapsed time from wall-clock differences. */
    private readonly wallDelta = false,
  ) {}

  /** Log time now, for a leader in `term`. */
  nowMs(term: number): number {
    const monotonic = this.wallDelta ? this.clock.wallMs() : this.clock.monotonicMs();
    if (term !== this.term) {
      this.term = term;
      this.baseLogMs = this.appliedLogTimeMs();
      this.baseMonotonicMs = monotonic;
    }
    return this.baseLogMs + (monotonic - this.baseMonotonicMs);
  }

  /** `command` with its proposedAtMs overwritten by this leader's log time (a copy). */
  stamp(command: Uint8Array, term: number): Uint8Array {
    return stampProposedAt(command, this.nowMs(term));
  }
}
