// The membership service: heartbeats and failure detection (src/membership) and the operators'
// membership operations on every Raft group of the node (GET/POST /v1/members, http.ts). It provides
// the membership view every later service sees (ServiceContext.membership), so it is listed
// first in src/node/registry.ts. Config: the node config's `membership` section. Status section:
// this node's incarnation and its peers as it sees them. Simulator: incarnations only grow
// (checked after every event), and after healing every node sees every peer alive in its
// current life.

import { z } from 'zod';
import { MessageType } from '../../lib/message-types.ts';
import { MembershipDriver } from '../../membership/driver.ts';
import { defaultMembershipTiming } from '../../membership/membership.ts';
import type { ClusterSim, RunningService, ServiceDefinition, ServiceHost } from '../../node/service.ts';
import { handleMemberRequest } from './http.ts';

export const membershipConfigSchema = z
  .strictObject({
    heartbeatIntervalMs: z.number().int().min(10).max(60_000).default(defaultMembershipTiming.heartbeatIntervalMs),
    suspectPhi: z.number().min(1).max(100).default(defaultMembershipTiming.suspectPhi),
    deadAfterMs: z.number().int().min(50).max(600_000).default(defaultMembershipTiming.deadAfterMs),
    phiWindowIntervalsMax: z.number().int().min(2).max(10_000).default(defaultMembershipTiming.phiWindowIntervalsMax),
    acceptablePauseMs: z.number().int().min(0).max(60_000).default(defaultMembershipTiming.acceptablePauseMs),
  })
  .superRefine((c, ctx) => {
    if (c.deadAfterMs <= c.heartbeatIntervalMs)
      ctx.addIssue({ code: 'custom', path: ['deadAfterMs'], message: 'must exceed heartbeatIntervalMs' });
  });

export type MembershipConfig = z.infer<typeof membershipConfigSchema>;

export interface MembershipRunning extends RunningService {
  readonly driver: MembershipDriver;
}

/** The membership service running on a simulated node (for the hooks below and tests). */
export function membershipOf(node: ServiceHost): MembershipRunning {
  return node.service<MembershipRunning>('membership');
}

export const membershipService: ServiceDefinition<MembershipConfig, MembershipRunning> = {
  name: 'membership',
  description: 'heartbeats, phi-accrual failure detection, and Raft membership operations (/v1/members)',
  configSchema: membershipConfigSchema,
  messageTypes: [MessageType.MembershipPing, MessageType.MembershipAck, MessageType.MembershipStale],
  protocols: [],
  // Member operations act on every group's configuration (ctx.memberOps); no state of its own.
  raftGroups: [],
  start(ctx) {
    const driver = new MembershipDriver(
      ctx.env,
      ctx.router,
      ctx.peers,
      ctx.config,
      ctx.incarnation,
      ctx.incarnationRemembered,
    );
    return {
      driver,
      membership: driver,
      adminRoutes: [
        {
          path: '/v1/members',
          methods: ['GET', 'POST'],
          handle: (req) => {
            if (req.method === 'GET') return Promise.resolve({ status: 200, body: ctx.memberOps.membersView() });
            return handleMemberRequest(ctx.memberOps, req.body);
          },
        },
      ],
      status: () => ({ incarnation: driver.incarnation, peers: driver.view() }),
      stop: () => driver.stop(),
    };
  },
  sim: {
    addInvariants: addMembershipInvariants,
    converged: membershipConverged,
    workloads: [
      {
        name: 'membership',
        description: 'no client traffic: heartbeats, failure detection and their invariants under faults',
        inMix: false,
        start: () => ({
          inflightOps: 0,
          controlActions: 0,
          settleMs: 0,
          liveness: () => {},
          check: () => undefined,
        }),
      },
    ],
  },
};

/** Incarnations only grow: a node's own on every start, and what a viewer saw of a peer within one life. */
function addMembershipInvariants(sim: ClusterSim): void {
  /** The highest incarnation of any life of the node seen so far. */
  const lastOwn = new Map<string, number>();
  /** The incarnation of the life last seen (one life's never changes). */
  const lastLifeOwn = new Map<string, number>();
  /** Every incarnation each node's lives used (one per start: bounded by the run's restarts). */
  const used = new Map<string, Set<number>>();
  const lastInstance = new Map<string, ServiceHost>();
  /** Per viewer, per life of the viewer (its incarnation), per peer: the highest incarnation seen. */
  const seen = new Map<string, Map<number, Map<string, number>>>();
  sim.addInvariant('incarnations-increase', (s) => {
    for (const id of s.nodeIds) {
      const node = s.instance(id);
      // A node inside a slow-sync stall is judged at its end (Simulation.isLagged): a power loss
      // before then undoes what its code did after the fsync, the incarnation it took included.
      if (node === undefined || s.isLagged(id)) continue;
      const membership = membershipOf(node).driver;
      const own = membership.incarnation;
      const prev = lastOwn.get(id);
      const restarted = lastInstance.has(id) && lastInstance.get(id) !== node;
      // A life below an earlier one is allowed only when nothing on its disk could say what earlier
      // lives used (a wiped data directory; the wall clock stood in, stepped back): peers must not
      // accept it (checked below) and it must exit once one tells it (liveness: convergence needs
      // every node alive in its current life). An equal incarnation is never allowed: peers would
      // take the new life for the old one.
      // A life after such a life, still below the highest (it crashed before a peer told it), is
      // allowed when it is above the life before it: its disk remembered that one. Never a number
      // an earlier life used.
      const last = lastLifeOwn.get(id);
      const forgot = !membership.remembered && own < (prev ?? 0);
      const recovering = last !== undefined && prev !== undefined && last < prev && own > last;
      const usedBefore = used.get(id)?.has(own) === true;
      if (
        prev !== undefined &&
        (restarted ? usedBefore || (!forgot && !recovering && own <= prev) : own !== (last ?? own))
      ) {
        return `${id} restarted with incarnation ${own}, not above its previous ${prev}`;
      }
      if (restarted || !used.has(id)) {
        const set = used.get(id) ?? new Set<number>();
        set.add(own);
        used.set(id, set);
      }
      lastOwn.set(id, Math.max(own, prev ?? 0));
      lastLifeOwn.set(id, own);
      lastInstance.set(id, node);
      // Nested maps, not a joined string key: this runs after every event of every simulation.
      let lives = seen.get(id);
      if (lives === undefined) {
        lives = new Map();
        seen.set(id, lives);
      }
      let peers = lives.get(own);
      if (peers === undefined) {
        peers = new Map();
        lives.set(own, peers);
      }
      for (const peer of s.nodeIds) {
        const incarnation = membership.core.peerIncarnation(peer);
        if (incarnation === undefined) continue;
        const before = peers.get(peer) ?? 0;
        if (incarnation < before) return `${id} saw ${peer}'s incarnation go back from ${before} to ${incarnation}`;
        if (incarnation !== before) peers.set(peer, incarnation);
      }
    }
    return undefined;
  });
}

/** Every node is up and sees every peer alive, in the peer's current life. */
function membershipConverged(sim: ClusterSim): boolean {
  for (const id of sim.nodeIds) {
    const node = sim.instance(id);
    if (node === undefined || sim.state(id) !== 'up') return false;
    const core = membershipOf(node).driver.core;
    for (const peer of sim.nodeIds) {
      if (peer === id) continue;
      if (core.status(peer) !== 'alive') return false;
      const other = sim.instance(peer);
      if (other === undefined || core.peerIncarnation(peer) !== membershipOf(other).driver.incarnation) return false;
    }
  }
  return true;
}
