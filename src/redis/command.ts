// The command interface every Redis data command implements (strings.ts, generic.ts, and the
// collection families), and what a caller (the RESP session, tests) hands each call. The shape is
// fixed by the session's brief so the families and the server code to one contract.
//
// How a server runs one command (the contract; src/redis/table.ts looks the spec up):
//   1. spec = lookupCommand(argv[0]); none -> unknownCommandError(argv) (errors.ts).
//   2. arity: n > 0 needs argv.length === n, n < 0 needs argv.length >= -n; else
//      wrongArityError(spec.name).
//   3. value = spec.run({ keyspace, nowMs, rng }, argv)   -- never throws for bad input.
//   4. seq = keyspace.endCommand()   -- applies the command's writes as ONE engine batch (atomic
//      under a crash); reads inside run already saw them. Call it after every command, also after
//      an error reply (a no-op then). Under sync 'always' the batch is durable on return;
//      otherwise the server's group commit calls keyspace.sync() once per event-loop turn and
//      sends the turn's replies after it (or right away under 'none' / 'periodic').
//   If run throws anyway (a bug, or a disk failure inside the engine), call keyspace.abortCommand()
//   and answer an error: nothing of the command was applied.

import type { Rng } from '../env/types.ts';
import type { RespValue } from '../wire/resp/index.ts';
import { limitError } from './errors.ts';
import { type Keyspace, KeyspaceLimitError } from './keyspace.ts';

export interface CommandContext {
  readonly keyspace: Keyspace; // src/redis/keyspace.ts
  readonly nowMs: number; // wall clock for expiry (EX/PX/TTL), set per command by the caller
  readonly rng: Rng; // RANDOMKEY, SPOP, SRANDMEMBER, ...
}

export interface CommandSpec {
  readonly name: string; // lower case, as COMMAND shows it
  readonly arity: number; // Redis' arity: n > 0 exactly n args incl. the name; n < 0 at least -n
  readonly flags: readonly string[]; // as COMMAND INFO shows: 'write' | 'readonly' | 'fast' | 'denyoom' ...
  readonly firstKey: number;
  readonly lastKey: number;
  readonly step: number;
  /** argv[0] is the command name as sent. Never throws for bad input: returns Redis' error reply. */
  run(ctx: CommandContext, argv: readonly Uint8Array[]): RespValue;
}

/** Whether `argc` arguments (the name included) satisfy Redis' arity `arity`. */
export function arityAccepts(arity: number, argc: number): boolean {
  return arity >= 0 ? argc === arity : argc >= -arity;
}

/**
 * A CommandSpec from its COMMAND INFO fields and its body. A KeyspaceLimitError the body throws
 * (a write over one of our bounds) drops the command's staged writes and becomes an error reply,
 * so the families need not catch it.
 */
export function defineCommand(
  name: string,
  arity: number,
  flags: readonly string[],
  keys: readonly [firstKey: number, lastKey: number, step: number],
  body: (ctx: CommandContext, argv: readonly Uint8Array[]) => RespValue,
): CommandSpec {
  return {
    name,
    arity,
    flags,
    firstKey: keys[0],
    lastKey: keys[1],
    step: keys[2],
    run(ctx, argv) {
      try {
        return body(ctx, argv);
      } catch (error) {
        if (!(error instanceof KeyspaceLimitError)) throw error;
        ctx.keyspace.abortCommand();
        return limitError(error.what, error.limitName);
      }
    },
  };
}
