// Binary search over a sorted array of strings or bigints (JavaScript's < order: for latin1 key
// strings that is bytewise order), or over any sorted range by a caller's predicate.

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

/**
 * The first index in [lo, hi) at which `below(i)` is false, for a `below` true on a prefix of the
 * range (a sorted sequence the caller compares its own way: slots in a memtable, staged writes).
 */
export function lowerBoundWhere(lo: number, hi: number, below: (i: number) => boolean): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (below(mid)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * `lowerBoundWhere` found by galloping from `lo`: probes lo, lo+1, lo+3, lo+7, … until `below` is
 * false, then binary-searches the last gap. O(log d) calls for an answer d places past `lo`, so a
 * merge that walks forward through a long sorted list pays per item for the distance it moves, not
 * for the list's length (a run of new keys that all land in one place costs one call each).
 */
export function gallopWhere(lo: number, hi: number, below: (i: number) => boolean): number {
  let step = 1;
  let from = lo;
  while (from < hi && below(from)) {
    lo = from + 1;
    from = lo + step - 1;
    step *= 2;
  }
  return lowerBoundWhere(lo, Math.min(from, hi), below);
}
