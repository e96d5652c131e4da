// One barista node process: validated config → real Env (TCP transport, file disk, metrics
// registry, pino logs, real clock and timers) → NodeServices (the platform and every registered
// service, the same program the simulator runs) → admin HTTP serving the services' routes and
// /status sections. SIGTERM/SIGINT stop it gracefully, and so does the loss of its supervisor: a
// node spawned with an IPC channel (as `barista dev` spawns them) stops when that channel closes,
// which the kernel does when the supervisor dies, even by SIGKILL; a node started by hand has no
// channel and runs until signalled. This is an I/O layer.

import { BaristaError } from '../lib/errors.ts';
import { noMutations } from '../lib/mutations.ts';
import { randomBytes } from 'node:crypto';
import { createLogger } from '../env/log.ts';
import { realClock, realTimers } from '../env/real-time.ts';
import type { Env, Logger } from '../env/types.ts';
import { validateLimits } from '../lib/limits.ts';
import { SeededRng } from '../lib/rng.ts';
import { MetricsRegistry } from '../metrics/registry.ts';
import { renderPrometheus } from '../metrics/prometheus.ts';
import { TcpClientListeners } from '../net/tcp-listener.ts';
import { TcpTransport } from '../net/tcp-transport.ts';
import { FileDisk } from '../storage/file-disk.ts';
import { AdminServer, type Readiness } from './admin.ts';
import { loadNodeConfig, type NodeConfig } from './config.ts';
import { ProcessMetrics } from './process-metrics.ts';
import { NodeServices } from './services.ts';

export interface RunningNode {
  readonly config: NodeConfig;
  readonly services: NodeServices;
  readonly transport: TcpTransport;
  readonly admin: AdminServer;
  readonly metrics: MetricsRegistry;
  readonly log: Logger;
  stop(): Promise<void>;
}

/**
 * Readiness means serving: a linearizable read barrier (ReadIndex through Raft) completes on this
 * node. That needs a known leader that has committed an entry in its term, and this node's applied
 * index caught up to the leader's commit index — exactly what a client write or read needs next.
 * One probe at a time: concurrent /ready requests share the outstanding read, so probing cannot
 * fill the driver's pending-request bound.
 */
export function readinessProbe(read: (done: (error: { code: string; message: string } | undefined) => void) => void) {
  let inflight: Promise<Readiness> | undefined;
  return (): Promise<Readiness> => {
    inflight ??= new Promise<Readiness>((resolve) =>
      read((error) =>
        resolve(error === undefined ? { ready: true } : { ready: false, reason: `${error.code}: ${error.message}` }),
      ),
    ).finally(() => {
      inflight = undefined;
    });
    return inflight;
  };
}

export async function startNode(config: NodeConfig): Promise<RunningNode> {
  validateLimits();
  const log = createLogger({ nodeId: config.nodeId, level: config.log.level });
  const metrics = new MetricsRegistry();
  const rng = new SeededRng(randomBytes(16).toString('hex'));
  const disk = new FileDisk({ root: config.dataDir });
  const peers = Object.fromEntries(config.peers.map((p) => [p.id, { host: p.host, port: p.port }]));
  const transport = new TcpTransport({
    self: config.nodeId,
    clusterId: config.clusterId,
    listen: { host: config.host, port: config.ports['peer']! },
    peers,
    metrics,
    log: log.child({ component: 'transport' }),
    rng: rng.fork('transport'),
  });
  await transport.start();
  // Client front ends bind their ports (config.ports by protocol) through env.listen.
  const clientListeners = new TcpClientListeners({
    host: config.host,
    clock: realClock,
    timers: realTimers,
    metrics,
    log,
  });
  const env: Env = {
    nodeId: config.nodeId,
    clock: realClock,
    timers: realTimers,
    rng,
    transport,
    disk,
    metrics,
    log,
    listen: (protocol, options, handler) => clientListeners.listen(protocol, options, handler),
    mutations: noMutations,
  };
  let services: NodeServices | undefined;
  // A start-up that fails after this point stops what it started: its timers (Raft, the store's
  // background work) and listeners would keep the process alive, and a node whose port is taken
  // must exit with the error, not run on without it (client ports and the admin port alike).
  const abandon = async (err: unknown): Promise<never> => {
    services?.stop();
    await clientListeners.close();
    await transport.close();
    throw err;
  };
  try {
    // Recovery happens here (WAL replay): a corrupt log is a loud CorruptionError, and the
    // transport must not keep the process alive after it.
    // Every service's section of the config travels under its own name (NodeConfig's index).
    services = new NodeServices(env, { ...config, peers: config.peers.map((p) => p.id) });
    // Every client port a service asked for is bound before the node says it is up.
    await clientListeners.ready();
  } catch (err) {
    return abandon(err);
  }
  const startedMs = realClock.monotonicMs();
  const processMetrics = new ProcessMetrics(metrics);
  const admin = new AdminServer(
    {
      ready: readinessProbe((done) => services.ready(done)),
      status: () => ({
        ...services.status(),
        pid: process.pid,
        uptimeMs: Math.round(realClock.monotonicMs() - startedMs),
        transport: transport.peerStatus(),
      }),
      routes: services.adminRoutes(),
      metricsText: () => {
        processMetrics.refresh();
        return renderPrometheus(metrics);
      },
    },
    metrics,
  );
  try {
    await admin.listen(config.host, config.ports['admin']!);
  } catch (err) {
    processMetrics.stop();
    return abandon(err);
  }
  log.info({ ports: config.ports, pid: process.pid }, 'node: ready');
  let stopped = false;
  return {
    config,
    services,
    transport,
    admin,
    metrics,
    log,
    async stop() {
      if (stopped) return;
      stopped = true;
      services.stop();
      await clientListeners.close();
      await admin.close();
      await transport.close();
      processMetrics.stop();
      log.info({}, 'node: stopped');
    },
  };
}

/**
 * `barista node --config FILE [--rejoin]`: runs until SIGTERM/SIGINT, or until its supervisor's
 * IPC channel closes (see the header); returns the exit code. `rejoin` overrides the config's
 * `rejoin` key (an operator's one-off repair of a wiped node).
 */
export async function runNodeFromFile(path: string, options: { rejoin?: boolean } = {}): Promise<number> {
  // The channel must never keep the process alive by itself (a node that failed to start exits).
  const supervised = process.channel !== undefined;
  process.channel?.unref();
  const config = loadNodeConfig(path);
  const node = await startNode(options.rejoin === true ? { ...config, rejoin: true } : config);
  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (why: string): void => {
      if (stopping) return;
      stopping = true;
      node.log.info({ why }, 'node: stopping');
      void node.stop().then(() => resolve(0));
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    // A life that learned it runs below an incarnation a peer knows (src/membership) must exit
    // and start again above it: stop cleanly, exit non-zero so a supervisor restarts it. Any
    // other uncaught error ends as Node's default would (its stack, exit 1).
    process.on('uncaughtException', (err) => {
      if (!(err instanceof BaristaError && err.code === 'incarnation_behind')) {
        // What Node does without a listener: the stack on stderr, exit 1.
        process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
        process.exit(1);
      }
      if (stopping) return;
      stopping = true;
      node.log.error({ err: err.message }, 'node: exiting to start again above a peer-known incarnation');
      void node.stop().then(() => resolve(75)); // EX_TEMPFAIL: start it again
    });
    if (supervised) {
      if (!process.connected) stop('supervisor gone before start-up finished');
      else process.once('disconnect', () => stop('supervisor gone (IPC channel closed)'));
    }
  });
}
