// The linearizability search over one (sub)history: Wing & Gong's algorithm as improved by Lowe
// ("Testing for linearizability", 2017) — the algorithm behind Porcupine (checker.go) and Knossos
// (wgl.clj) — written from the paper, with two exact reductions and a resumable loop.
//
// The history is a doubly linked list of call and return entries in time order (history index).
// The search walks the list from its head: at a call entry it tries to linearize that operation
// next (step the model); on success it records (bitset of linearized ops, state) in a memo, pushes
// (entry, previous state) on a stack and unlinks the op's call and return entries ("lift"); when a
// (bitset, state) pair was seen before, that branch is known to fail and is skipped. At a return
// entry the op it belongs to had to be linearized already: backtrack (pop, relink, try the next
// call after the popped one). The list empty = a linearization; backtracking from an empty stack =
// none exists.
//
// Indeterminate (`info`) operations return at +∞: their return entries sit after every real
// return, so reaching one means every `ok` op is linearized; the remaining info ops are taken to
// have never happened (Jepsen: "may take effect at any time after invoke, or never").
//
// Reductions (each prunes only branches that cannot hold the only linearization):
//   1. Read-only ops are placed where they first fit (Model.readOnly: a read, a cas that observed
//      a compare failure). If a read r fits at a node, any linearization from that node placing r
//      later can move r here: r changes no state, and every op placed between here and there was
//      callable here, so nothing that must follow r is placed before it. Hence when the branch
//      "r here" fails (or is a memo hit), the whole node fails: pop further instead of trying the
//      next call. On Porcupine's etcd set this cuts etcd_007 from 1.7 M to 0.33 M steps.
//   2. Twins go in call order. Two ops alike for the model (same f, key, status, input, output;
//      see Model) where `a` is called and returns first (entry order) can swap places in any
//      linearization, so only orders with `a` before `b` are tried: b is skipped while a is not
//      linearized. (Info writes of the same value are the common case.)
//
// Per-step cost: states are interned to ids and step results cached per (state id, op)
// (transitions.ts); the memo is an open-addressing table over typed arrays (memo.ts); the hot loop
// keeps its variables in locals (fields are loaded on entry and stored on pause), because V8 moves
// variables captured by closures to the heap.
//
// Resumable: `run(stepsMax)` stops after about that many steps and returns undefined; the next call
// continues. The partition scheduler (linearizability.ts) interleaves partitions this way, so an
// invalid key is found without first exhausting an expensive valid one (Porcupine runs partitions
// in parallel goroutines and stops at the first illegal one).
//
// Invariants
//   - every entry before the cursor is a call entry (returns are never skipped over);
//   - `bits` has bit i set iff op i is linearized on the current stack; `zobrist` is the XOR of
//     zobristKey[i] over set bits (incremental hash, O(1) per push/pop);
//   - all bitset words below `loWord` are full, all above `hiWord` zero (memo windows);
//   - every memo entry is an exact (bitset window, state id) pair: a hash collision never prunes.
import { VisitedMemo } from './memo.ts';
import { canonicalKey, scalarKey } from './models/values.ts';
import { STEP_FAILS, type StateSpace, stateSpace } from './transitions.ts';
import type { Model, Operation, UnknownReason } from './types.ts';
import { RETURN_NEVER } from './types.ts';

const FULL = 0xffffffff;
/** Steps between two budget checks (the clock is read at most this often). */
export const CLOCK_EVERY_STEPS = 4096;

/** The budget of one check, shared by all its partitions. */
export interface Budget {
  readonly now: (() => number) | undefined;
  readonly deadlineMs: number;
  readonly statesExploredMax: number;
  readonly memoEntriesMax: number;
  statesExplored: number;
  /** Steps until the next budget check; shared by every partition of one check. */
  stepsUntilCheck: number;
}

/** The budget that is spent, if any (checked between slices and every CLOCK_EVERY_STEPS steps). */
export function spent(budget: Budget): UnknownReason | undefined {
  if (budget.statesExplored > budget.statesExploredMax) return 'memory budget';
  if (budget.now !== undefined && budget.now() > budget.deadlineMs) return 'time budget';
  return undefined;
}

export interface SearchOutcome {
  readonly verdict: 'valid' | 'invalid' | 'unknown';
  readonly reason?: UnknownReason;
  /** Op ids of the longest linearizable prefix found, in linearization order. */
  readonly prefix: number[];
}

/** Deterministic per-op keys for the incremental (Zobrist) hash of the bitset. */
function zobristKeys(count: number): Int32Array {
  const keys = new Int32Array(count);
  let x = 0x9e3779b9 | 0;
  for (let i = 0; i < count; i++) {
    // xorshift32
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    keys[i] = x;
  }
  return keys;
}

/** A value's identity in a signature: scalars cheaply (kinds prefixed), the rest canonically. */
function valueIdentity(value: unknown): string {
  const scalar = scalarKey(value);
  return scalar === undefined ? `c${canonicalKey(value)}` : typeof scalar === 'number' ? `d${scalar}` : scalar;
}

/** What the model sees of an op (Model contract): ops with equal signatures are twins. */
function signature(op: Operation): string {
  return `${op.f}\u0000${op.key ?? ''}\u0000${op.status}\u0000${valueIdentity(op.input)}\u0000${valueIdentity(op.output)}`;
}

export class WglSearch<S> {
  private readonly n: number;
  // The entry list: entries 1..2n; 0 is the head sentinel; -1 is "none".
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  private readonly entryOp: Int32Array;
  private readonly isCall: Uint8Array;
  /** Call entry → its return entry. */
  private readonly match: Int32Array;
  private readonly isInfo: Uint8Array;
  private readonly readOnly: Uint8Array;
  /** Op → the twin that must be linearized before it, or -1. */
  private readonly twinBefore: Int32Array;
  private readonly zobristKey: Int32Array;
  private readonly bits: Uint32Array;
  private readonly memo = new VisitedMemo();
  private readonly table: StateSpace;
  private readonly stackEntry: Int32Array;
  private readonly stackState: Int32Array;
  private readonly best: Int32Array;
  // The search position, kept in fields only between slices.
  private entry: number;
  private state: number;
  private depth = 0;
  private zobrist = 0;
  private loWord = 0;
  private hiWord = 0;
  private bestDepth = 0;
  private agree = 0;
  private outcome: SearchOutcome | undefined;
  /** Steps taken so far (over all slices). */
  steps = 0;

  /** `ops` ids must be 0..n-1. */
  constructor(
    ops: readonly Operation[],
    model: Model<S>,
    private readonly budget: Budget,
  ) {
    const n = ops.length;
    this.n = n;
    const entryCount = 2 * n + 1;
    this.next = new Int32Array(entryCount);
    this.prev = new Int32Array(entryCount);
    this.entryOp = new Int32Array(entryCount);
    this.isCall = new Uint8Array(entryCount);
    this.match = new Int32Array(entryCount);
    this.isInfo = new Uint8Array(n);
    this.readOnly = new Uint8Array(n);
    this.twinBefore = new Int32Array(n).fill(-1);
    this.buildEntries(ops, model);
    this.zobristKey = zobristKeys(n);
    this.bits = new Uint32Array((n + 31) >>> 5);
    this.table = stateSpace(model, ops);
    this.stackEntry = new Int32Array(n);
    this.stackState = new Int32Array(n);
    this.best = new Int32Array(n);
    this.state = this.table.initial();
    this.entry = this.next[0] as number;
    if (n === 0) this.outcome = { verdict: 'valid', prefix: [] };
  }

  /** Memo entries so far. */
  get memoEntries(): number {
    return this.memo.count;
  }

  private buildEntries(ops: readonly Operation[], model: Model<S>): void {
    const { n, next, prev, entryOp, isCall, match, isInfo, readOnly, twinBefore } = this;
    const entryCount = 2 * n + 1;
    // Events as codes: op * 2 for its call, op * 2 + 1 for its return.
    const time = new Float64Array(2 * n);
    const order = new Int32Array(2 * n);
    for (const op of ops) {
      time[2 * op.id] = op.call;
      time[2 * op.id + 1] = op.ret;
      order[2 * op.id] = 2 * op.id;
      order[2 * op.id + 1] = 2 * op.id + 1;
      if (op.ret === RETURN_NEVER) isInfo[op.id] = 1;
      if (model.readOnly?.(op) === true) readOnly[op.id] = 1;
    }
    // Ties only between info returns (all at +∞): keep call order. A call sorts before a
    // return at the same time, which makes the two concurrent (the permissive reading).
    order.sort((a, b) => {
      const dt = (time[a] as number) - (time[b] as number);
      if (dt !== 0) return dt;
      const aCall = (a & 1) === 0;
      return aCall === ((b & 1) === 0) ? a - b : aCall ? -1 : 1;
    });
    const callEntryOf = new Int32Array(n);
    const lastWithSignature = new Map<string, number>();
    for (let i = 0; i < order.length; i++) {
      const e = i + 1;
      const code = order[i] as number;
      const op = code >>> 1;
      entryOp[e] = op;
      prev[e] = e - 1;
      next[e] = e + 1 < entryCount ? e + 1 : -1;
      if ((code & 1) === 0) {
        isCall[e] = 1;
        callEntryOf[op] = e;
        const key = signature(ops[op] as Operation);
        const twin = lastWithSignature.get(key);
        if (twin !== undefined) twinBefore[op] = twin;
        lastWithSignature.set(key, op);
      } else {
        match[callEntryOf[op] as number] = e;
      }
    }
    next[0] = n === 0 ? -1 : 1;
    prev[0] = -1;
    // A twin orders the pair only when it is called first (above) and also returns first.
    for (let b = 0; b < n; b++) {
      const a = twinBefore[b] as number;
      if (a >= 0 && (match[callEntryOf[a] as number] as number) > (match[callEntryOf[b] as number] as number))
        twinBefore[b] = -1;
    }
  }

  private prefix(): number[] {
    return Array.from(this.best.subarray(0, this.bestDepth), (e) => this.entryOp[e] as number);
  }

  private finish(verdict: SearchOutcome['verdict'], reason?: UnknownReason): SearchOutcome {
    const prefix = verdict === 'valid' ? [] : this.prefix();
    this.outcome = reason === undefined ? { verdict, prefix } : { verdict, reason, prefix };
    return this.outcome;
  }

  /** Runs about `stepsMax` more steps; the outcome when the search ended, else undefined. */
  run(stepsMax: number): SearchOutcome | undefined {
    if (this.outcome !== undefined) return this.outcome;
    const { next, prev, entryOp, isCall, match, isInfo, readOnly, twinBefore, zobristKey, bits, memo, table } = this;
    const { stackEntry, stackState, best, budget } = this;
    const words = bits.length;
    let { entry, state, depth, zobrist, loWord, hiWord, bestDepth, agree } = this;
    let stepsLeft = stepsMax;
    const stepsBefore = budget.statesExplored;
    let ended: SearchOutcome['verdict'] | undefined;
    let reason: UnknownReason | undefined;
    // Setting/clearing a bit and lifting/unlifting entries are written out inline (hot loop).
    search: while (entry >= 0) {
      const op = entryOp[entry] as number;
      if (isCall[entry] === 1) {
        const twin = twinBefore[op] as number;
        if (twin >= 0 && (((bits[twin >>> 5] as number) >>> (twin & 31)) & 1) === 0) {
          entry = next[entry] as number; // its earlier twin goes first (reduction 2)
          continue;
        }
        if (--stepsLeft < 0) break; // pause: the position is saved below
        budget.statesExplored++;
        if (--budget.stepsUntilCheck === 0) {
          budget.stepsUntilCheck = CLOCK_EVERY_STEPS;
          reason = spent(budget);
          if (reason !== undefined) {
            ended = 'unknown';
            break;
          }
        }
        const to = table.step(state, op);
        if (to === STEP_FAILS) {
          entry = next[entry] as number;
          continue;
        }
        const w = op >>> 5;
        bits[w] = ((bits[w] as number) | (1 << (op & 31))) >>> 0;
        zobrist ^= zobristKey[op] as number;
        if (w > hiWord) hiWord = w;
        if (w === loWord) while (loWord < words && bits[loWord] === FULL) loWord++;
        if (!memo.seenOrAdd(bits, loWord, hiWord, to, (zobrist ^ Math.imul(to + 1, 0x9e3779b1)) | 0)) {
          if (memo.count > budget.memoEntriesMax) {
            ended = 'unknown';
            reason = 'memory budget';
            break;
          }
          if (depth < agree) agree = depth;
          stackEntry[depth] = entry;
          stackState[depth] = state;
          depth++;
          if (depth > bestDepth) {
            for (let i = agree; i < depth; i++) best[i] = stackEntry[i] as number;
            agree = depth;
            bestDepth = depth;
          }
          state = to;
          // Lift: unlink the call (never last: its return follows) and its return.
          const r = match[entry] as number;
          next[prev[entry] as number] = next[entry] as number;
          prev[next[entry] as number] = prev[entry] as number;
          next[prev[r] as number] = next[r] as number;
          if ((next[r] as number) >= 0) prev[next[r] as number] = prev[r] as number;
          entry = next[0] as number;
          continue;
        }
        // Seen before: clear the bit again.
        bits[w] = ((bits[w] as number) & ~(1 << (op & 31))) >>> 0;
        zobrist ^= zobristKey[op] as number;
        if (w < loWord) loWord = w;
        if (readOnly[op] === 0) {
          entry = next[entry] as number;
          continue;
        }
        // A read-only op that fits here leads only to a known dead end: so does this node (1).
      } else if (isInfo[op] === 1) {
        // An unlinearized return of an info op: every ok op is linearized (they return first);
        // the info ops left never took effect.
        ended = 'valid';
        break;
      }
      // Backtrack: pop the last linearized op and try the call after it. Popping a read-only op
      // means its node is exhausted as well (reduction 1): pop again.
      for (;;) {
        if (depth === 0) {
          ended = 'invalid';
          break search;
        }
        depth--;
        const top = stackEntry[depth] as number;
        state = stackState[depth] as number;
        const topOp = entryOp[top] as number;
        const w = topOp >>> 5;
        bits[w] = ((bits[w] as number) & ~(1 << (topOp & 31))) >>> 0;
        zobrist ^= zobristKey[topOp] as number;
        if (w < loWord) loWord = w;
        // Unlift: relink the return, then the call.
        const r = match[top] as number;
        if ((next[r] as number) >= 0) prev[next[r] as number] = r;
        next[prev[r] as number] = r;
        prev[next[top] as number] = top;
        next[prev[top] as number] = top;
        if (readOnly[topOp] === 0) {
          entry = next[top] as number;
          break;
        }
      }
    }
    if (entry < 0 && ended === undefined) ended = 'valid'; // the list is empty
    this.steps += budget.statesExplored - stepsBefore;
    this.entry = entry;
    this.state = state;
    this.depth = depth;
    this.zobrist = zobrist;
    this.loWord = loWord;
    this.hiWord = hiWord;
    this.bestDepth = bestDepth;
    this.agree = agree;
    return ended === undefined ? undefined : this.finish(ended, reason);
  }
}
