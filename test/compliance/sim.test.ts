// Goal: the simulator's Transport (SimNetwork), Disk (SimDisk) and client links (SimClientLinks)
// pass the same compliance suites as the real TcpTransport, FileDisk and TcpClientListeners
// (test/compliance/real.test.ts), so code proven in
// simulation runs unchanged on real sockets and files.
// The harness builds a Simulation whose program just returns each node's Env; `until` advances
// virtual time (runUntilCondition) and `idle` runs the world forward. The disk world crashes the
// node through the engine (sim.crash + sim.restart), so unsynced writes may be lost or torn; the
// suite runs with a few seeds to cover different crash outcomes.
import type { Env, NodeId, Transport } from '../../src/env/types.ts';
import type { ClientLinkConfig } from '../../src/sim/client-links.ts';
import { type NetworkConfig, Simulation } from '../../src/sim/index.ts';
import { type DiskHarness, diskCompliance } from './disk-suite.ts';
import { type ListenerHarness, listenerCompliance } from './listener-suite.ts';
import { type TransportHarness, transportCompliance } from './transport-suite.ts';

function simTransportHarness(seed: string, network: Partial<NetworkConfig> | undefined): TransportHarness {
  return {
    async setup(ids: readonly NodeId[]) {
      const sim = new Simulation<Env>({
        seed,
        nodes: ids,
        program: (env) => env,
        ...(network ? { network } : {}),
      });
      const transports = new Map<NodeId, Transport>(ids.map((id) => [id, sim.env(id)!.transport]));
      return {
        transports,
        async until(pred: () => boolean, what: string, boundMs = 10_000) {
          if (!sim.runUntilCondition(() => pred(), boundMs)) {
            throw new Error(`until: '${what}' did not hold within ${boundMs} virtual ms (seed ${seed})`);
          }
        },
        async idle(ms: number) {
          sim.runFor(ms);
        },
        async teardown() {
          await Promise.all([...transports.values()].map((t) => t.close()));
        },
      };
    },
  };
}

transportCompliance('SimNetwork (default latency)', simTransportHarness('compliance-1', undefined));
transportCompliance(
  'SimNetwork (5 ms + exponential jitter)',
  simTransportHarness('compliance-2', {
    latencyBaseMs: 5,
    latencyJitterMs: 40,
    latencyJitter: 'exponential',
    lossProbability: 0,
    duplicateProbability: 0,
    reorderProbability: 0,
    reorderDelayMs: 0,
    fifoPerLink: true,
  }),
);

function simDiskHarness(seed: string): DiskHarness {
  return {
    async setup() {
      const sim = new Simulation<Env>({ seed, nodes: ['n1'], program: (env) => env });
      return {
        get disk() {
          return sim.env('n1')!.disk;
        },
        async crash() {
          sim.crash('n1');
          sim.restart('n1');
          return sim.env('n1')!.disk;
        },
        async restartProcess() {
          sim.crash('n1', { processOnly: true });
          sim.restart('n1');
          return sim.env('n1')!.disk;
        },
        async teardown() {},
      };
    },
  };
}

for (const seed of ['disk-1', 'disk-2', 'disk-3']) diskCompliance(`SimDisk (seed ${seed})`, simDiskHarness(seed));

function simListenerHarness(seed: string, clientLinks: Partial<ClientLinkConfig>): ListenerHarness {
  return {
    async setup() {
      const sim = new Simulation<Env>({ seed, nodes: ['n1'], program: (env) => env, clientLinks });
      const env = sim.env('n1')!;
      return {
        node: env,
        connect(protocol: string, _port: number, host: number) {
          const c = sim.clients.connect('n1', protocol, { host: `client-host-${host}` });
          return {
            write: (bytes) => c.write(bytes),
            onData: (handler) => c.onData(handler),
            get closed() {
              return c.state === 'closed';
            },
            pauseReading: () => c.pauseReading(),
            resumeReading: () => c.resumeReading(),
            close: () => c.close(),
          };
        },
        hostName: (host: number) => `client-host-${host}`,
        metric: (name, labels) => sim.metrics('n1').value(name, labels),
        nowMs: () => sim.nowMs,
        async until(pred: () => boolean, what: string, boundMs = 20_000) {
          if (!sim.runUntilCondition(() => pred(), boundMs)) {
            throw new Error(`until: '${what}' did not hold within ${boundMs} virtual ms (seed ${seed})`);
          }
        },
        async idle(ms: number) {
          sim.runFor(ms);
        },
        async teardown() {},
      };
    },
  };
}

listenerCompliance('SimClientLinks (random chunks)', simListenerHarness('listener-1', {}));
listenerCompliance(
  'SimClientLinks (a segment per byte, 5 ms + jitter)',
  simListenerHarness('listener-2', { chunking: 'bytes', latencyBaseMs: 5, latencyJitterMs: 5, windowBytes: 16 * 1024 }),
);
