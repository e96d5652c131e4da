// Generates histories by running a real sequential object under random concurrency: the ground
// truth for property tests and the benchmark. Each op takes effect atomically at a random moment
// between its invoke and its completion; crashed clients complete with `info` (their op took
// effect, or never did) and are replaced by a fresh process id. Deterministic per seed.
//
// Workload: registers (one per key) with read / write / cas. Every value written (write's value
// and cas's `to`) is fresh and unique, so a stale read is never explained by a later write of the
// same value. A cas whose `from` does not match does not take effect and completes with `fail`
// (the Knossos convention). Keys 'k0'..'k{n-1}'; one key means a single register without `key`.
import { SeededRng } from '../lib/rng.ts';
import type { History, Op } from './history.ts';
import { HistoryRecorder } from './recorder.ts';

export interface GenerateOptions {
  readonly seed: number | string;
  /** Operations to invoke. */
  readonly opCount: number;
  readonly processCount: number;
  readonly keyCount: number;
  /** Probability that a completion is `info` (the client crashed; the op may or may not apply). */
  readonly infoRate: number;
  /** Fraction of reads among ops (the rest split between write and cas). Default 0.5. */
  readonly readRate?: number;
}

interface Pending {
  readonly process: number;
  readonly f: 'read' | 'write' | 'cas';
  readonly key: string;
  readonly input: unknown;
  applied: boolean;
  result: unknown;
  succeeded: boolean;
}

export function generateRegisterHistory(options: GenerateOptions): History {
  const rng = new SeededRng(options.seed);
  const recorder = new HistoryRecorder();
  const values = new Map<string, number>();
  let fresh = 1;
  const readRate = options.readRate ?? 0.5;
  const slots: Array<Pending | undefined> = new Array(options.processCount).fill(undefined);
  const processOf = Array.from({ length: options.processCount }, (_, i) => i);
  let invoked = 0;
  let openCount = 0;
  const keyed = options.keyCount > 1;
  // Crashed ops that have not taken effect yet and will, later (the network delivered them).
  const zombies: Pending[] = [];
  const apply = (op: Pending): void => {
    const current = values.get(op.key) ?? 0;
    if (op.f === 'read') op.result = current;
    else if (op.f === 'write') values.set(op.key, op.input as number);
    else {
      const [from, to] = op.input as [number, number];
      op.succeeded = from === current;
      if (op.succeeded) values.set(op.key, to);
    }
    op.applied = true;
  };
  while (invoked < options.opCount || openCount > 0) {
    if (zombies.length > 0 && rng.chance(0.05)) apply(zombies.splice(rng.int(zombies.length), 1)[0] as Pending);
    const slot = rng.int(options.processCount);
    const pending = slots[slot];
    const process = processOf[slot] as number;
    if (pending === undefined) {
      if (invoked >= options.opCount) continue;
      const key = `k${rng.int(options.keyCount)}`;
      const roll = rng.float();
      const current = values.get(key) ?? 0;
      let next: Pending;
      if (roll < readRate)
        next = { process, f: 'read', key, input: null, applied: false, result: null, succeeded: true };
      else if (roll < readRate + (1 - readRate) / 2)
        next = { process, f: 'write', key, input: fresh++, applied: false, result: null, succeeded: true };
      else {
        // Usually compare against the current value, so cas often succeeds.
        const from = rng.chance(0.7) ? current : rng.int(fresh);
        next = { process, f: 'cas', key, input: [from, fresh++], applied: false, result: null, succeeded: false };
      }
      slots[slot] = next;
      invoked++;
      openCount++;
      recorder.invoke(process, next.f, next.input, keyed ? { key } : {});
      continue;
    }
    if (!pending.applied && rng.chance(0.5)) {
      apply(pending); // takes effect now, atomically
      continue;
    }
    if (rng.chance(options.infoRate)) {
      // Crash: the op may have taken effect (applied) or never will.
      recorder.info(process, null);
      if (!pending.applied && rng.chance(0.5)) zombies.push(pending);
      processOf[slot] = process + options.processCount;
    } else {
      if (!pending.applied) continue; // a completion reports a result: take effect first
      if (pending.f === 'cas' && !pending.succeeded) recorder.fail(process, pending.input);
      else recorder.ok(process, pending.f === 'read' ? pending.result : pending.input);
    }
    slots[slot] = undefined;
    openCount--;
  }
  return recorder.history();
}

/** Replaces one op's value (a mutation for negative tests); indexes are kept. */
export function withValue(history: History, index: number, value: unknown): History {
  return history.map((op): Op => (op.index === index ? { ...op, value } : op));
}
