// A synchronous, deterministic in-test network for the per-key Paxos (paxos.ts), after testing.ts:
// one PaxosAcceptor over a MemoryReplicaStore per node, clients that each run one operation at a
// time through a PaxosProposer on a random node, and every message encoded and decoded through
// paxos-messages.ts. Faults, all drawn from the seed: delivery in random order, drops, duplicates,
// acceptor crashes (the store loses what was not synced), crashes in the middle of a step (the
// step's writes are never synced, its reply is lost), proposer crashes (the operation's outcome
// is never known), and wipes (a node loses all its data and restarts amnesiac, as the operator's
// wipe and rejoin does: its acceptor learns each key's state through a PaxosRecovery before it
// answers again; its proposers die with it). The driver contract of paxos.ts is kept: a step that says syncNeeded is synced
// BEFORE its reply is queued.
//
// Every operation is recorded as a Jepsen history (src/check/history.ts) for the cas-register
// model: read → the value; write v; cas [expected, new] → [expected, new] when applied, false when
// the condition failed. A definite error is `fail`, anything else `info` (the client then uses a
// new process id); operations still open at the end stay open (indeterminate).

import type { NodeId } from '../env/types.ts';
import type { History } from '../check/history.ts';
import { HistoryRecorder } from '../check/recorder.ts';
import { assert } from '../lib/assert.ts';
import { type Mutations, noMutations } from '../lib/mutations.ts';
import { SeededRng } from '../lib/rng.ts';
import {
  BallotGenerator,
  decodePaxosMessage,
  encodePaxosMessage,
  type PaxosOperation,
  type PaxosOutgoing,
  PaxosAcceptor,
  PaxosProposer,
  PaxosRecovery,
  type PaxosReply,
  type PaxosRequest,
} from './paxos.ts';
import { MemoryReplicaStore } from './store.ts';

export interface PaxosNetOptions {
  readonly seed: number | string;
  readonly nodes?: number;
  /** Nodes (of the first `nodes`) that are pending replicas of the key. */
  readonly pending?: number;
  readonly clients?: number;
  /** Operations invoked in all. */
  readonly opsCount?: number;
  readonly dropRate?: number;
  readonly duplicateRate?: number;
  /** Per step: an acceptor crashes and restarts from its synced state. */
  readonly crashRate?: number;
  /** Per synced acceptor step: it dies before the sync (its reply is lost). */
  readonly midStepCrashRate?: number;
  /** Per acceptor step: it dies right after its reply left (what it synced survives). */
  readonly crashAfterReplyRate?: number;
  /** Per step: a proposer's node forgets it (its operation stays indeterminate). */
  readonly proposerCrashRate?: number;
  /** Per step: a node loses all its data and restarts amnesiac (its running proposers die). */
  readonly wipeRate?: number;
  readonly mutations?: Mutations;
  /** Per step: a tick (the other steps deliver one message each); default 0.02. */
  readonly tickRate?: number;
  /** Proposer timeout and backoff; defaults 200 and 8. */
  readonly timeoutTicks?: number;
  readonly backoffTicksMax?: number;
  /** Distinct values written (few values make CAS conditions hold often). */
  readonly valuesCount?: number;
}

interface Node {
  readonly id: NodeId;
  store: MemoryReplicaStore;
  acceptor: PaxosAcceptor;
  ballots: BallotGenerator;
  /** This node's PaxosRecovery of the key, while one runs (the network has one key). */
  recovery: { readonly op: number; readonly run: PaxosRecovery } | undefined;
}

interface InFlight {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly bytes: Uint8Array;
}

interface Client {
  process: number;
  running: { readonly node: NodeId; readonly proposer: PaxosProposer; readonly op: PaxosOperation } | undefined;
}

const KEY = new TextEncoder().encode('k');
const utf8 = new TextEncoder();
const text = new TextDecoder();
const STEPS_MAX = 200_000;

export interface PaxosNetResult {
  readonly history: History;
  readonly stats: {
    invoked: number;
    ok: number;
    fail: number;
    info: number;
    crashes: number;
    wipes: number;
    /** Recoveries that learned the key's state. */
    recovered: number;
    delivered: number;
    dropped: number;
    steps: number;
  };
}

const show = (v: Uint8Array | null): string | null => (v === null ? null : text.decode(v));

/** Runs one seeded workload to the end and returns its history (nothing is checked here). */
export function runPaxosNet(options: PaxosNetOptions): PaxosNetResult {
  const rng = new SeededRng(options.seed);
  const nodeCount = options.nodes ?? 3;
  const pendingCount = options.pending ?? 0;
  const ids = Array.from({ length: nodeCount }, (_, i) => `n${i + 1}`);
  const replicas = ids.slice(0, nodeCount - pendingCount);
  const pending = ids.slice(nodeCount - pendingCount);
  const mutations = options.mutations ?? noMutations;
  const nodes = new Map<NodeId, Node>();
  for (const id of ids) {
    const store = new MemoryReplicaStore();
    nodes.set(id, {
      id,
      store,
      acceptor: new PaxosAcceptor(store, mutations),
      ballots: new BallotGenerator(id),
      recovery: undefined,
    });
  }
  const recorder = new HistoryRecorder();
  let nextProcess = 0;
  const clients: Client[] = Array.from({ length: options.clients ?? 3 }, () => ({
    process: nextProcess++,
    running: undefined,
  }));
  const inflight: InFlight[] = [];
  const opsCount = options.opsCount ?? 40;
  const valuesCount = options.valuesCount ?? 3;
  const stats = {
    invoked: 0,
    ok: 0,
    fail: 0,
    info: 0,
    crashes: 0,
    wipes: 0,
    recovered: 0,
    delivered: 0,
    dropped: 0,
    steps: 0,
  };
  /** Nodes whose data was lost at least once: their acceptors are amnesiac for every later life. */
  const amnesiac = new Set<NodeId>();
  let nextOp = 1;
  let nowMs = 1_000;
  const byOp = new Map<number, Client>();

  const send = (from: NodeId, out: readonly PaxosOutgoing[]): void => {
    for (const o of out) inflight.push({ from, to: o.to, bytes: encodePaxosMessage(o.message) });
  };
  const complete = (client: Client): void => {
    const run = client.running!;
    const outcome = run.proposer.outcome;
    if (outcome === undefined) return;
    byOp.delete(opIdOf(run.proposer));
    client.running = undefined;
    if (outcome.ok) {
      stats.ok++;
      const op = run.op;
      if (op.kind === 'read') recorder.ok(client.process, show(outcome.current));
      else if (op.kind === 'write') recorder.ok(client.process, show(op.value));
      else recorder.ok(client.process, outcome.applied ? [show(op.expected), show(op.value)] : false);
    } else if (outcome.error.definite) {
      stats.fail++;
      recorder.fail(client.process, null, { error: outcome.error.code });
    } else {
      stats.info++;
      recorder.info(client.process, null, { error: outcome.error.code });
      client.process = nextProcess++;
    }
  };
  const opIds = new WeakMap<PaxosProposer, number>();
  const opIdOf = (p: PaxosProposer): number => opIds.get(p)!;
  const randomValue = (): Uint8Array | null => {
    const i = rng.int(valuesCount + 1);
    return i === valuesCount ? null : utf8.encode(`v${i}`);
  };
  const invoke = (client: Client): void => {
    const node = ids[rng.int(ids.length)]!;
    const r = rng.int(10);
    const operation: PaxosOperation =
      r < 3
        ? { kind: 'read' }
        : r < 5
          ? { kind: 'write', value: utf8.encode(`v${rng.int(valuesCount)}`) }
          : { kind: 'cas', expected: randomValue(), value: utf8.encode(`v${rng.int(valuesCount)}`) };
    const op = nextOp++;
    const proposer = new PaxosProposer(
      {
        node,
        op,
        key: KEY,
        operation,
        replicas,
        pending,
        timeoutTicks: options.timeoutTicks ?? 200,
        backoffTicksMax: options.backoffTicksMax ?? 8,
      },
      { rng: rng.fork(`p${op}`), nowMs: () => nowMs, ballots: nodes.get(node)!.ballots, mutations },
    );
    opIds.set(proposer, op);
    byOp.set(op, client);
    client.running = { node, proposer, op: operation };
    stats.invoked++;
    if (operation.kind === 'read') recorder.invoke(client.process, 'read', null);
    else if (operation.kind === 'write') recorder.invoke(client.process, 'write', show(operation.value));
    else recorder.invoke(client.process, 'cas', [show(operation.expected), show(operation.value)]);
    send(node, proposer.start());
    complete(client);
  };
  const restartAcceptor = (node: Node): void => {
    node.acceptor = new PaxosAcceptor(node.store, mutations, { amnesiac: amnesiac.has(node.id) });
    node.recovery = undefined;
  };
  const crash = (node: Node): void => {
    stats.crashes++;
    node.store.crash();
    restartAcceptor(node);
  };
  const abandon = (c: Client): void => {
    byOp.delete(opIdOf(c.running!.proposer));
    c.running = undefined;
    c.process = nextProcess++; // the open op stays open: indeterminate
  };
  const wipe = (node: Node): void => {
    // One node at a time, as README's node replacement asks: not while an earlier wiped node has
    // yet to learn the key (two replicas that both lost a value's only copies lose the value; the
    // recovery then takes what is left, by design: paxos.ts PaxosRecovery).
    for (const id of amnesiac) if (!nodes.get(id)!.acceptor.knows(KEY)) return;
    stats.wipes++;
    amnesiac.add(node.id);
    node.store = new MemoryReplicaStore();
    node.ballots = new BallotGenerator(node.id);
    restartAcceptor(node);
    for (const c of clients) if (c.running?.node === node.id) abandon(c);
  };
  const learned = (node: Node): void => {
    const outcome = node.recovery?.run.outcome;
    if (outcome === undefined) return;
    node.recovery = undefined;
    if (!outcome.ok) return;
    stats.recovered++;
    node.acceptor.learn(KEY, outcome.state);
    node.store.sync();
  };
  const recover = (node: Node): void => {
    if (node.recovery !== undefined) return;
    const op = nextOp++;
    const run = new PaxosRecovery(
      {
        node: node.id,
        op,
        key: KEY,
        replicas,
        pending,
        timeoutTicks: options.timeoutTicks ?? 200,
        backoffTicksMax: options.backoffTicksMax ?? 8,
      },
      { rng: rng.fork(`r${op}`), nowMs: () => nowMs },
    );
    node.recovery = { op, run };
    send(node.id, run.start());
    learned(node);
  };
  const deliver = (m: InFlight): void => {
    const decoded = decodePaxosMessage(m.bytes);
    const node = nodes.get(m.to)!;
    if (decoded.type === 'prepare' || decoded.type === 'propose' || decoded.type === 'commit') {
      const out = node.acceptor.receive(decoded as PaxosRequest);
      if (out.recover === true) recover(node);
      if (out.reply === null) return;
      if (out.syncNeeded) {
        if (rng.float() < (options.midStepCrashRate ?? 0)) {
          crash(node);
          return;
        }
        node.store.sync();
      }
      inflight.push({ from: m.to, to: m.from, bytes: encodePaxosMessage(out.reply) });
      if (rng.float() < (options.crashAfterReplyRate ?? 0)) crash(node);
      return;
    }
    if (node.recovery?.op === decoded.op) {
      send(m.to, node.recovery.run.receive(m.from, decoded as PaxosReply));
      learned(node);
      return;
    }
    const client = byOp.get(decoded.op);
    if (client?.running === undefined || client.running.node !== m.to) return;
    send(m.to, client.running.proposer.receive(m.from, decoded as PaxosReply));
    complete(client);
  };

  const dropRate = options.dropRate ?? 0;
  const duplicateRate = options.duplicateRate ?? 0;
  const tickRate = options.tickRate ?? 0.02;
  let steps = 0;
  while (steps++ < STEPS_MAX) {
    const busy = clients.some((c) => c.running !== undefined);
    if (!busy && stats.invoked >= opsCount) break;
    const roll = rng.float();
    if (roll < tickRate) {
      nowMs += rng.int(3);
      for (const c of clients) {
        if (c.running === undefined) {
          if (stats.invoked < opsCount && rng.float() < 0.5) invoke(c);
          continue;
        }
        send(c.running.node, c.running.proposer.tick());
        complete(c);
      }
      for (const node of nodes.values()) {
        if (node.recovery === undefined) continue;
        send(node.id, node.recovery.run.tick());
        learned(node);
      }
    } else if (roll < tickRate + (options.crashRate ?? 0)) {
      crash(nodes.get(ids[rng.int(ids.length)]!)!);
    } else if (roll < tickRate + (options.crashRate ?? 0) + (options.proposerCrashRate ?? 0)) {
      const c = clients[rng.int(clients.length)]!;
      if (c.running !== undefined) abandon(c);
    } else if (
      roll <
      tickRate + (options.crashRate ?? 0) + (options.proposerCrashRate ?? 0) + (options.wipeRate ?? 0)
    ) {
      wipe(nodes.get(ids[rng.int(ids.length)]!)!);
    } else if (inflight.length > 0) {
      const i = rng.int(inflight.length);
      const m = inflight[i]!;
      if (rng.float() >= duplicateRate) {
        inflight[i] = inflight[inflight.length - 1]!;
        inflight.pop();
      }
      if (rng.float() < dropRate) {
        stats.dropped++;
        continue;
      }
      stats.delivered++;
      deliver(m);
    }
  }
  assert(steps < STEPS_MAX, 'the Paxos network did not finish its workload');
  stats.steps = steps;
  return { history: recorder.history(), stats };
}
