// `barista`: the command line. Every command has --help; operating errors print one clear line
// naming the bad flag or config field and exit 2; unexpected errors print their stack (bugs).
//
//   barista node --config FILE      one node process
//   barista dev [--nodes 3]         a local cluster (npm start)
//   barista status                  the cluster as each node sees it
//   barista member list|add|...     the Raft membership (learners, voters; replace a wiped node)
//   barista sim --seed S ...        the deterministic simulator (replays a printed failure)
//   barista check FILE... --model M the consistency checker
//   barista zk ls|get|set|create|delete|stat|watch|acl ...   ZooKeeper's zkCli commands (src/cli/zk.ts)
//   barista store get|set|del|where KEY [VALUE], ring [join|leave|abort] [NODE]
//                                           one Redis command on a node's resp port (src/cli/store.ts)

//
// Command modules are imported when their command runs, not up front: a CLI call loads only what
// it uses (`barista --help` does not load the simulator).

import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { registerCheckCommand } from './check.ts';
import { describeError } from './common.ts';
import { ConfigError } from '../lib/errors.ts';
import { MUTATION_NAMES } from '../lib/mutations.ts';

let stdoutGone = false;
let stdoutWatched = false;
const out = (s: string): void => {
  if (!stdoutGone) process.stdout.write(s);
};

/**
 * A reader that went away (`barista status | head`) ends our output, as it does a Unix tool's: the
 * command finishes without it instead of dying of an unhandled EPIPE (a `barista dev` supervisor
 * keeps running its nodes). Installed once per process.
 */
function quietOnClosedStdout(): void {
  if (stdoutWatched) return;
  stdoutWatched = true;
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') throw error;
    stdoutGone = true;
  });
}

/** `barista zk` commands (src/cli/zk.ts ZK_COMMANDS; listed here so help loads nothing). */
const ZK_COMMANDS = ['ls', 'get', 'set', 'create', 'delete', 'stat', 'watch', 'acl'] as const;

/** `barista store` commands (src/cli/store.ts STORE_COMMANDS; listed here so help loads nothing). */
const STORE_COMMANDS = ['get', 'set', 'del', 'where', 'ring'] as const;

/** `barista member` subcommands (src/cli/member.ts MEMBER_COMMANDS; listed here so help loads nothing). */
const MEMBER_COMMANDS = ['list', 'add', 'remove', 'promote', 'replace'] as const;

function int(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
    }
    return n;
  };
}

function oneOf<const T extends string>(name: string, choices: readonly T[]) {
  return (value: string): T => {
    const choice = choices.find((c) => c === value);
    if (choice === undefined) throw new InvalidArgumentError(`${name} must be one of ${choices.join(', ')}`);
    return choice;
  };
}

/**
 * A repeatable option: `--endpoint a:1 --endpoint b:2`. One value per flag, so the option never
 * swallows the arguments after it (a variadic `<v...>` option would take `key value` too).
 */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** package.json's version, read from the package root (src/cli and dist/cli are both two below). */
export function packageVersion(): string {
  const path = new URL('../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
}

export function buildProgram(): Command {
  const program = new Command('barista')
    .description('Baristas: a distributed data platform (Raft, Dynamo, ZooKeeper/Kafka/Redis protocols)')
    .version(packageVersion(), '-V, --version', 'print the version')
    .showHelpAfterError()
    .exitOverride();

  program
    .command('node')
    .description('run one node process from a YAML/JSON config file')
    .requiredOption('--config <file>', 'node config (YAML or JSON)')
    .option(
      '--rejoin',
      'the data directory was lost: start empty as a learner and ask the leader to re-add this node',
      false,
    )
    .action(async (o: { config: string; rejoin: boolean }) => {
      const { runNodeFromFile } = await import('../node/main.ts');
      process.exitCode = await runNodeFromFile(o.config, { rejoin: o.rejoin });
    });

  program
    .command('dev')
    .description('start a local cluster on 127.0.0.1 (the default of `npm start`); Ctrl-C stops it')
    .option('--nodes <n>', 'number of nodes (default 3, or what the data dir holds)', int('--nodes', 1, 9))
    .option('--data-dir <dir>', 'where nodes keep their data and cluster.json', '.baristas')
    .option(
      '--base-port <port>',
      'first port; node i uses base+10i (peer) and base+10i+1 (admin); an existing data dir keeps its ports',
      int('--base-port', 1024, 65000),
      7100,
    )
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option(
      '--health-timeout-ms <ms>',
      'how long to wait for every node to be ready (serving a read through Raft)',
      int('--health-timeout-ms', 1000, 600000),
      60000,
    )
    .option('--exit-when-healthy', 'stop the cluster as soon as every node is ready (smoke test)', false)
    .option(
      '--replicas <n>',
      'a new cluster keeps each store (Redis) key on n nodes (Dynamo-style, default 1); an existing data dir keeps its own',
      int('--replicas', 1, 9),
    )
    .option(
      '--conflicts <mode>',
      "store.conflicts of every node: siblings (default) or last-write-wins (SET without a read first; concurrent writes lost, as Cassandra's); kept in cluster.json for later runs",
      oneOf('--conflicts', ['siblings', 'last-write-wins'] as const),
    )
    .option(
      '--collections <layout>',
      'a new cluster at --replicas > 1 keeps sets, hashes, lists and sorted sets in rows (default: one row per element, a command reads, writes and ships only the elements it names) or whole (one CRDT value per key, rewritten by every command); an existing data dir keeps its own',
      oneOf('--collections', ['whole', 'rows'] as const),
    )
    .action(
      async (o: {
        replicas?: number;
        conflicts?: 'siblings' | 'last-write-wins';
        collections?: 'whole' | 'rows';
        nodes?: number;
        dataDir: string;
        basePort: number;
        host: string;
        healthTimeoutMs: number;
        exitWhenHealthy: boolean;
      }) => {
        const { runDev } = await import('./dev.ts');
        process.exitCode = await runDev(
          {
            nodes: o.nodes,
            dataDir: o.dataDir,
            basePort: o.basePort,
            host: o.host,
            exitWhenHealthy: o.exitWhenHealthy,
            healthTimeoutMs: o.healthTimeoutMs,
            replicas: o.replicas,
            conflicts: o.conflicts,
            collections: o.collections,
          },
          out,
        );
      },
    );

  program
    .command('status')
    .description("show each node's view of the cluster")
    .option(
      '--endpoint <host:port>',
      'an admin endpoint, repeatable (default: from <data-dir>/cluster.json)',
      collect,
      [],
    )
    .option('--data-dir <dir>', 'data dir of a `barista dev` cluster', '.baristas')
    .option('--json', 'machine-readable output', false)
    .action(async (o: { endpoint: string[]; dataDir: string; json: boolean }) => {
      const { runStatus } = await import('./status.ts');
      process.exitCode = await runStatus({ endpoints: o.endpoint, dataDir: o.dataDir, json: o.json }, out);
    });

  program
    .command('sim')
    .description('run the cluster in the deterministic simulator (one seed, or a swarm with --seeds)')
    .option('--seed <seed>', 'the seed to run or replay (default: random)')
    .option('--seeds <k>', 'run K seeds (a swarm)', int('--seeds', 1, 100000), 1)
    .option('--nodes <n>', 'cluster size', int('--nodes', 1, 64), 3)
    .option('--nemesis <kinds>', 'faults: partition,crash,crash-in-io,pause,clock,clog,loss | all | none', 'all')
    .option('--duration <d>', 'virtual length of the safety phase (500ms, 60s, 2m)', '60s')
    .option('--liveness-bound <d>', 'virtual time allowed to converge after healing', '10s')
    .option(
      '--workload <w>',
      'a registered workload: membership (failure detection), raft-kv (clients on the Raft KV, checked linearizable), mix (each seed draws the workloads); `list` describes them',
      'membership',
    )
    .option(
      '--read-consistency <c>',
      'raft-kv reads: linearizable, or serializable (stale; a negative control the checker must fail)',
      'linearizable',
    )
    .option('--sessions', 'raft-kv: clients use exactly-once sessions and retry until a definite answer', false)
    .option(
      '--blob-bytes-max <bytes>',
      'raft-kv and coord: one more client writes a dozen keys (znodes) of up to this many bytes (0: none)',
      int('--blob-bytes-max', 0, 1024 * 1024),
      0,
    )
    .option(
      '--snapshot-data-bytes-max <bytes>',
      "every node's snapshot bound (the state bounds derive from it): small, a run reaches them",
      int('--snapshot-data-bytes-max', 128 * 1024, 1024 * 1024 * 1024),
    )
    .option(
      '--raft <overrides>',
      'Raft driver overrides, name=number comma-separated (snapshotEveryEntries=30,...)',
      '',
    )
    .option(
      '--swarm',
      'each seed draws its fault mix and intensities (supersedes --nemesis) and the summary counts injected faults per class; defaults to --nodes 5 --workload raft-kv --duration 20s --liveness-bound 20s',
      false,
    )
    .option(
      '--mutation <name>',
      `plant a bug to show a seed catches it (repeatable, or comma-separated): ${MUTATION_NAMES.join(', ')}`,
      collect,
      [] as string[],
    )
    .option(
      '--swarm-without <classes>',
      'with --swarm: leave these fault classes out of every seed (comma-separated; the others draw as before)',
      collect,
      [] as string[],
    )
    .option('--json', 'machine-readable output', false)
    .action(
      async (
        o: {
          seed?: string;
          seeds: number;
          nodes: number;
          nemesis: string;
          duration: string;
          livenessBound: string;
          workload: string;
          readConsistency: string;
          sessions: boolean;
          blobBytesMax: number;
          snapshotDataBytesMax?: number;
          raft: string;
          json: boolean;
          swarm: boolean;
          mutation: string[];
          swarmWithout: string[];
        },
        cmd: Command,
      ) => {
        // --swarm defaults to the issue-7 swarm run (5-node raft-kv, 20 s + 20 s) unless told otherwise.
        const swarmDefault = (flag: string, value: string | number): Record<string, string | number> =>
          o.swarm && cmd.getOptionValueSource(flag) === 'default' ? { [flag]: value } : {};
        const { runSimCommand } = await import('./sim.ts');
        process.exitCode = runSimCommand(
          {
            ...o,
            ...swarmDefault('nodes', 5),
            ...swarmDefault('workload', 'raft-kv'),
            ...swarmDefault('duration', '20s'),
            ...swarmDefault('livenessBound', '20s'),
            seed: o.seed,
          },
          out,
        );
      },
    );

  program
    .command('kv')
    .description('read and write the replicated key-value keyspace (the kv Raft group) through any node')
    .argument('<op>', 'put | get | cas | del')
    .argument('<key>')
    .argument('[value]', 'the value (put, cas); - reads it from stdin')
    .option('--file <path>', 'put, cas: read the value from this file')
    .option('--expected <old>', 'cas: the value the key must hold')
    .option('--absent', 'cas: the key must not exist (insert if not exists)', false)
    .option('--serializable', 'get: read this node local state (may be stale) instead of a linearizable read', false)
    .option(
      '--endpoint <host:port>',
      'an admin endpoint, repeatable (default: from <data-dir>/cluster.json)',
      collect,
      [],
    )
    .option('--data-dir <dir>', 'data dir of a `barista dev` cluster', '.baristas')
    .option('--json', 'print the raw JSON answer', false)
    .action(
      async (
        op: string,
        key: string,
        value: string | undefined,
        o: {
          file?: string;
          expected?: string;
          absent: boolean;
          serializable: boolean;
          endpoint: string[];
          dataDir: string;
          json: boolean;
        },
      ) => {
        if (op !== 'put' && op !== 'get' && op !== 'cas' && op !== 'del')
          throw new ConfigError('<op>', `expected put, get, cas or del, got "${op}"`);
        const { readStdinBounded, runKv } = await import('./kv.ts');
        process.exitCode = await runKv(
          {
            op,
            key,
            value,
            file: o.file,
            expected: o.expected,
            absent: o.absent,
            serializable: o.serializable,
            endpoints: o.endpoint,
            dataDir: o.dataDir,
            json: o.json,
          },
          { out, err: (s) => void process.stderr.write(s), readStdin: readStdinBounded },
        );
      },
    );

  program
    .command('member')
    .description('list or change the Raft membership: list | add ID | remove ID | promote ID | replace ID')
    .argument('<command>', MEMBER_COMMANDS.join(' | '))
    .argument('[id]', 'the node id (all but list)')
    .option(
      '--endpoint <host:port>',
      'an admin endpoint, repeatable (default: from <data-dir>/cluster.json)',
      collect,
      [] as string[],
    )
    .option('--data-dir <dir>', 'data dir of a `barista dev` cluster', '.baristas')
    .option('--json', 'print the raw JSON answer', false)
    .action(
      async (command: string, id: string | undefined, o: { endpoint: string[]; dataDir: string; json: boolean }) => {
        if (!(MEMBER_COMMANDS as readonly string[]).includes(command))
          throw new ConfigError('<command>', `expected ${MEMBER_COMMANDS.join(', ')}, got "${command}"`);
        const { runMember } = await import('./member.ts');
        process.exitCode = await runMember(
          {
            command: command as (typeof MEMBER_COMMANDS)[number],
            nodeId: id,
            endpoints: o.endpoint,
            dataDir: o.dataDir,
            json: o.json,
          },
          out,
          (s) => process.stderr.write(s),
        );
      },
    );

  program
    .command('store')
    .description(
      "one Redis command on a node's resp port: get KEY | set KEY VALUE | del KEY | where KEY | ring [join NODE | leave NODE | abort]",
    )
    .argument('<command>', STORE_COMMANDS.join(' | '))
    .argument('[key]', 'the key (ring: join, leave or abort)')
    .argument('[value]', 'set: the value; ring join/leave: the node')
    .option('--server <host:port>', 'a resp endpoint (default: the resp ports in <data-dir>/cluster.json, in turn)')
    .option('--data-dir <dir>', 'data dir of a `barista dev` cluster', '.baristas')
    .option('--password <password>', 'AUTH with this password first (requirepass)')
    .option('--timeout-ms <ms>', 'give up when no reply comes', int('--timeout-ms', 100, 600000), 5000)
    .action(
      async (
        command: string,
        key: string | undefined,
        value: string | undefined,
        o: { server?: string; dataDir: string; password?: string; timeoutMs: number },
      ) => {
        if (!(STORE_COMMANDS as readonly string[]).includes(command))
          throw new ConfigError('<command>', `expected ${STORE_COMMANDS.join(', ')}, got "${command}"`);
        const { runStore } = await import('./store.ts');
        process.exitCode = await runStore(
          {
            command: command as (typeof STORE_COMMANDS)[number],
            key,
            value,
            server: o.server,
            dataDir: o.dataDir,
            password: o.password,
            timeoutMs: o.timeoutMs,
          },
          { out, err: (s) => void process.stderr.write(s) },
        );
      },
    );

  program
    .command('zk')
    .description('ZooKeeper commands (as zkCli): ls | get | set | create | delete | stat | watch | acl get|set')
    .argument('<command>', ZK_COMMANDS.join(' | '))
    .argument('[args...]', 'PATH [DATA [ACL]] (acl: get PATH | set PATH scheme:id:perms)')
    .option('--server <host:port,...>', 'connect string (default: the zookeeper ports in <data-dir>/cluster.json)')
    .option('--data-dir <dir>', 'data dir of a `barista dev` cluster', '.baristas')
    .option('-s, --stat', 'ls, get, set: print the Stat too', false)
    .option('-R, --recursive', 'ls: the whole subtree, one path a line', false)
    .option('-e, --ephemeral', "create: an ephemeral node (gone with this command's session)", false)
    .option('-S, --sequential', 'create: a sequential node (zkCli: -s)', false)
    .option('-c, --container', 'create: a container node', false)
    .option('-t, --ttl <ms>', 'create: a TTL node (needs TTL nodes enabled on the server)', int('--ttl', 1, 2 ** 40))
    .option(
      '-v, --version <n>',
      'set, delete, acl set: only if the node has this version',
      int('--version', -1, 2 ** 31 - 1),
    )
    .option('-n, --count <n>', 'watch: events to print before exiting', int('--count', 1, 1_000_000), 1)
    .option('--children', 'watch: child changes instead of data/existence', false)
    .option('--auth <scheme:credentials>', 'addauth first, e.g. digest:user:password')
    .option('--session-timeout-ms <ms>', 'session timeout asked for', int('--session-timeout-ms', 1000, 600000), 30000)
    .option(
      '--connect-timeout-ms <ms>',
      'give up when no server answers',
      int('--connect-timeout-ms', 100, 600000),
      10000,
    )
    .action(
      async (
        command: string,
        args: string[],
        o: {
          server?: string;
          dataDir: string;
          stat: boolean;
          recursive: boolean;
          ephemeral: boolean;
          sequential: boolean;
          container: boolean;
          ttl?: number;
          version?: number;
          count: number;
          children: boolean;
          auth?: string;
          sessionTimeoutMs: number;
          connectTimeoutMs: number;
        },
      ) => {
        if (!(ZK_COMMANDS as readonly string[]).includes(command))
          throw new ConfigError('<command>', `expected ${ZK_COMMANDS.join(', ')}, got "${command}"`);
        const { runZk } = await import('./zk.ts');
        process.exitCode = await runZk(
          {
            command: command as (typeof ZK_COMMANDS)[number],
            args,
            server: o.server,
            dataDir: o.dataDir,
            sessionTimeoutMs: o.sessionTimeoutMs,
            connectTimeoutMs: o.connectTimeoutMs,
            recursive: o.recursive,
            stat: o.stat,
            ephemeral: o.ephemeral,
            sequential: o.sequential,
            container: o.container,
            children: o.children,
            count: o.count,
            ...(o.ttl === undefined ? {} : { ttlMs: o.ttl }),
            ...(o.version === undefined ? {} : { version: o.version }),
            ...(o.auth === undefined ? {} : { auth: o.auth }),
          },
          { out, err: (s) => void process.stderr.write(s) },
        );
      },
    );

  registerCheckCommand(program);

  return program;
}

export async function main(argv: string[]): Promise<number> {
  quietOnClosedStdout();
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    process.stderr.write(`${describeError(err)}\n`);
    return 2;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const code = await main(process.argv.slice(2));
  process.exitCode = code;
}
