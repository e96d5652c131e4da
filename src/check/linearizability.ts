// The linearizability checker: Wing & Gong's search as improved by Lowe ("Testing for
// linearizability", 2017), the algorithm behind Porcupine (checker.go) and Knossos (wgl.clj),
// written from the paper.
//
// The history is a doubly linked list of call and return entries in time order (history index).
// The search walks the list from its head: at a call entry it tries to linearize that operation
// next (step the model); on success it records (bitset of linearized ops, model state) in a memo,
// pushes (entry, previous state) on a stack and unlinks the op's call and return entries ("lift");
// when a (bitset, state) pair was seen before, that branch is known to fail and is skipped. At a
// return entry the op it belongs to had to be linearized already: backtrack (pop, relink, try the
// next call after the popped one). The list empty = a linearization; backtracking from an empty
// stack = none exists.
//
// Indeterminate (`info`) operations return at +∞: their return entries sit after every real
// return, so reaching one means every `ok` op is linearized; the remaining info ops are taken to
// have never happened (Jepsen: "may take effect at any time after invoke, or never").
//
// Invariants
//   - every entry before the cursor is a call entry (returns are never skipped over);
//   - `bits` has bit i set iff op i is linearized on the current stack; `zobrist` is the XOR of
//     zobristKey[i] over set bits (incremental hash, O(1) per push/pop);
//   - all bitset words below `loWord` are full (memo entries store only the window from there);
//   - every memo entry is an exact (bitset window, state) pair: a hash collision never prunes.
// Bounds: `timeBudgetMs` (through the injected `now`), `statesExploredMax` (model steps) and
// `memoEntriesMax` (memo size) turn an exhausting search into verdict `unknown` with a reason.
import type { History } from './history.ts';
import { prepareOperations } from './prepare.ts';
import type { CheckOptions, CheckResult, CheckStats, Model, Operation, UnknownReason } from './types.ts';
import { RETURN_NEVER } from './types.ts';

/** Defaults for the budgets in CheckOptions. All finite: a check always ends. */
export const LINEARIZABILITY_DEFAULTS = {
  timeBudgetMs: 60_000,
  statesExploredMax: 100_000_000,
  memoEntriesMax: 4_000_000,
} as const;

/** How many concurrent ops an invalid result lists at most. */
export const CONCURRENT_OPS_MAX = 256;
/** Model steps between two reads of the clock. */
const CLOCK_EVERY_STEPS = 4096;
const FULL = 0xffffffff;

interface Budget {
  readonly now: (() => number) | undefined;
  readonly deadlineMs: number;
  readonly statesExploredMax: number;
  readonly memoEntriesMax: number;
  statesExplored: number;
  memoEntries: number;
  /** Model steps until the next budget check; shared by every partition of one check. */
  stepsUntilCheck: number;
}

/** The budget that is spent, if any (checked between partitions and every CLOCK_EVERY_STEPS steps). */
function spent(budget: Budget): UnknownReason | undefined {
  if (budget.statesExplored > budget.statesExploredMax) return 'memory budget';
  if (budget.now !== undefined && budget.now() > budget.deadlineMs) return 'time budget';
  return undefined;
}

interface SearchOutcome {
  readonly verdict: 'valid' | 'invalid' | 'unknown';
  readonly reason?: UnknownReason;
  /** Op ids of the longest linearizable prefix found, in linearization order. */
  readonly prefix: number[];
}

/** Deterministic per-op keys for the incremental (Zobrist) hash of the bitset. */
function zobristKeys(count: number): Int32Array {
  const keys = new Int32Array(count);
  let x = 0x9e3779b9 | 0;
  for (let i = 0; i < count; i++) {
    // xorshift32
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    keys[i] = x;
  }
  return keys;
}

/** Searches one (sub)history. `ops` ids must be 0..n-1. */
function search<S>(ops: readonly Operation[], model: Model<S>, budget: Budget): SearchOutcome {
  const n = ops.length;
  if (n === 0) return { verdict: 'valid', prefix: [] };
  // Entries 1..2n; 0 is the head sentinel; -1 is "none".
  const entryCount = 2 * n + 1;
  const next = new Int32Array(entryCount);
  const prev = new Int32Array(entryCount);
  const entryOp = new Int32Array(entryCount);
  const isCall = new Uint8Array(entryCount);
  const match = new Int32Array(entryCount);
  const isInfo = new Uint8Array(n);
  {
    const order: Array<{ time: number; op: number; call: boolean }> = [];
    for (const op of ops) {
      order.push({ time: op.call, op: op.id, call: true });
      order.push({ time: op.ret, op: op.id, call: false });
      if (op.ret === RETURN_NEVER) isInfo[op.id] = 1;
    }
    // Ties only between info returns (all at +∞): keep call order. A call sorts before a
    // return at the same time, which makes the two concurrent (the permissive reading).
    order.sort((a, b) => a.time - b.time || (a.call === b.call ? a.op - b.op : a.call ? -1 : 1));
    const callEntryOf = new Int32Array(n);
    for (let i = 0; i < order.length; i++) {
      const e = i + 1;
      const ev = order[i] as { time: number; op: number; call: boolean };
      entryOp[e] = ev.op;
      prev[e] = e - 1;
      next[e] = e + 1 < entryCount ? e + 1 : -1;
      if (ev.call) {
        isCall[e] = 1;
        callEntryOf[ev.op] = e;
      } else {
        match[callEntryOf[ev.op] as number] = e;
      }
    }
    next[0] = 1;
    prev[0] = -1;
  }

  const words = (n + 31) >>> 5;
  const bits = new Uint32Array(words);
  const zobristKey = zobristKeys(n);
  let zobrist = 0;
  let loWord = 0;
  let hiWord = 0;

  // Memo: hash -> first entry; entries chained through memoNext.
  const memoHead = new Map<number, number>();
  const memoNext: number[] = [];
  const memoLo: number[] = [];
  const memoWords: Uint32Array[] = [];
  const memoState: S[] = [];

  const stackEntry = new Int32Array(n);
  const stackState: S[] = new Array<S>(n);
  let depth = 0;
  const best = new Int32Array(n);
  let bestDepth = 0;
  let agree = 0;

  const inMemoOrAdd = (state: S): boolean => {
    const h = (zobrist ^ Math.imul(model.hash(state), 0x9e3779b1)) | 0;
    let m = memoHead.get(h);
    const chainHead = m;
    while (m !== undefined && m >= 0) {
      if (model.equal(memoState[m] as S, state)) {
        const eLo = memoLo[m] as number;
        const eWords = memoWords[m] as Uint32Array;
        const eHi = eLo + eWords.length - 1;
        const from = Math.min(eLo, loWord);
        const to = Math.max(eHi, hiWord);
        let same = true;
        for (let w = from; w <= to; w++) {
          const stored = w < eLo ? FULL : w > eHi ? 0 : (eWords[w - eLo] as number);
          if ((bits[w] as number) !== stored) {
            same = false;
            break;
          }
        }
        if (same) return true;
      }
      m = memoNext[m] as number;
    }
    const index = memoState.length;
    memoState.push(state);
    memoLo.push(loWord);
    memoWords.push(bits.slice(loWord, hiWord + 1));
    memoNext.push(chainHead ?? -1);
    memoHead.set(h, index);
    budget.memoEntries++;
    return false;
  };

  const setBit = (i: number): void => {
    const w = i >>> 5;
    bits[w] = ((bits[w] as number) | (1 << (i & 31))) >>> 0;
    zobrist ^= zobristKey[i] as number;
    if (w > hiWord) hiWord = w;
    if (w === loWord) while (loWord < words && bits[loWord] === FULL) loWord++;
  };
  const clearBit = (i: number): void => {
    const w = i >>> 5;
    bits[w] = ((bits[w] as number) & ~(1 << (i & 31))) >>> 0;
    zobrist ^= zobristKey[i] as number;
    if (w < loWord) loWord = w;
  };
  const lift = (e: number): void => {
    const r = match[e] as number;
    next[prev[e] as number] = next[e] as number;
    if ((next[e] as number) >= 0) prev[next[e] as number] = prev[e] as number;
    next[prev[r] as number] = next[r] as number;
    if ((next[r] as number) >= 0) prev[next[r] as number] = prev[r] as number;
  };
  const unlift = (e: number): void => {
    const r = match[e] as number;
    if ((next[r] as number) >= 0) prev[next[r] as number] = r;
    next[prev[r] as number] = r;
    if ((next[e] as number) >= 0) prev[next[e] as number] = e;
    next[prev[e] as number] = e;
  };
  const prefix = (): number[] => Array.from(best.subarray(0, bestDepth), (e) => entryOp[e] as number);

  let state = model.init();
  let entry = next[0] as number;
  while (entry >= 0) {
    const op = entryOp[entry] as number;
    if (isCall[entry] === 1) {
      budget.statesExplored++;
      if (--budget.stepsUntilCheck === 0) {
        budget.stepsUntilCheck = CLOCK_EVERY_STEPS;
        const reason = spent(budget);
        if (reason !== undefined) return { verdict: 'unknown', reason, prefix: prefix() };
      }
      const result = model.step(state, ops[op] as Operation);
      if (result.ok) {
        setBit(op);
        if (!inMemoOrAdd(result.state)) {
          if (budget.memoEntries > budget.memoEntriesMax)
            return { verdict: 'unknown', reason: 'memory budget', prefix: prefix() };
          if (depth < agree) agree = depth;
          stackEntry[depth] = entry;
          stackState[depth] = state;
          depth++;
          if (depth > bestDepth) {
            for (let i = agree; i < depth; i++) best[i] = stackEntry[i] as number;
            agree = depth;
            bestDepth = depth;
          }
          state = result.state;
          lift(entry);
          entry = next[0] as number;
          continue;
        }
        clearBit(op);
      }
      entry = next[entry] as number;
    } else {
      // A return: its op is not linearized yet. If it is an info op, every ok op is done.
      if (isInfo[op] === 1) return { verdict: 'valid', prefix: [] };
      if (depth === 0) return { verdict: 'invalid', prefix: prefix() };
      depth--;
      const top = stackEntry[depth] as number;
      state = stackState[depth] as S;
      stackState[depth] = undefined as S; // release for the GC
      clearBit(entryOp[top] as number);
      unlift(top);
      entry = next[top] as number;
    }
  }
  return { verdict: 'valid', prefix: [] };
}

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

function checkOne<S>(ops: readonly Operation[], model: Model<S>, budget: Budget, startMs: number): CheckResult {
  const before = { states: budget.statesExplored, memo: budget.memoEntries };
  budget.memoEntries = 0; // each partition has its own memo
  const outcome = search(ops, model, budget);
  const memoEntries = budget.memoEntries;
  budget.memoEntries = before.memo;
  const stats: CheckStats = {
    ops: ops.length,
    infoOps: ops.reduce((c, o) => c + (o.status === 'info' ? 1 : 0), 0),
    statesExplored: budget.statesExplored - before.states,
    memoEntries,
    elapsedMs: budget.now === undefined ? 0 : budget.now() - startMs,
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
  const budget: Budget = {
    now,
    deadlineMs: startMs + (options.timeBudgetMs ?? LINEARIZABILITY_DEFAULTS.timeBudgetMs),
    statesExploredMax: options.statesExploredMax ?? LINEARIZABILITY_DEFAULTS.statesExploredMax,
    memoEntriesMax: options.memoEntriesMax ?? LINEARIZABILITY_DEFAULTS.memoEntriesMax,
    statesExplored: 0,
    memoEntries: 0,
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
  if (groups === undefined) return checkOne(reindex(kept), model, budget, startMs);

  const perKey = new Map<string, CheckResult>();
  let verdict: CheckResult['verdict'] = 'valid';
  let decisive: [string, CheckResult] | undefined;
  // The budget is shared by all keys: once it is spent, the remaining keys are not checked and
  // not reported in perKey, and the verdict cannot be valid.
  const totals = { ...emptyStats() };
  for (const [key, group] of groups) {
    const exhausted = spent(budget);
    if (exhausted !== undefined) {
      if (verdict === 'valid') {
        verdict = 'unknown';
        decisive = [key, { verdict: 'unknown', reason: exhausted, stats: emptyStats() }];
      }
      break;
    }
    const result = checkOne(reindex(group), model, budget, startMs);
    perKey.set(key, result);
    totals.ops += result.stats.ops;
    totals.infoOps += result.stats.infoOps;
    totals.statesExplored += result.stats.statesExplored;
    totals.memoEntries += result.stats.memoEntries;
    totals.partitions++;
    if (result.verdict === 'invalid' && verdict !== 'invalid') {
      verdict = 'invalid';
      decisive = [key, result];
    } else if (result.verdict === 'unknown' && verdict === 'valid') {
      verdict = 'unknown';
      decisive = [key, result];
    }
    // A spent budget stops the whole check (the remaining keys cannot be checked either).
    if (result.verdict === 'unknown') break;
  }
  totals.elapsedMs = now === undefined ? 0 : now() - startMs;
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
