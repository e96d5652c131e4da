// Entry points of the checker core: read a history, check it against a model by name.
// The CLI (`barista check`) and the consistency checks build on these; see types.ts for the API.
import type { History } from './history.ts';
import { checkLinearizable } from './linearizability.ts';
import { modelByName } from './models/index.ts';
import type { CheckOptions, CheckResult, ModelName, ModelOptions } from './types.ts';

/** Checks a history against a named model (linearizability search or bounds checker). */
export function checkHistory(
  history: History,
  name: ModelName,
  options: CheckOptions & { readonly model?: ModelOptions } = {},
): CheckResult {
  const spec = modelByName(name, options.model);
  if (spec.kind === 'bounds') {
    const startMs = options.now?.() ?? 0;
    const result = spec.check(history);
    return { ...result, stats: { ...result.stats, elapsedMs: (options.now?.() ?? 0) - startMs } };
  }
  return checkLinearizable(history, spec.model, options);
}

export { HistoryParseError } from './errors.ts';
export type { History, Op, OpType, ProcessId } from './history.ts';
export { checkLinearizable, checkOperations, LINEARIZABILITY_DEFAULTS } from './linearizability.ts';
export { isModelName, MODEL_NAMES, type ModelSpec, modelByName } from './models/index.ts';
export { HistoryPairingError, prepareOperations } from './prepare.ts';
export { detectFormat, parseHistory } from './readers/index.ts';
export { HistoryRecorder, opToJsonLine } from './recorder.ts';
export type * from './types.ts';
export { RETURN_NEVER } from './types.ts';
