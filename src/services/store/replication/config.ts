// The replication settings of the `store` service (a `replication:` object inside its config
// section, which the service's schema embeds): N, vnodes per node, the replica's tick, the request
// timeout, the hint replay interval and the HLC drift bound. Relations between them are checked
// here so a bad config is refused at start-up naming its field, not discovered by an assert.

import { z } from 'zod';
import { limits } from '../../../lib/limits.ts';
import { defaultReplicaNodeConfig, type ReplicaNodeConfig } from './driver.ts';

const d = defaultReplicaNodeConfig;

export const replicationConfigSchema = z
  .strictObject({
    /** N: replicas of each key (a cluster smaller than N keeps every key on every node). */
    replicas: z.number().int().min(1).max(limits.ringReplicasCountMax).default(d.replicas),
    /** Virtual nodes per node on the ring (Cassandra's num_tokens). */
    tokensPerNode: z.number().int().min(1).max(limits.ringNodeTokensCountMax).default(d.tokensPerNode),
    /** The replica's tick: timeouts and hint replays are counted in ticks of this length. */
    tickMs: z.number().int().min(1).max(10_000).default(d.tickMs),
    /** A request fails after this long without its answers (writes: indefinitely). */
    requestTimeoutMs: z.number().int().min(1).max(600_000).default(d.requestTimeoutMs),
    /** Stored hints whose owner is up are replayed this often. */
    hintReplayIntervalMs: z.number().int().min(1).max(3_600_000).default(d.hintReplayIntervalMs),
    /**
     * A replica sent a write that has not acknowledged it by the request timeout gets a hint kept
     * at the coordinator (Cassandra's behaviour); false: only replicas the failure detector calls
     * down do (a write lost on a partition not yet detected then waits for anti-entropy).
     */
    timeoutHints: z.boolean().default(d.timeoutHints),
    /** A sibling's HLC further ahead of this node's clock is not taken into its HLC. */
    hlcMaxDriftMs: z.number().int().min(1).max(86_400_000).default(d.hlcMaxDriftMs),
    /** Client requests in flight at this node (backpressure past it: limit_exceeded). */
    inflightRequestsMax: z.number().int().min(1).max(limits.dynamoCoordinatorOpsMax).default(d.inflightRequestsMax),
    /** Each node starts an anti-entropy (Merkle) round with the next peer this often; 0: only on BARISTA REPAIR. */
    antiEntropyIntervalMs: z.number().int().min(0).max(86_400_000).default(d.antiEntropyIntervalMs),
    /**
     * The share of the node's event loop each anti-entropy store walk (a Merkle build or a range
     * stream) may take: after a page took d ms the walk rests d x (1 / share - 1) ms (at most
     * dynamoAntiEntropyRestMsMax); 1: no rest.
     */
    antiEntropyLoopShare: z.number().gt(0).max(1).default(d.antiEntropyLoopShare),
    /** Depth of the anti-entropy Merkle trees (2^depth leaves over the ring; Cassandra caps at 20). */
    antiEntropyDepth: z.number().int().min(0).max(limits.merkleTreeLevelsCountMax).default(d.antiEntropyDepth),
    /** A ring move's streams start this long after the move begins (Cassandra's RING_DELAY; 0: at once). */
    ringDelayMs: z.number().int().min(0).max(600_000).default(d.ringDelayMs),
    /** The share of reads that ask every live replica for read repair (Cassandra's read_repair_chance). */
    readRepairChance: z.number().min(0).max(1).default(d.readRepairChance),
    /** Keys dead (every sibling a tombstone or expired) longer than this are deleted; 0: never (Cassandra's gc_grace). */
    tombstoneGraceMs: z
      .number()
      .int()
      .min(0)
      .max(365 * 86_400_000)
      .default(d.tombstoneGraceMs),
    /**
     * How sets, hashes, lists and sorted sets are kept: 'whole' (one CRDT value per key) or
     * 'rows' (one row per element: a command reads, writes and ships only the elements it names).
     * Alike on every node (checked against the keyspace's settings on the ring:
     * keyspace-settings.ts). Absent: the layout this node's store keeps, or for a store that
     * keeps none yet the keyspace's (`rows` when this node's bootstrap makes the keyspace).
     */
    collections: z.enum(['whole', 'rows']).optional(),
  })
  .superRefine((c, ctx) => {
    if (c.requestTimeoutMs < 2 * c.tickMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['requestTimeoutMs'],
        message: `must be at least two ticks (2 × tickMs = ${2 * c.tickMs})`,
      });
    }
    if (c.antiEntropyIntervalMs !== 0 && c.antiEntropyIntervalMs < c.tickMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['antiEntropyIntervalMs'],
        message: `must be 0 (off) or at least tickMs (${c.tickMs})`,
      });
    }
    if (c.tombstoneGraceMs !== 0 && c.antiEntropyIntervalMs !== 0 && c.tombstoneGraceMs < 2 * c.antiEntropyIntervalMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['tombstoneGraceMs'],
        message: `must be 0 (never collect) or at least two anti-entropy rounds (2 × antiEntropyIntervalMs = ${2 * c.antiEntropyIntervalMs})`,
      });
    }
    if (c.hintReplayIntervalMs < c.tickMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['hintReplayIntervalMs'],
        message: `must be at least tickMs (${c.tickMs})`,
      });
    }
  }) satisfies z.ZodType<ConfiguredReplication, unknown>;

/** The replica's config as configured: the layout may be left to the store (service.ts startReplication). */
type ConfiguredReplication = Omit<ReplicaNodeConfig, 'collections'> & { collections?: 'whole' | 'rows' | undefined };

export type ReplicationConfig = z.infer<typeof replicationConfigSchema>;
