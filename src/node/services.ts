// One barista node's services, assembled over an Env. This function is the node "program": the
// real process (src/node/main.ts) and the simulator (`barista sim`, test/sim) both build it, so
// what the simulator proves is what runs. Services so far:
//   membership       heartbeats and failure detection (src/membership)
//   Raft groups      (raft-groups.ts) one WAL per group under raft/<group>/:
//     metadata       cluster-level state (src/metadata/cluster-state.ts; its configuration only, so far)
//     kv             the KV keyspace with exactly-once sessions (src/metadata/kv.ts), served by KvService
// Start-up first checks the node's durable identity (src/node/identity.ts, through RaftGroups): a
// node whose data is gone refuses to start as a voter unless told to rejoin, and then rejoins
// every group as a learner.

import type { Env } from '../env/types.ts';
import { MessageRouter } from '../lib/router.ts';
import { MembershipDriver, type MembershipTiming } from '../membership/driver.ts';
import type { PeerView } from '../membership/membership.ts';
import { defaultKvOptions, KvStateMachine } from '../metadata/kv.ts';
import { KvService } from '../metadata/kv-service.ts';
import { ClusterStateMachine } from '../metadata/cluster-state.ts';
import { LeaderLogClock } from '../metadata/log-clock.ts';
import type { defaultRaftTiming, RaftDriver } from '../raft/driver.ts';
import type { StartDecision } from './identity.ts';
import { METADATA_GROUP, RaftGroups } from './raft-groups.ts';

/** The node's Raft groups, metadata first (raft-groups.ts). */
export const RAFT_GROUPS: readonly string[] = [METADATA_GROUP, 'kv'];

/** The Raft driver's timing and bounds, as configured (same keys as defaultRaftTiming). */
export type RaftTiming = { -readonly [K in keyof typeof defaultRaftTiming]: number } & {
  readOnly?: 'safe' | 'lease';
};

export interface ServicesConfig {
  readonly clusterId: string;
  readonly peers: readonly string[];
  readonly membership: MembershipTiming;
  readonly raft: RaftTiming;
  /** 'new' (default): an empty data directory bootstraps the cluster; 'existing': it is refused. */
  readonly initialClusterState?: 'new' | 'existing';
  /** Rejoin as a learner when the data directory is empty (see identity.ts). */
  readonly rejoin?: boolean;
  /** For messages only. */
  readonly dataDir?: string;
}

export interface NodeStatus {
  readonly nodeId: string;
  readonly clusterId: string;
  readonly incarnation: number;
  readonly peers: readonly PeerView[];
  /** The KV keyspace's group (the one KV clients reach). */
  readonly raft: ReturnType<RaftDriver['status']>;
  /** Every Raft group on this node, by group id. */
  readonly groups: ReturnType<RaftGroups['status']>;
  /** How this start began (identity.ts): bootstrap, restart, adopt or rejoin. */
  readonly start: StartDecision['kind'];
}

export class NodeServices {
  readonly router: MessageRouter;
  readonly membership: MembershipDriver;
  readonly groups: RaftGroups;
  readonly kvState: KvStateMachine;
  /** The KV keyspace's group. */
  readonly raft: RaftDriver;
  readonly kv: KvService;
  readonly start: StartDecision;

  constructor(
    readonly env: Env,
    readonly config: ServicesConfig,
  ) {
    this.router = new MessageRouter(env.metrics, env.transport, env.log.child({ component: 'router' }), env.clock);
    // Recovery first: a corrupt WAL throws CorruptionError before anything has started (no timer
    // may keep a failed node alive, and no peer may see it as alive). Identity before the WALs.
    this.groups = new RaftGroups(env, this.router, {
      groups: RAFT_GROUPS,
      clusterId: config.clusterId,
      peers: config.peers,
      raft: config.raft,
      initialClusterState: config.initialClusterState ?? 'new',
      rejoin: config.rejoin ?? false,
      dataDir: config.dataDir ?? '(data directory)',
    });
    this.start = this.groups.start;
    if (this.start.kind !== 'restart')
      env.log.warn({ start: this.start.kind, state: this.start.identity.state }, 'node: identity decided');
    this.kvState = new KvStateMachine({
      ...defaultKvOptions,
      skipSessionDedup: env.mutations.has('kv-skip-session-dedup'),
    });
    let membership: MembershipDriver | undefined;
    try {
      membership = new MembershipDriver(env, this.router, config.peers, config.membership);
      const kvState = this.kvState;
      const logClock = new LeaderLogClock(env.clock, () => kvState.logTimeMs);
      this.groups.open(METADATA_GROUP, {
        stateMachine: new ClusterStateMachine(),
        incarnation: membership.incarnation,
      });
      this.raft = this.groups.open('kv', {
        stateMachine: this.kvState,
        incarnation: membership.incarnation,
        stampProposal: (command, term) => logClock.stamp(command, term),
      });
    } catch (err) {
      membership?.stop();
      this.groups.stop();
      throw err;
    }
    this.membership = membership;
    this.kv = new KvService(this.raft, this.kvState, env.clock);
    env.transport.onMessage(this.router.dispatch);
  }

  status(): NodeStatus {
    return {
      nodeId: this.env.nodeId,
      clusterId: this.config.clusterId,
      incarnation: this.membership.incarnation,
      peers: this.membership.view(),
      raft: this.raft.status(),
      groups: this.groups.status(),
      start: this.start.kind,
    };
  }

  stop(): void {
    this.groups.stop();
    this.membership.stop();
  }
}
