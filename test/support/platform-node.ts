// The program of a simulated node for the platform's simulator tests (test/sim): every service
// with simulator hooks (simulatedServices), default membership and Raft timing, `extra` merged
// over that config.
import type { Env } from '../../src/env/types.ts';
import { defaultMembershipTiming } from '../../src/membership/membership.ts';
import { simulatedServices } from '../../src/node/registry.ts';
import { NodeServices, type ServicesConfig } from '../../src/node/services.ts';
import { defaultRaftTiming } from '../../src/raft/driver.ts';

export function platformNode(ids: readonly string[], extra: Partial<ServicesConfig> = {}): (env: Env) => NodeServices {
  return (env) =>
    new NodeServices(
      env,
      {
        clusterId: 'sim',
        peers: ids.filter((p) => p !== env.nodeId),
        membership: defaultMembershipTiming,
        raft: { ...defaultRaftTiming },
        ...extra,
      },
      simulatedServices(),
    );
}
