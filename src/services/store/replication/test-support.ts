// Test support for the replication driver's simulator tests (not used in production): one
// simulated node running what a node runs for replication (a MessageRouter on its transport, the
// membership driver whose failure detector is the liveness view, an LsmReplicaStore on its disk,
// a ReplicaNode), and a Harness over a 5-node Simulation that issues requests through the callback
// API, records every op in a History, keeps the acknowledged writes, and checks convergence.

import assert from 'node:assert/strict';
import { HistoryRecorder } from '../../../check/recorder.ts';
import type { Level } from '../../../dynamo/messages.ts';
import { levelCount } from '../../../dynamo/replica.ts';
import type { Ring } from '../../../dynamo/ring.ts';
import type { Dot } from '../../../dynamo/versions.ts';
import type { PaxosOperation, PaxosOutcome } from '../../../dynamo/paxos.ts';
import type { Env, NodeId } from '../../../env/types.ts';
import type { VectorClock } from '../../../lib/clocks/vector.ts';
import { mutationsFrom } from '../../../lib/mutations.ts';
import { MessageRouter } from '../../../lib/router.ts';
import { MembershipDriver } from '../../../membership/driver.ts';
import { defaultMembershipTiming } from '../../../membership/membership.ts';
import { Simulation } from '../../../sim/simulation.ts';
import {
  configuredRing,
  defaultReplicaNodeConfig,
  ReplicaNode,
  type ReplicaNodeConfig,
  type ReplicaOutcome,
} from './driver.ts';
import { LsmReplicaStore } from './lsm-store.ts';

export const NODES = ['n1', 'n2', 'n3', 'n4', 'n5'] as const;
export const CONFIG: ReplicaNodeConfig = {
  ...defaultReplicaNodeConfig,
  replicas: 3,
  tokensPerNode: 8,
  tickMs: 50,
  requestTimeoutMs: 1_000,
  hintReplayIntervalMs: 500,
};
const enc = new TextEncoder();
const dec = new TextDecoder();

/** One simulated node: what a node runs for replication, nothing else. */
export class ReplicationNode {
  readonly router: MessageRouter;
  readonly membership: MembershipDriver;
  readonly store: LsmReplicaStore;
  readonly node: ReplicaNode;

  /** `wiped`: this start follows the operator's wipe (the store marks its Paxos state lost, as service.ts does). */
  constructor(env: Env, config: ReplicaNodeConfig, ring?: Ring, wiped = false) {
    this.router = new MessageRouter(env.metrics, env.transport, env.log, env.clock);
    env.transport.onMessage(this.router.dispatch);
    const peers = NODES.filter((p) => p !== env.nodeId);
    this.membership = new MembershipDriver(env, this.router, peers, defaultMembershipTiming);
    this.store = LsmReplicaStore.open(env, { dir: 'dynamo' });
    if (wiped && this.store.empty && !this.store.paxosAmnesiac) this.store.markPaxosAmnesiac();
    this.node = new ReplicaNode(
      {
        env,
        router: this.router,
        peers,
        membership: this.membership,
        store: this.store,
        paxos: this.store.paxos,
        paxosAmnesiac: this.store.paxosAmnesiac,
        ...(ring === undefined ? {} : { ring }),
      },
      config,
    );
  }

  stop(): void {
    this.node.stop();
    this.membership.stop();
  }
}

export interface Acked {
  readonly key: string;
  readonly value: string;
  readonly dot: Dot;
  readonly level: Level;
}

export class Harness {
  readonly sim: Simulation<ReplicationNode>;
  readonly history = new HistoryRecorder();
  readonly acked: Acked[] = [];
  readonly ring = configuredRing(NODES, CONFIG.tokensPerNode);
  /** Nodes the operator wiped (their later starts are after a wipe). */
  readonly wiped = new Set<NodeId>();
  private nextProcess = 0;

  constructor(
    seed: string,
    options: {
      mutations?: string[];
      loss?: number;
      config?: Partial<ReplicaNodeConfig>;
      ring?: Ring;
      /** SimulationOptions.tripwireCounters ([] where the test sends peers garbage). */
      tripwireCounters?: readonly string[];
    } = {},
  ) {
    this.sim = new Simulation<ReplicationNode>({
      seed,
      nodes: [...NODES],
      program: (env) =>
        new ReplicationNode(env, { ...CONFIG, ...options.config }, options.ring, this.wiped.has(env.nodeId)),
      network: { lossProbability: options.loss ?? 0, duplicateProbability: options.loss ?? 0 },
      ...(options.mutations === undefined ? {} : { mutations: mutationsFrom(options.mutations) }),
      ...(options.tripwireCounters === undefined ? {} : { tripwireCounters: options.tripwireCounters }),
    });
  }

  node(id: NodeId): ReplicaNode {
    const n = this.sim.instance(id);
    assert.ok(n !== undefined, `${id} is down`);
    return n.node;
  }

  /** The key's preference list (every node builds the same ring). */
  replicasOf(key: string): readonly NodeId[] {
    return this.ring.locate(enc.encode(key), CONFIG.replicas).replicas;
  }

  /** Runs until every live node's failure detector calls every other live node alive (or dead). */
  settleViews(withinMs = 10_000): void {
    const ok = this.sim.runUntilCondition((sim) => {
      for (const a of NODES) {
        const na = sim.instance(a);
        if (na === undefined) continue;
        for (const v of na.membership.view()) {
          const reachable = sim.instance(v.id) !== undefined && !sim.network.linkBlocked(a, v.id);
          if (reachable !== (v.status === 'alive')) return false;
        }
      }
      return true;
    }, withinMs);
    assert.ok(ok, 'failure detectors did not settle');
  }

  /** Issues a request now; the outcome lands in the returned box once answered. */
  op(
    at: NodeId,
    kind: 'get' | 'put',
    key: string,
    level: Level,
    value?: string,
    context?: VectorClock,
  ): { outcome?: ReplicaOutcome } {
    const box: { outcome?: ReplicaOutcome } = {};
    const process = this.nextProcess++;
    const timeNs = () => Math.round(this.sim.nowMs * 1e6);
    this.history.invoke(process, kind, value ?? null, { key, timeNs: timeNs() });
    // R + W > N: a read that began after a write's ack must see it (acks count natural replicas only).
    const mustSee = this.acked.filter(
      (w) =>
        w.key === key &&
        levelCount(w.level, CONFIG.replicas)! + (levelCount(level, CONFIG.replicas) ?? 0) > CONFIG.replicas,
    );
    const done = (o: ReplicaOutcome) => {
      box.outcome = o;
      if (o.ok) {
        const values = o.state.siblings.map((s) => (s.value === null ? null : dec.decode(s.value)));
        if (kind === 'get') {
          for (const w of mustSee) {
            assert.ok(
              o.state.context.get(w.dot.replica) >= w.dot.counter,
              `a ${String(level)} read of ${key} at ${at} missed ${w.value}, acknowledged at ${String(w.level)} before it began`,
            );
          }
        }
        this.history.ok(process, kind === 'get' ? values : (value ?? null), { key, timeNs: timeNs() });
        if (kind === 'put' && value !== undefined) {
          const s = o.state.siblings.find((x) => x.value !== null && dec.decode(x.value) === value);
          assert.ok(s !== undefined, `acked write ${value} is not in the coordinator's resulting state`);
          this.acked.push({ key, value, dot: s.dot, level });
        }
      } else if (o.error.definite)
        this.history.fail(process, value ?? null, { key, timeNs: timeNs(), error: o.error.code });
      else this.history.info(process, value ?? null, { key, timeNs: timeNs(), error: o.error.code });
    };
    const node = this.node(at);
    const bytes = enc.encode(key);
    if (kind === 'get') node.submit({ kind: 'get', key: bytes, level }, done);
    else
      node.submit(
        { kind: 'put', key: bytes, value: enc.encode(value!), level, ...(context === undefined ? {} : { context }) },
        done,
      );
    return box;
  }

  /** The operator's wipe: `id` stops, its disk is emptied, and it starts again (amnesiac). */
  wipe(id: NodeId): void {
    this.sim.crash(id);
    this.sim.diskStore(id).wipe();
    this.wiped.add(id);
    this.sim.restart(id);
  }

  /** A SERIAL (Paxos) operation on `key` through `at`; its outcome lands in the returned box. */
  serial(at: NodeId, key: string, operation: PaxosOperation): { outcome?: PaxosOutcome } {
    const box: { outcome?: PaxosOutcome } = {};
    this.node(at).serial(enc.encode(key), operation, (o) => {
      box.outcome = o;
    });
    return box;
  }

  /** Runs until `box` is answered. */
  await(box: { outcome?: ReplicaOutcome }, withinMs = 5_000): ReplicaOutcome {
    assert.ok(
      this.sim.runUntilCondition(() => box.outcome !== undefined, withinMs),
      'no answer',
    );
    return box.outcome!;
  }

  hintsHeld(): number {
    let n = 0;
    for (const id of NODES) n += this.sim.instance(id)?.store.hintCount ?? 0;
    return n;
  }

  inflight(): number {
    let n = 0;
    for (const id of NODES) n += this.sim.instance(id)?.node.replica.inflightOps ?? 0;
    return n;
  }

  /** Every key read at ALL (read repair) after hints drained, then every replica compared. */
  convergeAndCheck(keys: readonly string[]): void {
    assert.ok(
      this.sim.runUntilCondition(() => this.hintsHeld() === 0, 20_000),
      `hints left: ${this.hintsHeld()}`,
    );
    for (const key of keys) {
      const at = this.replicasOf(key)[0]!;
      let result: ReplicaOutcome | undefined;
      for (let attempt = 0; attempt < 5 && result?.ok !== true; attempt++) {
        result = this.await(this.op(at, 'get', key, 'ALL'));
      }
      assert.ok(result?.ok, `read of ${key} at ALL failed: ${result?.ok === false ? result.error.message : ''}`);
    }
    assert.ok(
      this.sim.runUntilCondition(() => this.inflight() === 0 && this.hintsHeld() === 0, 10_000),
      'repairs did not settle',
    );
    this.sim.runFor(500); // read repairs' replicate messages land
    for (const key of keys) {
      const replicas = this.replicasOf(key);
      const states = replicas.map((r) => this.node(r).peek(enc.encode(key)));
      for (let i = 1; i < states.length; i++) {
        assert.ok(states[i]!.equals(states[0]!), `replicas ${replicas[0]} and ${replicas[i]} of ${key} differ`);
      }
      const final = states[0]!;
      for (const w of this.acked.filter((a) => a.key === key)) {
        const kept = final.siblings.some(
          (s) =>
            s.dot.replica === w.dot.replica &&
            s.dot.counter === w.dot.counter &&
            s.value !== null &&
            dec.decode(s.value) === w.value,
        );
        const superseded = final.siblings.some((s) => s.past.get(w.dot.replica) >= w.dot.counter);
        assert.ok(kept || superseded, `acknowledged write ${w.value} of ${key} (${w.level}) is lost`);
      }
    }
  }
}

export const keysFor = (n: number, prefix = 'key') => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
