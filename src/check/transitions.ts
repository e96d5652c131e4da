// Model states as small integers, and the model's step function as a table over them.
//
// The search revisits the same (state, op) pairs again and again (a register has a handful of
// values; the same op is tried after every backtrack). Interning states (model.hash/equal) lets the
// memo compare an int instead of calling model.equal, and caching step results per (state id, op)
// means model.step — which allocates its result — runs once per distinct pair; afterwards a step
// is one typed-array read.
//
// Cached for the first states only: a register has a handful of states, so each state id below
// DENSE_STATES_MAX gets a row of `opCount` cells (one array read per step). A key-value partition
// with appends makes a new state on almost every step; there a cache hits rarely (measured: 17 % of
// steps on Porcupine's KV c50 files) and a sparse table's growth cost more than it saved (its
// large typed-array allocations triggered full GCs), so later states step the model directly.
// Bounds: at most DENSE_STATES_MAX rows and DENSE_CELLS_MAX cells. Interned states are bounded by
// the caller's memo budget: every new state id is first recorded in the memo (it cannot be in it).
import { StringRegisterStates } from './string-states.ts';
import type { Model, Operation } from './types.ts';

/** Model states as ids: what the search needs of them. */
export interface StateSpace {
  /** The initial state's id. */
  initial(): number;
  /** The state id after `op` (an index into the ops) from state `id`, or STEP_FAILS. */
  step(id: number, op: number): number;
}

/**
 * The state space for `ops` under `model`: hash-consed string states when the model says the ops
 * act on one string register (Porcupine's KV partitions: no string built or hashed per append),
 * else interned model states with cached steps.
 */
export function stateSpace<S>(model: Model<S>, ops: readonly Operation[]): StateSpace {
  const register = model.stringRegister?.(ops);
  if (register !== undefined) return new StringRegisterStates(register.initial, register.ops);
  return new StateTable(model, ops);
}

/** State ids that get a dense row of transitions... */
export const DENSE_STATES_MAX = 256;
/** ...as long as all rows together stay within this many cells (Int32: 16 MiB). */
export const DENSE_CELLS_MAX = 1 << 22;
/** A step that does not linearize in that state. */
export const STEP_FAILS = -1;
const UNKNOWN = -2;

export class StateTable<S> implements StateSpace {
  /** State by id. */
  readonly states: S[] = [];
  /** Interning by the model's stateKey, when it has one (native Map hashing, no equal calls). */
  private readonly idOfKey = new Map<string | number, number>();
  /** Otherwise interning by hash: hash → first id with it; ids chain through `nextWithHash`. */
  private readonly firstWithHash = new Map<number, number>();
  private readonly nextWithHash: number[] = [];
  private readonly rows: Array<Int32Array | undefined> = [];
  /** State ids below this get dense rows. */
  private readonly denseStates: number;

  constructor(
    private readonly model: Model<S>,
    private readonly ops: readonly Operation[],
  ) {
    this.denseStates = Math.min(DENSE_STATES_MAX, Math.floor(DENSE_CELLS_MAX / Math.max(1, ops.length)));
  }

  initial(): number {
    return this.intern(this.model.init());
  }

  /** The id of `state` (equal states share one id). */
  intern(state: S): number {
    const key = this.model.stateKey?.(state);
    if (key !== undefined) {
      const known = this.idOfKey.get(key);
      if (known !== undefined) return known;
      const fresh = this.states.length;
      this.states.push(state);
      this.idOfKey.set(key, fresh);
      return fresh;
    }
    const hash = this.model.hash(state) | 0;
    const head = this.firstWithHash.get(hash);
    let id = head;
    while (id !== undefined && id >= 0) {
      if (this.model.equal(this.states[id] as S, state)) return id;
      id = this.nextWithHash[id] as number;
    }
    const fresh = this.states.length;
    this.states.push(state);
    this.nextWithHash.push(head ?? -1);
    this.firstWithHash.set(hash, fresh);
    return fresh;
  }

  /** The state id after `op` (an index into `ops`) from state `id`, or STEP_FAILS. */
  step(id: number, op: number): number {
    if (id < this.denseStates) {
      let row = this.rows[id];
      if (row === undefined) {
        row = new Int32Array(this.ops.length).fill(UNKNOWN);
        this.rows[id] = row;
      }
      const cached = row[op] as number;
      if (cached !== UNKNOWN) return cached;
      const to = this.modelStep(id, op);
      row[op] = to;
      return to;
    }
    return this.modelStep(id, op);
  }

  private modelStep(id: number, op: number): number {
    const state = this.states[id] as S;
    const result = this.model.step(state, this.ops[op] as Operation);
    if (!result.ok) return STEP_FAILS;
    if (result.state === state) return id; // unchanged (a read): no need to identify it again
    return this.intern(result.state);
  }
}
