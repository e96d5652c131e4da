// Append-only log with offsets (Maelstrom's "kafka" workload). An anomaly checker, not a search;
// same CheckResult. Pure.
//
//   {f: 'send', input: [key, msg]}         ok output: offset, or [key, offset]
//   {f: 'poll', output: {key: [[offset, msg], ...], ...}}   (or a list of [key, [[o, m] ...]])
// Anomalies (Maelstrom's names):
//   duplicate-offset   two different messages at the same (key, offset)
//   duplicate-message  one message at two offsets of a key
//   nonmonotonic-poll  a process polled a key at an offset ≤ one it polled before
//   skipped-offset     a process polled offsets a then b of a key, and some known offset c
//                      (acknowledged or polled by anyone) has a < c < b
//   lost-write         an acknowledged send at offset o was never polled, though some poll read
//                      past o on that key
import type { History, Op, ProcessId } from '../history.ts';
import { prepareOperations } from '../prepare.ts';
import type { Anomaly, CheckResult, Operation } from '../types.ts';
import { showValue } from './values.ts';

/** Most anomalies listed in a result. */
export const LOG_ANOMALIES_MAX = 1000;

interface Seen {
  readonly msg: string;
  readonly op: Operation;
}

function keyText(key: unknown): string {
  return typeof key === 'string' ? key : showValue(key);
}

function pollEntries(output: unknown): Array<[string, unknown[]]> {
  if (Array.isArray(output)) {
    return output
      .filter((e): e is [unknown, unknown[]] => Array.isArray(e) && e.length === 2 && Array.isArray(e[1]))
      .map(([k, l]) => [keyText(k), l]);
  }
  if (typeof output === 'object' && output !== null) {
    return Object.entries(output as Record<string, unknown>)
      .filter((e): e is [string, unknown[]] => Array.isArray(e[1]))
      .map(([k, l]) => [k, l]);
  }
  return [];
}

function events(op: Operation): Op[] {
  return op.completion === undefined ? [op.invoke] : [op.invoke, op.completion];
}

export function checkLog(history: History): CheckResult {
  const { operations } = prepareOperations(history);
  const anomalies: Anomaly[] = [];
  let anomalyCount = 0;
  const report = (kind: string, message: string, ops: readonly Operation[]): void => {
    anomalyCount++;
    if (anomalies.length < LOG_ANOMALIES_MAX) anomalies.push({ kind, message, ops: ops.flatMap(events) });
  };
  // (key, offset) → message, from acknowledgements and polls.
  const atOffset = new Map<string, Map<number, Seen>>();
  const offsetOf = new Map<string, Map<string, number>>();
  const polledOffsets = new Map<string, Set<number>>();
  const maxPolled = new Map<string, number>();
  const acked: Array<{ key: string; offset: number; op: Operation }> = [];

  const record = (key: string, offset: number, msg: unknown, op: Operation): void => {
    const text = showValue(msg);
    let byOffset = atOffset.get(key);
    if (byOffset === undefined) atOffset.set(key, (byOffset = new Map()));
    const prior = byOffset.get(offset);
    if (prior === undefined) byOffset.set(offset, { msg: text, op });
    else if (prior.msg !== text)
      report('duplicate-offset', `key ${key} offset ${offset}: ${prior.msg} and ${text}`, [prior.op, op]);
    let byMsg = offsetOf.get(key);
    if (byMsg === undefined) offsetOf.set(key, (byMsg = new Map()));
    const priorOffset = byMsg.get(text);
    if (priorOffset === undefined) byMsg.set(text, offset);
    else if (priorOffset !== offset)
      report('duplicate-message', `key ${key}: ${text} at offsets ${priorOffset} and ${offset}`, [op]);
  };

  for (const op of operations) {
    if (op.status !== 'ok') continue;
    if (op.f === 'send' && Array.isArray(op.input) && op.input.length === 2) {
      const key = keyText(op.input[0]);
      const offset = Array.isArray(op.output) ? op.output[1] : op.output;
      if (typeof offset !== 'number') continue;
      record(key, offset, op.input[1], op);
      acked.push({ key, offset, op });
    } else if (op.f === 'poll') {
      for (const [key, list] of pollEntries(op.output)) {
        for (const pair of list) {
          if (!Array.isArray(pair) || typeof pair[0] !== 'number') continue;
          record(key, pair[0], pair[1], op);
          let set = polledOffsets.get(key);
          if (set === undefined) polledOffsets.set(key, (set = new Set()));
          set.add(pair[0]);
          maxPolled.set(key, Math.max(maxPolled.get(key) ?? -1, pair[0]));
        }
      }
    }
  }
  // Per process, per key: offsets polled in order.
  const lastPolled = new Map<ProcessId, Map<string, { offset: number; op: Operation }>>();
  const sortedKnown = new Map<string, number[]>();
  for (const [key, byOffset] of atOffset)
    sortedKnown.set(
      key,
      [...byOffset.keys()].sort((a, b) => a - b),
    );
  for (const op of operations) {
    if (op.status !== 'ok' || op.f !== 'poll') continue;
    let perKey = lastPolled.get(op.process);
    if (perKey === undefined) lastPolled.set(op.process, (perKey = new Map()));
    for (const [key, list] of pollEntries(op.output)) {
      const known = sortedKnown.get(key) ?? [];
      for (const pair of list) {
        if (!Array.isArray(pair) || typeof pair[0] !== 'number') continue;
        const offset = pair[0];
        const last = perKey.get(key);
        if (last !== undefined) {
          if (offset <= last.offset) {
            report('nonmonotonic-poll', `p${String(op.process)} key ${key}: offset ${offset} after ${last.offset}`, [
              last.op,
              op,
            ]);
          } else {
            const skipped = known.find((c) => c > last.offset && c < offset);
            if (skipped !== undefined)
              report(
                'skipped-offset',
                `p${String(op.process)} key ${key}: ${last.offset} → ${offset} skips ${skipped}`,
                [last.op, op],
              );
          }
        }
        perKey.set(key, { offset, op });
      }
    }
  }
  for (const { key, offset, op } of acked) {
    const polled = polledOffsets.get(key);
    if ((maxPolled.get(key) ?? -1) > offset && !(polled?.has(offset) ?? false))
      report('lost-write', `key ${key}: acknowledged offset ${offset} never polled, later offsets were`, [op]);
  }
  const stats = {
    ops: operations.length,
    infoOps: operations.filter((o) => o.status === 'info').length,
    statesExplored: operations.length,
    memoEntries: 0,
    elapsedMs: 0,
    partitions: atOffset.size,
  };
  if (anomalyCount === 0) return { verdict: 'valid', anomalies, stats };
  return { verdict: 'invalid', reason: `${anomalyCount} anomalies, first: ${anomalies[0]?.message}`, anomalies, stats };
}

/** Unique ids (Maelstrom unique-ids): every ok `generate` returns an id no other op returned. */
export function checkUniqueIds(history: History): CheckResult {
  const { operations } = prepareOperations(history);
  const anomalies: Anomaly[] = [];
  let anomalyCount = 0;
  const first = new Map<string, Operation>();
  for (const op of operations) {
    if (op.status !== 'ok' || op.f !== 'generate') continue;
    const id = showValue(op.output);
    const prior = first.get(id);
    if (prior === undefined) first.set(id, op);
    else {
      anomalyCount++;
      if (anomalies.length < LOG_ANOMALIES_MAX)
        anomalies.push({
          kind: 'duplicate-id',
          message: `id ${id} generated twice`,
          ops: [...events(prior), ...events(op)],
        });
    }
  }
  const stats = {
    ops: operations.length,
    infoOps: 0,
    statesExplored: operations.length,
    memoEntries: 0,
    elapsedMs: 0,
    partitions: 1,
  };
  if (anomalyCount === 0) return { verdict: 'valid', anomalies, stats };
  return { verdict: 'invalid', reason: `${anomalyCount} duplicate ids`, anomalies, stats };
}
