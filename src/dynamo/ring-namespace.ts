// The token ring as a namespace of the metadata group's replicated state machine (src/rsm): every
// node learns the same versioned ring (ring.ts) from the same log, and every change is one
// committed compare-and-set on the ring's version, so two operators (or two nodes bootstrapping
// the ring at once) can never interleave half-changes.
//
// Why a compare-and-set of the whole ring rather than one command per operation (join, leave,
// complete): the ring's rules (ring.ts: one move at a time, distinct tokens, a leaving node needs
// a successor) then run once, on the proposer, where a refusal becomes a typed error for the
// operator; the state machine checks only that the proposal derives from the ring it holds
// (base version) and is a later version, and that it decodes as a valid ring (Ring.decode
// enforces every structural rule, so a replica never holds a ring the rules forbid). A proposal
// from a stale copy answers `conflict` with the current version, and the proposer re-derives.
//
// Command payload (namespace id NamespaceId.ring):
//   Cas    = u8 op(1) | uvarint baseVersion | ring (ring.ts encoding; its version > base)
// Result payload:
//   u8 status | uvarint version
//     status 0 applied: version = the new ring's
//     status 1 conflict: the ring is at `version`, not at baseVersion (nothing changed)
//     status 2 invalid: the proposed ring's version is not above baseVersion, or it drops or
//              changes the keyspace settings the ring holds (ring.ts: recorded once; nothing changed)
// (Above, not exactly one above: a ring built from the empty one node by node, as the store
// bootstraps it, is several versions later and still one proposal.)
// A payload that does not decode (a bad op, a malformed ring) throws ProtocolError before any
// change: the state machine answers malformed_command on every replica.
//
// Snapshot section `ring`: u8 version(1) | ring encoding. Absent = the empty ring (version 0).
// The metadata group held no state before this namespace (src/metadata/cluster-state.ts answered
// every command `unknown`); its 1-byte snapshot image is read as "no sections" (legacySnapshot).

import { ByteReader, ByteWriter } from '../lib/bytes.ts';
import { CorruptionError, ProtocolError } from '../lib/errors.ts';
import { type ApplyContext, type Namespace, NamespaceId } from '../rsm/namespace.ts';
import { ReplicatedStateMachine } from '../rsm/state-machine.ts';
import { defaultSessionOptions } from '../rsm/sessions.ts';
import { Ring } from './ring.ts';

const OP_CAS = 1;
const SECTION_VERSION = 1;
/** The image src/metadata/cluster-state.ts wrote: its version byte and nothing else. */
const CLUSTER_STATE_IMAGE_VERSION = 1;

export type RingCasResult =
  | { readonly status: 'applied'; readonly version: number }
  | { readonly status: 'conflict'; readonly version: number }
  | { readonly status: 'invalid'; readonly version: number };

const STATUS_CODES = { applied: 0, conflict: 1, invalid: 2 } as const;
const STATUS_NAMES = ['applied', 'conflict', 'invalid'] as const;

export function encodeRingCas(baseVersion: number, next: Ring): Uint8Array {
  return next.encode(new ByteWriter().u8(OP_CAS).uvarint(baseVersion)).slice();
}

export function encodeRingCasResult(r: RingCasResult): Uint8Array {
  return new ByteWriter().u8(STATUS_CODES[r.status]).uvarint(r.version).finish().slice();
}

/** Decodes a result payload (from our own state machine, but bytes all the same). */
export function decodeRingCasResult(bytes: Uint8Array): RingCasResult | ProtocolError {
  try {
    const r = new ByteReader(bytes);
    const status = STATUS_NAMES[r.u8()];
    const version = r.uvarint();
    r.expectEnd('ring result');
    if (status === undefined) return new ProtocolError('ring_malformed', 'ring result: unknown status');
    return { status, version };
  } catch (err) {
    if (err instanceof ProtocolError) return err;
    throw err;
  }
}

/** The ring's namespace name in the metadata group (snapshot section, RaftGroupUse). */
export const RING_NAMESPACE = 'ring';

export class RingNamespace implements Namespace {
  readonly name = RING_NAMESPACE;
  readonly id = NamespaceId.ring;
  private current: Ring = Ring.empty();
  private readonly listeners: Array<(ring: Ring) => void> = [];

  get ring(): Ring {
    return this.current;
  }

  /** Called with the new ring after each applied change and after a snapshot is installed. */
  onChange(listener: (ring: Ring) => void): void {
    this.listeners.push(listener);
  }

  apply(_ctx: ApplyContext, payload: Uint8Array): Uint8Array {
    const r = new ByteReader(payload);
    const op = r.u8();
    if (op !== OP_CAS) throw new ProtocolError('ring_malformed', `ring command: unknown op ${op}`);
    const base = r.uvarint();
    const next = Ring.decode(payload.subarray(r.position));
    if (base !== this.current.version)
      return encodeRingCasResult({ status: 'conflict', version: this.current.version });
    if (next.version <= base) return encodeRingCasResult({ status: 'invalid', version: this.current.version });
    const held = this.current.settings;
    if (
      held !== undefined &&
      (next.settings?.replicas !== held.replicas || next.settings.collections !== held.collections)
    )
      return encodeRingCasResult({ status: 'invalid', version: this.current.version });
    this.install(next);
    return encodeRingCasResult({ status: 'applied', version: next.version });
  }

  snapshot(): Uint8Array {
    return this.current.encode(new ByteWriter().u8(SECTION_VERSION)).slice();
  }

  loadSnapshot(section: Uint8Array | undefined): () => void {
    let loaded = Ring.empty();
    if (section !== undefined) {
      const version = section[0];
      if (version !== SECTION_VERSION) throw new CorruptionError(`ring section: unknown version ${version}`);
      try {
        loaded = Ring.decode(section.subarray(1));
      } catch (err) {
        if (err instanceof ProtocolError) throw new CorruptionError(`ring section: ${err.message}`);
        throw err;
      }
    }
    return () => this.install(loaded);
  }

  private install(ring: Ring): void {
    this.current = ring;
    for (const l of this.listeners) l(ring);
  }
}

/** The metadata group's state machine: sessions plus the ring namespace. */
export class RingStateMachine extends ReplicatedStateMachine {
  readonly ringNamespace = new RingNamespace();

  constructor(hooks: { readonly onMalformed?: () => void } = {}) {
    super({
      sessions: defaultSessionOptions,
      // The metadata group's image before it held a namespace: no sections (an empty ring).
      legacySnapshot: (image) =>
        image.length === 1 && image[0] === CLUSTER_STATE_IMAGE_VERSION ? new Map() : undefined,
      ...(hooks.onMalformed === undefined ? {} : { onMalformed: hooks.onMalformed }),
    });
    this.register(this.ringNamespace);
  }

  get ring(): Ring {
    return this.ringNamespace.ring;
  }
}
