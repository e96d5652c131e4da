// The store service (issue 10) at N=1: the Redis data model (src/redis: the typed keyspace and the
// command families) on this node's LSM engine (src/storage/lsm, in `store/lsm` of the node's data
// directory on ctx.env.disk), served over RESP on the `resp` client port (well-known 6379) with
// Redis semantics: each command atomic, each connection's commands in order, replies in request
// order (pipelining). The connection front end is session.ts over the shared request pipeline
// (src/wire/pipeline.ts) and the RESP request decoder; durability follows the config's sync
// policy through group commit (group-commit.ts). Replication to N > 1 replicas is a later piece
// (src/services/store/replication) behind the same command path.
// Config: the node config's `store` section (config.ts). Peer messages: StoreForward(+Reply)
// (forward.ts), StoreAnnounce (announce.ts: RESP endpoints for CLUSTER SLOTS), StorePublish
// (pubsub.ts), DynamoReplica and DynamoPaxos (replication).

import type { ClientConnection } from '../../env/types.ts';
import type { ProtocolError } from '../../lib/errors.ts';
import type { RunningService, ServiceContext, ServiceDefinition, ServiceHost } from '../../node/service.ts';
import { AccessSketch, type EvictionSettings, Evictor, keyspaceEvictionSpace } from '../../redis/eviction.ts';
import { Keyspace } from '../../redis/keyspace.ts';
import { parseMemoryValue } from '../../redis/memory.ts';
import { StoreSweeper } from './sweep.ts';
import { commandTable } from '../../redis/table.ts';
import { LsmEngine, type SyncPolicy } from '../../storage/lsm/engine.ts';
import { RequestPipeline } from '../../wire/pipeline.ts';
import { protocolErrorReply, type RespCommand, RespRequestDecoder } from '../../wire/resp/index.ts';
import { buildCommandTable, latin1 } from './command-entry.ts';
import { PEER_WAKE_STEP_MS, ReplicatedWaiters } from './blocking-replicated.ts';
import { keyRegister } from './tag-state.ts';
import { storeSimWorkload } from './sim-workload.ts';
import {
  RESP_PROTOCOL,
  RESP_WELL_KNOWN_PORT,
  STORE_ENGINE_DIR,
  type StoreConfig,
  storeConfigSchema,
} from './config.ts';
import { connectionCommands } from './connection-commands.ts';
import { GroupCommit } from './group-commit.ts';
import { introspectionCommands } from './introspection.ts';
import { type KeyspaceOps, StoreServer } from './server.ts';
import { RespSession, respCommandSize } from './session.ts';
import { CommandForwarder } from './forward.ts';
import { baristaCommand } from './barista-command.ts';
import { ReplicatedCommands } from './replicated.ts';
import { ReplicaMemory } from './replicated-memory.ts';
import { LsmReplicaStore } from './replication/lsm-store.ts';
import { actorIdFor, ReplicaNode } from './replication/driver.ts';
import { RingKeeper } from './ring-keeper.ts';
import { runningLayout, SettingsCheck } from './keyspace-settings.ts';
import { describeSettings, type KeyspaceSettings, settingsEqual } from '../../dynamo/ring.ts';
import {
  checkedKeyspaceSettings,
  layoutConflict,
  recordKeyspaceSettings,
  storedCollectionsLayout,
} from '../../dynamo/replica.ts';
import { RingMover } from './ring-mover.ts';
import { ConfigError } from '../../lib/errors.ts';
import { Announcer } from './announce.ts';
import { clusterCommands } from './cluster-command.ts';
import { type ClusterView, LedSlots, SlotRangeCache } from './cluster-topology.ts';
import { SLOT_COUNT } from '../../dynamo/slots.ts';

/** How often a node re-sends its RESP endpoint to peers that have not told theirs (announce.ts). */
const ANNOUNCE_INTERVAL_MS = 1000;
import { PubSubHub, pubsubCommands } from './pubsub.ts';
import { BlockedClients, blockingCommands } from './blocking.ts';
import { commandKeys, routeCommand } from './routing.ts';
import { MessageType } from '../../lib/message-types.ts';
import { METADATA_GROUP } from '../../node/raft-groups.ts';
import { malformedCounterHook } from '../../rsm/state-machine.ts';
import { RING_NAMESPACE, RingStateMachine } from '../../dynamo/ring-namespace.ts';
import { arityAccepts } from '../../redis/command.ts';
import { lookupCommand as lookupDataCommand } from '../../redis/table.ts';
import { reply, type RespValue } from '../../wire/resp/index.ts';

/**
 * The replica id this life writes its dots under. store.sync applies to the replica too: a policy
 * that may lose acknowledged writes gives each life an id of its own (node id # life number:
 * driver.ts header); under `always` every life of a store writes as the node.
 * A store that has never written, on a node that is not new (rejoined or adopted after its data
 * was lost: the operator's wipe), may not count dots from 1 under the ids its earlier lives used:
 * its peers still hold those dots, and take its new writes for old ones (a SADD acknowledged at
 * QUORUM was lost: a new collection context covered the old element's dot its rows lacked; a SET
 * or INCR would be dropped as seen). Its lives are numbered from a random base instead (the Env's
 * Rng: distinct from every earlier life's whatever the clock did, to one chance in 2^32), recorded
 * under `always`. And a store never goes back to an id an earlier life of it used when its policy
 * changes: under `always` a recorded id is kept, and a store whose lives were numbered takes the
 * next number; under periodic the numbers start above a recorded id's. Found by the store's swarm
 * workload (docs/SWARM.md), planted back as `store-actor-reused-after-wipe`.
 */
export function replicaActorId(
  ctx: Pick<ServiceContext<StoreConfig>, 'start' | 'nodeId'> & {
    readonly config: Pick<StoreConfig, 'sync'>;
    readonly env: Pick<ServiceContext<StoreConfig>['env'], 'rng' | 'mutations'>;
  },
  store: LsmReplicaStore,
): string | undefined {
  // The planted bug of per-life ids' negative control (test/sim/store-sync-policy-sim.test.ts).
  if (ctx.env.mutations.has('dynamo-actor-per-node')) return undefined;
  const lostData = ctx.start !== 'bootstrap' && store.fresh && !ctx.env.mutations.has('store-actor-reused-after-wipe');
  const base = lostData ? ctx.env.rng.int(2 ** 32) * 2 ** 16 + 1 : 0;
  const recorded = store.recordedActor;
  if (ctx.config.sync === 'always') {
    if (recorded !== undefined) return recorded;
    if (!lostData && !store.livesNumbered) return undefined;
    const actor = actorIdFor(ctx.nodeId, lostData ? base : store.bumpIncarnation());
    store.recordActor(actor);
    return actor;
  }
  return actorIdFor(ctx.nodeId, store.bumpIncarnation(Math.max(base, actorNumber(recorded))));
}

/**
 * A store that lost its data forgot the Paxos promises and accepted values its peers counted on.
 * An empty store at a first bootstrap is recorded as born; an empty store at any other start lost
 * its data (the operator's wipe) and is marked, durably and before anything else is written to it,
 * so that its acceptor, in this life and every later one, learns each key's state from the other
 * replicas before it answers for the key (src/dynamo/paxos.ts PaxosRecovery). Emptiness and the
 * birth record, not replicaActorId's `fresh` (no dot reserved): a node that only ever ran SERIAL
 * operations, or restarted before its first write, reserved no dot and lost nothing (a read-only
 * review found both marked). Found by the store's swarm workload (docs/SWARM.md, seeds 5085, 5234,
 * 5263), planted back as `paxos-amnesia-trusted`.
 */
export function markLostPaxosState(ctx: Pick<ServiceContext<StoreConfig>, 'start'>, store: LsmReplicaStore): void {
  if (!store.empty) return;
  if (ctx.start === 'bootstrap') store.markBorn();
  else store.markPaxosAmnesiac();
}

/** The life number of an actor id (`node#n`, n in base 36); 0 for none or the plain node id. */
function actorNumber(actor: string | undefined): number {
  const at = actor?.lastIndexOf('#') ?? -1;
  if (at < 0) return 0;
  const n = Number.parseInt(actor!.slice(at + 1), 36);
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

function startReplication(
  ctx: ServiceContext<StoreConfig>,
  ring: RingKeeper,
): { node: ReplicaNode; store: LsmReplicaStore; settings: KeyspaceSettings; checked: boolean; tentative: boolean } {
  const env = ctx.env;
  const store = LsmReplicaStore.open({ disk: env.disk, clock: env.clock, log: ctx.log, metrics: env.metrics });
  markLostPaxosState(ctx, store);
  const actorId = replicaActorId(ctx, store);
  let node: ReplicaNode;
  let settings: KeyspaceSettings;
  let checked: KeyspaceSettings | undefined;
  let tentative = false;
  try {
    // The layout it runs with (runningLayout). A configured layout the store does not keep is
    // refused first, naming the data directory (the keyspace's record below would name the ring).
    const stored = storedCollectionsLayout(store);
    const configured = ctx.config.replication.collections;
    if (configured !== undefined && stored !== undefined && stored !== configured)
      throw layoutConflict(configured, stored);
    // Settings this store checked against the ring before: the ring's never change, so a config
    // that has changed since is refused now, naming its field (keyspace-settings.ts).
    checked = checkedKeyspaceSettings(store);
    const layout = runningLayout(configured, stored, checked);
    tentative = layout.tentative;
    settings = { replicas: ctx.config.replication.replicas, collections: layout.collections };
    if (checked !== undefined && !settingsEqual(checked, settings)) throw settingsConflict(checked, settings);
    node = startReplicaNode(
      ctx,
      ring,
      store,
      ctx.config.sync,
      actorId,
      settings.collections,
      checked === undefined ? "its settings are not yet checked against the keyspace's (the ring's)" : undefined,
    );
  } catch (error) {
    closeAfterFailedStart(() => store.close(), ctx, 'replica store');
    throw error;
  }
  // The replica coordinates only once the ring is current (ring-keeper.ts): until then client and
  // forwarded requests answer replicas_unavailable (a restarted node's older ring would send them
  // to the replicas of then); its replica duties go on with the ring it has. The planted
  // `store-ring-stale-after-restart` skips the barrier (the keeper is current at once).
  ring.onChange((r) => node.setRing(r));
  if (!ring.current) node.holdCoordination("this node's token ring is not known current yet (just started)");
  ring.onCurrent(() => node.holdCoordination(undefined));
  return { node, store, settings, checked: checked !== undefined, tentative };
}

/** A config changed since this node's store last checked it against the keyspace's settings. */
function settingsConflict(checked: KeyspaceSettings, settings: KeyspaceSettings): ConfigError {
  const field = checked.replicas !== settings.replicas ? 'replicas' : 'collections';
  return new ConfigError(
    `store.replication.${field}`,
    `is ${settings[field]}, but this node's keyspace keeps ${describeSettings(checked)} (checked against the cluster's ring; a keyspace's settings are fixed when the cluster is made): set it back to ${checked[field]}`,
  );
}

/** A close on a start that failed: its own failure is logged, the start's error is the one thrown. */
function closeAfterFailedStart(close: () => void, ctx: ServiceContext<StoreConfig>, what: string): void {
  try {
    close();
  } catch (error) {
    ctx.log.warn({ err: String(error) }, `store: ${what} close failed after a failed start`);
  }
}

function startReplicaNode(
  ctx: ServiceContext<StoreConfig>,
  ring: RingKeeper,
  store: LsmReplicaStore,
  policy: StoreConfig['sync'],
  actorId: string | undefined,
  collections: 'whole' | 'rows',
  closed: string | undefined,
): ReplicaNode {
  const env = ctx.env;
  return new ReplicaNode(
    {
      env,
      router: ctx.router,
      peers: ctx.peers,
      membership: ctx.membership(),
      store,
      paxos: store.paxos,
      paxosAmnesiac: store.paxosAmnesiac,
      ring: ring.ring, // empty until bootstrapped: requests answer replicas_unavailable meanwhile
      sync: { policy, intervalMs: ctx.config.syncIntervalMs },
      ...(actorId === undefined ? {} : { actorId }),
      metrics: env.metrics,
      log: ctx.log,
      ...(closed === undefined ? {} : { closed }),
    },
    { ...ctx.config.replication, collections },
  );
}

/**
 * A command a peer forwarded here because this node owns its keys: run like a local client's
 * (one batch, WATCH touched), answered once group commit says its writes are durable.
 */
function runForwarded(
  server: StoreServer,
  settings: SettingsCheck,
  groupCommit: GroupCommit,
  argv: readonly Uint8Array[],
  done: (value: RespValue) => void,
): void {
  const spec = argv.length > 0 ? lookupDataCommand(argv[0]!) : undefined;
  // The sender checked name and arity with the same table; a peer that did not is answered, not obeyed.
  if (spec === undefined || !arityAccepts(spec.arity, argv.length))
    return done(reply.error('ERR forwarded command is not a data command'));
  const refusal = settings.refusal;
  if (refusal !== undefined) return done(reply.error(`CLUSTERDOWN ${refusal}`));
  const route = server.route({ kind: 'data', spec }, argv);
  if (route.kind !== 'local')
    return done(reply.error('TRYAGAIN the key is not owned by this node on its ring (the ring is changing); retry'));
  server.stats.commandsProcessed++;
  const oom = server.oomReply(spec.name, spec.flags);
  if (oom !== undefined) return done(oom);
  const value = server.runData({ kind: 'data', spec }, argv);
  server.blocking.serveReady();
  groupCommit.release(
    () => done(value),
    () => done(reply.error('TIMEOUT the owner is stopping (the command may have run)')),
  );
}

export interface StoreRunning extends RunningService {
  readonly server: StoreServer;
  readonly engine: LsmEngine;
  readonly ring: RingKeeper;
  /** This node's keyspace settings against the ring's (keyspace-settings.ts). */
  readonly settings: SettingsCheck;
  /** The Dynamo replica at N > 1 (absent at N = 1). */
  readonly replica?: ReplicaNode;
}

/** The store service running on a node (simulator hooks and tests). */
export function storeOf(node: ServiceHost): StoreRunning {
  return node.service<StoreRunning>('store');
}

/**
 * The engine's own policy under each service policy: under `always` the engine buffers and group
 * commit syncs once per event-loop turn (the engine's own `always` would fdatasync every command).
 */
const enginePolicy: Readonly<Record<StoreConfig['sync'], SyncPolicy>> = {
  always: 'periodic',
  periodic: 'periodic',
  none: 'none',
};

export const storeService: ServiceDefinition<StoreConfig, StoreRunning> = {
  name: 'store',
  description: 'Redis-compatible key-value store (strings, keys, hashes, sets, lists, sorted sets) on the resp port',
  configSchema: storeConfigSchema,
  messageTypes: [
    MessageType.StoreForward,
    MessageType.StoreForwardReply,
    MessageType.StoreAnnounce,
    MessageType.DynamoReplica,
    MessageType.DynamoPaxos,
    MessageType.StorePublish,
  ],
  protocols: [{ name: RESP_PROTOCOL, wellKnownPort: RESP_WELL_KNOWN_PORT }],
  // The token ring lives in the metadata group (ring-namespace.ts): every node routes by it.
  raftGroups: [
    {
      group: METADATA_GROUP,
      namespace: {
        name: RING_NAMESPACE,
        create: (env) => new RingStateMachine({ onMalformed: malformedCounterHook(env.metrics, METADATA_GROUP) }),
      },
    },
  ],
  start: startStore,
  sim: {
    workloads: [storeSimWorkload],
    // Hosted only with its workload: every other run's schedule stays as recorded.
    onlyWithWorkload: true,
    // Issue 10's acceptance cluster: N = 3, every acknowledged write synced, sets one row per
    // element (what `barista dev --replicas 3` makes); anti-entropy rounds every 2 s so that they
    // run under the faults too (the workload asks for more after healing: BARISTA REPAIR); a ring
    // move's streams start 1 s after it begins (the workload's operator moves the ring in half the
    // runs, within 20 s of faults).
    config: {
      sync: 'always',
      replication: { replicas: 3, collections: 'rows', antiEntropyIntervalMs: 2_000, ringDelayMs: 1_000 },
    },
  },
};

function startStore(ctx: ServiceContext<StoreConfig>): StoreRunning {
  const env = ctx.env;
  const config = ctx.config;
  // Checked before anything opens or starts a timer (a start that throws later stops what it began).
  const clusterNodes = [ctx.nodeId, ...ctx.peers];
  for (const id of config.ringNodes ?? []) {
    if (!clusterNodes.includes(id)) throw new ConfigError('store.ringNodes', `${id} is not a node of this cluster`);
  }
  const engine = LsmEngine.open(
    { disk: env.disk, clock: env.clock, log: ctx.log, metrics: env.metrics },
    {
      dir: STORE_ENGINE_DIR,
      sync: enginePolicy[config.sync],
      tombstoneGraceMs: config.tombstoneGraceMs,
      memtableBytesMax: config.memtableBytesMax,
    },
  );
  const keyspace = new Keyspace(engine, { lazyElementDeletes: true });
  // maxmemory and eviction: over the keyspace at N = 1; at N > 1 over the replica store's values
  // (replicated-memory.ts), the evictor made below once the replica and the slot map exist.
  const maxmemory = parseMemoryValue(String(config.maxmemory)) ?? 0;
  const evictionSettings: EvictionSettings = {
    maxmemory,
    policy: config.maxmemoryPolicy,
    samples: config.maxmemorySamples,
    lfuLogFactor: config.lfuLogFactor,
    lfuDecayTime: config.lfuDecayTime,
  };
  let server: StoreServer | undefined;
  const evictedKeys = ctx.metrics.counter('store_evicted_keys_total', 'Keys deleted by maxmemory eviction');
  let evictor =
    config.replication.replicas > 1
      ? undefined
      : new Evictor(
          keyspaceEvictionSpace(keyspace),
          evictionSettings,
          new AccessSketch(env.rng.fork('store-lfu'), evictionSettings),
          env.rng.fork('store-evict'),
          (key) => {
            evictedKeys.inc();
            server?.touchKeys([key]); // WATCH sees an evicted key as modified, as Redis' signalModifiedKey
          },
        );
  if (evictor !== undefined) {
    keyspace.access = evictor.sketch;
    evictor.policyChanged(Math.floor(env.clock.wallMs()));
  }
  const sweeper = new StoreSweeper({
    keyspace,
    ...(evictor === undefined ? {} : { evictor }),
    timers: env.timers,
    wallMs: () => env.clock.wallMs(),
    metrics: ctx.metrics,
  });
  sweeper.start();
  const ops: KeyspaceOps = {
    keyspace,
    endCommand: () => {
      keyspace.endCommand();
    },
    abortCommand: () => keyspace.abortCommand(),
    counts: (nowMs) => keyspace.infoCounts(nowMs),
  };
  const m = ctx.metrics;
  const groupCommit = new GroupCommit({
    policy: config.sync,
    syncIntervalMs: config.syncIntervalMs,
    engine,
    timers: env.timers,
    metrics: {
      syncs: m.counter('store_syncs_total', 'Commit log syncs made by group commit or the periodic timer'),
      groupSize: m.histogram('store_group_commit_replies', 'Replies released by one group commit (sync always)'),
    },
    replyBeforeSync: env.mutations.has('store-reply-before-sync'),
  });
  // The ring: bootstrapped once per cluster, read from this node's metadata replica. With N = 1
  // each key has one owner; a command for another node's key is forwarded there (forward.ts).
  const metadata = ctx.raftGroup(METADATA_GROUP);
  const ring = new RingKeeper(metadata.driver, metadata.namespace(RING_NAMESPACE) as RingStateMachine, env, {
    nodes: config.ringNodes ?? clusterNodes,
    tokensPerNode: config.tokensPerNode,
    retryMs: 500,
    withoutSettings: env.mutations.has('store-ring-without-settings'),
    withoutBarrier: env.mutations.has('store-ring-stale-after-restart'),
  });
  const alone = ctx.peers.length === 0;
  // N > 1: the Dynamo replica on its own engine (replication/lsm-store.ts), ring from the keeper.
  let replicated: ReturnType<typeof startReplication> | undefined;
  try {
    replicated = config.replication.replicas > 1 ? startReplication(ctx, ring) : undefined;
  } catch (error) {
    // A replica that refuses to start (its store's layout, a corrupt store): what started here
    // stops, or its timers would keep a node that failed to start alive.
    ring.stop();
    sweeper.stop();
    groupCommit.stop();
    closeAfterFailedStart(() => engine.close(), ctx, 'store engine');
    throw error;
  }
  // The keyspace's settings (keyspace-settings.ts): recorded on the ring by the first bootstrap,
  // compared with this node's at every ring it applies.
  const settings: KeyspaceSettings = replicated?.settings ?? {
    replicas: config.replication.replicas,
    collections: config.replication.collections ?? 'rows',
  };
  ring.start(settings, replicated?.tentative === true);
  // N > 1: joins and decommissions (BARISTA RING), and this node's completion of its own move.
  const mover =
    replicated === undefined
      ? undefined
      : new RingMover({
          self: ctx.nodeId,
          keeper: ring,
          progress: () => replicated.node.moveProgress(),
          clusterNodes,
          isAlive: (id) =>
            id === ctx.nodeId ||
            ctx
              .membership()
              .view()
              .find((p) => p.id === id)?.status === 'alive',
          timers: env.timers,
          log: ctx.log,
          tokensPerNode: config.tokensPerNode,
          replicas: config.replication.replicas,
          checkIntervalMs: Math.max(config.replication.tickMs, 100),
        });
  mover?.start();
  const settingsCheck = new SettingsCheck(settings, {
    log: ctx.log,
    mismatch: m.gauge(
      'store_settings_mismatch',
      "1 while this node serves no data: its store.replication settings differ from the keyspace's",
    ),
    onMatch: () => {
      if (replicated === undefined) return;
      if (!replicated.checked) recordKeyspaceSettings(replicated.store, settingsCheck.mine);
      replicated.node.open();
    },
    // A layout that is only a default (none configured, none in the store) becomes the keyspace's.
    ...(replicated?.tentative === true && replicated.node.closed !== undefined
      ? { adopt: (layout: 'whole' | 'rows') => replicated.node.adoptCollections(layout) }
      : {}),
    onDiffer: () => {
      mover?.stop();
      replicated?.node.stop();
    },
    unchecked: env.mutations.has('store-settings-unchecked'),
  });
  ring.onChange((r) => settingsCheck.observe(r));
  settingsCheck.observe(ring.ring);
  // A key's place on the ring is its Redis Cluster slot's token (src/dynamo/slots.ts), on every path.
  const ownerOf = (key: Uint8Array): string | undefined =>
    alone ? ctx.nodeId : ring.ring.nodes.length === 0 ? undefined : ring.ring.locate(key, 1).replicas[0];
  const forwarder = new CommandForwarder(
    {
      self: ctx.nodeId,
      send: (to, type, payload) => env.transport.send(to, type, payload),
      timers: env.timers,
      rng: env.rng,
      log: ctx.log,
      metrics: env.metrics,
      execute: (argv, done) => runForwarded(server!, settingsCheck, groupCommit, argv, done),
      // The owner checks it owns the keys by its own ring: a sender with another ring (a move
      // in progress) must not write where routed reads will not look.
    },
    { timeoutMs: config.forwardTimeoutMs },
  );
  ctx.router.register([MessageType.StoreForward, MessageType.StoreForwardReply], (m) => forwarder.receive(m));
  // Cluster-aware clients' slot map (cluster-topology.ts): every node's RESP endpoint, announced.
  const announcer = new Announcer({
    self: ctx.nodeId,
    peers: ctx.peers,
    endpoint: {
      host: config.announceHost,
      port: config.announcePort ?? ctx.port(RESP_PROTOCOL) ?? RESP_WELL_KNOWN_PORT,
    },
    send: (to, type, payload) => env.transport.send(to, type, payload),
    timers: env.timers,
    log: ctx.log,
    metrics: env.metrics,
    intervalMs: ANNOUNCE_INTERVAL_MS,
  });
  ctx.router.register([MessageType.StoreAnnounce], (m) => announcer.receive(m));
  if (!alone) announcer.start();
  const clusterView: ClusterView | undefined = alone
    ? undefined
    : {
        self: ctx.nodeId,
        get ring() {
          return ring.ring;
        },
        replicas: config.replication.replicas,
        endpoint: (id) => announcer.endpoint(id),
        // Asked on demand: the membership service starts before the store on a real node.
        isUp: (id) =>
          id === ctx.nodeId ||
          ctx
            .membership()
            .view()
            .find((p) => p.id === id)?.status !== 'dead',
        cache: new SlotRangeCache(),
      };
  // Pub/Sub: a PUBLISH reaches every node's subscribers (pubsub.ts).
  const pubsub = new PubSubHub({
    self: ctx.nodeId,
    peers: () => ctx.peers,
    send: (to, type, payload) => env.transport.send(to, type, payload),
    monotonicMs: () => env.clock.monotonicMs(),
    metrics: env.metrics,
    log: ctx.log,
  });
  ctx.router.register([MessageType.StorePublish], (m) => pubsub.receive(m));
  const ledSlots = ledSlotsOf(clusterView);
  let replicaMemory: ReplicaMemory | undefined;
  if (replicated !== undefined) {
    const sketch = new AccessSketch(env.rng.fork('store-lfu'), evictionSettings);
    const wallMs = () => Math.floor(env.clock.wallMs());
    const replicaNode = replicated.node;
    const evictFailures = m.counter(
      'store_evict_delete_failures_total',
      'Eviction deletes at N > 1 that failed (the key is picked again if still there)',
    );
    replicaMemory = new ReplicaMemory({
      node: replicaNode,
      replicates: (key) => replicaNode.ring.locate(key, config.replication.replicas).replicas.includes(ctx.nodeId),
      timers: env.timers,
      log: ctx.log,
      deleteFailed: () => evictFailures.inc(),
      afterStep: () => {
        if (evictor?.over === true) evictor.performEvictions(wallMs());
      },
      touch: (position) => {
        sketch.nowMs = wallMs();
        sketch.touch(position);
      },
    });
    evictor = new Evictor(replicaMemory, evictionSettings, sketch, env.rng.fork('store-evict'), () =>
      evictedKeys.inc(),
    );
    evictor.policyChanged(wallMs());
  }
  server = new StoreServer({
    route: (spec, argv) => {
      let unknown = false;
      const route = routeCommand(spec, argv, ctx.nodeId, (p) => {
        const owner = ownerOf(p);
        if (owner === undefined) unknown = true;
        return owner ?? ctx.nodeId;
      });
      // Before the ring's first commit a keyed command has nowhere certain to run.
      return unknown ? { kind: 'forward', to: '' } : route;
    },
    forward: (to, argv, protocol, done) => {
      if (to === '')
        return done(reply.error('CLUSTERDOWN the token ring is not known yet (the metadata group has no leader)'));
      // The failure detector calls the owner dead (no heartbeat for deadAfterMs): answer at once,
      // definite, instead of holding the client for forwardTimeoutMs on every command.
      if (
        ctx
          .membershipIfRunning()
          ?.view()
          .find((p) => p.id === to)?.status === 'dead'
      ) {
        return done(reply.error(`CLUSTERDOWN the node owning the key (${to}) is down (nothing ran)`));
      }
      forwarder.forward(to, argv, protocol, done);
    },
    env,
    nodeId: ctx.nodeId,
    config,
    table: buildCommandTable(commandTable, [
      ...connectionCommands,
      ...introspectionCommands,
      ...clusterCommands,
      baristaCommand,
      ...pubsubCommands,
      ...blockingCommands,
    ]),
    cluster: () => clusterView,
    pubsub,
    blocking: new BlockedClients(),
    ...(replicated === undefined
      ? {}
      : {
          replicated: new ReplicatedCommands(
            replicated.node,
            mover!,
            ctx.env.rng.fork('store-collections'),
            ledSlots,
            config.conflicts,
            ctx.env.timers,
          ),
        }),
    consistency: config.consistency,
    refusal: () => settingsCheck.refusal,
    where: (key) => {
      if (alone) return { replicas: [ctx.nodeId], pending: [] };
      if (ring.ring.nodes.length === 0) return undefined;
      // The key's slot places it (hash tags apply) at N = 1 and in the replica protocol alike.
      const at = ring.ring.locate(key, config.replication.replicas);
      return { replicas: at.replicas, pending: at.pending };
    },
    keyspace: ops,
    ...(evictor === undefined ? {} : { evictor }),
    expiredKeys: () => sweeper.expired,
    log: ctx.log,
    groupCommit,
    metrics: m,
    port: () => ctx.port(RESP_PROTOCOL) ?? 0,
    engineStats: () => {
      const s = engine.stats();
      return {
        lastSeq: s.lastSeq,
        durableSeq: s.durableSeq,
        memoryBytes: s.memtableBytes + s.runMemoryBytes + s.blockCacheBytes,
      };
    },
  });
  // N > 1: blocking pops wait through the replicated path (blocking-replicated.ts), woken by the
  // writes this node coordinates (session.ts) and those its replica takes from peers.
  const commands = server.replicated;
  if (commands !== undefined && replicated !== undefined) {
    const waiters = new ReplicatedWaiters({
      timers: ctx.env.timers,
      run: (argv, level, done) => commands.run(latin1(argv[0]!).toLowerCase(), argv, level, done),
      keysOf: (argv) => {
        const spec = lookupDataCommand(argv[0]!);
        return spec === undefined ? [] : commandKeys(spec, argv);
      },
      registerOf: keyRegister,
      nowMs: () => ctx.env.clock.monotonicMs(),
      hearsWrites: (key) => replicated.node.holdsReplica(key),
    });
    server.blocking.replicated = waiters;
    // A peer's write wakes this node's waiters after its rank's step (blocking-replicated.ts).
    const stepMs = replicated.node.mutations.has('blocking-wake-all-at-once') ? 0 : PEER_WAKE_STEP_MS;
    const step = (key: Uint8Array) => stepMs * (1 + replicated.node.replicaRank(key));
    replicated.node.onKeyWritten = (key, coordinated) => waiters.signal(key, coordinated ? 0 : step);
    replicated.node.onRegisterCommitted = (register) => waiters.signalRegister(register, step);
  }
  const onProtocolError = (error: ProtocolError): Uint8Array | undefined => {
    server.countProtocolError();
    return protocolErrorReply(error);
  };
  const listener = ctx.listen(RESP_PROTOCOL, config.listen[RESP_PROTOCOL]!, (conn: ClientConnection) => {
    const session = new RespSession(server, conn, server.newClientId());
    server.sessions.set(session.id, session);
    session.output = new RequestPipeline<RespCommand>({
      connection: conn,
      decoder: new RespRequestDecoder(config.resp),
      metrics: env.metrics,
      timers: env.timers,
      serve: (request, reply) => session.serve(request, reply),
      sizeOf: respCommandSize,
      heldBytes: () => session.stateBytes,
      onClose: (reason) => {
        if (reason === 'client_memory') server.stats.evictedClients++;
        server.sessions.delete(session.id);
        session.onClose();
      },
      protocolErrorReply: onProtocolError,
    });
  });
  return {
    server,
    engine,
    ring,
    settings: settingsCheck,
    ...(replicated === undefined ? {} : { replica: replicated.node }),
    status: () => {
      const s = engine.stats();
      return {
        sync: config.sync,
        settings: settingsCheck.status(),
        keys: keyspace.size(Math.floor(env.clock.wallMs())),
        engine: {
          lastSeq: s.lastSeq,
          durableSeq: s.durableSeq,
          flushedSeq: s.flushedSeq,
          memtableBytes: s.memtableBytes,
          memtableEntries: s.memtableEntries,
          runs: s.runs.length,
          commitLogBytes: s.commitLogBytes,
        },
        connections: listener.connections,
        commandsProcessed: server.stats.commandsProcessed,
        errorReplies: server.stats.errorReplies,
        errorsByKind: Object.fromEntries(server.stats.errorsByKind),
        protocolErrors: server.stats.protocolErrors,
      };
    },
    stop: () => {
      sweeper.stop();
      replicaMemory?.stop();
      server.replicated?.stop();
      server.blocking.replicated?.stop();
      mover?.stop();
      ring.stop();
      announcer.stop();
      replicated?.node.stop();
      try {
        replicated?.store.close(); // syncs on a clean stop
      } catch (error) {
        // As the engine below: after a crash (or a failed disk) what was not synced is lost.
        ctx.log.warn({ err: String(error) }, 'store: replica store close failed; unsynced writes are lost');
      }
      forwarder.stop();
      groupCommit.stop();
      try {
        engine.close(); // syncs the commit log on a clean stop
      } catch (error) {
        // A node stopped by a crash (the simulator's power loss) or a failed disk: what was not
        // synced is lost, as the sync policy allows; recovery starts from what is durable.
        ctx.log.warn({ err: String(error) }, 'store: engine close failed; unsynced writes are lost');
      }
    },
  };
}

/** The slots this node leads (SCAN at N > 1): every slot when it is alone. */
function ledSlotsOf(view: ClusterView | undefined): () => Uint8Array {
  if (view === undefined) {
    const all = new Uint8Array(SLOT_COUNT).fill(1);
    return () => all;
  }
  const led = new LedSlots(view);
  return () => led.current();
}
