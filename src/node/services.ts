// One barista node: the platform a node's services run on, and the services built over it from
// one list (src/node/registry.ts). This class is the node "program": the real process
// (src/node/main.ts) and the simulator (`barista sim`, test/sim) both build it, so what the
// simulator proves is what runs.
//
// The platform owns: the node's durable identity (src/node/identity.ts, through RaftGroups: a node
// whose data is gone refuses to start as a voter unless told to rejoin, and then rejoins every group
// as a learner), the incarnation (bumped once per start), the peer message router, and the Raft
// groups (raft-groups.ts): the metadata group (cluster-level state, src/metadata/cluster-state.ts)
// first, then each group a service declares, in registry order, one WAL per group. Services
// (src/services/<name>/) get exactly a ServiceContext (src/node/service.ts) and are started in
// list order; the one that provides membership comes first. A group's driver starts when a service
// first asks for it, after the groups declared before it (the metadata group first), so drivers
// start in declaration order; groups nobody asked for start after the services. Nothing here
// knows what a service does.

import type { ClientCloseReason, ClientConnection, Env, Listener, ListenerBounds, Metrics } from '../env/types.ts';
import { assert } from '../lib/assert.ts';
import { ConfigError } from '../lib/errors.ts';
import { MessageRouter } from '../lib/router.ts';
import { startIncarnation } from '../membership/driver.ts';
import { ClusterStateMachine } from '../metadata/cluster-state.ts';
import { LeaderLogClock } from '../metadata/log-clock.ts';
import type { RaftDriver } from '../raft/driver.ts';
import type { StartDecision } from './identity.ts';
import { METADATA_GROUP, RaftGroups, type RaftTiming } from './raft-groups.ts';
import { registeredServices } from './registry.ts';
import { limits } from '../lib/limits.ts';
import type { StateMachine } from '../raft/state-machine.ts';
import type {
  AdminRoute,
  ApdexMeter,
  ServiceMetrics,
  AnyServiceDefinition,
  MembershipView,
  RaftGroupHandle,
  RunningService,
  ServiceContext,
} from './service.ts';

export type { RaftTiming } from './raft-groups.ts';

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
  /** The WALs' preallocation step (absent: walDefaults, preallocating; 0 turns it off). */
  readonly walPreallocateBytesMax?: number;
  /**
   * Every Raft group's snapshot data bound (absent: limits.snapshotDataBytesMax). The state a
   * namespace keeps is bounded to fit it (RaftGroupUse.create's `group`), checked at apply, so
   * every node of a cluster must have the same: only the simulator sets it, on every node alike,
   * small enough for a short run to reach it.
   */
  readonly snapshotDataBytesMax?: number;
  /** Each service's config section, under the service's name (absent: the schema's defaults). */
  readonly [service: string]: unknown;
}

export interface NodeStatus {
  readonly nodeId: string;
  readonly clusterId: string;
  readonly incarnation: number;
  /** The metadata group (the cluster's own), as /status always showed it. */
  readonly raft: ReturnType<RaftDriver['status']>;
  /** Every Raft group on this node, by group id. */
  readonly groups: ReturnType<RaftGroups['status']>;
  /** How this start began (identity.ts): bootstrap, restart, adopt or rejoin. */
  readonly start: StartDecision['kind'];
  /** Each service's /status section, by service name. */
  readonly services: Readonly<Record<string, unknown>>;
  /** Each client listener a service opened, by protocol. */
  readonly clients: Readonly<Record<string, ClientListenerStatus>>;
}

/**
 * One client listener's counts since the node started. Refusals (`port_full`, `address_full`)
 * never reach the host: they are in client_connections_refused_total{protocol,reason}.
 */
export interface ClientListenerStatus {
  readonly service: string;
  readonly port: number;
  readonly open: number;
  readonly accepted: number;
  /** Closed at an eviction bound (`idle_timeout`, `slow_reader`). */
  readonly evicted: number;
  readonly closed: Readonly<Partial<Record<ClientCloseReason, number>>>;
}

interface OpenListener {
  readonly service: string;
  readonly listener: Listener;
  port: number;
  readonly counts: { accepted: number; readonly closed: Partial<Record<ClientCloseReason, number>> };
}

/**
 * The connection as the service's handler gets it, with its close counted (the close handler is
 * one slot: the count runs first, then whatever handler the service sets).
 */
function countedConnection(conn: ClientConnection, counted: (reason: ClientCloseReason) => void): ClientConnection {
  conn.onClose(counted);
  return new CountedConnection(conn, counted);
}

/**
 * A plain delegate, not a Proxy: every write and every property read of a connection went
 * through a Proxy trap that bound a fresh function per access (1 % of a node's CPU under
 * redis-benchmark, plus the garbage).
 */
class CountedConnection implements ClientConnection {
  constructor(
    private readonly conn: ClientConnection,
    private readonly counted: (reason: ClientCloseReason) => void,
  ) {}
  get id(): number {
    return this.conn.id;
  }
  get protocol(): string {
    return this.conn.protocol;
  }
  get remoteAddress(): string {
    return this.conn.remoteAddress;
  }
  get bounds(): ListenerBounds {
    return this.conn.bounds;
  }
  get bufferedBytes(): number {
    return this.conn.bufferedBytes;
  }
  get inflightRequests(): number {
    return this.conn.inflightRequests;
  }
  get heldBytes(): number {
    return this.conn.heldBytes;
  }
  reportHeldBytes(bytes: number): void {
    this.conn.reportHeldBytes(bytes);
  }
  setEvictable(evictable: boolean): void {
    this.conn.setEvictable(evictable);
  }
  get closed(): boolean {
    return this.conn.closed;
  }
  onData(handler: (chunk: Uint8Array) => void): void {
    this.conn.onData(handler);
  }
  onDrain(handler: () => void): void {
    this.conn.onDrain(handler);
  }
  onClose(handler: (reason: ClientCloseReason) => void): void {
    const counted = this.counted;
    this.conn.onClose((reason) => {
      counted(reason);
      handler(reason);
    });
  }
  write(bytes: Uint8Array): boolean {
    return this.conn.write(bytes);
  }
  requestStarted(): void {
    this.conn.requestStarted();
  }
  requestFinished(): void {
    this.conn.requestFinished();
  }
  pause(): void {
    this.conn.pause();
  }
  resume(): void {
    this.conn.resume();
  }
  close(): void {
    this.conn.close();
  }
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

/** The node's Raft groups: the metadata group first, then each group a service declares. */
export function declaredGroups(definitions: readonly AnyServiceDefinition[]): string[] {
  const groups = [METADATA_GROUP];
  for (const d of definitions) for (const g of d.raftGroups) if (!groups.includes(g.group)) groups.push(g.group);
  return groups;
}

/** The Raft groups of a node built from the registry (the metadata group first). */
export const RAFT_GROUPS: readonly string[] = declaredGroups(registeredServices);

export class NodeServices {
  readonly router: MessageRouter;
  readonly groups: RaftGroups;
  readonly start: StartDecision;
  readonly incarnation: number;
  /** Whether the incarnation files remembered the last life (ServiceContext.incarnationRemembered). */
  readonly incarnationRemembered: boolean;
  /** The running services, by name, in start order. */
  readonly services = new Map<string, RunningService>();
  private readonly handles = new Map<string, RaftGroupHandle>();
  /** Client listeners the services opened, by protocol (closed on stop). */
  private readonly listeners = new Map<string, OpenListener>();
  private membershipView: MembershipView | undefined;
  /** Each service's parsed config section, by service name. */
  private readonly configs: ReadonlyMap<string, unknown>;

  constructor(
    readonly env: Env,
    readonly config: ServicesConfig,
    readonly definitions: readonly AnyServiceDefinition[] = registeredServices,
  ) {
    // Every service's config first: a bad field fails the start before anything touches the disk.
    const configs = new Map(definitions.map((d) => [d.name, serviceConfig(d, config[d.name])]));
    this.configs = configs;
    this.router = new MessageRouter(env.metrics, env.transport, env.log.child({ component: 'router' }), env.clock);
    // Recovery first: a corrupt WAL throws CorruptionError before anything has started (no timer
    // may keep a failed node alive, and no peer may see it as alive). Identity before the WALs.
    this.groups = new RaftGroups(env, this.router, {
      groups: declaredGroups(definitions),
      clusterId: config.clusterId,
      peers: config.peers,
      raft: config.raft,
      initialClusterState: config.initialClusterState ?? 'new',
      rejoin: config.rejoin ?? false,
      dataDir: config.dataDir ?? '(data directory)',
      ...(config.walPreallocateBytesMax !== undefined ? { walPreallocateBytesMax: config.walPreallocateBytesMax } : {}),
      ...(config.snapshotDataBytesMax !== undefined ? { snapshotDataBytesMax: config.snapshotDataBytesMax } : {}),
    });
    this.start = this.groups.start;
    if (this.start.kind !== 'restart')
      env.log.warn({ start: this.start.kind, state: this.start.identity.state }, 'node: identity decided');
    try {
      const incarnation = startIncarnation(env);
      this.incarnation = incarnation.incarnation;
      this.incarnationRemembered = incarnation.remembered;
      for (const def of definitions) {
        const running = def.start(this.context(def, configs.get(def.name)));
        this.services.set(def.name, running);
        if (running.membership !== undefined) {
          assert(this.membershipView === undefined, 'one service provides membership');
          this.membershipView = running.membership;
        }
      }
      for (const group of declaredGroups(definitions)) this.openGroup(group);
    } catch (err) {
      this.stop();
      throw err;
    }
    env.transport.onMessage(this.router.dispatch);
  }

  /** The metadata group's driver (platform: the cluster's own Raft group). */
  get raft(): RaftDriver {
    const driver = this.groups.get(METADATA_GROUP);
    assert(driver !== undefined, 'the metadata group is open');
    return driver;
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

  /** A Raft group open on this node (for the simulator's hooks and tests). */
  group(name: string): RaftGroupHandle | undefined {
    return this.handles.get(name);
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

  /**
   * Ready when a linearizable read succeeds on every Raft group and every service with a probe
   * answers without error (the first error is the reason).
   */
  ready(done: (error: { code: string; message: string } | undefined) => void): void {
    const probes = [
      (d: (error: { code: string; message: string } | undefined) => void) => this.groups.read(d),
      ...[...this.services.values()].flatMap((s) => (s.ready === undefined ? [] : [s.ready])),
    ];
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
      groups: this.groups.status(),
      start: this.start.kind,
      services: sections,
      clients: Object.fromEntries(
        [...this.listeners].map(([protocol, l]) => {
          const { service, port, listener, counts } = l;
          const evicted = (counts.closed.idle_timeout ?? 0) + (counts.closed.slow_reader ?? 0);
          const closed = { ...counts.closed };
          return [protocol, { service, port, open: listener.connections, accepted: counts.accepted, evicted, closed }];
        }),
      ),
    };
  }

  stop(): void {
    // Clients first: no request reaches a service that is stopping.
    for (const [protocol, l] of this.listeners) {
      l.listener
        .close()
        .catch((err: unknown) =>
          this.env.log.warn({ protocol, err: String(err) }, 'node: client listener close failed'),
        );
    }
    // Reverse start order: a service stops before what it was built on.
    for (const s of [...this.services.values()].reverse()) s.stop();
    this.groups.stop();
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
      incarnationRemembered: this.incarnationRemembered,
      start: this.start.kind,
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
      membershipIfRunning: () => this.membershipView,
      memberOps: this.groups,
      port: (protocol) => {
        assert(protocols.has(protocol), `${def.name} asks for the port of protocol ${protocol} it declared`);
        return this.config.ports?.[protocol];
      },
      listen: (protocol, bounds, handler) => {
        assert(protocols.has(protocol), `${def.name} listens on protocol ${protocol} it declared`);
        assert(!this.listeners.has(protocol), `${def.name} listens on protocol ${protocol} once`);
        const port = this.config.ports?.[protocol] ?? 0;
        const counts = { accepted: 0, closed: {} as Partial<Record<ClientCloseReason, number>> };
        const counted = (reason: ClientCloseReason) => {
          counts.closed[reason] = (counts.closed[reason] ?? 0) + 1;
        };
        const listener = env.listen(protocol, { port, bounds }, (conn) => {
          counts.accepted++;
          handler(countedConnection(conn, counted));
        });
        const entry: OpenListener = { service: def.name, listener, port, counts };
        this.listeners.set(protocol, entry);
        listener.ready().then(
          (bound) => {
            entry.port = bound;
          },
          () => undefined, // the bind error reaches the node's start (main.ts awaits every listener)
        );
        return listener;
      },
      metrics: serviceMetrics(env.metrics),
      log: env.log.child({ service: def.name }),
    };
  }

  /**
   * Starts a declared group's driver on first use, after every group declared before it (drivers
   * start in declaration order, the metadata group first). Until the namespaced state machine
   * lands, a group holds at most one service's namespace (asserted), and that state machine is the
   * group's; the metadata group without one holds the cluster state.
   */
  private openGroup(name: string): RaftGroupHandle {
    const open = this.handles.get(name);
    if (open !== undefined) return open;
    const order = declaredGroups(this.definitions);
    const at = order.indexOf(name);
    assert(at >= 0, `Raft group ${name} is declared`);
    for (const before of order.slice(0, at)) this.openGroup(before);
    const namespaces = this.definitions.flatMap((d) =>
      d.raftGroups.flatMap((g) =>
        g.group === name && g.namespace !== undefined ? [{ namespace: g.namespace, service: d.name }] : [],
      ),
    );
    assert(namespaces.length <= 1, `Raft group ${name} holds one namespace (got ${namespaces.length})`);
    const namespace = namespaces[0]?.namespace;
    assert(namespace !== undefined || name === METADATA_GROUP, `Raft group ${name} holds a service's namespace`);
    const env = this.env;
    let driver: RaftDriver;
    let stateMachine: StateMachine;
    if (namespace === undefined) {
      stateMachine = new ClusterStateMachine();
      driver = this.groups.open(name, { stateMachine, incarnation: this.incarnation });
    } else {
      const machine = namespace.create(env, this.configs.get(namespaces[0]!.service), {
        snapshotDataBytesMax: this.config.snapshotDataBytesMax ?? limits.snapshotDataBytesMax,
      });
      const logClock = new LeaderLogClock(
        env.clock,
        () => machine.logTimeMs,
        env.mutations.has('kv-log-clock-wall-delta'),
      );
      stateMachine = machine;
      driver = this.groups.open(name, {
        stateMachine: machine,
        incarnation: this.incarnation,
        stampProposal: (command, term) => logClock.stamp(command, term),
      });
    }
    const handle: RaftGroupHandle = {
      name,
      driver,
      namespace: (ns) => {
        assert(ns === namespace?.name, `Raft group ${name} holds namespace ${ns}`);
        return stateMachine;
      },
    };
    this.handles.set(name, handle);
    return handle;
  }
}
