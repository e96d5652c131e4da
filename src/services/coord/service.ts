// The coordination service (issue 9): ZooKeeper's data model and client protocol on Raft. The
// znode tree (src/coord) is the `znodes` namespace of the coord group's replicated state machine
// (state-machine.ts; its own Raft group, so a write storm here does not stall the metadata or KV
// groups); the node-local runtime (server.ts: session liveness, watches, leader contact,
// container/TTL cleanup) and the ZooKeeper front end (session.ts over the shared request
// pipeline) on the `zookeeper` client port. Config: the node config's `coord` section
// (config.ts). Peer messages: CoordTouches (a follower's session touches for the leader).

import type { ClientConnection } from '../../env/types.ts';
import { limits } from '../../lib/limits.ts';
import { malformedCounterHook } from '../../rsm/state-machine.ts';
import { BaristaError } from '../../lib/errors.ts';
import { MessageType } from '../../lib/message-types.ts';
import type { RunningService, ServiceContext, ServiceDefinition, ServiceHost } from '../../node/service.ts';
import { RequestPipeline } from '../../wire/pipeline.ts';
import { type CoordConfig, coordConfigSchema, coordFlags, timeoutPolicyOf, ZOOKEEPER_PROTOCOL } from './config.ts';
import type { FourLetterStats } from './four-letter.ts';
import { RequestLatency } from './request-latency.ts';
import { CoordRuntime } from './server.ts';
import { coordSimWorkload } from './sim-workload.ts';
import { type CoordBackend, type SessionCounters, ZkSession } from './session.ts';
import { CoordStateMachine, coordEntry, decodeCoordEntryResult } from './state-machine.ts';
import { zkDecoder, zkEncoder, zkProtocolErrorReply, zkRequestSize } from './wire-facade.ts';
import type { ZkIncoming } from './zk-types.ts';

export const COORD_GROUP = 'coord';
export const ZNODES_NAMESPACE = 'znodes';

export interface CoordRunning extends RunningService {
  readonly runtime: CoordRuntime;
  readonly state: CoordStateMachine;
  readonly backend: CoordBackend;
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
      namespace: {
        name: ZNODES_NAMESPACE,
        create: (env, config, group) =>
          new CoordStateMachine(
            env.mutations,
            { onMalformed: malformedCounterHook(env.metrics, COORD_GROUP) },
            { snapshotSliceNodes: config.snapshotSliceNodes, snapshotDataBytesMax: group.snapshotDataBytesMax },
          ),
      },
    },
  ],
  start: startCoord,
  // Slices of 3 znodes in the cluster simulation, so its small trees are snapshotted (and
  // installed) over several turns with commands applied between them in every run.
  sim: { workloads: [coordSimWorkload], config: { snapshotSliceNodes: 3 } },
};

function startCoord(ctx: ServiceContext<CoordConfig>): CoordRunning {
  const env = ctx.env;
  const group = ctx.raftGroup(COORD_GROUP);
  const state = group.namespace(ZNODES_NAMESPACE) as CoordStateMachine;
  const driver = group.driver;
  const tree = () => state.znodes.tree;
  const submit: CoordBackend['submit'] = (command, done) => {
    driver.submit(coordEntry(command), (o) => {
      if (!o.ok) return done(o);
      const r = decodeCoordEntryResult(o.result);
      if (r instanceof BaristaError) return done({ ok: false, error: r });
      done({ ok: true, index: r.index, result: r.result });
    });
  };
  const closeRequests = ctx.metrics.counter(
    'coord_close_session_proposals_total',
    'closeSession proposals for expired sessions, by outcome',
  );
  const runtime = new CoordRuntime(
    env,
    driver,
    {
      sessions: () => [...tree().sessions].map(([id, s]) => ({ id, timeoutMs: s.timeoutMs })),
      sessionTimeoutMs: (id) => tree().sessions.get(id)?.timeoutMs,
    },
    ctx.config,
    (sessionId) => {
      closeRequests.inc();
      submit({ type: 'closeSession', sessionId }, () => {}); // lost: the tracker hands it out again
    },
    ctx.log,
  );
  state.znodes.observe((index, triggers) => runtime.onApplied(index, triggers));
  state.znodes.observeOwners((sessionId, owner) => runtime.onOwnerChanged(sessionId, owner));
  state.afterApply = (index) => runtime.waiters.advance(index);
  state.afterRestore = (index) => runtime.onRestored(index);
  // Cleanup deletions in flight, by path: a pass skips them (no second proposal while the first is
  // pending) and proposes at most up to the bound; each is conditional at apply, so a stale or lost
  // one is harmless and the next pass proposes it again.
  const cleaning = new Set<string>();
  runtime.cleanup = (nowMs) => {
    const { containers, expiredTtls } = tree().cleanupCandidates(nowMs);
    const header = { timeMs: nowMs, sessionId: 0, identities: [] };
    const propose = (type: 'deleteContainer' | 'deleteExpiredTtl', path: string): void => {
      if (cleaning.has(path) || cleaning.size >= limits.coordCleanupInflightCountMax) return;
      cleaning.add(path);
      submit({ type, header, path }, () => cleaning.delete(path));
    };
    for (const path of containers) propose('deleteContainer', path);
    for (const path of expiredTtls) propose('deleteExpiredTtl', path);
  };
  ctx.router.register([MessageType.CoordTouches], (m) => runtime.onPeerMessage(m));

  const m = ctx.metrics;
  const refused = new Map<string, ReturnType<typeof m.counter>>();
  const counters: SessionCounters = {
    connectsRefused: (reason) => {
      let c = refused.get(reason);
      if (c === undefined) {
        c = m.counter('coord_connects_refused_total', 'ZooKeeper handshakes refused, by reason', { reason });
        refused.set(reason, c);
      }
      return c;
    },
    writeFailures: m.counter('coord_write_failures_total', 'Writes whose proposal failed (the connection is closed)'),
    sessionMoved: m.counter(
      'coord_session_moved_total',
      'Writes refused at apply because their session had moved to another connection (the connection is closed)',
    ),
    authFailed: m.counter('coord_auth_failed_total', 'addauth requests refused (AuthFailed)'),
    packetsReceived: m.counter('coord_packets_received_total', 'ZooKeeper packets received'),
    packetsSent: m.counter('coord_packets_sent_total', 'ZooKeeper packets sent'),
    unknownOps: m.counter(
      'coord_unknown_ops_total',
      'Requests of an opcode ZooKeeper does not serve (answered, then closed)',
    ),
  };
  const sessions = new Set<ZkSession>();
  const startedMs = env.clock.monotonicMs();
  const stats = { received: 0, sent: 0, authFailed: 0 };
  const latency = new RequestLatency();
  const fourLetterStats = (): FourLetterStats => {
    const s = driver.status();
    const t = tree();
    let ephemerals = 0;
    for (const session of t.sessions.values()) ephemerals += session.ephemerals.size;
    return {
      mode: s.role === 'leader' ? 'leader' : 'follower',
      zxid: s.appliedIndex,
      nodeCount: t.size,
      ephemeralsCount: ephemerals,
      watchCount: runtime.watches.size,
      sessions: t.sessions.size,
      connections: [...sessions].map((z) => ({
        remoteAddress: z.remoteAddress,
        queued: z.pendingRequests,
        received: z.received,
        sent: z.sent,
      })),
      outstanding: driver.pendingRequests,
      packetsReceived: stats.received,
      packetsSent: stats.sent,
      latencyMinMs: latency.min,
      latencyAvgMs: latency.avg,
      latencyMaxMs: latency.max,
      approximateDataSize: 0,
      uptimeMs: Math.round(env.clock.monotonicMs() - startedMs),
      authFailed: stats.authFailed,
      followers: ctx.peers.length,
      syncedFollowers: ctx.peers.length,
      clientPort: ctx.port(ZOOKEEPER_PROTOCOL) ?? 0,
      dataDir: '',
      serverId: ctx.nodeId,
      hostName: ctx.nodeId,
      env: {},
    };
  };
  const backend: CoordBackend = {
    env,
    config: ctx.config,
    policy: timeoutPolicyOf(ctx.config),
    runtime,
    tree,
    // The tree's own count runs ahead of the driver's while an entry's callbacks run (replies sent from them).
    appliedIndex: () => Math.max(driver.appliedIndex, runtime.waiters.applied),
    submit,
    sync: (done) => driver.read(done),
    fourLetterStats,
    latency,
    resetStats: () => {
      latency.reset();
      stats.received = 0;
      stats.sent = 0;
    },
    counters: {
      ...counters,
      packetsReceived: {
        inc: (by = 1) => {
          stats.received += by;
          counters.packetsReceived.inc(by);
        },
      },
      packetsSent: {
        inc: (by = 1) => {
          stats.sent += by;
          counters.packetsSent.inc(by);
        },
      },
      authFailed: {
        inc: (by = 1) => {
          stats.authFailed += by;
          counters.authFailed.inc(by);
        },
      },
    },
  };
  const encoder = zkEncoder();
  const listener = ctx.listen(ZOOKEEPER_PROTOCOL, ctx.config.listen[ZOOKEEPER_PROTOCOL]!, (conn: ClientConnection) => {
    const session = new ZkSession(backend, conn, encoder);
    sessions.add(session);
    new RequestPipeline<ZkIncoming>({
      connection: conn,
      decoder: zkDecoder(ctx.config),
      metrics: env.metrics,
      timers: env.timers,
      serve: (request, reply) => session.serve(request, reply),
      sizeOf: zkRequestSize,
      heldBytes: () => session.heldBytes,
      onClose: (reason) => {
        sessions.delete(session);
        session.onClose(reason);
      },
      protocolErrorReply: zkProtocolErrorReply,
    });
  });
  return {
    runtime,
    state,
    backend,
    ready: (done) => driver.read(done),
    status: () => {
      const s = driver.status();
      return {
        group: group.name,
        role: s.role,
        appliedIndex: s.appliedIndex,
        znodes: tree().size,
        sessions: tree().sessions.size,
        connections: listener.connections,
        trackedSessions: runtime.tracker.size,
        watches: runtime.watches.size,
        leaderInContact: runtime.leaderInContact,
        flags: coordFlags(ctx.config),
      };
    },
    stop: () => runtime.stop(),
  };
}
