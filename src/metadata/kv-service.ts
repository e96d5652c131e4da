// The client-facing API of the metadata group's key-value keyspace, over the Raft driver. Used by
// the admin HTTP API (`barista kv ...`), by simulator workloads and by tests. Callback-based so it
// runs identically inside the deterministic simulator (no promises waiting on real I/O).
//
// Writes go through the log. Reads are linearizable by default (ReadIndex barrier, then local
// state); `consistency: 'serializable'` reads local state at once (may be stale, like etcd's
// serializable reads). Requests carry an optional client session (id, seq) for exactly-once
// execution across retries; without one they use session 0 (no deduplication).

import type { Clock } from '../env/types.ts';
import { BaristaError } from '../lib/errors.ts';
import { type Command, decodeResult, encodeCommand, type KvOp, type KvResult } from './command.ts';
import type { KvStateMachine } from './kv.ts';
import type { RaftDriver } from './raft-driver.ts';

export interface ClientSession {
  readonly id: number;
  readonly seq: number;
}

export type KvOutcome =
  | { readonly ok: true; readonly result: KvResult }
  | { readonly ok: false; readonly error: BaristaError };

export class KvService {
  constructor(
    private readonly driver: RaftDriver,
    private readonly sm: KvStateMachine,
    private readonly clock: Clock,
  ) {}

  /** Opens an exactly-once session; its id is the log index of the registration. */
  openSession(done: (outcome: { ok: true; sessionId: number } | { ok: false; error: BaristaError }) => void): void {
    this.propose({ kind: 'register', proposedAtMs: this.clock.wallMs() }, (o) => {
      if (!o.ok) return done(o);
      if (!o.result.ok)
        return done({ ok: false, error: new BaristaError(o.result.code, `register failed: ${o.result.code}`) });
      done({ ok: true, sessionId: o.result.sessionId });
    });
  }

  /** Writes (and log-ordered reads when `op` is get with consistency 'log'). */
  write(op: KvOp, session: ClientSession | undefined, done: (o: KvOutcome) => void): void {
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

  read(key: string, consistency: 'linearizable' | 'serializable', done: (o: KvOutcome) => void): void {
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
