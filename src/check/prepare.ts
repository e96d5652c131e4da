// Turns a history (invoke/ok/fail/info events) into Operations for the models: pairs each
// completion with the open invoke of its process, drops `fail`ed operations (they definitely did
// not happen) and nemesis events, and turns `info` completions and invokes that never completed
// into indeterminate operations (`status: 'info'`, `ret: RETURN_NEVER`).
//
// Invariants enforced (a violation is a HistoryPairingError naming the op's index, never a crash):
//   - at most one open invoke per process;
//   - a completion pairs with the open invoke of the same process;
//   - a process that got `info` is never used again.
// Operation ids are dense and in call (invoke) order.
import { BaristaError } from '../lib/errors.ts';
import type { History, Op, ProcessId } from './history.ts';
import { type Operation, RETURN_NEVER } from './types.ts';

export class HistoryPairingError extends BaristaError<'history_unpaired'> {
  override readonly name = 'HistoryPairingError';
  readonly opIndex: number;
  constructor(opIndex: number, message: string) {
    super('history_unpaired', `op ${opIndex}: ${message}`, { fields: { opIndex } });
    this.opIndex = opIndex;
  }
}

/** Jepsen's fault injector and other non-client actors: not operations on the object. */
function isClient(process: ProcessId): boolean {
  return typeof process === 'number';
}

export interface PrepareResult {
  readonly operations: Operation[];
  /** Ops dropped because they failed (definitely did not happen). */
  readonly failedCount: number;
}

export function prepareOperations(history: History): PrepareResult {
  const open = new Map<ProcessId, Op>();
  const crashed = new Set<ProcessId>();
  type Draft = { invoke: Op; completion?: Op };
  const drafts: Draft[] = [];
  const draftOf = new Map<Op, Draft>();
  let failedCount = 0;
  for (let i = 0; i < history.length; i++) {
    const op = history[i] as Op;
    if (!isClient(op.process)) continue;
    if (op.type === 'invoke') {
      if (open.has(op.process))
        throw new HistoryPairingError(op.index, `process ${op.process} invoked while an op is open`);
      if (crashed.has(op.process))
        throw new HistoryPairingError(op.index, `process ${op.process} reused after an info (indeterminate) result`);
      open.set(op.process, op);
      const draft: Draft = { invoke: op };
      drafts.push(draft);
      draftOf.set(op, draft);
      continue;
    }
    const invoke = open.get(op.process);
    if (invoke === undefined)
      throw new HistoryPairingError(op.index, `${op.type} from process ${op.process} with no open invoke`);
    open.delete(op.process);
    const draft = draftOf.get(invoke) as Draft;
    draft.completion = op;
    if (op.type === 'info') crashed.add(op.process);
  }
  const operations: Operation[] = [];
  for (const { invoke, completion } of drafts) {
    if (completion?.type === 'fail') {
      failedCount++;
      continue;
    }
    const definite = completion?.type === 'ok';
    const key = invoke.key ?? completion?.key;
    const base = {
      id: operations.length,
      process: invoke.process,
      f: invoke.f,
      input: invoke.value,
      output: definite ? completion.value : undefined,
      status: definite ? ('ok' as const) : ('info' as const),
      call: invoke.index,
      ret: definite ? completion.index : RETURN_NEVER,
      invoke,
    };
    const withKey = key === undefined ? base : { ...base, key };
    operations.push(completion === undefined ? withKey : { ...withKey, completion });
  }
  return { operations, failedCount };
}
