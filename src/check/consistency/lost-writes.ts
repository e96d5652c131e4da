// No lost acknowledged writes (Jepsen's set checker, generalised): every write the store
// acknowledged before a final read began must be visible in that final read.
//
// Final reads are ok ops whose f is in options.finalReadFs; when a history has none, the last ok
// read of each key (by completion) stands in (stats.finalReadsFallback = 1).
//
// Collections (the final read returns an array or Set; writes are add/append):
//   lost-write             an ok add, acknowledged before the final read was invoked, is absent;
//   failed-write-visible   an element whose every add failed (definitely did not happen) is present;
//   unexpected-value       an element nobody tried to add is present;
//   duplicate-value        an element is present more often than it was added.
//   Never-acknowledged adds (info / no completion) may be absent or present: counted, not flagged
//   (indeterminateAbsent / recovered); absent failed adds are counted as failedAbsent. Adds acknowledged after the read began are counted as
//   concurrentAbsent when absent.
// Registers (the final read returns a single value u):
//   lost-write             an ok write v acknowledged before the final read began is newer than u
//                          (u's write completed before v's began, or versionOf(u) < versionOf(v));
//   failed-write-visible / unexpected-value as above, for u.
import type { History } from '../history.ts';
import {
  AnomalySink,
  buildWriteOrder,
  canonicalKey,
  describeOp,
  elementsOf,
  groupBy,
  isNil,
  type PairedOp,
  pairOps,
  rolesOf,
  showValue,
  writtenValue,
} from './ops.ts';
import type { ConsistencyOptions, ConsistencyResult } from './types.ts';

export function checkLostWrites(history: History, options: ConsistencyOptions = {}): ConsistencyResult {
  const roles = rolesOf(options);
  const { ops } = pairOps(history, options);
  const order = buildWriteOrder(ops, roles, options);
  const sink = new AnomalySink();
  let finals = ops.filter((op) => roles.finalRead(op) && op.status === 'ok');
  let finalReadsFallback = 0;
  if (finals.length === 0) {
    const lastRead = new Map<string, PairedOp>();
    for (const op of ops) {
      if (!roles.read(op) || op.status !== 'ok') continue;
      const previous = lastRead.get(op.key);
      if (previous === undefined || op.ret > previous.ret) lastRead.set(op.key, op);
    }
    finals = [...lastRead.values()];
    finalReadsFallback = finals.length > 0 ? 1 : 0;
  }
  const counters = {
    finalReads: finals.length,
    finalReadsFallback,
    acknowledgedVisible: 0,
    recovered: 0,
    indeterminateAbsent: 0,
    concurrentAbsent: 0,
    failedAbsent: 0,
  };
  const addsByKey = groupBy(
    ops.filter((op) => roles.add(op)),
    (op) => op.key,
  );
  const writesByKey = groupBy(
    ops.filter((op) => op.status === 'ok' && writtenValue(op, roles) !== undefined),
    (op) => op.key,
  );
  for (const final of finals) {
    const elements = elementsOf(final.output);
    if (elements !== undefined) {
      checkCollection(final, elements, addsByKey.get(final.key) ?? [], sink, counters);
      continue;
    }
    const u = final.output;
    if (isNil(u) && options.nilReadIsUnknown === true) continue;
    const position = order.position(final.key, u);
    if (position === undefined) {
      sink.add(
        'unexpected-value',
        final,
        `final read ${describeOp(final)} returned ${showValue(u)}, which was never written`,
      );
      continue;
    }
    if (position.onlyFailed) {
      sink.add(
        'failed-write-visible',
        final,
        `final read ${describeOp(final)} returned ${showValue(u)}, whose every write failed`,
        position.write === undefined ? [] : [position.write],
      );
      continue;
    }
    const uKey = canonicalKey(u);
    for (const write of writesByKey.get(final.key) ?? []) {
      const v = writtenValue(write, roles)!.value;
      if (canonicalKey(v) === uKey) {
        counters.acknowledgedVisible++;
        continue;
      }
      if (write.ret > final.call) continue;
      const vPosition = order.position(final.key, v);
      if (vPosition !== undefined && position.hi < vPosition.lo) {
        sink.add(
          'lost-write',
          write,
          `acknowledged ${describeOp(write)} is lost: final read ${describeOp(final)} returned ${showValue(u)}, which is older`,
          [final],
        );
      }
    }
  }
  const reason = finals.length === 0 ? 'no final read (and no ok read to stand in for one)' : undefined;
  return sink.result(
    'lost-writes',
    { ops: ops.length, keys: new Set(finals.map((f) => f.key)).size, ...counters },
    reason,
  );
}

function checkCollection(
  final: PairedOp,
  elements: readonly unknown[],
  adds: readonly PairedOp[],
  sink: AnomalySink,
  counters: {
    acknowledgedVisible: number;
    recovered: number;
    indeterminateAbsent: number;
    concurrentAbsent: number;
    failedAbsent: number;
  },
): void {
  const present = new Map<string, { count: number; value: unknown }>();
  for (const element of elements) {
    const k = canonicalKey(element);
    const entry = present.get(k);
    if (entry === undefined) present.set(k, { count: 1, value: element });
    else entry.count++;
  }
  const byElement = groupBy(adds, (op) => canonicalKey(op.input));
  for (const [element, attempts] of byElement) {
    const seen = present.get(element);
    const possible = attempts.filter((op) => op.status !== 'fail');
    if (seen === undefined) {
      const acked = possible.find((op) => op.status === 'ok' && op.ret < final.call);
      if (acked !== undefined) {
        sink.add(
          'lost-write',
          acked,
          `acknowledged ${describeOp(acked)} is absent from final read ${describeOp(final)}`,
          [final],
        );
      } else if (possible.some((op) => op.status === 'ok')) counters.concurrentAbsent++;
      else if (possible.length > 0) counters.indeterminateAbsent++;
      else counters.failedAbsent++;
      continue;
    }
    if (possible.length === 0) {
      sink.add(
        'failed-write-visible',
        final,
        `final read contains ${showValue(seen.value)}, whose every add failed (${describeOp(attempts[0]!)})`,
        attempts,
      );
      continue;
    }
    if (seen.count > possible.length) {
      sink.add(
        'duplicate-value',
        final,
        `final read contains ${showValue(seen.value)} ${seen.count} times; it was added at most ${possible.length}`,
        possible,
      );
    }
    if (possible.some((op) => op.status === 'ok')) counters.acknowledgedVisible++;
    else counters.recovered++;
  }
  for (const [element, seen] of present) {
    if (!byElement.has(element)) {
      sink.add(
        'unexpected-value',
        final,
        `final read ${describeOp(final)} contains ${showValue(seen.value)}, which nobody added`,
      );
    }
  }
}
