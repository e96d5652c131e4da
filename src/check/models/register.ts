// Register models: a read/write register and a compare-and-set register. Pure.
//
// Operations (Jepsen's shapes):
//   {f: 'read',  output: v}           ok iff v equals the current value
//   {f: 'write', input: v}            sets the value
//   {f: 'cas',   input: [from, to]}   ok completion: requires current == from, sets `to`
//                                     output `false`: an observed compare failure (etcd
//                                     convention): requires current != from, no change
//   {f: 'incr',  output: n}           casIncrRegisterModel (n as decimal text or a number below
//                                     2^53): Redis' INCR on a register of
//                                     decimal strings; ok: requires current == String(n - 1)
//                                     (null counts as "0"), sets String(n); info: adds one when
//                                     the current value is an integer (else, like Redis, no change)
// Options:
//   initial         the value before any write (Knossos: 0; etcd logs: nil)
//   nilReadUnknown  a read that returned nil says nothing (Knossos: reads of nil are dropped)
// Reads that never completed (info) constrain nothing and are dropped by `keep`.
import type { Model, Operation, StepResult } from '../types.ts';
import { hashValue, isNil, scalarKey, showValue, valueEquals } from './values.ts';

export interface RegisterOptions {
  readonly initial?: unknown;
  readonly nilReadUnknown?: boolean;
}

const FAIL: StepResult<never> = { ok: false };

function statusSuffix(op: Operation): string {
  return op.status === 'info' ? ' (info)' : '';
}

function registerBase(name: string, options: RegisterOptions): Omit<Model<unknown>, 'step'> {
  const initial = options.initial === undefined ? null : options.initial;
  const nilReadUnknown = options.nilReadUnknown ?? false;
  return {
    name,
    init: () => initial,
    hash: hashValue,
    equal: valueEquals,
    stateKey: scalarKey,
    describeState: showValue,
    readOnly(op: Operation): boolean {
      return op.status === 'ok' && (op.f === 'read' || (op.f === 'cas' && op.output === false));
    },
    keep(op: Operation): boolean {
      if (op.f !== 'read') return true;
      if (op.status === 'info') return false;
      return !(nilReadUnknown && isNil(op.output));
    },
    describe(op: Operation): string {
      const p = `p${String(op.process)}`;
      if (op.f === 'read') return `${p} read → ${op.status === 'ok' ? showValue(op.output) : '?'}`;
      if (op.f === 'cas') {
        const pair = Array.isArray(op.input) ? op.input : [];
        const outcome = op.output === false ? ' → false' : '';
        return `${p} cas ${showValue(pair[0])}→${showValue(pair[1])}${outcome}${statusSuffix(op)}`;
      }
      return `${p} ${op.f} ${showValue(op.input)}${statusSuffix(op)}`;
    },
  };
}

function stepReadWrite(state: unknown, op: Operation, nilReadUnknown: boolean): StepResult<unknown> | undefined {
  if (op.f === 'read') {
    if (op.status === 'info' || (nilReadUnknown && isNil(op.output))) return { ok: true, state };
    return valueEquals(state, op.output) ? { ok: true, state } : FAIL;
  }
  if (op.f === 'write') return { ok: true, state: op.input };
  return undefined;
}

/** A read/write register. Unknown `f` values never linearize. */
export function registerModel(options: RegisterOptions = {}): Model<unknown> {
  return {
    ...registerBase('register', options),
    step: (state, op) => stepReadWrite(state, op, options.nilReadUnknown ?? false) ?? FAIL,
  };
}

/** A compare-and-set register (read, write, cas). */
export function casRegisterModel(options: RegisterOptions = {}): Model<unknown> {
  return {
    ...registerBase('cas-register', options),
    step(state, op) {
      const rw = stepReadWrite(state, op, options.nilReadUnknown ?? false);
      if (rw !== undefined) return rw;
      if (op.f !== 'cas' || !Array.isArray(op.input) || op.input.length !== 2) return FAIL;
      const matches = valueEquals(state, op.input[0]);
      if (op.output === false) return matches ? FAIL : { ok: true, state };
      return matches ? { ok: true, state: op.input[1] } : FAIL;
    },
  };
}

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);

/**
 * A compare-and-set register whose values are decimal strings, with INCR (a fetch-and-add: Redis'
 * INCR at SERIAL, test/sim/store-serial-sim.test.ts). An INCR that answered n linearizes only
 * where the register held n - 1; one whose answer is unknown adds one wherever it linearizes.
 */
export function casIncrRegisterModel(options: RegisterOptions = {}): Model<unknown> {
  const cas = casRegisterModel(options);
  return {
    ...cas,
    name: 'cas-incr-register',
    step(state, op) {
      if (op.f !== 'incr') return cas.step(state, op);
      const current = isNil(state) ? '0' : state;
      // Redis' string2ll: no sign on zero, no leading zeros, no blanks, within int64; past
      // INT64_MAX an INCR is refused (overflow), so it cannot have answered.
      const n = typeof current === 'string' && /^(0|-?[1-9][0-9]{0,18})$/.test(current) ? BigInt(current) : undefined;
      if (n === undefined || n < INT64_MIN || n >= INT64_MAX) return op.status === 'ok' ? FAIL : { ok: true, state };
      const next = String(n + 1n);
      if (op.status !== 'ok') return { ok: true, state: next };
      return String(op.output) === next ? { ok: true, state: next } : FAIL;
    },
    describe(op: Operation): string {
      if (op.f !== 'incr') return cas.describe(op);
      return `p${String(op.process)} incr → ${op.status === 'ok' ? showValue(op.output) : '?'}${statusSuffix(op)}`;
    },
  };
}
