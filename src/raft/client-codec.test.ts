// Goal: the forwarded-request codec carries the sender's incarnation (the leader's duplicate
// filter needs it), still reads frames from before it did, rejects malformed frames as typed
// errors, and can carry every command the leader would accept (issue 7 item 11: it used to cap
// frames at 2 MiB while a Raft entry may be 4 MiB).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ByteWriter } from '../lib/bytes.ts';
import { ProtocolError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import {
  decodeForwardedRequest,
  decodeForwardedResponse,
  encodeForwardedRequest,
  encodeForwardedResponse,
} from './client-codec.ts';

test('a request round-trips with its incarnation; a legacy frame reads as incarnation 0', () => {
  const command = new Uint8Array([1, 2, 3]);
  assert.deepEqual(decodeForwardedRequest(encodeForwardedRequest({ incarnation: 9, requestId: 42, command })), {
    incarnation: 9,
    requestId: 42,
    command,
  });
  const legacy = new ByteWriter().u8(1).uvarint(42).bytesUvarint(command).finish();
  assert.deepEqual(decodeForwardedRequest(legacy), { incarnation: 0, requestId: 42, command });
  for (const bad of [new Uint8Array([7]), new Uint8Array([2, 1]), new Uint8Array([...legacy, 0])]) {
    assert.ok(decodeForwardedRequest(bad) instanceof ProtocolError);
  }
});

test('a command of raftEntryBytesMax fits in a forwarded request, and its result in a response', () => {
  const command = new Uint8Array(limits.raftEntryBytesMax);
  const frame = encodeForwardedRequest({ incarnation: Number.MAX_SAFE_INTEGER, requestId: 2 ** 40, command });
  assert.ok(frame.length <= limits.forwardedFrameBytesMax);
  const decoded = decodeForwardedRequest(frame);
  assert.ok(!(decoded instanceof ProtocolError) && decoded.command.length === limits.raftEntryBytesMax);
  const response = encodeForwardedResponse({ requestId: 2 ** 40, ok: true, result: command });
  const back = decodeForwardedResponse(response);
  assert.ok(!(back instanceof ProtocolError) && back.ok && back.result.length === limits.raftEntryBytesMax);
});
