// Goal: the KV namespace is deterministic (put, get, cas, del; byte keys; bounds as error
// results), its snapshot section plus the session table reproduce the state on another replica,
// and a data directory written before the envelope (format-1 log entries, version 1/2 snapshots)
// replays and restores to the same state. Sessions themselves are tested in
// src/rsm/sessions.test.ts; here only that KV requests go through them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ByteWriter } from '../lib/bytes.ts';
import { decodeRsmResult, type RsmResult } from '../rsm/envelope.ts';
import { NamespaceId } from '../rsm/namespace.ts';
import { type Stamp, TestLog } from '../rsm/testing.ts';
import {
  type Command,
  decodeCommand,
  decodeResult,
  encodeCommand,
  encodeKvOp,
  encodeResult,
  type KvOp,
  type KvResult,
  proposedAtOf,
  stampProposedAt,
} from './command.ts';
import { defaultKvOptions, type KvOptions, KvStateMachine, kvRequestOf } from './kv.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array | null): string | null => (b === null ? null : new TextDecoder().decode(b));

function kvOf(r: RsmResult | Error): KvResult {
  assert.ok(!(r instanceof Error));
  return r.status === 'refused' ? { ok: false, code: r.code, value: null } : decodeResult(r.payload);
}

class KvLog extends TestLog {
  constructor(readonly kv: KvStateMachine = new KvStateMachine()) {
    super(kv);
  }
  session(stamp: Stamp = {}): number {
    const id = this.register(stamp);
    assert.equal(typeof id, 'number');
    return id as number;
  }
  req(sessionId: number, seq: number, op: KvOp, stamp: Stamp = {}): KvResult {
    return kvOf(this.submit({ namespace: NamespaceId.kv, sessionId, seq, payload: encodeKvOp(op) }, stamp));
  }
}

const small = (o: Partial<KvOptions>): KvOptions => ({ ...defaultKvOptions, ...o });

test('put, get, cas and del', () => {
  const log = new KvLog();
  const s = log.session();
  assert.ok(log.req(s, 1, { op: 'put', key: enc('a'), value: enc('1') }).ok);
  const got = log.req(s, 2, { op: 'get', key: enc('a') });
  assert.ok(got.ok && dec(got.value) === '1');
  const bad = log.req(s, 3, { op: 'cas', key: enc('a'), expected: enc('0'), value: enc('2') });
  assert.ok(!bad.ok && bad.code === 'precondition_failed' && dec(bad.value) === '1');
  assert.ok(log.req(s, 4, { op: 'cas', key: enc('a'), expected: enc('1'), value: enc('2') }).ok);
  assert.ok(
    log.req(s, 5, { op: 'cas', key: enc('new'), expected: null, value: enc('x') }).ok,
    'cas from absent = insert if not exists',
  );
  assert.equal(log.req(s, 6, { op: 'cas', key: enc('new'), expected: null, value: enc('y') }).ok, false);
  const del = log.req(s, 7, { op: 'del', key: enc('a') });
  assert.ok(del.ok && dec(del.value) === '2');
  assert.equal(log.kv.read(enc('a')), null);
});

test('a retried KV request goes through the shared session table: executed once', () => {
  const log = new KvLog();
  const s = log.session();
  log.req(s, 1, { op: 'put', key: enc('k'), value: enc('v1') });
  const first = log.req(s, 2, { op: 'cas', key: enc('k'), expected: enc('v1'), value: enc('v2') });
  assert.ok(first.ok);
  log.req(0, 0, { op: 'put', key: enc('k'), value: enc('v1') }); // another client puts it back
  const retry = log.req(s, 2, { op: 'cas', key: enc('k'), expected: enc('v1'), value: enc('v2') });
  assert.deepEqual(retry, first);
  assert.equal(dec(log.kv.read(enc('k'))), 'v1', 'the retry did not execute again');
  const stale = log.req(s, 1, { op: 'put', key: enc('k'), value: enc('old') });
  assert.ok(!stale.ok && stale.code === 'stale_sequence');
});

test('bounds: keyspace and value size are error results', () => {
  const log = new KvLog(new KvStateMachine(small({ keysMax: 1 })));
  const s = log.session();
  assert.ok(log.req(s, 1, { op: 'put', key: enc('a'), value: enc('1') }).ok);
  const full = log.req(s, 2, { op: 'put', key: enc('b'), value: enc('1') });
  assert.ok(!full.ok && full.code === 'keyspace_full');
  assert.ok(log.req(s, 3, { op: 'put', key: enc('a'), value: enc('2') }).ok, 'overwriting an existing key is fine');
  const big = log.req(s, 4, { op: 'put', key: new Uint8Array(1025), value: enc('1') });
  assert.ok(!big.ok && big.code === 'key_too_large');
});

test("bounds: the keyspace's bytes (dataBytesMax: key + value + 16 each) answer keyspace_full past them, and a delete gives them back", () => {
  const log = new KvLog(new KvStateMachine(small({ dataBytesMax: 100 })));
  const s = log.session();
  assert.ok(log.req(s, 1, { op: 'put', key: enc('a'), value: new Uint8Array(50) }).ok);
  assert.equal(log.kv.kv.bytes, 67);
  // 33 left: a new key of 1 + 16 + 17 is one past them; an overwrite counts the difference.
  const full = log.req(s, 2, { op: 'put', key: enc('b'), value: new Uint8Array(17) });
  assert.ok(!full.ok && full.code === 'keyspace_full');
  const cas = log.req(s, 3, { op: 'cas', key: enc('b'), expected: null, value: new Uint8Array(17) });
  assert.ok(!cas.ok && cas.code === 'keyspace_full');
  assert.equal(log.kv.read(enc('b')), null, 'nothing was written');
  assert.ok(!log.req(s, 4, { op: 'put', key: enc('a'), value: new Uint8Array(84) }).ok, 'an overwrite one byte past');
  assert.ok(log.req(s, 5, { op: 'put', key: enc('a'), value: new Uint8Array(83) }).ok, 'at the bound exactly');
  assert.equal(log.kv.kv.bytes, 100);
  assert.ok(log.req(s, 6, { op: 'del', key: enc('a') }).ok);
  assert.equal(log.kv.kv.bytes, 0);
  assert.ok(log.req(s, 7, { op: 'put', key: enc('b'), value: new Uint8Array(17) }).ok);
});

test("bounds: the session table's bytes (cached results): past them the least recently used sessions are evicted", () => {
  // Each session caches its last result: a get of a 1,000-byte value caches about 1,010 bytes.
  const log = new KvLog(new KvStateMachine(small({ bytesMax: 2_600 })));
  const writer = log.session();
  assert.ok(log.req(writer, 1, { op: 'put', key: enc('v'), value: new Uint8Array(1_000) }).ok);
  const [a, b, c] = [log.session(), log.session(), log.session()];
  assert.ok(log.req(a, 1, { op: 'get', key: enc('v') }).ok);
  assert.ok(log.req(b, 1, { op: 'get', key: enc('v') }).ok);
  assert.ok(log.kv.sessions.bytes <= 2_600);
  assert.equal(log.kv.sessions.size, 4, 'two results fit');
  assert.ok(log.req(c, 1, { op: 'get', key: enc('v') }).ok, 'the third result is answered');
  assert.ok(log.kv.sessions.bytes <= 2_600, `${log.kv.sessions.bytes} bytes held`);
  // The writer was least recently used, then a: both gone (the writer's few bytes were not enough).
  const gone = log.req(writer, 2, { op: 'get', key: enc('v') });
  assert.ok(!gone.ok && gone.code === 'session_expired');
  const goneA = log.req(a, 2, { op: 'get', key: enc('v') });
  assert.ok(!goneA.ok && goneA.code === 'session_expired');
  assert.ok(log.req(c, 1, { op: 'get', key: enc('v') }).ok, 'c keeps its cached result');
});

test('the keyspace and session byte counts are what their snapshot sections hold, at most, and survive a restore', () => {
  const opArb = fc.record({
    kind: fc.constantFrom('put', 'put', 'cas', 'del', 'get'),
    key: fc.integer({ min: 0, max: 5 }),
    size: fc.integer({ min: 0, max: 300 }),
    session: fc.integer({ min: 0, max: 4 }),
  });
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
      const options = small({ dataBytesMax: 1_200, bytesMax: 900 });
      const log = new KvLog(new KvStateMachine(options));
      const sessions = [0, log.session(), log.session(), log.session(), log.session()];
      const seqs = [0, 0, 0, 0, 0];
      const model = new Map<number, number>();
      for (const op of ops) {
        const key = enc(`key${op.key}`);
        const value = new Uint8Array(op.size);
        const sid = sessions[op.session]!;
        const seq = sid === 0 ? 0 : ++seqs[op.session]!;
        const r =
          op.kind === 'put'
            ? log.req(sid, seq, { op: 'put', key, value })
            : op.kind === 'cas'
              ? log.req(sid, seq, { op: 'cas', key, expected: null, value })
              : op.kind === 'del'
                ? log.req(sid, seq, { op: 'del', key })
                : log.req(sid, seq, { op: 'get', key });
        if (r.ok && (op.kind === 'put' || op.kind === 'cas')) model.set(op.key, key.length + op.size + 16);
        if (r.ok && op.kind === 'del') model.delete(op.key);
        const kvBytes = [...model.values()].reduce((x, y) => x + y, 0);
        assert.equal(log.kv.kv.bytes, kvBytes);
        assert.ok(kvBytes <= 1_200 && log.kv.sessions.bytes <= 900);
      }
      const image = log.kv.snapshot();
      assert.ok(image.length <= log.kv.kv.bytes + log.kv.sessions.bytes + 128, `an image of ${image.length} bytes`);
      const copy = new KvStateMachine(options);
      copy.restore(log.kv.appliedIndex, image);
      assert.equal(copy.kv.bytes, log.kv.kv.bytes);
      assert.equal(copy.sessions.bytes, log.kv.sessions.bytes);
    }),
    { numRuns: 200 },
  );
});

test('malformed entries and payloads give an error result and still advance the applied index', () => {
  let told = 0; // the owner's hook feeds rsm_malformed_commands_total
  const sm = new KvStateMachine(undefined, { onMalformed: () => told++ });
  fc.assert(
    fc.property(fc.boolean(), fc.uint8Array({ maxLength: 40 }), (asPayload, bytes) => {
      const before = sm.appliedIndex;
      const data = asPayload
        ? new ByteWriter().u8(2).f64(0).f64(0).uvarint(1).uvarint(0).uvarint(0).raw(bytes).finish()
        : bytes;
      const r = decodeRsmResult(sm.apply(before + 1, data));
      assert.equal(sm.appliedIndex, before + 1);
      assert.ok(!(r instanceof Error), 'the answer is a result');
      if (r.status === 'refused') assert.ok(['malformed_command', 'unknown_namespace'].includes(r.code), r.code);
    }),
  );
  assert.ok(sm.malformedCount > 0);
  assert.equal(told, sm.malformedCount, 'every refusal reaches the metric');
});

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

test('snapshot then restore reproduces keys and sessions; replicas agree', () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 30 }), fc.nat({ max: 30 }), (ops, cut) => {
      const a = new KvLog();
      const s = a.session();
      ops.forEach((op, i) => {
        a.req(s, i + 1, op, { atMs: i, term: 1 + (i >> 3) });
      });
      // Replica b re-applies a's log up to `cut`, snapshots; c restores it and applies the rest.
      const entries = recorded(ops, s);
      const b = new KvStateMachine();
      const k = Math.min(cut, entries.length);
      for (let i = 0; i < k; i++) b.apply(i + 1, entries[i]!);
      const c = new KvStateMachine();
      c.restore(k, b.snapshot());
      for (let i = k; i < entries.length; i++) c.apply(i + 1, entries[i]!);
      assert.deepEqual(c.snapshot(), a.kv.snapshot());
    }),
  );
});

/** The entries KvLog wrote for a register then `ops` (the same bytes, for a second replica). */
function recorded(ops: KvOp[], s: number): Uint8Array[] {
  const capture = new KvStateMachine();
  const bytes: Uint8Array[] = [];
  const apply = capture.apply.bind(capture);
  capture.apply = (index, data) => {
    bytes.push(data);
    return apply(index, data);
  };
  const log = new KvLog(capture);
  assert.equal(log.session(), s);
  ops.forEach((op, i) => {
    log.req(s, i + 1, op, { atMs: i, term: 1 + (i >> 3) });
  });
  return bytes;
}

// Issue 7 item 16: keys are bytes. A key that is not valid UTF-8 is stored and read back under
// exactly its bytes, and two such keys never collapse into one (as U+FFFD replacement did).
test('keys are bytes: invalid UTF-8 keys round-trip through the log and stay distinct', () => {
  const log = new KvLog();
  const s = log.session();
  const ff = new Uint8Array([0x73, 0xff]);
  const fe = new Uint8Array([0x73, 0xfe]);
  const surrogate = new Uint8Array([0x73, 0xed, 0xa0, 0x80]); // CESU-8 of U+D800: not UTF-8
  assert.ok(log.req(s, 1, { op: 'put', key: ff, value: enc('a') }).ok);
  assert.ok(log.req(s, 2, { op: 'put', key: fe, value: enc('b') }).ok);
  assert.ok(log.req(s, 3, { op: 'put', key: surrogate, value: enc('c') }).ok);
  assert.equal(dec(log.kv.read(ff)), 'a');
  assert.equal(dec(log.kv.read(fe)), 'b');
  assert.equal(dec(log.kv.read(surrogate)), 'c');
  assert.equal(log.kv.read(enc('s\ufffd')), null, 'no key was stored under U+FFFD');
  const got = log.req(s, 4, { op: 'get', key: fe });
  assert.ok(got.ok && dec(got.value) === 'b', 'a get through the log sees the same bytes');
  const copy = new KvStateMachine();
  copy.restore(log.index, log.kv.snapshot());
  assert.equal(dec(copy.read(ff)), 'a', 'byte keys survive a snapshot');
  assert.equal(log.kv.read(new Uint8Array(1025)), null, 'an oversized key reads as absent here');
});

// A data directory written before the envelope: its WAL holds format-1 commands. Replayed, they
// reach exactly the state the same requests reach as envelopes.
test('format-1 log entries replay to the same state as envelopes', () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 20 }), (ops) => {
      const modern = new KvLog();
      const s = modern.session({ atMs: 0 });
      ops.forEach((op, i) => {
        modern.req(s, i + 1, op, { atMs: i });
      });
      const legacy = new KvStateMachine();
      const commands: Command[] = [
        { kind: 'register', proposedAtMs: 0, clientAddress: '' },
        ...ops.map((request, i): Command => ({ kind: 'request', proposedAtMs: i, sessionId: s, seq: i + 1, request })),
      ];
      commands.forEach((c, i) => {
        legacy.apply(i + 1, encodeCommand(c));
      });
      assert.deepEqual(legacy.snapshot(), modern.kv.snapshot());
      const last = commands.at(-1)!;
      assert.deepEqual(
        kvRequestOf(encodeCommand(last)),
        last.kind === 'request' ? { sessionId: s, seq: last.seq, op: { ...last.request } } : undefined,
      );
    }),
  );
});

test('legacy: stampProposedAt rewrites only the time; a Register without an address decodes as ""', () => {
  const c = encodeCommand({ kind: 'register', proposedAtMs: 1, clientAddress: 'a' });
  assert.deepEqual(decodeCommand(stampProposedAt(c, 77)), { kind: 'register', proposedAtMs: 77, clientAddress: 'a' });
  assert.equal(proposedAtOf(c), 1, 'the input is not modified');
  const junk = new Uint8Array([9, 9, 9]);
  assert.equal(stampProposedAt(junk, 5), junk, 'bytes that are not a command pass unchanged');
  const old = encodeCommand({ kind: 'register', proposedAtMs: 3, clientAddress: '' }).subarray(0, 10);
  assert.deepEqual(decodeCommand(old), { kind: 'register', proposedAtMs: 3, clientAddress: '' });
});

test('a version 1 snapshot (string keys, no client addresses) restores, with its session working', () => {
  const registered = encodeResult({ ok: true, value: null, sessionId: 3 });
  const putResult = encodeResult({ ok: true, value: null, sessionId: 0 });
  const image = new ByteWriter()
    .u8(1)
    .uvarint(5)
    .f64(1_000)
    .uvarint(1)
    .stringUvarint('ключ')
    .bytesUvarint(enc('v'))
    .uvarint(2)
    .uvarint(3)
    .uvarint(0)
    .bytesUvarint(registered)
    .f64(1_000)
    .uvarint(3)
    .uvarint(4)
    .uvarint(1)
    .bytesUvarint(putResult)
    .f64(1_000)
    .uvarint(4)
    .finish();
  const log = new KvLog();
  log.kv.restore(5, image);
  log.index = 5;
  assert.equal(dec(log.kv.read(enc('ключ'))), 'v');
  assert.equal(log.kv.sessionCount, 2);
  assert.equal(log.kv.logTimeMs, 1_000);
  const r = log.req(3, 1, { op: 'get', key: enc('ключ') }, { atMs: 1_000 });
  assert.ok(r.ok && dec(r.value) === 'v', 'the restored session works');
  const retried = log.req(4, 1, { op: 'put', key: enc('x'), value: enc('1') }, { atMs: 1_000 });
  assert.ok(retried.ok, 'a retry answers the cached result of the old format');
  assert.equal(log.kv.read(enc('x')), null, 'and does not execute');
});
