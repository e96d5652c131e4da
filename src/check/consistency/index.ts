// The consistency checks for stores that are not linearizable by design, by name. `barista check
// --model <name>` accepts these names beside the linearizability models.
import type { History } from '../history.ts';
import { checkConvergence } from './convergence.ts';
import { checkLostWrites } from './lost-writes.ts';
import { checkSequential } from './sequential.ts';
import { checkMonotonicReads, checkReadYourWrites } from './session.ts';
import type { ConsistencyOptions, ConsistencyResult } from './types.ts';

export { checkConvergence } from './convergence.ts';
export { checkLostWrites } from './lost-writes.ts';
export { checkSequential } from './sequential.ts';
export { checkMonotonicReads, checkReadYourWrites } from './session.ts';
export * from './types.ts';

export type ConsistencyCheck = (history: History, options?: ConsistencyOptions) => ConsistencyResult;

export const CONSISTENCY_CHECKS: Readonly<Record<string, { check: ConsistencyCheck; summary: string }>> = {
  'read-your-writes': { check: checkReadYourWrites, summary: "a process's reads observe its own acknowledged writes" },
  'monotonic-reads': { check: checkMonotonicReads, summary: "a process's reads never go back to an older value" },
  convergence: { check: checkConvergence, summary: 'final reads from every replica agree' },
  'lost-writes': { check: checkLostWrites, summary: 'every acknowledged write/add appears in the final read' },
  sequential: { check: checkSequential, summary: 'one order of writes per key explains every process (unique values)' },
};
