// The store's one command table as the session looks commands up: the data commands of src/redis
// (helper A's table: strings, keys, collections) beside the connection and server commands this
// service owns (connection-commands.ts), with Redis' container commands (CLIENT, COMMAND, CONFIG)
// holding their subcommands. Lookup follows Redis 7.0 (server.c lookupCommand and
// commandCheckExistence): the name without case; a container's subcommand by argv[1] when there is
// one; a container given an unknown subcommand is "unknown subcommand", anything else unknown is
// "unknown command" with the args preview.

import { latin1String } from '../../lib/bytes.ts';
import type { RespValue } from '../../wire/resp/index.ts';
import type { CommandSpec } from '../../redis/command.ts';
import { unknownCommandError } from '../../redis/errors.ts';
import type { RespSession } from './session.ts';

/** A reply that comes later (a command forwarded to its keys' owner, a replica round): call with the callback. */
export type Later = (done: (value: RespValue) => void) => void;

/** What COMMAND INFO shows of a command (CommandSpec's shape without run). */
export interface CommandShape {
  /** Full name in lower case: `get`, `client|list`. */
  readonly name: string;
  readonly arity: number;
  readonly flags: readonly string[];
  readonly firstKey: number;
  readonly lastKey: number;
  readonly step: number;
}

/** A command this service runs itself, against the session that sent it. */
export interface ServerCommandSpec extends CommandShape {
  /** Redis' documentation group (COMMAND DOCS). */
  readonly group: string;
  readonly summary: string;
  readonly since: string;
  run(session: RespSession, argv: readonly Uint8Array[]): RespValue | Later;
  readonly subcommands?: readonly ServerCommandSpec[];
}

export type CommandEntry =
  | { readonly kind: 'data'; readonly spec: CommandSpec; readonly subcommands?: undefined }
  | {
      readonly kind: 'server';
      readonly spec: ServerCommandSpec;
      readonly subcommands?: ReadonlyMap<string, CommandEntry>;
    };

export type CommandTable = ReadonlyMap<string, CommandEntry>;

/** Latin1 view of bytes: one char per byte, so names and keys round-trip exactly. */
export function latin1(bytes: Uint8Array): string {
  return latin1String(bytes);
}

/**
 * The data commands and the server's own, by lower-case name. A server command named like a data
 * command replaces it (none does today; the server's FLUSHALL/DBSIZE apply when the data table
 * lacks them).
 */
export function buildCommandTable(
  data: ReadonlyMap<string, CommandSpec>,
  server: readonly ServerCommandSpec[],
): CommandTable {
  const table = new Map<string, CommandEntry>();
  for (const [name, spec] of data) table.set(name, { kind: 'data', spec });
  for (const spec of server) {
    if (table.has(spec.name)) continue;
    const subs =
      spec.subcommands === undefined
        ? undefined
        : new Map<string, CommandEntry>(
            spec.subcommands.map((s) => [s.name.slice(s.name.indexOf('|') + 1), { kind: 'server', spec: s }]),
          );
    table.set(spec.name, subs === undefined ? { kind: 'server', spec } : { kind: 'server', spec, subcommands: subs });
  }
  return table;
}

/** The entry for `argv`, or the reply Redis gives when there is none. */
export function lookupCommand(table: CommandTable, argv: readonly Uint8Array[]): CommandEntry | RespValue {
  const base = table.get(latin1(argv[0]!).toLowerCase());
  if (base !== undefined && (base.subcommands === undefined || argv.length === 1)) return base;
  if (base?.subcommands !== undefined) {
    const sub = base.subcommands.get(latin1(argv[1]!).toLowerCase());
    if (sub !== undefined) return sub;
    const shown = latin1(cString(argv[1]!).subarray(0, 128)).replace(/[\r\n]/g, ' ');
    return {
      type: 'error',
      message: `ERR unknown subcommand '${shown}'. Try ${base.spec.name.toUpperCase()} HELP.`,
    };
  }
  return unknownCommandError(argv);
}

function cString(bytes: Uint8Array): Uint8Array {
  const nul = bytes.indexOf(0);
  return nul < 0 ? bytes : bytes.subarray(0, nul);
}
