// The public API of the checker core: models, verdicts, results, and the options every checker
// takes. Consumers (the consistency checks, the HTML report, `barista check`) code against this file
// only; it is kept stable and changed compatibly (new optional fields, never renamed ones).
//
// Vocabulary
//   Op         one history event (invoke | ok | fail | info), see history.ts.
//   Operation  an invoke paired with its completion: what a model steps over. `fail` operations
//              never reach a model (they definitely did not happen); `info` and never-completed
//              invokes become operations with `status: 'info'` and no output — they may take effect
//              at any point after their call, or never.
//   Verdict    'valid' | 'invalid' | 'unknown'. `unknown` always carries a reason (a budget ran out);
//              it is never a silent pass.
//
// Invariants kept by every checker that returns a CheckResult:
//   - `valid` means a witness was found (a linearization, or all bounds held);
//   - `invalid` means the whole search space was exhausted (or a bound was definitely broken) and,
//     for linearizability, `failingOp`, `concurrentOps` and `longestPrefix` describe the failure;
//   - `unknown` means a named budget ran out first (`reason`); no claim either way.
import type { History, Op, ProcessId } from './history.ts';

export type Verdict = 'valid' | 'invalid' | 'unknown';

/** Why a checker gave up: which named budget ran out. */
export type UnknownReason = 'time budget' | 'memory budget';

/** An invoke paired with its completion (or with nothing, for an indeterminate op). */
export interface Operation {
  /** Dense id, 0..n-1 in call order, within the list handed to a model. */
  readonly id: number;
  readonly process: ProcessId;
  readonly f: string;
  readonly key?: string;
  /** The invoke's value (the argument). */
  readonly input: unknown;
  /** The completion's value (the result) for `ok`; undefined for `info`. */
  readonly output: unknown;
  /** `ok`: completed and took effect. `info`: may take effect any time after `call`, or never. */
  readonly status: 'ok' | 'info';
  /** History index of the invoke. */
  readonly call: number;
  /** History index of the completion; for `info` ops, `RETURN_NEVER` (after everything). */
  readonly ret: number;
  /** The original events, for reports. `completion` is absent when the invoke never completed. */
  readonly invoke: Op;
  readonly completion?: Op;
}

/** `ret` of an indeterminate operation: later than any history index (Jepsen's +∞). */
export const RETURN_NEVER = Number.MAX_SAFE_INTEGER;

/** One op as a string register runs it (Model.stringRegister); `none` changes and checks nothing. */
export interface StringRegisterOp {
  readonly kind: 'read' | 'write' | 'append' | 'none';
  readonly value: string;
}

export interface StringRegister {
  readonly initial: string;
  /** Indexed like the ops given. */
  readonly ops: readonly StringRegisterOp[];
}

export type StepResult<S> = { readonly ok: true; readonly state: S } | { readonly ok: false };

/**
 * A sequential specification. Pure: `step` must not mutate `state` (the search backtracks to it).
 * `hash`/`equal` identify states for the memo (two states that are `equal` must hash alike).
 * `step` depends only on the state and the op's `f`, `key`, `status`, `input` and `output` (never
 * on its process or times): the search treats two ops alike in those fields as interchangeable.
 */
export interface Model<S = unknown> {
  readonly name: string;
  init(): S;
  step(state: S, op: Operation): StepResult<S>;
  hash(state: S): number;
  equal(a: S, b: S): boolean;
  /**
   * Optional: a primitive identity of a state, equal exactly when `equal` says the states are,
   * or undefined for a state that has none (then `hash`/`equal` identify it). Lets the search
   * intern states with a native Map (a long string state is hashed natively, not by `hash`).
   */
  stateKey?(state: S): string | number | undefined;
  /**
   * Optional: when every op of `ops` (one partition) acts on a single string register — a read
   * compares, a write sets, an append concatenates — their actions and the register's initial
   * value; otherwise undefined. The search then runs them on hash-consed string states
   * (string-states.ts) instead of `step`, which must agree with them exactly.
   */
  stringRegister?(ops: readonly Operation[]): StringRegister | undefined;
  /**
   * Optional: true when `op` never changes the state wherever it linearizes (a read; a cas that
   * observed a compare failure). Such an op, once it fits, is kept where it first fits: moving it
   * later cannot help (it changes nothing, and everything allowed after it here still is). Only
   * say true when it holds for every state; a write that happens to rewrite the same value is not
   * read-only.
   */
  readOnly?(op: Operation): boolean;
  /** One-line human description of an operation, e.g. `p3 cas 1→2 (ok)`. */
  describe(op: Operation): string;
  /** Optional printable form of a state, for failure explanations. */
  describeState?(state: S): string;
  /**
   * Present when the model is P-compositional (Herlihy & Wing's locality): the history may be
   * split into independent sub-histories, each checked against `init()`. Returns the partition key
   * of an operation, or undefined when the op spans partitions (then the history is checked whole).
   */
  partitionKey?(op: Operation): string | undefined;
  /**
   * Optional normalisation before the search: return false to drop an operation that cannot
   * constrain the model (e.g. a read of nil under "nil read = unknown"). Default: keep.
   */
  keep?(op: Operation): boolean;
}

/** One anomaly found by a non-search checker (counter bounds, log offsets, unique ids, ...). */
export interface Anomaly {
  /** Stable machine name: 'lost-write', 'duplicate-offset', 'out-of-bounds', ... */
  readonly kind: string;
  readonly message: string;
  readonly ops: readonly Op[];
}

export interface CheckStats {
  /** Operations checked (after pairing and dropping `fail`s). */
  readonly ops: number;
  /** Of which indeterminate (`info` or never completed). */
  readonly infoOps: number;
  /** Model steps attempted by the search (for bounds checkers: ops examined). */
  readonly statesExplored: number;
  /** Entries in the (bitset, state) memo at the end. */
  readonly memoEntries: number;
  /** Elapsed time per the injected clock; 0 when no clock was given. */
  readonly elapsedMs: number;
  /** Number of independent partitions checked (1 when not partitioned). */
  readonly partitions: number;
}

/** The result of any check in src/check (linearizability, bounds and anomaly checkers alike). */
export interface CheckResult {
  readonly verdict: Verdict;
  /** For `unknown`: which budget ran out. For `invalid`: a one-line explanation. */
  readonly reason?: UnknownReason | string;
  /** Per-partition results when the model was partitioned (keyed by partition key). */
  readonly perKey?: ReadonlyMap<string, CheckResult>;
  /** The partition key whose failure decided the verdict, when partitioned. */
  readonly failingKey?: string;
  /** Invalid: the operation that could not be linearized at the deepest point of the search. */
  readonly failingOp?: Operation;
  /** Invalid: the operations concurrent with `failingOp` (overlapping its call..return interval). */
  readonly concurrentOps?: readonly Operation[];
  /** Invalid: the longest linearizable prefix found, in linearization order. */
  readonly longestPrefix?: readonly Operation[];
  /** Non-search checkers: every anomaly found. */
  readonly anomalies?: readonly Anomaly[];
  readonly stats: CheckStats;
}

/** Kept for readers of the brief: a linearizability result is a CheckResult. */
export type LinearizabilityResult = CheckResult;

/** Budgets and the injected clock. Every budget is finite; defaults are in linearizability.ts. */
export interface CheckOptions {
  /** Monotonic milliseconds (the CLI passes performance.now). Without it, no time budget applies. */
  readonly now?: () => number;
  /** Give up with `unknown: time budget` after this long (per whole check, across partitions). */
  readonly timeBudgetMs?: number;
  /** Give up with `unknown: memory budget` after this many model steps. */
  readonly statesExploredMax?: number;
  /** Give up with `unknown: memory budget` when the memo holds this many (bitset, state) entries. */
  readonly memoEntriesMax?: number;
  /** Split per key when the model allows it (default true). */
  readonly partition?: boolean;
}

/** Signature of the linearizability checker (implemented in linearizability.ts). */
export type CheckLinearizable = <S>(history: History, model: Model<S>, options?: CheckOptions) => CheckResult;

// ---- readers ----------------------------------------------------------------------------------

export type HistoryFormat = 'edn' | 'jepsen-log' | 'porcupine-kv' | 'jsonl';

/**
 * How a `fail` compare-and-set is read (see readers/index.ts for examples):
 *   'knossos': `fail` = did not happen (dropped); register starts at 0; a read of nil = unknown.
 *   'etcd':    older etcd Jepsen logs: a `fail` cas is an observed compare failure (it happened and
 *              returned false: its completion becomes `ok` with value `false`); register starts
 *              at nil; timed-out ops are left open (indeterminate).
 */
export type CasConvention = 'knossos' | 'etcd';

export interface ReadOptions {
  /** Default 'knossos'. */
  readonly casConvention?: CasConvention;
  /** File name for error messages. */
  readonly source?: string;
}

/**
 * Signature of the reader entry point (implemented in readers/index.ts). Malformed input throws
 * `HistoryParseError` (errors.ts) naming the line; it never crashes with anything else.
 */
export type ParseHistory = (text: string, format: HistoryFormat | 'auto', options?: ReadOptions) => History;

// ---- models by name (implemented in models/index.ts) -----------------------------------------

/**
 * Names accepted by `modelByName` / `barista check --model`: 'register', 'cas-register',
 * 'kv' (multi-register: get/put/append/cas per key, txn across keys), 'set', 'queue'.
 * Bounds/anomaly checkers with the same CheckResult: 'g-counter', 'pn-counter', 'kafka', 'unique-ids'.
 */
export type ModelName =
  | 'register'
  | 'cas-register'
  | 'kv'
  | 'set'
  | 'queue'
  | 'g-counter'
  | 'pn-counter'
  | 'kafka'
  | 'unique-ids';

export interface ModelOptions {
  /** Register initial value (default 0 under 'knossos', null under 'etcd'). */
  readonly initial?: unknown;
  /** A read that returned nil/null constrains nothing (Knossos). Default true under 'knossos'. */
  readonly nilReadUnknown?: boolean;
  readonly casConvention?: CasConvention;
}
