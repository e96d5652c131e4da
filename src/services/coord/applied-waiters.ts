// Callbacks waiting for this node's coord state machine to reach a log index: a write's reply
// waits until the local replica applied the write (so the session's next read sees it, ZooKeeper's
// per-session FIFO), and a reconnecting client's lastZxidSeen is compared against it. Released in
// index order, each once, when the group's apply observer reports progress.
// Bound: every waiter belongs to a request in flight on a client connection, so the listener's
// inflightRequestsMax times connectionsMax bounds them; `size` is exported as a gauge.

export class AppliedWaiters {
  /** Binary min-heap on index; ties keep no particular order (they run in the same release). */
  private readonly heap: { index: number; seq: number; fn: () => void }[] = [];
  private seq = 0;
  private appliedIndex: number;

  constructor(appliedIndex: number) {
    this.appliedIndex = appliedIndex;
  }

  get applied(): number {
    return this.appliedIndex;
  }

  get size(): number {
    return this.heap.length;
  }

  /** Runs `fn` once the applied index reaches `index` (now, if it has). */
  wait(index: number, fn: () => void): void {
    if (index <= this.appliedIndex) {
      fn();
      return;
    }
    this.heap.push({ index, seq: this.seq++, fn });
    this.up(this.heap.length - 1);
  }

  /** The applied index moved to `index`: runs every waiter at or below it, lowest index first. */
  advance(index: number): void {
    if (index > this.appliedIndex) this.appliedIndex = index;
    while (this.heap.length > 0 && this.heap[0]!.index <= this.appliedIndex) {
      const top = this.heap[0]!;
      const last = this.heap.pop()!;
      if (this.heap.length > 0) {
        this.heap[0] = last;
        this.down(0);
      }
      top.fn();
    }
  }

  private less(a: number, b: number): boolean {
    const x = this.heap[a]!;
    const y = this.heap[b]!;
    return x.index < y.index || (x.index === y.index && x.seq < y.seq);
  }

  private swap(a: number, b: number): void {
    const t = this.heap[a]!;
    this.heap[a] = this.heap[b]!;
    this.heap[b] = t;
  }

  private up(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) return;
      this.swap(i, p);
      i = p;
    }
  }

  private down(i: number): void {
    const n = this.heap.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.less(l, m)) m = l;
      if (r < n && this.less(r, m)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }
}
