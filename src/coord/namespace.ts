// The znode tree as a namespace of a replicated state machine (src/rsm): the coordination
// service's Raft group applies its commands (command.ts) here, in log order, on every replica.
//
// - zxid = the log index of the entry; a session id = the index of its createSession entry.
// - Every write carries the proposer's time and the caller's session and identities, so ACL checks
//   and ctime/mtime are decided by the log, not by the replica.
// - After each applied command the registered observer (the service's watch manager) is told the
//   triggers it yields, synchronously, on every replica: `observe((index, triggers) => …)`.
// - ZooKeeper sessions live here (not in the rsm SessionTable): the rsm's sessionClosed hook is not
//   used; closeSession is a command the leader proposes.
// - Reads (`tree.getData`, …) are served from `tree` by the node a client is connected to.
//
// Snapshot section "znodes" v3 (written) = v2 with the nodes depth first, each node's children by
// name (snapshot-slices.ts), checked as "no duplicate, parent seen first". v2 and v1 are still read.
// v2 =
//   u8 version(2) | uvarint aclCount | aclCount × Acl (command.ts's grammar)
//   | uvarint sessionCount | sessionCount × (uvarint id | uvarint timeoutMs | uvarint-bytes passwd | uvarint owner)
//   | uvarint nodeCount | nodeCount × Node, paths strictly increasing (so a parent precedes its children)
//   Node = uvarint-string path | uvarint-bytes data | uvarint aclIndex | uvarint czxid | uvarint mzxid
//          | uvarint pzxid | f64 ctime | f64 mtime | varint version | varint cversion | varint aversion
//          | f64 owner (store.ts's owner code; a session's must name a session in the section)
// v1 (still loaded) has no session owner (0: unchecked until the session's next reconnect).
// The first node is "/"; a node whose parent is missing, a bad path, an unknown ACL index or a
// dangling owner is a CorruptionError.

import { ByteReader, concatBytes } from '../lib/bytes.ts';
import { CorruptionError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import type { ApplyContext, Namespace } from '../rsm/namespace.ts';
import { NamespaceId } from '../rsm/namespace.ts';
import type { Acl } from './acl.ts';
import { ZkErr } from './codes.ts';
import { type CoordCommand, type CoordResult, decodeCommand, encodeResult, type WriteHeader } from './command.ts';
import { isValidPath } from './path.ts';
import { SECTION_VERSION_DFS, znodesSnapshotSlices } from './snapshot-slices.ts';
import type { NodeRecord } from './store.ts';
import {
  bytesToBinary,
  defaultTreeOptions,
  type Trigger,
  type TreeOptions,
  type TxnContext,
  ZnodeTree,
} from './tree.ts';

const SECTION_VERSION = 2;
const SECTION_VERSION_NO_OWNER = 1;

export interface CoordOptions extends TreeOptions {
  /** Largest znode data a command may carry (jute.maxbuffer). */
  readonly dataBytesMax: number;
  /** Znodes per slice of a snapshot taken in slices (small in simulations, to interleave them). */
  readonly snapshotSliceNodes: number;
}

/**
 * Znodes per snapshot slice by default: about a millisecond of work. At 2,000 (the most a config
 * may set, limits.coordSnapshotSliceNodesMax) a slice took 8-40 ms on a node under a c=64 write
 * load, and every node snapshots at about the same index, so the whole cluster paused together:
 * setData's p99 at c=64 was 45-57 ms, 27-32 ms at 256 (docs/benchmarks/coord.md, 2026-12-05).
 */
export const COORD_SNAPSHOT_SLICE_NODES_DEFAULT = 256;

export const defaultCoordOptions: CoordOptions = {
  ...defaultTreeOptions,
  dataBytesMax: limits.coordZnodeDataBytesMax,
  snapshotSliceNodes: COORD_SNAPSHOT_SLICE_NODES_DEFAULT,
};

export type TriggerObserver = (index: number, triggers: readonly Trigger[]) => void;
/** Told when a session's owner changed (createSession, setOwner), on every replica. */
export type OwnerObserver = (sessionId: number, owner: number) => void;

export class CoordNamespace implements Namespace {
  readonly name = 'znodes';
  readonly id = NamespaceId.znodes;
  private current: ZnodeTree;
  private observer: TriggerObserver | undefined;
  private ownerObserver: OwnerObserver | undefined;

  constructor(readonly options: CoordOptions = defaultCoordOptions) {
    this.current = new ZnodeTree(options);
  }

  /** The applied tree (reads). Replaced wholesale by a snapshot restore: do not hold on to it. */
  get tree(): ZnodeTree {
    return this.current;
  }

  /** Registers the one observer of watch triggers (replacing any earlier one). */
  observe(observer: TriggerObserver | undefined): void {
    this.observer = observer;
  }

  /** Registers the one observer of session owner changes (replacing any earlier one). */
  observeOwners(observer: OwnerObserver | undefined): void {
    this.ownerObserver = observer;
  }

  apply(ctx: ApplyContext, payload: Uint8Array): Uint8Array {
    const c = decodeCommand(payload, this.options.dataBytesMax);
    const { result, triggers } = this.execute(ctx, c);
    if (triggers.length > 0) this.observer?.(ctx.index, triggers);
    return encodeResult(result);
  }

  private execute(ctx: ApplyContext, c: CoordCommand): { result: CoordResult; triggers: readonly Trigger[] } {
    const t = this.current;
    switch (c.type) {
      case 'createSession': {
        const err = t.createSession(ctx.index, c.timeoutMs, c.passwd, c.owner ?? 0);
        return { result: err === ZkErr.ok ? { err, sessionId: ctx.index } : { err }, triggers: [] };
      }
      case 'setOwner': {
        const err = t.setOwner(c.sessionId, c.owner);
        if (err === ZkErr.ok) this.ownerObserver?.(c.sessionId, c.owner);
        return { result: { err }, triggers: [] };
      }
      case 'closeSession': {
        const r = t.closeSession(c.sessionId, ctx.index);
        return { result: { err: r.err }, triggers: r.triggers };
      }
      case 'write': {
        const r = t.write(txn(ctx, c.header), c.op);
        const op = {
          err: r.err,
          ...(r.path !== undefined ? { path: r.path } : {}),
          ...(r.stat ? { stat: r.stat } : {}),
        };
        return { result: { err: r.err, op }, triggers: r.triggers };
      }
      case 'multi': {
        const r = t.multi(txn(ctx, c.header), c.ops);
        return { result: { err: r.err, results: r.results ?? [] }, triggers: r.triggers };
      }
      case 'deleteContainer': {
        const r = t.deleteContainer(txn(ctx, c.header), c.path);
        return { result: { err: r.err }, triggers: r.triggers };
      }
      case 'deleteExpiredTtl': {
        const r = t.deleteExpiredTtl(txn(ctx, c.header), c.path);
        return { result: { err: r.err }, triggers: r.triggers };
      }
    }
  }

  /** The section in one go, of the live tree (a walk in slices may hold a frozen view meanwhile). */
  snapshot(): Uint8Array {
    return concatBytes(znodesSnapshotSlices(this.current, Number.MAX_SAFE_INTEGER, true)()!);
  }

  /**
   * The section in slices (snapshot-slices.ts): the tree as it is now, while commands go on being
   * applied between slices. A walk left unfinished (its snapshot abandoned for a received one)
   * ends when the next starts.
   */
  snapshotInSlices(
    nodesPerSlice: number = this.options.snapshotSliceNodes,
    childrenPerStep?: number,
  ): () => readonly Uint8Array[] | undefined {
    if (this.current.isFrozen) this.current.thaw();
    return znodesSnapshotSlices(this.current, nodesPerSlice, false, childrenPerStep);
  }

  loadSnapshot(section: Uint8Array | undefined): () => void {
    const step = this.loadSnapshotInSlices(section, Number.MAX_SAFE_INTEGER);
    for (;;) {
      const install = step();
      if (install !== undefined) return install;
    }
  }

  /**
   * The section decoded into a new tree in slices of `nodesPerSlice` znodes (a million znodes take
   * tens of seconds in one go); the current tree is untouched until the returned install runs.
   * Each call throws CorruptionError for a bad section.
   */
  loadSnapshotInSlices(
    section: Uint8Array | undefined,
    nodesPerSlice: number = this.options.snapshotSliceNodes,
  ): () => (() => void) | undefined {
    const tree = new ZnodeTree(this.options);
    let step: (() => boolean) | undefined;
    const install = (): void => {
      this.current = tree;
    };
    return () => {
      try {
        // The header (ACL table, sessions) in the first call, inside the error mapping below.
        step ??= section === undefined ? () => true : sectionLoader(tree, section, nodesPerSlice);
        return step() ? install : undefined;
      } catch (err) {
        if (err instanceof CorruptionError) throw err;
        throw new CorruptionError(`znodes section: ${(err as Error).message}`, { cause: String(err) });
      }
    };
  }
}

function txn(ctx: ApplyContext, h: WriteHeader): TxnContext {
  const caller = { sessionId: h.sessionId, identities: h.identities, ...(h.owner ? { owner: h.owner } : {}) };
  return { zxid: ctx.index, timeMs: h.timeMs, caller };
}

function corrupt(what: string, fields: Record<string, unknown> = {}): never {
  throw new CorruptionError(`znodes section: ${what}`, fields);
}

/** Decodes the section into `tree` (fresh), `nodesPerSlice` znodes per call; true once done. */
function sectionLoader(tree: ZnodeTree, section: Uint8Array, nodesPerSlice: number): () => boolean {
  const r = new ByteReader(section);
  const v = r.u8();
  if (v !== SECTION_VERSION && v !== SECTION_VERSION_NO_OWNER && v !== SECTION_VERSION_DFS)
    corrupt(`unknown version ${v}`);
  const aclLists: Acl[][] = [];
  const aclCount = r.uvarint();
  for (let i = 0; i < aclCount; i++) {
    const n = r.uvarint();
    if (n > limits.coordAclEntriesMax) corrupt(`ACL of ${n} entries`);
    const acl: Acl[] = [];
    for (let j = 0; j < n; j++) acl.push({ perms: r.u32() | 0, scheme: r.stringUvarint(), id: r.stringUvarint() });
    aclLists.push(acl);
  }
  const sessions: { id: number; timeoutMs: number; passwd: Uint8Array; owner: number }[] = [];
  const sessionIds = new Set<number>();
  const sessionCount = r.uvarint();
  for (let i = 0; i < sessionCount; i++) {
    const id = r.uvarint();
    const timeoutMs = r.uvarint();
    const passwd = r.bytesUvarint().slice();
    const s = { id, timeoutMs, passwd, owner: v === SECTION_VERSION_NO_OWNER ? 0 : r.uvarint() };
    if (s.id === 0 || sessionIds.has(s.id)) corrupt(`session ${s.id} twice or zero`);
    sessionIds.add(s.id);
    sessions.push(s);
  }
  tree.beginLoad(sessions);
  // The nodes seen so far are the fresh tree's own (`tree.has`): a Set of a million paths beside
  // it doubled in one slice, ~100 ms at 2^19 entries, besides its memory.
  const nodeCount = r.uvarint();
  if (nodeCount === 0) corrupt('no root');
  let last = '';
  let i = 0;
  return () => {
    const end = Math.min(nodeCount, i + nodesPerSlice);
    for (; i < end; i++) {
      const path = r.stringUvarint();
      const data = bytesToBinary(r.bytesUvarint());
      const aclAt = r.uvarint();
      const acl = aclLists[aclAt] ?? corrupt(`node ${path} names ACL ${aclAt}`);
      const rec: NodeRecord = {
        data,
        acl: 0,
        czxid: r.uvarint(),
        mzxid: r.uvarint(),
        pzxid: r.uvarint(),
        ctimeMs: r.f64(),
        mtimeMs: r.f64(),
        version: r.varint(),
        cversion: r.varint(),
        aversion: r.varint(),
        owner: r.f64(),
      };
      const ordered = v === SECTION_VERSION_DFS ? !tree.has(path) : path > last;
      if (i === 0 ? path !== '/' : !ordered || !isValidPath(path)) corrupt(`node ${path} out of order or invalid`);
      if (i > 0 && !tree.has(path.slice(0, Math.max(1, path.lastIndexOf('/'))))) corrupt(`node ${path} has no parent`);
      if (!Number.isSafeInteger(rec.owner) || (rec.owner > 0 && !sessionIds.has(rec.owner)))
        corrupt(`node ${path} has owner ${rec.owner}`);
      if (!Number.isFinite(rec.ctimeMs) || !Number.isFinite(rec.mtimeMs)) corrupt(`node ${path} has a bad time`);
      last = path;
      tree.loadNode({ path, record: rec, acl });
    }
    if (i < nodeCount) return false;
    r.expectEnd('znodes section');
    return true;
  };
}
