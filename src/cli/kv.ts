// `barista kv put|get|cas|del KEY [VALUE]`: the metadata group's test keyspace, through any node's
// admin port (followers forward to the leader). Endpoints: --endpoint HOST:PORT (repeatable), or
// every node of <data-dir>/cluster.json; the first that answers is used, and on "no leader" or a
// connection error the next one is tried.
//
// Exit codes: 0 done (for get: key found), 1 compare failed (cas) or key not found (get),
// 2 usage/config error or a request the cluster will never accept (too large, keyspace full),
// 3 unavailable or indefinite (a timed-out write may or may not have applied).

import { ConfigError } from '../lib/errors.ts';
import { httpPostJson } from './common.ts';
import { resolveAdminEndpoints } from './status.ts';

export interface KvCliOptions {
  readonly op: 'put' | 'get' | 'cas' | 'del';
  readonly key: string;
  readonly value: string | undefined;
  readonly expected: string | undefined;
  readonly absent: boolean;
  readonly serializable: boolean;
  readonly endpoints: string[];
  readonly dataDir: string;
  readonly json: boolean;
}

/** Answers that retrying cannot change (bad request, too large, keyspace full): exit 2, not 3. */
const REJECTED_CODES: ReadonlySet<string> = new Set([
  'bad_request',
  'malformed_command',
  'key_too_large',
  'value_too_large',
  'keyspace_full',
  'request_too_large',
  'stale_sequence',
]);

interface KvAnswer {
  ok: boolean;
  value?: string | null;
  code?: string;
  message?: string;
  definite?: boolean;
}

export async function runKv(o: KvCliOptions, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const body: Record<string, unknown> = { op: o.op, key: o.key };
  if (o.op === 'put' || o.op === 'cas') {
    if (o.value === undefined) throw new ConfigError('VALUE', `${o.op} needs a value`);
    body['value'] = o.value;
  } else if (o.value !== undefined) {
    throw new ConfigError('VALUE', `${o.op} takes no value`);
  }
  if (o.op === 'cas') {
    if (o.absent === (o.expected !== undefined))
      throw new ConfigError('--expected', 'cas needs exactly one of --expected OLD or --absent');
    body['expected'] = o.absent ? null : o.expected;
  } else if (o.expected !== undefined || o.absent) {
    throw new ConfigError('--expected', 'only cas takes --expected/--absent');
  }
  if (o.serializable) body['consistency'] = 'serializable';
  const endpoints = resolveAdminEndpoints({ endpoints: o.endpoints, dataDir: o.dataDir });
  let last = 'no endpoint answered';
  for (const e of endpoints) {
    let answer: KvAnswer;
    try {
      const r = await httpPostJson(e.host, e.port, '/v1/kv', body);
      answer = JSON.parse(r.body) as KvAnswer;
    } catch (error) {
      last = `${e.host}:${e.port}: ${(error as Error).message}`;
      continue;
    }
    if (!answer.ok && answer.code === 'no_leader') {
      last = `${e.host}:${e.port}: no leader`;
      continue;
    }
    if (o.json) out(`${JSON.stringify(answer)}\n`);
    if (answer.ok) {
      if (!o.json && o.op === 'get')
        out(answer.value === null || answer.value === undefined ? '' : `${answer.value}\n`);
      else if (!o.json) out('OK\n');
      return o.op === 'get' && (answer.value === null || answer.value === undefined) ? 1 : 0;
    }
    if (answer.code === 'precondition_failed') {
      if (!o.json)
        err(`compare failed: current value is ${answer.value === null ? '(absent)' : JSON.stringify(answer.value)}\n`);
      return 1;
    }
    if (!o.json)
      err(
        `error (${answer.code}): ${answer.message}${answer.definite === false ? ' — it may or may not have taken effect' : ''}\n`,
      );
    return REJECTED_CODES.has(answer.code ?? '') ? 2 : 3;
  }
  err(`unavailable: ${last}\n`);
  return 3;
}
