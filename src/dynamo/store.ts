// The local store a Dynamo replica keeps its keys and hints in: a synchronous seam between the
// pure replica protocol (replica.ts) and the durable engine (src/dynamo/engine implements it
// later), with an in-memory twin here for tests and the simulator.
//
// Contract (what replica.ts relies on; the engine must keep it):
//   - Values are encoded Versioned states (versions.ts); hints are encoded Versioned states held
//     for another replica (`owner`) of the key. The store does not interpret them.
//   - Reads see every write made before them (also unsynced ones).
//   - sync() makes every earlier write durable. The replica's driver calls it after a step whose
//     output says `syncNeeded`, BEFORE sending that output's messages or replies (etcd's "persist
//     before sending"): a value acknowledged or shipped to a peer is never rolled back by a crash,
//     so a restarted replica never reuses a dot counter it has already shown to anyone.
//   - A crash loses at most the writes since the last sync (MemoryReplicaStore.crash models it).

import { assert } from '../lib/assert.ts';

export interface StoredHint {
  readonly owner: string;
  readonly key: Uint8Array;
  readonly state: Uint8Array;
}

/** A page of values in key order and where the next page starts (null: no more). */
export interface ValuePage {
  readonly entries: ReadonlyArray<{ readonly key: Uint8Array; readonly state: Uint8Array }>;
  readonly next: Uint8Array | null;
}

export interface ReplicaStore {
  get(key: Uint8Array): Uint8Array | undefined;
  /**
   * Values with key >= `from` (null: from the first) in bytewise key order, at most `countMax`
   * (fewer, even none, with a non-null `next` when the store bounds the work of one call).
   * Anti-entropy pages through every value with it; a write between pages may or may not be seen.
   */
  scanValues(from: Uint8Array | null, countMax: number): ValuePage;
  put(key: Uint8Array, state: Uint8Array): void;
  /** Forgets a key's state (tombstone garbage collection: replica.ts). */
  delete(key: Uint8Array): void;
  /** A small named record of the replica's own (the dot counter reservation: replica.ts). */
  getMeta(name: string): Uint8Array | undefined;
  putMeta(name: string, value: Uint8Array): void;
  getHint(owner: string, key: Uint8Array): Uint8Array | undefined;
  putHint(owner: string, key: Uint8Array, state: Uint8Array): void;
  deleteHint(owner: string, key: Uint8Array): void;
  /** Hints stored (the replica bounds it with dynamoHintsCountMax). */
  readonly hintCount: number;
  /** Every hint, in a deterministic order (by owner, then key). */
  hints(): StoredHint[];
  sync(): void;
}

/** Map key of a byte string: one UTF-16 code unit per byte (lossless, ordered like the bytes). */
export function keyString(key: Uint8Array): string {
  let s = '';
  for (let i = 0; i < key.length; i++) s += String.fromCharCode(key[i]!);
  return s;
}

/** The inverse of keyString. */
export function keyBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

interface Tables {
  values: Map<string, Uint8Array>;
  meta: Map<string, Uint8Array>;
  /** owner + '\0' + key string. Node ids hold no NUL (they are UTF-8 names). */
  hints: Map<string, Uint8Array>;
}

const copy = (t: Tables): Tables => ({ values: new Map(t.values), meta: new Map(t.meta), hints: new Map(t.hints) });
const hintId = (owner: string, key: Uint8Array): string => `${owner}\0${keyString(key)}`;

/** An in-memory ReplicaStore whose crash() loses what was not synced (tests, simulator). */
export class MemoryReplicaStore implements ReplicaStore {
  private live: Tables = { values: new Map(), meta: new Map(), hints: new Map() };
  private durable: Tables = { values: new Map(), meta: new Map(), hints: new Map() };
  /** Whether a write happened since the last sync (a test checks the driver synced). */
  dirty = false;
  /** live.values' keys in order, rebuilt after a new key or a crash (scanValues). */
  private sorted: string[] | undefined;

  get(key: Uint8Array): Uint8Array | undefined {
    return this.live.values.get(keyString(key));
  }

  put(key: Uint8Array, state: Uint8Array): void {
    const k = keyString(key);
    if (!this.live.values.has(k)) this.sorted = undefined;
    this.live.values.set(k, state);
    this.dirty = true;
  }

  delete(key: Uint8Array): void {
    if (this.live.values.delete(keyString(key))) {
      this.sorted = undefined;
      this.dirty = true;
    }
  }

  getMeta(name: string): Uint8Array | undefined {
    return this.live.meta.get(name);
  }

  putMeta(name: string, value: Uint8Array): void {
    this.live.meta.set(name, value);
    this.dirty = true;
  }

  scanValues(from: Uint8Array | null, countMax: number): ValuePage {
    assert(countMax >= 1, 'scan count must be positive');
    this.sorted ??= [...this.live.values.keys()].sort();
    const keys = this.sorted;
    let i = 0;
    if (from !== null) {
      const f = keyString(from);
      let hi = keys.length;
      while (i < hi) {
        const mid = (i + hi) >>> 1;
        if (keys[mid]! < f) i = mid + 1;
        else hi = mid;
      }
    }
    const entries: Array<{ key: Uint8Array; state: Uint8Array }> = [];
    for (; i < keys.length && entries.length < countMax; i++) {
      entries.push({ key: keyBytes(keys[i]!), state: this.live.values.get(keys[i]!)! });
    }
    return { entries, next: i < keys.length ? keyBytes(keys[i]!) : null };
  }

  getHint(owner: string, key: Uint8Array): Uint8Array | undefined {
    return this.live.hints.get(hintId(owner, key));
  }

  putHint(owner: string, key: Uint8Array, state: Uint8Array): void {
    assert(!owner.includes('\0'), 'node ids hold no NUL');
    this.live.hints.set(hintId(owner, key), state);
    this.dirty = true;
  }

  deleteHint(owner: string, key: Uint8Array): void {
    if (this.live.hints.delete(hintId(owner, key))) this.dirty = true;
  }

  get hintCount(): number {
    return this.live.hints.size;
  }

  hints(): StoredHint[] {
    return [...this.live.hints.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([id, state]) => {
        const cut = id.indexOf('\0');
        return { owner: id.slice(0, cut), key: keyBytes(id.slice(cut + 1)), state };
      });
  }

  /** Every key's value, by key string (tests compare replicas with it). */
  values(): ReadonlyMap<string, Uint8Array> {
    return this.live.values;
  }

  sync(): void {
    this.durable = copy(this.live);
    this.dirty = false;
  }

  /** The process died: everything written since the last sync is gone. */
  crash(): void {
    this.sorted = undefined;
    this.live = copy(this.durable);
    this.dirty = false;
  }
}
