// Runs the membership core over an Env: persists the incarnation, ticks on a timer, sends what the
// core returns, and turns its outputs into metrics and log lines. Identical in the simulator and
// in a real node; it sees only the Env.
//
// Incarnation file: `membership/incarnation` holds the last incarnation as a decimal string. On
// start we read it, add one, and make the new value durable (writeFileAtomic: temp, sync,
// rename, syncDir) before sending anything, so a restarted node is always newer than every message of its past.

import { mkdirpDurable, readWholeFile, writeFileAtomic } from '../env/disk-io.ts';
import type { Env, Gauge } from '../env/types.ts';
import type { MessageRouter } from '../lib/router.ts';
import { MessageType } from '../lib/message-types.ts';
import { Membership, type MembershipConfig, type PeerStatus, type PeerView, type Step } from './membership.ts';

export type MembershipTiming = Omit<MembershipConfig, 'self' | 'peers' | 'incarnation'>;

const STATUS_CODE: Record<PeerStatus, number> = { unknown: 0, alive: 1, suspect: 2, dead: 3 };
const INCARNATION_DIR = 'membership';
const INCARNATION_FILE = 'membership/incarnation';
/** The core is ticked this many times per heartbeat period, so detection lags by at most 1/4 period. */
const TICKS_PER_HEARTBEAT = 4;

/** Reads of the incarnation file until two agree (a transient read error is not believed). */
export const incarnationReadAttemptsMax = 16;

export function bumpIncarnation(env: Env): number {
  const disk = env.disk;
  // Durable directory creation: the simulator found restarts reusing incarnation 1 when only the
  // file, not the directory entry holding it, had been synced.
  mkdirpDurable(disk, INCARNATION_DIR);
  let previous = 0;
  if (disk.exists(INCARNATION_FILE)) {
    // Read until two reads agree: one flipped bit in one read can turn "2" into "0", and a
    // smaller incarnation would make this node's new life look like an old one (the simulator's
    // read bit-flips found it). At most incarnationReadAttemptsMax reads.
    const readText = (): string => new TextDecoder().decode(readWholeFile(disk, INCARNATION_FILE).subarray(0, 32));
    let text = readText();
    let agreed = false;
    for (let attempt = 1; attempt < incarnationReadAttemptsMax && !agreed; attempt++) {
      const again = readText();
      agreed = again === text;
      text = again;
    }
    const parsed = Number(text.trim());
    if (agreed && Number.isSafeInteger(parsed) && parsed >= 0) {
      previous = parsed;
    } else {
      // A torn or foreign file, or reads that never agreed: wall-clock seconds are still above any incarnation we handed out
      // (unless the clock went far back), which beats refusing to start.
      previous = Math.floor(env.clock.wallMs() / 1000);
      env.log.warn({ text, previous }, 'membership: unreadable incarnation file');
    }
  }
  const next = previous + 1;
  writeFileAtomic(disk, INCARNATION_FILE, [new TextEncoder().encode(String(next))]);
  return next;
}

export class MembershipDriver {
  readonly core: Membership;
  readonly incarnation: number;
  private readonly gauges = new Map<string, { status: Gauge; phi: Gauge; offset: Gauge; delay: Gauge }>();
  private readonly timer;

  constructor(
    private readonly env: Env,
    router: MessageRouter,
    peers: readonly string[],
    timing: MembershipTiming,
  ) {
    this.incarnation = bumpIncarnation(env);
    this.core = new Membership(
      { self: env.nodeId, peers, incarnation: this.incarnation, ...timing },
      env.clock.monotonicMs(),
    );
    const m = env.metrics;
    for (const peer of peers) {
      const labels = { peer };
      this.gauges.set(peer, {
        status: m.gauge(
          'membership_peer_status',
          'Peer status as this node sees it: 0 unknown, 1 alive, 2 suspect, 3 dead',
          labels,
        ),
        phi: m.gauge('membership_peer_phi', 'Phi-accrual suspicion level of the peer', labels),
        offset: m.gauge('clock_offset_ms', "NTP-style estimate of the peer's wall clock minus ours", labels),
        delay: m.gauge('clock_round_trip_delay_ms', 'NTP-style round-trip delay to the peer', labels),
      });
    }
    env.metrics.gauge('membership_incarnation', 'This node incarnation (grows on every start)').set(this.incarnation);
    router.register([MessageType.MembershipPing, MessageType.MembershipAck], (m) =>
      this.apply(this.core.receive(m.from, m.type, m.payload, env.clock.monotonicMs(), env.clock.wallMs())),
    );
    this.timer = env.timers.every(Math.max(1, Math.floor(timing.heartbeatIntervalMs / TICKS_PER_HEARTBEAT)), () => {
      this.apply(this.core.tick(env.clock.monotonicMs(), env.clock.wallMs()));
      this.updateGauges();
    });
    env.log.info({ incarnation: this.incarnation, peers }, 'membership: started');
  }

  view(): PeerView[] {
    return this.core.view(this.env.clock.monotonicMs());
  }

  stop(): void {
    this.timer.cancel();
  }

  private apply(step: Step): void {
    for (const m of step.messages) this.env.transport.send(m.to, m.type, m.payload);
    for (const c of step.changes) {
      this.env.metrics.counter('membership_status_changes_total', 'Peer status transitions', { to: c.to }).inc();
      this.env.log.info(
        { peer: c.peer, from: c.from, to: c.to, incarnation: c.incarnation, restarted: c.restarted },
        'membership: peer status changed',
      );
    }
    for (const r of step.rejected) {
      this.env.metrics.counter('membership_rejected_total', 'Membership messages rejected', { reason: r.reason }).inc();
    }
  }

  private updateGauges(): void {
    for (const v of this.core.view(this.env.clock.monotonicMs())) {
      const g = this.gauges.get(v.id);
      if (g === undefined) continue;
      g.status.set(STATUS_CODE[v.status]);
      g.phi.set(Math.round(v.phi * 100) / 100);
      if (v.clock !== undefined) {
        g.offset.set(v.clock.offsetMs);
        g.delay.set(v.clock.delayMs);
      }
    }
  }
}
