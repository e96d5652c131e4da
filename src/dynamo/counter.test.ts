// Goal: Redis counters at N > 1 (counter.ts) — increments coordinated concurrently by different
// replicas all count once their siblings merge (any merge order), a counter starts from a plain
// integer value (SET k 10, INCR k = 11) and from nothing or a tombstone (0), Redis' errors for a
// non-integer value and for int64 overflow, GET shows the counter as decimal text and a newer SET
// wins over it. Negative control: a plain read-modify-write (what INCR would be without the CRDT)
// loses one of two concurrent increments.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { BaristaError, ProtocolError } from '../lib/errors.ts';
import { parseInt64 } from '../redis/args.ts';
import { counterUpdate, counterValue, NOT_INTEGER, OVERFLOW, readableValue } from './counter.ts';
import { emptyContext, Versioned } from './versions.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();
let wall = 1_000;
const ts = () => ({ wallMs: wall++, logical: 0 });

test('concurrent increments at different replicas all count after merge, in any order', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.constantFrom('n1', 'n2', 'n3'), fc.bigInt({ min: -1000n, max: 1000n })), { maxLength: 12 }),
      fc.array(fc.nat(), { minLength: 3, maxLength: 3 }),
      (ops, order) => {
        // Each replica increments its own local state, never seeing the others (a partition).
        const local = new Map<string, Versioned>([
          ['n1', Versioned.empty()],
          ['n2', Versioned.empty()],
          ['n3', Versioned.empty()],
        ]);
        let sum = 0n;
        for (const [r, by] of ops) {
          local.set(r, counterUpdate(local.get(r)!, r, by, ts()));
          sum += by;
        }
        const states = [...local.values()].sort(
          (a, b) => (order[0]! % 2 === 0 ? 1 : -1) * (a.siblings.length - b.siblings.length),
        );
        const merged = states.reduce((m, s) => m.merge(s), Versioned.empty());
        const other = [...states].reverse().reduce((m, s) => s.merge(m), Versioned.empty());
        assert.ok(merged.equals(other), 'merge order does not matter');
        const v = counterValue(merged);
        assert.equal(v === null ? 0n : v, sum);
      },
    ),
  );
});

test('negative control: a plain read-modify-write loses one of two concurrent increments', () => {
  const base = Versioned.empty().update(emptyContext(), 'n1', enc.encode('10'), ts());
  // Both replicas read 10 and write 11 with the context they read: siblings "11" and "11".
  const a = base.update(base.context(), 'n1', enc.encode('11'), ts());
  const b = base.update(base.context(), 'n2', enc.encode('11'), ts());
  assert.equal(dec.decode(readableValue(a.merge(b))!), '11', 'two increments, one counted');
  // The counter keeps both.
  const ca = counterUpdate(base, 'n1', 1n, ts());
  const cb = counterUpdate(base, 'n2', 1n, ts());
  assert.equal(counterValue(ca.merge(cb)), 12n);
});

test('a counter starts from a plain integer, from nothing and from a tombstone; a newer SET wins', () => {
  const set10 = Versioned.empty().update(emptyContext(), 'n1', enc.encode('10'), ts());
  const c = counterUpdate(set10, 'n2', 1n, ts());
  assert.equal(counterValue(c), 11n);
  assert.equal(dec.decode(readableValue(c)!), '11');
  assert.equal(c.siblings.length, 1, 'the counter superseded the plain value');
  assert.equal(counterValue(counterUpdate(Versioned.empty(), 'n1', -5n, ts())), -5n);
  const deleted = set10.update(set10.context(), 'n1', null, ts());
  assert.equal(counterValue(counterUpdate(deleted, 'n1', 2n, ts())), 2n);
  const reset = c.update(c.context(), 'n3', enc.encode('7'), ts());
  assert.equal(dec.decode(readableValue(reset)!), '7');
  assert.equal(counterValue(counterUpdate(reset, 'n1', 1n, ts())), 8n);
  assert.equal(counterValue(counterUpdate(c, 'n1', 0n, ts())), 11n, 'INCRBY 0 reads');
});

test("Redis' errors: a value that is not an integer, and int64 overflow", () => {
  const text = Versioned.empty().update(emptyContext(), 'n1', enc.encode('abc'), ts());
  assert.throws(
    () => counterUpdate(text, 'n1', 1n, ts()),
    (e) => e instanceof BaristaError && e.message === NOT_INTEGER,
  );
  assert.ok(counterValue(text) instanceof BaristaError);
  const max = Versioned.empty().update(emptyContext(), 'n1', enc.encode('9223372036854775807'), ts());
  assert.throws(
    () => counterUpdate(max, 'n1', 1n, ts()),
    (e) => e instanceof BaristaError && e.message === OVERFLOW,
  );
  for (const bad of ['', '01', '-0', '+1', '1 ', '9223372036854775808', '1.5']) {
    assert.equal(parseInt64(enc.encode(bad)), undefined, bad);
  }
  assert.equal(parseInt64(enc.encode('-9223372036854775808')), -(2n ** 63n));
});

test('a counter sibling survives the wire encoding of a Versioned state', () => {
  const c = counterUpdate(Versioned.empty(), 'n1', 41n, ts());
  const back = Versioned.decode(c.encode());
  assert.ok(back.equals(c));
  assert.equal(back.siblings[0]!.crdt, true);
  assert.equal(counterValue(counterUpdate(back, 'n1', 1n, ts())), 42n);
});

test('a state whose counter sibling holds garbage is refused when decoded (untrusted peer bytes)', () => {
  const c = counterUpdate(Versioned.empty(), 'n1', 41n, ts()).encode();
  const bad = c.slice();
  bad[bad.length - 1] = 0xff; // inside the counter's encoding
  assert.throws(
    () => Versioned.decode(bad),
    (e) => e instanceof ProtocolError,
  );
});
