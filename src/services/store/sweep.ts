// The store's background sweep at N = 1, Redis' serverCron at hz 10: every SWEEP_INTERVAL_MS one
// tick, between commands, that
//   1. reclaims expired keys (Keyspace.reclaimExpired: a walk over storage from a cursor, deleting
//      expired heads with their elements; Redis' activeExpireCycle samples its expires dict, we have
//      none, so the walk visits every key once per pass);
//   2. recounts the data set's bytes (Keyspace.recountStep, src/redis/memory.ts), so INFO's
//      used_memory and maxmemory stay true across restarts and compaction;
//   3. goes on evicting when the last command left the data set over maxmemory (Redis' eviction
//      timer proc after EVICT_RUNNING);
//   0. first, removes elements a DEL, an expiry or a SET over a large collection left
//      (Keyspace.cleanupStep, Redis' lazyfree), with what the tick's bound leaves after 1 and 2,
//      ticks every CLEANUP_INTERVAL_MS while any are left (~150,000-300,000 entries a second).
// Each tick walks at most limits.redisSweepEntriesMax engine entries, so commands wait at most one
// bounded tick. At rest a tick walks an eighth of that for each of 1 and 2 (~1 % of a core:
// measured ~1 µs per entry), so on a million keys a pass takes ~3 minutes; expiry goes to half
// the bound while the last tick found expired keys (Redis raises its effort likewise). Until the
// first recount pass is complete (after a start) ticks come every STARTUP_INTERVAL_MS and the
// recount takes the whole bound, so the estimate becomes exact quickly.

import type { Counter, Gauge, Metrics, Timer, Timers } from '../../env/types.ts';
import { limits } from '../../lib/limits.ts';
import type { Evictor } from '../../redis/eviction.ts';
import type { Keyspace } from '../../redis/keyspace.ts';

export const SWEEP_INTERVAL_MS = 100;
export const STARTUP_INTERVAL_MS = 5;
export const CLEANUP_INTERVAL_MS = 10;

export interface SweepOptions {
  readonly keyspace: Keyspace;
  readonly evictor?: Evictor;
  readonly timers: Timers;
  /** Wall time in ms (expiry deadlines are wall times). */
  readonly wallMs: () => number;
  readonly metrics: Metrics;
}

export class StoreSweeper {
  private timer: Timer | undefined;
  private expireCursor = 0n;
  private stopped = false;
  /** The last tick deleted expired keys: the next one walks further. */
  private foundExpired = false;
  /** Keys the sweep found expired and deleted (INFO expired_keys). */
  expired = 0;
  private readonly m: { readonly expired: Counter; readonly dataset: Gauge };

  constructor(private readonly o: SweepOptions) {
    this.m = {
      expired: o.metrics.counter('store_expired_keys_total', 'Expired keys deleted by the active expiry sweep'),
      dataset: o.metrics.gauge('store_dataset_bytes', 'The data set as maxmemory counts it (INFO used_memory)'),
    };
  }

  start(): void {
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.stopped) return;
    const ks = this.o.keyspace;
    const delay = !ks.account.complete
      ? STARTUP_INTERVAL_MS
      : ks.leftoverKeys > 0
        ? CLEANUP_INTERVAL_MS
        : SWEEP_INTERVAL_MS;
    this.timer = this.o.timers.after(delay, () => {
      this.tick();
      this.schedule();
    });
  }

  /** One tick (tests call it directly). */
  tick(): void {
    const ks = this.o.keyspace;
    const nowMs = Math.floor(this.o.wallMs());
    const rest = Math.max(1, limits.redisSweepEntriesMax >> 3);
    const busy = Math.max(1, limits.redisSweepEntriesMax >> 1);
    const expiry = this.foundExpired ? busy : rest;
    const recount = ks.account.complete ? rest : limits.redisSweepEntriesMax - busy;
    // The cleanup takes what the tick's bound leaves (3,072 entries at rest, 1,536 while expiring).
    const cleanup = limits.redisSweepEntriesMax - expiry - recount;
    if (ks.leftoverKeys > 0 && cleanup > 0) {
      ks.cleanupStep(nowMs, cleanup);
      ks.endCommand();
    }
    const r = ks.reclaimExpired(this.expireCursor, nowMs, expiry);
    ks.endCommand();
    this.expireCursor = r.cursor;
    this.foundExpired = r.reclaimed > 0;
    if (r.reclaimed > 0) {
      this.expired += r.reclaimed;
      this.m.expired.inc(r.reclaimed);
    }
    ks.recountStep(recount);
    if (this.o.evictor?.over === true) this.o.evictor.performEvictions(nowMs);
    this.m.dataset.set(ks.datasetBytes);
  }
}
