// `barista status`: the cluster as each node sees it, as a table (or --json), then every service's
// /status section (src/node/service.ts RunningService.status) as a table per service. Endpoints
// come from --endpoint HOST:ADMINPORT flags, or from <data-dir>/cluster.json written by `barista dev`.

import Table from 'cli-table3';
import { parseEndpoint } from '../lib/endpoint.ts';
import { clusterEndpoints } from './cluster-file.ts';
import { colours as pc, httpGet, tableStyle } from './common.ts';

interface PeerStatusJson {
  id: string;
  status: string;
  incarnation: number;
  silenceMs?: number;
  clock?: { offsetMs: number; delayMs: number };
}
interface RaftGroupJson {
  role: string;
  term: number;
  commitIndex: number;
  appliedIndex: number;
  leader: string | null;
}

interface NodeStatusJson {
  nodeId: string;
  clusterId: string;
  incarnation: number;
  pid?: number;
  uptimeMs?: number;
  raft?: RaftGroupJson;
  /** Client listeners by protocol (the platform's `clients` section). */
  clients?: Record<string, unknown>;
  /** Every Raft group on the node by name (the metadata group and each service's own). */
  groups?: Record<string, RaftGroupJson>;
  /** Each service's section, by service name. */
  services?: Record<string, unknown> & { membership?: { peers?: PeerStatusJson[] } };
}

/** A section's value in one table cell: scalars as they are, lists by their length, objects inline. */
function cell(value: unknown): string {
  if (Array.isArray(value)) return `[${value.length}]`;
  if (value !== null && typeof value === 'object')
    return Object.entries(value)
      .map(([k, v]) => `${k}=${cell(v)}`)
      .join(' ');
  return String(value);
}

/**
 * The sections `barista status` prints as tables: each service's section, then one per client
 * port the node listens on (`client port <protocol>`: open, accepted, evicted, closes by reason).
 */
export function statusSections(status: {
  services?: Record<string, unknown>;
  clients?: Record<string, unknown>;
}): Record<string, unknown> {
  const ports = Object.entries(status.clients ?? {}).map(([protocol, c]) => [`client port ${protocol}`, c] as const);
  return { ...(status.services ?? {}), ...Object.fromEntries(ports) };
}

/**
 * One table per service: a row per node, a column per key of the service's section; a section's
 * `flags` (its settings' effective values) follows as a table of its own.
 */
export function serviceTables(rows: readonly { node: string; services: Record<string, unknown> }[]): string[] {
  const names = [...new Set(rows.flatMap((r) => Object.keys(r.services)))];
  return names.flatMap((name) => {
    const keys = [
      ...new Set(
        rows.flatMap((r) => {
          const section = r.services[name];
          return section !== null && typeof section === 'object' ? Object.keys(section) : [];
        }),
      ),
    ].filter((k) => k !== FLAGS_KEY);
    const table = new Table({ head: [`${name}: node`, ...(keys.length > 0 ? keys : ['status'])], style: tableStyle() });
    for (const r of rows) {
      const section = r.services[name];
      if (section === undefined) continue;
      if (section === null || typeof section !== 'object') table.push([r.node, cell(section)]);
      else table.push([r.node, ...keys.map((k) => cell((section as Record<string, unknown>)[k] ?? ''))]);
    }
    const flags = flagsTable(name, rows);
    return flags === undefined ? [table.toString()] : [table.toString(), flags];
  });
}

/** A section's key holding its service's settings (name -> effective value): shown as its own table. */
const FLAGS_KEY = 'flags';

/**
 * `<service> flags`: a row per setting, a column per node (settings are many and their values
 * long, and a node whose value differs from its peers' should stand out on its row).
 */
function flagsTable(
  name: string,
  rows: readonly { node: string; services: Record<string, unknown> }[],
): string | undefined {
  const withFlags = rows.flatMap((r) => {
    const section = r.services[name];
    const flags =
      section !== null && typeof section === 'object' ? (section as Record<string, unknown>)[FLAGS_KEY] : undefined;
    return flags !== null && typeof flags === 'object'
      ? [{ node: r.node, flags: flags as Record<string, unknown> }]
      : [];
  });
  if (withFlags.length === 0) return undefined;
  const table = new Table({ head: [`${name} flags`, ...withFlags.map((r) => r.node)], style: tableStyle() });
  for (const flag of [...new Set(withFlags.flatMap((r) => Object.keys(r.flags)))])
    table.push([flag, ...withFlags.map((r) => (flag in r.flags ? cell(r.flags[flag]) : ''))]);
  return table.toString();
}

export interface StatusOptions {
  readonly endpoints: string[];
  readonly dataDir: string;
  readonly json: boolean;
}

export function resolveAdminEndpoints(o: {
  endpoints: string[];
  dataDir: string;
}): Array<{ host: string; port: number }> {
  if (o.endpoints.length > 0) return o.endpoints.map((e) => parseEndpoint(e, '--endpoint'));
  return clusterEndpoints(o.dataDir, 'admin', '--endpoint');
}

export async function runStatus(o: StatusOptions, out: (s: string) => void): Promise<number> {
  const endpoints = resolveAdminEndpoints(o);
  const results = await Promise.all(
    endpoints.map(async (e) => {
      try {
        const r = await httpGet(e.host, e.port, '/status', 2_000);
        return { endpoint: `${e.host}:${e.port}`, status: JSON.parse(r.body) as NodeStatusJson };
      } catch (err) {
        return { endpoint: `${e.host}:${e.port}`, error: (err as Error).message };
      }
    }),
  );
  if (o.json) {
    out(`${JSON.stringify(results, null, 2)}\n`);
    return results.some((r) => 'error' in r) ? 1 : 0;
  }
  const table = new Table({
    head: ['node', 'endpoint', 'incarnation', 'uptime', 'raft groups', 'peers (as this node sees them)'],
    style: tableStyle(),
  });
  for (const r of results) {
    if (!('status' in r) || r.status === undefined) {
      table.push([pc.red('?'), r.endpoint, '', '', '', pc.red(`unreachable: ${r.error}`)]);
      continue;
    }
    const s = r.status;
    const peers = (s.services?.membership?.peers ?? [])
      .map((p) => {
        const colour = p.status === 'alive' ? pc.green : p.status === 'dead' ? pc.red : pc.yellow;
        const offset = p.clock ? ` ${p.clock.offsetMs >= 0 ? '+' : ''}${p.clock.offsetMs.toFixed(1)}ms` : '';
        return `${p.id} ${colour(p.status)}${pc.dim(offset)}`;
      })
      .join(', ');
    // One line per Raft group (nodes from before groups report only `raft`).
    const groups = Object.entries(s.groups ?? (s.raft ? { raft: s.raft } : {}));
    const raft =
      groups.length === 0
        ? '-'
        : groups
            .map(
              ([name, g]) => `${name}: ${g.role} t${g.term} c${g.commitIndex}/a${g.appliedIndex} L=${g.leader ?? '-'}`,
            )
            .join('\n');
    const uptime = s.uptimeMs === undefined ? '' : `${Math.round(s.uptimeMs / 1000)}s`;
    table.push([s.nodeId, r.endpoint, String(s.incarnation), uptime, raft, peers]);
  }
  out(`${table.toString()}\n`);
  const rows = results.flatMap((r) =>
    'status' in r && r.status !== undefined ? [{ node: r.status.nodeId, services: statusSections(r.status) }] : [],
  );
  for (const t of serviceTables(rows)) out(`${t}\n`);
  return results.some((r) => 'error' in r) ? 1 : 0;
}
