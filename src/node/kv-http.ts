// The metadata keyspace over HTTP, on each node's admin port: POST /v1/kv with a JSON body.
// Any node answers (followers forward writes to the leader; reads are linearizable by default).
// Values are UTF-8 strings. This is the API behind `barista kv`; it is small on purpose (the etcd
// v3 gRPC API comes in a later issue).
//
//   request:  { op: 'put'|'get'|'cas'|'del'|'session', key?, value?, expected? (null = absent),
//               session?, seq?, consistency?: 'linearizable'|'serializable' }
//   response: { ok: true, value?, sessionId? }
//           | { ok: false, code, message, definite, retriable, value? (current value on a failed cas) }
// HTTP status: 200 answered (including a failed compare); 400 bad request; 409 stale session
// sequence; 410 session expired; 413 key or value too large; 429 a bound was hit; 507 keyspace
// full; 503 unavailable (no leader, timed out: `definite` says whether it may have happened).

import { z } from 'zod';
import { BaristaError } from '../lib/errors.ts';
import type { KvOutcome, KvService } from '../metadata/kv-service.ts';

const text = new TextDecoder('utf-8', { fatal: false });
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

export const KV_OPS = ['put', 'get', 'cas', 'del', 'session'] as const;

/** The op of a request body, as a bounded metric label ('invalid' for anything else). */
export function kvOpLabel(body: unknown): string {
  const op = typeof body === 'object' && body !== null && 'op' in body ? body.op : undefined;
  return (KV_OPS as readonly unknown[]).includes(op) ? String(op) : 'invalid';
}

const requestSchema = z.strictObject({
  op: z.enum(KV_OPS),
  key: z.string().min(1).max(1024).optional(),
  value: z.string().optional(),
  expected: z.string().nullable().optional(),
  session: z.number().int().positive().optional(),
  seq: z.number().int().positive().optional(),
  consistency: z.enum(['linearizable', 'serializable']).default('linearizable'),
});

export type KvHttpRequest = z.input<typeof requestSchema>;

export interface HttpAnswer {
  readonly status: number;
  readonly body: unknown;
}

/**
 * HTTP status per error code. Requests the system will never accept are 4xx (do not retry as is);
 * overload is 429; a full keyspace is 507; everything else (no leader, timeouts, lost leadership,
 * a dropped proposal) is 503, with `definite` saying whether the request may have been applied.
 */
const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  bad_request: 400,
  malformed_command: 400,
  key_too_large: 413,
  value_too_large: 413,
  limit_exceeded: 429,
  keyspace_full: 507,
  stale_sequence: 409,
  session_expired: 410,
};

function errorAnswer(error: BaristaError, current: Uint8Array | null = null): HttpAnswer {
  const status = STATUS_BY_CODE[error.code] ?? 503;
  return {
    status,
    body: {
      ok: false,
      code: error.code,
      message: error.message,
      definite: error.definite,
      retriable: error.retriable,
      ...(current !== null ? { value: text.decode(current) } : {}),
    },
  };
}

function bad(message: string): HttpAnswer {
  return errorAnswer(new BaristaError('bad_request', message));
}

export function handleKvRequest(kv: KvService, raw: unknown): Promise<HttpAnswer> {
  const parsed = requestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return Promise.resolve(bad(`${issue.path.join('.') || 'body'}: ${issue.message}`));
  }
  const r = parsed.data;
  if ((r.session === undefined) !== (r.seq === undefined)) return Promise.resolve(bad('session and seq go together'));
  const session = r.session !== undefined && r.seq !== undefined ? { id: r.session, seq: r.seq } : undefined;
  return new Promise((resolve) => {
    const finish = (o: KvOutcome): void => {
      if (!o.ok) return resolve(errorAnswer(o.error));
      const res = o.result;
      if (!res.ok) {
        if (res.code === 'precondition_failed') {
          return resolve({
            status: 200,
            body: {
              ok: false,
              code: res.code,
              message: 'compare failed',
              definite: true,
              retriable: false,
              value: res.value === null ? null : text.decode(res.value),
            },
          });
        }
        return resolve(
          errorAnswer(
            new BaristaError(res.code, res.code.replaceAll('_', ' '), { definite: res.code !== 'session_expired' }),
          ),
        );
      }
      resolve({
        status: 200,
        body: {
          ok: true,
          value: res.value === null ? null : text.decode(res.value),
          ...(res.sessionId ? { sessionId: res.sessionId } : {}),
        },
      });
    };
    if (r.op === 'session') {
      kv.openSession((o) =>
        resolve(o.ok ? { status: 200, body: { ok: true, sessionId: o.sessionId } } : errorAnswer(o.error)),
      );
      return;
    }
    if (r.key === undefined) return resolve(bad(`key: required for ${r.op}`));
    switch (r.op) {
      case 'get':
        return kv.read(r.key, r.consistency, finish);
      case 'put':
        if (r.value === undefined) return resolve(bad('value: required for put'));
        return kv.write({ op: 'put', key: r.key, value: utf8(r.value) }, session, finish);
      case 'cas':
        if (r.value === undefined) return resolve(bad('value: required for cas'));
        if (r.expected === undefined) return resolve(bad('expected: required for cas (null = key absent)'));
        return kv.write(
          { op: 'cas', key: r.key, expected: r.expected === null ? null : utf8(r.expected), value: utf8(r.value) },
          session,
          finish,
        );
      case 'del':
        return kv.write({ op: 'del', key: r.key }, session, finish);
    }
  });
}
