// One barista node's services, assembled over an Env. This function is the node "program": the
// real process (src/node/main.ts) and the simulator (`barista sim`, test/sim) both build it, so
// what the simulator proves is what runs. Services so far:
//   membership       heartbeats and failure detection (src/membership)
//   metadata group   Raft (src/raft) over the WAL (src/storage) with the KV state machine and
//                    exactly-once sessions (src/metadata); later the znode tree, log controller
//                    and consumer offsets live in this group too.

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

/** The Raft driver's timing and bounds, as configured (same keys as defaultRaftTiming). */
export type RaftTiming = { -readonly [K in keyof typeof defaultRaftTiming]: number } & {
  readOnly?: 'safe' | 'lease';
};

export interface ServicesConfig {
  readonly clusterId: string;
  readonly peers: readonly string[];
  readonly membership: MembershipTiming;
  readonly raft: RaftTiming;
}

export interface NodeStatus {
  readonly nodeId: string;
  readonly clusterId: string;
  readonly incarnation: number;
  readonly peers: readonly PeerView[];
  readonly raft: ReturnType<RaftDriver['status']>;
}

export class NodeServices {
  readonly router: MessageRouter;
  readonly membership: MembershipDriver;
  readonly storage: WalRaftStorage;
  readonly kvState: KvStateMachine;
  readonly raft: RaftDriver;
  readonly kv: KvService;

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
    this.router = new MessageRouter(env.metrics, env.transport, env.log.child({ component: 'router' }), env.clock);
    this.kvState = new KvStateMachine(defaultKvOptions);
    let membership: MembershipDriver | undefined;
    try {
      membership = new MembershipDriver(env, this.router, config.peers, config.membership);
      const kvState = this.kvState;
      const logClock = new LeaderLogClock(env.clock, () => kvState.logTimeMs);
      this.raft = new RaftDriver(env, this.router, {
        voters: [env.nodeId, ...config.peers].sort(),
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
    };
  }

  stop(): void {
    this.raft.stop();
    this.membership.stop();
    this.storage.close();
  }
}
