// The client-facing API of the metadata group's key-value keyspace, over the Raft driver. Used by
// the admin HTTP API (`barista kv ...`), by simulator workloads and by tests. Callback-based so it
// runs identically inside the deterministic simulator (no promises waiting on real I/O).
//
// Writes go through the log. Reads are linearizable by default (ReadIndex barrier, then local
// state); `consistency: 'serializable'` reads local state at once (may be stale, like etcd's
// serializable reads). Requests carry an optional client session (id, seq) for exactly-once
// execution across retries; without one they use session 0 (no deduplication).
//
// Keys and values are bytes. Sizes are checked here, before anything is proposed or read, with
// the state machine's own codes (`key_too_large`, `value_too_large`): a request the state machine
// would refuse never takes a log entry, and a read of a key no write could store answers the same
// code a write of it gets, not "absent".
//
// Commands travel in the replicated state machine's envelope (src/rsm/envelope.ts), namespace kv.
// Its stamp: this node's wall clock and term 0 are written as placeholders; the leader overwrites
// both with log time and its term when it proposes (log-clock.ts), so no node's clock skew reaches
// session expiry. Results come back as the state machine's result: a refusal by the session table
// (session_expired, stale_sequence, ...) or the KV namespace's own result.

import type { Clock } from '../env/types.ts';
import { BaristaError } from '../lib/errors.ts';
import type { Result } from '../lib/result.ts';
import {
  decodeRegistered,
  decodeRsmResult,
  type Envelope,
  encodeEnvelope,
  encodeSessionOp,
  type RsmResult,
} from '../rsm/envelope.ts';
import { NamespaceId } from '../rsm/namespace.ts';
import { decodeResult, encodeKvOp, type KvErrorCode, type KvOp, type KvResult, kvLimits } from './command.ts';
import type { RaftDriver } from '../raft/driver.ts';

export interface ClientSession {
  readonly id: number;
  readonly seq: number;
}

export type KvOutcome =
  | { readonly ok: true; readonly result: KvResult }
  | { readonly ok: false; readonly error: BaristaError };

/** The opened session's id, or why not. */
export type SessionOutcome = Result<number>;

/** The state machine's refusal, answered locally (definite: nothing was proposed). */
function refused(code: KvErrorCode): KvOutcome {
  return { ok: true, result: { ok: false, code, value: null } };
}

/** The size check the state machine applies, made before proposing or reading. */
export function checkOpSizes(op: KvOp): KvErrorCode | undefined {
  if (op.key.length > kvLimits.keyBytesMax) return 'key_too_large';
  if (op.op === 'put' && op.value.length > kvLimits.valueBytesMax) return 'value_too_large';
  if (
    op.op === 'cas' &&
    (op.value.length > kvLimits.valueBytesMax || (op.expected?.length ?? 0) > kvLimits.valueBytesMax)
  )
    return 'value_too_large';
  return undefined;
}

/** What the service reads local state from: the KV namespace (or a state machine hosting it). */
export interface KvReader {
  read(key: Uint8Array): Uint8Array | null;
}

/** Bytes from a peer that are not a result: the command may or may not have been applied. */
function unknownOutcome(message: string): BaristaError {
  return new BaristaError('outcome_unknown', `the answer does not decode: ${message}`);
}

/** The KV view of the state machine's result. */
function kvResultOf(r: RsmResult): KvResult | BaristaError {
  if (r.status === 'refused') return { ok: false, code: r.code, value: null };
  try {
    return decodeResult(r.payload);
  } catch (err) {
    return unknownOutcome((err as Error).message);
  }
}

export class KvService {
  constructor(
    private readonly driver: RaftDriver,
    private readonly sm: KvReader,
    private readonly clock: Clock,
  ) {}

  /**
   * Opens an exactly-once session; its id is the log index of the registration. `clientAddress`
   * (the client's IP address as text) is what the per-client session bound counts.
   */
  openSession(clientAddress: string, done: (outcome: SessionOutcome) => void): void {
    if (new TextEncoder().encode(clientAddress).length > kvLimits.clientAddressBytesMax) {
      return done({ ok: false, error: new BaristaError('bad_request', 'client address too long') });
    }
    const payload = encodeSessionOp({ op: 'register', clientAddress });
    this.propose({ ...this.placeholder(NamespaceId.sessions, 0, 0), payload }, (o) => {
      if (!o.ok) return done(o);
      if (o.result.status === 'refused') {
        const code = o.result.code;
        return done({
          ok: false,
          error: new BaristaError(code, `register failed: ${code.replaceAll('_', ' ')}`),
        });
      }
      const sessionId = decodeRegistered(o.result.payload);
      if (sessionId instanceof BaristaError) return done({ ok: false, error: unknownOutcome(sessionId.message) });
      done({ ok: true, value: sessionId });
    });
  }

  /** Writes (put, cas, del; a get here is ordered through the log). */
  write(op: KvOp, session: ClientSession | undefined, done: (o: KvOutcome) => void): void {
    const tooLarge = checkOpSizes(op);
    if (tooLarge !== undefined) return done(refused(tooLarge));
    let payload: Uint8Array;
    try {
      payload = encodeKvOp(op);
    } catch (err) {
      return done({ ok: false, error: asBadRequest(err) });
    }
    this.propose({ ...this.placeholder(NamespaceId.kv, session?.id ?? 0, session?.seq ?? 0), payload }, (o) => {
      if (!o.ok) return done(o);
      const result = kvResultOf(o.result);
      done(result instanceof BaristaError ? { ok: false, error: result } : { ok: true, result });
    });
  }

  read(key: Uint8Array, consistency: 'linearizable' | 'serializable', done: (o: KvOutcome) => void): void {
    if (key.length > kvLimits.keyBytesMax) return done(refused('key_too_large'));
    if (consistency === 'serializable')
      return done({ ok: true, result: { ok: true, value: this.sm.read(key), sessionId: 0 } });
    this.driver.read((error) => {
      if (error !== undefined) return done({ ok: false, error });
      done({ ok: true, result: { ok: true, value: this.sm.read(key), sessionId: 0 } });
    });
  }

  /** An envelope's fields before the leader stamps it (see the header). */
  private placeholder(namespace: number, sessionId: number, seq: number): Omit<Envelope, 'payload'> {
    return { stampMs: this.clock.wallMs(), term: 0, namespace, sessionId, seq };
  }

  private propose(
    envelope: Envelope,
    done: (o: { ok: true; result: RsmResult } | { ok: false; error: BaristaError }) => void,
  ): void {
    let bytes: Uint8Array;
    try {
      bytes = encodeEnvelope(envelope, kvLimits.commandBytesMax);
    } catch (err) {
      return done({ ok: false, error: asBadRequest(err) });
    }
    this.driver.submit(bytes, (o) => {
      if (!o.ok) return done(o);
      const result = decodeRsmResult(o.result);
      done(
        result instanceof BaristaError ? { ok: false, error: unknownOutcome(result.message) } : { ok: true, result },
      );
    });
  }
}

function asBadRequest(err: unknown): BaristaError {
  return err instanceof BaristaError ? err : new BaristaError('bad_request', String(err));
}
