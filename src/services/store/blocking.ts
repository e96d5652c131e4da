// Redis' blocking pops (Redis 7.0.15's blocked.c / t_list.c / t_zset.c semantics, implemented from
// their documentation and behaviour) at N = 1, on the node owning the keys: BLPOP, BRPOP,
// BZPOPMIN, BZPOPMAX, BLMOVE, BRPOPLPUSH, BLMPOP and BZMPOP.
//
// A blocking command first tries its keys in order, as the non-blocking command would (LPOP,
// RPOP, ZPOPMIN, ZPOPMAX, LMOVE, LMPOP, ZMPOP); when every key is empty it blocks: the connection is queued on
// each of its keys, its later requests wait behind it (RespSession holds them), and it is answered
//   - when a write to one of its keys runs (a client's command, a command inside EXEC, or one a peer
//     forwarded here): StoreServer.runData signals the key; once the writing command (the whole
//     EXEC) has finished, `serveReady` hands the key to its blocked clients in the order they
//     blocked (FIFO), each popping from that key while it has elements (Redis'
//     handleClientsBlockedOnKeys: a woken client is served from the key that became ready, not
//     from the first of its keys; a key left holding another type, by a SET, keeps it blocked:
//     `blockingRun` checks the ready key's type before the pop runs);
//     a BLMOVE's push to its destination signals that key in turn;
//   - or at its timeout (Env timers, so the simulator drives time) with the null array (RESP2 `*-1`,
//     RESP3 `_`); timeout 0 waits forever;
//   - or at another connection's CLIENT UNBLOCK id [TIMEOUT|ERROR] (the null array, or -UNBLOCKED);
//   - or never, when the connection closes (it is dropped from every queue).
// Inside MULTI (EXEC) the commands never block: an empty key answers at once as Redis does (the null
// array; BLMOVE / BRPOPLPUSH the null bulk).
// Timeouts are Redis' getTimeoutFromObjectOrReply: float seconds ("ERR timeout is not a float or out
// of range", "ERR timeout is negative", "ERR timeout is out of range").
// Bounds: at most limits.storeBlockedClientsCountMax connections blocked on one node; more are
// refused (Redis has no bound). A reply that pops is released through group commit, as any write.
// Keys on another node: refused like WATCH's (connect to the owner): a forwarded command cannot
// wait longer than the forward timeout. At N > 1 (store.replication.replicas > 1) the wait is
// blocking-replicated.ts's: the same commands, tried through the replicated path.

import type { Timer } from '../../env/types.ts';
import { limits } from '../../lib/limits.ts';
import { isErrorReply, mpopArgs } from '../../redis/coll-parse.ts';
import { lookupCommand as lookupDataCommand } from '../../redis/table.ts';
import { type RespValue, reply } from '../../wire/resp/index.ts';
import { type PopStep, type PopSteps, type ReplicatedWaiters, shapedPop } from './blocking-replicated.ts';
import { type Later, latin1, type ServerCommandSpec } from './command-entry.ts';
import { serverCommand } from './connection-commands.ts';
import type { StoreServer } from './server.ts';
import type { RespSession } from './session.ts';

const utf8 = new TextEncoder();
const ONE_KEY = utf8.encode('1');

interface Blocked {
  readonly session: RespSession;
  readonly keys: readonly string[];
  /**
   * Tries once more, from `readyKey` (latin1), the key that was written, as Redis serves a woken
   * client from the key that became ready; undefined while it is still empty.
   */
  readonly attempt: (readyKey: string) => RespValue | undefined;
  readonly done: (value: RespValue) => void;
  /** The answer at the timeout or a CLIENT UNBLOCK TIMEOUT: the null array for a pop, 0 for WAIT. */
  readonly timedOut: RespValue;
  timer: Timer | undefined;
  settled: boolean;
}

const UNBLOCKED = reply.error('UNBLOCKED client unblocked via CLIENT UNBLOCK');

export class BlockedClients {
  /** Key (latin1) -> connections blocked on it, in the order they blocked. */
  private readonly byKey = new Map<string, Blocked[]>();
  private readonly bySession = new Map<RespSession, Blocked>();
  /** Keys written since the last serveReady, in order. */
  private readonly ready = new Set<string>();
  /** Signals raised by the attempt running now (kept only if it popped: an empty LPOP is a no-op). */
  private attemptSignals: Set<string> | undefined;
  private serving = false;
  /** N > 1: the connections waiting through the replicated path (blocking-replicated.ts). */
  replicated: ReplicatedWaiters | undefined;
  private keysHeld = 0;

  /** Blocked connections, N = 1 and N > 1 alike (INFO blocked_clients; storeBlockedClientsCountMax). */
  get count(): number {
    return this.bySession.size + (this.replicated?.count ?? 0);
  }

  /** Keys the blocked connections of N = 1 wait on, once per connection and key (storeBlockedKeysCountMax). */
  get keysWaited(): number {
    return this.keysHeld;
  }

  /** A write touched these keys (StoreServer.runData). */
  signal(keys: readonly Uint8Array[]): void {
    if (this.byKey.size === 0) return;
    for (const k of keys) {
      const name = latin1(k);
      if (this.byKey.has(name)) (this.attemptSignals ?? this.ready).add(name);
    }
  }

  block(b: Blocked): void {
    this.bySession.set(b.session, b);
    this.keysHeld += b.keys.length;
    for (const k of b.keys) {
      let q = this.byKey.get(k);
      if (q === undefined) {
        q = [];
        this.byKey.set(k, q);
      }
      q.push(b);
    }
  }

  private unblock(b: Blocked): void {
    b.settled = true;
    b.timer?.cancel();
    this.bySession.delete(b.session);
    this.keysHeld -= b.keys.length;
    for (const k of b.keys) {
      const q = this.byKey.get(k);
      if (q === undefined) continue;
      const i = q.indexOf(b);
      if (i >= 0) q.splice(i, 1);
      if (q.length === 0) this.byKey.delete(k);
    }
  }

  /** The blocked connection closed: forget it (no reply). */
  drop(session: RespSession): void {
    const b = this.bySession.get(session);
    if (b !== undefined) this.unblock(b);
    this.replicated?.drop(session);
  }

  /**
   * CLIENT UNBLOCK: the connection's blocking command answers now, as at its timeout (the null
   * array) or with Redis' -UNBLOCKED error. False when it is not blocked.
   */
  unblockClient(session: RespSession, error: boolean): boolean {
    if (this.replicated?.unblock(session, (timedOut) => (error ? UNBLOCKED : timedOut)) === true) return true;
    const b = this.bySession.get(session);
    if (b === undefined || b.settled) return false;
    this.unblock(b);
    b.done(error ? UNBLOCKED : b.timedOut);
    return true;
  }

  /**
   * WAIT at N = 1 with replicas asked for: a blocked client on no key (none will come), answered 0
   * at its timeout (0 = never) or at CLIENT UNBLOCK, dropped at its connection's close; counted and
   * bounded with the blocked pops (INFO blocked_clients, as Redis counts a WAIT).
   */
  wait(s: RespSession, timeoutMs: number): RespValue | Later {
    if (this.count >= limits.storeBlockedClientsCountMax)
      return reply.error('ERR too many blocked clients (storeBlockedClientsCountMax)');
    return (done) => {
      const b: Blocked = {
        session: s,
        keys: [],
        attempt: (_readyKey: string) => undefined,
        done,
        timedOut: reply.integer(0),
        timer: undefined,
        settled: false,
      };
      this.block(b);
      if (timeoutMs > 0) b.timer = s.server.env.timers.after(timeoutMs, () => this.expire(b));
    };
  }

  /** The timeout: the null array (a pop), 0 (WAIT). */
  expire(b: Blocked): void {
    if (b.settled) return;
    this.unblock(b);
    b.done(b.timedOut);
  }

  /** After a command (or a whole EXEC) finished: serve the clients blocked on written keys. */
  serveReady(): void {
    if (this.serving) return;
    this.serving = true;
    try {
      while (this.ready.size > 0) {
        const key = this.ready.values().next().value as string;
        this.ready.delete(key);
        const q = this.byKey.get(key);
        // FIFO: the first blocked client pops first; stop when the key is empty again.
        while (q !== undefined && q.length > 0) {
          const b = q[0]!;
          this.attemptSignals = new Set();
          let value: RespValue | undefined;
          try {
            value = b.attempt(key);
          } finally {
            const raised = this.attemptSignals;
            this.attemptSignals = undefined;
            // A pop that found nothing wrote nothing; one that popped (BLMOVE pushed) may wake more.
            if (value !== undefined) for (const k of raised) this.ready.add(k);
          }
          if (value === undefined) break;
          this.unblock(b);
          b.done(value);
        }
      }
    } finally {
      this.serving = false;
    }
  }
}

/** Redis' getTimeoutFromObjectOrReply (seconds, a float): the timeout in ms, or its error. */
export function parseTimeoutMs(arg: Uint8Array): number | RespValue {
  const text = latin1(arg);
  // strtold accepts what a JavaScript number literal accepts here, without hex, spaces or empty text.
  const ok = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text) || /^[+-]?(inf|infinity)$/i.test(text);
  if (!ok) return reply.error('ERR timeout is not a float or out of range');
  const seconds = /inf/i.test(text) ? (text.startsWith('-') ? -Infinity : Infinity) : Number(text);
  if (Number.isNaN(seconds)) return reply.error('ERR timeout is not a float or out of range');
  if (seconds < 0) return reply.error('ERR timeout is negative');
  const ms = seconds * 1000;
  if (!Number.isFinite(ms) || ms > Number.MAX_SAFE_INTEGER) return reply.error('ERR timeout is out of range');
  // Redis rounds ms down (a long long); 0.0001 s becomes 0 ms, which is "forever" there too.
  return Math.floor(ms);
}

/** Runs a data command on this node's keyspace (touching watchers and blocked clients). */
function runData(server: StoreServer, argv: readonly Uint8Array[]): RespValue {
  const spec = lookupDataCommand(argv[0]!)!;
  return server.runData({ kind: 'data', spec }, argv);
}

/** One try at N = 1: the steps in turn on this node's keyspace; the first that yields (or errs), else undefined. */
function tryHere(server: StoreServer, steps: readonly PopStep[]): RespValue | undefined {
  for (const step of steps) {
    const v = shapedPop(step, runData(server, step.argv));
    if (v !== undefined) return v;
  }
  return undefined;
}

/** Pops from the first non-empty key: [key, ...popped], an error (WRONGTYPE), or nothing. */
function popFirst(keys: readonly Uint8Array[], command: string): PopSteps {
  return (readyKey) =>
    (readyKey === undefined ? keys : [readyKey]).map((key) => ({ argv: [utf8.encode(command), key], key }));
}

/** One pop (LMOVE): its reply as it is. */
function moveOne(argv: readonly Uint8Array[]): PopSteps {
  return () => [{ argv }];
}

/** The Redis type a blocking command waits for: a woken client is served only from a key of it. */
type WaitsFor = 'list' | 'zset';

/**
 * The shared path: try now; in EXEC answer `emptyInMulti`; else block until a write, the timeout
 * or the connection's close.
 */
function blockingRun(
  s: RespSession,
  keys: readonly Uint8Array[],
  timeoutArg: Uint8Array,
  steps: PopSteps,
  emptyInMulti: RespValue,
  waitsFor: WaitsFor,
): RespValue | Later {
  const timeoutMs = parseTimeoutMs(timeoutArg);
  if (typeof timeoutMs !== 'number') return timeoutMs;
  const blocking = s.server.blocking;
  const waiters = blocking.replicated;
  if (s.server.replicated !== undefined) {
    // N > 1: tried and awaited through the replicated path at the connection's level (a
    // transaction there refuses blocking commands while queuing: session.ts).
    if (waiters === undefined) return reply.error('ERR blocking commands are not available on this node');
    // Each key waited on holds a poll timer and a register's waiters (an audit, 2026-12-07): as
    // many keys as any collection command names at N > 1.
    if (keys.length > limits.storeCollectionKeysCountMax)
      return reply.error(
        `ERR ${keys.length} keys in one command, max ${limits.storeCollectionKeysCountMax} at N > 1 (storeCollectionKeysCountMax)`,
      );
    if (blocking.count >= limits.storeBlockedClientsCountMax)
      return reply.error('ERR too many blocked clients (storeBlockedClientsCountMax)');
    return (done) => waiters.block(s, keys, s.consistency, steps, waitsFor, timeoutMs, done);
  }
  const attempt = (server: StoreServer, readyKey?: Uint8Array) => tryHere(server, steps(readyKey));
  const now = attempt(s.server);
  if (now !== undefined) return now;
  if (s.inExec) return emptyInMulti;
  if (blocking.count >= limits.storeBlockedClientsCountMax)
    return reply.error('ERR too many blocked clients (storeBlockedClientsCountMax)');
  // The client's keys by name (latin1), each once, in the order given.
  const byName = new Map<string, Uint8Array>();
  for (const k of keys) if (!byName.has(latin1(k))) byName.set(latin1(k), k);
  if (blocking.keysWaited + byName.size > limits.storeBlockedKeysCountMax)
    return reply.error('ERR too many blocked keys (storeBlockedKeysCountMax)');
  return (done) => {
    const server = s.server;
    const b = {
      session: s,
      keys: [...byName.keys()],
      attempt: (readyKey: string) => {
        const key = byName.get(readyKey)!;
        // As Redis: a key a write left holding another type (a SET) keeps the client blocked, no
        // WRONGTYPE; a key of the type waited for is popped, whatever the pop then answers.
        const type = server.keyspaceOps.keyspace.peekHead(key, Math.floor(server.env.clock.wallMs()))?.type;
        return type !== undefined && type !== waitsFor ? undefined : attempt(server, key);
      },
      // A pop is a write: its reply leaves once group commit says it is durable.
      done: (value: RespValue) =>
        server.groupCommit.release(
          () => done(value),
          () => done(reply.error('TIMEOUT the node is stopping (the pop may have run)')),
        ),
      timedOut: reply.nullArray,
      timer: undefined as Timer | undefined,
      settled: false,
    };
    blocking.block(b);
    if (timeoutMs > 0) b.timer = server.env.timers.after(timeoutMs, () => blocking.expire(b));
  };
}

const list = (since: string, summary: string) => ({ group: 'list', since, summary });
const zset = (since: string, summary: string) => ({ group: 'sorted-set', since, summary });
const FLAGS = ['write', 'noscript', 'blocking'];

/** A blocking command with keys at 1..lastKey. */
function keyed(spec: ServerCommandSpec, lastKey: number): ServerCommandSpec {
  return { ...spec, firstKey: 1, lastKey, step: 1 };
}

function popCommand(name: string, pop: string, doc: { group: string; since: string; summary: string }) {
  return keyed(
    serverCommand(name, -3, FLAGS, doc, (s, argv) => {
      const keys = argv.slice(1, -1);
      const waitsFor = pop.startsWith('z') ? 'zset' : 'list';
      return blockingRun(s, keys, argv[argv.length - 1]!, popFirst(keys, pop), reply.nullArray, waitsFor);
    }),
    -2,
  );
}

/**
 * BLMPOP / BZMPOP timeout numkeys key [key ...] END [COUNT count]: the arguments checked as LMPOP's
 * (before the timeout, as Redis does), then LMPOP / ZMPOP of the same keys each time it tries.
 */
function mpopCommand(
  name: string,
  pop: string,
  ends: readonly [string, string],
  doc: { group: string; since: string; summary: string },
) {
  return {
    ...serverCommand(name, -5, [...FLAGS, 'movablekeys'], doc, (s, argv) => {
      const a = mpopArgs(argv, 2, ends);
      if (isErrorReply(a)) return a;
      // The client's own numkeys and COUNT arguments (a count near LONG_MAX is not exact as a number).
      const command = [utf8.encode(pop), ...argv.slice(2)];
      // Woken: LMPOP / ZMPOP of the key that became ready alone, with the same end and COUNT.
      const rest = argv.slice(3 + a.keys.length);
      const steps: PopSteps = (readyKey) => [
        { argv: readyKey === undefined ? command : [utf8.encode(pop), ONE_KEY, readyKey, ...rest] },
      ];
      return blockingRun(s, a.keys, argv[1]!, steps, reply.nullArray, pop === 'zmpop' ? 'zset' : 'list');
    }),
    firstKey: 0,
    lastKey: 0,
    step: 0,
  };
}

function isSide(arg: Uint8Array): boolean {
  const t = latin1(arg).toLowerCase();
  return t === 'left' || t === 'right';
}

export const blockingCommands: readonly ServerCommandSpec[] = [
  popCommand(
    'blpop',
    'lpop',
    list('2.0.0', 'Remove and get the first element in a list, or block until one is available'),
  ),
  popCommand(
    'brpop',
    'rpop',
    list('2.0.0', 'Remove and get the last element in a list, or block until one is available'),
  ),
  popCommand(
    'bzpopmin',
    'zpopmin',
    zset(
      '5.0.0',
      'Remove and return the member with the lowest score from one or more sorted sets, or block until one is available',
    ),
  ),
  popCommand(
    'bzpopmax',
    'zpopmax',
    zset(
      '5.0.0',
      'Remove and return the member with the highest score from one or more sorted sets, or block until one is available',
    ),
  ),
  keyed(
    serverCommand(
      'blmove',
      6,
      [...FLAGS, 'denyoom'],
      list(
        '6.2.0',
        'Pop an element from a list, push it to another list and return it; or block until one is available',
      ),
      (s, argv) => {
        if (!isSide(argv[3]!) || !isSide(argv[4]!)) return reply.error('ERR syntax error');
        const move = [utf8.encode('lmove'), argv[1]!, argv[2]!, argv[3]!, argv[4]!];
        return blockingRun(s, [argv[1]!], argv[5]!, moveOne(move), reply.null, 'list');
      },
    ),
    2,
  ),
  mpopCommand(
    'blmpop',
    'lmpop',
    ['left', 'right'],
    list('7.0.0', 'Pop elements from a list, or block until one is available'),
  ),
  mpopCommand(
    'bzmpop',
    'zmpop',
    ['min', 'max'],
    zset('7.0.0', 'Remove and return members with scores in a sorted set or block until one is available'),
  ),
  keyed(
    serverCommand(
      'brpoplpush',
      4,
      [...FLAGS, 'denyoom'],
      list(
        '2.2.0',
        'Pop an element from a list, push it to another list and return it; or block until one is available',
      ),
      (s, argv) => {
        const move = [utf8.encode('lmove'), argv[1]!, argv[2]!, utf8.encode('right'), utf8.encode('left')];
        return blockingRun(s, [argv[1]!], argv[3]!, moveOne(move), reply.null, 'list');
      },
    ),
    2,
  ),
];
