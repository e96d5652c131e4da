// Membership and failure detection: the first protocol, and a pure core.
//
// Each node knows a static seed list (every other node). Every heartbeat period it pings each
// peer; a peer answers with an ack. Any ping or ack from a peer counts as a heartbeat from it and
// feeds that peer's phi-accrual detector. Each node keeps its own view of every peer:
//   unknown  never heard from (yet)
//   alive    heard from recently
//   suspect  phi ≥ suspectPhi: silence is unusual, but within the dead bound
//   dead     no heartbeat for deadAfterMs (a hard bound, so tests and operators can rely on it)
// Incarnations: a node's incarnation is larger on every start (the driver persists it), so a
// message from a previous life (delayed in the network) is recognised as stale and ignored, and a
// restarted peer is recognised as such: its detector history is reset and it is alive again.
// A ping from an incarnation below the one heard from that peer is answered with Stale ("I know
// you at K"), at most once per heartbeat period per peer. The pinger's current life ignores it
// unless K is above its own incarnation: then this life started below an earlier one (its data
// directory was wiped, so no file said what earlier lives used, and the wall clock it fell back on
// had been stepped back; swarm seeds 418, 523, 551). Every peer drops that life's pings and the
// Raft leaders its forwarded requests, so it cannot rejoin; the step reports `behind: K` and the
// driver makes the next life start above K (SWIM's refutation, as a restart: an incarnation is
// fixed for a process life because every service keys request ids by it).
//
// Pure: no clocks or timers. The driver passes monotonic time (for detection) and wall time (for
// the NTP-style offset estimate, which is what wall time is for) into every call, and sends the
// messages this core returns.

import { assert } from '../lib/assert.ts';
import type { ProtocolError } from '../lib/errors.ts';
import { MessageType } from '../lib/message-types.ts';
import { type Ack, decodeAck, decodePing, decodeStale, encodeAck, encodePing, encodeStale } from './codec.ts';
import { type OffsetEstimate, PeerClockEstimator } from '../lib/ntp.ts';
import { PhiAccrual } from './phi.ts';
import { limits } from '../lib/limits.ts';

export type NodeId = string;

/** A Stale notice further ahead than this of the node's own clock and incarnation is ignored. */
const STALE_NOTICE_AHEAD_MS_MAX = 86_400_000;
export type PeerStatus = 'unknown' | 'alive' | 'suspect' | 'dead';

export interface MembershipConfig {
  readonly self: NodeId;
  readonly peers: readonly NodeId[];
  /** Strictly larger on every start of this node. */
  readonly incarnation: number;
  readonly heartbeatIntervalMs: number;
  readonly suspectPhi: number;
  readonly deadAfterMs: number;
  readonly phiWindowIntervalsMax: number;
  readonly acceptablePauseMs: number;
}

export const defaultMembershipTiming = {
  heartbeatIntervalMs: 200,
  suspectPhi: 8,
  deadAfterMs: 2_000,
  phiWindowIntervalsMax: limits.membershipPhiWindowIntervalsMax,
  acceptablePauseMs: 200,
} as const;

export interface Outbound {
  readonly to: NodeId;
  readonly type: number;
  readonly payload: Uint8Array;
}

export interface StatusChange {
  readonly peer: NodeId;
  readonly from: PeerStatus;
  readonly to: PeerStatus;
  readonly incarnation: number;
  /** The peer came back with a new incarnation (it restarted). */
  readonly restarted: boolean;
}

export interface PeerView {
  readonly id: NodeId;
  readonly status: PeerStatus;
  readonly incarnation: number;
  readonly phi: number;
  /** Monotonic ms since the last heartbeat, or undefined if never heard. */
  readonly silenceMs: number | undefined;
  /** NTP-style estimate of the peer's clock (min-delay sample of the last few). */
  readonly clock: OffsetEstimate | undefined;
}

export interface Step {
  readonly messages: Outbound[];
  readonly changes: StatusChange[];
  /** Malformed or stale input, for the driver to count; never thrown. */
  readonly rejected: Array<{ from: NodeId; reason: string }>;
  /** A peer knows this node at an incarnation above its own (see the header): this life is behind. */
  behind?: number;
}

interface PeerState {
  status: PeerStatus;
  incarnation: number;
  readonly detector: PhiAccrual;
  clock: PeerClockEstimator;
  /** When this node last told the peer that its ping was stale (bounds the answers). */
  lastStaleNoticeMs: number | undefined;
}

export class Membership {
  private readonly peers = new Map<NodeId, PeerState>();
  /** Grows by one at every peer status change (the peers themselves are fixed at construction). */
  private statusChanges = 0;
  private readonly startedMs: number;
  private lastHeartbeatMs: number | undefined;
  private seq = 0;

  constructor(
    readonly config: MembershipConfig,
    nowMs: number,
  ) {
    assert(!config.peers.includes(config.self), 'a node is not its own peer');
    assert(config.deadAfterMs > config.heartbeatIntervalMs, 'deadAfterMs must exceed the heartbeat period');
    this.startedMs = nowMs;
    for (const id of config.peers) {
      this.peers.set(id, {
        status: 'unknown',
        incarnation: 0,
        detector: new PhiAccrual({
          windowIntervalsMax: config.phiWindowIntervalsMax,
          minStdDevMs: config.heartbeatIntervalMs / 2,
          acceptablePauseMs: config.acceptablePauseMs,
          firstIntervalMs: config.heartbeatIntervalMs,
        }),
        clock: new PeerClockEstimator(),
        lastStaleNoticeMs: undefined,
      });
    }
  }

  /** Called by the driver on a timer; sends pings when a heartbeat period has passed. */
  tick(nowMs: number, wallMs: number): Step {
    const step: Step = { messages: [], changes: [], rejected: [] };
    if (this.lastHeartbeatMs === undefined || nowMs - this.lastHeartbeatMs >= this.config.heartbeatIntervalMs) {
      this.lastHeartbeatMs = nowMs;
      this.seq = (this.seq + 1) >>> 0;
      const payload = encodePing({ seq: this.seq, incarnation: this.config.incarnation, t0WallMs: wallMs });
      for (const id of this.peers.keys()) step.messages.push({ to: id, type: MessageType.MembershipPing, payload });
    }
    this.reassess(nowMs, step);
    return step;
  }

  receive(from: NodeId, type: number, payload: Uint8Array, nowMs: number, wallMs: number): Step {
    const step: Step = { messages: [], changes: [], rejected: [] };
    const peer = this.peers.get(from);
    if (peer === undefined) {
      step.rejected.push({ from, reason: 'unknown_peer' });
      return step;
    }
    if (type === MessageType.MembershipPing) {
      const ping = decodePing(payload);
      if (isError(ping)) return reject(step, from, ping.code);
      if (!this.heard(peer, from, ping.incarnation, nowMs, step)) {
        const last = peer.lastStaleNoticeMs;
        if (last === undefined || nowMs - last >= this.config.heartbeatIntervalMs) {
          peer.lastStaleNoticeMs = nowMs;
          const payload = encodeStale({ knownIncarnation: peer.incarnation });
          step.messages.push({ to: from, type: MessageType.MembershipStale, payload });
        }
        return reject(step, from, 'stale_incarnation');
      }
      const ack: Ack = {
        seq: ping.seq,
        incarnation: this.config.incarnation,
        t0WallMs: ping.t0WallMs,
        t1WallMs: wallMs,
        t2WallMs: wallMs,
      };
      step.messages.push({ to: from, type: MessageType.MembershipAck, payload: encodeAck(ack) });
    } else if (type === MessageType.MembershipAck) {
      const ack = decodeAck(payload);
      if (isError(ack)) return reject(step, from, ack.code);
      if (!this.heard(peer, from, ack.incarnation, nowMs, step)) return reject(step, from, 'stale_incarnation');
      peer.clock.add({ t0Ms: ack.t0WallMs, t1Ms: ack.t1WallMs, t2Ms: ack.t2WallMs, t3Ms: wallMs });
    } else if (type === MessageType.MembershipStale) {
      const stale = decodeStale(payload);
      if (isError(stale)) return reject(step, from, stale.code);
      // Equal is this very life, heard by the peer: the notice answered a delayed ping of an
      // earlier life of this node, and says nothing about this one.
      if (stale.knownIncarnation <= this.config.incarnation) return reject(step, from, 'stale_notice_old');
      // Incarnations follow the wall clock (driver.ts): one a day beyond this node's clock is no
      // earlier life's but a corrupted number, and would make every later life unpingable.
      if (stale.knownIncarnation > Math.max(this.config.incarnation, wallMs) + STALE_NOTICE_AHEAD_MS_MAX)
        return reject(step, from, 'stale_notice_implausible');
      // One peer suffices: whatever made its view higher (an earlier life, or a corrupted ping it
      // believed), it drops every ping of this life and calls this node dead for as long as it
      // lives. Only a life above its view is heard again.
      step.behind = stale.knownIncarnation;
      return step;
    } else {
      return reject(step, from, 'unknown_message_type');
    }
    this.reassess(nowMs, step);
    return step;
  }

  /**
   * Changes whenever any peer's status changes: a reader that keeps a set of live peers rebuilds it
   * only then (view() computes phi and a clock estimate per peer: too dear per request).
   */
  get statusVersion(): number {
    return this.statusChanges;
  }

  view(nowMs: number): PeerView[] {
    return [...this.peers.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([id, p]) => {
        const last = p.detector.lastHeardMs;
        return {
          id,
          status: p.status,
          incarnation: p.incarnation,
          phi: p.detector.phi(nowMs),
          silenceMs: last === undefined ? undefined : nowMs - last,
          clock: p.clock.estimate(),
        };
      });
  }

  status(peer: NodeId): PeerStatus | undefined {
    return this.peers.get(peer)?.status;
  }

  /** The highest incarnation heard from `peer` (0 = never heard); cheap, unlike view(). */
  peerIncarnation(peer: NodeId): number | undefined {
    return this.peers.get(peer)?.incarnation;
  }

  /** Returns false when the message is from an older incarnation than one already seen. */
  private heard(peer: PeerState, from: NodeId, incarnation: number, nowMs: number, step: Step): boolean {
    if (incarnation < peer.incarnation) return false;
    if (incarnation > peer.incarnation) {
      const restarted = peer.incarnation !== 0;
      peer.incarnation = incarnation;
      peer.detector.reset();
      peer.clock = new PeerClockEstimator();
      if (restarted || peer.status !== 'alive') {
        step.changes.push({ peer: from, from: peer.status, to: 'alive', incarnation, restarted });
        peer.status = 'alive';
        this.statusChanges++;
      }
    }
    const last = peer.detector.lastHeardMs;
    // Back from a silence long enough to be declared dead (a healed partition): forget the old
    // intervals, or the one huge gap would inflate the mean and slow every later detection.
    if (last !== undefined && nowMs - last >= this.config.deadAfterMs) peer.detector.reset();
    peer.detector.heartbeat(nowMs);
    return true;
  }

  private reassess(nowMs: number, step: Step): void {
    for (const [id, p] of this.peers) {
      const last = p.detector.lastHeardMs;
      const silence = last === undefined ? nowMs - this.startedMs : nowMs - last;
      let next: PeerStatus;
      if (silence >= this.config.deadAfterMs) next = 'dead';
      else if (last === undefined) next = 'unknown';
      else if (p.detector.phi(nowMs) >= this.config.suspectPhi) next = 'suspect';
      else next = 'alive';
      if (next !== p.status) {
        step.changes.push({ peer: id, from: p.status, to: next, incarnation: p.incarnation, restarted: false });
        p.status = next;
        this.statusChanges++;
      }
    }
  }
}

function isError<T>(value: T | ProtocolError): value is ProtocolError {
  return value instanceof Error;
}

function reject(step: Step, from: NodeId, reason: string): Step {
  step.rejected.push({ from, reason });
  return step;
}
