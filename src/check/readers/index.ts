// parseHistory: reads a history file's text in any supported format into Ops with dense indexes.
//
// Formats (auto-detected from the content; `format` overrides):
//   'jsonl'        our recorder's output, one JSON Op per line            {"type":"invoke",...}
//   'jepsen-log'   old Jepsen logs: `INFO jepsen.util - 3 :invoke :read nil`
//   'edn'          Jepsen/Knossos EDN: a vector of op maps, or one map per line
//   'porcupine-kv' Porcupine's KV logs: one EDN map per line with :key
//                  {:process 0, :type :invoke, :f :put, :key "4", :value "x 0 0 y"}
//                  a key never written reads as "" (formatModelDefaults gives initial '')
//
// The two conventions for a failed compare-and-set (`casConvention`):
//
//   'knossos' (default; Knossos, Jepsen ≥ 0.1.x, Maelstrom): `fail` = definitely did not happen.
//       {:process 1, :type :invoke, :f :cas, :value [0 3]}
//       {:process 1, :type :fail,   :f :cas, :value [0 3]}     ← dropped from the history
//     Pair with casRegisterModel({ initial: 0, nilReadUnknown: true }): the register starts at 0
//     and a read that returned nil constrains nothing.
//
//   'etcd' (older etcd Jepsen logs, Porcupine's etcd corpus): a `fail` cas is an *observed*
//     compare failure — it happened, atomically, and returned false.
//       INFO  jepsen.util - 1	:invoke	:cas	[0 3]
//       INFO  jepsen.util - 1	:fail	:cas	[0 3]          ← becomes {:type :ok, :value false}
//     so it linearizes only where the register is not 0. Pair with
//     casRegisterModel({ initial: null }): the register starts at nil (a read of nil is a real
//     observation: the key does not exist). Timed-out ops (`:info`) stay open: they may have
//     taken effect at any time after their invoke, or never. `fail` on other functions (reads)
//     still means "did not happen".
import type { History, Op } from '../history.ts';
import { HistoryParseError } from '../errors.ts';
import type { CasConvention, HistoryFormat, ModelOptions, ReadOptions } from '../types.ts';
import { readEdnRecords } from './edn.ts';
import { isJepsenLog, readJepsenLogRecords } from './jepsen-log.ts';
import { readJsonlRecords } from './jsonl.ts';
import { type Located, recordToOp } from './record.ts';

/** Most ops a single history may hold; beyond it the file is rejected rather than read. */
export const HISTORY_OPS_MAX = 10_000_000;

/** Guesses the format from the first meaningful line. */
export function detectFormat(text: string): HistoryFormat {
  if (isJepsenLog(text)) return 'jepsen-log';
  for (const raw of text.split(/\r?\n/, 1000)) {
    const line = raw.trim();
    if (line === '' || line.startsWith(';')) continue;
    if (line.startsWith('{"') || line.startsWith('{ "')) return 'jsonl';
    if (line.startsWith('{') && /:key[\s,]/.test(line)) return 'porcupine-kv';
    return 'edn';
  }
  return 'edn';
}

/**
 * The model options a format's own convention implies, used when the caller gives none.
 * Porcupine's KV model reads a key that was never written as the empty string (its `get` of a
 * missing key returns ""), so its histories contain `get k → ""` before any put: they are
 * linearizable only with `initial: ''`. Other formats carry no such convention (EDN and JSONL
 * histories written that way need `barista check --initial ''`).
 */
export function formatModelDefaults(format: HistoryFormat): Pick<ModelOptions, 'initial'> {
  return format === 'porcupine-kv' ? { initial: '' } : {};
}

function applyConvention(op: Op, convention: CasConvention): Op {
  if (convention === 'etcd' && op.type === 'fail' && op.f === 'cas') {
    return { ...op, type: 'ok', value: false, error: op.error ?? 'compare-failed' };
  }
  return op;
}

export function parseHistory(
  text: string,
  format: HistoryFormat | 'auto' = 'auto',
  options: ReadOptions = {},
): History {
  const source = options.source ?? '<input>';
  const convention = options.casConvention ?? 'knossos';
  const chosen = format === 'auto' ? detectFormat(text) : format;
  let records: Located[];
  switch (chosen) {
    case 'jsonl':
      records = readJsonlRecords(text, source);
      break;
    case 'jepsen-log':
      records = readJepsenLogRecords(text, source);
      break;
    case 'edn':
    case 'porcupine-kv':
      records = readEdnRecords(text, source);
      break;
  }
  if (records.length > HISTORY_OPS_MAX)
    throw new HistoryParseError(source, records[HISTORY_OPS_MAX]?.line ?? 0, `more than ${HISTORY_OPS_MAX} ops`);
  const ops: Op[] = [];
  for (const located of records) {
    const op = recordToOp(located, ops.length, source);
    if (chosen === 'porcupine-kv' && op.key === undefined)
      throw new HistoryParseError(source, located.line, 'porcupine-kv op without :key');
    ops.push(applyConvention(op, convention));
  }
  return ops;
}

export { readEdnRecords } from './edn.ts';
export { readJepsenLogRecords } from './jepsen-log.ts';
export { readJsonlRecords } from './jsonl.ts';
