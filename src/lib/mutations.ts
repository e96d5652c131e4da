// Planted bugs, for proving that the simulator's swarm can find real defects ("does it bite?").
//
// Each name switches on one deliberate defect in production code (e.g. acknowledging a WAL
// append before its fsync). Only the simulator sets them (`barista sim --mutation NAME`, the swarm
// tests); a real node's Env always carries `noMutations`, and the node config has no way to name
// one. A check costs one Set lookup on a path that already does I/O or protocol work, so the hooks
// stay in the code instead of living in patches that rot. docs/SWARM.md records, per mutation, the
// seed that caught it.
//
// Add a name here together with the one `if (env.mutations.has('...'))` that plants it, and a test
// (or a docs/SWARM.md row) showing the swarm catches it.

export const MUTATION_NAMES = [
  /** Dynamo: a replica acks a checked write (a siblings keyspace's SET) as clean though it held a sibling the write does not supersede. */
  'dynamo-checked-held-unreported',
  /** WAL: acknowledge appends without the fsync (sync() returns as if durable). */
  'wal-skip-fsync',
  /** WAL recovery: treat any bad record in the last segment as a torn tail, even synced ones. */
  'wal-trust-torn-tail',
  /** WAL recovery: trust the final batch as read, without re-persisting it (a failed fsync's bytes may live only in the page cache). */
  'wal-trust-page-cache',
  /** Snapshots: prune old snapshot files when a new one is saved, before its WAL marker is durable. */
  'snapshot-prune-early',
  /** Metadata KV: log time is the contacted node's wall clock, forwarded unchanged (no leader stamp). */
  'kv-time-from-contacted-node',
  /** Raft forwarding: the leader proposes every copy of a duplicated forwarded request. */
  'raft-forward-no-dedup',
  /** Raft ReadIndex: forwarded read ids restart at 1 in every incarnation; answers taken from anyone. */
  'raft-reuse-read-ids',
  /** Raft lease reads (readOnly 'lease'): serve from the lease until check-quorum deposes the leader. */
  'raft-lease-check-quorum-window',
  /** Peer transport: frame checksums not verified (the simulator delivers corrupt-detected messages corrupted). */
  'net-skip-frame-checksum',
  /** KV state machine: a retried (session, seq) executes again instead of returning the cached result. */
  'kv-skip-session-dedup',
  /** Membership: the incarnation file is believed once two reads agree, with no checksum (a repeated bit flip lowers it). */
  'membership-incarnation-unverified',
  /** Membership: a Stale notice ("a peer knows you at a higher incarnation") is ignored; the life below its earlier ones runs on, unheard. */
  'membership-ignore-stale-notice',
  /** Raft: grant a vote without the log up-to-date check (§5.4.1): a stale candidate can win after a partition. */
  'raft-vote-skip-log-check',
  /** Raft log: an Append replaces everything after prevIndex, so a late (reordered) Append truncates acknowledged entries. */
  'raft-append-truncates-suffix',
  /** Raft: a snapshot chunk presumed lost is never sent again (the follower waits for it forever). */
  'raft-snapshot-chunk-no-resend',
  /** Raft driver, lease mode: one core tick per timer firing, not per elapsed tickMs (a pause or stalled fsync freezes the lease). */
  'raft-lease-ticks-per-timer',
  /** Raft lease reads: the lease runs from when a quorum's acknowledgements arrive, not from when the round was sent. */
  'raft-lease-from-ack-arrival',
  /** Raft driver: a disk error while persisting a Ready is logged and ignored; the node keeps serving from memory. */
  'raft-ignore-disk-error',
  /** Raft driver: while a received snapshot's file is written in slices, no message leaves (a leader under checkQuorum stops hearing from it). */
  'raft-hold-all-while-receiving',
  /** Raft driver: a snapshot's file starts in the same turn as the image's last slice (both held a loaded node's loop 27 ms). */
  'raft-snapshot-file-same-turn',
  /** Raft driver: every node of a group snapshots at the full snapshotEveryEntries (no per-node share): all at the same index. */
  'raft-snapshot-same-threshold',
  /** Raft driver: after a snapshot, snapshotRetainEntries are kept behind it whatever their bytes. */
  'raft-snapshot-retain-count-only',
  /** Dynamo rows layout: a read of every row takes the coordinating replica's rows without checking that the replicas read hold the same. */
  'store-whole-read-unchecked',
  /** Dynamo rows layout: a collection's every-row view kept decoded is answered even after the collection changed. */
  'store-whole-view-kept-stale',
  /** Dynamo rows layout: a kept every-row view whose collection changed is patched without the rows changed since. */
  'store-whole-view-patch-unchanged',
  /** Dynamo rows layout: a tail read's recent rows are joined and the coordinator's rows answer, whatever the digests outside them say. */
  'store-recent-join-unchecked',
  /** Raft core: acknowledgements (Append answers) leave with the Ready, before its entries are synced (a follower promises what a power loss can undo). */
  'raft-ack-before-persist',
  /** Snapshots: a snapshot that fails its CRC is believed damaged at the first read (no re-read). */
  'snapshot-read-once',
  /** Raft driver: a proposal that timed out is reported as a definite failure (it may still apply: the answer was only late). */
  'raft-timeout-definite',
  /** Log time: a leader measures elapsed time with wall-clock differences, not its monotonic clock (a clock step jumps log time). */
  'kv-log-clock-wall-delta',
  /** WAL recovery: a torn tail is cut from the recovered log but not from the file; new batches land after the torn bytes. */
  'wal-repair-skip-truncate',
  /** Raft lease reads: a leader that hands leadership over (TimeoutNow) keeps serving reads from its lease. */
  'raft-lease-kept-on-transfer',
  /** Raft: the commit index is the quorum-th highest match over every replica, learners included (a learner's ack stands in for a voter's). */
  'raft-commit-counts-learners',
  /** WAL recovery: a read that fails with EIO (a bad sector) ends the segment there, as if the file were shorter (the rest is then a torn tail). */
  'wal-read-error-as-eof',
  /** Coord tree: closeSession (expiry or close) forgets the session but leaves its ephemeral nodes. */
  'coord-skip-ephemeral-cleanup',
  /** Coord front end: a read is served at once, not after the session's earlier requests (it misses the session's own write). */
  'coord-read-ahead-of-session',
  /** Coord front end: setWatches ignores relativeZxid, so changes made while the client was away fire nothing. */
  'coord-setwatches-ignore-missed',
  /** Coord leader: session touches a follower forwards are ignored (its clients' sessions expire while pinging). */
  'coord-ignore-follower-touches',
  /** Coord front end: setData is proposed without its expected version (a conditional write always applies). */
  'coord-setdata-skip-version-check',
  /** Metadata KV: the keyspace's bytes are not bounded (kvDataBytesMax), so it can outgrow the group's snapshot bound. */
  'kv-data-bytes-unbounded',
  /** Coord tree: its bytes are not bounded (coordTreeBytesMax), so a tree can outgrow the group's snapshot bound. */
  'coord-tree-bytes-unbounded',
  /** Dynamo Paxos acceptor: a promise is not synced before its reply (a crash forgets it; the acceptor then accepts a lower ballot). */
  'paxos-promise-unsynced',
  /** Dynamo Paxos proposer: the current value is the highest commit only; in-progress accepted values are ignored. */
  'paxos-ignore-accepted',
  /** Dynamo Paxos acceptor: one whose data was lost (a wiped node) answers at once, not after learning each key's state (PaxosRecovery). */
  'paxos-amnesia-trusted',
  /** Store SERIAL over a hash tag: the register is written blind, not compare-and-set from the state read (concurrent transactions lose updates). */
  'serial-tag-blind-write',
  /** Store blocking pops at N > 1: a peer's write wakes every replica's waiters at once (no wake steps: duplicate pops below SERIAL). */
  'blocking-wake-all-at-once',
  /** Store blocking pops at N > 1: a peer's write merged by a hint's replay, anti-entropy or a ring move wakes no waiter (it waits for its poll). */
  'blocking-no-merge-wake',
  /** Store front end: under sync 'always', replies leave before the sync that covers their writes. */
  'store-reply-before-sync',
  /** Store front end: ECHO throws a ProtocolError (a bug in a command) at once, or later before or after it answers (its argument's length: 5 after, 6 before); session.ts answers internal, once. */
  'store-echo-throws',
  /** Dynamo driver: a step's messages and replies go out before its store sync (synced at the next tick instead). */
  'dynamo-send-before-sync',
  /** Dynamo driver under sync periodic/none: every life writes dots under the node id (a restart after a crash reuses dot counters). */
  'dynamo-actor-per-node',
  /** Dynamo replica: dot counters count per key again (no floor over all keys), so a key whose tombstone was collected reuses counters. */
  'dynamo-counter-per-key',
  /** Dynamo rows layout: a collection's dots go under the bare actor id, not one per header (a header made again reuses dots). */
  'dynamo-collection-actor-bare',
  /** Dynamo rows layout: a key's collection made over one of another type starts with an empty context (the old one's is forgotten). */
  'dynamo-collection-drop-context',
  /** Dynamo rows layout: a read's view never says the coordinator may lack rows (replica.ts mayLackRows), so a removal is not read again with every row. */
  'store-rows-lacking-ignored',
  /** Dynamo rows layout: a list push without a row read places its elements past this replica's own low- or high-water element, ignoring the peers'. */
  'store-push-edge-own',
  /** Dynamo rows layout: an emptied collection's marker says nothing of the dots its coordinator had seen, so an add concurrent with the removal of everything is hidden (the key reads as absent). */
  'store-emptied-unseen',
  /** Dynamo rows layout: an emptied marker arriving at a replica does not remove the rows its `seen` covers (they stay until their own removal comes). */
  'store-emptied-removals-ignored',
  /** Dynamo ring move: the moving node's streams count as done at once, nothing copied (move.ts). */
  'dynamo-move-no-stream',
  /** Dynamo replica: a forwarded request is coordinated once per copy of its frame (no forwardsSeen): an INCR counts twice. */
  'dynamo-forward-copies-run',
  /** Dynamo rows layout: a pull of a peer's rows has the whole anti-entropy timeout, not a page's (one lost page holds every later offer of the key). */
  'dynamo-pull-whole-deadline',
  /** Dynamo anti-entropy: a round's tree request goes once and the round waits out its deadline (a lost request or reply holds the node's repair). */
  'dynamo-tree-request-once',
  /** Dynamo ring moves: a page or fetch not answered waits antiEntropyTimeoutTicks (a minute) before it goes again. */
  'dynamo-move-page-long-deadline',
  /** Store at N > 1: a restarted node coordinates with the ring its metadata replica holds at once, before a read barrier says it is current. */
  'store-ring-stale-after-restart',
  /** Store: a node whose data was wiped writes under its earlier life's replica ids again (dot counters from 1). */
  'store-actor-reused-after-wipe',
  /** Dynamo cleanup: keeps only the keys the node is the FIRST replica of (drops its secondary copies). */
  'dynamo-cleanup-primary-only',
  /** Store: a node takes the ring's keyspace settings as its own whatever they are (keyspace-settings.ts never refuses). */
  'store-settings-unchecked',
  /** Store: the initial ring carries no keyspace settings, as a build before them bootstrapped it (ring-keeper.ts adds them after). */
  'store-ring-without-settings',
] as const;

export type Mutation = (typeof MUTATION_NAMES)[number];

export interface Mutations {
  has(mutation: Mutation): boolean;
  /** The active names, sorted (for replay commands and reports). */
  list(): readonly Mutation[];
}

class MutationSet implements Mutations {
  private readonly names: ReadonlySet<Mutation>;
  constructor(names: Iterable<Mutation>) {
    this.names = new Set(names);
  }
  has(mutation: Mutation): boolean {
    return this.names.has(mutation);
  }
  list(): readonly Mutation[] {
    return [...this.names].sort();
  }
}

/** What every real node runs with. */
export const noMutations: Mutations = new MutationSet([]);

export function isMutation(name: string): name is Mutation {
  return (MUTATION_NAMES as readonly string[]).includes(name);
}

/** Validates names (a typo must not silently test nothing). Throws with the list of known names. */
export function mutationsFrom(names: Iterable<string>): Mutations {
  const out: Mutation[] = [];
  for (const name of names) {
    if (!isMutation(name)) {
      throw new Error(`unknown mutation '${name}'; known: ${MUTATION_NAMES.join(', ')}`);
    }
    out.push(name);
  }
  return new MutationSet(out);
}
