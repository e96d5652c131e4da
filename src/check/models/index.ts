// Models and bounds checkers by name (the names `barista check --model` accepts, see ModelName).
// Pure: the clock arrives through CheckOptions.now.
import type { History } from '../history.ts';
import type { CheckResult, Model, ModelName, ModelOptions } from '../types.ts';
import { queueModel, setModel } from './collections.ts';
import { checkCounter } from './counter.ts';
import { checkLog, checkUniqueIds } from './kafka.ts';
import { kvModel } from './kv.ts';
import { casRegisterModel, registerModel } from './register.ts';

export const MODEL_NAMES: readonly ModelName[] = [
  'register',
  'cas-register',
  'kv',
  'set',
  'queue',
  'g-counter',
  'pn-counter',
  'kafka',
  'unique-ids',
];

/** A name resolves to a model for the linearizability search, or to a direct checker. */
export type ModelSpec =
  | { readonly kind: 'linearizable'; readonly model: Model<unknown> }
  | { readonly kind: 'bounds'; readonly check: (history: History) => CheckResult };

export function isModelName(name: string): name is ModelName {
  return (MODEL_NAMES as readonly string[]).includes(name);
}

export function modelByName(name: ModelName, options: ModelOptions = {}): ModelSpec {
  const etcd = options.casConvention === 'etcd';
  const register = {
    initial: options.initial !== undefined ? options.initial : etcd ? null : 0,
    nilReadUnknown: options.nilReadUnknown ?? !etcd,
  };
  const linearizable = (model: Model<never>): ModelSpec => ({ kind: 'linearizable', model: model as Model<unknown> });
  switch (name) {
    case 'register':
      return linearizable(registerModel(register) as Model<never>);
    case 'cas-register':
      return linearizable(casRegisterModel(register) as Model<never>);
    case 'kv':
      return linearizable(
        kvModel({ initial: options.initial ?? null, nilReadUnknown: options.nilReadUnknown ?? false }) as Model<never>,
      );
    case 'set':
      return linearizable(setModel() as Model<never>);
    case 'queue':
      return linearizable(queueModel() as Model<never>);
    case 'g-counter':
      return { kind: 'bounds', check: (h) => checkCounter(h, { kind: 'g' }) };
    case 'pn-counter':
      return { kind: 'bounds', check: (h) => checkCounter(h, { kind: 'pn' }) };
    case 'kafka':
      return { kind: 'bounds', check: checkLog };
    case 'unique-ids':
      return { kind: 'bounds', check: checkUniqueIds };
  }
}

export { queueModel, setModel } from './collections.ts';
export { checkCounter } from './counter.ts';
export { checkLog, checkUniqueIds } from './kafka.ts';
export { kvModel } from './kv.ts';
export { casIncrRegisterModel, casRegisterModel, registerModel } from './register.ts';
