// The command table: every family's list in one map by lower-case name. Each family exports
// `<family>Commands: readonly CommandSpec[]`; a new family adds one import and one line to
// `families` (keep this a plain list, so parallel branches merge without conflicts).

import type { RespValue } from '../wire/resp/index.ts';
import { arityAccepts, type CommandContext, type CommandSpec } from './command.ts';
import { unknownCommandError, wrongArityError } from './errors.ts';
import { bitmapCommands } from './bitmaps.ts';
import { genericCommands } from './generic.ts';
import { hashCommands } from './hash.ts';
import { listCommands } from './list.ts';
import { setCommands } from './set.ts';
import { stringCommands } from './strings.ts';
import { zsetCommands } from './zset.ts';

const families: ReadonlyArray<readonly CommandSpec[]> = [
  stringCommands,
  bitmapCommands,
  genericCommands,
  hashCommands,
  setCommands,
  listCommands,
  zsetCommands,
];

function build(): ReadonlyMap<string, CommandSpec> {
  const table = new Map<string, CommandSpec>();
  for (const family of families) {
    for (const spec of family) {
      if (table.has(spec.name)) throw new Error(`command ${spec.name} is defined twice`);
      if (spec.name !== spec.name.toLowerCase()) throw new Error(`command name ${spec.name} is not lower case`);
      table.set(spec.name, spec);
    }
  }
  return table;
}

/** Every command by its lower-case name (COMMAND's names). */
export const commandTable: ReadonlyMap<string, CommandSpec> = build();

/** Redis' command names are at most this long; a longer argv[0] is unknown without decoding it. */
const NAME_BYTES_MAX = 64;

/** The spec of `name` (argv[0] as sent, any ASCII case), or undefined for an unknown command. */
export function lookupCommand(name: Uint8Array | string): CommandSpec | undefined {
  if (name.length > NAME_BYTES_MAX) return undefined;
  let lower = '';
  for (let i = 0; i < name.length; i++) {
    const c = typeof name === 'string' ? name.charCodeAt(i) : name[i]!;
    lower += String.fromCharCode(c >= 0x41 && c <= 0x5a ? c + 0x20 : c); // ASCII only, as strcasecmp
  }
  return commandTable.get(lower);
}

/**
 * One command as a server runs it (command.ts' contract): look up, check arity, run, then apply
 * the command's writes as one batch (`keyspace.endCommand()`). On a throw (a bug, or an engine
 * failure) the staged writes are dropped and the error propagates. `argv` is the decoded request.
 */
export function runCommand(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue {
  if (argv.length === 0) return unknownCommandError([new Uint8Array(0)]);
  const spec = lookupCommand(argv[0]!);
  if (spec === undefined) return unknownCommandError(argv);
  if (!arityAccepts(spec.arity, argv.length)) return wrongArityError(spec.name);
  let value: RespValue;
  try {
    value = spec.run(ctx, argv);
  } catch (error) {
    ctx.keyspace.abortCommand();
    throw error;
  }
  ctx.keyspace.endCommand();
  return value;
}
