// Which forwarded client requests this node has already taken in (issue 7 item 10). A follower
// forwards a client's command to the leader once; the network may deliver that frame twice (the
// simulator duplicates messages, as real networks and reconnecting transports do). Without this
// table a session-less command was proposed, and applied, once per copy.
//
// A request is named by (sender, sender incarnation, request id): ids count up from 1 in each
// process of the sender and the incarnation grows on every start, so the pair never repeats.
// Per sender we keep its newest incarnation and the ids seen within a window of `windowIds`:
//   - a newer incarnation replaces the window (the old process is gone: nobody waits on its ids);
//   - an older incarnation is stale: its process is gone, so the request is dropped unanswered;
//   - an id at or below (highest seen - windowIds) is too old to tell apart from a duplicate, and
//     dropped. That is safe when windowIds >= the sender's bound on requests waiting at once
//     (pendingRequestsMax): when the sender assigned the highest id, it had already settled
//     every id that far below it, with an answer or an indefinite timeout.
// A request is recorded as seen whether or not it is then proposed: a copy of one that was
// answered `not_leader` (definite) must not be proposed later, or "definite" would be a lie.
//
// Bounds: at most `sendersMax` senders (the least recently active is forgotten; its next request
// starts a fresh window) and `windowIds` ids per sender.

export type ForwardVerdict = 'new' | 'duplicate' | 'stale_incarnation' | 'too_old';

interface SenderWindow {
  incarnation: number;
  highestId: number;
  /** Ids seen, in arrival order; ids below highestId - windowIds are pruned from the front. */
  readonly ids: Set<number>;
}

export class ForwardDedup {
  private readonly senders = new Map<string, SenderWindow>();

  constructor(private readonly options: { readonly windowIds: number; readonly sendersMax: number }) {}

  /** Classifies a forwarded request and, if it is new, records it as seen. */
  admit(sender: string, incarnation: number, requestId: number): ForwardVerdict {
    let w = this.senders.get(sender);
    if (w !== undefined && incarnation < w.incarnation) return 'stale_incarnation';
    if (w === undefined || incarnation > w.incarnation) {
      w = { incarnation, highestId: 0, ids: new Set() };
    }
    // Re-insert to keep the map in least-recently-active order.
    this.senders.delete(sender);
    this.senders.set(sender, w);
    if (this.senders.size > this.options.sendersMax) {
      const oldest = this.senders.keys().next().value as string;
      this.senders.delete(oldest);
    }
    if (requestId <= w.highestId - this.options.windowIds) return 'too_old';
    if (w.ids.has(requestId)) return 'duplicate';
    w.ids.add(requestId);
    if (requestId > w.highestId) w.highestId = requestId;
    const floor = w.highestId - this.options.windowIds;
    for (const id of w.ids) {
      if (id > floor && w.ids.size <= this.options.windowIds) break;
      w.ids.delete(id);
    }
    return 'new';
  }

  /** Ids remembered in all (for tests and a gauge). */
  get size(): number {
    let n = 0;
    for (const w of this.senders.values()) n += w.ids.size;
    return n;
  }
}
