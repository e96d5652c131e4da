// Redis benchmark (issue 10): redis-benchmark (Debian's, 7.0) against redis-server 7.0 and against
// one Baristas node (the store service on its resp port), same machine, same run, as ratios.
//
//   npm run bench -- redis [--quick] [-n 200000] [-c 50] [--pipelines 1,16]
//                          [--tests set,get,incr,lpush,lpop,sadd,hset] [-r 100000] [--cluster]
//                          [--collections whole|rows]
//                          [--maxmemory 20mb [--policy allkeys-lru]]
// --maxmemory: both sides get CONFIG SET maxmemory/maxmemory-policy after start (sync none vs no
// persistence only): a cache at capacity, evicting on every write once full; INFO's used_memory,
// evicted_keys and DBSIZE are printed after (Redis counts its allocator, we our data set).
// --cluster: instead, 3 Baristas node processes with N = 3 at ONE and at QUORUM (sync periodic,
// redis-benchmark on the first node, which coordinates every request) against Redis everysec,
// SET and GET unless --tests names others; QUORUM twice: store.conflicts siblings (a SET reads
// first) and last-write-wins (a SET is one write round). --collections: rows (the default, as
// `barista dev --replicas N` makes) touches only the elements a command names; whole rewrites a
// collection test's single key per command (32 LPUSH/s over 5,000 pushes: give it a small -n).
// Systems, each started fresh for its runs and stopped after (in `finally`):
//   redis-server: no persistence; appendonly yes + appendfsync everysec; appendfsync always
//   Baristas:     store.sync none; periodic (every 1000 ms, like everysec); always (group commit)
// Pairs compared: none/no persistence, periodic/everysec, always/always. Per test and pipeline
// depth the table shows requests/s and p50 latency of each side and the ratio Baristas/Redis.
// --warmup N (default 20000; 0: none): before its measured runs each server, Redis too, answers
// N unpipelined SET and GET and N of each measured test, none of them measured (a Node process
// runs its first requests in the interpreter until the JIT has compiled them: the first row of a
// run was the lowest, 0.28-0.49 for SET where later runs gave 0.5-0.74; until 2026-12-06 only SET
// and GET were warmed, and a collection test at N = 3 measured over its first 5,000 requests ran
// at a third to a half of its steady rate). Its SETs write keys of the -r keyspace, so a GET-only
// run finds them, and under --maxmemory they count toward the cache. --quick: -n 20000 and one pipeline depth (16), for a smoke run. Requests that fail (an error
// reply, e.g. a command not offered yet) are reported by redis-benchmark; a test whose Baristas
// run fails is shown as "-". The machine is shared with other work: numbers move between runs.
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import {
  type RunningRespServer,
  redisServerUnavailable,
  startRedisServer,
  startStoreCluster,
  startStoreNode,
} from '../test/support/redis-servers.ts';
import { cpuSeconds, f } from './_load.ts';
import { machineLine } from './_machine.ts';

interface Row {
  readonly rps: number;
  readonly p50Ms: number;
  readonly cpuUsPerOp: number;
}

type Results = Map<string, Row>; // key: `${test}|P${pipeline}`

const PAIRS = [
  { redis: 'none', baristas: 'none', label: 'no persistence / sync none' },
  { redis: 'everysec', baristas: 'periodic', label: 'everysec / sync periodic' },
  { redis: 'always', baristas: 'always', label: 'always / sync always (group commit)' },
] as const;

/** One redis-benchmark run of every test at one pipeline depth; rows by test name. */
function benchmark(
  server: RunningRespServer,
  o: { n: number; c: number; pipeline: number; tests: string; keyspace: number },
): Results {
  const pids = [...(server.pids ?? [server.pid])];
  const before = cpuSeconds(pids);
  const r = spawnSync(
    'redis-benchmark',
    [
      '-h',
      server.host,
      '-p',
      String(server.port),
      '-t',
      o.tests,
      '-n',
      String(o.n),
      '-c',
      String(o.c),
      '-P',
      String(o.pipeline),
      '-r',
      String(o.keyspace),
      '--csv',
    ],
    { encoding: 'utf8', timeout: 30 * 60_000, maxBuffer: 16 * 1024 * 1024 },
  );
  const cpuS = cpuSeconds(pids) - before;
  if (r.status !== 0) throw new Error(`redis-benchmark against ${server.name} failed: ${r.stderr}`);
  if (r.stderr.trim() !== '') process.stdout.write(`  (${server.name} stderr: ${r.stderr.trim().slice(0, 300)})\n`);
  const out: Results = new Map();
  const lines = r.stdout.trim().split('\n').slice(1); // header
  let ops = 0;
  for (const line of lines) {
    const cells = line.split(',').map((c) => c.replace(/"/g, ''));
    const name = cells[0]!.split(' ')[0]!.toLowerCase();
    const rps = Number(cells[1]);
    ops += o.n;
    out.set(`${name}|P${o.pipeline}`, { rps, p50Ms: Number(cells[4]), cpuUsPerOp: 0 });
  }
  // Server CPU over the whole run, spread over its ops (all tests together).
  for (const [k, row] of out) out.set(k, { ...row, cpuUsPerOp: ops > 0 ? (cpuS * 1e6) / ops : Number.NaN });
  return out;
}

/** One redis-cli command's output (text), or throws when redis-cli fails. */
function cli(server: RunningRespServer, ...argv: string[]): string {
  const r = spawnSync('redis-cli', ['-h', server.host, '-p', String(server.port), ...argv], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`redis-cli ${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** INFO fields after a run under maxmemory: what each side kept and evicted. */
function cacheLine(server: RunningRespServer): string {
  const info = cli(server, 'INFO', 'everything');
  const field = (name: string) => new RegExp(`^${name}:(\\S+)`, 'm').exec(info)?.[1] ?? '?';
  const dbsize = cli(server, 'DBSIZE').trim();
  return `used_memory ${field('used_memory')}, maxmemory ${field('maxmemory')}, evicted_keys ${field('evicted_keys')}, keys ${dbsize}`;
}

async function measure(
  start: () => Promise<RunningRespServer>,
  o: {
    n: number;
    c: number;
    pipelines: number[];
    tests: string;
    keyspace: number;
    maxmemory?: string;
    policy: string;
    warmup: number;
  },
): Promise<{ name: string; results: Results; cache?: string }> {
  const server = await start();
  try {
    // A cache at capacity: the same maxmemory and policy on both sides, set at run time.
    if (o.maxmemory !== undefined) {
      const ok = cli(server, 'CONFIG', 'SET', 'maxmemory', o.maxmemory, 'maxmemory-policy', o.policy).trim();
      if (ok !== 'OK') throw new Error(`${server.name}: CONFIG SET answered ${ok}`);
    }
    if (o.warmup > 0) {
      const tests = [...new Set(['set', 'get', ...o.tests.split(',')])].join(',');
      benchmark(server, { ...o, n: o.warmup, pipeline: 1, tests });
    }
    const results: Results = new Map();
    for (const pipeline of o.pipelines) {
      for (const [k, v] of benchmark(server, { ...o, pipeline })) results.set(k, v);
    }
    return { name: server.name, results, ...(o.maxmemory === undefined ? {} : { cache: cacheLine(server) }) };
  } finally {
    await server.stop();
  }
}

function nonNegativeInteger(flag: string, text: string): number {
  const v = Number(text);
  if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${flag} takes a whole number >= 0, not ${text}`);
  return v;
}

export default async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: 'boolean', default: false },
      n: { type: 'string', short: 'n' },
      c: { type: 'string', short: 'c', default: '50' },
      r: { type: 'string', short: 'r', default: '100000' },
      pipelines: { type: 'string' },
      tests: { type: 'string' },
      cluster: { type: 'boolean', default: false },
      maxmemory: { type: 'string' },
      policy: { type: 'string', default: 'allkeys-lru' },
      warmup: { type: 'string', default: '20000' },
      collections: { type: 'string', default: 'rows' },
    },
  });
  const unavailable =
    redisServerUnavailable() ??
    (spawnSync('redis-benchmark', ['--version']).status === 0 ? undefined : 'redis-benchmark is not installed');
  if (unavailable !== undefined) {
    console.log(`bench redis: ${unavailable}; nothing to compare with`);
    return;
  }
  const n = Number(values.n ?? (values.quick ? 20_000 : 200_000));
  const collections = values.collections;
  if (collections !== 'whole' && collections !== 'rows')
    throw new Error(`--collections whole|rows, not ${collections}`);
  const pipelines = (values.pipelines ?? (values.quick ? '16' : '1,16')).split(',').map(Number);
  const o = {
    n,
    c: Number(values.c),
    pipelines,
    tests: values.tests ?? (values.cluster ? 'set,get' : 'set,get,incr,lpush,lpop,sadd,hset'),
    keyspace: Number(values.r),
    policy: values.policy,
    warmup: nonNegativeInteger('--warmup', values.warmup),
    ...(values.maxmemory === undefined ? {} : { maxmemory: values.maxmemory }),
  };
  const tests = o.tests.split(',');
  console.log(
    `bench redis: redis-benchmark -t ${o.tests} -n ${n} -c ${o.c} -r ${o.keyspace} -P ${pipelines.join('|')}` +
      `${values.quick ? ' (quick)' : ''}, after ${o.warmup} SET, GET and each test of warm-up per server`,
  );
  console.log(machineLine());
  console.log(
    `load average at start: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')} (a shared machine)`,
  );

  // --cluster: 3 node processes with N = 3 at ONE and at QUORUM (sync periodic) against Redis with
  // appendfsync everysec.
  const runs = values.cluster
    ? (
        [
          ['ONE', 'siblings'],
          ['QUORUM', 'siblings'],
          ['QUORUM', 'last-write-wins'],
        ] as const
      ).map(([level, conflicts]) => ({
        redis: 'everysec' as const,
        label: `3 nodes N=3 at ${level}, store.conflicts ${conflicts}, collections ${collections}, sync periodic / Redis everysec`,
        start: () =>
          startStoreCluster(3, {
            sync: 'periodic',
            consistency: level,
            conflicts,
            replication: { replicas: 3, collections },
          }),
      }))
    : PAIRS.filter((pair) => values.maxmemory === undefined || pair.baristas === 'none').map((pair) => ({
        redis: pair.redis,
        label:
          values.maxmemory === undefined
            ? pair.label
            : `${pair.label}, a cache at capacity: maxmemory ${values.maxmemory} ${values.policy}`,
        start: () => startStoreNode({ sync: pair.baristas }),
      }));
  for (const pair of runs) {
    const redis = await measure(() => startRedisServer(pair.redis), o);
    const ours = await measure(pair.start, o);
    console.log(`\n${pair.label}: ${redis.name} vs ${ours.name}`);
    if (redis.cache !== undefined)
      console.log(`  after, redis-server: ${redis.cache}\n  after, Baristas:     ${ours.cache}`);
    console.log('test    P   redis req/s  p50 ms  cpu us/op | baristas req/s  p50 ms  cpu us/op | ratio');
    for (const pipeline of pipelines) {
      for (const t of tests) {
        const key = `${t}|P${pipeline}`;
        const a = redis.results.get(key);
        const b = ours.results.get(key);
        const ratio = a !== undefined && b !== undefined ? b.rps / a.rps : Number.NaN;
        console.log(
          `${t.padEnd(6)} ${String(pipeline).padStart(2)}  ${f(a?.rps ?? Number.NaN, 0).padStart(11)}  ${f(a?.p50Ms ?? Number.NaN, 3).padStart(6)}  ${f(a?.cpuUsPerOp ?? Number.NaN, 1).padStart(9)} | ` +
            `${f(b?.rps ?? Number.NaN, 0).padStart(14)}  ${f(b?.p50Ms ?? Number.NaN, 3).padStart(6)}  ${f(b?.cpuUsPerOp ?? Number.NaN, 1).padStart(9)} | ${f(ratio, 2)}`,
        );
      }
    }
  }
  console.log(
    `\nload average at end: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
}
