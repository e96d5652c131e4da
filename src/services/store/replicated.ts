// Redis commands over N > 1 replicas (store.replication.replicas > 1): the Dynamo replica
// (replication/driver.ts) instead of the local keyspace, with the consistency level chosen per
// connection (`BARISTA CONSISTENCY ONE|QUORUM|ALL|ANY`, default store.consistency), so the CAP
// choice is a per-request one a user can watch: at ONE a write on either side of a partition is
// accepted; at QUORUM the minority side answers -UNAVAILABLE (definite: nothing written).
//
// What is offered at N > 1 (the rest answers an error naming this limit; docs/COMPAT-REDIS.md):
//   GET key            the chosen sibling (highest HLC timestamp, deterministic), nil if none or a
//                      tombstone;
//   SET key value      reads the key's causal context at the same level, then writes with it: the
//                      write supersedes every sibling its coordinator read (options: an error);
//   DEL key [key ...]  the same, as tombstones; counts the keys that held a value when read;
//   EXISTS key [...]   counts keys whose chosen sibling holds a value;
//   BARISTA SIBLINGS key   every concurrent value (nil for a tombstone), in the replica's order;
//   BARISTA WHERE key      the key's preference list (N node ids), then pending replicas;
//   BARISTA CONSISTENCY [level]   sets or shows the connection's level.
// Errors: replicas_unavailable -> -UNAVAILABLE (definite); timeout -> -TIMEOUT (a write: may have
// been applied); limit_exceeded -> -BUSY; anything else -> -ERR <code>: <message>.
// Callbacks throughout (the simulator's single loop; see forward.ts).

import type { BaristaError } from '../../lib/errors.ts';
import type { Level } from '../../dynamo/messages.ts';
import { reply, type RespValue } from '../../wire/resp/index.ts';
import { latin1 } from './command-entry.ts';
import type { KeyState, ReplicaNode } from './replication/driver.ts';

export type ConsistencyLevel = 'ONE' | 'QUORUM' | 'ALL' | 'ANY';
export const CONSISTENCY_LEVELS: readonly ConsistencyLevel[] = ['ONE', 'QUORUM', 'ALL', 'ANY'];

type Done = (value: RespValue) => void;

function errorReply(error: BaristaError, write: boolean): RespValue {
  switch (error.code) {
    case 'replicas_unavailable':
      return reply.error(`UNAVAILABLE ${error.message} (nothing was written)`);
    case 'timeout':
      return reply.error(`TIMEOUT ${error.message}${write ? ' (the write may have been applied)' : ''}`);
    case 'limit_exceeded':
      return reply.error(`BUSY ${error.message}`);
    default:
      return reply.error(`ERR ${error.code}: ${error.message}`);
  }
}

const holdsValue = (s: KeyState): boolean => s.chosen !== undefined && s.chosen.value !== null;

export class ReplicatedCommands {
  constructor(private readonly node: ReplicaNode) {}

  /** Whether `name` (lower case) runs here at N > 1. */
  static offers(name: string): boolean {
    return name === 'get' || name === 'set' || name === 'del' || name === 'exists';
  }

  /** Runs an offered data command at `level`; `done` gets the reply once. */
  run(name: string, argv: readonly Uint8Array[], level: Level, done: Done): void {
    switch (name) {
      case 'get':
        return this.read(argv[1]!, level, done, (s) =>
          s.chosen?.value === undefined || s.chosen.value === null ? reply.null : reply.bulk(s.chosen.value),
        );
      case 'set':
        if (argv.length !== 3)
          return done(reply.error('ERR SET options are not available with store.replication.replicas > 1 yet'));
        return this.write(argv[1]!, argv[2]!, level, () => done(reply.ok), done);
      case 'del':
      case 'exists':
        return this.eachKey(name, argv.slice(1), level, 0, done);
      default:
        return done(reply.error(`ERR '${name}' is not available with store.replication.replicas > 1 yet`));
    }
  }

  /** BARISTA SIBLINGS key. */
  /** BARISTA REPAIR [node]: an anti-entropy round from this node now (with `peer`, or the next one). */
  repair(peer: string | undefined): RespValue {
    return this.node.repairNow(peer)
      ? reply.simple('OK')
      : reply.error('BUSY an anti-entropy round is running here already, or no peer is up (try again later)');
  }

  siblings(key: Uint8Array, level: Level, done: Done): void {
    this.read(key, level, done, (s) =>
      reply.array(s.siblings.map((sib) => (sib.value === null ? reply.null : reply.bulk(sib.value)))),
    );
  }

  private read(key: Uint8Array, level: Level, done: Done, answer: (s: KeyState) => RespValue): void {
    this.node.submit({ kind: 'get', key, level }, (o) => done(o.ok ? answer(o.state) : errorReply(o.error, false)));
  }

  /** Reads the context, then writes with it (the write supersedes what it read); value null = delete. */
  private write(
    key: Uint8Array,
    value: Uint8Array | null,
    level: Level,
    ok: (read: KeyState) => void,
    done: Done,
  ): void {
    this.node.submit({ kind: 'get', key, level }, (read) => {
      if (!read.ok) return done(errorReply(read.error, false));
      const context = read.state.context;
      const request =
        value === null
          ? ({ kind: 'delete', key, level, context } as const)
          : ({ kind: 'put', key, value, level, context } as const);
      this.node.submit(request, (o) => (o.ok ? ok(read.state) : done(errorReply(o.error, true))));
    });
  }

  /** DEL and EXISTS over their keys in turn (each key its own operation, as N > 1 makes it). */
  private eachKey(name: 'del' | 'exists', keys: readonly Uint8Array[], level: Level, count: number, done: Done): void {
    const key = keys[0];
    if (key === undefined) return done(reply.integer(count));
    const rest = keys.slice(1);
    if (name === 'exists') {
      return this.node.submit({ kind: 'get', key, level }, (o) =>
        o.ok
          ? this.eachKey(name, rest, level, count + (holdsValue(o.state) ? 1 : 0), done)
          : done(errorReply(o.error, false)),
      );
    }
    this.write(
      key,
      null,
      level,
      (read) => this.eachKey(name, rest, level, count + (holdsValue(read) ? 1 : 0), done),
      done,
    );
  }
}

/** Parses a level argument of BARISTA CONSISTENCY. */
export function parseLevel(arg: Uint8Array): ConsistencyLevel | undefined {
  const upper = latin1(arg).toUpperCase();
  return CONSISTENCY_LEVELS.find((l) => l === upper);
}
