// Seeded random sessions of two ZooKeeper clients, A and B (our client, src/zkclient), for
// test/compat/zookeeper-compat.test.ts: the same operations run against a real Apache ZooKeeper
// 3.8 (Debian's package) and against a `barista dev` cluster (A on one node, B on another) must
// give equal normalised observations step for step (zk-observe.ts): every reply (data, the Stat's
// versions, cversion, aversion, dataLength, numChildren, ephemeral owners, zxids by rank), every
// error code (a failed multi with its per-op results), sequential names, and each client's
// notifications with its replies marked among them. The scripted sessions (zk-sessions.ts) cover
// each behaviour once; these cover their mixtures: ops on nodes made by multi, ACLs meeting auth,
// ephemerals of a session that ended, one-shot and persistent watches over deletes and re-creates.
//
// Operations: create (persistent, ephemeral, both sequential, container, TTL: refused while
// extended types are off on both), create2, delete and setData with or without a version, check
// and multi of up to four writes, getData/exists/getChildren with and without a watch, multiRead,
// getACL/setACL (world, digest, ip, auth), addAuth, getEphemerals, getAllChildrenNumber, addWatch
// (persistent, recursive), removeWatches, whoAmI, sync, and B ending its session for a new one.
//
// Timing never decides an observation: a client's own notifications arrive before its reply (one
// connection, FIFO), and after every step the other client runs `sync` on its own connection, so
// what the step's write triggered for it has arrived before that reply (its server has applied
// the write). Containers are made only at depth 2, where nothing is ever created below them: a
// container that never had a child is never removed, so neither server's 60 s cleanup timer can
// change a run.
//
// ZK_RANDOM_SEEDS=a,b,... and ZK_RANDOM_STEPS=n run other sessions; ZK_RANDOM_DUMP=/tmp/x writes
// both transcripts of each seed (renderObservations) to /tmp/x-SEED-{zk,ours}.txt.

import { AddWatchMode, CreateMode, EventType, Perm, WatcherType } from '../../src/coord/codes.ts';
import { SeededRng } from '../../src/lib/rng.ts';
import { connectZk } from '../../src/net/zk-tcp.ts';
import type { Acl } from '../../src/wire/zookeeper/index.ts';
import { isZkError, type ZkClient, type ZkOp, type ZkStat, type ZkWatchEvent } from '../../src/zkclient/index.ts';
import type { RawStep } from './zk-observe.ts';
import { sessionMark, zxidMark } from './zk-observe.ts';
import { digestId } from './zk-sessions.ts';

export const ZK_RANDOM_SEEDS = (process.env.ZK_RANDOM_SEEDS ?? 'z1,z2,z3').split(',');
export const ZK_RANDOM_STEPS = Number(process.env.ZK_RANDOM_STEPS ?? 220);

const requestMsMax = 15_000;
const sessionTimeoutMs = 20_000;

/** A promise that fails after requestMsMax: a server that never answers fails the test, not hangs it. */
function bounded<T>(what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${requestMsMax} ms`)), requestMsMax);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

const text = (b: Uint8Array | null): string => (b === null ? 'null' : `data:${Buffer.from(b).toString('utf8')}`);

function statView(s: ZkStat | null | undefined): string {
  if (s === null || s === undefined) return 'null';
  return [
    `c=${zxidMark(s.czxid)}`,
    `m=${zxidMark(s.mzxid)}`,
    `p=${zxidMark(s.pzxid)}`,
    `v=${s.version}`,
    `cv=${s.cversion}`,
    `av=${s.aversion}`,
    `owner=${sessionMark(s.ephemeralOwner)}`,
    `len=${s.dataLength}`,
    `kids=${s.numChildren}`,
  ].join(' ');
}

const aclView = (acl: readonly Acl[]): string => acl.map((a) => `${a.id.scheme}:${a.id.id}:${a.perms}`).join(',');

function resultView(v: unknown): string {
  if (v === undefined || v === null) return String(v);
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (v instanceof Uint8Array) return text(v);
  if (Array.isArray(v)) return `[${v.map(resultView).join(' | ')}]`;
  const o = v as Record<string, unknown>;
  if ('czxid' in o && 'ephemeralOwner' in o) return statView(o as unknown as ZkStat);
  return `{${Object.entries(o)
    .map(([k, x]) => `${k}=${k === 'acl' ? aclView(x as Acl[]) : resultView(x)}`)
    .join(' ')}}`;
}

function errorView(err: unknown): string {
  if (!isZkError(err)) throw err; // a transport or harness failure is not an observation
  const results = err.results === undefined ? '' : ` results=${resultView(err.results)}`;
  return `error ${err.zkErr}${results}`;
}

const EVENT_NAMES = new Map<number, string>(Object.entries(EventType).map(([name, code]) => [code, name]));

export interface ZkRandomServer {
  readonly name: string;
  /** Where A and B connect (different nodes of a cluster). */
  readonly endpoints: { readonly A: string; readonly B: string };
}

/** One random session pair against one server; the raw steps (zxids and sessions marked, root as /R). */
export async function randomSession(server: ZkRandomServer, seed: string, root: string): Promise<RawStep[]> {
  const rng = new SeededRng(`zk-random/${seed}`);
  const raw: RawStep[] = [];
  const hide = (s: string): string => s.split(root).join('/R');
  const clients = new Map<'A' | 'B', ZkClient>();
  const open: ZkClient[] = [];
  const connect = async (who: 'A' | 'B'): Promise<ZkClient> => {
    const c = connectZk({ connectString: server.endpoints[who], sessionTimeoutMs });
    open.push(c);
    await bounded(`${server.name}: connect ${who}`, c.ready());
    clients.set(who, c);
    return c;
  };
  // Each client's notifications as they arrive, with its replies marked among them: the acting
  // client's reply and the other's sync. Two clients on two nodes may get one write's notifications
  // in either order, so the step shows each client's own sequence, not their interleaving.
  const heard = { A: [] as string[], B: [] as string[] };
  const watcherOf = (who: 'A' | 'B') => (e: ZkWatchEvent) => {
    if (e.type === EventType.none) return; // session state changes: not part of the run
    heard[who].push(`${EVENT_NAMES.get(e.type) ?? e.type} ${hide(e.path ?? '')}`);
  };
  const watchers = { A: watcherOf('A'), B: watcherOf('B') };
  // The kinds of watch each session ever set per path (one-shot, persistent, recursive). A session
  // never sets a second kind on a path: ZooKeeper 3.8 keeps only the mode set last in each of its
  // two watch tables (ZOOKEEPER-4466, fixed in 3.9), Baristas keeps each as 3.9 does
  // (docs/COMPAT-ZOOKEEPER.md), so the next events would differ by design.
  const kinds = { A: new Map<string, string>(), B: new Map<string, string>() };
  const mayWatch = (who: 'A' | 'B', path: string, kind: string): boolean => {
    const had = kinds[who].get(path);
    if (had !== undefined && had !== kind) return false;
    kinds[who].set(path, kind);
    return true;
  };

  // The path pool: depth 1 and 2 under root, plus sequential names made so far (at most the last 6).
  const fixed = ['', '/a', '/b', '/c', '/a/x', '/a/y', '/b/x', '/c/y'].map((p) => `${root}${p}`);
  const made: string[] = [];
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)]!;
  const anyPath = (): string => (made.length > 0 && rng.int(4) === 0 ? pick(made) : pick(fixed));
  const depth = (p: string): number => p.slice(root.length).split('/').length - 1;
  const version = (): number => (rng.int(2) === 0 ? -1 : rng.int(3));
  const data = (): string => pick(['', 'v', `value-${rng.int(100)}`]);
  const acls: Record<string, readonly Acl[]> = {
    open: [{ perms: Perm.all, id: { scheme: 'world', id: 'anyone' } }],
    readOnly: [{ perms: Perm.read, id: { scheme: 'world', id: 'anyone' } }],
    noRead: [{ perms: Perm.create | Perm.delete | Perm.write, id: { scheme: 'world', id: 'anyone' } }],
    alice: [{ perms: Perm.all, id: { scheme: 'digest', id: digestId('alice', 'secret') } }],
    creator: [{ perms: Perm.all, id: { scheme: 'auth', id: '' } }],
    ip: [{ perms: Perm.read | Perm.write | Perm.create, id: { scheme: 'ip', id: '127.0.0.1' } }],
  };
  // Mostly open: a restricted node refuses most later steps on it and below it.
  const aclName = (): string =>
    rng.int(3) > 0 ? 'open' : pick(['open', 'readOnly', 'noRead', 'alice', 'creator', 'ip']);

  /** A create's path and mode: sequential under depth 0 or 1, containers only at depth 2. */
  const createTarget = (): { path: string; mode: number } => {
    const roll = rng.int(10);
    if (roll < 2) {
      const parent = pick([root, `${root}/a`, `${root}/b`]);
      return { path: `${parent}/q-`, mode: pick([CreateMode.persistentSequential, CreateMode.ephemeralSequential]) };
    }
    const path = rng.int(2) === 0 ? pick(fixed.slice(0, 4)) : pick(fixed); // parents more often
    if (roll === 2) return { path, mode: CreateMode.persistentWithTtl };
    if (roll === 3 && depth(path) === 2) return { path, mode: CreateMode.container };
    const mode = pick([CreateMode.persistent, CreateMode.persistent, CreateMode.ephemeral]);
    // The root made again stays persistent: an ephemeral root would refuse every child after it.
    return { path, mode: path === root ? CreateMode.persistent : mode };
  };

  const multiOp = (): ZkOp => {
    switch (rng.int(4)) {
      case 0: {
        const { path, mode } = createTarget();
        return { op: 'create', path, data: data(), mode, ttlMs: 60_000 };
      }
      case 1:
        return { op: 'delete', path: anyPath(), version: version() };
      case 2:
        return { op: 'setData', path: anyPath(), data: data(), version: version() };
      default:
        return { op: 'check', path: anyPath(), version: rng.int(3) };
    }
  };
  const opView = (o: ZkOp): string =>
    o.op === 'create'
      ? `create ${hide(o.path)} mode ${o.mode}`
      : o.op === 'check'
        ? `check ${hide(o.path)} v${o.version}`
        : `${o.op} ${hide(o.path)} v${o.version}`;

  /** Runs one step; `f` answers the observation (or throws a ZkError, observed as its code). */
  const step = async (who: 'A' | 'B', command: string, f: (c: ZkClient) => Promise<string>): Promise<void> => {
    let output: string;
    try {
      output = await bounded(`${server.name}: ${who}> ${command}`, f(clients.get(who)!));
    } catch (err) {
      output = errorView(err);
    }
    heard[who].push('(reply)');
    // The other client's connection catches up: what this step triggered for it arrives first.
    const other = who === 'A' ? 'B' : 'A';
    await bounded(`${server.name}: ${other}> sync`, clients.get(other)!.sync(root));
    heard[other].push('(sync)');
    const events = (x: 'A' | 'B'): string[] => (heard[x].length === 1 ? [] : [`${x} heard: ${heard[x].join(', ')}`]);
    raw.push({ who, command: hide(command), output: [hide(output), ...events(who), ...events(other)] });
    heard.A = [];
    heard.B = [];
  };

  try {
    await connect('A');
    await connect('B');
    await step('A', `create ${root}`, (c) => c.create(root, 'root'));
    for (let i = 0; i < ZK_RANDOM_STEPS; i++) {
      const who = rng.int(2) === 0 ? 'A' : 'B';
      const w = watchers[who];
      const watchable = (path: string): boolean => rng.int(2) === 0 && mayWatch(who, path, 'one-shot');
      const roll = rng.int(100);
      if (roll < 27) {
        const { path, mode } = createTarget();
        const chosen = aclName();
        const acl = path === root ? 'open' : chosen; // the root made again stays usable by both
        const d = data();
        const withStat = rng.int(2) === 0;
        await step(who, `create${withStat ? '2' : ''} ${path} ${d} mode ${mode} acl ${acl}`, async (c) => {
          const opts = { mode, acl: acls[acl]!, ttlMs: 60_000 };
          const out = withStat ? await c.create2(path, d, opts) : { path: await c.create(path, d, opts) };
          if (mode === CreateMode.persistentSequential || mode === CreateMode.ephemeralSequential) {
            made.push(out.path);
            if (made.length > 6) made.shift();
          }
          return resultView(out);
        });
      } else if (roll < 35) {
        const path = anyPath();
        const v = version();
        await step(who, `delete ${path} v${v}`, async (c) => {
          await c.delete(path, v);
          return 'ok';
        });
      } else if (roll < 44) {
        const path = anyPath();
        const v = version();
        const d = data();
        await step(who, `setData ${path} ${d} v${v}`, async (c) => statView(await c.setData(path, d, v)));
      } else if (roll < 54) {
        const path = anyPath();
        const watch = watchable(path);
        await step(who, `getData ${path}${watch ? ' watch' : ''}`, async (c) =>
          resultView(await c.getData(path, watch ? w : undefined)),
        );
      } else if (roll < 61) {
        const path = anyPath();
        const watch = watchable(path);
        await step(who, `exists ${path}${watch ? ' watch' : ''}`, async (c) =>
          statView(await c.exists(path, watch ? w : undefined)),
        );
      } else if (roll < 68) {
        const path = anyPath();
        const watch = watchable(path);
        await step(who, `getChildren ${path}${watch ? ' watch' : ''}`, async (c) => {
          const r = await c.getChildren(path, watch ? w : undefined);
          return `${[...r.children].sort().join(',')} ${statView(r.stat)}`; // ZooKeeper's order is a hash set's
        });
      } else if (roll < 77) {
        const ops = Array.from({ length: 1 + rng.int(4) }, multiOp);
        await step(who, `multi ${ops.map(opView).join('; ')}`, async (c) => resultView(await c.multi(ops)));
      } else if (roll < 80) {
        const path = anyPath();
        await step(who, `getACL ${path}`, async (c) => resultView(await c.getACL(path)));
      } else if (roll < 84) {
        // Never the root: a root without CREATE or READ for both clients would end the run's use.
        const drawn = anyPath();
        const path = drawn === root ? `${root}/a` : drawn;
        const acl = aclName();
        const v = version();
        await step(who, `setACL ${path} ${acl} v${v}`, async (c) => statView(await c.setACL(path, acls[acl]!, v)));
      } else if (roll < 87) {
        const ops = Array.from({ length: 1 + rng.int(3) }, () => ({
          op: pick(['getData', 'getChildren'] as const),
          path: anyPath(),
        }));
        await step(who, `multiRead ${ops.map((o) => `${o.op} ${o.path}`).join('; ')}`, async (c) => {
          const results = await c.multiRead(ops);
          return resultView(
            results.map((r) => (r.op === 'getChildren' ? { ...r, children: [...r.children].sort().join(',') } : r)),
          );
        });
      } else if (roll < 89) {
        const prefix = pick([root, `${root}/a`, `${root}/q-`]);
        await step(who, `getEphemerals ${prefix}`, async (c) => (await c.getEphemerals(prefix)).sort().join(','));
      } else if (roll < 91) {
        const path = anyPath();
        await step(who, `getAllChildrenNumber ${path}`, async (c) => String(await c.getAllChildrenNumber(path)));
      } else if (roll < 94) {
        const path = anyPath();
        const mode = rng.int(2) === 0 ? AddWatchMode.persistent : AddWatchMode.persistentRecursive;
        if (mayWatch(who, path, `mode ${mode}`)) {
          await step(who, `addWatch ${path} mode ${mode}`, async (c) => {
            await c.addWatch(path, w, mode);
            return 'ok';
          });
        }
      } else if (roll < 96) {
        const path = anyPath();
        const type = pick([WatcherType.children, WatcherType.data, WatcherType.any]);
        await step(who, `removeWatches ${path} type ${type}`, async (c) => {
          await c.removeWatches(path, type);
          return 'ok';
        });
      } else if (roll < 97) {
        await step(who, 'addAuth digest alice:secret', async (c) => {
          await c.addAuth('digest', 'alice:secret');
          return 'ok';
        });
      } else if (roll < 98) {
        await step(who, 'whoAmI', async (c) =>
          (await c.whoAmI())
            .map((i) => `${i.authScheme}:${i.user}`)
            .sort()
            .join(','),
        );
      } else if (roll < 99) {
        const path = anyPath();
        await step(who, `sync ${path}`, async (c) => c.sync(path));
      } else {
        // B's session ends (its ephemerals go, A's watches on them fire) and B starts a new one.
        // B's close returns once its closeSession is applied; A's own sync then brings A's notifications.
        await bounded(`${server.name}: close B`, clients.get('B')!.close());
        await connect('B');
        kinds.B.clear();
        await step('A', `sync ${root} (B closed its session)`, async (c) => c.sync(root));
      }
    }
  } finally {
    await Promise.all(open.map((c) => c.close().catch(() => undefined)));
  }
  return raw;
}
