// The simulated world for the ZooKeeper client: the simulator's client connections as byte streams,
// its virtual time as clock and timers (client-side code runs as simulator actions, as workloads
// do). A workload builds a client with
//   new ZkClient({ connectString: ['n1', 'n2', 'n3'], sessionTimeoutMs, delivery: 'sync',
//                  io: simZkIo(sim, { rng: sim.forkRng('zk-client-1') }) })
// and drives it with callWith (a simulation runs synchronously: promise continuations would only
// run after runUntil returns). Endpoints are node ids.

import type { NodeId, Rng, Timer, Timers } from '../env/types.ts';
import type { SimClientConnection } from '../sim/client-links.ts';
import type { ZkClientIo } from './client.ts';

/** What the client needs of a Simulation (a Simulation is one). */
export interface ZkSimHost {
  readonly nowMs: number;
  after(delayMs: number, fn: () => void, label?: string): Timer;
  readonly clients: {
    connect(node: NodeId, protocol: string, options?: { host?: string }): SimClientConnection;
  };
}

export interface SimZkIoOptions {
  /** The listener's protocol name; default 'zookeeper'. */
  readonly protocol?: string;
  /** The client's host (partitions cut host-node pairs); default one of its own per connection. */
  readonly host?: string;
  /** Picks the first endpoint (spreads clients over nodes). */
  readonly rng?: Rng;
}

export function simZkIo(sim: ZkSimHost, options: SimZkIoOptions = {}): ZkClientIo {
  const protocol = options.protocol ?? 'zookeeper';
  const timers: Timers = {
    after: (delayMs, fn) => sim.after(delayMs, fn, 'zk-client'),
    every: (periodMs, fn) => {
      let cancelled = false;
      let current: Timer;
      const arm = (): void => {
        current = sim.after(
          periodMs,
          () => {
            if (cancelled) return;
            arm();
            fn();
          },
          'zk-client',
        );
      };
      arm();
      return {
        cancel: () => {
          cancelled = true;
          current.cancel();
        },
      };
    },
  };
  return {
    clock: { monotonicMs: () => sim.nowMs },
    timers,
    connect: (node) => sim.clients.connect(node, protocol, options.host === undefined ? {} : { host: options.host }),
    ...(options.rng === undefined ? {} : { rng: options.rng }),
  };
}
