// The history recorder used by the simulator and real clients: assigns dense indexes, enforces
// Jepsen's pairing rules as ops are recorded, and renders JSONL (one Op per line, history.ts field
// names). Pure: time comes in as a number (nanoseconds from the test start); output goes to an
// optional sink the caller provides (e.g. a file append), so the recorder never does I/O.
//
// Invariants (a violation throws HistoryPairingError — it is a bug in the harness):
//   - a process has at most one open op; a completion pairs with it and repeats its f (and key);
//   - a process that got `info` is never used again (Jepsen: the client crashed; use a new id);
//   - at most `opsMax` ops are recorded (LimitError past it).
import { LimitError } from '../lib/errors.ts';
import type { History, Op, OpType, ProcessId } from './history.ts';
import { HistoryPairingError } from './prepare.ts';

export const RECORDER_DEFAULTS = { opsMax: 10_000_000 } as const;

export interface RecorderOptions {
  readonly opsMax?: number;
  /** Receives each op as it is recorded, already as a JSONL line (with trailing newline). */
  readonly sink?: (line: string) => void;
}

export interface OpFields {
  /** Nanoseconds from the start of the test. */
  readonly timeNs?: number;
  readonly key?: string;
  readonly error?: string;
}

/** One JSONL line for an op (stable field order). */
export function opToJsonLine(op: Op): string {
  return `${JSON.stringify(op)}\n`;
}

export class HistoryRecorder {
  private readonly ops: Op[] = [];
  private readonly open = new Map<ProcessId, Op>();
  private readonly crashed = new Set<ProcessId>();
  private readonly opsMax: number;
  private readonly sink: ((line: string) => void) | undefined;

  constructor(options: RecorderOptions = {}) {
    this.opsMax = options.opsMax ?? RECORDER_DEFAULTS.opsMax;
    this.sink = options.sink;
  }

  invoke(process: ProcessId, f: string, value: unknown, fields: OpFields = {}): Op {
    const index = this.ops.length;
    if (this.open.has(process)) throw new HistoryPairingError(index, `process ${process} already has an open op`);
    if (this.crashed.has(process))
      throw new HistoryPairingError(index, `process ${process} got info and cannot be reused`);
    const op = this.push('invoke', process, f, value, fields);
    this.open.set(process, op);
    return op;
  }

  ok(process: ProcessId, value: unknown, fields: OpFields = {}): Op {
    return this.complete('ok', process, value, fields);
  }

  /** Definitely did not happen. */
  fail(process: ProcessId, value: unknown, fields: OpFields = {}): Op {
    return this.complete('fail', process, value, fields);
  }

  /** Indeterminate: may have happened. The process is retired. */
  info(process: ProcessId, value: unknown, fields: OpFields = {}): Op {
    const op = this.complete('info', process, value, fields);
    this.crashed.add(process);
    return op;
  }

  /** Processes with an open op (for closing a test: their ops stay indeterminate). */
  openProcesses(): ProcessId[] {
    return [...this.open.keys()];
  }

  history(): History {
    return this.ops;
  }

  toJsonl(): string {
    return this.ops.map(opToJsonLine).join('');
  }

  private complete(type: OpType, process: ProcessId, value: unknown, fields: OpFields): Op {
    const invoke = this.open.get(process);
    if (invoke === undefined)
      throw new HistoryPairingError(this.ops.length, `${type} from process ${process} with no open op`);
    this.open.delete(process);
    const key = fields.key ?? invoke.key;
    return this.push(type, process, invoke.f, value, key === undefined ? fields : { ...fields, key });
  }

  private push(type: OpType, process: ProcessId, f: string, value: unknown, fields: OpFields): Op {
    if (this.ops.length >= this.opsMax) throw new LimitError('recorder.opsMax', `history holds ${this.opsMax} ops`);
    const op: { -readonly [K in keyof Op]: Op[K] } = { type, process, f, value: value ?? null, index: this.ops.length };
    if (fields.timeNs !== undefined) op.time = fields.timeNs;
    if (fields.key !== undefined) op.key = fields.key;
    if (fields.error !== undefined) op.error = fields.error;
    this.ops.push(op);
    this.sink?.(opToJsonLine(op));
    return op;
  }
}
