// Goal: membership requests from peers round-trip, and any malformed or truncated payload is a
// ProtocolError (counted by the driver), never an exception.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ProtocolError } from '../lib/errors.ts';
import {
  decodeMemberRequest,
  decodeRejoinAnswer,
  encodeMemberRequest,
  encodeRejoinAnswer,
  MEMBER_OPS,
  type MemberRequest,
} from './member-codec.ts';

const nodeId = fc.stringMatching(/^[A-Za-z0-9_.-]{1,64}$/);
const request: fc.Arbitrary<MemberRequest> = fc.oneof(
  fc.record({ requestId: fc.nat(), op: fc.constantFrom(...MEMBER_OPS), nodeId }),
  fc.record({
    requestId: fc.nat(),
    op: fc.constant('rejoin' as const),
    nodeId,
    rejoinId: fc.stringMatching(/^[0-9a-f]{1,64}$/),
  }),
);

test('member requests round-trip, and every truncation is a ProtocolError', () => {
  fc.assert(
    fc.property(request, (r) => {
      const bytes = encodeMemberRequest(r);
      assert.deepEqual(decodeMemberRequest(bytes), { ...r });
      for (let n = 0; n < bytes.length; n++)
        assert.ok(decodeMemberRequest(bytes.subarray(0, n)) instanceof ProtocolError);
    }),
  );
});

test('arbitrary bytes decode to a request or a ProtocolError, never a throw', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
      const r = decodeMemberRequest(bytes);
      assert.ok(r instanceof ProtocolError || (typeof r === 'object' && r.nodeId.length > 0));
      const a = decodeRejoinAnswer(bytes);
      assert.ok(a instanceof ProtocolError || Number.isSafeInteger(a));
    }),
  );
  assert.equal(decodeRejoinAnswer(encodeRejoinAnswer(1234)), 1234);
  assert.ok(decodeMemberRequest(new Uint8Array([1, 0, 9, 1, 0x61])) instanceof ProtocolError, 'unknown op');
});
