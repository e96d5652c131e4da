// A versioned register: ZooKeeper's znode data with its Stat.version, as a conditional setData
// and getData see it. Pure. State = [value, version]; one register per key (P-compositional).
//
// Operations:
//   {f: 'read', output: [value, version]}       ok iff both equal the current state
//   {f: 'set',  input: [expectedVersion, value]} ok with output = the new version: requires
//                                                version == expectedVersion, sets [value, version + 1]
//                                                ok with output false: the server answered BadVersion,
//                                                requires version != expectedVersion, no change
//                                                info: may have applied (as an ok set) or not
// Versions count from `initial`'s (a node created with data 0 is [0, 0]).
import type { Model, Operation, StepResult } from '../types.ts';

export type VersionedState = readonly [value: number, version: number];

const FAIL: StepResult<never> = { ok: false };

function pair(x: unknown): VersionedState | undefined {
  return Array.isArray(x) && x.length === 2 && typeof x[0] === 'number' && typeof x[1] === 'number'
    ? [x[0], x[1]]
    : undefined;
}

export function versionedRegisterModel(initial: VersionedState = [0, 0]): Model<VersionedState> {
  return {
    name: 'versioned-register',
    init: () => initial,
    step(state, op: Operation): StepResult<VersionedState> {
      if (op.f === 'read') {
        if (op.status === 'info') return { ok: true, state };
        const seen = pair(op.output);
        return seen !== undefined && seen[0] === state[0] && seen[1] === state[1] ? { ok: true, state } : FAIL;
      }
      if (op.f !== 'set') return FAIL;
      const input = pair(op.input);
      if (input === undefined) return FAIL;
      const [expected, value] = input;
      if (op.status === 'ok' && op.output === false) return state[1] !== expected ? { ok: true, state } : FAIL;
      if (state[1] !== expected) return FAIL;
      if (op.status === 'ok' && op.output !== expected + 1) return FAIL;
      return { ok: true, state: [value, expected + 1] };
    },
    hash: (s) => (s[0] * 31 + s[1]) | 0,
    equal: (a, b) => a[0] === b[0] && a[1] === b[1],
    stateKey: (s) => `${s[0]}@${s[1]}`,
    readOnly: (op) => op.status === 'ok' && (op.f === 'read' || op.output === false),
    keep: (op) => !(op.f === 'read' && op.status === 'info'),
    partitionKey: (op) => op.key,
    describe(op) {
      const p = `p${String(op.process)}`;
      if (op.f === 'read') return `${p} read → ${JSON.stringify(op.output)}`;
      const out = op.status === 'info' ? ' (info)' : op.output === false ? ' → BadVersion' : ` → v${String(op.output)}`;
      return `${p} set ${JSON.stringify(op.input)}${out}`;
    },
    describeState: (s) => `${s[0]}@v${s[1]}`,
  };
}
