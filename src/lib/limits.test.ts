// Goal: the named bounds hold their stated relations, and a broken relation is caught at start-up.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AssertionError } from './assert.ts';
import { limits, validateLimits } from './limits.ts';

test('the shipped limits are consistent', () => {
  validateLimits();
});

test('a broken relation fails validation', () => {
  assert.throws(() => validateLimits({ ...limits, raftEntryBytesMax: limits.peerFrameBytesMax }), AssertionError);
  assert.throws(
    () => validateLimits({ ...limits, peerSendQueueBytesMax: limits.peerFrameBytesMax - 1 }),
    AssertionError,
  );
});

// Issue 7 item 11: the forwarding codec capped frames at 2 MiB while a Raft entry may be 4 MiB, so
// a follower could not forward what the leader would accept; and a 1 MiB value could not pass a
// 1 MiB HTTP body. Each cross-module relation is now checked here, at start-up.
test('cross-module size relations are checked: forwarded frame, kv command, HTTP body', () => {
  const broken: Array<[string, Partial<typeof limits>]> = [
    ['forwarded frame below a Raft entry', { forwardedFrameBytesMax: 2 * 1024 * 1024 }],
    ['forwarded frame above a peer frame', { forwardedFrameBytesMax: limits.peerFrameBytesMax }],
    ['kv command cannot hold a full cas', { kvCommandBytesMax: limits.kvValueBytesMax + 4096 }],
    ['kv command over a Raft entry', { kvCommandBytesMax: limits.raftEntryBytesMax + 1 }],
    ['HTTP body cannot hold a full value', { adminRequestBytesMax: 1024 * 1024 }],
  ];
  for (const [what, change] of broken) {
    assert.throws(() => validateLimits({ ...limits, ...change }), AssertionError, what);
  }
});
