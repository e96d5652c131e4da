// Model states of one string register with appends (Porcupine's KV partitions) as hash-consed ids.
//
// Why: on a KV partition nearly every step appends, and the generic table (transitions.ts) had to
// build the new ~1.4 KB string, wrap it in a Map state and hash the whole string to identify it:
// ~1 µs a step on Porcupine's c50 files. Here a state is (parent id, appended value id) with a
// polynomial hash and a length kept incrementally, so an append costs O(|appended value|) and no
// allocation; the string itself is built only to confirm a read whose length and hash match, or
// when two states collide on (hash, length).
//
// Exactness (the memo needs equal states to share one id): a new (parent, value) child is looked
// up by (hash, length) among all states and compared as text on a match, so equal strings reached
// by different appends ("a"+"bc" and "ab"+"c") still get one id. Reads compare text exactly after
// the cheap length and hash filters: a hash collision can cost time, never a wrong verdict.
//
// Bounds: one state per id the search creates, and every new id is first recorded in the memo,
// which the caller bounds (CheckOptions.memoEntriesMax); the (parent, value) → child table holds
// at most one entry per new state. Texts are cached only for states a read confirmed.
import type { StringRegisterOp } from './types.ts';

/** A step that does not linearize in that state (the same value as transitions.ts's). */
const STEP_FAILS = -1;
/** Hash base (odd: multiplication by it is a bijection mod 2^32). */
const BASE = 0x01000193;
/** Initial capacity of the per-state arrays and of the child table (doubles when needed). */
const CAPACITY_INITIAL = 1 << 4;

const KIND_NONE = 0;
const KIND_READ = 1;
const KIND_WRITE = 2;
const KIND_APPEND = 3;

function grownInt(array: Int32Array<ArrayBuffer>, length: number): Int32Array<ArrayBuffer> {
  const next = new Int32Array(length);
  next.set(array);
  return next;
}

export class StringRegisterStates {
  // Values (distinct strings of the ops): text, hash, BASE^length.
  private readonly valueText: string[] = [];
  private readonly valueHash: Int32Array;
  private readonly valuePow: Int32Array;
  private readonly opKind: Uint8Array;
  private readonly opValue: Int32Array;
  /** Value id → the state a write of it makes (-1: not yet). */
  private readonly writeState: Int32Array;
  // Per state: parent (-1: a root whose text is its value), value appended (or root value), hash, length.
  private parent = new Int32Array(CAPACITY_INITIAL);
  private piece = new Int32Array(CAPACITY_INITIAL);
  private hash = new Int32Array(CAPACITY_INITIAL);
  private length = new Int32Array(CAPACITY_INITIAL);
  private nextWithHash = new Int32Array(CAPACITY_INITIAL);
  private readonly text: Array<string | undefined> = [];
  private readonly firstWithHash = new Map<number, number>();
  // (parent, value) → child, open addressing; slot holds child + 1 (0 = empty).
  private childSlots = new Int32Array(CAPACITY_INITIAL * 2);
  private children = 0;
  private readonly initialId: number;
  /** States interned so far. */
  count = 0;
  /** Strings built (to confirm a read or an (hash, length) collision): the cost this table avoids. */
  textsBuilt = 0;

  constructor(initial: string, ops: readonly StringRegisterOp[]) {
    const idOfValue = new Map<string, number>();
    const valueIdOf = (text: string): number => {
      let id = idOfValue.get(text);
      if (id === undefined) {
        id = this.valueText.length;
        this.valueText.push(text);
        idOfValue.set(text, id);
      }
      return id;
    };
    const initialValue = valueIdOf(initial);
    this.opKind = new Uint8Array(ops.length);
    this.opValue = new Int32Array(ops.length);
    ops.forEach((op, i) => {
      this.opKind[i] =
        op.kind === 'read'
          ? KIND_READ
          : op.kind === 'write'
            ? KIND_WRITE
            : op.kind === 'append'
              ? KIND_APPEND
              : KIND_NONE;
      this.opValue[i] = valueIdOf(op.value);
    });
    const values = this.valueText.length;
    this.valueHash = new Int32Array(values);
    this.valuePow = new Int32Array(values);
    this.writeState = new Int32Array(values).fill(-1);
    for (let v = 0; v < values; v++) {
      const s = this.valueText[v] as string;
      let h = 0;
      let pow = 1;
      for (let i = 0; i < s.length; i++) {
        h = (Math.imul(h, BASE) + s.charCodeAt(i)) | 0;
        pow = Math.imul(pow, BASE);
      }
      this.valueHash[v] = h;
      this.valuePow[v] = pow;
    }
    this.initialId = this.root(initialValue);
  }

  /** The initial state's id. */
  initial(): number {
    return this.initialId;
  }

  /** The state id after op `op` from state `id`, or STEP_FAILS. */
  step(id: number, op: number): number {
    const kind = this.opKind[op] as number;
    const v = this.opValue[op] as number;
    if (kind === KIND_APPEND) return this.appended(id, v);
    if (kind === KIND_READ) {
      const text = this.valueText[v] as string;
      if (this.length[id] !== text.length || this.hash[id] !== this.valueHash[v]) return STEP_FAILS;
      return this.textOf(id) === text ? id : STEP_FAILS;
    }
    if (kind === KIND_WRITE) return this.root(v);
    return id;
  }

  /** The state's string (built from its ancestors and cached when asked for). */
  textOf(id: number): string {
    const known = this.text[id];
    if (known !== undefined) return known;
    const pieces: number[] = [];
    let at = id;
    let base = '';
    for (;;) {
      const cached = this.text[at];
      if (cached !== undefined) {
        base = cached;
        break;
      }
      pieces.push(this.piece[at] as number);
      const up = this.parent[at] as number;
      if (up < 0) break;
      at = up;
    }
    let s = base;
    for (let i = pieces.length - 1; i >= 0; i--) s += this.valueText[pieces[i] as number] as string;
    this.textsBuilt++;
    this.text[id] = s;
    return s;
  }

  private root(v: number): number {
    const known = this.writeState[v] as number;
    if (known >= 0) return known;
    const text = this.valueText[v] as string;
    const id = this.intern(this.valueHash[v] as number, text.length, -1, v);
    this.writeState[v] = id;
    return id;
  }

  private appended(id: number, v: number): number {
    const valueText = this.valueText[v] as string;
    if (valueText.length === 0) return id;
    const slots = this.childSlots;
    const mask = slots.length - 1;
    let slot = (Math.imul(id, 0x9e3779b1) ^ Math.imul(v + 1, 0x85ebca6b)) & mask;
    for (;;) {
      const found = slots[slot] as number;
      if (found === 0) break;
      const child = found - 1;
      if (this.parent[child] === id && this.piece[child] === v) return child;
      slot = (slot + 1) & mask;
    }
    const hash = (Math.imul(this.hash[id] as number, this.valuePow[v] as number) + (this.valueHash[v] as number)) | 0;
    const child = this.intern(hash, (this.length[id] as number) + valueText.length, id, v);
    // A child reached as an existing state (another decomposition) is not cached: its parent
    // and piece are the other ones, and the probe above compares against those.
    if (this.parent[child] === id && this.piece[child] === v) {
      slots[slot] = child + 1;
      this.children++;
      if (this.children * 2 > slots.length) this.rehashChildren();
    }
    return child;
  }

  /** The id of parent's text + piece's (piece's alone for parent -1); built only on a collision. */
  private intern(hash: number, length: number, parent: number, piece: number): number {
    const head = this.firstWithHash.get(hash);
    let candidate = head ?? -1;
    let built: string | undefined;
    while (candidate >= 0) {
      if (this.length[candidate] === length) {
        if (built === undefined) {
          const pieceText = this.valueText[piece] as string;
          built = parent < 0 ? pieceText : this.textOf(parent) + pieceText;
          this.textsBuilt++;
        }
        if (this.textOf(candidate) === built) return candidate;
      }
      candidate = this.nextWithHash[candidate] as number;
    }
    const id = this.count;
    if (id === this.parent.length) {
      const capacity = id * 2;
      this.parent = grownInt(this.parent, capacity);
      this.piece = grownInt(this.piece, capacity);
      this.hash = grownInt(this.hash, capacity);
      this.length = grownInt(this.length, capacity);
      this.nextWithHash = grownInt(this.nextWithHash, capacity);
    }
    this.parent[id] = parent;
    this.piece[id] = piece;
    this.hash[id] = hash;
    this.length[id] = length;
    this.nextWithHash[id] = head ?? -1;
    this.firstWithHash.set(hash, id);
    this.count = id + 1;
    return id;
  }

  private rehashChildren(): void {
    const slots = new Int32Array(this.childSlots.length * 2);
    const mask = slots.length - 1;
    for (const found of this.childSlots) {
      if (found === 0) continue;
      const child = found - 1;
      let slot =
        (Math.imul(this.parent[child] as number, 0x9e3779b1) ^
          Math.imul((this.piece[child] as number) + 1, 0x85ebca6b)) &
        mask;
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = found;
    }
    this.childSlots = slots;
  }
}
