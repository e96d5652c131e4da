// The one list of services a node hosts, in start order. The real process (main.ts), the
// simulator (sim-cluster.ts), the node config (config.ts), `barista dev` (ports) and `barista sim`
// (workloads) all read it; adding a service is one line here (docs/ADDING-A-SERVICE.md).
// Membership comes first: it provides the membership view every later service may use.
// This is the only platform module that imports services (test/boundaries.test.ts).

import { coordService } from '../services/coord/service.ts';
import { kvService } from '../services/kv/service.ts';
import { membershipService } from '../services/membership/service.ts';
import { storeService } from '../services/store/service.ts';
import type { AnyServiceDefinition } from './service.ts';
import type { SimWorkload } from './service.ts';

export const registeredServices: readonly AnyServiceDefinition[] = [
  membershipService,
  kvService,
  coordService,
  storeService,
];

/** Every service's simulator workloads, by name (names are unique across services). */
export function registeredWorkloads(
  services: readonly AnyServiceDefinition[] = registeredServices,
): ReadonlyMap<string, SimWorkload & { readonly service: string }> {
  const byName = new Map<string, SimWorkload & { readonly service: string }>();
  for (const s of services) {
    for (const w of s.sim?.workloads ?? []) {
      if (byName.has(w.name)) throw new Error(`workload ${w.name} is registered twice`);
      byName.set(w.name, { ...w, service: s.name, start: w.start });
    }
  }
  return byName;
}

/** Client protocols every service declares, in registry order (`barista dev` assigns their ports). */
export function registeredProtocols(services: readonly AnyServiceDefinition[] = registeredServices): string[] {
  return services.flatMap((s) => s.protocols.map((p) => p.name));
}

/**
 * The services a cluster simulation runs (`barista sim`, the swarm, the platform's simulator
 * tests): those with simulator hooks, less those hosted only with one of their own workloads
 * (SimServiceHooks.onlyWithWorkload) unless `workloads` names one. A service without hooks has
 * nothing the simulator checks, so it would only move every fixed seed's schedule.
 */
export function simulatedServices(
  services: readonly AnyServiceDefinition[] = registeredServices,
  workloads: readonly string[] = [],
): AnyServiceDefinition[] {
  return services.filter(
    (s) =>
      s.sim !== undefined &&
      (s.sim.onlyWithWorkload !== true || (s.sim.workloads ?? []).some((w) => workloads.includes(w.name))),
  );
}
