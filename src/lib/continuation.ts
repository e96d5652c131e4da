// A request's continuation (the callback a driver calls with the request's outcome) runs inside
// whatever ended the request: a peer message's handler, a timer, a batch of replies. A
// ProtocolError it throws (a decoder's, on a value this node holds) is a bug in the continuation,
// not a fault of that event, and left alone it did three kinds of harm: the router
// counted the peer's message as malformed and dropped it, the continuation's caller was never
// answered (a Redis client waited forever: BARISTA SIBLINGS of a list, session 30), and the replies
// after it in the same batch never went out.
//
// So a driver calls continuations through `Continuations.call`: a ProtocolError is counted
// (`continuation_failures_total{component}`, a simulator tripwire: no honest run increments it),
// logged at a bounded rate, and the continuation is called once more with an `internal` failure,
// so its caller is answered (a session drops a second answer when the first got out: session.ts).
// Any other exception propagates, typed ones included: a disk error or corruption stops the node
// (the engine is poisoned: lsm-store.ts), a LimitError or the simulator's own failure is not the
// continuation's bug; an untyped one is a crash, which the simulator turns into a failing seed.

import type { Clock, Counter, Logger, Metrics } from '../env/types.ts';
import { BaristaError, ProtocolError } from './errors.ts';
import { LogLimiter } from './log-limit.ts';

export class Continuations {
  private readonly failures: Counter;
  private readonly logLimited: LogLimiter;

  constructor(metrics: Metrics, log: Logger, clock: Clock, component: string) {
    this.failures = metrics.counter(
      'continuation_failures_total',
      'Request continuations that threw a ProtocolError (a bug): answered with an internal error',
      { component },
    );
    this.logLimited = new LogLimiter(log, clock, metrics, component);
  }

  /** `fn(outcome)`; if it throws a ProtocolError, counted and logged, then `fn(failed(error))`. */
  call<T>(fn: (outcome: T) => void, outcome: T, failed: (error: BaristaError) => T): void {
    try {
      fn(outcome);
    } catch (err) {
      const internal = this.caught(err);
      try {
        fn(failed(internal));
      } catch (again) {
        // Counted once already; its caller cannot be answered from here.
        if (!(again instanceof ProtocolError)) throw again;
      }
    }
  }

  /**
   * What a caller answers for `err`, caught where a request runs (a command run at once): a
   * ProtocolError is counted and logged, and becomes an `internal` error; anything else is rethrown.
   */
  caught(err: unknown): BaristaError<'internal'> {
    if (!(err instanceof ProtocolError)) throw err;
    this.failures.inc();
    this.logLimited.error(
      `continuation:${err.code}`,
      { code: err.code, err: err.message },
      "a request threw in this node's code: answered with an internal error",
    );
    return new BaristaError('internal', `the request failed in this node's code (${err.code})`);
  }
}
