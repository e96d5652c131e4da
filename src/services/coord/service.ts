// The coordination service (issue 9): ZooKeeper's data model and client protocol on Raft. The
// znode tree (src/coord) is the `znodes` namespace of the coord group's replicated state machine
// (its own Raft group, so a write storm here does not stall the metadata or KV groups); the
// node-local runtime (server.ts: session liveness, watches, leader contact) and the ZooKeeper
// front end (session.ts) on the `zookeeper` client port. Config: the node config's `coord`
// section (config.ts). Peer messages: CoordTouches (a follower's session touches for the leader).

import { MessageType } from '../../lib/message-types.ts';
import type { RunningService, ServiceDefinition, ServiceHost } from '../../node/service.ts';
import { ReplicatedStateMachine } from '../../rsm/state-machine.ts';
import { type CoordConfig, coordConfigSchema, ZOOKEEPER_PROTOCOL } from './config.ts';
import { CoordRuntime } from './server.ts';

export const COORD_GROUP = 'coord';
export const ZNODES_NAMESPACE = 'znodes';

export interface CoordRunning extends RunningService {
  readonly runtime: CoordRuntime;
  readonly state: ReplicatedStateMachine;
}

/** The coord service running on a node (simulator hooks and tests). */
export function coordOf(node: ServiceHost): CoordRunning {
  return node.service<CoordRunning>('coord');
}

export const coordService: ServiceDefinition<CoordConfig, CoordRunning> = {
  name: 'coord',
  description: 'ZooKeeper-compatible coordination: znodes, sessions, watches and ACLs on the zookeeper port',
  configSchema: coordConfigSchema,
  messageTypes: [MessageType.CoordTouches],
  protocols: [{ name: ZOOKEEPER_PROTOCOL, wellKnownPort: 2181 }],
  raftGroups: [
    {
      group: COORD_GROUP,
      namespace: { name: ZNODES_NAMESPACE, create: () => new ReplicatedStateMachine() },
    },
  ],
  start(ctx) {
    const group = ctx.raftGroup(COORD_GROUP);
    const state = group.namespace(ZNODES_NAMESPACE) as ReplicatedStateMachine;
    const runtime = new CoordRuntime(
      ctx.env,
      group.driver,
      { sessions: () => [], sessionTimeoutMs: () => undefined },
      ctx.config,
      () => {},
      ctx.log,
    );
    ctx.router.register([MessageType.CoordTouches], (m) => runtime.onPeerMessage(m));
    const listener = ctx.listen(ZOOKEEPER_PROTOCOL, ctx.config.listen[ZOOKEEPER_PROTOCOL]!, (conn) => conn.close());
    return {
      runtime,
      state,
      ready: (done) => group.driver.read(done),
      status: () => {
        const s = group.driver.status();
        return {
          group: group.name,
          role: s.role,
          appliedIndex: s.appliedIndex,
          connections: listener.connections,
          trackedSessions: runtime.tracker.size,
          watches: runtime.watches.size,
          leaderInContact: runtime.leaderInContact,
        };
      },
      stop: () => runtime.stop(),
    };
  },
};
