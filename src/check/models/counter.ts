// Counter bounds check (g-counter and pn-counter; Maelstrom's g-counter/pn-counter workloads).
// Not a linearizability search: each checked read must lie within the bounds of the increments
// it could have seen. Same CheckResult as the linearizability checker. Pure.
//
//   {f: 'add', input: delta}   g-counter: delta ≥ 0 (a negative delta is an anomaly)
//   {f: 'read', output: n}
// For a read invoked at call and completed at ret:
//   lower = Σ ok positive adds completed before call + Σ negative adds (ok or info) invoked before ret
//   upper = Σ positive adds (ok or info) invoked before ret + Σ ok negative adds completed before call
// `reads: 'final'` (default; eventually consistent counters) checks only reads invoked after every
// add has completed or crashed; `reads: 'all'` checks every read (a linearizable counter).
import type { History, Op } from '../history.ts';
import { prepareOperations } from '../prepare.ts';
import type { Anomaly, CheckResult, Operation } from '../types.ts';
import { RETURN_NEVER } from '../types.ts';

export interface CounterOptions {
  readonly kind: 'g' | 'pn';
  readonly reads?: 'final' | 'all';
}

/** Most anomalies listed in a result (the count is in the reason). */
export const COUNTER_ANOMALIES_MAX = 1000;

function opsOf(op: Operation): Op[] {
  return op.completion === undefined ? [op.invoke] : [op.invoke, op.completion];
}

export function checkCounter(history: History, options: CounterOptions): CheckResult {
  const { operations } = prepareOperations(history);
  const adds = operations.filter((o) => o.f === 'add' || o.f === 'increment');
  const reads = operations.filter((o) => o.f === 'read' && o.status === 'ok');
  const anomalies: Anomaly[] = [];
  let anomalyCount = 0;
  const report = (a: Anomaly): void => {
    anomalyCount++;
    if (anomalies.length < COUNTER_ANOMALIES_MAX) anomalies.push(a);
  };
  for (const add of adds) {
    const delta = add.input;
    if (typeof delta !== 'number' || !Number.isFinite(delta)) {
      report({ kind: 'bad-increment', message: `add of a non-number ${String(delta)}`, ops: opsOf(add) });
    } else if (options.kind === 'g' && delta < 0) {
      report({ kind: 'negative-increment', message: `g-counter add of ${delta}`, ops: opsOf(add) });
    }
  }
  // The last event touching an add: reads invoked after it are final.
  let lastAddEvent = -1;
  for (const add of adds) lastAddEvent = Math.max(lastAddEvent, add.ret === RETURN_NEVER ? add.call : add.ret);
  const checked = options.reads === 'all' ? reads : reads.filter((r) => r.call > lastAddEvent);
  for (const read of checked) {
    let lower = 0;
    let upper = 0;
    for (const add of adds) {
      const delta = typeof add.input === 'number' ? add.input : 0;
      const definitelyBefore = add.status === 'ok' && add.ret < read.call;
      const possiblyBefore = add.call < read.ret;
      if (delta >= 0) {
        if (definitelyBefore) lower += delta;
        if (possiblyBefore) upper += delta;
      } else {
        if (possiblyBefore) lower += delta;
        if (definitelyBefore) upper += delta;
      }
    }
    const value = read.output;
    if (typeof value !== 'number' || value < lower || value > upper) {
      report({
        kind: 'out-of-bounds',
        message: `read ${String(value)} outside [${lower}, ${upper}]`,
        ops: opsOf(read),
      });
    }
  }
  const stats = {
    ops: operations.length,
    infoOps: operations.filter((o) => o.status === 'info').length,
    statesExplored: checked.length,
    memoEntries: 0,
    elapsedMs: 0,
    partitions: 1,
  };
  if (anomalyCount === 0) return { verdict: 'valid', anomalies, stats };
  return { verdict: 'invalid', reason: `${anomalyCount} anomalies, first: ${anomalies[0]?.message}`, anomalies, stats };
}
