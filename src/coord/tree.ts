// The znode tree with ZooKeeper 3.8's rules — the one place they live (the wire and the service
// only carry requests here and replies back). A pure core: every write is a transaction applied at
// a zxid (the Raft index) with the proposer's wall time and the caller's session and identities,
// so every replica reaches the same tree and gives the same answer.
//
// Rules, as ZooKeeper's PrepRequestProcessor (checks, in its order) and DataTree (effects) apply them:
//  - create: mode known (else BADARGUMENTS); TTL modes need extended types (else UNIMPLEMENTED) and
//    0 < ttl ≤ 2^40-1, other modes no ttl (BADARGUMENTS); ephemerals need a live session; the path
//    has a '/' and no NUL (BADARGUMENTS); ACL fixed up (INVALIDACL); parent exists (NONODE); CREATE on
//    the parent (NOAUTH); a sequential name appends the parent's cversion as %010d; the final path
//    valid (BADARGUMENTS); not there yet (NODEEXISTS); the parent not a session's ephemeral
//    (NOCHILDRENFOREPHEMERALS; containers and TTL nodes may have children). Effect: parent cversion+1
//    and pzxid = zxid; the node's czxid = mzxid = pzxid = zxid, ctime = mtime = time, versions 0.
//  - delete: a '/' and no NUL, not /, /zookeeper, /zookeeper/quota, /zookeeper/config (BADARGUMENTS);
//    parent (NONODE); DELETE on the parent (NOAUTH); node (NONODE); version (BADVERSION); no
//    children (NOTEMPTY). Effect: parent pzxid = zxid; the parent's stored cversion does not move.
//  - setData: valid path, node, WRITE, version; version+1, mtime, mzxid.
//  - setACL: valid path, ACL fixup, node, ADMIN, aversion; aversion+1 (no watch fires).
//  - check (multi only): valid path, node, READ, version.
//  - version -1 matches any; versions are Java ints (they wrap).
//  - fail (multi only): an op the service refused at the door; the multi fails there with its code.
//  - multi: ops apply in order, each seeing the ones before; the first failure undoes them all and
//    the results are OK for the ops before it, its error, RUNTIMEINCONSISTENCY after it
//    (DataTree.processTxn on a MultiTxn with an ErrorTxn); the multi's err is the failing op's.
//  - every write from a session the tree does not hold answers SESSIONEXPIRED (session 0 = none,
//    allowed except for ephemerals).
//  - Stat as clients see it (DataNode.copyStat): cversion = stored creates × 2 − numChildren (so a
//    delete moves it too, and a fresh root shows -1, /zookeeper -2); ephemeralOwner = the session for
//    an ephemeral, 0 for everything else (containers and TTL nodes keep their markers inside only).
//    Checked against Debian's ZooKeeper 3.8 (zkCli `stat`).
//  - Initial tree: "/", /zookeeper, /zookeeper/quota (world:anyone ALL, empty, Stat all zero) and
//    /zookeeper/config (world:anyone READ, aversion -1 from DataTree.addConfigNode's setACL at -1).
//  - Watch triggers per write, in DataTree's order: create → NodeCreated(path),
//    NodeChildrenChanged(parent); delete → NodeDeleted(path), NodeChildrenChanged(parent); setData →
//    NodeDataChanged(path). A failed transaction fires nothing. Each trigger carries the ACL ZooKeeper
//    judges its delivery by: the created, changed or deleted node's, the parent's for
//    NodeChildrenChanged (a watcher without READ on it is not sent the event).
//
// Differences from ZooKeeper, on purpose: getChildren answers names sorted (ZooKeeper: hash order);
// a full tree (coordZnodeCountMax) answers QUOTAEXCEEDED (ZooKeeper has no bound).

import { assert } from '../lib/assert.ts';
import { latin1String } from '../lib/bytes.ts';
import { javaCopyTableSize, javaSpread, javaStringHash, javaTableSize } from './java-hash.ts';
import { limits, SNAPSHOT_IMAGE_RESERVE_BYTES } from '../lib/limits.ts';
import { type Acl, AclCache, aclKey, checkAcl, fixupAcl, type Id, READ_ACL_UNSAFE } from './acl.ts';
import { CreateMode, EventType, Perm, ZkErr } from './codes.ts';
import { PASSWD_BYTES_MAX } from './command.ts';
import { baseName, isValidPath, SPECIAL_PATHS, sequenceSuffix } from './path.ts';
import {
  type FrozenChildren,
  type NodeRecord,
  OWNER_CONTAINER,
  ownerOfTtl,
  ttlOfOwner,
  ZnodeStore,
  znodeBytes,
} from './store.ts';

/** ZooKeeper's Stat, all 11 fields (jute order). ephemeralOwner is an i64 (containers and TTLs use the high bits). */
export interface Stat {
  readonly czxid: number;
  readonly mzxid: number;
  readonly ctime: number;
  readonly mtime: number;
  readonly version: number;
  readonly cversion: number;
  readonly aversion: number;
  readonly ephemeralOwner: bigint;
  readonly dataLength: number;
  readonly numChildren: number;
  readonly pzxid: number;
}

export interface Caller {
  /** The ZooKeeper session (its createSession's index); 0 = none. */
  readonly sessionId: number;
  /** The connection the request came through (ZooKeeper's session owner); 0/absent = unchecked. */
  readonly owner?: number;
  /** Authenticated identities ({digest, user:hash}, {ip, a.b.c.d}, {super, ''}). */
  readonly identities: readonly Id[];
}

export interface TxnContext {
  /** The transaction's zxid: the Raft index that applies it. */
  readonly zxid: number;
  /** The proposer's wall time (ctime/mtime, TTL expiry). */
  readonly timeMs: number;
  readonly caller: Caller;
}

export interface Trigger {
  readonly path: string;
  readonly type: EventType;
  /** The ACL READ is checked on before a watcher is sent the event (watches.ts WatchEvent.acl). */
  readonly acl: readonly Acl[];
}

export type WriteOp =
  | {
      readonly op: 'create';
      readonly path: string;
      readonly data: Uint8Array;
      readonly acl: readonly Acl[];
      readonly mode: number;
      /** -1 = none (every mode but the TTL ones). */
      readonly ttlMs: number;
    }
  | { readonly op: 'delete'; readonly path: string; readonly version: number }
  | { readonly op: 'setData'; readonly path: string; readonly data: Uint8Array; readonly version: number }
  | { readonly op: 'check'; readonly path: string; readonly version: number }
  | { readonly op: 'setACL'; readonly path: string; readonly acl: readonly Acl[]; readonly version: number }
  /**
   * An op of a multi the service refused before proposing it (a TTL create while this node's
   * extended types are off, a createContainer without the container flag, an ACL past our bound):
   * the multi fails at it with `err`, after the ops before it were checked, as ZooKeeper's
   * PrepRequestProcessor checks each op in turn.
   */
  | { readonly op: 'fail'; readonly err: ZkErr };

export interface OpResult {
  readonly err: ZkErr;
  /** create: the created path (with its sequence suffix). */
  readonly path?: string;
  /** create, setData, setACL: the node's Stat after the op. */
  readonly stat?: Stat;
}

export interface TxnResult extends OpResult {
  /** multi: one result per op. */
  readonly results?: readonly OpResult[];
  readonly triggers: readonly Trigger[];
}

export interface ReadResult<T> {
  readonly err: ZkErr;
  readonly value?: T;
  readonly stat?: Stat;
}

export interface TreeOptions {
  /** ZooKeeper's zookeeper.extendedTypesEnabled: TTL creates answer UNIMPLEMENTED without it. */
  readonly ttlEnabled: boolean;
  /** The super user's digest id (`super:base64(sha1(super:password))`), or undefined. */
  readonly superDigest?: string;
  readonly znodesMax: number;
  /**
   * The tree's bytes (`ZnodeTree.bytes`: what its snapshot section holds, at most) a write may
   * bring it to: a create, setData, setACL or createSession past it answers QUOTAEXCEEDED (as a
   * count past znodesMax does), so the group's snapshot always fits its bound (see
   * coordTreeBytesMaxFor). The same on every replica: it is checked at apply.
   */
  readonly bytesMax: number;
  readonly sessionsMax: number;
  /** Planted bug (mutation coord-skip-ephemeral-cleanup, simulator only): closeSession keeps the ephemerals. */
  readonly keepEphemeralsOnClose?: boolean;
}

export const defaultTreeOptions: TreeOptions = {
  ttlEnabled: false,
  znodesMax: limits.coordZnodeCountMax,
  bytesMax: limits.coordTreeBytesMax,
  sessionsMax: limits.coordSessionsMax,
};

/**
 * The tree's bytes bound in a group whose snapshots hold at most `snapshotDataBytesMax`:
 * coordTreeBytesMax, or less when the group's bound leaves less beside the image's reserve.
 */
export function coordTreeBytesMaxFor(snapshotDataBytesMax: number): number {
  assert(snapshotDataBytesMax > SNAPSHOT_IMAGE_RESERVE_BYTES, `snapshot bound ${snapshotDataBytesMax}`);
  return Math.min(limits.coordTreeBytesMax, snapshotDataBytesMax - SNAPSHOT_IMAGE_RESERVE_BYTES);
}

/** A session's bytes in a snapshot section (namespace.ts: id, timeout, password, owner), at most. */
export function sessionBytes(passwd: Uint8Array | number): number {
  return 32 + (typeof passwd === 'number' ? passwd : passwd.length);
}

/** Largest TTL (EphemeralType.TTL.maxValue: 40 bits). */
export const TTL_MS_MAX = 0xff_ffff_ffff;
const CONTAINER_OWNER_I64 = -(1n << 63n);
const TTL_OWNER_BITS = 0xff00_0000_0000_0000n;

export interface Session {
  readonly timeoutMs: number;
  readonly passwd: Uint8Array;
  readonly ephemerals: Set<string>;
  /** The connection holding the session (set by createSession and setOwner); 0 = none recorded. */
  owner: number;
}

/** Bytes as a binary string (one char per byte): how the store keeps data. */
export function bytesToBinary(b: Uint8Array): string {
  return latin1String(b);
}

export function binaryToBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

const isSequential = (mode: number): boolean =>
  mode === CreateMode.persistentSequential ||
  mode === CreateMode.ephemeralSequential ||
  mode === CreateMode.persistentSequentialWithTtl;
const isTtl = (mode: number): boolean =>
  mode === CreateMode.persistentWithTtl || mode === CreateMode.persistentSequentialWithTtl;
const isEphemeral = (mode: number): boolean => mode === CreateMode.ephemeral || mode === CreateMode.ephemeralSequential;

/** Java int arithmetic for versions. */
const inc32 = (v: number): number => (v + 1) | 0;

class Failure {
  constructor(readonly err: ZkErr) {}
}

/** One change the journal can undo: the node's record before it (undefined: it did not exist). */
interface JournalEntry {
  readonly path: string;
  readonly before: NodeRecord | undefined;
}

export class ZnodeTree {
  private readonly store = new ZnodeStore();
  readonly acls = new AclCache();
  private readonly sessionTable = new Map<number, Session>();
  private readonly containers = new Set<string>();
  private readonly ttls = new Set<string>();
  private journal: JournalEntry[] = [];
  private pendingReleases: number[] = [];
  private pendingInterns: number[] = [];
  private sessionsBytes = 0;

  constructor(readonly options: TreeOptions = defaultTreeOptions) {
    const zero: NodeRecord = {
      data: '',
      acl: 0,
      czxid: 0,
      mzxid: 0,
      pzxid: 0,
      ctimeMs: 0,
      mtimeMs: 0,
      version: 0,
      cversion: 0,
      aversion: 0,
      owner: 0,
    };
    const root = this.store.insert('/', -1, zero);
    const zk = this.store.insert('/zookeeper', root, zero);
    this.store.insert('/zookeeper/quota', zk, zero);
    this.store.insert('/zookeeper/config', zk, { ...zero, acl: this.acls.intern(READ_ACL_UNSAFE), aversion: -1 });
  }

  // --- reads ----------------------------------------------------------------------------------

  get size(): number {
    return this.store.size;
  }

  get sessions(): ReadonlyMap<number, Session> {
    return this.sessionTable;
  }

  /**
   * What the tree holds, in bytes, as its snapshot section would at most hold it: every znode
   * (store.ts znodeBytes), every ACL list some node holds (acl.ts aclListBytes) and every session
   * (sessionBytes). The same on every replica at every index; bounded by options.bytesMax.
   */
  get bytes(): number {
    return this.store.bytes + this.acls.bytes + this.sessionsBytes;
  }

  /**
   * The part of options.bytesMax kept for sessions: a tree full of data still takes a new session,
   * so a client can connect and delete (one budget for both refused every connect once the data
   * reached it: a review, 2026-12-07). Every session of sessionsMax with the longest password, or
   * an eighth of the bound if that is less (a small bound, the simulator's).
   */
  get sessionsBytesMax(): number {
    return Math.min(this.options.sessionsMax * sessionBytes(PASSWD_BYTES_MAX), Math.floor(this.options.bytesMax / 8));
  }

  /**
   * False when `more` bytes of znodes and ACL lists would take them past what options.bytesMax
   * leaves beside the sessions' share. A change that adds nothing always fits (a smaller setData
   * on a tree restored past a bound that has since shrunk).
   */
  private fits(more: number): boolean {
    return more <= 0 || this.store.bytes + this.acls.bytes + more <= this.options.bytesMax - this.sessionsBytesMax;
  }

  exists(path: string): ReadResult<never> {
    const s = this.store.slot(path);
    return s === undefined ? { err: ZkErr.noNode } : { err: ZkErr.ok, stat: this.statOf(s) };
  }

  getData(path: string, identities: readonly Id[]): ReadResult<Uint8Array> {
    const s = this.readable(path, Perm.read, identities);
    if (s instanceof Failure) return { err: s.err };
    return { err: ZkErr.ok, value: binaryToBytes(this.store.data(s)), stat: this.statOf(s) };
  }

  getChildren(path: string, identities: readonly Id[]): ReadResult<string[]> {
    const s = this.readable(path, Perm.read, identities);
    if (s instanceof Failure) return { err: s.err };
    return { err: ZkErr.ok, value: this.childNames(s), stat: this.statOf(s) };
  }

  /** getACL needs READ or ADMIN; without ADMIN, digest ids are shown as `user:x` (ZooKeeper 3.6+). */
  getACL(path: string, identities: readonly Id[]): ReadResult<Acl[]> {
    const s = this.readable(path, Perm.read | Perm.admin, identities);
    if (s instanceof Failure) return { err: s.err };
    const acl = this.acls.get(this.store.acl(s));
    const admin = checkAcl(acl, Perm.admin, identities, this.options.superDigest);
    const shown = acl.map((a) =>
      admin || a.scheme !== 'digest' ? { ...a } : { ...a, id: a.id.replace(/:[\s\S]*/, ':x') },
    );
    return { err: ZkErr.ok, value: shown, stat: this.statOf(s) };
  }

  /** Every descendant of `path` (READ on it). */
  getAllChildrenNumber(path: string, identities: readonly Id[]): ReadResult<number> {
    const s = this.readable(path, Perm.read, identities);
    if (s instanceof Failure) return { err: s.err };
    if (path === '/') return { err: ZkErr.ok, value: this.store.size - 1 };
    let count = 0;
    const stack = [s];
    while (stack.length > 0) {
      for (const c of this.store.children(stack.pop()!)) {
        count++;
        stack.push(c);
      }
    }
    return { err: ZkErr.ok, value: count };
  }

  /** The session's ephemerals whose path starts with `prefix` ('' or '/' = all), sorted. */
  getEphemerals(sessionId: number, prefix: string): string[] {
    const all = this.sessionTable.get(sessionId)?.ephemerals ?? new Set<string>();
    const p = prefix.trim() === '' ? '' : prefix;
    return [...all].filter((path) => path.startsWith(p)).sort();
  }

  /** multiRead: each op answered on its own (not atomic), errors in place. */
  multiRead(
    ops: readonly { readonly op: 'getData' | 'getChildren'; readonly path: string }[],
    identities: readonly Id[],
  ): ReadResult<Uint8Array | string[]>[] {
    return ops.map((o) =>
      o.op === 'getData' ? this.getData(o.path, identities) : this.getChildren(o.path, identities),
    );
  }

  /** Whether the node is in the tree (a snapshot's loader: nodes loaded so far). */
  has(path: string): boolean {
    return this.store.slot(path) !== undefined;
  }

  /** The node's record (tests, snapshots); undefined when absent. */
  record(path: string): NodeRecord | undefined {
    const s = this.store.slot(path);
    return s === undefined ? undefined : this.store.read(s);
  }

  /** Containers and expired TTL nodes the leader should propose to delete, at `nowMs`. */
  cleanupCandidates(nowMs: number): { containers: string[]; expiredTtls: string[] } {
    const containers = [...this.containers].filter((p) => this.containerDeletable(this.store.slot(p)!)).sort();
    const expiredTtls = [...this.ttls].filter((p) => this.ttlExpired(this.store.slot(p)!, nowMs)).sort();
    return { containers, expiredTtls };
  }

  private childNames(s: number): string[] {
    const names: string[] = [];
    for (const c of this.store.children(s)) names.push(baseName(this.store.path(c)));
    return names.sort();
  }

  private readable(path: string, perm: number, identities: readonly Id[]): number | Failure {
    const s = this.store.slot(path);
    if (s === undefined) return new Failure(ZkErr.noNode);
    if (!checkAcl(this.acls.get(this.store.acl(s)), perm, identities, this.options.superDigest))
      return new Failure(ZkErr.noAuth);
    return s;
  }

  /**
   * The Stat a client sees (DataNode.copyStat): the stored cversion counts creates, and the client's
   * cversion counts changes (stored × 2 − numChildren: every create but the live children had a
   * delete), so a fresh root shows -1; containers and TTL nodes show ephemeralOwner 0.
   */
  statOf(s: number): Stat {
    const r = this.store.read(s);
    const numChildren = this.store.childCount(s);
    return {
      czxid: r.czxid,
      mzxid: r.mzxid,
      ctime: r.ctimeMs,
      mtime: r.mtimeMs,
      version: r.version,
      cversion: (r.cversion * 2 - numChildren) | 0,
      aversion: r.aversion,
      ephemeralOwner: r.owner > 0 ? BigInt(r.owner) : 0n,
      dataLength: r.data.length,
      numChildren,
      pzxid: r.pzxid,
    };
  }

  // --- sessions -------------------------------------------------------------------------------

  /** Opens session `id` (its createSession's index). QUOTAEXCEEDED when the table is full. */
  createSession(id: number, timeoutMs: number, passwd: Uint8Array, owner = 0): ZkErr {
    assert(!this.sessionTable.has(id), `session ${id} exists`);
    if (
      this.sessionTable.size >= this.options.sessionsMax ||
      this.sessionsBytes + sessionBytes(passwd) > this.sessionsBytesMax
    )
      return ZkErr.quotaExceeded;
    this.sessionTable.set(id, { timeoutMs, passwd: passwd.slice(), ephemerals: new Set(), owner });
    this.sessionsBytes += sessionBytes(passwd);
    return ZkErr.ok;
  }

  /**
   * The session moved to connection `owner` (a reconnect): from here on, writes from any other
   * owner answer SESSIONMOVED (ZooKeeper's SessionTracker.setOwner). SESSIONEXPIRED when unknown.
   */
  setOwner(id: number, owner: number): ZkErr {
    const session = this.sessionTable.get(id);
    if (session === undefined) return ZkErr.sessionExpired;
    session.owner = owner;
    return ZkErr.ok;
  }

  /** Closes a session at `zxid`: its ephemerals go (in ZooKeeper's order). SESSIONEXPIRED when unknown. */
  closeSession(id: number, zxid: number): TxnResult {
    const session = this.sessionTable.get(id);
    if (session === undefined) return { err: ZkErr.sessionExpired, triggers: [] };
    const triggers: Trigger[] = [];
    if (this.options.keepEphemeralsOnClose !== true)
      for (const path of this.closingOrder(session.ephemerals)) this.removeNode(path, zxid, triggers);
    this.sessionTable.delete(id);
    this.sessionsBytes -= sessionBytes(session.passwd);
    this.commit();
    return { err: ZkErr.ok, triggers };
  }

  /**
   * The order ZooKeeper 3.8 deletes a closing session's ephemerals in, so watchers get its events in
   * its order: the paths of a CloseSessionTxn, a copy (HashSet.clone: re-put into a table sized for
   * its count, tableSizeFor(n / 0.75 + 1)) of the session's HashSet<String>, which kept them by
   * bucket of the spread String.hashCode in a table of at least 16 (growing past 0.75 full), each
   * bucket in creation order. Here the table is sized for the count now: a session that once held
   * more (its table grew, and never shrinks) may see ties in another order; ephemerals made by one
   * multi share a czxid, so their ties go by path (ZooKeeper: op order). The keys are replicated
   * state and the last one is the path, so the order is total and the same on every replica (not the
   * session's Set order, which a snapshot restore or a rolled-back multi changes).
   */
  private closingOrder(paths: ReadonlySet<string>): string[] {
    const held = javaTableSize(paths.size);
    const copy = javaCopyTableSize(paths.size);
    const entries = [...paths].map((path) => ({
      path,
      spread: javaSpread(javaStringHash(path)),
      czxid: this.store.czxid(this.store.slot(path)!),
    }));
    entries.sort(
      (a, b) =>
        (a.spread & (held - 1)) - (b.spread & (held - 1)) ||
        a.czxid - b.czxid ||
        (a.path < b.path ? -1 : a.path > b.path ? 1 : 0),
    );
    // Array.prototype.sort is stable: ties in the copy keep the held set's order.
    entries.sort((a, b) => (a.spread & (copy - 1)) - (b.spread & (copy - 1)));
    return entries.map((e) => e.path);
  }

  // --- writes ---------------------------------------------------------------------------------

  /** One write (not multi). */
  write(ctx: TxnContext, op: WriteOp): TxnResult {
    const triggers: Trigger[] = [];
    const r = this.applyOp(ctx, op, triggers);
    if (r.err !== ZkErr.ok) {
      this.rollback();
      return { err: r.err, triggers: [] };
    }
    this.commit();
    return { ...r, triggers };
  }

  /** multi: all or nothing. */
  multi(ctx: TxnContext, ops: readonly WriteOp[]): TxnResult {
    const triggers: Trigger[] = [];
    const results: OpResult[] = [];
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      const r = op.op === 'setACL' ? { err: ZkErr.badArguments } : this.applyOp(ctx, op, triggers);
      if (r.err !== ZkErr.ok) {
        this.rollback();
        const failed: OpResult[] = ops.map((_, j) => ({
          err: j < i ? ZkErr.ok : j === i ? r.err : ZkErr.runtimeInconsistency,
        }));
        return { err: r.err, results: failed, triggers: [] };
      }
      results.push(r);
    }
    this.commit();
    return { err: ZkErr.ok, results, triggers };
  }

  /** The leader's cleanup of an empty container; conditional, so a stale proposal changes nothing. */
  deleteContainer(ctx: TxnContext, path: string): TxnResult {
    const s = this.store.slot(path);
    if (s === undefined) return { err: ZkErr.noNode, triggers: [] };
    if (this.store.owner(s) !== OWNER_CONTAINER) return { err: ZkErr.badVersion, triggers: [] };
    if (!this.containerDeletable(s)) return { err: ZkErr.notEmpty, triggers: [] };
    return this.cleanup(ctx, path);
  }

  /** The leader's cleanup of a TTL node expired at the proposer's time; conditional like deleteContainer. */
  deleteExpiredTtl(ctx: TxnContext, path: string): TxnResult {
    const s = this.store.slot(path);
    if (s === undefined) return { err: ZkErr.noNode, triggers: [] };
    if (this.store.owner(s) > OWNER_CONTAINER - 1) return { err: ZkErr.badVersion, triggers: [] };
    if (!this.ttlExpired(s, ctx.timeMs)) return { err: ZkErr.notEmpty, triggers: [] };
    return this.cleanup(ctx, path);
  }

  private cleanup(ctx: TxnContext, path: string): TxnResult {
    const triggers: Trigger[] = [];
    this.removeNode(path, ctx.zxid, triggers);
    this.commit();
    return { err: ZkErr.ok, triggers };
  }

  private containerDeletable(s: number): boolean {
    return this.store.cversion(s) > 0 && this.store.childCount(s) === 0;
  }

  private ttlExpired(s: number, nowMs: number): boolean {
    return this.store.childCount(s) === 0 && nowMs - this.store.mtimeMs(s) > ttlOfOwner(this.store.owner(s));
  }

  private applyOp(ctx: TxnContext, op: WriteOp, triggers: Trigger[]): OpResult {
    const sid = ctx.caller.sessionId;
    if (sid !== 0) {
      const session = this.sessionTable.get(sid);
      if (session === undefined) return { err: ZkErr.sessionExpired };
      // ZooKeeper's checkSession(id, owner): a write through a connection the session has moved
      // away from. An unchecked caller (0) or an unrecorded owner (a v1 log) passes.
      const owner = ctx.caller.owner ?? 0;
      if (owner !== 0 && session.owner !== 0 && session.owner !== owner) return { err: ZkErr.sessionMoved };
    }
    switch (op.op) {
      case 'create':
        return this.create(ctx, op, triggers);
      case 'delete':
        return this.delete(ctx, op.path, op.version, triggers);
      case 'setData':
        return this.setData(ctx, op.path, op.data, op.version, triggers);
      case 'check':
        return this.check(ctx, op.path, op.version);
      case 'setACL':
        return this.setAcl(ctx, op.path, op.acl, op.version);
      case 'fail':
        return { err: op.err };
    }
  }

  private allowed(s: number, perm: number, ctx: TxnContext): boolean {
    return checkAcl(this.acls.get(this.store.acl(s)), perm, ctx.caller.identities, this.options.superDigest);
  }

  private create(ctx: TxnContext, op: WriteOp & { op: 'create' }, triggers: Trigger[]): OpResult {
    const { mode } = op;
    if (!Number.isInteger(mode) || mode < CreateMode.persistent || mode > CreateMode.persistentSequentialWithTtl)
      return { err: ZkErr.badArguments };
    if (isTtl(mode) && !this.options.ttlEnabled) return { err: ZkErr.unimplemented };
    if (isTtl(mode) ? op.ttlMs <= 0 || op.ttlMs > TTL_MS_MAX : op.ttlMs >= 0) return { err: ZkErr.badArguments };
    const sid = ctx.caller.sessionId;
    if (isEphemeral(mode) && !this.sessionTable.has(sid)) return { err: ZkErr.sessionExpired };
    const slash = op.path.lastIndexOf('/');
    if (slash < 0 || op.path.includes('\u0000')) return { err: ZkErr.badArguments };
    const acl = fixupAcl(op.acl, ctx.caller.identities);
    if (acl === undefined) return { err: ZkErr.invalidACL };
    const parentPath = slash === 0 ? '/' : op.path.slice(0, slash);
    const parent = this.store.slot(parentPath);
    if (parent === undefined) return { err: ZkErr.noNode };
    if (!this.allowed(parent, Perm.create, ctx)) return { err: ZkErr.noAuth };
    const path = isSequential(mode) ? op.path + sequenceSuffix(this.store.cversion(parent)) : op.path;
    if (!isValidPath(path)) return { err: ZkErr.badArguments };
    if (this.store.slot(path) !== undefined) return { err: ZkErr.nodeExists };
    if (this.store.owner(parent) > 0) return { err: ZkErr.noChildrenForEphemerals };
    if (this.store.size >= this.options.znodesMax) return { err: ZkErr.quotaExceeded };
    const aclId = aclKey(acl);
    if (!this.fits(znodeBytes(path, op.data.length) + this.acls.bytesToIntern(acl, aclId)))
      return { err: ZkErr.quotaExceeded };
    const owner = isEphemeral(mode)
      ? sid
      : mode === CreateMode.container
        ? OWNER_CONTAINER
        : isTtl(mode)
          ? ownerOfTtl(op.ttlMs)
          : 0;
    const p = this.store.read(parent);
    this.update(parentPath, parent, p, { ...p, cversion: inc32(p.cversion), pzxid: ctx.zxid });
    const aclRef = this.acls.intern(acl, aclId);
    this.pendingInterns.push(aclRef);
    const s = this.insertNode(path, parent, {
      data: bytesToBinary(op.data),
      acl: aclRef,
      czxid: ctx.zxid,
      mzxid: ctx.zxid,
      pzxid: ctx.zxid,
      ctimeMs: ctx.timeMs,
      mtimeMs: ctx.timeMs,
      version: 0,
      cversion: 0,
      aversion: 0,
      owner,
    });
    triggers.push(
      { path, type: EventType.nodeCreated, acl },
      { path: parentPath, type: EventType.nodeChildrenChanged, acl: this.acls.get(p.acl) },
    );
    return { err: ZkErr.ok, path, stat: this.statOf(s) };
  }

  private delete(ctx: TxnContext, path: string, version: number, triggers: Trigger[]): OpResult {
    const slash = path.lastIndexOf('/');
    if (slash < 0 || path.includes('\u0000') || SPECIAL_PATHS.has(path)) return { err: ZkErr.badArguments };
    const parent = this.store.slot(slash === 0 ? '/' : path.slice(0, slash));
    if (parent === undefined) return { err: ZkErr.noNode };
    if (!this.allowed(parent, Perm.delete, ctx)) return { err: ZkErr.noAuth };
    const s = this.store.slot(path);
    if (s === undefined) return { err: ZkErr.noNode };
    if (version !== -1 && version !== this.store.version(s)) return { err: ZkErr.badVersion };
    if (this.store.childCount(s) > 0) return { err: ZkErr.notEmpty };
    this.removeNode(path, ctx.zxid, triggers);
    return { err: ZkErr.ok };
  }

  private setData(ctx: TxnContext, path: string, data: Uint8Array, version: number, triggers: Trigger[]): OpResult {
    if (!isValidPath(path)) return { err: ZkErr.badArguments };
    const s = this.store.slot(path);
    if (s === undefined) return { err: ZkErr.noNode };
    if (!this.allowed(s, Perm.write, ctx)) return { err: ZkErr.noAuth };
    const r = this.store.read(s);
    if (version !== -1 && version !== r.version) return { err: ZkErr.badVersion };
    if (!this.fits(data.length - r.data.length)) return { err: ZkErr.quotaExceeded };
    this.update(path, s, r, {
      ...r,
      data: bytesToBinary(data),
      version: inc32(r.version),
      mtimeMs: ctx.timeMs,
      mzxid: ctx.zxid,
    });
    triggers.push({ path, type: EventType.nodeDataChanged, acl: this.acls.get(r.acl) });
    return { err: ZkErr.ok, stat: this.statOf(s) };
  }

  private check(ctx: TxnContext, path: string, version: number): OpResult {
    if (!isValidPath(path)) return { err: ZkErr.badArguments };
    const s = this.store.slot(path);
    if (s === undefined) return { err: ZkErr.noNode };
    if (!this.allowed(s, Perm.read, ctx)) return { err: ZkErr.noAuth };
    if (version !== -1 && version !== this.store.version(s)) return { err: ZkErr.badVersion };
    return { err: ZkErr.ok };
  }

  private setAcl(ctx: TxnContext, path: string, acl: readonly Acl[], version: number): OpResult {
    if (!isValidPath(path)) return { err: ZkErr.badArguments };
    const fixed = fixupAcl(acl, ctx.caller.identities);
    if (fixed === undefined) return { err: ZkErr.invalidACL };
    const s = this.store.slot(path);
    if (s === undefined) return { err: ZkErr.noNode };
    if (!this.allowed(s, Perm.admin, ctx)) return { err: ZkErr.noAuth };
    const r = this.store.read(s);
    if (version !== -1 && version !== r.aversion) return { err: ZkErr.badVersion };
    // The list it replaces is released at commit: until then both count.
    const aclId = aclKey(fixed);
    if (!this.fits(this.acls.bytesToIntern(fixed, aclId))) return { err: ZkErr.quotaExceeded };
    const ref = this.acls.intern(fixed, aclId);
    this.pendingInterns.push(ref);
    this.pendingReleases.push(r.acl);
    this.update(path, s, r, { ...r, acl: ref, aversion: inc32(r.aversion) });
    return { err: ZkErr.ok, stat: this.statOf(s) };
  }

  // --- mutation primitives (journaled, so a failed multi undoes them) -------------------------

  /** `before`: the node's record as read just now (every caller has it: no second read). */
  private update(path: string, s: number, before: NodeRecord, next: NodeRecord): void {
    this.journal.push({ path, before });
    this.store.write(s, next);
  }

  private insertNode(path: string, parent: number, r: NodeRecord): number {
    this.journal.push({ path, before: undefined });
    return this.attach(path, parent, r);
  }

  private attach(path: string, parent: number, r: NodeRecord): number {
    const s = this.store.insert(path, parent, r);
    if (r.owner === OWNER_CONTAINER) this.containers.add(path);
    else if (r.owner < OWNER_CONTAINER) this.ttls.add(path);
    else if (r.owner > 0) this.sessionTable.get(r.owner)?.ephemerals.add(path);
    return s;
  }

  private detach(path: string, s: number): void {
    const owner = this.store.owner(s);
    if (owner === OWNER_CONTAINER) this.containers.delete(path);
    else if (owner < OWNER_CONTAINER) this.ttls.delete(path);
    else if (owner > 0) this.sessionTable.get(owner)?.ephemerals.delete(path);
    this.store.remove(s);
  }

  /** Removes a childless node: parent pzxid = zxid (when larger), its ACL reference released at commit. */
  private removeNode(path: string, zxid: number, triggers: Trigger[]): void {
    const s = this.store.slot(path)!;
    const parentPath = path.slice(0, Math.max(1, path.lastIndexOf('/')));
    const parent = this.store.slot(parentPath)!;
    const p = this.store.read(parent);
    if (zxid > p.pzxid) this.update(parentPath, parent, p, { ...p, pzxid: zxid });
    const before = this.store.read(s);
    this.journal.push({ path, before });
    this.pendingReleases.push(before.acl);
    this.detach(path, s);
    triggers.push(
      { path, type: EventType.nodeDeleted, acl: this.acls.get(before.acl) },
      { path: parentPath, type: EventType.nodeChildrenChanged, acl: this.acls.get(p.acl) },
    );
  }

  private commit(): void {
    for (const ref of this.pendingReleases) this.acls.release(ref);
    this.journal = [];
    this.pendingReleases = [];
    this.pendingInterns = [];
  }

  private rollback(): void {
    for (let i = this.journal.length - 1; i >= 0; i--) {
      const { path, before } = this.journal[i]!;
      const s = this.store.slot(path);
      if (before === undefined) this.detach(path, s!);
      else if (s !== undefined) this.store.write(s, before);
      else {
        const parentPath = path.slice(0, Math.max(1, path.lastIndexOf('/')));
        this.attach(path, this.store.slot(parentPath)!, before);
      }
    }
    for (const ref of this.pendingInterns) this.acls.release(ref);
    this.journal = [];
    this.pendingReleases = [];
    this.pendingInterns = [];
  }

  // --- snapshots (used by namespace.ts) -------------------------------------------------------

  /**
   * Starts the frozen view a snapshot walk reads (store.ts: copy on write, so writes go on while the
   * walk takes its slices) and returns the sessions as they are now. One view at a time; thaw ends it.
   */
  freeze(): { id: number; timeoutMs: number; passwd: Uint8Array; owner: number }[] {
    this.store.freeze();
    this.acls.freeze();
    return this.sessionList();
  }

  /** The sessions as they are now (a snapshot's section). */
  sessionList(): { id: number; timeoutMs: number; passwd: Uint8Array; owner: number }[] {
    return [...this.sessionTable].map(([id, s]) => ({ id, timeoutMs: s.timeoutMs, passwd: s.passwd, owner: s.owner }));
  }

  /** One znode as it is now: its record and its children's paths (unordered). */
  liveNode(path: string): { record: NodeRecord; children: string[] } {
    const s = this.store.slot(path);
    assert(s !== undefined, `snapshot walk: ${path} is not in the tree`);
    const children: string[] = [];
    for (const c of this.store.children(s)) children.push(this.store.path(c));
    return { record: this.store.read(s), children };
  }

  thaw(): void {
    this.store.thaw();
    this.acls.thaw();
  }

  get isFrozen(): boolean {
    return this.store.isFrozen;
  }

  /** Records the frozen view keeps (one per distinct path written since the freeze). */
  get frozenKept(): number {
    return this.store.frozenKept;
  }

  /** One znode of the frozen view: its record and a paged listing of its children (store.ts FrozenChildren). */
  snapshotNode(path: string): { record: NodeRecord; children: FrozenChildren | undefined } {
    const node = this.store.frozenNode(path);
    assert(node !== undefined, `snapshot walk: ${path} is not in the frozen view`);
    return node;
  }

  nodesInOrder(): { path: string; record: NodeRecord }[] {
    return [...this.store.paths()].sort().map((path) => ({ path, record: this.store.read(this.store.slot(path)!) }));
  }

  /**
   * Replaces the whole tree (snapshot load), in steps so namespace.ts can load in slices: the
   * sessions first (the tree emptied), then loadNode per node, parent first, with ACL lists (not
   * numbers). Called only on a fresh tree built for the purpose.
   */
  beginLoad(sessions: readonly { id: number; timeoutMs: number; passwd: Uint8Array; owner?: number }[]): void {
    for (const s of sessions) {
      this.sessionTable.set(s.id, {
        timeoutMs: s.timeoutMs,
        passwd: s.passwd,
        ephemerals: new Set(),
        owner: s.owner ?? 0,
      });
      this.sessionsBytes += sessionBytes(s.passwd);
    }
    for (const path of [...this.store.paths()].sort().reverse()) {
      const s = this.store.slot(path)!;
      this.acls.release(this.store.acl(s));
      this.store.remove(s);
    }
  }

  loadNode(n: { path: string; record: NodeRecord; acl: readonly Acl[] }): void {
    const parent = n.path === '/' ? -1 : this.store.slot(n.path.slice(0, Math.max(1, n.path.lastIndexOf('/'))));
    assert(parent !== undefined, `snapshot node ${n.path} before its parent`);
    this.attach(n.path, parent, { ...n.record, acl: this.acls.intern(n.acl) });
  }
}

/** ZooKeeper's stored ephemeralOwner i64 for an owner code (what a snapshot of ZooKeeper holds; clients see 0 for containers and TTLs). */
export function ephemeralOwnerI64(owner: number): bigint {
  if (owner >= 0) return BigInt(owner);
  if (owner === OWNER_CONTAINER) return CONTAINER_OWNER_I64;
  return BigInt.asIntN(64, TTL_OWNER_BITS | BigInt(ttlOfOwner(owner)));
}
