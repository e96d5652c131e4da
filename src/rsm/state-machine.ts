// A replicated state machine that hosts namespaces (issue 8 item 4): the StateMachine a Raft
// group's driver applies committed entries to. It owns what every namespace shares — the
// command envelope (envelope.ts), log time and the leader's term from the stamp, and one client
// session table (sessions.ts) — and routes each command's payload to the namespace named in its
// envelope. A service registers its namespace into the state machine of the group it uses, before
// the group's driver starts (the driver restores the newest snapshot when it is built).
//
// apply() is total: an entry that is not an envelope (and not a legacy format the owner asked to
// translate) is `malformed_command`, a namespace id nobody registered is `unknown_namespace`, a
// payload the namespace cannot decode is `malformed_command` — each an error *result*, identical
// on every replica, never an exception that would stop one. An entry refused as malformed does
// not move log time (its stamp is not trusted).
//
// Snapshots are in sections, one per owner, each named and length-prefixed, each with its own
// version byte inside (the owner's format):
//   Snapshot = u8 format(3) | uvarint appliedIndex | uvarint sectionCount
//              | sectionCount × (uvarint-string name | uvarint-bytes body)
//   sections: "sessions" first, then each namespace by name; a namespace with no section restores
//   empty (it was added after the snapshot was taken).
// No checksum per section: the image is covered by the snapshot file's CRC-32C at rest
// (src/storage/snapshot.ts) and by each peer frame's CRC-32C in flight. An unknown section is a
// CorruptionError, not skipped: it is state some replica holds and this one would silently drop,
// and the replicas would then answer differently — a node that lacks a namespace must not join a
// group that has one. Restore is all-or-nothing: every section is decoded before any is installed.
// (Format 3, because 1 and 2 were the first bytes of the KV-only snapshot this replaced; the owner
// may pass a translator for them.)

import type { Metrics } from '../env/types.ts';
import { assert } from '../lib/assert.ts';
import { ByteReader, ByteWriter, concatBytes } from '../lib/bytes.ts';
import { BaristaError, CorruptionError } from '../lib/errors.ts';
import type { StateMachine } from '../raft/state-machine.ts';
import {
  decodeEnvelope,
  decodeSessionOp,
  ENVELOPE_FORMAT,
  type Envelope,
  encodeRsmResult,
  type RsmErrorCode,
} from './envelope.ts';
import { type ApplyContext, type Namespace, NamespaceId } from './namespace.ts';
import { defaultSessionOptions, type SessionOptions, SessionTable } from './sessions.ts';

export const SNAPSHOT_FORMAT = 3;

/** The onMalformed hook a service passes for its group: counts rsm_malformed_commands_total{group}. */
export function malformedCounterHook(metrics: Pick<Metrics, 'counter'>, group: string): () => void {
  const counter = metrics.counter(
    'rsm_malformed_commands_total',
    'Log entries the state machine refused as malformed (a typed result on every replica, never a stop)',
    { group },
  );
  return () => counter.inc();
}
const SESSIONS_SECTION = 'sessions';

export interface RsmOptions {
  readonly sessions: SessionOptions;
  /** Translates an entry of an older format (first byte ≠ 2) into an envelope; undefined = not one. */
  readonly legacyEntry?: (data: Uint8Array) => Envelope | undefined;
  /** Translates a snapshot image of an older format (first byte ≠ 3) into named sections. */
  readonly legacySnapshot?: (image: Uint8Array) => ReadonlyMap<string, Uint8Array> | undefined;
  /** Told of each entry refused as malformed (the owner counts it in its metrics). */
  readonly onMalformed?: () => void;
}

export class ReplicatedStateMachine implements StateMachine {
  readonly sessions: SessionTable;
  private readonly byId = new Map<number, Namespace>();
  private readonly byName = new Map<string, Namespace>();
  private applied = 0;
  private started = false;
  /** Entries refused as malformed (not envelopes, or undecodable payloads): a replica's count. */
  malformedCount = 0;

  constructor(private readonly rsmOptions: RsmOptions = { sessions: defaultSessionOptions }) {
    this.sessions = new SessionTable(rsmOptions.sessions);
  }

  /** Hosts `ns`. Only before the first apply or restore, so every replica routes the same way. */
  register(ns: Namespace): void {
    assert(!this.started, `namespace ${ns.name} registered after the state machine started`);
    assert(ns.id !== NamespaceId.sessions && !this.byId.has(ns.id), `namespace id ${ns.id} is taken`);
    assert(ns.name !== SESSIONS_SECTION && !this.byName.has(ns.name), `namespace name ${ns.name} is taken`);
    assert(/^[a-z][a-z0-9-]*$/.test(ns.name), `namespace name ${ns.name} is not lower-case`);
    this.byId.set(ns.id, ns);
    this.byName.set(ns.name, ns);
  }

  get namespaces(): readonly string[] {
    return [...this.byName.keys()];
  }

  get appliedIndex(): number {
    return this.applied;
  }

  /** Log time: the largest stamp applied so far (what session expiry measures against). */
  get logTimeMs(): number {
    return this.sessions.logTimeMs;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  apply(index: number, data: Uint8Array): Uint8Array {
    // Indexes increase; gaps are entries the state machine never sees (Raft no-ops, config changes).
    assert(index > this.applied, `entries are applied in order: ${index} after ${this.applied}`);
    this.applied = index;
    this.started = true;
    const e = this.decode(data);
    if (e === undefined || !this.sessions.accepts(e.stampMs, e.term)) return this.malformed();
    // A session the table closes (expiry, eviction, unregister) is closed by the log at this entry,
    // not by the entry's own session: its context carries session 0.
    const closed = (id: number): void => {
      const at: ApplyContext = { index, logTimeMs: this.sessions.logTimeMs, term: e.term, sessionId: 0 };
      for (const ns of this.byId.values()) ns.sessionClosed?.(id, at);
    };
    this.sessions.advance(e.stampMs, e.term, closed);
    const ctx: ApplyContext = { index, logTimeMs: this.sessions.logTimeMs, term: e.term, sessionId: e.sessionId };
    if (e.namespace === NamespaceId.sessions) return this.applySessionOp(ctx, e, closed);
    const ns = this.byId.get(e.namespace);
    if (ns === undefined) return refused('unknown_namespace');
    // Session 0: executed every time it is applied (at most once only if the client never
    // retries; the client must treat a timeout as indefinite).
    if (e.sessionId === 0) return this.execute(ns, ctx, e.payload);
    const verdict = this.sessions.check(e.sessionId, e.seq, index);
    if (verdict.kind === 'refused') return refused(verdict.code);
    if (verdict.kind === 'cached') return verdict.result;
    const result = this.execute(ns, ctx, e.payload);
    this.sessions.record(e.sessionId, e.seq, result, closed);
    return result;
  }

  private decode(data: Uint8Array): Envelope | undefined {
    if (data[0] !== ENVELOPE_FORMAT) return this.rsmOptions.legacyEntry?.(data);
    const e = decodeEnvelope(data);
    return e instanceof BaristaError ? undefined : e;
  }

  private malformed(): Uint8Array {
    this.malformedCount++;
    this.rsmOptions.onMalformed?.();
    return refused('malformed_command');
  }

  private applySessionOp(ctx: ApplyContext, e: Envelope, closed: (id: number) => void): Uint8Array {
    const op = decodeSessionOp(e.payload);
    if (op instanceof BaristaError) return this.malformed();
    if (op.op === 'unregister') {
      this.sessions.unregister(e.sessionId, closed);
      return encodeRsmResult({ status: 'applied', payload: new Uint8Array(0) });
    }
    const registered = encodeRsmResult({ status: 'applied', payload: new ByteWriter().uvarint(ctx.index).finish() });
    const code = this.sessions.register(ctx.index, op.clientAddress, registered, closed);
    return code === undefined ? registered : refused(code);
  }

  private execute(ns: Namespace, ctx: ApplyContext, payload: Uint8Array): Uint8Array {
    try {
      return encodeRsmResult({ status: 'applied', payload: ns.apply(ctx, payload) });
    } catch (err) {
      // A typed error is a payload the namespace could not decode (thrown before any change, by
      // the Namespace contract); anything else is a broken invariant and stops the replica.
      if (err instanceof BaristaError) return this.malformed();
      throw err;
    }
  }

  /** The image in one go (every namespace's snapshot(), never a frozen view a walk in slices may hold). */
  snapshot(): Uint8Array {
    const sections: [string, Uint8Array][] = [[SESSIONS_SECTION, this.sessions.snapshot()]];
    for (const name of [...this.byName.keys()].sort()) sections.push([name, this.byName.get(name)!.snapshot()]);
    return imageOf(this.applied, sections);
  }

  /**
   * The image in slices, of the state at this call: the sessions and every namespace without
   * snapshotInSlices are encoded now, in one go; each namespace with it starts its frozen view now
   * and gives one slice per call after. Commands may be applied between calls (the driver does not
   * hold them): the image still describes the index of this call. Then the image is assembled
   * from the sections' parts, at most IMAGE_COPY_SLICE_BYTES copied per call (one 150 MiB copy
   * took ~0.5 s of one turn at a million znodes).
   */
  snapshotInSlices(): () => Uint8Array | undefined {
    const names = [...this.byName.keys()].sort();
    const applied = this.applied;
    const sessions = this.sessions.snapshot();
    const pending = names.map((name) => {
      const ns = this.byName.get(name)!;
      if (ns.snapshotInSlices !== undefined) return { name, step: ns.snapshotInSlices() };
      const section = [ns.snapshot()];
      return { name, step: () => section };
    });
    const sections: [string, readonly Uint8Array[]][] = [[SESSIONS_SECTION, [sessions]]];
    let copy: (() => Uint8Array | undefined) | undefined;
    return () => {
      if (copy !== undefined) return copy();
      while (sections.length - 1 < pending.length) {
        const { name, step } = pending[sections.length - 1]!;
        const section = step();
        if (section === undefined) return undefined;
        sections.push([name, section]);
      }
      copy = copyInSlices(framed(applied, sections), IMAGE_COPY_SLICE_BYTES);
      return undefined;
    };
  }

  restore(index: number, image: Uint8Array): void {
    const step = this.restoreInSlices(index, image);
    while (!step());
  }

  /**
   * The restore in slices: the sessions section in one call, then each namespace's section (in
   * slices when it offers loadSnapshotInSlices), then every install at once, so the state changes in
   * the last call only and a bad section leaves it as it was. True once restored.
   */
  restoreInSlices(index: number, image: Uint8Array): () => boolean {
    const sections = this.sectionsOf(index, image);
    const loaders: (() => (() => void) | undefined)[] = [
      () => this.sessions.loadSnapshot(sections.get(SESSIONS_SECTION)),
    ];
    for (const [name, ns] of this.byName)
      loaders.push(ns.loadSnapshotInSlices?.(sections.get(name)) ?? (() => ns.loadSnapshot(sections.get(name))));
    const installs: (() => void)[] = [];
    return () => {
      try {
        const install = loaders[installs.length]!();
        if (install === undefined) return false;
        installs.push(install);
      } catch (err) {
        if (err instanceof CorruptionError) throw err;
        throw new CorruptionError(`state machine snapshot: ${(err as Error).message}`, { cause: String(err) });
      }
      if (installs.length < loaders.length) return false;
      for (const install of installs) install();
      this.applied = index;
      this.started = true;
      return true;
    };
  }

  private sectionsOf(index: number, image: Uint8Array): ReadonlyMap<string, Uint8Array> {
    let sections: ReadonlyMap<string, Uint8Array>;
    try {
      sections = image[0] === SNAPSHOT_FORMAT ? readSections(index, image) : this.legacySections(image);
    } catch (err) {
      if (err instanceof CorruptionError) throw err;
      throw new CorruptionError(`state machine snapshot: ${(err as Error).message}`, { cause: String(err) });
    }
    this.checkSections(sections);
    return sections;
  }

  private legacySections(image: Uint8Array): ReadonlyMap<string, Uint8Array> {
    const legacy = this.rsmOptions.legacySnapshot?.(image);
    if (legacy === undefined) throw new CorruptionError(`state machine snapshot: unknown format ${image[0]}`);
    return legacy;
  }

  private checkSections(sections: ReadonlyMap<string, Uint8Array>): void {
    for (const name of sections.keys()) {
      if (name !== SESSIONS_SECTION && !this.byName.has(name))
        throw new CorruptionError(`state machine snapshot: section ${name} belongs to no namespace hosted here`, {
          section: name,
          hosted: this.namespaces,
        });
    }
  }
}

function readSections(index: number, image: Uint8Array): ReadonlyMap<string, Uint8Array> {
  const sections = new Map<string, Uint8Array>();
  const r = new ByteReader(image);
  r.u8();
  const applied = r.uvarint();
  if (applied > index) throw new CorruptionError(`state machine snapshot: taken at ${applied}, installed as ${index}`);
  const count = r.uvarint();
  for (let i = 0; i < count; i++) {
    const name = r.stringUvarint();
    if (sections.has(name)) throw new CorruptionError(`state machine snapshot: section ${name} twice`);
    sections.set(name, r.bytesUvarint());
  }
  r.expectEnd('state machine snapshot');
  return sections;
}

function refused(code: RsmErrorCode): Uint8Array {
  return encodeRsmResult({ status: 'refused', code });
}

/** Bytes of the image copied per call of the sliced snapshot's assembly. */
const IMAGE_COPY_SLICE_BYTES = 8 * 1024 * 1024;

/** The image's parts: its framing and each section's name, length and parts, in order. */
function framed(applied: number, sections: readonly [string, readonly Uint8Array[]][]): Uint8Array[] {
  const parts: Uint8Array[] = [new ByteWriter().u8(SNAPSHOT_FORMAT).uvarint(applied).uvarint(sections.length).finish()];
  for (const [name, section] of sections) {
    let length = 0;
    for (const p of section) length += p.length;
    parts.push(new ByteWriter().stringUvarint(name).uvarint(length).finish(), ...section);
  }
  return parts;
}

/** The image of `sections` at `applied`, in one go. */
function imageOf(applied: number, sections: readonly [string, Uint8Array][]): Uint8Array {
  return concatBytes(
    framed(
      applied,
      sections.map(([name, bytes]) => [name, [bytes]]),
    ),
  );
}

/**
 * The concatenation of `parts` into one buffer (allocated at the first call, untouched until
 * written), at most about `sliceBytes` copied per call; the buffer once complete.
 */
function copyInSlices(parts: readonly Uint8Array[], sliceBytes: number): () => Uint8Array | undefined {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let part = 0;
  let within = 0;
  let offset = 0;
  return () => {
    let budget = sliceBytes;
    while (part < parts.length && budget > 0) {
      const p = parts[part]!;
      const n = Math.min(p.length - within, budget);
      out.set(p.subarray(within, within + n), offset);
      offset += n;
      within += n;
      budget -= n;
      if (within === p.length) {
        part++;
        within = 0;
      }
    }
    return part < parts.length ? undefined : out;
  };
}
