// The real Clock and Timers (an I/O layer: it reads the process clocks and uses node timers).
// monotonicMs comes from performance.now (never goes back); wallMs from Date.now (may step).

import type { Clock, Timer, Timers } from './types.ts';

export const realClock: Clock = {
  monotonicMs: () => performance.now(),
  wallMs: () => Date.now(),
};

export const realTimers: Timers = {
  after(delayMs: number, fn: () => void): Timer {
    const t = setTimeout(fn, delayMs);
    return { cancel: () => clearTimeout(t) };
  },
  every(periodMs: number, fn: () => void): Timer {
    const t = setInterval(fn, periodMs);
    return { cancel: () => clearInterval(t) };
  },
};
