// Goal: PortTurns' invariants (port-turns.ts header) with a manual turn queue in place of
// setImmediate: a quiet port is served at once while a flooded one's bytes wait for turns of at most
// the budget each; per connection order holds; sockets pause while bytes are queued and resume
// after; a core that stops reading holds its queued bytes; a closed connection's queue goes.
// Negative control: with an unbounded budget the quiet port's request is handled last.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PortTurns, type TurnConnection } from './port-turns.ts';

function harness(turnBytesMax: number) {
  const deferred: Array<() => void> = [];
  const turns = new PortTurns(turnBytesMax, (fn) => deferred.push(fn));
  const handled: string[] = [];
  const conn = (name: string) => {
    const c = {
      socketReading: false as boolean,
      deliver(chunk: Uint8Array) {
        handled.push(`${name}:${new TextDecoder().decode(chunk)}`);
      },
      setSocketReading(reading: boolean) {
        c.socketReading = reading;
      },
    } satisfies TurnConnection & { socketReading: boolean };
    return c;
  };
  let turnsRun = 0;
  const runTurn = (): boolean => {
    const fn = deferred.shift();
    fn?.();
    assert.ok(++turnsRun < 100, 'turns keep scheduling turns');
    return fn !== undefined;
  };
  return { turns, handled, conn, runTurn, deferred };
}

const chunk = (s: string): Uint8Array => new TextEncoder().encode(s);

test('a flooded port waits for turns of at most its budget; a quiet port is served at once', () => {
  const h = harness(8);
  const flood = h.turns.port('flood');
  const probe = h.turns.port('probe');
  const f1 = h.conn('f1');
  const f2 = h.conn('f2');
  const p = h.conn('p');
  const sf1 = h.turns.attach(flood, f1);
  const sf2 = h.turns.attach(flood, f2);
  const sp = h.turns.attach(probe, p);
  for (const s of [sf1, sf2, sp]) h.turns.setCoreReading(s, true);
  assert.ok(f1.socketReading && f2.socketReading && p.socketReading);
  // One poll phase: the flood's connections deliver 6 chunks of 4 bytes, then the probe its request.
  for (let i = 0; i < 3; i++) {
    h.turns.received(sf1, chunk(`a${i}..`));
    h.turns.received(sf2, chunk(`b${i}..`));
  }
  h.turns.received(sp, chunk('ping'));
  assert.deepEqual(h.handled, ['f1:a0..', 'f2:b0..', 'p:ping'], 'the budget (8 bytes) then the probe at once');
  assert.equal(f1.socketReading, false, 'a connection with queued bytes stops reading');
  assert.equal(f2.socketReading, false);
  assert.equal(p.socketReading, true);
  assert.equal(h.turns.deferredChunks, 4);
  // Turns: 8 bytes each, the port's connections alternating, each in its own order.
  h.handled.length = 0;
  assert.ok(h.runTurn());
  assert.deepEqual(h.handled, ['f1:a1..', 'f2:b1..']);
  assert.ok(h.runTurn());
  assert.deepEqual(h.handled, ['f1:a1..', 'f2:b1..', 'f1:a2..', 'f2:b2..']);
  assert.ok(f1.socketReading && f2.socketReading, 'reading again once the queue is empty');
  assert.equal(h.deferred.length, 0, 'nothing queued: no turn pending');
  h.turns.received(sf1, chunk('a3..'));
  assert.equal(h.handled.at(-1), 'f1:a3..', 'the budget started over: served at once');
});

test('negative control: an unbounded budget lets the flood go first', () => {
  const h = harness(Number.MAX_SAFE_INTEGER);
  const flood = h.turns.attach(h.turns.port('flood'), h.conn('f'));
  const probe = h.turns.attach(h.turns.port('probe'), h.conn('p'));
  h.turns.setCoreReading(flood, true);
  h.turns.setCoreReading(probe, true);
  for (let i = 0; i < 3; i++) h.turns.received(flood, chunk(`x${i}`));
  h.turns.received(probe, chunk('ping'));
  assert.equal(h.handled.at(-1), 'p:ping');
});

test('queued bytes wait while the core does not read; the first chunk of a turn goes even past the budget', () => {
  const h = harness(4);
  const c = h.conn('c');
  const slot = h.turns.attach(h.turns.port('x'), c);
  h.turns.setCoreReading(slot, true);
  h.turns.received(slot, chunk('0123456789')); // past the budget, but the port had used nothing
  h.turns.received(slot, chunk('later'));
  assert.deepEqual(h.handled, ['c:0123456789']);
  h.turns.setCoreReading(slot, false); // e.g. the in-flight bound
  assert.equal(c.socketReading, false);
  while (h.runTurn());
  assert.deepEqual(h.handled, ['c:0123456789'], 'held while the core does not read');
  h.turns.setCoreReading(slot, true);
  assert.equal(c.socketReading, false, 'still queued: the socket stays paused');
  while (h.runTurn());
  assert.deepEqual(h.handled, ['c:0123456789', 'c:later']);
  assert.equal(c.socketReading, true);
  // Bytes arriving after others were queued are queued behind them, never delivered first.
  h.turns.received(slot, chunk('aaaa'));
  h.turns.received(slot, chunk('b'));
  h.turns.setCoreReading(slot, false);
  h.turns.setCoreReading(slot, true);
  h.turns.received(slot, chunk('c'));
  while (h.runTurn());
  assert.deepEqual(h.handled.slice(2), ['c:aaaa', 'c:b', 'c:c']);
});

test('a closed connection drops its queue; a dropped port is forgotten', () => {
  const h = harness(1);
  const port = h.turns.port('x');
  const a = h.conn('a');
  const b = h.conn('b');
  const sa = h.turns.attach(port, a);
  const sb = h.turns.attach(port, b);
  h.turns.setCoreReading(sa, true);
  h.turns.setCoreReading(sb, true);
  h.turns.received(sa, chunk('1'));
  h.turns.received(sa, chunk('2'));
  h.turns.received(sb, chunk('3'));
  h.turns.closed(sa);
  h.turns.received(sa, chunk('4'));
  while (h.runTurn());
  assert.deepEqual(h.handled, ['a:1', 'b:3']);
  h.turns.received(sb, chunk('5'));
  h.turns.received(sb, chunk('6'));
  h.turns.dropPort(port);
  while (h.runTurn());
  assert.deepEqual(h.handled, ['a:1', 'b:3', 'b:5']);
});

test('delivering says whether a chunk is handed out by a turn (in the check phase) or at once', () => {
  const h = harness(4);
  const port = h.turns.port('p');
  const seen: boolean[] = [];
  const c = { deliver: () => seen.push(h.turns.delivering), setSocketReading: () => undefined };
  const slot = h.turns.attach(port, c);
  h.turns.setCoreReading(slot, true);
  h.turns.received(slot, chunk('abcd')); // within the budget: at once
  h.turns.received(slot, chunk('efgh')); // past it: waits for a turn
  assert.deepEqual(seen, [false]);
  while (h.runTurn());
  assert.deepEqual(seen, [false, true]);
  assert.equal(h.turns.delivering, false, 'false again after the turn');
});
