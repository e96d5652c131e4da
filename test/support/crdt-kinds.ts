// Test support for src/crdt: every CRDT type behind one interface (a random operation, merge,
// codec, value), and a random execution at several replicas that exchanges deltas and full states
// in any order, with duplicates. The property tests in src/crdt/*.test.ts run over these.
import fc from 'fast-check';
import {
  type ByteString,
  GCounter,
  GSet,
  LWWRegister,
  MVRegister,
  ORMap,
  ORSet,
  PNCounter,
  type Schema,
  type Update,
} from '../../src/crdt/crdt.ts';
import type { HlcTimestamp } from '../../src/lib/clocks/hlc.ts';

/** One operation's random inputs; each kind reads what it needs. */
export interface OpArgs {
  readonly pick: number;
  readonly elem: number;
  readonly key: number;
  readonly amount: number;
  readonly ts: HlcTimestamp;
}

export interface Kind<T> {
  readonly name: string;
  readonly empty: T;
  op(state: T, replica: string, a: OpArgs): Update<T>;
  merge(a: T, b: T): T;
  encode(t: T): Uint8Array;
  decode(bytes: Uint8Array): T;
  value(t: T): unknown;
}

/** Few distinct elements so operations collide; includes the bytes 0x00 and 0xff. */
export const ELEMENTS: readonly ByteString[] = ['a', 'b', 'c', '\x00', '\xff\x01'];
const KEYS: readonly ByteString[] = ['f1', 'f2', 'f3'];
export const elem = (a: OpArgs): ByteString => ELEMENTS[a.elem % ELEMENTS.length]!;
export const keyOf = (a: OpArgs): ByteString => KEYS[a.key % KEYS.length]!;
export const blob = (a: OpArgs): Uint8Array => new Uint8Array([a.elem % 7, a.amount % 3]);

export const gcounter: Kind<GCounter> = {
  name: 'G-Counter',
  empty: GCounter.empty,
  op: (s, r, a) => s.increment(r, BigInt((a.amount % 5) + 1)),
  merge: GCounter.merge,
  encode: (t) => t.encode(),
  decode: (b) => GCounter.decode(b),
  value: (t) => t.value(),
};

/** The signed amount a PN-Counter operation adds (the oracle uses the same function). */
export const pnAmount = (a: OpArgs): bigint => BigInt((a.amount % 9) - 4 || 5);

export const pncounter: Kind<PNCounter> = {
  name: 'PN-Counter',
  empty: PNCounter.empty,
  op: (s, r, a) => s.increment(r, pnAmount(a)),
  merge: PNCounter.merge,
  encode: (t) => t.encode(),
  decode: (b) => PNCounter.decode(b),
  value: (t) => t.value(),
};

export const gset: Kind<GSet> = {
  name: 'G-Set',
  empty: GSet.empty,
  op: (s, _r, a) => s.add(elem(a)),
  merge: GSet.merge,
  encode: (t) => t.encode(),
  decode: (b) => GSet.decode(b),
  value: (t) => t.value(),
};

/** add 3/6, remove 2/6, clear 1/6. */
export function orsetOp(s: ORSet, r: string, a: OpArgs): Update<ORSet> {
  const p = a.pick % 6;
  return p < 3 ? s.add(r, elem(a)) : p < 5 ? s.remove(elem(a)) : s.clear();
}

export const orset: Kind<ORSet> = {
  name: 'OR-Set',
  empty: ORSet.empty,
  op: orsetOp,
  merge: ORSet.merge,
  encode: (t) => t.encode(),
  decode: (b) => ORSet.decode(b),
  value: (t) => t.value(),
};

export const lww: Kind<LWWRegister> = {
  name: 'LWW-Register',
  empty: LWWRegister.empty,
  op: (s, r, a) => s.set(r, blob(a), a.ts),
  merge: LWWRegister.merge,
  encode: (t) => t.encode(),
  decode: (b) => LWWRegister.decode(b),
  value: (t) => t.value(),
};

/** write 5/6, clear 1/6. */
export function mvregOp(s: MVRegister, r: string, a: OpArgs): Update<MVRegister> {
  return a.pick % 6 < 5 ? s.write(r, blob(a), a.ts) : s.clear();
}

export const mvreg: Kind<MVRegister> = {
  name: 'MV-Register',
  empty: MVRegister.empty,
  op: mvregOp,
  merge: MVRegister.merge,
  encode: (t) => t.encode(),
  decode: (b) => MVRegister.decode(b),
  value: (t) => t.value(),
};

function ormapKind(
  name: string,
  valueSchema: Schema,
  op: (s: ORMap, r: string, a: OpArgs) => Update<ORMap>,
): Kind<ORMap> {
  return {
    name,
    empty: ORMap.empty(valueSchema),
    op,
    merge: ORMap.merge,
    encode: (t) => t.encode(),
    decode: (b) => ORMap.decode(b, valueSchema),
    value: (t) => t.value(),
  };
}

/** A Redis hash: fields are MV-Registers read through resolve(). apply 4/6, remove 1/6, clear 1/6. */
export const ormapOfRegisters = ormapKind('OR-Map<MV-Register>', MVRegister.schema, (s, r, a) => {
  const p = a.pick % 6;
  if (p < 4) return s.apply<MVRegister>(keyOf(a), (reg) => mvregOp(reg, r, { ...a, pick: p }));
  return p < 5 ? s.remove(keyOf(a)) : s.clear();
});

export const ormapOfSets = ormapKind('OR-Map<OR-Set>', ORSet.schema, (s, r, a) => {
  const p = a.pick % 6;
  if (p < 5) return s.apply<ORSet>(keyOf(a), (set) => orsetOp(set, r, { ...a, pick: p }));
  return s.remove(keyOf(a));
});

/** Two levels: OR-Map<OR-Map<OR-Set>>, operations reaching the inner sets and removing at either level. */
export const ormapOfMaps = ormapKind('OR-Map<OR-Map<OR-Set>>', { type: 'ormap', value: ORSet.schema }, (s, r, a) => {
  const p = a.pick % 8;
  const outer = KEYS[a.key % 2]!;
  const inner = KEYS[(a.amount >> 1) % 2]!;
  if (p < 6) {
    return s.apply<ORMap>(outer, (m) =>
      p < 5 ? m.apply<ORSet>(inner, (set) => orsetOp(set, r, { ...a, pick: p })) : m.remove(inner),
    );
  }
  return s.remove(outer);
});

export const ALL_KINDS: readonly Kind<unknown>[] = [
  gcounter,
  pncounter,
  gset,
  orset,
  lww,
  mvreg,
  ormapOfRegisters,
  ormapOfSets,
  ormapOfMaps,
] as Kind<unknown>[];

// ---------------------------------------------------------------------------------------------
// Random executions.

export type Step =
  | { readonly t: 'op'; readonly at: number; readonly args: OpArgs }
  | { readonly t: 'deliver'; readonly to: number; readonly msg: number };

export const opArgsArb: fc.Arbitrary<OpArgs> = fc.record({
  pick: fc.nat(1000),
  elem: fc.nat(1000),
  key: fc.nat(1000),
  amount: fc.nat(1000),
  // Few distinct wall times so timestamps tie and the replica-id tie-break is exercised.
  ts: fc.tuple(fc.nat(5), fc.nat(2)).map(([wallMs, logical]) => ({ wallMs, logical })),
});

export const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ t: fc.constant('op' as const), at: fc.nat(4), args: opArgsArb }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('deliver' as const), to: fc.nat(4), msg: fc.nat(10_000) }) },
);

export interface Execution<T> {
  readonly replicas: string[];
  /** Final state of each replica. */
  readonly finals: T[];
  /** Every delta produced, in production order. */
  readonly deltas: T[];
  /** Every state and delta seen along the way (samples for the algebraic laws). */
  readonly samples: T[];
  /** Operations run: replica index and arguments. */
  readonly ops: { at: number; args: OpArgs }[];
}

export interface RunOptions<T> {
  /** Messages carry deltas, full states, or both (picked by the step). */
  readonly carry: 'deltas' | 'states' | 'both';
  /** Called after each operation with the replica's state before it, the update, and another replica's state. */
  readonly onOp?: (before: T, u: Update<T>, other: T) => void;
}

/** Runs `steps` at `replicaCount` replicas; a delivery merges a message from the pool (duplicates allowed). */
export function execute<T>(
  kind: Kind<T>,
  replicaCount: number,
  steps: readonly Step[],
  o: RunOptions<T>,
): Execution<T> {
  const replicas = Array.from({ length: replicaCount }, (_, i) => `n${i}`);
  const states: T[] = replicas.map(() => kind.empty);
  const pool: T[] = [];
  const deltas: T[] = [];
  const samples: T[] = [kind.empty];
  const ops: { at: number; args: OpArgs }[] = [];
  for (const s of steps) {
    if (s.t === 'op') {
      const at = s.at % replicaCount;
      const before = states[at]!;
      const u = kind.op(before, replicas[at]!, s.args);
      o.onOp?.(before, u, states[(at + 1) % replicaCount]!);
      states[at] = u.state;
      deltas.push(u.delta);
      if (o.carry !== 'states') pool.push(u.delta);
      if (o.carry !== 'deltas') pool.push(u.state);
      samples.push(u.state, u.delta);
      ops.push({ at, args: s.args });
    } else if (pool.length > 0) {
      const to = s.to % replicaCount;
      states[to] = kind.merge(states[to]!, pool[s.msg % pool.length]!);
      samples.push(states[to]!);
    }
  }
  return { replicas, finals: states, deltas, samples, ops };
}

export const executionArb = fc.record({
  replicaCount: fc.integer({ min: 3, max: 5 }),
  steps: fc.array(stepArb, { maxLength: 40 }),
});
