// One barista node's services, assembled over an Env. This function is the node "program": the
// real process (src/node/main.ts) and the simulator (`barista sim`, test/sim) both build it, so
// what the simulator proves is what runs. Services so far:
//   membership       heartbeats and failure detection (src/membership)
//   metadata group   Raft (src/raft) over the WAL (src/storage) with the KV state machine and
//                    exactly-once sessions (src/metadata); later the znode tree, log controller
//                    and consumer offsets live in this group too.
// Start-up first checks the node's durable identity (src/node/identity.ts): a node whose data is
// gone refuses to start as a voter unless told to rejoin, and then rejoins as a learner.

import type { Env } from '../env/types.ts';
import { assert } from '../lib/assert.ts';
import { limits } from '../lib/limits.ts';
import { MessageRouter } from '../lib/router.ts';
import { MembershipDriver, type MembershipTiming } from '../membership/driver.ts';
import type { PeerView } from '../membership/membership.ts';
import { defaultKvOptions, KvStateMachine } from '../metadata/kv.ts';
import { KvService } from '../metadata/kv-service.ts';
import { LeaderLogClock } from '../metadata/log-clock.ts';
import { type defaultRaftTiming, RaftDriver } from '../metadata/raft-driver.ts';
import { defaultRaftStorageOptions, WalRaftStorage } from '../storage/raft-storage.ts';
import { decideStart, type StartDecision, writeIdentity } from './identity.ts';

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
  readonly raft: ReturnType<RaftDriver['status']>;
  /** How this start began (identity.ts): bootstrap, restart, adopt or rejoin. */
  readonly start: StartDecision['kind'];
}

export class NodeServices {
  readonly router: MessageRouter;
  readonly membership: MembershipDriver;
  readonly storage: WalRaftStorage;
  readonly kvState: KvStateMachine;
  readonly raft: RaftDriver;
  readonly kv: KvService;
  readonly start: StartDecision;

  constructor(
    readonly env: Env,
    readonly config: ServicesConfig,
  ) {
    // Recovery first: a corrupt WAL throws CorruptionError before anything has started (no timer
    // may keep a failed node alive, and no peer may see it as alive).
    const storageOptions = defaultRaftStorageOptions('metadata');
    // An entry's WAL record carries the command plus a small header.
    assert(
      limits.raftEntryBytesMax + 64 <= storageOptions.wal.recordPayloadBytesMax,
      'a Raft entry must fit in a WAL record',
    );
    // Identity before the WAL is opened (opening creates it): a refused start leaves nothing.
    this.start = decideStart(env.disk, {
      clusterId: config.clusterId,
      nodeId: env.nodeId,
      initialClusterState: config.initialClusterState ?? 'new',
      rejoin: config.rejoin ?? false,
      // WalRaftStorage keeps its WAL in `<dir>/wal` (tests: a restart on an intact dir is a restart).
      walExists: env.disk.list(`${storageOptions.dir}/wal`).length > 0,
      dataDir: config.dataDir ?? '(data directory)',
      newRejoinId: () => Buffer.from(env.rng.fork('rejoin').bytes(16)).toString('hex'),
    });
    // Which comes first decides what a crash in between leaves: a rejoin is recorded before the
    // WAL exists (else an empty WAL + a member's identity would restart as a voter); a bootstrap
    // after (an empty WAL without identity is adopted: that node never voted).
    const rejoinFirst = this.start.write && this.start.kind === 'rejoin';
    if (rejoinFirst) writeIdentity(env.disk, this.start.identity);
    this.storage = WalRaftStorage.open(
      {
        disk: env.disk,
        clock: env.clock,
        log: env.log.child({ component: 'raft-storage' }),
        metrics: env.metrics,
        mutations: env.mutations,
      },
      storageOptions,
    );
    if (this.start.write && !rejoinFirst) {
      try {
        writeIdentity(env.disk, this.start.identity);
      } catch (err) {
        this.storage.close();
        throw err;
      }
    }
    const identity = this.start.identity;
    if (this.start.kind !== 'restart')
      env.log.warn({ start: this.start.kind, state: identity.state }, 'node: identity decided');
    const rejoining = identity.state === 'rejoining';
    this.router = new MessageRouter(env.metrics, env.transport, env.log.child({ component: 'router' }), env.clock);
    this.kvState = new KvStateMachine({
      ...defaultKvOptions,
      skipSessionDedup: env.mutations.has('kv-skip-session-dedup'),
    });
    let membership: MembershipDriver | undefined;
    try {
      membership = new MembershipDriver(env, this.router, config.peers, config.membership);
      const kvState = this.kvState;
      const logClock = new LeaderLogClock(
        env.clock,
        () => kvState.logTimeMs,
        env.mutations.has('kv-log-clock-wall-delta'),
      );
      this.raft = new RaftDriver(env, this.router, {
        // A rejoining node learns its configuration from the leader (RaftOptions.voters).
        voters: rejoining ? [] : [env.nodeId, ...config.peers].sort(),
        ...(rejoining
          ? {
              rejoin: {
                rejoinId: identity.rejoinId,
                peers: config.peers,
                onRejoined: () => writeIdentity(env.disk, { ...identity, state: 'member' }),
              },
            }
          : {}),
        incarnation: membership.incarnation,
        stampProposal: (command, term) => logClock.stamp(command, term),
        storage: this.storage,
        stateMachine: this.kvState,
        ...config.raft,
      });
    } catch (err) {
      membership?.stop();
      this.storage.close();
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
      start: this.start.kind,
    };
  }

  stop(): void {
    this.raft.stop();
    this.membership.stop();
    this.storage.close();
  }
}
