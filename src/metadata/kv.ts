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
// Expiry is deterministic: "now" is the largest proposedAtMs seen in the log (the leaders' wall
// clocks), never a replica's own clock. Sessions idle for sessionTimeoutMs expire; beyond
// sessionsMax, the least recently used session is evicted.
//
// Session id 0 means "no session": the request executes each time it is applied.
//
// Reads (`get`) may go through the log (always linearizable) or be served by the driver from
// local state after a ReadIndex round; this module offers `read(key)` for the latter.

import { assert } from '../lib/assert.ts';
import { ByteReader, ByteWriter, bytesEqual, utf8ByteLength } from '../lib/bytes.ts';
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
import type { StateMachine } from './state-machine.ts';

export interface KvOptions {
  readonly sessionsMax: number;
  readonly sessionTimeoutMs: number;
  readonly keysMax: number;
  /** Planted bug (mutation 'kv-skip-session-dedup'): re-execute retries. Never set in a real node. */
  readonly skipSessionDedup?: boolean;
}

export const defaultKvOptions: KvOptions = { sessionsMax: 10_000, sessionTimeoutMs: 5 * 60_000, keysMax: 1_000_000 };

interface Session {
  lastSeq: number;
  lastResult: Uint8Array;
  lastActiveMs: number;
  lastIndex: number;
}

const SNAPSHOT_VERSION = 1;

export class KvStateMachine implements StateMachine {
  private readonly data = new Map<string, Uint8Array>();
  private readonly sessions = new Map<number, Session>();
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

  read(key: string): Uint8Array | null {
    return this.data.get(key) ?? null;
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
      if (this.sessions.size >= this.options.sessionsMax) this.evictLeastRecentlyUsed();
      const registered: KvResult = { ok: true, value: null, sessionId: index };
      this.sessions.set(index, {
        lastSeq: 0,
        lastResult: encodeResult(registered),
        lastActiveMs: this.nowMs,
        lastIndex: index,
      });
      return registered;
    }
    if (c.kind === 'unregister') {
      this.sessions.delete(c.sessionId);
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

  private execute(op: KvOp): KvResult {
    if (utf8ByteLength(op.key) > kvLimits.keyBytesMax) return error('key_too_large');
    const current = this.data.get(op.key) ?? null;
    switch (op.op) {
      case 'get':
        return { ok: true, value: current, sessionId: 0 };
      case 'put':
        if (op.value.length > kvLimits.valueBytesMax) return error('value_too_large');
        if (current === null && this.data.size >= this.options.keysMax) return error('keyspace_full');
        this.data.set(op.key, op.value);
        return { ok: true, value: null, sessionId: 0 };
      case 'cas':
        if (op.value.length > kvLimits.valueBytesMax) return error('value_too_large');
        if (!bytesEqual(current, op.expected)) return { ok: false, code: 'precondition_failed', value: current };
        if (current === null && this.data.size >= this.options.keysMax) return error('keyspace_full');
        this.data.set(op.key, op.value);
        return { ok: true, value: null, sessionId: 0 };
      case 'del':
        this.data.delete(op.key);
        return { ok: true, value: current, sessionId: 0 };
    }
  }

  private expireSessions(): void {
    for (const [id, s] of this.sessions) {
      if (this.nowMs - s.lastActiveMs > this.options.sessionTimeoutMs) this.sessions.delete(id);
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
    if (victim !== undefined) this.sessions.delete(victim);
  }

  snapshot(): Uint8Array {
    const w = new ByteWriter({ bytesMax: 2 ** 31 - 1 });
    w.u8(SNAPSHOT_VERSION).uvarint(this.applied).f64(this.nowMs);
    const keys = [...this.data.keys()].sort();
    w.uvarint(keys.length);
    for (const k of keys) w.stringUvarint(k).bytesUvarint(this.data.get(k)!);
    const ids = [...this.sessions.keys()].sort((a, b) => a - b);
    w.uvarint(ids.length);
    for (const id of ids) {
      const s = this.sessions.get(id)!;
      w.uvarint(id).uvarint(s.lastSeq).bytesUvarint(s.lastResult).f64(s.lastActiveMs).uvarint(s.lastIndex);
    }
    return w.finish().slice();
  }

  restore(index: number, image: Uint8Array): void {
    const r = new ByteReader(image);
    const version = r.u8();
    if (version !== SNAPSHOT_VERSION) throw new CorruptionError(`kv snapshot: unknown version ${version}`);
    const applied = r.uvarint();
    if (applied > index) throw new CorruptionError(`kv snapshot: taken at ${applied}, installed as ${index}`);
    this.data.clear();
    this.sessions.clear();
    this.applied = index;
    this.nowMs = r.f64();
    const keyCount = r.uvarint();
    for (let i = 0; i < keyCount; i++) this.data.set(r.stringUvarint(), r.bytesUvarint().slice());
    const sessionCount = r.uvarint();
    for (let i = 0; i < sessionCount; i++) {
      const id = r.uvarint();
      this.sessions.set(id, {
        lastSeq: r.uvarint(),
        lastResult: r.bytesUvarint().slice(),
        lastActiveMs: r.f64(),
        lastIndex: r.uvarint(),
      });
    }
  }
}

function error(code: KvErrorCode): KvResult {
  return { ok: false, code, value: null };
}
