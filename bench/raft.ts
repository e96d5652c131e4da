// Raft benchmark: committed writes per second and latency on a 3-node `barista dev` cluster on
// loopback, fsync on, through the HTTP /v1/kv API (any node; followers forward to the leader),
// at concurrency 1, 16 and 256 with 100 B and 4 KiB values; CPU of the three node processes per
// committed write. Side by side in the same run: Debian's etcd 3.4 (3 members, started by
// ../shared/anchors/etcd-cluster.sh) driven by the anchors' etcd3 Node client with the same
// sizes and concurrency, when etcd and the anchors' client are installed (else: skipped, with the
// reason). Every run is bounded in count and time.
//
// --rounds R repeats every case R times, interleaved (ours, etcd, ours, etcd, ...), and reports the
// ratio of each same-round pair and their median: the machine is shared and noisy, so only pairs
// taken seconds apart are compared. After each of our runs the write path's stage breakdown is
// printed: the mean of every `raft_write_stage_ms` stage on every node over that run (the
// difference of the histograms' sums and counts, src/raft/write-stages.ts).
//
//   npm run bench -- raft [--n 4000] [--sizes 100,4096] [--concurrency 1,16,256] [--rounds 1] [--no-etcd]
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Agent } from 'node:http';
import { httpPostJson } from '../src/cli/common.ts';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ClusterFile } from '../src/cli/cluster-file.ts';
import { parsePrometheus } from '../src/metrics/prometheus.ts';
import { WRITE_STAGE_METRIC, WRITE_STAGES } from '../src/raft/write-stages.ts';
import { getJson, until } from '../test/integration/helpers.ts';
import { type CaseResult, closedLoop, f, median, startDevCluster } from './_load.ts';
import { machineLine } from './_machine.ts';

// ../shared/anchors beside the main checkout; a worktree sits one level deeper (/work/wt/<name>).
const ANCHORS =
  [
    join(import.meta.dirname, '..', '..', 'shared', 'anchors'),
    join(import.meta.dirname, '..', '..', '..', 'shared', 'anchors'),
  ].find((d) => existsSync(d)) ?? join(import.meta.dirname, '..', '..', 'shared', 'anchors');
async function put(agent: Agent, host: string, port: number, key: string, value: string): Promise<void> {
  const r = await httpPostJson(host, port, '/v1/kv', { op: 'put', key, value }, 10_000, agent);
  const answer = JSON.parse(r.body) as { ok?: boolean; code?: string };
  if (r.status !== 200 || answer.ok !== true) throw new Error(`put failed: HTTP ${r.status} ${answer.code ?? ''}`);
}

function etcdAvailable(): string | undefined {
  if (spawnSync('which', ['etcd']).status !== 0) return 'etcd not installed (apt-get install etcd-server etcd-client)';
  if (!existsSync('/tmp/anchors/node/node_modules/etcd3')) return `etcd3 client missing (run ${ANCHORS}/setup-node.sh)`;
  if (!existsSync(join(ANCHORS, 'etcd-cluster.sh'))) return `no anchors scripts at ${ANCHORS}`;
  return undefined;
}

function runEtcd(n: number, concurrency: number, size: number): Promise<CaseResult | string> {
  return new Promise((resolve) => {
    const p = spawn(
      process.execPath,
      [
        join(ANCHORS, 'bench-etcd.mjs'),
        '--op',
        'put',
        '--n',
        String(n),
        '--concurrency',
        String(concurrency),
        '--value-size',
        String(size),
        '--runs',
        '1',
        '--warmup',
        '200',
        '--max-seconds',
        '60',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (out += c.toString()));
    p.on('exit', () => {
      const line = out.split('\n').find((l) => l.startsWith('MEDIAN '));
      const run = /cpu client [\d.]+s servers ([\d.]+)s/.exec(out);
      if (!line) return resolve(`etcd bench failed: ${out.slice(-300)}`);
      const m = JSON.parse(line.slice(7)) as { opsPerS: number; p50ms: number; p99ms: number; errors: number };
      const ops = m.opsPerS > 0 ? n : 1;
      resolve({
        opsPerS: m.opsPerS,
        p50Ms: m.p50ms,
        p99Ms: m.p99ms,
        errors: m.errors,
        serverCpuMsPerOp: run ? (Number(run[1]) * 1000) / ops : Number.NaN,
      });
    });
  });
}

const ETCD_METRICS_PORTS = [23791, 23792, 23793];

/** etcd's WAL fsync histogram summed over its members (seconds, count); undefined if unreadable. */
async function etcdFsyncTotals(): Promise<{ sumS: number; count: number } | undefined> {
  let sumS = 0;
  let count = 0;
  try {
    for (const port of ETCD_METRICS_PORTS) {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      for (const family of parsePrometheus(text)) {
        for (const sample of family.samples) {
          if (sample.name === 'etcd_disk_wal_fsync_duration_seconds_sum') sumS += sample.value;
          if (sample.name === 'etcd_disk_wal_fsync_duration_seconds_count') count += sample.value;
        }
      }
    }
  } catch {
    return undefined;
  }
  return { sumS, count };
}

/** Per node: each stage's histogram sum (ms) and count, from its /metrics. */
type StageTotals = Map<string, { sumMs: number; count: number }>;

async function stageTotals(cluster: ClusterFile): Promise<{ id: string; role: string; stages: StageTotals }[]> {
  const out = [];
  for (const node of cluster.nodes) {
    const base = `http://${node.host}:${node.ports['admin']!}`;
    const text = await (await fetch(`${base}/metrics`)).text();
    const status = (await (await fetch(`${base}/status`)).json()) as { raft: { role: string } };
    const stages: StageTotals = new Map();
    for (const family of parsePrometheus(text)) {
      for (const sample of family.samples) {
        const stage = sample.labels['stage'];
        if (stage === undefined) continue;
        // Summed over the node's Raft groups (every series also carries group="...").
        const t = stages.get(stage) ?? { sumMs: 0, count: 0 };
        if (sample.name === `${WRITE_STAGE_METRIC}_sum`) t.sumMs += sample.value;
        else if (sample.name === `${WRITE_STAGE_METRIC}_count`) t.count += sample.value;
        else continue;
        stages.set(stage, t);
      }
    }
    out.push({ id: node.id, role: status.raft.role, stages });
  }
  return out;
}

/** One line per node: mean ms of every stage between two scrapes (count per write in brackets). */
function stageLines(
  before: Awaited<ReturnType<typeof stageTotals>>,
  after: Awaited<ReturnType<typeof stageTotals>>,
  writes: number,
): string[] {
  return after.map((a, i) => {
    const b = before[i]!;
    const parts: string[] = [];
    for (const stage of WRITE_STAGES) {
      const x = a.stages.get(stage);
      const y = b.stages.get(stage) ?? { sumMs: 0, count: 0 };
      const count = (x?.count ?? 0) - y.count;
      if (x === undefined || count <= 0) continue;
      parts.push(
        `${stage} ${f((x.sumMs - y.sumMs) / count, 2)}${count < writes * 0.9 ? ` (${f(count / writes, 2)}/w)` : ''}`,
      );
    }
    return `  stages ${a.id} (${a.role}): ${parts.join(', ')}`;
  });
}

export default async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      n: { type: 'string', default: '4000' },
      sizes: { type: 'string', default: '100,4096' },
      concurrency: { type: 'string', default: '1,16,256' },
      rounds: { type: 'string', default: '1' },
      'no-etcd': { type: 'boolean', default: false },
    },
  });
  const rounds = Math.max(1, Number(values.rounds));
  const n = Number(values.n);
  const sizes = values.sizes.split(',').map(Number);
  const concurrencies = values.concurrency.split(',').map(Number);
  console.log(machineLine());
  console.log(
    `command: npm run bench -- raft --n ${n} --sizes ${values.sizes} --concurrency ${values.concurrency} --rounds ${rounds}`,
  );
  const etcdWhyNot = values['no-etcd'] ? 'disabled by --no-etcd' : etcdAvailable();

  const started = await startDevCluster('baristas-bench-raft-');
  const rows: string[] = [];
  const medians: string[] = [];
  try {
    const { cluster, pids } = started;
    await until('a leader', 20_000, async () => {
      for (const node of cluster.nodes) {
        const s = await getJson<{ raft: { role: string } }>(node.host, node.ports['admin']!, '/status');
        if (s.raft.role === 'leader') return true;
      }
      return false;
    });
    let agent = new Agent({ keepAlive: true, maxSockets: 512 });
    if (etcdWhyNot === undefined) spawnSync('bash', [join(ANCHORS, 'etcd-cluster.sh'), 'clean'], { stdio: 'ignore' });
    if (etcdWhyNot === undefined) spawnSync('bash', [join(ANCHORS, 'etcd-cluster.sh'), 'start'], { stdio: 'ignore' });
    // Both systems warm once before the first measured pair: the first pair used to absorb the
    // start-up of both clusters (etcd starts right before it, and ours always ran first), so its
    // ratio was the lowest of every run.
    const warmValue = 'x'.repeat(sizes[0] ?? 100);
    await closedLoop(500, 16, 30, pids, (i) => {
      const node = cluster.nodes[i % cluster.nodes.length]!;
      return put(agent, node.host, node.ports['admin']!, `settle/${i}`, warmValue);
    });
    if (etcdWhyNot === undefined) await runEtcd(300, 16, warmValue.length);
    rows.push(
      '| value | concurrency | Baristas writes/s | p50 ms | p99 ms | node CPU ms/write | etcd writes/s | p50 ms | p99 ms | etcd CPU ms/write | ratio (ours/etcd) |',
    );
    rows.push('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const size of sizes) {
      for (const c of concurrencies) {
        const count = c === 1 ? Math.min(n, 1000) : n;
        const value = 'x'.repeat(size);
        const ratios: number[] = [];
        for (let round = 0; round < rounds; round++) {
          // Fresh keep-alive connections each round: the etcd run in between idles ours past the
          // server's keep-alive timeout, and reusing a socket the server is closing is a reset.
          agent.destroy();
          agent = new Agent({ keepAlive: true, maxSockets: 512 });
          // Warm-up, then the measured run; keys unique per op, requests spread over all nodes.
          await closedLoop(Math.min(round === 0 || c > 1 ? 200 : 50, count), c, 30, pids, (i) => {
            const node = cluster.nodes[i % cluster.nodes.length]!;
            return put(agent, node.host, node.ports['admin']!, `warm/${size}/${c}/${round}/${i}`, value);
          });
          const before = await stageTotals(cluster);
          const ours = await closedLoop(count, c, 60, pids, (i) => {
            const node = cluster.nodes[i % cluster.nodes.length]!;
            return put(agent, node.host, node.ports['admin']!, `bench/${size}/${c}/${round}/${i}`, value);
          });
          const stages = stageLines(before, await stageTotals(cluster), count);
          const fsync0 = etcdWhyNot === undefined ? await etcdFsyncTotals() : undefined;
          const etcd = etcdWhyNot === undefined ? await runEtcd(count, c, size) : etcdWhyNot;
          const fsync1 = etcdWhyNot === undefined ? await etcdFsyncTotals() : undefined;
          const e = typeof etcd === 'string' ? undefined : etcd;
          if (e) ratios.push(ours.opsPerS / e.opsPerS);
          const row = `| ${size} B | ${c} | ${ours.opsPerS} | ${f(ours.p50Ms, 2)} | ${f(ours.p99Ms, 2)} | ${f(ours.serverCpuMsPerOp, 3)} | ${e?.opsPerS ?? '-'} | ${e ? f(e.p50Ms, 2) : '-'} | ${e ? f(e.p99Ms, 2) : '-'} | ${e ? f(e.serverCpuMsPerOp, 3) : '-'} | ${e ? f(ours.opsPerS / e.opsPerS, 2) : '-'} |`;
          rows.push(row);
          console.log(row + (ours.errors > 0 ? `  (${ours.errors} errors, first: ${ours.firstError})` : ''));
          // etcd's counterpart of our wal_sync stage (its members' WAL fsync, warm-up included).
          if (fsync0 !== undefined && fsync1 !== undefined && fsync1.count > fsync0.count) {
            stages.push(
              `  etcd wal_fsync ${f(((fsync1.sumS - fsync0.sumS) * 1000) / (fsync1.count - fsync0.count), 2)}`,
            );
          }
          console.log(
            `${stages.join('\n')}\n  load average ${loadavg()
              .map((x) => x.toFixed(2))
              .join(' ')}`,
          );
        }
        if (ratios.length > 1) {
          const line = `${size} B c=${c}: ratio per round ${ratios.map((r) => f(r, 2)).join(' ')}; median ${f(median(ratios), 2)}`;
          medians.push(line);
          console.log(line);
        }
      }
    }
    agent.destroy();
  } finally {
    if (etcdWhyNot === undefined) spawnSync('bash', [join(ANCHORS, 'etcd-cluster.sh'), 'stop'], { stdio: 'ignore' });
    await started.stop();
  }
  console.log(`\n${rows.join('\n')}`);
  if (medians.length > 0) console.log(`\n${medians.join('\n')}`);
  if (etcdWhyNot !== undefined) console.log(`\netcd reference skipped: ${etcdWhyNot}`);
}
