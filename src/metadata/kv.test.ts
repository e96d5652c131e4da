// Goal: the KV state machine is deterministic and exactly-once (Raft dissertation §6.3): retries
// of the last request return the cached result without re-executing; expired or unknown sessions
// are refused, never re-executed; expiry depends on the log only; snapshot + restore reproduce
// the state; malformed entries yield error results instead of stopping a replica.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ByteWriter } from '../lib/bytes.ts';
import {
  type Command,
  decodeCommand,
  decodeResult,
  encodeCommand,
  encodeResult,
  type KvOp,
  proposedAtOf,
  stampProposedAt,
} from './command.ts';
import { KvStateMachine } from './kv.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array | null): string | null => (b === null ? null : new TextDecoder().decode(b));

class Log {
  index = 0;
  constructor(readonly sm: KvStateMachine) {}
  submit(c: Command) {
    return decodeResult(this.sm.apply(++this.index, encodeCommand(c)));
  }
  register(at = 0, clientAddress = ''): number {
    const r = this.submit({ kind: 'register', proposedAtMs: at, clientAddress });
    assert.ok(r.ok);
    return r.sessionId;
  }
  req(sessionId: number, seq: number, request: KvOp, at = 0) {
    return this.submit({ kind: 'request', proposedAtMs: at, sessionId, seq, request });
  }
}

test('put, get, cas and del', () => {
  const log = new Log(new KvStateMachine());
  const s = log.register();
  assert.ok(log.req(s, 1, { op: 'put', key: enc('a'), value: enc('1') }).ok);
  assert.equal(dec(log.req(s, 2, { op: 'get', key: enc('a') }).ok ? log.sm.read(enc('a')) : null), '1');
  const bad = log.req(s, 3, { op: 'cas', key: enc('a'), expected: enc('0'), value: enc('2') });
  assert.equal(bad.ok, false);
  assert.ok(!bad.ok && bad.code === 'precondition_failed' && dec(bad.value) === '1');
  assert.ok(log.req(s, 4, { op: 'cas', key: enc('a'), expected: enc('1'), value: enc('2') }).ok);
  assert.ok(
    log.req(s, 5, { op: 'cas', key: enc('new'), expected: null, value: enc('x') }).ok,
    'cas from absent = insert if not exists',
  );
  assert.equal(log.req(s, 6, { op: 'cas', key: enc('new'), expected: null, value: enc('y') }).ok, false);
  const del = log.req(s, 7, { op: 'del', key: enc('a') });
  assert.ok(del.ok && dec(del.value) === '2');
  assert.equal(log.sm.read(enc('a')), null);
});

test('a retried request is not executed twice and returns the first result', () => {
  const log = new Log(new KvStateMachine());
  const s = log.register();
  log.req(s, 1, { op: 'put', key: enc('k'), value: enc('v1') });
  const first = log.req(s, 2, { op: 'cas', key: enc('k'), expected: enc('v1'), value: enc('v2') });
  assert.ok(first.ok);
  // Another client changes the value back; then our cas is retried (e.g. after a leader change).
  const other = log.register();
  log.req(other, 1, { op: 'put', key: enc('k'), value: enc('v1') });
  const retry = log.req(s, 2, { op: 'cas', key: enc('k'), expected: enc('v1'), value: enc('v2') });
  assert.deepEqual(retry, first);
  assert.equal(dec(log.sm.read(enc('k'))), 'v1', 'the retry did not execute again');
  const stale = log.req(s, 1, { op: 'put', key: enc('k'), value: enc('old') });
  assert.ok(!stale.ok && stale.code === 'stale_sequence');
});

test('sessions expire by log time only, and an expired session is refused', () => {
  const log = new Log(
    new KvStateMachine({ sessionsPerClientMax: 1e9, sessionsMax: 10, sessionTimeoutMs: 1_000, keysMax: 100 }),
  );
  const s = log.register(0);
  assert.ok(log.req(s, 1, { op: 'put', key: enc('k'), value: enc('1') }, 500).ok);
  const other = log.register(1_400); // still alive: idle 900 ms
  assert.ok(log.req(s, 2, { op: 'get', key: enc('k') }, 1_450).ok);
  log.req(other, 1, { op: 'get', key: enc('k') }, 2_500); // advances log time: s idle 1050 ms
  const r = log.req(s, 3, { op: 'put', key: enc('k'), value: enc('2') }, 2_500);
  assert.ok(!r.ok && r.code === 'session_expired');
  assert.equal(dec(log.sm.read(enc('k'))), '1');
});

test('beyond sessionsMax the least recently used session is evicted', () => {
  const log = new Log(
    new KvStateMachine({ sessionsPerClientMax: 1e9, sessionsMax: 2, sessionTimeoutMs: 1e9, keysMax: 100 }),
  );
  const a = log.register();
  const b = log.register();
  log.req(a, 1, { op: 'get', key: enc('x') });
  log.register(); // evicts b, the least recently used
  assert.equal(log.sm.sessionCount, 2);
  assert.ok(log.req(a, 2, { op: 'get', key: enc('x') }).ok);
  const r = log.req(b, 1, { op: 'get', key: enc('x') });
  assert.ok(!r.ok && r.code === 'session_expired');
});

test('bounds: keyspace and value size are error results', () => {
  const log = new Log(
    new KvStateMachine({ sessionsPerClientMax: 1e9, sessionsMax: 10, sessionTimeoutMs: 1e9, keysMax: 1 }),
  );
  const s = log.register();
  assert.ok(log.req(s, 1, { op: 'put', key: enc('a'), value: enc('1') }).ok);
  const full = log.req(s, 2, { op: 'put', key: enc('b'), value: enc('1') });
  assert.ok(!full.ok && full.code === 'keyspace_full');
  assert.ok(log.req(s, 3, { op: 'put', key: enc('a'), value: enc('2') }).ok, 'overwriting an existing key is fine');
});

test('malformed entries give an error result and still advance the applied index', () => {
  const sm = new KvStateMachine();
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
      const before = sm.appliedIndex;
      const r = decodeResult(sm.apply(before + 1, bytes));
      assert.equal(sm.appliedIndex, before + 1);
      if (decodeCommand(bytes) instanceof Error) assert.ok(!r.ok && r.code === 'malformed_command');
    }),
  );
});

test('snapshot then restore reproduces state and sessions; replicas agree', () => {
  const opArb = fc.oneof(
    fc.record({
      op: fc.constant('put' as const),
      key: fc.constantFrom('a', 'b', 'c').map(enc),
      value: fc.uint8Array({ maxLength: 4 }),
    }),
    fc.record({ op: fc.constant('get' as const), key: fc.constantFrom('a', 'b', 'c').map(enc) }),
    fc.record({ op: fc.constant('del' as const), key: fc.constantFrom('a', 'b', 'c').map(enc) }),
    fc.record({
      op: fc.constant('cas' as const),
      key: fc.constantFrom('a', 'b', 'c').map(enc),
      expected: fc.option(fc.uint8Array({ maxLength: 4 }), { nil: null }),
      value: fc.uint8Array({ maxLength: 4 }),
    }),
  );
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 30 }), fc.nat({ max: 30 }), (ops, cut) => {
      const a = new Log(new KvStateMachine());
      const s = a.register();
      const entries: Uint8Array[] = [encodeCommand({ kind: 'register', proposedAtMs: 0, clientAddress: '' })];
      ops.forEach((op, i) => {
        const c: Command = { kind: 'request', proposedAtMs: i, sessionId: s, seq: i + 1, request: op };
        entries.push(encodeCommand(c));
        a.submit(c);
      });
      // Replica b: applies a prefix, snapshots, restores into c, which applies the rest.
      const b = new KvStateMachine();
      const k = Math.min(cut, entries.length);
      for (let i = 0; i < k; i++) b.apply(i + 1, entries[i]!);
      const c = new KvStateMachine();
      c.restore(k, b.snapshot());
      for (let i = k; i < entries.length; i++) c.apply(i + 1, entries[i]!);
      assert.deepEqual(c.snapshot(), a.sm.snapshot());
    }),
  );
});

test('session 0 executes every time (no deduplication) and gaps in indexes are allowed', () => {
  const sm = new KvStateMachine();
  const put = (index: number, v: string) =>
    decodeResult(
      sm.apply(
        index,
        encodeCommand({
          kind: 'request',
          proposedAtMs: 0,
          sessionId: 0,
          seq: 1,
          request: { op: 'put', key: enc('k'), value: enc(v) },
        }),
      ),
    );
  assert.ok(put(1, 'a').ok);
  assert.ok(put(5, 'b').ok, 'a gap (Raft no-ops) is fine');
  assert.equal(dec(sm.read(enc('k'))), 'b', 'the same (session 0, seq 1) executed twice');
  assert.throws(() => put(5, 'c'), /in order/);
});

// Issue 7 item 16: keys are bytes. A key that is not valid UTF-8 is stored and read back under
// exactly its bytes, and two such keys never collapse into one (as U+FFFD replacement did).
test('keys are bytes: invalid UTF-8 keys round-trip through the log and stay distinct', () => {
  const log = new Log(new KvStateMachine());
  const s = log.register();
  const ff = new Uint8Array([0x73, 0xff]);
  const fe = new Uint8Array([0x73, 0xfe]);
  const surrogate = new Uint8Array([0x73, 0xed, 0xa0, 0x80]); // CESU-8 of U+D800: not UTF-8
  assert.ok(log.req(s, 1, { op: 'put', key: ff, value: enc('a') }).ok);
  assert.ok(log.req(s, 2, { op: 'put', key: fe, value: enc('b') }).ok);
  assert.ok(log.req(s, 3, { op: 'put', key: surrogate, value: enc('c') }).ok);
  assert.equal(dec(log.sm.read(ff)), 'a');
  assert.equal(dec(log.sm.read(fe)), 'b');
  assert.equal(dec(log.sm.read(surrogate)), 'c');
  assert.equal(log.sm.read(enc('s\ufffd')), null, 'no key was stored under U+FFFD');
  const got = log.req(s, 4, { op: 'get', key: fe });
  assert.ok(got.ok && dec(got.value) === 'b', 'a get through the log sees the same bytes');
  const copy = new KvStateMachine();
  copy.restore(log.index, log.sm.snapshot());
  assert.equal(dec(copy.read(ff)), 'a', 'byte keys survive a snapshot');
  assert.equal(log.sm.read(new Uint8Array(1025)), null, 'an oversized key reads as absent here');
});

// Issue 7 item 9: one client flooding registrations used to evict every other client's session
// (least recently used first). Now one address holds at most sessionsPerClientMax sessions.
test('a registration flood from one address is refused and evicts nobody else', () => {
  const log = new Log(
    new KvStateMachine({ sessionsMax: 4, sessionsPerClientMax: 2, sessionTimeoutMs: 1e9, keysMax: 100 }),
  );
  const mine = log.register(0, '10.0.0.1');
  const refusals: string[] = [];
  for (let i = 0; i < 10; i++) {
    const r = log.submit({ kind: 'register', proposedAtMs: 0, clientAddress: '10.6.6.6' });
    if (!r.ok) refusals.push(r.code);
  }
  assert.equal(refusals.length, 8, 'two sessions granted, the rest refused');
  assert.ok(refusals.every((c) => c === 'too_many_sessions'));
  assert.ok(log.req(mine, 1, { op: 'get', key: enc('x') }).ok, 'the other client keeps its session');
  // The count survives a snapshot (rebuilt on restore) and frees up when sessions go.
  const copy = new Log(new KvStateMachine(log.sm.options));
  copy.sm.restore(log.index, log.sm.snapshot());
  copy.index = log.index;
  const again = copy.submit({ kind: 'register', proposedAtMs: 0, clientAddress: '10.6.6.6' });
  assert.ok(!again.ok && again.code === 'too_many_sessions');
  const ids = [...Array(log.index).keys()].filter((i) => i > 1);
  for (const id of ids) copy.submit({ kind: 'unregister', proposedAtMs: 0, sessionId: id });
  assert.ok(copy.submit({ kind: 'register', proposedAtMs: 0, clientAddress: '10.6.6.6' }).ok);
});

test('log time is the largest stamp applied; stampProposedAt rewrites only the time', () => {
  const sm = new KvStateMachine();
  const put = (index: number, at: number) =>
    sm.apply(
      index,
      stampProposedAt(
        encodeCommand({
          kind: 'request',
          proposedAtMs: 123,
          sessionId: 0,
          seq: 0,
          request: { op: 'put', key: enc('k'), value: enc(String(at)) },
        }),
        at,
      ),
    );
  put(1, 5_000);
  assert.equal(sm.logTimeMs, 5_000);
  put(2, 4_000);
  assert.equal(sm.logTimeMs, 5_000, 'never backwards');
  const c = encodeCommand({ kind: 'register', proposedAtMs: 1, clientAddress: 'a' });
  const stamped = stampProposedAt(c, 77);
  assert.deepEqual(decodeCommand(stamped), { kind: 'register', proposedAtMs: 77, clientAddress: 'a' });
  assert.equal(proposedAtOf(c), 1, 'the input is not modified');
  const junk = new Uint8Array([9, 9, 9]);
  assert.equal(stampProposedAt(junk, 5), junk, 'bytes that are not a command pass unchanged');
});

test('a Register written before client addresses existed decodes with address ""', () => {
  const legacy = encodeCommand({ kind: 'register', proposedAtMs: 3, clientAddress: '' }).subarray(0, 10);
  assert.deepEqual(decodeCommand(legacy), { kind: 'register', proposedAtMs: 3, clientAddress: '' });
});

test('a version 1 snapshot (string keys, no client addresses) restores', () => {
  const registered = encodeResult({ ok: true, value: null, sessionId: 3 });
  const image = new ByteWriter()
    .u8(1)
    .uvarint(5)
    .f64(1_000)
    .uvarint(1)
    .stringUvarint('ключ')
    .bytesUvarint(enc('v'))
    .uvarint(1)
    .uvarint(3)
    .uvarint(0)
    .bytesUvarint(registered)
    .f64(1_000)
    .uvarint(3)
    .finish();
  const sm = new KvStateMachine();
  sm.restore(5, image);
  assert.equal(dec(sm.read(enc('ключ'))), 'v');
  assert.equal(sm.sessionCount, 1);
  assert.equal(sm.logTimeMs, 1_000);
  const r = decodeResult(
    sm.apply(
      6,
      encodeCommand({
        kind: 'request',
        proposedAtMs: 1_000,
        sessionId: 3,
        seq: 1,
        request: { op: 'get', key: enc('ключ') },
      }),
    ),
  );
  assert.ok(r.ok && dec(r.value) === 'v', 'the restored session works');
});
