// The key census of a node at N > 1: how many live keys (and keys with a deadline) this node's
// replica store holds per Redis Cluster slot, for DBSIZE and INFO keyspace (replicated.ts
// keyspaceCounts: the slots this node leads). Counting them on demand walks every stored value
// (O(keys): ~1.5 s on a million, the node stalled on every ioredis connect, which sends INFO); a
// count kept by write deltas would need each write's liveness before and after, which for a
// list, set, hash or sorted set means decoding its CRDT twice more per write. So the census walks
// the store in the background instead, a page at a time, and publishes each finished pass:
//   - a step every CENSUS_STEP_MS walks limits.storeCensusStepEntriesMax values (token order, as
//     SCAN) and counts each live key (replicated.ts walk: tombstones, emptied collections and
//     values past their deadline at the step's time are left out) under its slot;
//   - a finished pass replaces the published counts; the next pass starts CENSUS_REST_MS later,
//     and only while the counts were asked for in the last CENSUS_DEMAND_MS (a walk costs ~9 us a
//     value measured on 3 nodes: an idle node spends nothing);
//   - the first ask walks CENSUS_FIRST_STEPS steps at once: a small store is then counted whole
//     (and walked exactly by the caller); on a large one, the counts so far scaled by the token
//     space covered (keys are spread by their hash) are the estimate until the pass ends.
// keyspaceCounts answers the census once it shows more than limits.redisCountWalkKeysMax keys;
// below that (or with no census yet) it walks, exact. So on a large keyspace DBSIZE is as of the
// last pass (at most a pass plus the rest old: on a million keys at 1,024 values a 100 ms step,
// ~100 s), as a Redis Cluster user already reads it per node.

import type { Timer, Timers } from '../../env/types.ts';
import { SLOT_COUNT } from '../../dynamo/slots.ts';
import { limits } from '../../lib/limits.ts';

export const CENSUS_STEP_MS = 100;
export const CENSUS_REST_MS = 1_000;
export const CENSUS_DEMAND_MS = 60_000;
export const CENSUS_FIRST_STEPS = 4;
const TOKEN_SPACE = 2 ** 64;

/**
 * One step's walk: `visit` for each live key's slot (and whether it has a deadline), `stored` for
 * every stored value's bytes (tombstones too); returns the next token.
 */
export type CensusWalk = (
  from: bigint,
  countMax: number,
  visit: (slot: number, expiring: boolean) => void,
  stored: (bytes: number) => void,
) => bigint | null;

export class KeyCensus {
  private published: { keys: Int32Array; expiring: Int32Array; total: number; bytes: number } | undefined;
  private passBytes = 0;
  private passKeys = new Int32Array(SLOT_COUNT);
  private passExpiring = new Int32Array(SLOT_COUNT);
  private passTotal = 0;
  private from: bigint = 0n;
  private timer: Timer | undefined;
  private stopped = false;
  private askedAtMs = Number.NEGATIVE_INFINITY;
  /** Finished passes (tests). */
  passes = 0;

  constructor(
    private readonly walk: CensusWalk,
    private readonly timers: Timers,
    /** Monotonic ms (when the counts were last asked for). */
    private readonly nowMs: () => number,
  ) {}

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** One step of the pass (the timer's; tests call it). True when it finished the pass. */
  step(): boolean {
    const next = this.walk(
      this.from,
      limits.storeCensusStepEntriesMax,
      (slot, expiring) => {
        this.passKeys[slot]!++;
        if (expiring) this.passExpiring[slot]!++;
        this.passTotal++;
      },
      (bytes) => {
        this.passBytes += bytes;
      },
    );
    if (next !== null) {
      this.from = next;
      return false;
    }
    this.published = { keys: this.passKeys, expiring: this.passExpiring, total: this.passTotal, bytes: this.passBytes };
    this.passBytes = 0;
    this.passKeys = new Int32Array(SLOT_COUNT);
    this.passExpiring = new Int32Array(SLOT_COUNT);
    this.passTotal = 0;
    this.from = 0n;
    this.passes++;
    return true;
  }

  /**
   * The live keys and keys with a deadline of the slots `counted` accepts, when the census shows
   * more than redisCountWalkKeysMax keys on this node (the last pass, or the first pass's
   * estimate); undefined when the caller should walk.
   */
  counts(counted: (slot: number) => boolean): { keys: number; expires: number } | undefined {
    this.askedAtMs = this.nowMs();
    if (this.published === undefined && this.from === 0n && this.passTotal === 0) {
      for (let i = 0; i < CENSUS_FIRST_STEPS && !this.step(); i++);
    }
    if (this.timer === undefined && !this.stopped) this.schedule(CENSUS_STEP_MS);
    let keys: Int32Array;
    let expiring: Int32Array;
    let scale = 1;
    if (this.published !== undefined) {
      if (this.published.total <= limits.redisCountWalkKeysMax) return undefined;
      ({ keys, expiring } = this.published);
    } else {
      const covered = Number(this.from) / TOKEN_SPACE;
      if (covered <= 0 || this.passTotal / covered <= limits.redisCountWalkKeysMax) return undefined;
      keys = this.passKeys;
      expiring = this.passExpiring;
      scale = 1 / covered;
    }
    let k = 0;
    let e = 0;
    for (let s = 0; s < SLOT_COUNT; s++) {
      if (!counted(s)) continue;
      k += keys[s]!;
      e += expiring[s]!;
    }
    return { keys: Math.round(k * scale), expires: Math.round(e * scale) };
  }

  /** Steps while the counts are wanted; idle (no timer) once a pass ends unasked for CENSUS_DEMAND_MS. */
  /**
   * The stored values' bytes (INFO used_memory at N > 1: the replica store's data set, every key
   * this node holds as a replica, tombstones included): the last pass, or the first pass' estimate.
   */
  storedBytes(): number {
    this.askedAtMs = this.nowMs();
    if (this.published === undefined && this.from === 0n && this.passTotal === 0 && this.passBytes === 0) {
      for (let i = 0; i < CENSUS_FIRST_STEPS && !this.step(); i++);
    }
    if (this.timer === undefined && !this.stopped) this.schedule(CENSUS_STEP_MS);
    if (this.published !== undefined) return this.published.bytes;
    const covered = Number(this.from) / TOKEN_SPACE;
    return covered <= 0 ? 0 : Math.round(this.passBytes / covered);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = this.timers.after(delayMs, () => {
      const finished = this.step();
      if (finished && this.nowMs() - this.askedAtMs > CENSUS_DEMAND_MS) {
        this.timer = undefined;
        return;
      }
      this.schedule(finished ? CENSUS_REST_MS : CENSUS_STEP_MS);
    });
  }
}
