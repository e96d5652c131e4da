// Ids recently taken in from each sender, so that a copy of a frame (a network that duplicates, a
// transport that sends again) is recognised and not served twice. Per sender the last
// `perSenderMax` ids, oldest forgotten first (a Set keeps insertion order); at most `sendersMax`
// senders, the one first added forgotten when another comes. A copy delayed past `perSenderMax`
// later ids of its sender is taken for new: callers size the window past what a sender can have
// waiting (src/services/store/forward.ts, src/dynamo/replica.ts). Pure.

export class RecentIds<Id> {
  private readonly bySender = new Map<string, Set<Id>>();

  constructor(
    private readonly perSenderMax: number,
    private readonly sendersMax: number,
  ) {}

  /** Records `id` from `sender`; false when it was recorded already (a copy). */
  admit(sender: string, id: Id): boolean {
    let ids = this.bySender.get(sender);
    if (ids === undefined) {
      if (this.bySender.size >= this.sendersMax) this.bySender.delete(this.bySender.keys().next().value!);
      ids = new Set();
      this.bySender.set(sender, ids);
    }
    if (ids.has(id)) return false;
    ids.add(id);
    if (ids.size > this.perSenderMax) ids.delete(ids.values().next().value as Id);
    return true;
  }
}
