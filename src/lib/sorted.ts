// Binary search over a sorted array of strings or bigints (JavaScript's < order: for latin1 key
// strings that is bytewise order).

/** The first index of `sorted` whose item is not below `x` (sorted.length when none). */
export function lowerBound<T extends string | bigint>(sorted: readonly T[], x: T): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
