// The coordination service's simulator workload (`barista sim --workload coord`, and in swarm's
// mix): our ZooKeeper client (src/zkclient) over the simulator's client links (latency, chunking,
// resets, client<->node partitions this workload cuts itself), through the real front end, while
// the nemesis partitions, crashes, pauses and skews the nodes. Each of `sessions` client slots
// holds one session, connected to any node and moving on failure; a slot whose session expired
// starts a new one. Every session:
//   - creates its ephemeral /eph/s-<session id>, and reads /eph from wherever it is connected;
//   - reads and conditionally sets (setData with the version it last saw) a few keys /reg/k<i>;
//     the history (invoke/ok/fail/info in virtual time) goes to the linearizability checker with a
//     versioned-register model (src/check/models/versioned-register.ts);
//   - watches the keys it reads (one-shot getData watches, re-armed by the next read);
//   - (option blobBytesMax > 0, off by default) one more client creates, rewrites and deletes a
//     few znodes /blob/b<i> of blobBytesMax/2 to blobBytesMax bytes, so that a run with a small
//     snapshot bound (runClusterSimulation's snapshotDataBytesMax) brings the tree to its bytes
//     bound: every answer is ok, an expected NodeExists / NoNode, QuotaExceeded, or a connection
//     loss; a node whose snapshot outgrew its bound stops, and the run fails;
//   - takes the lock /lock the ZooKeeper way (ephemeral sequential child, waiting on its
//     predecessor only; the recipe of src/zkclient/recipes/lock.ts in callback form, since the
//     simulator runs synchronously and cannot await promises), presents the fencing token (the
//     child's czxid) to a guarded register on taking it and while holding it, and releases it.
// Checks (sim-checks.ts): two live lock holders (in-run), a session's versions and zxids going
// back (in-run and post-run), watch events lost, late or reordered, a closed session's ephemeral
// seen by a read that should reflect the close, no session expiring while its client kept
// pinging a node in contact with a healthy majority (sampled in-run), linearizable setData
// histories (valid, not unknown), and after healing: every slot connected, a write committed, and
// a read through every node (after sync) lists no ephemeral of a closed session.
// Deterministic: only virtual time and the simulation's seeded Rng.

import { checkLinearizable } from '../../check/linearizability.ts';
import { versionedRegisterModel } from '../../check/models/versioned-register.ts';
import { HistoryRecorder } from '../../check/recorder.ts';
import type { CheckResult } from '../../check/types.ts';
import { CreateMode, EventType, KeeperState, ZkErr } from '../../coord/codes.ts';
import { realClock } from '../../env/real-time.ts';
import type { SeededRng } from '../../lib/rng.ts';
import type { ClientSummary, RunningWorkload, ServiceHost, SimWorkload } from '../../node/service.ts';
import type { Simulation } from '../../sim/simulation.ts';
import { ZkClient, zkCalls } from '../../zkclient/client.ts';
import { simZkIo } from '../../zkclient/sim-io.ts';
import type { ZkCall } from '../../zkclient/calls.ts';
import { isZkError } from '../../zkclient/errors.ts';
import { join } from '../../zkclient/recipes/common.ts';
import type { CoordRunning } from './service.ts';
import { type LockContext, type LockSession, runLockCycle } from './sim-lock.ts';
import { AppliedFacts, ephemeralName, LockRegister, SessionOrder, staleEphemerals, WatchOrder } from './sim-checks.ts';

export interface CoordWorkloadOptions {
  /** Client slots, each holding one session at a time. */
  readonly clients: number;
  readonly keys: number;
  /**
   * Asked of the server (default config: tickTime 2 s, so granted within [4 s, 40 s]). Above
   * 2 x expiryMarginMs, so that the expiry check can be both sound and able to fire (sample()).
   */
  readonly sessionTimeoutMs: number;
  readonly thinkMsMax: number;
  /** A lock waiter gives up (deletes its child) after this long. */
  readonly lockWaitMsMax: number;
  readonly lockHoldMsMax: number;
  /** The workload's own faults: client<->node cuts of a random slot's host from a random node. */
  readonly clientPartitions: boolean;
  /** Planted client bug (negative control): a waiter takes the lock when its predecessor goes, without looking again. */
  readonly lockGrantsOnPredecessorGone: boolean;
  /**
   * An expiry is wrong once the client was healthy for timeout/2 + this before it (sample()):
   * the largest gap between the leader's touches of a healthy session (a ping every third of the
   * timeout, checked every sixth; a follower's batch every half tick; up to 2 s of swarm's clog).
   */
  readonly expiryMarginMs: number;
  /** Largest data of the blob writer's znodes; 0: no blob writer. */
  readonly blobBytesMax: number;
  readonly stopAtMs: number;
}

export const defaultCoordWorkload: Omit<CoordWorkloadOptions, 'stopAtMs'> = {
  clients: 5,
  keys: 2,
  sessionTimeoutMs: 10_000,
  thinkMsMax: 150,
  lockWaitMsMax: 2_000,
  lockHoldMsMax: 300,
  clientPartitions: true,
  lockGrantsOnPredecessorGone: false,
  expiryMarginMs: 3_500,
  blobBytesMax: 0,
};

const LOCK_DIR = '/lock';
const EPH_DIR = '/eph';
const REG_DIR = '/reg';
const BLOB_DIR = '/blob';
/** Distinct paths the blob writer uses. */
const BLOB_PATHS = 12;
const LIVENESS_PATH = '/liveness';
/** How often the workload samples session health and hooks new replicas. */
const SAMPLE_MS = 50;
const dec = new TextDecoder();
/** service.ts's names, repeated so this module does not import it at run time (service.ts registers this workload). */
const COORD_GROUP = 'coord';
const coordOf = (node: ServiceHost): CoordRunning => node.service<CoordRunning>('coord');

/** One client slot's current session. */
interface Session {
  readonly slot: number;
  readonly client: ZkClient;
  id: number;
  timeoutMs: number;
  /** Last sampled instant at which its client was not pinging a node in contact with a healthy majority. */
  lastUnhealthyMs: number;
  ephemeralDone: boolean;
  inLock: boolean;
  ended: boolean;
  /** Its close was seen in the log (and its expiry judged). */
  closedSeen: boolean;
  /** Connections the client made (SyncConnected events). */
  epoch: number;
  /** The client closed it (closeSession): not an expiry. */
  closedByClient: boolean;
  /** Holding the lock for longer than a session timeout (the client cuts prefer it). */
  longHold: boolean;
}

type Finish = (type: 'ok' | 'fail' | 'info', result: unknown, error?: string) => void;

export class CoordWorkload {
  readonly recorder = new HistoryRecorder();
  readonly facts = new AppliedFacts();
  readonly register = new LockRegister(this.facts);
  readonly order = new SessionOrder();
  readonly watches = new WatchOrder();
  /** In-run and post-run violations besides the checkers' own lists. */
  readonly violations: { invariant: string; detail: string }[] = [];
  private readonly ids: readonly string[];
  private readonly slots: Session[] = [];
  private readonly allSessions: Session[] = [];
  private readonly hooked = new WeakSet<object>();
  private nextProcess = 0;
  private readonly processOf: number[] = [];
  private nextValue = 1;
  private inflight = 0;
  private setupDone = false;
  opsCompleted = 0;
  opsOk = 0;
  lockGrants = 0;
  expiries = 0;
  closes = 0;
  clientCuts = 0;
  ephemeralReads = 0;
  blobWrites = 0;
  blobQuotaExceeded = 0;

  constructor(
    private readonly sim: Simulation<ServiceHost>,
    private readonly rng: SeededRng,
    private readonly o: CoordWorkloadOptions,
  ) {
    this.ids = sim.nodeIds;
    sim.addInvariant('coord-lock', () => this.register.violations[0]);
    sim.addInvariant('coord-session-order', () => this.order.violations[0]);
    sim.addInvariant('coord-watch', () => this.watches.violations[0]);
    for (const name of ['coord-ephemeral', 'coord-session-expiry', 'coord-blob']) {
      sim.addInvariant(name, () => this.violations.find((v) => v.invariant === name)?.detail);
    }
    this.sample();
    this.setup();
    if (o.clientPartitions) sim.after(1_000 + rng.float() * 2_000, () => this.cutClient(), 'coord-client-cut');
  }

  /** Ops in flight; the quiet period after healing counts as one (the expiry check runs in it). */
  get inflightOps(): number {
    return this.inflight + (this.sim.nowMs < this.quietUntilMs ? 1 : 0);
  }

  private quietUntilMs = 0;

  /** The settle time the run must allow: the quiet period and the last ops. */
  get settleMs(): number {
    return this.o.sessionTimeoutMs * 1.5 + 1_000 + 15_000;
  }

  // ---- clients ---------------------------------------------------------------------------------

  private newClient(host: string): ZkClient {
    return new ZkClient({
      connectString: [...this.ids],
      sessionTimeoutMs: this.o.sessionTimeoutMs,
      io: simZkIo(this.sim, { host, rng: this.rng.fork(host) }),
      reconnectDelayMs: 100,
      delivery: 'sync',
    });
  }

  private hostOf(slot: number): string {
    return `coord-client-${slot}`;
  }

  /** Creates the directories and keys (retried until done), then starts the slots. */
  private setup(): void {
    const client = this.newClient('coord-setup');
    const paths = [LOCK_DIR, EPH_DIR, REG_DIR, ...this.keyPaths(), ...(this.o.blobBytesMax > 0 ? [BLOB_DIR] : [])];
    let i = 0;
    const next = (): void => {
      const path = paths[i];
      if (path === undefined) {
        this.setupDone = true;
        client.close();
        for (let s = 0; s < this.o.clients; s++) this.startSlot(s);
        if (this.o.blobBytesMax > 0) this.startBlobs();
        return;
      }
      client.callWith(zkCalls.create(path, path.startsWith(`${REG_DIR}/`) ? '0' : ''), (e) => {
        if (e === null || isZkError(e, ZkErr.nodeExists)) {
          i++;
          return next();
        }
        this.sim.after(100, next, 'coord-setup');
      });
    };
    next();
  }

  /**
   * The blob writer: one client (its own Rng stream, so the slots draw as without it) writing
   * large znodes until the run stops. Any answer but ok, NodeExists / NoNode (the path's state is
   * unknown after a connection loss), QuotaExceeded or a connection's loss is a violation.
   */
  private startBlobs(): void {
    const rng = this.rng.fork('blobs');
    const client = this.newClient('coord-blobs');
    const next = (): void => {
      if (this.sim.nowMs >= this.o.stopAtMs) return void client.close();
      this.sim.after(rng.float() * this.o.thinkMsMax, write, 'coord-blobs');
    };
    const write = (): void => {
      if (client.state !== 'connected') return next();
      const path = `${BLOB_DIR}/b${rng.int(BLOB_PATHS)}`;
      const size = Math.ceil(this.o.blobBytesMax / 2 + rng.float() * (this.o.blobBytesMax / 2));
      const data = new Uint8Array(size).fill(0x61 + rng.int(26));
      const roll = rng.float();
      const call: ZkCall<unknown> =
        roll < 0.45 ? zkCalls.create(path, data) : roll < 0.75 ? zkCalls.setData(path, data) : zkCalls.delete(path);
      client.callWith(call, (e) => {
        if (e === null) this.blobWrites++;
        else if (isZkError(e, ZkErr.quotaExceeded)) this.blobQuotaExceeded++;
        else if (
          !isZkError(e, ZkErr.nodeExists) &&
          !isZkError(e, ZkErr.noNode) &&
          !isZkError(e, ZkErr.connectionLoss) &&
          !isZkError(e, ZkErr.sessionExpired) &&
          !isZkError(e, ZkErr.sessionMoved)
        )
          this.violations.push({ invariant: 'coord-blob', detail: `${path}: ${errorName(e)}` });
        next();
      });
    };
    next();
  }

  private keyPaths(): string[] {
    return Array.from({ length: this.o.keys }, (_, k) => `${REG_DIR}/k${k}`);
  }

  private startSlot(slot: number): void {
    const client = this.newClient(this.hostOf(slot));
    const s: Session = {
      slot,
      client,
      id: 0,
      timeoutMs: this.o.sessionTimeoutMs,
      lastUnhealthyMs: this.sim.nowMs,
      ephemeralDone: false,
      inLock: false,
      ended: false,
      closedSeen: false,
      epoch: 0,
      closedByClient: false,
      longHold: false,
    };
    client.onState((e) => {
      if (e.state === KeeperState.syncConnected) s.epoch++;
    });
    this.slots[slot] = s;
    this.allSessions.push(s);
    this.processOf[slot] = this.nextProcess++;
    this.sim.after(this.rng.float() * 100, () => this.step(s), 'coord-client');
  }

  private current(s: Session): boolean {
    return this.slots[s.slot] === s && !s.ended;
  }

  /** The slot's next action. */
  private step(s: Session): void {
    if (!this.current(s)) return;
    const c = s.client;
    if (c.state === 'expired' || c.state === 'closed' || c.state === 'authFailed') return this.endSession(s);
    if (this.sim.nowMs >= this.o.stopAtMs) return;
    if (c.state !== 'connected') return void this.sim.after(50, () => this.step(s), 'coord-client-wait');
    if (s.id === 0) this.learnSession(s);
    if (!s.ephemeralDone) return this.createEphemeral(s);
    if (!s.inLock && this.rng.chance(0.01)) return this.closeSession(s);
    const roll = this.rng.float();
    if (roll < 0.3) this.read(s, this.pickKey(), () => this.again(s), { linearizable: this.rng.chance(0.5) });
    else if (roll < 0.6) this.set(s, this.pickKey(), () => this.again(s));
    else if (roll < 0.7) this.setThenRead(s);
    else if (roll < 0.85 && !s.inLock) this.lock(s);
    else this.readEphemerals(s, () => this.again(s));
  }

  private again(s: Session): void {
    this.sim.after(this.rng.float() * this.o.thinkMsMax, () => this.step(s), 'coord-client');
  }

  private pickKey(): string {
    return `k${this.rng.int(this.o.keys)}`;
  }

  private learnSession(s: Session): void {
    s.id = Number(s.client.sessionId);
    s.timeoutMs = s.client.negotiatedTimeoutMs;
    this.facts.trackSession(s.id);
  }

  /** The slot's session, or a new one in its place when it expired (the slot's current session). */
  private renewIfExpired(s: Session): Session {
    if (s.client.state === 'expired') this.endSession(s);
    return this.slots[s.slot]!;
  }

  /** The slot's session is over (expired): count it, and start a new one in its place. */
  private endSession(s: Session): void {
    if (s.ended) return;
    s.ended = true;
    this.watches.ended(s.id);
    if (this.slots[s.slot] === s) this.startSlot(s.slot);
  }

  /** Ends the session with closeSession (its ephemeral must go at once) and starts a new one. */
  private closeSession(s: Session): void {
    s.closedByClient = true;
    this.closes++;
    void s.client.close();
    this.endSession(s);
  }

  private floor(s: Session): number {
    return Number(s.client.lastZxidSeen);
  }

  /** Runs one recorded op on key `key`: the process is the slot's, a new one after `info`. */
  private recorded(s: Session, f: string, value: unknown, key: string, side = false): Finish {
    // A pipelined op runs as a process of its own (a process has one op open at a time).
    const process = side ? this.nextProcess++ : this.processOf[s.slot]!;
    this.recorder.invoke(process, f, value, { timeNs: this.timeNs(), key });
    this.inflight++;
    let settled = false;
    return (type, result, error) => {
      if (settled) return;
      settled = true;
      this.inflight--;
      this.opsCompleted++;
      const fields = { timeNs: this.timeNs(), key, ...(error !== undefined ? { error } : {}) };
      if (type === 'ok') {
        this.opsOk++;
        this.recorder.ok(process, result, fields);
      } else if (type === 'fail') this.recorder.fail(process, result, fields);
      else {
        this.recorder.info(process, result, fields);
        if (this.processOf[s.slot] === process) this.processOf[s.slot] = this.nextProcess++;
      }
    };
  }

  private timeNs(): number {
    return Math.round(this.sim.nowMs * 1e6);
  }

  // ---- keys: reads (with watches) and conditional sets -----------------------------------------

  /**
   * getData, with a watch unless one is pending. ZooKeeper's reads are served by the connected
   * node and may be stale (sequentially consistent, not linearizable), so only a read behind a
   * sync (`linearizable`) enters the linearizability history; every read feeds the session checks.
   */
  private read(
    s: Session,
    key: string,
    then: () => void,
    o: { pipelined?: boolean; linearizable?: boolean } = {},
  ): void {
    const finish = o.linearizable === true ? this.recorded(s, 'read', null, key, o.pipelined) : undefined;
    const floor = this.floor(s);
    const watch = !this.watches.hasPending(s.id, key);
    const id = s.id;
    const watcher = (e: { type: number; path: string | null }): void => {
      if (e.type === EventType.nodeDataChanged || e.type === EventType.nodeDeleted)
        this.watches.fired(id, key, s.epoch, this.floor(s));
    };
    if (o.linearizable === true) s.client.callWith(zkCalls.sync(`${REG_DIR}/${key}`), () => undefined);
    s.client.callWith(zkCalls.getData(`${REG_DIR}/${key}`, watch ? watcher : undefined), (e, r) => {
      if (e !== null || r === undefined) {
        finish?.('fail', null, errorName(e));
        return then();
      }
      const version = r.stat.version;
      const value = Number(dec.decode(r.data));
      this.order.learn(key, version, Number(r.stat.mzxid));
      this.watches.reflected(id, key, version, this.sim.nowMs);
      this.order.saw(id, key, version, floor);
      if (watch) this.watches.registered(id, key, version, s.epoch);
      finish?.('ok', [value, version]);
      then();
    });
  }

  /** setData with the version this session last saw (or a guess): a conditional write. */
  private set(s: Session, key: string, then: () => void): void {
    const expected = this.lastSeenVersion.get(`${s.id}/${key}`) ?? this.rng.int(3);
    const value = this.nextValue++;
    const finish = this.recorded(s, 'set', [expected, value], key);
    const id = s.id;
    s.client.callWith(zkCalls.setData(`${REG_DIR}/${key}`, String(value), expected), (e, stat) => {
      if (e === null && stat !== undefined) {
        this.order.learn(key, stat.version, Number(stat.mzxid));
        this.watches.reflected(id, key, stat.version, this.sim.nowMs);
        this.order.saw(id, key, stat.version, undefined);
        this.lastSeenVersion.set(`${id}/${key}`, stat.version);
        finish('ok', stat.version);
      } else if (isZkError(e, ZkErr.badVersion)) {
        this.lastSeenVersion.delete(`${id}/${key}`);
        finish('ok', false);
      } else if (isZkError(e) && e.definite) finish('fail', [expected, value], errorName(e));
      else finish('info', [expected, value], errorName(e));
      then();
    });
  }

  private readonly lastSeenVersion = new Map<string, number>();

  /** A set and a read of the same key pipelined: the read must see the set (per-session FIFO). */
  private setThenRead(s: Session): void {
    const key = this.pickKey();
    let pending = 2;
    const done = (): void => {
      if (--pending === 0) this.again(s);
    };
    this.set(s, key, done);
    this.read(s, key, done, { pipelined: true });
  }

  // ---- ephemerals ------------------------------------------------------------------------------

  private createEphemeral(s: Session): void {
    const path = join(EPH_DIR, ephemeralName(s.id));
    s.client.callWith(zkCalls.create(path, String(s.slot), { mode: CreateMode.ephemeral }), (e) => {
      if (e === null || isZkError(e, ZkErr.nodeExists)) s.ephemeralDone = true;
      this.again(s);
    });
  }

  private readEphemerals(s: Session, then: () => void): void {
    const floor = this.floor(s);
    const id = s.id;
    s.client.callWith(zkCalls.getChildren(EPH_DIR), (e, r) => {
      if (e === null && r !== undefined) {
        this.ephemeralReads++;
        for (const stale of staleEphemerals(r.children, floor, this.facts)) {
          this.violations.push({
            invariant: 'coord-ephemeral',
            detail:
              `session ${id} listed ${EPH_DIR}/${stale.name} after it had seen zxid ${floor}, ` +
              `but that session was closed at zxid ${stale.closedAt}`,
          });
        }
      }
      then();
    });
  }

  // ---- the lock --------------------------------------------------------------------------------

  private lock(s: Session): void {
    s.inLock = true;
    const contender: LockSession = {
      id: s.id,
      client: s.client,
      live: () => this.current(s),
      setLongHold: (long: boolean) => {
        s.longHold = long;
      },
    };
    runLockCycle(this.lockContext(), contender, () => {
      s.inLock = false;
      this.again(s);
    });
  }

  private lockContext(): LockContext {
    return {
      sim: this.sim,
      rng: this.rng,
      facts: this.facts,
      register: this.register,
      options: this.o,
      granted: () => {
        this.lockGrants++;
      },
    };
  }

  // ---- the workload's own faults and sampling ---------------------------------------------------

  /**
   * Cuts a random slot's host from a random node for a while (client<->node partition), or now
   * and then from every node for longer than its session timeout (its session expires while the
   * client, maybe holding the lock, does not know it yet: a zombie the register must fence).
   */
  private cutClient(): void {
    if (this.sim.nowMs >= this.o.stopAtMs) return;
    const everywhere = this.rng.chance(0.25);
    const holder = this.slots.find((s) => s.longHold && !s.ended);
    const host = this.hostOf(everywhere && holder !== undefined ? holder.slot : this.rng.int(this.o.clients));
    const nodes = everywhere ? this.ids : [this.rng.pick(this.ids)];
    const cuts = nodes.map((node) => this.sim.clients.partition(host, node));
    this.clientCuts++;
    const durationMs = everywhere
      ? this.o.sessionTimeoutMs + 2_000 + this.rng.float() * 4_000
      : 300 + this.rng.float() * 4_000;
    this.sim.after(
      durationMs,
      () => {
        for (const c of cuts) c.heal();
      },
      'coord-client-heal',
    );
    this.sim.after(500 + this.rng.float() * 2_500, () => this.cutClient(), 'coord-client-cut');
  }

  /** Hooks new replicas' apply, samples session health, detects expiries. */
  private sample(): void {
    const now = this.sim.nowMs;
    for (const id of this.ids) {
      const node = this.sim.instance(id);
      if (node === undefined) continue;
      const state = coordOf(node).state;
      if (this.hooked.has(state)) continue;
      this.hooked.add(state);
      const prev = state.afterApply;
      // Seen at a slow-sync stall's end, as everything the node does after its fsync (Simulation.fromNode).
      const seen = this.sim.fromNode(id, (index: number) =>
        this.facts.applied(state.znodes.tree, index, this.sim.nowMs),
      );
      state.afterApply = (index) => {
        prev?.(index);
        seen(index);
      };
    }
    for (const s of this.allSessions) {
      if (s.id === 0 || s.closedSeen) continue;
      const closed = this.facts.closedAt.get(s.id);
      if (closed !== undefined) {
        s.closedSeen = true;
        if (!s.closedByClient) this.expiries++;
        if (!s.closedByClient && closed.atMs - s.lastUnhealthyMs > s.timeoutMs / 2 + this.o.expiryMarginMs) {
          this.violations.push({
            invariant: 'coord-session-expiry',
            detail:
              `session ${s.id} (timeout ${s.timeoutMs} ms) was closed at zxid ${closed.index} (${closed.atMs.toFixed(0)} ms) ` +
              `while its client had pinged a node in contact with a healthy majority since ${s.lastUnhealthyMs.toFixed(0)} ms`,
          });
        }
        continue;
      }
      if (!this.healthy(s)) s.lastUnhealthyMs = now;
    }
    this.sim.after(SAMPLE_MS, () => this.sample(), 'coord-sample');
  }

  /**
   * The client is connected to node N, N and the one coord leader are up and linked both ways (or
   * are one), the leader is linked both ways to a majority of up nodes, and no message loss is on
   * (clog delays are within expiryMarginMs). Why an expiry after timeout/2 + margin of this is
   * wrong: from the first healthy instant, the leader hears of the session within one touch gap
   * and again within every gap, so it never goes a whole timeout without; a leader change, a pause
   * or a cut ends the healthy stretch (a new leader grants every session a full timeout at its
   * first tick). Sound, not complete: any doubt counts as unhealthy.
   */
  private healthy(s: Session): boolean {
    if (s.ended || s.client.state !== 'connected') return false;
    const n = s.client.connectedEndpoint;
    if (n === null || this.sim.clients.isCut(this.hostOf(s.slot), n)) return false;
    const net = this.sim.network;
    if (net.config.lossProbability > 0) return false;
    const up = this.ids.filter((id) => this.sim.state(id) === 'up');
    if (!up.includes(n)) return false;
    const leaders = up.filter((id) => this.sim.instance(id)?.groups.get(COORD_GROUP)?.status().role === 'leader');
    if (leaders.length !== 1) return false;
    const leader = leaders[0]!;
    const linked = (a: string, b: string): boolean => a === b || (!net.linkBlocked(a, b) && !net.linkBlocked(b, a));
    if (!linked(n, leader)) return false;
    const majority = Math.floor(this.ids.length / 2) + 1;
    return up.filter((id) => linked(id, leader)).length >= majority;
  }

  // ---- after the safety phase ------------------------------------------------------------------

  /**
   * Liveness: every slot has a connected session, a write commits, and a read through every node
   * (after sync) lists no ephemeral of a closed session.
   */
  liveness(deadlineMs: number): void {
    const sim = this.sim;
    const remaining = (): number => Math.max(0, deadlineMs - sim.nowMs);
    if (!sim.runUntilCondition(() => this.setupDone, remaining()))
      throw sim.fail('liveness', 'coord setup never finished');
    const connected = (): boolean => this.slots.every((s) => this.renewIfExpired(s).client.state === 'connected');
    if (!sim.runUntilCondition(connected, remaining()))
      throw sim.fail('liveness', 'coord: not every session reconnected after healing');
    let committed = false;
    const write = (): void => {
      // The slot's session may expire after it reconnected (the leader expired it while its client
      // was cut off, and the close applied just after the reconnect): a new session writes then. Seed
      // 1866478 wrote through the expired one until the deadline.
      const c = this.renewIfExpired(this.slots[0]!).client;
      c.callWith(zkCalls.create(LIVENESS_PATH), (e) => {
        if (e === null || isZkError(e, ZkErr.nodeExists)) committed = true;
        else if (sim.nowMs < deadlineMs) sim.after(100, write, 'coord-liveness-write');
      });
    };
    write();
    if (!sim.runUntilCondition(() => committed, remaining()))
      throw sim.fail('liveness', 'coord: no write committed after healing');
    this.readEphemeralsEverywhere(deadlineMs);
    // A quiet period longer than a session timeout and the expiry bound: every session pings a
    // healthy cluster, so none may expire (the sampling in sample() judges it).
    // It runs in the settle time after liveness (inflightOps counts it), so that the run's
    // "converged after" stays the time to reconnect and commit.
    this.quietUntilMs = sim.nowMs + this.o.sessionTimeoutMs * 1.5 + 1_000;
  }

  private readEphemeralsEverywhere(deadlineMs: number): void {
    const sim = this.sim;
    for (const node of this.ids) {
      const c = new ZkClient({
        connectString: [node],
        sessionTimeoutMs: this.o.sessionTimeoutMs,
        io: simZkIo(sim, { host: `coord-checker-${node}`, rng: this.rng.fork(`checker-${node}`) }),
        delivery: 'sync',
      });
      let children: string[] | undefined;
      let floor = 0;
      const go = (): void => {
        if (c.state !== 'connected') return void sim.after(50, go, 'coord-checker');
        c.callWith(zkCalls.sync('/'), (e) => {
          if (e !== null) return void sim.after(100, go, 'coord-checker');
          floor = Number(c.lastZxidSeen);
          c.callWith(zkCalls.getChildren(EPH_DIR), (e2, r) => {
            if (e2 !== null || r === undefined) return void sim.after(100, go, 'coord-checker');
            children = r.children;
          });
        });
      };
      go();
      if (!sim.runUntilCondition(() => children !== undefined, Math.max(0, deadlineMs - sim.nowMs))) {
        throw sim.fail('liveness', `coord: no read of ${EPH_DIR} through ${node} after healing`);
      }
      for (const stale of staleEphemerals(children!, floor, this.facts)) {
        this.violations.push({
          invariant: 'coord-ephemeral',
          detail: `after healing, ${node} lists ${EPH_DIR}/${stale.name} of a session closed at zxid ${stale.closedAt}`,
        });
      }
      void c.close();
    }
  }

  /** Post-run checks, then the linearizability verdict on the setData histories. */
  check(): ClientSummary {
    this.order.checkFloors();
    this.watches.checkOrder((key, version) => this.order.mzxidOf(key, version));
    const history = this.recorder.history();
    const verdict: CheckResult = checkLinearizable(history, versionedRegisterModel([0, 0]), {
      timeBudgetMs: 30_000,
      now: realClock.monotonicMs,
    });
    const first =
      this.violations[0] ??
      (this.register.violations[0] !== undefined
        ? { invariant: 'coord-lock', detail: this.register.violations[0] }
        : undefined) ??
      (this.order.violations[0] !== undefined
        ? { invariant: 'coord-session-order', detail: this.order.violations[0] }
        : undefined) ??
      (this.watches.violations[0] !== undefined
        ? { invariant: 'coord-watch', detail: this.watches.violations[0] }
        : undefined);
    return {
      ops: this.opsCompleted,
      ok: this.opsOk,
      verdict: verdict.verdict,
      ...(verdict.reason !== undefined ? { reason: verdict.reason } : {}),
      checkMs: verdict.stats.elapsedMs,
      controlActions: 0,
      history,
      ...(first !== undefined ? { failure: first } : {}),
    };
  }

  /** Numbers for tests and reports. */
  counts(): Record<string, number> {
    return {
      ops: this.opsCompleted,
      ok: this.opsOk,
      lockGrants: this.lockGrants,
      lockAccepted: this.register.accepted,
      lockFenced: this.register.fenced,
      watchEvents: this.watches.delivered,
      expiries: this.expiries,
      closes: this.closes,
      sessions: this.allSessions.length,
      clientCuts: this.clientCuts,
      ephemeralReads: this.ephemeralReads,
      blobWrites: this.blobWrites,
      blobQuotaExceeded: this.blobQuotaExceeded,
    };
  }
}

function errorName(e: Error | null): string {
  if (e === null) return 'none';
  return isZkError(e) ? `zk${e.zkErr}` : e.name;
}

function overrides(options: Readonly<Record<string, unknown>>): Partial<CoordWorkloadOptions> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) {
    // Swarm's workload switches for raft-kv (control, sessions) mean nothing here.
    if (k === 'control' || k === 'sessions' || k === 'observe') continue;
    if (!(k in defaultCoordWorkload)) throw new Error(`coord workload: unknown option ${k}`);
    o[k] = v;
  }
  return o as Partial<CoordWorkloadOptions>;
}

/** Swarm's mix: the drawn intensity sets how many sessions run and how fast. */
function intensityKnobs(u: number | undefined): Partial<CoordWorkloadOptions> {
  if (u === undefined) return {};
  return { clients: 2 + Math.floor(u * 5), thinkMsMax: Math.round(300 - u * 250) };
}

export const coordSimWorkload: SimWorkload = {
  name: 'coord',
  description:
    'ZooKeeper sessions through the front end: lock with fencing tokens, ephemerals, conditional setData (linearizable), session order, watches, expiry',
  inMix: true,
  start(ctx): RunningWorkload {
    const o = overrides(ctx.options);
    const w = new CoordWorkload(ctx.sim, ctx.rng, {
      ...defaultCoordWorkload,
      ...intensityKnobs(ctx.intensity),
      ...o,
      stopAtMs: ctx.stopAtMs,
    });
    // Tests pass `observe` to read the workload's counts after the run.
    const observe = ctx.options['observe'];
    if (typeof observe === 'function') (observe as (w: CoordWorkload) => void)(w);
    return {
      get inflightOps() {
        return w.inflightOps;
      },
      controlActions: 0,
      settleMs: w.settleMs,
      liveness: (deadlineMs) => w.liveness(deadlineMs),
      check: () => w.check(),
    };
  },
};
