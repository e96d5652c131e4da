// Ring moves at the replica: the streaming step of a join or a decommission (ring.ts planMove;
// Cassandra's bootstrap and decommission streams). Pure and synchronous like replica.ts, which owns
// one MoveRunner and feeds it the ring, its ticks and the move messages (messages.ts 10-12).
//
// Who streams: the moving node, always. In a join every stream goes TO the joining node (it is the
// only gainer), from the old replica that loses the range (strict bootstrap: the copy it receives
// is the one it replaces, so a write acknowledged by the loser alone is not left behind); in a
// decommission every stream goes FROM the leaving node (the only loser) to the range's new
// replica. So the moving node pulls (join: moveFetch -> movePage) or pushes (leave: movePage with
// push = 1 -> movePageAck), one transfer per peer, one page in flight per transfer.
//
// Rules this file keeps:
//   - A page is acknowledged only once durable at the receiver: the puller sends its next fetch,
//     and the pushed-to node its movePageAck, in the output of the step that merged the page, which
//     the driver holds until store.sync() (replica.ts' contract). A transfer whose last page was
//     merged here counts as done only at a LATER tick, after that step's sync.
//   - The receiver merges an entry only for a key it replicates (natural or pending) on its own
//     ring; merging is idempotent, so a page sent twice (a lost answer, a retry) is harmless.
//   - Streams wait `delayTicks` after the move began (Cassandra's RING_DELAY): a coordinator still
//     on the ring from before the move may be finishing a write that reaches only old replicas;
//     after the delay, every write also reaches the pending replicas (replica.ts), so nothing
//     written after a page was copied is missed.
//   - A source or target that is down is waited for (the copy must come from the replica losing
//     the range); the operator can abort the move (ring.ts abortMove). An answer not seen within
//     `timeoutTicks` sends the same page (or fetch) again.
//   - A server answers a fetch only from a ring node (a joining node is one) and reads at most
//     `scanEntriesMax` stored values per page, stopping early past limits.dynamoMovePageBytesMax.
//   - A collection kept in rows (replica-rows.ts) does not travel in its key's state: for each such
//     key a page brings, the receiver pulls the rows from the page's sender (deps.pullRows) and the
//     page counts as merged only once every pull ended well: a pushed page is acknowledged then,
//     and a puller fetches the next page then. At most dynamoRowPullsCountMax pulls run at once
//     (replica.ts): a page's keys past that wait for slots, started as pulls end. A pull that
//     fails leaves the page unmerged: the pusher sends it again after its timeout, the puller
//     fetches it again. A pushed page sent again while its pulls run is the same page (its sender
//     and first key): the pulls go on, and the ack goes under the new op.
//   - After completeMove the old replicas keep their copies (Cassandra's `nodetool cleanup` is a
//     separate step); reads and anti-entropy follow the ring, so a copy no node is a replica of is
//     never read.

import type { NodeId } from '../env/types.ts';
import { limits } from '../lib/limits.ts';
import type { Mutations } from '../lib/mutations.ts';
import { TokenRangeSet } from './merkle.ts';
import type { MoveEntry, ReplicaMessage } from './messages.ts';
import { planMove, type Ring, type TokenRange } from './ring.ts';
import { keyToken } from './slots.ts';
import { keyString, type ReplicaStore, valuePosition } from './store.ts';
import { Versioned } from './versions.ts';

/** A page entry's framing in a movePage message beyond its key and state (two length varints). */
const MOVE_ENTRY_OVERHEAD_BYTES = 16;
/** A movePage message's own fields and the envelope around it (op, push, next cursor, count). */
const MOVE_PAGE_OVERHEAD_BYTES = 64 * 1024;

export interface MoveRunnerDeps {
  readonly id: NodeId;
  /** N. */
  readonly replicas: number;
  readonly store: ReplicaStore;
  readonly isUp: (node: NodeId) => boolean;
  readonly send: (to: NodeId, message: ReplicaMessage) => void;
  /** Merges one streamed state into the local store; false when a bound refused it. */
  readonly merge: (key: Uint8Array, state: Versioned) => boolean;
  readonly newOp: () => number;
  /** 'dynamo-move-no-stream': every transfer counts as done at once (the simulator's negative control). */
  readonly mutations: Mutations;
  /**
   * After a merge: pulls `key`'s rows from `from` if its state holds a collection marker (the rows
   * layout). A pull id (onPullEnd tells its end), null when there is nothing to pull, 'busy' when
   * no pull can start now. Absent: nothing is ever pulled.
   */
  readonly pullRows?: (from: NodeId, key: Uint8Array) => string | null | 'busy';
}

export interface MoveRunnerConfig {
  /** Ticks between the move's start (as this node saw it) and its first page. */
  readonly delayTicks: number;
  /** A page or fetch without its answer after this many ticks is sent again. */
  readonly timeoutTicks: number;
  /** Stored values one page reads (the event loop's share per page). */
  readonly scanEntriesMax: number;
}

export interface TransferProgress {
  readonly peer: NodeId;
  /** pull: this node fetches from peer; push: this node sends to peer. */
  readonly direction: 'pull' | 'push';
  readonly ranges: number;
  readonly pages: number;
  readonly entries: number;
  readonly bytes: number;
  readonly retries: number;
  readonly done: boolean;
}

export interface MoveProgress {
  readonly kind: 'join' | 'leave';
  readonly node: NodeId;
  /** The ring version the plan was made on. */
  readonly ringVersion: number;
  /** Ticks left before the first page (the ring delay). */
  readonly delayTicksLeft: number;
  readonly transfers: readonly TransferProgress[];
  /** Every transfer done and durable: the move may complete. */
  readonly done: boolean;
}

export interface MoveStats {
  pagesServed: number;
  entriesServed: number;
  pagesMerged: number;
  entriesMerged: number;
  /** Streamed entries for keys this node does not replicate on its ring (not merged). */
  entriesSkipped: number;
  /** Streamed entries a bound refused (not merged; the page is still acknowledged). */
  entriesRefused: number;
  /** Fetches and pages sent again after a timeout. */
  retries: number;
  /** Move messages from nodes off this node's ring, or answers to nothing in flight. */
  ignored: number;
}

interface Transfer {
  readonly peer: NodeId;
  readonly direction: 'pull' | 'push';
  readonly ranges: readonly TokenRange[];
  readonly rangeSet: TokenRangeSet;
  /** Where the next page starts (null: from the first key; the end is finishedTick, not a null cursor). */
  cursor: Uint8Array | null;
  /** The page or fetch in flight: its op, where the page after it starts (push), its deadline. */
  inflight:
    | {
        readonly op: number;
        readonly next: Uint8Array | null;
        readonly deadlineTick: number;
        /** A pushed page's entries and bytes, counted once it is acknowledged (not at each sending). */
        readonly entries?: number;
        readonly bytes?: number;
      }
    | undefined;
  /** The tick the last page was merged or acknowledged; done counts from the tick after it. */
  finishedTick: number | undefined;
  pages: number;
  entries: number;
  bytes: number;
  retries: number;
}

/**
 * A page merged whose rows are still being pulled: what to do once every pull ended well. Its
 * keys are pulled as slots free (at most dynamoRowPullsCountMax pulls run at once: a page may
 * bring more keys than that), so one wait per page in flight: at most one per transfer.
 */
interface RowsWait {
  /** The page: its sender and first key (a pushed page sent again is the same page). */
  readonly page: string;
  readonly from: NodeId;
  /** Pulls started and not ended. */
  readonly left: Set<string>;
  /** Keys whose pull has not started yet (no slot). */
  readonly queued: Uint8Array[];
  /** Every key the page brought to pull (keyString), in any of its sendings. */
  readonly keys: Set<string>;
  /** A pushed page's ack to send, or a pulled page's transfer to advance. */
  done:
    | { readonly kind: 'ack'; readonly op: number }
    | {
        readonly kind: 'advance';
        readonly t: Transfer;
        readonly next: Uint8Array | null;
        readonly entries: readonly MoveEntry[];
      };
}

interface ActiveMove {
  /** Which move: the node, its state, its tokens (a move aborted and begun again is another). */
  readonly identity: string;
  readonly kind: 'join' | 'leave';
  readonly node: NodeId;
  readonly ringVersion: number;
  readonly startTick: number;
  readonly transfers: Transfer[];
}

/** A page's identity among pages waiting for rows: pushed or pulled, its sender and first key (an empty page: none). */
function pageId(from: NodeId, push: boolean, entries: readonly MoveEntry[]): string {
  return `${push ? 'push' : 'pull'}\0${from}\0${entries.length === 0 ? '' : keyString(entries[0]!.key)}`;
}

/** Adjacent ranges (one's end is the next one's start) merged, in the order given. */
function coalesce(ranges: readonly TokenRange[]): TokenRange[] {
  const out: TokenRange[] = [];
  for (const r of ranges) {
    const last = out[out.length - 1];
    if (last !== undefined && last.end === r.start && last.start !== r.end)
      out[out.length - 1] = { ...last, end: r.end };
    else out.push(r);
  }
  return out;
}

export class MoveRunner {
  readonly stats: MoveStats = {
    pagesServed: 0,
    entriesServed: 0,
    pagesMerged: 0,
    entriesMerged: 0,
    entriesSkipped: 0,
    entriesRefused: 0,
    retries: 0,
    ignored: 0,
  };
  private ring: Ring;
  private move: ActiveMove | undefined;
  private nowTick = 0;
  /** Pages waiting for their rows, by pull id. */
  private readonly waits = new Map<string, Set<RowsWait>>();
  /** Every page waiting for its rows, by RowsWait.page, in the order they came. */
  private readonly pending = new Map<string, RowsWait>();

  constructor(
    private readonly deps: MoveRunnerDeps,
    private readonly config: MoveRunnerConfig,
    ring: Ring,
  ) {
    this.ring = ring;
    this.setRing(ring);
  }

  /** A newer ring: a move of this node begins (its plan), goes on, or ends (completed or aborted). */
  setRing(ring: Ring): void {
    this.ring = ring;
    const moving = ring.moving;
    if (moving === undefined || moving.id !== this.deps.id) {
      this.endMove();
      return;
    }
    const identity = `${moving.id}/${moving.state}/${moving.tokens.join(',')}`;
    if (this.move?.identity === identity) return;
    this.endMove();
    const plan = planMove(ring, this.deps.replicas);
    const byPeer = new Map<string, { peer: NodeId; direction: 'pull' | 'push'; ranges: TokenRange[] }>();
    for (const s of plan.streams) {
      const pull = s.to === this.deps.id;
      if (!pull && s.from !== this.deps.id) continue; // never the case (see the header); not ours to run
      const peer = pull ? s.from : s.to;
      const key = `${pull ? 'pull' : 'push'}/${peer}`;
      let t = byPeer.get(key);
      if (t === undefined) byPeer.set(key, (t = { peer, direction: pull ? 'pull' : 'push', ranges: [] }));
      t.ranges.push(s.range);
    }
    const transfers: Transfer[] = [];
    for (const t of byPeer.values()) {
      const ranges = coalesce(t.ranges);
      for (let i = 0; i < ranges.length; i += limits.dynamoMoveRangesCountMax) {
        const part = ranges.slice(i, i + limits.dynamoMoveRangesCountMax);
        transfers.push({
          peer: t.peer,
          direction: t.direction,
          ranges: part,
          rangeSet: new TokenRangeSet(part),
          cursor: null,
          inflight: undefined,
          finishedTick: undefined,
          pages: 0,
          entries: 0,
          bytes: 0,
          retries: 0,
        });
      }
    }
    this.move = {
      identity,
      kind: plan.kind,
      node: plan.node,
      ringVersion: ring.version,
      startTick: this.nowTick,
      transfers,
    };
  }

  /**
   * The move this node ran ends (completed, aborted, or another began): the pages its fetches
   * brought stop waiting for their rows (the pulls under way end on their own; no more start for
   * them). Pushed pages' waits stay: their senders' moves go on.
   */
  private endMove(): void {
    this.move = undefined;
    for (const w of [...this.pending.values()]) if (w.done.kind === 'advance') this.dropWait(w, false);
  }

  /** Pages waiting for their rows (tests). */
  get waitingPages(): number {
    return this.pending.size;
  }

  /** The move this node runs, if any. */
  progress(): MoveProgress | undefined {
    const m = this.move;
    if (m === undefined) return undefined;
    const transfers = m.transfers.map((t) => ({
      peer: t.peer,
      direction: t.direction,
      ranges: t.ranges.length,
      pages: t.pages,
      entries: t.entries,
      bytes: t.bytes,
      retries: t.retries,
      done: this.isDone(t),
    }));
    return {
      kind: m.kind,
      node: m.node,
      ringVersion: m.ringVersion,
      delayTicksLeft: Math.max(0, m.startTick + this.config.delayTicks - this.nowTick),
      transfers,
      done: transfers.every((t) => t.done),
    };
  }

  tick(nowTick: number): void {
    this.nowTick = nowTick;
    const m = this.move;
    if (m === undefined || nowTick < m.startTick + this.config.delayTicks) return;
    for (const t of m.transfers) {
      if (t.inflight !== undefined && t.inflight.deadlineTick <= nowTick) {
        t.inflight = undefined;
        t.retries++;
        this.stats.retries++;
      }
      this.pump(t);
    }
  }

  /** A puller asks for a page: answered from this node's store whatever its own ring says of the move. */
  onFetch(from: NodeId, m: Extract<ReplicaMessage, { type: 'moveFetch' }>): void {
    if (!this.ring.nodes.some((n) => n.id === from)) {
      this.stats.ignored++;
      return;
    }
    const page = this.readPage(m.cursor, new TokenRangeSet(m.ranges));
    this.deps.send(from, { type: 'movePage', op: m.op, push: false, next: page.next, entries: page.entries });
  }

  onPage(from: NodeId, m: Extract<ReplicaMessage, { type: 'movePage' }>): void {
    if (m.push) {
      if (!this.ring.nodes.some((n) => n.id === from)) {
        this.stats.ignored++;
        return;
      }
      const page = pageId(from, true, m.entries);
      const again = this.pending.get(page);
      if (again !== undefined) {
        // Sent again (its ack timed out while the rows were pulled): merged again, and acknowledged
        // under the new op once the pulls already under way end (none starts over: a page whose
        // pulls outlast the ack timeout would never be acknowledged) and those of the keys it did
        // not bring before (read again from the same cursor, it may hold more).
        for (const key of this.mergePage(m.entries)) {
          const id = keyString(key);
          if (again.keys.has(id)) continue;
          again.keys.add(id);
          again.queued.push(key);
        }
        again.done = { kind: 'ack', op: m.op };
        this.startQueued();
        return;
      }
      if (this.pending.size >= limits.dynamoMovePageWaitsCountMax) {
        // Not taken (no ack): the sender sends it again once waits have ended.
        this.stats.ignored++;
        return;
      }
      const skippedBefore = this.stats.entriesSkipped;
      const keys = this.mergePage(m.entries);
      if (this.stats.entriesSkipped > skippedBefore && this.ring.moving?.id !== from) {
        // Entries this node does not replicate on its ring, from a node whose move its ring does
        // not show: its ring is older than the move (a node just restarted, or cut off from the
        // metadata leader), not a reason to drop them. No ack: the sender sends the page again,
        // and the ring will have caught up (acknowledged, the move could complete without them).
        this.stats.ignored++;
        return;
      }
      this.wait(page, from, keys, { kind: 'ack', op: m.op });
      return;
    }
    const t = this.move?.transfers.find((x) => x.direction === 'pull' && x.peer === from && x.inflight?.op === m.op);
    if (t === undefined) {
      this.stats.ignored++;
      return;
    }
    const keys = this.mergePage(m.entries);
    // The fetch stays in flight (no other is sent) until the rows are here; its timeout no longer
    // applies: the wait advances the transfer or, when a pull fails, drops the fetch.
    t.inflight = { ...t.inflight!, deadlineTick: Number.MAX_SAFE_INTEGER };
    this.wait(pageId(from, false, m.entries), from, keys, { kind: 'advance', t, next: m.next, entries: m.entries });
  }

  /**
   * A rows pull ended (replica.ts; any pull, a page's or anti-entropy's: its slot is free). A page
   * whose last pull it was counts as merged (acknowledged, or its transfer advanced); a failed pull
   * drops the page's wait, so the pusher sends it again or the puller fetches it again. Then the
   * pages' keys not pulled yet start, as far as slots allow.
   */
  onPullEnd(pull: string, ok: boolean): void {
    const waiting = this.waits.get(pull);
    this.waits.delete(pull);
    for (const w of waiting ?? []) {
      if (ok) w.left.delete(pull);
      else this.dropWait(w, true);
    }
    this.startQueued();
  }

  /** A page's wait for the pulls of `keys` (the page's merged keys; those without a marker need none). */
  private wait(page: string, from: NodeId, keys: Uint8Array[], done: RowsWait['done']): void {
    this.pending.set(page, { page, from, left: new Set(), queued: keys, keys: new Set(keys.map(keyString)), done });
    this.startQueued();
  }

  /** Starts the pending pages' queued pulls, in order, while slots last; settles every page with none left. */
  private startQueued(): void {
    let busy = false;
    for (const w of [...this.pending.values()]) {
      while (!busy && w.queued.length > 0) {
        const pull = this.deps.pullRows?.(w.from, w.queued[0]!) ?? null;
        if (pull === 'busy') {
          busy = true;
          break;
        }
        w.queued.shift();
        if (pull === null || w.left.has(pull)) continue;
        w.left.add(pull);
        let set = this.waits.get(pull);
        if (set === undefined) this.waits.set(pull, (set = new Set()));
        set.add(w);
      }
      if (w.left.size === 0 && w.queued.length === 0) this.settleWait(w);
    }
  }

  /** Every pull of the page ended well: the page counts as merged. */
  private settleWait(w: RowsWait): void {
    this.dropWait(w, false);
    const then = w.done;
    if (then.kind === 'ack') this.deps.send(w.from, { type: 'movePageAck', op: then.op });
    else if (this.move?.transfers.includes(then.t) === true) {
      then.t.inflight = undefined;
      this.advance(then.t, then.next, then.entries);
      this.pump(then.t);
    }
  }

  /** Forgets a page's wait; failed: a pulled page's fetch is dropped, to go again. */
  private dropWait(w: RowsWait, failed: boolean): void {
    this.pending.delete(w.page);
    for (const p of w.left) this.waits.get(p)?.delete(w);
    w.left.clear();
    w.queued.length = 0;
    if (failed && w.done.kind === 'advance' && w.done.t.inflight !== undefined) {
      w.done.t.inflight = undefined;
      w.done.t.retries++;
      this.stats.retries++;
    }
  }

  onPageAck(from: NodeId, op: number): void {
    const t = this.move?.transfers.find((x) => x.direction === 'push' && x.peer === from && x.inflight?.op === op);
    if (t === undefined) {
      this.stats.ignored++;
      return;
    }
    const { next, entries = 0, bytes = 0 } = t.inflight!;
    t.inflight = undefined;
    t.entries += entries;
    t.bytes += bytes;
    this.advance(t, next, []);
    this.pump(t);
  }

  private isDone(t: Transfer): boolean {
    if (this.deps.mutations.has('dynamo-move-no-stream')) return true;
    return t.finishedTick !== undefined && this.nowTick > t.finishedTick;
  }

  private advance(t: Transfer, next: Uint8Array | null, entries: readonly MoveEntry[]): void {
    t.pages++;
    if (t.direction === 'pull') {
      t.entries += entries.length;
      for (const e of entries) t.bytes += e.key.length + e.state.length;
    }
    t.cursor = next;
    if (next === null) t.finishedTick = this.nowTick;
  }

  /** Sends the transfer's next page or fetch when nothing is in flight and the peer is up. */
  private pump(t: Transfer): void {
    const m = this.move;
    if (m === undefined || this.nowTick < m.startTick + this.config.delayTicks) return;
    // Done is finishedTick (the last page merged or acknowledged). A null cursor is the first page,
    // also when a first fetch or page was lost and goes again (once taken for the end: such a move
    // waited for ever).
    if (t.finishedTick !== undefined || t.inflight !== undefined || !this.deps.isUp(t.peer)) return;
    const op = this.deps.newOp();
    const deadlineTick = this.nowTick + this.config.timeoutTicks;
    if (t.direction === 'pull') {
      t.inflight = { op, next: null, deadlineTick };
      this.deps.send(t.peer, { type: 'moveFetch', op, cursor: t.cursor, ranges: t.ranges });
      return;
    }
    const page = this.readPage(t.cursor, t.rangeSet);
    let bytes = 0;
    for (const e of page.entries) bytes += e.key.length + e.state.length;
    t.inflight = { op, next: page.next, deadlineTick, entries: page.entries.length, bytes };
    this.deps.send(t.peer, { type: 'movePage', op, push: true, next: page.next, entries: page.entries });
  }

  /** Stored values from `cursor` whose token is in `ranges`: one scan, cut at the page's byte target. */
  private readPage(
    cursor: Uint8Array | null,
    ranges: TokenRangeSet,
  ): { entries: MoveEntry[]; next: Uint8Array | null } {
    const scan = this.deps.store.scanValues(cursor, this.config.scanEntriesMax, limits.dynamoMovePageBytesMax);
    const entries: MoveEntry[] = [];
    let bytes = 0;
    for (const e of scan.entries) {
      if (!ranges.has(keyToken(e.key))) continue;
      // Past the page's target, or an entry that would take the page past what a message carries
      // (a merged state of up to dynamoMergedStateBytesMax travels alone): the page ends before it.
      const entryBytes = e.key.length + e.state.length + MOVE_ENTRY_OVERHEAD_BYTES;
      if (
        bytes >= limits.dynamoMovePageBytesMax ||
        (entries.length > 0 && bytes + entryBytes > limits.dynamoMessageBytesMax - MOVE_PAGE_OVERHEAD_BYTES)
      ) {
        this.countServed(entries);
        return { entries, next: valuePosition(e.key) };
      }
      // Copies: the output may wait for a group commit, and a store may hand out views it reuses.
      entries.push({ key: e.key.slice(), state: e.state.slice() });
      bytes += entryBytes;
    }
    this.countServed(entries);
    return { entries, next: scan.next };
  }

  private countServed(entries: readonly MoveEntry[]): void {
    this.stats.pagesServed++;
    this.stats.entriesServed += entries.length;
  }

  /** Merges a page: the keys merged (whose rows may need a pull). */
  private mergePage(entries: readonly MoveEntry[]): Uint8Array[] {
    this.stats.pagesMerged++;
    const merged: Uint8Array[] = [];
    for (const e of entries) {
      const { replicas, pending } = this.ring.locate(e.key, this.deps.replicas);
      if (!replicas.includes(this.deps.id) && !pending.includes(this.deps.id)) {
        this.stats.entriesSkipped++;
        continue;
      }
      if (!this.deps.merge(e.key, Versioned.decode(e.state))) {
        this.stats.entriesRefused++;
        continue;
      }
      this.stats.entriesMerged++;
      if (this.deps.pullRows !== undefined) merged.push(e.key);
    }
    return merged;
  }
}
