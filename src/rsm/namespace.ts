// What a namespace is: one part of a replicated state machine's state (the KV keyspace, later the
// znode tree, the log controller, consumer offsets, the ring, mvcc) with its own commands and its
// own snapshot section. A service registers its namespace into the state machine of a Raft group
// it uses (ReplicatedStateMachine.register); the state machine routes each command by the
// namespace id in its envelope (envelope.ts) and runs sessions (sessions.ts) for all of them.
//
// Contract for implementers (every replica must reach the same state from the same log):
//  - apply() is deterministic: it may use only its arguments and its own state — no clock, no
//    randomness, no I/O. Time is `ctx.logTimeMs` (stamped by the leader, see log-clock.ts).
//  - apply() decodes the whole payload before changing anything. A payload it cannot decode is
//    answered with a BaristaError thrown *before* any change (ByteReader's ProtocolError does);
//    the state machine turns it into a `malformed_command` result. Any other exception is a
//    programmer error and stops the replica (the simulator turns it into a failing seed).
//  - snapshot() returns a self-contained image of the namespace; loadSnapshot() decodes one into
//    new state *without touching the current state* and returns the function that installs it, so
//    the state machine can restore all sections or none (a bad section throws CorruptionError).
//  - sessionClosed() is told when a session expires, is evicted or unregisters, in log order, so a
//    namespace can drop what the session owned (ZooKeeper's ephemeral znodes) deterministically.
//
// Namespace ids are allocated here, once, never reused (like message types): the id travels in
// every command, the name in every snapshot section.

export const NamespaceId = {
  /** The session table itself (register / unregister); reserved, no Namespace object. */
  sessions: 0,
  kv: 1,
  /** The coordination service's znode tree (src/coord). */
  znodes: 2,
  /** The Dynamo-style store's token ring (src/dynamo/ring-namespace.ts), in the metadata group. */
  ring: 5,
  // Planned: logController 3, consumerOffsets 4, mvcc 6.
} as const;

/** What a namespace learns about the command it applies. */
export interface ApplyContext {
  /** The command's log index (unique, increasing; gaps are Raft-internal entries). */
  readonly index: number;
  /** Log time after this command's stamp (the state machine's clock; never runs backwards). */
  readonly logTimeMs: number;
  /** The leader's term in the stamp (0 when unstamped). */
  readonly term: number;
  /** The client session the command runs under (0 = none); exactly-once is already handled. */
  readonly sessionId: number;
}

export interface Namespace {
  /** Section name in snapshots: lower case, stable forever. */
  readonly name: string;
  /** Routing id in command envelopes, from NamespaceId; stable forever. */
  readonly id: number;
  /** Applies one command payload; returns the result payload handed back to the proposer. */
  apply(ctx: ApplyContext, payload: Uint8Array): Uint8Array;
  /** The namespace's snapshot section (its own versioned format). */
  snapshot(): Uint8Array;
  /**
   * Optional: the same section in bounded slices, for a namespace whose snapshot() would hold the
   * event loop too long. The section is the namespace's state when this is called (a frozen view,
   * e.g. copy on write); commands go on being applied between the stepper's calls. Each call does
   * a bounded part and returns the section once finished (undefined before), in parts whose
   * concatenation is the section (so no part need be as large as the section).
   */
  snapshotInSlices?(): () => readonly Uint8Array[] | undefined;
  /**
   * Decodes a section (undefined: the snapshot had none, i.e. the namespace was empty then) into
   * new state and returns the function that installs it. Throws CorruptionError; never changes
   * the current state.
   */
  loadSnapshot(section: Uint8Array | undefined): () => void;
  /**
   * Optional: loadSnapshot in bounded slices, for a namespace whose section takes too long to
   * decode in one go. Each call of the stepper decodes a bounded part and returns the install
   * function once finished (undefined before); it throws CorruptionError; the current state is
   * untouched until install runs (the state machine may apply nothing in between: its driver holds
   * applies while restoring).
   */
  loadSnapshotInSlices?(section: Uint8Array | undefined): () => (() => void) | undefined;
  /** A session ended (expired, evicted or unregistered) at `ctx`. */
  sessionClosed?(sessionId: number, ctx: ApplyContext): void;
}
