// The token ring of the Dynamo-style store: which nodes hold which keys, and how that changes
// when a node joins or leaves. An immutable, versioned value; the metadata group stores it (one
// Raft entry, encoded below) and every node computes preference lists from its copy.
//
// Model (Dynamo §4.2-4.3, Cassandra's TokenMetadata):
//   - Each node owns a set of tokens (virtual nodes). The sorted tokens cut the ring into ranges:
//     range i is (token[i-1], token[i]], and range 0 wraps: (last token, first token]. A key
//     belongs to the range of the first token >= its token, wrapping to range 0; a key's token is
//     its Redis Cluster slot's (slots.ts keyToken), so a slot never straddles two ranges.
//   - The preference list of a range is the first N distinct *physical* nodes met walking
//     clockwise from the range's token (a node's other vnodes are skipped), or every node when
//     there are fewer than N.
//   - At most one move at a time: one node `joining` (its tokens are known but it owns nothing
//     yet) or `leaving` (it still owns its ranges). The *natural* ring (normal + leaving nodes)
//     answers reads and writes; the *future* ring (normal + joining nodes) is what the ring
//     becomes when the move completes. A key's *pending* replicas are its future replicas that are
//     not natural ones: writes go to natural + pending during a move (Cassandra's pending ranges),
//     so the future owners miss nothing written while the old data streams to them.
//   - Every change returns a new Ring with `version` one higher; a refused change throws
//     RingChangeError (code ring_change_rejected, fields.reason) and changes nothing.
//
// Movement (planMove): with the move begun, for every range of the union of both rings' tokens,
// the new replicas that are not old ones receive the range by a stream from an old replica
// (preferring the replica that loses the range, as Cassandra's strict bootstrap does, so the new
// copy is the data it replaces). Order: 1. begin the move (writes reach pending replicas);
// 2. run every stream; 3. completeMove (reads and writes switch to the new replicas); 4. drops:
// old replicas that no longer own a range delete it. Each range is then held by at least
// min(N, nodes) replicas at every step (test: ring.test.ts).
//
// Encoding (all integers big-endian; uvarint = UNSIGNED_VARINT as in src/lib/bytes.ts):
//   ring      = format version nodeCount node* [settings]
//   format    = u8                 ; 1: no settings; 2: settings follow the nodes
//   version   = uvarint            ; the ring's version
//   nodeCount = uvarint            ; 0..clusterNodesMax
//   node      = id state tokenCount token*
//   id        = uvarint length (1..nodeIdBytesMax) + UTF-8 ; nodes strictly ascending by id
//   state     = u8                 ; 0 normal, 1 joining, 2 leaving; at most one node not normal
//   tokenCount= uvarint            ; 1..ringNodeTokensCountMax
//   token     = i64                ; strictly ascending within a node, > TOKEN_MIN, distinct ring-wide
//   settings  = replicas layout    ; the keyspace's settings (format 2 only)
//   replicas  = uvarint            ; N, 1..ringReplicasCountMax
//   layout    = u8                 ; how collections are kept: 0 whole, 1 rows
// Keyspace settings: what every node of the keyspace must be configured alike with (N, the layout
// of collections), recorded once (bootstrap, or the first node of a newer build to see a ring
// without them) and never changed after: every later ring carries them unchanged (the ring
// namespace refuses a proposal that changes them), and a node configured otherwise refuses to
// serve (src/services/store/keyspace-settings.ts). A format-1 ring (written before settings
// existed) decodes with none.
// A joining node needs another node owning the ring; a leaving node needs another node to take
// over. Untrusted bytes never reach an assert: each rule broken is a ProtocolError
// (ring_bad_version, ring_malformed, or the reader's truncated / trailing_bytes / invalid_utf8...).

import { lowerBound } from '../lib/sorted.ts';
import type { NodeId, Rng } from '../env/types.ts';
import { assert } from '../lib/assert.ts';
import { ByteReader, ByteWriter, bytesEqual, utf8ByteLength } from '../lib/bytes.ts';
import { BaristaError, ProtocolError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import { TOKEN_MAX, TOKEN_MIN, type Token } from './partitioner.ts';
import { keyToken } from './slots.ts';

export type NodeState = 'normal' | 'joining' | 'leaving';

/** The keyspace's settings every node must share (see the header). */
export interface KeyspaceSettings {
  /** N: replicas of each key. */
  readonly replicas: number;
  /** How sets, hashes, lists and sorted sets are kept (store.replication.collections). */
  readonly collections: 'whole' | 'rows';
}

const LAYOUT_CODES = ['whole', 'rows'] as const;

export interface RingNode {
  readonly id: NodeId;
  readonly state: NodeState;
  /** Ascending. */
  readonly tokens: readonly Token[];
}

/** The tokens (start, end]; wraps past TOKEN_MAX when start >= end; start === end is the whole ring. */
export interface TokenRange {
  readonly start: Token;
  readonly end: Token;
}

export type RingChangeReason =
  | 'node_exists'
  | 'node_unknown'
  | 'token_taken'
  | 'bad_node_id'
  | 'bad_tokens'
  | 'too_many_nodes'
  | 'move_in_progress'
  | 'no_move'
  | 'empty_ring'
  | 'last_node'
  | 'settings_fixed';

/** A ring change refused by the current ring. Only `move_in_progress` is worth retrying (later). */
export class RingChangeError extends BaristaError<'ring_change_rejected'> {
  override readonly name = 'RingChangeError';
  readonly reason: RingChangeReason;
  constructor(reason: RingChangeReason, message: string, fields: Record<string, unknown> = {}) {
    super('ring_change_rejected', message, {
      retriable: reason === 'move_in_progress',
      fields: { reason, ...fields },
    });
    this.reason = reason;
  }
}

/** The format of a ring without keyspace settings (every ring written before they existed). */
export const RING_FORMAT_VERSION = 1;
/** The format of a ring carrying keyspace settings. */
export const RING_FORMAT_SETTINGS = 2;
const STATE_CODES: readonly NodeState[] = ['normal', 'joining', 'leaving'];
const RING_SPAN = 1n << 64n;

/** Tokens sorted with their owners: one ring's view (natural or future). */
class TokenTable {
  readonly tokens: readonly Token[];
  readonly owners: readonly NodeId[];
  readonly nodeCount: number;
  /** Per N: the preference list of each range index, computed on first use. */
  private readonly lists = new Map<number, readonly (readonly NodeId[])[]>();

  constructor(nodes: readonly RingNode[]) {
    const pairs: Array<[Token, NodeId]> = [];
    for (const node of nodes) for (const t of node.tokens) pairs.push([t, node.id]);
    pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    this.tokens = pairs.map((p) => p[0]);
    this.owners = pairs.map((p) => p[1]);
    this.nodeCount = nodes.length;
  }

  /** Index of the range holding `token`: the first token >= it, wrapping to 0. */
  rangeIndex(token: Token): number {
    const lo = lowerBound(this.tokens, token);
    return lo === this.tokens.length ? 0 : lo;
  }

  range(i: number): TokenRange {
    const t = this.tokens;
    return { start: t[(i - 1 + t.length) % t.length]!, end: t[i]! };
  }

  /** The preference list of range i: the first n distinct owners walking clockwise from it. */
  replicasAt(i: number, n: number): readonly NodeId[] {
    let table = this.lists.get(n);
    if (table === undefined) {
      table = this.tokens.map((_, j) => this.walk(j, n));
      this.lists.set(n, table);
    }
    return table[i]!;
  }

  private walk(from: number, n: number): readonly NodeId[] {
    const want = Math.min(n, this.nodeCount);
    const out: NodeId[] = [];
    const count = this.tokens.length;
    for (let k = 0; k < count && out.length < want; k++) {
      const owner = this.owners[(from + k) % count]!;
      if (!out.includes(owner)) out.push(owner);
    }
    return out;
  }

  replicasOf(token: Token, n: number): readonly NodeId[] {
    return this.tokens.length === 0 ? [] : this.replicasAt(this.rangeIndex(token), n);
  }

  /** Every node in clockwise order from `token` (not cached: up to nodes x tokens entries). */
  successorsOf(token: Token): readonly NodeId[] {
    return this.tokens.length === 0 ? [] : this.walk(this.rangeIndex(token), this.nodeCount);
  }
}

function checkReplicas(n: number): void {
  assert(
    Number.isSafeInteger(n) && n >= 1 && n <= limits.ringReplicasCountMax,
    `replicas (N) must be 1..${limits.ringReplicasCountMax}: ${n}`,
  );
}

export class Ring {
  readonly version: number;
  /** Sorted by id. */
  private readonly nodeList: readonly RingNode[];
  private naturalTable: TokenTable | undefined;
  private futureTable: TokenTable | undefined;
  private allTable: TokenTable | undefined;
  private readonly movingNode: RingNode | undefined;
  /** The keyspace's settings, once recorded (absent on a ring written before they existed). */
  readonly settings: KeyspaceSettings | undefined;

  private constructor(version: number, nodes: readonly RingNode[], settings: KeyspaceSettings | undefined) {
    this.version = version;
    this.nodeList = nodes;
    this.movingNode = nodes.find((n) => n.state !== 'normal');
    this.settings = settings;
  }

  static empty(): Ring {
    return new Ring(0, [], undefined);
  }

  // --- queries ----------------------------------------------------------------------------------

  get nodes(): readonly RingNode[] {
    return this.nodeList;
  }

  node(id: NodeId): RingNode | undefined {
    return this.nodeList.find((n) => n.id === id);
  }

  /** The joining or leaving node, if a move is in progress. */
  get moving(): RingNode | undefined {
    return this.movingNode;
  }

  /** Nodes that own ranges now (normal and leaving). */
  get naturalNodes(): readonly NodeId[] {
    return this.nodeList.filter((n) => n.state !== 'joining').map((n) => n.id);
  }

  private natural(): TokenTable {
    this.naturalTable ??= new TokenTable(this.nodeList.filter((n) => n.state !== 'joining'));
    return this.naturalTable;
  }

  private future(): TokenTable {
    this.futureTable ??= new TokenTable(this.nodeList.filter((n) => n.state !== 'leaving'));
    return this.futureTable;
  }

  private all(): TokenTable {
    this.allTable ??= new TokenTable(this.nodeList);
    return this.allTable;
  }

  /** The preference list of a token: reads go here, and writes (plus pendingReplicas). */
  replicas(token: Token, n: number): readonly NodeId[] {
    checkReplicas(n);
    return this.natural().replicasOf(token, n);
  }

  /**
   * Every owning node in clockwise order from `token`: the first N are its preference list, the
   * rest are the fallbacks a sloppy quorum hands a hint to (Dynamo §4.6), nearest first.
   */
  successors(token: Token): readonly NodeId[] {
    return this.natural().successorsOf(token);
  }

  /** Future replicas of a token that are not natural ones (empty unless a move is in progress). */
  pendingReplicas(token: Token, n: number): readonly NodeId[] {
    checkReplicas(n);
    if (this.moving === undefined) return [];
    const natural = this.natural().replicasOf(token, n);
    return this.future()
      .replicasOf(token, n)
      .filter((id) => !natural.includes(id));
  }

  /**
   * Where a key lives: its token, its preference list, and its pending replicas. The key's token is
   * its Redis Cluster slot's token (slots.ts keyToken: hash tags apply), so every key of a slot has
   * the same owner and preference list and a cluster-aware client's slot map holds for every key.
   */
  locate(key: Uint8Array, n: number): { token: Token; replicas: readonly NodeId[]; pending: readonly NodeId[] } {
    const token = keyToken(key);
    return { token, replicas: this.replicas(token, n), pending: this.pendingReplicas(token, n) };
  }

  /** The natural ring's ranges in token order, each with its preference list. */
  rangeReplicas(n: number): Array<{ range: TokenRange; replicas: readonly NodeId[] }> {
    checkReplicas(n);
    const table = this.natural();
    return table.tokens.map((_, i) => ({ range: table.range(i), replicas: table.replicasAt(i, n) }));
  }

  /** The ranges `node` replicates (as one of the N) in the natural ring, in token order. */
  rangesOf(node: NodeId, n: number): TokenRange[] {
    return this.rangeReplicas(n)
      .filter((r) => r.replicas.includes(node))
      .map((r) => r.range);
  }

  /** Fraction of the token space each natural node replicates with N replicas (sums to min(N, nodes)). */
  ownership(n: number): Map<NodeId, number> {
    const out = new Map<NodeId, number>(this.naturalNodes.map((id) => [id, 0]));
    for (const { range, replicas } of this.rangeReplicas(n)) {
      const share = Number(rangeWidth(range)) / Number(RING_SPAN);
      for (const id of replicas) out.set(id, out.get(id)! + share);
    }
    return out;
  }

  // --- changes ----------------------------------------------------------------------------------

  /**
   * Adds a node that owns its ranges at once, without streaming: only for forming a new cluster
   * (no data yet). A node joining a ring that holds data uses beginJoin.
   */
  bootstrap(id: NodeId, tokens: readonly Token[]): Ring {
    this.checkNewNode(id, tokens);
    this.checkNoMove();
    return this.with([...this.nodeList, { id, state: 'normal', tokens: sortedTokens(tokens) }]);
  }

  /** Starts a join: `id` becomes a pending replica of the ranges its tokens will take. */
  beginJoin(id: NodeId, tokens: readonly Token[]): Ring {
    this.checkNewNode(id, tokens);
    this.checkNoMove();
    if (this.nodeList.length === 0) {
      throw new RingChangeError('empty_ring', `node ${id} cannot join an empty ring (bootstrap it)`, { node: id });
    }
    return this.with([...this.nodeList, { id, state: 'joining', tokens: sortedTokens(tokens) }]);
  }

  /** Starts a decommission: `id` keeps its ranges until completeMove, its successors become pending. */
  beginLeave(id: NodeId): Ring {
    const node = this.node(id);
    if (node === undefined) throw new RingChangeError('node_unknown', `node ${id} is not on the ring`, { node: id });
    this.checkNoMove();
    if (this.nodeList.length === 1) {
      throw new RingChangeError('last_node', `node ${id} is the last node on the ring`, { node: id });
    }
    return this.with(this.nodeList.map((n) => (n.id === id ? { ...n, state: 'leaving' } : n)));
  }

  /** Ends the move: a joining node becomes normal, a leaving node leaves the ring. */
  completeMove(): Ring {
    const moving = this.moving;
    if (moving === undefined) throw new RingChangeError('no_move', 'no move in progress');
    if (moving.state === 'leaving') return this.with(this.nodeList.filter((n) => n.id !== moving.id));
    return this.with(this.nodeList.map((n) => (n.id === moving.id ? { ...n, state: 'normal' } : n)));
  }

  /** Cancels the move: a joining node is removed, a leaving node stays as a normal node. */
  abortMove(): Ring {
    const moving = this.moving;
    if (moving === undefined) throw new RingChangeError('no_move', 'no move in progress');
    if (moving.state === 'joining') return this.with(this.nodeList.filter((n) => n.id !== moving.id));
    return this.with(this.nodeList.map((n) => (n.id === moving.id ? { ...n, state: 'normal' } : n)));
  }

  private with(nodes: RingNode[]): Ring {
    nodes.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return new Ring(this.version + 1, nodes, this.settings);
  }

  /**
   * The ring with the keyspace's settings recorded (one version later). Settings are recorded
   * once: a ring that has them refuses other ones (RingChangeError settings_fixed).
   */
  withSettings(settings: KeyspaceSettings): Ring {
    checkSettings(settings);
    if (this.settings !== undefined) {
      if (settingsEqual(this.settings, settings)) return this;
      throw new RingChangeError('settings_fixed', `the keyspace's settings are ${describeSettings(this.settings)}`, {
        settings: this.settings,
      });
    }
    return new Ring(this.version + 1, this.nodeList, {
      replicas: settings.replicas,
      collections: settings.collections,
    });
  }

  private checkNoMove(): void {
    const moving = this.moving;
    if (moving !== undefined) {
      throw new RingChangeError('move_in_progress', `node ${moving.id} is ${moving.state}; one move at a time`, {
        node: moving.id,
      });
    }
  }

  private checkNewNode(id: NodeId, tokens: readonly Token[]): void {
    const idBytes = utf8ByteLength(id);
    if (idBytes < 1 || idBytes > limits.nodeIdBytesMax) {
      throw new RingChangeError('bad_node_id', `node id must be 1..${limits.nodeIdBytesMax} bytes`, { node: id });
    }
    if (this.node(id) !== undefined) {
      throw new RingChangeError('node_exists', `node ${id} is already on the ring`, { node: id });
    }
    if (this.nodeList.length >= limits.clusterNodesMax) {
      throw new RingChangeError('too_many_nodes', `the ring has ${limits.clusterNodesMax} nodes`, { node: id });
    }
    if (tokens.length < 1 || tokens.length > limits.ringNodeTokensCountMax) {
      throw new RingChangeError('bad_tokens', `a node needs 1..${limits.ringNodeTokensCountMax} tokens`, {
        node: id,
        tokenCount: tokens.length,
      });
    }
    const seen = new Set<Token>();
    for (const t of tokens) {
      if (!(t > TOKEN_MIN && t <= TOKEN_MAX) || seen.has(t)) {
        throw new RingChangeError('bad_tokens', `token ${t} is out of range or repeated`, { node: id });
      }
      seen.add(t);
    }
    for (const n of this.nodeList) {
      for (const t of n.tokens) {
        if (seen.has(t)) {
          throw new RingChangeError('token_taken', `token ${t} belongs to ${n.id}`, { node: id, owner: n.id });
        }
      }
    }
  }

  // --- encoding ---------------------------------------------------------------------------------

  encode(writer: ByteWriter = new ByteWriter()): Uint8Array {
    const settings = this.settings;
    writer.u8(settings === undefined ? RING_FORMAT_VERSION : RING_FORMAT_SETTINGS);
    writer.uvarint(this.version).uvarint(this.nodeList.length);
    for (const node of this.nodeList) {
      writer.stringUvarint(node.id).u8(STATE_CODES.indexOf(node.state)).uvarint(node.tokens.length);
      for (const t of node.tokens) writer.i64(t);
    }
    if (settings !== undefined) writer.uvarint(settings.replicas).u8(LAYOUT_CODES.indexOf(settings.collections));
    return writer.finish();
  }

  equals(other: Ring): boolean {
    return bytesEqual(this.encode(), other.encode());
  }

  /** Decodes an encoded ring from untrusted bytes (see the grammar at the top). */
  static decode(bytes: Uint8Array): Ring {
    const r = new ByteReader(bytes);
    const format = r.u8();
    if (format !== RING_FORMAT_VERSION && format !== RING_FORMAT_SETTINGS) {
      throw new ProtocolError(
        'ring_bad_version',
        `ring format ${format}, this build reads ${RING_FORMAT_VERSION} and ${RING_FORMAT_SETTINGS}`,
        { format },
      );
    }
    const version = r.uvarint();
    const count = r.uvarint();
    if (count > limits.clusterNodesMax) malformed(`ring has ${count} nodes, max ${limits.clusterNodesMax}`);
    const nodes: RingNode[] = [];
    const allTokens = new Set<Token>();
    let moving = 0;
    for (let i = 0; i < count; i++) {
      const id = r.stringUvarint();
      const idBytes = utf8ByteLength(id);
      if (idBytes < 1 || idBytes > limits.nodeIdBytesMax) malformed(`node id of ${idBytes} bytes`);
      if (i > 0 && !(nodes[i - 1]!.id < id)) malformed('nodes not strictly ascending by id');
      const code = r.u8();
      const state = STATE_CODES[code];
      if (state === undefined) malformed(`node state ${code}`);
      if (state !== 'normal') moving++;
      const tokenCount = r.uvarint();
      if (tokenCount < 1 || tokenCount > limits.ringNodeTokensCountMax) {
        malformed(`node has ${tokenCount} tokens, allowed 1..${limits.ringNodeTokensCountMax}`);
      }
      const tokens: Token[] = [];
      for (let j = 0; j < tokenCount; j++) {
        const t = r.i64();
        if (t === TOKEN_MIN) malformed('the minimum token is reserved');
        if (j > 0 && !(tokens[j - 1]! < t)) malformed('tokens not strictly ascending');
        if (allTokens.has(t)) malformed(`token ${t} owned twice`);
        allTokens.add(t);
        tokens.push(t);
      }
      nodes.push({ id, state, tokens });
    }
    let settings: KeyspaceSettings | undefined;
    if (format === RING_FORMAT_SETTINGS) {
      const replicas = r.uvarint();
      if (replicas < 1 || replicas > limits.ringReplicasCountMax)
        malformed(`${replicas} replicas, allowed 1..${limits.ringReplicasCountMax}`);
      const code = r.u8();
      const collections = LAYOUT_CODES[code];
      if (collections === undefined) malformed(`layout of collections ${code}`);
      settings = { replicas, collections };
    }
    r.expectEnd('ring');
    if (moving > 1) malformed(`${moving} nodes moving, at most one`);
    if (moving === 1 && count === 1) malformed('a moving node with no other node on the ring');
    return new Ring(version, nodes, settings);
  }

  // --- movement -----------------------------------------------------------------------------------

  /** The ranges cut by every token on the ring (both rings' boundaries), with old and new replicas. */
  transitions(n: number): Array<{ range: TokenRange; from: readonly NodeId[]; to: readonly NodeId[] }> {
    checkReplicas(n);
    const all = this.all();
    const natural = this.natural();
    const future = this.future();
    return all.tokens.map((end, i) => ({
      range: all.range(i),
      from: natural.replicasOf(end, n),
      to: future.replicasOf(end, n),
    }));
  }
}

function checkSettings(s: KeyspaceSettings): void {
  assert(Number.isSafeInteger(s.replicas) && s.replicas >= 1 && s.replicas <= limits.ringReplicasCountMax, 'replicas');
  assert(LAYOUT_CODES.includes(s.collections), 'collections');
}

/** Whether two nodes configured with `a` and `b` may serve one keyspace (the layout counts at N > 1 only). */
export function settingsEqual(a: KeyspaceSettings, b: KeyspaceSettings): boolean {
  return a.replicas === b.replicas && (a.replicas === 1 || a.collections === b.collections);
}

/** "replicas 3, collections rows" (the layout only at N > 1, where it counts). */
export function describeSettings(s: KeyspaceSettings): string {
  return s.replicas === 1 ? 'replicas 1' : `replicas ${s.replicas}, collections ${s.collections}`;
}

function malformed(message: string): never {
  throw new ProtocolError('ring_malformed', message);
}

function sortedTokens(tokens: readonly Token[]): Token[] {
  return [...tokens].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Number of tokens in a range (2^64 for the whole ring). */
export function rangeWidth(range: TokenRange): bigint {
  const w = (range.end - range.start + RING_SPAN) % RING_SPAN;
  return w === 0n ? RING_SPAN : w;
}

export function rangeContains(range: TokenRange, token: Token): boolean {
  if (range.start < range.end) return token > range.start && token <= range.end;
  return token > range.start || token <= range.end; // wraps (or the whole ring)
}

/** `count` fresh random tokens for a new node: none taken on `ring`, none repeated, none TOKEN_MIN. */
export function chooseTokens(rng: Rng, count: number, ring: Ring): Token[] {
  assert(
    Number.isSafeInteger(count) && count >= 1 && count <= limits.ringNodeTokensCountMax,
    `token count must be 1..${limits.ringNodeTokensCountMax}: ${count}`,
  );
  const taken = new Set<Token>();
  for (const node of ring.nodes) for (const t of node.tokens) taken.add(t);
  const out: Token[] = [];
  while (out.length < count) {
    const b = rng.bytes(8);
    let v = 0n;
    for (const byte of b) v = (v << 8n) | BigInt(byte);
    const t = BigInt.asIntN(64, v);
    if (t === TOKEN_MIN || taken.has(t)) continue; // probability ~2^-54 per draw: the loop ends
    taken.add(t);
    out.push(t);
  }
  return out;
}

// --- movement plans -------------------------------------------------------------------------------

/** Copy `range` from a replica that holds it to a node that will. */
export interface Stream {
  readonly range: TokenRange;
  readonly from: NodeId;
  readonly to: NodeId;
}

/** A replica that stops owning `range` when the move completes, and deletes it afterwards. */
export interface Drop {
  readonly range: TokenRange;
  readonly node: NodeId;
}

export interface MovePlan {
  readonly kind: 'join' | 'leave';
  readonly node: NodeId;
  /** N the plan was computed for. */
  readonly replicas: number;
  /** The version of the ring (with the move begun) the plan belongs to. */
  readonly ringVersion: number;
  /** Step 2, while writes reach natural + pending replicas: every stream, in any order. */
  readonly streams: readonly Stream[];
  /** Step 4, after completeMove: every drop. */
  readonly drops: readonly Drop[];
}

/**
 * The streams and drops of the move in progress on `ring` for N = `n`. Ranges are those cut by
 * every token of both rings, in token order; a gaining replica streams from the old replica that
 * loses the range when there is one (the joining node's predecessor in the list, or the leaving
 * node), else from the first old replica.
 */
export function planMove(ring: Ring, n: number): MovePlan {
  const moving = ring.moving;
  if (moving === undefined) throw new RingChangeError('no_move', 'no move in progress to plan');
  const streams: Stream[] = [];
  const drops: Drop[] = [];
  for (const { range, from, to } of ring.transitions(n)) {
    const gainers = to.filter((id) => !from.includes(id));
    const losers = from.filter((id) => !to.includes(id));
    gainers.forEach((id, k) => {
      streams.push({ range, from: losers[k] ?? from[0]!, to: id });
    });
    for (const id of losers) drops.push({ range, node: id });
  }
  return {
    kind: moving.state === 'joining' ? 'join' : 'leave',
    node: moving.id,
    replicas: n,
    ringVersion: ring.version,
    streams,
    drops,
  };
}
