// Sequential consistency per key, for registers whose written values are unique (Lamport 1979:
// one total order of all operations that respects every process's program order, in which each
// read returns the latest write). Real time is ignored: that is the difference from
// linearizability, and why this check suits stores that promise only per-session order.
//
// Method: each process's observations of a key (the values it reads, the values it writes, a
// cas's `from` then `to`) form a chain; consecutive distinct values v, u in that chain mean
// "write(v) precedes write(u)" in any witness order. The key is sequentially consistent iff this
// graph of writes is acyclic: given a topological order of the writes, place each process's reads
// right after the write they observed — every process's values are non-decreasing in that order,
// so program order is kept. (For registers with unique values and plain read/write this is exact;
// with cas it is a necessary condition only: cas atomicity is not checked, so a cas anomaly may
// pass. It never reports a false anomaly.)
// Observing the initial value after any write is a cycle through "initial precedes every write".
// Reads of values never written (read-of-unwritten-value) or written only by failed ops
// (failed-write-visible) are anomalies; values written more than once break the chain (their
// order is ambiguous) and are counted in stats.ambiguousValues.
//
// Stats counters: observations, edges, ambiguousValues, cycles.
import { AssertionError } from '../../lib/assert.ts';
import type { History } from '../history.ts';
import {
  AnomalySink,
  buildWriteOrder,
  canonicalKey,
  casArgs,
  groupBy,
  isNil,
  type PairedOp,
  pairOps,
  rolesOf,
  showValue,
  describeOp,
} from './ops.ts';
import type { ConsistencyOptions, ConsistencyResult } from './types.ts';

/** Edges of the cycle shown in an anomaly's detail. */
export const CYCLE_EDGES_SHOWN_MAX = 8;

const INITIAL = '\u0000initial';

interface Edge {
  readonly to: string;
  /** The op at which the process moved from `from` to `to`. */
  readonly op: PairedOp;
}

export function checkSequential(history: History, options: ConsistencyOptions = {}): ConsistencyResult {
  const roles = rolesOf(options);
  const { ops } = pairOps(history, options);
  const order = buildWriteOrder(ops, roles, options);
  const sink = new AnomalySink();
  let observations = 0;
  let edges = 0;
  let cycles = 0;
  const byKey = groupBy(ops, (op) => op.key);
  for (const [key, keyOps] of byKey) {
    const graph = new Map<string, Map<string, Edge>>();
    const shown = new Map<string, unknown>();
    const node = (op: PairedOp, value: unknown, asRead: boolean): string | undefined => {
      const position = order.position(key, value);
      if (position === undefined) {
        if (asRead)
          sink.add(
            'read-of-unwritten-value',
            op,
            `${describeOp(op)} observed ${showValue(value)}, which was never written`,
          );
        return undefined;
      }
      if (position.onlyFailed) {
        if (asRead) {
          sink.add(
            'failed-write-visible',
            op,
            `${describeOp(op)} observed ${showValue(value)}, whose every write failed`,
            position.write === undefined ? [] : [position.write],
          );
        }
        return undefined;
      }
      if (position.ambiguous) return undefined;
      if (position.write === undefined) return INITIAL;
      const id = canonicalKey(value);
      shown.set(id, value);
      return id;
    };
    for (const session of groupBy(keyOps, (op) => String(op.process)).values()) {
      let previous: string | undefined;
      let previousOp: PairedOp | undefined;
      const visit = (op: PairedOp, value: unknown, asRead: boolean): void => {
        observations++;
        const current = node(op, value, asRead);
        if (current === undefined) {
          previous = undefined;
          return;
        }
        if (previous !== undefined && previous !== current) {
          if (current === INITIAL) {
            cycles++;
            sink.add(
              'sequential-cycle',
              op,
              `${describeOp(op)} observed the initial value after p${String(op.process)} had observed ${showValue(shown.get(previous))} (op ${previousOp?.invoke.index ?? '?'}); no order of writes explains it`,
              previousOp === undefined ? [] : [previousOp],
            );
          } else {
            let out = graph.get(previous);
            if (out === undefined) graph.set(previous, (out = new Map()));
            if (!out.has(current)) {
              out.set(current, { to: current, op });
              edges++;
            }
          }
        }
        previous = current;
        previousOp = op;
      };
      for (const op of session) {
        const readLike = roles.read(op) || roles.finalRead(op);
        if (readLike && op.status === 'ok') {
          if (isNil(op.output) && options.nilReadIsUnknown === true) continue;
          visit(op, op.output, true);
        } else if (roles.write(op) && op.status !== 'fail') {
          visit(op, op.input, false);
        } else if (roles.cas(op) && op.status !== 'fail') {
          const args = casArgs(op.input);
          if (args === undefined) continue;
          // An indeterminate cas is only a possible write of `to` (dropping its read of `from`
          // only removes constraints, so it cannot cause a false anomaly).
          if (op.status === 'ok') visit(op, args[0], true);
          visit(op, args[1], false);
        }
      }
    }
    for (const cycle of findCycles(graph)) {
      cycles++;
      const path = cycle.map((e) => showValue(shown.get(e.to))).slice(0, CYCLE_EDGES_SHOWN_MAX);
      const witnesses = cycle
        .slice(0, CYCLE_EDGES_SHOWN_MAX)
        .map((e) => `p${String(e.op.process)} reached ${showValue(shown.get(e.to))} at op ${e.op.invoke.index}`);
      const last = cycle[cycle.length - 1]!;
      sink.add(
        'sequential-cycle',
        last.op,
        `${key === '' ? '' : `key ${key}: `}processes observed writes in incompatible orders: ${path.join(' → ')} → ${path[0]}${cycle.length > CYCLE_EDGES_SHOWN_MAX ? ' …' : ''} (${witnesses.join('; ')})`,
        cycle.map((e) => e.op),
      );
    }
  }
  return sink.result('sequential', {
    ops: ops.length,
    keys: byKey.size,
    observations,
    edges,
    ambiguousValues: order.ambiguousValues,
    cycles,
  });
}

/**
 * One cycle per non-trivial strongly connected component (Tarjan, iterative so deep graphs cannot
 * overflow the stack). Each cycle is returned as its edges in order.
 */
export function findCycles(graph: ReadonlyMap<string, ReadonlyMap<string, Edge>>): Edge[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let counter = 0;
  const successors = (n: string): string[] => [...(graph.get(n)?.keys() ?? [])];
  for (const root of graph.keys()) {
    if (index.has(root)) continue;
    const work: Array<{ node: string; next: string[]; at: number }> = [];
    const open = (n: string) => {
      index.set(n, counter);
      low.set(n, counter);
      counter++;
      stack.push(n);
      onStack.add(n);
      work.push({ node: n, next: successors(n), at: 0 });
    };
    open(root);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      if (frame.at < frame.next.length) {
        const m = frame.next[frame.at++]!;
        if (!index.has(m)) open(m);
        else if (onStack.has(m)) low.set(frame.node, Math.min(low.get(frame.node)!, index.get(m)!));
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent !== undefined) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(frame.node)!));
      if (low.get(frame.node) === index.get(frame.node)) {
        const component: string[] = [];
        let m: string;
        do {
          m = stack.pop()!;
          onStack.delete(m);
          component.push(m);
        } while (m !== frame.node);
        if (component.length > 1) components.push(component);
      }
    }
  }
  return components.map((component) => cycleIn(graph, new Set(component), component[0]!));
}

/** A shortest cycle through `start` inside one strongly connected component (BFS). */
function cycleIn(
  graph: ReadonlyMap<string, ReadonlyMap<string, Edge>>,
  members: ReadonlySet<string>,
  start: string,
): Edge[] {
  const via = new Map<string, { from: string; edge: Edge }>();
  const queue: string[] = [start];
  for (let head = 0; head < queue.length; head++) {
    const n = queue[head]!;
    for (const edge of graph.get(n)?.values() ?? []) {
      if (!members.has(edge.to) || via.has(edge.to)) continue;
      via.set(edge.to, { from: n, edge });
      if (edge.to === start) {
        const cycle: Edge[] = [];
        let at = start;
        do {
          const step = via.get(at)!;
          cycle.push(step.edge);
          at = step.from;
        } while (at !== start);
        return cycle.reverse();
      }
      queue.push(edge.to);
    }
  }
  throw new AssertionError('cycleIn: no cycle in a strongly connected component');
}
