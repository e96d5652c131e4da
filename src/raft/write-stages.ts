// The write path's latency, stage by stage: one histogram family `raft_write_stage_ms{stage}`,
// every observation a LOCAL duration on the node where the stage runs (one monotonic clock, no
// cross-node subtraction). A client write that reaches a follower passes, in order:
//
//   contacted node   http_read        request arrived → body read and parsed (admin.ts)
//                    forward          forwarded to the leader → its answer arrived (covers the
//                                     two peer hops and everything the leader does)
//   leader           propose_wait     proposed (own or forwarded in) → its Ready is handled
//                                     (event-loop wait: group commit folds one turn into one Ready)
//                    wal_sync         append + fdatasync of a Ready (on every node)
//                    replication      the Ready's Appends handed to the transport → the commit
//                                     index covers its last entry (a follower's round; the
//                                     leader's own fsync overlaps it, Raft thesis §10.2.1)
//                    commit_to_apply  commit index covers the entry → the entry is applied (also
//                                     on followers, off the client's path)
//                    apply            applying one Ready's committed entries
//                    leader           proposed → settled (answer handed back or sent)
//   follower         follower_append  an Append with entries arrived → its acknowledgement
//                                     handed to the transport (wait, fsync, next Ready)
//   contacted node   kv_request       body parsed → answer ready (covers `forward` or `leader`)
//
// The client-observed latency minus the contacted node's stages is the client and the kernel; the
// gap between `forward` and `leader` is the two peer hops; between `replication` and
// `follower_append`, the other two. `bench/raft.ts` prints the mean of every stage per run.

import type { Histogram, Metrics } from '../env/types.ts';
import { limits } from '../lib/limits.ts';

export const WRITE_STAGES = [
  'http_read',
  'kv_request',
  'forward',
  'propose_wait',
  'wal_sync',
  'replication',
  'commit_to_apply',
  'apply',
  'leader',
  'follower_append',
] as const;
export type WriteStage = (typeof WRITE_STAGES)[number];

export const WRITE_STAGE_METRIC = 'raft_write_stage_ms';
const HELP = 'Write path: local duration of one stage on the node where it runs (see src/raft/write-stages.ts)';

/** The histogram of one stage (series created once; observe is the hot path). */
export function writeStageHistogram(metrics: Metrics, stage: WriteStage): Histogram {
  return metrics.histogram(WRITE_STAGE_METRIC, HELP, { stage });
}

/**
 * Times from "index I was marked" until "the tracked index reached I": the leader marks the last
 * entry of each Ready whose Appends left and observes when the commit index covers it; every node
 * marks each commit advance and observes when the applied index covers it. A FIFO of (index,
 * time) in increasing index order, bounded by limits.raftStageMarksCountMax (when full the oldest mark
 * is dropped: a stage sample lost, never memory grown).
 */
export class IndexMarks {
  private readonly index: Float64Array;
  private readonly sentMs: Float64Array;
  private head = 0;
  private count = 0;

  constructor(
    private readonly histogram: Histogram,
    private readonly capacity: number = limits.raftStageMarksCountMax,
  ) {
    this.index = new Float64Array(capacity);
    this.sentMs = new Float64Array(capacity);
  }

  /** Index `index` started waiting at `nowMs` (indexes are marked in increasing order). */
  mark(index: number, nowMs: number): void {
    if (this.count === this.capacity) {
      this.head = (this.head + 1) % this.capacity;
      this.count--;
    }
    const at = (this.head + this.count) % this.capacity;
    this.index[at] = index;
    this.sentMs[at] = nowMs;
    this.count++;
  }

  /** The tracked index reached `index` at `nowMs`: every mark it covers is observed and dropped. */
  reached(index: number, nowMs: number): void {
    while (this.count > 0 && this.index[this.head]! <= index) {
      this.histogram.observe(nowMs - this.sentMs[this.head]!);
      this.head = (this.head + 1) % this.capacity;
      this.count--;
    }
  }

  clear(): void {
    this.head = 0;
    this.count = 0;
  }

  get size(): number {
    return this.count;
  }
}
