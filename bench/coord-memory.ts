// Memory per znode of the coordination tree (issue 9's goal: at most ZooKeeper's with a million
// small znodes): builds N znodes through the tree's own write path (zxid, time, ACL and Stat as a
// client's create would set them) and prints heap bytes per znode after a full GC, measured as the
// heap after building minus the heap before (both after GC). ZooKeeper's side (its live heap after a
// full GC with the same tree) is measured by the lead beside it.
//   npm run bench -- coord-memory [--znodes N] [--data-bytes B] [--fanout F]
// Defaults: 1,000,000 znodes of 100 B data, 1,000 children per parent (/bench/pNNN/nNNNNNNN).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { OPEN_ACL_UNSAFE } from '../src/coord/acl.ts';
import { CreateMode } from '../src/coord/codes.ts';
import { ZnodeTree } from '../src/coord/tree.ts';
import { machineLine } from './_machine.ts';

function arg(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapAfterGc(): number {
  for (let i = 0; i < 3; i++) gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers; // typed-array columns live outside the JS heap
}

export default async function (args: string[]): Promise<void> {
  const znodes = arg(args, 'znodes', 1_000_000);
  const dataBytes = arg(args, 'data-bytes', 100);
  const fanout = arg(args, 'fanout', 1000);
  console.log(machineLine());
  console.log(`command: npm run bench -- coord-memory --znodes ${znodes} --data-bytes ${dataBytes} --fanout ${fanout}`);
  const before = heapAfterGc();
  const tree = new ZnodeTree({ ttlEnabled: false, znodesMax: znodes * 2 + 16, sessionsMax: 16 });
  const caller = { sessionId: 0, identities: [] };
  let zxid = 0;
  const create = (path: string, data: Uint8Array) => {
    const r = tree.write(
      { zxid: ++zxid, timeMs: 1_764_000_000_000 + zxid, caller },
      { op: 'create', path, data, acl: OPEN_ACL_UNSAFE, mode: CreateMode.persistent, ttlMs: -1 },
    );
    if (r.err !== 0) throw new Error(`create ${path}: ${r.err}`);
  };
  const started = performance.now();
  create('/bench', new Uint8Array(0));
  const parents = Math.ceil(znodes / fanout);
  for (let p = 0; p < parents; p++) create(`/bench/p${String(p).padStart(4, '0')}`, new Uint8Array(0));
  for (let i = 0; i < znodes; i++) {
    const data = new Uint8Array(dataBytes).fill(97 + (i % 26));
    create(`/bench/p${String(Math.floor(i / fanout)).padStart(4, '0')}/n${String(i).padStart(8, '0')}`, data);
  }
  const buildMs = performance.now() - started;
  const after = heapAfterGc();
  const total = tree.size;
  const perZnode = (after - before) / total;
  console.log(
    `znodes ${total} (data ${dataBytes} B): heap after GC ${((after - before) / 2 ** 20).toFixed(1)} MiB, ` +
      `${perZnode.toFixed(0)} B/znode (${(perZnode - dataBytes).toFixed(0)} B/znode beyond the data); built in ${(buildMs / 1000).toFixed(1)} s`,
  );
  // Keep the tree alive through the measurement.
  if (tree.exists('/bench').err !== 0) throw new Error('tree lost');
}
