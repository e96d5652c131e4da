// What a client may ask the store about itself, in Redis 7.0's shapes: COMMAND (all, COUNT, INFO,
// DOCS: redis-cli's hints, ioredis), INFO (sections and the fields clients parse: redis_version,
// redis_mode, role, loading, used_memory, connected_clients, db0:keys=..,expires=..) and CONFIG GET
// (the settings clients and redis-benchmark read, with our effective values) / SET (maxmemory and
// the eviction settings; the rest come from the node config) / RESETSTAT.
// Values that have no meaning here are Redis' values for an idle standalone master.

import { ReplicaMemory } from './replicated-memory.ts';
import {
  defaultEvictionSettings,
  EVICTION_POLICIES,
  type EvictionSettings,
  isEvictionPolicy,
} from '../../redis/eviction.ts';
import { globMatch } from '../../redis/glob.ts';
import { parseMemoryValue } from '../../redis/memory.ts';
import { type RespValue, reply } from '../../wire/resp/index.ts';
import type { CommandEntry, CommandShape, ServerCommandSpec } from './command-entry.ts';
import { latin1 } from './command-entry.ts';
import { REDIS_VERSION, serverCommand } from './connection-commands.ts';
import type { RespSession } from './session.ts';

const utf8 = new TextEncoder();
const SYNTAX = reply.error('ERR syntax error');

/** ACL categories derived from flags (our data commands carry no categories of their own). */
function categoriesOf(shape: CommandShape): string[] {
  const out: string[] = [];
  if (shape.flags.includes('write')) out.push('@write');
  if (shape.flags.includes('readonly')) out.push('@read');
  if (shape.flags.includes('fast')) out.push('@fast');
  else out.push('@slow');
  if (shape.flags.includes('admin')) out.push('@admin', '@dangerous');
  return out;
}

/** COMMAND INFO's 10-element entry (name, arity, flags, first, last, step, categories, tips, key specs, subcommands). */
function commandInfo(entry: CommandEntry): RespValue {
  const shape: CommandShape = entry.spec;
  const subs = entry.subcommands === undefined ? [] : [...entry.subcommands.values()].map(commandInfo);
  return reply.array([
    reply.bulk(shape.name),
    reply.integer(shape.arity),
    { type: 'set', items: shape.flags.map((f) => reply.simple(f)) },
    reply.integer(shape.firstKey),
    reply.integer(shape.lastKey),
    reply.integer(shape.step),
    { type: 'set', items: categoriesOf(shape).map((c) => reply.simple(c)) },
    reply.array([]),
    reply.array([]),
    reply.array(subs),
  ]);
}

function docOf(entry: CommandEntry): RespValue {
  const d: Partial<Pick<ServerCommandSpec, 'group' | 'summary' | 'since'>> = entry.kind === 'server' ? entry.spec : {};
  const entries: [RespValue, RespValue][] = [
    [reply.bulk('summary'), reply.bulk(d.summary ?? `The ${entry.spec.name.toUpperCase()} command`)],
    [reply.bulk('since'), reply.bulk(d.since ?? '1.0.0')],
    [reply.bulk('group'), reply.bulk(d.group ?? 'generic')],
  ];
  if (entry.subcommands !== undefined) {
    entries.push([
      reply.bulk('subcommands'),
      { type: 'map', entries: [...entry.subcommands.values()].map((s) => [reply.bulk(s.spec.name), docOf(s)]) },
    ]);
  }
  return { type: 'map', entries };
}

function command(s: RespSession): RespValue {
  return reply.array([...s.server.table.values()].map(commandInfo));
}

const commandSubcommands: ServerCommandSpec[] = [
  serverCommand('command|count', 2, ['loading', 'stale'], srv('Get total number of Redis commands'), (s) =>
    reply.integer(s.server.table.size),
  ),
  serverCommand(
    'command|info',
    -2,
    ['loading', 'stale'],
    srv('Get array of specific Redis command details, or all when no argument is given'),
    (s, argv) => {
      if (argv.length === 2) return command(s);
      return reply.array(
        argv.slice(2).map((name) => {
          const e = s.server.table.get(latin1(name).toLowerCase());
          return e === undefined ? reply.null : commandInfo(e);
        }),
      );
    },
  ),
  serverCommand('command|list', -2, ['loading', 'stale'], srv('Get an array of Redis command names'), (s, argv) => {
    // FILTERBY MODULE name (no modules here: none) | ACLCAT category (our categories come from
    // flags: write, read, fast, slow, admin, dangerous) | PATTERN glob (case-insensitive).
    let keep: (name: string, e: CommandEntry) => boolean = () => true;
    if (argv.length > 2) {
      if (argv.length !== 5 || latin1(argv[2]!).toLowerCase() !== 'filterby') return SYNTAX;
      const by = latin1(argv[3]!).toLowerCase();
      const arg = argv[4]!;
      if (by === 'module') keep = () => false;
      else if (by === 'aclcat') {
        const category = `@${latin1(arg).toLowerCase()}`;
        keep = (_name, e) => categoriesOf(e.spec).includes(category);
      } else if (by === 'pattern') {
        const pattern = utf8.encode(latin1(arg).toLowerCase());
        keep = (name) => globMatch(pattern, utf8.encode(name));
      } else return SYNTAX;
    }
    const names: RespValue[] = [];
    for (const [name, e] of s.server.table) {
      if (keep(name, e)) names.push(reply.bulk(name));
      for (const sub of e.subcommands?.values() ?? [])
        if (keep(sub.spec.name, sub)) names.push(reply.bulk(sub.spec.name));
    }
    return reply.array(names);
  }),
  serverCommand(
    'command|docs',
    -2,
    ['loading', 'stale'],
    srv('Get array of specific Redis command documentation'),
    (s, argv) => {
      const table = s.server.table;
      const entries: [RespValue, RespValue][] = [];
      if (argv.length === 2) for (const [name, e] of table) entries.push([reply.bulk(name), docOf(e)]);
      else {
        for (const name of argv.slice(2)) {
          const e = table.get(latin1(name).toLowerCase());
          if (e !== undefined) entries.push([reply.bulk(e.spec.name), docOf(e)]);
        }
      }
      return { type: 'map', entries };
    },
  ),
];

function srv(summary: string): { group: string; since: string; summary: string } {
  return { group: 'server', since: '2.8.13', summary };
}

// ---- INFO ----

const DEFAULT_SECTIONS = [
  'server',
  'clients',
  'memory',
  'persistence',
  'stats',
  'replication',
  'cpu',
  'modules',
  'errorstats',
  'cluster',
  'keyspace',
];

function infoSection(s: RespSession, name: string): string | undefined {
  const server = s.server;
  const nowMs = server.env.clock.monotonicMs();
  const uptimeS = Math.floor((nowMs - server.startedMs) / 1000);
  const engine = server.engineStats();
  const fields = (title: string, pairs: readonly [string, string | number][]) =>
    `# ${title}\r\n${pairs.map(([k, v]) => `${k}:${v}\r\n`).join('')}`;
  const appendfsync = { always: 'always', periodic: 'everysec', none: 'no' }[server.config.sync];
  switch (name) {
    case 'server':
      return fields('Server', [
        ['redis_version', REDIS_VERSION],
        ['redis_git_sha1', '00000000'],
        ['redis_git_dirty', 0],
        ['redis_mode', server.cluster() === undefined ? 'standalone' : 'cluster'],
        ['os', 'Baristas'],
        ['arch_bits', 64],
        ['run_id', server.runId],
        ['tcp_port', server.port],
        ['server_time_usec', Math.floor(server.env.clock.wallMs()) * 1000],
        ['uptime_in_seconds', uptimeS],
        ['uptime_in_days', Math.floor(uptimeS / 86400)],
        ['hz', 10],
        ['configured_hz', 10],
        ['baristas_node', server.nodeId],
        ['baristas_sync', server.config.sync],
        // The store's N, a new connection's consistency level and store.conflicts (N > 1).
        ['baristas_replicas', server.config.replication.replicas],
        ['baristas_consistency', server.config.consistency],
        ['baristas_conflicts', server.config.conflicts],
      ]);
    case 'clients':
      return fields('Clients', [
        ['connected_clients', server.sessions.size],
        ['cluster_connections', 0],
        ['maxclients', server.config.listen.resp?.connectionsMax ?? 0],
        ['blocked_clients', server.blocking.count],
        ['tracking_clients', 0],
        ['clients_in_timeout_table', 0],
      ]);
    case 'memory': {
      // used_memory is the data set as maxmemory counts it (src/redis/memory.ts), not the heap.
      // At N > 1 with maxmemory set, the replica store's values as replicated-memory.ts counts
      // them; without it, as the key census last counted them (census.ts).
      const evictor = server.evictor;
      const replicaMemory = evictor?.space instanceof ReplicaMemory ? evictor.space : undefined;
      const dataset =
        replicaMemory?.counting === true
          ? replicaMemory.datasetBytes
          : (server.replicated?.census?.storedBytes() ?? server.keyspaceOps.keyspace.datasetBytes);
      const ev = evictor?.settings;
      return fields('Memory', [
        ['used_memory', dataset],
        ['used_memory_human', humanBytes(dataset)],
        ['used_memory_dataset', dataset],
        ['maxmemory', ev?.maxmemory ?? 0],
        ['maxmemory_human', humanBytes(ev?.maxmemory ?? 0)],
        ['maxmemory_policy', ev?.policy ?? 'noeviction'],
        ['baristas_engine_memory', engine.memoryBytes],
        ['baristas_engine_memory_human', humanBytes(engine.memoryBytes)],
        [
          'baristas_dataset_counted',
          (replicaMemory?.counting === true ? replicaMemory.complete : server.keyspaceOps.keyspace.account.complete)
            ? 1
            : 0,
        ],
      ]);
    }
    case 'persistence':
      return fields('Persistence', [
        ['loading', 0],
        ['async_loading', 0],
        ['rdb_changes_since_last_save', engine.lastSeq - engine.durableSeq],
        ['rdb_bgsave_in_progress', 0],
        ['aof_enabled', 1],
        ['aof_rewrite_in_progress', 0],
        ['aof_last_write_status', 'ok'],
        ['baristas_appendfsync', appendfsync],
      ]);
    case 'stats':
      return fields('Stats', [
        ['total_connections_received', server.stats.connectionsReceived],
        ['total_commands_processed', server.stats.commandsProcessed],
        ['instantaneous_ops_per_sec', 0],
        ['rejected_connections', 0],
        ['expired_keys', server.expiredKeys],
        ['evicted_keys', server.evictor?.evicted ?? 0],
        ['evicted_clients', server.stats.evictedClients],
        ['keyspace_hits', 0],
        ['keyspace_misses', 0],
        ['pubsub_channels', server.pubsub.channelsMatching(undefined).length],
        ['pubsub_patterns', server.pubsub.numpat()],
        ['total_error_replies', server.stats.errorReplies],
        ['baristas_protocol_errors', server.stats.protocolErrors],
      ]);
    case 'replication':
      return fields('Replication', [
        ['role', 'master'],
        ['connected_slaves', 0],
        ['master_failover_state', 'no-failover'],
        ['master_replid', server.runId],
        ['master_replid2', '0000000000000000000000000000000000000000'],
        ['master_repl_offset', 0],
        ['second_repl_offset', -1],
        ['repl_backlog_active', 0],
      ]);
    case 'cpu':
      return fields('CPU', []);
    case 'modules':
      return fields('Modules', []);
    case 'errorstats':
      return fields(
        'Errorstats',
        [...server.stats.errorsByKind].map(([kind, n]) => [`errorstat_${kind}`, `count=${n}`] as [string, string]),
      );
    case 'cluster':
      return fields('Cluster', [['cluster_enabled', server.cluster() === undefined ? 0 : 1]]);
    case 'keyspace': {
      const wallMs = Math.floor(server.env.clock.wallMs());
      // N > 1: the keys of the slots this node leads, as DBSIZE (replicated.ts); N = 1: its keyspace.
      const { keys, expires } = server.replicated?.keyspaceCounts() ?? server.keyspaceOps.counts(wallMs);
      return fields('Keyspace', keys > 0 ? [['db0', `keys=${keys},expires=${expires},avg_ttl=0`]] : []);
    }
    default:
      return undefined;
  }
}

function humanBytes(n: number): string {
  if (n < 1024) return `${n}B`;
  const units = ['K', 'M', 'G', 'T'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(2)}${units[u]}`;
}

function info(s: RespSession, argv: readonly Uint8Array[]): RespValue {
  let wanted = argv.slice(1).map((a) => latin1(a).toLowerCase());
  if (wanted.length === 0 || wanted.includes('default') || wanted.includes('all') || wanted.includes('everything')) {
    const extra = wanted.filter((w) => !['default', 'all', 'everything'].includes(w));
    wanted = [...DEFAULT_SECTIONS, ...extra];
  }
  const parts: string[] = [];
  for (const name of new Set(wanted)) {
    const section = infoSection(s, name);
    if (section !== undefined) parts.push(section);
  }
  return { type: 'verbatim', format: 'txt', text: utf8.encode(parts.join('\r\n')) };
}

// ---- CONFIG ----

/** The settings CONFIG GET knows, with our effective values. */
function configValues(s: RespSession): ReadonlyMap<string, string> {
  const c = s.server.config;
  const bounds = c.listen.resp;
  const idle = bounds?.idleTimeoutMs ?? 'none';
  const ev = s.server.evictor?.settings ?? defaultEvictionSettings;
  return new Map<string, string>([
    ['save', ''],
    ['appendonly', 'yes'],
    ['appendfsync', { always: 'always', periodic: 'everysec', none: 'no' }[c.sync]],
    ['maxmemory', String(ev.maxmemory)],
    ['maxmemory-policy', ev.policy],
    ['maxmemory-samples', String(ev.samples)],
    ['lfu-log-factor', String(ev.lfuLogFactor)],
    ['lfu-decay-time', String(ev.lfuDecayTime)],
    ['databases', '1'],
    ['maxclients', String(bounds?.connectionsMax ?? 0)],
    ['maxmemory-clients', String(bounds?.memoryBytesMax ?? 0)],
    ['timeout', idle === 'none' ? '0' : String(Math.floor(idle / 1000))],
    ['port', String(s.server.port)],
    ['bind', '127.0.0.1'],
    ['requirepass', c.requirepass ?? ''],
    ['proto-max-bulk-len', String(c.resp.bulkBytesMax)],
    ['client-query-buffer-limit', String(c.resp.commandBytesMax)],
    ['cluster-enabled', 'no'],
    ['protected-mode', 'no'],
    ['tcp-keepalive', '0'],
    ['lua-time-limit', '5000'],
    ['slowlog-log-slower-than', '10000'],
    ['notify-keyspace-events', ''],
  ]);
}

/** Redis' stringmatchlen with nocase (CONFIG GET's): both sides lower-cased, then matched as KEYS does. */
function globMatchNocase(pattern: string, text: string): boolean {
  const bytes = (t: string) => Uint8Array.from(t.toLowerCase(), (c) => c.charCodeAt(0) & 0xff);
  return globMatch(bytes(pattern), bytes(text));
}

/** One CONFIG SET parameter: checks a value, then (only when every pair passed) applies it. */
interface Settable {
  /** A way to apply the value, or the reason it is refused (Redis' wording after "- "). */
  check(value: string, s: RespSession): { ok: true; apply: () => void } | { ok: false; why: string };
}

/**
 * An eviction setting: `parse` gives the value or Redis' reason to refuse it; `set`
 * stores it; `restarts` when the access sketch must start over (maxmemory, the policy).
 */
function evictionSetting<T>(
  parse: (value: string) => { ok: true; v: T } | { ok: false; why: string },
  set: (settings: EvictionSettings, v: T) => void,
  restarts = false,
): Settable {
  return {
    check(value, s) {
      const parsed = parse(value);
      if (!parsed.ok) return parsed;
      const ev = s.server.evictor;
      if (ev === undefined) return { ok: false, why: 'maxmemory is not available on this node' };
      return {
        ok: true,
        apply: () => {
          set(ev.settings, parsed.v);
          if (restarts) ev.policyChanged(Math.floor(s.server.env.clock.wallMs()));
        },
      };
    },
  };
}

function intRange(min: number, max: number) {
  return (value: string): { ok: true; v: number } | { ok: false; why: string } => {
    const n = /^-?[0-9]{1,12}$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max)
      return { ok: false, why: `argument must be between ${min} and ${max} inclusive` };
    return { ok: true, v: n };
  };
}

/** What CONFIG SET changes at run time (until the node restarts). */
const settable = new Map<string, Settable>([
  [
    'maxmemory',
    evictionSetting(
      (value) => {
        const n = parseMemoryValue(value);
        return n === undefined ? { ok: false, why: 'argument must be a memory value' } : { ok: true, v: n };
      },
      (e, v) => {
        e.maxmemory = v;
      },
      true,
    ),
  ],
  [
    'maxmemory-policy',
    evictionSetting(
      (value) => {
        const v = value.toLowerCase();
        return isEvictionPolicy(v)
          ? { ok: true, v }
          : { ok: false, why: `argument(s) must be one of the following: ${EVICTION_POLICIES.join(', ')}` };
      },
      (e, v) => {
        e.policy = v;
      },
      true,
    ),
  ],
  [
    'maxmemory-samples',
    evictionSetting(intRange(1, 64), (e, v) => {
      e.samples = v;
    }),
  ],
  [
    'lfu-log-factor',
    evictionSetting(intRange(0, 1_000_000), (e, v) => {
      e.lfuLogFactor = v;
    }),
  ],
  [
    'lfu-decay-time',
    evictionSetting(intRange(0, 1_000_000), (e, v) => {
      e.lfuDecayTime = v;
    }),
  ],
]);

/**
 * Redis 7.0's CONFIG SET: name/value pairs, all checked before any is applied (atomic); a
 * duplicate, an unknown name or a bad value refuses the whole command with Redis' messages. A
 * setting CONFIG GET shows but Baristas takes only from the node config is refused by name.
 */
function configSet(s: RespSession, argv: readonly Uint8Array[]): RespValue {
  if ((argv.length - 2) % 2 !== 0) return reply.error('ERR syntax error');
  const known = configValues(s);
  const seen = new Set<string>();
  const applies: Array<() => void> = [];
  for (let i = 2; i < argv.length; i += 2) {
    const name = latin1(argv[i]!).toLowerCase();
    const value = latin1(argv[i + 1]!);
    const failed = (why: string) =>
      reply.error(`ERR CONFIG SET failed (possibly related to argument '${name}') - ${why}`);
    const param = settable.get(name);
    if (param === undefined) {
      if (!known.has(name)) return reply.error(`ERR Unknown option or number of arguments for CONFIG SET - '${name}'`);
      return failed("not settable at run time on Baristas: set it in the node config's store section");
    }
    if (seen.has(name)) return failed('duplicate parameter');
    seen.add(name);
    const checked = param.check(value, s);
    if (!checked.ok) return failed(checked.why);
    applies.push(checked.apply);
  }
  for (const apply of applies) apply();
  return reply.ok;
}

const configSubcommands: ServerCommandSpec[] = [
  serverCommand(
    'config|get',
    -3,
    ['admin', 'noscript', 'loading', 'stale'],
    { group: 'server', since: '2.0.0', summary: 'Get the values of configuration parameters' },
    (s, argv) => {
      const values = configValues(s);
      const matches = new Map<string, string>();
      for (const arg of argv.slice(2)) {
        const name = latin1(arg);
        if (!/[[*?]/.test(name)) {
          const v = values.get(name.toLowerCase());
          if (v !== undefined && !matches.has(name)) matches.set(name, v);
          continue;
        }
        for (const [k, v] of values) if (!matches.has(k) && globMatchNocase(name, k)) matches.set(k, v);
      }
      return { type: 'map', entries: [...matches].map(([k, v]) => [reply.bulk(k), reply.bulk(v)]) };
    },
  ),
  serverCommand(
    'config|set',
    -4,
    ['admin', 'noscript', 'loading', 'stale'],
    { group: 'server', since: '2.0.0', summary: 'Set configuration parameters to the given values' },
    (s, argv) => configSet(s, argv),
  ),
  serverCommand(
    'config|resetstat',
    2,
    ['admin', 'noscript', 'loading', 'stale'],
    { group: 'server', since: '2.0.0', summary: 'Reset the stats returned by INFO' },
    (s) => {
      const st = s.server.stats;
      st.commandsProcessed = 0;
      st.connectionsReceived = 0;
      st.errorReplies = 0;
      st.protocolErrors = 0;
      st.evictedClients = 0;
      st.errorsByKind.clear();
      return reply.ok;
    },
  ),
];

export const introspectionCommands: readonly ServerCommandSpec[] = [
  serverCommand(
    'command',
    -1,
    ['loading', 'stale'],
    { group: 'server', since: '2.8.13', summary: 'Get array of Redis command details' },
    (s, argv) => (argv.length === 1 ? command(s) : SYNTAX),
    commandSubcommands,
  ),
  serverCommand(
    'info',
    -1,
    ['loading', 'stale'],
    { group: 'server', since: '1.0.0', summary: 'Get information and statistics about the server' },
    info,
  ),
  serverCommand(
    'config',
    -2,
    [],
    { group: 'server', since: '2.0.0', summary: 'A container for server configuration commands' },
    () => SYNTAX,
    configSubcommands,
  ),
];
