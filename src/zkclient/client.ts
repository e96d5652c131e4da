// Baristas' own ZooKeeper client: one session over one connection at a time, on the codec of
// src/wire/zookeeper. It runs in real processes (src/net/zk-tcp.ts gives it node:net streams and
// real timers) and in the deterministic simulator (the simulator's client connections and the
// node's Env timers), because all of its I/O comes in through ZkClientIo: a clock, timers and
// `connect(endpoint) -> byte stream`. No node:* import, no global timer, no Date.now here.
//
// The session, as ZooKeeper's own client keeps it (ClientCnxn):
//   - connect: the endpoints of the connect string in turn (from a seeded start when an Rng is
//     given), each attempt bounded by requestedTimeout / endpointCount; a ConnectRequest carries
//     sessionId + passwd + lastZxidSeen, so a reconnect resumes the session (its ephemerals and
//     watches survive) and a server behind our last-seen zxid refuses us (we try the next one).
//     After a whole round fails the client waits reconnectDelayMs before the next round. After
//     losing an established connection it waits a random [0, reconnectJitterMs) first (as the Java
//     client's up-to-1 s sleep): clients dropped together do not return in one herd, and a session
//     another connection just took over (ZooKeeper closes the older connection) is not grabbed back
//     before that connection's requests (a closeSession) are served.
//   - the server's ConnectResponse with a timeout <= 0 means the session expired: terminal.
//   - connected: a ping when nothing was sent for a third of the negotiated timeout; no byte
//     received for two thirds of it closes the connection (the server is gone or cut off) and the
//     client moves on to the next endpoint.
//   - requests are pipelined, each with the next xid; the server answers in order, so a reply must
//     match the oldest request in flight (else the stream is broken: reconnect). Notifications
//     (xid -1) fire the watchers; pings (-2), auth (-4) and setWatches (-8) have reserved xids.
//   - after a reconnect, before any queued request: setWatches2 with relativeZxid = lastZxidSeen
//     re-registers every watch (the server fires at once what changed meanwhile), then every
//     addAuth credential is sent again (credentials belong to the connection on the server).
//
// Ordering contract: replies settle their promises and watch events are delivered as microtasks in
// wire order, so a watcher runs before the continuation of any reply that followed its event.
//
// Request fates (ZkError.zkErr):
//   connection lost with the request in flight: connectionLoss (indefinite for writes);
//   queued while disconnected: sent after the reconnect; failed with connectionLoss (definite)
//     once the client has been disconnected for the session timeout (it cannot know the session
//     still lives), and new requests then fail at once until a connection is back;
//   session expired / auth failed / close(): sessionExpired / authFailed / closing for the rest.
//
// Bounds (src/lib/limits.ts): zkClientInflightRequestsMax (more wait in the queue),
// zkClientQueuedRequestsMax and zkClientQueuedBytesMax (more are refused with a LimitError),
// zkClientWatchesCountMax, zkClientEndpointsCountMax, zkClientAuthEntriesMax, zkPacketBytesMax per frame.

import { AddWatchMode, EventType, KeeperState, OpCode, WatcherType, Xid, ZkErr } from '../coord/codes.ts';
import type { Clock, Rng, Timer, Timers } from '../env/types.ts';
import { ConfigError, LimitError, ProtocolError } from '../lib/errors.ts';
import { limits as defaultLimits, type Limits } from '../lib/limits.ts';
import {
  encodeConnectRequest,
  encodeRequest,
  type Acl,
  type ClientInfo,
  type ReplyHeader,
  type ResponseBody,
  type ResponseType,
  type ZkClientReply,
  ZkReplyDecoder,
} from '../wire/zookeeper/index.ts';
import {
  type CreateOptions,
  type ZkCall,
  zkCalls,
  type ZkData,
  type ZkDone,
  type ZkOp,
  type ZkOpResult,
  type ZkReadOp,
  type ZkStat,
  bytesOf,
} from './calls.ts';
import { ZkError } from './errors.ts';
import { type WatchKind, WatchManager, sessionEndEvent, type ZkWatchEvent, type ZkWatcher } from './watches.ts';

export type { ZkWatchEvent, ZkWatcher } from './watches.ts';
export {
  type CreateOptions,
  openAclUnsafe,
  type ZkCall,
  zkCalls,
  type ZkData,
  type ZkDone,
  type ZkOp,
  type ZkOpResult,
  type ZkReadOp,
  type ZkStat,
} from './calls.ts';

/** One byte stream to a server (a TCP socket, or a simulated client connection). */
export interface ZkByteStream {
  onOpen(handler: () => void): void;
  onData(handler: (chunk: Uint8Array) => void): void;
  /** Called once when the stream ends for any reason (also after our own close()). */
  onClose(handler: (reason: string) => void): void;
  write(bytes: Uint8Array): void;
  close(): void;
}

/** Everything the client touches of the world. */
export interface ZkClientIo {
  readonly clock: Pick<Clock, 'monotonicMs'>;
  readonly timers: Timers;
  /** Opens a stream to `endpoint` (an entry of the connect string: host:port, or a simulated node id). */
  connect(endpoint: string): ZkByteStream;
  /** When given, the first endpoint tried is drawn from it (spreads clients over servers). */
  readonly rng?: Rng;
}

export type ZkClientLimits = Pick<
  Limits,
  | 'zkClientInflightRequestsMax'
  | 'zkClientQueuedRequestsMax'
  | 'zkClientQueuedBytesMax'
  | 'zkClientWatchesCountMax'
  | 'zkClientEndpointsCountMax'
  | 'zkClientAuthEntriesMax'
  | 'zkClientSetWatchesBytesMax'
  | 'zkPacketBytesMax'
>;

export interface ZkClientOptions {
  /** 'host:port,host:port' or a list of endpoints. */
  readonly connectString: string | readonly string[];
  /** The session timeout asked for; the server negotiates it into its [min, max]. */
  readonly sessionTimeoutMs: number;
  readonly io: ZkClientIo;
  /** Pause after a whole round of failed connects; default 200 ms. */
  readonly reconnectDelayMs?: number;
  /**
   * Upper bound of the random pause before the first reconnect after an established connection
   * is lost; default 1,000 ms (ZooKeeper's Java client). Drawn from io.rng; 0 without one.
   */
  readonly reconnectJitterMs?: number;
  /** Resume an existing session (its id and password), e.g. one another client started. */
  readonly session?: { readonly sessionId: bigint; readonly passwd: Uint8Array };
  readonly limits?: Partial<ZkClientLimits>;
  /**
   * How watch events and state changes reach their listeners: 'microtask' (default; in wire order
   * with the settlements of reply promises) or 'sync' (called while the bytes are decoded, for
   * synchronous drivers such as a simulator workload using callWith; a listener that throws then
   * throws into the stream's onData).
   */
  readonly delivery?: 'microtask' | 'sync';
}

export type ZkClientState = 'connecting' | 'connected' | 'closed' | 'expired' | 'authFailed';

/** A session state change (KeeperState) as state listeners see it. */
export interface ZkStateEvent {
  readonly state: number;
  readonly endpoint: string | null;
}

interface Pending {
  readonly xid: number;
  readonly type: ResponseType;
  readonly frame: Uint8Array;
  readonly op: string;
  readonly path: string | null;
  readonly write: boolean;
  sent: boolean;
  /** Settles the caller's promise from the reply (never throws). */
  readonly answer: (header: ReplyHeader, body: ResponseBody | null) => void;
  readonly fail: (error: ZkError | LimitError) => void;
}

interface AuthInfo {
  readonly scheme: string;
  readonly auth: Uint8Array;
  waiter: { resolve: () => void; reject: (e: ZkError) => void } | null;
}

/** One connection attempt or live connection; events of an older one are ignored. */
interface Conn {
  readonly endpoint: string;
  readonly stream: ZkByteStream;
  readonly decoder: ZkReplyDecoder;
  handshakeDone: boolean;
  closed: boolean;
  lastSendMs: number;
  lastReceiveMs: number;
  /** Auth packets sent on this connection, oldest first, waiting for their -4 reply. */
  readonly authSent: AuthInfo[];
}

const utf8 = new TextEncoder();
const zeroPasswd = new Uint8Array(16);
const xidMax = 0x7fff_ffff;

/** Parses a connect string ('h1:p1,h2:p2'); a chroot suffix ('/app') is not supported. */
export function parseConnectString(connectString: string | readonly string[]): string[] {
  const list = typeof connectString === 'string' ? connectString.split(',') : [...connectString];
  const out = list.map((s) => s.trim()).filter((s) => s.length > 0);
  if (out.length === 0) throw new ConfigError('connectString', 'names no server');
  if (out.some((s) => s.includes('/'))) throw new ConfigError('connectString', 'a chroot suffix is not supported');
  return out;
}

export class ZkClient {
  private readonly io: ZkClientIo;
  private readonly endpoints: string[];
  private readonly requestedTimeoutMs: number;
  private readonly reconnectDelayMs: number;
  private readonly reconnectJitterMs: number;
  private readonly delivery: 'microtask' | 'sync';
  private readonly limits: ZkClientLimits;
  private readonly watches = new WatchManager();
  private readonly stateListeners = new Set<(e: ZkStateEvent) => void>();
  private readonly auths: AuthInfo[] = [];
  /** Sent, not yet answered, oldest first (replies come in this order). */
  private readonly inflight: Pending[] = [];
  /** Not yet sent, in xid order. */
  private readonly queue: Pending[] = [];
  private queuedBytes = 0;
  private conn: Conn | null = null;
  private nextXid = 1;
  private endpointIndex: number;
  private failedAttempts = 0;
  private attemptTimer: Timer | null = null;
  private tickTimer: Timer | null = null;
  private disconnectTimer: Timer | null = null;
  /** Disconnected for longer than the session timeout: new requests fail at once. */
  private disconnectedTooLong = false;
  private readyWaiters: Array<{ resolve: () => void; reject: (e: ZkError) => void }> = [];
  /** close() has sent closeSession: no new requests, and the server's hang-up ends the session. */
  private closing = false;

  state: ZkClientState = 'connecting';
  sessionId = 0n;
  sessionPasswd: Uint8Array = zeroPasswd;
  /** The timeout the server granted (0 before the first connection). */
  negotiatedTimeoutMs = 0;
  /** The highest zxid of any reply (sent back on reconnect: no server behind it serves us). */
  lastZxidSeen = 0n;

  constructor(options: ZkClientOptions) {
    this.io = options.io;
    this.limits = { ...defaultLimits, ...options.limits };
    this.endpoints = parseConnectString(options.connectString);
    if (this.endpoints.length > this.limits.zkClientEndpointsCountMax) {
      throw new ConfigError('connectString', `names more than ${this.limits.zkClientEndpointsCountMax} servers`);
    }
    if (!(Number.isInteger(options.sessionTimeoutMs) && options.sessionTimeoutMs > 0)) {
      throw new ConfigError('sessionTimeoutMs', `must be a positive integer, got ${options.sessionTimeoutMs}`);
    }
    this.requestedTimeoutMs = options.sessionTimeoutMs;
    this.reconnectDelayMs = options.reconnectDelayMs ?? 200;
    this.reconnectJitterMs = options.reconnectJitterMs ?? 1_000;
    this.delivery = options.delivery ?? 'microtask';
    if (options.session !== undefined) {
      this.sessionId = options.session.sessionId;
      this.sessionPasswd = options.session.passwd;
    }
    this.endpointIndex = options.io.rng === undefined ? 0 : options.io.rng.int(this.endpoints.length);
    this.attemptTimer = this.io.timers.after(0, () => this.attempt());
    this.startDisconnectTimer(); // a client that never connects fails its queued requests too
  }

  /** The endpoint of the live connection, or null. */
  get connectedEndpoint(): string | null {
    return this.state === 'connected' && this.conn !== null ? this.conn.endpoint : null;
  }

  /** Requests sent and not yet answered, and requests waiting to be sent. */
  get pendingRequests(): { inflight: number; queued: number; queuedBytes: number } {
    return { inflight: this.inflight.length, queued: this.queue.length, queuedBytes: this.queuedBytes };
  }

  get watcherCount(): number {
    return this.watches.count;
  }

  /** Resolves once connected (now, or at the next connection); rejects if the session ends first. */
  ready(): Promise<void> {
    if (this.state === 'connected') return Promise.resolve();
    const ended = this.endedError('ready', null);
    if (ended !== null) return Promise.reject(ended);
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  /** Listens to session state changes; returns the unsubscribe function. */
  onState(listener: (e: ZkStateEvent) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  // ---- operations (promise sugar over zkCalls; see calls.ts) -------------------------------------

  /** Creates a node; resolves with its path (with the sequence suffix for sequential modes). */
  create(path: string, data?: ZkData, options: CreateOptions = {}): Promise<string> {
    return this.call(zkCalls.create(path, data, options));
  }
  /** Creates a node and returns its Stat too. */
  create2(path: string, data?: ZkData, options: CreateOptions = {}): Promise<{ path: string; stat: ZkStat }> {
    return this.call(zkCalls.create2(path, data, options));
  }
  delete(path: string, version = -1): Promise<void> {
    return this.call(zkCalls.delete(path, version));
  }
  /** The node's Stat, or null when it does not exist; a watcher fires on its creation, change or deletion. */
  exists(path: string, watcher?: ZkWatcher): Promise<ZkStat | null> {
    return this.call(zkCalls.exists(path, watcher));
  }
  getData(path: string, watcher?: ZkWatcher): Promise<{ data: Uint8Array; stat: ZkStat }> {
    return this.call(zkCalls.getData(path, watcher));
  }
  setData(path: string, data: ZkData, version = -1): Promise<ZkStat> {
    return this.call(zkCalls.setData(path, data, version));
  }
  getACL(path: string): Promise<{ acl: readonly Acl[]; stat: ZkStat }> {
    return this.call(zkCalls.getACL(path));
  }
  setACL(path: string, acl: readonly Acl[], version = -1): Promise<ZkStat> {
    return this.call(zkCalls.setACL(path, acl, version));
  }
  /** getChildren2: the children (in the server's order) and the parent's Stat. */
  getChildren(path: string, watcher?: ZkWatcher): Promise<{ children: string[]; stat: ZkStat }> {
    return this.call(zkCalls.getChildren(path, watcher));
  }
  /** Waits until the server this client reads from has caught up with the leader. */
  sync(path: string): Promise<string> {
    return this.call(zkCalls.sync(path));
  }
  /** All or nothing; a failure rejects with a ZkError whose `results` hold every op's outcome. */
  multi(ops: readonly ZkOp[]): Promise<ZkOpResult[]> {
    return this.call(zkCalls.multi(ops));
  }
  /** Reads in one round trip; a failed read is an `error` entry, the others still answer. */
  multiRead(ops: readonly ZkReadOp[]): Promise<ZkOpResult[]> {
    return this.call(zkCalls.multiRead(ops));
  }
  /** This session's ephemeral nodes whose paths start with `prefixPath`. */
  getEphemerals(prefixPath = '/'): Promise<string[]> {
    return this.call(zkCalls.getEphemerals(prefixPath));
  }
  getAllChildrenNumber(path: string): Promise<number> {
    return this.call(zkCalls.getAllChildrenNumber(path));
  }
  /** A watch that stays until removed (AddWatchMode.persistent or persistentRecursive). */
  addWatch(path: string, watcher: ZkWatcher, mode: number = AddWatchMode.persistent): Promise<void> {
    return this.call(zkCalls.addWatch(path, watcher, mode));
  }
  /** The identities the server holds for this connection (ip, digest users, ...). */
  whoAmI(): Promise<ClientInfo[]> {
    return this.call(zkCalls.whoAmI());
  }

  /**
   * Removes `watcher` (or, without one, every watcher) of `watcherType` at `path`; each removed
   * watcher hears a *WatchRemoved event. The server is told when no watcher of that kind is left.
   * NoWatcher when there was none here.
   */
  removeWatches(path: string, watcherType: number, watcher?: ZkWatcher): Promise<void> {
    const kinds: WatchKind[] =
      watcherType === WatcherType.children
        ? ['child']
        : watcherType === WatcherType.data
          ? ['data', 'exist']
          : ['data', 'exist', 'child', 'persistent', 'persistentRecursive'];
    if (!kinds.some((k) => this.watches.has(k, path, watcher))) {
      return Promise.reject(new ZkError(ZkErr.noWatcher, { op: 'removeWatches', path }));
    }
    const removed: Array<{ w: ZkWatcher; type: number }> = [];
    for (const k of kinds) {
      const type =
        k === 'child'
          ? EventType.childWatchRemoved
          : k === 'data' || k === 'exist'
            ? EventType.dataWatchRemoved
            : EventType.persistentWatchRemoved;
      for (const w of this.watches.remove(k, path, watcher)) removed.push({ w, type });
    }
    const stillWatched = kinds.some((k) => this.watches.has(k, path));
    const notify = (): void => {
      for (const { w, type } of removed) this.deliver(w, { type, state: KeeperState.syncConnected, path });
    };
    if (stillWatched) {
      notify();
      return Promise.resolve();
    }
    return this.call({
      body: { type: OpCode.removeWatches, path, watcherType },
      op: 'removeWatches',
      path,
      write: false,
      ok: notify,
      // The server may have dropped its side already (the watch fired meanwhile).
      onErr: (err) => (err === ZkErr.noWatcher ? { value: notify() } : undefined),
    });
  }

  /**
   * Adds a credential (scheme 'digest', auth 'user:password'); kept and sent again on every
   * reconnect. Resolves when the server accepted it; AuthFailed ends the session (the server
   * closes the connection, as ZooKeeper does).
   */
  addAuth(scheme: string, auth: ZkData): Promise<void> {
    const ended = this.endedError('addAuth', null);
    if (ended !== null) return Promise.reject(ended);
    if (this.auths.length >= this.limits.zkClientAuthEntriesMax) {
      return Promise.reject(
        new LimitError('zkClientAuthEntriesMax', `more than ${this.limits.zkClientAuthEntriesMax} credentials`),
      );
    }
    return new Promise((resolve, reject) => {
      const info: AuthInfo = { scheme, auth: bytesOf(auth), waiter: { resolve, reject } };
      this.auths.push(info);
      if (this.state === 'connected' && this.conn !== null) this.sendAuth(this.conn, info);
    });
  }

  /** Ends the session (its ephemerals go at once) and the connection. */
  close(): Promise<void> {
    if (this.state === 'closed' || this.state === 'expired' || this.state === 'authFailed') return Promise.resolve();
    if (this.state !== 'connected') {
      this.end('closed');
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const finish = (): void => {
        timer.cancel();
        this.end('closed');
        resolve();
      };
      const timer = this.io.timers.after(Math.max(1, this.negotiatedTimeoutMs), finish);
      const sent = this.call({
        body: { type: OpCode.closeSession },
        op: 'close',
        path: null,
        write: true,
        ok: () => undefined,
      });
      this.closing = true;
      sent.then(finish, finish);
    });
  }

  // ---- requests --------------------------------------------------------------------------------

  /** Runs `c`; the promise settles when the reply is decoded (or the request fails). */
  call<T>(c: ZkCall<T>): Promise<T> {
    return new Promise<T>((resolve, reject) =>
      this.callWith(c, (error, value) => (error === null ? resolve(value as T) : reject(error))),
    );
  }

  /**
   * Runs `c` with a callback, called exactly once: synchronously when the call cannot be sent
   * (ended session, a bound), else when its reply is decoded or its connection or session ends.
   */
  callWith<T>(c: ZkCall<T>, done: ZkDone<T>): void {
    const { op, path } = c;
    const ended = this.endedError(op, path);
    if (ended !== null) return done(ended);
    if (this.closing && c.body.type !== OpCode.closeSession) return done(new ZkError(ZkErr.closing, { op, path }));
    if (this.disconnectedTooLong) return done(new ZkError(ZkErr.connectionLoss, { op, path }));
    if (c.watch !== undefined && this.watches.count >= this.limits.zkClientWatchesCountMax) {
      return done(
        new LimitError('zkClientWatchesCountMax', `${op} ${path}: the client holds ${this.watches.count} watchers`),
      );
    }
    if (this.queue.length >= this.limits.zkClientQueuedRequestsMax) {
      return done(new LimitError('zkClientQueuedRequestsMax', `${this.queue.length} ZooKeeper requests are queued`));
    }
    const xid = this.nextXid;
    this.nextXid = xid >= xidMax ? 1 : xid + 1;
    const frame = encodeRequest(xid, c.body);
    if (frame.length - 4 > this.limits.zkPacketBytesMax) {
      return done(
        new LimitError(
          'zkPacketBytesMax',
          `${op} ${path ?? ''}: a ${frame.length - 4}-byte request is over the frame bound`,
        ),
      );
    }
    const pending: Pending = {
      xid,
      type: c.body.type as ResponseType,
      frame,
      op,
      path,
      write: c.write,
      sent: false,
      answer: (header, responseBody) => {
        let value: T;
        try {
          if (header.err === ZkErr.ok) {
            value = c.ok(responseBody);
            if (c.watch !== undefined && path !== null) this.watches.add(c.watch.onOk, path, c.watch.watcher);
          } else {
            const alt = c.onErr?.(header.err);
            if (alt === undefined) return done(new ZkError(header.err, { op, path }));
            if (header.err === ZkErr.noNode && c.watch?.onNoNode !== undefined && path !== null) {
              this.watches.add(c.watch.onNoNode, path, c.watch.watcher);
            }
            value = alt.value;
          }
        } catch (e) {
          return done(e instanceof Error ? e : new Error(String(e)));
        }
        done(null, value);
      },
      fail: (error) => done(error),
    };
    if (
      this.state === 'connected' &&
      this.queue.length === 0 &&
      this.inflight.length < this.limits.zkClientInflightRequestsMax
    ) {
      this.send(pending);
      return;
    }
    if (this.queuedBytes + frame.length > this.limits.zkClientQueuedBytesMax) {
      return done(
        new LimitError('zkClientQueuedBytesMax', `${this.queuedBytes} bytes of ZooKeeper requests are queued`),
      );
    }
    this.queue.push(pending);
    this.queuedBytes += frame.length;
  }

  private send(p: Pending): void {
    const conn = this.conn!;
    p.sent = true;
    this.inflight.push(p);
    this.write(conn, p.frame);
  }

  private write(conn: Conn, frame: Uint8Array): void {
    conn.lastSendMs = this.io.clock.monotonicMs();
    conn.stream.write(frame);
  }

  /** Moves queued requests into flight while the window has room. */
  private flushQueue(): void {
    while (
      this.state === 'connected' &&
      this.queue.length > 0 &&
      this.inflight.length < this.limits.zkClientInflightRequestsMax
    ) {
      const p = this.queue.shift()!;
      this.queuedBytes -= p.frame.length;
      this.send(p);
    }
  }

  private endedError(op: string, path: string | null): ZkError | null {
    switch (this.state) {
      case 'closed':
        return new ZkError(ZkErr.closing, { op, path });
      case 'expired':
        return new ZkError(ZkErr.sessionExpired, { op, path });
      case 'authFailed':
        return new ZkError(ZkErr.authFailed, { op, path });
      default:
        return null;
    }
  }

  // ---- the connection ---------------------------------------------------------------------------

  private attempt(): void {
    this.attemptTimer = null;
    if (this.state !== 'connecting') return;
    const endpoint = this.endpoints[this.endpointIndex % this.endpoints.length]!;
    this.endpointIndex = (this.endpointIndex + 1) % this.endpoints.length;
    const stream = this.io.connect(endpoint);
    const conn: Conn = {
      endpoint,
      stream,
      decoder: new ZkReplyDecoder({
        packetBytesMax: this.limits.zkPacketBytesMax,
        typeOfXid: (xid) => {
          const head = this.inflight[0];
          return head !== undefined && head.xid === xid ? head.type : undefined;
        },
      }),
      handshakeDone: false,
      closed: false,
      lastSendMs: this.io.clock.monotonicMs(),
      lastReceiveMs: this.io.clock.monotonicMs(),
      authSent: [],
    };
    this.conn = conn;
    const attemptMs = Math.max(1, Math.floor(this.requestedTimeoutMs / this.endpoints.length));
    const attemptTimeout = this.io.timers.after(attemptMs, () => {
      if (this.conn === conn && !conn.handshakeDone) this.drop(conn, 'connect_timeout');
    });
    stream.onOpen(() => {
      if (this.conn !== conn || conn.closed) return;
      this.write(
        conn,
        encodeConnectRequest({
          protocolVersion: 0,
          lastZxidSeen: this.lastZxidSeen,
          timeOutMs: this.requestedTimeoutMs,
          sessionId: this.sessionId,
          passwd: this.sessionPasswd,
          readOnly: false,
        }),
      );
    });
    stream.onData((chunk) => {
      if (this.conn !== conn || conn.closed) return;
      conn.lastReceiveMs = this.io.clock.monotonicMs();
      conn.decoder.push(chunk);
      for (;;) {
        if (this.conn !== conn || conn.closed) return;
        const item = conn.decoder.next();
        if (item === undefined) return;
        if (item instanceof ProtocolError) {
          this.drop(conn, item.code);
          return;
        }
        this.onItem(conn, item, attemptTimeout);
      }
    });
    stream.onClose((reason) => {
      attemptTimeout.cancel();
      if (this.conn === conn && !conn.closed) this.drop(conn, reason);
    });
  }

  private onItem(conn: Conn, item: ZkClientReply, attemptTimeout: Timer): void {
    if (item.kind === 'connect') {
      attemptTimeout.cancel();
      this.onConnected(conn, item.response.timeOutMs, item.response.sessionId, item.response.passwd);
      return;
    }
    if (item.kind === 'notification') {
      const event: ZkWatchEvent = { type: item.event.type, state: item.event.state, path: item.event.path };
      for (const w of this.watches.materialize(event)) this.deliver(w, event);
      return;
    }
    const { header } = item;
    // Only replies to requests move lastZxidSeen (as ZooKeeper's Java client does): a ping or
    // auth reply carries the server's last zxid, which this session has not read, and claiming it
    // would make a lagging but sufficient server refuse the next reconnect.
    switch (header.xid) {
      case Xid.ping:
      case Xid.setWatches:
        return;
      case Xid.auth: {
        const info = conn.authSent.shift();
        const waiter = info?.waiter ?? null;
        if (info !== undefined) info.waiter = null;
        if (header.err === ZkErr.ok) {
          waiter?.resolve();
          return;
        }
        waiter?.reject(new ZkError(header.err, { op: 'addAuth' }));
        if (header.err === ZkErr.authFailed) this.end('authFailed');
        return;
      }
      default: {
        if (header.zxid > this.lastZxidSeen) this.lastZxidSeen = header.zxid;
        const p = this.inflight.shift()!;
        p.answer(header, item.body);
        this.flushQueue();
      }
    }
  }

  private onConnected(conn: Conn, timeOutMs: number, sessionId: bigint, passwd: Uint8Array | null): void {
    if (timeOutMs <= 0) {
      // The server no longer knows the session (ZooKeeper answers timeout 0, then closes).
      this.end('expired');
      return;
    }
    conn.handshakeDone = true;
    const resumed = this.sessionId !== 0n;
    this.sessionId = sessionId;
    this.sessionPasswd = passwd ?? zeroPasswd;
    this.negotiatedTimeoutMs = timeOutMs;
    this.state = 'connected';
    this.failedAttempts = 0;
    this.disconnectedTooLong = false;
    this.disconnectTimer?.cancel();
    this.disconnectTimer = null;
    if (resumed) this.sendSetWatches(conn);
    for (const info of this.auths) this.sendAuth(conn, info);
    this.flushQueue();
    const checkMs = Math.max(1, Math.floor(timeOutMs / 6));
    this.tickTimer = this.io.timers.every(checkMs, () => this.tick(conn));
    this.emitState(KeeperState.syncConnected, conn.endpoint);
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const w of waiters) w.resolve();
  }

  /** Pings when idle; gives up on a server that sent nothing for two thirds of the timeout. */
  private tick(conn: Conn): void {
    if (this.conn !== conn || conn.closed) return;
    const now = this.io.clock.monotonicMs();
    if (now - conn.lastReceiveMs >= (this.negotiatedTimeoutMs * 2) / 3) {
      this.drop(conn, 'read_timeout');
      return;
    }
    if (now - conn.lastSendMs >= this.negotiatedTimeoutMs / 3 - this.negotiatedTimeoutMs / 12) {
      this.write(conn, encodeRequest(Xid.ping, { type: OpCode.ping }));
    }
  }

  private sendAuth(conn: Conn, info: AuthInfo): void {
    conn.authSent.push(info);
    this.write(conn, encodeRequest(Xid.auth, { type: OpCode.auth, authType: 0, scheme: info.scheme, auth: info.auth }));
  }

  /** setWatches2 frames (split at zkClientSetWatchesBytesMax) re-registering every watch. */
  private sendSetWatches(conn: Conn): void {
    const lists = {
      dataWatches: this.watches.paths('data'),
      existWatches: this.watches.paths('exist'),
      childWatches: this.watches.paths('child'),
      persistentWatches: this.watches.paths('persistent'),
      persistentRecursiveWatches: this.watches.paths('persistentRecursive'),
    };
    type Key = keyof typeof lists;
    const keys = Object.keys(lists) as Key[];
    let batch: Record<Key, string[]> = emptyBatch();
    let bytes = 0;
    const flush = (): void => {
      if (bytes === 0) return;
      this.write(
        conn,
        encodeRequest(Xid.setWatches, { type: OpCode.setWatches2, relativeZxid: this.lastZxidSeen, ...batch }),
      );
      batch = emptyBatch();
      bytes = 0;
    };
    for (const k of keys) {
      for (const path of lists[k]) {
        const size = utf8.encode(path).length + 4;
        if (bytes + size > this.limits.zkClientSetWatchesBytesMax) flush();
        batch[k].push(path);
        bytes += size;
      }
    }
    flush();
    function emptyBatch(): Record<Key, string[]> {
      return {
        dataWatches: [],
        existWatches: [],
        childWatches: [],
        persistentWatches: [],
        persistentRecursiveWatches: [],
      };
    }
  }

  /** The connection (or attempt) is over: fail what was in flight, move on to the next server. */
  private drop(conn: Conn, _reason: string): void {
    if (conn.closed) return;
    conn.closed = true;
    conn.stream.close();
    this.tickTimer?.cancel();
    this.tickTimer = null;
    const wasConnected = this.state === 'connected';
    for (const p of this.inflight.splice(0)) {
      p.fail(new ZkError(ZkErr.connectionLoss, { op: p.op, path: p.path, indefinite: p.write }));
    }
    if (this.state !== 'connected' && this.state !== 'connecting') return;
    if (this.closing) {
      this.end('closed');
      return;
    }
    this.state = 'connecting';
    if (wasConnected) {
      this.emitState(KeeperState.disconnected, null);
      this.startDisconnectTimer();
    }
    this.failedAttempts = wasConnected ? 0 : this.failedAttempts + 1;
    const roundDone = this.failedAttempts > 0 && this.failedAttempts % this.endpoints.length === 0;
    const rng = this.io.rng;
    const jitterMs =
      wasConnected && rng !== undefined && this.reconnectJitterMs >= 1 ? rng.int(this.reconnectJitterMs) : 0;
    this.attemptTimer = this.io.timers.after(roundDone ? this.reconnectDelayMs : jitterMs, () => this.attempt());
  }

  private startDisconnectTimer(): void {
    this.disconnectTimer?.cancel();
    const timeoutMs = this.negotiatedTimeoutMs > 0 ? this.negotiatedTimeoutMs : this.requestedTimeoutMs;
    this.disconnectTimer = this.io.timers.after(timeoutMs, () => {
      this.disconnectTimer = null;
      if (this.state !== 'connecting') return;
      this.disconnectedTooLong = true;
      this.queuedBytes = 0;
      for (const p of this.queue.splice(0)) p.fail(new ZkError(ZkErr.connectionLoss, { op: p.op, path: p.path }));
      const waiters = this.readyWaiters;
      this.readyWaiters = [];
      for (const w of waiters) w.reject(new ZkError(ZkErr.connectionLoss, { op: 'ready' }));
    });
  }

  /** The session is over (expired, closed, auth failed): fail everything, tell every watcher. */
  private end(state: 'closed' | 'expired' | 'authFailed'): void {
    if (this.state === 'closed' || this.state === 'expired' || this.state === 'authFailed') return;
    this.state = state;
    for (const t of [this.attemptTimer, this.tickTimer, this.disconnectTimer]) t?.cancel();
    this.attemptTimer = this.tickTimer = this.disconnectTimer = null;
    const conn = this.conn;
    this.conn = null;
    if (conn !== null && !conn.closed) {
      conn.closed = true;
      conn.stream.close();
    }
    const zkErr = state === 'closed' ? ZkErr.closing : state === 'expired' ? ZkErr.sessionExpired : ZkErr.authFailed;
    for (const p of this.inflight.splice(0))
      p.fail(new ZkError(zkErr, { op: p.op, path: p.path, indefinite: p.write }));
    for (const p of this.queue.splice(0)) p.fail(new ZkError(zkErr, { op: p.op, path: p.path }));
    this.queuedBytes = 0;
    for (const info of this.auths) {
      info.waiter?.reject(new ZkError(zkErr, { op: 'addAuth' }));
      info.waiter = null;
    }
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const w of waiters) w.reject(new ZkError(zkErr, { op: 'ready' }));
    const keeperState =
      state === 'expired' ? KeeperState.expired : state === 'closed' ? KeeperState.closed : KeeperState.authFailed;
    this.emitState(keeperState, null);
    if (state !== 'authFailed') {
      const event = sessionEndEvent(state === 'expired' ? KeeperState.expired : KeeperState.closed);
      for (const w of this.watches.drain()) this.deliver(w, event);
    } else {
      this.watches.drain();
    }
  }

  private emitState(state: number, endpoint: string | null): void {
    const event: ZkStateEvent = { state, endpoint };
    for (const l of [...this.stateListeners]) this.later(() => l(event));
  }

  /** A watcher runs as a microtask (in wire order with the replies' settlements), or at once ('sync'). */
  private deliver(watcher: ZkWatcher, event: ZkWatchEvent): void {
    this.later(() => watcher(event));
  }

  private later(fn: () => void): void {
    if (this.delivery === 'sync') fn();
    else queueMicrotask(fn);
  }
}
