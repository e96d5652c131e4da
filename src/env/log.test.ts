// Goal: createLogger writes pino JSON lines carrying nodeId and the child's bindings at the
// configured level; memoryLogger keeps exactly the last N structured lines, shared with children;
// LogLimiter bounds the lines each key may write and reports what it suppressed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Logger } from './types.ts';
import { MetricsRegistry } from '../metrics/registry.ts';
import { createLogger, LogLimiter, memoryLogger, overflowLogKey } from './log.ts';

test('createLogger emits JSON lines with nodeId, bindings and level filtering', () => {
  const chunks: string[] = [];
  const log = createLogger({ nodeId: 'n1', level: 'info', destination: { write: (s: string) => void chunks.push(s) } });
  const env: Logger = log; // satisfies the Env's Logger interface
  env.debug({ hidden: true }, 'below level');
  env.child({ component: 'raft' }).warn({ term: 3 }, 'stepping down');
  assert.equal(chunks.length, 1);
  const line = JSON.parse(chunks[0]!) as Record<string, unknown>;
  assert.equal(line['nodeId'], 'n1');
  assert.equal(line['component'], 'raft');
  assert.equal(line['term'], 3);
  assert.equal(line['msg'], 'stepping down');
  assert.equal(line['level'], 40);
  assert.equal(typeof line['time'], 'string');
});

test('memoryLogger keeps the last N lines, oldest first, shared with children', () => {
  const log = memoryLogger(3);
  const child = log.child({ component: 'net' });
  log.info({ i: 1 }, 'one');
  child.warn({ i: 2 });
  child.child({ peer: 'n2' }).error({ i: 3 }, 'three');
  log.debug({ i: 4 }, 'four');
  assert.deepEqual(log.lines(), [
    { level: 'warn', component: 'net', i: 2 },
    { level: 'error', component: 'net', peer: 'n2', i: 3, msg: 'three' },
    { level: 'debug', i: 4, msg: 'four' },
  ]);
  assert.equal(child.lines().length, 3);
  assert.equal(log.droppedCount, 1);
  const quiet = memoryLogger(10, 'warn');
  quiet.info({}, 'dropped by level');
  quiet.error({}, 'kept');
  assert.deepEqual(quiet.lines(), [{ level: 'error', msg: 'kept' }]);
});

// --- LogLimiter (issue 7 item 14): lines untrusted input can cause are bounded per key.

class ManualClock {
  nowMs = 1_000;
  monotonicMs(): number {
    return this.nowMs;
  }
  wallMs(): number {
    return this.nowMs;
  }
}

test('LogLimiter writes a burst per key, then suppresses and counts, and the next line says how many', () => {
  const log = memoryLogger(1_000);
  const clock = new ManualClock();
  const metrics = new MetricsRegistry();
  const limiter = new LogLimiter(log, clock, metrics, 'net', { burstLines: 3, linesPerSecond: 2, keysMax: 8 });
  // 5,000 rejected connections in one instant: three lines, not five thousand.
  for (let i = 0; i < 5_000; i++) limiter.warn('reject:garbage', { i }, 'rejected');
  assert.equal(log.lines().length, 3);
  assert.equal(limiter.suppressedCount('reject:garbage'), 4_997);
  assert.equal((metrics.find('log_lines_suppressed_total', { component: 'net' }) as { value: number }).value, 4_997);
  // Another key has its own bucket.
  limiter.warn('reject:other', {}, 'other');
  assert.equal(log.lines().length, 4);
  // Half a second refills one token (2 per second): the next line reports what was left out.
  clock.nowMs += 500;
  limiter.warn('reject:garbage', { i: 'late' }, 'rejected');
  assert.deepEqual(log.lines().at(-1), { level: 'warn', i: 'late', suppressed: 4_997, msg: 'rejected' });
  assert.equal(limiter.suppressedCount('reject:garbage'), 0);
  // Sustained rate: over 10 s of one line per ms, about 2 per second get through.
  for (let t = 0; t < 10_000; t++) {
    clock.nowMs += 1;
    limiter.warn('reject:garbage', {}, 'rejected');
  }
  assert.equal(log.lines().length, 5 + 20);
});

test('LogLimiter bounds its keys (keys from untrusted input share one overflow bucket) and flushes summaries', () => {
  const log = memoryLogger(1_000);
  const clock = new ManualClock();
  const limiter = new LogLimiter(log, clock, new MetricsRegistry(), 'http', {
    burstLines: 1,
    linesPerSecond: 1,
    keysMax: 4,
  });
  for (let k = 0; k < 1_000; k++) limiter.warn(`key${k}`, {}, 'line');
  // Three own buckets, then every further key shares the overflow bucket (one line, 996 suppressed).
  assert.equal(log.lines().length, 4);
  assert.equal(limiter.suppressedCount(overflowLogKey), 996);
  limiter.flushSuppressed();
  assert.deepEqual(log.lines().at(-1), {
    level: 'warn',
    logKey: overflowLogKey,
    suppressed: 996,
    msg: 'log lines suppressed by the rate limit',
  });
  assert.equal(limiter.suppressedCount(overflowLogKey), 0);
  limiter.flushSuppressed();
  assert.equal(log.lines().length, 5, 'nothing left to report');
});

test('createLogger: a child binding replaces the parent binding of the same key (component once per line)', () => {
  const chunks: string[] = [];
  const log = createLogger({ nodeId: 'n1', level: 'info', destination: { write: (s: string) => void chunks.push(s) } });
  // As src/node/main.ts hands `child({ component: 'transport' })` to the TCP transport, which
  // adds its own component.
  log.child({ component: 'transport' }).child({ component: 'tcp-transport', self: 'n1' }).info({ peer: 'n2' }, 'hi');
  assert.equal(chunks.length, 1);
  assert.equal(chunks[0]!.match(/"component":/g)?.length, 1, chunks[0]);
  const line = JSON.parse(chunks[0]!) as Record<string, unknown>;
  assert.equal(line['component'], 'tcp-transport');
  assert.equal(line['self'], 'n1');
  assert.equal(line['nodeId'], 'n1');
  assert.equal(line['peer'], 'n2');
});
