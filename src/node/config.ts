// A node's configuration: one validated shape for YAML/JSON files and CLI flags. Unknown keys,
// bad ports, duplicate ids and missing peers are errors that name the field (ConfigError), e.g.
//   peers.1.port: Too big: expected number to be <=65535
// Defaults are filled here, so the rest of the node never sees a partial config.
//
// Each registered service (src/node/registry.ts) owns the top-level key named like it (`membership`,
// `kv`) and validates it with its own schema; its errors name the field (`kv.apdexTargetMs: ...`).
// `ports` is a map by protocol name: `peer` and `admin` always, plus one per client protocol a
// service declares (`ports.resp`); every port distinct.

import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import { defaultRaftTiming } from '../raft/driver.ts';
import { leaseTicks } from '../raft/raft.ts';
import { registeredServices } from './registry.ts';
import { type AnyServiceDefinition, serviceNamePattern } from './service.ts';

const port = z.number().int().min(1).max(65535);
const id = z
  .string()
  .min(1)
  .max(limits.nodeIdBytesMax)
  .regex(/^[A-Za-z0-9_.-]+$/, 'only letters, digits, and _ . - are allowed');

const peerSchema = z.strictObject({ id, host: z.string().min(1).default('127.0.0.1'), port });

const halfLog = z
  .number()
  .int()
  .max(limits.raftLogEntriesMax / 2);

const raftSchema = z
  .strictObject({
    tickMs: z.number().int().min(1).max(10_000).default(defaultRaftTiming.tickMs),
    electionTimeoutTicks: z.number().int().min(2).max(1_000).default(defaultRaftTiming.electionTimeoutTicks),
    heartbeatTicks: z.number().int().min(1).max(1_000).default(defaultRaftTiming.heartbeatTicks),
    requestTimeoutMs: z.number().int().min(10).max(600_000).default(defaultRaftTiming.requestTimeoutMs),
    pendingRequestsMax: z.number().int().min(1).max(1_000_000).default(defaultRaftTiming.pendingRequestsMax),
    // This and snapshotRetainEntries together within half the log's bound (raftLogEntriesMax, the
    // refine below): the entries since a snapshot and those kept behind it are held at once, and an
    // append past the bound stops the node.
    snapshotEveryEntries: halfLog.min(1).default(defaultRaftTiming.snapshotEveryEntries),
    // Also a snapshot after this many bytes of applied entries (the log behind a snapshot is held in memory).
    snapshotEveryBytes: z
      .number()
      .int()
      .min(1024)
      .max(16 * 1024 * 1024 * 1024)
      .default(defaultRaftTiming.snapshotEveryBytes),
    snapshotRetainEntries: halfLog.min(0).default(defaultRaftTiming.snapshotRetainEntries),
    // A snapshot this large or larger is restored at start-up in slices (src/raft/driver.ts).
    restoreInSlicesAtStartBytes: z
      .number()
      .int()
      .min(0)
      .max(Number.MAX_SAFE_INTEGER)
      .default(defaultRaftTiming.restoreInSlicesAtStartBytes),
    // This node's snapshot file is written this many bytes (then synced) per turn (src/raft/driver.ts).
    snapshotWriteSliceBytes: z
      .number()
      .int()
      .min(512)
      .max(1024 * 1024 * 1024)
      .default(defaultRaftTiming.snapshotWriteSliceBytes),
    // Linearizable reads: 'safe' = ReadIndex (a heartbeat round per read batch); 'lease' = no round
    // trip while the leader's lease holds, CORRECT ONLY if no node's clock rate is off by more than
    // leaseClockDriftRateMax (every node must use the same mode). See src/raft/README.md.
    readOnly: z.enum(['safe', 'lease']).default('safe'),
    leaseClockDriftRateMax: z.number().min(0).max(0.25).default(defaultRaftTiming.leaseClockDriftRateMax),
  })
  .refine((r) => r.snapshotEveryEntries + r.snapshotRetainEntries <= limits.raftLogEntriesMax / 2, {
    // The log also holds what is applied while a snapshot is taken in slices, and what is not yet
    // applied: half of its bound is left for them.
    message: `snapshotEveryEntries + snapshotRetainEntries must be at most ${limits.raftLogEntriesMax / 2}`,
    path: ['snapshotEveryEntries'],
  });

/** The platform's ports; services add theirs by protocol name. */
const PLATFORM_PORTS = ['peer', 'admin'] as const;

const portsSchema = z
  .record(z.string().regex(serviceNamePattern, 'a protocol name: lower-case letters, digits and -'), port)
  .superRefine((ports, ctx) => {
    for (const name of PLATFORM_PORTS)
      if (ports[name] === undefined) ctx.addIssue({ code: 'custom', path: [name], message: 'required' });
    const owner = new Map<number, string>();
    for (const [name, p] of Object.entries(ports)) {
      const other = owner.get(p);
      if (other !== undefined)
        ctx.addIssue({ code: 'custom', path: [name], message: `must differ from ports.${other} (${p})` });
      owner.set(p, name);
    }
  });

const platformSchema = z.strictObject({
  nodeId: id,
  clusterId: id.default('baristas'),
  dataDir: z.string().min(1),
  // 'new': an empty data directory bootstraps a new cluster (first start only). 'existing': an
  // empty data directory means this node lost its data, and it refuses to start as a voter
  // (etcd's initial-cluster-state). Ignored once the data directory holds the node's identity.
  initialClusterState: z.enum(['new', 'existing']).default('new'),
  // Start with an empty data directory as a learner that asks the leader to re-add it, instead
  // of refusing (the repair after a wipe; see README "Replacing a node"). `barista node --rejoin`.
  rejoin: z.boolean().default(false),
  host: z.string().min(1).default('127.0.0.1'),
  ports: portsSchema,
  peers: z.array(peerSchema).max(limits.clusterNodesMax - 1),
  raft: raftSchema.default(raftSchema.parse({})),
  metrics: z
    // apdexTargetMs moved to `kv.apdexTargetMs`; still accepted here (ignored) so old files load.
    .strictObject({ apdexTargetMs: z.number().positive().max(60_000).optional() })
    .default({}),
  log: z
    .strictObject({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info') })
    .default({ level: 'info' }),
});

/** The node config schema: the platform's keys plus one key per service, named like it. */
export function nodeConfigSchemaFor(services: readonly AnyServiceDefinition[]): z.ZodType<NodeConfig, unknown> {
  const sections: Record<string, z.ZodType> = {};
  for (const s of services) {
    if (s.name in platformSchema.shape) throw new Error(`service ${s.name} clashes with a platform config key`);
    // An absent section is the service's defaults (parsed from {}, so they are filled here).
    sections[s.name] = s.configSchema.prefault({});
  }
  return platformSchema.extend(sections).superRefine((raw, ctx) => {
    const c = raw as PlatformConfig;
    if (c.peers.some((p) => p.id === c.nodeId)) {
      ctx.addIssue({ code: 'custom', path: ['peers'], message: `lists this node's own id "${c.nodeId}"` });
    }
    const seen = new Set<string>();
    c.peers.forEach((p, i) => {
      if (seen.has(p.id))
        ctx.addIssue({ code: 'custom', path: ['peers', i, 'id'], message: `duplicate peer id "${p.id}"` });
      seen.add(p.id);
    });
    for (const s of services) {
      for (const protocol of s.protocols) {
        if (c.ports[protocol.name] === undefined)
          ctx.addIssue({
            code: 'custom',
            path: ['ports', protocol.name],
            message: `required: service ${s.name} listens on ${protocol.name}`,
          });
      }
    }
    if (c.raft.heartbeatTicks >= c.raft.electionTimeoutTicks) {
      ctx.addIssue({ code: 'custom', path: ['raft', 'heartbeatTicks'], message: 'must be below electionTimeoutTicks' });
    }
    const lease = leaseTicks(c.raft.electionTimeoutTicks, c.raft.leaseClockDriftRateMax);
    if (c.raft.readOnly === 'lease' && lease <= c.raft.heartbeatTicks) {
      ctx.addIssue({
        code: 'custom',
        path: ['raft', 'readOnly'],
        message: `the lease (${lease} ticks for electionTimeoutTicks and leaseClockDriftRateMax) must outlast heartbeatTicks`,
      });
    }
  }) as unknown as z.ZodType<NodeConfig, unknown>;
}

type PlatformConfig = z.infer<typeof platformSchema>;

export const nodeConfigSchema = nodeConfigSchemaFor(registeredServices);

/** The platform's keys, typed; each service's section under its name (the service's own type). */
export type NodeConfig = PlatformConfig & { readonly [service: string]: unknown };
export type NodeConfigInput = z.input<typeof platformSchema> & { readonly [service: string]: unknown };

/** Validates an already-parsed object; throws ConfigError naming the first bad field. */
export function validateNodeConfig(
  raw: unknown,
  schema: z.ZodType<NodeConfig, unknown> = nodeConfigSchema,
): NodeConfig {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = issue.path.length === 0 ? '(config)' : issue.path.join('.');
  const extra = issue.code === 'unrecognized_keys' ? ` (${issue.keys.join(', ')})` : '';
  throw new ConfigError(field, `${issue.message}${extra}`);
}

/** Reads a YAML or JSON file (YAML is a superset of JSON) and validates it. */
export function loadNodeConfig(path: string): NodeConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError('--config', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new ConfigError('--config', `${path} is not valid YAML/JSON: ${(err as Error).message.split('\n')[0]}`);
  }
  return validateNodeConfig(raw);
}
