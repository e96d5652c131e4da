// Process-level metrics of a real node: how late its event loop runs what is due, how busy the loop
// is, each garbage collection's pause, and memory. Only a node process has them (the simulator
// runs every node on one loop, in virtual time), so they live here, beside main.ts, not behind
// the Env. A node is one thread: a callback that runs long, or a collection, delays every client
// and peer of the node at once, so a latency percentile with no cause in the request path
// usually has its cause in these (issue 9's c=64 p99 was the snapshots' slices and collections).
//
// Gauges are refreshed at each scrape (refresh()) and describe the time since the previous one:
// the loop's delay percentiles (monitorEventLoopDelay times the gaps between its samples, one
// every `eventLoopDelayResolutionMs`; that interval is taken off, so an idle loop reads ~0) and
// its utilization (the share of wall time spent running
// callbacks rather than waiting in the poll). Collections are observed as they happen into one
// histogram per kind.

import { constants, monitorEventLoopDelay, PerformanceObserver, performance } from 'node:perf_hooks';
import type { Gauge, Histogram, Metrics } from '../env/types.ts';

/** The loop-delay sampler's timer: a late run of it by this much is measurable. */
export const eventLoopDelayResolutionMs = 10;

/** perf_hooks' gc entry kinds. */
const GC_KINDS: Readonly<Record<number, string>> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

export class ProcessMetrics {
  private readonly delay = monitorEventLoopDelay({ resolution: eventLoopDelayResolutionMs });
  private utilization = performance.eventLoopUtilization();
  private readonly gc: PerformanceObserver;
  private readonly gauges: Record<'rss' | 'heap' | 'p50' | 'p99' | 'max' | 'busy', Gauge>;
  private readonly pauses = new Map<string, Histogram>();

  constructor(private readonly metrics: Metrics) {
    const delay = (quantile: string) =>
      metrics.gauge(
        'process_event_loop_delay_ms',
        'How late the event loop ran a due timer since the previous scrape (quantile 1: the longest)',
        { quantile },
      );
    this.gauges = {
      rss: metrics.gauge('process_resident_memory_bytes', 'Resident set size'),
      heap: metrics.gauge('process_heap_used_bytes', 'V8 heap in use'),
      p50: delay('0.5'),
      p99: delay('0.99'),
      max: delay('1'),
      busy: metrics.gauge(
        'process_event_loop_utilization',
        'Share of wall time the event loop spent running callbacks since the previous scrape (0 to 1)',
      ),
    };
    this.delay.enable();
    this.gc = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        const detail = (entry as { readonly detail?: { readonly kind?: number } }).detail;
        const kind = GC_KINDS[detail?.kind ?? 0] ?? 'other';
        this.pauseHistogram(kind).observe(entry.duration);
      }
    });
    this.gc.observe({ entryTypes: ['gc'] });
  }

  private pauseHistogram(kind: string): Histogram {
    let h = this.pauses.get(kind);
    if (h === undefined) {
      h = this.metrics.histogram('process_gc_pause_ms', 'Garbage collection pauses of the main thread', { kind });
      this.pauses.set(kind, h);
    }
    return h;
  }

  /** Sets the gauges for the time since the previous call (a scrape). */
  refresh(): void {
    const memory = process.memoryUsage();
    this.gauges.rss.set(memory.rss);
    this.gauges.heap.set(memory.heapUsed);
    // Gaps between samples in nanoseconds, less the sampling interval; with no sample yet the
    // histogram answers its initial extremes, so 0 then.
    const samples = this.delay.count > 0;
    const late = (ns: number) => (samples ? Math.max(0, ns / 1e6 - eventLoopDelayResolutionMs) : 0);
    this.gauges.p50.set(late(this.delay.percentile(50)));
    this.gauges.p99.set(late(this.delay.percentile(99)));
    this.gauges.max.set(late(this.delay.max));
    this.delay.reset();
    const now = performance.eventLoopUtilization();
    this.gauges.busy.set(performance.eventLoopUtilization(now, this.utilization).utilization);
    this.utilization = now;
  }

  stop(): void {
    this.delay.disable();
    this.gc.disconnect();
  }
}
