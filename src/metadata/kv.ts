// The metadata group's key-value state machine with exactly-once client sessions (Raft
// dissertation §6.3).
//
// Sessions: a client first commits a Register command; its session id is the log index of that
// entry (unique and identical on every replica). Each request carries (sessionId, seq) with seq
// increasing by one per request and at most one request outstanding per session. The state
// machine remembers each session's last seq and result: a retry of the last seq returns the
// cached result without re-executing (exactly once); an older seq is `stale_sequence`; a request
// for an unknown or expired session is `session_expired` — never re-executed, because it may
// already have run before the session expired (the client must treat it as indefinite).
//
// Expiry is deterministic: "now" is the largest proposedAtMs seen in the log (stamped by leaders
// when they propose, see log-clock.ts), never a replica's own clock. Sessions idle for
// sessionTimeoutMs expire; beyond sessionsMax, the least recently used session is evicted. One
// client address may hold at most sessionsPerClientMax sessions (a Register beyond that is
// `too_many_sessions`, definite), so one client flooding registrations cannot evict everyone
// else's sessions.
//
// Keys are bytes: the map is keyed by a binary string (one char per byte, 0-255), so any byte
// sequence is a key, and the read path looks up exactly the bytes the write path stored.
//
// Session id 0 means "no session": the request executes each time it is applied.
//
// Reads (`get`) may go through the log (always linearizable) or be served by the driver from
// local state after a ReadIndex round; this module offers `read(key)` for the latter.

import { assert } from '../lib/assert.ts';
import { ByteReader, ByteWriter, bytesEqual } from '../lib/bytes.ts';
import { BaristaError, CorruptionError } from '../lib/errors.ts';
import {
  type Command,
  decodeCommand,
  decodeResult,
  encodeResult,
  type KvErrorCode,
  type KvOp,
  type KvResult,
  kvLimits,
} from './command.ts';
import type { StateMachine } from '../raft/state-machine.ts';
import { limits } from '../lib/limits.ts';

export interface KvOptions {
  readonly sessionsMax: number;
  /** Sessions one client address may hold at once (a bound per address, below sessionsMax). */
  readonly sessionsPerClientMax: number;
  readonly sessionTimeoutMs: number;
  readonly keysMax: number;
  /** Planted bug (mutation 'kv-skip-session-dedup'): re-execute retries. Never set in a real node. */
  readonly skipSessionDedup?: boolean;
}

export const defaultKvOptions: KvOptions = {
  sessionsMax: limits.kvSessionsMax,
  sessionsPerClientMax: limits.kvSessionsPerClientMax,
  sessionTimeoutMs: 5 * 60_000,
  keysMax: limits.kvKeysMax,
};

interface Session {
  readonly clientAddress: string;
  lastSeq: number;
  lastResult: Uint8Array;
  lastActiveMs: number;
  lastIndex: number;
}

/** Version 2 adds each session's client address; version 1 images restore with address ''. */
const SNAPSHOT_VERSION = 2;

/** The map key for a byte key: one char per byte, so every byte sequence has its own string. */
export function keyId(key: Uint8Array): string {
  let s = '';
  for (let i = 0; i < key.length; i += 4096) {
    s += String.fromCharCode.apply(null, key.subarray(i, i + 4096) as unknown as number[]);
  }
  return s;
}

function keyBytes(id: string): Uint8Array {
  const out = new Uint8Array(id.length);
  for (let i = 0; i < id.length; i++) out[i] = id.charCodeAt(i);
  return out;
}

export class KvStateMachine implements StateMachine {
  private readonly data = new Map<string, Uint8Array>();
  private readonly sessions = new Map<number, Session>();
  /** Live sessions per client address (derived from `sessions`; rebuilt on restore). */
  private readonly sessionsByClient = new Map<string, number>();
  private nowMs = 0;
  private applied = 0;

  constructor(readonly options: KvOptions = defaultKvOptions) {}

  get appliedIndex(): number {
    return this.applied;
  }

  get size(): number {
    return this.data.size;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Log time: the largest proposedAtMs applied so far (what session expiry measures against). */
  get logTimeMs(): number {
    return this.nowMs;
  }

  /** The value under `key` (null when absent); keys over keyBytesMax are never stored. */
  read(key: Uint8Array): Uint8Array | null {
    if (key.length > kvLimits.keyBytesMax) return null;
    return this.data.get(keyId(key)) ?? null;
  }

  apply(index: number, entry: Uint8Array): Uint8Array {
    // Indexes increase; gaps are entries the state machine never sees (Raft no-ops, config changes).
    assert(index > this.applied, `entries are applied in order: ${index} after ${this.applied}`);
    this.applied = index;
    const command = decodeCommand(entry);
    if (command instanceof BaristaError) return encodeResult({ ok: false, code: 'malformed_command', value: null });
    this.nowMs = Math.max(this.nowMs, command.proposedAtMs);
    this.expireSessions();
    return encodeResult(this.applyCommand(index, command));
  }

  private applyCommand(index: number, c: Command): KvResult {
    if (c.kind === 'register') {
      if ((this.sessionsByClient.get(c.clientAddress) ?? 0) >= this.options.sessionsPerClientMax)
        return error('too_many_sessions');
      if (this.sessions.size >= this.options.sessionsMax) this.evictLeastRecentlyUsed();
      const registered: KvResult = { ok: true, value: null, sessionId: index };
      this.addSession(index, {
        clientAddress: c.clientAddress,
        lastSeq: 0,
        lastResult: encodeResult(registered),
        lastActiveMs: this.nowMs,
        lastIndex: index,
      });
      return registered;
    }
    if (c.kind === 'unregister') {
      this.removeSession(c.sessionId);
      return { ok: true, value: null, sessionId: 0 };
    }
    // Session 0: a sessionless request, executed every time it is applied (at-most-once only if
    // the client never retries; the client must treat a timeout as indefinite).
    if (c.sessionId === 0) return this.execute(c.request);
    const session = this.sessions.get(c.sessionId);
    if (session === undefined) return { ok: false, code: 'session_expired', value: null };
    if (c.seq < session.lastSeq) return { ok: false, code: 'stale_sequence', value: null };
    session.lastActiveMs = this.nowMs;
    session.lastIndex = index;
    if (c.seq === session.lastSeq && this.options.skipSessionDedup !== true) return decodeResult(session.lastResult);
    const result = this.execute(c.request);
    session.lastSeq = c.seq;
    session.lastResult = encodeResult(result);
    return result;
  }

  private addSession(id: number, s: Session): void {
    this.sessions.set(id, s);
    this.sessionsByClient.set(s.clientAddress, (this.sessionsByClient.get(s.clientAddress) ?? 0) + 1);
  }

  private removeSession(id: number): void {
    const s = this.sessions.get(id);
    if (s === undefined) return;
    this.sessions.delete(id);
    const left = (this.sessionsByClient.get(s.clientAddress) ?? 1) - 1;
    if (left === 0) this.sessionsByClient.delete(s.clientAddress);
    else this.sessionsByClient.set(s.clientAddress, left);
  }

  private execute(op: KvOp): KvResult {
    if (op.key.length > kvLimits.keyBytesMax) return error('key_too_large');
    const key = keyId(op.key);
    const current = this.data.get(key) ?? null;
    switch (op.op) {
      case 'get':
        return { ok: true, value: current, sessionId: 0 };
      case 'put':
        if (op.value.length > kvLimits.valueBytesMax) return error('value_too_large');
        if (current === null && this.data.size >= this.options.keysMax) return error('keyspace_full');
        this.data.set(key, op.value);
        return { ok: true, value: null, sessionId: 0 };
      case 'cas':
        if (op.value.length > kvLimits.valueBytesMax) return error('value_too_large');
        if (!bytesEqual(current, op.expected)) return { ok: false, code: 'precondition_failed', value: current };
        if (current === null && this.data.size >= this.options.keysMax) return error('keyspace_full');
        this.data.set(key, op.value);
        return { ok: true, value: null, sessionId: 0 };
      case 'del':
        this.data.delete(key);
        return { ok: true, value: current, sessionId: 0 };
    }
  }

  private expireSessions(): void {
    for (const [id, s] of this.sessions) {
      if (this.nowMs - s.lastActiveMs > this.options.sessionTimeoutMs) this.removeSession(id);
    }
  }

  private evictLeastRecentlyUsed(): void {
    let victim: number | undefined;
    let oldest = Number.POSITIVE_INFINITY;
    for (const [id, s] of this.sessions) {
      if (s.lastIndex < oldest) {
        oldest = s.lastIndex;
        victim = id;
      }
    }
    if (victim !== undefined) this.removeSession(victim);
  }

  snapshot(): Uint8Array {
    const w = new ByteWriter({ bytesMax: 2 ** 31 - 1 });
    w.u8(SNAPSHOT_VERSION).uvarint(this.applied).f64(this.nowMs);
    const keys = [...this.data.keys()].sort();
    w.uvarint(keys.length);
    for (const k of keys) w.bytesUvarint(keyBytes(k)).bytesUvarint(this.data.get(k)!);
    const ids = [...this.sessions.keys()].sort((a, b) => a - b);
    w.uvarint(ids.length);
    for (const id of ids) {
      const s = this.sessions.get(id)!;
      w.uvarint(id).uvarint(s.lastSeq).bytesUvarint(s.lastResult).f64(s.lastActiveMs).uvarint(s.lastIndex);
      w.stringUvarint(s.clientAddress);
    }
    return w.finish().slice();
  }

  restore(index: number, image: Uint8Array): void {
    const r = new ByteReader(image);
    const version = r.u8();
    if (version !== 1 && version !== SNAPSHOT_VERSION)
      throw new CorruptionError(`kv snapshot: unknown version ${version}`);
    const applied = r.uvarint();
    if (applied > index) throw new CorruptionError(`kv snapshot: taken at ${applied}, installed as ${index}`);
    this.data.clear();
    this.sessions.clear();
    this.sessionsByClient.clear();
    this.applied = index;
    this.nowMs = r.f64();
    const keyCount = r.uvarint();
    // Version 1 wrote keys as UTF-8 strings: the same bytes as a byte key.
    for (let i = 0; i < keyCount; i++) this.data.set(keyId(r.bytesUvarint()), r.bytesUvarint().slice());
    const sessionCount = r.uvarint();
    for (let i = 0; i < sessionCount; i++) {
      const id = r.uvarint();
      const lastSeq = r.uvarint();
      const lastResult = r.bytesUvarint().slice();
      const lastActiveMs = r.f64();
      const lastIndex = r.uvarint();
      const clientAddress = version === 1 ? '' : r.stringUvarint();
      this.addSession(id, { clientAddress, lastSeq, lastResult, lastActiveMs, lastIndex });
    }
  }
}

function error(code: KvErrorCode): KvResult {
  return { ok: false, code, value: null };
}
