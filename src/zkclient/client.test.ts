// Goal: the ZooKeeper client's session rules (client.ts header) over an in-memory byte stream, in
// manual time, with every server byte delivered in seeded random chunks (1..7 bytes): a tiny
// server made of our own codec's server side (ZkRequestDecoder + encoders) answers as ZooKeeper
// does. Checks: any chunking gives the same results; a watch event runs before the continuation of
// the reply that followed it; pipelined replies match by xid; the in-flight window and the queue
// bounds; pings at a third of the timeout; a silent server dropped at two thirds, the session
// resumed on the next endpoint with sessionId + passwd + lastZxidSeen and its watches sent again
// in setWatches2; expiry; a reply with a foreign xid; requests queued too long.
// The real-server twin of these checks is test/compat/zkclient*.test.ts.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventType, KeeperState, OpCode, Xid, ZkErr } from '../coord/codes.ts';
import type { Timer, Timers } from '../env/types.ts';
import { LimitError } from '../lib/errors.ts';
import { SeededRng } from '../lib/rng.ts';
import {
  encodeConnectResponse,
  encodeNotification,
  encodeReply,
  type RequestBody,
  type ResponseBody,
  type Stat,
  ZkRequestDecoder,
} from '../wire/zookeeper/index.ts';
import type { SimClientConnection } from '../sim/client-links.ts';
import { type ZkByteStream, ZkClient, type ZkClientLimits, zkCalls } from './client.ts';

// The simulator's client connection is a ZkByteStream as it is (a workload passes
// `(node) => sim.clients.connect(node, 'zookeeper')` as io.connect): checked by the compiler.
const simStreamFits = (c: SimClientConnection): ZkByteStream => c;
void simStreamFits;
import { isZkError } from './errors.ts';

/** Manual time: timers run only inside advance(), in due order, never re-entrantly. */
class ManualTime implements Timers {
  nowMs = 0;
  private tasks: Array<{ at: number; fn: () => void; periodMs?: number; cancelled: boolean; seq: number }> = [];
  private seq = 0;
  after(delayMs: number, fn: () => void): Timer {
    const t = { at: this.nowMs + Math.max(0, delayMs), fn, cancelled: false, seq: this.seq++ };
    this.tasks.push(t);
    return { cancel: () => void (t.cancelled = true) };
  }
  every(periodMs: number, fn: () => void): Timer {
    const t = { at: this.nowMs + periodMs, fn, periodMs, cancelled: false, seq: this.seq++ };
    this.tasks.push(t);
    return { cancel: () => void (t.cancelled = true) };
  }
  /** Runs what is due up to now + ms, letting promises settle between timers. */
  async advance(ms: number): Promise<void> {
    const end = this.nowMs + ms;
    for (;;) {
      await settle();
      this.tasks = this.tasks.filter((t) => !t.cancelled);
      const next = this.tasks.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (next === undefined) break;
      this.nowMs = Math.max(this.nowMs, next.at);
      if (next.periodMs === undefined) next.cancelled = true;
      else next.at += next.periodMs;
      next.fn();
    }
    this.nowMs = end;
    await settle();
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

const zeroStat = (over: Partial<Stat> = {}): Stat => ({
  czxid: 0n,
  mzxid: 0n,
  ctime: 0n,
  mtime: 0n,
  version: 0,
  cversion: 0,
  aversion: 0,
  ephemeralOwner: 0n,
  dataLength: 0,
  numChildren: 0,
  pzxid: 0n,
  ...over,
});

interface ServerConn {
  readonly endpoint: string;
  readonly requests: Array<{ xid: number; body: RequestBody }>;
  connect?: { sessionId: bigint; lastZxidSeen: bigint; passwd: Uint8Array | null };
  /** Sends bytes to the client in random chunks. */
  send(bytes: Uint8Array): void;
  /** The server hangs up. */
  close(): void;
  closed: boolean;
}

/**
 * A ZooKeeper-like server for one test: a flat map of nodes, data watches, zxids; `hold` keeps
 * replies back until `release()`; `silent` answers nothing (a hung server).
 */
class FakeServer {
  readonly conns: ServerConn[] = [];
  readonly nodes = new Map<string, { data: Uint8Array; version: number; mzxid: bigint }>();
  zxid = 100n;
  hold = false;
  silent = false;
  expireSessions = false;
  private held: Array<() => void> = [];
  readonly rng: SeededRng;

  constructor(
    seed: number,
    private readonly time: ManualTime,
  ) {
    this.rng = new SeededRng(seed);
  }

  connect = (endpoint: string): ZkByteStream => {
    let onOpen = (): void => undefined;
    let onData = (_: Uint8Array): void => undefined;
    let onClose = (_: string): void => undefined;
    const decoder = new ZkRequestDecoder();
    const watched = new Set<string>();
    const conn: ServerConn = {
      endpoint,
      requests: [],
      closed: false,
      send: (bytes) => {
        if (conn.closed) return;
        for (let i = 0; i < bytes.length; ) {
          const n = 1 + this.rng.int(7);
          onData(bytes.slice(i, i + n));
          i += n;
        }
      },
      close: () => {
        if (conn.closed) return;
        conn.closed = true;
        this.time.after(0, () => onClose('remote'));
      },
    };
    this.conns.push(conn);
    const answer = (xid: number, err: number, body: ResponseBody | null, zxid = this.zxid): void => {
      const out = (): void => conn.send(encodeReply({ xid, zxid, err }, body));
      if (this.hold && xid >= 0) this.held.push(out);
      else out();
    };
    const handle = (xid: number, body: RequestBody): void => {
      conn.requests.push({ xid, body });
      if (this.silent) return;
      switch (body.type) {
        case OpCode.ping:
          return answer(Xid.ping, 0, { type: OpCode.ping });
        case OpCode.setWatches2:
          for (const p of body.dataWatches ?? []) watched.add(p);
          return answer(Xid.setWatches, 0, { type: OpCode.setWatches });
        case OpCode.create: {
          if (this.nodes.has(body.path!)) return answer(xid, ZkErr.nodeExists, null);
          this.zxid++;
          this.nodes.set(body.path!, { data: body.data ?? new Uint8Array(), version: 0, mzxid: this.zxid });
          return answer(xid, 0, { type: OpCode.create, path: body.path });
        }
        case OpCode.exists: {
          const n = this.nodes.get(body.path!);
          if (n === undefined) return answer(xid, ZkErr.noNode, null);
          return answer(xid, 0, { type: OpCode.exists, stat: zeroStat({ version: n.version }) });
        }
        case OpCode.getData: {
          const n = this.nodes.get(body.path!);
          if (n === undefined) return answer(xid, ZkErr.noNode, null);
          if (body.watch) watched.add(body.path!);
          return answer(xid, 0, { type: OpCode.getData, data: n.data, stat: zeroStat({ version: n.version }) });
        }
        case OpCode.setData: {
          const n = this.nodes.get(body.path!);
          if (n === undefined) return answer(xid, ZkErr.noNode, null);
          this.zxid++;
          n.data = body.data ?? new Uint8Array();
          n.version++;
          // ZooKeeper fires the watch before it answers the write.
          if (watched.delete(body.path!)) {
            conn.send(
              encodeNotification({
                type: EventType.nodeDataChanged,
                state: KeeperState.syncConnected,
                path: body.path,
              }),
            );
          }
          return answer(xid, 0, { type: OpCode.setData, stat: zeroStat({ version: n.version }) });
        }
        case OpCode.closeSession:
          answer(xid, 0, { type: OpCode.closeSession });
          conn.close();
          return;
        default:
          return answer(xid, ZkErr.unimplemented, null);
      }
    };
    this.time.after(0, () => {
      onOpen();
    });
    return {
      onOpen: (h) => {
        onOpen = h;
      },
      onData: (h) => {
        onData = h;
      },
      onClose: (h) => {
        onClose = h;
      },
      write: (bytes) => {
        if (conn.closed) return;
        decoder.push(bytes);
        for (let r = decoder.next(); r !== undefined; r = decoder.next()) {
          if (r instanceof Error) throw r;
          if (r.kind === 'connect') {
            conn.connect = {
              sessionId: r.request.sessionId,
              lastZxidSeen: r.request.lastZxidSeen,
              passwd: r.request.passwd,
            };
            if (this.silent) continue;
            const expired = this.expireSessions && r.request.sessionId !== 0n;
            conn.send(
              encodeConnectResponse({
                protocolVersion: 0,
                timeOutMs: expired ? 0 : Math.min(r.request.timeOutMs, 6000),
                sessionId: expired ? 0n : r.request.sessionId === 0n ? 0x42n : r.request.sessionId,
                passwd: expired ? new Uint8Array(16) : new Uint8Array(16).fill(7),
                readOnly: false,
              }),
            );
            if (expired) conn.close();
          } else if (r.kind === 'request') {
            handle(r.xid, r.body);
          }
        }
      },
      close: () => {
        conn.closed = true;
        this.time.after(0, () => onClose('local'));
      },
    };
  };

  release(): void {
    const held = this.held;
    this.held = [];
    for (const out of held) out();
  }

  get last(): ServerConn {
    return this.conns.at(-1)!;
  }
}

function world(
  seed: number,
  limits: Partial<ZkClientLimits> = {},
  endpoints = ['s1', 's2'],
  delivery: 'sync' | 'microtask' = 'microtask',
  extra: { rng?: SeededRng; reconnectJitterMs?: number } = {},
) {
  const time = new ManualTime();
  const server = new FakeServer(seed, time);
  const client = new ZkClient({
    connectString: endpoints,
    sessionTimeoutMs: 6000,
    io: {
      clock: { monotonicMs: () => time.nowMs },
      timers: time,
      connect: server.connect,
      ...(extra.rng === undefined ? {} : { rng: extra.rng }),
    },
    limits,
    delivery,
    ...(extra.reconnectJitterMs === undefined ? {} : { reconnectJitterMs: extra.reconnectJitterMs }),
  });
  return { time, server, client };
}

const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/** Attaches a handler at once (manual time settles promises later) and returns the rejection. */
function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    (v) => assert.fail(`resolved with ${String(v)}`),
    (e: unknown) => e,
  );
}

test('any chunking of the server bytes gives the same results; a watch event runs before the reply after it', async () => {
  const transcripts = new Set<string>();
  for (let seed = 1; seed <= 25; seed++) {
    const { time, server, client } = world(seed);
    await time.advance(1);
    assert.equal(client.state, 'connected', `seed ${seed}`);
    const log: string[] = [];
    await client.create('/a', 'one');
    const got = await client.getData('/a', (e) => log.push(`event ${e.type} ${e.path}`));
    log.push(`get ${text(got.data)}`);
    const set = client.setData('/a', 'two').then((s) => log.push(`set v${s.version}`));
    const pipelined = await Promise.all(Array.from({ length: 20 }, () => client.getData('/a')));
    await set;
    log.push(`pipelined ${pipelined.map((g) => text(g.data)).join(',')}`);
    await client.create('/a').catch((e) => log.push(`create again ${isZkError(e) ? e.zkErr : e}`));
    log.push(`session ${client.sessionId} zxid ${client.lastZxidSeen}`);
    transcripts.add(log.join('\n'));
    assert.equal(server.conns.length, 1);
  }
  assert.equal(transcripts.size, 1, [...transcripts].join('\n---\n'));
  assert.deepEqual([...transcripts][0]!.split('\n'), [
    'get one',
    `event ${EventType.nodeDataChanged} /a`,
    'set v1',
    `pipelined ${Array(20).fill('two').join(',')}`,
    `create again ${ZkErr.nodeExists}`,
    'session 66 zxid 102',
  ]);
});

test('the in-flight window holds back requests beyond it; the queue bound refuses more', async () => {
  const { time, server, client } = world(7, { zkClientInflightRequestsMax: 3, zkClientQueuedRequestsMax: 4 });
  await time.advance(1);
  await client.create('/x', 'v');
  server.hold = true;
  const before = server.last.requests.length;
  const reads = Array.from({ length: 7 }, () => client.getData('/x'));
  const refused = client.getData('/x');
  await assert.rejects(
    refused,
    (e: unknown) => e instanceof LimitError && e.fields['limit'] === 'zkClientQueuedRequestsMax',
  );
  await time.advance(1);
  assert.equal(server.last.requests.length - before, 3, 'only the window is on the wire');
  assert.deepEqual(client.pendingRequests.inflight, 3);
  assert.deepEqual(client.pendingRequests.queued, 4);
  for (let i = 0; i < 5; i++) {
    server.release();
    await time.advance(1);
  }
  assert.equal((await Promise.all(reads)).length, 7);
  assert.equal(server.last.requests.length - before, 7);
});

test('pings at a third of the timeout; a silent server is left at two thirds and the session resumes elsewhere with its watches', async () => {
  const { time, server, client } = world(11);
  await time.advance(1);
  assert.equal(client.negotiatedTimeoutMs, 6000);
  await client.create('/w', 'v');
  const events: number[] = [];
  await client.getData('/w', (e) => events.push(e.type));
  const first = server.last;
  const sentBefore = first.requests.length;
  server.zxid += 50n; // other sessions wrote meanwhile: the ping's reply header carries 151
  await time.advance(2000);
  const pings = first.requests.slice(sentBefore).filter((r) => r.body.type === OpCode.ping).length;
  assert.equal(pings, 1, 'one ping in the first third');
  const zxid = client.lastZxidSeen;
  assert.equal(zxid, 101n, 'a ping reply does not move lastZxidSeen (as the Java client)');

  server.silent = true; // a hung server: nothing comes back
  const states: number[] = [];
  client.onState((e) => states.push(e.state));
  const inflight = failure(client.setData('/w', 'lost'));
  await time.advance(3900);
  assert.equal(server.conns.length, 1, 'still waiting before two thirds of the timeout');
  server.silent = false;
  await time.advance(400);
  const lost = await inflight;
  assert.ok(isZkError(lost, ZkErr.connectionLoss) && lost.definite === false, String(lost));
  assert.equal(server.conns.length, 2);
  const second = server.last;
  assert.equal(second.endpoint, 's2');
  assert.deepEqual(second.connect, { sessionId: 0x42n, lastZxidSeen: zxid, passwd: new Uint8Array(16).fill(7) });
  const setWatches = second.requests.find((r) => r.body.type === OpCode.setWatches2);
  assert.ok(setWatches !== undefined && setWatches.xid === Xid.setWatches);
  assert.deepEqual(setWatches.body, {
    type: OpCode.setWatches2,
    relativeZxid: zxid,
    dataWatches: ['/w'],
    existWatches: [],
    childWatches: [],
    persistentWatches: [],
    persistentRecursiveWatches: [],
  });
  assert.deepEqual(states, [KeeperState.disconnected, KeeperState.syncConnected]);
  await client.setData('/w', 'after');
  await time.advance(1);
  assert.deepEqual(events, [EventType.nodeDataChanged], 'the re-registered watch fired once');
});

test('expiry: a reconnect answered with timeout 0 ends the session; requests and watchers hear it', async () => {
  const { time, server, client } = world(3);
  await time.advance(1);
  await client.create('/e', 'v');
  const heard: Array<{ type: number; state: number }> = [];
  await client.getData('/e', (e) => heard.push({ type: e.type, state: e.state }));
  server.expireSessions = true;
  server.hold = true;
  const inflight = failure(client.create('/f', 'x'));
  await time.advance(1);
  server.last.close();
  await time.advance(10);
  assert.equal(client.state, 'expired');
  assert.ok(isZkError(await inflight, ZkErr.connectionLoss));
  await assert.rejects(client.getData('/e'), (e: unknown) => isZkError(e, ZkErr.sessionExpired));
  assert.deepEqual(heard, [{ type: EventType.none, state: KeeperState.expired }]);
  assert.equal(client.watcherCount, 0);
});

test('after losing an established connection the client waits a random pause below reconnectJitterMs before reconnecting', async () => {
  // The server closes a connection whose session another connection took over; a client that came
  // straight back would take the session back before the other's requests ran (the compat test's
  // session thief saw it in 1 of 3 runs). Java's client sleeps up to 1 s; so do we, from io.rng.
  const pauses = new Set<number>();
  for (let seed = 1; seed <= 8; seed++) {
    const { time, server, client } = world(seed, {}, ['s1', 's2'], 'microtask', { rng: new SeededRng(seed) });
    await time.advance(1);
    assert.equal(client.state, 'connected');
    const lostAt = time.nowMs;
    server.last.close();
    let reconnectAt = -1;
    for (let t = 0; t <= 1_000 && reconnectAt < 0; t++) {
      await time.advance(1);
      if (server.conns.length === 2) reconnectAt = time.nowMs;
    }
    assert.ok(reconnectAt >= lostAt && reconnectAt <= lostAt + 1_001, `seed ${seed}: reconnected at ${reconnectAt}`);
    pauses.add(reconnectAt - lostAt);
    await time.advance(10);
    assert.equal(client.state, 'connected');
  }
  assert.ok(pauses.size >= 4, `pauses drawn at random, not one fixed delay: ${[...pauses]}`);
  // Negative control: jitter 0 (or no rng) comes back at once.
  const { time, server } = world(1, {}, ['s1', 's2'], 'microtask', { rng: new SeededRng(1), reconnectJitterMs: 0 });
  await time.advance(1);
  server.last.close();
  await time.advance(2);
  assert.equal(server.conns.length, 2);
});

test('a reply whose xid answers no request in flight breaks the stream: the client reconnects', async () => {
  const { time, server, client } = world(5);
  await time.advance(1);
  await client.create('/q', 'v');
  server.hold = true;
  const p = failure(client.getData('/q'));
  await time.advance(1);
  server.last.send(encodeReply({ xid: 9999, zxid: 1n, err: 0 }, null));
  await time.advance(1);
  const e = await p;
  assert.ok(isZkError(e, ZkErr.connectionLoss) && e.definite === true, String(e)); // a read: nothing to doubt
  server.hold = false;
  await time.advance(10);
  assert.equal(server.conns.length, 2);
  assert.equal(client.state, 'connected');
});

test('requests queued while no server answers fail after the session timeout, and later ones at once', async () => {
  const { time, server, client } = world(9);
  server.silent = true;
  let failed = false;
  const queued = failure(client.getData('/never')).finally(() => {
    failed = true;
  });
  await time.advance(5900);
  assert.equal(failed, false);
  assert.ok(server.conns.length >= 2, 'the client kept trying the endpoints');
  await time.advance(200);
  const e = await queued;
  assert.ok(isZkError(e, ZkErr.connectionLoss) && e.definite === true, String(e));
  await assert.rejects(client.getData('/x'), (e: unknown) => isZkError(e, ZkErr.connectionLoss));
  server.silent = false;
  await time.advance(3000);
  assert.equal(client.state, 'connected');
  const closing = client.close();
  await time.advance(10);
  await closing;
  assert.equal(client.state, 'closed');
  assert.equal(server.last.requests.at(-1)?.body.type, OpCode.closeSession);
  await assert.rejects(client.getData('/x'), (e: unknown) => isZkError(e, ZkErr.closing));
});

test("callWith and delivery 'sync': callbacks and watchers run while the reply bytes are decoded, in wire order", async () => {
  const { time, server, client } = world(13, {}, ['s1'], 'sync');
  await time.advance(1);
  await client.create('/s', 'v');
  const log: string[] = [];
  client.callWith(
    zkCalls.getData('/s', (e) => log.push(`event ${e.type}`)),
    (error, value) => log.push(`get ${error === null ? text(value!.data) : error}`),
  );
  await time.advance(1);
  server.hold = true;
  client.callWith(zkCalls.setData('/s', 'w'), (error, stat) => log.push(`set ${error ?? stat!.version}`));
  client.callWith(zkCalls.exists('/none'), (error, stat) => log.push(`exists ${error ?? stat}`));
  await time.advance(1);
  assert.deepEqual(log, ['get v', `event ${EventType.nodeDataChanged}`]); // the event went out before the held replies
  server.release(); // synchronous: no promise, no microtask in between
  assert.deepEqual(log, ['get v', `event ${EventType.nodeDataChanged}`, 'set 1', 'exists null']);
});
