// `barista kv put|get|cas|del KEY [VALUE]`: the replicated key-value keyspace (the kv Raft group), through any node's
// admin port (followers forward to the leader). Endpoints: --endpoint HOST:PORT (repeatable), or
// every node of <data-dir>/cluster.json; the first that answers is used, and on "no leader" or a
// connection error the next one is tried.
//
// Values: VALUE on the command line, or `-` to read it from stdin, or `--file PATH` (one argument
// may hold at most 128 KiB on Linux, far below the 1 MiB value bound). Values are UTF-8 text (the
// HTTP API carries JSON text); a file or stdin that is not UTF-8 is refused here.
//
// Output: get prints the value (nothing on stdout when the key is absent; "not found" on stderr),
// del reports whether the key existed, put/cas print OK.
// Exit codes (like redis-cli/etcdctl scripts expect: one meaning per code):
//   0 done (get: found; del: it existed and is gone)
//   1 compare failed (cas)
//   2 usage/config error or a request the cluster will never accept (too large, keyspace full)
//   3 unavailable or indefinite (a timed-out write may or may not have applied)
//   4 key not found (get: absent; del: there was nothing to delete)

import { readFileSync } from 'node:fs';
import type { ErrorCode } from '../lib/error-codes.ts';
import { ConfigError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import { httpPostJson } from './common.ts';
import { CLI_EXIT, cliExitFor } from './exit-codes.ts';
import { resolveAdminEndpoints } from './status.ts';

/** Error statuses come from the catalogue's CLI table (src/cli/exit-codes.ts). */
export const KV_EXIT = { done: 0, ...CLI_EXIT, notFound: 4 } as const;

export interface KvCliOptions {
  readonly op: 'put' | 'get' | 'cas' | 'del';
  readonly key: string;
  /** The value; `-` = read it from stdin. */
  readonly value: string | undefined;
  /** Read the value from this file. */
  readonly file?: string | undefined;
  readonly expected: string | undefined;
  readonly absent: boolean;
  readonly serializable: boolean;
  readonly endpoints: string[];
  readonly dataDir: string;
  readonly json: boolean;
}

export interface KvCliIo {
  readonly out: (s: string) => void;
  readonly err: (s: string) => void;
  /** All of stdin, at most `bytesMax` bytes (more is an error). */
  readonly readStdin: (bytesMax: number) => Promise<Uint8Array>;
}

interface KvAnswer {
  ok: boolean;
  value?: string | null;
  /** Typed so a literal compared with it must be a catalogue code (a newer server may send another: cliExitFor copes). */
  code?: ErrorCode;
  message?: string;
  definite?: boolean;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Reads all of stdin, refusing more than `bytesMax` bytes. */
export async function readStdinBounded(bytesMax: number): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of process.stdin) {
    const c = chunk as Buffer;
    bytes += c.length;
    if (bytes > bytesMax) throw new ConfigError('VALUE', `stdin holds more than ${bytesMax} bytes`);
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

function asText(bytes: Uint8Array, from: string): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new ConfigError(from, 'is not valid UTF-8 text (values travel as JSON text)');
  }
}

/** The value to send: from the argument, stdin (`-`) or --file; undefined when none was given. */
async function resolveValue(o: KvCliOptions, io: KvCliIo): Promise<string | undefined> {
  // One byte over the bound is enough for the node to answer value_too_large with its own message.
  const bytesMax = limits.kvValueBytesMax + 1;
  if (o.file !== undefined) {
    if (o.value !== undefined) throw new ConfigError('--file', 'give the value either as VALUE or with --file');
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(o.file);
    } catch (error) {
      throw new ConfigError('--file', `cannot read ${o.file}: ${(error as Error).message}`);
    }
    if (bytes.length > bytesMax) throw new ConfigError('--file', `${o.file} is over ${limits.kvValueBytesMax} bytes`);
    return asText(bytes, '--file');
  }
  if (o.value === '-') return asText(await io.readStdin(bytesMax), 'stdin');
  return o.value;
}

export async function runKv(o: KvCliOptions, io: KvCliIo): Promise<number> {
  const { out, err } = io;
  const body: Record<string, unknown> = { op: o.op, key: o.key };
  if (o.op === 'put' || o.op === 'cas') {
    const value = await resolveValue(o, io);
    if (value === undefined) throw new ConfigError('VALUE', `${o.op} needs a value (VALUE, - for stdin, or --file)`);
    body['value'] = value;
  } else if (o.value !== undefined || o.file !== undefined) {
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
      const absent = answer.value === null || answer.value === undefined;
      if (o.op === 'get') {
        if (absent) {
          if (!o.json) err(`not found: ${JSON.stringify(o.key)}\n`);
          return KV_EXIT.notFound;
        }
        if (!o.json) out(`${answer.value}\n`);
        return KV_EXIT.done;
      }
      if (o.op === 'del') {
        if (!o.json)
          (absent ? err : out)(absent ? `not found: ${JSON.stringify(o.key)} (nothing deleted)\n` : 'deleted\n');
        return absent ? KV_EXIT.notFound : KV_EXIT.done;
      }
      if (!o.json) out('OK\n');
      return KV_EXIT.done;
    }
    if (answer.code === 'precondition_failed') {
      if (!o.json)
        err(`compare failed: current value is ${answer.value === null ? '(absent)' : JSON.stringify(answer.value)}\n`);
      return KV_EXIT.compareFailed;
    }
    if (!o.json)
      err(
        `error (${answer.code}): ${answer.message}${answer.definite === false ? ' — it may or may not have taken effect' : ''}\n`,
      );
    return cliExitFor(answer.code);
  }
  err(`unavailable: ${last}\n`);
  return KV_EXIT.unavailable;
}
