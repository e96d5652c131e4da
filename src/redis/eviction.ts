// maxmemory eviction for the keyspace (Redis' evict.c, on our dataset bytes: memory.ts).
//
// Before a command runs the server asks `performEvictions`: when the data set is over maxmemory
// it deletes keys the policy picks until it is under, as Redis does before every command:
//   noeviction              nothing; a command flagged `denyoom` is refused with -OOM.
//   allkeys-random          a key at a random token.          volatile-random: one with an expiry.
//   allkeys-lru / -lfu      the best of maxmemory-samples keys by idle time / access frequency,
//   volatile-lru / -lfu     kept in a pool of EVICTION_POOL_SIZE candidates across calls (Redis'
//                           eviction pool); volatile-* only keys with an expiry.
//   volatile-ttl            the sampled key with the nearest deadline.
// One call evicts at most limits.redisEvictPerCallKeysMax keys: past that it answers 'running'
// (the command runs; the store's sweep timer calls again), as Redis answers EVICT_RUNNING after its
// time limit. 'fail' (the command, when denyoom, gets -OOM) when over the limit and nothing can be
// evicted: noeviction, no key (with an expiry, for volatile-*) found, or a key too large to delete
// in one batch (redisCommandBatchBytesMax; only without lazyElementDeletes). The node's keyspace
// deletes a large collection's elements in the background (Redis' lazyfree): until they are gone
// they still count, so after evicting one the evictor answers 'running' (the command runs) rather
// than taking more keys in the same call; each later command evicts at most one more key while they
// go, so memory stays bounded and the over-eviction small.
//
// Access times and frequencies (LRU / LFU) live in an AccessSketch: a fixed array of
// limits.redisAccessSketchSlotsCountMax 32-bit slots indexed by the low bits of the key's token, written
// by every command that reads or writes the key (Keyspace.headKeyOf), never by SCAN, KEYS or the
// sampler. Keys sharing a slot share their history (the more recent access, the higher count):
// an approximation on top of Redis' own (which samples too), in exchange for a bound that does not
// grow with the keys, most of which may be on disk. Each slot holds what Redis keeps in an
// object's 24 lru bits: LRU, seconds since the sketch began (+1; 0 = never touched); LFU, minutes
// (16 bits) and a logarithmic 8-bit counter, incremented with probability 1/((c - 5) *
// lfu-log-factor + 1) and decremented by one per lfu-decay-time minutes unread, as Redis does. The
// sketch tracks only under an LRU or LFU policy (no cost otherwise); switching policy restarts it.

import type { Rng } from '../env/types.ts';
import { limits } from '../lib/limits.ts';
import { type Keyspace, KeyspaceLimitError, latin1Bytes, latin1String } from './keyspace.ts';

export const EVICTION_POLICIES = [
  'volatile-lru',
  'volatile-lfu',
  'volatile-random',
  'volatile-ttl',
  'allkeys-lru',
  'allkeys-lfu',
  'allkeys-random',
  'noeviction',
] as const;
export type EvictionPolicy = (typeof EVICTION_POLICIES)[number];

export function isEvictionPolicy(s: string): s is EvictionPolicy {
  return (EVICTION_POLICIES as readonly string[]).includes(s);
}

/** The settings CONFIG SET changes at run time (Redis' names and defaults). */
export interface EvictionSettings {
  /** Dataset bytes allowed; 0 = no limit. */
  maxmemory: number;
  policy: EvictionPolicy;
  /** Keys sampled per pick (maxmemory-samples, default 5). */
  samples: number;
  /** lfu-log-factor (default 10). */
  lfuLogFactor: number;
  /** lfu-decay-time in minutes (default 1; 0 = never decay). */
  lfuDecayTime: number;
}

export const defaultEvictionSettings: Readonly<EvictionSettings> = {
  maxmemory: 0,
  policy: 'noeviction',
  samples: 5,
  lfuLogFactor: 10,
  lfuDecayTime: 1,
};

/** Redis' LFU_INIT_VAL: a new key's counter, so it is not evicted before it could be read. */
export const LFU_INIT_VAL = 5;
/** Redis' EVPOOL_SIZE. */
export const EVICTION_POOL_SIZE = 16;
/** Live keys one sampling walk reads for the picks to draw from (Evictor.sampled). */
export const EVICTION_SAMPLE_BATCH = 64;
/** Samples one pick draws (LRU, LFU, TTL) before it answers that no key can be evicted. */
const PICK_ATTEMPTS_MAX = 4;

type SketchMode = 'off' | 'lru' | 'lfu';

export function sketchModeOf(policy: EvictionPolicy): SketchMode {
  if (policy.endsWith('-lru')) return 'lru';
  if (policy.endsWith('-lfu')) return 'lfu';
  return 'off';
}

/** Per-key access history in a fixed array (see the header). */
export class AccessSketch {
  private slots: Uint32Array;
  private readonly mask: number;
  private mode: SketchMode = 'off';
  private epochMs = 0;
  /** The current command's wall time (the server sets it before each command). */
  nowMs = 0;

  constructor(
    private readonly rng: Rng,
    private readonly settings: Pick<EvictionSettings, 'lfuLogFactor' | 'lfuDecayTime'>,
    slotsCount: number = limits.redisAccessSketchSlotsCountMax,
  ) {
    if ((slotsCount & (slotsCount - 1)) !== 0 || slotsCount < 2) throw new RangeError('slots must be a power of 2');
    this.slots = new Uint32Array(0);
    this.mask = slotsCount - 1;
  }

  get tracking(): SketchMode {
    return this.mode;
  }

  /** Starts tracking for `mode` from `nowMs` (everything before is forgotten), or stops. */
  setMode(mode: SketchMode, nowMs: number): void {
    if (mode === this.mode) return;
    this.mode = mode;
    this.epochMs = nowMs;
    this.slots = mode === 'off' ? new Uint32Array(0) : new Uint32Array(this.mask + 1);
  }

  /** Forgets every key's history (FLUSHALL: Redis' new objects start fresh), tracking on from now. */
  reset(): void {
    this.epochMs = this.nowMs;
    this.slots.fill(0);
  }

  /** The slot of a storage key: the low bits of its token (bytes 4..7, big-endian). */
  private slotOf(storageKey: Uint8Array): number {
    const t = (storageKey[4]! << 24) | (storageKey[5]! << 16) | (storageKey[6]! << 8) | storageKey[7]!;
    return t & this.mask;
  }

  /** A command read or wrote the key whose head is at `storageKey`. */
  touch(storageKey: Uint8Array): void {
    if (this.mode === 'off' || storageKey.length < 8) return;
    const i = this.slotOf(storageKey);
    if (this.mode === 'lru') {
      this.slots[i] = this.lruClock();
      return;
    }
    let counter = this.lfuDecayed(this.slots[i]!);
    if (counter < 255) {
      const base = Math.max(0, counter - LFU_INIT_VAL);
      if (this.rng.float() < 1 / (base * this.settings.lfuLogFactor + 1)) counter++;
    }
    this.slots[i] = ((this.minutes() & 0xffff) << 8) | counter;
  }

  /** LRU: ms since the key's last access (since tracking began when never seen). */
  idleMs(storageKey: Uint8Array): number {
    if (this.mode !== 'lru') return 0;
    const v = this.slots[this.slotOf(storageKey)]!;
    const nowS = this.lruClock();
    return v === 0 ? this.nowMs - this.epochMs : Math.max(0, nowS - v) * 1000;
  }

  /** LFU: the key's counter after decay (LFU_INIT_VAL when never seen), 0..255. */
  frequency(storageKey: Uint8Array): number {
    if (this.mode !== 'lfu') return 0;
    return this.lfuDecayed(this.slots[this.slotOf(storageKey)]!);
  }

  /** Seconds since the epoch + 1 (so 0 means never touched). */
  private lruClock(): number {
    return Math.max(1, Math.floor((this.nowMs - this.epochMs) / 1000) + 1);
  }

  private minutes(): number {
    return Math.floor(Math.max(0, this.nowMs - this.epochMs) / 60_000);
  }

  /** Redis' LFUDecrAndReturn on a slot (0: never seen). */
  private lfuDecayed(v: number): number {
    if (v === 0) return LFU_INIT_VAL;
    const counter = v & 0xff;
    const then = v >>> 8;
    const now = this.minutes() & 0xffff;
    const elapsed = now >= then ? now - then : 65_536 - then + now;
    const periods = this.settings.lfuDecayTime > 0 ? Math.floor(elapsed / this.settings.lfuDecayTime) : 0;
    return periods > counter ? 0 : counter - periods;
  }
}

export type EvictionOutcome = 'ok' | 'running' | 'fail';

/** A key as the sampler saw it: its deadline (0: none) and its sketch position (8 token bytes first). */
export interface SampledKey {
  readonly key: Uint8Array;
  readonly expiresAtMs: number;
  readonly storageKey: Uint8Array;
}

/**
 * What the evictor evicts from: the N = 1 keyspace (keyspaceEvictionSpace below) or, at N > 1, the
 * keys of the slots this node leads in its replica store (src/services/store/replicated-memory.ts).
 */
export interface EvictionSpace {
  /** The data set's bytes as maxmemory counts them (memory.ts). */
  readonly datasetBytes: number;
  /**
   * Up to `count` live keys (with a deadline only, when `volatileOnly`) in token order from the
   * token in `random8`, wrapping around once, within a bound of entries examined. Not an access.
   */
  sample(random8: Uint8Array, count: number, volatileOnly: boolean, nowMs: number): SampledKey[];
  /** `key`'s deadline (0: none) while it is live and evictable here; undefined otherwise. Not an access. */
  peek(key: Uint8Array, nowMs: number): number | undefined;
  /**
   * Deletes `key`: 'refused' when it cannot be evicted here (too large for one batch at N = 1),
   * 'busy' when deletes are in flight up to their bound (N > 1: eviction goes on later).
   */
  evict(key: Uint8Array, nowMs: number): 'evicted' | 'refused' | 'busy';
  /** Whether eviction may run now (N > 1: not before its first count ends, nor past its deletes' bound). */
  ready?(): boolean;
  /** The last eviction left elements to be removed in the background (N = 1's lazy deletes). */
  leftElements?(): boolean;
  /** maxmemory or the policy changed (the N > 1 space starts or stops counting). */
  settingsChanged?(settings: Readonly<EvictionSettings>, nowMs: number): void;
}

/** The N = 1 keyspace as an eviction space. */
export function keyspaceEvictionSpace(keyspace: Keyspace): EvictionSpace {
  return {
    get datasetBytes() {
      return keyspace.datasetBytes;
    },
    leftElements: () => keyspace.lastCommandLeftElements,
    sample: (random8, count, volatileOnly, nowMs) =>
      keyspace
        .sampleHeads(random8, count, volatileOnly, nowMs)
        .map((s) => ({ key: s.key, expiresAtMs: s.head.expiresAtMs, storageKey: s.storageKey })),
    peek: (key, nowMs) => keyspace.peekHead(key, nowMs)?.expiresAtMs,
    evict: (key, nowMs) => {
      try {
        keyspace.deleteKey(key, nowMs);
        keyspace.endCommand();
        return 'evicted';
      } catch (error) {
        keyspace.abortCommand();
        // Too large for one batch: not evictable here (see the header); the next pick differs.
        if (error instanceof KeyspaceLimitError) return 'refused';
        throw error;
      }
    },
  };
}

interface Candidate {
  readonly id: string;
  /** Larger = evicted first. */
  readonly score: number;
}

/** Picks and deletes keys until the data set is under maxmemory (see the header). */
export class Evictor {
  private pool: Candidate[] = [];
  /**
   * Sampled keys not yet offered: one walk from a random token reads EVICTION_SAMPLE_BATCH live
   * keys (consecutive tokens, so random keys), drawn maxmemory-samples at a time. A walk's cost is
   * mostly its setup (a block read in every run of the engine), so a walk per pick made a SET at
   * capacity cost ~0.4 ms (2.5k SET/s, docs/BENCHMARKS.md); a drawn key may be gone by then, and
   * the pool checks it before evicting.
   */
  private sampled: SampledKey[] = [];
  /** Keys evicted since start (INFO evicted_keys). */
  evicted = 0;

  constructor(
    readonly space: EvictionSpace,
    readonly settings: EvictionSettings,
    readonly sketch: AccessSketch,
    private readonly rng: Rng,
    private readonly onEvict: (key: Uint8Array) => void = () => {},
  ) {}

  /** Applies a new policy (CONFIG SET): the sketch restarts for it, the pool empties. */
  policyChanged(nowMs: number): void {
    this.sketch.setMode(this.settings.maxmemory > 0 ? sketchModeOf(this.settings.policy) : 'off', nowMs);
    this.pool = [];
    this.sampled = [];
    this.space.settingsChanged?.(this.settings, nowMs);
  }

  get datasetBytes(): number {
    return this.space.datasetBytes;
  }

  /** Whether the data set is over maxmemory. */
  get over(): boolean {
    return this.settings.maxmemory > 0 && this.space.datasetBytes > this.settings.maxmemory;
  }

  /** Redis' performEvictions: call between commands (nothing staged). */
  performEvictions(nowMs: number): EvictionOutcome {
    if (!this.over) return 'ok';
    if (this.settings.policy === 'noeviction') return 'fail';
    if (this.space.ready?.() === false) return 'running';
    this.sketch.nowMs = nowMs;
    for (let n = 0; n < limits.redisEvictPerCallKeysMax; n++) {
      const victim = this.pick(nowMs);
      if (victim === undefined) return 'fail';
      const evicted = this.space.evict(victim, nowMs);
      if (evicted === 'refused') return 'fail';
      if (evicted === 'busy') return 'running';
      this.evicted++;
      this.onEvict(victim);
      if (!this.over) return 'ok';
      // Its elements go in the background (N = 1's lazy deletes): this command runs, and the next
      // one evicts again only if they have not brought the data set under by then. At most one
      // more key per command, not a cascade in this call (Redis waits on lazyfree likewise).
      if (this.space.leftElements?.() === true) return 'running';
    }
    return 'running';
  }

  /** The next key to evict, or undefined when none can be found. */
  private pick(nowMs: number): Uint8Array | undefined {
    const policy = this.settings.policy;
    const volatile = policy.startsWith('volatile-');
    if (policy.endsWith('-random')) {
      // A drawn key may be gone (evicted or deleted since its walk): the next one, within a bound.
      for (let n = 0; n <= EVICTION_SAMPLE_BATCH; n++) {
        const s = this.draw(1, volatile, nowMs)[0];
        if (s === undefined) return undefined;
        // Still live, and for volatile-random still with a deadline (a PERSIST since the sample).
        const deadline = this.space.peek(s.key, nowMs);
        if (deadline !== undefined && (!volatile || deadline !== 0)) return s.key;
      }
      return undefined;
    }
    for (let attempt = 0; attempt < PICK_ATTEMPTS_MAX; attempt++) {
      // Every candidate so far was gone: the keys sampled earlier are stale (at N > 1 other nodes'
      // eviction DELs remove them), so the next attempt samples afresh. Redis likewise samples
      // again until it finds a key while the data set has any.
      if (attempt > 0) this.sampled.length = 0;
      const drawn = this.draw(this.settings.samples, volatile, nowMs);
      // A fresh sample that found no candidate at all: none to find (volatile-* with no deadline
      // in the walk), not a stale buffer; sampling again would only cost another walk.
      if (drawn.length === 0 && this.pool.length === 0) return undefined;
      for (const s of drawn) {
        const score =
          policy === 'volatile-ttl'
            ? -s.expiresAtMs
            : policy.endsWith('-lru')
              ? this.sketch.idleMs(s.storageKey)
              : 255 - this.sketch.frequency(s.storageKey);
        this.offer({ id: latin1String(s.key), score });
      }
      while (this.pool.length > 0) {
        const best = this.pool.shift()!;
        const key = latin1Bytes(best.id);
        const deadline = this.space.peek(key, nowMs);
        if (deadline !== undefined && (!volatile || deadline !== 0)) return key;
      }
    }
    return undefined;
  }

  /** The next `count` sampled keys (fewer when the walk finds fewer), walking again when short. */
  private draw(count: number, volatile: boolean, nowMs: number): SampledKey[] {
    if (this.sampled.length < count) {
      this.sampled.push(
        ...this.space.sample(this.rng.bytes(8), Math.max(count, EVICTION_SAMPLE_BATCH), volatile, nowMs),
      );
    }
    return this.sampled.splice(0, count);
  }

  /** Keeps the EVICTION_POOL_SIZE best candidates, best first, one per key. */
  private offer(c: Candidate): void {
    const at = this.pool.findIndex((p) => p.id === c.id);
    if (at >= 0) this.pool.splice(at, 1);
    let i = 0;
    while (i < this.pool.length && this.pool[i]!.score >= c.score) i++;
    if (i >= EVICTION_POOL_SIZE) return;
    this.pool.splice(i, 0, c);
    if (this.pool.length > EVICTION_POOL_SIZE) this.pool.length = EVICTION_POOL_SIZE;
  }
}
