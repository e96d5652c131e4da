// One barista node process: validated config → real Env (TCP transport, file disk, metrics
// registry, pino logs, real clock and timers) → NodeServices (the same program the simulator
// runs) → admin HTTP. SIGTERM/SIGINT stop it gracefully. This is an I/O layer.

import { noMutations } from '../lib/mutations.ts';
import { randomBytes } from 'node:crypto';
import { createLogger } from '../env/log.ts';
import { realClock, realTimers } from '../env/real-time.ts';
import type { Env } from '../env/types.ts';
import { validateLimits } from '../lib/limits.ts';
import { SeededRng } from '../lib/rng.ts';
import { MetricsRegistry } from '../metrics/registry.ts';
import { renderPrometheus } from '../metrics/prometheus.ts';
import { TcpTransport } from '../net/tcp-transport.ts';
import { FileDisk } from '../storage/file-disk.ts';
import { AdminServer } from './admin.ts';
import { loadNodeConfig, type NodeConfig } from './config.ts';
import { handleKvRequest, kvOpLabel } from './kv-http.ts';
import { NodeServices } from './services.ts';

export interface RunningNode {
  readonly config: NodeConfig;
  readonly services: NodeServices;
  readonly transport: TcpTransport;
  readonly admin: AdminServer;
  readonly metrics: MetricsRegistry;
  stop(): Promise<void>;
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
    listen: { host: config.host, port: config.ports.peer },
    peers,
    metrics,
    log: log.child({ component: 'transport' }),
    rng: rng.fork('transport'),
  });
  await transport.start();
  const env: Env = {
    nodeId: config.nodeId,
    clock: realClock,
    timers: realTimers,
    rng,
    transport,
    disk,
    metrics,
    log,
    mutations: noMutations,
  };
  let services: NodeServices;
  try {
    // Recovery happens here (WAL replay): a corrupt log is a loud CorruptionError, and the
    // transport must not keep the process alive after it.
    services = new NodeServices(env, {
      clusterId: config.clusterId,
      peers: config.peers.map((p) => p.id),
      membership: config.membership,
      raft: config.raft,
    });
  } catch (err) {
    await transport.close();
    throw err;
  }
  const startedMs = realClock.monotonicMs();
  const memory = metrics.gauge('process_resident_memory_bytes', 'Resident set size');
  const kvApdex = metrics.apdex(
    'kv_request_apdex',
    `Apdex of client KV requests, target T = ${config.metrics.apdexTargetMs} ms (failures count as frustrated)`,
    config.metrics.apdexTargetMs,
  );
  const admin = new AdminServer(
    {
      status: () => ({
        ...services.status(),
        pid: process.pid,
        uptimeMs: Math.round(realClock.monotonicMs() - startedMs),
        transport: transport.peerStatus(),
      }),
      kv: async (body, client) => {
        const started = performance.now();
        const label = { op: kvOpLabel(body) };
        const answer = await handleKvRequest(services.kv, body, client);
        const latencyMs = performance.now() - started;
        metrics
          .histogram('kv_request_latency_ms', 'Client KV request latency (HTTP /v1/kv), answered ones', label)
          .observe(latencyMs);
        metrics
          .counter('kv_requests_total', 'Client KV requests by outcome', { ...label, status: String(answer.status) })
          .inc();
        if (answer.status === 200) kvApdex.observe(latencyMs);
        else kvApdex.failed();
        return answer;
      },
      metricsText: () => {
        memory.set(process.memoryUsage.rss());
        return renderPrometheus(metrics);
      },
    },
    metrics,
  );
  try {
    await admin.listen(config.host, config.ports.admin);
  } catch (err) {
    await transport.close();
    throw err;
  }
  log.info({ peerPort: config.ports.peer, adminPort: config.ports.admin, pid: process.pid }, 'node: ready');
  let stopped = false;
  return {
    config,
    services,
    transport,
    admin,
    metrics,
    async stop() {
      if (stopped) return;
      stopped = true;
      services.stop();
      await admin.close();
      await transport.close();
      log.info({}, 'node: stopped');
    },
  };
}

/** `barista node --config FILE`: runs until SIGTERM/SIGINT; returns the exit code. */
export async function runNodeFromFile(path: string): Promise<number> {
  const node = await startNode(loadNodeConfig(path));
  return await new Promise<number>((resolve) => {
    const onSignal = (): void => {
      void node.stop().then(() => resolve(0));
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
}
