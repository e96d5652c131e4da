// node-zookeeper-client's node-style callbacks as promises with a deadline (the library has no
// request timeout of its own): for the coordination benchmarks (bench/_zk-client.ts) and the tests
// that drive the library against real processes.

/** A node-style callback call as a promise that fails after boundMs. */
export function zkCall<T>(
  what: string,
  start: (cb: (error: unknown, value?: T) => void) => void,
  boundMs: number,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no answer within ${boundMs} ms`)), boundMs);
    start((error, value) => {
      clearTimeout(timer);
      if (error) reject(error instanceof Error ? error : new Error(String(error)));
      else resolve(value as T);
    });
  });
}
