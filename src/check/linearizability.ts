// The linearizability checker's entry points: filters and partitions the operations, runs one
// search per partition (wgl.ts: Wing & Gong / Lowe's search, as in Porcupine and Knossos) and
// explains a failure (the blocking op, its concurrent ops, the longest linearizable prefix).
//
// Partitions (P-compositionality, Herlihy & Wing's locality: a history is linearizable iff each
// key's sub-history is) are searched interleaved, in slices that double each round, and the first
// invalid partition decides the verdict: the remaining keys are not searched further (they are
// absent from perKey), as Porcupine stops its parallel per-partition searches at the first illegal
// one. Without the interleaving, one expensive valid key checked first would delay the finding.
// Bounds: `timeBudgetMs` (through the injected `now`), `statesExploredMax` (search steps) and
// `memoEntriesMax` (memo size per partition) turn an exhausting search into verdict `unknown` with
// a reason; the budget is shared by all partitions of one check.
import type { History } from './history.ts';
import { prepareOperations } from './prepare.ts';
import type { CheckOptions, CheckResult, CheckStats, Model, Operation } from './types.ts';
import { type Budget, CLOCK_EVERY_STEPS, type SearchOutcome, spent, WglSearch } from './wgl.ts';

/** Defaults for the budgets in CheckOptions. All finite: a check always ends. */
export const LINEARIZABILITY_DEFAULTS = {
  timeBudgetMs: 60_000,
  statesExploredMax: 100_000_000,
  memoEntriesMax: 4_000_000,
} as const;

/** How many concurrent ops an invalid result lists at most. */
export const CONCURRENT_OPS_MAX = 256;
/** Steps each unfinished partition gets in the first round of the interleaving; doubles per round. */
export const PARTITION_SLICE_STEPS_FIRST = 1024;

/** Explains a failed search: the blocking op, its concurrent ops, the state after the prefix. */
function explainFailure<S>(
  ops: readonly Operation[],
  model: Model<S>,
  prefixIds: readonly number[],
): Pick<CheckResult, 'failingOp' | 'concurrentOps' | 'longestPrefix' | 'reason'> {
  const linearized = new Uint8Array(ops.length);
  let state = model.init();
  const longestPrefix: Operation[] = [];
  for (const id of prefixIds) {
    linearized[id] = 1;
    const op = ops[id] as Operation;
    longestPrefix.push(op);
    const r = model.step(state, op);
    if (r.ok) state = r.state;
  }
  // The op that had to be linearized next: the unlinearized ok op that returns first.
  let failing: Operation | undefined;
  for (const op of ops) {
    if (linearized[op.id] === 1 || op.status !== 'ok') continue;
    if (failing === undefined || op.ret < failing.ret) failing = op;
  }
  if (failing === undefined) return { longestPrefix };
  const f = failing;
  const concurrentOps = ops.filter((o) => o !== f && o.call < f.ret && o.ret > f.call).slice(0, CONCURRENT_OPS_MAX);
  const shownState = model.describeState ? model.describeState(state) : undefined;
  const reason =
    `${model.describe(f)} cannot be linearized after the longest linearizable prefix ` +
    `(${longestPrefix.length} of ${ops.length} ops)${shownState === undefined ? '' : `, state ${shownState}`}`;
  return { failingOp: f, concurrentOps, longestPrefix, reason };
}

function emptyStats(): CheckStats {
  return { ops: 0, infoOps: 0, statesExplored: 0, memoEntries: 0, elapsedMs: 0, partitions: 0 };
}

/** Re-ids a sub-history densely (ids are bit positions in the search). */
function reindex(ops: readonly Operation[]): Operation[] {
  return ops.map((op, id) => (op.id === id ? op : { ...op, id }));
}

function resultOf<S>(
  ops: readonly Operation[],
  model: Model<S>,
  search: WglSearch<S>,
  outcome: SearchOutcome,
  elapsedMs: number,
): CheckResult {
  const stats: CheckStats = {
    ops: ops.length,
    infoOps: ops.reduce((c, o) => c + (o.status === 'info' ? 1 : 0), 0),
    statesExplored: search.steps,
    memoEntries: search.memoEntries,
    elapsedMs,
    partitions: 1,
  };
  if (outcome.verdict === 'invalid')
    return { verdict: 'invalid', ...explainFailure(ops, model, outcome.prefix), stats };
  if (outcome.verdict === 'unknown') {
    const longestPrefix = outcome.prefix.map((id) => ops[id] as Operation);
    return { verdict: 'unknown', reason: outcome.reason ?? 'time budget', longestPrefix, stats };
  }
  return { verdict: 'valid', stats };
}

/**
 * Checks operations (already paired, see prepare.ts) against a model. Splits per key when the
 * model is P-compositional and `options.partition` is not false.
 */
export function checkOperations<S>(
  operations: readonly Operation[],
  model: Model<S>,
  options: CheckOptions = {},
): CheckResult {
  const now = options.now;
  const startMs = now === undefined ? 0 : now();
  const elapsed = (): number => (now === undefined ? 0 : now() - startMs);
  const budget: Budget = {
    now,
    deadlineMs: startMs + (options.timeBudgetMs ?? LINEARIZABILITY_DEFAULTS.timeBudgetMs),
    statesExploredMax: options.statesExploredMax ?? LINEARIZABILITY_DEFAULTS.statesExploredMax,
    memoEntriesMax: options.memoEntriesMax ?? LINEARIZABILITY_DEFAULTS.memoEntriesMax,
    statesExplored: 0,
    stepsUntilCheck: CLOCK_EVERY_STEPS,
  };
  const kept = model.keep === undefined ? operations : operations.filter((op) => model.keep?.(op) ?? true);

  let groups: Map<string, Operation[]> | undefined;
  if (options.partition !== false && model.partitionKey !== undefined) {
    groups = new Map();
    for (const op of kept) {
      const key = model.partitionKey(op);
      if (key === undefined) {
        groups = undefined;
        break;
      }
      let group = groups.get(key);
      if (group === undefined) {
        group = [];
        groups.set(key, group);
      }
      group.push(op);
    }
  }
  if (groups === undefined) {
    const ops = reindex(kept);
    const search = new WglSearch(ops, model, budget);
    const outcome = search.run(Number.POSITIVE_INFINITY) as SearchOutcome;
    return resultOf(ops, model, search, outcome, elapsed());
  }

  interface Partition {
    readonly key: string;
    readonly group: Operation[];
    /** Built when the partition first runs (a check decided earlier never pays for it). */
    ops?: Operation[];
    search?: WglSearch<S> | undefined;
  }
  const perKey = new Map<string, CheckResult>();
  let verdict: CheckResult['verdict'] = 'valid';
  let decisive: [string, CheckResult] | undefined;
  const totals = { ...emptyStats() };
  const record = (p: Partition, result: CheckResult): void => {
    perKey.set(p.key, result);
    totals.ops += result.stats.ops;
    totals.infoOps += result.stats.infoOps;
    totals.statesExplored += result.stats.statesExplored;
    totals.memoEntries += result.stats.memoEntries;
    totals.partitions++;
    if (result.verdict === 'invalid' && verdict !== 'invalid') {
      verdict = 'invalid';
      decisive = [p.key, result];
    } else if (result.verdict === 'unknown' && verdict === 'valid') {
      verdict = 'unknown';
      decisive = [p.key, result];
    }
  };
  // Interleaved: each round gives every unfinished partition a slice, doubling per round. The
  // first invalid partition or a spent budget ends the check; the rest are not reported.
  let pending: Partition[] = [...groups].map(([key, group]) => ({ key, group }));
  let slice = PARTITION_SLICE_STEPS_FIRST;
  rounds: while (pending.length > 0) {
    const unfinished: Partition[] = [];
    for (const p of pending) {
      const exhausted = spent(budget);
      if (exhausted !== undefined) {
        if (verdict === 'valid') {
          verdict = 'unknown';
          decisive = [p.key, { verdict: 'unknown', reason: exhausted, stats: emptyStats() }];
        }
        break rounds;
      }
      if (p.search === undefined || p.ops === undefined) {
        p.ops = reindex(p.group);
        p.search = new WglSearch(p.ops, model, budget);
      }
      const outcome = p.search.run(slice);
      if (outcome === undefined) {
        unfinished.push(p);
        continue;
      }
      record(p, resultOf(p.ops, model, p.search, outcome, elapsed()));
      p.search = undefined; // its memo is no longer needed
      if (outcome.verdict !== 'valid') break rounds;
    }
    pending = unfinished;
    slice *= 2;
  }
  totals.elapsedMs = elapsed();
  const stats: CheckStats = totals;
  if (decisive === undefined) return { verdict, perKey, stats };
  const [failingKey, r] = decisive;
  const detail: Partial<CheckResult> = {};
  const out: CheckResult = {
    verdict,
    perKey,
    failingKey,
    stats,
    // An unknown keeps its bare budget name; an invalid explanation names the key.
    ...(r.reason === undefined
      ? detail
      : { reason: verdict === 'unknown' ? r.reason : `key ${failingKey}: ${r.reason}` }),
    ...(r.failingOp === undefined ? detail : { failingOp: r.failingOp }),
    ...(r.concurrentOps === undefined ? detail : { concurrentOps: r.concurrentOps }),
    ...(r.longestPrefix === undefined ? detail : { longestPrefix: r.longestPrefix }),
  };
  return out;
}

/** Checks a history (events) for linearizability against a model. */
export function checkLinearizable<S>(history: History, model: Model<S>, options: CheckOptions = {}): CheckResult {
  return checkOperations(prepareOperations(history).operations, model, options);
}
