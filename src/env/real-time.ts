// The real Clock and Timers (an I/O layer: it reads the process clocks and uses node timers).
// monotonicMs comes from performance.now (never goes back); wallMs from Date.now (may step).

import type { Clock, Timer, Timers } from './types.ts';

export const realClock: Clock = {
  monotonicMs: () => performance.now(),
  wallMs: () => Date.now(),
};

export const realTimers: Timers = {
  after(delayMs: number, fn: () => void): Timer {
    // setTimeout clamps 0 to 1 ms; drivers use after(0) to batch one event-loop turn of work
    // (group commit), so a zero delay must mean "after the current I/O", not "a millisecond later".
    if (delayMs <= 0) {
      const i = setImmediate(fn);
      return { cancel: () => clearImmediate(i) };
    }
    const t = setTimeout(fn, delayMs);
    return { cancel: () => clearTimeout(t) };
  },
  every(periodMs: number, fn: () => void): Timer {
    const t = setInterval(fn, periodMs);
    return { cancel: () => clearInterval(t) };
  },
};
