// `barista store get|set|del|where KEY [VALUE]` and `barista store ring [join|leave|abort] [NODE]`:
// one Redis command against a node's RESP port, so a user needs no redis-cli. The server is --server HOST:PORT, or every node's `resp` port in
// <data-dir>/cluster.json (a `barista dev` cluster), tried in order until one accepts the
// connection. --password sends AUTH first (requirepass).
// Output: get prints the value (nothing on stdout and "not found" on stderr when absent), set
// prints OK, del prints the number of keys removed, where prints the key's replicas (BARISTA WHERE:
// the preference list, then pending replicas) one per line, ring prints the token ring and the
// move in progress (BARISTA RING), or with join NODE / leave NODE / abort starts or cancels a move
// (N > 1) and prints the ring version it committed.
// Exit codes (src/cli/exit-codes.ts, one meaning per status):
//   0 done (get: found; del: it existed)
//   2 rejected: the server answered an error (WRONGTYPE, NOAUTH, a bound) or usage
//   3 unavailable or indefinite: no server reachable, or the connection ended before the reply
//     (a set may or may not have applied)
//   4 key not found (get: absent; del: nothing to delete)

import { connect, type Socket } from 'node:net';
import { ConfigError } from '../lib/errors.ts';
import { drainDecoder } from '../wire/pipeline.ts';
import { encodeCommand, RespReplyDecoder, type RespValue } from '../wire/resp/index.ts';
import { clusterEndpoints } from './cluster-file.ts';
import { CLI_EXIT } from './exit-codes.ts';

export const STORE_EXIT = { done: 0, ...CLI_EXIT, notFound: 4 } as const;
export const STORE_COMMANDS = ['get', 'set', 'del', 'where', 'ring'] as const;
const RING_ACTIONS = ['join', 'leave', 'abort'];
export type StoreCommand = (typeof STORE_COMMANDS)[number];

export interface StoreCliOptions {
  readonly command: StoreCommand;
  /** The key; for `ring`, the action (join, leave, abort) or undefined (show). */
  readonly key: string | undefined;
  readonly value: string | undefined;
  /** --server HOST:PORT; undefined = the resp ports of <data-dir>/cluster.json. */
  readonly server: string | undefined;
  readonly dataDir: string;
  readonly password: string | undefined;
  readonly timeoutMs: number;
}

export interface StoreCliIo {
  readonly out: (s: string) => void;
  readonly err: (s: string) => void;
}

/** The servers to try: --server, or every node's `resp` port in cluster.json. */
export function resolveRespServers(o: {
  server: string | undefined;
  dataDir: string;
}): { host: string; port: number }[] {
  if (o.server === undefined || o.server === '') return clusterEndpoints(o.dataDir, 'resp', '--server');
  const m = /^(.+):(\d{1,5})$/.exec(o.server);
  if (m === null || Number(m[2]) > 65535) throw new ConfigError('--server', `expected HOST:PORT, got "${o.server}"`);
  return [{ host: m[1]!, port: Number(m[2]) }];
}

class Unreachable extends Error {}

/** Sends `commands` on one connection and returns their replies, in order. */
function roundTrip(
  endpoint: { host: string; port: number },
  commands: readonly (readonly string[])[],
  timeoutMs: number,
): Promise<RespValue[]> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(endpoint.port, endpoint.host);
    const decoder = new RespReplyDecoder();
    const replies: RespValue[] = [];
    let connected = false;
    const timer = setTimeout(() => fail(new Error(`no reply within ${timeoutMs} ms`)), timeoutMs);
    const fail = (e: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(connected ? e : new Unreachable(e.message));
    };
    socket.on('connect', () => {
      connected = true;
      for (const c of commands) socket.write(encodeCommand([...c]));
    });
    socket.on('data', (chunk) => {
      decoder.push(chunk);
      const error = drainDecoder(decoder, (r) => replies.push(r));
      if (error !== undefined) return fail(error);
      if (replies.length === commands.length) {
        clearTimeout(timer);
        socket.end();
        resolve(replies);
      }
    });
    socket.on('error', (e) => fail(e));
    socket.on('close', () => {
      if (replies.length < commands.length) fail(new Error('connection closed before the reply'));
    });
  });
}

/** The Redis command of a `barista store` invocation; a usage error throws ConfigError. */
export function storeCommand(o: Pick<StoreCliOptions, 'command' | 'key' | 'value'>): string[] {
  if (o.command === 'ring') {
    if (o.key === undefined) return ['BARISTA', 'RING'];
    if (!RING_ACTIONS.includes(o.key))
      throw new ConfigError('ACTION', `ring takes join NODE, leave NODE or abort, got "${o.key}"`);
    if ((o.key === 'abort') !== (o.value === undefined))
      throw new ConfigError('NODE', o.key === 'abort' ? 'abort takes no NODE' : `${o.key} needs a NODE`);
    return ['BARISTA', 'RING', o.key.toUpperCase(), ...(o.value === undefined ? [] : [o.value])];
  }
  if (o.key === undefined) throw new ConfigError('KEY', `${o.command} needs a KEY`);
  if (o.command === 'set' && o.value === undefined) throw new ConfigError('VALUE', 'set needs a VALUE');
  if (o.command !== 'set' && o.value !== undefined) throw new ConfigError('VALUE', `${o.command} takes no VALUE`);
  if (o.command === 'where') return ['BARISTA', 'WHERE', o.key];
  return o.command === 'set' ? ['SET', o.key, o.value!] : [o.command.toUpperCase(), o.key];
}

const text = (t: string | Uint8Array): string => (typeof t === 'string' ? t : new TextDecoder().decode(t));

export async function runStore(o: StoreCliOptions, io: StoreCliIo): Promise<number> {
  const command = storeCommand(o);
  const commands = o.password === undefined ? [command] : [['AUTH', o.password], command];
  let lastError = 'no server';
  for (const endpoint of resolveRespServers(o)) {
    let replies: RespValue[];
    try {
      replies = await roundTrip(endpoint, commands, o.timeoutMs);
    } catch (e) {
      lastError = `${endpoint.host}:${endpoint.port}: ${(e as Error).message}`;
      if (e instanceof Unreachable) continue; // nothing was sent: the next node may answer
      io.err(`${lastError} (the outcome is unknown)\n`);
      return STORE_EXIT.unavailable;
    }
    for (const r of replies) {
      if (r.type === 'error') {
        io.err(`(error) ${text(r.message)}\n`);
        return STORE_EXIT.rejected;
      }
    }
    const r = replies[replies.length - 1]!;
    switch (o.command) {
      case 'get':
        if (r.type === 'bulk') {
          io.out(`${text(r.value)}\n`);
          return STORE_EXIT.done;
        }
        io.err('not found\n');
        return STORE_EXIT.notFound;
      case 'set':
        io.out('OK\n');
        return STORE_EXIT.done;
      case 'del': {
        const n = r.type === 'integer' ? r.value : 0n;
        io.out(`${n}\n`);
        return n > 0n ? STORE_EXIT.done : STORE_EXIT.notFound;
      }
      case 'where':
        if (r.type === 'array') for (const id of r.items) if (id.type === 'bulk') io.out(`${text(id.value)}\n`);
        return STORE_EXIT.done;
      case 'ring':
        if (r.type === 'verbatim' || r.type === 'bulk') io.out(text(r.type === 'bulk' ? r.value : r.text));
        else if (r.type === 'simple') io.out(`${text(r.value)}\n`);
        return STORE_EXIT.done;
    }
  }
  io.err(`no server reachable (${lastError})\n`);
  return STORE_EXIT.unavailable;
}
