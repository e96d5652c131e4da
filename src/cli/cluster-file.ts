// <data-dir>/cluster.json: where a local cluster's nodes are, for humans, scripts and tests.
// Written by `barista dev` on every change (atomically: write a temporary file, then rename), read
// by `barista status` and by tests.
//   { clusterId, dataDir, ready, replicas, nodes: [{ id, pid, host, ports: { peer, admin, ... }, dataDir, config }] }
// `ready` is true once every node serves (its /ready answered 200: a linearizable read through
// Raft succeeded there), and false before that, after any node exits, and once stopped. A script
// waits for `"ready": true` and may then write at once.
// Ports are named so later protocols (zookeeper, kafka, resp, etcd) simply add entries.

import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../lib/errors.ts';

const nodeEntry = z.object({
  id: z.string(),
  pid: z.number().int().nullable(),
  host: z.string(),
  ports: z.record(z.string(), z.number().int()),
  dataDir: z.string(),
  config: z.string(),
});
const clusterFile = z.object({
  clusterId: z.string(),
  dataDir: z.string(),
  /** Files written before the flag existed read as not ready. */
  ready: z.boolean().default(false),
  /** The store's replication factor N, fixed when the cluster is created (absent: 1). */
  replicas: z.number().int().min(1).optional(),
  /** store.conflicts of every node (absent: the store's default, siblings). */
  conflicts: z.enum(['siblings', 'last-write-wins']).optional(),
  /** store.replication.collections, fixed when the cluster is created (absent: whole; new clusters at N > 1 record rows). */
  collections: z.enum(['whole', 'rows']).optional(),
  nodes: z.array(nodeEntry),
});

export type ClusterNode = z.infer<typeof nodeEntry>;
export type ClusterFile = z.infer<typeof clusterFile>;

export function clusterFilePath(dataDir: string): string {
  return join(dataDir, 'cluster.json');
}

export function readClusterFile(dataDir: string): ClusterFile | undefined {
  const path = clusterFilePath(dataDir);
  if (!existsSync(path)) return undefined;
  const parsed = clusterFile.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  if (!parsed.success) throw new ConfigError(path, `not a cluster file: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

/**
 * The `port` (a protocol name: 'admin', 'zookeeper', ...) of every node of the dev cluster in
 * `dataDir`, for a command given no endpoints; `flag` names the option that would have given them.
 */
export function clusterEndpoints(dataDir: string, port: string, flag: string): Array<{ host: string; port: number }> {
  const cluster = readClusterFile(dataDir);
  if (cluster === undefined) {
    throw new ConfigError(flag, `no ${flag} given and no ${dataDir}/cluster.json (start one with \`barista dev\`)`);
  }
  const out = cluster.nodes.flatMap((n) =>
    n.ports[port] === undefined ? [] : [{ host: n.host, port: n.ports[port] }],
  );
  if (out.length === 0) throw new ConfigError(flag, `no node in ${dataDir}/cluster.json has a ${port} port`);
  return out;
}

export function writeClusterFile(dataDir: string, file: ClusterFile): void {
  const path = clusterFilePath(dataDir);
  writeFileSync(`${path}.tmp`, `${JSON.stringify(file, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
}
