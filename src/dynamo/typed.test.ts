// Goal: Redis sets at N > 1 (typed.ts, an OR-Set sibling): SADDs coordinated concurrently by
// different replicas are all kept; a remove takes only the adds its replica observed, so an add
// concurrent with it survives (add wins) while a remove after the add was seen takes it; merge order
// does not matter; an emptied set reads as empty; a key holding a plain value or a counter answers
// wrong_type, and a counter operation on a set too. Negative control: a plain read-modify-write of
// the member list loses one of two concurrent SADDs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BaristaError } from '../lib/errors.ts';
import { counterValue } from './counter.ts';
import { applyTyped, hashEntries, hashField, hashOf, setMembers, setOf } from './typed.ts';
import { emptyContext, Versioned } from './versions.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();
let wall = 1_000;
const ts = () => ({ wallMs: wall++, logical: 0 });
const members = (s: Versioned): string[] => {
  const set = setOf(s);
  assert.ok(!(set instanceof BaristaError), 'a set');
  return setMembers(set).map((m) => dec.decode(m));
};
const sadd = (s: Versioned, r: string, ...m: string[]) =>
  applyTyped(s, r, { type: 'sadd', members: m.map((x) => enc.encode(x)) }, ts());
const srem = (s: Versioned, r: string, ...m: string[]) =>
  applyTyped(s, r, { type: 'srem', members: m.map((x) => enc.encode(x)) }, ts());

test('concurrent SADDs at different replicas are all kept, whatever the merge order', () => {
  const a = sadd(Versioned.empty(), 'n1', 'x', 'y');
  const b = sadd(Versioned.empty(), 'n2', 'z');
  const c = sadd(Versioned.empty(), 'n3', 'x', 'w');
  const m1 = a.merge(b).merge(c);
  const m2 = c.merge(a.merge(b));
  assert.ok(m1.equals(m2));
  assert.deepEqual(members(m1), ['w', 'x', 'y', 'z']);
});

test('negative control: a plain read-modify-write of the member list loses a concurrent SADD', () => {
  const base = Versioned.empty().update(emptyContext(), 'n1', enc.encode('x'), ts());
  const a = base.update(base.context(), 'n1', enc.encode('x,y'), ts());
  const b = base.update(base.context(), 'n2', enc.encode('x,z'), ts());
  const shown = dec.decode(a.merge(b).chosen()!.value!);
  assert.ok(shown === 'x,y' || shown === 'x,z', 'one of the two SADDs is not shown');
  assert.deepEqual(
    members(sadd(sadd(Versioned.empty(), 'n1', 'x', 'y').merge(sadd(Versioned.empty(), 'n2', 'x', 'z')), 'n1')),
    ['x', 'y', 'z'],
  );
});

test('a remove takes the adds its replica saw; an add concurrent with it survives (add wins)', () => {
  const added = sadd(Versioned.empty(), 'n1', 'x');
  // n2 has seen n1's add (replicated), removes x; concurrently n3 (which also saw it) adds x again.
  const removed = srem(added, 'n2', 'x');
  const readded = sadd(srem(added, 'n3', 'x'), 'n3', 'x');
  assert.deepEqual(members(removed), []);
  assert.deepEqual(members(removed.merge(readded)), ['x'], 'the concurrent add wins');
  // A remove after the add was seen everywhere takes it for good.
  const all = removed.merge(readded);
  const gone = srem(all, 'n1', 'x');
  assert.deepEqual(members(gone.merge(all).merge(readded)), []);
});

test('a removal on a replica that has not seen the add does not take it (why SREM reads first)', () => {
  const added = sadd(Versioned.empty(), 'n1', 'x');
  const blind = srem(Versioned.empty(), 'n2', 'x');
  assert.deepEqual(members(blind.merge(added)), ['x']);
  const seen = srem(Versioned.empty().merge(added), 'n2', 'x');
  assert.deepEqual(members(seen.merge(added)), []);
});

test('wrong types: a set op on a plain value or a counter, a counter op on a set', () => {
  const plain = Versioned.empty().update(emptyContext(), 'n1', enc.encode('v'), ts());
  assert.throws(
    () => sadd(plain, 'n1', 'x'),
    (e) => e instanceof BaristaError && e.code === 'wrong_type',
  );
  const counter = applyTyped(Versioned.empty(), 'n1', { type: 'incr', by: 3n }, ts());
  assert.equal(counterValue(counter), 3n);
  assert.throws(
    () => sadd(counter, 'n1', 'x'),
    (e) => e instanceof BaristaError && e.code === 'wrong_type',
  );
  const set = sadd(Versioned.empty(), 'n1', 'x');
  assert.throws(
    () => applyTyped(set, 'n1', { type: 'incr', by: 1n }, ts()),
    (e) => e instanceof BaristaError && e.code === 'wrong_type',
  );
  // After a DEL (tombstone) the key is an empty set again.
  const deleted = set.update(set.context(), 'n1', null, ts());
  assert.deepEqual(members(sadd(deleted, 'n2', 'y')), ['y']);
});

const hset = (s: Versioned, r: string, ...fv: string[]) =>
  applyTyped(s, r, { type: 'hset', members: fv.map((x) => enc.encode(x)) }, ts());
const hdel = (s: Versioned, r: string, ...f: string[]) =>
  applyTyped(s, r, { type: 'hdel', members: f.map((x) => enc.encode(x)) }, ts());
const fields = (s: Versioned): Record<string, string> => {
  const h = hashOf(s);
  assert.ok(!(h instanceof BaristaError), 'a hash');
  return Object.fromEntries(hashEntries(h).map(([f, v]) => [dec.decode(f), dec.decode(v)]));
};

test('hashes: concurrent HSETs of different fields are all kept; of one field the newest shows; HDEL takes what it saw', () => {
  const a = hset(Versioned.empty(), 'n1', 'f1', 'a', 'f2', 'a');
  const b = hset(Versioned.empty(), 'n2', 'f3', 'b');
  assert.deepEqual(fields(a.merge(b)), { f1: 'a', f2: 'a', f3: 'b' });
  const later = hset(Versioned.empty(), 'n3', 'f1', 'newer'); // written after a's (HLC)
  assert.equal(dec.decode(hashField(hashOf(a.merge(later)) as never, enc.encode('f1'))!), 'newer');
  // HDEL of f2 by a replica that saw it; a concurrent HSET of f2 elsewhere survives it.
  const deleted = hdel(a, 'n1', 'f2');
  assert.deepEqual(fields(deleted), { f1: 'a' });
  const concurrent = hset(a, 'n2', 'f2', 'kept');
  assert.deepEqual(fields(deleted.merge(concurrent)), { f1: 'a', f2: 'kept' });
  // Wrong types both ways.
  assert.throws(
    () => hset(sadd(Versioned.empty(), 'n1', 'x'), 'n1', 'f', 'v'),
    (e) => e instanceof BaristaError && e.code === 'wrong_type',
  );
  assert.throws(
    () => sadd(a, 'n1', 'x'),
    (e) => e instanceof BaristaError && e.code === 'wrong_type',
  );
});

test('expiry of typed keys: EXPIRE keeps the join, later updates keep the deadline, an expired key restarts empty', () => {
  const incr = (s: Versioned, r: string, by: bigint, at: number) =>
    applyTyped(s.expiredAsTombstones(at), r, { type: 'incr', by }, { wallMs: at, logical: 0 });
  const expire = (s: Versioned, r: string, deadline: number, at: number) =>
    applyTyped(s.expiredAsTombstones(at), r, { type: 'expire', expiresAtMs: deadline }, { wallMs: at, logical: 0 });
  // Two replicas count concurrently; n1 has seen both when it sets the deadline.
  const a = incr(Versioned.empty(), 'n1', 5n, 10_000);
  const b = incr(Versioned.empty(), 'n2', 3n, 10_001);
  const withTtl = expire(a.merge(b), 'n1', 20_000, 10_002);
  assert.equal(withTtl.siblings.length, 1, 'one sibling supersedes both');
  assert.equal(withTtl.siblings[0]!.expiresAtMs, 20_000);
  assert.equal(counterValue(withTtl), 8n, 'the join of both counts');
  const back = Versioned.decode(withTtl.encode());
  assert.ok(back.equals(withTtl), 'a CRDT with a deadline round-trips (value tag 4)');
  // INCR keeps the TTL (Redis); SADD/HSET likewise through keptDeadline.
  const later = incr(withTtl, 'n2', 1n, 15_000);
  assert.equal(later.siblings[0]!.expiresAtMs, 20_000);
  assert.equal(counterValue(later), 9n);
  // Past the deadline the key reads as absent, and an INCR starts from 0 without a deadline.
  assert.equal(counterValue(later.expiredAsTombstones(20_000)), null);
  const fresh = incr(later, 'n1', 1n, 20_001);
  assert.equal(counterValue(fresh), 1n, 'the expired counts do not come back');
  assert.equal(fresh.siblings.find((s) => s.value !== null)?.expiresAtMs, undefined);
  // PERSIST: deadline 0 drops it.
  const persisted = expire(withTtl, 'n2', 0, 12_000);
  assert.equal(persisted.siblings[0]!.expiresAtMs, undefined);
  assert.equal(counterValue(persisted.expiredAsTombstones(1e12)), 8n);
  // A set and a hash keep their deadline through SADD / HSET.
  const set = applyTyped(
    expire(sadd(Versioned.empty(), 'n1', 'x'), 'n1', 50_000, 10_000),
    'n2',
    { type: 'sadd', members: [enc.encode('y')] },
    { wallMs: 11_000, logical: 0 },
  );
  assert.equal(set.siblings[0]!.expiresAtMs, 50_000);
  assert.deepEqual(members(set), ['x', 'y']);
  // An increment concurrent with the EXPIRE (not seen by it) stays, without the deadline.
  const concurrent = incr(b, 'n2', 4n, 10_003);
  const merged = withTtl.merge(concurrent);
  assert.equal(counterValue(merged.expiredAsTombstones(30_000)), 7n, "n2's unseen sibling outlives the deadline");
});
