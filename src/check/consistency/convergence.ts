// Convergence: after the partition heals and writes stop, every replica answers a final read of
// every key with the same value. This is the liveness half of eventual consistency: a store may
// disagree while partitioned, but a healed, quiet cluster must agree.
//
// Input: ok ops whose f is a final read (options.finalReadFs), the replica that served each
// (options.replicaOf, default the process). The last ok final read per (key, replica) counts.
// Collections are compared as multisets unless options.unordered === false.
//
// Verdict: invalid when some key has replicas reading different values (one anomaly per replica
// outside the largest agreeing group); unknown when there are no final reads, or an expected
// replica never answered one; valid otherwise.
// Stats counters: finalReads, replicas, failedFinalReads (fail or info: no value).
import type { History } from '../history.ts';
import { AnomalySink, canonicalKey, elementsOf, groupBy, type PairedOp, pairOps, rolesOf, showValue } from './ops.ts';
import type { ConsistencyOptions, ConsistencyResult } from './types.ts';

/** Identity of a final-read value; collections as sorted multisets when unordered. */
export function comparableKey(value: unknown, unordered: boolean): string {
  const elements = unordered ? elementsOf(value) : undefined;
  if (elements === undefined) return canonicalKey(value);
  return `#[${elements
    .map((e) => canonicalKey(e))
    .sort()
    .join(' ')}]`;
}

export function checkConvergence(history: History, options: ConsistencyOptions = {}): ConsistencyResult {
  const roles = rolesOf(options);
  const replicaOf = options.replicaOf ?? ((op) => String(op.process));
  const unordered = options.unordered ?? true;
  const { ops } = pairOps(history, options);
  const finals = ops.filter((op) => roles.finalRead(op));
  const answered = finals.filter((op) => op.status === 'ok');
  const sink = new AnomalySink();
  const replicas = new Set(answered.map((op) => replicaOf(op.completion ?? op.invoke)));
  let unknownReason: string | undefined;
  if (answered.length === 0) {
    unknownReason = `no ok final reads (f in ${(options.finalReadFs ?? ['final-read', 'final_read']).join(', ')})`;
  }
  const byKey = groupBy(answered, (op) => op.key);
  for (const [key, reads] of byKey) {
    // The last final read per replica: earlier ones may predate the heal.
    const latest = new Map<string, PairedOp>();
    for (const op of reads) latest.set(replicaOf(op.completion ?? op.invoke), op);
    for (const expected of options.expectedReplicas ?? []) {
      if (!latest.has(expected) && unknownReason === undefined) {
        unknownReason = `replica ${expected} has no ok final read of key ${key === '' ? '(default)' : key}`;
      }
    }
    const groups = groupBy([...latest.entries()], ([, op]) => comparableKey(op.output, unordered));
    if (groups.size <= 1) continue;
    const sorted = [...groups.values()].sort((a, b) => b.length - a.length || a[0]![0].localeCompare(b[0]![0]));
    const majority = sorted[0]!;
    const majorityNames = majority.map(([name]) => name).join(', ');
    const majorityValue = showValue(majority[0]![1].output);
    for (const group of sorted.slice(1)) {
      for (const [name, op] of group) {
        sink.add(
          'divergent-replica',
          op,
          `replica ${name} read ${showValue(op.output)}${key === '' ? '' : ` for key ${key}`}; ${majority.length} of ${latest.size} replicas (${majorityNames}) read ${majorityValue}`,
          [majority[0]![1]],
        );
      }
    }
  }
  return sink.result(
    'convergence',
    {
      ops: ops.length,
      keys: byKey.size,
      finalReads: answered.length,
      replicas: replicas.size,
      failedFinalReads: finals.length - answered.length,
    },
    unknownReason,
  );
}
