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
