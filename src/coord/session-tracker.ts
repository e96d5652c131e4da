// Liveness of ZooKeeper sessions, as the coord group's leader decides it: when each session was
// last heard from (a touch: a request or ping on any node; followers forward theirs), which
// sessions have been silent past their timeout, and which of those still need a closeSession
// proposal. The sessions themselves (their existence, timeouts, ephemerals) live in the replicated
// znode namespace; this tracker only mirrors which exist (add/remove as their createSession and
// closeSession entries apply) and is never replicated: every node keeps one, only the leader acts.
//
// Time is a parameter (`now`, the Env's monotonic ms): the tracker is pure, like every core.
//
// Rules (ZooKeeper's SessionTrackerImpl and ExpiryQueue, as facts):
//   - negotiateTimeout clamps a client's requested timeout to [min, max], by default 2 and 20
//     ticks (tickTime), as the server's minSessionTimeout/maxSessionTimeout do.
//   - expiry is kept in buckets of one tick: a touch at `now` moves the session to the bucket
//     ceil((now + timeout) / tick) * tick, so expiry costs O(expired), not a scan of all sessions.
//   - a new leader (`grantAll`) gives every live session a full timeout from the moment it took
//     over: it cannot know how long the old leader had not heard from them.
//   - `expired(now)` hands each session past its deadline out once, marked closing; a touch of a
//     closing session is refused (the client is told its session expired). If the closeSession
//     proposal is lost (no apply removed it within `closeRetryMs`), it is handed out again.
//   - bounds: at most `sessionsMax` tracked sessions (add refuses beyond it; the tree's own bound
//     on sessions is the real one, this one keeps the mirror honest).

export interface SessionTimeoutPolicy {
  readonly tickTimeMs: number;
  readonly minSessionTimeoutMs: number;
  readonly maxSessionTimeoutMs: number;
}

/** ZooKeeper's defaults for a tickTime: min 2 ticks, max 20 ticks. */
export function defaultTimeoutPolicy(tickTimeMs: number): SessionTimeoutPolicy {
  return { tickTimeMs, minSessionTimeoutMs: 2 * tickTimeMs, maxSessionTimeoutMs: 20 * tickTimeMs };
}

/** The timeout a session gets for the one its client asked for. */
export function negotiateTimeout(requestedMs: number, policy: SessionTimeoutPolicy): number {
  if (!Number.isFinite(requestedMs) || requestedMs < policy.minSessionTimeoutMs) return policy.minSessionTimeoutMs;
  if (requestedMs > policy.maxSessionTimeoutMs) return policy.maxSessionTimeoutMs;
  return Math.floor(requestedMs);
}

export interface SessionTrackerOptions {
  readonly tickTimeMs: number;
  readonly sessionsMax: number;
  /** How long a handed-out expiry waits for its closeSession to apply before it is handed out again. */
  readonly closeRetryMs: number;
}

interface Tracked {
  readonly id: number;
  readonly timeoutMs: number;
  /** The bucket (a tick boundary in ms) the session sits in. */
  bucket: number;
  closing: boolean;
}

export class SessionTracker {
  private readonly sessions = new Map<number, Tracked>();
  /** bucket time -> sessions due then (about maxSessionTimeout / tickTime buckets at most). */
  private readonly buckets = new Map<number, Set<number>>();

  constructor(private readonly options: SessionTrackerOptions) {}

  get size(): number {
    return this.sessions.size;
  }

  has(sessionId: number): boolean {
    return this.sessions.has(sessionId);
  }

  timeoutOf(sessionId: number): number | undefined {
    return this.sessions.get(sessionId)?.timeoutMs;
  }

  isClosing(sessionId: number): boolean {
    return this.sessions.get(sessionId)?.closing === true;
  }

  /** A session's createSession applied (or it was found at a restore); it is alive from `now`. */
  add(sessionId: number, timeoutMs: number, now: number): boolean {
    if (this.sessions.has(sessionId)) return true;
    if (this.sessions.size >= this.options.sessionsMax) return false;
    const s: Tracked = { id: sessionId, timeoutMs, bucket: 0, closing: false };
    this.sessions.set(sessionId, s);
    this.place(s, this.roundUp(now + timeoutMs));
    return true;
  }

  /** Its closeSession applied: forget it. */
  remove(sessionId: number): void {
    const s = this.sessions.get(sessionId);
    if (s === undefined) return;
    this.unplace(s);
    this.sessions.delete(sessionId);
  }

  /** Heard from the session at `now`; false when it is unknown or already being closed. */
  touch(sessionId: number, now: number): boolean {
    const s = this.sessions.get(sessionId);
    if (s === undefined || s.closing) return false;
    const bucket = this.roundUp(now + s.timeoutMs);
    if (bucket > s.bucket) {
      this.unplace(s);
      this.place(s, bucket);
    }
    return true;
  }

  /**
   * This node became leader at `now`: every session gets a full timeout from now, and none is
   * closing (a closeSession the old leader proposed either applies, removing it, or was lost).
   * `live` is the tree's list of sessions, replacing what the tracker held.
   */
  grantAll(live: Iterable<{ readonly id: number; readonly timeoutMs: number }>, now: number): void {
    this.sessions.clear();
    this.buckets.clear();
    for (const s of live) this.add(s.id, s.timeoutMs, now);
  }

  /**
   * Sessions past their deadline at `now` that need a closeSession proposal: each is marked
   * closing and handed out again after closeRetryMs if its close has not applied by then.
   */
  expired(now: number): number[] {
    const out: number[] = [];
    const due = [...this.buckets.keys()].filter((b) => b <= now).sort((a, b) => a - b);
    for (const bucket of due) {
      const ids = this.buckets.get(bucket)!;
      this.buckets.delete(bucket);
      for (const id of ids) {
        const s = this.sessions.get(id)!;
        s.closing = true;
        out.push(id);
        this.place(s, this.roundUp(now + this.options.closeRetryMs));
      }
    }
    return out;
  }

  /** The next time `expired` may hand out something (undefined: nothing tracked). */
  nextDeadline(): number | undefined {
    let min: number | undefined;
    for (const b of this.buckets.keys()) if (min === undefined || b < min) min = b;
    return min;
  }

  private roundUp(ms: number): number {
    const tick = this.options.tickTimeMs;
    return Math.ceil(ms / tick) * tick;
  }

  private place(s: Tracked, bucket: number): void {
    s.bucket = bucket;
    let set = this.buckets.get(bucket);
    if (set === undefined) {
      set = new Set();
      this.buckets.set(bucket, set);
    }
    set.add(s.id);
  }

  private unplace(s: Tracked): void {
    const set = this.buckets.get(s.bucket);
    if (set === undefined) return;
    set.delete(s.id);
    if (set.size === 0) this.buckets.delete(s.bucket);
  }
}
