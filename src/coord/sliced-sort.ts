// A sort of strings done a bounded amount at a time: the snapshot walk (snapshot-slices.ts) sorts
// each parent's children, and a parent with a million children took ~0.2 s in one call of
// Array.prototype.sort, one slice with no ping answered. Here the work goes in steps:
//   1. runs: each step sorts one run of SORTED_RUN_LENGTH consecutive names in place;
//   2. merges: bottom-up, runs of width w merged pairwise into width 2w, from one array into the
//      other, each step moving at most MERGE_STEP_MOVES names (a merge resumes where it stopped).
// The order is Array.prototype.sort's default for strings (UTF-16 code units, i.e. `<`), so the
// image stays byte-identical to a one-call sort. Stable does not matter: equal names are equal
// strings (the walk drops a repeat, which comes out next to its twin).

/**
 * Names sorted by one step of the first phase: ~1 ms idle (16,384 before 2026-12-05: ~5 ms idle,
 * 10-20 ms on a node under a write load, a slice every replica took at about the same time).
 */
export const SORTED_RUN_LENGTH = 2_048;
/** Names moved by one step of the merge phase (65,536 before 2026-12-05). */
export const MERGE_STEP_MOVES = 8_192;

export class SlicedSort {
  private src: string[];
  private dst: string[];
  private readonly n: number;
  /** Phase 1: the next run's start; phase 2 once it reaches n. */
  private runAt = 0;
  private width = SORTED_RUN_LENGTH;
  /** The merge in progress: the pair starting at `lo`, positions i (left), j (right), k (out). */
  private lo = 0;
  private i = 0;
  private j = 0;
  private k = 0;
  private pairStarted = false;

  constructor(
    items: string[],
    private readonly runLength = SORTED_RUN_LENGTH,
    private readonly mergeMoves = MERGE_STEP_MOVES,
  ) {
    this.src = items;
    this.n = items.length;
    this.dst = items.length > runLength ? new Array<string>(items.length) : [];
    this.width = runLength;
  }

  /** Whether the names are sorted (`result` then holds them). */
  get done(): boolean {
    return this.runAt >= this.n && this.width >= this.n;
  }

  /** The sorted names once done. */
  get result(): string[] {
    if (!this.done) throw new Error('SlicedSort.result before done');
    return this.src;
  }

  /** One bounded step of work. */
  step(): void {
    if (this.runAt < this.n) {
      const end = Math.min(this.n, this.runAt + this.runLength);
      if (this.runAt === 0 && end === this.n) this.src.sort();
      else {
        const run = this.src.slice(this.runAt, end).sort();
        for (let x = 0; x < run.length; x++) this.src[this.runAt + x] = run[x]!;
      }
      this.runAt = end;
      return;
    }
    let moves = this.mergeMoves;
    while (moves > 0 && this.width < this.n) {
      const n = this.n;
      const w = this.width;
      const mid = Math.min(n, this.lo + w);
      const hi = Math.min(n, this.lo + 2 * w);
      if (!this.pairStarted) {
        this.i = this.lo;
        this.j = mid;
        this.k = this.lo;
        this.pairStarted = true;
      }
      const src = this.src;
      const dst = this.dst;
      let { i, j, k } = this;
      while (moves > 0 && k < hi) {
        if (j >= hi || (i < mid && src[i]! <= src[j]!)) dst[k++] = src[i++]!;
        else dst[k++] = src[j++]!;
        moves--;
      }
      this.i = i;
      this.j = j;
      this.k = k;
      if (k < hi) return;
      this.pairStarted = false;
      this.lo = hi;
      if (this.lo >= n) {
        // A pass ends: the merged runs are twice as wide, and the arrays swap roles.
        this.lo = 0;
        this.width = 2 * w;
        const t = this.src;
        this.src = this.dst;
        this.dst = t;
      }
    }
  }
}
