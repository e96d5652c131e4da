// The ZooKeeper session handler: one per client connection on the zookeeper port, behind the
// shared RequestPipeline (src/wire/pipeline.ts: decoding, in-flight bound, replies in request
// order, garbage closes the connection and is counted). What it adds is ZooKeeper's session:
//
//   handshake  the first frame: a four-letter word (answered, then closed, behind the whitelist)
//              or a ConnectRequest. lastZxidSeen beyond this node's applied index: closed without
//              an answer (ZooKeeper's "client must try another server"). sessionId 0: a new
//              session, timeout negotiated (session-tracker.ts), a 16-byte password from the Env's
//              Rng, createSession proposed; answered once this replica applied it. Otherwise a
//              reconnect: unknown session or wrong password gets timeOut 0 (the client's "session
//              expired") and the close; a good one proposes setOwner (this connection's random
//              owner token) and is answered with its timeout once that applied here. The answer
//              carries the readOnly byte iff the request did. No leader in contact: closed.
//   owner      ZooKeeper's session owner: every write carries this connection's token, and the
//              tree answers SESSIONMOVED at apply when the session has moved to another connection
//              since (deterministic on every replica); we then close without answering, as
//              ZooKeeper does. A move closes the session's other connections on every node as it
//              applies there (server.ts onOwnerChanged).
//   requests   every one touches the session (pings too). Writes are proposed to the coord group
//              at once, in order, and answered once this replica applied them (zxid = their log
//              index), so the session's next read sees them. Reads, sync, setWatches and the
//              watch operations wait until every earlier request is answered (per-session FIFO;
//              reply-order.ts), then read this replica's applied tree (zxid = its applied index).
//              sync first passes a ReadIndex barrier: the local tree then holds everything the
//              leader had committed when the sync arrived.
//   watches    registered on reads as ZooKeeper does (exists always, getData/getChildren only on
//              success); events reach the stream before any reply computed after their change.
//   auth       digest (user:password -> user:base64(sha1)); the super digest from config adds
//              the `super` identity; ip is the remote address from the start; anything else is
//              AuthFailed and the close, as ZooKeeper does.
// A write whose proposal fails (no leader, timeout) closes the connection: its outcome is unknown
// to us, and ZooKeeper's answer to that is ConnectionLoss and a reconnect elsewhere.
// Not offered: SASL (answered Unimplemented), reconfig (ReconfigDisabled), read-only mode.

import { type Acl, checkAcl, type Id } from '../../coord/acl.ts';
import { AddWatchMode, CreateMode, KeeperState, OpCode, Perm, ZkErr } from '../../coord/codes.ts';
import { javaSpread, javaStringHash, javaTableSize } from '../../coord/java-hash.ts';
import type { CoordCommand, CoordResult, WriteHeader } from '../../coord/command.ts';
import { negotiateTimeout, type SessionTimeoutPolicy } from '../../coord/session-tracker.ts';
import { digestId } from '../../coord/sha1.ts';
import type { OpResult, WriteOp, ZnodeTree } from '../../coord/tree.ts';
import type { WatchEvent } from '../../coord/watches.ts';
import type { ClientCloseReason, ClientConnection, Counter, Env } from '../../env/types.ts';
import { bytesEqual, utf8ByteLength } from '../../lib/bytes.ts';
import type { BaristaError } from '../../lib/errors.ts';
import { limits } from '../../lib/limits.ts';
import type { Reply } from '../../wire/pipeline.ts';
import type { CoordConfig } from './config.ts';
import { fourLetterReply, type FourLetterStats } from './four-letter.ts';
import { type Entry, ReplyOrder } from './reply-order.ts';
import type { RequestLatency } from './request-latency.ts';
import type { CoordRuntime, WatchTarget } from './server.ts';
import type { ZkBody, ZkIncoming, ZkOpResult, ZkReplyBody } from './zk-types.ts';

/** A ZooKeeper session password's length (ZooKeeper's are 16 bytes). */
export const PASSWD_BYTES = 16;

export type WriteOutcome =
  | { readonly ok: true; readonly index: number; readonly result: CoordResult }
  | { readonly ok: false; readonly error: BaristaError };

/** What a connection needs of its node (service.ts builds it over the coord group). */
export interface CoordBackend {
  readonly env: Env;
  readonly config: CoordConfig;
  readonly policy: SessionTimeoutPolicy;
  readonly runtime: CoordRuntime;
  tree(): ZnodeTree;
  appliedIndex(): number;
  submit(command: CoordCommand, done: (outcome: WriteOutcome) => void): void;
  /** A ReadIndex barrier: done once the local tree holds everything committed before the call. */
  sync(done: (error: BaristaError | undefined) => void): void;
  fourLetterStats(): FourLetterStats;
  /** srst: the node's request latency and packet counts start over. */
  resetStats(): void;
  /** Every request's time from receipt to reply (the 4lw latency fields). */
  readonly latency: RequestLatency;
  readonly counters: SessionCounters;
}

export interface SessionCounters {
  readonly connectsRefused: (reason: string) => Counter;
  readonly writeFailures: Counter;
  readonly sessionMoved: Counter;
  readonly authFailed: Counter;
  readonly packetsReceived: Counter;
  readonly packetsSent: Counter;
  readonly unknownOps: Counter;
}

/** What the handler needs of the wire (wire-facade.ts maps src/wire/zookeeper onto it). */
export interface ZkEncoder {
  connectResponse(r: {
    readonly timeOutMs: number;
    readonly sessionId: number;
    readonly passwd: Uint8Array;
    readonly readOnly: boolean | undefined;
  }): Uint8Array;
  /** A reply to a request of type `op` (the body is written only when err is 0). */
  reply(xid: number, zxid: number, err: number, op: number, body?: ZkReplyBody): Uint8Array;
  notification(type: number, state: number, path: string): Uint8Array;
}

const zeroPasswd = new Uint8Array(PASSWD_BYTES);
/** Owner tokens are drawn from [1, OWNER_MAX]: 48 bits, so two connections of a session never share one. */
const OWNER_MAX = 2 ** 48 - 1;

/** The `ip` scheme's id of a remote `host:port` (IPv6 in brackets; v4-mapped v6 as v4). */
export function ipOf(remoteAddress: string): string {
  let host = remoteAddress;
  if (host.startsWith('[')) host = host.slice(1, host.indexOf(']'));
  else if (host.lastIndexOf(':') > 0) host = host.slice(0, host.lastIndexOf(':'));
  return host.startsWith('::ffff:') ? host.slice(7) : host;
}

export class ZkSession implements WatchTarget {
  sessionId = 0;
  /**
   * This connection's owner token (random, drawn at its handshake): the session's owner in the
   * tree while this connection holds it, carried by every write so a write that arrives after the
   * session moved to another connection is refused at apply (SESSIONMOVED) on every replica.
   */
  owner = 0;
  private established = false;
  private readonly identities: Id[];
  private readonly order: ReplyOrder;
  private closed = false;
  /** Packets in and out, for `stat`. */
  received = 0;
  sent = 0;

  constructor(
    private readonly backend: CoordBackend,
    private readonly conn: ClientConnection,
    private readonly wire: ZkEncoder,
  ) {
    this.identities = [{ scheme: 'ip', id: ipOf(conn.remoteAddress) }];
    this.order = new ReplyOrder(
      (bytes) => {
        this.sent++;
        conn.write(bytes);
      },
      limits.coordQueuedNotificationsCountMax,
      () => this.close('notifications_overflow'),
      limits.coordQueuedNotificationsBytesMax,
    );
  }

  get remoteAddress(): string {
    return this.conn.remoteAddress;
  }

  /** What this session holds beside the pipeline: watch events waiting behind a reply. */
  get heldBytes(): number {
    return this.order.heldEventBytes;
  }

  get watcher(): number {
    return this.conn.id;
  }

  get pendingRequests(): number {
    return this.order.pending;
  }

  /** The pipeline's serve(): one decoded frame. */
  serve(incoming: ZkIncoming, reply: Reply): void {
    this.received++;
    const b = this.backend;
    b.counters.packetsReceived.inc();
    const clock = b.env.clock;
    const receivedMs = clock.monotonicMs();
    const fourLetter = incoming.kind === 'fourLetter';
    const entry = this.order.begin((bytes, options) => {
      this.sent++;
      b.counters.packetsSent.inc();
      // From receipt to reply, queueing behind earlier requests included (ZooKeeper's
      // request.createTime to FinalRequestProcessor's send); four-letter words are not requests.
      if (!fourLetter) b.latency.record(receivedMs, clock.monotonicMs());
      reply(bytes, options);
    });
    if (incoming.kind === 'fourLetter') {
      const text = fourLetterReply(
        incoming.word,
        b.config,
        () => b.fourLetterStats(),
        () => b.resetStats(),
      );
      this.order.answer(entry, new TextEncoder().encode(text), { thenClose: true });
      return;
    }
    if (incoming.kind === 'connect') {
      this.connect(entry, incoming);
      return;
    }
    const go = () => {
      if (!this.established) return this.close('request_before_connect');
      if (incoming.kind === 'request') return this.request(entry, incoming.xid, incoming.op, incoming.body);
      const unknown = incoming.kind === 'unknown';
      if (unknown) this.backend.counters.unknownOps.inc();
      this.order.afterEarlier(entry, () =>
        this.order.answer(
          entry,
          this.wire.reply(
            incoming.xid,
            // ZooKeeper's UnimplementedRequestProcessor answers zxid -1 (golden unknown-opcode.json).
            unknown ? -1 : this.backend.appliedIndex(),
            unknown ? ZkErr.unimplemented : ZkErr.marshallingError,
            incoming.op,
          ),
          { thenClose: unknown },
        ),
      );
    };
    // Requests pipelined behind the handshake wait for it.
    if (!this.established) this.order.afterEarlier(entry, go);
    else go();
  }

  /** The pipeline saw the connection close. */
  onClose(_reason: ClientCloseReason): void {
    this.closed = true;
    const rt = this.backend.runtime;
    if (rt.targets.get(this.watcher) === this) rt.targets.delete(this.watcher);
    rt.watches.removeWatcher(this.watcher);
  }

  notify(event: WatchEvent, _zxid: number): void {
    if (this.closed || !this.established) return;
    // ZooKeeper 3.8 sends an event only to a connection with READ on the node's ACL at the change
    // (its watch is used up either way): a watcher never learns of changes it could not read.
    if (event.acl !== undefined && !checkAcl(event.acl, Perm.read, this.identities)) return;
    this.order.notify(this.wire.notification(event.type, KeeperState.syncConnected, event.path));
  }

  close(_why: string): void {
    if (this.closed) return;
    this.closed = true;
    this.conn.close();
  }

  // --- handshake ---------------------------------------------------------------------------------

  private connect(entry: Entry, c: Extract<ZkIncoming, { kind: 'connect' }>): void {
    const b = this.backend;
    if (!b.runtime.leaderInContact) return this.refuse('no_leader');
    if (b.runtime.syncing) return this.refuse('syncing');
    if (c.lastZxidSeen > BigInt(b.appliedIndex())) return this.refuse('zxid_ahead');
    const answer = (timeOutMs: number, sessionId: number, passwd: Uint8Array, thenClose: boolean) =>
      this.order.answer(
        entry,
        this.wire.connectResponse({
          timeOutMs,
          sessionId,
          passwd,
          readOnly: c.readOnly === undefined ? undefined : false,
        }),
        { thenClose },
      );
    this.owner = 1 + b.env.rng.int(OWNER_MAX);
    if (c.sessionId === 0n) {
      const timeoutMs = negotiateTimeout(c.timeOutMs, b.policy);
      const passwd = b.env.rng.bytes(PASSWD_BYTES);
      b.submit({ type: 'createSession', timeoutMs, passwd, owner: this.owner }, (o) => {
        if (!o.ok || o.result.err !== ZkErr.ok) return this.writeFailed();
        b.runtime.waiters.wait(o.index, () => {
          if (this.closed) return;
          this.open(o.index);
          answer(timeoutMs, o.index, passwd, false);
        });
      });
      return;
    }
    const id = c.sessionId <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(c.sessionId) : -1;
    const session = b.tree().sessions.get(id);
    const expired = () => {
      b.counters.connectsRefused('session_expired').inc();
      answer(0, 0, zeroPasswd, true);
    };
    if (session === undefined || !bytesEqual(session.passwd, c.passwd)) return expired();
    // The move goes through the log (ZooKeeper revalidates with its leader, which sets the owner):
    // every replica then refuses the old connection's writes that apply after it, and the old
    // connection's node closes it. Answered once this replica applied it.
    b.submit({ type: 'setOwner', sessionId: id, owner: this.owner }, (o) => {
      if (!o.ok) return this.writeFailed();
      if (o.result.err !== ZkErr.ok) return expired(); // closed meanwhile
      b.runtime.waiters.wait(o.index, () => {
        if (this.closed) return;
        this.open(id);
        answer(session.timeoutMs, id, session.passwd, false);
      });
    });
  }

  private open(sessionId: number): void {
    const rt = this.backend.runtime;
    // The same session on another connection of this node: the old one is the client's past.
    for (const t of [...rt.targets.values()]) if (t.sessionId === sessionId && t !== this) t.close('session_moved');
    this.sessionId = sessionId;
    this.established = true;
    rt.targets.set(this.watcher, this);
    rt.touch(sessionId);
  }

  private refuse(reason: string): void {
    this.backend.counters.connectsRefused(reason).inc();
    this.close(reason);
  }

  /**
   * A write refused at apply because the session moved to another connection: ZooKeeper answers
   * nothing and closes the connection (FinalRequestProcessor: "session moved is a connection level
   * error"), so the client sees ConnectionLoss and reconnects to find where its session is.
   */
  private sessionMoved(): void {
    this.backend.counters.sessionMoved.inc();
    this.close('session_moved');
  }

  private writeFailed(): void {
    this.backend.counters.writeFailures.inc();
    this.close('write_failed');
  }

  // --- requests ----------------------------------------------------------------------------------

  private request(entry: Entry, xid: number, op: number, body: ZkBody): void {
    const b = this.backend;
    b.runtime.touch(this.sessionId);
    switch (op) {
      case OpCode.ping:
        this.answer(entry, xid, op, b.appliedIndex(), ZkErr.ok);
        return;
      case OpCode.closeSession:
        b.submit({ type: 'closeSession', sessionId: this.sessionId }, (o) => {
          if (!o.ok) return this.writeFailed();
          b.runtime.waiters.wait(o.index, () =>
            this.order.answer(entry, this.wire.reply(xid, o.index, ZkErr.ok, op), { thenClose: true }),
          );
        });
        return;
      case OpCode.create:
      case OpCode.create2:
      case OpCode.createContainer:
      case OpCode.createTTL:
      case OpCode.delete:
      case OpCode.setData:
      case OpCode.setACL:
      case OpCode.check:
        return this.writeOne(entry, xid, op, body);
      case OpCode.multi:
        return this.multi(entry, xid, body);
      case OpCode.reconfig:
        this.order.afterEarlier(entry, () => this.answer(entry, xid, op, b.appliedIndex(), ZkErr.reconfigDisabled));
        return;
      case OpCode.auth:
        return this.auth(entry, xid, body);
      default:
        if (b.env.mutations.has('coord-read-ahead-of-session')) return this.read(entry, xid, op, body);
        this.order.afterEarlier(entry, () => this.read(entry, xid, op, body));
    }
  }

  private answer(entry: Entry, xid: number, op: number, zxid: number, err: number, body?: ZkReplyBody): void {
    this.order.answer(entry, this.wire.reply(xid, zxid, err, op, err === ZkErr.ok ? body : undefined));
  }

  private header(): WriteHeader {
    // Whole milliseconds: ctime/mtime are jute longs (a simulated clock has fractions).
    return {
      timeMs: Math.floor(this.backend.env.clock.wallMs()),
      sessionId: this.sessionId,
      owner: this.owner,
      identities: this.identities,
    };
  }

  /**
   * A single write op as the tree takes it, or a ZooKeeper error to answer without proposing. The
   * tree's bounds (ACL entries here, ops per multi in multi()) are checked at the door: past one,
   * the command would be refused as malformed on every replica after a trip through the log, and
   * the client would only see its connection close. ZooKeeper has no such bounds: BadArguments.
   */
  private writeOp(op: number, body: ZkBody): WriteOp | ZkErr {
    if ((body.t === 'create' || body.t === 'setACL') && body.acl.length > limits.coordAclEntriesMax)
      return ZkErr.badArguments;
    switch (body.t) {
      case 'create': {
        const ttlMode =
          body.flags === CreateMode.persistentWithTtl || body.flags === CreateMode.persistentSequentialWithTtl;
        if ((op === OpCode.createTTL || ttlMode) && !this.backend.config.extendedTypesEnabled)
          return ZkErr.unimplemented;
        if (op === OpCode.createContainer && body.flags !== CreateMode.container) return ZkErr.badArguments;
        const mode = op === OpCode.createContainer ? CreateMode.container : body.flags;
        return {
          op: 'create',
          path: body.path,
          data: body.data,
          acl: body.acl,
          mode,
          ttlMs: op === OpCode.createTTL ? body.ttl : -1,
        };
      }
      case 'delete':
        return { op: 'delete', path: body.path, version: body.version };
      case 'setData': {
        const skip = this.backend.env.mutations.has('coord-setdata-skip-version-check');
        return { op: 'setData', path: body.path, data: body.data, version: skip ? -1 : body.version };
      }
      case 'setACL':
        return { op: 'setACL', path: body.path, acl: body.acl, version: body.version };
      case 'check':
        return { op: 'check', path: body.path, version: body.version };
      default:
        return ZkErr.badArguments;
    }
  }

  private writeOne(entry: Entry, xid: number, op: number, body: ZkBody): void {
    const b = this.backend;
    const w = this.writeOp(op, body);
    if (typeof w === 'number') {
      this.order.afterEarlier(entry, () => this.answer(entry, xid, op, b.appliedIndex(), w));
      return;
    }
    b.submit({ type: 'write', header: this.header(), op: w }, (o) => {
      if (!o.ok) return this.writeFailed();
      const r = o.result.op ?? { err: o.result.err };
      if (r.err === ZkErr.sessionMoved) return this.sessionMoved();
      b.runtime.waiters.wait(o.index, () => {
        this.answer(entry, xid, op, o.index, r.err, writeReply(op, r));
      });
    });
  }

  private multi(entry: Entry, xid: number, body: ZkBody): void {
    const b = this.backend;
    if (body.t !== 'multi') {
      this.order.afterEarlier(entry, () => this.answer(entry, xid, OpCode.multi, b.appliedIndex(), ZkErr.badArguments));
      return;
    }
    if (body.ops.length > limits.coordMultiOpsMax) {
      this.order.afterEarlier(entry, () => this.answer(entry, xid, OpCode.multi, b.appliedIndex(), ZkErr.badArguments));
      return;
    }
    // An op refused at the door still goes through the log, as a 'fail' op: the ops before it are
    // checked first, and the failure is answered in its place (ZooKeeper checks each in turn).
    const ops: WriteOp[] = body.ops.map((o) => {
      const w = this.writeOp(o.op, o.body);
      return typeof w === 'number' ? { op: 'fail', err: w } : w;
    });
    b.submit({ type: 'multi', header: this.header(), ops }, (o) => {
      if (!o.ok) return this.writeFailed();
      const raw = o.result.results ?? [];
      if (raw.some((r) => r.err === ZkErr.sessionMoved)) return this.sessionMoved();
      b.runtime.waiters.wait(o.index, () => {
        // A failed multi answers every op as an ErrorResult: 0 for those before the failure, the
        // failure's code, RuntimeInconsistency after it (ZooKeeper 3.8, golden capture).
        const failed = raw.some((r) => r.err !== ZkErr.ok);
        const results: ZkOpResult[] = raw.map((r, i) =>
          failed ? { op: OpCode.error, err: r.err } : multiResult(body.ops[i]!.op, r),
        );
        // ZooKeeper answers a multi with err 0 in the header; the failure is in the results.
        this.order.answer(entry, this.wire.reply(xid, o.index, ZkErr.ok, OpCode.multi, { t: 'multi', results }));
      });
    });
  }

  private auth(entry: Entry, xid: number, body: ZkBody): void {
    const b = this.backend;
    this.order.afterEarlier(entry, () => {
      if (body.t !== 'auth') return this.answer(entry, xid, OpCode.auth, 0, ZkErr.badArguments);
      if (body.scheme === 'digest') {
        const id = digestId(new TextDecoder().decode(body.auth));
        // Every write's command carries the identities: one longer than the bound is refused here.
        if (utf8ByteLength(id) > limits.coordIdentityBytesMax)
          return this.answer(entry, xid, OpCode.auth, 0, ZkErr.authFailed);
        if (!this.identities.some((i) => i.scheme === 'digest' && i.id === id)) {
          // Every write carries the identities, and the tree refuses more than this bound (with a
          // spare place for `super`): past it, refuse the addauth rather than every later write.
          if (this.identities.length >= limits.coordIdentityEntriesMax - 1)
            return this.answer(entry, xid, OpCode.auth, 0, ZkErr.authFailed);
          this.identities.push({ scheme: 'digest', id });
        }
        if (
          b.config.superDigest !== undefined &&
          id === b.config.superDigest &&
          !this.identities.some((i) => i.scheme === 'super')
        )
          this.identities.push({ scheme: 'super', id: '' });
        this.answer(entry, xid, OpCode.auth, 0, ZkErr.ok);
        return;
      }
      if (body.scheme === 'ip') {
        this.answer(entry, xid, OpCode.auth, 0, ZkErr.ok);
        return;
      }
      b.counters.authFailed.inc();
      this.order.answer(entry, this.wire.reply(xid, 0, ZkErr.authFailed, OpCode.auth), { thenClose: true });
    });
  }

  /** Everything answered from the local applied tree (after every earlier request). */
  private read(entry: Entry, xid: number, op: number, body: ZkBody): void {
    const b = this.backend;
    const tree = b.tree();
    const zxid = b.appliedIndex();
    const watches = b.runtime.watches;
    const ids = this.identities;
    const reply = (err: number, replyBody?: ZkReplyBody) => this.answer(entry, xid, op, zxid, err, replyBody);
    const watchRefused = (r: string) => r !== 'ok';
    switch (op) {
      case OpCode.exists: {
        if (body.t !== 'path') return reply(ZkErr.badArguments);
        if (body.watch && watchRefused(watches.addDataWatch(this.watcher, body.path))) return reply(ZkErr.systemError);
        const r = tree.exists(body.path);
        return r.stat ? reply(ZkErr.ok, { t: 'stat', stat: r.stat }) : reply(r.err);
      }
      case OpCode.getData: {
        if (body.t !== 'path') return reply(ZkErr.badArguments);
        const r = tree.getData(body.path, ids);
        if (r.err !== ZkErr.ok || r.value === undefined || r.stat === undefined) return reply(r.err);
        if (body.watch && watchRefused(watches.addDataWatch(this.watcher, body.path))) return reply(ZkErr.systemError);
        return reply(ZkErr.ok, { t: 'data', data: r.value, stat: r.stat });
      }
      case OpCode.getChildren:
      case OpCode.getChildren2: {
        if (body.t !== 'path') return reply(ZkErr.badArguments);
        const r = tree.getChildren(body.path, ids);
        if (r.err !== ZkErr.ok || r.value === undefined || r.stat === undefined) return reply(r.err);
        if (body.watch && watchRefused(watches.addChildWatch(this.watcher, body.path))) return reply(ZkErr.systemError);
        if (op === OpCode.getChildren) return reply(ZkErr.ok, { t: 'children', children: r.value });
        return reply(ZkErr.ok, { t: 'children2', children: r.value, stat: r.stat });
      }
      case OpCode.getACL: {
        if (body.t !== 'path') return reply(ZkErr.badArguments);
        const r = tree.getACL(body.path, ids);
        if (r.err !== ZkErr.ok || r.value === undefined || r.stat === undefined) return reply(r.err);
        return reply(ZkErr.ok, { t: 'acl', acl: r.value as Acl[], stat: r.stat });
      }
      case OpCode.getAllChildrenNumber: {
        if (body.t !== 'path') return reply(ZkErr.badArguments);
        const r = tree.getAllChildrenNumber(body.path, ids);
        return r.err !== ZkErr.ok ? reply(r.err) : reply(ZkErr.ok, { t: 'int', n: r.value ?? 0 });
      }
      case OpCode.getEphemerals: {
        if (body.t !== 'path') return reply(ZkErr.badArguments);
        return reply(ZkErr.ok, { t: 'strings', list: tree.getEphemerals(this.sessionId, body.path) });
      }
      case OpCode.multiRead: {
        if (body.t !== 'multiRead') return reply(ZkErr.badArguments);
        const ops = body.ops.map((o) => ({
          op: o.op === OpCode.getData ? ('getData' as const) : ('getChildren' as const),
          path: o.path,
        }));
        const results = tree.multiRead(ops, ids).map((r, i) => {
          if (r.err !== ZkErr.ok) return { op: OpCode.error, err: r.err };
          const op = body.ops[i]!.op;
          return op === OpCode.getData
            ? { op, err: 0, data: r.value as Uint8Array, ...(r.stat ? { stat: r.stat } : {}) }
            : { op, err: 0, children: r.value as string[] };
        });
        return reply(ZkErr.ok, { t: 'multiRead', results });
      }
      case OpCode.sync: {
        if (body.t !== 'path') return reply(ZkErr.badArguments);
        const path = body.path;
        b.sync((error) => {
          if (error !== undefined) return this.writeFailed();
          this.answer(entry, xid, op, b.appliedIndex(), ZkErr.ok, { t: 'path', path });
        });
        return;
      }
      case OpCode.setWatches:
      case OpCode.setWatches2: {
        if (body.t !== 'setWatches') return reply(ZkErr.badArguments);
        const rel =
          body.relativeZxid > BigInt(Number.MAX_SAFE_INTEGER) || b.env.mutations.has('coord-setwatches-ignore-missed')
            ? Number.MAX_SAFE_INTEGER
            : Number(body.relativeZxid);
        const { events } = watches.setWatches(this.watcher, rel, body, (path) => {
          const r = tree.record(path);
          return r === undefined ? undefined : { mzxid: r.mzxid, pzxid: r.pzxid };
        });
        for (const e of events) this.notify(e, zxid);
        // The request's own xid: node-zookeeper-client numbers its setWatches like any request.
        return this.answer(entry, xid, op, zxid, ZkErr.ok);
      }
      case OpCode.checkWatches:
      case OpCode.removeWatches: {
        if (body.t !== 'watchType') return reply(ZkErr.badArguments);
        const found =
          op === OpCode.checkWatches
            ? watches.contains(this.watcher, body.path, body.type)
            : watches.remove(this.watcher, body.path, body.type);
        return reply(found ? ZkErr.ok : ZkErr.noWatcher);
      }
      case OpCode.addWatch: {
        if (body.t !== 'addWatch') return reply(ZkErr.badArguments);
        if (body.mode !== AddWatchMode.persistent && body.mode !== AddWatchMode.persistentRecursive)
          return reply(ZkErr.badArguments);
        const r = watches.addPersistentWatch(this.watcher, body.path, body.mode === AddWatchMode.persistentRecursive);
        return watchRefused(r) ? reply(ZkErr.systemError) : reply(ZkErr.ok, { t: 'int', n: 0 });
      }
      case OpCode.whoAmI: {
        const infos = javaHashSetOrder(this.identities).map((i) => ({
          authScheme: i.scheme,
          user: i.scheme === 'digest' ? i.id.slice(0, Math.max(0, i.id.indexOf(':'))) : i.id,
        }));
        return reply(ZkErr.ok, { t: 'whoAmI', infos });
      }
      default:
        return reply(ZkErr.unimplemented);
    }
  }
}

/** The reply body of a single write op that succeeded. */
function writeReply(op: number, r: OpResult): ZkReplyBody | undefined {
  switch (op) {
    case OpCode.create:
      return { t: 'path', path: r.path ?? '' };
    case OpCode.create2:
    case OpCode.createContainer:
    case OpCode.createTTL:
      return r.stat ? { t: 'pathStat', path: r.path ?? '', stat: r.stat } : undefined;
    case OpCode.setData:
    case OpCode.setACL:
      return r.stat ? { t: 'stat', stat: r.stat } : undefined;
    default:
      return undefined; // delete, check: the header alone
  }
}

/** A multi's per-op result as ZooKeeper types it (create2/TTL/container answer as create2). */
function multiResult(op: number, r: OpResult): ZkOpResult {
  if (r.err !== ZkErr.ok) return { op: OpCode.error, err: r.err };
  switch (op) {
    case OpCode.create:
      return { op, err: 0, path: r.path ?? '' };
    case OpCode.create2:
    case OpCode.createContainer:
    case OpCode.createTTL:
      return { op: OpCode.create2, err: 0, path: r.path ?? '', ...(r.stat ? { stat: r.stat } : {}) };
    case OpCode.setData:
      return { op, err: 0, ...(r.stat ? { stat: r.stat } : {}) };
    default:
      return { op, err: 0 };
  }
}

/**
 * The identities in the order ZooKeeper lists a connection's authInfo (whoAmI): it keeps them in a
 * set over a ConcurrentHashMap, so they come out by hash bucket (jute's Id.hashCode, spread, in a
 * table of 16 for the few identities a connection holds), ties in insertion order. zkCli prints
 * them in that order, so a user (and the compatibility harness) sees the same lines as on ZooKeeper.
 */
export function javaHashSetOrder(ids: readonly Id[]): Id[] {
  const table = javaTableSize(ids.length);
  const bucket = (i: Id) => {
    const h = (Math.imul(Math.imul(17, 37) + javaStringHash(i.scheme), 37) + javaStringHash(i.id)) | 0;
    return javaSpread(h) & (table - 1);
  };
  return ids
    .map((id, at) => ({ id, at, b: bucket(id) }))
    .sort((x, y) => x.b - y.b || x.at - y.at)
    .map((x) => x.id);
}
