// Multi-register / key-value map: get (read), put (write), append, cas on single keys, and txn
// over several keys (Knossos' multi-register: [[:read :x nil] [:write :y 2]]). Pure.
//
// Shapes: the key is `op.key` (Porcupine KV, our JSONL) or the first element of a `[k v]` tuple
// value (Jepsen's independent keys: {:f :read, :value [3 nil]} → key "3", value nil).
//   get/read     output v                   ok iff v equals the key's value (absent: `initial`)
//   put/write    input v                    sets the key
//   append       input v                    strings concatenate (Porcupine); otherwise lists grow
//   cas          input [from, to]           ok iff the value equals from; output false = observed
//                                           compare failure (etcd convention)
//   txn          input/output [[f k v] ...] micro-ops read/write/append, applied in order
// P-compositional: every single-key op partitions by its key; a txn touching several keys
// returns undefined from partitionKey and the history is then checked whole.
import type { Model, Operation, StepResult, StringRegister, StringRegisterOp } from '../types.ts';
import { hashValue, isNil, mix32, scalarKey, showValue, valueEquals } from './values.ts';

export interface KvOptions {
  /** Value of a key never written (Porcupine KV: ''; Knossos multi-register: 0). Default nil. */
  readonly initial?: unknown;
  /** A read of nil constrains nothing (Knossos). Default false. */
  readonly nilReadUnknown?: boolean;
}

export type KvState = ReadonlyMap<string, unknown>;

const FAIL: StepResult<never> = { ok: false };

interface Access {
  readonly key: string;
  readonly arg: unknown;
  readonly result: unknown;
}

function keyName(value: unknown): string {
  return typeof value === 'string' ? value : showValue(value);
}

/** Key, argument and result of a single-key op; undefined when the op names no key. */
function access(op: Operation): Access | undefined {
  if (op.key !== undefined) return { key: op.key, arg: op.input, result: op.output };
  if (!Array.isArray(op.input) || op.input.length !== 2) return undefined;
  const result = Array.isArray(op.output) && op.output.length === 2 ? op.output[1] : op.output;
  return { key: keyName(op.input[0]), arg: op.input[1], result };
}

function microOps(op: Operation): unknown[] | undefined {
  const source = op.status === 'ok' && Array.isArray(op.output) ? op.output : op.input;
  return Array.isArray(source) ? source : undefined;
}

export function kvModel(options: KvOptions = {}): Model<KvState> {
  const initial = options.initial === undefined ? null : options.initial;
  const nilReadUnknown = options.nilReadUnknown ?? false;
  const get = (state: KvState, key: string): unknown => (state.has(key) ? state.get(key) : initial);
  const set = (state: KvState, key: string, value: unknown): KvState => new Map(state).set(key, value);
  const readOk = (state: KvState, key: string, observed: unknown, definite: boolean): boolean =>
    !definite || (nilReadUnknown && isNil(observed)) || valueEquals(get(state, key), observed);
  const appended = (current: unknown, arg: unknown): unknown => {
    if (typeof arg === 'string' && (typeof current === 'string' || isNil(current))) return `${current ?? ''}${arg}`;
    return [...(Array.isArray(current) ? current : isNil(current) ? [] : [current]), arg];
  };

  function stepTxn(state: KvState, op: Operation): StepResult<KvState> {
    const micro = microOps(op);
    if (micro === undefined) return FAIL;
    let s = state;
    for (const m of micro) {
      if (!Array.isArray(m) || m.length !== 3) return FAIL;
      const [f, k, v] = m as [unknown, unknown, unknown];
      const key = keyName(k);
      if (f === 'read' || f === 'r') {
        if (!readOk(s, key, v, op.status === 'ok')) return FAIL;
      } else if (f === 'write' || f === 'w') s = set(s, key, v);
      else if (f === 'append') s = set(s, key, appended(get(s, key), v));
      else return FAIL;
    }
    return { ok: true, state: s };
  }

  /** One key's string ops as a string register (see Model.stringRegister), or undefined. */
  function stringRegister(ops: readonly Operation[]): StringRegister | undefined {
    if (typeof initial !== 'string') return undefined;
    let key: string | undefined;
    const actions: StringRegisterOp[] = [];
    for (const op of ops) {
      const a = op.f === 'txn' ? undefined : access(op);
      if (a === undefined || (key !== undefined && a.key !== key)) return undefined;
      key = a.key;
      if (op.f === 'get' || op.f === 'read') {
        // As readOk: an indefinite read, or a nil read when those constrain nothing, always fits.
        if (op.status !== 'ok' || (nilReadUnknown && isNil(a.result))) actions.push({ kind: 'none', value: '' });
        else if (typeof a.result === 'string') actions.push({ kind: 'read', value: a.result });
        else return undefined;
      } else if ((op.f === 'put' || op.f === 'write' || op.f === 'append') && typeof a.arg === 'string') {
        actions.push({ kind: op.f === 'append' ? 'append' : 'write', value: a.arg });
      } else return undefined;
    }
    return { initial, ops: actions };
  }

  return {
    name: 'kv',
    init: () => new Map(),
    step(state, op) {
      if (op.f === 'txn') return stepTxn(state, op);
      const a = access(op);
      if (a === undefined) return FAIL;
      switch (op.f) {
        case 'get':
        case 'read':
          return readOk(state, a.key, a.result, op.status === 'ok') ? { ok: true, state } : FAIL;
        case 'put':
        case 'write':
          return { ok: true, state: set(state, a.key, a.arg) };
        case 'append':
          return { ok: true, state: set(state, a.key, appended(get(state, a.key), a.arg)) };
        case 'cas': {
          if (!Array.isArray(a.arg) || a.arg.length !== 2) return FAIL;
          const matches = valueEquals(get(state, a.key), a.arg[0]);
          if (a.result === false) return matches ? FAIL : { ok: true, state };
          return matches ? { ok: true, state: set(state, a.key, a.arg[1]) } : FAIL;
        }
        default:
          return FAIL;
      }
    },
    hash(state) {
      let h = 0x1b873593;
      for (const [k, v] of state) {
        if (valueEquals(v, initial)) continue; // a key at its initial value equals an absent key
        h ^= mix32(hashValue(k) + Math.imul(hashValue(v), 31));
      }
      return h >>> 0;
    },
    stateKey(state) {
      // Keys at their initial value are left out (as in hash/equal); the rest in key order, each
      // value length-prefixed so no value can mimic a key boundary.
      // One key (a partition's state) is the hot case: no key array, no sort.
      const keys = state.size > 1 ? [...state.keys()].sort() : state.keys();
      let text = '';
      for (const k of keys) {
        const v = state.get(k);
        if (valueEquals(v, initial)) continue;
        const value = scalarKey(v);
        if (value === undefined) return undefined;
        const shown = typeof value === 'number' ? `d${value}` : value;
        text += `${k.length}:${k}${shown.length}:${shown}`;
      }
      return text;
    },
    equal(a, b) {
      for (const [k, v] of a) if (!valueEquals(v, get(b, k))) return false;
      for (const [k, v] of b) if (!valueEquals(v, get(a, k))) return false;
      return true;
    },
    stringRegister,
    readOnly(op) {
      if (op.status !== 'ok') return false;
      if (op.f === 'get' || op.f === 'read') return true;
      if (op.f === 'cas') return access(op)?.result === false;
      if (op.f !== 'txn') return false;
      const micro = microOps(op);
      return micro?.every((m) => Array.isArray(m) && (m[0] === 'read' || m[0] === 'r')) === true;
    },
    keep(op) {
      if (op.f === 'txn') return true;
      if ((op.f === 'get' || op.f === 'read') && op.status === 'info') return false;
      return true;
    },
    partitionKey(op) {
      if (op.f !== 'txn') return access(op)?.key;
      let key: string | undefined;
      for (const m of microOps(op) ?? []) {
        if (!Array.isArray(m) || m.length !== 3) return undefined;
        const k = keyName(m[1]);
        if (key !== undefined && key !== k) return undefined;
        key = k;
      }
      return key;
    },
    describe(op) {
      const suffix = op.status === 'info' ? ' (info)' : '';
      if (op.f === 'txn') return `p${String(op.process)} txn ${showValue(microOps(op))}${suffix}`;
      const a = access(op);
      if (a === undefined) return `p${String(op.process)} ${op.f} ${showValue(op.input)}${suffix}`;
      const shown = op.f === 'get' || op.f === 'read' ? `→ ${showValue(a.result)}` : showValue(a.arg);
      return `p${String(op.process)} ${op.f} ${a.key} ${shown}${suffix}`;
    },
    describeState: (state) => showValue(Object.fromEntries(state)),
  };
}
