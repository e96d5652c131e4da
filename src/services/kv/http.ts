// The metadata keyspace over HTTP, on each node's admin port: POST /v1/kv with a JSON body.
// Any node answers (followers forward writes to the leader; reads are linearizable by default).
// Keys and values travel as JSON text and are stored as their UTF-8 bytes. Text that has no UTF-8
// form (a lone UTF-16 surrogate from a "\ud800" escape; invalid UTF-8 bytes in the body, refused by
// the admin server) is rejected with 400 `invalid_utf8` on every op, so the write path and the
// read path see the same bytes for the same key (issue 7 item 16: a lone surrogate used to be
// stored as U+FFFD and looked up raw, so a put could not be read back). This is the API behind
// `barista kv`; it is small on purpose (the etcd v3 gRPC API comes in a later issue).
//
//   request:  { op: 'put'|'get'|'cas'|'del'|'session', key?, value?, expected? (null = absent),
//               session?, seq?, consistency?: 'linearizable'|'serializable' }
//   response: { ok: true, value?, sessionId? }   (get: value null = absent; del: value = the
//                                                   deleted value, null = the key did not exist)
//           | { ok: false, code, message, definite, retriable, value? (current value on a failed cas) }
// HTTP status: 200 answered (including a failed compare); 400 bad request; 409 stale session
// sequence; 410 session expired; 413 key or value too large (reads too); 429 a bound was hit (too
// many sessions for this client address included); 507 keyspace full; 503 unavailable (no leader),
// 504 timed out (`definite` says whether it may have happened). The table is src/node/http-status.ts.

import { z } from 'zod';
import { BaristaError } from '../../lib/errors.ts';
import type { KvOutcome, KvService } from '../../metadata/kv-service.ts';
import { type HttpAnswer, httpErrorAnswer } from '../../node/http-status.ts';

export type { HttpAnswer } from '../../node/http-status.ts';

const text = new TextDecoder('utf-8', { fatal: false });
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

export const KV_OPS = ['put', 'get', 'cas', 'del', 'session'] as const;

/** The op of a request body, as a bounded metric label ('invalid' for anything else). */
export function kvOpLabel(body: unknown): string {
  const op = typeof body === 'object' && body !== null && 'op' in body ? body.op : undefined;
  return (KV_OPS as readonly unknown[]).includes(op) ? String(op) : 'invalid';
}

/** Index of the first lone UTF-16 surrogate in `s` (text with no UTF-8 form), or -1. */
export function loneSurrogateAt(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++;
        continue;
      }
    }
    return i;
  }
  return -1;
}

// The key's size is checked in bytes by the service (413 key_too_large, on reads too), not here.
const requestSchema = z.strictObject({
  op: z.enum(KV_OPS),
  key: z.string().min(1).optional(),
  value: z.string().optional(),
  expected: z.string().nullable().optional(),
  session: z.number().int().positive().optional(),
  seq: z.number().int().positive().optional(),
  consistency: z.enum(['linearizable', 'serializable']).default('linearizable'),
});

export type KvHttpRequest = z.input<typeof requestSchema>;

function errorAnswer(error: BaristaError, current: Uint8Array | null = null): HttpAnswer {
  return httpErrorAnswer(error, current !== null ? { value: text.decode(current) } : {});
}

function bad(message: string): HttpAnswer {
  return errorAnswer(new BaristaError('bad_request', message));
}

/** Who sent the request (the per-client session bound counts by address). */
export interface KvClient {
  readonly address: string;
}

export function handleKvRequest(kv: KvService, raw: unknown, client: KvClient = { address: '' }): Promise<HttpAnswer> {
  const parsed = requestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return Promise.resolve(bad(`${issue.path.join('.') || 'body'}: ${issue.message}`));
  }
  const r = parsed.data;
  for (const field of ['key', 'value', 'expected'] as const) {
    const v = r[field];
    const at = typeof v === 'string' ? loneSurrogateAt(v) : -1;
    if (at >= 0) {
      return Promise.resolve(
        errorAnswer(
          new BaristaError(
            'invalid_utf8',
            `${field}: lone UTF-16 surrogate at index ${at}; keys and values travel as UTF-8 text, which cannot hold it`,
          ),
        ),
      );
    }
  }
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
        return resolve(errorAnswer(new BaristaError(res.code, res.code.replaceAll('_', ' '))));
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
      kv.openSession(client.address, (o) =>
        resolve(o.ok ? { status: 200, body: { ok: true, sessionId: o.value } } : errorAnswer(o.error)),
      );
      return;
    }
    if (r.key === undefined) return resolve(bad(`key: required for ${r.op}`));
    const key = utf8(r.key);
    switch (r.op) {
      case 'get':
        return kv.read(key, r.consistency, finish);
      case 'put':
        if (r.value === undefined) return resolve(bad('value: required for put'));
        return kv.write({ op: 'put', key, value: utf8(r.value) }, session, finish);
      case 'cas':
        if (r.value === undefined) return resolve(bad('value: required for cas'));
        if (r.expected === undefined) return resolve(bad('expected: required for cas (null = key absent)'));
        return kv.write(
          { op: 'cas', key, expected: r.expected === null ? null : utf8(r.expected), value: utf8(r.value) },
          session,
          finish,
        );
      case 'del':
        return kv.write({ op: 'del', key }, session, finish);
    }
  });
}
