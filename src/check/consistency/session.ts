// Session guarantees (Terry et al., "Session Guarantees for Weakly Consistent Replicated Data",
// PDIS 1994), checked per process and per key:
//   read-your-writes: a read after the process's own acknowledged write observes that write or a
//                     later one;
//   monotonic reads:  a process's successive reads never observe an older value than one it
//                     already observed.
// "Older" is the write order of ops.ts: with `versionOf`, a lower version; otherwise the real-time
// order of acknowledged writes of unique values (u is older than v iff u's write completed before
// v's write was invoked). Concurrent writes are unordered, so they never raise an anomaly.
//
// Stats counters: reads (ok reads examined), unorderedReads (reads of values with no position:
// never written, or only by failed writes — left to the sequential check), ambiguousValues.
import type { History } from '../history.ts';
import {
  AnomalySink,
  buildWriteOrder,
  casArgs,
  describeOp,
  groupBy,
  isNil,
  type OrderPosition,
  type PairedOp,
  pairOps,
  type Roles,
  rolesOf,
  showValue,
  writtenValue,
} from './ops.ts';
import type { ConsistencyOptions, ConsistencyResult } from './types.ts';

/** The value an ok op observed (read: its output; cas: `from`), or undefined. */
export function observedValue(op: PairedOp, roles: Roles, options: ConsistencyOptions): { value: unknown } | undefined {
  if (op.status !== 'ok') return undefined;
  let value: unknown;
  if (roles.read(op) || roles.finalRead(op)) value = op.output;
  else if (roles.cas(op)) {
    const args = casArgs(op.input);
    if (args === undefined) return undefined;
    value = args[0];
  } else return undefined;
  if (isNil(value) && options.nilReadIsUnknown === true) return undefined;
  return { value };
}

function sessions(history: History, options: ConsistencyOptions) {
  const roles = rolesOf(options);
  const { ops } = pairOps(history, options);
  const order = buildWriteOrder(ops, roles, options);
  const perSession = groupBy(ops, (op) => `${String(op.process)}\u0000${op.key}`);
  const keys = new Set(ops.map((op) => op.key)).size;
  return { roles, ops, order, perSession, keys };
}

function describeOrder(older: OrderPosition, newer: OrderPosition, options: ConsistencyOptions): string {
  if (options.versionOf !== undefined) return `version ${older.hi} < ${newer.lo}`;
  if (older.write === undefined) return 'the initial value precedes every write';
  return `its write (op ${older.write.invoke.index}) completed before op ${newer.write?.invoke.index ?? '?'} began`;
}

export function checkReadYourWrites(history: History, options: ConsistencyOptions = {}): ConsistencyResult {
  const { roles, ops, order, perSession, keys } = sessions(history, options);
  const sink = new AnomalySink();
  let reads = 0;
  let unorderedReads = 0;
  for (const session of perSession.values()) {
    let lastWrite: { op: PairedOp; position: OrderPosition } | undefined;
    for (const op of session) {
      const observed = observedValue(op, roles, options);
      if (observed !== undefined) {
        reads++;
        const position = order.position(op.key, observed.value);
        if (position === undefined || position.onlyFailed) unorderedReads++;
        else if (lastWrite !== undefined && position.hi < lastWrite.position.lo) {
          sink.add(
            'read-your-writes',
            op,
            `${describeOp(op)} observed ${showValue(observed.value)} after its own acknowledged write ${describeOp(lastWrite.op)}; ${showValue(observed.value)} is older: ${describeOrder(position, lastWrite.position, options)}`,
            [lastWrite.op],
          );
        }
      }
      const written = writtenValue(op, roles);
      if (written !== undefined && op.status === 'ok') {
        const position = order.position(op.key, written.value);
        if (position !== undefined) lastWrite = { op, position };
      }
    }
  }
  return sink.result('read-your-writes', {
    ops: ops.length,
    keys,
    reads,
    unorderedReads,
    ambiguousValues: order.ambiguousValues,
  });
}

export function checkMonotonicReads(history: History, options: ConsistencyOptions = {}): ConsistencyResult {
  const { roles, ops, order, perSession, keys } = sessions(history, options);
  const sink = new AnomalySink();
  let reads = 0;
  let unorderedReads = 0;
  for (const session of perSession.values()) {
    // The newest value observed so far, as the one with the greatest `lo`: u is older than some
    // observed value iff u.hi < max(lo) (an interval order needs only that one number).
    let newest: { op: PairedOp; position: OrderPosition; value: unknown } | undefined;
    for (const op of session) {
      const observed = observedValue(op, roles, options);
      if (observed === undefined) continue;
      reads++;
      const position = order.position(op.key, observed.value);
      if (position === undefined || position.onlyFailed) {
        unorderedReads++;
        continue;
      }
      if (newest !== undefined && position.hi < newest.position.lo) {
        sink.add(
          'monotonic-reads',
          op,
          `${describeOp(op)} observed ${showValue(observed.value)} after ${describeOp(newest.op)} had observed ${showValue(newest.value)}; ${showValue(observed.value)} is older: ${describeOrder(position, newest.position, options)}`,
          [newest.op],
        );
      }
      if (newest === undefined || position.lo > newest.position.lo) newest = { op, position, value: observed.value };
    }
  }
  return sink.result('monotonic-reads', {
    ops: ops.length,
    keys,
    reads,
    unorderedReads,
    ambiguousValues: order.ambiguousValues,
  });
}
