// Model states as small integers, and the model's step function as a table over them.
//
// The search revisits the same (state, op) pairs again and again (a register has a handful of
// values; the same op is tried after every backtrack). Interning states (model.hash/equal) lets the
// memo compare an int instead of calling model.equal, and caching step results per (state id, op)
// means model.step — which allocates its result — runs once per distinct pair; afterwards a step
// is one typed-array read.
//
// Two stores, because state counts differ by model: a register has a handful of states, so each
// state id below DENSE_STATES_MAX gets a row of `opCount` cells (one array read per step); a
// key-value partition with appends has a new state per step, so the rest go to one sparse
// open-addressing table keyed by (state id, op) — rows for them would be mostly empty.
// Bounds: at most DENSE_STATES_MAX rows (and DENSE_CELLS_MAX cells) and TRANSITIONS_SPARSE_MAX sparse entries; beyond that,
// steps go to the model directly (still correct, only slower). Interned states are bounded by the
// caller's memo budget: every new state id is first recorded in the memo (it cannot be in it yet).
import type { Model, Operation } from './types.ts';

/** State ids that get a dense row of transitions... */
export const DENSE_STATES_MAX = 256;
/** ...as long as all rows together stay within this many cells (Int32: 16 MiB). */
export const DENSE_CELLS_MAX = 1 << 22;
/** Entries in the sparse transition table (three Int32 each, table at most half full). */
export const TRANSITIONS_SPARSE_MAX = 1 << 21;
/** A step that does not linearize in that state. */
export const STEP_FAILS = -1;
const UNKNOWN = -2;
const SPARSE_SLOTS_INITIAL = 1 << 6;

/** A well-mixed hash of (state id, op) (murmur3's fmix32): linear probing needs every bit mixed. */
function slotOf(id: number, op: number): number {
  let x = (Math.imul(id, 0x9e3779b1) + op) | 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return x ^ (x >>> 16);
}

export class StateTable<S> {
  /** State by id. */
  readonly states: S[] = [];
  /** Interning by the model's stateKey, when it has one (native Map hashing, no equal calls). */
  private readonly idOfKey = new Map<string | number, number>();
  /** Otherwise interning by hash: hash → first id with it; ids chain through `nextWithHash`. */
  private readonly firstWithHash = new Map<number, number>();
  private readonly nextWithHash: number[] = [];
  private readonly rows: Array<Int32Array | undefined> = [];
  /** Sparse table: per slot, state id + 1 (0 = empty), op, and the target (or STEP_FAILS). */
  private sparseState = new Int32Array(SPARSE_SLOTS_INITIAL);
  private sparseOp = new Int32Array(SPARSE_SLOTS_INITIAL);
  private sparseTo = new Int32Array(SPARSE_SLOTS_INITIAL);
  private sparseCount = 0;
  /** State ids below this get dense rows. */
  private readonly denseStates: number;

  constructor(
    private readonly model: Model<S>,
    private readonly ops: readonly Operation[],
  ) {
    this.denseStates = Math.min(DENSE_STATES_MAX, Math.floor(DENSE_CELLS_MAX / Math.max(1, ops.length)));
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
    const mask = this.sparseState.length - 1;
    let slot = slotOf(id, op) & mask;
    for (;;) {
      const stored = this.sparseState[slot] as number;
      if (stored === 0) break;
      if (stored === id + 1 && this.sparseOp[slot] === op) return this.sparseTo[slot] as number;
      slot = (slot + 1) & mask;
    }
    const to = this.modelStep(id, op);
    if (this.sparseCount < TRANSITIONS_SPARSE_MAX) {
      this.sparseState[slot] = id + 1;
      this.sparseOp[slot] = op;
      this.sparseTo[slot] = to;
      this.sparseCount++;
      if (this.sparseCount * 2 > this.sparseState.length) this.rehash();
    }
    return to;
  }

  private rehash(): void {
    const oldState = this.sparseState;
    const oldOp = this.sparseOp;
    const oldTo = this.sparseTo;
    const size = oldState.length * 2;
    const mask = size - 1;
    this.sparseState = new Int32Array(size);
    this.sparseOp = new Int32Array(size);
    this.sparseTo = new Int32Array(size);
    for (let i = 0; i < oldState.length; i++) {
      const stored = oldState[i] as number;
      if (stored === 0) continue;
      const op = oldOp[i] as number;
      let slot = slotOf(stored - 1, op) & mask;
      while (this.sparseState[slot] !== 0) slot = (slot + 1) & mask;
      this.sparseState[slot] = stored;
      this.sparseOp[slot] = op;
      this.sparseTo[slot] = oldTo[i] as number;
    }
  }

  private modelStep(id: number, op: number): number {
    const state = this.states[id] as S;
    const result = this.model.step(state, this.ops[op] as Operation);
    if (!result.ok) return STEP_FAILS;
    if (result.state === state) return id; // unchanged (a read): no need to identify it again
    return this.intern(result.state);
  }
}
