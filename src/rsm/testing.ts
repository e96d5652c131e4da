// Test helpers for replicated state machines (not used by production code): a log that applies
// envelopes in order with chosen stamps, and a small counter namespace that shows what ran.

import { assert } from '../lib/assert.ts';
import { ByteReader, ByteWriter } from '../lib/bytes.ts';
import { BaristaError, CorruptionError } from '../lib/errors.ts';
import {
  decodeRegistered,
  decodeRsmResult,
  type Envelope,
  encodeEnvelope,
  encodeSessionOp,
  type RsmResult,
} from './envelope.ts';
import type { ApplyContext, Namespace } from './namespace.ts';
import { NamespaceId } from './namespace.ts';
import type { ReplicatedStateMachine } from './state-machine.ts';

export interface Stamp {
  readonly atMs?: number;
  readonly term?: number;
}

export class TestLog {
  index = 0;
  constructor(readonly sm: ReplicatedStateMachine) {}

  /** Applies one envelope at the next index and decodes the state machine's result. */
  submit(e: Omit<Envelope, 'stampMs' | 'term'>, stamp: Stamp = {}): RsmResult {
    const bytes = encodeEnvelope({ ...e, stampMs: stamp.atMs ?? 0, term: stamp.term ?? 0 });
    const r = decodeRsmResult(this.sm.apply(++this.index, bytes));
    assert(!(r instanceof BaristaError), 'the state machine answers a result');
    return r;
  }

  /** Registers a session; returns its id, or the refusal code. */
  register(stamp: Stamp = {}, clientAddress = ''): number | string {
    const payload = encodeSessionOp({ op: 'register', clientAddress });
    const r = this.submit({ namespace: NamespaceId.sessions, sessionId: 0, seq: 0, payload }, stamp);
    if (r.status === 'refused') return r.code;
    const id = decodeRegistered(r.payload);
    assert(typeof id === 'number');
    return id;
  }

  unregister(sessionId: number, stamp: Stamp = {}): RsmResult {
    const payload = encodeSessionOp({ op: 'unregister' });
    return this.submit({ namespace: NamespaceId.sessions, sessionId, seq: 0, payload }, stamp);
  }
}

/** Namespace id of the counter (tests only; never allocated in NamespaceId). */
export const COUNTER_ID = 90;

/**
 * A namespace holding one counter: a payload `u32 n` adds n and answers the new total; any other
 * payload is malformed. Records every closed session, to show the order namespaces learn it.
 */
export class CounterNamespace implements Namespace {
  readonly id: number;
  total = 0;
  readonly closed: { sessionId: number; index: number }[] = [];

  constructor(
    readonly name = 'counter',
    id = COUNTER_ID,
  ) {
    this.id = id;
  }

  static add(n: number): Uint8Array {
    return new ByteWriter().u32(n).finish();
  }

  static totalOf(r: RsmResult): number | string {
    return r.status === 'applied' ? new ByteReader(r.payload).u32() : r.code;
  }

  apply(_ctx: ApplyContext, payload: Uint8Array): Uint8Array {
    const r = new ByteReader(payload);
    const n = r.u32();
    r.expectEnd('counter op');
    this.total += n;
    return new ByteWriter().u32(this.total).finish();
  }

  snapshot(): Uint8Array {
    return new ByteWriter().u8(1).u32(this.total).finish();
  }

  loadSnapshot(section: Uint8Array | undefined): () => void {
    let total = 0;
    if (section !== undefined) {
      const r = new ByteReader(section);
      if (r.u8() !== 1) throw new CorruptionError('counter section: unknown version');
      total = r.u32();
      r.expectEnd('counter section');
    }
    return () => {
      this.total = total;
    };
  }

  sessionClosed(sessionId: number, ctx: ApplyContext): void {
    this.closed.push({ sessionId, index: ctx.index });
  }
}
