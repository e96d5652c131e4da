// Redis' blocking pops at N > 1 (store.replication.replicas > 1): BLPOP, BRPOP, BZPOPMIN,
// BZPOPMAX, BLMOVE, BRPOPLPUSH, BLMPOP and BZMPOP on keys every replica of which may take writes
// through any node. blocking.ts holds the commands and their N = 1 path; this is the wait.
//
// A blocking command first tries its keys in order, as the non-blocking command does at the
// connection's level (LPOP, LMOVE, LMPOP, ... through replicated.ts: at SERIAL a Paxos CAS, so a
// pop is exactly-once; below SERIAL an LPOP on each side of a partition may take the same element,
// docs/COMPAT-REDIS.md). When every key is empty the connection waits on each key, FIFO per key on
// this node, and its key is tried again, for the first waiter first, while it yields elements:
//   - at once when a write to the key reaches this node: a write command this node coordinated
//     (session.ts), the pop of another waiter here (BLMOVE's push), or a replica's write from a
//     peer (replicate, delta, rowsRepair: ReplicaNode.onKeyWritten), so a node holding a replica
//     of the key hears every write to it;
//   - and on a poll of the key, for writes a node holding no replica does not hear: every
//     POLL_FIRST_MS, doubling to POLL_MAX_MS while the key stays empty, back to the first after a
//     write or a pop.
// A try that fails having written nothing (-UNAVAILABLE, a TIMEOUT of its read, -BUSY at SERIAL)
// leaves the client blocked, tried again at the next signal or poll, as does a retry that finds a
// key of another type (as at N = 1; the first try answers WRONGTYPE, as the command does); an
// error after which the pop may have run (a TIMEOUT of its write) is the client's answer, as
// LPOP's would be.
// The client is answered with the null array (BLMOVE: the null bulk) at its timeout, at CLIENT
// UNBLOCK (or -UNBLOCKED), or never if its connection closes. A try in flight is never abandoned:
// the timeout or CLIENT UNBLOCK waits for it, and an element it popped is the answer (a pop that
// ran is delivered, not lost).
// Bounds: waiters count with the N = 1 ones against storeBlockedClientsCountMax; one try per key
// at a time; a poll timer per key with waiters.

import type { Timer, Timers } from '../../env/types.ts';
import { type RespValue, reply } from '../../wire/resp/index.ts';
import { latin1 } from './command-entry.ts';
import type { ConsistencyLevel } from './replicated.ts';
import type { RespSession } from './session.ts';

/** The first poll of a key with waiters; doubled while it stays empty. */
export const POLL_FIRST_MS = 20;
/** The longest wait between two polls of a key (a write through a node holding no replica is seen within it). */
export const POLL_MAX_MS = 400;

/** One non-blocking command a try runs, and the key a popFirst reply names ([key, ...popped]). */
export interface PopStep {
  readonly argv: readonly Uint8Array[];
  readonly key?: Uint8Array;
}

/** The steps of one try: from every key in order (the first try), or from the key that became ready. */
export type PopSteps = (readyKey?: Uint8Array) => readonly PopStep[];

/** A step's reply as the blocking command answers it; undefined when the key was empty. */
export function shapedPop(step: PopStep, v: RespValue): RespValue | undefined {
  if (v.type === 'error') return v;
  if (v.type === 'null' || v.type === 'nullArray' || (v.type === 'array' && v.items.length === 0)) return undefined;
  if (step.key === undefined) return v;
  return v.type === 'array' ? reply.array([reply.bulk(step.key), ...v.items]) : reply.array([reply.bulk(step.key), v]);
}

export interface ReplicatedWaitersOptions {
  readonly timers: Timers;
  /** Runs a non-blocking data command at the level through the replicated path (replicated.ts run). */
  readonly run: (argv: readonly Uint8Array[], level: ConsistencyLevel, done: (value: RespValue) => void) => void;
  /** The keys a command names (routing.ts commandKeys), for the signal a pop's push raises. */
  readonly keysOf: (argv: readonly Uint8Array[]) => readonly Uint8Array[];
}

interface Waiter {
  readonly session: RespSession;
  readonly keys: readonly string[];
  readonly byName: ReadonlyMap<string, Uint8Array>;
  readonly level: ConsistencyLevel;
  readonly steps: PopSteps;
  readonly timedOut: RespValue;
  readonly done: (value: RespValue) => void;
  timer: Timer | undefined;
  /** A try of this waiter is running (only one at a time, whatever key). */
  trying: boolean;
  /** Answered or dropped: skipped and pruned from the queues. */
  settled: boolean;
  /** The answer a timeout or CLIENT UNBLOCK gave while a try was running (sent if the try pops nothing). */
  deferred: RespValue | undefined;
}

interface KeyState {
  readonly queue: Waiter[];
  serving: boolean;
  /** A signal came while serving: serve once more after. */
  again: boolean;
  poll: Timer | undefined;
  pollMs: number;
}

export class ReplicatedWaiters {
  private readonly keys = new Map<string, KeyState>();
  private readonly bySession = new Map<RespSession, Waiter>();

  constructor(private readonly o: ReplicatedWaitersOptions) {}

  get count(): number {
    return this.bySession.size;
  }

  /** A write to `key` reached this node: its waiters try now. */
  signal(key: Uint8Array): void {
    const k = this.keys.get(latin1(key));
    if (k === undefined) return;
    k.pollMs = POLL_FIRST_MS;
    this.serve(latin1(key), k);
  }

  /**
   * A blocking command at `level`: tries every key now; answers at once if one yields (or with an
   * error), else waits (see the header). `timeoutMs` 0: forever.
   */
  block(
    session: RespSession,
    keys: readonly Uint8Array[],
    level: ConsistencyLevel,
    steps: PopSteps,
    timeoutMs: number,
    timedOut: RespValue,
    done: (value: RespValue) => void,
  ): void {
    this.tryOnce(steps(), level, true, (now) => {
      if (now !== undefined) return done(now);
      const byName = new Map<string, Uint8Array>();
      for (const key of keys) if (!byName.has(latin1(key))) byName.set(latin1(key), key);
      const w: Waiter = {
        session,
        keys: [...byName.keys()],
        byName,
        level,
        steps,
        timedOut,
        done,
        timer: undefined,
        trying: false,
        settled: false,
        deferred: undefined,
      };
      this.bySession.set(session, w);
      for (const name of w.keys) {
        let k = this.keys.get(name);
        if (k === undefined) {
          k = { queue: [], serving: false, again: false, poll: undefined, pollMs: POLL_FIRST_MS };
          this.keys.set(name, k);
        }
        k.queue.push(w);
        this.schedulePoll(name, k);
      }
      if (timeoutMs > 0) w.timer = this.o.timers.after(timeoutMs, () => this.finish(w, w.timedOut));
    });
  }

  /** CLIENT UNBLOCK of a waiter here: answered as at its timeout, or -UNBLOCKED. False if none. */
  unblock(session: RespSession, answer: (timedOut: RespValue) => RespValue): boolean {
    const w = this.bySession.get(session);
    if (w === undefined || w.settled || w.deferred !== undefined) return false;
    this.finish(w, answer(w.timedOut));
    return true;
  }

  /** The connection closed: forget its waiter (no answer). */
  drop(session: RespSession): void {
    const w = this.bySession.get(session);
    if (w !== undefined) this.settle(w);
  }

  /** Stops every poll and timeout (the node stops); waiters are not answered. */
  stop(): void {
    for (const w of [...this.bySession.values()]) this.settle(w);
  }

  /** Answers `w` with `value` now, or after the try it is running (whose pop would win). */
  private finish(w: Waiter, value: RespValue): void {
    if (w.settled) return;
    if (w.trying) {
      w.deferred ??= value;
      return;
    }
    this.settle(w);
    w.done(value);
  }

  private settle(w: Waiter): void {
    w.settled = true;
    w.timer?.cancel();
    this.bySession.delete(w.session);
    for (const name of w.keys) {
      const k = this.keys.get(name);
      if (k === undefined) continue;
      const i = k.queue.indexOf(w);
      if (i >= 0) k.queue.splice(i, 1);
      if (k.queue.length === 0 && !k.serving) this.forget(name, k);
    }
  }

  private forget(name: string, k: KeyState): void {
    k.poll?.cancel();
    this.keys.delete(name);
  }

  private schedulePoll(name: string, k: KeyState): void {
    if (k.poll !== undefined) return;
    k.poll = this.o.timers.after(k.pollMs, () => {
      k.poll = undefined;
      k.pollMs = Math.min(POLL_MAX_MS, k.pollMs * 2);
      this.serve(name, k);
    });
  }

  /** Tries the key for its first waiter, then the next, while tries yield (FIFO on this node). */
  private serve(name: string, k: KeyState): void {
    if (k.serving) {
      k.again = true;
      return;
    }
    k.serving = true;
    const end = (): void => {
      k.serving = false;
      if (k.queue.length === 0) return this.forget(name, k);
      if (k.again) {
        k.again = false;
        return this.serve(name, k);
      }
      this.schedulePoll(name, k);
    };
    trampoline((next) => {
      const w = k.queue[0];
      // The first waiter trying another of its keys: this key waits for its next signal or poll.
      if (w === undefined || w.trying) return end();
      w.trying = true;
      this.tryOnce(w.steps(w.byName.get(name)!), w.level, false, (value) => {
        w.trying = false;
        if (value === undefined) {
          if (w.deferred !== undefined) this.finish(w, w.deferred);
          return end();
        }
        k.pollMs = POLL_FIRST_MS;
        this.settle(w);
        w.done(value);
        next();
      });
    });
  }

  /**
   * Runs `steps` in turn until one yields: its shaped reply, or undefined when every key was empty.
   * On a retry (`first` false) a key of another type or -UNAVAILABLE counts as empty.
   */
  private tryOnce(
    steps: readonly PopStep[],
    level: ConsistencyLevel,
    first: boolean,
    done: (value: RespValue | undefined) => void,
  ): void {
    let i = 0;
    trampoline((next) => {
      const step = steps[i++];
      if (step === undefined) return done(undefined);
      this.o.run(step.argv, level, (v) => {
        const shaped = shapedPop(step, v);
        if (shaped === undefined) return next();
        if (shaped.type === 'error' && !answered(errorText(shaped.message), first)) return next();
        // A pop that moved an element (BLMOVE) pushed it: waiters on the destination try.
        if (shaped.type !== 'error') for (const key of this.o.keysOf(step.argv)) this.signal(key);
        done(shaped);
      });
    });
  }
}

/**
 * Whether a try's error is the client's answer: one after which the pop may have run (a TIMEOUT
 * of its write: "may have been applied", "may have run"), and on the first try the command's own
 * (WRONGTYPE, a syntax error). The rest wrote nothing and keep the client blocked: a key of
 * another type on a retry (as at N = 1), and no quorum now (UNAVAILABLE, a TIMEOUT of the read,
 * BUSY at SERIAL: concurrent pops on one register), tried again at the next signal or poll.
 */
function answered(text: string, first: boolean): boolean {
  if (text.includes('may have')) return true;
  if (/^(UNAVAILABLE|TIMEOUT|BUSY) /.test(text)) return false;
  return first;
}

function errorText(message: string | Uint8Array): string {
  return typeof message === 'string' ? message : latin1(message);
}

/**
 * Calls `step(next)`, and again each time it calls `next`: a loop whose steps may end at once
 * (a read at ONE on a replica answers within the call) or later, without growing the stack.
 */
function trampoline(step: (next: () => void) => void): void {
  let running = false;
  let pending = false;
  const next = (): void => {
    pending = true;
    if (running) return;
    running = true;
    try {
      while (pending) {
        pending = false;
        step(next);
      }
    } finally {
      running = false;
    }
  };
  next();
}
