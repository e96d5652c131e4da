// NTP-style clock offset estimation between two nodes (RFC 5905 §8 on-wire protocol, §10 clock
// filter). Four timestamps per exchange, each read from the clock of the node where it happens:
//   t0 client send · t1 server receive · t2 server send · t3 client receive
//   offset = ((t1 − t0) + (t2 − t3)) / 2     (server clock minus client clock)
//   delay  = (t3 − t0) − (t2 − t1)           (round trip minus server processing time)
// The true offset lies within offset ± delay/2 whatever the path asymmetry, so the sample with the
// smallest delay has the tightest bound: the estimator keeps the last `samplesMax` samples and
// reports the offset of the minimum-delay one (the NTP clock filter), plus jitter = RMS of the
// other samples' offsets around it.
//
// Invariants: at most samplesMax samples per peer and peersMax peers; samples with a negative
// delay or server processing time, or non-finite timestamps, are rejected and counted (they come
// from the network, so they are never asserted on).

import type { NodeId } from '../env/types.ts';
import { assert } from './assert.ts';
import { LimitError } from './errors.ts';

export interface NtpSample {
  /** Estimated server clock − client clock. */
  readonly offsetMs: number;
  /** Round-trip network delay; the offset error is at most delayMs / 2. */
  readonly delayMs: number;
  /** Client clock when the reply arrived (t3). */
  readonly receivedMs: number;
}

export interface NtpTimestamps {
  t0Ms: number;
  t1Ms: number;
  t2Ms: number;
  t3Ms: number;
}

/** One exchange's offset and delay, or undefined when the timestamps are inconsistent. */
export function ntpSample({ t0Ms, t1Ms, t2Ms, t3Ms }: NtpTimestamps): NtpSample | undefined {
  if (!Number.isFinite(t0Ms) || !Number.isFinite(t1Ms) || !Number.isFinite(t2Ms) || !Number.isFinite(t3Ms)) {
    return undefined;
  }
  const delayMs = t3Ms - t0Ms - (t2Ms - t1Ms);
  if (t2Ms < t1Ms || delayMs < 0) return undefined;
  return { offsetMs: (t1Ms - t0Ms + (t2Ms - t3Ms)) / 2, delayMs, receivedMs: t3Ms };
}

export interface OffsetEstimate {
  /** Offset of the minimum-delay sample in the window. */
  readonly offsetMs: number;
  /** That sample's delay. */
  readonly delayMs: number;
  /** |true offset − offsetMs| ≤ errorBoundMs (= delayMs / 2), assuming neither clock drifted meanwhile. */
  readonly errorBoundMs: number;
  /** RMS of the other samples' offsets around offsetMs (0 with one sample). */
  readonly jitterMs: number;
  readonly sampleCount: number;
}

export const NTP_SAMPLES_MAX_DEFAULT = 8; // NTP's clock filter keeps 8

export class PeerClockEstimator {
  readonly samplesMax: number;
  private readonly samples: NtpSample[] = [];
  private next = 0; // ring position of the oldest sample once full
  private rejected = 0;

  constructor(samplesMax = NTP_SAMPLES_MAX_DEFAULT) {
    assert(Number.isSafeInteger(samplesMax) && samplesMax > 0, `samplesMax must be positive: ${samplesMax}`);
    this.samplesMax = samplesMax;
  }

  get rejectedCount(): number {
    return this.rejected;
  }

  get sampleCount(): number {
    return this.samples.length;
  }

  /** Adds one exchange; returns its sample, or undefined (counted) when the timestamps are inconsistent. */
  add(timestamps: NtpTimestamps): NtpSample | undefined {
    const sample = ntpSample(timestamps);
    if (sample === undefined) {
      this.rejected++;
      return undefined;
    }
    if (this.samples.length < this.samplesMax) this.samples.push(sample);
    else {
      this.samples[this.next] = sample;
      this.next = (this.next + 1) % this.samplesMax;
    }
    return sample;
  }

  estimate(): OffsetEstimate | undefined {
    let best: NtpSample | undefined;
    for (const s of this.samples) if (best === undefined || s.delayMs < best.delayMs) best = s;
    if (best === undefined) return undefined;
    let squares = 0;
    for (const s of this.samples) if (s !== best) squares += (s.offsetMs - best.offsetMs) ** 2;
    const n = this.samples.length;
    return {
      offsetMs: best.offsetMs,
      delayMs: best.delayMs,
      errorBoundMs: best.delayMs / 2,
      jitterMs: n > 1 ? Math.sqrt(squares / (n - 1)) : 0,
      sampleCount: n,
    };
  }
}

export const NTP_PEERS_MAX_DEFAULT = 256;

/** One estimator per peer, with a bound on peers. */
export class ClockOffsetTable {
  private readonly peers = new Map<NodeId, PeerClockEstimator>();
  readonly peersMax: number;
  readonly samplesMax: number;

  constructor(options: { peersMax?: number; samplesMax?: number } = {}) {
    this.peersMax = options.peersMax ?? NTP_PEERS_MAX_DEFAULT;
    this.samplesMax = options.samplesMax ?? NTP_SAMPLES_MAX_DEFAULT;
    assert(Number.isSafeInteger(this.peersMax) && this.peersMax > 0, `peersMax must be positive: ${this.peersMax}`);
  }

  /** Records an exchange with `peer`; LimitError if `peer` is new and peersMax peers are tracked. */
  add(peer: NodeId, timestamps: NtpTimestamps): NtpSample | undefined {
    let est = this.peers.get(peer);
    if (est === undefined) {
      if (this.peers.size >= this.peersMax) {
        throw new LimitError('ntpPeersMax', `tracking ${this.peers.size} peers already, max ${this.peersMax}`);
      }
      est = new PeerClockEstimator(this.samplesMax);
      this.peers.set(peer, est);
    }
    return est.add(timestamps);
  }

  estimate(peer: NodeId): OffsetEstimate | undefined {
    return this.peers.get(peer)?.estimate();
  }

  forget(peer: NodeId): void {
    this.peers.delete(peer);
  }

  peerIds(): NodeId[] {
    return [...this.peers.keys()].sort();
  }
}
