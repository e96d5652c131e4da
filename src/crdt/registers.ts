// Registers: LWW-Register and MV-Register (Shapiro et al., INRIA RR-7506, §3.2.1–3.2.2; the
// MV-Register in the delta-state form of Almeida et al. 2018, §7.2, a DotFun under a causal context).
//
// LWW-Register: one (timestamp, replica, value); join keeps the greater by HLC timestamp, then
// replica id, then value bytes — a total order, so join is a true least upper bound and every
// replica picks the same winner. It loses concurrent writes by design (the one with the lower
// timestamp), and a write stamped by a clock behind the current one loses to the older write.
// Timestamps come from src/lib/clocks/hlc.ts, which respects happened-before: a coordinator whose HLC
// has seen the current value's timestamp (update() on read) stamps a later write higher.
//
// MV-Register: one entry per write that no other write has overwritten; a write's delta carries
// its dot plus the dots of the entries it saw, so it drops exactly those (causally dominated) and
// keeps concurrent ones as siblings. Entries carry an HLC timestamp, so `resolve()` gives the LWW
// view (the sibling a RESP GET returns: highest timestamp, ties by replica id then bytes) while
// `value()` lists every sibling (BARISTA SIBLINGS). Inside an OR-Map this is the "LWW register" of a
// Redis hash field: removable as observed state, which a bare LWW-Register is not.
//
// Ownership: a written value's bytes belong to the register from then on (not copied; the caller
// must not change them), as do decoded ones (copied out of the input).
// Encoding (body after the header, src/crdt/codec.ts):
//   lww   = 0 | 1 hlc:u64 replica blob
//   mvreg = context mvStore                      ; src/crdt/dots.ts, src/crdt/causal.ts

import { assert } from '../lib/assert.ts';
import { compareHlc, type HlcTimestamp, isValidHlc, readHlc, writeHlc } from '../lib/clocks/hlc.ts';
import {
  type Causal,
  compareEntries,
  decodeCausalBody,
  encodeCausalBody,
  joinCausal,
  type MvStore,
  type RegisterEntry,
  type Schema,
} from './causal.ts';
import {
  type CrdtBounds,
  compareBytes,
  compareStrings,
  DEFAULT_CRDT_BOUNDS,
  decodeValue,
  encodeValue,
  malformed,
  type ReplicaId,
  readBlob,
  readReplica,
  type Update,
  writeReplica,
} from './codec.ts';
import { CausalContext } from './dots.ts';

/** One written value with the HLC timestamp and the replica (coordinator) that wrote it. */
export interface Stamped {
  readonly ts: HlcTimestamp;
  readonly replica: ReplicaId;
  readonly value: Uint8Array;
}

function compareStamped(a: Stamped, b: Stamped): number {
  return compareHlc(a.ts, b.ts) || compareStrings(a.replica, b.replica) || compareBytes(a.value, b.value);
}

export class LWWRegister {
  static readonly empty = new LWWRegister(undefined);

  private constructor(readonly current: Stamped | undefined) {}

  value(): Uint8Array | undefined {
    return this.current?.value;
  }

  /** Writes `value` stamped `ts` at `replica`; the delta is the write itself. */
  set(replica: ReplicaId, value: Uint8Array, ts: HlcTimestamp): Update<LWWRegister> {
    assert(isValidHlc(ts), 'LWW-Register write with an invalid HLC timestamp');
    const delta = new LWWRegister({ ts: ownHlc(ts), replica, value });
    return { state: this.merge(delta), delta };
  }

  merge(other: LWWRegister): LWWRegister {
    if (other.current === undefined) return this;
    if (this.current === undefined) return other;
    return compareStamped(this.current, other.current) >= 0 ? this : other;
  }

  static merge(a: LWWRegister, b: LWWRegister): LWWRegister {
    return a.merge(b);
  }

  encode(bounds: CrdtBounds = DEFAULT_CRDT_BOUNDS): Uint8Array {
    return encodeValue(
      'lww',
      (w, budget) => {
        const c = this.current;
        if (c === undefined) {
          w.u8(0);
          return;
        }
        budget.takeElements(1);
        w.u8(1);
        writeHlc(w, c.ts);
        writeReplica(w, c.replica);
        w.bytesUvarint(c.value);
      },
      bounds,
    );
  }

  static decode(bytes: Uint8Array, bounds: CrdtBounds = DEFAULT_CRDT_BOUNDS): LWWRegister {
    return decodeValue(
      bytes,
      'lww',
      (r, budget) => {
        const at = r.position;
        const present = r.u8();
        if (present === 0) return LWWRegister.empty;
        if (present !== 1) throw malformed(`LWW presence byte ${present} at offset ${at}`, { offset: at });
        budget.takeElements(1);
        const ts = readHlc(r);
        const replica = readReplica(r);
        return new LWWRegister({ ts, replica, value: readBlob(r) });
      },
      bounds,
    );
  }
}

const MV_SCHEMA: Schema = Object.freeze({ type: 'mvreg' });

export class MVRegister implements Causal {
  static readonly schema = MV_SCHEMA;
  static readonly empty = new MVRegister([], CausalContext.empty);

  /** @internal: an OR-Map builds its values' views over its own context. */
  constructor(
    readonly store: MvStore,
    readonly context: CausalContext,
  ) {}

  /** Every sibling: the writes no other write has seen and overwritten, in dot order. */
  value(): Stamped[] {
    return this.store.map(stampedOf);
  }

  /** The LWW view: the sibling with the highest (timestamp, replica id, bytes), if any. */
  resolve(): Stamped | undefined {
    let best: RegisterEntry | undefined;
    for (const e of this.store) if (best === undefined || compareEntries(e, best) > 0) best = e;
    return best === undefined ? undefined : stampedOf(best);
  }

  /** Writes `value` at `replica`, overwriting every sibling this state holds. */
  write(replica: ReplicaId, value: Uint8Array, ts: HlcTimestamp): Update<MVRegister> {
    assert(isValidHlc(ts), 'MV-Register write with an invalid HLC timestamp');
    const dot = this.context.next(replica);
    const entry: RegisterEntry = { dot, ts: ownHlc(ts), value };
    const seen = CausalContext.fromDots([dot, ...this.store.map((e) => e.dot)]);
    return {
      state: new MVRegister([entry], this.context.withDots([dot])),
      delta: new MVRegister([entry], seen),
    };
  }

  /** Removes every sibling this state holds (a concurrent write survives). */
  clear(): Update<MVRegister> {
    return {
      state: new MVRegister([], this.context),
      delta: new MVRegister([], CausalContext.fromDots(this.store.map((e) => e.dot))),
    };
  }

  merge(other: MVRegister): MVRegister {
    const j = joinCausal(MV_SCHEMA, this, other);
    return new MVRegister(j.store as MvStore, j.context);
  }

  static merge(a: MVRegister, b: MVRegister): MVRegister {
    return a.merge(b);
  }

  encode(bounds: CrdtBounds = DEFAULT_CRDT_BOUNDS): Uint8Array {
    return encodeValue('mvreg', (w, budget) => encodeCausalBody(w, budget, MV_SCHEMA, this), bounds);
  }

  static decode(bytes: Uint8Array, bounds: CrdtBounds = DEFAULT_CRDT_BOUNDS): MVRegister {
    return decodeValue(
      bytes,
      'mvreg',
      (r, budget) => {
        const c = decodeCausalBody(r, budget, MV_SCHEMA);
        return new MVRegister(c.store as MvStore, c.context);
      },
      bounds,
    );
  }
}

/** The register keeps its own copy of the timestamp (the caller's object may be reused). */
function ownHlc(ts: HlcTimestamp): HlcTimestamp {
  return { wallMs: ts.wallMs, logical: ts.logical };
}

function stampedOf(e: RegisterEntry): Stamped {
  return { ts: e.ts, replica: e.dot.replica, value: e.value };
}
