// Membership wire messages. Hand-written, big-endian, one version byte first.
//
//   Ping = u8 version(1) | u32 seq | f64 incarnation | f64 t0WallMs
//   Ack  = u8 version(1) | u32 seq | f64 incarnation | f64 t0WallMs | f64 t1WallMs | f64 t2WallMs
//   Stale = u8 version(1) | f64 knownIncarnation
//
// Stale answers a ping from an incarnation below the one the answering node has already heard from
// that peer: "I know you at knownIncarnation". A node that started without its incarnation files
// (a wiped data directory) under a wall clock stepped back learns from it that it is behind.
//
// t0..t2 are the NTP timestamps: t0 the pinger's send time, t1 the ponger's receive time, t2 its
// send time; the pinger adds t3 on receipt. Incarnations are integers below 2^53 carried as f64.
// Decoding untrusted bytes never throws an assertion: it returns a ProtocolError.

import { ProtocolError } from '../lib/errors.ts';

export const MEMBERSHIP_CODEC_VERSION = 1;

export interface Ping {
  readonly seq: number;
  readonly incarnation: number;
  readonly t0WallMs: number;
}

export interface Ack extends Ping {
  readonly t1WallMs: number;
  readonly t2WallMs: number;
}

const PING_BYTES = 1 + 4 + 8 + 8;
const ACK_BYTES = PING_BYTES + 16;
const STALE_BYTES = 1 + 8;

export interface Stale {
  readonly knownIncarnation: number;
}

export function encodeStale(s: Stale): Uint8Array {
  const out = new Uint8Array(STALE_BYTES);
  const v = new DataView(out.buffer);
  v.setUint8(0, MEMBERSHIP_CODEC_VERSION);
  v.setFloat64(1, s.knownIncarnation);
  return out;
}

export function decodeStale(bytes: Uint8Array): Stale | ProtocolError {
  const v = header(bytes, STALE_BYTES, 'stale');
  if (v instanceof ProtocolError) return v;
  const stale = { knownIncarnation: v.getFloat64(1) };
  if (!validIncarnation(stale.knownIncarnation)) {
    return new ProtocolError('membership_bad_field', 'stale: incarnation out of range');
  }
  return stale;
}

export function encodePing(p: Ping): Uint8Array {
  const out = new Uint8Array(PING_BYTES);
  const v = new DataView(out.buffer);
  v.setUint8(0, MEMBERSHIP_CODEC_VERSION);
  v.setUint32(1, p.seq >>> 0);
  v.setFloat64(5, p.incarnation);
  v.setFloat64(13, p.t0WallMs);
  return out;
}

export function encodeAck(a: Ack): Uint8Array {
  const out = new Uint8Array(ACK_BYTES);
  const v = new DataView(out.buffer);
  v.setUint8(0, MEMBERSHIP_CODEC_VERSION);
  v.setUint32(1, a.seq >>> 0);
  v.setFloat64(5, a.incarnation);
  v.setFloat64(13, a.t0WallMs);
  v.setFloat64(21, a.t1WallMs);
  v.setFloat64(29, a.t2WallMs);
  return out;
}

function header(bytes: Uint8Array, expected: number, what: string): DataView | ProtocolError {
  if (bytes.length !== expected) {
    return new ProtocolError('membership_bad_length', `${what}: expected ${expected} bytes, got ${bytes.length}`);
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (v.getUint8(0) !== MEMBERSHIP_CODEC_VERSION) {
    return new ProtocolError('membership_unknown_version', `${what}: unknown version ${v.getUint8(0)}`);
  }
  return v;
}

function validIncarnation(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

export function decodePing(bytes: Uint8Array): Ping | ProtocolError {
  const v = header(bytes, PING_BYTES, 'ping');
  if (v instanceof ProtocolError) return v;
  const ping = { seq: v.getUint32(1), incarnation: v.getFloat64(5), t0WallMs: v.getFloat64(13) };
  if (!validIncarnation(ping.incarnation) || !Number.isFinite(ping.t0WallMs)) {
    return new ProtocolError('membership_bad_field', 'ping: incarnation or timestamp out of range');
  }
  return ping;
}

export function decodeAck(bytes: Uint8Array): Ack | ProtocolError {
  const v = header(bytes, ACK_BYTES, 'ack');
  if (v instanceof ProtocolError) return v;
  const ack = {
    seq: v.getUint32(1),
    incarnation: v.getFloat64(5),
    t0WallMs: v.getFloat64(13),
    t1WallMs: v.getFloat64(21),
    t2WallMs: v.getFloat64(29),
  };
  if (
    !validIncarnation(ack.incarnation) ||
    !Number.isFinite(ack.t0WallMs) ||
    !Number.isFinite(ack.t1WallMs) ||
    !Number.isFinite(ack.t2WallMs)
  ) {
    return new ProtocolError('membership_bad_field', 'ack: incarnation or timestamp out of range');
  }
  return ack;
}
