// Goal: the /v1/kv HTTP mapping. Bad bodies are 400 with the field named; answers map to the
// right status, with `definite` telling a client whether a failed request may have been applied:
// requests the system will never accept are 4xx (never 503, which invites a retry).
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { test } from 'node:test';
import { BaristaError } from '../../lib/errors.ts';
import { limits } from '../../lib/limits.ts';
import { defaultMembershipTiming } from '../../membership/membership.ts';
import type { KvErrorCode } from '../../metadata/command.ts';
import { defaultKvOptions } from '../../metadata/kv.ts';
import type { KvOutcome, KvService } from '../../metadata/kv-service.ts';
import { AdminServer } from '../../node/admin.ts';
import { NodeServices } from '../../node/services.ts';
import { defaultRaftTiming } from '../../raft/driver.ts';
import { SimMetrics } from '../../sim/observe.ts';
import { Simulation } from '../../sim/simulation.ts';
import { type HttpAnswer, handleKvRequest } from './http.ts';
import { kvOf } from './running.ts';
import { kvRaftOf } from './running.ts';

/** A KvService double answering every write with `outcome`. */
function service(outcome: KvOutcome): KvService {
  return {
    write: (_op: unknown, _s: unknown, done: (o: KvOutcome) => void) => done(outcome),
    read: (_k: unknown, _c: unknown, done: (o: KvOutcome) => void) => done(outcome),
    openSession: (_address: string, done: (o: { ok: true; value: number }) => void) => done({ ok: true, value: 7 }),
  } as unknown as KvService;
}

const rejected = (code: KvErrorCode): KvOutcome => ({ ok: true, result: { ok: false, code, value: null } });

test('malformed requests are 400 and name the field', async () => {
  const kv = service({ ok: true, result: { ok: true, value: null, sessionId: 0 } });
  for (const [body, field] of [
    [{ op: 'nope', key: 'k' }, 'op'],
    [{ op: 'put', key: 'k' }, 'value'],
    [{ op: 'cas', key: 'k', value: 'v' }, 'expected'],
    [{ op: 'get' }, 'key'],
    [{ op: 'put', key: 'k', value: 'v', session: 3 }, 'session and seq'],
    [{ op: 'put', key: 'k', value: 'v', extra: 1 }, 'body'],
    ['not an object', 'body'],
  ] as const) {
    const a = await handleKvRequest(kv, body);
    assert.equal(a.status, 400, JSON.stringify(body));
    assert.match((a.body as { message: string }).message, new RegExp(field));
  }
});

test('state machine rejections are 4xx/507 and definite, never 503', async () => {
  const cases: Array<[KvErrorCode, number]> = [
    ['value_too_large', 413],
    ['key_too_large', 413],
    ['keyspace_full', 507],
    ['stale_sequence', 409],
    ['malformed_command', 400],
  ];
  for (const [code, status] of cases) {
    const a = await handleKvRequest(service(rejected(code)), { op: 'put', key: 'k', value: 'v' });
    assert.equal(a.status, status, code);
    assert.equal((a.body as { definite: boolean }).definite, true, code);
  }
  const expired = await handleKvRequest(service(rejected('session_expired')), {
    op: 'put',
    key: 'k',
    value: 'v',
    session: 1,
    seq: 2,
  });
  assert.equal(expired.status, 410);
  assert.equal((expired.body as { definite: boolean }).definite, false, 'it may have run before the session expired');
});

test('a failed compare is an answer (200) with the current value', async () => {
  const a = await handleKvRequest(
    service({ ok: true, result: { ok: false, code: 'precondition_failed', value: new TextEncoder().encode('cur') } }),
    { op: 'cas', key: 'k', expected: 'x', value: 'y' },
  );
  assert.equal(a.status, 200);
  assert.deepEqual(a.body, {
    ok: false,
    code: 'precondition_failed',
    message: 'compare failed',
    definite: true,
    retriable: false,
    value: 'cur',
  });
});

test('unavailability is 503, a timeout 504, both carry definiteness; overload is 429', async () => {
  const timeout = await handleKvRequest(
    service({ ok: false, error: new BaristaError('timeout', 'timed out', { definite: false }) }),
    { op: 'put', key: 'k', value: 'v' },
  );
  assert.equal(timeout.status, 504);
  assert.equal((timeout.body as { definite: boolean }).definite, false);
  const noLeader = await handleKvRequest(service({ ok: false, error: new BaristaError('no_leader', 'x') }), {
    op: 'get',
    key: 'k',
  });
  assert.equal(noLeader.status, 503);
  assert.equal((noLeader.body as { definite: boolean }).definite, true);
  const busy = await handleKvRequest(service({ ok: false, error: new BaristaError('limit_exceeded', 'full') }), {
    op: 'get',
    key: 'k',
  });
  assert.equal(busy.status, 429);
});

test('sessions open through the API', async () => {
  const a = await handleKvRequest(service({ ok: true, result: { ok: true, value: null, sessionId: 0 } }), {
    op: 'session',
  });
  assert.deepEqual(a, { status: 200, body: { ok: true, sessionId: 7 } });
});

/** A one-node metadata group in the simulator, and a way to await an HTTP answer from it. */
function realNode() {
  const sim = new Simulation<NodeServices>({
    seed: 'kv-http',
    nodes: ['n1'],
    program: (env) =>
      new NodeServices(env, {
        clusterId: 'sim',
        peers: [],
        membership: defaultMembershipTiming,
        raft: { ...defaultRaftTiming },
      }),
  });
  assert.ok(sim.runUntilCondition(() => kvRaftOf(sim.instance('n1'))?.core.role === 'leader', 5_000));
  const ask = (body: unknown, address = '127.0.0.1'): Promise<HttpAnswer> => {
    const answer = handleKvRequest(kvOf(sim.instance('n1')!).client, body, { address });
    sim.runFor(200);
    return answer;
  };
  return { sim, ask };
}

// Issue 7 item 16: `put "sur\ud800"` was stored under "sur\ufffd" (TextEncoder's replacement)
// while `get "sur\ud800"` looked the raw string up, so the put could never be read back. Text
// with no UTF-8 form is now refused, with one stable code, on every op.
test('a key or value with a lone surrogate is 400 invalid_utf8 on the write and the read path', async () => {
  const { ask } = realNode();
  for (const body of [
    { op: 'put', key: 'sur\ud800', value: 'v' },
    { op: 'get', key: 'sur\ud800' },
    { op: 'get', key: 'sur\udc00x', consistency: 'serializable' },
    { op: 'del', key: 'sur\ud800' },
    { op: 'cas', key: 'k', expected: null, value: 'v\udfff' },
    { op: 'cas', key: 'k', expected: '\ud83d', value: 'v' },
  ]) {
    const a = await ask(body);
    assert.equal(a.status, 400, JSON.stringify(body));
    assert.equal((a.body as { code: string }).code, 'invalid_utf8', JSON.stringify(body));
  }
  // Well-formed non-ASCII keys (a surrogate pair included) go through and read back.
  assert.equal((await ask({ op: 'put', key: 'ключ🙂', value: 'знач🙂' })).status, 200);
  assert.deepEqual((await ask({ op: 'get', key: 'ключ🙂' })).body, { ok: true, value: 'знач🙂' });
});

test('a get of an oversized key is 413 key_too_large, as a put of it is', async () => {
  const { ask } = realNode();
  const key = 'é'.repeat(600); // 600 chars, 1200 UTF-8 bytes: over the 1024-byte bound
  for (const body of [
    { op: 'put', key, value: 'v' },
    { op: 'get', key },
    { op: 'get', key, consistency: 'serializable' },
    { op: 'del', key },
  ]) {
    const a = await ask(body);
    assert.equal(a.status, 413, body.op);
    assert.equal((a.body as { code: string }).code, 'key_too_large', body.op);
  }
  assert.equal((await ask({ op: 'put', key: 'k'.repeat(limits.kvKeyBytesMax), value: 'v' })).status, 200);
});

test('del says whether the key existed; get of a missing key is value null', async () => {
  const { ask } = realNode();
  await ask({ op: 'put', key: 'k', value: 'v' });
  assert.deepEqual((await ask({ op: 'del', key: 'k' })).body, { ok: true, value: 'v' });
  assert.deepEqual((await ask({ op: 'del', key: 'k' })).body, { ok: true, value: null });
  assert.deepEqual((await ask({ op: 'get', key: 'k' })).body, { ok: true, value: null });
});

test('sessions are bounded per client address: beyond it, 429 too_many_sessions (definite)', async () => {
  const { ask } = realNode();
  for (let i = 0; i < defaultKvOptions.sessionsPerClientMax; i++) {
    assert.equal((await ask({ op: 'session' }, '10.6.6.6')).status, 200);
  }
  const over = await ask({ op: 'session' }, '10.6.6.6');
  assert.equal(over.status, 429);
  assert.equal((over.body as { code: string }).code, 'too_many_sessions');
  assert.equal((over.body as { definite: boolean }).definite, true);
  assert.equal((await ask({ op: 'session' }, '10.0.0.1')).status, 200, 'another address is not affected');
});

// Smaller issue 7 item: the 1 MiB value bound was unreachable through a 1 MiB body bound.
test('a full-size value, even a cas carrying two of them, fits in the HTTP body bound and is stored', async () => {
  const value = 'v'.repeat(limits.kvValueBytesMax);
  const body = {
    op: 'cas',
    key: 'k'.repeat(limits.kvKeyBytesMax),
    expected: 'e'.repeat(limits.kvValueBytesMax),
    value,
    session: Number.MAX_SAFE_INTEGER,
    seq: Number.MAX_SAFE_INTEGER,
    consistency: 'serializable',
  };
  assert.ok(Buffer.byteLength(JSON.stringify(body)) <= limits.adminRequestBytesMax);
  const { ask } = realNode();
  assert.equal((await ask({ op: 'put', key: 'big', value })).status, 200);
  const got = await ask({ op: 'get', key: 'big' });
  assert.equal((got.body as { value: string }).value.length, limits.kvValueBytesMax);
  const over = await ask({ op: 'put', key: 'big', value: `${value}v` });
  assert.equal(over.status, 413);
  assert.equal((over.body as { code: string }).code, 'value_too_large');
});

test('a body that is not valid UTF-8 is 400 invalid_utf8 at the admin server', async () => {
  let reached = 0;
  const admin = new AdminServer(
    {
      status: () => ({}),
      metricsText: () => '',
      routes: [
        {
          path: '/v1/kv',
          methods: ['POST'],
          handle: async () => {
            reached++;
            return { status: 200, body: { ok: true } };
          },
        },
      ],
    },
    new SimMetrics(),
  );
  await admin.listen('127.0.0.1', 0);
  try {
    const { port } = admin.address();
    const post = (bytes: Uint8Array) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path: '/v1/kv', method: 'POST' }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        });
        req.on('error', reject);
        req.end(bytes);
      });
    const bad = Buffer.concat([
      Buffer.from('{"op":"get","key":"sur'),
      Buffer.from([0xed, 0xa0, 0x80]),
      Buffer.from('"}'),
    ]);
    const a = await post(bad);
    assert.equal(a.status, 400);
    assert.equal(JSON.parse(a.body).code, 'invalid_utf8');
    assert.equal(reached, 0, 'the kv handler never saw the body');
    const ok = await post(Buffer.from('{"op":"get","key":"k"}'));
    assert.equal(ok.status, 200);
  } finally {
    await admin.close();
  }
});
