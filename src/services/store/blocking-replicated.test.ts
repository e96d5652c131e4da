// Which error replies of the replicated path a blocking pop at N > 1 tries again after (the
// client stays blocked) and which are its answer: replicated.ts errorReply marks a reply
// `retriable` from the error's own catalogue flags (src/lib/error-codes.ts), never from its text.
// The waits themselves run in test/sim/store-blocking-sim.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BaristaError, LimitError } from '../../lib/errors.ts';
import type { RespValue } from '../../wire/resp/index.ts';
import { errorReply } from './replicated.ts';

const retriable = (v: RespValue): boolean => v.type === 'error' && v.retriable === true;

test("a try that wrote nothing for want of a quorum is tried again; a partial write, an indefinite one and the command's own errors are answered", () => {
  const unavailable = new BaristaError('replicas_unavailable', '1 live replicas of 3, needs 2');
  const readTimeout = new BaristaError('timeout', 'no Paxos quorum within 40 ticks', { definite: true });
  const writeTimeout = new BaristaError('timeout', '1 of 2 replicas acknowledged', { definite: false });
  const busy = new LimitError('too many SERIAL operations in flight', 'serialOpsMax');
  for (const [v, what] of [
    [errorReply(unavailable, true), 'UNAVAILABLE, nothing written'],
    [errorReply(readTimeout, false), 'a read that timed out'],
    [errorReply(writeTimeout, false), 'a timed-out operation that was a read'],
    [errorReply(busy, true), 'BUSY: backpressure, not run'],
  ] as const)
    assert.equal(retriable(v), true, what);
  for (const [v, what] of [
    [errorReply(writeTimeout, true), 'a write that may have been applied'],
    [errorReply(unavailable, true, 'the keys before it were written'), "a later key's failure after earlier writes"],
    [
      errorReply(new BaristaError('wrong_type', 'Operation against a key holding the wrong kind of value'), false),
      'WRONGTYPE',
    ],
    [errorReply(new BaristaError('outcome_unknown', 'the outcome was not observed'), true), 'an unknown outcome'],
  ] as const)
    assert.equal(retriable(v), false, what);
});
