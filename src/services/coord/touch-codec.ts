// The coord service's one peer message: a follower's batch of session touches for the leader
// (ZooKeeper's learner pings carry the same: which sessions its clients kept alive). A follower
// collects the sessions it heard from and sends them once per touch interval; the leader's
// session tracker (src/coord/session-tracker.ts) records each as heard at receipt.
//
//   CoordTouches = u8 version(1) | uvarint count | count × uvarint sessionId
//     count       at most coordTouchBatchSessionsMax (a longer batch is malformed)
//     sessionId   a ZooKeeper session id: the log index of its createSession (a safe integer)
// Decoding throws ProtocolError (the router counts and drops the message), never asserts.

import { ByteReader, ByteWriter } from '../../lib/bytes.ts';
import { ProtocolError } from '../../lib/errors.ts';
import { limits } from '../../lib/limits.ts';

const VERSION = 1;

export function encodeTouches(sessionIds: readonly number[]): Uint8Array {
  const w = new ByteWriter().u8(VERSION).uvarint(sessionIds.length);
  for (const id of sessionIds) w.uvarint(id);
  return w.finish();
}

export function decodeTouches(payload: Uint8Array): number[] {
  const r = new ByteReader(payload);
  const version = r.u8();
  if (version !== VERSION) throw new ProtocolError('malformed', `coord touches of version ${version}`);
  const count = r.uvarint();
  if (count > limits.coordTouchBatchSessionsMax)
    throw new ProtocolError('malformed', `coord touches batch of ${count} sessions`);
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(r.uvarint());
  r.expectEnd('coord touches');
  return out;
}
