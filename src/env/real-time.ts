// The real Clock and Timers (an I/O layer: it reads the process clocks and uses node timers).
// monotonicMs comes from performance.now (never goes back); wallMs from Date.now (may step).

import type { Clock, Timer, Timers } from './types.ts';

export const realClock: Clock = {
  monotonicMs: () => performance.now(),
  wallMs: () => Date.now(),
};

/** The longest delay setTimeout honours (a 32-bit signed count of milliseconds). */
const SET_TIMEOUT_MS_MAX = 2 ** 31 - 1;

export const realTimers: Timers = {
  after(delayMs: number, fn: () => void): Timer {
    // setTimeout clamps 0 to 1 ms; drivers use after(0) to batch one event-loop turn of work
    // (group commit), so a zero delay must mean "after the current I/O", not "a millisecond later".
    if (delayMs <= 0) {
      const i = setImmediate(fn);
      return { cancel: () => clearImmediate(i) };
    }
    // Node's setTimeout fires after 1 ms for a delay over 2^31 - 1 ms (~24.8 days): a longer one
    // (a BLPOP or WAIT timeout a client chose) is armed in steps up to its monotonic due time.
    const dueMs = performance.now() + delayMs;
    let t: ReturnType<typeof setTimeout>;
    const arm = (): void => {
      const left = dueMs - performance.now();
      if (left <= 0) return fn();
      t = setTimeout(left > SET_TIMEOUT_MS_MAX ? arm : fn, Math.min(left, SET_TIMEOUT_MS_MAX));
    };
    arm();
    return { cancel: () => clearTimeout(t) };
  },
  every(periodMs: number, fn: () => void): Timer {
    const t = setInterval(fn, periodMs);
    return { cancel: () => clearInterval(t) };
  },
};
