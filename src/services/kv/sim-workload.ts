// A Jepsen-style workload for the simulator: concurrent clients run read / write / cas on a few
// keys through random nodes of the metadata group, recording a history; a "control" nemesis moves
// leadership and changes membership mid-run; Raft's safety properties (src/raft/invariants.ts) are
// checked after every event on every group (sim-raft-invariants.ts); at the end the history must be linearizable (per-key register with
// cas, the checker in src/check) and every replica must hold the same state. Every session-less
// put or cas carries a value no other write carries, so the log may hold it at one index only:
// the `applied-once` invariant catches a request applied twice (a duplicated forwarded frame
// proposed again, issue 7 item 10), which the linearizability check cannot see when the second
// copy lands right after the first.
//
// Option blobBytesMax (> 0; off by default): one more client puts and deletes a dozen keys `blob<i>`
// of blobBytesMax/2 to blobBytesMax bytes, so that a run with a small snapshot bound
// (runClusterSimulation's snapshotDataBytesMax) fills the keyspace's bytes bound: its puts answer
// keyspace_full, and a node whose snapshot outgrew its bound stops (the run fails). An answer
// other than applied, keyspace_full or a transport error is a violation (`kv-blob`).
//
// Client conventions (Jepsen): a definite error records `fail`; a timeout or a crash of the node
// holding the request records `info`, and that client continues under a fresh process id.
// Deterministic: only virtual time and the simulation's seeded Rng.

import { realClock } from '../../env/real-time.ts';
import type { History } from '../../check/history.ts';
import { checkHistory } from '../../check/index.ts';
import { HistoryRecorder } from '../../check/recorder.ts';
import type { CheckResult } from '../../check/types.ts';
import { bytesEqual } from '../../lib/bytes.ts';
import type { SeededRng } from '../../lib/rng.ts';
import { defaultKvOptions, kvRequestOf } from '../../metadata/kv.ts';
import type { KvOutcome, SessionOutcome } from '../../metadata/kv-service.ts';
import type { RunningWorkload, ServiceHost, SimWorkload } from '../../node/service.ts';
import { attachRaftInvariants, type GroupInvariants } from '../../node/sim-raft-invariants.ts';
import { awaitFullConfiguration, groupsApplied } from '../../node/sim-raft-liveness.ts';
import { type Entry, EntryType } from '../../raft/types.ts';
import type { Simulation } from '../../sim/simulation.ts';
import { KV_GROUP, kvOf } from './running.ts';

export interface KvWorkloadOptions {
  readonly clients: number;
  readonly keys: number;
  /** Client-side give-up time: beyond it an op is `info` (the node may have crashed with it). */
  readonly clientTimeoutMs: number;
  /** Think time between a client's ops, uniform in [0, thinkMsMax]. */
  readonly thinkMsMax: number;
  /** Stop issuing new ops at this virtual time. */
  readonly stopAtMs: number;
  /** Leadership transfers and membership changes while the safety phase runs. */
  readonly control: boolean;
  /**
   * 'linearizable' (ReadIndex) is the real workload. 'serializable' reads local state and may be
   * stale: the tests use it to show that the harness does catch a non-linearizable system.
   */
  readonly readConsistency: 'linearizable' | 'serializable';
  /**
   * Exactly-once mode: each client opens a session and retries a write or cas with the same
   * (session, seq) after any answer short of a definite one, until it gets one or its deadline
   * passes. If the state machine ever executed a retry twice, the history would show it.
   */
  readonly sessions: boolean;
  /** Sessions mode: an attempt with no answer by then is retried (its node may have crashed). */
  readonly attemptTimeoutMs: number;
  /** Largest value of the blob writer's keys; 0: no blob writer (see the header). */
  readonly blobBytesMax: number;
}

export const defaultKvWorkload: Omit<KvWorkloadOptions, 'stopAtMs'> = {
  clients: 5,
  keys: 3,
  clientTimeoutMs: 8_000,
  thinkMsMax: 50,
  control: true,
  readConsistency: 'linearizable',
  sessions: false,
  attemptTimeoutMs: 1_500,
  blobBytesMax: 0,
};

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
/** The workload's keys (`k0`, `k1`, ...). */
const WORKLOAD_KEY = /^k\d+$/;
const dec = (b: Uint8Array | null): number | null => (b === null ? null : Number(new TextDecoder().decode(b)));

export class KvWorkload<S extends ServiceHost = ServiceHost> {
  readonly recorder = new HistoryRecorder();
  /** Raft safety on every group (the same checkers sim-cluster.ts attaches). */
  readonly invariants: GroupInvariants;
  private nextProcess: number;
  private nextValue = 1;
  private inflight = 0;
  private readonly ids: readonly string[];
  opsCompleted = 0;
  opsOk = 0;
  controlActions = 0;
  blobWrites = 0;
  blobKeyspaceFull = 0;
  private blobViolation: string | undefined;

  constructor(
    private readonly sim: Simulation<S>,
    private readonly rng: SeededRng,
    private readonly o: KvWorkloadOptions,
  ) {
    this.ids = sim.nodeIds;
    this.nextProcess = o.clients;
    this.invariants = attachRaftInvariants(sim);
    this.invariants.onApplied(KV_GROUP, (_node, e) => this.checkAppliedOnce(e));
    sim.addInvariant('applied-once', () => this.appliedTwice);
    for (let c = 0; c < o.clients; c++) sim.after(this.rng.float() * 100, () => this.issue(c), 'client');
    if (o.control) sim.after(2_000 + this.rng.float() * 2_000, () => this.controlStep(), 'control');
    if (o.blobBytesMax > 0) {
      sim.addInvariant('kv-blob', () => this.blobViolation);
      this.startBlobs();
    }
  }

  /** The blob writer (its own Rng stream: the clients draw as without it). */
  private startBlobs(): void {
    const rng = this.rng.fork('blobs');
    const next = (): void => {
      if (this.sim.nowMs < this.o.stopAtMs) this.sim.after(rng.float() * 4 * this.o.thinkMsMax, write, 'kv-blobs');
    };
    const write = (): void => {
      const nodeId = rng.pick(this.ids);
      const node = this.sim.instance(nodeId);
      if (node === undefined) return next();
      const key = enc(`blob${rng.int(12)}`);
      const size = Math.ceil(this.o.blobBytesMax / 2 + rng.float() * (this.o.blobBytesMax / 2));
      const op = rng.chance(0.7)
        ? { op: 'put' as const, key, value: new Uint8Array(size).fill(0x61 + rng.int(26)) }
        : { op: 'del' as const, key };
      kvOf(node).client.write(
        op,
        undefined,
        this.sim.fromNode(nodeId, (o: KvOutcome): void => {
          if (o.ok) {
            const r = o.result;
            if (r.ok) this.blobWrites++;
            else if (r.code === 'keyspace_full') this.blobKeyspaceFull++;
            else this.blobViolation ??= `${op.op} blob: ${r.code}`;
          }
          next();
        }),
      );
    };
    next();
  }

  /** Log index of each session-less workload write, by "key=value" (values are unique per write). */
  private readonly appliedAt = new Map<string, number>();
  private appliedTwice: string | undefined;

  private checkAppliedOnce(e: Entry): void {
    if (e.type !== EntryType.Normal) return;
    const c = kvRequestOf(e.data);
    if (c === undefined || c.sessionId !== 0) return;
    const r = c.op;
    if (r.op !== 'put' && r.op !== 'cas') return;
    const key = new TextDecoder().decode(r.key);
    if (!WORKLOAD_KEY.test(key)) return; // e.g. the liveness phase's write, retried with one value
    const write = `${key}=${new TextDecoder().decode(r.value)}`;
    const at = this.appliedAt.get(write);
    if (at === undefined) this.appliedAt.set(write, e.index);
    else if (at !== e.index)
      this.appliedTwice ??= `session-less ${r.op} ${write} is in the log at ${at} and ${e.index}`;
  }

  get inflightOps(): number {
    return this.inflight;
  }

  history(): History {
    return this.recorder.history();
  }

  check(): CheckResult {
    // The check runs after the simulation, on the process's real clock (a budget in virtual time
    // would never expire), read through the I/O layer's one real Clock; it cannot influence the
    // run or its trace hash.
    return checkHistory(this.history(), 'kv', { timeBudgetMs: 30_000, now: realClock.monotonicMs });
  }

  private timeNs(): number {
    return Math.round(this.sim.nowMs * 1e6);
  }

  /** Sessions mode: the client's open session, per process. */
  private readonly sessionOf = new Map<number, { id: number; seq: number }>();
  retries = 0;

  private issue(process: number): void {
    if (this.sim.nowMs >= this.o.stopAtMs) return;
    if (this.o.sessions && !this.sessionOf.has(process)) return this.openSession(process);
    const key = `k${this.rng.int(this.o.keys)}`;
    const roll = this.rng.float();
    const nodeId = this.rng.pick(this.ids);
    const node = this.sim.instance(nodeId);
    const f = roll < 0.4 ? 'read' : roll < 0.8 ? 'write' : 'cas';
    const value: unknown =
      f === 'read' ? null : f === 'write' ? this.nextValue++ : [this.rng.int(this.nextValue), this.nextValue++];
    this.recorder.invoke(process, f, value, { timeNs: this.timeNs(), key });
    this.inflight++;
    let settled = false;
    const finish = (type: 'ok' | 'fail' | 'info', result: unknown, error?: string): void => {
      if (settled) return;
      settled = true;
      this.inflight--;
      this.opsCompleted++;
      const fields = { timeNs: this.timeNs(), key, ...(error !== undefined ? { error } : {}) };
      if (type === 'ok') {
        this.opsOk++;
        this.recorder.ok(process, result, fields);
      } else if (type === 'fail') this.recorder.fail(process, result, fields);
      else this.recorder.info(process, result, fields);
      // After `info` the client continues as a new process (Jepsen).
      const next = type === 'info' ? this.nextProcess++ : process;
      this.sim.after(this.rng.float() * this.o.thinkMsMax, () => this.issue(next), 'client');
    };
    this.sim.after(this.o.clientTimeoutMs, () => finish('info', value, 'client_timeout'), 'client-timeout');
    if (node === undefined) return finish('fail', value, 'connection_refused');
    if (this.o.sessions && f !== 'read') return this.withSession(process, f, key, value, finish);
    // Answers from a node inside a slow-sync stall reach the client at its end (Simulation.fromNode).
    const onOutcome = this.sim.fromNode(nodeId, (o: KvOutcome): void => {
      if (!o.ok) return finish(o.error.definite ? 'fail' : 'info', value, o.error.code);
      const r = o.result;
      if (f === 'read') return r.ok ? finish('ok', dec(r.value)) : finish('fail', null, r.code);
      if (r.ok) return finish('ok', value);
      // precondition_failed: the cas definitely did not happen (Knossos convention).
      return finish('fail', value, r.code);
    });
    const keyBytes = enc(key);
    if (f === 'read') kvOf(node).client.read(keyBytes, this.o.readConsistency, onOutcome);
    else if (f === 'write')
      kvOf(node).client.write({ op: 'put', key: keyBytes, value: enc(String(value)) }, undefined, onOutcome);
    else {
      const [from, to] = value as [number, number];
      kvOf(node).client.write(
        { op: 'cas', key: keyBytes, expected: enc(String(from)), value: enc(String(to)) },
        undefined,
        onOutcome,
      );
    }
  }

  /** Opens a session for `process` through a random node (retried until it works; not recorded). */
  private openSession(process: number): void {
    const nodeId = this.rng.pick(this.ids);
    const node = this.sim.instance(nodeId);
    const retry = (): void => void this.sim.after(100, () => this.issue(process), 'client-session');
    if (node === undefined) return retry();
    let answered = false;
    const timedOut = (): void => {
      if (answered) return;
      answered = true;
      retry();
    };
    this.sim.after(this.o.attemptTimeoutMs, timedOut, 'client-session-timeout');
    kvOf(node).client.openSession(
      `client-${process}`,
      this.sim.fromNode(nodeId, (o: SessionOutcome) => {
        if (answered) return;
        answered = true;
        if (o.ok) {
          this.sessionOf.set(process, { id: o.value, seq: 0 });
          this.issue(process);
        } else retry();
      }),
    );
  }

  /**
   * A write or cas under the client's session: the same (session, seq) is sent again, to random
   * nodes, after every answer that is not definite-and-final, until the op is settled or the
   * client's deadline passes (then `info`, and the client starts over with a new session).
   */
  private withSession(
    process: number,
    f: string,
    key: string,
    value: unknown,
    finish: (type: 'ok' | 'fail' | 'info', result: unknown, error?: string) => void,
  ): void {
    const session = this.sessionOf.get(process)!;
    session.seq++;
    const seq = session.seq;
    const deadlineMs = this.sim.nowMs + this.o.clientTimeoutMs - 100;
    const op =
      f === 'write'
        ? { op: 'put' as const, key: enc(key), value: enc(String(value)) }
        : {
            op: 'cas' as const,
            key: enc(key),
            expected: enc(String((value as number[])[0])),
            value: enc(String((value as number[])[1])),
          };
    let attempt = 0;
    let done = false;
    const giveUp = (code: string): void => {
      done = true;
      this.sessionOf.delete(process);
      finish('info', value, code);
    };
    const send = (): void => {
      if (done) return;
      if (this.sim.nowMs >= deadlineMs) return giveUp('retries_exhausted');
      const mine = ++attempt;
      if (mine > 1) this.retries++;
      const again = (): void => {
        if (!done && mine === attempt) this.sim.after(50, send, 'client-retry');
      };
      this.sim.after(this.o.attemptTimeoutMs, again, 'client-attempt-timeout');
      const nodeId = this.rng.pick(this.ids);
      const node = this.sim.instance(nodeId);
      if (node === undefined) return;
      kvOf(node).client.write(
        op,
        { id: session.id, seq },
        this.sim.fromNode(nodeId, (o: KvOutcome) => {
          if (done || mine !== attempt) return; // a late answer to an earlier attempt
          if (!o.ok) return again(); // no leader, timeout, dropped: the same (session, seq) again
          const r = o.result;
          done = true;
          if (r.ok) return finish('ok', value);
          if (r.code === 'precondition_failed') return finish('fail', value, r.code);
          // session_expired / stale_sequence: whether it ran is unknown; start a new session.
          done = false;
          giveUp(r.code);
        }),
      );
    };
    send();
  }

  /** Moves leadership, or removes a voter and later adds it back (learner first, then voter). */
  private controlStep(): void {
    if (this.sim.nowMs >= this.o.stopAtMs) return;
    const leaderId = this.ids.find((id) => {
      const n = this.sim.instance(id);
      return n !== undefined && kvOf(n).group.driver.core.role === 'leader';
    });
    const leader = leaderId === undefined ? undefined : this.sim.instance(leaderId);
    if (leader !== undefined && leaderId !== undefined) {
      const raft = kvOf(leader).group.driver;
      const conf = raft.core.config;
      const missing = this.ids.filter((id) => !conf.voters.includes(id));
      const learner = conf.learners[0];
      let err: Error | undefined;
      if (learner !== undefined) err = raft.changeMembership({ type: 'addVoter', nodeId: learner });
      else if (missing[0] !== undefined) err = raft.changeMembership({ type: 'addLearner', nodeId: missing[0] });
      else if (this.rng.chance(0.5) && conf.voters.length > 3) {
        const victim = this.rng.pick(conf.voters.filter((v) => v !== leaderId));
        err = raft.changeMembership({ type: 'remove', nodeId: victim });
      } else {
        err = raft.transferLeadership(this.rng.pick(conf.voters.filter((v) => v !== leaderId)));
      }
      if (err === undefined) this.controlActions++;
    }
    this.sim.after(1_000 + this.rng.float() * 3_000, () => this.controlStep(), 'control');
  }
}

/** Test and CLI overrides of the workload (`barista sim --read-consistency`, `--sessions`). */
function overrides(options: Readonly<Record<string, unknown>>): Partial<KvWorkloadOptions> {
  const o: { -readonly [K in keyof KvWorkloadOptions]?: KvWorkloadOptions[K] } = {};
  for (const [k, v] of Object.entries(options)) {
    if (!(k in defaultKvWorkload)) throw new Error(`raft-kv workload: unknown option ${k}`);
    (o as Record<string, unknown>)[k] = v;
  }
  return o;
}

/** Swarm's workload mix: the drawn intensity sets how many clients run and over how many keys. */
function intensityKnobs(u: number | undefined): Partial<KvWorkloadOptions> {
  if (u === undefined) return {};
  return { clients: 1 + Math.floor(u * 8), keys: 1 + Math.floor(u * 4), thinkMsMax: Math.round(200 - u * 190) };
}

/** The registered workload: KvWorkload plus Raft's liveness phase and the checker's verdict. */
export const kvSimWorkload: SimWorkload = {
  name: 'raft-kv',
  description: 'clients read/write/cas a few keys through random nodes; linearizability, Raft safety, convergence',
  inMix: true,
  start(ctx): RunningWorkload {
    const o = overrides(ctx.options);
    const w = new KvWorkload(ctx.sim, ctx.rng, {
      ...defaultKvWorkload,
      ...intensityKnobs(ctx.intensity),
      ...o,
      stopAtMs: ctx.stopAtMs,
    });
    return {
      get inflightOps() {
        return w.inflightOps;
      },
      get controlActions() {
        return w.controlActions;
      },
      settleMs: (o.clientTimeoutMs ?? defaultKvWorkload.clientTimeoutMs) + 1_000,
      liveness: (deadlineMs) => raftLiveness(ctx.sim, deadlineMs),
      check: () => {
        const verdict = w.check();
        const history = w.history();
        // A session expires after sessionTimeoutMs (5 min) of log time without a request; a run is
        // far shorter, so an expiry means log time ran ahead (issue 7 item 9: a wall clock in it).
        const expired = history.filter((op) => op.error === 'session_expired').length;
        const nowMs = ctx.sim.nowMs;
        return {
          ops: w.opsCompleted,
          ok: w.opsOk,
          verdict: verdict.verdict,
          ...(verdict.reason !== undefined ? { reason: verdict.reason } : {}),
          checkMs: verdict.stats.elapsedMs,
          controlActions: w.controlActions,
          history,
          counts: { blobWrites: w.blobWrites, blobKeyspaceFull: w.blobKeyspaceFull },
          ...(expired > 0 && nowMs < defaultKvOptions.sessionTimeoutMs
            ? {
                failure: {
                  invariant: 'session-expiry',
                  detail: `${expired} ops found their session expired in a ${nowMs} ms run`,
                },
              }
            : {}),
        };
      },
    };
  },
};

/**
 * The KV workload's liveness: with everything healed, every Raft group has a leader and every node
 * is a voter again in every group (sim-raft-liveness.ts), a fresh KV write commits, and every
 * replica of every group applies what its leader committed, the KV replicas holding the same
 * state, all before `deadlineMs`.
 */
export function raftLiveness<S extends ServiceHost>(sim: Simulation<S>, deadlineMs: number): void {
  const ids = sim.nodeIds;
  const remaining = (): number => Math.max(0, deadlineMs - sim.nowMs);
  awaitFullConfiguration(sim, deadlineMs);
  const leader = (): S | undefined => {
    for (const id of ids) {
      const n = sim.instance(id);
      if (n !== undefined && kvOf(n).group.driver.core.role === 'leader') return n;
    }
    return undefined;
  };
  let committed = false;
  let attempts = 0;
  const tryWrite = (): void => {
    const l = leader();
    attempts++;
    if (l === undefined) {
      if (attempts < 1_000) sim.after(100, tryWrite, 'liveness-write');
      return;
    }
    kvOf(l).client.write({ op: 'put', key: enc('liveness'), value: new Uint8Array([1]) }, undefined, (o) => {
      if (o.ok && o.result.ok) committed = true;
      else if (attempts < 1_000) sim.after(100, tryWrite, 'liveness-write');
    });
  };
  tryWrite();
  if (!sim.runUntilCondition(() => committed, remaining()))
    throw sim.fail('liveness', 'no write committed after healing');
  const agreed = (): boolean => {
    if (!groupsApplied(sim)) return false;
    const nodes = ids.map((id) => sim.instance(id)!);
    const image = kvOf(nodes[0]!).state.snapshot();
    return nodes.every((n) => bytesEqual(kvOf(n).state.snapshot(), image));
  };
  if (!sim.runUntilCondition(agreed, remaining()))
    throw sim.fail('liveness', 'replicas did not converge to the same applied state');
}
