// Test helpers for the consistency checks (imported by tests only): a terse history builder and a
// simulator that runs a real sequential object (register with cas, or grow-only set) under random
// concurrency and crashes, producing histories that every consistency check must accept.
import type { History, Op, OpType, ProcessId } from '../history.ts';

/** `[process, type, f, value, key?]` rows → a History with indices. */
export function hist(...rows: ReadonlyArray<readonly [ProcessId, OpType, string, unknown, string?]>): History {
  return rows.map(([process, type, f, value, key], index): Op => {
    const op = { type, process, f, value, index };
    return key === undefined ? op : { ...op, key };
  });
}

export interface SimulationOptions {
  readonly object: 'register' | 'set';
  readonly processes: number;
  /** Random choices driving the schedule (from fast-check). */
  readonly tape: readonly number[];
  readonly keys: number;
  /** Replicas answering a final read at the end (all see the one object). */
  readonly finalReplicas: number;
}

interface Pending {
  readonly f: string;
  readonly key: string;
  readonly input: unknown;
  applied: boolean;
  result: unknown;
  ok: boolean;
}

/**
 * Each op takes effect atomically at one step between its invoke and its completion, so the
 * result is linearizable (hence sequentially consistent, session-consistent, lossless).
 * A crash emits `info` (before or after the effect) and retires the process id.
 */
export function simulate(options: SimulationOptions): History {
  const ops: Op[] = [];
  const emit = (type: OpType, process: ProcessId, f: string, value: unknown, key: string) => {
    ops.push({ type, process, f, value, index: ops.length, key });
  };
  const registers = new Map<string, unknown>();
  const sets = new Map<string, unknown[]>();
  const slots: Array<{ pid: number; pending?: Pending }> = [];
  for (let i = 0; i < options.processes; i++) slots.push({ pid: i });
  let nextPid = options.processes;
  let nextValue = 1;
  const apply = (p: Pending) => {
    p.applied = true;
    if (options.object === 'set') {
      const set = sets.get(p.key) ?? [];
      sets.set(p.key, set);
      if (p.f === 'add') set.push(p.input);
      else p.result = [...set];
      return;
    }
    const current = registers.has(p.key) ? registers.get(p.key) : null;
    if (p.f === 'write') registers.set(p.key, p.input);
    else if (p.f === 'read') p.result = current;
    else {
      const [from, to] = p.input as [unknown, unknown];
      p.ok = current === from;
      if (p.ok) registers.set(p.key, to);
    }
  };
  for (const n of options.tape) {
    const slot = slots[n % slots.length]!;
    const action = Math.floor(n / slots.length) % 4;
    const choice = Math.floor(n / (slots.length * 4));
    const pending = slot.pending;
    if (pending === undefined) {
      const key = `k${choice % options.keys}`;
      let p: Pending;
      if (options.object === 'set')
        p = {
          f: action < 2 ? 'add' : 'read',
          key,
          input: action < 2 ? nextValue++ : null,
          applied: false,
          result: undefined,
          ok: true,
        };
      else if (action === 0) p = { f: 'read', key, input: null, applied: false, result: undefined, ok: true };
      else if (action === 1 && choice % 3 === 0) {
        const current = registers.get(key) ?? null;
        const from = choice % 2 === 0 ? current : nextValue - 1;
        p = { f: 'cas', key, input: [from, nextValue++], applied: false, result: undefined, ok: true };
      } else p = { f: 'write', key, input: nextValue++, applied: false, result: undefined, ok: true };
      slot.pending = p;
      emit('invoke', slot.pid, p.f, p.input, p.key);
      continue;
    }
    if (action === 3) {
      if (choice % 2 === 0 && !pending.applied) apply(pending);
      emit('info', slot.pid, pending.f, pending.input, pending.key);
      delete slot.pending;
      slot.pid = nextPid++;
      continue;
    }
    if (!pending.applied) {
      apply(pending);
      continue;
    }
    const value = pending.f === 'read' ? pending.result : pending.input;
    emit(pending.ok ? 'ok' : 'fail', slot.pid, pending.f, value, pending.key);
    delete slot.pending;
  }
  // Settle: applied ops complete; unapplied ones stay open (indeterminate, never took effect).
  for (const slot of slots) {
    const pending = slot.pending;
    if (pending?.applied !== true) continue;
    const value = pending.f === 'read' ? pending.result : pending.input;
    emit(pending.ok ? 'ok' : 'fail', slot.pid, pending.f, value, pending.key);
    delete slot.pending;
  }
  for (let r = 0; r < options.finalReplicas; r++) {
    for (let k = 0; k < options.keys; k++) {
      const key = `k${k}`;
      const value =
        options.object === 'set' ? [...(sets.get(key) ?? [])] : registers.has(key) ? registers.get(key) : null;
      const pid = `replica-${r}`;
      emit('invoke', pid, 'final-read', null, key);
      emit('ok', pid, 'final-read', value, key);
    }
  }
  return ops;
}
