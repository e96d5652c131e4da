// Shared shapes of the consistency checks (read-your-writes, monotonic reads, convergence, lost
// writes, sequential consistency per key): their options, anomaly and result types, and bounds.
//
// Invariants:
//   - every check is a pure function of (History, options): no clock, no I/O, no randomness;
//   - `verdict` is 'invalid' iff at least one anomaly was found (anomaliesMax caps how many are kept,
//     `stats.anomaliesDropped` counts the rest), 'unknown' only when the input cannot support the
//     claim (e.g. no final reads) and then `reason` says why, 'valid' otherwise;
//   - no check ever raises an anomaly from an ambiguous order (duplicate written values, concurrent
//     writes): it undercounts rather than crying wolf. Ambiguity is counted in stats.
import type { Op } from '../history.ts';
import type { Verdict } from '../types.ts';

/** Anomalies kept per check; the rest are counted in `stats.anomaliesDropped`. */
export const CONSISTENCY_ANOMALIES_MAX = 1000;

export type ConsistencyAnomalyKind =
  | 'read-your-writes'
  | 'monotonic-reads'
  | 'divergent-replica'
  | 'lost-write'
  | 'failed-write-visible'
  | 'unexpected-value'
  | 'duplicate-value'
  | 'sequential-cycle'
  | 'read-of-unwritten-value';

export interface ConsistencyAnomaly {
  readonly kind: ConsistencyAnomalyKind;
  /** The op (a completion event, or the invoke when none) that exhibits the anomaly. */
  readonly op: Op;
  /** One human sentence; values in it are rendered with `showValue` (bounded length). */
  readonly detail: string;
  /** Other ops involved (the write that was lost, the earlier read, the cycle's edges). */
  readonly related?: readonly Op[];
}

export interface ConsistencyStats {
  /** Operations (invoke + completion pairs) examined. */
  readonly ops: number;
  /** Distinct keys examined. */
  readonly keys: number;
  /** Anomalies found beyond CONSISTENCY_ANOMALIES_MAX (not kept). */
  readonly anomaliesDropped: number;
  /** Check-specific counters, named in each check's header comment. */
  readonly [counter: string]: number;
}

export interface ConsistencyResult {
  readonly check: string;
  readonly verdict: Verdict;
  /** Present for 'unknown' (why no claim can be made) and 'invalid' (a one-line summary). */
  readonly reason?: string;
  readonly anomalies: readonly ConsistencyAnomaly[];
  readonly stats: ConsistencyStats;
}

/**
 * How operations are read. Defaults follow Jepsen's register, set and list-append workloads.
 * Keys come from `op.key`; with `tupleKeys`, a value `[k, v]` (Jepsen's `independent`) is split.
 */
export interface ConsistencyOptions {
  /** Functions that observe a value (completion value = what was read). Default read, get. */
  readonly readFs?: readonly string[];
  /** Functions that overwrite a register (invoke value = what was written). Default write, put. */
  readonly writeFs?: readonly string[];
  /** Compare-and-set: value [from, to]; ok = observed `from`, wrote `to`. Default cas. */
  readonly casFs?: readonly string[];
  /** Functions that add an element to a collection. Default add, append. */
  readonly addFs?: readonly string[];
  /** Functions that are final reads (after heal). Default final-read, final_read. */
  readonly finalReadFs?: readonly string[];
  /** Split `[k, v]` values into key and value (Jepsen `independent` histories). Default false. */
  readonly tupleKeys?: boolean;
  /** Value of a register before any write (default null, i.e. nil). */
  readonly initialValue?: unknown;
  /** Ignore reads that return nil (Knossos: a nil read is "unknown"). Default false. */
  readonly nilReadIsUnknown?: boolean;
  /**
   * Version of a value, when values carry one (e.g. `{value, version}` from a store that exposes
   * versions). When given, "older" means a lower version; otherwise it means "its write completed
   * before the other's write began" (real-time order of acknowledged writes of unique values).
   */
  readonly versionOf?: (value: unknown) => number | undefined;
  /** Replica that served a final read (convergence). Default: String(op.process). */
  readonly replicaOf?: (op: Op) => string;
  /** Replicas that must have answered a final read (convergence); missing ones give 'unknown'. */
  readonly expectedReplicas?: readonly string[];
  /** Compare collection values as multisets (ignore element order). Default true. */
  readonly unordered?: boolean;
}
