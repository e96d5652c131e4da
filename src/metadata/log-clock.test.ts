// Goal: the time a leader stamps into commands (issue 7 item 9) follows the leader's monotonic
// clock from the log time it has applied, so wall-clock skew or steps on any node change nothing,
// and a new term continues from the log instead of from that node's own history.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeEnvelope, encodeEnvelope } from '../rsm/envelope.ts';
import { NamespaceId } from '../rsm/namespace.ts';
import { encodeCommand, proposedAtOf } from './command.ts';
import { LeaderLogClock } from './log-clock.ts';

class FakeClock {
  mono = 1_000;
  wall = 1_767_225_600_000;
  monotonicMs(): number {
    return this.mono;
  }
  wallMs(): number {
    return this.wall;
  }
}

test('format-1 stamps continue from the applied log time by the monotonic clock; the wall clock plays no part', () => {
  const clock = new FakeClock();
  let applied = 50_000;
  const lc = new LeaderLogClock(clock, () => applied);
  const cmd = encodeCommand({ kind: 'register', proposedAtMs: clock.wall, clientAddress: '' });
  assert.equal(proposedAtOf(lc.stamp(cmd, 3)), 50_000, 'a new term starts at the applied log time');
  clock.mono += 200;
  clock.wall += 10 * 60_000; // this node's wall clock jumps ten minutes ahead
  assert.equal(proposedAtOf(lc.stamp(cmd, 3)), 50_200, 'only monotonic time elapsed counts');
  applied = 90_000;
  clock.mono += 100;
  assert.equal(proposedAtOf(lc.stamp(cmd, 3)), 50_300, 'within a term, the anchor stays');
  assert.equal(proposedAtOf(lc.stamp(cmd, 4)), 90_000, 'a new term re-anchors on the applied log time');
});

test("an envelope is stamped with the leader's term and the time it has measured in that term", () => {
  const clock = new FakeClock();
  const lc = new LeaderLogClock(clock, () => 7_000);
  const envelope = encodeEnvelope({
    stampMs: clock.wall,
    term: 0,
    namespace: NamespaceId.kv,
    sessionId: 4,
    seq: 2,
    payload: new Uint8Array([1, 2, 3]),
  });
  const stampOf = (term: number) => {
    const e = decodeEnvelope(lc.stamp(envelope, term));
    assert.ok(!(e instanceof Error));
    return [e.stampMs, e.term, e.sessionId, e.seq];
  };
  assert.deepEqual(stampOf(5), [0, 5, 4, 2], 'the first stamp of a term: nothing measured yet');
  clock.mono += 250;
  clock.wall -= 60_000; // the wall clock steps back: no effect
  assert.deepEqual(stampOf(5), [250, 5, 4, 2], 'the time this leader has measured in its term');
  const legacy = encodeCommand({ kind: 'register', proposedAtMs: clock.wall, clientAddress: '' });
  assert.equal(proposedAtOf(lc.stamp(legacy, 5)), 7_250, 'legacy: applied log time at term start + elapsed');
  clock.mono += 100;
  assert.deepEqual(stampOf(6), [0, 6, 4, 2], 'a new term starts from 0 again');
});
