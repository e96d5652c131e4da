// Goal: the real Env's Transport (TcpTransport over loopback) and Disk (FileDisk on a temp
// directory) pass the same compliance suites the simulator passes (test/compliance/sim.test.ts),
// so code proven in simulation runs unchanged on real sockets and files.
// Ports: every transport listens on port 0 and the harness wires peers to the bound ports, so
// parallel test files never collide. Temp directories are removed after each case.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { NodeId, Transport } from '../../src/env/types.ts';
import { SeededRng } from '../../src/lib/rng.ts';
import { TcpTransport } from '../../src/net/tcp-transport.ts';
import { memoryLogger } from '../../src/env/log.ts';
import { MemoryMetrics, pollUntil } from '../../src/net/testing.ts';
import { FileDisk } from '../../src/storage/file-disk.ts';
import { type DiskHarness, diskCompliance } from './disk-suite.ts';
import { type TransportHarness, transportCompliance } from './transport-suite.ts';

const tcpHarness: TransportHarness = {
  async setup(ids: readonly NodeId[]) {
    const host = '127.0.0.1';
    const tcp = new Map<NodeId, TcpTransport>();
    for (const id of ids) {
      const peers = Object.fromEntries(ids.filter((p) => p !== id).map((p) => [p, { host, port: 0 }]));
      tcp.set(
        id,
        new TcpTransport({
          self: id,
          clusterId: 'compliance',
          listen: { host, port: 0 },
          peers,
          metrics: new MemoryMetrics(),
          log: memoryLogger(10_000),
          rng: new SeededRng(`compliance/${id}`),
        }),
      );
    }
    for (const t of tcp.values()) await t.start();
    for (const t of tcp.values()) {
      for (const [id, other] of tcp) if (id !== t.self) t.setPeerAddress(id, other.address());
    }
    return {
      transports: tcp as ReadonlyMap<NodeId, Transport>,
      until: pollUntil,
      idle: (ms: number) => delay(ms).then(() => undefined),
      async teardown() {
        await Promise.all([...tcp.values()].map((t) => t.close()));
      },
    };
  },
};

transportCompliance('TcpTransport', tcpHarness);

const fileDiskHarness: DiskHarness = {
  async setup() {
    const root = mkdtempSync(join(tmpdir(), 'baristas-disk-compliance-'));
    let disk = new FileDisk({ root });
    return {
      get disk() {
        return disk;
      },
      async crash() {
        disk.closeAll();
        disk = new FileDisk({ root });
        return disk;
      },
      async restartProcess() {
        disk.closeAll();
        disk = new FileDisk({ root });
        return disk;
      },
      async teardown() {
        disk.closeAll();
        rmSync(root, { recursive: true, force: true });
      },
    };
  },
};

diskCompliance('FileDisk', fileDiskHarness);
