// Goal: the replicated state machine routes by namespace and is total — an entry that is not an
// envelope, an unknown namespace or a payload its namespace cannot decode is an error *result*
// on every replica, never an exception; the envelope and result decoders accept no malformed
// bytes silently and never throw; the leader's stamp rewrites only time and term; snapshots are
// sections, an unknown section is refused, and restore is all-or-nothing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ByteReader, ByteWriter } from '../lib/bytes.ts';
import { BaristaError, CorruptionError } from '../lib/errors.ts';
import {
  decodeEnvelope,
  decodeRsmResult,
  decodeSessionOp,
  type Envelope,
  encodeEnvelope,
  encodeRsmResult,
  encodeSessionOp,
  stampEnvelope,
} from './envelope.ts';
import { defaultSessionOptions } from './sessions.ts';
import { ReplicatedStateMachine } from './state-machine.ts';
import { COUNTER_ID, CounterNamespace, TestLog } from './testing.ts';

function setup() {
  const sm = new ReplicatedStateMachine({ sessions: defaultSessionOptions });
  const a = new CounterNamespace('a', 90);
  const b = new CounterNamespace('b', 91);
  sm.register(a);
  sm.register(b);
  return { sm, a, b, log: new TestLog(sm) };
}

const envelopeArb = fc.record({
  stampMs: fc.double({ noNaN: true, noDefaultInfinity: true }),
  term: fc.nat(),
  namespace: fc.nat({ max: 300 }),
  sessionId: fc.nat(),
  seq: fc.nat(),
  payload: fc.uint8Array({ maxLength: 20 }),
});

test('envelope: round trip; every strict prefix is refused; random bytes never throw', () => {
  fc.assert(
    fc.property(envelopeArb, (e) => {
      const bytes = encodeEnvelope(e);
      const back = decodeEnvelope(bytes) as Envelope;
      assert.deepEqual({ ...back, payload: [...back.payload] }, { ...e, payload: [...e.payload] });
      // The payload is the rest, so a cut inside it is another payload; a cut in the header is not.
      const headerBytes = bytes.length - e.payload.length;
      for (let n = 0; n < headerBytes; n++) {
        const cut = decodeEnvelope(bytes.subarray(0, n));
        assert.ok(cut instanceof BaristaError && cut.code === 'malformed_command', `prefix ${n}`);
      }
    }),
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
      const e = decodeEnvelope(bytes);
      if (!(e instanceof BaristaError)) assert.equal(bytes[0], 2);
      const r = decodeRsmResult(bytes);
      if (r instanceof BaristaError) assert.equal(r.code, 'malformed');
      decodeSessionOp(bytes);
    }),
  );
  const nonFinite = new ByteWriter().u8(2).f64(Number.NaN).f64(1).uvarint(0).uvarint(0).uvarint(0).finish();
  assert.ok(decodeEnvelope(nonFinite) instanceof BaristaError, 'a NaN log time is refused');
  const badTerm = new ByteWriter().u8(2).f64(0).f64(1.5).uvarint(0).uvarint(0).uvarint(0).finish();
  assert.ok(decodeEnvelope(badTerm) instanceof BaristaError, 'a fractional term is refused');
});

test('stampEnvelope rewrites only the stamp, in a copy; bytes that are not an envelope pass unchanged', () => {
  fc.assert(
    fc.property(envelopeArb, fc.nat(), fc.nat(), (e, at, term) => {
      const bytes = encodeEnvelope(e);
      const stamped = stampEnvelope(bytes, at, term);
      assert.deepEqual(decodeEnvelope(stamped), {
        ...e,
        stampMs: at,
        term,
        payload: stamped.subarray(bytes.length - e.payload.length),
      });
      assert.deepEqual(decodeEnvelope(bytes), decodeEnvelope(encodeEnvelope(e)), 'the input is untouched');
    }),
  );
  const legacy = new Uint8Array([1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(stampEnvelope(legacy, 5, 5), legacy);
});

test('routing: each namespace sees its own commands; unknown namespace and bad payloads are error results', () => {
  const { sm, a, b, log } = setup();
  const add = (namespace: number, payload: Uint8Array) =>
    CounterNamespace.totalOf(log.submit({ namespace, sessionId: 0, seq: 0, payload }));
  assert.equal(add(90, CounterNamespace.add(2)), 2);
  assert.equal(add(91, CounterNamespace.add(5)), 5);
  assert.equal(add(92, CounterNamespace.add(1)), 'unknown_namespace');
  assert.equal(add(90, new Uint8Array([1, 2])), 'malformed_command', 'a payload the namespace cannot decode');
  assert.equal(add(0, new Uint8Array([77])), 'malformed_command', 'an unknown session op');
  assert.deepEqual([a.total, b.total], [2, 5]);
  const before = sm.logTimeMs;
  const junk = decodeRsmResult(sm.apply(++log.index, new Uint8Array([9, 1, 2, 3])));
  assert.deepEqual(junk, { status: 'refused', code: 'malformed_command' }, 'not an envelope, no translator');
  assert.equal(sm.logTimeMs, before);
  assert.equal(sm.malformedCount, 3);
});

test('a session refusal is cached per session like any result; a malformed payload under a session is too', () => {
  const { a, log } = setup();
  const s = log.register() as number;
  const r1 = log.submit({ namespace: COUNTER_ID, sessionId: s, seq: 1, payload: new Uint8Array([1]) });
  const r2 = log.submit({ namespace: COUNTER_ID, sessionId: s, seq: 1, payload: CounterNamespace.add(1) });
  assert.deepEqual(r2, r1, 'the retry of seq 1 answers what seq 1 answered');
  assert.equal(a.total, 0);
});

test('a stamp whose log time would leave ±LOG_TIME_MS_MAX is malformed_command and moves nothing; the snapshot loads', () => {
  const { sm, a, log } = setup();
  const add = (atMs: number, term: number) =>
    CounterNamespace.totalOf(
      log.submit({ namespace: COUNTER_ID, sessionId: 0, seq: 0, payload: CounterNamespace.add(1) }, { atMs, term }),
    );
  assert.equal(add(1000, 1), 1);
  // Each stamp is finite; a huge absolute one, or a finite sum that overflows, is not a log time.
  assert.equal(add(Number.MAX_SAFE_INTEGER + 2 ** 11, 0), 'malformed_command', 'absolute stamp out of range');
  assert.equal(add(Number.MAX_SAFE_INTEGER - 1000, 2), 1 + 1, 'a sum right at the bound is fine');
  assert.equal(add(1.7e308, 3), 'malformed_command', 'a sum that is out of range');
  assert.equal(add(-1.7e308, 3), 'malformed_command', 'a sum far below');
  assert.deepEqual([a.total, sm.logTimeMs, sm.malformedCount], [2, Number.MAX_SAFE_INTEGER, 3]);
  const copy = setup();
  copy.sm.restore(log.index, sm.snapshot());
  assert.equal(copy.sm.logTimeMs, Number.MAX_SAFE_INTEGER);
  assert.equal(add(1.7e308, 0), 'malformed_command');
  copy.sm.restore(log.index, sm.snapshot());
});

test('namespaces register before the state machine starts, with unique ids and names', () => {
  const { sm, log } = setup();
  assert.throws(() => sm.register(new CounterNamespace('c', 90)), /id 90 is taken/);
  assert.throws(() => sm.register(new CounterNamespace('a', 93)), /name a is taken/);
  assert.throws(() => sm.register(new CounterNamespace('sessions', 94)), /taken/);
  assert.throws(() => sm.register(new CounterNamespace('x', 0)), /id 0 is taken/);
  log.register();
  assert.throws(() => sm.register(new CounterNamespace('late', 95)), /after the state machine started/);
});

/** Sections of an image, by name (test-side reader of the format in state-machine.ts). */
function sectionsOf(image: Uint8Array): [string, Uint8Array][] {
  const r = new ByteReader(image);
  r.u8();
  r.uvarint();
  const out: [string, Uint8Array][] = [];
  for (let n = r.uvarint(); n > 0; n--) out.push([r.stringUvarint(), r.bytesUvarint()]);
  return out;
}

function imageOf(index: number, sections: [string, Uint8Array][]): Uint8Array {
  const w = new ByteWriter().u8(3).uvarint(index).uvarint(sections.length);
  for (const [name, body] of sections) w.stringUvarint(name).bytesUvarint(body);
  return w.finish();
}

test('snapshot sections: sessions first, then each namespace by name; a restore reproduces all', () => {
  const { sm, log } = setup();
  const s = log.register({ atMs: 7, term: 2 }) as number;
  log.submit({ namespace: 91, sessionId: s, seq: 1, payload: CounterNamespace.add(3) }, { atMs: 9, term: 2 });
  log.submit({ namespace: 90, sessionId: 0, seq: 0, payload: CounterNamespace.add(4) }, { atMs: 9, term: 2 });
  const image = sm.snapshot();
  assert.deepEqual(
    sectionsOf(image).map(([n]) => n),
    ['sessions', 'a', 'b'],
  );
  const copy = setup();
  copy.sm.restore(log.index, image);
  assert.deepEqual([copy.a.total, copy.b.total, copy.sm.sessionCount, copy.sm.logTimeMs], [4, 3, 1, 9]);
  assert.deepEqual(copy.sm.snapshot(), image);
});

test('restore is all-or-nothing; an unknown section is refused; a missing one restores empty', () => {
  const { sm, log } = setup();
  log.register();
  log.submit({ namespace: 90, sessionId: 0, seq: 0, payload: CounterNamespace.add(4) });
  log.submit({ namespace: 91, sessionId: 0, seq: 0, payload: CounterNamespace.add(5) });
  const good = sectionsOf(sm.snapshot());
  const target = setup();
  target.log.submit({ namespace: 90, sessionId: 0, seq: 0, payload: CounterNamespace.add(1) });
  const untouched = target.sm.snapshot();
  const refuse = (image: Uint8Array, pattern: RegExp) => {
    assert.throws(
      () => target.sm.restore(10, image),
      (err) => err instanceof CorruptionError && pattern.test(err.message),
    );
    assert.deepEqual(target.sm.snapshot(), untouched, 'nothing was installed');
  };
  // The last section is bad: the sessions and "a" sections decoded fine, yet none is installed.
  refuse(imageOf(3, [good[0]!, good[1]!, ['b', new Uint8Array([9])]]), /unknown version/);
  refuse(imageOf(3, [...good, ['zookeeper', new Uint8Array(0)]]), /section zookeeper belongs to no namespace/);
  refuse(imageOf(3, [good[0]!, good[0]!]), /twice/);
  refuse(imageOf(30, good), /taken at 30, installed as 10/);
  refuse(new Uint8Array([2, 0, 0]), /unknown format 2/);
  refuse(imageOf(3, good).subarray(0, 12), /truncated/);
  target.sm.restore(10, imageOf(3, [good[0]!, good[1]!]));
  assert.deepEqual([target.a.total, target.b.total], [4, 0], 'b had no section: it restores empty');
  assert.equal(target.sm.appliedIndex, 10);
});

test('session op codec round trip', () => {
  for (const op of [{ op: 'register', clientAddress: '10.0.0.1' }, { op: 'unregister' }] as const)
    assert.deepEqual(decodeSessionOp(encodeSessionOp(op)), op);
  assert.ok(decodeSessionOp(new Uint8Array([2, 0])) instanceof BaristaError, 'trailing bytes are refused');
  const r = encodeRsmResult({ status: 'refused', code: 'stale_sequence' });
  assert.deepEqual(decodeRsmResult(r), { status: 'refused', code: 'stale_sequence' });
  const unknownCode = new ByteWriter().u8(1).stringUvarint('nope').finish();
  assert.ok(decodeRsmResult(unknownCode) instanceof BaristaError);
});

// Everything sessions and namespaces depend on is in the snapshot: a replica restored at any
// point and fed the rest of the log ends in exactly the state of one that applied it all —
// across registrations, evictions, expiries, retries, terms (and their grants) and malformed
// entries.
test('replicas agree after a snapshot at any point, under random sessions, stamps and terms', () => {
  const commandArb = fc.oneof(
    fc.record({ kind: fc.constant('register' as const), address: fc.constantFrom('x', 'y') }),
    fc.record({ kind: fc.constant('unregister' as const), session: fc.nat({ max: 30 }) }),
    fc.record({
      kind: fc.constant('add' as const),
      namespace: fc.constantFrom(90, 91, 92),
      session: fc.nat({ max: 30 }),
      seq: fc.nat({ max: 4 }),
      n: fc.nat({ max: 9 }),
    }),
    fc.record({ kind: fc.constant('junk' as const), bytes: fc.uint8Array({ maxLength: 6 }) }),
  );
  const stepArb = fc.record({ command: commandArb, dt: fc.nat({ max: 700 }), newTerm: fc.boolean() });
  const small = { sessionsMax: 3, sessionsPerClientMax: 2, sessionTimeoutMs: 1_000, bytesMax: 1e9 };
  const replica = () => {
    const sm = new ReplicatedStateMachine({ sessions: small });
    sm.register(new CounterNamespace('a', 90));
    sm.register(new CounterNamespace('b', 91));
    return sm;
  };
  fc.assert(
    fc.property(fc.array(stepArb, { maxLength: 40 }), fc.nat({ max: 40 }), (steps, cut) => {
      let term = 1;
      let stampMs = 0;
      const entries = steps.map(({ command: c, dt, newTerm }) => {
        if (newTerm) [term, stampMs] = [term + 1, 0];
        else stampMs += dt;
        const at = { stampMs, term };
        if (c.kind === 'junk') return c.bytes;
        if (c.kind === 'register') {
          const payload = encodeSessionOp({ op: 'register', clientAddress: c.address });
          return encodeEnvelope({ ...at, namespace: 0, sessionId: 0, seq: 0, payload });
        }
        if (c.kind === 'unregister')
          return encodeEnvelope({
            ...at,
            namespace: 0,
            sessionId: c.session,
            seq: 0,
            payload: encodeSessionOp({ op: 'unregister' }),
          });
        const payload = CounterNamespace.add(c.n);
        return encodeEnvelope({ ...at, namespace: c.namespace, sessionId: c.session, seq: c.seq, payload });
      });
      const whole = replica();
      const answers = entries.map((e, i) => whole.apply(i + 1, e));
      const prefix = replica();
      const k = Math.min(cut, entries.length);
      for (let i = 0; i < k; i++) prefix.apply(i + 1, entries[i]!);
      const restored = replica();
      restored.restore(k, prefix.snapshot());
      for (let i = k; i < entries.length; i++)
        assert.deepEqual(restored.apply(i + 1, entries[i]!), answers[i], `answer at ${i + 1}`);
      assert.deepEqual(restored.snapshot(), whole.snapshot());
    }),
    { numRuns: 300 },
  );
});
