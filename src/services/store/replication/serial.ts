// SERIAL operations of the Dynamo store: the per-key single-decree Paxos of src/dynamo/paxos.ts
// (Cassandra's lightweight transactions) on a real node — its acceptor over the node's durable
// Paxos store, its proposers for this node's SERIAL requests, their peer messages as one type
// (MessageType.DynamoPaxos; the payload is paxos-messages.ts with its own version and tag), ticks
// from the ReplicaNode's timer and the liveness view of its failure detector.
//
// The driver contract of paxos.ts, kept here:
//   - a request (prepare, propose, commit) goes to the local acceptor; when its output says
//     syncNeeded the store is synced BEFORE the reply is handed to the transport (a promise or an
//     accept a crash could forget breaks safety: the mutation 'paxos-promise-unsynced' is the
//     acceptor's own negative control);
//   - a proposer addresses every participant, itself included: a self-addressed message is handed
//     to the local acceptor (and its reply back) without the network, through a queue, so one
//     step never recurses;
//   - replies go to the proposer of their op; a reply for an op no longer running is stale.
// Participants are the key's natural and pending replicas on this node's ring; any node may
// propose (it need not be a replica).
//
// A node whose data was lost (the operator's wipe; `amnesiac`, recorded by the store for every
// later life) forgot promises and accepted values its peers counted on. Its acceptor answers no
// request for a key it has not learned since: the request starts a PaxosRecovery of the key
// (paxos.ts: a prepare to the other participants at a ballot above what they promised and this
// node's clock + a margin), whose outcome the acceptor learns and the store syncs before any answer
// for the key. Until then the node is, for that key, as if down. Recoveries in flight at most
// `opsMax` (more: the request goes unanswered, as any); each ends by its timeout. The Paxos state is its own key space (the store's `p`
// prefix), apart from the key's Dynamo state: SERIAL reads and writes see each other, non-SERIAL
// ones do not see them (docs/COMPAT-REDIS.md; Cassandra: mixing is not linearizable either).
//
// Bounds: proposers in flight at most `serialOpsMax` (more: limit_exceeded, definite); each ends by
// its timeout. Errors: replicas_unavailable (definite), timeout (indefinite once a changing
// proposal was sent), outcome_unknown, limit_exceeded, stopped.

import type { Counter, Env, Logger, Metrics, NodeId } from '../../../env/types.ts';
import { BaristaError, ProtocolError } from '../../../lib/errors.ts';
import { limits } from '../../../lib/limits.ts';
import { Continuations } from '../../../lib/continuation.ts';
import { MessageType } from '../../../lib/message-types.ts';
import {
  BallotGenerator,
  decodePaxosMessage,
  type Ballot,
  encodePaxosMessage,
  PaxosAcceptor,
  type PaxosMessage,
  type PaxosOperation,
  type PaxosOutcome,
  type PaxosOutgoing,
  PaxosProposer,
  PaxosRecovery,
  type PaxosStore,
} from '../../../dynamo/paxos.ts';
import { latin1String } from '../../../lib/bytes.ts';

export interface SerialComponents {
  readonly env: Env;
  readonly store: PaxosStore;
  /** The key's natural and pending replicas on this node's current ring. */
  readonly locate: (key: Uint8Array) => { readonly replicas: readonly NodeId[]; readonly pending: readonly NodeId[] };
  /** The failure detector's view, read when a proposer starts or ticks. */
  readonly isUp: (node: NodeId) => boolean;
  /** Whether a node is on this node's ring: only ring nodes' Paxos requests are taken. */
  readonly isRingNode: (node: NodeId) => boolean;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** This node's store lost its data (a wipe): keys are learned before they are answered for. */
  readonly amnesiac?: boolean;
}

export interface SerialConfig {
  /** An operation ends (timeout) after this many ticks. */
  readonly timeoutTicks: number;
  /** A refused round waits 1..backoffTicksMax ticks. */
  readonly backoffTicksMax: number;
  /** Proposers in flight at once. */
  readonly opsMax: number;
}

interface Running {
  readonly proposer: PaxosProposer;
  readonly kind: PaxosOperation['kind'];
  readonly done: (outcome: PaxosOutcome) => void;
}

export class SerialCoordinator {
  /** Told the register of every commit of a new value this node's acceptor takes (blocking pops wake on it). */
  onCommit: ((register: Uint8Array) => void) | undefined;
  private readonly acceptor: PaxosAcceptor;
  private readonly ballots: BallotGenerator;
  private readonly running = new Map<number, Running>();
  /** Keys this amnesiac node is learning, by op id (and the op of each key, by its hex). */
  private readonly recoveries = new Map<number, { readonly key: Uint8Array; readonly run: PaxosRecovery }>();
  private readonly recoveringKeys = new Map<string, number>();
  private learnedCount = 0;
  private nextOp: number;
  /** Self-addressed messages waiting for the local step that sent them to end. */
  private readonly local: Array<{ from: NodeId; message: PaxosMessage }> = [];
  private draining = false;
  private stopped = false;
  private readonly outcomes = new Map<string, Counter>();
  private readonly stale: Counter;
  private readonly strangers: Counter;
  private readonly recoveryCounters: { learned: Counter; timeout: Counter; full: Counter };
  /** Calls each operation's `done`: a ProtocolError it throws is answered as internal (continuation.ts). */
  private readonly continuations: Continuations;

  constructor(
    private readonly c: SerialComponents,
    private readonly config: SerialConfig,
  ) {
    this.acceptor = new PaxosAcceptor(c.store, c.env.mutations, { amnesiac: c.amnesiac === true });
    this.ballots = new BallotGenerator(c.env.nodeId);
    this.continuations = new Continuations(c.metrics, c.log, c.env.clock, 'dynamo_paxos');
    // Op ids from a random base (as replica.ts): a restarted node does not take a stale reply for a new op.
    this.nextOp = c.env.rng.int(2 ** 32) * 2 ** 20 + 1;
    this.stale = c.metrics.counter(
      'dynamo_paxos_stale_replies_total',
      'Paxos replies for operations no longer running',
    );
    this.strangers = c.metrics.counter(
      'dynamo_paxos_strangers_total',
      'Paxos requests from nodes not on this ring (dropped: each would cost a state write and a sync)',
    );
    const recovery = (outcome: string) =>
      c.metrics.counter(
        'dynamo_paxos_recoveries_total',
        'Keys this node, whose data was lost, set out to learn from the other replicas before answering for them, by outcome (full: at the bound of recoveries in flight, the request went unanswered)',
        { outcome },
      );
    this.recoveryCounters = { learned: recovery('learned'), timeout: recovery('timeout'), full: recovery('full') };
  }

  /** The peer message type this handles (register it on the node's router). */
  static readonly messageType = MessageType.DynamoPaxos;

  get inFlight(): number {
    return this.running.size;
  }

  /** Keys being learned (an amnesiac node's recoveries in flight). */
  get recovering(): number {
    return this.recoveries.size;
  }

  /** Runs one SERIAL operation on `key`; `done` is called once, possibly before this returns. */
  submit(key: Uint8Array, operation: PaxosOperation, done: (outcome: PaxosOutcome) => void): void {
    const finish = (outcome: PaxosOutcome) => {
      this.count(operation.kind, outcome);
      this.continuations.call(done, outcome, (error): PaxosOutcome => ({ ok: false, error }));
    };
    if (this.stopped) return finish({ ok: false, error: new BaristaError('stopped', 'the node is stopping') });
    if (key.length > limits.kvKeyBytesMax)
      return finish({ ok: false, error: new BaristaError('key_too_large', `key of ${key.length} bytes`) });
    if (this.running.size >= this.config.opsMax) {
      return finish({
        ok: false,
        error: new BaristaError('limit_exceeded', `${this.running.size} SERIAL operations in flight`, {
          fields: { limit: 'inflightRequestsMax' },
        }),
      });
    }
    const { replicas, pending } = this.c.locate(key);
    if (replicas.length === 0) {
      return finish({ ok: false, error: new BaristaError('replicas_unavailable', 'the token ring is not known yet') });
    }
    const op = this.nextOp++;
    const proposer = new PaxosProposer(
      {
        node: this.c.env.nodeId,
        op,
        key,
        operation,
        replicas,
        pending,
        timeoutTicks: this.config.timeoutTicks,
        backoffTicksMax: this.config.backoffTicksMax,
      },
      {
        rng: this.c.env.rng,
        nowMs: () => this.c.env.clock.wallMs(),
        ballots: this.ballots,
        isUp: (n) => n === this.c.env.nodeId || this.c.isUp(n),
        mutations: this.c.env.mutations,
      },
    );
    this.running.set(op, { proposer, kind: operation.kind, done: finish });
    this.send(proposer.start());
    this.settle(op);
  }

  /** The ReplicaNode's tick: proposers time out and retry. */
  tick(): void {
    for (const [op, r] of [...this.running]) {
      if (!this.running.has(op)) continue;
      this.send(r.proposer.tick());
      this.settle(op);
    }
    for (const [op, r] of [...this.recoveries]) {
      if (!this.recoveries.has(op)) continue;
      this.send(r.run.tick());
      this.settleRecovery(op);
    }
  }

  /** A Paxos peer message (the router's handler). Untrusted bytes: a ProtocolError is the router's to count. */
  receive(from: NodeId, payload: Uint8Array): void {
    if (this.stopped) return;
    if (payload.length > limits.dynamoMessageBytesMax) {
      throw new ProtocolError('dynamo_malformed', `paxos message of ${payload.length} bytes`);
    }
    this.handle(from, decodePaxosMessage(payload));
    this.drain();
  }

  /** Ends every operation in flight with `timeout` (indefinite: a proposal may have been accepted). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    const left = [...this.running.values()];
    this.running.clear();
    this.recoveries.clear();
    this.recoveringKeys.clear();
    for (const r of left) {
      r.done({
        ok: false,
        error: new BaristaError('timeout', 'the node stopped with the SERIAL operation in flight', {
          definite: r.kind === 'read',
        }),
      });
    }
  }

  private handle(from: NodeId, m: PaxosMessage): void {
    if (m.type === 'prepare' || m.type === 'propose' || m.type === 'commit') {
      if (from !== this.c.env.nodeId && !this.c.isRingNode(from)) {
        this.strangers.inc();
        return;
      }
      const out = this.acceptor.receive(m);
      if (out.recover === true) this.recover(m.key);
      if (out.reply === null) return;
      if (out.syncNeeded) this.c.store.sync();
      this.sendOne(from, out.reply);
      // A new value committed (not a read's re-commit of the same one): blocked pops on it wake.
      if (out.valueChanged === true) this.onCommit?.(m.key);
      return;
    }
    const learning = this.recoveries.get(m.op);
    if (learning !== undefined) {
      this.send(learning.run.receive(from, m));
      this.settleRecovery(m.op);
      return;
    }
    const r = this.running.get(m.op);
    if (r === undefined) {
      this.stale.inc();
      return;
    }
    this.send(r.proposer.receive(from, m));
    this.settle(m.op);
  }

  /** Starts learning `key` (once at a time per key), unless opsMax recoveries are in flight. */
  private recover(key: Uint8Array): void {
    const hex = latin1String(key);
    if (this.recoveringKeys.has(hex)) return;
    if (this.recoveries.size >= this.config.opsMax) {
      this.recoveryCounters.full.inc();
      return;
    }
    const { replicas, pending } = this.c.locate(key);
    if (replicas.length === 0) return; // the ring is not known yet: the request goes unanswered
    const op = this.nextOp++;
    const run = new PaxosRecovery(
      {
        node: this.c.env.nodeId,
        op,
        key,
        replicas,
        pending,
        timeoutTicks: this.config.timeoutTicks,
        backoffTicksMax: this.config.backoffTicksMax,
      },
      { rng: this.c.env.rng, nowMs: () => this.c.env.clock.wallMs() },
    );
    this.recoveries.set(op, { key, run });
    this.recoveringKeys.set(hex, op);
    this.send(run.start());
    this.settleRecovery(op);
  }

  private settleRecovery(op: number): void {
    const r = this.recoveries.get(op);
    if (r === undefined || r.run.outcome === undefined) return;
    this.recoveries.delete(op);
    this.recoveringKeys.delete(latin1String(r.key));
    if (!r.run.outcome.ok) {
      this.recoveryCounters.timeout.inc();
      return;
    }
    // Synced before any answer for the key: a crash before it leaves the key unknown, learned again.
    this.acceptor.learn(r.key, r.run.outcome.state);
    this.c.store.sync();
    this.recoveryCounters.learned.inc();
    // A learned commit is this node's first of the key: blocked pops on it wake (as a commit's do).
    if (r.run.outcome.state.committed !== null) this.onCommit?.(r.key);
    this.logLearned(r.key, r.run.outcome.state.promised);
  }

  private logLearned(key: Uint8Array, promised: Ballot): void {
    // The first few only (bounded logging): enough to show a wiped node's recovery began.
    if (++this.learnedCount > 3) return;
    this.c.log.info(
      { key: latin1String(key).slice(0, 64), promisedMs: promised.ms, learned: this.learnedCount },
      'SERIAL: learned the Paxos state of a key this node forgot (its data was lost)',
    );
  }

  private settle(op: number): void {
    const r = this.running.get(op);
    if (r === undefined || r.proposer.outcome === undefined) return;
    this.running.delete(op);
    r.done(r.proposer.outcome);
  }

  private send(out: readonly PaxosOutgoing[]): void {
    for (const { to, message } of out) this.sendOne(to, message);
    this.drain();
  }

  private sendOne(to: NodeId, message: PaxosMessage): void {
    if (to === this.c.env.nodeId) {
      this.local.push({ from: to, message });
      return;
    }
    const bytes = encodePaxosMessage(message);
    if (bytes.length > limits.dynamoMessageBytesMax) return; // the op times out
    this.c.env.transport.send(to, MessageType.DynamoPaxos, bytes);
  }

  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      for (let m = this.local.shift(); m !== undefined; m = this.local.shift()) this.handle(m.from, m.message);
    } finally {
      this.draining = false;
    }
  }

  private count(kind: PaxosOperation['kind'], outcome: PaxosOutcome): void {
    const label = outcome.ok ? (outcome.applied ? 'applied' : 'not_applied') : outcome.error.code;
    const id = `${kind}/${label}`;
    let c = this.outcomes.get(id);
    if (c === undefined) {
      // Bounded: 3 kinds x (2 + the error catalogue).
      c = this.c.metrics.counter('dynamo_serial_ops_total', 'SERIAL (Paxos) operations by kind and outcome', {
        kind,
        outcome: label,
      });
      this.outcomes.set(id, c);
    }
    c.inc();
  }
}
