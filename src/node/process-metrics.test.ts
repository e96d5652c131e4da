// ProcessMetrics on this process's own event loop: a callback that holds the loop shows as a
// delay at least that long at the next scrape, and none is left over after it; a busy loop reads
// as utilization near 1, an idle one near 0; collections are observed per kind.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { GaugeInstrument, MetricsRegistry } from '../metrics/registry.ts';
import { LogLinearHistogram } from '../metrics/histogram.ts';
import { eventLoopDelayResolutionMs, ProcessMetrics } from './process-metrics.ts';

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function holdLoop(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // the loop is held: no timer runs
  }
}

test('a callback holding the loop shows as its delay and its utilization at the next scrape', async (t) => {
  const metrics = new MetricsRegistry();
  const pm = new ProcessMetrics(metrics);
  t.after(() => pm.stop());
  const value = (name: string, labels?: Record<string, string>): number => {
    const g = metrics.find(name, labels);
    assert.ok(g instanceof GaugeInstrument, `gauge ${name}`);
    return g.value;
  };
  await tick(3 * eventLoopDelayResolutionMs); // the sampler has run
  pm.refresh();
  await tick(3 * eventLoopDelayResolutionMs);
  holdLoop(120);
  await tick(3 * eventLoopDelayResolutionMs);
  pm.refresh();
  const longest = value('process_event_loop_delay_ms', { quantile: '1' });
  assert.ok(longest >= 100 && longest < 1_000, `a 120 ms hold read as ${longest} ms`);
  // 120 ms busy in a window of ~180 (more when a loaded machine stretches the waits).
  assert.ok(value('process_event_loop_utilization') > 0.3, `${value('process_event_loop_utilization')}`);
  assert.ok(value('process_resident_memory_bytes') > 0);
  assert.ok(value('process_heap_used_bytes') > 0);
  // The window starts again at each scrape: idle since, nothing near the hold is left.
  await tick(8 * eventLoopDelayResolutionMs);
  pm.refresh();
  const after = value('process_event_loop_delay_ms', { quantile: '1' });
  assert.ok(after < 100, `after the hold's window: ${after} ms`);
  // The sampling interval is not counted as lateness: a sample never comes sooner than it, so
  // counted in, even an idle loop's median would read at least 10 ms.
  const median = value('process_event_loop_delay_ms', { quantile: '0.5' });
  assert.ok(median < eventLoopDelayResolutionMs, `an idle loop's median delay: ${median} ms`);
  assert.ok(value('process_event_loop_utilization') < 0.2, `${value('process_event_loop_utilization')}`);
});

test('garbage collections are observed per kind', async (t) => {
  const metrics = new MetricsRegistry();
  const pm = new ProcessMetrics(metrics);
  t.after(() => pm.stop());
  const countOf = (kind: string): number => {
    const h = metrics.find('process_gc_pause_ms', { kind });
    return h instanceof LogLinearHistogram ? h.count : 0;
  };
  const count = () => countOf('minor');
  // A full collection on demand (the flag makes `gc` in contexts created after it).
  setFlagsFromString('--expose-gc');
  const fullGc = runInNewContext('gc') as () => void;
  fullGc();
  for (let round = 0; round < 200 && countOf('major') === 0; round++) await tick(1);
  assert.ok(countOf('major') > 0, 'the full collection observed as major');
  let keep: unknown[] = [];
  // Young-generation garbage until a scavenge is reported (entries arrive asynchronously).
  for (let round = 0; round < 200 && count() === 0; round++) {
    keep = Array.from({ length: 50_000 }, (_, i) => ({ i, s: `x${i}` }));
    await tick(1);
  }
  assert.ok(keep.length > 0);
  assert.ok(count() > 0, 'a minor collection observed');
});
