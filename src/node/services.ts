// One barista node: the platform a node's services run on, and the services built over it from
// one list (src/node/registry.ts). This class is the node "program": the real process
// (src/node/main.ts) and the simulator (`barista sim`, test/sim) both build it, so what the
// simulator proves is what runs.
//
// The platform owns: the node's durable identity (src/node/identity.ts: a node whose data is gone
// refuses to start as a voter unless told to rejoin, and then rejoins as a learner), the incarnation
// (bumped once per start), the peer message router, and the Raft groups services declare
// (today: the metadata group, Raft over the WAL). Services (src/services/<name>/) get exactly a
// ServiceContext (src/node/service.ts) and are started in list order; the one that provides
// membership comes first, so later services and the Raft groups see the node's incarnation and
// peers. Nothing here knows what a service does.

import type { Env, Metrics } from '../env/types.ts';
import { assert } from '../lib/assert.ts';
import { ConfigError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import { MessageRouter } from '../lib/router.ts';
import { bumpIncarnation } from '../membership/driver.ts';
import { LeaderLogClock } from '../metadata/log-clock.ts';
import { type defaultRaftTiming, RaftDriver } from '../metadata/raft-driver.ts';
import type { StateMachine } from '../metadata/state-machine.ts';
import { defaultRaftStorageOptions, WalRaftStorage } from '../storage/raft-storage.ts';
import { decideStart, type StartDecision, writeIdentity } from './identity.ts';
import { registeredServices } from './registry.ts';
import type {
  AdminRoute,
  ApdexMeter,
  ServiceMetrics,
  AnyServiceDefinition,
  LogTimed,
  MembershipView,
  RaftGroupHandle,
  RunningService,
  ServiceContext,
} from './service.ts';

/** The Raft driver's timing and bounds, as configured (same keys as defaultRaftTiming). */
export type RaftTiming = { -readonly [K in keyof typeof defaultRaftTiming]: number } & {
  readOnly?: 'safe' | 'lease';
};

export interface ServicesConfig {
  readonly clusterId: string;
  readonly peers: readonly string[];
  readonly raft: RaftTiming;
  /** 'new' (default): an empty data directory bootstraps the cluster; 'existing': it is refused. */
  readonly initialClusterState?: 'new' | 'existing';
  /** Rejoin as a learner when the data directory is empty (see identity.ts). */
  readonly rejoin?: boolean;
  /** For messages only. */
  readonly dataDir?: string;
  /** Client protocol ports by name (the services' declared protocols). */
  readonly ports?: Readonly<Record<string, number>>;
  /** Each service's config section, under the service's name (absent: the schema's defaults). */
  readonly [service: string]: unknown;
}

export interface NodeStatus {
  readonly nodeId: string;
  readonly clusterId: string;
  readonly incarnation: number;
  readonly raft: ReturnType<RaftDriver['status']>;
  /** How this start began (identity.ts): bootstrap, restart, adopt or rejoin. */
  readonly start: StartDecision['kind'];
  /** Each service's /status section, by service name. */
  readonly services: Readonly<Record<string, unknown>>;
}

/** Validates `config[def.name]` with the service's schema; a bad field is a ConfigError naming it. */
export function serviceConfig(def: AnyServiceDefinition, section: unknown): unknown {
  const parsed = def.configSchema.safeParse(section ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw new ConfigError([def.name, ...issue.path.map(String)].join('.'), issue.message);
}

const noApdex: ApdexMeter = { observe: () => {}, failed: () => {} };

/** The Env's metrics with Apdex where the registry implements it (a no-op meter elsewhere). */
function serviceMetrics(metrics: Metrics): ServiceMetrics {
  const withApdex = metrics as Metrics & Partial<Pick<ServiceMetrics, 'apdex'>>;
  return {
    counter: (name, help, labels) => metrics.counter(name, help, labels),
    gauge: (name, help, labels) => metrics.gauge(name, help, labels),
    histogram: (name, help, labels) => metrics.histogram(name, help, labels),
    apdex: (name, help, targetMs) => withApdex.apdex?.(name, help, targetMs) ?? noApdex,
  };
}

/** The metadata group: the one Raft group this node hosts today (the groups work adds more). */
const METADATA_GROUP = 'metadata';

interface OpenGroup {
  readonly handle: RaftGroupHandle;
  readonly storage: WalRaftStorage;
}

export class NodeServices {
  readonly router: MessageRouter;
  readonly start: StartDecision;
  readonly incarnation: number;
  /** The running services, by name, in start order. */
  readonly services = new Map<string, RunningService>();
  private readonly groups = new Map<string, OpenGroup>();
  private readonly storage: WalRaftStorage;
  private membershipView: MembershipView | undefined;

  constructor(
    readonly env: Env,
    readonly config: ServicesConfig,
    readonly definitions: readonly AnyServiceDefinition[] = registeredServices,
  ) {
    // Every service's config first: a bad field fails the start before anything touches the disk.
    const configs = new Map(definitions.map((d) => [d.name, serviceConfig(d, config[d.name])]));
    // Recovery first: a corrupt WAL throws CorruptionError before anything has started (no timer
    // may keep a failed node alive, and no peer may see it as alive).
    const storageOptions = defaultRaftStorageOptions(METADATA_GROUP);
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
    if (this.start.kind !== 'restart')
      env.log.warn({ start: this.start.kind, state: this.start.identity.state }, 'node: identity decided');
    this.router = new MessageRouter(env.metrics, env.transport, env.log.child({ component: 'router' }), env.clock);
    try {
      this.incarnation = bumpIncarnation(env);
      for (const def of definitions) {
        const running = def.start(this.context(def, configs.get(def.name)));
        this.services.set(def.name, running);
        if (running.membership !== undefined) {
          assert(this.membershipView === undefined, 'one service provides membership');
          this.membershipView = running.membership;
        }
      }
    } catch (err) {
      this.stop();
      throw err;
    }
    env.transport.onMessage(this.router.dispatch);
  }

  /** The metadata group's driver (platform: the cluster's own Raft group). */
  get raft(): RaftDriver {
    const group = this.groups.get(METADATA_GROUP);
    assert(group !== undefined, 'the metadata group is open (a service declared it)');
    return group.handle.driver;
  }

  /** Cluster membership, as the service that provides it sees it. */
  get membership(): MembershipView {
    assert(this.membershipView !== undefined, 'a service provides membership');
    return this.membershipView;
  }

  /** A running service, for the simulator's hooks and tests (services never call this). */
  service<T extends RunningService>(name: string): T {
    const s = this.services.get(name);
    assert(s !== undefined, `service ${name} runs on this node`);
    return s as T;
  }

  /** A Raft group open on this node (for the simulator's invariants). */
  group(name: string): RaftGroupHandle | undefined {
    return this.groups.get(name)?.handle;
  }

  /** Every service's admin routes (paths are unique: checked here). */
  adminRoutes(): AdminRoute[] {
    const routes: AdminRoute[] = [];
    for (const s of this.services.values()) routes.push(...(s.adminRoutes ?? []));
    const paths = new Set<string>();
    for (const r of routes) {
      assert(r.path.startsWith('/v1/'), `admin route ${r.path} is under /v1/`);
      assert(!paths.has(r.path), `admin route ${r.path} is served by one service`);
      paths.add(r.path);
    }
    return routes;
  }

  /** Ready when every service with a probe answers without error (the first error is the reason). */
  ready(done: (error: { code: string; message: string } | undefined) => void): void {
    const probes = [...this.services.values()].flatMap((s) => (s.ready === undefined ? [] : [s.ready]));
    const next = (i: number): void => {
      if (i === probes.length) return done(undefined);
      probes[i]!((error) => (error === undefined ? next(i + 1) : done(error)));
    };
    next(0);
  }

  status(): NodeStatus {
    const sections: Record<string, unknown> = {};
    for (const [name, s] of this.services) if (s.status !== undefined) sections[name] = s.status();
    return {
      nodeId: this.env.nodeId,
      clusterId: this.config.clusterId,
      incarnation: this.incarnation,
      raft: this.raft.status(),
      start: this.start.kind,
      services: sections,
    };
  }

  stop(): void {
    // Reverse start order: a service stops before what it was built on.
    for (const s of [...this.services.values()].reverse()) s.stop();
    for (const g of this.groups.values()) g.handle.driver.stop();
    this.storage.close();
  }

  private context(def: AnyServiceDefinition, config: unknown): ServiceContext<unknown> {
    const env = this.env;
    const owned = new Set(def.messageTypes);
    const groups = new Set(def.raftGroups.map((g) => g.group));
    const protocols = new Set(def.protocols.map((p) => p.name));
    return {
      nodeId: env.nodeId,
      peers: this.config.peers,
      config,
      env,
      incarnation: this.incarnation,
      router: {
        register: (types, handler) => {
          for (const t of types) assert(owned.has(t), `${def.name} registers message type ${t} it declared`);
          this.router.register(types, handler);
        },
      },
      raftGroup: (name) => {
        assert(groups.has(name), `${def.name} uses Raft group ${name} it declared`);
        return this.openGroup(name);
      },
      membership: () => this.membership,
      port: (protocol) => {
        assert(protocols.has(protocol), `${def.name} asks for the port of protocol ${protocol} it declared`);
        return this.config.ports?.[protocol];
      },
      metrics: serviceMetrics(env.metrics),
      log: env.log.child({ service: def.name }),
    };
  }

  /**
   * Opens a Raft group on first use. Until the namespaced state machine lands, a group holds the
   * one namespace a service declared in it (asserted), and that state machine is the group's.
   */
  private openGroup(name: string): RaftGroupHandle {
    const open = this.groups.get(name);
    if (open !== undefined) return open.handle;
    assert(name === METADATA_GROUP, `Raft group ${name}: only the metadata group exists so far`);
    const namespaces = this.definitions.flatMap((d) =>
      d.raftGroups.flatMap((g) => (g.group === name && g.namespace !== undefined ? [g.namespace] : [])),
    );
    assert(namespaces.length === 1, `Raft group ${name} holds exactly one namespace (got ${namespaces.length})`);
    const env = this.env;
    const namespace = namespaces[0]!;
    const stateMachine: StateMachine & LogTimed = namespace.create(env);
    const logClock = new LeaderLogClock(env.clock, () => stateMachine.logTimeMs);
    const identity = this.start.identity;
    const rejoining = identity.state === 'rejoining';
    const peers = this.config.peers;
    const driver = new RaftDriver(env, this.router, {
      // A rejoining node learns its configuration from the leader (RaftOptions.voters).
      voters: rejoining ? [] : [env.nodeId, ...peers].sort(),
      ...(rejoining
        ? {
            rejoin: {
              rejoinId: identity.rejoinId,
              peers,
              onRejoined: () => writeIdentity(env.disk, { ...identity, state: 'member' }),
            },
          }
        : {}),
      incarnation: this.incarnation,
      stampProposal: (command, term) => logClock.stamp(command, term),
      storage: this.storage,
      stateMachine,
      ...this.config.raft,
    });
    const handle: RaftGroupHandle = {
      name,
      driver,
      namespace: (ns) => {
        assert(ns === namespace.name, `Raft group ${name} holds namespace ${ns}`);
        return stateMachine;
      },
    };
    this.groups.set(name, { handle, storage: this.storage });
    return handle;
  }
}
