// The store service's config section (`store:` in the node config), Redis' server settings under
// our names: the sync policy of its LSM engine (appendfsync), the periodic sync's interval, the
// password (requirepass), the RESP request decoder's bounds (proto-max-bulk-len and our own), the
// engine's tombstone grace, and the resp port's listener bounds (maxclients, timeout).
//
// The default sync policy is `periodic` every 1000 ms: Redis' default (appendonly with appendfsync
// everysec), so a client moving from Redis keeps its loss window (at most ~1 s of acknowledged
// writes on a crash) and its throughput (no fdatasync in the reply path). `always` is Redis'
// appendfsync always with group commit (one fdatasync per event-loop turn covers every reply of
// the turn); `none` never syncs for a write (see src/storage/lsm/engine.ts: unlike Redis' `no`,
// unsynced writes stay in our buffer, so also a process crash loses them).

import { z } from 'zod';
import { replicationConfigSchema } from './replication/config.ts';
import type { ListenerBounds } from '../../env/types.ts';
import { limits } from '../../lib/limits.ts';
import { listenSchema } from '../../node/listen-bounds.ts';
import { EVICTION_POLICIES } from '../../redis/eviction.ts';

/** The client protocol's name: `ports.resp`, `clients.resp` in /status. */
export const RESP_PROTOCOL = 'resp';

/** Redis' well-known port. */
export const RESP_WELL_KNOWN_PORT = 6379;

/**
 * Redis' own defaults where it has one: maxclients 10000, timeout 0 (idle connections stay). A
 * pipelining client (redis-benchmark -P 16, ioredis pipelines) keeps many requests in flight; at
 * the bound reading stops (TCP pushes back), which Redis does not do but a client never notices.
 */
export const respBounds: ListenerBounds = {
  connectionsMax: 10_000,
  connectionsPerAddressMax: 1_000,
  bufferedBytesMax: 64 * 1024 * 1024,
  inflightRequestsMax: 1024,
  // Redis' maxmemory-clients is 0 (no bound) by default; ours is finite. One connection at every
  // bound of its own (a 64 MiB command being read, 64 MiB in flight, a 64 MiB MULTI queue, 4 MiB
  // of WATCHed keys, 64 MiB of replies unread) holds ~260 MiB: 1 GiB leaves room for several.
  memoryBytesMax: 1024 * 1024 * 1024,
  idleTimeoutMs: 'none',
};

const decoderBound = (max: number) => z.number().int().min(1).max(max).default(max);

export const storeConfigSchema = z.strictObject({
  /** appendfsync: always (group commit per event-loop turn), periodic (everysec), none (no). */
  sync: z.enum(['always', 'periodic', 'none']).default('periodic'),
  /** How often the periodic policy syncs the commit log (Redis' everysec: 1000). */
  syncIntervalMs: z.number().int().min(10).max(60_000).default(1000),
  /** requirepass: clients must AUTH (or HELLO AUTH default <pass>) before other commands. */
  requirepass: z.string().min(1).max(512).optional(),
  /** The RESP request decoder's bounds (src/wire/resp/request.ts); each at most our ceiling. */
  resp: z
    .strictObject({
      inlineBytesMax: decoderBound(limits.respInlineBytesMax),
      /** proto-max-bulk-len. */
      bulkBytesMax: decoderBound(limits.respBulkBytesMax),
      multibulkCountMax: decoderBound(limits.respMultibulkCountMax),
      commandBytesMax: decoderBound(limits.respCommandBytesMax),
    })
    .prefault({}),
  /** Deleted and expired keys are kept this long in the engine before compaction drops them. */
  tombstoneGraceMs: z.number().int().min(0).max(864_000_000).default(3_600_000),
  /** The engine's memtable size before a flush to a sorted run. */
  memtableBytesMax: z
    .number()
    .int()
    .min(64 * 1024)
    .max(limits.lsmMemtableBytesMax)
    .default(limits.lsmMemtableBytesMax),
  /**
   * N > 1: each key on `replication.replicas` nodes through the Dynamo replica
   * (src/services/store/replication); GET/SET/DEL/EXISTS only so far (replicated.ts).
   */
  replication: replicationConfigSchema.prefault({ replicas: 1 }),
  /** A new connection's consistency level at N > 1 (BARISTA CONSISTENCY changes it per connection). */
  consistency: z.enum(['ONE', 'QUORUM', 'ALL', 'ANY', 'SERIAL']).default('QUORUM'),
  /**
   * How concurrent writes of a string resolve at N > 1 below SERIAL (the "chosen per
   * keyspace"; the node that receives a command decides, a forwarded write carries it: set it
   * alike on every node, like `replication.replicas`):
   * `siblings` (default) — SET, SETEX, PSETEX and MSET first read the key at the connection's level and
   * supersede what they read, so a write acknowledged at QUORUM is never hidden by an older one;
   * concurrent writes are kept as siblings (BARISTA SIBLINGS) and GET returns the newest by HLC.
   * `last-write-wins` — they write without reading (one round instead of two) and supersede what
   * their coordinating replica holds: a write that replica has not seen stays a sibling, and reads
   * return the highest HLC timestamp, so of two writes the one stamped by a clock behind loses
   * even when it came later (Cassandra's trade-off: docs/COMPAT-REDIS.md). Other commands and
   * the collection types are the same in both modes.
   */
  conflicts: z.enum(['siblings', 'last-write-wins']).default('siblings'),
  /** Virtual nodes per node on the token ring (the initial ring every node proposes alike). */
  tokensPerNode: z.number().int().min(1).max(limits.ringNodeTokensCountMax).default(16),
  /**
   * The nodes the token ring starts with (the same list on every node; default: every node of
   * the cluster). Another cluster node joins it later with `BARISTA RING JOIN node` (N > 1).
   */
  ringNodes: z.array(z.string().min(1).max(limits.nodeIdBytesMax)).min(1).max(limits.clusterNodesMax).optional(),
  /** A command forwarded to its key's owner answers -TIMEOUT after this long without an answer. */
  forwardTimeoutMs: z.number().int().min(10).max(600_000).default(5_000),
  /**
   * The host cluster-aware clients are told to reach this node's resp port at (CLUSTER SLOTS /
   * SHARDS / NODES; Redis' cluster-announce-hostname): set it when clients reach the node by
   * another address than 127.0.0.1 (another machine, NAT).
   */
  announceHost: z.string().min(1).max(limits.storeAnnounceHostBytesMax).default('127.0.0.1'),
  /** The resp port clients are told (cluster-announce-port); default: the port the node listens on. */
  announcePort: z.number().int().min(1).max(65_535).optional(),
  /**
   * maxmemory (N = 1): the data set's bytes as src/redis/memory.ts counts them, 0 = no limit; a
   * number or Redis' notation ("100mb", "1gb"). CONFIG SET changes it (and the four below) until
   * the node restarts.
   */
  maxmemory: z
    .union([
      z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
      z.string().regex(/^[0-9]{1,15}(b|k|kb|m|mb|g|gb)?$/i, 'a byte count such as 104857600, "100mb" or "1gb"'),
    ])
    .default(0),
  /** maxmemory-policy: what is evicted over maxmemory (src/redis/eviction.ts). */
  maxmemoryPolicy: z.enum(EVICTION_POLICIES).default('noeviction'),
  /** maxmemory-samples: keys sampled per eviction pick. */
  maxmemorySamples: z.number().int().min(1).max(64).default(5),
  /** lfu-log-factor and lfu-decay-time (minutes), as Redis. */
  lfuLogFactor: z.number().int().min(0).max(1_000_000).default(10),
  lfuDecayTime: z.number().int().min(0).max(1_000_000).default(1),
  /** maxclients is `listen.resp.connectionsMax`; timeout is `listen.resp.idleTimeoutMs`. */
  listen: listenSchema({ [RESP_PROTOCOL]: respBounds }),
});

export type StoreConfig = z.infer<typeof storeConfigSchema>;
export type StoreSyncPolicy = StoreConfig['sync'];

/** The engine's directory under the node's data directory. */
export const STORE_ENGINE_DIR = 'store/lsm';
