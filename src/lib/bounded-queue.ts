// A FIFO ring buffer with a fixed, named capacity: the building block for every bounded queue in
// Baristas (peer send queues, apply queues, request pipelines).
//
// Invariants:
// - 0 ≤ size ≤ capacity, always; the backing array is allocated once and never grows.
// - offer() on a full queue returns false and counts one rejection; it never evicts and never throws
//   (backpressure is the caller's decision).
// - Every operation is O(1); iteration visits items oldest first without removing them.
// - If a depth Gauge is given it always equals `size` after each operation; the rejection Counter
//   is incremented once per rejected offer.

import type { Counter, Gauge } from '../env/types.ts';
import { assert } from './assert.ts';

export interface BoundedQueueOptions {
  /** Maximum number of items held at once (a positive safe integer). */
  capacity: number;
  /** Reports the current depth after every change. */
  depthGauge?: Gauge;
  /** Incremented once per rejected offer. */
  rejectedCounter?: Counter;
}

export class BoundedQueue<T> implements Iterable<T> {
  readonly capacity: number;
  private readonly items: (T | undefined)[];
  private head = 0;
  private count = 0;
  private rejected = 0;
  private readonly depthGauge: Gauge | undefined;
  private readonly rejectedCounter: Counter | undefined;

  constructor(options: BoundedQueueOptions) {
    assert(
      Number.isSafeInteger(options.capacity) && options.capacity > 0,
      `BoundedQueue capacity must be a positive integer, got ${options.capacity}`,
    );
    this.capacity = options.capacity;
    this.items = new Array<T | undefined>(options.capacity).fill(undefined);
    this.depthGauge = options.depthGauge;
    this.rejectedCounter = options.rejectedCounter;
    this.depthGauge?.set(0);
  }

  get size(): number {
    return this.count;
  }

  /** Offers rejected because the queue was full, since construction. */
  get rejectedCount(): number {
    return this.rejected;
  }

  isEmpty(): boolean {
    return this.count === 0;
  }

  isFull(): boolean {
    return this.count === this.capacity;
  }

  /** Appends `item` unless full. Returns false (and counts a rejection) when full. */
  offer(item: T): boolean {
    if (this.count === this.capacity) {
      this.rejected++;
      this.rejectedCounter?.inc();
      return false;
    }
    let tail = this.head + this.count;
    if (tail >= this.capacity) tail -= this.capacity;
    this.items[tail] = item;
    this.count++;
    this.depthGauge?.set(this.count);
    return true;
  }

  /** Removes and returns the oldest item, or undefined when empty. */
  poll(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined; // release the reference for GC
    this.head = this.head + 1 === this.capacity ? 0 : this.head + 1;
    this.count--;
    this.depthGauge?.set(this.count);
    return item;
  }

  /** The oldest item without removing it, or undefined when empty. */
  peek(): T | undefined {
    return this.count === 0 ? undefined : this.items[this.head];
  }

  /** Removes every item (O(capacity) to release references). */
  clear(): void {
    this.items.fill(undefined);
    this.head = 0;
    this.count = 0;
    this.depthGauge?.set(0);
  }

  *[Symbol.iterator](): Iterator<T> {
    for (let i = 0; i < this.count; i++) {
      let at = this.head + i;
      if (at >= this.capacity) at -= this.capacity;
      yield this.items[at] as T;
    }
  }
}
