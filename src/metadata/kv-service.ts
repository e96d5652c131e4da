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
// proposedAtMs: this node's wall clock is written as a placeholder; the leader overwrites it with
// log time when it proposes (log-clock.ts), so no node's clock skew reaches session expiry.

import type { Clock } from '../env/types.ts';
import { BaristaError } from '../lib/errors.ts';
import type { Result } from '../lib/result.ts';
import {
  type Command,
  decodeResult,
  encodeCommand,
  type KvErrorCode,
  type KvOp,
  type KvResult,
  kvLimits,
} from './command.ts';
import type { KvStateMachine } from './kv.ts';
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

export class KvService {
  constructor(
    private readonly driver: RaftDriver,
    private readonly sm: KvStateMachine,
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
    this.propose({ kind: 'register', proposedAtMs: this.clock.wallMs(), clientAddress }, (o) => {
      if (!o.ok) return done(o);
      if (!o.result.ok) {
        const code = o.result.code;
        return done({
          ok: false,
          error: new BaristaError(code, `register failed: ${code.replaceAll('_', ' ')}`),
        });
      }
      done({ ok: true, value: o.result.sessionId });
    });
  }

  /** Writes (put, cas, del; a get here is ordered through the log). */
  write(op: KvOp, session: ClientSession | undefined, done: (o: KvOutcome) => void): void {
    const tooLarge = checkOpSizes(op);
    if (tooLarge !== undefined) return done(refused(tooLarge));
    this.propose(
      {
        kind: 'request',
        proposedAtMs: this.clock.wallMs(),
        sessionId: session?.id ?? 0,
        seq: session?.seq ?? 0,
        request: op,
      },
      done,
    );
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

  private propose(command: Command, done: (o: KvOutcome) => void): void {
    let bytes: Uint8Array;
    try {
      bytes = encodeCommand(command);
    } catch (err) {
      return done({
        ok: false,
        error: err instanceof BaristaError ? err : new BaristaError('bad_request', String(err)),
      });
    }
    this.driver.submit(bytes, (o) => (o.ok ? done({ ok: true, result: decodeResult(o.result) }) : done(o)));
  }
}
