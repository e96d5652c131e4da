// Log time for a Raft group: what a leader stamps into each command it proposes (issue 7 item 9,
// issue 8 item 4). The state machine measures session idleness against log time, so the stamp
// must not depend on which node a client happened to reach: one node with a wall clock minutes
// ahead used to expire every idle session in the cluster.
//
// The stamp is not a wall clock at all. An envelope (src/rsm/envelope.ts) is stamped with the
// leader's term and the time its own *monotonic* clock has measured since its first stamp in
// that term:
//
//   stampMs = monotonicNow - monotonicAtTermStart
//
// and the state machine adds it to the log time at which the term first appeared in the log
// (src/rsm/sessions.ts), so wall-clock skew and steps play no part, drift only scales measured
// idle time (by at most the clock's drift rate), and time without a leader is not counted. The
// leader never needs the log time itself: a new leader has not yet applied its predecessors' last
// entries when it proposes its first commands, and an earlier design that continued from the
// leader's *applied* log time stalled log time for a whole term by that lag. Because the stamp
// carries the term, the state machine also grants every live session a full timeout when the log
// shows a new term, as a new ZooKeeper leader does.
//
// Format-1 commands (before the envelope; only tests still propose them) have room for an
// absolute time only: they get the earlier design's stamp, the applied log time at the term's
// start plus the monotonic time since.

import type { Clock } from '../env/types.ts';
import { ENVELOPE_FORMAT, stampEnvelope } from '../rsm/envelope.ts';
import { stampProposedAt } from './command.ts';

export class LeaderLogClock {
  private term = -1;
  private baseLogMs = 0;
  private baseMonotonicMs = 0;

  constructor(
    private readonly clock: Clock,
    /** The log time the local state machine has applied (for format-1 commands only). */
    private readonly appliedLogTimeMs: () => number,
    /** PLANTED BUG (mutation 'kv-log-clock-wall-delta'): elapsed time from wall-clock differences. */
    private readonly wallDelta = false,
  ) {}

  /** Milliseconds this leader has measured since its first stamp in `term`. */
  elapsedMs(term: number): number {
    const monotonic = this.wallDelta ? this.clock.wallMs() : this.clock.monotonicMs();
    if (term !== this.term) {
      this.term = term;
      this.baseLogMs = this.appliedLogTimeMs();
      this.baseMonotonicMs = monotonic;
    }
    return monotonic - this.baseMonotonicMs;
  }

  /** `command` with its stamp overwritten by this leader's time and term (a copy). */
  stamp(command: Uint8Array, term: number): Uint8Array {
    const elapsedMs = this.elapsedMs(term);
    if (command[0] === ENVELOPE_FORMAT) return stampEnvelope(command, elapsedMs, term);
    return stampProposedAt(command, this.baseLogMs + elapsedMs);
  }
}
