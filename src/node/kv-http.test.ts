// Goal: the /v1/kv HTTP mapping. Bad bodies are 400 with the field named; answers map to the
// right status, with `definite` telling a client whether a failed request may have been applied:
// requests the system will never accept are 4xx (never 503, which invites a retry).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BaristaError } from '../lib/errors.ts';
import type { KvErrorCode } from '../metadata/command.ts';
import type { KvOutcome, KvService } from '../metadata/kv-service.ts';
import { handleKvRequest } from './kv-http.ts';

/** A KvService double answering every write with `outcome`. */
function service(outcome: KvOutcome): KvService {
  return {
    write: (_op: unknown, _s: unknown, done: (o: KvOutcome) => void) => done(outcome),
    read: (_k: unknown, _c: unknown, done: (o: KvOutcome) => void) => done(outcome),
    openSession: (_address: string, done: (o: { ok: true; sessionId: number }) => void) =>
      done({ ok: true, sessionId: 7 }),
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

test('unavailability is 503 and carries definiteness; overload is 429', async () => {
  const timeout = await handleKvRequest(
    service({ ok: false, error: new BaristaError('timeout', 'timed out', { definite: false, retriable: true }) }),
    { op: 'put', key: 'k', value: 'v' },
  );
  assert.equal(timeout.status, 503);
  assert.equal((timeout.body as { definite: boolean }).definite, false);
  const noLeader = await handleKvRequest(
    service({ ok: false, error: new BaristaError('no_leader', 'x', { retriable: true }) }),
    { op: 'get', key: 'k' },
  );
  assert.equal(noLeader.status, 503);
  assert.equal((noLeader.body as { definite: boolean }).definite, true);
  const busy = await handleKvRequest(
    service({ ok: false, error: new BaristaError('limit_exceeded', 'full', { retriable: true }) }),
    { op: 'get', key: 'k' },
  );
  assert.equal(busy.status, 429);
});

test('sessions open through the API', async () => {
  const a = await handleKvRequest(service({ ok: true, result: { ok: true, value: null, sessionId: 0 } }), {
    op: 'session',
  });
  assert.deepEqual(a, { status: 200, body: { ok: true, sessionId: 7 } });
});
