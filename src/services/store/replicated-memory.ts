// maxmemory at N > 1: what a node's replica store holds, counted as the N = 1 keyspace counts its
// data set (src/redis/memory.ts), and the eviction space the evictor (src/redis/eviction.ts)
// deletes from. Redis Cluster's rule: each master applies maxmemory to its own memory and evicts
// its own keys; its replicas follow the deletes. Here:
//
//   - **Counted**: every value the replica store holds, as storedValueBytes (src/dynamo/replica.ts)
//     prices it: key + encoded state + 48 bytes while a sibling holds a value (expired ones until
//     garbage collection reclaims them), 0 for tombstones; a collection kept in rows
//     (store.replication.collections: rows) adds its header and each row, priced the same way
//     (key + element + row bytes + 48: src/dynamo/collection-store.ts rowEntryBytes; the header
//     records its rows' sum, so the recount reads one header per collection, not every row). A DatasetAccount (memory.ts) keeps the
//     total per token bucket: the replica tells it each write's delta (DynamoReplica.onStored), and
//     a recount walks the buckets in the background, RECOUNT_STEP_MS a step of
//     limits.storeCensusStepEntriesMax values (empty buckets skipped in one call), so each pass
//     corrects drift (a restart starts with no bucket known: the estimate scales the counted ones).
//     Not counted, never evicted: hints held for other nodes, and **the data written at SERIAL**
//     (per-key Paxos registers and hash tags' registers live in the Paxos acceptor states, a range
//     of their own): a SERIAL-only workload is not bounded by maxmemory.
//   - **Evicted**: a node over the bound evicts from the keys it stores (a Redis Cluster master
//     evicts from its own memory): the victim is picked from a sample as at N = 1 (policy,
//     maxmemory-samples, the pool of 16) and deleted as a DEL at ONE over the context of this
//     node's copy (a write concurrent with it stays, as a sibling). Its own store takes the
//     tombstone, and its count drops, before the delete returns; the other replicas take it as
//     any write (hinted handoff, repair), and their counts drop with it, so a node that writes
//     first evicts for all (the node a client writes through is over first, by its own write).
//     Two nodes over at once may both evict for the same overage (by the bytes written while
//     their deletes were in flight to each other). Not only the keys of the slots a node leads:
//     a node taking every write (a client on one node) then evicted all of its own slots' keys
//     and paid a walk of ~2,000 values per sample to find another (227 SET/s at capacity).
//     At most limits.storeEvictInFlightKeysMax deletes are in flight; past that eviction goes on at
//     the next command or step ('running': the command runs).
//     **Nothing is evicted before the first recount pass has counted every bucket** (the estimate
//     scales the buckets counted, and a delete in a bucket not yet counted does not lower it: a
//     node then evicted every key it could reach); that pass runs fast (FIRST_PASS_STEP_MS steps
//     of four times the entries), and writes run meanwhile.
//   - **Access history** (LRU, LFU): the node's AccessSketch, touched by every client read or write
//     reaching its replica (DynamoReplica.onAccess): coordinated here, asked of it, or replicated
//     to it. A write reaches every replica; a read at ONE (or the R - 1 peers asked at QUORUM)
//     reaches the coordinator and those asked: a key only read through other nodes looks idle here.
//   - **Refused** (-OOM): as at N = 1, by the node a command reaches, from its own count: over
//     maxmemory with nothing evictable (noeviction; volatile-* with no key with a deadline found).
//
// Nothing runs while maxmemory is 0: the replica computes no deltas and no walk steps.

import type { Logger, Timer, Timers } from '../../env/types.ts';
import { storedValueBytes } from '../../dynamo/replica.ts';
import { positionToken, scanToken, type TokenPage, type ValuePage, valuePosition } from '../../dynamo/store.ts';
import { tokenBytesInto } from '../../dynamo/partitioner.ts';
import { Versioned } from '../../dynamo/versions.ts';
import { limits } from '../../lib/limits.ts';
import { type EvictionSettings, type EvictionSpace, type SampledKey, sketchModeOf } from '../../redis/eviction.ts';
import { BUCKET_COUNT, bucketOf, DatasetAccount, type Tally } from '../../redis/memory.ts';
import { compareKeys } from '../../storage/lsm/entry.ts';
import type { ReplicaOutcome, ReplicaRequest } from './replication/driver.ts';

/** The recount's step period while maxmemory is set, once every bucket has been counted. */
export const RECOUNT_STEP_MS = 100;
/** The step period of the first pass (nothing is evicted before it ends). */
export const FIRST_PASS_STEP_MS = 10;
/** The first pass walks this many times the entries of a step. */
const FIRST_PASS_STEP_FACTOR = 4;
/** Store calls one recount step makes at most (a sparse store: a call per non-empty bucket). */
const RECOUNT_CALLS_MAX = 64;
const FAILURE_LOG_INTERVAL_MS = 10_000;
/** Pages one sample reads at most (besides limits.redisEvictSampleEntriesMax values examined). */
const SAMPLE_PAGES_MAX = 64;

/** What the space needs of the replica node (src/services/store/replication/driver.ts ReplicaNode). */
export interface ReplicaMemoryNode {
  readonly replica: {
    onStored: ((key: Uint8Array, bytesDelta: number) => void) | undefined;
    onAccess: ((key: Uint8Array) => void) | undefined;
    /** A collection kept in rows: what its rows and header take (0: none). */
    collectionBytes(key: Uint8Array): number;
  };
  scanStored(from: Uint8Array | bigint | null, countMax: number): ValuePage;
  localPage(from: bigint, countMax: number): TokenPage;
  peek(key: Uint8Array): Versioned;
  submit(req: ReplicaRequest, done: (outcome: ReplicaOutcome) => void): void;
  monotonicMs(): number;
}

export interface ReplicaMemoryOptions {
  readonly node: ReplicaMemoryNode;
  /**
   * Whether this node is one of the key's replicas on its ring now: a copy a ring move left
   * behind (until BARISTA CLEANUP) or a pending replica's is not evicted (a DEL of it would be
   * forwarded to the real replicas, deleting the key there while this node's count stays).
   */
  readonly replicates: (key: Uint8Array) => boolean;
  readonly timers: Timers;
  readonly log?: Logger;
  /** Called after each recount step while maxmemory is set: the evictor's backstop (service.ts). */
  readonly afterStep?: () => void;
  /** Called for each eviction delete that failed (a metric; the key is picked again if still there). */
  readonly deleteFailed?: () => void;
  /** Called for each key accessed while the evictor keeps an access history (its sketch's touch). */
  readonly touch?: (position: Uint8Array) => void;
}

export class ReplicaMemory implements EvictionSpace {
  private account: DatasetAccount | undefined;
  private timer: Timer | undefined;
  private inflight = 0;
  private readonly tokenScratch = new Uint8Array(8);
  private lastFailureLogMs = Number.NEGATIVE_INFINITY;
  /** Values a step of the first pass walks (tests lower it to make the pass span many steps). */
  firstPassStepEntries = limits.storeCensusStepEntriesMax * FIRST_PASS_STEP_FACTOR;

  constructor(private readonly o: ReplicaMemoryOptions) {}

  /** Whether the data set is being counted (maxmemory is set). */
  get counting(): boolean {
    return this.account !== undefined;
  }

  /** Whether every token bucket has been counted since counting began (INFO baristas_dataset_counted). */
  get complete(): boolean {
    return this.account?.complete ?? false;
  }

  get datasetBytes(): number {
    return this.account?.bytes ?? 0;
  }

  /** Whether eviction may run now: the first count has ended and deletes in flight are under their bound. */
  ready(): boolean {
    return this.account?.complete === true && this.inflight < limits.storeEvictInFlightKeysMax;
  }

  settingsChanged(settings: Readonly<EvictionSettings>, _nowMs: number): void {
    const node = this.o.node;
    const tracking = settings.maxmemory > 0 && sketchModeOf(settings.policy) !== 'off';
    node.replica.onAccess =
      tracking && this.o.touch !== undefined
        ? (key) => {
            tokenBytesInto(key, this.tokenScratch);
            this.o.touch!(this.tokenScratch);
          }
        : undefined;
    if (settings.maxmemory > 0 && this.account === undefined) {
      const account = new DatasetAccount();
      this.account = account;
      node.replica.onStored = (key, delta) => account.add(valuePosition(key), delta);
      this.recountStep(this.firstPassStepEntries); // an empty or small store is counted at once
      this.schedule(account);
    } else if (settings.maxmemory === 0 && this.account !== undefined) this.stop();
  }

  /** The next recount step: fast until every bucket is counted, then every RECOUNT_STEP_MS. */
  private schedule(account: DatasetAccount): void {
    const first = !account.complete;
    this.timer = this.o.timers.after(first ? FIRST_PASS_STEP_MS : RECOUNT_STEP_MS, () => {
      if (this.account !== account) return;
      this.recountStep(first ? this.firstPassStepEntries : limits.storeCensusStepEntriesMax);
      this.o.afterStep?.();
      if (this.account === account) this.schedule(account);
    });
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.account = undefined;
    this.o.node.replica.onStored = undefined;
    this.o.node.replica.onAccess = undefined;
  }

  /**
   * One step of the recount (memory.ts header): at most `entriesMax` stored values walked; a
   * bucket the walk finds empty (the next value lies in a later bucket, or none is left) is
   * counted 0 without a call of its own.
   */
  recountStep(entriesMax: number = limits.storeCensusStepEntriesMax): void {
    const a = this.account;
    if (a === undefined) return;
    let budget = entriesMax;
    // A step ends with a pass (an empty store would otherwise walk its buckets over and over).
    const passes = a.passes;
    for (let calls = 0; calls < RECOUNT_CALLS_MAX && budget > 0 && a.passes === passes; calls++) {
      const { bucket, from, end } = a.walkPosition;
      const page = this.o.node.scanStored(from, Math.min(budget, 256));
      const found: Tally = { bytes: 0, heads: 0, expiring: 0 };
      let beyond: Uint8Array | null | undefined; // the first position past this bucket (null: none)
      for (const e of page.entries) {
        const position = valuePosition(e.key);
        if (end !== null && compareKeys(position, end) >= 0) {
          beyond = position;
          break;
        }
        budget--;
        found.bytes +=
          storedValueBytes(e.key, Versioned.decode(e.state), e.state.length) +
          this.o.node.replica.collectionBytes(e.key);
      }
      if (beyond === undefined) {
        if (page.next === null) beyond = null;
        else if (end !== null && compareKeys(page.next, end) >= 0) beyond = page.next;
      }
      if (beyond === undefined) {
        a.walked(found, page.next);
        continue;
      }
      a.walked(found, null);
      // Every bucket before the one `beyond` lies in holds nothing (to the end when none is left).
      const upTo = beyond === null ? BUCKET_COUNT : bucketOf(beyond);
      for (let b = bucket + 1; b < upTo; b++) a.walked({ bytes: 0, heads: 0, expiring: 0 }, null);
      budget -= (upTo - bucket - 1) >> 6; // 64 empty buckets cost as much as a value walked
    }
  }

  // --- EvictionSpace -----------------------------------------------------------------------------

  sample(random8: Uint8Array, count: number, volatileOnly: boolean, _nowMs: number): SampledKey[] {
    const out: SampledKey[] = [];
    const start = positionToken(random8);
    const pageCount = Math.max(16, count * 2);
    let examined = 0;
    let from: bigint | null = start;
    let wrapped = false;
    for (let pages = 0; pages < SAMPLE_PAGES_MAX && examined < limits.redisEvictSampleEntriesMax; pages++) {
      if (from === null) {
        // Wrapped: the part before the start, ending where it began.
        if (wrapped || start === 0n) break;
        wrapped = true;
        from = 0n;
      }
      const page = this.o.node.localPage(from, pageCount);
      for (const e of page.entries) {
        if (wrapped && scanToken(e.key) >= start) return out;
        examined++;
        if (!this.o.replicates(e.key)) continue;
        const state = Versioned.decode(e.state);
        if (storedValueBytes(e.key, state, e.state.length) === 0) continue;
        const deadline = state.keptDeadline() ?? 0;
        if (volatileOnly && deadline === 0) continue;
        out.push({ key: e.key.slice(), expiresAtMs: deadline, storageKey: valuePosition(e.key) });
        if (out.length >= count) return out;
      }
      from = page.next;
    }
    return out;
  }

  peek(key: Uint8Array, _nowMs: number): number | undefined {
    if (!this.o.replicates(key)) return undefined;
    const state = this.o.node.peek(key);
    if (!state.siblings.some((s) => s.value !== null)) return undefined;
    return state.keptDeadline() ?? 0;
  }

  evict(key: Uint8Array, _nowMs: number): 'evicted' | 'refused' | 'busy' {
    // Before the first pass ends a delete may not lower the estimate (see the header).
    if (!this.ready()) return 'busy';
    if (!this.o.replicates(key)) return 'busy'; // the ring moved since the pick's peek
    const state = this.o.node.peek(key);
    this.inflight++;
    let refusedAtOnce = false;
    let returned = false;
    this.o.node.submit({ kind: 'delete', key, level: 'ONE', context: state.context() }, (outcome) => {
      this.inflight--;
      if (outcome.ok) return;
      if (!returned) refusedAtOnce = true;
      this.o.deleteFailed?.();
      const now = this.o.node.monotonicMs();
      if (now - this.lastFailureLogMs < FAILURE_LOG_INTERVAL_MS) return;
      this.lastFailureLogMs = now;
      this.o.log?.warn(
        { err: outcome.error.message },
        'store: an eviction delete failed (the key may be picked again)',
      );
    });
    returned = true;
    // Refused before anything was written (requests over their bound, the replica stopping):
    // not evicted; the command runs and eviction goes on later.
    return refusedAtOnce ? 'busy' : 'evicted';
  }
}
