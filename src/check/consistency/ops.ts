// Building blocks shared by the consistency checks: pairing invokes with completions (keeping
// `fail`s, which the linearizability path drops but "a failed write became visible" needs),
// canonical value keys, the "older than" order between written values, and the anomaly collector.
//
// Invariants:
//   - a completion pairs with the latest open invoke of the same process (history.ts contract);
//     completions with no open invoke are counted, never guessed at;
//   - `call`/`ret` are history positions (array indices), so the order needs no clocks;
//     indeterminate ops get ret = RETURN_NEVER;
//   - canonicalKey is total and bounded: depth beyond VALUE_DEPTH_MAX collapses to a marker, so a
//     hostile file cannot blow the stack.
import type { History, Op, ProcessId } from '../history.ts';
import { RETURN_NEVER } from '../types.ts';
import {
  CONSISTENCY_ANOMALIES_MAX,
  type ConsistencyAnomaly,
  type ConsistencyAnomalyKind,
  type ConsistencyOptions,
  type ConsistencyResult,
} from './types.ts';

export { canonicalKey, VALUE_DEPTH_MAX } from '../models/values.ts';
import { canonicalKey } from '../models/values.ts';
/** Characters of a value shown in anomaly details. */
export const VALUE_SHOWN_CHARS_MAX = 80;

export interface PairedOp {
  /** Dense id in call order. */
  readonly id: number;
  readonly process: ProcessId;
  readonly f: string;
  readonly key: string;
  /** Invoke value (argument), key stripped when tupleKeys. */
  readonly input: unknown;
  /** Completion value (result), key stripped when tupleKeys; undefined unless ok. */
  readonly output: unknown;
  readonly status: 'ok' | 'fail' | 'info';
  /** History position of the invoke. */
  readonly call: number;
  /** History position of the completion; RETURN_NEVER for info / never completed. */
  readonly ret: number;
  readonly invoke: Op;
  readonly completion?: Op;
}

export interface Paired {
  readonly ops: readonly PairedOp[];
  /** Completions that had no open invoke of their process. */
  readonly unpairedCompletions: number;
}

function splitKey(op: Op, value: unknown, tupleKeys: boolean): { key: string; value: unknown } {
  if (op.key !== undefined) return { key: op.key, value };
  if (tupleKeys && Array.isArray(value) && value.length === 2) {
    return { key: canonicalKey(value[0]), value: value[1] };
  }
  return { key: '', value };
}

/** Pairs invokes with completions, in call order. */
export function pairOps(history: History, options: ConsistencyOptions = {}): Paired {
  const tupleKeys = options.tupleKeys ?? false;
  const open = new Map<ProcessId, { op: Op; position: number }>();
  const done: Array<Omit<PairedOp, 'id'>> = [];
  let unpairedCompletions = 0;
  const build = (invoke: Op, call: number, completion: Op | undefined, ret: number): Omit<PairedOp, 'id'> => {
    const status = completion === undefined ? 'info' : completion.type === 'invoke' ? 'info' : completion.type;
    const inSplit = splitKey(invoke, invoke.value, tupleKeys);
    const outSplit =
      completion !== undefined && status === 'ok' ? splitKey(completion, completion.value, tupleKeys) : undefined;
    const base = {
      process: invoke.process,
      f: invoke.f,
      key: inSplit.key,
      input: inSplit.value,
      output: outSplit?.value,
      status,
      call,
      ret: status === 'info' ? RETURN_NEVER : ret,
      invoke,
    };
    return completion === undefined ? base : { ...base, completion };
  };
  history.forEach((op, position) => {
    if (op.type === 'invoke') {
      const previous = open.get(op.process);
      // An invoke while one is open: the earlier one never completed (indeterminate).
      if (previous !== undefined) done.push(build(previous.op, previous.position, undefined, RETURN_NEVER));
      open.set(op.process, { op, position });
      return;
    }
    const pending = open.get(op.process);
    if (pending === undefined) {
      unpairedCompletions++;
      return;
    }
    open.delete(op.process);
    done.push(build(pending.op, pending.position, op, position));
  });
  for (const pending of open.values()) done.push(build(pending.op, pending.position, undefined, RETURN_NEVER));
  done.sort((a, b) => a.call - b.call);
  return { ops: done.map((op, id) => ({ ...op, id })), unpairedCompletions };
}

/** A value for humans: canonical form, truncated. */
export function showValue(value: unknown): string {
  const text = canonicalKey(value);
  return text.length <= VALUE_SHOWN_CHARS_MAX ? text : `${text.slice(0, VALUE_SHOWN_CHARS_MAX - 1)}…`;
}

/** Elements of a collection value (array or Set), or undefined when the value is not one. */
export function elementsOf(value: unknown): readonly unknown[] | undefined {
  if (Array.isArray(value)) return value;
  if (value instanceof Set) return [...value];
  return undefined;
}

export function isNil(value: unknown): boolean {
  return value === null || value === undefined;
}

/** Which role an operation plays, per the option lists. */
export interface Roles {
  read(op: PairedOp): boolean;
  write(op: PairedOp): boolean;
  cas(op: PairedOp): boolean;
  add(op: PairedOp): boolean;
  finalRead(op: PairedOp): boolean;
}

export function rolesOf(options: ConsistencyOptions): Roles {
  const reads = new Set(options.readFs ?? ['read', 'get']);
  const writes = new Set(options.writeFs ?? ['write', 'put']);
  const cases = new Set(options.casFs ?? ['cas']);
  const adds = new Set(options.addFs ?? ['add', 'append']);
  const finals = new Set(options.finalReadFs ?? ['final-read', 'final_read']);
  return {
    read: (op) => reads.has(op.f),
    write: (op) => writes.has(op.f),
    cas: (op) => cases.has(op.f),
    add: (op) => adds.has(op.f),
    finalRead: (op) => finals.has(op.f),
  };
}

/** [from, to] of a cas input, or undefined when malformed. */
export function casArgs(input: unknown): readonly [unknown, unknown] | undefined {
  if (Array.isArray(input) && input.length === 2) return [input[0], input[1]];
  return undefined;
}

/**
 * Where a value sits in the order of writes to one key, as an interval [lo, hi]:
 * value u is strictly older than v iff u.hi < v.lo.
 *   real time: lo = call of its write, hi = ret of its write (RETURN_NEVER when indeterminate);
 *              a value written several times spans all its writes (conservative: fewer anomalies);
 *   versions:  lo = hi = version;
 *   initial:   lo = hi = -1 (older than every write), merged with any write of the same value.
 */
export interface OrderPosition {
  readonly lo: number;
  readonly hi: number;
  /** The (first) write of this value, for reports; undefined for the initial value. */
  readonly write?: PairedOp;
  /** True when several writes (or the initial value and a write) share the value. */
  readonly ambiguous: boolean;
  /** True when every write of this value failed (definitely did not happen). */
  readonly onlyFailed: boolean;
}

export interface WriteOrder {
  /** Position of a value of a key; undefined for a value never written (and not initial). */
  position(key: string, value: unknown): OrderPosition | undefined;
  /** Values written to a key by more than one write. */
  readonly ambiguousValues: number;
}

/** Values a paired op writes (write: its input; ok cas: `to`). */
export function writtenValue(op: PairedOp, roles: Roles): { value: unknown } | undefined {
  if (roles.write(op)) return { value: op.input };
  if (roles.cas(op)) {
    const args = casArgs(op.input);
    if (args !== undefined) return { value: args[1] };
  }
  return undefined;
}

export function buildWriteOrder(ops: readonly PairedOp[], roles: Roles, options: ConsistencyOptions): WriteOrder {
  const versionOf = options.versionOf;
  const initialKey = canonicalKey(options.initialValue ?? null);
  const byKey = new Map<string, Map<string, OrderPosition>>();
  let ambiguousValues = 0;
  for (const op of ops) {
    const written = writtenValue(op, roles);
    if (written === undefined) continue;
    // A failed cas did not write (under either cas convention: it never reaches here as 'ok').
    // A failed write did not either, but we remember it to recognise reads of it
    // (failed-write-visible). Indeterminate writes and cas may have written: they count.
    if (roles.cas(op) && op.status === 'fail') continue;
    let positions = byKey.get(op.key);
    if (positions === undefined) byKey.set(op.key, (positions = new Map()));
    const valueKey = canonicalKey(written.value);
    const failed = op.status === 'fail';
    const lo = failed ? RETURN_NEVER : op.call;
    const hi = failed ? -1 : op.ret;
    const existing = positions.get(valueKey);
    if (existing === undefined) {
      positions.set(valueKey, { lo, hi, write: op, ambiguous: false, onlyFailed: failed });
      continue;
    }
    if (!failed && !existing.onlyFailed && !existing.ambiguous) ambiguousValues++;
    positions.set(valueKey, {
      lo: Math.min(existing.lo, lo),
      hi: Math.max(existing.hi, hi),
      ...(existing.write !== undefined && !existing.onlyFailed ? { write: existing.write } : { write: op }),
      ambiguous: existing.ambiguous || (!failed && !existing.onlyFailed),
      onlyFailed: existing.onlyFailed && failed,
    });
  }
  return {
    ambiguousValues,
    position(key, value) {
      const valueKey = canonicalKey(value);
      const written = byKey.get(key)?.get(valueKey);
      if (versionOf !== undefined) {
        const version = versionOf(value);
        if (version === undefined || written?.onlyFailed === true) return written;
        return {
          lo: version,
          hi: version,
          ambiguous: false,
          onlyFailed: false,
          ...(written?.write ? { write: written.write } : {}),
        };
      }
      if (valueKey !== initialKey) return written;
      if (written === undefined || written.onlyFailed) return { lo: -1, hi: -1, ambiguous: false, onlyFailed: false };
      return { ...written, lo: -1, ambiguous: true };
    },
  };
}

/** Collects anomalies up to CONSISTENCY_ANOMALIES_MAX and builds the result. */
export class AnomalySink {
  readonly anomalies: ConsistencyAnomaly[] = [];
  dropped = 0;

  add(kind: ConsistencyAnomalyKind, op: PairedOp, detail: string, related: readonly PairedOp[] = []): void {
    if (this.anomalies.length >= CONSISTENCY_ANOMALIES_MAX) {
      this.dropped++;
      return;
    }
    const event = op.completion ?? op.invoke;
    const relatedEvents = related.map((r) => r.completion ?? r.invoke);
    this.anomalies.push(
      relatedEvents.length > 0 ? { kind, op: event, detail, related: relatedEvents } : { kind, op: event, detail },
    );
  }

  result(
    check: string,
    counters: { ops: number; keys: number; [name: string]: number },
    unknownReason?: string,
  ): ConsistencyResult {
    const stats = { ...counters, anomaliesDropped: this.dropped };
    const total = this.anomalies.length + this.dropped;
    if (total > 0) {
      const kinds = [...new Set(this.anomalies.map((a) => a.kind))].join(', ');
      return {
        check,
        verdict: 'invalid',
        reason: `${total} anomal${total === 1 ? 'y' : 'ies'} (${kinds})`,
        anomalies: this.anomalies,
        stats,
      };
    }
    if (unknownReason !== undefined) return { check, verdict: 'unknown', reason: unknownReason, anomalies: [], stats };
    return { check, verdict: 'valid', anomalies: [], stats };
  }
}

/** `p3 read 2 (op 17)`: an op for humans. */
export function describeOp(op: PairedOp): string {
  const value = op.status === 'ok' && op.output !== undefined && op.output !== op.input ? op.output : op.input;
  const key = op.key === '' ? '' : ` [${op.key}]`;
  return `p${String(op.process)} ${op.f}${key} ${showValue(value)} (op ${op.invoke.index}, ${op.status})`;
}

/** Groups paired ops by a string key, keeping order. */
export function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = keyOf(item);
    const group = groups.get(k);
    if (group === undefined) groups.set(k, [item]);
    else group.push(item);
  }
  return groups;
}
