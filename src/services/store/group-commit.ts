// When a reply may leave the node: the durability rule of the store's sync policy, applied to
// every reply of every connection (the session hands each reply here; src/wire/pipeline.ts keeps
// each connection's replies in request order whatever order they are released in).
//
//   always    a reply leaves only once a sync() covers every write applied before it was produced.
//             Replies produced while the engine holds unsynced writes wait for the end of the
//             event-loop turn (timers.after(0)); then ONE sync() covers all the turn's writes and
//             every waiting reply goes out (Redis' appendfsync always: beforeSleep fsyncs the AOF,
//             then writes the clients' replies). A read's reply waits too while unsynced writes
//             exist: it may show another client's write that is not yet durable. A turn that wrote
//             nothing releases its replies at once.
//   periodic  replies leave at once; a timer syncs every syncIntervalMs (Redis' everysec).
//   none      replies leave at once; nothing syncs for a write.
// A failed sync() poisons the engine (src/storage/lsm/engine.ts): the waiting replies are never
// sent, their connections are closed (the client cannot know whether the write happened:
// indefinite), and the error is rethrown to the node as a disk failure.

import type { Counter, Histogram, Timer, Timers } from '../../env/types.ts';
import type { StoreSyncPolicy } from './config.ts';

/** What group commit needs of the engine. */
export interface SyncTarget {
  readonly lastAppliedSeq: number;
  readonly durableSeq: number;
  sync(): number;
}

interface Waiting {
  send(): void;
  abandon(): void;
}

export interface GroupCommitOptions {
  readonly policy: StoreSyncPolicy;
  readonly syncIntervalMs: number;
  readonly engine: SyncTarget;
  readonly timers: Timers;
  readonly metrics: {
    readonly syncs: Counter;
    /** Replies released by one sync (the group's size). */
    readonly groupSize: Histogram;
  };
  /** Planted defect for the negative control: under `always`, send replies before the sync. */
  readonly replyBeforeSync?: boolean;
}

export class GroupCommit {
  private readonly waiting: Waiting[] = [];
  private scheduled: Timer | undefined;
  private periodic: Timer | undefined;
  private stopped = false;
  private syncCount = 0;

  constructor(private readonly o: GroupCommitOptions) {
    if (o.policy === 'periodic') {
      this.periodic = o.timers.every(o.syncIntervalMs, () => {
        if (this.unsynced) this.syncNow();
      });
    }
  }

  /** Whether writes applied so far are not all durable. */
  get unsynced(): boolean {
    return this.o.engine.durableSeq < this.o.engine.lastAppliedSeq;
  }

  /** Replies held for the next sync. */
  get waitingCount(): number {
    return this.waiting.length;
  }

  /** Sends `send` when the policy allows; `abandon` instead if the covering sync fails. */
  release(send: () => void, abandon: () => void): void {
    if (
      this.o.policy !== 'always' ||
      this.o.replyBeforeSync === true ||
      (!this.unsynced && this.waiting.length === 0)
    ) {
      send();
      return;
    }
    this.waiting.push({ send, abandon });
    this.scheduled ??= this.o.timers.after(0, () => this.flush());
  }

  /** One sync for everything applied so far, then every waiting reply. */
  flush(): void {
    this.scheduled?.cancel();
    this.scheduled = undefined;
    if (this.stopped) return;
    const group = this.waiting.splice(0);
    try {
      if (this.unsynced) this.syncNow();
    } catch (error) {
      for (const w of group) w.abandon();
      throw error;
    }
    this.o.metrics.groupSize.observe(group.length);
    for (const w of group) w.send();
  }

  private syncNow(): void {
    this.o.engine.sync();
    this.syncCount++;
    this.o.metrics.syncs.inc();
  }

  /** Syncs made so far (tests; the metric store_syncs_total counts the same). */
  get syncs(): number {
    return this.syncCount;
  }

  /**
   * Stops the timers. Replies still waiting are dropped, never sent: their connections close with
   * the listener (the client cannot know whether the write happened), and the engine's close
   * syncs what was applied.
   */
  stop(): void {
    this.stopped = true;
    this.periodic?.cancel();
    this.scheduled?.cancel();
    this.waiting.length = 0;
  }
}
