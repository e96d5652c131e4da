// The leader's view of one follower (or learner): how much of the log it holds and how the leader
// sends to it. Three states:
//   probe:     one Append per heartbeat interval until the follower's match point is found.
//   replicate: pipelined Appends, `next` advanced optimistically, at most inflightCountMax
//              unacknowledged messages (and inflightBytesMax bytes) in flight.
//   snapshot:  the follower is too far behind (its next entry was compacted); InstallSnapshot
//              chunks are streamed, one in flight, each acknowledged; Appends are paused.
//
// `match` is the highest index the follower is KNOWN to hold (it acknowledged it, and has not
// since rejected a probe there). Commit counts followers by it.
//
// Invariants: 0 <= match < next; in-flight message end indexes are strictly increasing and
// each is >= next - (entries in flight); the window never exceeds its bounds.

import { assert } from '../lib/assert.ts';
import type { Snapshot } from './types.ts';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** A sliding window of in-flight Append messages, each recorded by its last index and byte size. */
export class Inflights {
  readonly countMax: number;
  readonly bytesMax: number;
  private readonly lastIndexes: number[] = [];
  private readonly sizesBytes: number[] = [];
  private totalBytes = 0;

  constructor(countMax: number, bytesMax: number) {
    assert(countMax > 0 && bytesMax > 0, 'inflight bounds positive');
    this.countMax = countMax;
    this.bytesMax = bytesMax;
  }

  get count(): number {
    return this.lastIndexes.length;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  full(): boolean {
    return this.lastIndexes.length >= this.countMax || this.totalBytes >= this.bytesMax;
  }

  add(lastIndex: number, bytes: number): void {
    assert(!this.full(), 'inflights: add to a full window');
    const prev = this.lastIndexes[this.lastIndexes.length - 1];
    assert(prev === undefined || lastIndex > prev, 'inflights: indexes increase');
    this.lastIndexes.push(lastIndex);
    this.sizesBytes.push(bytes);
    this.totalBytes += bytes;
  }

  /** Frees every in-flight message whose last index is <= index (acknowledged). */
  freeLE(index: number): void {
    let n = 0;
    while (n < this.lastIndexes.length && this.lastIndexes[n]! <= index) {
      this.totalBytes -= this.sizesBytes[n]!;
      n++;
    }
    if (n > 0) {
      this.lastIndexes.splice(0, n);
      this.sizesBytes.splice(0, n);
    }
  }

  reset(): void {
    this.lastIndexes.length = 0;
    this.sizesBytes.length = 0;
    this.totalBytes = 0;
  }
}

/** Outgoing InstallSnapshot stream to one follower. */
export interface SnapshotSend {
  readonly snapshot: Snapshot;
  /** Bytes the follower acknowledged. */
  ackedOffset: number;
  /** True while a chunk is unacknowledged (stop-and-wait). */
  chunkInFlight: boolean;
  /** Heartbeat intervals since the last acknowledgement (a lost chunk is resent after one). */
  idleHeartbeats: number;
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** Probe state: an Append is out; wait for its answer or the next heartbeat response. */
  probeSent = false;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  isLearner: boolean;
  readonly inflights: Inflights;
  snapshotSend: SnapshotSend | undefined;

  constructor(options: { next: number; isLearner: boolean; inflightCountMax: number; inflightBytesMax: number }) {
    this.next = options.next;
    this.isLearner = options.isLearner;
    this.inflights = new Inflights(options.inflightCountMax, options.inflightBytesMax);
  }

  private resetState(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.snapshotSend = undefined;
    this.inflights.reset();
  }

  becomeProbe(): void {
    const snapIndex = this.snapshotSend?.snapshot.meta.index ?? 0;
    this.resetState('probe');
    this.next = Math.max(this.match + 1, snapIndex + 1);
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshot: Snapshot): void {
    this.resetState('snapshot');
    this.snapshotSend = { snapshot, ackedOffset: 0, chunkInFlight: false, idleHeartbeats: 0 };
  }

  /** An accepted Append up to `index`. Returns false for a stale acknowledgement. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (index > this.match) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /**
   * A rejected Append of prevIndex `rejected`; `matchHint` is the leader's guess of the last
   * matching index (from the follower's conflict hints). Returns
   *   'stale'     ignored: an answer to an Append that is no longer the one being probed;
   *   'backoff'   `next` moved down: send the next probe now;
   *   'regressed' the follower rejected the probe AT `match`, so it no longer holds entries it
   *               acknowledged (a wiped data directory, lost synced WAL bytes). Raft assumes this
   *               never happens, and a majority counted with it may now be a minority. `match`
   *               drops to 0 — nothing it holds is known any more, and a hint is only a guess —
   *               so the leader stops counting it toward commit until it acknowledges again;
   *               `next` drops to the hint (without this, `next` stayed at match + 1 and leader
   *               and follower bounced probe/rejection at network speed, issue 7 item 5).
   * A duplicated or reordered old rejection of prevIndex `match` looks the same as a regression;
   * the cost of that false alarm is one re-sent probe (the follower acknowledges again at once).
   * In probe state an immediate re-probe is allowed only when `next` strictly dropped, so the
   * number of back-to-back probes is bounded by the log; otherwise the next probe waits for the
   * next heartbeat response (one probe per heartbeat interval).
   */
  maybeDecrTo(rejected: number, matchHint: number): 'stale' | 'backoff' | 'regressed' {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return 'stale';
      this.next = this.match + 1;
      return 'backoff';
    }
    if (this.next - 1 !== rejected) return 'stale';
    const before = this.next;
    const hinted = Math.max(1, Math.min(rejected, matchHint + 1));
    let result: 'backoff' | 'regressed' = 'backoff';
    if (rejected <= this.match) {
      this.match = 0;
      result = 'regressed';
    }
    this.next = Math.max(hinted, this.match + 1);
    if (this.next >= before) return 'stale'; // no progress: wait for the heartbeat to re-probe
    this.probeSent = false;
    return result;
  }

  /** May the leader send an Append carrying entries now? */
  paused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }

  /** Records an Append sent with `count` entries ending at lastIndex. */
  sentEntries(count: number, lastIndex: number, bytes: number): void {
    if (this.state === 'replicate' && count > 0) {
      this.next = lastIndex + 1;
      this.inflights.add(lastIndex, bytes);
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }
}
