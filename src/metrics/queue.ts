// Queue depth and rejection instruments with one naming scheme for every bounded queue:
//   queue_depth{queue="<name>"}            gauge, items currently queued
//   queue_rejected_total{queue="<name>"}   counter, offers refused because the queue was full
// Pass the result straight to `new BoundedQueue({ capacity, ...queueInstruments(metrics, name) })`.

import type { Counter, Gauge, Labels, Metrics } from '../env/types.ts';

export interface QueueInstruments {
  depthGauge: Gauge;
  rejectedCounter: Counter;
}

export function queueInstruments(metrics: Metrics, queue: string, labels: Labels = {}): QueueInstruments {
  const all = { ...labels, queue };
  return {
    depthGauge: metrics.gauge('queue_depth', 'Items currently held in a bounded queue.', all),
    rejectedCounter: metrics.counter('queue_rejected_total', 'Offers refused because a bounded queue was full.', all),
  };
}
