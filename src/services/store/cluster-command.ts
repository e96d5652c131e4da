// CLUSTER and its companions READONLY / READWRITE / ASKING, as Redis 7.0 answers them, over the
// slot map of cluster-topology.ts. A node alone (no peers) is a standalone Redis: every one of
// them answers "ERR This instance has cluster support disabled", as redis-server does without
// cluster-enabled. On a multi-node ring: SLOTS, SHARDS, NODES, INFO, KEYSLOT, MYID; READONLY,
// READWRITE and ASKING answer OK (every node coordinates every key, so there is nothing for them
// to switch). COUNTKEYSINSLOT / GETKEYSINSLOT count this node's own keys (N = 1) by a walk.
// The slot-management subcommands (ADDSLOTS, MEET, FAILOVER, ...) are not offered: the ring
// decides placement.

import { keySlot } from '../../dynamo/slots.ts';
import { limits } from '../../lib/limits.ts';
import { parseInt64 } from '../../redis/args.ts';
import { type RespValue, reply } from '../../wire/resp/index.ts';
import type { ServerCommandSpec } from './command-entry.ts';
import { clusterInfo, clusterNodes, clusterShards, clusterSlots, redisNodeId } from './cluster-topology.ts';
import { serverCommand } from './connection-commands.ts';
import type { RespSession } from './session.ts';

export const CLUSTER_DISABLED = 'ERR This instance has cluster support disabled';

const utf8 = new TextEncoder();
const txt = (text: string): RespValue => ({ type: 'verbatim', format: 'txt', text: utf8.encode(text) });
const cl = (since: string, summary: string) => ({ group: 'cluster', since, summary });

/** Runs `f` with the cluster view, or answers that cluster support is disabled (standalone). */
function withView(
  f: (view: NonNullable<ReturnType<RespSession['server']['cluster']>>, argv: readonly Uint8Array[]) => RespValue,
): ServerCommandSpec['run'] {
  return (s, argv) => {
    const view = s.server.cluster();
    return view === undefined ? reply.error(CLUSTER_DISABLED) : f(view, argv);
  };
}

const subcommands: readonly ServerCommandSpec[] = [
  serverCommand(
    'cluster|slots',
    2,
    ['loading', 'stale'],
    cl('3.0.0', 'Get array of Cluster slot to node mappings'),
    withView((v) => clusterSlots(v)),
  ),
  serverCommand(
    'cluster|shards',
    2,
    ['loading', 'stale'],
    cl('7.0.0', 'Get array of cluster slots to node mappings'),
    withView((v) => clusterShards(v)),
  ),
  serverCommand(
    'cluster|nodes',
    2,
    ['loading', 'stale'],
    cl('3.0.0', 'Get Cluster config for the node'),
    withView((v) => txt(clusterNodes(v))),
  ),
  serverCommand(
    'cluster|info',
    2,
    ['loading', 'stale'],
    cl('3.0.0', 'Provides info about Redis Cluster node state'),
    withView((v) => txt(clusterInfo(v))),
  ),
  serverCommand(
    'cluster|myid',
    2,
    ['loading', 'stale'],
    cl('3.0.0', 'Return the node id'),
    withView((v) => reply.bulk(redisNodeId(v.self))),
  ),
  serverCommand(
    'cluster|countkeysinslot',
    3,
    ['loading', 'stale'],
    cl('3.0.0', 'Return the number of local keys in the specified hash slot'),
    (s, argv) => keysInSlot(s, argv[2]!, undefined, (count) => reply.integer(count)),
  ),
  serverCommand(
    'cluster|getkeysinslot',
    4,
    ['loading', 'stale'],
    cl('3.0.0', 'Return local key names in the specified hash slot'),
    (s, argv) => keysInSlot(s, argv[2]!, argv[3]!, (_count, keys) => reply.array(keys.map((k) => reply.bulk(k)))),
  ),
  serverCommand(
    'cluster|keyslot',
    3,
    ['loading', 'stale'],
    cl('3.0.0', 'Returns the hash slot of the specified key'),
    withView((_v, argv) => reply.integer(keySlot(argv[2]!))),
  ),
];

/**
 * COUNTKEYSINSLOT / GETKEYSINSLOT on this node's keys (N = 1: the keys it owns; N > 1: the keys it
 * stores as one of the slot's replicas), with Redis'
 * argument errors. Redis keeps a slot -> keys index; our storage is ordered by the key's own
 * token, so this walks every key (O(keys), like KEYS), and GETKEYSINSLOT returns at most
 * redisKeysCountMax keys.
 */
function keysInSlot(
  s: RespSession,
  slotArg: Uint8Array,
  countArg: Uint8Array | undefined,
  answer: (count: number, keys: Uint8Array[]) => RespValue,
): RespValue {
  if (s.server.cluster() === undefined) return reply.error(CLUSTER_DISABLED);
  const slot = parseInt64(slotArg);
  const max = countArg === undefined ? 0n : parseInt64(countArg);
  if (slot === undefined || max === undefined) return reply.error('ERR value is not an integer or out of range');
  if (slot < 0n || slot >= 16_384n)
    return reply.error(countArg === undefined ? 'ERR Invalid slot' : 'ERR Invalid slot or number of keys');
  if (max < 0n) return reply.error('ERR Invalid slot or number of keys');
  const n = Number(slot);
  const keep = max > BigInt(limits.redisKeysCountMax) ? limits.redisKeysCountMax + 1 : Number(max);
  const inSlot = (key: Uint8Array): boolean => keySlot(key) === n;
  // N > 1: the keys this node stores as a replica of the slot (replicated.ts findKeys).
  const found =
    s.server.replicated !== undefined
      ? s.server.replicated.findKeys(n, keep)
      : s.server.keyspaceOps.keyspace.findKeys(Math.floor(s.server.env.clock.wallMs()), inSlot, keep);
  if (found.keys.length > limits.redisKeysCountMax)
    return reply.error(
      `ERR CLUSTER GETKEYSINSLOT would return more than ${limits.redisKeysCountMax} keys (redisKeysCountMax): ask for fewer`,
    );
  return answer(found.count, found.keys);
}

const okWhenClustered = withView(() => reply.ok);

export const clusterCommands: readonly ServerCommandSpec[] = [
  serverCommand(
    'cluster',
    -2,
    [],
    cl('3.0.0', 'A container for cluster commands'),
    () => reply.error('ERR syntax error'),
    subcommands,
  ),
  serverCommand(
    'readonly',
    1,
    ['loading', 'stale', 'fast'],
    cl('3.0.0', 'Enables read queries for a connection to a cluster replica node'),
    okWhenClustered,
  ),
  serverCommand(
    'readwrite',
    1,
    ['loading', 'stale', 'fast'],
    cl('3.0.0', 'Disables read queries for a connection to a cluster replica node'),
    okWhenClustered,
  ),
  serverCommand('asking', 1, ['fast'], cl('3.0.0', 'Sent by cluster clients after an -ASK redirect'), okWhenClustered),
];
