// Peer messages of the Dynamo replica protocol (replica.ts) and their codec. A message is the
// payload of one peer frame (src/net/frame.ts bounds the whole frame, checks its CRC and names the
// sender), so this decoder sees one complete payload, never a stream.
//
// Grammar (integers big-endian; uvarint = UNSIGNED_VARINT, src/lib/bytes.ts):
//   message      = version type body
//   version      = u8                      ; 1
//   type         = u8                      ; 1..9, 12..21 below (10 and 11 are retired: see moveFetch)
//   replicate    = op key state            ; 1: merge `state` into the key, then ack (op 0: no ack)
//   replicateAck = op                      ; 2
//   hint         = op owner key state      ; 3: keep `state` for `owner` until it is back
//   hintAck      = op stored               ; 4: stored = u8 0|1 (0: refused at the hint bound)
//   read         = op key                  ; 5
//   readReply    = op state                ; 6
//   forward      = op request              ; 7: coordinate this client request (the sender is no replica)
//   forwardReply = op reply                ; 8
//   merkle       = op uvarint length + an anti-entropy message (merkle.ts grammar, its op = this op) ; 9
//   moveFetch    = op cursor rangeCount range*               ; 13: a ring move's puller asks for a page
//   movePage     = op push next entryCount entry*            ; 14: the page (a reply to moveFetch, or
//                                                          ;     pushed with push = 1: answer movePageAck)
//                                      ; 10 and 11 were these with key cursors (the replica store
//                                      ; in key order, before 2026-12-04): refused as unknown types,
//                                      ; so a move between nodes of the two versions waits (its
//                                      ; fetches time out and retry) instead of resuming a key
//                                      ; cursor in token order and skipping values
//   movePageAck  = op                      ; 12: a pushed page is merged and durable
//   rowRead      = op key sel          ; 15: a decomposed collection's rows (docs/ARCHITECTURE.md
//                                      ; "Collections at N > 1")
//   sel          = u8 0 elementN element*   ; the N named (1..storeSetMembersCountMax)
//                | u8 1 from:element count:uvarint   ; a page of the rows from `from` (then from its
//                                      ; `to`), at most `count` rows (1..dynamoRowsPageCountMax)
//                | u8 2                ; no row: the count and high-water element (RPUSH, LLEN)
//                | u8 3 (u8 0 | u8 1 before:element) count:uvarint   ; the last `count` rows
//                                      ; below `before` (1..lsmKeyBytesMax bytes; absent: the end),
//                                      ; answered as a page [from, before) (a list's tail: RPOP)
//                | u8 4 recentN:uvarint element*   ; as 2, and the rows of the `recent` elements
//                                      ; (0..dynamoRecentRowsCountMax) and the sender's own changed last
//                | u8 5                ; no row: the count and low-water element (LPUSH), answered
//                                      ; as an empty page ['', low) (since 2026-12-06: a build before
//                                      ; refuses it as malformed, and the read goes on without it)
//   rowReadReply = op state hasRows:u8 [marker rows [digest:u64]]   ; 16: the key's state, and when
//                                      ; the sender keeps a collection of the key (hasRows 1, or 2
//                                      ; with the digest), its schema (marker: the sender's count)
//                                      ; and the rows asked for: decomposed-codec `rows` (named) or
//                                      ; `page` (a page asked for); a tail read's answer carries the
//                                      ; header's digest of every row (a build before 2026-12-05
//                                      ; session 23 reads hasRows 2 as malformed: one build per cluster)
//   delta        = op key state marker hasClear:u8 [clear] deltaN:uvarint delta*   ; 17: a change
//                                      ; of the key's collection: merge `state`, then the clear (if
//                                      ; any), then each delta (decomposed-codec kinds); ack with
//                                      ; replicateAck once durable (op 0: no ack). deltaN 0..
//                                      ; DELTAS_COUNT_MAX (one per element one command changes:
//                                      ; storeCollectionChangesCountMax / 2 list or sorted-set
//                                      ; elements, storeSetMembersCountMax members; a build before
//                                      ; 2026-12-07 refuses more than 1,024 as malformed)
//   rowsOffer    = op key state         ; 18: anti-entropy's stream of a key whose collection the
//                                      ; sender keeps in rows: merge `state`, then pull the rows
//                                      ; from the sender (rowRead pages) if the key holds a marker
//   rowsRepair   = op key state marker rows   ; 19: read repair of named rows: merge `state`, then
//                                      ; join the rows (decomposed-codec `rows`: the sender's rows
//                                      ; of the named elements under its whole context) as a read's
//                                      ; answer is joined (op 0: no ack)
//   replicateChecked = op key state    ; 20: as replicate, and the ack says whether this replica
//                                      ; held a sibling `state` does not supersede (a checked write:
//                                      ; ClientRequest.checked; since 2026-12-07 session 43, a build
//                                      ; before refuses the type: one build per cluster)
//   checkedAck   = op held:u8 [state]  ; 21: held 0: the state superseded all this replica held;
//                                      ; 1: it did not, followed by the replica's merged state
//   marker       = uvarint length + a collection marker (src/crdt/marker.ts)
//   element      = uvarint length (0..kvValueBytesMax) + bytes
//   cursor, next = u8 0 (none: from the first value / no more) | u8 1 position
//   position     = uvarint length (0..kvKeyBytesMax + 9) + bytes ; a place in the store's scan order
//                                      ; (store.ts: token:8 then key bytes), opaque to the reader
//   rangeCount   = uvarint (1..dynamoMoveRangesCountMax); range = start:i64 end:i64 (ring.ts TokenRange)
//   push         = u8 0|1
//   entryCount   = uvarint; entry = key state
//   op           = uvarint                 ; the sender's operation id (safe integer)
//   owner        = uvarint length (1..nodeIdBytesMax) + UTF-8
//   key          = uvarint length (0..kvKeyBytesMax) + bytes
//   state        = uvarint length + an encoded Versioned (versions.ts grammar, checked in full)
//   request      = u8 kind (0 get, 1 put, 2 put over held, 3 rows, 4 put over held, checked) key
//                  level [put: value context ts]
//                  [rows: sel:u8 (0: elementN element* | 1: every row | 2: front:uvarint, the
//                  first 1..storeCollectionChangesCountMax rows | 3: no row, the tail | 4:
//                  last:uvarint, the last 1..storeCollectionChangesCountMax rows | 5: no row, the
//                  head's low-water element (since 2026-12-06))]
//                  ; 2: a plain write (value tag 0, 1 or 7) that supersedes, besides `context`,
//                  ; what its coordinating replica holds (a last-write-wins keyspace's write,
//                  ; sent without reading first: ClientRequest.overHeld); 4: as 2, checked
//                  ; (a siblings keyspace's SET: ClientRequest.checked; since 2026-12-07 session 43)
//   level        = u8 (1 ONE, 2 QUORUM, 3 ALL, 4 ANY, 0 explicit: then uvarint count 1..ringReplicasCountMax)
//   value        = u8 tag (0 delete, 1 bytes, 2 counter increment, 3 set add, 4 set remove,
//                  5 hash set (field value pairs), 6 hash delete (fields), 7 bytes with an expiry,
//                  8 the expiry of a counter, set or hash: deadline u64, 0 = none (PERSIST))
//                  [1: uvarint length (0..kvValueBytesMax) + bytes] [2: by:i64]
//                  [7: deadline:u64 (absolute wall ms, 1..2^53-1), then as 1]
//                  [3..6: uvarint count (1..storeSetMembersCountMax), then each member as
//                  uvarint length (0..kvValueBytesMax) + bytes]
//   context      = vector clock (src/lib/clocks/vector.ts), at most dvvEntriesCountMax entries
//   ts           = u64 (encodeHlc)
//   reply        = u8 ok (1: state | 2: state marker view | 3: state marker view after
//                  | 4: as 2, count exact | 5: as 3, count exact | 6..9: as 2..5, the coordinator
//                  may lack rows (CollectionView.lacking; since 2026-12-06) | 11, 13, 15, 17: as
//                  3, 5, 7, 9 with `before` in place of `after` (since 2026-12-06) | 0: code
//                  definite retriable message)
//   view         = uvarint length + the collection's CRDT (OR-Set or OR-Map of the marker's schema):
//                  the rows a rows request named (all of them for all) under the whole context
//   after        = uvarint length (0..lsmKeyBytesMax) + bytes: a tail read's high-water element
//                  (CollectionView.after), or a head read's low-water one (CollectionView.before);
//                  "count exact": CollectionView.exact
//   code         = uvarint length (1..64) + a code of the error catalogue (src/lib/error-codes.ts)
//   definite, retriable = u8 0|1
//   message      = uvarint length (0..forwardedErrorMessageBytesMax) + UTF-8
// Untrusted bytes never reach an assert: every broken rule is a ProtocolError with a stable code
// (dynamo_bad_version, dynamo_bad_type, dynamo_malformed, or those of ByteReader / Versioned /
// VectorClock: truncated, trailing_bytes, invalid_utf8, dvv_malformed, invalid_vector_clock, ...).

import type { NodeId } from '../env/types.ts';
import { ByteReader, ByteWriter, utf8ByteLength } from '../lib/bytes.ts';
import { type HlcTimestamp, readHlc, writeHlc } from '../lib/clocks/hlc.ts';
import { VectorClock } from '../lib/clocks/vector.ts';
import { type ErrorCode, errorCatalogue } from '../lib/error-codes.ts';
import { BaristaError, LimitError, ProtocolError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import { decodeMerkleMessage, encodeMerkleMessage, type MerkleMessage } from './merkle.ts';
import type { TokenRange } from './ring.ts';
import { type TypedOp, typedMemberBytesMax } from './typed.ts';
import { Versioned } from './versions.ts';
import { type Schema, schemaEqual } from '../crdt/causal.ts';
import { decodeCrdt } from '../crdt/crdt.ts';
import { CollectionMarker } from '../crdt/marker.ts';
import { markerOf } from './replica-rows.ts';
import type { CollectionCrdt, DecomposedDelta } from '../crdt/decomposed.ts';
import {
  type DecodedMessage,
  decodeDecomposed,
  encodeClear,
  encodeDelta,
  encodePage,
  encodeRows as encodeRowsOf,
} from '../crdt/decomposed-codec.ts';
import type { CausalContext } from '../crdt/dots.ts';
import { type ByteString, DEFAULT_CRDT_BOUNDS, readElement, writeElement } from '../crdt/codec.ts';
import { ORMap } from '../crdt/ormap.ts';
import { ORSet } from '../crdt/orset.ts';

export const DYNAMO_MESSAGE_VERSION = 1;
const ERROR_CODE_BYTES_MAX = 64;
/**
 * Deltas one change message carries: one per element a command changes, at most
 * storeCollectionChangesCountMax / 2 list or sorted-set elements (a key and its change each) or
 * storeSetMembersCountMax set members (replicated-collections.ts, replicated.ts refuse more).
 */
const DELTAS_COUNT_MAX = Math.max(limits.storeCollectionChangesCountMax / 2, limits.storeSetMembersCountMax);

/** A consistency level: named, or an explicit count of replicas (1..N). */
export type Level = 'ONE' | 'QUORUM' | 'ALL' | 'ANY' | number;

export type ClientRequest =
  | { readonly kind: 'get'; readonly key: Uint8Array; readonly level: Level }
  /**
   * The key's state and, for a collection kept decomposed (the rows layout), the rows of `elements`
   * (null: every row) as read at the level and joined into the coordinating replica's own.
   */
  | {
      readonly kind: 'rows';
      readonly key: Uint8Array;
      readonly level: Level;
      readonly elements: readonly Uint8Array[] | null;
      /** With elements null: only the first `front` rows (a list's head: LPUSH, LPOP), not every row. */
      readonly front?: number;
      /** With elements null: no row, the list's tail (RPUSH): the view is empty and says `after`. */
      readonly back?: true;
      /** With elements null: no row, the list's head (LPUSH): the view is empty and says `before`. */
      readonly fore?: true;
      /** With elements null: only the last `last` rows (a list's tail: RPOP, LINDEX -i, LRANGE -i -j). */
      readonly last?: number;
      /**
       * With back: when every replica read holds the coordinating replica's rows (the tail read's
       * `exact`), the view is every row of that replica's, none shipped (CollectionView.whole).
       * Read by the node that coordinates only: not on the wire (a forwarded request reads the
       * tail alone, and its caller reads every row after).
       */
      readonly wholeIfSame?: true;
    }
  | {
      readonly kind: 'put';
      readonly key: Uint8Array;
      /** null: delete. */
      readonly value: Uint8Array | null;
      /** The causal context the client read (emptyContext() for a blind write). */
      readonly context: VectorClock;
      readonly level: Level;
      /** The coordinating node's HLC timestamp for the write (the driver owns the clock). */
      readonly ts: HlcTimestamp;
      /** With a value: the absolute wall-clock ms from which it reads as deleted (SET EX, EXPIRE). */
      readonly expiresAtMs?: number;
      /**
       * A last-write-wins keyspace's write (store.conflicts): it also supersedes every sibling its
       * coordinating replica holds, so it needs no read first (what that replica has not seen yet
       * stays a sibling, and the highest HLC timestamp is what reads return). Plain writes only.
       */
      readonly overHeld?: boolean;
      /**
       * With overHeld, a siblings keyspace's plain write (SET) that supersedes what the replicas
       * that count for its level held, as a read at that level then a write would, in one round
       * (replica.ts coordinatePut): each replica reports a sibling the write does not supersede
       * (checkedAck), and when the acks the level waits for are in with a report the coordinator
       * makes the write once more over the join of what they reported (redoChecked).
       */
      readonly checked?: boolean;
      /**
       * A typed operation at N > 1 (typed.ts: a counter's INCRBY, a set's SADD / SREM) instead of
       * `value`: the coordinating replica applies it to its local state (value is null, ignored).
       */
      readonly op?: TypedOp;
    };

/** What a client request ends with: the key's resulting state, or an operating error. */
export type ClientResult =
  | { readonly ok: true; readonly state: Versioned; readonly collection?: CollectionView }
  | { readonly ok: false; readonly error: BaristaError };

export type ReplicaMessage =
  | { readonly type: 'replicate'; readonly op: number; readonly key: Uint8Array; readonly state: Versioned }
  | { readonly type: 'replicateAck'; readonly op: number }
  | { readonly type: 'replicateChecked'; readonly op: number; readonly key: Uint8Array; readonly state: Versioned }
  /** held: the replica's merged state when it held a sibling the checked write does not supersede. */
  | { readonly type: 'checkedAck'; readonly op: number; readonly held: Versioned | undefined }
  | {
      readonly type: 'hint';
      readonly op: number;
      readonly owner: NodeId;
      readonly key: Uint8Array;
      readonly state: Versioned;
    }
  | { readonly type: 'hintAck'; readonly op: number; readonly stored: boolean }
  | { readonly type: 'read'; readonly op: number; readonly key: Uint8Array }
  | { readonly type: 'readReply'; readonly op: number; readonly state: Versioned }
  | { readonly type: 'forward'; readonly op: number; readonly request: ClientRequest }
  | { readonly type: 'forwardReply'; readonly op: number; readonly result: ClientResult }
  | { readonly type: 'merkle'; readonly op: number; readonly merkle: MerkleMessage }
  | {
      readonly type: 'moveFetch';
      readonly op: number;
      readonly cursor: Uint8Array | null;
      readonly ranges: readonly TokenRange[];
    }
  | {
      readonly type: 'movePage';
      readonly op: number;
      readonly push: boolean;
      readonly next: Uint8Array | null;
      readonly entries: readonly MoveEntry[];
    }
  | { readonly type: 'movePageAck'; readonly op: number }
  | { readonly type: 'rowRead'; readonly op: number; readonly key: Uint8Array; readonly sel: RowSelection }
  | { readonly type: 'rowReadReply'; readonly op: number; readonly state: Versioned; readonly rows: RowsAnswer | null }
  | { readonly type: 'rowsOffer'; readonly op: number; readonly key: Uint8Array; readonly state: Versioned }
  | {
      readonly type: 'rowsRepair';
      readonly op: number;
      readonly key: Uint8Array;
      readonly state: Versioned;
      readonly rows: RowsAnswer & { readonly rows: { readonly kind: 'rows' } };
    }
  | {
      readonly type: 'delta';
      readonly op: number;
      readonly key: Uint8Array;
      readonly state: Versioned;
      readonly schema: Schema;
      readonly clear: CausalContext | null;
      readonly deltas: readonly DecomposedDelta[];
    };

/** What a rows request read of a decomposed collection, at its coordinating replica after the read's join. */
export interface CollectionView {
  /** The named rows (every row for all) under the whole context. */
  readonly view: CollectionCrdt;
  /** The collection's element count there. */
  readonly count: number;
  /** A tail read's (ClientRequest back): no row of the replicas read lies above it (Header.high). */
  readonly after?: Uint8Array;
  /** A head read's (ClientRequest fore): no row of the replicas read lies below it (Header.low). */
  readonly before?: Uint8Array;
  /**
   * A tail read's: every replica read holds the same context as the coordinator, hence the same
   * rows, so `count` is the collection's exact count at the level (LLEN, SCARD, HLEN without a row).
   */
  readonly exact?: true;
  /**
   * A tail read's asked `wholeIfSame` and `exact`: `view` is every row of the coordinating
   * replica's, which every replica read holds too, so the view of a read of every row.
   */
  readonly whole?: true;
  /**
   * A read of named rows or of a list's first or last rows: a replica read answered a larger count
   * than the coordinating replica holds after the read's joins, and it holds no more than the read
   * names, so a change removing what it holds could count the collection emptied while the others
   * still hold elements (replica.ts mayLackRows; replicated.ts then reads every row first).
   * Shipped in a forwarded read's result (flag bytes 6-9, which a build before 2026-12-06 refuses:
   * such a read times out there).
   */
  readonly lacking?: true;
}

/** What a row read asks of each replica: named elements, or a page of every row from `from`. */
export type RowSelection =
  | { readonly kind: 'named'; readonly elements: readonly Uint8Array[] }
  | { readonly kind: 'page'; readonly from: ByteString; readonly count: number }
  /**
   * No row: the count and the high-water element (Header.high), answered as an empty page from it.
   * With `recent` (the coordinator's elements changed last, DecomposedCollection.recent; empty
   * too): also the answering replica's rows of those and of its own elements changed last
   * (RowsAnswer.recent).
   */
  | { readonly kind: 'tail'; readonly recent?: readonly ByteString[] }
  /** No row: the count and the low-water element (Header.low), answered as an empty page ['', low). */
  | { readonly kind: 'fore' }
  /**
   * The last `count` rows below `before` (undefined: the end), answered as a page [from, before)
   * whose `from` is the first row it holds, or '' when no row lies below them (a list's tail: RPOP).
   */
  | { readonly kind: 'last'; readonly before: ByteString | undefined; readonly count: number };

/** A read's rows as a replica answered: named (decomposed `rows`) or all (a `page` from "" to the end). */
export interface RowsAnswer {
  readonly schema: Schema;
  readonly count: number;
  /**
   * A tail read's: the sender's header digest of every row (decomposed.ts Header.digest), so the
   * coordinator can tell that a peer's rows equal its own without reading them (a count).
   */
  readonly digest?: bigint;
  readonly rows: Extract<DecodedMessage, { kind: 'rows' | 'page' }>;
  /**
   * A tail read with `recent`'s: the sender's rows of those elements and of its own changed last
   * (an element listed without a row has none there), under its whole context; with the digest,
   * the coordinator tells whether the two replicas differ only there (replica.ts joinRecent).
   */
  readonly recent?: Extract<DecodedMessage, { kind: 'rows' }>;
}

/** One key's stored state in a ring move's page (the encoded Versioned, checked on decode). */
export interface MoveEntry {
  readonly key: Uint8Array;
  readonly state: Uint8Array;
}

const TYPE_TAGS = {
  replicate: 1,
  replicateAck: 2,
  hint: 3,
  hintAck: 4,
  read: 5,
  readReply: 6,
  forward: 7,
  forwardReply: 8,
  merkle: 9,
  moveFetch: 13,
  movePage: 14,
  movePageAck: 12,
  rowRead: 15,
  rowReadReply: 16,
  delta: 17,
  rowsOffer: 18,
  rowsRepair: 19,
  replicateChecked: 20,
  checkedAck: 21,
} as const satisfies Record<ReplicaMessage['type'], number>;

const OP_TAGS = { sadd: 3, srem: 4, hset: 5, hdel: 6, zset: 9, list: 10 } as const;
const OP_BY_TAG: Readonly<Record<number, keyof typeof OP_TAGS>> = {
  3: 'sadd',
  4: 'srem',
  5: 'hset',
  6: 'hdel',
  9: 'zset',
  10: 'list',
};

const LEVEL_TAGS = { ONE: 1, QUORUM: 2, ALL: 3, ANY: 4 } as const;
const LEVEL_BY_TAG: readonly Level[] = ['ONE', 'ONE', 'QUORUM', 'ALL', 'ANY'];

function malformed(message: string): never {
  throw new ProtocolError('dynamo_malformed', message);
}

// --- encode ---------------------------------------------------------------------------------------

/**
 * The message's bytes. With `into` (a reusable writer, ByteWriter.reusable), written there from its
 * start and returned as a view of it: valid until its next use.
 */
export function encodeMessage(m: ReplicaMessage, into?: ByteWriter): Uint8Array {
  // A write's fan-out, the hot path: made at its size at once (no growth and copy).
  const w =
    into !== undefined
      ? into.reset()
      : m.type === 'replicate' || m.type === 'replicateChecked'
        ? new ByteWriter({ initialBytes: 24 + m.key.length + m.state.encode().length })
        : new ByteWriter();
  w.u8(DYNAMO_MESSAGE_VERSION).u8(TYPE_TAGS[m.type]).uvarint(m.op);
  switch (m.type) {
    case 'replicate':
    case 'replicateChecked':
    case 'rowsOffer':
      w.bytesUvarint(m.key).bytesUvarint(m.state.encode());
      break;
    case 'checkedAck':
      if (m.held === undefined) w.u8(0);
      else w.u8(1).bytesUvarint(m.held.encode());
      break;
    case 'hint':
      w.stringUvarint(m.owner).bytesUvarint(m.key).bytesUvarint(m.state.encode());
      break;
    case 'hintAck':
      w.u8(m.stored ? 1 : 0);
      break;
    case 'read':
      w.bytesUvarint(m.key);
      break;
    case 'readReply':
      w.bytesUvarint(m.state.encode());
      break;
    case 'forward':
      writeRequest(w, m.request);
      break;
    case 'forwardReply':
      writeResult(w, m.result);
      break;
    case 'merkle':
      w.bytesUvarint(encodeMerkleMessage(m.merkle));
      break;
    case 'moveFetch':
      writeOptionalPosition(w, m.cursor);
      w.uvarint(m.ranges.length);
      for (const range of m.ranges) w.i64(range.start).i64(range.end);
      break;
    case 'movePage':
      w.u8(m.push ? 1 : 0);
      writeOptionalPosition(w, m.next);
      w.uvarint(m.entries.length);
      for (const e of m.entries) w.bytesUvarint(e.key).bytesUvarint(e.state);
      break;
    case 'rowRead':
      w.bytesUvarint(m.key);
      if (m.sel.kind === 'page') {
        writeElement(w.u8(1), m.sel.from);
        w.uvarint(m.sel.count);
      } else if (m.sel.kind === 'tail' && m.sel.recent === undefined) w.u8(2);
      else if (m.sel.kind === 'fore') w.u8(5);
      else if (m.sel.kind === 'tail') {
        w.u8(4).uvarint(m.sel.recent!.length);
        for (const e of m.sel.recent!) writeElement(w, e);
      } else if (m.sel.kind === 'last') {
        w.u8(3);
        if (m.sel.before === undefined) w.u8(0);
        else writeElement(w.u8(1), m.sel.before);
        w.uvarint(m.sel.count);
      } else {
        w.u8(0).uvarint(m.sel.elements.length);
        for (const e of m.sel.elements) w.bytesUvarint(e);
      }
      break;
    case 'rowReadReply':
      w.bytesUvarint(m.state.encode());
      if (m.rows === null) w.u8(0);
      else {
        const recent = m.rows.digest === undefined ? undefined : m.rows.recent;
        w.u8(m.rows.digest === undefined ? 1 : recent === undefined ? 2 : 3).bytesUvarint(
          new CollectionMarker(m.rows.schema, m.rows.count).encode(),
        );
        w.bytesUvarint(encodeRowsAnswer(m.rows));
        if (m.rows.digest !== undefined) w.u64(m.rows.digest);
        if (recent !== undefined) {
          // The count of elements, then (when there are any) their rows under the sender's context.
          w.uvarint(recent.elements.length);
          if (recent.elements.length > 0)
            w.bytesUvarint(encodeRowsOf(m.rows.schema, recent.elements, recent.rows, recent.context));
        }
      }
      break;
    case 'rowsRepair':
      w.bytesUvarint(m.key).bytesUvarint(m.state.encode());
      w.bytesUvarint(new CollectionMarker(m.rows.schema, m.rows.count).encode());
      w.bytesUvarint(encodeRowsAnswer(m.rows));
      break;
    case 'delta':
      w.bytesUvarint(m.key).bytesUvarint(m.state.encode());
      w.bytesUvarint(new CollectionMarker(m.schema, 0).encode());
      if (m.clear === null) w.u8(0);
      else w.u8(1).bytesUvarint(encodeClear(m.schema, m.clear));
      if (m.deltas.length > DELTAS_COUNT_MAX)
        throw new LimitError('storeCollectionChangesCountMax', `${m.deltas.length} deltas in one message`);
      w.uvarint(m.deltas.length);
      for (const d of m.deltas) w.bytesUvarint(encodeDelta(m.schema, d));
      break;
    case 'replicateAck':
    case 'movePageAck':
      break;
  }
  return into !== undefined ? w.written() : w.finish();
}

function writeElements(w: ByteWriter, elements: readonly Uint8Array[] | null): void {
  if (elements === null) {
    w.u8(1);
    return;
  }
  w.u8(0).uvarint(elements.length);
  for (const e of elements) w.bytesUvarint(e);
}

function encodeRowsAnswer(a: RowsAnswer): Uint8Array {
  const r = a.rows;
  return r.kind === 'rows' ? encodeRowsOf(a.schema, r.elements, r.rows, r.context) : encodePage(a.schema, r.page);
}

function writeOptionalPosition(w: ByteWriter, position: Uint8Array | null): void {
  if (position === null) w.u8(0);
  else w.u8(1).bytesUvarint(position);
}

function writeLevel(w: ByteWriter, level: Level): void {
  if (typeof level === 'number') w.u8(0).uvarint(level);
  else w.u8(LEVEL_TAGS[level]);
}

function writeRequest(w: ByteWriter, r: ClientRequest): void {
  w.u8(
    r.kind === 'get' ? 0 : r.kind === 'rows' ? 3 : r.overHeld === true ? (r.checked === true ? 4 : 2) : 1,
  ).bytesUvarint(r.key);
  writeLevel(w, r.level);
  if (r.kind === 'rows' && r.back === true) w.u8(3);
  else if (r.kind === 'rows' && r.fore === true) w.u8(5);
  else if (r.kind === 'rows' && r.last !== undefined) w.u8(4).uvarint(r.last);
  else if (r.kind === 'rows' && r.front !== undefined) w.u8(2).uvarint(r.front);
  else if (r.kind === 'rows') writeElements(w, r.elements);
  if (r.kind === 'put') {
    if (r.op?.type === 'incr') w.u8(2).i64(r.op.by);
    else if (r.op?.type === 'expire') w.u8(8).u64(BigInt(r.op.expiresAtMs));
    else if (r.op !== undefined) {
      w.u8(OP_TAGS[r.op.type]).uvarint(r.op.members.length);
      for (const m of r.op.members) w.bytesUvarint(m);
    } else if (r.value === null) w.u8(0);
    else if (r.expiresAtMs !== undefined) w.u8(7).u64(BigInt(r.expiresAtMs)).bytesUvarint(r.value);
    else w.u8(1).bytesUvarint(r.value);
    r.context.encodeInto(w);
    writeHlc(w, r.ts);
  }
}

function writeResult(w: ByteWriter, r: ClientResult): void {
  const copy = r.ok ? r.state.shownCopy() : undefined;
  const shown = copy === undefined ? undefined : markerOf(copy.value, copy.crdt);
  if (shown !== undefined && shown.count > 0) {
    // An emptied collection shown by the answering replica's rows (replica.ts shownWithRows): the
    // count it shows, which the stored siblings do not say, before the result itself (a plain
    // state or a collection view: RENAMENX through a node that is no replica read the emptied
    // marker and overwrote a list, a review of b51e945).
    w.u8(18).uvarint(shown.count);
  }
  if (r.ok && r.collection !== undefined) {
    const { view, count, after, before, exact, lacking } = r.collection;
    const edge = after ?? before;
    w.u8(
      (edge === undefined ? 2 : 3) +
        (exact === true ? 2 : 0) +
        (lacking === true ? 4 : 0) +
        (after === undefined && before !== undefined ? 8 : 0),
    ).bytesUvarint(r.state.encode());
    w.bytesUvarint(new CollectionMarker(view instanceof ORSet ? ORSet.schema : view.schema, count).encode());
    w.bytesUvarint(view.encode());
    if (edge !== undefined) w.bytesUvarint(edge);
    return;
  }
  if (r.ok) {
    w.u8(1).bytesUvarint(r.state.encode());
    return;
  }
  const e = r.error;
  w.u8(0)
    .stringUvarint(e.code)
    .u8(e.definite ? 1 : 0)
    .u8(e.retriable ? 1 : 0)
    .stringUvarint(truncateUtf8(e.message));
}

/** The message cut to forwardedErrorMessageBytesMax bytes on a code point boundary. */
function truncateUtf8(s: string): string {
  if (utf8ByteLength(s) <= limits.forwardedErrorMessageBytesMax) return s;
  let out = '';
  let bytes = 0;
  for (const ch of s) {
    bytes += utf8ByteLength(ch);
    if (bytes > limits.forwardedErrorMessageBytesMax) break;
    out += ch;
  }
  return out;
}

// --- decode ---------------------------------------------------------------------------------------

/** Decodes one message payload from untrusted bytes (grammar at the top of this file). */
export function decodeMessage(bytes: Uint8Array): ReplicaMessage {
  const r = new ByteReader(bytes);
  const version = r.u8();
  if (version !== DYNAMO_MESSAGE_VERSION) {
    throw new ProtocolError(
      'dynamo_bad_version',
      `message version ${version}, this build reads ${DYNAMO_MESSAGE_VERSION}`,
      {
        version,
      },
    );
  }
  const tag = r.u8();
  const op = r.uvarint();
  let m: ReplicaMessage;
  switch (tag) {
    case 1:
      m = { type: 'replicate', op, key: readKey(r), state: readState(r) };
      break;
    case 2:
      m = { type: 'replicateAck', op };
      break;
    case 20:
      m = { type: 'replicateChecked', op, key: readKey(r), state: readState(r) };
      break;
    case 21:
      m = { type: 'checkedAck', op, held: readFlag(r) ? readState(r) : undefined };
      break;
    case 3:
      m = { type: 'hint', op, owner: readNodeId(r), key: readKey(r), state: readState(r) };
      break;
    case 4:
      m = { type: 'hintAck', op, stored: readFlag(r) };
      break;
    case 5:
      m = { type: 'read', op, key: readKey(r) };
      break;
    case 6:
      m = { type: 'readReply', op, state: readState(r) };
      break;
    case 7:
      m = { type: 'forward', op, request: readRequest(r) };
      break;
    case 8:
      m = { type: 'forwardReply', op, result: readResult(r) };
      break;
    case 9: {
      const merkle = decodeMerkleMessage(r.bytesUvarint());
      if (merkle.op !== op) malformed(`merkle message op ${merkle.op} in a message of op ${op}`);
      m = { type: 'merkle', op, merkle };
      break;
    }
    case 13: {
      const cursor = readOptionalPosition(r);
      const n = r.uvarint();
      if (n < 1 || n > limits.dynamoMoveRangesCountMax) malformed(`${n} ranges in a move fetch`);
      const ranges: TokenRange[] = [];
      for (let i = 0; i < n; i++) ranges.push({ start: r.i64(), end: r.i64() });
      m = { type: 'moveFetch', op, cursor, ranges };
      break;
    }
    case 14: {
      const push = readFlag(r);
      const next = readOptionalPosition(r);
      const n = r.uvarint();
      // Each entry takes at least two bytes: a count past what is left is a lie, refused before any loop.
      if (n > r.remaining / 2) malformed(`${n} entries in a move page of ${r.remaining} bytes`);
      const entries: MoveEntry[] = [];
      for (let i = 0; i < n; i++) {
        const key = readKey(r);
        const state = r.bytesUvarint();
        Versioned.decode(state); // checked in full here, so the receiver merges only well-formed states
        entries.push({ key, state });
      }
      m = { type: 'movePage', op, push, next, entries };
      break;
    }
    case 12:
      m = { type: 'movePageAck', op };
      break;
    case 15: {
      const key = readKey(r);
      const sel = r.u8();
      if (sel > 5) malformed(`row selection ${sel}`);
      if (sel === 2) m = { type: 'rowRead', op, key, sel: { kind: 'tail' } };
      else if (sel === 5) m = { type: 'rowRead', op, key, sel: { kind: 'fore' } };
      else if (sel === 4) {
        const n = r.uvarint();
        if (n > limits.dynamoRecentRowsCountMax)
          malformed(`${n} recent elements named, max ${limits.dynamoRecentRowsCountMax}`);
        const recent: ByteString[] = [];
        for (let i = 0; i < n; i++) {
          const at = r.position;
          const e = readElement(r);
          if (e.length > limits.lsmKeyBytesMax) malformed(`a recent element of ${e.length} bytes at offset ${at}`);
          recent.push(e);
        }
        m = { type: 'rowRead', op, key, sel: { kind: 'tail', recent } };
      } else if (sel === 3) {
        const bounded = r.u8();
        if (bounded > 1) malformed(`a tail page's bound byte ${bounded}`);
        let before: ByteString | undefined;
        if (bounded === 1) {
          const at = r.position;
          before = readElement(r);
          if (before.length === 0 || before.length > limits.lsmKeyBytesMax)
            malformed(`a tail page before an element of ${before.length} bytes at offset ${at}`);
        }
        const count = r.uvarint();
        if (count < 1 || count > limits.dynamoRowsPageCountMax) malformed(`a page of ${count} rows asked for`);
        m = { type: 'rowRead', op, key, sel: { kind: 'last', before, count } };
      } else if (sel === 1) {
        const at = r.position;
        const from = readElement(r);
        if (from.length > limits.lsmKeyBytesMax) malformed(`a page start of ${from.length} bytes at offset ${at}`);
        const count = r.uvarint();
        if (count < 1 || count > limits.dynamoRowsPageCountMax) malformed(`a page of ${count} rows asked for`);
        m = { type: 'rowRead', op, key, sel: { kind: 'page', from, count } };
      } else m = { type: 'rowRead', op, key, sel: { kind: 'named', elements: readNamed(r) } };
      break;
    }
    case 16: {
      const state = readState(r);
      const hasRows = r.u8();
      if (hasRows > 3) malformed(`hasRows byte ${hasRows}`);
      if (hasRows === 0) {
        m = { type: 'rowReadReply', op, state, rows: null };
        break;
      }
      const { schema, count } = readMarker(r);
      const rows = decodeDecomposed(r.bytesUvarint(), schema);
      if (rows.kind !== 'page' && rows.kind !== 'rows')
        malformed(`a row read answered with a ${rows.kind}, neither named rows nor a page`);
      const digest = hasRows >= 2 ? { digest: r.u64() } : {};
      let recent: { recent: Extract<DecodedMessage, { kind: 'rows' }> } | Record<string, never> = {};
      if (hasRows === 3) {
        const n = r.uvarint();
        if (n > 2 * limits.dynamoRecentRowsCountMax)
          malformed(`${n} recent rows, max ${2 * limits.dynamoRecentRowsCountMax}`);
        if (n === 0) {
          const context = rows.kind === 'page' ? rows.page.context : rows.context;
          recent = { recent: { kind: 'rows', elements: [], rows: new Map(), context } };
        } else {
          const named = decodeDecomposed(r.bytesUvarint(), schema);
          if (named.kind !== 'rows') malformed(`recent rows answered as a ${named.kind}`);
          if (named.elements.length !== n) malformed(`${named.elements.length} recent rows where ${n} were said`);
          recent = { recent: named };
        }
      }
      m = {
        type: 'rowReadReply',
        op,
        state,
        rows: { schema, count, rows: rows as RowsAnswer['rows'], ...digest, ...recent },
      };
      break;
    }
    case 18:
      m = { type: 'rowsOffer', op, key: readKey(r), state: readState(r) };
      break;
    case 19: {
      const key = readKey(r);
      const state = readState(r);
      const { schema, count } = readMarker(r);
      const rows = decodeDecomposed(r.bytesUvarint(), schema);
      if (rows.kind !== 'rows') malformed(`a rows repair bringing a ${rows.kind}, not named rows`);
      m = { type: 'rowsRepair', op, key, state, rows: { schema, count, rows } };
      break;
    }
    case 17: {
      const key = readKey(r);
      const state = readState(r);
      const { schema } = readMarker(r);
      let clear: CausalContext | null = null;
      if (readFlag(r)) {
        const c = decodeDecomposed(r.bytesUvarint(), schema);
        if (c.kind !== 'clear') malformed(`a ${c.kind} where a delta message's clear goes`);
        clear = c.context;
      }
      const n = r.uvarint();
      if (n > DELTAS_COUNT_MAX || n > r.remaining) malformed(`${n} deltas in one message`);
      const deltas: DecomposedDelta[] = [];
      for (let i = 0; i < n; i++) {
        const d = decodeDecomposed(r.bytesUvarint(), schema);
        if (d.kind !== 'delta') malformed(`a ${d.kind} where a delta goes`);
        deltas.push(d.delta);
      }
      m = { type: 'delta', op, key, state, schema, clear, deltas };
      break;
    }
    default:
      throw new ProtocolError('dynamo_bad_type', `message type ${tag}`, { type: tag });
  }
  r.expectEnd('dynamo message');
  return m;
}

function readNamed(r: ByteReader): Uint8Array[] {
  const n = r.uvarint();
  if (n < 1 || n > limits.storeSetMembersCountMax) malformed(`${n} elements in a row read`);
  const elements: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const e = r.bytesUvarint();
    if (e.length > limits.kvValueBytesMax) malformed(`element of ${e.length} bytes`);
    elements.push(e);
  }
  return elements;
}

function readMarker(r: ByteReader): CollectionMarker {
  const c = decodeCrdt(r.bytesUvarint());
  if (!(c instanceof CollectionMarker)) malformed('a collection marker that is another CRDT');
  return c;
}

function readFlag(r: ByteReader): boolean {
  const b = r.u8();
  if (b > 1) malformed(`flag byte ${b}`);
  return b === 1;
}

/** A scan position: a token's 8 bytes, a key, and the engine's successor byte at most. */
const POSITION_BYTES_MAX = limits.kvKeyBytesMax + 9;

function readOptionalPosition(r: ByteReader): Uint8Array | null {
  if (!readFlag(r)) return null;
  const position = r.bytesUvarint();
  if (position.length > POSITION_BYTES_MAX)
    malformed(`scan position of ${position.length} bytes, max ${POSITION_BYTES_MAX}`);
  return position;
}

function readKey(r: ByteReader): Uint8Array {
  const key = r.bytesUvarint();
  if (key.length > limits.kvKeyBytesMax) malformed(`key of ${key.length} bytes, max ${limits.kvKeyBytesMax}`);
  return key;
}

function readNodeId(r: ByteReader): NodeId {
  const id = r.stringUvarint();
  const n = utf8ByteLength(id);
  if (n < 1 || n > limits.nodeIdBytesMax) malformed(`node id of ${n} bytes`);
  return id;
}

function readState(r: ByteReader): Versioned {
  return Versioned.decode(r.bytesUvarint());
}

function readLevel(r: ByteReader): Level {
  const tag = r.u8();
  if (tag === 0) {
    const count = r.uvarint();
    if (count < 1 || count > limits.ringReplicasCountMax) malformed(`level count ${count}`);
    return count;
  }
  if (tag > 4) malformed(`level tag ${tag}`);
  return LEVEL_BY_TAG[tag]!;
}

function readRequest(r: ByteReader): ClientRequest {
  const kind = r.u8();
  if (kind > 4) malformed(`request kind ${kind}`);
  const key = readKey(r);
  const level = readLevel(r);
  if (kind === 0) return { kind: 'get', key, level };
  if (kind === 3) {
    const sel = r.u8();
    if (sel === 2) {
      const front = r.uvarint();
      if (front < 1 || front > limits.storeCollectionChangesCountMax) malformed(`a read of the first ${front} rows`);
      return { kind: 'rows', key, level, elements: null, front };
    }
    if (sel === 3) return { kind: 'rows', key, level, elements: null, back: true };
    if (sel === 5) return { kind: 'rows', key, level, elements: null, fore: true };
    if (sel === 4) {
      const last = r.uvarint();
      if (last < 1 || last > limits.storeCollectionChangesCountMax) malformed(`a read of the last ${last} rows`);
      return { kind: 'rows', key, level, elements: null, last };
    }
    if (sel > 5) malformed(`row selection ${sel}`);
    return { kind: 'rows', key, level, elements: sel === 1 ? null : readNamed(r) };
  }
  const valueTag = r.u8();
  let value: Uint8Array | null = null;
  let op: TypedOp | undefined;
  let expiresAtMs: number | undefined;
  if (valueTag === 7) {
    const deadline = r.u64();
    if (deadline < 1n || deadline > BigInt(Number.MAX_SAFE_INTEGER)) malformed(`expiry deadline ${deadline}`);
    expiresAtMs = Number(deadline);
  }
  if (valueTag === 1 || valueTag === 7) {
    value = r.bytesUvarint();
    if (value.length > limits.kvValueBytesMax)
      malformed(`value of ${value.length} bytes, max ${limits.kvValueBytesMax}`);
  } else if (valueTag === 2) op = { type: 'incr', by: r.i64() };
  else if (valueTag === 8) {
    const deadline = r.u64();
    if (deadline > BigInt(Number.MAX_SAFE_INTEGER)) malformed(`expiry deadline ${deadline}`);
    op = { type: 'expire', expiresAtMs: Number(deadline) };
  } else if ((valueTag >= 3 && valueTag <= 6) || valueTag === 9 || valueTag === 10) {
    const type = OP_BY_TAG[valueTag]!;
    const paired = type === 'hset' || type === 'zset' || type === 'list';
    const max =
      type === 'zset' || type === 'list' ? limits.storeCollectionChangesCountMax : limits.storeSetMembersCountMax;
    const n = r.uvarint();
    if (n < 1 || n > max) malformed(`${n} members in a ${type} operation`);
    if (paired && n % 2 !== 0) malformed(`${type.toUpperCase()} with a key and no value`);
    const members: Uint8Array[] = [];
    for (let i = 0; i < n; i++) {
      const m = r.bytesUvarint();
      if (m.length > typedMemberBytesMax(type, i)) malformed(`member of ${m.length} bytes`);
      if (i % 2 === 1 && type === 'zset' && m.length !== 8 && m.length !== 0) malformed('a score not of 8 bytes');
      if (i % 2 === 1 && type === 'list' && (m.length === 0 || m[0]! > 1 || (m[0] === 0 && m.length !== 1)))
        malformed('a list change neither an insert nor a remove');
      members.push(m);
    }
    op = { type, members };
  } else if (valueTag !== 0) malformed(`value tag ${valueTag}`);
  if ((kind === 2 || kind === 4) && op !== undefined) malformed('a typed operation sent as a write over what is held');
  const context = VectorClock.decodeFrom(r, limits.dvvEntriesCountMax);
  const ts = readHlc(r);
  return {
    kind: 'put',
    key,
    value,
    context,
    level,
    ts,
    ...(kind === 2 ? { overHeld: true } : kind === 4 ? { overHeld: true, checked: true } : {}),
    ...(op === undefined ? {} : { op }),
    ...(expiresAtMs === undefined ? {} : { expiresAtMs }),
  };
}

function readResult(r: ByteReader, shownAllowed = true): ClientResult {
  const ok = r.u8();
  if (ok === 18 && shownAllowed) {
    // The count an emptied marker shows by the answering replica's rows, then the result whose
    // state's chosen sibling is that marker.
    const count = r.uvarint();
    if (count < 1 || count > DEFAULT_CRDT_BOUNDS.elementsCountMax) malformed(`a shown count of ${count}`);
    const inner = readResult(r, false);
    if (!inner.ok) malformed('a shown count before an error');
    const top = inner.state.chosen();
    const marker = top === undefined ? undefined : markerOf(top.value, top.crdt);
    if (marker === undefined || marker.count !== 0) malformed('a shown count whose state shows no emptied collection');
    const state = inner.state.withShown({ ...top!, value: new CollectionMarker(marker.schema, count).encode() });
    return { ...inner, state };
  }
  if (ok === 1) return { ok: true, state: readState(r) };
  if ((ok >= 2 && ok <= 9) || (ok >= 11 && ok <= 17 && ok % 2 === 1)) {
    const fore = ok >= 10;
    const flags = fore ? ok - 8 : ok;
    const lacking = flags >= 6 ? ({ lacking: true } as const) : {};
    const kind = flags >= 6 ? flags - 4 : flags;
    const state = readState(r);
    const { schema, count } = readMarker(r);
    const view = decodeCrdt(r.bytesUvarint());
    const fits =
      (schema.type === 'orset' && view instanceof ORSet) || (view instanceof ORMap && schemaEqual(view.schema, schema));
    if (!fits) malformed("a collection view that is not of its marker's schema");
    const exact = kind >= 4 ? ({ exact: true } as const) : {};
    if (kind === 2 || kind === 4)
      return { ok: true, state, collection: { view: view as CollectionCrdt, count, ...exact, ...lacking } };
    const edge = r.bytesUvarint();
    if (edge.length > limits.lsmKeyBytesMax) malformed(`a list's edge element of ${edge.length} bytes`);
    const at = fore ? { before: edge } : { after: edge };
    return { ok: true, state, collection: { view: view as CollectionCrdt, count, ...at, ...exact, ...lacking } };
  }
  if (ok !== 0) malformed(`flag byte ${ok}`);
  const code = r.stringUvarint();
  if (code.length < 1 || code.length > ERROR_CODE_BYTES_MAX || !Object.hasOwn(errorCatalogue, code)) {
    malformed(`error code ${JSON.stringify(code.slice(0, ERROR_CODE_BYTES_MAX))} is not in the catalogue`);
  }
  const definite = readFlag(r);
  const retriable = readFlag(r);
  const message = r.stringUvarint();
  if (utf8ByteLength(message) > limits.forwardedErrorMessageBytesMax) malformed('error message over its bound');
  // The catalogue fixes the flags of most codes; the wire's flags count only where it says 'depends'.
  const error = new BaristaError(code as ErrorCode, message, { definite, retriable } as never);
  return { ok: false, error };
}
