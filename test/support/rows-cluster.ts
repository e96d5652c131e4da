// The rows layout's test cluster (src/services/store/replicated-rows*.test.ts): 3 simulated nodes
// at N = 3 through RESP, and the partitions, levels and message taps those tests share.
import assert from 'node:assert/strict';
import type { ReplicaMessage } from '../../src/dynamo/messages.ts';
import { mutationsFrom } from '../../src/lib/mutations.ts';
import type { NodeServices } from '../../src/node/services.ts';
import { storeOf } from '../../src/services/store/service.ts';
import { runCommands } from '../../src/services/store/sim-client.ts';
import type { Simulation } from '../../src/sim/simulation.ts';
import { replicatedCluster } from './replicated-cluster.ts';

export const NODES = ['n1', 'n2', 'n3'];
/**
 * No background anti-entropy and no read repair. The simulator starts each node's clock at its own
 * origin (days apart): the wall clocks are set equal to n1's, so EXPIRE means the same everywhere.
 */
export function cluster(
  seed: string,
  collections: 'whole' | 'rows',
  replication: Record<string, unknown> = {},
  mutations: readonly string[] = [],
): Simulation<NodeServices> {
  const sim = replicatedCluster(
    seed,
    NODES,
    3,
    {
      consistency: 'QUORUM',
      replication: { antiEntropyIntervalMs: 0, readRepairChance: 0, collections, ...replication },
    },
    mutations.length === 0 ? undefined : mutationsFrom([...mutations]),
  );
  const wall = (id: string) => sim.instance(id)!.env.clock.wallMs();
  const base = wall('n1');
  for (const id of NODES) sim.setClock(id, { skewMs: base - (wall(id) - sim.clock(id).skewMs) });
  return sim;
}

/** Hints kept but not replayed within a test (an hour): a replica that was cut off misses what it missed. */
export const NO_HINT_REPLAY = { hintReplayIntervalMs: 3_600_000 };

/** Cuts n3 off from n1 and n2 (and lets every node see it). */
export function isolateN3(sim: Simulation<NodeServices>): { heal(): void } {
  const cut = sim.network.partition([['n1', 'n2'], ['n3']]);
  sim.runFor(3_000);
  return cut;
}

export function heal(sim: Simulation<NodeServices>, cut: { heal(): void }): void {
  cut.heal();
  sim.runFor(3_000);
}

/**
 * Every message node `id`'s replica sends from now on; with `clientsOnly`, only those it sends for
 * its clients' requests (not for its peers' messages).
 */
export function sentBy(sim: Simulation<NodeServices>, id: string, clientsOnly = false): ReplicaMessage[] {
  const sent: ReplicaMessage[] = [];
  const replica = storeOf(sim.instance(id)!).replica!.replica;
  const request = replica.request.bind(replica);
  const receive = replica.receive.bind(replica);
  const record = (out: ReturnType<typeof replica.request>) => {
    for (const m of out.messages) sent.push(m.message);
    return out;
  };
  replica.request = (rid, req) => record(request(rid, req));
  if (!clientsOnly) replica.receive = (from, m) => record(receive(from, m));
  return sent;
}

export function atLevel(sim: Simulation<NodeServices>, node: string, level: string, command: string[]): string {
  const [ok, reply] = runCommands(sim, node, [['BARISTA', 'CONSISTENCY', level], command]);
  assert.equal(ok, '+OK');
  return reply!;
}
