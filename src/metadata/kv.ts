// The KV keyspace: the first namespace of the replicated state machine (src/rsm), and the
// metadata group's state machine built from it.
//
// KvNamespace owns only the map: keys and values are bytes, the map is keyed by a binary string
// (one char per byte, 0-255), so any byte sequence is a key and the read path looks up exactly the
// bytes the write path stored. Exactly-once sessions, log time and the envelope are the state
// machine's (src/rsm/sessions.ts), shared with every namespace hosted beside this one.
//
// KvStateMachine is a ReplicatedStateMachine with the KV namespace registered, plus what the
// metadata group's callers used before namespaces existed: `read`, `size`, the old options shape,
// and translators for the format-1 log entries and the version 1/2 snapshots the KV-only state
// machine wrote (so a node restarting on such a data directory replays and restores it).
//
// Reads (`get`) may go through the log (always linearizable) or be served by the driver from
// local state after a ReadIndex round; `read(key)` is for the latter.
//
// The keyspace is bounded in keys (keysMax) and in bytes (dataBytesMax: each key's and value's
// bytes plus KV_ENTRY_BYTES, at least what the section below holds), so that the group's snapshot
// always fits its bound; a put or cas past either answers keyspace_full, on every replica alike.
//
// Snapshot section "kv" v1 = u8 version(1) | uvarint count | count × (uvarint-bytes key | uvarint-bytes value), keys sorted

import { ByteReader, ByteWriter, bytesEqual, latin1String } from '../lib/bytes.ts';
import { BaristaError, CorruptionError } from '../lib/errors.ts';
import { decodeEnvelope, ENVELOPE_FORMAT, type Envelope, encodeRsmResult, encodeSessionOp } from '../rsm/envelope.ts';
import { type ApplyContext, type Namespace, NamespaceId } from '../rsm/namespace.ts';
import type { SessionOptions } from '../rsm/sessions.ts';
import { ReplicatedStateMachine } from '../rsm/state-machine.ts';
import {
  decodeCommand,
  decodeKvOp,
  encodeKvOp,
  encodeResult,
  type KvErrorCode,
  type KvOp,
  type KvResult,
  kvLimits,
} from './command.ts';
import { limits, SNAPSHOT_IMAGE_RESERVE_BYTES } from '../lib/limits.ts';
import { assert } from '../lib/assert.ts';

export interface KvOptions extends SessionOptions {
  readonly keysMax: number;
  /** The keyspace's bytes (kvEntryBytes each): see the header. */
  readonly dataBytesMax: number;
}

export const defaultKvOptions: KvOptions = {
  sessionsMax: limits.kvSessionsMax,
  sessionsPerClientMax: limits.kvSessionsPerClientMax,
  sessionTimeoutMs: 5 * 60_000,
  bytesMax: limits.rsmSessionsBytesMax,
  keysMax: limits.kvKeysMax,
  dataBytesMax: limits.kvDataBytesMax,
};

/**
 * The keyspace's and its sessions' byte bounds in a group whose snapshots hold at most
 * `snapshotDataBytesMax` (the limits, or less in the same proportion when the group's bound is
 * smaller: the simulator's).
 */
export function kvBoundsFor(snapshotDataBytesMax: number): { dataBytesMax: number; bytesMax: number } {
  const room = snapshotDataBytesMax - SNAPSHOT_IMAGE_RESERVE_BYTES;
  assert(room > 0, `snapshot bound ${snapshotDataBytesMax}`);
  const bytesMax = Math.min(limits.rsmSessionsBytesMax, Math.floor(room / 16));
  return { bytesMax, dataBytesMax: Math.min(limits.kvDataBytesMax, room - bytesMax) };
}

/** A key's bytes in the snapshot section beside its key and value (two length prefixes), at most. */
const KV_ENTRY_BYTES = 16;

export function kvEntryBytes(keyBytes: number, valueBytes: number): number {
  return keyBytes + valueBytes + KV_ENTRY_BYTES;
}

const SECTION_VERSION = 1;

/** The map key for a byte key: one char per byte, so every byte sequence has its own string. */
export function keyId(key: Uint8Array): string {
  return latin1String(key);
}

function keyBytes(id: string): Uint8Array {
  const out = new Uint8Array(id.length);
  for (let i = 0; i < id.length; i++) out[i] = id.charCodeAt(i);
  return out;
}

export class KvNamespace implements Namespace {
  readonly name = 'kv';
  readonly id = NamespaceId.kv;
  private readonly data = new Map<string, Uint8Array>();
  private heldBytes = 0;

  constructor(
    private readonly keysMax: number,
    private readonly dataBytesMax: number = limits.kvDataBytesMax,
  ) {}

  get size(): number {
    return this.data.size;
  }

  /** Σ kvEntryBytes over the keys: at most dataBytesMax. */
  get bytes(): number {
    return this.heldBytes;
  }

  /** Stores `value` under `key` unless a bound is hit (keyspace_full, nothing changed). */
  private store(id: string, keyLength: number, current: Uint8Array | null, value: Uint8Array): KvResult | undefined {
    if (current === null && this.data.size >= this.keysMax) return error('keyspace_full');
    const more = current === null ? kvEntryBytes(keyLength, value.length) : value.length - current.length;
    // A change that adds nothing is taken (a keyspace restored past a bound that has since shrunk).
    if (more > 0 && this.heldBytes + more > this.dataBytesMax) return error('keyspace_full');
    this.data.set(id, value);
    this.heldBytes += more;
    return undefined;
  }

  /** The value under `key` (null when absent); keys over keyBytesMax are never stored. */
  read(key: Uint8Array): Uint8Array | null {
    if (key.length > kvLimits.keyBytesMax) return null;
    return this.data.get(keyId(key)) ?? null;
  }

  apply(_ctx: ApplyContext, payload: Uint8Array): Uint8Array {
    return encodeResult(this.execute(decodeKvOp(payload)));
  }

  private execute(op: KvOp): KvResult {
    if (op.key.length > kvLimits.keyBytesMax) return error('key_too_large');
    const key = keyId(op.key);
    const current = this.data.get(key) ?? null;
    switch (op.op) {
      case 'get':
        return { ok: true, value: current, sessionId: 0 };
      case 'put':
        if (op.value.length > kvLimits.valueBytesMax) return error('value_too_large');
        return this.store(key, op.key.length, current, op.value) ?? { ok: true, value: null, sessionId: 0 };
      case 'cas':
        if (op.value.length > kvLimits.valueBytesMax) return error('value_too_large');
        if (!bytesEqual(current, op.expected)) return { ok: false, code: 'precondition_failed', value: current };
        return this.store(key, op.key.length, current, op.value) ?? { ok: true, value: null, sessionId: 0 };
      case 'del':
        if (current !== null) {
          this.data.delete(key);
          this.heldBytes -= kvEntryBytes(op.key.length, current.length);
        }
        return { ok: true, value: current, sessionId: 0 };
    }
  }

  snapshot(): Uint8Array {
    const w = new ByteWriter({ bytesMax: 2 ** 31 - 1 });
    const keys = [...this.data.keys()].sort();
    w.u8(SECTION_VERSION).uvarint(keys.length);
    for (const k of keys) w.bytesUvarint(keyBytes(k)).bytesUvarint(this.data.get(k)!);
    return w.finish().slice();
  }

  loadSnapshot(section: Uint8Array | undefined): () => void {
    const loaded: [string, Uint8Array][] = [];
    if (section !== undefined) {
      const r = new ByteReader(section);
      const version = r.u8();
      if (version !== SECTION_VERSION) throw new CorruptionError(`kv section: unknown version ${version}`);
      const count = r.uvarint();
      for (let i = 0; i < count; i++) loaded.push([keyId(r.bytesUvarint()), r.bytesUvarint().slice()]);
      r.expectEnd('kv section');
    }
    return () => {
      this.data.clear();
      this.heldBytes = 0;
      for (const [k, v] of loaded) {
        this.data.set(k, v);
        this.heldBytes += kvEntryBytes(k.length, v.length);
      }
    };
  }
}

function error(code: KvErrorCode): KvResult {
  return { ok: false, code, value: null };
}

/** The metadata group's state machine: sessions plus the KV namespace (later: znodes, ...). */
export class KvStateMachine extends ReplicatedStateMachine {
  readonly kv: KvNamespace;

  constructor(
    readonly options: KvOptions = defaultKvOptions,
    hooks: { readonly onMalformed?: () => void } = {},
  ) {
    super({
      sessions: options,
      legacyEntry,
      legacySnapshot,
      ...(hooks.onMalformed === undefined ? {} : { onMalformed: hooks.onMalformed }),
    });
    this.kv = new KvNamespace(options.keysMax, options.dataBytesMax);
    this.register(this.kv);
  }

  get size(): number {
    return this.kv.size;
  }

  read(key: Uint8Array): Uint8Array | null {
    return this.kv.read(key);
  }
}

/** A format-1 command as an envelope (term 0: it was stamped with time only). */
export function legacyEntry(data: Uint8Array): Envelope | undefined {
  const c = decodeCommand(data);
  if (c instanceof BaristaError) return undefined;
  const base = { stampMs: c.proposedAtMs, term: 0 };
  if (c.kind === 'register')
    return {
      ...base,
      namespace: NamespaceId.sessions,
      sessionId: 0,
      seq: 0,
      payload: encodeSessionOp({ op: 'register', clientAddress: c.clientAddress }),
    };
  if (c.kind === 'unregister')
    return {
      ...base,
      namespace: NamespaceId.sessions,
      sessionId: c.sessionId,
      seq: 0,
      payload: encodeSessionOp({ op: 'unregister' }),
    };
  return { ...base, namespace: NamespaceId.kv, sessionId: c.sessionId, seq: c.seq, payload: encodeKvOp(c.request) };
}

/**
 * The KV-only snapshot (version 1: string keys, no client addresses; version 2: with addresses) as
 * sections. A cached result there is a KV result; it becomes the state machine's applied result
 * around it (a register's, at seq 0, the state machine's own register result).
 */
export function legacySnapshot(image: Uint8Array): ReadonlyMap<string, Uint8Array> | undefined {
  const version = image[0];
  if (version !== 1 && version !== 2) return undefined;
  const r = new ByteReader(image);
  r.u8();
  r.uvarint(); // the applied index (the state machine's restore takes it from Raft)
  const nowMs = r.f64();
  const kv = new ByteWriter({ bytesMax: 2 ** 31 - 1 }).u8(SECTION_VERSION);
  const keyCount = r.uvarint();
  kv.uvarint(keyCount);
  // Version 1 wrote keys as UTF-8 strings: the same bytes as a byte key.
  for (let i = 0; i < keyCount; i++) kv.bytesUvarint(r.bytesUvarint()).bytesUvarint(r.bytesUvarint());
  const sessions = new ByteWriter({ bytesMax: 2 ** 31 - 1 }).u8(1).f64(nowMs).f64(0).f64(0);
  const sessionCount = r.uvarint();
  sessions.uvarint(sessionCount);
  for (let i = 0; i < sessionCount; i++) {
    const id = r.uvarint();
    const lastSeq = r.uvarint();
    const kvResult = r.bytesUvarint();
    const lastActiveMs = r.f64();
    const lastIndex = r.uvarint();
    const clientAddress = version === 1 ? '' : r.stringUvarint();
    const lastResult =
      lastSeq === 0
        ? encodeRsmResult({ status: 'applied', payload: new ByteWriter().uvarint(id).finish() })
        : encodeRsmResult({ status: 'applied', payload: kvResult });
    sessions.uvarint(id).uvarint(lastSeq).bytesUvarint(lastResult).f64(lastActiveMs).uvarint(lastIndex);
    sessions.stringUvarint(clientAddress);
  }
  r.expectEnd('kv snapshot');
  return new Map([
    ['sessions', sessions.finish().slice()],
    ['kv', kv.finish().slice()],
  ]);
}

/**
 * The KV request in a log entry (an envelope for namespace kv, or a legacy request), or undefined
 * for anything else. For observers of the log (simulator invariants, tests), never for applying.
 */
export function kvRequestOf(entry: Uint8Array): { sessionId: number; seq: number; op: KvOp } | undefined {
  const e = entry[0] === ENVELOPE_FORMAT ? decodeEnvelope(entry) : legacyEntry(entry);
  if (e === undefined || e instanceof BaristaError || e.namespace !== NamespaceId.kv) return undefined;
  try {
    return { sessionId: e.sessionId, seq: e.seq, op: decodeKvOp(e.payload) };
  } catch {
    return undefined; // not a KV request: the observer has nothing to see
  }
}
