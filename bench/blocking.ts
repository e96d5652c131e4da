// Blocking pops (BLPOP) as a work queue, Baristas against redis-server 7.0 in the same run:
//
//   npm run bench -- blocking [--n 500] [--jobs 1000] [--consumers 4]
//
// handoff   one consumer blocked in BLPOP, one producer: RPUSH a job, wait until the consumer has
//           it, again (c = 1): the latency of one handoff, push to pop, p50 / p99, and handoffs/s.
// queue     `--consumers` consumers in a BLPOP loop, a producer pushing `--jobs` jobs pipelined:
//           jobs/s until every job is taken, and how many were taken more than once (below SERIAL
//           a pop at N > 1 is at-least-once: docs/COMPAT-REDIS.md).
// Servers: redis-server without persistence; one Baristas node (N = 1, sync none); 3 Baristas
// nodes at N = 3 (sync periodic) at QUORUM and at SERIAL, the producer on the first node and the
// consumers spread over all three (a push reaches a consumer on another node).
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import {
  type RunningRespServer,
  startRedisServer,
  startStoreCluster,
  startStoreNode,
} from '../test/support/redis-servers.ts';
import { f } from './_load.ts';
import { machineLine } from './_machine.ts';

interface Target {
  readonly label: string;
  readonly start: () => Promise<RunningRespServer & { readonly nodes?: readonly { host: string; port: number }[] }>;
  readonly level?: string;
}

const connect = async (host: string, port: number, level: string | undefined): Promise<Redis> => {
  const r = new Redis({ host, port, lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false });
  await r.connect();
  if (level !== undefined) await r.call('BARISTA', 'CONSISTENCY', level);
  return r;
};

function pct(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function handoff(producer: Redis, consumer: Redis, n: number, key: string): Promise<string> {
  const lat: number[] = [];
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const popped = consumer.blpop(key, 0);
    await producer.rpush(key, `job${i}`);
    const got = await popped;
    if (got?.[1] !== `job${i}`) throw new Error(`handoff ${i}: got ${JSON.stringify(got)}`);
    lat.push(performance.now() - t0);
  }
  const secs = (performance.now() - started) / 1000;
  lat.sort((a, b) => a - b);
  return `${f(n / secs, 0).padStart(8)}/s  p50 ${f(pct(lat, 50), 2).padStart(7)} ms  p99 ${f(pct(lat, 99), 2).padStart(7)} ms`;
}

async function queue(producer: Redis, consumers: readonly Redis[], jobs: number, key: string): Promise<string> {
  const taken: string[] = [];
  const errors = new Map<string, number>();
  let stop = false;
  const loops = consumers.map(async (c) => {
    while (!stop) {
      try {
        const got = await c.blpop(key, 0.2);
        if (got !== null) taken.push(got[1]);
      } catch (error) {
        // A consumer that gets an error (a TIMEOUT at SERIAL under contention) counts it and goes on.
        const kind = String((error as Error).message).split(' ')[0]!;
        errors.set(kind, (errors.get(kind) ?? 0) + 1);
      }
    }
  });
  const started = performance.now();
  const pipe = producer.pipeline();
  for (let i = 0; i < jobs; i++) pipe.rpush(key, `job${i}`);
  await pipe.exec();
  const deadline = Date.now() + 120_000;
  while (new Set(taken).size < jobs && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  const secs = (performance.now() - started) / 1000;
  stop = true;
  await Promise.all(loops);
  const distinct = new Set(taken).size;
  const errs = [...errors].map(([k, v]) => `${v} ${k}`).join(', ');
  return `${f(distinct / secs, 0).padStart(8)} jobs/s  ${distinct} of ${jobs} taken, ${taken.length - distinct} twice or more${errs === '' ? '' : `; errors answered: ${errs}`}`;
}

export default async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      n: { type: 'string', default: '500' },
      jobs: { type: 'string', default: '1000' },
      consumers: { type: 'string', default: '4' },
    },
  });
  const n = Number(values.n);
  const jobs = Number(values.jobs);
  const consumerCount = Number(values.consumers);
  console.log(`bench blocking: handoff n=${n}, queue of ${jobs} jobs with ${consumerCount} consumers`);
  console.log(machineLine());
  console.log(
    `load average at start: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')} (a shared machine)`,
  );
  const cluster = (level: string): Target => ({
    label: `Baristas 3 nodes N=3 at ${level} (producer on n1, consumers on n1..n3)`,
    start: () => startStoreCluster(3, { sync: 'periodic', consistency: level, replication: { replicas: 3 } }),
    level,
  });
  const targets: Target[] = [
    { label: 'redis-server 7.0, no persistence', start: () => startRedisServer('none') },
    { label: 'Baristas 1 node N=1, sync none', start: () => startStoreNode({ sync: 'none' }) },
    cluster('QUORUM'),
    cluster('SERIAL'),
  ];
  for (const t of targets) {
    const server = await t.start();
    const nodes = server.nodes ?? [{ host: server.host, port: server.port }];
    const clients: Redis[] = [];
    try {
      const producer = await connect(nodes[0]!.host, nodes[0]!.port, t.level);
      clients.push(producer);
      const far = nodes[nodes.length - 1]!;
      const consumer = await connect(far.host, far.port, t.level);
      clients.push(consumer);
      const consumers: Redis[] = [];
      for (let i = 0; i < consumerCount; i++) {
        const at = nodes[i % nodes.length]!;
        const c = await connect(at.host, at.port, t.level);
        consumers.push(c);
        clients.push(c);
      }
      console.log(`\n${t.label}`);
      console.log(`  handoff ${await handoff(producer, consumer, n, 'bq')}`);
      console.log(`  queue   ${await queue(producer, consumers, jobs, 'wq')}`);
    } finally {
      for (const c of clients) c.disconnect();
      await server.stop();
    }
  }
  console.log(
    `\nload average at end: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
}
