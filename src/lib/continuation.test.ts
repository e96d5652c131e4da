// Goal: a continuation that throws a ProtocolError is counted, logged at a bounded rate and called
// once more with an `internal` failure (so its caller is answered); one that throws twice is
// counted once and the second throw swallowed; any other exception propagates, typed ones too (a
// disk error must stop the node: the review of 16ce622 found it swallowed); a continuation that
// does not throw is called once and counts nothing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { memoryLogger } from '../env/log.ts';
import { MetricsRegistry } from '../metrics/registry.ts';
import { Continuations } from './continuation.ts';
import { BaristaError, LimitError, ProtocolError } from './errors.ts';

type Outcome = { ok: true; value: number } | { ok: false; error: BaristaError };
const failed = (error: BaristaError): Outcome => ({ ok: false, error });

function setup() {
  const metrics = new MetricsRegistry();
  const log = memoryLogger(10_000);
  const continuations = new Continuations(metrics, log, { monotonicMs: () => 0, wallMs: () => 0 }, 'test');
  const failures = () =>
    (metrics.find('continuation_failures_total', { component: 'test' }) as { value: number }).value;
  return { continuations, failures, log };
}

test('a continuation that does not throw is called once', () => {
  const { continuations, failures } = setup();
  const seen: Outcome[] = [];
  continuations.call((o: Outcome) => seen.push(o), { ok: true, value: 7 }, failed);
  assert.deepEqual(seen, [{ ok: true, value: 7 }]);
  assert.equal(failures(), 0);
});

test('a ProtocolError: counted, then the continuation answers an internal failure', () => {
  const { continuations, failures, log } = setup();
  const seen: Outcome[] = [];
  continuations.call(
    (o: Outcome) => {
      seen.push(o);
      if (o.ok) throw new ProtocolError('crdt_unknown_type', 'decoded a list as a counter');
    },
    { ok: true, value: 1 },
    failed,
  );
  assert.equal(seen.length, 2);
  const second = seen[1]!;
  assert.ok(!second.ok);
  assert.equal(second.error.code, 'internal');
  assert.equal(failures(), 1);
  assert.ok(log.lines().some((l) => l.level === 'error'));
  // A flood of them writes a bounded number of lines.
  for (let i = 0; i < 1_000; i++) {
    continuations.call(
      (o: Outcome) => {
        if (o.ok) throw new ProtocolError('malformed', 'x');
      },
      { ok: true, value: i },
      failed,
    );
  }
  assert.equal(failures(), 1_001);
  assert.ok(log.lines().length < 50, `${log.lines().length} lines`);
});

test('a continuation that throws on its internal failure too is counted once', () => {
  const { continuations, failures } = setup();
  let calls = 0;
  continuations.call(
    () => {
      calls++;
      throw new ProtocolError('malformed', 'always');
    },
    { ok: true, value: 1 } as Outcome,
    failed,
  );
  assert.equal(calls, 2);
  assert.equal(failures(), 1);
});

test('any other exception propagates: a disk error (the node stops), a LimitError, an untyped crash', () => {
  const { continuations, failures } = setup();
  for (const error of [new BaristaError('disk_io', 'EIO'), new LimitError('storeSetMembersCountMax', 'x')]) {
    assert.throws(
      () =>
        continuations.call(
          () => {
            throw error;
          },
          { ok: true, value: 1 } as Outcome,
          failed,
        ),
      (e: unknown) => e === error,
    );
  }
  assert.throws(
    () =>
      continuations.call(
        () => {
          throw new TypeError('a bug');
        },
        { ok: true, value: 1 } as Outcome,
        failed,
      ),
    TypeError,
  );
  assert.equal(failures(), 0);
  assert.throws(() => continuations.caught(new RangeError('x')), RangeError);
});
