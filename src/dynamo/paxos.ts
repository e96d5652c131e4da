// Single-decree Paxos per key among the key's replicas: compare-and-set and SERIAL reads for the
// Dynamo store (Cassandra's lightweight transactions), as pure synchronous state machines. The
// acceptor keeps one durable AcceptorState per key; a proposer runs ONE operation (read, write,
// insert-if-absent, update-if-equal) to its outcome. Neither awaits, reads a clock or draws
// randomness of its own: milliseconds, ticks and the Rng come in.
//
// The protocol (each operation, at ballot b; Cassandra's prepare/promise, read, propose/accept,
// commit, with the value carried in the Paxos state as in CASPaxos, Rystsov 2018):
//   1. prepare(b) to every participant; an acceptor promises b if b >= its promise (persisted before
//      replying) and answers with what it accepted and its most recent commit.
//   2. With promises from a quorum, the current value is the version with the highest ballot among
//      every accepted and committed version reported. A version accepted by a minority (a proposal
//      in progress) is thereby finished by whoever sees it, as Cassandra's "in progress" repair does,
//      but in the same round instead of a round of its own.
//   3. The operation is evaluated on the current value; the proposer proposes the result at b — the
//      new value (origin b) if the operation changes it, else the current version again (keeping its
//      origin). Reads and CAS whose condition fails propose too: every outcome is fixed by a quorum
//      accept at its ballot, so a version seen by one read can never be lost to a later one (the
//      fix of CASSANDRA-12126: a read that only prepared could return a value an older, partially
//      accepted proposal later replaces).
//   4. With accepts from a quorum the outcome is decided; commit(b) goes to every participant
//      (not awaited: it only informs the data path and later rounds).
// A refusal (a higher promise) among the first `required` answers ends the round; after a randomized backoff of 1..backoffTicksMax
// ticks the proposer retries with a ballot above every ballot it was refused with, at most
// paxosRoundsCountMax rounds and timeoutTicks in all.
//
// Outcomes: `{ applied, current }` (a read: applied = true; a CAS whose condition failed: applied =
// false with the value it compared), or an error. Once a proposal that changes the value has been
// sent, the operation may have taken effect, so a retry must not apply it twice nor call it "not
// applied" wrongly. Every version carries its chain: `origin` (the ballot of the change that made
// it) and `recent`, the origins of the paxosRecentOriginsCountMax changes before it. A retry that
// finds one of its own origins in the current chain re-accepts that version and reports applied;
// one whose proposals are all absent from a chain that reaches back past them evaluates afresh
// (they were never chosen, and the quorum promise of this round means they never will be); one
// whose proposal is older than what the chain still lists ends `outcome_unknown` (indefinite).
// Timeouts are indefinite after a changing proposal was sent, definite before.
//
// Quorum (Cassandra's rule for ring moves): participants = natural replicas + pending replicas;
// required = floor(natural / 2) + 1 + pending. Only participants' replies count, each once.
//
// Ballots: (ms, rand, node) from BallotGenerator, one per node shared by all its proposers: ms is
// the node's clock but strictly increasing per generator and above every ballot a rejection named,
// so a node never repeats a ballot while it runs and two nodes never share one (node id). Across a
// restart with a clock stepped back, rand (32 random bits) keeps a repeat improbable.
//
// DRIVER CONTRACT (the lead wires this; nothing here is wired yet):
//   - Peer messages: encodePaxosMessage / decodePaxosMessage (paxos-messages.ts) under one peer
//     message type of its own (a new id in src/lib/message-types.ts, e.g. DynamoPaxos). Requests
//     (prepare, propose, commit) go to the node's PaxosAcceptor; replies (promise, accept,
//     commitAck) go to the proposer of `op`. A proposer addresses every participant, itself
//     included: the driver hands a self-addressed message to the local acceptor (and its reply back)
//     without the network.
//   - Sync order: after acceptor.receive(...) returns syncNeeded, call store.sync() BEFORE sending the
//     reply (a promise or accept that a crash could forget breaks safety: the 'paxos-promise-unsynced'
//     mutation shows it). The PaxosStore is the key's Paxos state, a separate key space from the
//     key's data (e.g. its own LSM prefix); one key's state is one small record.
//   - Commits: acceptor.receive of a commit returns `committed` when it raised the key's most recent
//     commit: the driver writes that value into the key's data (the Redis keyspace / ReplicaStore),
//     so non-serial reads see committed values. Mixing SERIAL and non-SERIAL writes on one key is not
//     linearizable (as in Cassandra).
//   - Timers: call proposer.tick() every tick (the same tick as replica.ts); start() once. Each call
//     returns messages to send; `proposer.outcome` is set once and then the proposer is finished
//     (drop it; late replies for its op id are stale and ignored).
//   - Op ids: unique per node among live proposers (e.g. replica.ts' random-based op counter).
//   - Liveness view: deps.isUp (a failure detector's opinion) makes a proposer with fewer live
//     participants than required end at once with replicas_unavailable (definite).
//   - A store that lost its data (a wiped node): the acceptor is built `amnesiac` (recorded
//     durably by the driver, for every later life). Its output then may say `recover` (a request
//     for a key it has not learned; the reply, if any, is `unknown here`): the driver runs one
//     PaxosRecovery per key (same ticks and reply routing by op id as a proposer), then
//     acceptor.learn(key, outcome.state) and store.sync() before any answer for the key.

import type { NodeId, Rng } from '../env/types.ts';
import { assert } from '../lib/assert.ts';
import { bytesEqual } from '../lib/bytes.ts';
import { BaristaError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import { type Mutations, noMutations } from '../lib/mutations.ts';
import {
  type AcceptorState,
  BALLOT_ZERO,
  type Ballot,
  compareBallots,
  decodeAcceptorState,
  EMPTY_ACCEPTOR_STATE,
  encodeAcceptorState,
  type PaxosReply,
  type PaxosRequest,
  type PaxosVersion,
} from './paxos-messages.ts';

export * from './paxos-messages.ts';

const MS_MAX = Number.MAX_SAFE_INTEGER;
const RAND_RANGE = 2 ** 32;

/** Where an acceptor keeps its state per key (store.ts' contract: reads see unsynced writes; sync before replying). */
export interface PaxosStore {
  get(key: Uint8Array): Uint8Array | undefined;
  put(key: Uint8Array, state: Uint8Array): void;
  sync(): void;
}

// --- ballots --------------------------------------------------------------------------------------

/** Makes the ballots of one node: unique, and increasing in the order they are made. */
export class BallotGenerator {
  private last: Ballot = BALLOT_ZERO;
  constructor(private readonly node: NodeId) {
    assert(node.length > 0, 'a ballot needs a node id');
  }

  /** A ballot above the previous one, above `above`, and at least `nowMs`. */
  next(nowMs: number, rng: Rng, above: Ballot = BALLOT_ZERO): Ballot {
    const ms = Math.max(Math.floor(nowMs), this.last.ms + 1, above.ms + 1);
    assert(ms <= MS_MAX, 'ballot milliseconds past 2^53');
    this.last = { ms, rand: rng.int(RAND_RANGE), node: this.node };
    return this.last;
  }
}

function maxBallot(a: Ballot, b: Ballot): Ballot {
  return compareBallots(a, b) >= 0 ? a : b;
}

function newer(a: PaxosVersion | null, b: PaxosVersion | null): PaxosVersion | null {
  if (a === null) return b;
  if (b === null) return a;
  return compareBallots(a.ballot, b.ballot) >= 0 ? a : b;
}

// --- acceptor -------------------------------------------------------------------------------------

export interface AcceptorOutput {
  /**
   * null: nothing to send (a commit for a key this acceptor has not learned). A prepare or propose
   * for such a key is answered `unknown here` (isUnknownHere: refused, naming no promise), so that
   * a proposer does not count on this node for the round and a recovery knows this node forgot too.
   */
  readonly reply: PaxosReply | null;
  /** The store was written: sync it BEFORE sending `reply`. */
  readonly syncNeeded: boolean;
  /** A commit raised the key's most recent commit: write this value into the key's data. */
  readonly committed?: PaxosVersion;
  /** That commit's value differs from the one committed before (a read's commit of the same value does not). */
  readonly valueChanged?: boolean;
  /** The key's state must be learned first: run a PaxosRecovery for it, then `learn` its outcome. */
  readonly recover?: true;
}

/**
 * The answer of an acceptor that lost its data to a request for a key it has not learned: a
 * refusal naming BALLOT_ZERO, which no real refusal names (a promise refuses only ballots below it).
 */
function unknownHere(m: PaxosRequest): PaxosReply | null {
  const h = { op: m.op, key: m.key, ballot: m.ballot };
  if (m.type === 'prepare') {
    return { type: 'promise', ...h, ok: false, promised: BALLOT_ZERO, accepted: null, committed: null };
  }
  if (m.type === 'propose') return { type: 'accept', ...h, ok: false, promised: BALLOT_ZERO };
  return null;
}

/** Whether a reply is an amnesiac acceptor's `unknown here` (see unknownHere). */
export function isUnknownHere(m: PaxosReply): boolean {
  return (m.type === 'promise' || m.type === 'accept') && !m.ok && compareBallots(m.promised, BALLOT_ZERO) === 0;
}

export interface AcceptorOptions {
  /**
   * The store lost its data (a node wiped and rejoined): the acceptor forgot promises and accepted
   * values its peers counted on. It answers for a key only once it has learned the key's state
   * (PaxosRecovery, then learn): until then every request for the key goes unanswered, as if this
   * node were down. Recorded by the driver, durably, for every later life of the store.
   */
  readonly amnesiac?: boolean;
}

/**
 * The acceptor of every key of one node; all its state is in the store (a crash = store.crash + a
 * new acceptor). An amnesiac one (AcceptorOptions) holds a record for exactly the keys it has
 * learned since its data was lost: a key without one is answered by nobody here until learned.
 */
export class PaxosAcceptor {
  private readonly amnesiac: boolean;

  constructor(
    private readonly store: PaxosStore,
    private readonly mutations: Mutations = noMutations,
    options: AcceptorOptions = {},
  ) {
    // The planted bug: a wiped acceptor takes part at once (docs/SWARM.md found it that way).
    this.amnesiac = options.amnesiac === true && !mutations.has('paxos-amnesia-trusted');
  }

  /** Whether this acceptor answers for `key` (it does unless it lost its data and has not learned the key). */
  knows(key: Uint8Array): boolean {
    return !this.amnesiac || this.store.get(key) !== undefined;
  }

  /**
   * Takes a key's state a PaxosRecovery learned (merged with any held: promise the higher, versions
   * the newer). The store is written: the driver syncs it before answering anything for the key.
   */
  learn(key: Uint8Array, learned: AcceptorState): void {
    const held = this.store.get(key);
    const s = held === undefined ? EMPTY_ACCEPTOR_STATE : decodeAcceptorState(held);
    this.save(key, {
      promised: maxBallot(s.promised, learned.promised),
      accepted: newer(s.accepted, learned.accepted),
      committed: newer(s.committed, learned.committed),
    });
  }

  state(key: Uint8Array): AcceptorState {
    const bytes = this.store.get(key);
    return bytes === undefined ? EMPTY_ACCEPTOR_STATE : decodeAcceptorState(bytes);
  }

  receive(m: PaxosRequest): AcceptorOutput {
    if (!this.knows(m.key)) return { reply: unknownHere(m), syncNeeded: false, recover: true };
    const s = this.state(m.key);
    const h = { op: m.op, key: m.key, ballot: m.ballot };
    // A ballot equal to the promise is the same proposer's (ballots are unique): a duplicate, granted again.
    const granted = compareBallots(m.ballot, s.promised) >= 0;
    switch (m.type) {
      case 'prepare': {
        if (!granted) {
          const reply = {
            type: 'promise',
            ...h,
            ok: false,
            promised: s.promised,
            accepted: null,
            committed: null,
          } as const;
          return { reply, syncNeeded: false };
        }
        const changed = compareBallots(m.ballot, s.promised) > 0;
        if (changed) this.save(m.key, { ...s, promised: m.ballot });
        const reply = {
          type: 'promise',
          ...h,
          ok: true,
          promised: m.ballot,
          accepted: s.accepted,
          committed: s.committed,
        } as const;
        return { reply, syncNeeded: changed && !this.mutations.has('paxos-promise-unsynced') };
      }
      case 'propose': {
        if (!granted) return { reply: { type: 'accept', ...h, ok: false, promised: s.promised }, syncNeeded: false };
        const accepted: PaxosVersion = { ballot: m.ballot, origin: m.origin, recent: m.recent, value: m.value };
        this.save(m.key, { ...s, promised: m.ballot, accepted });
        return { reply: { type: 'accept', ...h, ok: true, promised: m.ballot }, syncNeeded: true };
      }
      case 'commit': {
        const reply = { type: 'commitAck', ...h } as const;
        if (s.committed !== null && compareBallots(m.ballot, s.committed.ballot) <= 0) {
          return { reply, syncNeeded: false };
        }
        const committed: PaxosVersion = { ballot: m.ballot, origin: m.origin, recent: m.recent, value: m.value };
        this.save(m.key, { ...s, committed });
        return { reply, syncNeeded: true, committed, valueChanged: !bytesEqual(s.committed?.value ?? null, m.value) };
      }
    }
  }

  private save(key: Uint8Array, s: AcceptorState): void {
    this.store.put(key, encodeAcceptorState(s));
  }
}

// --- proposer -------------------------------------------------------------------------------------

export type PaxosOperation =
  /** A SERIAL read: never returns an uncommitted value, finishes one in progress. */
  | { readonly kind: 'read' }
  /** An unconditional write (null deletes). */
  | { readonly kind: 'write'; readonly value: Uint8Array | null }
  /** Applies `value` iff the current value equals `expected` (null: insert-if-not-exists). */
  | { readonly kind: 'cas'; readonly expected: Uint8Array | null; readonly value: Uint8Array | null };

export type PaxosOutcome =
  | { readonly ok: true; readonly applied: boolean; readonly current: Uint8Array | null }
  | { readonly ok: false; readonly error: BaristaError };

export interface ProposerConfig {
  readonly node: NodeId;
  /** The driver's id of this operation; every message carries it. */
  readonly op: number;
  readonly key: Uint8Array;
  readonly operation: PaxosOperation;
  /** The key's natural replicas (ring.locate(key, N).replicas). */
  readonly replicas: readonly NodeId[];
  /** Its pending replicas during a ring move (ring.locate(key, N).pending). */
  readonly pending: readonly NodeId[];
  /** The operation ends (timeout) after this many ticks. */
  readonly timeoutTicks: number;
  /** A rejected round waits 1..backoffTicksMax ticks (uniform) before its retry. */
  readonly backoffTicksMax: number;
  /** Default limits.paxosRoundsCountMax. */
  readonly roundsCountMax?: number;
}

export interface ProposerDeps {
  readonly rng: Rng;
  /** This node's clock in milliseconds (wall or HLC); only orders ballots. */
  readonly nowMs: () => number;
  readonly ballots: BallotGenerator;
  readonly isUp?: (node: NodeId) => boolean;
  readonly mutations?: Mutations;
}

export interface PaxosOutgoing {
  readonly to: NodeId;
  readonly message: PaxosRequest;
}

type Phase = 'idle' | 'prepare' | 'propose' | 'backoff' | 'done';

/** Participants and required count of a key: natural + pending, majority of natural + all pending. */
export function paxosQuorum(
  replicas: readonly NodeId[],
  pending: readonly NodeId[],
): { participants: NodeId[]; required: number } {
  const participants = [...new Set([...replicas, ...pending])];
  const pendingOnly = participants.length - new Set(replicas).size;
  return { participants, required: Math.floor(new Set(replicas).size / 2) + 1 + pendingOnly };
}

/** The key's quorum, once the config's ticks and replicas are checked (a proposer's or a recovery's). */
function checkedQuorum(config: RecoveryConfig): { participants: NodeId[]; required: number } {
  assert(config.timeoutTicks >= 1 && config.backoffTicksMax >= 1, 'Paxos ticks must be >= 1');
  const q = paxosQuorum(config.replicas, config.pending);
  assert(q.participants.length > 0, 'a key needs replicas');
  return q;
}

/** One Paxos operation on one key, from its first prepare to its outcome. */
export class PaxosProposer {
  private readonly participants: ReadonlySet<NodeId>;
  private readonly required: number;
  private readonly roundsCountMax: number;
  private readonly mutations: Mutations;
  private phase: Phase = 'idle';
  private ballot: Ballot = BALLOT_ZERO;
  /** The highest ballot any refusal named: the next ballot goes above it. */
  private highestSeen: Ballot = BALLOT_ZERO;
  private rounds = 0;
  private ticks = 0;
  private backoffTicks = 0;
  private readonly oks = new Set<NodeId>();
  private readonly refusals = new Set<NodeId>();
  /** Participants that answered `unknown here` this round (amnesiac, learning the key). */
  private readonly unknowns = new Set<NodeId>();
  private promisedCurrent: PaxosVersion | null = null;
  /** Ballots of this operation's proposals that changed the value (they may have been chosen). */
  private readonly ownOrigins: Ballot[] = [];
  /** The version proposed this round and what the operation answers if it is accepted. */
  private proposal: { version: PaxosVersion; applied: boolean; current: Uint8Array | null } | null = null;
  outcome: PaxosOutcome | undefined;

  constructor(
    private readonly config: ProposerConfig,
    private readonly deps: ProposerDeps,
  ) {
    const q = checkedQuorum(config);
    this.participants = new Set(q.participants);
    this.required = q.required;
    this.roundsCountMax = config.roundsCountMax ?? limits.paxosRoundsCountMax;
    this.mutations = deps.mutations ?? noMutations;
  }

  get done(): boolean {
    return this.phase === 'done';
  }

  /** The current ballot (tests and metrics). */
  get currentBallot(): Ballot {
    return this.ballot;
  }

  start(): PaxosOutgoing[] {
    assert(this.phase === 'idle', 'start() once');
    const isUp = this.deps.isUp;
    if (isUp !== undefined) {
      const live = [...this.participants].filter((n) => isUp(n)).length;
      if (live < this.required) {
        this.finish({
          ok: false,
          error: new BaristaError(
            'replicas_unavailable',
            `${live} live Paxos participants of ${this.participants.size}, needs ${this.required}`,
            { fields: { live, required: this.required } },
          ),
        });
        return [];
      }
    }
    return this.prepare();
  }

  tick(): PaxosOutgoing[] {
    if (this.phase === 'done' || this.phase === 'idle') return [];
    this.ticks++;
    if (this.ticks >= this.config.timeoutTicks) {
      this.giveUp('timeout', `no Paxos quorum within ${this.config.timeoutTicks} ticks`);
      return [];
    }
    if (this.phase === 'backoff' && --this.backoffTicks <= 0) return this.prepare();
    return [];
  }

  receive(from: NodeId, m: PaxosReply): PaxosOutgoing[] {
    if (!this.participants.has(from) || m.op !== this.config.op) return [];
    if (compareBallots(m.ballot, this.ballot) !== 0 || this.oks.has(from) || this.refusals.has(from)) return [];
    if (this.unknowns.has(from)) return [];
    if (isUnknownHere(m)) {
      // Not a refusal: the node is learning the key. The round goes on with the others, unless
      // they can no longer make the quorum (then it is lost: a retry finds the node learned).
      if ((m.type === 'promise' && this.phase !== 'prepare') || (m.type === 'accept' && this.phase !== 'propose'))
        return [];
      this.unknowns.add(from);
      const open = this.participants.size - this.oks.size - this.refusals.size - this.unknowns.size;
      return this.oks.size + open < this.required ? this.lost() : [];
    }
    if (m.type === 'promise' && this.phase === 'prepare') {
      if (!m.ok) return this.refused(from, m.promised);
      this.oks.add(from);
      if (this.refusals.size > 0 && this.oks.size + this.refusals.size >= this.required) return this.lost();
      const seen = this.mutations.has('paxos-ignore-accepted') ? m.committed : newer(m.accepted, m.committed);
      this.promisedCurrent = newer(this.promisedCurrent, seen);
      return this.oks.size >= this.required ? this.propose() : [];
    }
    if (m.type === 'accept' && this.phase === 'propose') {
      if (!m.ok) return this.refused(from, m.promised);
      this.oks.add(from);
      if (this.refusals.size > 0 && this.oks.size + this.refusals.size >= this.required) return this.lost();
      if (this.oks.size < this.required) return [];
      const p = this.proposal!;
      this.finish({ ok: true, applied: p.applied, current: p.current });
      const { origin, recent, value } = p.version;
      return this.sendAll({ type: 'commit', ...this.header(), origin, recent, value });
    }
    return [];
  }

  private header(): { op: number; key: Uint8Array; ballot: Ballot } {
    return { op: this.config.op, key: this.config.key, ballot: this.ballot };
  }

  private sendAll(message: PaxosRequest): PaxosOutgoing[] {
    return [...this.participants].map((to) => ({ to, message }));
  }

  private newRound(phase: 'prepare' | 'propose'): void {
    this.phase = phase;
    this.oks.clear();
    this.refusals.clear();
    this.unknowns.clear();
  }

  private prepare(): PaxosOutgoing[] {
    if (this.rounds >= this.roundsCountMax) {
      this.giveUp('timeout', `no Paxos round won in ${this.roundsCountMax} rounds (contention)`);
      return [];
    }
    this.rounds++;
    this.ballot = this.deps.ballots.next(this.deps.nowMs(), this.deps.rng, this.highestSeen);
    this.highestSeen = maxBallot(this.highestSeen, this.ballot);
    this.promisedCurrent = null;
    this.proposal = null;
    this.newRound('prepare');
    return this.sendAll({ type: 'prepare', ...this.header() });
  }

  private propose(): PaxosOutgoing[] {
    const current: PaxosVersion = this.promisedCurrent ?? {
      ballot: BALLOT_ZERO,
      origin: BALLOT_ZERO,
      recent: [],
      value: null,
    };
    const isOwn = (b: Ballot) => this.ownOrigins.some((o) => compareBallots(o, b) === 0);
    const inChain = isOwn(current.origin) || current.recent.some(isOwn);
    const op = this.config.operation;
    let applied: boolean;
    let answer: Uint8Array | null;
    let version: PaxosVersion;
    if (inChain) {
      // A proposal of ours is in the current version's chain: accepting that version at our ballot
      // makes the chain chosen, with our operation applied once (maybe with others' on top).
      applied = true;
      answer = op.kind === 'read' ? current.value : op.value;
      version = { ...current, ballot: this.ballot };
    } else if (this.ownOrigins.some((o) => !this.chainCovers(current, o))) {
      // A proposal of ours is older than the part of the chain the version still lists: it may have
      // been chosen and overwritten; neither "applied" nor "not applied" is known.
      this.giveUp('outcome_unknown', 'a proposal of this operation may have been chosen and overwritten since');
      return [];
    } else {
      // Nothing of ours was chosen (the chain says so, back past our proposals): evaluate afresh.
      applied = op.kind !== 'cas' || bytesEqual(op.expected, current.value);
      const changes = op.kind !== 'read' && applied;
      answer = changes ? op.value : current.value;
      if (changes) {
        const recent = current.origin.node === '' ? [] : [current.origin, ...current.recent];
        version = {
          ballot: this.ballot,
          origin: this.ballot,
          recent: recent.slice(0, limits.paxosRecentOriginsCountMax),
          value: op.value,
        };
        this.ownOrigins.push(this.ballot);
      } else {
        version = { ...current, ballot: this.ballot };
      }
    }
    this.proposal = { version, applied, current: answer };
    this.newRound('propose');
    const { origin, recent, value } = version;
    return this.sendAll({ type: 'propose', ...this.header(), origin, recent, value });
  }

  /** Whether `current` lists every change of its chain made at or after `own` (so `own` absent means not applied). */
  private chainCovers(current: PaxosVersion, own: Ballot): boolean {
    if (compareBallots(current.origin, own) < 0) return true;
    const oldest = current.recent[current.recent.length - 1];
    return (
      current.recent.length < limits.paxosRecentOriginsCountMax ||
      (oldest !== undefined && compareBallots(oldest, own) < 0)
    );
  }

  private refused(from: NodeId, promised: Ballot): PaxosOutgoing[] {
    this.refusals.add(from);
    this.highestSeen = maxBallot(this.highestSeen, promised);
    // Like Cassandra: once as many answers as the quorum needs are in and one of them refused, the
    // round is lost (waiting on the rest would wait on nodes that may be down).
    if (this.oks.size + this.refusals.size < this.required) return [];
    return this.lost();
  }

  private lost(): PaxosOutgoing[] {
    this.phase = 'backoff';
    this.backoffTicks = 1 + this.deps.rng.int(this.config.backoffTicksMax);
    return [];
  }

  private giveUp(code: 'timeout' | 'outcome_unknown', message: string): void {
    const fields = { rounds: this.rounds, ballot: this.ballot };
    if (code === 'outcome_unknown') {
      this.finish({ ok: false, error: new BaristaError(code, message, { fields }) });
      return;
    }
    // Definite only while no proposal of ours that changes the value was ever sent.
    const definite = this.ownOrigins.length === 0;
    this.finish({ ok: false, error: new BaristaError('timeout', message, { definite, fields }) });
  }

  private finish(outcome: PaxosOutcome): void {
    this.outcome = outcome;
    this.phase = 'done';
  }
}

// --- recovery -------------------------------------------------------------------------------------

/**
 * As a proposer's, without an operation (the node is the amnesiac acceptor's: it asks the key's
 * other participants); the recovery ends at timeoutTicks and the next request for the key starts
 * another. marginMs: default limits.paxosRecoveryBallotAheadMsMax.
 */
export type RecoveryConfig = Omit<ProposerConfig, 'operation' | 'roundsCountMax'> & { readonly marginMs?: number };

export type RecoveryDeps = Pick<ProposerDeps, 'rng' | 'nowMs'>;

export type RecoveryOutcome =
  | { readonly ok: true; readonly state: AcceptorState }
  | { readonly ok: false; readonly error: BaristaError };

/**
 * How an acceptor that lost its data (AcceptorOptions.amnesiac) learns one key's state before it
 * answers for the key again: Cassandra's Paxos repair, run by the node that forgot. It prepares a
 * ballot F with the key's other participants and, once `needed` of the key's natural replicas
 * other than itself promised F (or every other participant answered, some of them `unknown here`:
 * they forgot too), takes
 *   promised = F, accepted = the newest accepted version any of them reported, committed = the
 *   newest commit any of them reported.
 * Why that is enough:
 *   - Lost accepts. A version chosen with this node's lost vote was accepted by a majority of the
 *     natural replicas (every quorum holds one, whatever ring view its proposer had: pending
 *     replicas only add to it), so by at least floor(N/2) of them besides this node; `needed` =
 *     N - floor(N/2) natural replicas besides this node meet every such set, so the newest version
 *     among the answers is at least as new as the chosen one (an acceptor's accepted ballot only
 *     grows, and a later one carries the chosen value's successor). Reporting a version another
 *     acceptor accepted is safe: it was proposed at its ballot. When other replicas forgot too
 *     (answered `unknown here`) and every other participant answered, what they all know is what
 *     is left: a value chosen only by replicas that all lost their data is lost with them (as a
 *     Dynamo write is when every replica holding it loses its disk).
 *   - Lost promises. A proposer counting a promise this node made before the wipe must find it
 *     kept: F is above every promise the answers name (a refusal raises the next try above it) and
 *     at least this node's clock + marginMs, so above every ballot made before the wipe that was
 *     below that. Ballots follow clocks, except that after a recovery they run up to marginMs
 *     ahead on the keys whose proposers met F (a refused proposer goes above it): the assumption
 *     (docs/ARCHITECTURE.md) is that no ballot made before the wipe was ahead of this node's clock
 *     at the recovery by marginMs or more. The others' promise of F also fences a lower proposal
 *     still in flight to them.
 * F is made here, not by the node's BallotGenerator, so that the node's own later ballots (on
 * every key) do not jump marginMs ahead: unique by its 32 random bits, as a restarted node's are.
 * With no other participant (N = 1) there is nothing to learn: the state starts empty, promised F.
 */
export class PaxosRecovery {
  /** Every participant but this node (asked), and the natural replicas among them (counted). */
  private readonly others: ReadonlySet<NodeId>;
  private readonly naturalOthers: ReadonlySet<NodeId>;
  private readonly needed: number;
  private readonly marginMs: number;
  private phase: 'idle' | 'prepare' | 'backoff' | 'done' = 'idle';
  private ballot: Ballot = BALLOT_ZERO;
  private highestSeen: Ballot = BALLOT_ZERO;
  private ticks = 0;
  private backoffTicks = 0;
  private readonly oks = new Set<NodeId>();
  private readonly refusals = new Set<NodeId>();
  private readonly unknowns = new Set<NodeId>();
  private accepted: PaxosVersion | null = null;
  private committed: PaxosVersion | null = null;
  outcome: RecoveryOutcome | undefined;

  constructor(
    private readonly config: RecoveryConfig,
    private readonly deps: RecoveryDeps,
  ) {
    const q = checkedQuorum(config);
    this.others = new Set(q.participants.filter((n) => n !== config.node));
    const natural = new Set(config.replicas);
    this.naturalOthers = new Set([...natural].filter((n) => n !== config.node));
    this.needed = Math.min(this.naturalOthers.size, natural.size - Math.floor(natural.size / 2));
    this.marginMs = config.marginMs ?? limits.paxosRecoveryBallotAheadMsMax;
  }

  /** How many natural replicas besides this node must promise (tests). */
  get neededCount(): number {
    return this.needed;
  }

  get done(): boolean {
    return this.phase === 'done';
  }

  start(): PaxosOutgoing[] {
    assert(this.phase === 'idle', 'start() once');
    if (this.others.size === 0) {
      this.ballot = this.nextBallot();
      this.finish();
      return [];
    }
    return this.prepare();
  }

  tick(): PaxosOutgoing[] {
    if (this.phase === 'done' || this.phase === 'idle') return [];
    if (++this.ticks >= this.config.timeoutTicks) {
      this.phase = 'done';
      this.outcome = {
        ok: false,
        error: new BaristaError(
          'timeout',
          `${this.countedOks()} of ${this.needed} replicas told the key's Paxos state`,
          {
            definite: true,
            fields: { needed: this.needed },
          },
        ),
      };
      return [];
    }
    if (this.phase === 'backoff' && --this.backoffTicks <= 0) return this.prepare();
    return [];
  }

  receive(from: NodeId, m: PaxosReply): PaxosOutgoing[] {
    if (this.phase !== 'prepare' || m.type !== 'promise' || m.op !== this.config.op) return [];
    if (!this.others.has(from) || compareBallots(m.ballot, this.ballot) !== 0) return [];
    if (this.oks.has(from) || this.refusals.has(from) || this.unknowns.has(from)) return [];
    if (isUnknownHere(m)) this.unknowns.add(from);
    else if (!m.ok) {
      this.refusals.add(from);
      this.highestSeen = maxBallot(this.highestSeen, m.promised);
    } else {
      this.oks.add(from);
      this.accepted = newer(this.accepted, m.accepted);
      this.committed = newer(this.committed, m.committed);
    }
    const answered = this.oks.size + this.unknowns.size + this.refusals.size;
    if (this.countedOks() >= this.needed || (this.refusals.size === 0 && answered === this.others.size)) {
      this.finish();
      return [];
    }
    // Lost when neither way can end it any more: a refusal, and too few natural replicas left to ask.
    let open = 0;
    for (const n of this.naturalOthers) if (!this.refusals.has(n) && !this.unknowns.has(n) && !this.oks.has(n)) open++;
    if (this.refusals.size > 0 && this.countedOks() + open < this.needed) {
      this.phase = 'backoff';
      this.backoffTicks = 1 + this.deps.rng.int(this.config.backoffTicksMax);
    }
    return [];
  }

  private countedOks(): number {
    let n = 0;
    for (const id of this.oks) if (this.naturalOthers.has(id)) n++;
    return n;
  }

  private nextBallot(): Ballot {
    const ms = Math.max(Math.floor(this.deps.nowMs()) + this.marginMs, this.highestSeen.ms + 1, this.ballot.ms + 1);
    assert(ms <= MS_MAX, 'ballot milliseconds past 2^53');
    return { ms, rand: this.deps.rng.int(RAND_RANGE), node: this.config.node };
  }

  private prepare(): PaxosOutgoing[] {
    this.ballot = this.nextBallot();
    this.highestSeen = maxBallot(this.highestSeen, this.ballot);
    this.phase = 'prepare';
    this.oks.clear();
    this.refusals.clear();
    this.unknowns.clear();
    this.accepted = null;
    this.committed = null;
    const message: PaxosRequest = { type: 'prepare', op: this.config.op, key: this.config.key, ballot: this.ballot };
    return [...this.others].map((to) => ({ to, message }));
  }

  private finish(): void {
    this.phase = 'done';
    this.outcome = { ok: true, state: { promised: this.ballot, accepted: this.accepted, committed: this.committed } };
  }
}

/** Whether two values are the same (absent equals absent). */
export const paxosValueEquals = (a: Uint8Array | null, b: Uint8Array | null): boolean => bytesEqual(a, b);
