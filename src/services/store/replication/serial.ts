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
// propose (it need not be a replica). The Paxos state is its own key space (the store's `p`
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
  encodePaxosMessage,
  PaxosAcceptor,
  type PaxosMessage,
  type PaxosOperation,
  type PaxosOutcome,
  type PaxosOutgoing,
  PaxosProposer,
  type PaxosStore,
} from '../../../dynamo/paxos.ts';

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
  private nextOp: number;
  /** Self-addressed messages waiting for the local step that sent them to end. */
  private readonly local: Array<{ from: NodeId; message: PaxosMessage }> = [];
  private draining = false;
  private stopped = false;
  private readonly outcomes = new Map<string, Counter>();
  private readonly stale: Counter;
  private readonly strangers: Counter;
  /** Calls each operation's `done`: a ProtocolError it throws is answered as internal (continuation.ts). */
  private readonly continuations: Continuations;

  constructor(
    private readonly c: SerialComponents,
    private readonly config: SerialConfig,
  ) {
    this.acceptor = new PaxosAcceptor(c.store, c.env.mutations);
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
  }

  /** The peer message type this handles (register it on the node's router). */
  static readonly messageType = MessageType.DynamoPaxos;

  get inFlight(): number {
    return this.running.size;
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
      if (out.syncNeeded) this.c.store.sync();
      this.sendOne(from, out.reply);
      // A new value committed (not a read's re-commit of the same one): blocked pops on it wake.
      if (out.valueChanged === true) this.onCommit?.(m.key);
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
