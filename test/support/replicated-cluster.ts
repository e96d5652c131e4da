// A simulated cluster whose store keeps each key on `replicas` nodes (the Dynamo replica), with
// membership so every node knows its peers alive: the N > 1 store tests' common start.
import assert from 'node:assert/strict';
import type { Mutations } from '../../src/lib/mutations.ts';
import type { NodeServices } from '../../src/node/services.ts';
import { membershipService } from '../../src/services/membership/service.ts';
import { storeOf, storeService } from '../../src/services/store/service.ts';
import type { Simulation } from '../../src/sim/simulation.ts';
import { simServices } from './sim-services.ts';

/** Nodes `ids` with membership and the store at N = `replicas` (plus `store` settings, `replication` ones too), every peer alive. */
export function replicatedCluster(
  seed: string,
  ids: readonly string[],
  replicas: number,
  store: Record<string, unknown> = {},
  mutations?: Mutations,
): Simulation<NodeServices> {
  const sim = simServices({
    seed,
    nodes: [...ids],
    ...(mutations === undefined ? {} : { mutations }),
    services: [membershipService, storeService],
    // `store.replication` settings given are kept beside N (a test turning background repair off).
    store: { ...store, replication: { ...(store['replication'] as object | undefined), replicas } },
  });
  waitRingCurrent(sim, ids);
  sim.runFor(2_000); // membership: every peer alive
  return sim;
}

/** Runs until every node in `ids` knows the ring and knows it current (it coordinates only then). */
export function waitRingCurrent(sim: Simulation<NodeServices>, ids: readonly string[], withinMs = 20_000): void {
  const ready = (id: string) => {
    const keeper = storeOf(sim.instance(id)!).ring;
    return keeper.ring.version > 0 && keeper.current;
  };
  assert.ok(
    sim.runUntilCondition(() => ids.every(ready), withinMs),
    `the ring is not current on ${ids.join(', ')}`,
  );
}
