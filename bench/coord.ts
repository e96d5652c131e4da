// Coordination benchmark (issue 9): the same node-zookeeper-client load against Baristas' ZooKeeper
// front end (the `zookeeper` ports of a 3-node `barista dev` cluster, fsync on) and against a real
// ZooKeeper 3.8 ensemble of 3 servers started here (Debian's package, forceSync=yes and the JVM
// options of ../shared/anchors/zk-ensemble.sh), same machine, same run.
//
// The load is ../shared/anchors/bench-zk.mjs's: one session (the client picks one of the three
// servers), requests pipelined on it with `concurrency` in flight, four bounded phases on N
// znodes of --value-size bytes under a fresh directory: create (persistent), setData, getData,
// delete. Writes go through the leader; getData is answered by the server the session is on.
//
// Every case runs --rounds times, interleaved: ZooKeeper then Baristas, and the other order the
// next round, so neither system always runs first on a warmer (or busier) machine. Each run is a
// fresh session and a small warm-up cycle; both systems also get one 1,000-znode warm-up cycle
// before the first pair (the JVM's JIT and our first allocations). Per phase the table shows
// ops/s, p50, p99, the servers' CPU per op (/proc, all three processes) and the ratio
// ours/ZooKeeper; then the medians over rounds.
//
//   npm run bench -- coord [--n 10000] [--concurrency 1,64] [--rounds 1] [--value-size 100]
//                          [--placement random|leader|follower|each]
// --placement pins the session to each system's leader or to one of its followers ("each": both,
// as two cases), found by the `srvr` four-letter word before every run: at c=1 a session on a
// follower pays one more hop per write on both systems, and a random pick can put the two systems'
// sessions in different places for a whole round. Default random (the client's own pick).
// At concurrency 1 a phase is min(N, 1000) ops. Every phase is bounded to 60 s, every request to
// 10 s; all servers are stopped in `finally`.
// Memory per znode against ZooKeeper is the other half of issue 9's benchmark: bench/coord-memory.ts.
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { fourLetter, startZooKeeper, type ZkCluster, zookeeperUnavailable } from '../test/support/zookeeper-server.ts';
import { until } from '../test/integration/helpers.ts';
import { type CaseResult, closedLoop, type DevCluster, f, median, startDevCluster } from './_load.ts';
import { machineLine } from './_machine.ts';
import { CreateMode, connectedPort, type ZkClient, zkCall, zkConnect } from './_zk-client.ts';

const PHASES = ['create', 'setData', 'getData', 'delete'] as const;
type Phase = (typeof PHASES)[number];
const ROOT = '/bench-coord';
const phaseSecondsMax = 60;

interface System {
  readonly name: 'ZooKeeper' | 'Baristas';
  readonly connectString: string;
  readonly pids: readonly number[];
}

function phaseOp(client: ZkClient, phase: Phase, dir: string, value: Buffer): (i: number) => Promise<unknown> {
  switch (phase) {
    case 'create':
      return (i) => zkCall('create', (cb) => client.create(`${dir}/n${i}`, value, CreateMode.PERSISTENT, cb));
    case 'setData':
      return (i) => zkCall('setData', (cb) => client.setData(`${dir}/n${i}`, value, -1, cb));
    case 'getData':
      return (i) => zkCall('getData', (cb) => client.getData(`${dir}/n${i}`, cb));
    case 'delete':
      return (i) => zkCall('delete', (cb) => client.remove(`${dir}/n${i}`, -1, cb));
  }
}

/** `n` znodes under `dir` through the four phases in turn; `dir` is removed after. */
async function cycle(
  client: ZkClient,
  dir: string,
  n: number,
  concurrency: number,
  pids: readonly number[],
  value: Buffer,
): Promise<Record<Phase, CaseResult>> {
  await zkCall('mkdirp', (cb) => client.mkdirp(dir, cb));
  const out = {} as Record<Phase, CaseResult>;
  for (const phase of PHASES) {
    out[phase] = await closedLoop(n, concurrency, phaseSecondsMax, pids, phaseOp(client, phase, dir, value));
  }
  // Not empty only if some delete failed; the servers are thrown away at the end anyway.
  await zkCall('remove', (cb) => client.remove(dir, -1, cb)).catch(() => undefined);
  return out;
}

/**
 * One session: `warm` znodes through the phases (unmeasured), then `n`, measured. `on`: the role
 * of the server the session landed on (the client picks one at random; on a follower every write
 * takes one more hop, so at c=1 the placement moves a round's write rates, on both systems).
 */
async function runOnce(
  sys: System,
  dir: string,
  n: number,
  warm: number,
  concurrency: number,
  value: Buffer,
): Promise<{ results: Record<Phase, CaseResult>; on: string }> {
  const client = await zkConnect(sys.connectString);
  try {
    const port = connectedPort(client);
    const mode = port === undefined ? '' : await fourLetter(port, 'srvr').catch(() => '');
    const on = /Mode: (\w+)/.exec(mode)?.[1] ?? 'unknown';
    if (warm > 0) await cycle(client, `${dir}-warm`, warm, concurrency, [], value);
    return { results: await cycle(client, dir, n, concurrency, sys.pids, value), on };
  } finally {
    client.close();
  }
}

async function startEnsemble(): Promise<ZkCluster> {
  // zk-ensemble.sh's server: fsync before every ack, fixed 512 MiB heap, the JVM's default GC and JIT.
  return startZooKeeper({ serverCount: 3, forceSync: true, jvmArgs: ['-Xms512m', '-Xmx512m'] });
}

type Placement = 'random' | 'leader' | 'follower';

/** A connect string of one server of `sys` in the given role now (random: all of them). */
async function placed(sys: System, placement: Placement): Promise<System> {
  if (placement === 'random') return sys;
  const servers = sys.connectString.split(',');
  for (let attempt = 0; attempt < 50; attempt++) {
    for (const server of servers) {
      const port = Number(server.slice(server.lastIndexOf(':') + 1));
      const reply = await fourLetter(port, 'srvr').catch(() => '');
      if (/Mode: (\w+)/.exec(reply)?.[1] === placement) return { ...sys, connectString: server };
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${sys.name}: no ${placement} among ${sys.connectString}`);
}

async function coordLeader(dev: DevCluster): Promise<void> {
  await until('a coord leader', 30_000, async () => {
    for (const node of dev.cluster.nodes) {
      const reply = await fourLetter(node.ports['zookeeper']!, 'srvr').catch(() => '');
      if (reply.includes('Mode: leader')) return true;
    }
    return false;
  });
}

function resultCells(r: CaseResult): string[] {
  return [String(r.opsPerS), f(r.p50Ms, 2), f(r.p99Ms, 2), f(r.serverCpuMsPerOp, 3)];
}

function errorsNote(sys: string, r: CaseResult): string {
  return r.errors > 0 ? `  (${sys}: ${r.errors} errors, first: ${r.firstError})` : '';
}

export default async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      n: { type: 'string', default: '10000' },
      concurrency: { type: 'string', default: '1,64' },
      rounds: { type: 'string', default: '1' },
      'value-size': { type: 'string', default: '100' },
      placement: { type: 'string', default: 'random' },
    },
  });
  const placements: Placement[] =
    values.placement === 'each'
      ? ['leader', 'follower']
      : values.placement === 'random' || values.placement === 'leader' || values.placement === 'follower'
        ? [values.placement]
        : [];
  if (placements.length === 0) throw new Error(`--placement ${values.placement}: random, leader, follower or each`);
  const n = Number(values.n);
  const rounds = Math.max(1, Number(values.rounds));
  const concurrencies = values.concurrency.split(',').map(Number);
  const value = Buffer.alloc(Number(values['value-size']), 'x');
  console.log(machineLine());
  console.log(
    `command: npm run bench -- coord --n ${n} --concurrency ${values.concurrency} --rounds ${rounds} --value-size ${value.length} --placement ${values.placement}`,
  );
  const whyNot = zookeeperUnavailable();
  if (whyNot !== undefined) throw new Error(`cannot run the ZooKeeper side: ${whyNot}`);

  let zk: ZkCluster | undefined;
  let dev: DevCluster | undefined;
  const rows: string[] = [
    '| c | phase | round | ZooKeeper ops/s | p50 ms | p99 ms | CPU ms/op | Baristas ops/s | p50 ms | p99 ms | CPU ms/op | ratio ops/s | ratio p99 |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const medianRows: string[] = [
    '| c | phase | ZooKeeper ops/s | p50 ms | p99 ms | Baristas ops/s | p50 ms | p99 ms | ratio ops/s per round | median ratio ops/s | median ratio p99 |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---:|',
  ];
  try {
    // Started together (each takes seconds); whichever came up is stopped in `finally` even if the other failed.
    const started = await Promise.allSettled([startEnsemble(), startDevCluster('baristas-bench-coord-')]);
    if (started[0].status === 'fulfilled') zk = started[0].value;
    if (started[1].status === 'fulfilled') dev = started[1].value;
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    if (zk === undefined || dev === undefined) throw new Error('unreachable: both started');
    await coordLeader(dev);
    const zkSys: System = {
      name: 'ZooKeeper',
      connectString: zk.connectString,
      pids: zk.servers.flatMap((s) => (s.child.pid === undefined ? [] : [s.child.pid])),
    };
    const ours: System = {
      name: 'Baristas',
      connectString: dev.cluster.nodes.map((x) => `${x.host}:${x.ports['zookeeper']!}`).join(','),
      pids: dev.pids,
    };
    console.log(`ZooKeeper ${zkSys.connectString}; Baristas ${ours.connectString}`);
    for (const sys of [zkSys, ours]) await runOnce(sys, `${ROOT}/settle`, 1000, 0, 64, value);

    for (const c of concurrencies)
      for (const placement of placements) {
        const label = placement === 'random' ? String(c) : `${c} on ${placement}`;
        const count = c === 1 ? Math.min(n, 1000) : n;
        const warm = Math.min(count, c === 1 ? 50 : 500);
        const perRound: Record<Phase, { zk: CaseResult; ours: CaseResult }[]> = {
          create: [],
          setData: [],
          getData: [],
          delete: [],
        };
        for (let round = 0; round < rounds; round++) {
          const order = round % 2 === 0 ? [zkSys, ours] : [ours, zkSys];
          const got = new Map<string, { results: Record<Phase, CaseResult>; on: string }>();
          let failed: string | undefined;
          for (const sys of order) {
            try {
              const where = await placed(sys, placement);
              got.set(sys.name, await runOnce(where, `${ROOT}/c${c}-${placement}-r${round}`, count, warm, c, value));
            } catch (err) {
              failed = `${sys.name}: ${(err as Error).message}`;
              break;
            }
          }
          if (failed !== undefined) {
            // node-zookeeper-client sometimes leaves one request unanswered until its 10 s bound,
            // against either system (seen 2026-12-07 on ZooKeeper's side in two runs of three and
            // on ours once, in a mkdirp): the round is reported and left out, not the whole run.
            console.log(`  c=${label} round ${round + 1}: ${failed}; the round is left out of the medians`);
            continue;
          }
          const z = got.get('ZooKeeper')!.results;
          const o = got.get('Baristas')!.results;
          for (const phase of PHASES) {
            const a = z[phase];
            const b = o[phase];
            // A phase with a request unanswered within its bound measured that wait, not the system.
            if (a.errors === 0 && b.errors === 0) perRound[phase].push({ zk: a, ours: b });
            const cells = [label, phase, round + 1, ...resultCells(a), ...resultCells(b)];
            const row = `| ${[...cells, f(b.opsPerS / a.opsPerS, 2), f(b.p99Ms / a.p99Ms, 2)].join(' | ')} |`;
            rows.push(row);
            console.log(row + errorsNote('ZooKeeper', a) + errorsNote('Baristas', b));
          }
          const on = `sessions on: ZooKeeper ${got.get('ZooKeeper')!.on}, Baristas ${got.get('Baristas')!.on}`;
          console.log(
            `  c=${label} round ${round + 1} order ${order.map((s) => s.name).join(' then ')}; ${on}; load average ${loadavg()
              .map((x) => x.toFixed(2))
              .join(' ')}`,
          );
        }
        for (const phase of PHASES) {
          const rs = perRound[phase];
          if (rs.length === 0) continue;
          const m = (pick: (r: { zk: CaseResult; ours: CaseResult }) => number): number => median(rs.map(pick));
          const ratios = rs.map((r) => r.ours.opsPerS / r.zk.opsPerS);
          const cells = [
            label,
            phase,
            f(
              m((r) => r.zk.opsPerS),
              0,
            ),
            f(
              m((r) => r.zk.p50Ms),
              2,
            ),
            f(
              m((r) => r.zk.p99Ms),
              2,
            ),
            f(
              m((r) => r.ours.opsPerS),
              0,
            ),
            f(
              m((r) => r.ours.p50Ms),
              2,
            ),
            f(
              m((r) => r.ours.p99Ms),
              2,
            ),
            ratios.map((x) => f(x, 2)).join(' '),
            f(median(ratios), 2),
            f(
              m((r) => r.ours.p99Ms / r.zk.p99Ms),
              2,
            ),
          ];
          medianRows.push(`| ${cells.join(' | ')} |`);
        }
      }
  } finally {
    await Promise.all([zk?.stop(), dev?.stop()]);
  }
  console.log(`\n${rows.join('\n')}`);
  console.log(
    `\nmedians over ${rounds} round(s), each phase over its rounds without an error on either side:\n${medianRows.join('\n')}`,
  );
}
