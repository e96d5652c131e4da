// Every ZooKeeper operation of our client as a value: the request record, whether it writes, the
// watch it registers, and how its reply maps to a result. The client runs a ZkCall with a promise
// (`client.getData(...)`, sugar over `client.call(zkCalls.getData(...))`) or with a callback
// (`client.callWith(zkCalls.getData(...), done)`), the form a synchronous driver such as the
// simulator's workload needs: with `delivery: 'sync'` the callback runs while the reply is decoded.

import { AddWatchMode, CreateMode, OpCode, Perm, ZkErr } from '../coord/codes.ts';
import type {
  Acl,
  ClientInfo,
  Long,
  MultiOp,
  MultiResult,
  RequestBody,
  ResponseBody,
  Stat,
} from '../wire/zookeeper/index.ts';
import { ZkError } from './errors.ts';
import type { WatchKind, ZkWatcher } from './watches.ts';

export type ZkStat = Stat<bigint>;
export type ZkData = Uint8Array | string;

export const openAclUnsafe: readonly Acl[] = [{ perms: Perm.all, id: { scheme: 'world', id: 'anyone' } }];

export interface CreateOptions {
  readonly acl?: readonly Acl[];
  /** CreateMode; default persistent. */
  readonly mode?: number;
  /** For the TTL modes. */
  readonly ttlMs?: number;
}

/** A write inside multi(). */
export type ZkOp =
  | ({ readonly op: 'create'; readonly path: string; readonly data?: ZkData } & CreateOptions)
  | { readonly op: 'delete'; readonly path: string; readonly version?: number }
  | { readonly op: 'setData'; readonly path: string; readonly data: ZkData; readonly version?: number }
  | { readonly op: 'check'; readonly path: string; readonly version: number };

/** A read inside multiRead(). */
export type ZkReadOp = { readonly op: 'getData' | 'getChildren'; readonly path: string };

export type ZkOpResult =
  | { readonly op: 'create'; readonly path: string; readonly stat: ZkStat | null }
  | { readonly op: 'delete' | 'check' }
  | { readonly op: 'setData'; readonly stat: ZkStat }
  | { readonly op: 'getData'; readonly data: Uint8Array | null; readonly stat: ZkStat }
  | { readonly op: 'getChildren'; readonly children: readonly string[] }
  | { readonly op: 'error'; readonly zkErr: number };

/** One operation, ready to run. */
export interface ZkCall<T> {
  readonly body: RequestBody<Long>;
  readonly op: string;
  readonly path: string | null;
  /** Changes the tree (a lost connection leaves it indefinite). */
  readonly write: boolean;
  /** Registered when the reply is ok (`onOk`) or NoNode (`onNoNode`, exists' watch for a creation). */
  readonly watch?: { readonly watcher: ZkWatcher; readonly onOk: WatchKind; readonly onNoNode?: WatchKind };
  /** The result of an ok reply; may throw a ZkError (a failed multi). */
  readonly ok: (body: ResponseBody | null) => T;
  /** An error code that is a result (exists' NoNode -> null); undefined = the error stands. */
  readonly onErr?: (zkErr: number) => { readonly value: T } | undefined;
}

/** A callback's answer: an error, or the value. */
export type ZkDone<T> = (error: Error | null, value?: T) => void;

const utf8 = new TextEncoder();

export function bytesOf(data: ZkData | undefined): Uint8Array {
  if (data === undefined) return new Uint8Array(0);
  return typeof data === 'string' ? utf8.encode(data) : data;
}

function isTtlMode(mode: number): boolean {
  return mode === CreateMode.persistentWithTtl || mode === CreateMode.persistentSequentialWithTtl;
}

/** The request record of a create (its opcode follows the mode, as ZooKeeper's client picks it). */
function createRequest(path: string, data: ZkData | undefined, o: CreateOptions, stat: boolean): MultiOp<Long> {
  const mode = o.mode ?? CreateMode.persistent;
  const acl = o.acl ?? openAclUnsafe;
  const bytes = bytesOf(data);
  if (isTtlMode(mode)) {
    return { type: OpCode.createTTL, path, data: bytes, acl, flags: mode, ttl: o.ttlMs ?? 0 };
  }
  const type = mode === CreateMode.container ? OpCode.createContainer : stat ? OpCode.create2 : OpCode.create;
  return { type, path, data: bytes, acl, flags: mode };
}

function opResult(r: MultiResult): ZkOpResult {
  switch (r.type) {
    case OpCode.create:
      return { op: 'create', path: r.path ?? '', stat: null };
    case OpCode.create2:
    case OpCode.createContainer:
    case OpCode.createTTL:
      return { op: 'create', path: r.path ?? '', stat: r.stat };
    case OpCode.setData:
      return { op: 'setData', stat: r.stat };
    case OpCode.getData:
      return { op: 'getData', data: r.data, stat: r.stat };
    case OpCode.getChildren:
      return { op: 'getChildren', children: r.children ?? [] };
    case OpCode.delete:
      return { op: 'delete' };
    case OpCode.check:
      return { op: 'check' };
    default:
      return { op: 'error', zkErr: r.err };
  }
}

const statOf = (body: ResponseBody | null): ZkStat => (body as { stat: ZkStat }).stat;
const results = (body: ResponseBody | null): ZkOpResult[] =>
  ((body as { results: readonly MultiResult[] | null }).results ?? []).map(opResult);

function watchOf(
  watcher: ZkWatcher | undefined,
  onOk: WatchKind,
  onNoNode?: WatchKind,
): Pick<ZkCall<unknown>, 'watch'> {
  if (watcher === undefined) return {};
  return { watch: onNoNode === undefined ? { watcher, onOk } : { watcher, onOk, onNoNode } };
}

/** The operations (see ZkClient for what each means; the client's methods of the same names run them). */
export const zkCalls = {
  create(path: string, data?: ZkData, options: CreateOptions = {}): ZkCall<string> {
    return {
      body: createRequest(path, data, options, false),
      op: 'create',
      path,
      write: true,
      ok: (body) => (body !== null && 'path' in body ? (body.path ?? path) : path),
    };
  },
  create2(path: string, data?: ZkData, options: CreateOptions = {}): ZkCall<{ path: string; stat: ZkStat }> {
    return {
      body: createRequest(path, data, options, true),
      op: 'create2',
      path,
      write: true,
      ok: (body) => {
        const b = body as { path: string | null; stat: ZkStat };
        return { path: b.path ?? path, stat: b.stat };
      },
    };
  },
  delete(path: string, version = -1): ZkCall<void> {
    return { body: { type: OpCode.delete, path, version }, op: 'delete', path, write: true, ok: () => undefined };
  },
  exists(path: string, watcher?: ZkWatcher): ZkCall<ZkStat | null> {
    return {
      body: { type: OpCode.exists, path, watch: watcher !== undefined },
      op: 'exists',
      path,
      write: false,
      ...watchOf(watcher, 'data', 'exist'),
      ok: statOf,
      onErr: (err) => (err === ZkErr.noNode ? { value: null } : undefined),
    };
  },
  getData(path: string, watcher?: ZkWatcher): ZkCall<{ data: Uint8Array; stat: ZkStat }> {
    return {
      body: { type: OpCode.getData, path, watch: watcher !== undefined },
      op: 'getData',
      path,
      write: false,
      ...watchOf(watcher, 'data'),
      ok: (body) => {
        const b = body as { data: Uint8Array | null; stat: ZkStat };
        return { data: b.data ?? new Uint8Array(0), stat: b.stat };
      },
    };
  },
  setData(path: string, data: ZkData, version = -1): ZkCall<ZkStat> {
    return {
      body: { type: OpCode.setData, path, data: bytesOf(data), version },
      op: 'setData',
      path,
      write: true,
      ok: statOf,
    };
  },
  getACL(path: string): ZkCall<{ acl: readonly Acl[]; stat: ZkStat }> {
    return {
      body: { type: OpCode.getACL, path },
      op: 'getACL',
      path,
      write: false,
      ok: (body) => {
        const b = body as { acl: readonly Acl[] | null; stat: ZkStat };
        return { acl: b.acl ?? [], stat: b.stat };
      },
    };
  },
  setACL(path: string, acl: readonly Acl[], version = -1): ZkCall<ZkStat> {
    return { body: { type: OpCode.setACL, path, acl, version }, op: 'setACL', path, write: true, ok: statOf };
  },
  /** getChildren2: the children (in the server's order) and the parent's Stat. */
  getChildren(path: string, watcher?: ZkWatcher): ZkCall<{ children: string[]; stat: ZkStat }> {
    return {
      body: { type: OpCode.getChildren2, path, watch: watcher !== undefined },
      op: 'getChildren',
      path,
      write: false,
      ...watchOf(watcher, 'child'),
      ok: (body) => {
        const b = body as { children: readonly string[] | null; stat: ZkStat };
        return { children: [...(b.children ?? [])], stat: b.stat };
      },
    };
  },
  sync(path: string): ZkCall<string> {
    return {
      body: { type: OpCode.sync, path },
      op: 'sync',
      path,
      write: false,
      ok: (body) => (body !== null && 'path' in body ? (body.path ?? path) : path),
    };
  },
  /** All or nothing; a failure is a ZkError whose `results` hold every op's outcome. */
  multi(ops: readonly ZkOp[]): ZkCall<ZkOpResult[]> {
    const records = ops.map((o): MultiOp<Long> => {
      switch (o.op) {
        case 'create':
          return createRequest(o.path, o.data, o, false);
        case 'delete':
          return { type: OpCode.delete, path: o.path, version: o.version ?? -1 };
        case 'setData':
          return { type: OpCode.setData, path: o.path, data: bytesOf(o.data), version: o.version ?? -1 };
        default:
          return { type: OpCode.check, path: o.path, version: o.version };
      }
    });
    return {
      body: { type: OpCode.multi, ops: records },
      op: 'multi',
      path: null,
      write: true,
      ok: (body) => {
        const out = results(body);
        const failed = out.find((r) => r.op === 'error' && r.zkErr !== ZkErr.ok);
        if (failed !== undefined && failed.op === 'error')
          throw new ZkError(failed.zkErr, { op: 'multi', results: out });
        return out;
      },
    };
  },
  /** Reads in one round trip; a failed read is an `error` entry, the others still answer. */
  multiRead(ops: readonly ZkReadOp[]): ZkCall<ZkOpResult[]> {
    const records = ops.map(
      (o): MultiOp<Long> => ({
        type: o.op === 'getData' ? OpCode.getData : OpCode.getChildren,
        path: o.path,
        watch: false,
      }),
    );
    return { body: { type: OpCode.multiRead, ops: records }, op: 'multiRead', path: null, write: false, ok: results };
  },
  /** This session's ephemeral nodes whose paths start with `prefixPath`. */
  getEphemerals(prefixPath = '/'): ZkCall<string[]> {
    return {
      body: { type: OpCode.getEphemerals, prefixPath },
      op: 'getEphemerals',
      path: prefixPath,
      write: false,
      ok: (body) => [...((body as { ephemerals: readonly string[] | null }).ephemerals ?? [])],
    };
  },
  getAllChildrenNumber(path: string): ZkCall<number> {
    return {
      body: { type: OpCode.getAllChildrenNumber, path },
      op: 'getAllChildrenNumber',
      path,
      write: false,
      ok: (body) => (body as { totalNumber: number }).totalNumber,
    };
  },
  /** A watch that stays until removed (AddWatchMode.persistent or persistentRecursive). */
  addWatch(path: string, watcher: ZkWatcher, mode: number = AddWatchMode.persistent): ZkCall<void> {
    const kind: WatchKind = mode === AddWatchMode.persistentRecursive ? 'persistentRecursive' : 'persistent';
    return {
      body: { type: OpCode.addWatch, path, mode },
      op: 'addWatch',
      path,
      write: false,
      watch: { watcher, onOk: kind },
      ok: () => undefined,
    };
  },
  /** The identities the server holds for this connection (ip, digest users, ...). */
  whoAmI(): ZkCall<ClientInfo[]> {
    return {
      body: { type: OpCode.whoAmI },
      op: 'whoAmI',
      path: null,
      write: false,
      ok: (body) => [...((body as { clientInfo: readonly ClientInfo[] | null }).clientInfo ?? [])],
    };
  },
};
