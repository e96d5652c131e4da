// The service seam: what a service hosted by a node declares, what the node hands it, and what it
// hands back. A service is a value (a `ServiceDefinition`), listed once in src/node/registry.ts;
// the node host (src/node/services.ts) builds every listed service the same way in a real process
// (src/node/main.ts) and in the simulator (src/node/sim-cluster.ts), so the simulator runs the
// services' real code.
//
// Contract, in the order the host uses it:
//   1. config   `configSchema` validates the node config's top-level key named like the service
//               (`kv: {...}`, `membership: {...}`), with defaults; errors name the field
//               (`kv.apdexTargetMs: ...`). Validated with the rest of the node config.
//   2. ports    `protocols` lists the client protocols the service listens on; the node config's
//               `ports` map must hold a port for each (`ports.resp: 6379`), and `barista dev`
//               assigns one per node. (`peer` and `admin` are the platform's.) At start the service
//               calls `ctx.listen(protocol, bounds, handler)` once per protocol; the host binds
//               `ports.<protocol>`, closes the listener when the node stops (or the start fails)
//               and shows its counts under /status `clients.<protocol>`. Bounds come from the
//               service's config section (src/node/listen-bounds.ts: defaults, overridable).
//   3. groups   `raftGroups` names the Raft groups the service uses and the state machine it keeps
//               in each (one namespace per service and group).
//   4. start    `start(ctx)` gets exactly the components in ServiceContext and nothing of the
//               node's internals; peer message types it registers must be among `messageTypes`.
//   5. running  the RunningService it returns gives its admin routes, its /status section, its
//               readiness (optional) and stop().
//   6. sim      `sim` gives the invariants the simulator checks in every run, the convergence
//               condition of the liveness phase, and the named workloads `barista sim --workload`
//               runs (a client generator over the simulated cluster, its checker model, its own
//               liveness condition); `--workload list` lists them, `--workload mix` lets each
//               seed draw which run and how hard. Workloads use only virtual time and their Rng.
// Dependencies point one way: services import the platform (src/node, src/raft, src/lib, ...), the
// platform never imports a service (except the one list, registry.ts); test/boundaries.test.ts.

import type { z } from 'zod';
import type { ClientConnection, Env, Listener, ListenerBounds, Logger, Metrics, NodeId } from '../env/types.ts';
import type { MessageHandler } from '../lib/router.ts';
import type { PeerView } from '../membership/membership.ts';
import type { RaftDriver } from '../raft/driver.ts';
import type { StateMachine } from '../raft/state-machine.ts';
import type { RaftGroups } from './raft-groups.ts';
import type { History } from '../check/history.ts';
import type { SeededRng } from '../lib/rng.ts';
import type { Simulation } from '../sim/simulation.ts';

/** A client protocol a service listens on; its port is `ports.<name>` in the node config. */
export interface ProtocolDeclaration {
  /** Lower-case name, also the key in `ports` and in cluster.json (`resp`, `zookeeper`, ...). */
  readonly name: string;
  /** The protocol's well-known port, for documentation (a dev cluster assigns its own). */
  readonly wellKnownPort?: number;
}

/** The state machine a service keeps in a Raft group (its namespace there). */
export interface RaftGroupUse<Config = unknown> {
  /** The group's name (`metadata`, ...): its WAL directory and metrics label. */
  readonly group: string;
  /** The service's namespace in the group; undefined when the service only reads the group. */
  readonly namespace?: {
    readonly name: string;
    /**
     * Builds the state machine with the service's parsed config section; called once per start of
     * the node, before the group opens. `group.snapshotDataBytesMax`: the group's snapshot image
     * bound, the same on every node; state that can grow is bounded to fit it (at apply, so every
     * replica refuses the same command).
     */
    create(
      env: Pick<Env, 'mutations' | 'metrics'>,
      config: Config,
      group: { readonly snapshotDataBytesMax: number },
    ): StateMachine & LogTimed;
  };
}

/** A state machine that keeps log time (the leader's stamp, src/metadata/log-clock.ts). */
export interface LogTimed {
  readonly logTimeMs: number;
}

/** A Raft group as a service sees it: the driver and the state machine of each namespace. */
export interface RaftGroupHandle {
  readonly name: string;
  readonly driver: RaftDriver;
  /** The state machine a service declared for `namespace` in this group (RaftGroupUse). */
  namespace(name: string): StateMachine;
}

/** What every service may know of cluster membership (the membership service provides it). */
export interface MembershipView {
  /** This node's incarnation: grows on every start. */
  readonly incarnation: number;
  view(): PeerView[];
  /** Changes whenever a peer's status does: rebuild what is derived from view() only then. */
  readonly statusVersion: number;
}

/** Membership operations over every Raft group (raft-groups.ts): add, remove, promote, replace. */
export type MemberOps = Pick<RaftGroups, 'memberOp' | 'membersView'>;

/** Registration of peer message handlers, restricted to the types the service declared. */
export interface ServiceRouter {
  register(types: readonly number[], handler: MessageHandler): void;
}

/** An admin HTTP route a service serves on the node's admin port (src/node/admin.ts). */
export interface AdminRoute {
  /** Exact path, e.g. `/v1/kv`; must start with `/v1/` (the platform keeps the rest). */
  readonly path: string;
  readonly methods: readonly ('GET' | 'POST')[];
  /** `body` is the parsed JSON body of a POST (undefined for GET). Never throws for bad input. */
  handle(request: AdminRequest): Promise<AdminAnswer>;
}

export interface AdminRequest {
  readonly method: 'GET' | 'POST';
  readonly body: unknown;
  /** The client's address, as the admin server saw it. */
  readonly client: { readonly address: string };
}

export interface AdminAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** Exactly what a service is handed at start; nothing else of the node is reachable. */
export interface ServiceContext<Config> {
  readonly nodeId: NodeId;
  /** The other nodes of the cluster (the static seed list). */
  readonly peers: readonly NodeId[];
  /** The service's own section of the node config, validated, defaults filled. */
  readonly config: Config;
  /** The node's Env (clock, timers, rng, transport, disk, metrics, log, mutations). */
  readonly env: Env;
  /** This node's incarnation (persisted and bumped once per start by the host). */
  readonly incarnation: number;
  /**
   * False when no incarnation file verified at start (a first life, a wiped data directory): the
   * wall clock stood in, and may be below an earlier life's (src/membership/membership.ts).
   */
  readonly incarnationRemembered: boolean;
  /**
   * How this start began (src/node/identity.ts): a first start of a new node ('bootstrap'), a
   * restart, or a node whose data is gone ('rejoin', 'adopt'). A service keeping replica ids in its
   * own data must not reuse its earlier life's when that data is gone (the store: service.ts).
   */
  readonly start: 'bootstrap' | 'restart' | 'adopt' | 'rejoin';
  readonly router: ServiceRouter;
  /** A Raft group the service declared in `raftGroups` (opened on first use). */
  raftGroup(name: string): RaftGroupHandle;
  /** Cluster membership; available to every service listed after the one that provides it. */
  membership(): MembershipView;
  /** The same, or undefined when no running service provides membership (a test's partial node). */
  membershipIfRunning(): MembershipView | undefined;
  /** Operators' membership operations, applied to every Raft group of the node in turn. */
  readonly memberOps: MemberOps;
  /** The port of a protocol the service declared (the listener binds it). */
  port(protocol: string): number | undefined;
  /**
   * Accepts client connections for a protocol the service declared, on `ports.<protocol>` (the
   * simulator: any). One listener per protocol; the host closes it on stop and on a failed start.
   */
  listen(protocol: string, bounds: ListenerBounds, handler: (connection: ClientConnection) => void): Listener;
  readonly metrics: ServiceMetrics;
  /** The node's logger with `service: <name>` bound. */
  readonly log: Logger;
}

/** An Apdex score (satisfied / tolerating / frustrated against a target latency). */
export interface ApdexMeter {
  observe(latencyMs: number): void;
  failed(): void;
}

/** The Env's metrics, plus Apdex where the registry has it (the real one; the simulator's has not). */
export interface ServiceMetrics extends Metrics {
  apdex(name: string, help: string, targetMs: number): ApdexMeter;
}

/** Whether the node serves clients now (admin GET /ready). */
export type ReadinessProbe = (done: (error: { code: string; message: string } | undefined) => void) => void;

export interface RunningService {
  /** Admin routes under /v1/ (none by default). */
  readonly adminRoutes?: readonly AdminRoute[];
  /** This service's section of GET /status (JSON-able), shown by `barista status`. */
  status?(): unknown;
  /** Readiness: the node is ready when every service that has a probe answers without error. */
  readonly ready?: ReadinessProbe;
  /** Set by the one service that provides cluster membership to the others. */
  readonly membership?: MembershipView;
  stop(): void;
}

export interface ServiceDefinition<Config = unknown, Running extends RunningService = RunningService> {
  /** Lower-case name: the config key, the /status section and the `service` log field. */
  readonly name: string;
  /** One line for `barista sim --workload list` and docs. */
  readonly description: string;
  /** Validates `config[name]`; its defaults apply when the key is absent. */
  readonly configSchema: z.ZodType<Config, unknown>;
  /** Peer message types the service registers (src/lib/message-types.ts). */
  readonly messageTypes: readonly number[];
  readonly protocols: readonly ProtocolDeclaration[];
  readonly raftGroups: readonly RaftGroupUse<Config>[];
  start(ctx: ServiceContext<Config>): Running;
  /** The simulator's hooks: invariants, convergence, workloads. */
  readonly sim?: SimServiceHooks;
}

/** Erases a definition's config type, for lists of services with different configs. */
// biome-ignore lint/suspicious/noExplicitAny: a list holds services of different config types.
export type AnyServiceDefinition = ServiceDefinition<any, RunningService>;

/** Lower-case protocol and service names: they become config keys, ports keys and label values. */
export const serviceNamePattern = /^[a-z][a-z0-9-]{0,31}$/;

// ---- The simulator's side of the seam (src/node/sim-cluster.ts runs it) ----

/** What the simulator's hooks see of a node: its running services (NodeServices implements it). */
export interface ServiceHost {
  service<T extends RunningService>(name: string): T;
  /** The node's Raft groups (the platform's invariants and liveness look at every one). */
  readonly groups: Pick<RaftGroups, 'all' | 'get'>;
}

export type ClusterSim = Simulation<ServiceHost>;

export interface SimServiceHooks {
  /** Adds the service's invariants (sim.addInvariant); called once per run, before it starts. */
  addInvariants?(sim: ClusterSim): void;
  /** After healing, the run waits (within its liveness bound) until this holds for every service. */
  converged?(sim: ClusterSim): boolean;
  readonly workloads?: readonly SimWorkload[];
  /**
   * Hosted by a cluster simulation only when one of its own workloads runs: a service added to the
   * simulator after fixed seeds were recorded would otherwise move every run's schedule (a node's
   * timers, messages and disk writes), and one without client traffic has nothing to check.
   */
  readonly onlyWithWorkload?: boolean;
  /**
   * The config section each node of a cluster simulation runs the service with (absent: the
   * schema's defaults), e.g. bounds small enough that the sim's small state still takes their
   * rare paths (the coord tree's snapshot in slices of a few znodes).
   */
  readonly config?: Readonly<Record<string, unknown>>;
}

export interface SimWorkloadContext {
  readonly sim: ClusterSim;
  readonly rng: SeededRng;
  /** Issue no new operation at or after this virtual time (the end of the safety phase). */
  readonly stopAtMs: number;
  /** Overrides of the workload's own options (tests and CLI flags); the workload validates them. */
  readonly options: Readonly<Record<string, unknown>>;
  /** In swarm mode: the intensity the seed drew for this workload, in [0, 1). */
  readonly intensity?: number;
}

/** A client history and the checker's verdict on it. */
export interface ClientSummary {
  readonly ops: number;
  readonly ok: number;
  readonly verdict: string;
  readonly reason?: string;
  readonly checkMs: number;
  readonly controlActions: number;
  readonly history: History;
  /** A failure the workload found in its history beyond the model's verdict (checked after it). */
  readonly failure?: { readonly invariant: string; readonly detail: string };
  /** The workload's own counters, for tests that ask whether a scenario happened. */
  readonly counts?: Readonly<Record<string, number>>;
}

export interface RunningWorkload {
  /** Operations issued and not yet answered or given up. */
  readonly inflightOps: number;
  /** Leadership transfers, membership changes and the like the workload made (swarm counts them). */
  readonly controlActions: number;
  /** How long the run may wait for in-flight operations to settle after liveness. */
  readonly settleMs: number;
  /** The workload's own liveness after healing, before `deadlineMs`; throws sim.fail otherwise. */
  liveness(deadlineMs: number): void;
  /** The checker's verdict on the history (undefined: the workload records none). */
  check(): ClientSummary | undefined;
}

export interface SimWorkload {
  /** Unique across services: `barista sim --workload NAME`. */
  readonly name: string;
  readonly description: string;
  /** Whether swarm's workload mix may draw it (it records a history the checker can judge). */
  readonly inMix: boolean;
  start(ctx: SimWorkloadContext): RunningWorkload;
}
