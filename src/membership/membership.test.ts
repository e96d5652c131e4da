// Goal: the membership core's contract, on a tiny synchronous network with explicit time:
// peers become alive, silent peers become suspect then dead within deadAfterMs (+ one heartbeat
// period), a restarted peer (higher incarnation) is alive again, stale incarnations are ignored,
// asymmetric links give asymmetric views, and malformed input is rejected, never thrown.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { MessageType } from '../lib/message-types.ts';
import { decodeAck, decodePing, decodeStale, encodeAck, encodePing, encodeStale } from './codec.ts';
import { defaultMembershipTiming, Membership, type Outbound } from './membership.ts';
import { PhiAccrual } from './phi.ts';

const ids = ['n1', 'n2', 'n3'];

class Net {
  nowMs = 0;
  readonly nodes = new Map<string, Membership>();
  readonly blocked = new Set<string>(); // "from>to"
  readonly down = new Set<string>();
  /** Each node's wall clock is nowMs + skew (monotonic time is shared). */
  readonly skewMs: Record<string, number> = { n1: 0, n2: 250, n3: -100 };

  constructor(incarnation = 1) {
    for (const id of ids) this.start(id, incarnation);
  }

  start(id: string, incarnation: number): void {
    const peers = ids.filter((p) => p !== id);
    this.nodes.set(id, new Membership({ self: id, peers, incarnation, ...defaultMembershipTiming }, this.nowMs));
    this.down.delete(id);
  }

  private deliver(from: string, out: Outbound[]): void {
    for (const m of out) {
      if (this.down.has(m.to) || this.blocked.has(`${from}>${m.to}`)) continue;
      const step = this.nodes.get(m.to)!.receive(from, m.type, m.payload, this.nowMs, this.nowMs + this.skewMs[m.to]!);
      this.deliver(m.to, step.messages);
    }
  }

  run(ms: number, stepMs = 50): void {
    const end = this.nowMs + ms;
    while (this.nowMs < end) {
      this.nowMs += stepMs;
      for (const [id, m] of this.nodes) {
        if (this.down.has(id)) continue;
        this.deliver(id, m.tick(this.nowMs, this.nowMs + this.skewMs[id]!).messages);
      }
    }
  }

  status(viewer: string, peer: string): string | undefined {
    return this.nodes.get(viewer)!.status(peer);
  }
}

test('all peers become alive after the first heartbeats', () => {
  const net = new Net();
  for (const id of ids) for (const p of ids) if (p !== id) assert.equal(net.status(id, p), 'unknown');
  net.run(500);
  for (const id of ids) for (const p of ids) if (p !== id) assert.equal(net.status(id, p), 'alive');
});

test('a silent peer is suspected, then dead within deadAfterMs plus one heartbeat period', () => {
  const net = new Net();
  net.run(2_000);
  net.down.add('n3');
  const crashedAt = net.nowMs;
  let suspectedAt: number | undefined;
  let deadAt: number | undefined;
  while (deadAt === undefined && net.nowMs < crashedAt + 10_000) {
    net.run(50);
    if (suspectedAt === undefined && net.status('n1', 'n3') === 'suspect') suspectedAt = net.nowMs;
    if (net.status('n1', 'n3') === 'dead') deadAt = net.nowMs;
  }
  assert.ok(suspectedAt !== undefined, 'n3 was never suspected');
  assert.ok(deadAt !== undefined, 'n3 was never declared dead');
  assert.ok(deadAt - crashedAt <= defaultMembershipTiming.deadAfterMs + defaultMembershipTiming.heartbeatIntervalMs);
  assert.ok(suspectedAt < deadAt);
  assert.equal(net.status('n1', 'n2'), 'alive');
});

test('a restarted peer rejoins with a higher incarnation and is alive again', () => {
  const net = new Net();
  net.run(1_000);
  net.down.add('n2');
  net.run(3_000);
  assert.equal(net.status('n1', 'n2'), 'dead');
  net.start('n2', 2);
  const before = net.nowMs;
  net.run(600);
  assert.equal(net.status('n1', 'n2'), 'alive');
  assert.equal(net.status('n2', 'n1'), 'alive');
  assert.ok(net.nowMs - before <= 600);
  assert.equal(
    net.nodes
      .get('n1')!
      .view(net.nowMs)
      .find((v) => v.id === 'n2')!.incarnation,
    2,
  );
});

test('a message from an older incarnation is rejected as stale', () => {
  const net = new Net(5);
  net.run(500);
  const n1 = net.nodes.get('n1')!;
  const stale = encodePing({ seq: 1, incarnation: 4, t0WallMs: 0 });
  const step = n1.receive('n2', MessageType.MembershipPing, stale, net.nowMs, net.nowMs);
  assert.deepEqual(step.rejected, [{ from: 'n2', reason: 'stale_incarnation' }]);
  // Answered with what n1 knows, at most once per heartbeat period (a flood of stale pings is not
  // an amplifier).
  assert.deepEqual(
    step.messages.map((m) => [m.to, m.type, decodeStale(m.payload)]),
    [['n2', MessageType.MembershipStale, { knownIncarnation: 5 }]],
  );
  const again = n1.receive('n2', MessageType.MembershipPing, stale, net.nowMs + 1, net.nowMs + 1);
  assert.equal(again.messages.length, 0);
  const later = net.nowMs + defaultMembershipTiming.heartbeatIntervalMs;
  assert.equal(n1.receive('n2', MessageType.MembershipPing, stale, later, later).messages.length, 1);
});

test('a Stale notice above this life reports it behind; one at or below is about an earlier life and ignored', () => {
  const net = new Net(5);
  const n1 = net.nodes.get('n1')!;
  const notice = (from: string, known: number) =>
    n1.receive(from, MessageType.MembershipStale, encodeStale({ knownIncarnation: known }), 0, 0);
  for (const known of [5, 4]) {
    const step = notice('n2', known);
    assert.equal(step.behind, undefined);
    assert.deepEqual(step.rejected, [{ from: 'n2', reason: 'stale_notice_old' }]);
  }
  // One peer suffices: it calls this life dead whatever made its view higher.
  assert.equal(notice('n2', 9).behind, 9);
});

test('a wiped node below its earlier life is told by its peers, and nothing of it is accepted', () => {
  const net = new Net(5);
  net.run(500);
  net.start('n1', 3); // a wiped life under a clock stepped back
  const behind: number[] = [];
  const n1 = net.nodes.get('n1')!;
  for (const peer of ['n2', 'n3']) {
    const ping = encodePing({ seq: 1, incarnation: 3, t0WallMs: 0 });
    for (const m of net.nodes.get(peer)!.receive('n1', MessageType.MembershipPing, ping, net.nowMs, net.nowMs)
      .messages) {
      const step = n1.receive(peer, m.type, m.payload, net.nowMs, net.nowMs);
      if (step.behind !== undefined) behind.push(step.behind);
    }
  }
  assert.deepEqual(behind, [5, 5]);
  assert.equal(net.nodes.get('n2')!.peerIncarnation('n1'), 5, 'n2 still knows the earlier life');
});

test('an asymmetric cut gives asymmetric views', () => {
  const net = new Net();
  net.run(1_000);
  net.blocked.add('n1>n2'); // n2 no longer hears n1 (neither pings nor acks)
  net.run(3_000);
  assert.equal(net.status('n2', 'n1'), 'dead');
  assert.equal(net.status('n1', 'n2'), 'alive'); // n1 still receives n2's pings
});

test('after a healed partition the peer is alive and detection is as fast as before', () => {
  const net = new Net();
  net.run(1_000);
  net.blocked.add('n1>n3').add('n3>n1');
  net.run(3_000);
  assert.equal(net.status('n1', 'n3'), 'dead');
  net.blocked.clear();
  net.run(500);
  assert.equal(net.status('n1', 'n3'), 'alive');
  net.down.add('n3');
  const t = net.nowMs;
  while (net.status('n1', 'n3') !== 'dead') net.run(50);
  assert.ok(net.nowMs - t <= defaultMembershipTiming.deadAfterMs + defaultMembershipTiming.heartbeatIntervalMs);
});

test('malformed payloads and unknown senders are rejected, never thrown', () => {
  const net = new Net();
  const n1 = net.nodes.get('n1')!;
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 64 }),
      fc.constantFrom(MessageType.MembershipPing, MessageType.MembershipAck, MessageType.MembershipStale, 0x9999),
      (bytes, type) => {
        const step = n1.receive('n2', type, bytes, 0, 0);
        assert.ok(step.rejected.length <= 1);
      },
    ),
  );
  assert.equal(
    n1.receive('zz', MessageType.MembershipPing, new Uint8Array(0), 0, 0).rejected[0]!.reason,
    'unknown_peer',
  );
});

test('codec round trips', () => {
  fc.assert(
    fc.property(
      fc.nat({ max: 0xffffffff }),
      fc.nat({ max: Number.MAX_SAFE_INTEGER }),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      (seq, incarnation, t0, t1) => {
        assert.deepEqual(decodePing(encodePing({ seq, incarnation, t0WallMs: t0 })), {
          seq,
          incarnation,
          t0WallMs: t0,
        });
        const ack = { seq, incarnation, t0WallMs: t0, t1WallMs: t1, t2WallMs: t1 };
        assert.deepEqual(decodeAck(encodeAck(ack)), ack);
        assert.deepEqual(decodeStale(encodeStale({ knownIncarnation: incarnation })), {
          knownIncarnation: incarnation,
        });
      },
    ),
  );
});

test('each peer gets an NTP-style clock estimate from ping/ack timestamps', () => {
  const net = new Net();
  net.run(1_000);
  // Delivery is instant, so the estimate is exact: the difference of the two skews, delay 0.
  const est = (viewer: string, peer: string) =>
    net.nodes
      .get(viewer)!
      .view(net.nowMs)
      .find((p) => p.id === peer)!.clock!;
  assert.ok(est('n1', 'n2').sampleCount > 0);
  assert.equal(est('n1', 'n2').offsetMs, 250);
  assert.equal(est('n1', 'n2').delayMs, 0);
  assert.equal(est('n1', 'n3').offsetMs, -100);
  assert.equal(est('n3', 'n2').offsetMs, 350);
});

test('phi is low under regular heartbeats and grows with silence', () => {
  const d = new PhiAccrual({ windowIntervalsMax: 20, minStdDevMs: 50, acceptablePauseMs: 0, firstIntervalMs: 100 });
  for (let t = 0; t <= 2_000; t += 100) d.heartbeat(t);
  assert.ok(d.phi(2_050) < 1);
  let prev = 0;
  for (let t = 2_100; t < 4_000; t += 100) {
    const phi = d.phi(t);
    assert.ok(phi >= prev, `phi decreased at ${t}`);
    prev = phi;
  }
  assert.ok(prev > 8);
});
