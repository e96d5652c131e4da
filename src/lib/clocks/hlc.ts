// Hybrid logical clock (Kulkarni, Demirbas et al., "Logical Physical Clocks", OPODIS 2014):
// timestamps (wallMs, logical) that respect happened-before like a Lamport clock while staying
// close to physical time, so they can stand in for wall-clock time in MVCC, leases and traces.
//
// Algorithm (the paper's Figure 5, l = wallMs, c = logical, pt = this node's physical clock):
//   send / local:  l' = l;  l = max(l', pt);         c = (l == l') ? c + 1 : 0
//   receive m:     l' = l;  l = max(l', m.l, pt);    c = (l == l' == m.l) ? max(c, m.c) + 1
//                                                        : (l == l') ? c + 1 : (l == m.l) ? m.c + 1 : 0
// Invariants:
// - Timestamps returned by one clock are strictly increasing in (wallMs, logical) order, whatever
//   the physical clock does (stalls, steps back).
// - If event a happened before b then ts(a) < ts(b).
// - A remote timestamp more than `maxDriftMs` ahead of our physical clock is rejected with
//   HlcDriftError and leaves the clock unchanged (CockroachDB's max-offset rule), so one node with a
//   runaway clock cannot drag every other node's HLC into the future.
// - logical fits 16 bits so a timestamp encodes into one 64-bit integer: wallMs (48 bits) ‖ logical
//   (16 bits), order-preserving. If logical would pass 0xffff, wallMs is advanced by 1 ms and logical
//   restarts at 0 — still strictly increasing, at the cost of running 1 ms ahead of physical time.

import { AssertionError, assert } from '../assert.ts';
import type { ByteReader, ByteWriter } from '../bytes.ts';
import { BaristaError, ProtocolError } from '../errors.ts';

export interface HlcTimestamp {
  readonly wallMs: number;
  readonly logical: number;
}

export const HLC_LOGICAL_MAX = 0xffff;
export const HLC_WALL_MS_MAX = 2 ** 48 - 1;
const LOGICAL_BITS = 16n;

export const HLC_ZERO: HlcTimestamp = Object.freeze({ wallMs: 0, logical: 0 });

/** A remote timestamp is further ahead of our physical clock than the configured bound. */
export class HlcDriftError extends BaristaError<'hlc_clock_drift'> {
  override readonly name = 'HlcDriftError';
  constructor(remote: HlcTimestamp, physicalMs: number, maxDriftMs: number) {
    super(
      'hlc_clock_drift',
      `remote HLC ${formatHlc(remote)} is ${remote.wallMs - physicalMs} ms ahead of local clock, max ${maxDriftMs} ms`,
      { fields: { remoteWallMs: remote.wallMs, physicalMs, maxDriftMs } },
    );
  }
}

export interface HybridLogicalClockOptions {
  /** How far a remote timestamp may be ahead of our physical clock before update() rejects it. */
  maxDriftMs: number;
  /** Restart point (e.g. the highest timestamp persisted before a crash). */
  initial?: HlcTimestamp;
}

export class HybridLogicalClock {
  private l: number;
  private c: number;
  readonly maxDriftMs: number;

  constructor(options: HybridLogicalClockOptions) {
    assert(
      Number.isFinite(options.maxDriftMs) && options.maxDriftMs >= 0,
      `maxDriftMs must be >= 0: ${options.maxDriftMs}`,
    );
    this.maxDriftMs = options.maxDriftMs;
    const initial = options.initial ?? HLC_ZERO;
    assert(isValidHlc(initial), `invalid initial HLC ${formatHlc(initial)}`);
    this.l = initial.wallMs;
    this.c = initial.logical;
  }

  /** The last timestamp handed out (or the initial one). */
  get last(): HlcTimestamp {
    return { wallMs: this.l, logical: this.c };
  }

  /** Timestamp for a local or send event at physical time `wallMs`. */
  now(wallMs: number): HlcTimestamp {
    const pt = physical(wallMs);
    if (pt > this.l) {
      this.l = pt;
      this.c = 0;
    } else {
      this.bumpLogical(this.c + 1);
    }
    return this.last;
  }

  /**
   * Timestamp for receiving a message stamped `remote`, at physical time `wallMs`. Throws
   * ProtocolError for a malformed remote timestamp and HlcDriftError when it is too far ahead;
   * in both cases the clock is unchanged.
   */
  update(remote: HlcTimestamp, wallMs: number): HlcTimestamp {
    if (!isValidHlc(remote)) {
      throw new ProtocolError('invalid_hlc', `malformed remote HLC ${formatHlc(remote)}`);
    }
    const pt = physical(wallMs);
    if (remote.wallMs - pt > this.maxDriftMs) throw new HlcDriftError(remote, pt, this.maxDriftMs);
    const lOld = this.l;
    const l = Math.max(lOld, remote.wallMs, pt);
    let c: number;
    if (l === lOld && l === remote.wallMs) c = Math.max(this.c, remote.logical) + 1;
    else if (l === lOld) c = this.c + 1;
    else if (l === remote.wallMs) c = remote.logical + 1;
    else c = 0;
    this.l = l;
    this.bumpLogical(c);
    return this.last;
  }

  /** Sets c, borrowing a millisecond when the 16-bit logical counter would overflow. */
  private bumpLogical(c: number): void {
    if (c <= HLC_LOGICAL_MAX) {
      this.c = c;
      return;
    }
    assert(this.l < HLC_WALL_MS_MAX, 'HLC wallMs exhausted');
    this.l += 1;
    this.c = 0;
  }
}

function physical(wallMs: number): number {
  if (!(Number.isFinite(wallMs) && wallMs >= 0 && wallMs <= HLC_WALL_MS_MAX)) {
    throw new AssertionError(`HLC physical time out of range: ${wallMs}`);
  }
  return Math.floor(wallMs);
}

export function isValidHlc(ts: HlcTimestamp): boolean {
  return (
    Number.isSafeInteger(ts.wallMs) &&
    ts.wallMs >= 0 &&
    ts.wallMs <= HLC_WALL_MS_MAX &&
    Number.isSafeInteger(ts.logical) &&
    ts.logical >= 0 &&
    ts.logical <= HLC_LOGICAL_MAX
  );
}

/** Total order: by wallMs, then logical. */
export function compareHlc(a: HlcTimestamp, b: HlcTimestamp): -1 | 0 | 1 {
  if (a.wallMs !== b.wallMs) return a.wallMs < b.wallMs ? -1 : 1;
  if (a.logical !== b.logical) return a.logical < b.logical ? -1 : 1;
  return 0;
}

/**
 * wallMs ‖ logical as an unsigned 64-bit integer; numeric order equals compareHlc order. The
 * definition of the 8 bytes writeHlc/readHlc handle as two u32 (the codecs call those; this pair is
 * their oracle in clocks.test.ts).
 */
export function encodeHlc(ts: HlcTimestamp): bigint {
  if (!isValidHlc(ts)) throw new AssertionError(`invalid HLC ${formatHlc(ts)}`);
  return (BigInt(ts.wallMs) << LOGICAL_BITS) | BigInt(ts.logical);
}

/**
 * encodeHlc's 8 bytes written to `w` with no bigint (every stored Dynamo state carries one per
 * sibling): the high 32 bits of the 48-bit wall time, then its low 16 and the logical count.
 */
export function writeHlc(w: ByteWriter, ts: HlcTimestamp): void {
  if (!isValidHlc(ts)) throw new AssertionError(`invalid HLC ${formatHlc(ts)}`);
  w.u32(Math.floor(ts.wallMs / 0x10000)).u32((ts.wallMs % 0x10000) * 0x10000 + ts.logical);
}

/** The inverse of writeHlc (decodeHlc of the u64 read), with no bigint; every 8 bytes decode. */
export function readHlc(r: ByteReader): HlcTimestamp {
  const hi = r.u32();
  const lo = r.u32();
  return { wallMs: hi * 0x10000 + (lo >>> 16), logical: lo & 0xffff };
}

/** Inverse of encodeHlc; any 64-bit unsigned value decodes (untrusted input: range-checked). */
export function decodeHlc(value: bigint): HlcTimestamp {
  if (value < 0n || value > 0xffff_ffff_ffff_ffffn) {
    throw new ProtocolError('invalid_hlc', `encoded HLC out of 64-bit range: ${value}`);
  }
  return { wallMs: Number(value >> LOGICAL_BITS), logical: Number(value & 0xffffn) };
}

export function formatHlc(ts: HlcTimestamp): string {
  return `${ts.wallMs}.${ts.logical}`;
}
