// Goal: the real Env's Transport (TcpTransport over loopback), Disk (FileDisk on a temp
// directory) and client listener (TcpClientListeners on loopback) pass the same compliance suites the simulator passes (test/compliance/sim.test.ts),
// so code proven in simulation runs unchanged on real sockets and files.
// Ports: every transport listens on port 0 and the harness wires peers to the bound ports, so
// parallel test files never collide. Temp directories are removed after each case. Listener clients
// come from distinct loopback addresses (127.0.0.N, all of 127/8 is local on Linux) to exercise the
// per-address bound.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import type { NodeId, Transport } from '../../src/env/types.ts';
import { SeededRng } from '../../src/lib/rng.ts';
import { TcpTransport } from '../../src/net/tcp-transport.ts';
import { memoryLogger } from '../../src/env/log.ts';
import { realClock, realTimers } from '../../src/env/real-time.ts';
import { TcpClientListeners } from '../../src/net/tcp-listener.ts';
import { MemoryMetrics, pollUntil } from '../../src/net/testing.ts';
import { FileDisk } from '../../src/storage/file-disk.ts';
import { type DiskHarness, diskCompliance } from './disk-suite.ts';
import { type ListenerHarness, listenerCompliance, type RawClient } from './listener-suite.ts';
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

const tcpListenerHarness: ListenerHarness = {
  async setup() {
    const metrics = new MemoryMetrics();
    const listeners = new TcpClientListeners({
      host: '127.0.0.1',
      clock: realClock,
      timers: realTimers,
      metrics,
      log: memoryLogger(10_000),
    });
    const sockets = new Set<Socket>();
    return {
      node: { listen: listeners.listen.bind(listeners), timers: realTimers, metrics },
      connect(_protocol: string, port: number, host: number): RawClient {
        const socket = connect({ host: '127.0.0.1', port, localAddress: `127.0.0.${host}`, noDelay: true });
        sockets.add(socket);
        let closed = false;
        socket.on('error', () => undefined); // a refused or evicted client sees ECONNRESET/EPIPE
        socket.once('close', () => {
          closed = true;
          sockets.delete(socket);
        });
        return {
          write: (bytes) => void socket.write(bytes),
          onData: (handler) => socket.on('data', handler),
          get closed() {
            return closed;
          },
          pauseReading: () => socket.pause(),
          resumeReading: () => socket.resume(),
          close: () => void socket.end(),
        };
      },
      hostName: (host: number) => `127.0.0.${host}`,
      metric: (name, labels) => metrics.value(name, labels),
      nowMs: () => realClock.monotonicMs(),
      until: (pred, what, boundMs) => pollUntil(pred, what, boundMs ?? 20_000),
      idle: (ms: number) => delay(ms).then(() => undefined),
      async teardown() {
        for (const socket of sockets) socket.destroy();
        await listeners.close();
      },
    };
  },
};

listenerCompliance('TcpClientListeners', tcpListenerHarness);
