// The store's token ring as a node sees it: the ring namespace of the metadata group
// (src/dynamo/ring-namespace.ts), bootstrapped once per cluster and changed only by committed
// compare-and-set proposals. Every node reads its own replica of the ring (applied state); a
// change reaches each node when its metadata replica applies it.
//
// Bootstrap: while the ring is empty, every node proposes the same initial ring — every node of
// the static seed list (this node and its peers), each with `tokensPerNode` tokens drawn from a
// generator seeded by the node's id, in id order — as a CAS of version 0. The first to commit wins;
// the others answer `conflict` and change nothing, and since every proposal is the same ring the
// outcome does not depend on who won. A node retries every `retryMs` until it sees a ring (no
// leader yet, a partition): the ring exists as soon as the metadata group can commit.
//
// Keyspace settings (ring.ts): the initial ring carries this node's (N, the layout of collections),
// so whoever commits first records the cluster's (nodes configured alike propose the same ring; a
// node configured otherwise then refuses to serve, or takes the layout when its own is only a
// default: keyspace-settings.ts). A ring written before settings existed (an older build
// bootstrapped it) is given this node's by one more compare-and-set, retried the same way until
// the ring has some, a node whose layout is only a default waiting TENTATIVE_ATTEMPTS attempts
// first; from then on they never change.
//
// Later changes (an operator's join, decommission, completion of a move) are proposals derived from
// the ring this node has applied; a conflict means another change committed first: re-derive and
// retry, or give up (the caller decides).
//
// Current: a node that restarts applies only what its metadata replica knew committed, and learns
// the rest from the leader: for a moment it holds an older ring (the store's swarm workload saw a
// node back from a crash coordinate a QUORUM read with the ring from before a join, ask the
// replicas of then, and miss a write the new ones acknowledged). `current` turns true once a read
// barrier on the metadata group (RaftDriver.read: local state reflects every commit before it)
// passed after start, asked again every 100 ms until it does; the replica coordinates only from
// then (service.ts; its replica duties go on with the ring it has: a node ignoring moves' pages
// while cut off from the leader held a decommission past the run).

import type { Clock, Logger, Timers } from '../../env/types.ts';
import { BaristaError } from '../../lib/errors.ts';
import { SeededRng } from '../../lib/rng.ts';
import type { RaftDriver } from '../../raft/driver.ts';
import { decodeRsmResult, encodeEnvelope } from '../../rsm/envelope.ts';
import { NamespaceId } from '../../rsm/namespace.ts';
import { chooseTokens, type KeyspaceSettings, Ring } from '../../dynamo/ring.ts';
import {
  decodeRingCasResult,
  encodeRingCas,
  type RingCasResult,
  type RingStateMachine,
} from '../../dynamo/ring-namespace.ts';

export interface RingKeeperOptions {
  /** Every node of the initial cluster (this node and its peers). */
  readonly nodes: readonly string[];
  readonly tokensPerNode: number;
  /** The planted `store-ring-without-settings`: bootstrap as a build before settings did. */
  readonly withoutSettings?: boolean;
  /** The planted `store-ring-stale-after-restart`: no read barrier, the ring is taken as current at once. */
  readonly withoutBarrier?: boolean;
  /** Between bootstrap attempts while the ring is empty or has no settings. */
  readonly retryMs: number;
}

/** The initial ring every node of a cluster computes alike (with `settings`: what this node is configured with). */
export function initialRing(nodes: readonly string[], tokensPerNode: number, settings?: KeyspaceSettings): Ring {
  let ring = Ring.empty();
  for (const id of [...nodes].sort())
    ring = ring.bootstrap(id, chooseTokens(new SeededRng(`ring/${id}`), tokensPerNode, ring));
  return settings === undefined ? ring : ring.withSettings(settings);
}

/** Between read-barrier attempts while the ring is not known current (no leader yet, a partition). */
const BARRIER_RETRY_MS = 100;

/** Attempts a node with tentative settings lets pass before it gives an older build's ring its own. */
const TENTATIVE_ATTEMPTS = 10;

export class RingKeeper {
  private timer: { cancel(): void } | undefined;
  private barrierTimer: { cancel(): void } | undefined;
  private stopped = false;
  private current_ = false;
  private readonly currentListeners: Array<() => void> = [];

  constructor(
    private readonly driver: RaftDriver,
    private readonly sm: RingStateMachine,
    private readonly env: { readonly clock: Clock; readonly timers: Timers; readonly log: Logger },
    private readonly options: RingKeeperOptions,
  ) {}

  get ring(): Ring {
    return this.sm.ring;
  }

  /** Whether a read barrier on the metadata group passed since start: the ring held is not older than any committed before it. */
  get current(): boolean {
    return this.current_;
  }

  /** Called once, when the ring becomes current (see the header); at once if it is already. */
  onCurrent(listener: () => void): void {
    if (this.current_) listener();
    else this.currentListeners.push(listener);
  }

  /** Called with each ring this node applies (after bootstrap and every change). */
  onChange(listener: (ring: Ring) => void): void {
    this.sm.ringNamespace.onChange(listener);
  }

  /**
   * Proposes the initial ring until one exists, and `settings` (this node's keyspace settings)
   * until the ring has some (see the header). With `tentative` (a layout of collections that is
   * only the default for a store holding none yet), a ring an older build wrote is given them
   * only after TENTATIVE_ATTEMPTS attempts, so that nodes whose stores hold data decide first.
   */
  start(settings: KeyspaceSettings, tentative = false): void {
    if (this.options.withoutBarrier === true) this.markCurrent();
    else this.confirmCurrent();
    let waited = 0;
    const attempt = (): void => {
      this.timer = undefined;
      const ring = this.ring;
      if (this.stopped || (ring.version > 0 && ring.settings !== undefined)) return;
      if (ring.version > 0 && tentative && waited++ < TENTATIVE_ATTEMPTS) {
        this.timer = this.env.timers.after(this.options.retryMs, attempt);
        return;
      }
      const next =
        ring.version > 0
          ? ring.withSettings(settings)
          : initialRing(
              this.options.nodes,
              this.options.tokensPerNode,
              this.options.withoutSettings === true ? undefined : settings,
            );
      this.propose(ring.version, next, (o) => {
        if (!o.ok && o.error.code !== 'not_leader' && o.error.code !== 'no_leader')
          this.env.log.debug({ err: o.error.message }, 'store: ring bootstrap attempt failed');
      });
      this.timer = this.env.timers.after(this.options.retryMs, attempt);
    };
    attempt();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.barrierTimer?.cancel();
  }

  /** The read barrier of `current`, asked until it passes (no leader, a partition: retryMs later). */
  private confirmCurrent(): void {
    const attempt = (): void => {
      this.barrierTimer = undefined;
      if (this.stopped || this.current_) return;
      this.driver.read((error) => {
        if (this.stopped || this.current_) return;
        if (error !== undefined) {
          // Sooner than a bootstrap attempt: the node serves nothing until this passes.
          this.barrierTimer = this.env.timers.after(Math.min(this.options.retryMs, BARRIER_RETRY_MS), attempt);
          return;
        }
        this.markCurrent();
      });
    };
    attempt();
  }

  private markCurrent(): void {
    this.current_ = true;
    for (const listener of this.currentListeners) listener();
  }

  /** One compare-and-set of the ring: `next` replaces the ring at `baseVersion`, or nothing changes. */
  propose(
    baseVersion: number,
    next: Ring,
    done: (o: { ok: true; result: RingCasResult } | { ok: false; error: BaristaError }) => void,
  ): void {
    const envelope = encodeEnvelope({
      stampMs: this.env.clock.wallMs(),
      term: 0,
      namespace: NamespaceId.ring,
      sessionId: 0,
      seq: 0,
      payload: encodeRingCas(baseVersion, next),
    });
    this.driver.submit(envelope, (o) => {
      if (!o.ok) return done(o);
      const result = decodeRsmResult(o.result);
      if (result instanceof BaristaError) return done({ ok: false, error: result });
      if (result.status === 'refused')
        return done({ ok: false, error: new BaristaError(result.code, `ring proposal refused: ${result.code}`) });
      const cas = decodeRingCasResult(result.payload);
      done(cas instanceof BaristaError ? { ok: false, error: cas } : { ok: true, result: cas });
    });
  }
}
