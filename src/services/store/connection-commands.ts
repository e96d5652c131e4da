// The commands the store service answers itself (not the data model's): connection state (PING,
// ECHO, HELLO, AUTH, SELECT, CLIENT, QUIT, RESET), transactions (MULTI, EXEC, DISCARD, WATCH,
// UNWATCH) and DEBUG SLEEP 0 (FLUSHALL, FLUSHDB and DBSIZE are the data model's, src/redis). Introspection (COMMAND, INFO, CONFIG) is in introspection.ts. Arity, flags
// and reply texts are Redis 7.0.15's (src/commands/*.json, networking.c, multi.c, server.c,
// acl.c), implemented from their description; the differences are in docs/COMPAT-REDIS.md.

import { ProtocolError } from '../../lib/errors.ts';
import { limits } from '../../lib/limits.ts';
import { parseRedisInteger, type RespValue, reply } from '../../wire/resp/index.ts';
import { latin1, type ServerCommandSpec } from './command-entry.ts';
import type { RespSession } from './session.ts';

const OK = reply.ok;
const utf8 = new TextEncoder();
const err = (text: string): RespValue => reply.error(text);
const SYNTAX = err('ERR syntax error');
const NOT_INTEGER = err('ERR value is not an integer or out of range');
const WRONGPASS = err('WRONGPASS invalid username-password pair or user is disabled.');

type Run = ServerCommandSpec['run'];

/** A keyless server command. */
export function serverCommand(
  name: string,
  arity: number,
  flags: readonly string[],
  doc: { group: string; since: string; summary: string },
  run: Run,
  subcommands?: readonly ServerCommandSpec[],
): ServerCommandSpec {
  return {
    name,
    arity,
    flags,
    firstKey: 0,
    lastKey: 0,
    step: 0,
    ...doc,
    run,
    ...(subcommands === undefined ? {} : { subcommands }),
  };
}

const conn = (since: string, summary: string) => ({ group: 'connection', since, summary });
const tx = (since: string, summary: string) => ({ group: 'transactions', since, summary });
const srv = (since: string, summary: string) => ({ group: 'server', since, summary });

function equalsIgnoreCase(arg: Uint8Array, word: string): boolean {
  return latin1(arg).toLowerCase() === word;
}

/** Redis' getLongLongFromObject: the whole argument a signed 64-bit decimal (no spaces, no +). */
function integerArg(arg: Uint8Array): number | undefined {
  return parseRedisInteger(arg);
}

/** Redis' clientSetName check: every byte printable ASCII '!'..'~'. */
function validClientName(name: Uint8Array): boolean {
  for (const b of name) if (b < 0x21 || b > 0x7e) return false;
  return true;
}

/** A connection name or library string past storeClientNameBytesMax (Redis has no bound). */
const NAME_TOO_LONG = err(
  `ERR the name is longer than ${limits.storeClientNameBytesMax} bytes (storeClientNameBytesMax)`,
);

/** ACLAuthenticateUser for the one user we have, `default` (nopass unless requirepass is set). */
function authenticate(session: RespSession, user: Uint8Array, pass: Uint8Array): boolean {
  if (latin1(user) !== 'default') return false;
  const required = session.server.config.requirepass;
  if (required !== undefined && latin1(pass) !== latin1(utf8.encode(required))) return false;
  session.authenticated = true;
  return true;
}

function hello(s: RespSession, argv: readonly Uint8Array[]): RespValue {
  let next = 1;
  let version = 0;
  if (argv.length >= 2) {
    const v = integerArg(argv[next++]!);
    if (v === undefined) return err('ERR Protocol version is not an integer or out of range');
    if (v < 2 || v > 3) return err('NOPROTO unsupported protocol version');
    version = v;
  }
  for (let j = next; j < argv.length; j++) {
    const more = argv.length - 1 - j;
    const opt = argv[j]!;
    if (equalsIgnoreCase(opt, 'auth') && more >= 2) {
      if (!authenticate(s, argv[j + 1]!, argv[j + 2]!)) return WRONGPASS;
      j += 2;
    } else if (equalsIgnoreCase(opt, 'setname') && more >= 1) {
      if (!validClientName(argv[j + 1]!)) return CLIENT_NAME_INVALID;
      if (argv[j + 1]!.length > limits.storeClientNameBytesMax) return NAME_TOO_LONG;
      s.name = latin1(argv[j + 1]!);
      j++;
    } else {
      return err(`ERR Syntax error in HELLO option '${latin1(opt)}'`);
    }
  }
  if (!s.authenticated) {
    return err(
      'NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time',
    );
  }
  if (version !== 0) s.protocol = version as 2 | 3;
  const bulk = (t: string) => reply.bulk(t);
  return {
    type: 'map',
    entries: [
      [bulk('server'), bulk('redis')],
      [bulk('version'), bulk(REDIS_VERSION)],
      [bulk('proto'), reply.integer(s.protocol)],
      [bulk('id'), reply.integer(s.id)],
      [bulk('mode'), bulk(s.server.cluster() === undefined ? 'standalone' : 'cluster')],
      [bulk('role'), bulk('master')],
      [bulk('modules'), reply.array([])],
    ],
  };
}

/** The Redis version we answer as (HELLO, INFO): the release whose behaviour we follow. */
export const REDIS_VERSION = '7.0.15';

const CLIENT_NAME_INVALID = err('ERR Client names cannot contain spaces, newlines or special characters.');

/** One CLIENT LIST / CLIENT INFO line, Redis 7.0's fields (ours where a field has no meaning here). */
export function clientInfoLine(s: RespSession): string {
  const nowMs = s.server.env.clock.monotonicMs();
  let flags = '';
  if (s.multi !== null) flags += 'x';
  if (s.watchDirty) flags += 'd';
  if (s.closeAfterReply) flags += 'c';
  if (s.noEvict) flags += 'e';
  if (s.subscribed) flags += 'P';
  if (flags === '') flags = 'N';
  const multi = s.multi === null ? -1 : s.multi.queue.length;
  return [
    `id=${s.id}`,
    `addr=${s.conn.remoteAddress}`,
    `laddr=127.0.0.1:${s.server.port}`,
    `fd=${s.conn.id}`,
    `name=${s.name}`,
    `age=${Math.floor((nowMs - s.createdMs) / 1000)}`,
    `idle=${Math.floor((nowMs - s.lastCommandMs) / 1000)}`,
    `flags=${flags}`,
    `db=0 sub=${s.channels.size} psub=${s.patterns.size} ssub=${s.shardChannels.size}`,
    `multi=${multi}`,
    'qbuf=0 qbuf-free=0 argv-mem=0',
    `multi-mem=${s.multi?.bytes ?? 0}`,
    'rbs=0 rbp=0 obl=0 oll=0',
    `omem=${s.conn.bufferedBytes}`,
    'tot-mem=0 events=r',
    `cmd=${s.lastCommand}`,
    'user=default redir=-1',
    `resp=${s.protocol}`,
  ].join(' ');
}

const txt = (text: string): RespValue => ({ type: 'verbatim', format: 'txt', text: utf8.encode(text) });

const clientSubcommands: ServerCommandSpec[] = [
  serverCommand('client|id', 2, ['noscript', 'loading', 'stale'], conn('5.0.0', 'Returns the client ID'), (s) =>
    reply.integer(s.id),
  ),
  serverCommand(
    'client|info',
    2,
    ['noscript', 'loading', 'stale'],
    conn('6.2.0', 'Returns information about the current client connection.'),
    (s) => txt(`${clientInfoLine(s)}\n`),
  ),
  serverCommand(
    'client|list',
    -2,
    ['admin', 'noscript', 'loading', 'stale'],
    conn('2.4.0', 'Get the list of client connections'),
    (s, argv) => {
      if (argv.length === 4 && equalsIgnoreCase(argv[2]!, 'type')) {
        const type = latin1(argv[3]!).toLowerCase();
        if (!['normal', 'master', 'replica', 'slave', 'pubsub'].includes(type)) {
          return err(`ERR Unknown client type '${latin1(argv[3]!)}'`);
        }
        if (type !== 'normal') return txt('');
      } else if (argv.length !== 2) return SYNTAX;
      let out = '';
      for (const other of s.server.sessions.values()) out += `${clientInfoLine(other)}\n`;
      return txt(out);
    },
  ),
  serverCommand(
    'client|unblock',
    -3,
    ['admin', 'noscript', 'loading', 'stale'],
    conn('5.0.0', 'Unblock a client blocked in a blocking command from a different connection'),
    (s, argv) => {
      if (argv.length > 4)
        return err(`ERR unknown subcommand or wrong number of arguments for '${latin1(argv[1]!)}'. Try CLIENT HELP.`);
      // The reason is checked before the id, as Redis does.
      let error = false;
      if (argv.length === 4) {
        if (equalsIgnoreCase(argv[3]!, 'error')) error = true;
        else if (!equalsIgnoreCase(argv[3]!, 'timeout'))
          return err('ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR');
      }
      const id = parseRedisInteger(argv[2]!);
      if (id === undefined) return err('ERR value is not an integer or out of range');
      const target = s.server.sessions.get(id);
      return reply.integer(target !== undefined && s.server.blocking.unblockClient(target, error) ? 1 : 0);
    },
  ),
  serverCommand(
    'client|setname',
    3,
    ['noscript', 'loading', 'stale'],
    conn('2.6.9', 'Set the current connection name'),
    (s, argv) => {
      if (!validClientName(argv[2]!)) return CLIENT_NAME_INVALID;
      if (argv[2]!.length > limits.storeClientNameBytesMax) return NAME_TOO_LONG;
      s.name = latin1(argv[2]!);
      return OK;
    },
  ),
  serverCommand(
    'client|getname',
    2,
    ['noscript', 'loading', 'stale'],
    conn('2.6.9', 'Get the current connection name'),
    (s) => (s.name === '' ? reply.null : reply.bulk(s.name)),
  ),
  serverCommand(
    'client|no-evict',
    3,
    ['admin', 'noscript', 'loading', 'stale'],
    conn('7.0.0', 'Set client eviction mode for the current connection'),
    (s, argv) => {
      if (equalsIgnoreCase(argv[2]!, 'on')) s.noEvict = true;
      else if (equalsIgnoreCase(argv[2]!, 'off')) s.noEvict = false;
      else return SYNTAX;
      s.conn.setEvictable(!s.noEvict); // the listener's memory bound passes it over
      return OK;
    },
  ),
  // Redis 7.2's CLIENT SETINFO (clients such as node-redis and redis-py send it on connect).
  serverCommand(
    'client|setinfo',
    4,
    ['noscript', 'loading', 'stale'],
    conn('7.2.0', 'Set client or connection specific info'),
    (s, argv) => {
      const attr = latin1(argv[2]!).toLowerCase();
      const value = latin1(argv[3]!);
      if (attr !== 'lib-name' && attr !== 'lib-ver') return err(`ERR Unrecognized option '${latin1(argv[2]!)}'`);
      for (let i = 0; i < value.length; i++) {
        const c = value.charCodeAt(i);
        if (c < 0x21 || c > 0x7e) return err(`ERR ${attr} cannot contain spaces, newlines or special characters.`);
      }
      if (value.length > limits.storeClientNameBytesMax) return NAME_TOO_LONG;
      if (attr === 'lib-name') s.libName = value;
      else s.libVersion = value;
      return OK;
    },
  ),
];

/** Every command of this file (introspection.ts adds COMMAND, INFO, CONFIG). */
export const connectionCommands: readonly ServerCommandSpec[] = [
  serverCommand('ping', -1, ['fast'], conn('1.0.0', 'Ping the server'), (s, argv) => {
    if (argv.length > 2) return err("ERR wrong number of arguments for 'ping' command");
    // Subscribed mode on RESP2: Redis answers ["pong", argument or ""] (a push-shaped array).
    if (s.protocol === 2 && s.subscribed)
      return reply.array([reply.bulk('pong'), reply.bulk(argv.length === 2 ? argv[1]! : '')]);
    return argv.length === 1 ? reply.simple('PONG') : reply.bulk(argv[1]!);
  }),
  serverCommand('echo', 2, ['loading', 'stale', 'fast'], conn('1.0.0', 'Echo the given string'), (s, argv) => {
    // The planted bug session.ts' boundary is tested with: ECHO throws a ProtocolError at once
    // (`now`), or answers later and throws before (`before`) or after (`after`) its answer.
    if (s.server.env.mutations.has('store-echo-throws')) {
      const planted = new ProtocolError('malformed', 'planted: ECHO threw');
      const when = argv[1]!.length === 5 ? 'after' : argv[1]!.length === 6 ? 'before' : 'now';
      if (when === 'now') throw planted;
      return (done) => {
        if (when === 'after') done(reply.bulk(argv[1]!));
        throw planted;
      };
    }
    return reply.bulk(argv[1]!);
  }),
  // This node's wall clock (the Env's: the simulator's skewed one there), in Redis' two bulk strings.
  serverCommand('time', 1, ['loading', 'stale', 'fast'], srv('2.6.0', 'Return the current server time'), (s) => {
    const us = Math.floor(s.server.env.clock.wallMs() * 1000);
    return reply.array([reply.bulk(String(Math.floor(us / 1_000_000))), reply.bulk(String(us % 1_000_000))]);
  }),
  serverCommand(
    'hello',
    -1,
    ['noscript', 'loading', 'stale', 'fast', 'no_auth', 'allow_busy'],
    conn('6.0.0', 'Handshake with Redis'),
    hello,
  ),
  serverCommand(
    'auth',
    -2,
    ['noscript', 'loading', 'stale', 'fast', 'no_auth', 'allow_busy'],
    conn('1.0.0', 'Authenticate to the server'),
    (s, argv) => {
      if (argv.length > 3) return SYNTAX;
      if (argv.length === 2) {
        if (s.server.config.requirepass === undefined) {
          return err(
            'ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?',
          );
        }
        return authenticate(s, utf8.encode('default'), argv[1]!) ? OK : WRONGPASS;
      }
      return authenticate(s, argv[1]!, argv[2]!) ? OK : WRONGPASS;
    },
  ),
  serverCommand(
    'select',
    2,
    ['loading', 'stale', 'fast'],
    conn('1.0.0', 'Change the selected database for the current connection'),
    (_s, argv) => {
      const id = integerArg(argv[1]!);
      if (id === undefined) return NOT_INTEGER;
      // getIntFromObjectOrReply: a long long outside int's range has its own text.
      if (id < -2147483648 || id > 2147483647) {
        return err('ERR value is out of range, value must between -2147483648 and 2147483647');
      }
      return id === 0 ? OK : err('ERR DB index is out of range');
    },
  ),
  serverCommand(
    'client',
    -2,
    [],
    conn('2.4.0', 'A container for client connection commands'),
    () => SYNTAX,
    clientSubcommands,
  ),
  serverCommand(
    'quit',
    -1,
    ['allow_busy', 'noscript', 'loading', 'stale', 'fast', 'no_auth'],
    conn('1.0.0', 'Close the connection'),
    (s) => {
      s.closeAfterReply = true;
      return OK;
    },
  ),
  serverCommand(
    'reset',
    1,
    ['noscript', 'loading', 'stale', 'fast', 'no_auth', 'allow_busy'],
    conn('6.2.0', 'Reset the connection'),
    (s) => {
      s.reset();
      return reply.simple('RESET');
    },
  ),
  serverCommand(
    'multi',
    1,
    ['noscript', 'loading', 'stale', 'fast', 'allow_busy'],
    tx('1.2.0', 'Mark the start of a transaction block'),
    (s) => {
      if (s.multi !== null) return err('ERR MULTI calls can not be nested');
      s.multi = { queue: [], bytes: 0, dirty: false };
      return OK;
    },
  ),
  serverCommand(
    'exec',
    1,
    ['noscript', 'loading', 'stale', 'skip_slowlog'],
    tx('1.2.0', 'Execute all commands issued after MULTI'),
    (s) => s.exec(),
  ),
  serverCommand(
    'discard',
    1,
    ['noscript', 'loading', 'stale', 'fast', 'allow_busy'],
    tx('2.0.0', 'Discard all commands issued after MULTI'),
    (s) => {
      if (s.multi === null) return err('ERR DISCARD without MULTI');
      s.multi = null;
      s.server.unwatchAll(s);
      return OK;
    },
  ),
  {
    ...serverCommand(
      'watch',
      -2,
      ['noscript', 'loading', 'stale', 'fast', 'allow_busy'],
      tx('2.2.0', 'Watch the given keys to determine execution of the MULTI/EXEC block'),
      (s, argv) => {
        if (s.multi !== null) return err('ERR WATCH inside MULTI is not allowed');
        for (let i = 1; i < argv.length; i++) {
          if (!s.server.watch(s, argv[i]!))
            return err('ERR too many WATCHed keys (storeWatchedKeysCountMax, storeWatchedKeysBytesMax)');
        }
        return OK;
      },
    ),
    firstKey: 1,
    lastKey: -1,
    step: 1,
  },
  serverCommand(
    'unwatch',
    1,
    ['noscript', 'loading', 'stale', 'fast', 'allow_busy'],
    tx('2.2.0', 'Forget about all watched keys'),
    (s) => {
      s.server.unwatchAll(s);
      return OK;
    },
  ),
  // WAIT numreplicas timeout. At N = 1 a node is a Redis master with no replicas: 0 acknowledged,
  // at once when none are asked for (or inside MULTI), else after the timeout (0 = never, as Redis),
  // blocked as a pop is (blocking.ts: CLIENT UNBLOCK ends it too). At N > 1 a write's replicas acknowledged it before its reply (the
  // connection's consistency level), so WAIT is not offered there.
  serverCommand(
    'wait',
    3,
    ['noscript'],
    srv(
      '3.0.0',
      'Wait for the synchronous replication of all the write commands sent in the context of the current connection',
    ),
    (s, argv) => {
      if (s.server.replicated !== undefined)
        return err(
          'ERR WAIT is not available with store.replication.replicas > 1 (a write is acknowledged by its replicas before its reply)',
        );
      const numreplicas = parseRedisInteger(argv[1]!);
      if (numreplicas === undefined) return err('ERR value is not an integer or out of range');
      const timeoutMs = parseRedisInteger(argv[2]!);
      if (timeoutMs === undefined) return err('ERR timeout is not an integer or out of range');
      if (timeoutMs < 0) return err('ERR timeout is negative');
      if (numreplicas <= 0 || s.inExec) return reply.integer(0);
      return s.server.blocking.wait(s, timeoutMs);
    },
  ),
  serverCommand(
    'debug',
    -2,
    ['admin', 'noscript', 'loading', 'stale', 'protected'],
    srv('1.0.0', 'A container for debugging commands'),
    (_s, argv) => {
      // Only DEBUG SLEEP 0 (clients use it as a round trip); a real sleep would stall every client.
      if (argv.length === 3 && equalsIgnoreCase(argv[1]!, 'sleep')) {
        const seconds = Number(latin1(argv[2]!));
        if (seconds === 0) return OK;
        return err('ERR DEBUG SLEEP other than 0 is not supported');
      }
      return err(
        `ERR unknown subcommand or wrong number of arguments for '${latin1(argv[1]!).slice(0, 128)}'. Try DEBUG HELP.`,
      );
    },
  ),
];
