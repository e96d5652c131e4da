// Lamport logical clock (Lamport 1978, "Time, Clocks, and the Ordering of Events"): a counter that
// respects happened-before. If event a → b then time(a) < time(b); the converse does not hold (use
// vector clocks for that).
//
// Invariant: the value only grows; each tick/send/receive returns a value strictly larger than any
// value this clock returned before.

import { assert } from '../assert.ts';
import { ProtocolError } from '../errors.ts';

export class LamportClock {
  private value: number;

  constructor(initial = 0) {
    assert(Number.isSafeInteger(initial) && initial >= 0, `Lamport time must be a non-negative integer: ${initial}`);
    this.value = initial;
  }

  /** The last value handed out (0 before any event). */
  get time(): number {
    return this.value;
  }

  /** A local event. */
  tick(): number {
    assert(this.value < Number.MAX_SAFE_INTEGER, 'Lamport clock exhausted');
    return ++this.value;
  }

  /** A send event: the returned time travels with the message. */
  send(): number {
    return this.tick();
  }

  /** A receive event for a message stamped `remote` (untrusted: validated, ProtocolError if malformed). */
  receive(remote: number): number {
    if (!Number.isSafeInteger(remote) || remote < 0 || remote >= Number.MAX_SAFE_INTEGER) {
      throw new ProtocolError('invalid_lamport_time', `remote Lamport time out of range: ${remote}`, { remote });
    }
    if (remote > this.value) this.value = remote;
    return this.tick();
  }
}
