// Ordering on one ZooKeeper connection, between the request pipeline (src/wire/pipeline.ts, which
// writes replies in request order) and the two rules ZooKeeper adds:
//   - per-session FIFO: a read is served only once every earlier request of the connection is
//     answered (a write is answered only after this replica applied it), so it sees them;
//   - watch events in order with replies: an event goes out before any reply that reflects its
//     change. Replies already answered were computed before the change; replies not yet answered
//     will be computed after it. So an event is written at once when nothing is unanswered, and
//     otherwise travels just ahead of the first unanswered reply (prepended to its bytes). The
//     pipeline writes the answered prefix as one run, so the event lands between the two kinds.
// Bound: events held ahead of unanswered replies (coordQueuedNotificationsCountMax and
// coordQueuedNotificationsBytesMax per connection); beyond it the connection is closed (the client re-registers its watches and
// reads again on reconnect, as after any disconnect) rather than buffering without end.

import { concatBytes } from '../../lib/bytes.ts';
import type { Reply, ReplyOptions } from '../../wire/pipeline.ts';

export interface Entry {
  readonly seq: number;
  answered: boolean;
  /** Events to write before this entry's reply. */
  before: Uint8Array[] | undefined;
  /** Work waiting for every earlier entry to be answered. */
  waiting: (() => void) | undefined;
  readonly reply: Reply;
}

export class ReplyOrder {
  /** Unanswered entries and answered ones behind an unanswered one, oldest first. */
  private readonly entries: Entry[] = [];
  private seq = 0;
  private held = 0;
  private heldBytes = 0;

  constructor(
    /** Writes bytes on the connection now (an event with nothing unanswered). */
    private readonly writeNow: (bytes: Uint8Array) => void,
    private readonly heldEventsMax: number,
    /** Too many events held: the caller closes the connection. */
    private readonly overflow: () => void,
    private readonly heldBytesMax = Number.POSITIVE_INFINITY,
  ) {}

  /** Bytes of the watch events held behind an unanswered reply. */
  get heldEventBytes(): number {
    return this.heldBytes;
  }

  /** Requests taken and not yet answered, or answered behind one that is not. */
  get pending(): number {
    return this.entries.length;
  }

  /** A request was taken from the pipeline (in order). */
  begin(reply: Reply): Entry {
    const e: Entry = { seq: this.seq++, answered: false, before: undefined, waiting: undefined, reply };
    this.entries.push(e);
    return e;
  }

  /** Runs `fn` once every entry before `e` is answered (now, if they are). */
  afterEarlier(e: Entry, fn: () => void): void {
    if (this.allBeforeAnswered(e)) {
      fn();
      return;
    }
    e.waiting = fn;
  }

  /** Answers `e`: its held events and its reply go to the pipeline together. */
  answer(e: Entry, bytes: Uint8Array, options?: ReplyOptions): void {
    if (e.answered) return;
    e.answered = true;
    let out = bytes;
    if (e.before !== undefined) {
      this.held -= e.before.length;
      for (const b of e.before) this.heldBytes -= b.length;
      out = concatBytes([...e.before, bytes]);
      e.before = undefined;
    }
    e.reply(out, options);
    // Drop the answered head; then wake the first waiting entry whose predecessors are all answered.
    while (this.entries.length > 0 && this.entries[0]!.answered) this.entries.shift();
    const next = this.firstUnanswered();
    if (next?.waiting !== undefined) {
      const fn = next.waiting;
      next.waiting = undefined;
      fn();
    }
  }

  /** A watch event for this connection. */
  notify(bytes: Uint8Array): void {
    const first = this.firstUnanswered();
    if (first === undefined) {
      this.writeNow(bytes);
      return;
    }
    if (this.held >= this.heldEventsMax || this.heldBytes + bytes.length > this.heldBytesMax) {
      this.overflow();
      return;
    }
    first.before ??= [];
    first.before.push(bytes);
    this.held++;
    this.heldBytes += bytes.length;
  }

  private firstUnanswered(): Entry | undefined {
    for (const e of this.entries) if (!e.answered) return e;
    return undefined;
  }

  private allBeforeAnswered(e: Entry): boolean {
    for (const x of this.entries) {
      if (x === e) return true;
      if (!x.answered) return false;
    }
    return true;
  }
}
