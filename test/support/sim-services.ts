// A simulated cluster of full nodes (NodeServices: every registered service, or the list given)
// for service-level tests: one place for what each test used to spell out — the cluster id, the
// peers as every other node, Raft timing over the defaults, a `coord` section per node.

import type { Env } from '../../src/env/types.ts';
import type { Mutations } from '../../src/lib/mutations.ts';
import type { AnyServiceDefinition } from '../../src/node/service.ts';
import { registeredServices } from '../../src/node/registry.ts';
import { NodeServices } from '../../src/node/services.ts';
import { defaultRaftTiming } from '../../src/raft/driver.ts';
import type { RaftTiming } from '../../src/node/raft-groups.ts';
import type { ClientLinkConfig } from '../../src/sim/client-links.ts';
import { Simulation } from '../../src/sim/simulation.ts';

export interface SimServicesOptions {
  readonly seed: string;
  readonly nodes: readonly string[];
  readonly raft?: Partial<RaftTiming>;
  /** The `coord` config section, the same for every node or per node. */
  readonly coord?: Record<string, unknown> | ((nodeId: string) => Record<string, unknown>);
  readonly services?: readonly AnyServiceDefinition[];
  /** The `store` config section, the same for every node or per node (asked at each start). */
  readonly store?: Record<string, unknown> | ((nodeId: string) => Record<string, unknown>);
  /** Nodes that start only when the test restarts them. */
  readonly initiallyDown?: readonly string[];
  readonly clientLinks?: Partial<ClientLinkConfig>;
  /** Planted bugs every node runs with (negative controls). */
  readonly mutations?: Mutations;
  /** SimulationOptions.tripwireCounters ([] for a test that sends peers garbage on purpose). */
  readonly tripwireCounters?: readonly string[];
}

export function simServices(o: SimServicesOptions): Simulation<NodeServices> {
  return new Simulation<NodeServices>({
    seed: o.seed,
    nodes: [...o.nodes],
    ...(o.clientLinks === undefined ? {} : { clientLinks: o.clientLinks }),
    ...(o.mutations === undefined ? {} : { mutations: o.mutations }),
    ...(o.initiallyDown === undefined ? {} : { initiallyDown: o.initiallyDown }),
    ...(o.tripwireCounters === undefined ? {} : { tripwireCounters: o.tripwireCounters }),
    program: (env: Env) =>
      new NodeServices(
        env,
        {
          clusterId: 'sim',
          peers: o.nodes.filter((p) => p !== env.nodeId),
          raft: { ...defaultRaftTiming, ...o.raft },
          coord: typeof o.coord === 'function' ? o.coord(env.nodeId) : (o.coord ?? {}),
          ...(o.store === undefined ? {} : { store: typeof o.store === 'function' ? o.store(env.nodeId) : o.store }),
        },
        o.services ?? registeredServices,
      ),
  });
}
