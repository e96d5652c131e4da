// Goal (issue 7 item 6, as a simulator regression): a follower's linearizable read is answered by
// the leader's ReadIndex response for THAT read, never by a late answer to a read its previous
// life sent. Scenario, on simulated nodes with the real driver, transport and KV service: follower
// F reads (a forwarded ReadIndex, taken by the leader at its commit index then); the heartbeat
// round that confirms it is slow (the third node's heartbeat answers are delayed, its Append
// answers are not, so writes keep committing); F crashes; the leader commits two more writes; F
// restarts, hears heartbeats but its log is held back (Appends to F dropped), and reads again; the
// slow round completes and the leader answers the OLD read — to F's new life, over its new
// connection (a message in flight to the old life is gone with it, as with TCP). Every read and write is recorded and the checker (src/check, kv model) must say `valid`.
// Negative control: the planted 'raft-reuse-read-ids' (read ids that restart at 1 in every life)
// takes the old answer and serves the old value: the checker says `invalid`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkHistory } from '../../src/check/index.ts';
import { HistoryRecorder } from '../../src/check/recorder.ts';
import { MessageType } from '../../src/lib/message-types.ts';
import { mutationsFrom } from '../../src/lib/mutations.ts';
import type { NodeServices } from '../../src/node/services.ts';
import { decodeMessage } from '../../src/raft/codec.ts';
import { decodeGroupFrame } from '../../src/raft/group-router.ts';
import { type Message, MsgType } from '../../src/raft/types.ts';
import { KV_GROUP, kvOf, kvRaftOf } from '../../src/services/kv/running.ts';
import { Simulation } from '../../src/sim/simulation.ts';
import { platformNode } from '../support/platform-node.ts';

const ids = ['n1', 'n2', 'n3'];
const keyK = new TextEncoder().encode('k');

/** The KV group's raft message inside a peer payload, if it is one. */
function kvRaftMessage(type: number, payload: Uint8Array): Message | undefined {
  if (type !== MessageType.Raft) return undefined;
  const frame = decodeGroupFrame(payload);
  if (frame instanceof Error || frame.group !== KV_GROUP) return undefined;
  const m = decodeMessage(frame.inner);
  return m instanceof Error ? undefined : m;
}

function scenario(mutations: string[]): { verdict: string; reads: Array<number | null> } {
  const sim = new Simulation<NodeServices>({
    seed: 'read-ids',
    nodes: ids,
    program: platformNode(ids),
    mutations: mutationsFrom(mutations),
    // Not FIFO per link (the swarm's reorder class does the same): the third node's heartbeat
    // answers are held back while its Append answers pass — standing in for a confirmation round
    // that simply waits for the next heartbeat tick while writes commit meanwhile.
    network: { fifoPerLink: false },
  });
  const leaderOf = (): string | undefined => ids.find((id) => kvRaftOf(sim.instance(id))?.core.role === 'leader');
  assert.ok(
    sim.runUntilCondition(() => leaderOf() !== undefined, 10_000),
    'a first leader',
  );
  const leader = leaderOf()!;
  const f = ids.find((id) => id !== leader)!;
  const recorder = new HistoryRecorder();
  const timeNs = (): number => Math.round(sim.nowMs * 1e6);
  const enc = (v: number): Uint8Array => new TextEncoder().encode(String(v));
  const dec = (b: Uint8Array | null): number | null => (b === null ? null : Number(new TextDecoder().decode(b)));
  let pending = 0;
  const reads: Array<number | null> = [];
  const write = (value: number, process: number): void => {
    recorder.invoke(process, 'write', value, { timeNs: timeNs(), key: 'k' });
    pending++;
    kvOf(sim.instance(leader)!).client.write({ op: 'put', key: keyK, value: enc(value) }, undefined, (o) => {
      pending--;
      if (o.ok && o.result.ok) recorder.ok(process, value, { timeNs: timeNs(), key: 'k' });
      else recorder.info(process, value, { timeNs: timeNs(), key: 'k' });
    });
  };
  const read = (process: number): void => {
    recorder.invoke(process, 'read', null, { timeNs: timeNs(), key: 'k' });
    pending++;
    kvOf(sim.instance(f)!).client.read(keyK, 'linearizable', (o) => {
      pending--;
      if (o.ok && o.result.ok) {
        reads.push(dec(o.result.value));
        recorder.ok(process, dec(o.result.value), { timeNs: timeNs(), key: 'k' });
      } else recorder.fail(process, null, { timeNs: timeNs(), key: 'k' });
    });
  };
  write(1, 0);
  assert.ok(
    sim.runUntilCondition(() => pending === 0, 5_000),
    'the first write',
  );
  sim.runFor(500); // F applied it

  // Phase 1: F reads. The leader takes the read at its commit index now (2) and confirms it with a
  // heartbeat round; the third node's heartbeat answers are held back, so the confirmation (and the
  // answer to F) waits, while its Append answers pass: writes keep committing.
  const third = ids.find((id) => id !== leader && id !== f)!;
  let delayHeartbeatAcks = true;
  let holdAppends = false;
  sim.network.addFilter((from, to, type, payload) => {
    const t = kvRaftMessage(type, payload)?.type;
    if (delayHeartbeatAcks && from === third && to === leader && t === MsgType.HeartbeatResponse) {
      return { delayMs: 1_500 };
    }
    if (holdAppends && to === f && t === MsgType.Append) return 'drop';
    return 'pass';
  });
  read(1); // F dies with it: never answered (an open read)
  sim.runFor(3); // the ReadIndex reached the leader
  sim.crash(f);
  pending--; // the first read's callback died with F's process
  write(2, 2);
  write(3, 3);
  assert.ok(
    sim.runUntilCondition(() => pending === 0, 1_000),
    'the leader committed 2 and 3 without F',
  );

  // Phase 2: F restarts behind (Appends dropped) and reads again before the held round confirms:
  // the leader's answer to the OLD read (index 2) then goes to F's new life.
  holdAppends = true;
  sim.restart(f);
  assert.ok(
    sim.runUntilCondition(() => kvRaftOf(sim.instance(f))?.core.leader === leader, 1_000),
    'F hears the leader again',
  );
  read(4);
  delayHeartbeatAcks = false;
  sim.runFor(2_000); // the held confirmation arrives and answers the old read
  holdAppends = false; // F catches up; a correct F answers from its own read's answer
  assert.ok(
    sim.runUntilCondition(() => pending === 0, 5_000),
    'the second read settled',
  );
  const result = checkHistory(recorder.history(), 'kv', { timeBudgetMs: 10_000, now: () => performance.now() });
  return { verdict: result.verdict, reads };
}

test('a read after a restart is not answered by the answer to a read of the previous life', () => {
  const r = scenario([]);
  assert.equal(r.verdict, 'valid', JSON.stringify(r));
  assert.deepEqual(r.reads, [3], 'the new read saw the latest write');
});

test("negative control: the planted 'raft-reuse-read-ids' takes the old answer and reads stale data", () => {
  const r = scenario(['raft-reuse-read-ids']);
  assert.equal(r.verdict, 'invalid', JSON.stringify(r));
  assert.deepEqual(r.reads, [1], 'the stale value, under a read that began after 3 was acknowledged');
});
