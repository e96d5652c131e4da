// Set (add, read) and FIFO queue (enqueue, dequeue) models. Pure; states are immutable arrays.
//   set:   {f: 'add', input: x}        adds x
//          {f: 'read', output: [x..]}  ok iff the list, as a set, equals the current set
//   queue: {f: 'enqueue', input: x}    appends x
//          {f: 'dequeue', output: x}   ok iff x is the head (nil: iff the queue is empty);
//                                      an indeterminate dequeue removes the head if any
import type { Model, Operation, StepResult } from '../types.ts';
import { canonicalKey, hashValue, isNil, showValue, valueEquals } from './values.ts';

const FAIL: StepResult<never> = { ok: false };

/** Canonical text of an element: set membership is by structural value, key order ignored. */
const canonical = canonicalKey;

/** A read's distinct members as sorted canonical keys, computed once per op (the search steps it often). */
const readKeys = new WeakMap<Operation, readonly string[]>();
function membersOf(op: Operation, output: readonly unknown[]): readonly string[] {
  let keys = readKeys.get(op);
  if (keys === undefined) {
    keys = [...new Set(output.map(canonical))].sort();
    readKeys.set(op, keys);
  }
  return keys;
}

function describeOp(f: string, process: unknown, value: unknown, info: boolean): string {
  return `p${String(process)} ${f} ${showValue(value)}${info ? ' (info)' : ''}`;
}

/** State: the sorted canonical texts of the members. */
export function setModel(): Model<readonly string[]> {
  return {
    name: 'set',
    init: () => [],
    step(state, op) {
      if (op.f === 'add') {
        const key = canonical(op.input);
        if (state.includes(key)) return { ok: true, state };
        return { ok: true, state: [...state, key].sort() };
      }
      if (op.f !== 'read') return FAIL;
      if (op.status === 'info') return { ok: true, state };
      if (!Array.isArray(op.output)) return FAIL;
      const seen = membersOf(op, op.output);
      return seen.length === state.length && seen.every((k, i) => k === state[i]) ? { ok: true, state } : FAIL;
    },
    hash(state) {
      let h = 0x3c6ef372;
      for (const k of state) h ^= hashValue(k);
      return h >>> 0;
    },
    equal: (a, b) => a.length === b.length && a.every((k, i) => k === b[i]),
    keep: (op) => !(op.f === 'read' && op.status === 'info'),
    describe: (op) => describeOp(op.f, op.process, op.f === 'read' ? op.output : op.input, op.status === 'info'),
    describeState: (state) => `#{${state.join(' ')}}`,
  };
}

export function queueModel(): Model<readonly unknown[]> {
  return {
    name: 'queue',
    init: () => [],
    step(state, op) {
      if (op.f === 'enqueue') return { ok: true, state: [...state, op.input] };
      if (op.f !== 'dequeue') return FAIL;
      if (op.status === 'info') return { ok: true, state: state.length === 0 ? state : state.slice(1) };
      if (isNil(op.output)) return state.length === 0 ? { ok: true, state } : FAIL;
      return state.length > 0 && valueEquals(state[0], op.output) ? { ok: true, state: state.slice(1) } : FAIL;
    },
    hash(state) {
      let h = 0x510e527f ^ state.length;
      for (const v of state) h = Math.imul(h ^ hashValue(v), 0x01000193);
      return h >>> 0;
    },
    equal: (a, b) => a.length === b.length && a.every((v, i) => valueEquals(v, b[i])),
    describe: (op) => describeOp(op.f, op.process, op.f === 'dequeue' ? op.output : op.input, op.status === 'info'),
    describeState: (state) => showValue(state),
  };
}
