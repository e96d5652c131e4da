// The coord service's config section (`coord:` in the node config), ZooKeeper's server settings
// under our names: tickTime and the session timeout bounds it implies, jute.maxbuffer, the
// four-letter-word whitelist, extended types (TTL nodes), the super user's digest, how long a
// node may serve without hearing from its group's leader, and the client port's listener bounds.

import { z } from 'zod';
import type { ListenerBounds } from '../../env/types.ts';
import { COORD_SNAPSHOT_SLICE_NODES_DEFAULT } from '../../coord/namespace.ts';
import { limits } from '../../lib/limits.ts';
import { listenSchema } from '../../node/listen-bounds.ts';

/** The client protocol's name: `ports.zookeeper`, `clients.zookeeper` in /status. */
export const ZOOKEEPER_PROTOCOL = 'zookeeper';

/** ZooKeeper's jute.maxbuffer default (0xfffff). */
export const defaultJuteMaxBufferBytes = 0xfffff;

/** Every four-letter word the service knows (ZooKeeper's monitoring set, and srst to reset its numbers). */
export const fourLetterWords = ['ruok', 'srvr', 'stat', 'mntr', 'conf', 'envi', 'srst'] as const;
export type FourLetterWord = (typeof fourLetterWords)[number];

/**
 * A ZooKeeper client keeps one connection per session and pipelines moderately; its idle time is
 * bounded by its session timeout (pings every third of it), so the listener's idle timeout is off
 * and the session handler closes connections whose session stopped pinging.
 */
export const zookeeperBounds: ListenerBounds = {
  connectionsMax: 10_000,
  connectionsPerAddressMax: 1_000,
  bufferedBytesMax: 16 * 1024 * 1024,
  inflightRequestsMax: 1024,
  // One connection at its bounds: a packet of jute.maxbuffer being read, 64 MiB of requests in
  // flight, 16 MiB of replies and watch events unread: 512 MiB leaves room for several.
  memoryBytesMax: 512 * 1024 * 1024,
  idleTimeoutMs: 'none',
};

export const coordConfigSchema = z
  .strictObject({
    /** ZooKeeper's tickTime: the unit of session timeouts and expiry granularity. */
    tickTimeMs: z.number().int().min(10).max(60_000).default(2000),
    /** Smallest session timeout granted (ZooKeeper: minSessionTimeout, default 2 ticks). */
    minSessionTimeoutMs: z.number().int().min(1).max(86_400_000).optional(),
    /** Largest session timeout granted (ZooKeeper: maxSessionTimeout, default 20 ticks). */
    maxSessionTimeoutMs: z.number().int().min(1).max(86_400_000).optional(),
    /**
     * jute.maxbuffer: the largest packet and znode data; a larger request closes the connection.
     * At most its default, the tree's data bound (coordZnodeDataBytesMax): a larger setting let
     * data through the door that every replica then refused at apply, and a multi of such data
     * pass raftEntryBytesMax (an audit, 2026-12-07). ZooKeeper lets it be raised; not here.
     */
    juteMaxBufferBytes: z
      .number()
      .int()
      .min(1024)
      .max(limits.coordZnodeDataBytesMax)
      .default(defaultJuteMaxBufferBytes),
    /** 4lw.commands.whitelist: the four-letter words answered on the client port ('*' = all). */
    fourLetterWords: z
      .array(z.enum([...fourLetterWords, '*']))
      .max(16)
      .default(['ruok', 'srvr', 'stat', 'mntr', 'conf', 'envi']),
    /** zookeeper.extendedTypesEnabled: TTL nodes (createTTL answers Unimplemented when off). */
    extendedTypesEnabled: z.boolean().default(false),
    /** zookeeper.DigestAuthenticationProvider.superDigest: `super:<base64 sha1>`. */
    superDigest: z
      .string()
      .regex(/^super:[A-Za-z0-9+/]{27}=$/, 'must be super:<base64 SHA-1 digest>')
      .optional(),
    /**
     * A node that has not heard from its coord group's leader for this long closes its clients'
     * connections (a ZooKeeper follower's syncLimit), so they move to a node that has; kept below
     * the smallest session timeout so they do before the leader expires them.
     */
    leaderLostCloseMs: z.number().int().min(100).max(600_000).default(3000),
    /** znode.container.checkIntervalMs: how often the leader deletes empty containers and expired TTL nodes. */
    containerCheckIntervalMs: z.number().int().min(100).max(86_400_000).default(60_000),
    /**
     * znodes encoded (or decoded) per slice of a snapshot taken (or installed) in slices, one slice
     * per turn of the event loop: the longest the tree's snapshot work holds the loop at a time.
     */
    snapshotSliceNodes: z
      .number()
      .int()
      .min(1)
      .max(limits.coordSnapshotSliceNodesMax)
      .default(COORD_SNAPSHOT_SLICE_NODES_DEFAULT),
    listen: listenSchema({ [ZOOKEEPER_PROTOCOL]: zookeeperBounds }),
  })
  .superRefine((c, ctx) => {
    const min = c.minSessionTimeoutMs ?? 2 * c.tickTimeMs;
    const max = c.maxSessionTimeoutMs ?? 20 * c.tickTimeMs;
    if (min > max)
      ctx.addIssue({
        code: 'custom',
        path: ['minSessionTimeoutMs'],
        message: `must not exceed maxSessionTimeoutMs (${max})`,
      });
  });

export type CoordConfig = z.infer<typeof coordConfigSchema>;

/** The session timeout policy a config gives (ZooKeeper's defaults: 2 and 20 ticks). */
export function timeoutPolicyOf(c: CoordConfig): {
  tickTimeMs: number;
  minSessionTimeoutMs: number;
  maxSessionTimeoutMs: number;
} {
  return {
    tickTimeMs: c.tickTimeMs,
    minSessionTimeoutMs: c.minSessionTimeoutMs ?? 2 * c.tickTimeMs,
    maxSessionTimeoutMs: c.maxSessionTimeoutMs ?? 20 * c.tickTimeMs,
  };
}

/** Whether a four-letter word is answered under this config. */
export function fourLetterWordAllowed(c: CoordConfig, word: string): boolean {
  return c.fourLetterWords.includes('*') || (c.fourLetterWords as readonly string[]).includes(word);
}

/** A setting's effective value as /status shows it. */
export type FlagValue = string | number | boolean;

/**
 * What each coord setting is in ZooKeeper's terms (docs/COMPAT-ZOOKEEPER.md has the same table; a
 * test keeps them in step). Keyed by every setting of the schema, so a new one does not typecheck
 * until it is described here.
 */
export const coordFlagEquivalents: Readonly<Record<keyof CoordConfig, string>> = {
  tickTimeMs: 'tickTime',
  minSessionTimeoutMs: 'minSessionTimeout',
  maxSessionTimeoutMs: 'maxSessionTimeout',
  juteMaxBufferBytes: 'jute.maxbuffer',
  fourLetterWords: '4lw.commands.whitelist',
  extendedTypesEnabled: 'zookeeper.extendedTypesEnabled',
  superDigest: 'zookeeper.DigestAuthenticationProvider.superDigest',
  leaderLostCloseMs: 'syncLimit × tickTime (a follower out of sync closes its clients)',
  containerCheckIntervalMs: 'znode.container.checkIntervalMs',
  snapshotSliceNodes: 'none (ZooKeeper snapshots in a thread; ours in slices on the event loop)',
  listen: 'maxClientCnxns (connectionsPerAddressMax); the others are Baristas listener bounds',
};

/**
 * Every coord setting's effective value on this node, defaults applied and derived bounds computed
 * (the session timeout bounds from tickTime), for the /status `coord` section's `flags`. The super
 * digest is shown as set or not: it is a password hash.
 */
export function coordFlags(c: CoordConfig): Record<keyof CoordConfig, FlagValue> {
  const policy = timeoutPolicyOf(c);
  const port = c.listen[ZOOKEEPER_PROTOCOL] ?? zookeeperBounds;
  return {
    tickTimeMs: c.tickTimeMs,
    minSessionTimeoutMs: policy.minSessionTimeoutMs,
    maxSessionTimeoutMs: policy.maxSessionTimeoutMs,
    juteMaxBufferBytes: c.juteMaxBufferBytes,
    fourLetterWords: c.fourLetterWords.join(','),
    extendedTypesEnabled: c.extendedTypesEnabled,
    superDigest: c.superDigest === undefined ? 'unset' : 'set',
    leaderLostCloseMs: c.leaderLostCloseMs,
    containerCheckIntervalMs: c.containerCheckIntervalMs,
    snapshotSliceNodes: c.snapshotSliceNodes,
    listen: Object.entries(port)
      .map(([k, v]) => `${k}=${v}`)
      .join(' '),
  };
}
