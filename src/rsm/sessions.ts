// The one client-session table of a replicated state machine, shared by every namespace it hosts
// (Raft dissertation §6.3: exactly-once semantics for client requests).
//
// A client first commits a register; its session id is the log index of that entry (unique and
// identical on every replica). Each request carries (sessionId, seq), seq increasing by one per
// request, at most one outstanding per session. The table keeps each session's last seq and its
// result: a retry of the last seq gets the cached result without executing again (exactly once,
// whichever namespace the request was for); an older seq is `stale_sequence`; an unknown or
// expired session is `session_expired` — never executed, because the request may already have run
// before the session went away (the client must treat it as indefinite).
//
// Time is log time only, made from the leaders' stamps in the log (log-clock.ts, envelope.ts),
// never from a replica's own clock: a stamp in term t > 0 says how long the leader of t had been
// leading when it proposed the command, so its log time is the log time at which term t first
// appeared in the log plus the stamp; a stamp with term 0 is an absolute log time (unstamped or
// legacy). Log time is the largest such value applied, so it never runs backwards. Time without
// a leader is not counted. A session idle for more than sessionTimeoutMs of log time expires.
// Beyond sessionsMax the least recently used session is evicted; one client address holds at most
// sessionsPerClientMax sessions (a register beyond is `too_many_sessions`, definite), so one
// client flooding registrations cannot evict everyone else's sessions. The table's bytes (each
// session's cached result, client address and record: what its snapshot section holds, at most)
// are bounded too (bytesMax): past it the least recently used sessions are evicted, the one just
// used last (a cached result of 1 MiB per session, 10,000 sessions held 10 GiB and made the
// group's snapshot past snapshotDataBytesMax: 2026-12-07).
//
// A new leader grants every live session a full timeout (ZooKeeper does the same): the stamp
// carries the leader's term, and the first command of a higher term resets every live session's
// last activity to that command's log time (the term's first log time). Clients need time to find the new leader and reach it
// again; without this, a session that was close to its timeout when the old leader failed expires
// on the new leader's first commands, before its client could have sent anything. Terms in the
// log never decrease; a stamp with term 0 (unstamped) never starts one.
//
// Snapshot section "sessions" (own version byte):
//   v1 = u8 version(1) | f64 logTimeMs | f64 term | f64 termStartLogMs | uvarint count
//        | count × (uvarint id | uvarint lastSeq | uvarint-bytes lastResult | f64 lastActiveMs
//                   | uvarint lastIndex | uvarint-string clientAddress)        ids ascending

import { assert } from '../lib/assert.ts';
import { ByteReader, ByteWriter, utf8ByteLength } from '../lib/bytes.ts';
import { CorruptionError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import type { RsmErrorCode } from './envelope.ts';

export interface SessionOptions {
  readonly sessionsMax: number;
  /** Sessions one client address may hold at once (a bound per address, below sessionsMax). */
  readonly sessionsPerClientMax: number;
  /** Log time a session may stay idle before it expires. */
  readonly sessionTimeoutMs: number;
  /** The table's bytes (sessionRecordBytes each); past it the least recently used are evicted. */
  readonly bytesMax: number;
  /** Planted bug (mutation 'kv-skip-session-dedup'): re-execute retries. Never set in a real node. */
  readonly skipSessionDedup?: boolean;
}

/** Bound on any log time (ms): integers up to here are exact, and a snapshot stores it as f64. */
export const LOG_TIME_MS_MAX = Number.MAX_SAFE_INTEGER;

export const defaultSessionOptions: SessionOptions = {
  sessionsMax: 10_000,
  sessionsPerClientMax: 256,
  sessionTimeoutMs: 5 * 60_000,
  bytesMax: limits.rsmSessionsBytesMax,
};

/**
 * A session's bytes in the snapshot section, at most: the record (id, lastSeq, lastIndex as
 * uvarints of up to 2^53, the f64, two length prefixes: 39), its client address and cached result.
 */
export function sessionRecordBytes(clientAddress: string, lastResult: Uint8Array): number {
  return 48 + utf8ByteLength(clientAddress) + lastResult.length;
}

interface Session {
  readonly clientAddress: string;
  lastSeq: number;
  /** The encoded result (envelope.ts Result) of lastSeq, handed back to a retry. */
  lastResult: Uint8Array;
  lastActiveMs: number;
  /** Log index of the session's last use: least recently used = smallest. */
  lastIndex: number;
}

/** What to do with a request under a session. */
export type SessionVerdict =
  | { readonly kind: 'execute' }
  | { readonly kind: 'cached'; readonly result: Uint8Array }
  | { readonly kind: 'refused'; readonly code: RsmErrorCode };

const SECTION_VERSION = 1;

/** A session that ended (expired, evicted, unregistered), so namespaces can drop what it owned. */
export type SessionClosed = (sessionId: number) => void;

export class SessionTable {
  /**
   * In order of last use, least recent first (a used session moves to the end). Use sets both
   * lastIndex (increasing) and lastActiveMs (log time, never decreasing), and a grant sets every
   * lastActiveMs to the same value, so this order is also lastActiveMs order: expiry and eviction
   * look only at the front, not at every session on every apply (10,000 sessions cost ~0.6 ms per
   * applied entry when each apply scanned them all).
   */
  private readonly sessions = new Map<number, Session>();
  /** Live sessions per client address (derived from `sessions`; rebuilt on restore). */
  private readonly byClient = new Map<string, number>();
  private nowMs = 0;
  private termSeen = 0;
  /** Log time when termSeen first appeared in the log: what its stamps count from. */
  private termStartLogMs = 0;
  /** Σ sessionRecordBytes over `sessions`. */
  private heldBytes = 0;

  constructor(readonly options: SessionOptions = defaultSessionOptions) {}

  /** Log time: the largest logTimeMs applied so far. */
  get logTimeMs(): number {
    return this.nowMs;
  }

  /** The highest term seen in a stamp. */
  get term(): number {
    return this.termSeen;
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Σ sessionRecordBytes over the sessions: at most options.bytesMax after every apply. */
  get bytes(): number {
    return this.heldBytes;
  }

  /**
   * Whether a command's stamp yields a log time within ±LOG_TIME_MS_MAX. Each stamp is finite on
   * its own (envelope.ts), but the sum termStartLogMs + stampMs (or a huge absolute term-0 stamp)
   * may not be: every replica would apply it alike, and then no snapshot of it would load. The
   * state machine answers such a command `malformed_command` and does not call `advance`.
   */
  accepts(stampMs: number, term: number): boolean {
    const start = term > this.termSeen ? this.nowMs : this.termStartLogMs;
    const at = term === 0 ? stampMs : start + stampMs;
    return Number.isFinite(at) && Math.abs(at) <= LOG_TIME_MS_MAX;
  }

  /**
   * Moves log time by a command's stamp (see the header); a higher term grants every live session
   * a full timeout from this command's log time; then idle sessions expire.
   */
  advance(stampMs: number, term: number, closed: SessionClosed): void {
    const newTerm = term > this.termSeen;
    if (newTerm) {
      this.termSeen = term;
      this.termStartLogMs = this.nowMs;
    }
    this.nowMs = Math.max(this.nowMs, term === 0 ? stampMs : this.termStartLogMs + stampMs);
    if (newTerm) for (const s of this.sessions.values()) s.lastActiveMs = this.nowMs;
    // Oldest first (see `sessions`): stop at the first session still within its timeout.
    for (const [id, s] of this.sessions) {
      if (this.nowMs - s.lastActiveMs <= this.options.sessionTimeoutMs) break;
      this.close(id, closed);
    }
  }

  /** Opens session `index` (the register's log index), or refuses it. */
  register(index: number, clientAddress: string, result: Uint8Array, closed: SessionClosed): RsmErrorCode | undefined {
    if ((this.byClient.get(clientAddress) ?? 0) >= this.options.sessionsPerClientMax) return 'too_many_sessions';
    if (this.sessions.size >= this.options.sessionsMax) this.evictLeastRecentlyUsed(closed);
    this.add(index, { clientAddress, lastSeq: 0, lastResult: result, lastActiveMs: this.nowMs, lastIndex: index });
    this.evictPastBytes(closed);
    return undefined;
  }

  unregister(sessionId: number, closed: SessionClosed): void {
    this.close(sessionId, closed);
  }

  /** Checks (sessionId ≠ 0, seq) at `index` and marks the session used. */
  check(sessionId: number, seq: number, index: number): SessionVerdict {
    const session = this.sessions.get(sessionId);
    if (session === undefined) return { kind: 'refused', code: 'session_expired' };
    if (seq < session.lastSeq) return { kind: 'refused', code: 'stale_sequence' };
    session.lastActiveMs = this.nowMs;
    session.lastIndex = index;
    this.sessions.delete(sessionId); // to the end: the most recently used
    this.sessions.set(sessionId, session);
    if (seq === session.lastSeq && this.options.skipSessionDedup !== true)
      return { kind: 'cached', result: session.lastResult };
    return { kind: 'execute' };
  }

  /**
   * Records the result of an executed request (after check() said 'execute'); then evicts the
   * least recently used sessions while the table's bytes are past bytesMax (this one last: it
   * was just used; gone only if its result alone is past the bound).
   */
  record(sessionId: number, seq: number, result: Uint8Array, closed: SessionClosed): void {
    const session = this.sessions.get(sessionId);
    assert(session !== undefined, `session ${sessionId} recorded without a check`);
    this.heldBytes += result.length - session.lastResult.length;
    session.lastSeq = seq;
    session.lastResult = result;
    this.evictPastBytes(closed);
  }

  private evictPastBytes(closed: SessionClosed): void {
    while (this.heldBytes > this.options.bytesMax && this.sessions.size > 0) this.evictLeastRecentlyUsed(closed);
  }

  private add(id: number, s: Session): void {
    this.sessions.set(id, s);
    this.byClient.set(s.clientAddress, (this.byClient.get(s.clientAddress) ?? 0) + 1);
    this.heldBytes += sessionRecordBytes(s.clientAddress, s.lastResult);
  }

  private close(id: number, closed: SessionClosed): void {
    const s = this.sessions.get(id);
    if (s === undefined) return;
    this.sessions.delete(id);
    this.heldBytes -= sessionRecordBytes(s.clientAddress, s.lastResult);
    const left = (this.byClient.get(s.clientAddress) ?? 1) - 1;
    if (left === 0) this.byClient.delete(s.clientAddress);
    else this.byClient.set(s.clientAddress, left);
    closed(id);
  }

  private evictLeastRecentlyUsed(closed: SessionClosed): void {
    const oldest = this.sessions.keys().next();
    if (oldest.done !== true) this.close(oldest.value, closed);
  }

  snapshot(): Uint8Array {
    const w = new ByteWriter({ bytesMax: 2 ** 31 - 1 });
    w.u8(SECTION_VERSION).f64(this.nowMs).f64(this.termSeen).f64(this.termStartLogMs);
    const ids = [...this.sessions.keys()].sort((a, b) => a - b);
    w.uvarint(ids.length);
    for (const id of ids) {
      const s = this.sessions.get(id)!;
      w.uvarint(id).uvarint(s.lastSeq).bytesUvarint(s.lastResult).f64(s.lastActiveMs).uvarint(s.lastIndex);
      w.stringUvarint(s.clientAddress);
    }
    return w.finish().slice();
  }

  /** Decodes a section without touching this table; the returned function installs it. */
  loadSnapshot(section: Uint8Array | undefined): () => void {
    const loaded = new Map<number, Session>();
    let nowMs = 0;
    let term = 0;
    let termStartLogMs = 0;
    if (section !== undefined) {
      const r = new ByteReader(section);
      const version = r.u8();
      if (version !== SECTION_VERSION) throw new CorruptionError(`sessions section: unknown version ${version}`);
      nowMs = r.f64();
      term = r.f64();
      termStartLogMs = r.f64();
      if (!Number.isFinite(nowMs) || !Number.isSafeInteger(term) || !Number.isFinite(termStartLogMs))
        throw new CorruptionError('sessions section: bad log time or term');
      const count = r.uvarint();
      let previous = 0;
      for (let i = 0; i < count; i++) {
        const id = r.uvarint();
        if (id <= previous) throw new CorruptionError(`sessions section: session ${id} out of order`);
        previous = id;
        const lastSeq = r.uvarint();
        const lastResult = r.bytesUvarint().slice();
        const lastActiveMs = r.f64();
        const lastIndex = r.uvarint();
        const clientAddress = r.stringUvarint();
        loaded.set(id, { clientAddress, lastSeq, lastResult, lastActiveMs, lastIndex });
      }
      r.expectEnd('sessions section');
    }
    return () => {
      this.sessions.clear();
      this.byClient.clear();
      this.heldBytes = 0;
      this.nowMs = nowMs;
      this.termSeen = term;
      this.termStartLogMs = termStartLogMs;
      // Least recently used first, as `sessions` keeps them (lastIndex is unique per session).
      const byUse = [...loaded].sort(([, x], [, y]) => x.lastIndex - y.lastIndex);
      for (const [id, s] of byUse) this.add(id, s);
    };
  }
}
