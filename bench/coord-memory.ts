// Memory per znode of the coordination tree against ZooKeeper 3.8's (issue 9's goal: at most
// ZooKeeper's with a million small znodes), the same tree on both sides: N znodes of --data-bytes
// under /bench/pNNNN/ (--fanout children per parent), persistent, open ACL.
//
// Ours: the tree built in this process through its own write path (zxid, time, ACL and Stat as a
// client's create would set them); heap (JS heap + array buffers) after a full GC, after building
// minus before.
// ZooKeeper's: a standalone server started here (-Xmx4g, the JVM's default GC, forceSync off: the
// disk does not change the tree in memory), loaded by node-zookeeper-client with multi batches of
// --batch creates, --in-flight batches at a time; its heap used after `jcmd <pid> GC.run` (a full
// GC), after loading minus before, from `jcmd GC.heap_info`, and as a cross-check the total of
// `jcmd GC.class_histogram` (live objects only). Before measuring, ZooKeeper's in-memory log of
// the last 500 committed proposals (ZKDatabase's committedLog, kept for followers catching up) is
// turned over with 600 tiny setData: it would otherwise hold 500 of our 1,000-create batches,
// which a server loaded by single creates would not.
//   npm run bench -- coord-memory [--znodes N] [--data-bytes B] [--fanout F] [--batch 1000] [--in-flight 4] [--no-zookeeper]
// Defaults: 1,000,000 znodes of 100 B data, 1,000 children per parent.
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { defaultTreeOptions, ZnodeTree } from '../src/coord/tree.ts';
import { fourLetter, startZooKeeper, type ZkCluster, zookeeperUnavailable } from '../test/support/zookeeper-server.ts';
import { closedLoop, f } from './_load.ts';
import { machineLine } from './_machine.ts';
import {
  buildTree,
  childData,
  childPath,
  created,
  parentPath,
  type Shape,
  shapeOf,
  shapeOptions,
} from './_znode-tree.ts';
import { type ZkClient, zkCall, zkConnect } from './_zk-client.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const JCMD = '/usr/lib/jvm/default-java/bin/jcmd';
const jcmdMsMax = 300_000;
const batchMsMax = 60_000;
const loadSecondsMax = 1_800;
const committedLogFlushOps = 600; // ZooKeeper keeps 500 (zookeeper.commitLogCount's default)

function heapAfterGc(): number {
  for (let i = 0; i < 3; i++) gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers; // typed-array columns live outside the JS heap
}

/** Our heap bytes for the tree (after GC, after minus before) and how long building took. */
function ours(s: Shape): { bytes: number; buildMs: number } {
  const before = heapAfterGc();
  const tree = new ZnodeTree({ ...defaultTreeOptions, znodesMax: s.znodes * 2 + 16, sessionsMax: 16 });
  const started = performance.now();
  buildTree(tree, s);
  const buildMs = performance.now() - started;
  const after = heapAfterGc();
  // Keep the tree alive through the measurement.
  if (tree.exists('/bench').err !== 0) throw new Error('tree lost');
  return { bytes: after - before, buildMs };
}

function jcmd(pid: number, command: string): string {
  const r = spawnSync(JCMD, [String(pid), command], { encoding: 'utf8', timeout: jcmdMsMax });
  if (r.status !== 0) throw new Error(`jcmd ${pid} ${command}: ${r.error ?? r.stderr ?? r.stdout}`);
  return r.stdout;
}

/** ZooKeeper's heap after a full GC: `used` of GC.heap_info and the live total of GC.class_histogram. */
function zkHeap(pid: number): { usedBytes: number; liveBytes: number } {
  jcmd(pid, 'GC.run');
  const info = jcmd(pid, 'GC.heap_info');
  // G1: "garbage-first heap   total 262144K, used 20480K [...]"; serial/parallel: one line per generation.
  const used = [...info.matchAll(/(?:heap|generation)\s+total \d+K, used (\d+)K/g)].map((m) => Number(m[1]) * 1024);
  if (used.length === 0) throw new Error(`GC.heap_info: no "used" in\n${info}`);
  const histogram = jcmd(pid, 'GC.class_histogram'); // itself a full GC first: live objects only
  const total = /^Total\s+\d+\s+(\d+)/m.exec(histogram);
  if (total === null) throw new Error('GC.class_histogram: no Total line');
  return { usedBytes: used.reduce((a, b) => a + b, 0), liveBytes: Number(total[1]) };
}

async function loadZooKeeper(client: ZkClient, s: Shape, batch: number, inFlight: number): Promise<number> {
  const started = performance.now();
  const multi = async (paths: readonly string[], data: (k: number) => Uint8Array): Promise<void> => {
    const tx = client.transaction();
    for (const [k, path] of paths.entries()) tx.create(path, Buffer.from(data(k)));
    await zkCall('multi', (cb) => tx.commit(cb), batchMsMax);
  };
  await multi(['/bench'], () => new Uint8Array(0));
  const parents = Math.ceil(s.znodes / s.fanout);
  const run = async (count: number, op: (b: number) => Promise<void>): Promise<void> => {
    const r = await closedLoop(Math.ceil(count / batch), inFlight, loadSecondsMax, [], op);
    if (r.errors > 0) throw new Error(`loading ZooKeeper: ${r.errors} failed batches, first: ${r.firstError}`);
  };
  await run(parents, (b) => {
    const ps = Array.from({ length: Math.min(batch, parents - b * batch) }, (_, k) => parentPath(b * batch + k));
    return multi(ps, () => new Uint8Array(0));
  });
  await run(s.znodes, (b) => {
    const first = b * batch;
    const ids = Array.from({ length: Math.min(batch, s.znodes - first) }, (_, k) => first + k);
    return multi(
      ids.map((i) => childPath(s, i)),
      (k) => childData(s, ids[k]!),
    );
  });
  const loadMs = performance.now() - started;
  await closedLoop(committedLogFlushOps, 16, 300, [], () =>
    zkCall('setData', (cb) => client.setData('/bench', Buffer.alloc(0), -1, cb)),
  );
  return loadMs;
}

async function zooKeeperSide(s: Shape, batch: number, inFlight: number): Promise<{ line: string; perZnode: number }> {
  let zk: ZkCluster | undefined;
  let client: ZkClient | undefined;
  try {
    zk = await startZooKeeper({ serverCount: 1, jvmArgs: ['-Xmx4g'] });
    const pid = zk.servers[0]!.child.pid!;
    client = await zkConnect(zk.connectString);
    const before = zkHeap(pid);
    const loadMs = await loadZooKeeper(client, s, batch, inFlight);
    const after = zkHeap(pid);
    const n = created(s);
    // Every znode is there (the server's own count also has /, /zookeeper and its children).
    const count = Number(/^Node count: (\d+)$/m.exec(await fourLetter(zk.servers[0]!.clientPort, 'srvr'))?.[1]);
    if (!(count >= n)) throw new Error(`ZooKeeper holds ${count} znodes, expected at least ${n}`);
    const used = (after.usedBytes - before.usedBytes) / n;
    const live = (after.liveBytes - before.liveBytes) / n;
    const line =
      `ZooKeeper 3.8 (standalone, -Xmx4g): heap used after full GC ${f((after.usedBytes - before.usedBytes) / 2 ** 20)} MiB, ` +
      `${f(used, 0)} B/znode (${f(used - s.dataBytes, 0)} beyond the data); live objects (class histogram) ` +
      `${f(live, 0)} B/znode; heap before loading ${f(before.usedBytes / 2 ** 20)} MiB; loaded in ${f(loadMs / 1000)} s ` +
      `(multi of ${batch}, ${inFlight} in flight)`;
    return { line, perZnode: used };
  } finally {
    client?.close();
    await zk?.stop();
  }
}

export default async function (args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      ...shapeOptions,
      batch: { type: 'string', default: '1000' },
      'in-flight': { type: 'string', default: '4' },
      'no-zookeeper': { type: 'boolean', default: false },
    },
  });
  const s = shapeOf(values);
  const batch = Number(values.batch);
  const inFlight = Number(values['in-flight']);
  console.log(machineLine());
  console.log(
    `command: npm run bench -- coord-memory --znodes ${s.znodes} --data-bytes ${s.dataBytes} --fanout ${s.fanout} --batch ${batch} --in-flight ${inFlight}${values['no-zookeeper'] ? ' --no-zookeeper' : ''}`,
  );
  const n = created(s);
  const o = ours(s);
  const perZnode = o.bytes / n;
  console.log(
    `Baristas: znodes ${n} (data ${s.dataBytes} B): heap after GC ${f(o.bytes / 2 ** 20)} MiB, ` +
      `${f(perZnode, 0)} B/znode (${f(perZnode - s.dataBytes, 0)} beyond the data); built in ${f(o.buildMs / 1000)} s`,
  );
  if (values['no-zookeeper']) return;
  const whyNot = zookeeperUnavailable();
  if (whyNot !== undefined) {
    console.log(`ZooKeeper side skipped: ${whyNot}`);
    return;
  }
  const zk = await zooKeeperSide(s, batch, inFlight);
  console.log(zk.line);
  console.log(`ratio ours/ZooKeeper bytes per znode (heap after GC): ${f(perZnode / zk.perZnode, 2)}`);
}
