// Callback loops that do not grow the stack: a step may finish within its call (a read at ONE on a
// replica answers at once) or later, and the loop goes on either way in constant stack depth (a
// review once found MGET of 1,000 keys at ONE recursing until RangeError took the node down).

/** Calls `step(next)`, and again each time it calls `next`, without recursion when `next` comes at once. */
export function trampoline(step: (next: () => void) => void): void {
  let running = false;
  let pending = false;
  const next = (): void => {
    pending = true;
    if (running) return;
    running = true;
    try {
      while (pending) {
        pending = false;
        step(next);
      }
    } finally {
      running = false;
    }
  };
  next();
}

/** step(0), step(1), ... step(count - 1) in turn, each calling `next` once when done (or never, having answered), then `end`. */
export function inTurn(count: number, step: (i: number, next: () => void) => void, end: () => void): void {
  let i = 0;
  trampoline((next) => {
    if (i >= count) return end();
    step(i++, next);
  });
}
