// Validates one decoded record (an EDN or JSON map) into an Op. Shared by every reader so all
// formats accept the same fields and reject malformed ones the same way: a HistoryParseError
// naming the source and line. Fields: type (invoke|ok|fail|info), process (integer or name),
// f, value, optional time (ns), key (string; numbers are converted), error.
import type { Op, OpType } from '../history.ts';
import { HistoryParseError } from '../errors.ts';
import { showValue } from '../models/values.ts';

const OP_TYPES: ReadonlySet<string> = new Set(['invoke', 'ok', 'fail', 'info']);

export interface Located {
  readonly record: unknown;
  /** 1-based line where the record starts. */
  readonly line: number;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function nameOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value.startsWith(':') ? value.slice(1) : value;
  return undefined;
}

/** Turns a decoded record into an Op with the given history index, or throws with the line. */
export function recordToOp(located: Located, index: number, source: string): Op {
  const { record, line } = located;
  const fail = (message: string): never => {
    throw new HistoryParseError(source, line, message);
  };
  if (!isPlainObject(record))
    return fail(`expected an op map, got ${Array.isArray(record) ? 'a list' : typeof record}`);
  const type = nameOf(record.type);
  if (type === undefined || !OP_TYPES.has(type))
    return fail(`:type must be one of invoke, ok, fail, info (got ${String(record.type)})`);
  const f = nameOf(record.f);
  if (f === undefined || f.length === 0) return fail(`:f must be a keyword or string (got ${String(record.f)})`);
  let process: number | string;
  if (typeof record.process === 'number' && Number.isSafeInteger(record.process)) process = record.process;
  else {
    const named = nameOf(record.process);
    if (named === undefined || named.length === 0)
      return fail(`:process must be an integer or a name (got ${String(record.process)})`);
    process = /^-?\d+$/.test(named) ? Number(named) : named;
  }
  const op: { -readonly [K in keyof Op]: Op[K] } = {
    type: type as OpType,
    process,
    f,
    value: record.value ?? null,
    index,
  };
  if (record.time !== undefined && record.time !== null) {
    if (typeof record.time !== 'number' || !Number.isFinite(record.time))
      return fail(`:time must be a number (got ${String(record.time)})`);
    op.time = record.time;
  }
  if (record.key !== undefined && record.key !== null) {
    if (typeof record.key === 'string') op.key = nameOf(record.key) ?? record.key;
    else if (typeof record.key === 'number') op.key = String(record.key);
    else return fail(`:key must be a string or a number (got ${typeof record.key})`);
  }
  if (record.error !== undefined && record.error !== null) {
    op.error = typeof record.error === 'string' ? (nameOf(record.error) as string) : showValue(record.error);
  }
  return op;
}
