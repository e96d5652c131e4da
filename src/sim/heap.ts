// The simulator's event queue: a binary min-heap ordered by (virtual time, insertion sequence).
//
// Invariants:
//   - pop() returns events in non-decreasing `atMs`; among equal times, in insertion order (FIFO),
//     because every push gets a strictly larger `seq` (pushFirst events come before all others at
//     their time, in their own insertion order). That tie-break is what makes a run a pure
//     function of (seed, config): no ordering is left to the host.
//   - The heap never holds more than `sizeMax` events; push past it throws a LimitError naming the
//     bound (a runaway simulation: something schedules faster than time advances).

import { LimitError } from '../lib/errors.ts';

export interface Scheduled {
  /** Virtual time at which the event fires. */
  atMs: number;
  /** Insertion sequence, set by the queue. */
  seq: number;
}

export class EventQueue<E extends Scheduled> {
  private readonly items: E[] = [];
  private seqNext = 0;
  /** Sequence numbers for pushFirst(): below every ordinary one, increasing among themselves. */
  private seqFirstNext = Number.MIN_SAFE_INTEGER;

  constructor(
    private readonly sizeMax: number,
    private readonly boundName: string,
  ) {}

  get size(): number {
    return this.items.length;
  }

  push(event: E): void {
    this.insert(event, this.seqNext++);
  }

  /**
   * Like push, but ahead of every ordinary event at the same time (in pushFirst order among
   * themselves). Used to release events a paused node held, so they keep their place before
   * events that arrived while they waited.
   */
  pushFirst(event: E): void {
    this.insert(event, this.seqFirstNext++);
  }

  private insert(event: E, seq: number): void {
    if (this.items.length >= this.sizeMax) {
      throw new LimitError(
        this.boundName,
        `simulator runaway: more than ${this.boundName}=${this.sizeMax} pending events`,
      );
    }
    event.seq = seq;
    const items = this.items;
    let i = items.length;
    items.push(event);
    // Sift up.
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = items[parent]!;
      if (!before(event, p)) break;
      items[i] = p;
      i = parent;
    }
    items[i] = event;
  }

  peek(): E | undefined {
    return this.items[0];
  }

  pop(): E | undefined {
    const items = this.items;
    const top = items[0];
    if (top === undefined) return undefined;
    const last = items.pop()!;
    const n = items.length;
    if (n > 0) {
      // Sift `last` down from the root.
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        let c = l;
        let child = items[l]!;
        if (r < n) {
          const right = items[r]!;
          if (before(right, child)) {
            c = r;
            child = right;
          }
        }
        if (!before(child, last)) break;
        items[i] = child;
        i = c;
      }
      items[i] = last;
    }
    return top;
  }

  /** Removes every event (used when a run is abandoned). */
  clear(): void {
    this.items.length = 0;
  }
}

function before(a: Scheduled, b: Scheduled): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
}
