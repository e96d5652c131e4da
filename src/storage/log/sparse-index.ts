// The sparse index of one segment: (key, file position) pairs, one every `intervalBytes` of the
// segment, so a reader seeks to a key by a binary search and scans at most one interval, never the
// segment from its start (Kafka's .index file, kept in memory and rebuilt by the recovery scan,
// which reads every byte anyway). Keys are the client's (a partition offset), increasing in the log.

export class SparseIndex {
  private readonly keys: number[] = [];
  private readonly positions: number[] = [];
  private lastPosition = -1;

  constructor(private readonly intervalBytes: number) {}

  /** Notes the record with `key` at `position`; kept when it is the first or an interval past the last kept. */
  note(key: number, position: number): void {
    if (this.lastPosition >= 0 && position - this.lastPosition < this.intervalBytes) return;
    this.keys.push(key);
    this.positions.push(position);
    this.lastPosition = position;
  }

  /** Position of the last indexed record whose key is <= `key`; undefined when none is (start of segment). */
  floor(key: number): number | undefined {
    let lo = 0;
    let hi = this.keys.length - 1;
    if (hi < 0 || this.keys[0]! > key) return undefined;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.keys[mid]! <= key) lo = mid;
      else hi = mid - 1;
    }
    return this.positions[lo];
  }

  get entryCount(): number {
    return this.keys.length;
  }
}
