// Size-tiered compaction's choice of runs (Cassandra's STCS, restricted to adjacent runs): among
// the runs, oldest first, find windows of consecutive runs of similar size (largest <= sizeRatioMax
// x smallest) holding at least minRuns runs, and take the cheapest (fewest bytes). Merging only
// adjacent runs keeps every run's seq range disjoint from the others, which lets point reads stop
// at the newest run holding a key. When no tier is full but the engine holds more than
// runsCountMax runs, the cheapest window of minRuns adjacent runs is merged anyway, so the run
// count (and with it read cost and open files) stays bounded.
//
// Write amplification: each entry is rewritten about once per tier (log_ratio(data / memtable)).

export interface TieringOptions {
  readonly minRuns: number;
  readonly sizeRatioMax: number;
  readonly fanInMax: number;
  readonly runsCountMax: number;
}

export interface Window {
  /** Runs [start, end) in oldest-first order. */
  readonly start: number;
  readonly end: number;
}

export function pickCompactionWindow(sizes: readonly number[], o: TieringOptions): Window | null {
  const n = sizes.length;
  let best: Window | null = null;
  let bestBytes = Number.POSITIVE_INFINITY;
  const consider = (start: number, end: number) => {
    let bytes = 0;
    for (let k = start; k < end; k++) bytes += sizes[k]!;
    if (bytes < bestBytes) {
      best = { start, end };
      bestBytes = bytes;
    }
  };
  for (let i = 0; i < n; i++) {
    let lo = sizes[i]!;
    let hi = lo;
    let j = i + 1;
    while (j < n && j - i < o.fanInMax) {
      const s = sizes[j]!;
      const nlo = Math.min(lo, s);
      const nhi = Math.max(hi, s);
      if (nhi > o.sizeRatioMax * nlo) break;
      lo = nlo;
      hi = nhi;
      j++;
    }
    if (j - i >= o.minRuns) {
      consider(i, j);
      i = j - 1; // windows are maximal: the next one starts after this one
    }
  }
  if (best === null && n > o.runsCountMax) {
    for (let i = 0; i + o.minRuns <= n; i++) consider(i, i + o.minRuns);
  }
  return best;
}
