// Always-on assertions for programmer errors (broken invariants). Untrusted input must never reach
// an assert: it becomes a typed protocol error instead (see errors.ts). In the simulator a failed
// assertion fails the seed, and the run prints the command that replays it.

export class AssertionError extends Error {
  override readonly name = 'AssertionError';
}

export function assert(condition: unknown, message = 'assertion failed'): asserts condition {
  if (!condition) throw new AssertionError(message);
}

export function unreachable(value: never, message = 'unreachable'): never {
  throw new AssertionError(`${message}: ${String(value)}`);
}
