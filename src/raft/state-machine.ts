// The replicated state machine interface a Raft driver applies committed entries to.
// apply() is called once per committed entry, in log order, on every replica; it must be
// deterministic (no clocks, no randomness, no I/O) and total (bad entries yield error results).

export interface StateMachine {
  /**
   * Applies the entry at `index` (strictly greater than the last; gaps are Raft-internal entries)
   * and returns the result bytes handed back to the proposer.
   */
  apply(index: number, data: Uint8Array): Uint8Array;
  /** The index of the last applied entry (0 before any). */
  readonly appliedIndex: number;
  /** A self-contained image of the state as of appliedIndex. */
  snapshot(): Uint8Array;
  /**
   * Optional: the same image in bounded slices (a large state would hold the event loop for
   * seconds): the image of the state as of appliedIndex when this is called, however many entries
   * are applied between the stepper's calls (a frozen view; the driver goes on applying). The
   * driver calls the stepper once per turn of the event loop, and drops it unfinished when a
   * received snapshot replaces the state.
   */
  snapshotInSlices?(): () => Uint8Array | undefined;
  /** Replaces the state with an image; afterwards appliedIndex = `index` (the Raft snapshot index). */
  restore(index: number, image: Uint8Array): void;
  /**
   * Optional: restore in bounded slices (a large image would hold the event loop for seconds).
   * Each call of the stepper does a bounded part; it returns true once the image is installed
   * (appliedIndex = `index`). The state is unchanged until that last call, and the driver applies
   * nothing between the first call and the last. Throws as restore does.
   */
  restoreInSlices?(index: number, image: Uint8Array): () => boolean;
}
