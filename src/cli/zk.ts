// `barista zk ls|get|set|create|delete|stat|watch|acl ...`: ZooKeeper's zkCli commands through our
// own client (src/zkclient), so a user needs no other tool. The connect string is --server
// host:port[,host:port...], or every node's `zookeeper` port in <data-dir>/cluster.json (a
// `barista dev` cluster). Output follows zkCli 3.8: `ls` prints `[a, b]`, `get` the data, `stat`
// the "cZxid = 0x..." block, `create` "Created /path", errors as zkCli words them
// ("Node does not exist: /path").
// Exit codes (src/cli/exit-codes.ts, one meaning per status):
//   0 done   1 a version or existence precondition failed (BadVersion, NodeExists)
//   2 rejected as is (NoAuth, NotEmpty, BadArguments, ...; usage and config errors too)
//   3 unavailable or indefinite (no server reachable, connection lost, session expired)
//   4 no such node

import { CreateMode, EventType, KeeperState, Perm, ZkErr } from '../coord/codes.ts';
import { ConfigError } from '../lib/errors.ts';
import type { Acl } from '../wire/zookeeper/index.ts';
import type { ZkClient, ZkStat, ZkWatchEvent } from '../zkclient/index.ts';
import { isZkError } from '../zkclient/index.ts';
import { clusterEndpoints } from './cluster-file.ts';
import { CLI_EXIT } from './exit-codes.ts';

export const ZK_EXIT = { done: 0, ...CLI_EXIT, notFound: 4 } as const;
export const ZK_COMMANDS = ['ls', 'get', 'set', 'create', 'delete', 'stat', 'watch', 'acl'] as const;
export type ZkCommand = (typeof ZK_COMMANDS)[number];

export interface ZkCliOptions {
  readonly command: ZkCommand;
  readonly args: readonly string[];
  /** --server; empty = from the data dir's cluster.json. */
  readonly server: string | undefined;
  readonly dataDir: string;
  readonly sessionTimeoutMs: number;
  readonly connectTimeoutMs: number;
  /** ls -R */
  readonly recursive?: boolean;
  /** ls/get -s: print the Stat too */
  readonly stat?: boolean;
  /** set/delete -v */
  readonly version?: number;
  /** create -e / -s / -c, -t TTL */
  readonly ephemeral?: boolean;
  readonly sequential?: boolean;
  readonly container?: boolean;
  readonly ttlMs?: number;
  /** watch: children instead of data; events to print before exiting */
  readonly children?: boolean;
  readonly count?: number;
  /** addauth before the command: 'digest:user:password' */
  readonly auth?: string;
}

export interface ZkCliIo {
  readonly out: (s: string) => void;
  readonly err: (s: string) => void;
  /** Opens a client (tests may hand their own); default: TCP. */
  readonly connect?: (connectString: string, sessionTimeoutMs: number) => ZkClient;
}

/** The connect string: --server, or the `zookeeper` port of every node in cluster.json. */
export function resolveZkServers(o: { server: string | undefined; dataDir: string }): string {
  if (o.server !== undefined && o.server !== '') return o.server;
  return clusterEndpoints(o.dataDir, 'zookeeper', '--server')
    .map((e) => `${e.host}:${e.port}`)
    .join(',');
}

const hex = (n: bigint): string => `0x${n.toString(16)}`;
const date = (ms: bigint): string => new Date(Number(ms)).toUTCString();

/** zkCli's stat block. */
export function formatStat(s: ZkStat): string {
  return [
    `cZxid = ${hex(s.czxid)}`,
    `ctime = ${date(s.ctime)}`,
    `mZxid = ${hex(s.mzxid)}`,
    `mtime = ${date(s.mtime)}`,
    `pZxid = ${hex(s.pzxid)}`,
    `cversion = ${s.cversion}`,
    `dataVersion = ${s.version}`,
    `aclVersion = ${s.aversion}`,
    `ephemeralOwner = ${hex(s.ephemeralOwner)}`,
    `dataLength = ${s.dataLength}`,
    `numChildren = ${s.numChildren}`,
    '',
  ].join('\n');
}

const permLetters: ReadonlyArray<[string, number]> = [
  ['c', Perm.create],
  ['d', Perm.delete],
  ['r', Perm.read],
  ['w', Perm.write],
  ['a', Perm.admin],
];

export function formatPerms(perms: number): string {
  return permLetters
    .filter(([, bit]) => (perms & bit) !== 0)
    .map(([l]) => l)
    .join('');
}

/** zkCli's ACL text: scheme:id:perms[,scheme:id:perms...] (a digest id holds a colon itself). */
export function parseAcl(text: string): Acl[] {
  return text.split(',').map((entry) => {
    const first = entry.indexOf(':');
    const last = entry.lastIndexOf(':');
    if (first <= 0 || last === first) throw new ConfigError('ACL', `expected scheme:id:perms, got "${entry}"`);
    let perms = 0;
    for (const ch of entry.slice(last + 1)) {
      const bit = permLetters.find(([l]) => l === ch)?.[1];
      if (bit === undefined) throw new ConfigError('ACL', `unknown permission "${ch}" in "${entry}" (use cdrwa)`);
      perms |= bit;
    }
    return { perms, id: { scheme: entry.slice(0, first), id: entry.slice(first + 1, last) } };
  });
}

/** zkCli's words for the common errors, and the exit status. */
export function describeZkFailure(e: unknown): { message: string; exit: number } {
  if (!isZkError(e)) throw e;
  const path = e.path ?? '';
  switch (e.zkErr) {
    case ZkErr.noNode:
      return { message: `Node does not exist: ${path}`, exit: ZK_EXIT.notFound };
    case ZkErr.nodeExists:
      return { message: `Node already exists: ${path}`, exit: ZK_EXIT.compareFailed };
    case ZkErr.badVersion:
      return { message: `version No is not valid : ${path}`, exit: ZK_EXIT.compareFailed };
    case ZkErr.notEmpty:
      return { message: `Node not empty: ${path}`, exit: ZK_EXIT.rejected };
    case ZkErr.noAuth:
      return { message: `Insufficient permission : ${path}`, exit: ZK_EXIT.rejected };
    case ZkErr.noChildrenForEphemerals:
      return { message: `Ephemerals cannot have children: ${path}`, exit: ZK_EXIT.rejected };
    default:
      return { message: e.message, exit: e.retriable || !e.definite ? ZK_EXIT.unavailable : ZK_EXIT.rejected };
  }
}

function eventLine(e: ZkWatchEvent): string {
  const type = Object.entries(EventType).find(([, v]) => v === e.type)?.[0] ?? String(e.type);
  const state = Object.entries(KeeperState).find(([, v]) => v === e.state)?.[0] ?? String(e.state);
  const cap = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);
  return `WatchedEvent state:${cap(state)} type:${cap(type)} path:${e.path ?? 'null'}\n`;
}

function needPath(o: ZkCliOptions, n = 1): string {
  const path = o.args[0];
  if (path === undefined || o.args.length < n) {
    throw new ConfigError('PATH', `zk ${o.command} needs ${n === 1 ? 'a path' : `${n} arguments`}`);
  }
  return path;
}

async function listRecursive(c: ZkClient, path: string, out: (s: string) => void): Promise<void> {
  out(`${path}\n`);
  const { children } = await c.getChildren(path);
  for (const child of children.sort()) await listRecursive(c, path === '/' ? `/${child}` : `${path}/${child}`, out);
}

async function run(c: ZkClient, o: ZkCliOptions, io: ZkCliIo): Promise<number> {
  const { out } = io;
  const text = (b: Uint8Array): string => new TextDecoder().decode(b);
  switch (o.command) {
    case 'ls': {
      const path = needPath(o);
      if (o.recursive === true) {
        await listRecursive(c, path, out);
        return ZK_EXIT.done;
      }
      const { children, stat } = await c.getChildren(path);
      out(`[${children.sort().join(', ')}]\n`);
      if (o.stat === true) out(formatStat(stat));
      return ZK_EXIT.done;
    }
    case 'get': {
      const { data, stat } = await c.getData(needPath(o));
      out(`${text(data)}\n`);
      if (o.stat === true) out(formatStat(stat));
      return ZK_EXIT.done;
    }
    case 'stat': {
      const path = needPath(o);
      const stat = await c.exists(path);
      if (stat === null) {
        io.err(`Node does not exist: ${path}\n`);
        return ZK_EXIT.notFound;
      }
      out(formatStat(stat));
      return ZK_EXIT.done;
    }
    case 'set': {
      const path = needPath(o, 2);
      const stat = await c.setData(path, o.args[1]!, o.version ?? -1);
      if (o.stat === true) out(formatStat(stat));
      return ZK_EXIT.done;
    }
    case 'create': {
      const path = needPath(o);
      const mode =
        o.ttlMs !== undefined
          ? o.sequential === true
            ? CreateMode.persistentSequentialWithTtl
            : CreateMode.persistentWithTtl
          : o.container === true
            ? CreateMode.container
            : (o.ephemeral === true ? CreateMode.ephemeral : 0) |
              (o.sequential === true ? CreateMode.persistentSequential : 0);
      const acl = o.args[2] === undefined ? undefined : parseAcl(o.args[2]);
      const created = await c.create(path, o.args[1] ?? '', {
        mode,
        ...(acl === undefined ? {} : { acl }),
        ...(o.ttlMs === undefined ? {} : { ttlMs: o.ttlMs }),
      });
      out(`Created ${created}\n`);
      return ZK_EXIT.done;
    }
    case 'delete':
      await c.delete(needPath(o), o.version ?? -1);
      return ZK_EXIT.done;
    case 'acl': {
      const sub = o.args[0];
      const path = o.args[1];
      if ((sub !== 'get' && sub !== 'set') || path === undefined) {
        throw new ConfigError('acl', 'usage: zk acl get PATH | zk acl set PATH scheme:id:perms[,...]');
      }
      if (sub === 'get') {
        const { acl } = await c.getACL(path);
        for (const a of acl) out(`'${a.id.scheme},'${a.id.id}\n: ${formatPerms(a.perms)}\n`);
        return ZK_EXIT.done;
      }
      if (o.args[2] === undefined) throw new ConfigError('ACL', 'zk acl set needs the ACL');
      await c.setACL(path, parseAcl(o.args[2]), o.version ?? -1);
      return ZK_EXIT.done;
    }
    case 'watch': {
      const path = needPath(o);
      const count = o.count ?? 1;
      let seen = 0;
      return await new Promise<number>((resolve, reject) => {
        const arm = (): void => {
          const watcher = (e: ZkWatchEvent): void => {
            if (e.type === EventType.none) {
              resolve(ZK_EXIT.unavailable); // the session ended
              return;
            }
            out(eventLine(e));
            if (++seen >= count) resolve(ZK_EXIT.done);
            else arm();
          };
          const read = o.children === true ? c.getChildren(path, watcher) : c.exists(path, watcher);
          read.catch(reject);
        };
        arm();
      });
    }
  }
}

export async function runZk(o: ZkCliOptions, io: ZkCliIo): Promise<number> {
  const servers = resolveZkServers(o);
  let client: ZkClient;
  if (io.connect !== undefined) client = io.connect(servers, o.sessionTimeoutMs);
  else {
    const { connectZk } = await import('../net/zk-tcp.ts');
    client = connectZk({ connectString: servers, sessionTimeoutMs: o.sessionTimeoutMs });
  }
  const deadline = new Promise<'timeout'>((resolve) => {
    const t = setTimeout(() => resolve('timeout'), o.connectTimeoutMs);
    client.ready().then(
      () => clearTimeout(t),
      () => clearTimeout(t),
    );
  });
  try {
    const first = await Promise.race([client.ready().then(() => 'ready' as const), deadline]);
    if (first === 'timeout') {
      io.err(`zk: no ZooKeeper server answered within ${o.connectTimeoutMs} ms (${servers})\n`);
      return ZK_EXIT.unavailable;
    }
    if (o.auth !== undefined) {
      const i = o.auth.indexOf(':');
      if (i <= 0) throw new ConfigError('--auth', 'expected scheme:credentials, e.g. digest:user:password');
      await client.addAuth(o.auth.slice(0, i), o.auth.slice(i + 1));
    }
    return await run(client, o, io);
  } catch (e) {
    if (!isZkError(e)) throw e;
    const { message, exit } = describeZkFailure(e);
    io.err(`${message}\n`);
    return exit;
  } finally {
    await client.close();
  }
}
