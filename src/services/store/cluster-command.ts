// CLUSTER and its companions READONLY / READWRITE / ASKING, as Redis 7.0 answers them, over the
// slot map of cluster-topology.ts. A node alone (no peers) is a standalone Redis: every one of
// them answers "ERR This instance has cluster support disabled", as redis-server does without
// cluster-enabled. On a multi-node ring: SLOTS, SHARDS, NODES, INFO, KEYSLOT, MYID; READONLY,
// READWRITE and ASKING answer OK (every node coordinates every key, so there is nothing for them
// to switch). COUNTKEYSINSLOT / GETKEYSINSLOT and the slot-management subcommands (ADDSLOTS,
// MEET, FAILOVER, ...) are not offered: the ring decides placement.

import { keySlot } from '../../dynamo/slots.ts';
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
    'cluster|keyslot',
    3,
    ['loading', 'stale'],
    cl('3.0.0', 'Returns the hash slot of the specified key'),
    withView((_v, argv) => reply.integer(keySlot(argv[2]!))),
  ),
];

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
