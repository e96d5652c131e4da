// Redis' blocking pops at N > 1 (store.replication.replicas > 1): BLPOP, BRPOP, BZPOPMIN,
// BZPOPMAX, BLMOVE, BRPOPLPUSH, BLMPOP and BZMPOP on keys every replica of which may take writes
// through any node. blocking.ts holds the commands and their N = 1 path; this is the wait.
//
// A blocking command first tries its keys in order, as the non-blocking command does at the
// connection's level (LPOP, LMOVE, LMPOP, ... through replicated.ts: at SERIAL a Paxos CAS, so a
// pop is exactly-once; below SERIAL two nodes may take the same element, docs/COMPAT-REDIS.md).
// The client is a waiter from the call (a write, close, CLIENT UNBLOCK or timeout during that
// first try is seen). When every key was empty it waits on each key, FIFO per key on this node,
// and the key is tried again for its waiters in order, while tries yield:
//   - at once after a write this node coordinated (session.ts: a command or an EXEC; a write
//     forwarded here), and after another waiter's BLMOVE pushed here;
//   - a step later after a write a replica hears from a peer (any merge that changed the key or
//     joined rows: a replicate, a delta, a hint's replay, anti-entropy, a ring move's page, a
//     read's repair; DynamoReplica.onMerged through ReplicaNode.onKeyWritten) or, at SERIAL, after its acceptor's commit of a new value of the
//     key's register (SerialCoordinator.onCommit): PEER_WAKE_STEP_MS x (1 + its rank in the key's
//     preference list) after the latest such write, at most WAKE_DEFER_STEPS steps after the
//     first. Every replica hears every write, so waking them all at once made each node pop the
//     same element (30 jobs taken 60 times at QUORUM by waiters on 3 nodes, 90 at ONE); the node
//     that coordinated the push goes first and the others find it taken. Fewer duplicates, not
//     none: below SERIAL a pop stays at-least-once (pops within one step, a partition);
//   - on a poll, for writes a node holding no replica does not hear: every POLL_FIRST_MS, doubling
//     to POLL_MAX_MS while the key stays empty, back after a write or a pop; on a node holding a
//     replica every POLL_REPLICA_MS only, a safety net (it hears every write that reaches it; a
//     poll at SERIAL is a Paxos round racing the writer it awaits).
// A try that failed for want of a quorum and wrote nothing (a `retriable` error reply: replicated.ts
// errorReply, from the error's own flags) keeps its waiter blocked
// and lets the next waiter try; so does a later try that finds the key holding another type than
// the one awaited (as at N = 1; the first try answers WRONGTYPE, as the command does). Any other
// error is the client's answer: one after which the pop may have run (a TIMEOUT of its write, a
// BLMOVE whose push failed after its pop), the command's own errors and limits.
// The client is answered with the null array (BLMOVE too) at its timeout, at CLIENT UNBLOCK (or
// -UNBLOCKED), or never if its connection closes. A timeout or CLIENT UNBLOCK during a try waits
// for it, and an element it popped is the answer; a close or a node stop during a try loses what
// it pops, as an LPOP in flight would.
// Bounds: waiters count with the N = 1 ones against storeBlockedClientsCountMax; one try per key
// at a time; a poll timer and a wake timer per waited key.

import type { Timer, Timers } from '../../env/types.ts';
import { bytesEqual } from '../../lib/bytes.ts';
import { trampoline } from '../../lib/loop.ts';
import { RedisError } from '../../redis/errors.ts';
import { type RespValue, reply } from '../../wire/resp/index.ts';
import { latin1 } from './command-entry.ts';
import type { ConsistencyLevel } from './replicated.ts';
import type { RespSession } from './session.ts';

/** The first poll of a key with waiters; doubled while it stays empty. */
export const POLL_FIRST_MS = 20;
/** The longest wait between two polls of a key (a write through a node holding no replica is seen within it). */
export const POLL_MAX_MS = 400;
/** The poll of a key this node holds a replica of (its writes signal it; the poll is a safety net). */
export const POLL_REPLICA_MS = 2_000;
/**
 * A write a replica hears from a peer wakes its waiters after this times (1 + its rank in the
 * key's preference list); one this node coordinated wakes them at once (see the header).
 */
export const PEER_WAKE_STEP_MS = 10;
/** A pending wake moves later with each write heard, up to this many of its steps after the first. */
const WAKE_DEFER_STEPS = 4;

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
  /** The node's monotonic clock (ms): a deferred wake's due time. */
  readonly nowMs: () => number;
  /** The SERIAL register a key lives in (tag-state.ts keyRegister): a commit of it wakes the key. */
  readonly registerOf: (key: Uint8Array) => Uint8Array;
  /** Whether this node holds a replica of the key (it hears every write to it: polls are a safety net only). */
  readonly hearsWrites: (key: Uint8Array) => boolean;
}

/** The Redis type a blocking command waits for. */
export type WaitsFor = 'list' | 'zset';

interface Waiter {
  readonly session: RespSession;
  readonly keys: readonly string[];
  readonly byName: ReadonlyMap<string, Uint8Array>;
  readonly level: ConsistencyLevel;
  readonly steps: PopSteps;
  readonly waitsFor: WaitsFor;
  readonly done: (value: RespValue) => void;
  timer: Timer | undefined;
  /** A try of this waiter is running (only one at a time, whatever key; its first try too). */
  trying: boolean;
  /** Queued on its keys (after a first try that found nothing). */
  queued: boolean;
  /** A key of its was signalled during its first try: served at once after it. */
  signalled: boolean;
  /** Answered or dropped: skipped and pruned from the queues. */
  settled: boolean;
  /** The answer a timeout or CLIENT UNBLOCK gave while a try was running (sent if the try pops nothing). */
  deferred: RespValue | undefined;
}

interface KeyState {
  readonly register: string;
  readonly queue: Waiter[];
  /** Waiters in their first try (not queued yet): a signal marks them. */
  readonly first: Set<Waiter>;
  serving: boolean;
  /** A signal came while serving: serve once more after. */
  again: boolean;
  /** A signal came while a waiter was trying another key: serve when that try ends. */
  headBusy: boolean;
  poll: Timer | undefined;
  pollMs: number;
  /** A delayed wake-up (a peer's write) is pending: due then, first asked for then. */
  wake: Timer | undefined;
  wakeDueMs: number;
  wakeFirstMs: number;
}

/**
 * What one try came to: an answer; nothing to take; a failure that wrote nothing (no quorum now:
 * try later, let the next waiter try); or the key holds another type than the one awaited (this
 * waiter stays blocked, the next may take it: BZPOPMIN before BLPOP on a list).
 */
type Tried = { readonly answer: RespValue } | 'empty' | 'failed' | 'otherType';

/** A blocking pop's answer at its timeout or CLIENT UNBLOCK: the null array (BLMOVE's too, as at N = 1). */
const TIMED_OUT = reply.nullArray;

export class ReplicatedWaiters {
  private readonly keys = new Map<string, KeyState>();
  /** Register (latin1) -> waited keys in it: a SERIAL commit wakes them without a scan of every key. */
  private readonly byRegister = new Map<string, Set<string>>();
  private readonly bySession = new Map<RespSession, Waiter>();

  constructor(private readonly o: ReplicatedWaitersOptions) {}

  get count(): number {
    return this.bySession.size;
  }

  /**
   * A write to `key` reached this node: its waiters try now (or after `delay` ms: a write heard
   * from a peer, see the header), and its poll starts over. `delay` may be a function of the key,
   * called only when something waits on it: every replicated write signals, and a key's rank on
   * the ring costs a hash and a ring lookup.
   */
  signal(key: Uint8Array, delay: number | ((key: Uint8Array) => number) = 0): void {
    if (this.keys.size === 0) return;
    const name = latin1(key);
    const k = this.keys.get(name);
    if (k === undefined) return;
    for (const w of k.first) w.signalled = true;
    const delayMs = typeof delay === 'number' ? delay : delay(key);
    if (delayMs > 0) {
      // At least `delayMs` after the latest write heard (a pending wake moves later: a push that
      // lands just before it fires must not wake this node with the coordinator's waiters), but no
      // later than WAKE_DEFER_STEPS steps after the first (a stream of writes cannot starve it).
      const now = this.o.nowMs();
      const due = now + delayMs;
      if (k.wake === undefined) {
        k.wakeFirstMs = now;
      } else if (due <= k.wakeDueMs || due > k.wakeFirstMs + WAKE_DEFER_STEPS * delayMs) {
        return;
      } else {
        k.wake.cancel();
      }
      k.wakeDueMs = due;
      k.wake = this.o.timers.after(delayMs, () => {
        k.wake = undefined;
        this.signal(key);
      });
      return;
    }
    k.pollMs = POLL_FIRST_MS;
    k.poll?.cancel();
    k.poll = undefined;
    if (k.queue.length > 0) this.serve(name, k);
  }

  /** A SERIAL register was committed on this node (an acceptor's commit): the waiters of its keys try. */
  signalRegister(register: Uint8Array, delay: (key: Uint8Array) => number = () => 0): void {
    if (this.byRegister.size === 0) return;
    const names = this.byRegister.get(latin1(register));
    if (names === undefined) return;
    for (const name of [...names]) this.signal(latin1Bytes(name), delay);
  }

  /**
   * A blocking command at `level`: tries every key now; answers at once if one yields (or with an
   * error), else waits (see the header). `timeoutMs` 0: forever. The waiter counts from the call:
   * a close, CLIENT UNBLOCK or the timeout during the first try is seen, and so is a write.
   */
  block(
    session: RespSession,
    keys: readonly Uint8Array[],
    level: ConsistencyLevel,
    steps: PopSteps,
    waitsFor: WaitsFor,
    timeoutMs: number,
    done: (value: RespValue) => void,
  ): void {
    const byName = new Map<string, Uint8Array>();
    for (const key of keys) if (!byName.has(latin1(key))) byName.set(latin1(key), key);
    const w: Waiter = {
      session,
      keys: [...byName.keys()],
      byName,
      level,
      steps,
      waitsFor,
      done,
      timer: undefined,
      trying: true,
      queued: false,
      signalled: false,
      settled: false,
      deferred: undefined,
    };
    this.bySession.set(session, w);
    for (const [name, key] of byName) this.keyState(name, key).first.add(w);
    if (timeoutMs > 0) w.timer = this.o.timers.after(timeoutMs, () => this.finish(w, TIMED_OUT));
    this.tryOnce(w, steps(), undefined, (t) => {
      w.trying = false;
      for (const name of w.keys) this.keys.get(name)?.first.delete(w);
      if (t !== 'empty' && t !== 'failed' && t !== 'otherType') return this.answer(w, t.answer);
      if (w.settled) return this.forgetIdle(w);
      if (w.deferred !== undefined) return this.answer(w, w.deferred);
      w.queued = true;
      for (const name of w.keys) {
        const k = this.keys.get(name)!;
        k.queue.push(w);
        // A write during the first try, or a try that failed: this key is tried again now.
        if (w.signalled || t === 'failed') this.serve(name, k);
        else this.schedulePoll(name, k);
      }
    });
  }

  private keyState(name: string, key: Uint8Array): KeyState {
    let k = this.keys.get(name);
    if (k === undefined) {
      const register = latin1(this.o.registerOf(key));
      k = {
        register,
        queue: [],
        first: new Set(),
        serving: false,
        again: false,
        headBusy: false,
        poll: undefined,
        pollMs: POLL_FIRST_MS,
        wake: undefined,
        wakeDueMs: 0,
        wakeFirstMs: 0,
      };
      this.keys.set(name, k);
      let names = this.byRegister.get(register);
      if (names === undefined) {
        names = new Set();
        this.byRegister.set(register, names);
      }
      names.add(name);
    }
    return k;
  }

  /** CLIENT UNBLOCK of a waiter here: the null array or -UNBLOCKED, after a try in flight (which may pop: then the element). */
  unblock(session: RespSession, answer: (timedOut: RespValue) => RespValue): boolean {
    const w = this.bySession.get(session);
    if (w === undefined || w.settled || w.deferred !== undefined) return false;
    this.finish(w, answer(TIMED_OUT));
    return true;
  }

  /** The connection closed: forget its waiter (no answer; a try in flight may still pop, as an LPOP would). */
  drop(session: RespSession): void {
    const w = this.bySession.get(session);
    if (w !== undefined) this.settle(w);
  }

  /** Stops every poll and timeout (the node stops); waiters are not answered. */
  stop(): void {
    for (const w of [...this.bySession.values()]) this.settle(w);
  }

  /** Answers `w` with `value` now, or after the try it is running (whose pop then wins). */
  private finish(w: Waiter, value: RespValue): void {
    if (w.settled) return;
    if (w.trying) {
      w.deferred ??= value;
      return;
    }
    this.answer(w, value);
  }

  private answer(w: Waiter, value: RespValue): void {
    if (!w.settled) {
      this.settle(w);
      w.done(value);
    }
    this.forgetIdle(w);
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
    }
    if (!w.trying) this.forgetIdle(w);
  }

  /** Drops the states of `w`'s keys no waiter needs any more. */
  private forgetIdle(w: Waiter): void {
    for (const name of w.keys) {
      const k = this.keys.get(name);
      if (k !== undefined && k.queue.length === 0 && k.first.size === 0 && !k.serving) this.forget(name, k);
    }
  }

  private forget(name: string, k: KeyState): void {
    k.poll?.cancel();
    k.wake?.cancel();
    this.keys.delete(name);
    const names = this.byRegister.get(k.register);
    names?.delete(name);
    if (names?.size === 0) this.byRegister.delete(k.register);
  }

  private schedulePoll(name: string, k: KeyState): void {
    if (k.poll !== undefined) return;
    // A replica of the key is told of its writes; its poll only covers what a signal could miss
    // (a read at SERIAL is a Paxos round that would race the writers it waits for).
    const delay = this.o.hearsWrites(latin1Bytes(name)) ? POLL_REPLICA_MS : k.pollMs;
    k.poll = this.o.timers.after(delay, () => {
      k.poll = undefined;
      k.pollMs = Math.min(POLL_MAX_MS, k.pollMs * 2);
      this.serve(name, k);
    });
  }

  /**
   * Tries the key for its waiters in the order they blocked: one that yields is answered and the
   * next tries; a try that found the key empty ends the round; one that failed having written
   * nothing (no quorum now), or found another type than it waits for, keeps its place and lets
   * the next waiter try, so one client does not stall the queue.
   */
  private serve(name: string, k: KeyState): void {
    if (k.serving) {
      k.again = true;
      return;
    }
    k.serving = true;
    /** The waiter after which the next try starts (undefined: the first). */
    let after: Waiter | undefined;
    const end = (): void => {
      k.serving = false;
      if (k.queue.length === 0 && k.first.size === 0) return this.forget(name, k);
      if (k.again) {
        k.again = false;
        return this.serve(name, k);
      }
      if (k.queue.length > 0) this.schedulePoll(name, k);
    };
    trampoline((next) => {
      const w = after === undefined ? k.queue[0] : k.queue[k.queue.indexOf(after) + 1];
      if (w === undefined) return end();
      // A waiter trying another of its keys: this key is served again when that try ends.
      if (w.trying) {
        k.headBusy = true;
        return end();
      }
      w.trying = true;
      this.tryOnce(w, w.steps(w.byName.get(name)!), name, (t) => {
        w.trying = false;
        if (t === 'failed' || t === 'otherType') {
          if (w.deferred !== undefined) this.answer(w, w.deferred);
          else after = w;
          this.afterTry(w);
          return next();
        }
        if (t === 'empty') {
          if (w.deferred !== undefined) this.answer(w, w.deferred);
          this.afterTry(w);
          return end();
        }
        k.pollMs = POLL_FIRST_MS;
        this.answer(w, t.answer);
        this.afterTry(w);
        next();
      });
    });
  }

  /** A try of `w` ended: its keys signalled meanwhile are served now. */
  private afterTry(w: Waiter): void {
    for (const name of w.keys) {
      const k = this.keys.get(name);
      if (k?.headBusy === true && !k.serving) {
        k.headBusy = false;
        this.serve(name, k);
      }
    }
  }

  /**
   * Runs `steps` in turn until one yields. `readyKey` (a retry): a WRONGTYPE is the answer only
   * when that key holds the type waited for (the error came from elsewhere: BLMOVE's destination);
   * a key of another type keeps the client blocked, as at N = 1. An error after a partial write
   * (BLMOVE's pop ran, its push failed) is always the answer.
   */
  private tryOnce(w: Waiter, steps: readonly PopStep[], readyKey: string | undefined, done: (t: Tried) => void): void {
    let i = 0;
    let failed = false;
    trampoline((next) => {
      const step = steps[i++];
      if (step === undefined) return done(failed ? 'failed' : 'empty');
      this.o.run(step.argv, w.level, (v) => {
        const shaped = shapedPop(step, v);
        if (shaped === undefined) return next();
        if (shaped.type === 'error') {
          if (shaped.retriable === true) {
            failed = true;
            return next();
          }
          // Redis' own WRONGTYPE of the command (a replica's refusal carries a note after it).
          if (readyKey !== undefined && bytesEqual(respText(shaped.message), WRONGTYPE_REPLY)) {
            return this.o.run([TYPE, w.byName.get(readyKey)!], w.level, (type) => {
              const holds = type.type === 'simple' ? errorText(type.value) : '';
              done(holds === w.waitsFor ? { answer: shaped } : 'otherType');
            });
          }
          return done({ answer: shaped });
        }
        // A pop that moved an element (BLMOVE) pushed it: waiters on the destination try.
        for (const key of this.o.keysOf(step.argv)) this.signal(key);
        done({ answer: shaped });
      });
    });
  }
}

const TYPE = new Uint8Array([0x74, 0x79, 0x70, 0x65]);

const latin1Bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));

const respText = (t: string | Uint8Array): Uint8Array => (typeof t === 'string' ? latin1Bytes(t) : t);

/** Redis' WRONGTYPE error, as the command's own code answers it. */
const WRONGTYPE_REPLY = latin1Bytes(RedisError.wrongType);

function errorText(message: string | Uint8Array): string {
  return typeof message === 'string' ? message : latin1(message);
}
