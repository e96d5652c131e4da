// Which errors of a blocking pop's try at N > 1 keep the client blocked (the try wrote nothing:
// no quorum now) and which are its answer (blocking-replicated.ts wroteNothing). The waits
// themselves run in test/sim/store-blocking-sim.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { wroteNothing } from './blocking-replicated.ts';

test("a try that wrote nothing for want of a quorum is tried again; a partial write, an indefinite one and the command's own errors are answered", () => {
  for (const text of [
    'UNAVAILABLE 1 live replicas of 3, needs 2 (nothing was written)',
    'TIMEOUT no Paxos quorum within 40 ticks',
    'BUSY the keys of hash tag {t} kept changing at SERIAL (not written)',
    'BUSY key q kept changing at SERIAL (not written)',
  ])
    assert.equal(wroteNothing(text), true, text);
  for (const text of [
    'TIMEOUT 1 of 2 replicas acknowledged (the write may have been applied)',
    'UNAVAILABLE 1 live replicas of 3, needs 2 (the keys before it were written)',
    'WRONGTYPE Operation against a key holding the wrong kind of value (the keys before it were written)',
    'ERR the command changes 10000 elements at once, max 8192 (nothing was written)',
    'WRONGTYPE Operation against a key holding the wrong kind of value',
    'ERR syntax error',
    'TIMEOUT the forwarded command timed out (it may have run)',
  ])
    assert.equal(wroteNothing(text), false, text);
});
