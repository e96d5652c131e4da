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
//     and only while the counts were asked for in the last CENSUS_DEMAND_MS (a walk costs ~5-9 us a
//     value measured on 3 nodes, so 3-5 % of a core while wanted; an idle node spends nothing);
//   - an ask while no pass runs (the first, or after a minute unasked) forgets the last pass (it
//     may be any age) and walks CENSUS_FIRST_STEPS steps at once: a small store is then counted
//     whole (and walked exactly by the caller); on a large one, the counts so far scaled by the
//     token space covered (keys are spread by their hash) are the estimate until the pass ends.
// keyspaceCounts answers the census once it has walked more than limits.redisCountWalkKeysMax
// stored values (live or not: a walk's cost, and tombstones stay for tombstoneGraceMs);
// below that (or with no census yet) it walks, exact. So on a large keyspace DBSIZE is as of the
// last pass (at most a pass plus the rest old: on a million keys at 512 values a 100 ms step,
// ~200 s), as a Redis Cluster user already reads it per node.

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
  private published: { keys: Int32Array; expiring: Int32Array; stored: number; bytes: number } | undefined;
  private passKeys = new Int32Array(SLOT_COUNT);
  private passExpiring = new Int32Array(SLOT_COUNT);
  /** Stored values walked this pass (live or not) and their bytes. */
  private passStored = 0;
  private passBytes = 0;
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
      },
      (bytes) => {
        this.passBytes += bytes;
        this.passStored++;
      },
    );
    if (next !== null) {
      this.from = next;
      return false;
    }
    this.published = {
      keys: this.passKeys,
      expiring: this.passExpiring,
      stored: this.passStored,
      bytes: this.passBytes,
    };
    this.restart();
    this.passes++;
    return true;
  }

  /**
   * The live keys and keys with a deadline of the slots `counted` accepts, when the census has
   * walked more than redisCountWalkKeysMax stored values on this node (tombstones and expired
   * values too: what a walk would cost): the last pass, or the first pass's estimate; undefined
   * when the caller should walk (a small store, or a stopped census).
   */
  counts(counted: (slot: number) => boolean): { keys: number; expires: number } | undefined {
    const view = this.ask();
    if (view === undefined || view.stored <= limits.redisCountWalkKeysMax) return undefined;
    let k = 0;
    let e = 0;
    for (let s = 0; s < SLOT_COUNT; s++) {
      if (!counted(s)) continue;
      k += view.keys[s]!;
      e += view.expiring[s]!;
    }
    return { keys: Math.round(k * view.scale), expires: Math.round(e * view.scale) };
  }

  /**
   * The stored values' bytes (INFO used_memory at N > 1: the replica store's data set, every key
   * this node holds as a replica, tombstones included): the last pass, or the first pass' estimate.
   */
  storedBytes(): number {
    const view = this.ask();
    return view === undefined ? 0 : Math.round(view.bytes * view.scale);
  }

  /**
   * What an ask answers from. An idle census (no pass running since the counts were last wanted)
   * forgets its last pass, which may be any age, and starts again: CENSUS_FIRST_STEPS steps at
   * once, then the timer. So an answer is at most a pass and a rest old, or the first pass'
   * estimate (the counts so far scaled by the token space covered).
   */
  private ask(): { keys: Int32Array; expiring: Int32Array; stored: number; bytes: number; scale: number } | undefined {
    if (this.stopped) return undefined;
    this.askedAtMs = this.nowMs();
    if (this.timer === undefined) {
      this.published = undefined;
      this.restart();
      for (let i = 0; i < CENSUS_FIRST_STEPS && !this.step(); i++);
      this.schedule(CENSUS_STEP_MS);
    }
    const p = this.published;
    if (p !== undefined) return { ...p, scale: 1 };
    const covered = Number(this.from) / TOKEN_SPACE;
    if (covered <= 0) return undefined;
    return {
      keys: this.passKeys,
      expiring: this.passExpiring,
      stored: this.passStored / covered,
      bytes: this.passBytes,
      scale: 1 / covered,
    };
  }

  private restart(): void {
    this.passKeys = new Int32Array(SLOT_COUNT);
    this.passExpiring = new Int32Array(SLOT_COUNT);
    this.passStored = 0;
    this.passBytes = 0;
    this.from = 0n;
  }

  /** Steps while the counts are wanted; idle (no timer) once a pass ends unasked for CENSUS_DEMAND_MS. */
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
