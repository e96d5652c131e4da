// The cluster the SERIAL simulations run on: 5 simulated nodes with membership and the store at
// N = 3, sync always, SERIAL by default, client links cut in random chunks of up to 13 bytes;
// returned once every node knows the ring and the failure detectors see every node.
import assert from 'node:assert/strict';
import { type Mutation, mutationsFrom } from '../../src/lib/mutations.ts';
import type { NodeServices } from '../../src/node/services.ts';
import { membershipService } from '../../src/services/membership/service.ts';
import { storeOf, storeService } from '../../src/services/store/service.ts';
import type { Simulation } from '../../src/sim/simulation.ts';
import { simServices } from './sim-services.ts';

export const SERIAL_NODES = ['n1', 'n2', 'n3', 'n4', 'n5'];

export function serialCluster(seed: string, mutation?: Mutation | readonly Mutation[]): Simulation<NodeServices> {
  const sim = simServices({
    seed,
    nodes: SERIAL_NODES,
    services: [membershipService, storeService],
    store: { sync: 'always', consistency: 'SERIAL', replication: { replicas: 3, antiEntropyIntervalMs: 0 } },
    clientLinks: { chunking: 'random', chunkBytesMax: 13 },
    ...(mutation === undefined
      ? {}
      : { mutations: mutationsFrom(typeof mutation === 'string' ? [mutation] : mutation) }),
  });
  assert.ok(
    sim.runUntilCondition(
      () => SERIAL_NODES.every((id) => (storeOf(sim.instance(id)!).ring.ring.version ?? 0) > 0),
      20_000,
    ),
    'every node learned the ring',
  );
  sim.runFor(3_000); // failure detectors see every node
  return sim;
}
