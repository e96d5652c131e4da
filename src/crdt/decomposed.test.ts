// Goal: a decomposed collection (decomposed.ts) is the same CRDT as the whole value, step for step.
// Three replicas each keep both: the whole OR-Set / OR-Map (the reference, joined with whole
// deltas and states) and the decomposed one (header + rows, joined with row deltas, clears and
// paged full-state joins). Random operations of the four Redis shapes (set; hash: OR-Map of
// MV-Registers; list: OR-Map of OR-Sets; sorted set: OR-Map of one-key OR-Maps of MV-Registers),
// deliveries in any order, clears and full joins in random page sizes: after every step each
// replica's decomposed value encodes to the reference's bytes, its count and digest are those of
// its rows, and every row's dots lie in its context (R2). Joins whose pages interleave with other
// work, joins abandoned, reads that join a peer's rows of a few elements (joinRows) and single
// pages joined outside a join (joinRange: a list's tail read) keep R2 at every step and still converge to the join of everything. A delta arriving between two pages of a
// join does not re-add what the sender removed (a regression test that fails without knownFor); the
// digest tells different rows apart. Negative controls: a delta that does not list an element it
// removes (R1 broken) leaves the element behind; the R2 check fires on a row outside the context.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { HlcTimestamp } from '../lib/clocks/hlc.ts';
import { LimitError, ProtocolError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import type { Schema } from './causal.ts';
import type { ByteString, Update } from './codec.ts';
import {
  type CollectionCrdt,
  collectionOf,
  DecomposedCollection,
  type DecomposedDelta,
  MemoryRows,
  type Row,
  type RowJoin,
  rowDigest,
  rowDots,
} from './decomposed.ts';
import { CausalContext } from './dots.ts';
import type { ORMap } from './ormap.ts';
import { ORSet } from './orset.ts';
import type { MVRegister } from './registers.ts';

type Shape = 'set' | 'hash' | 'list' | 'zset';
const SHAPES: readonly Shape[] = ['set', 'hash', 'list', 'zset'];
const REG: Schema = { type: 'mvreg' };
const SCHEMAS: Record<Shape, Schema> = {
  set: { type: 'orset' },
  hash: { type: 'ormap', value: REG },
  list: { type: 'ormap', value: { type: 'orset' } },
  zset: { type: 'ormap', value: { type: 'ormap', value: REG } },
};
const REPLICAS = ['n1', 'n2', 'n3'];
const ELEMENTS = ['', 'a', 'b', 'c', 'd\u00ff', 'e'];

type Op = (view: CollectionCrdt) => Update<CollectionCrdt>;

function writeOp(shape: Shape, replica: string, e: ByteString, v: number, ts: HlcTimestamp): Op {
  const bytes = new Uint8Array([v & 0xff]);
  switch (shape) {
    case 'set':
      return (s) => (s as ORSet).add(replica, e);
    case 'hash':
      return (m) => (m as ORMap).apply(e, (r: MVRegister) => r.write(replica, bytes, ts));
    case 'list':
      return (m) => (m as ORMap).apply(e, (s: ORSet) => s.add(replica, String.fromCharCode(v & 0xff)));
    case 'zset':
      return (m) =>
        (m as ORMap).apply(e, (inner: ORMap) => inner.apply('s', (r: MVRegister) => r.write(replica, bytes, ts)));
  }
}

/** Removes each element in turn: the deltas joined (several removes in one command: LREM, SREM a b). */
function removeOp(elements: readonly ByteString[]): Op {
  return (c) => {
    let state = c;
    let delta: CollectionCrdt | undefined;
    for (const e of elements) {
      const u = state.remove(e) as Update<CollectionCrdt>;
      state = u.state;
      delta = delta === undefined ? u.delta : merge(delta, u.delta);
    }
    return { state, delta: delta! };
  };
}

function merge(a: CollectionCrdt, b: CollectionCrdt): CollectionCrdt {
  return a instanceof ORSet ? a.merge(b as ORSet) : (a as ORMap).merge(b as ORMap);
}

function emptyWith(shape: Shape, context: CausalContext): CollectionCrdt {
  return collectionOf(SCHEMAS[shape], new Map(), context);
}

function emptyRef(shape: Shape): CollectionCrdt {
  return emptyWith(shape, CausalContext.empty);
}

type Inbound =
  | { readonly kind: 'delta'; readonly ref: CollectionCrdt; readonly dec: DecomposedDelta }
  | { readonly kind: 'clear'; readonly context: CausalContext };

interface Replica {
  ref: CollectionCrdt;
  readonly dec: DecomposedCollection;
  readonly rows: MemoryRows;
  inbox: Inbound[];
}

function replicas(shape: Shape): Replica[] {
  return REPLICAS.map(() => {
    const rows = new MemoryRows();
    return { ref: emptyRef(shape), dec: DecomposedCollection.empty(SCHEMAS[shape], rows), rows, inbox: [] };
  });
}

/** Full-state join of `from` into `to` in one go, `pageRows` rows a page. */
function pagedJoin(from: Replica, to: Replica, pageRows: number): void {
  const j = to.dec.startJoin();
  for (let at: ByteString | undefined = ''; at !== undefined; ) {
    const p = from.dec.page(at, pageRows);
    to.dec.joinPage(j, p);
    at = p.to;
  }
}

/** Count, digest and R2 of one replica's decomposed state. */
function checkHeader(r: Replica, label: string): void {
  const h = r.dec.header;
  let digest = 0n;
  let count = 0;
  for (const [e, row] of r.rows.range('', undefined)) {
    count++;
    digest = (digest + rowDigest(h.schema, e, row)) & ((1n << 64n) - 1n);
    for (const d of rowDots(h.schema, row)) {
      assert.ok(
        h.context.has(d),
        `${label}: row ${JSON.stringify(e)} holds ${d.replica}:${d.counter} outside the context`,
      );
    }
  }
  assert.equal(h.count, count, `${label}: count`);
  assert.equal(h.digest, digest, `${label}: digest`);
}

function sameAsReference(r: Replica, label: string): void {
  assert.deepEqual(r.dec.whole().encode(), r.ref.encode(), `${label}: decomposed differs from the whole value`);
}

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ t: fc.constant('write' as const), r: fc.nat(2), e: fc.nat(5), v: fc.nat(255) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('remove' as const),
      r: fc.nat(2),
      es: fc.uniqueArray(fc.nat(5), { minLength: 1, maxLength: 3 }),
    }),
  },
  { weight: 6, arbitrary: fc.record({ t: fc.constant('deliver' as const), r: fc.nat(2), i: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('clear' as const), r: fc.nat(2) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('join' as const),
      from: fc.nat(2),
      to: fc.nat(2),
      page: fc.integer({ min: 1, max: 4 }),
    }),
  },
);

type Step =
  | { readonly t: 'write'; readonly r: number; readonly e: number; readonly v: number }
  | { readonly t: 'remove'; readonly r: number; readonly es: readonly number[] }
  | { readonly t: 'deliver'; readonly r: number; readonly i: number }
  | { readonly t: 'clear'; readonly r: number }
  | { readonly t: 'join'; readonly from: number; readonly to: number; readonly page: number };

/** The whole CRDT a decomposed delta stands for. */
function wholeOf(shape: Shape, d: DecomposedDelta): CollectionCrdt {
  return collectionOf(SCHEMAS[shape], d.rows, d.context);
}

/** Every delta and clear made, as whole CRDTs: their join is what all replicas converge to. */
type Made = CollectionCrdt[];

function runStep(shape: Shape, rs: Replica[], s: Step, wall: number, made: Made = []): void {
  switch (s.t) {
    case 'write':
    case 'remove': {
      const me = rs[s.r]!;
      const elements = s.t === 'write' ? [ELEMENTS[s.e]!] : s.es.map((i) => ELEMENTS[i]!);
      const op =
        s.t === 'write'
          ? writeOp(shape, REPLICAS[s.r]!, elements[0]!, s.v, { wallMs: wall, logical: 0 })
          : removeOp(elements);
      const u = op(me.ref);
      me.ref = u.state;
      const dec = me.dec.update(elements, op);
      made.push(wholeOf(shape, dec));
      for (const other of rs) if (other !== me) other.inbox.push({ kind: 'delta', ref: u.delta, dec });
      return;
    }
    case 'deliver': {
      const me = rs[s.r]!;
      if (me.inbox.length === 0) return;
      const [m] = me.inbox.splice(s.i % me.inbox.length, 1);
      if (m!.kind === 'delta') {
        me.ref = merge(me.ref, m!.ref);
        me.dec.applyDelta(m!.dec);
      } else {
        me.ref = merge(me.ref, emptyWith(shape, m!.context));
        me.dec.applyClear(m!.context);
      }
      return;
    }
    case 'clear': {
      const me = rs[s.r]!;
      const context = me.dec.clear();
      made.push(emptyWith(shape, context));
      me.ref = merge(me.ref, emptyWith(shape, context));
      for (const other of rs) if (other !== me) other.inbox.push({ kind: 'clear', context });
      return;
    }
    case 'join': {
      if (s.from === s.to) return;
      pagedJoin(rs[s.from]!, rs[s.to]!, s.page);
      rs[s.to]!.ref = merge(rs[s.to]!.ref, rs[s.from]!.ref);
      return;
    }
  }
}

for (const shape of SHAPES) {
  test(`decomposed ${shape}: every step equals the whole-value CRDT (deltas in any order, clears, paged joins)`, () => {
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 20, maxLength: 80 }), (steps) => {
        const rs = replicas(shape);
        steps.forEach((s, i) => {
          runStep(shape, rs, s, 1_000 + i);
          rs.forEach((r, j) => {
            sameAsReference(r, `step ${i} (${s.t}) replica ${j}`);
            checkHeader(r, `step ${i} replica ${j}`);
          });
        });
        // Every message delivered and a round of full joins: all replicas equal, digests too.
        for (const r of rs) while (r.inbox.length > 0) runStep(shape, rs, { t: 'deliver', r: rs.indexOf(r), i: 0 }, 0);
        for (const a of [0, 1, 2])
          for (const b of [0, 1, 2]) runStep(shape, rs, { t: 'join', from: a, to: b, page: 2 }, 0);
        for (const r of rs) {
          assert.deepEqual(r.dec.whole().encode(), rs[0]!.dec.whole().encode());
          assert.equal(r.dec.header.digest, rs[0]!.dec.header.digest);
        }
      }),
      { numRuns: 150 },
    );
  });

  test(`decomposed ${shape}: joins interleaved with writes or cut short, and reads of some rows, converge to the join of everything`, () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            stepArb,
            fc.record({ t: fc.constant('start' as const), from: fc.nat(2), to: fc.nat(2) }),
            fc.record({ t: fc.constant('page' as const), i: fc.nat(), rows: fc.integer({ min: 1, max: 3 }) }),
            fc.record({ t: fc.constant('abandon' as const), i: fc.nat() }),
            fc.record({
              t: fc.constant('read' as const),
              from: fc.nat(2),
              to: fc.nat(2),
              es: fc.uniqueArray(fc.nat(5), { minLength: 1, maxLength: 3 }),
            }),
            fc.record({
              t: fc.constant('range' as const),
              from: fc.nat(2),
              to: fc.nat(2),
              at: fc.nat(5),
              rows: fc.integer({ min: 1, max: 3 }),
            }),
          ),
          { minLength: 20, maxLength: 100 },
        ),
        (steps) => {
          const rs = replicas(shape);
          const made: Made = [];
          // Joins in flight: each page is built from its sender's state when it is sent.
          let flying: { from: Replica; to: Replica; join: RowJoin; at: ByteString }[] = [];
          steps.forEach((s, i) => {
            if (s.t === 'start') {
              if (s.from !== s.to)
                flying.push({ from: rs[s.from]!, to: rs[s.to]!, join: rs[s.to]!.dec.startJoin(), at: '' });
            } else if (s.t === 'read') {
              // A read of some elements at a peer, joined into the reader (a coordinator's read).
              if (s.from === s.to) return;
              const es = s.es.map((k) => ELEMENTS[k]!);
              const view = rs[s.from]!.dec.view(es);
              rs[s.to]!.dec.joinRows(es, view.store as ReadonlyMap<ByteString, Row>, view.context);
            } else if (s.t === 'range') {
              // One page of a peer's rows from an element on, joined outside any join (a list's tail read).
              if (s.from === s.to) return;
              const at = [...ELEMENTS].sort()[s.at]!;
              rs[s.to]!.dec.joinRange(rs[s.from]!.dec.page(at, s.rows));
            } else if (s.t === 'page' || s.t === 'abandon') {
              const f = flying[s.i % Math.max(1, flying.length)];
              if (f === undefined) return;
              if (s.t === 'abandon') {
                f.to.dec.abandonJoin(f.join);
                flying = flying.filter((x) => x !== f);
                return;
              }
              const p = f.from.dec.page(f.at, s.rows);
              f.to.dec.joinPage(f.join, p);
              if (p.to === undefined) flying = flying.filter((x) => x !== f);
              else f.at = p.to;
            } else {
              runStep(shape, rs, s, 1_000 + i, made);
            }
            for (const [j, r] of rs.entries()) checkHeader(r, `step ${i} replica ${j}`);
          });
          for (const f of flying) f.to.dec.abandonJoin(f.join);
          for (const r of rs)
            while (r.inbox.length > 0) runStep(shape, rs, { t: 'deliver', r: rs.indexOf(r), i: 0 }, 0);
          // A join cut short moves knowledge the references never see, so the references are no
          // oracle here: the join of every delta and clear made is.
          const truth = made.reduce(merge, emptyRef(shape));
          for (let round = 0; round < 2; round++) {
            for (const a of [0, 1, 2]) for (const b of [0, 1, 2]) if (a !== b) pagedJoin(rs[a]!, rs[b]!, 2);
          }
          for (const r of rs) {
            assert.deepEqual(r.dec.whole().encode(), truth.encode());
            checkHeader(r, 'after healing');
          }
        },
      ),
      { numRuns: 150 },
    );
  });
}

test('decomposed: an update touches only the rows it names (one push on a 1,000-element list reads and writes one row)', () => {
  const rows = new MemoryRows();
  const list = DecomposedCollection.empty(SCHEMAS.list, rows);
  for (let i = 0; i < 1_000; i++) {
    list.update([`k${String(i).padStart(4, '0')}`], (m) =>
      (m as ORMap).apply(`k${String(i).padStart(4, '0')}`, (s: ORSet) => s.add('n1', 'v')),
    );
  }
  let gets = 0;
  let puts = 0;
  const counting = {
    get: (e: ByteString) => {
      gets++;
      return rows.get(e);
    },
    put: (e: ByteString, r: Row) => {
      puts++;
      return rows.put(e, r);
    },
    delete: (e: ByteString) => rows.delete(e),
    range: () => assert.fail('an update must not walk the rows'),
  };
  const again = new DecomposedCollection(list.header, counting);
  const d = again.update(['a'], (m) => (m as ORMap).apply('a', (s: ORSet) => s.add('n1', 'w')));
  assert.equal(again.header.count, 1_001);
  assert.deepEqual(d.touched, ['a']);
  assert.ok(gets <= 3 && puts === 1, `gets ${gets}, puts ${puts}`);
});

test('negative control (R1): a delta that does not list the element it removes leaves it behind', () => {
  const [a, b] = replicas('set');
  const add = a!.dec.update(['x'], (s) => (s as ORSet).add('n1', 'x'));
  b!.dec.applyDelta(add);
  const remove = a!.dec.update(['x'], (s) => s.remove('x') as Update<CollectionCrdt>);
  b!.dec.applyDelta({ ...remove, touched: [] });
  assert.equal(b!.dec.header.count, 1, 'the element stays where the delta did not list it');
  assert.equal(a!.dec.header.count, 0);
  b!.dec.applyDelta(remove);
  assert.equal(b!.dec.header.count, 0, 'the listed delta removes it');
});

test('a delta arriving between the pages of a join does not re-add what the sender had removed', () => {
  // C adds x; the delta reaches A only; A removes x. B joins A's rows page by page, and C's add
  // reaches B between A's pages: B must not keep x (the whole-value join of A, C's delta and B has
  // no x). Before knownFor, B joined that delta with a context that did not yet hold A's, and kept x.
  const [a, b, c] = replicas('set');
  const add = c!.dec.update(['x'], (s) => (s as ORSet).add('n3', 'x'));
  a!.dec.applyDelta(add);
  a!.dec.update(['w'], (s) => (s as ORSet).add('n1', 'w'));
  a!.dec.update(['y'], (s) => (s as ORSet).add('n1', 'y'));
  a!.dec.update(['x'], (s) => s.remove('x') as Update<CollectionCrdt>);
  const join = b!.dec.startJoin();
  const first = a!.dec.page('', 1); // w, up to y: x's place is inside
  assert.equal(first.to, 'y');
  b!.dec.joinPage(join, first);
  b!.dec.applyDelta(add); // x lies in the range already joined
  assert.equal(b!.rows.get('x'), undefined, 'x stays removed');
  const second = a!.dec.page('y', 1);
  b!.dec.joinPage(join, second);
  assert.equal(second.to, undefined);
  assert.deepEqual(b!.dec.whole().encode(), (a!.dec.whole() as ORSet).merge(wholeOf('set', add) as ORSet).encode());
  // Out of order, twice, or after the end: refused, nothing changed.
  assert.throws(() => b!.dec.joinPage(join, first), { code: 'crdt_malformed' });
  const j2 = b!.dec.startJoin();
  assert.throws(() => b!.dec.joinPage(j2, second), { code: 'crdt_malformed' });
});

test('the digest tells different rows apart (and equal states have equal digests)', () => {
  fc.assert(
    fc.property(fc.array(stepArb, { minLength: 10, maxLength: 40 }), (steps) => {
      const rs = replicas('hash');
      for (const [i, s] of steps.entries()) runStep('hash', rs, s, 1_000 + i);
      for (const x of rs) {
        for (const y of rs) {
          const rowsOf = (r: Replica) =>
            JSON.stringify([...r.rows.range('', undefined)], (_, v) => (v instanceof Uint8Array ? [...v] : v));
          assert.equal(x.dec.header.digest === y.dec.header.digest, rowsOf(x) === rowsOf(y));
        }
      }
    }),
    { numRuns: 100 },
  );
});

test('negative control: the R2 check fires on a row whose dot the context does not cover', () => {
  const rows = new MemoryRows();
  rows.put('x', [{ replica: 'n1', counter: 1 }]);
  const digest = rowDigest(SCHEMAS.set, 'x', rows.get('x')!);
  const dec = new DecomposedCollection({ schema: SCHEMAS.set, context: CausalContext.empty, count: 1, digest }, rows);
  assert.throws(() => checkHeader({ ref: emptyRef('set'), dec, rows, inbox: [] }, 'forged'), /outside the context/);
});

test('decomposed: malformed deltas and pages are ProtocolErrors', () => {
  const [a] = replicas('set');
  const row = [{ replica: 'n1', counter: 1 }];
  const context = CausalContext.fromDots(row);
  assert.throws(() => a!.dec.applyDelta({ touched: [], rows: new Map([['x', row]]), context }), {
    code: 'crdt_malformed',
  });
  assert.throws(() => a!.dec.joinPage(a!.dec.startJoin(), { from: '', to: '', rows: new Map(), context }), {
    code: 'crdt_malformed',
  });
  assert.throws(
    () => a!.dec.joinPage(a!.dec.startJoin(), { from: '', to: 'c', rows: new Map([['x', row]]), context }),
    {
      code: 'crdt_malformed',
    },
  );
  assert.throws(() => a!.dec.joinRows(['y'], new Map([['x', row]]), context), { code: 'crdt_malformed' });
  assert.equal(a!.dec.header.count, 0);
});

test('a join, clear or delta that changes nothing writes no row', () => {
  // Found by review: every surviving row was rewritten (joinStore returns new objects), so a full
  // join with an equal replica rewrote the whole collection.
  const [a, b] = replicas('hash');
  const deltas: DecomposedDelta[] = [];
  for (let i = 0; i < 100; i++) {
    const e = `f${i}`;
    deltas.push(
      a!.dec.update([e], (m) =>
        (m as ORMap).apply(e, (r: MVRegister) => r.write('n1', new Uint8Array([i]), { wallMs: 1_000 + i, logical: 0 })),
      ),
    );
  }
  for (const d of deltas) b!.dec.applyDelta(d);
  let puts = 0;
  const counting = {
    get: (e: ByteString) => b!.rows.get(e),
    put: (e: ByteString, r: Row) => {
      puts++;
      return b!.rows.put(e, r);
    },
    delete: (e: ByteString) => b!.rows.delete(e),
    range: (from: ByteString, to: ByteString | undefined) => b!.rows.range(from, to),
  };
  const watched = new DecomposedCollection(b!.dec.header, counting);
  const join = watched.startJoin();
  for (let at: ByteString | undefined = ''; at !== undefined; ) {
    const p = a!.dec.page(at, 7);
    watched.joinPage(join, p);
    at = p.to;
  }
  watched.applyClear(CausalContext.empty);
  watched.applyDelta(deltas[42]!);
  assert.equal(puts, 0);
  assert.equal(watched.header.count, 100);
});

test('joins in progress are bounded (dynamoCollectionJoinsCountMax: one per read and sender)', () => {
  const [a] = replicas('set');
  const joins = Array.from({ length: limits.dynamoCollectionJoinsCountMax }, () => a!.dec.startJoin());
  assert.throws(() => a!.dec.startJoin(), LimitError);
  a!.dec.abandonJoin(joins[0]!);
  a!.dec.startJoin();
});

test('a tracked collection gives each element changed since a mark with its row then; past the journal bound the oldest marks get none, and untracked it records nothing', () => {
  const dc = DecomposedCollection.empty(ORSet.schema, new MemoryRows());
  const add = (e: string) => dc.update([e], (v) => (v as ORSet).add('r', e));
  const remove = (e: string) => dc.update([e], (v) => v.remove(e) as Update<CollectionCrdt>);
  add('a');
  const aThen = dc.rows.get('a');
  assert.equal(dc.changesSince(0), undefined, 'nothing is recorded before a track');
  const mark = dc.track();
  add('b');
  remove('a');
  add('a');
  const since = dc.changesSince(mark)!;
  assert.deepEqual([...since.keys()].sort(), ['a', 'b']);
  assert.equal(since.get('b'), undefined, 'b had no row at the mark');
  assert.deepEqual(since.get('a'), aThen, "a's row at the mark, not after its removal");
  const later = dc.track();
  add('c');
  assert.deepEqual([...dc.changesSince(later)!.keys()], ['c']);
  assert.deepEqual(dc.recent().sort(), ['a', 'b', 'c']);
  // Past the bound the oldest half goes: the first mark's changes are no longer all known.
  for (let i = 0; i < limits.dynamoRowJournalCountMax; i++) add(`x${i}`);
  assert.equal(dc.changesSince(mark), undefined);
  assert.equal(dc.recent().length, limits.dynamoRecentRowsCountMax);
  dc.untrack();
  dc.untrack();
  add('d');
  assert.equal(dc.changesSince(later), undefined, 'untracked: nothing recorded');
});

test("the journal's marks across half-drops and a restart: each tracker's changes are whole or none, and its rows before are bounded in bytes", () => {
  // Rows whose replaced rows each took 2,000 bytes where they were stored (as StoredRows says).
  const memory = new MemoryRows();
  const sized: ElementRowsLike = {
    get: (e) => memory.get(e),
    put: (e, r) => {
      const had = memory.get(e) !== undefined;
      memory.put(e, r);
      return had ? 2_000 : 0;
    },
    delete: (e) => {
      memory.delete(e);
      return 2_000;
    },
    range: (from, to) => memory.range(from, to),
  };
  const dc = DecomposedCollection.empty(ORSet.schema, sized);
  const add = (e: string) => dc.update([e], (v) => (v as ORSet).add('r', e));
  const remove = (e: string) => dc.update([e], (v) => v.remove(e) as Update<CollectionCrdt>);
  for (let i = 0; i < 10; i++) add(`k${i}`);
  const first = dc.track();
  remove('k0');
  const second = dc.track();
  remove('k1');
  assert.deepEqual([...dc.changesSince(first)!.keys()], ['k0', 'k1']);
  assert.deepEqual([...dc.changesSince(second)!.keys()], ['k1']);
  // 2,100 removals of rows that took 2,000 bytes each: fewer than dynamoRowJournalCountMax, more
  // than dynamoRowJournalBytesMax, so the byte bound drops the oldest half and the marks before
  // it get none; a mark after keeps every change of its own.
  assert.ok(2_100 < limits.dynamoRowJournalCountMax && 2_100 * 2_000 > limits.dynamoRowJournalBytesMax);
  for (let i = 0; i < 2_110; i++) add(`x${i}`);
  const third = dc.track();
  for (let i = 0; i < 2_100; i++) remove(`x${i}`);
  assert.equal(dc.changesSince(first), undefined, 'the first mark: its changes are no longer all recorded');
  assert.equal(dc.changesSince(third), undefined, 'past the byte bound');
  const fourth = dc.track();
  for (let i = 2_100; i < 2_110; i++) remove(`x${i}`);
  assert.equal(dc.changesSince(fourth)?.size, 10, 'a mark after the drop keeps its changes');
  dc.untrack();
  // Tracked again: the journal starts at the new mark.
  const again = dc.track();
  remove('k2');
  assert.deepEqual([...dc.changesSince(again)!.keys()], ['k2']);
  assert.equal(dc.changesSince(third), undefined, 'a mark from before the restart');
  dc.untrack();
});

type ElementRowsLike = ConstructorParameters<typeof DecomposedCollection>[1];

test('a join from the end takes its pages backwards only: the first reaches the end, each next ends where the one before began; the last (from the start) ends it and joins its context', () => {
  const dc = DecomposedCollection.empty(ORSet.schema, new MemoryRows());
  const page = (from: string, to: string | undefined, context = CausalContext.empty) => ({
    from,
    to,
    rows: new Map<ByteString, Row>(),
    context,
  });
  const j = dc.startBackJoin();
  const malformed = (e: unknown) => e instanceof ProtocolError && e.code === 'crdt_malformed';
  assert.throws(() => dc.joinBackPage(j, page('m', 'z')), malformed, 'a first page not at the end');
  dc.joinBackPage(j, page('m', undefined, CausalContext.fromDots([{ replica: 'p', counter: 3 }])));
  assert.throws(() => dc.joinBackPage(j, page('a', 'n')), malformed, 'a gap');
  assert.throws(() => dc.joinPage(j, page('', 'm')), malformed, 'forwards');
  assert.equal(dc.joining, 1);
  assert.ok(!dc.context.has({ replica: 'p', counter: 3 }), 'the context joins only at the last page');
  dc.joinBackPage(j, page('', 'm'));
  assert.equal(dc.joining, 0);
  assert.ok(dc.context.has({ replica: 'p', counter: 3 }));
});

test("a row before too large for the journal alone is not kept, and every mark before it loses its changes: a later mark's changes are its own (the review's case: an empty journal tripping the byte bound shifted every later mark by one)", () => {
  const memory = new MemoryRows();
  const huge = limits.dynamoRowJournalBytesMax + 1;
  const sized: ElementRowsLike = {
    get: (e) => memory.get(e),
    put: (e, r) => {
      const had = memory.get(e) !== undefined;
      memory.put(e, r);
      return had ? huge : 0;
    },
    delete: (e) => {
      memory.delete(e);
      return huge;
    },
    range: (from, to) => memory.range(from, to),
  };
  const dc = DecomposedCollection.empty(ORSet.schema, sized);
  const add = (e: string) => dc.update([e], (v) => (v as ORSet).add('r', e));
  const remove = (e: string) => dc.update([e], (v) => v.remove(e) as Update<CollectionCrdt>);
  add('big');
  add('x');
  const before = dc.track();
  remove('big');
  assert.equal(dc.changesSince(before), undefined, 'its change is not recorded');
  const after = dc.track();
  assert.deepEqual([...dc.changesSince(after)!.keys()], [], 'no change since the mark after it');
  add('y');
  const later = dc.track();
  add('z');
  assert.deepEqual([...dc.changesSince(after)!.keys()], ['y', 'z']);
  assert.deepEqual([...dc.changesSince(later)!.keys()], ['z']);
  assert.equal(dc.changesSince(later)!.get('z'), undefined, 'z had no row then');
  dc.untrack();
  dc.untrack();
  dc.untrack();
});
