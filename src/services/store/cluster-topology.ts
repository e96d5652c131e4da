// What the store tells cluster-aware Redis clients (ioredis Cluster, redis-cli -c,
// redis-benchmark --cluster) about where keys live: Redis Cluster's slot map computed from the
// token ring, in Redis 7.0's reply shapes for CLUSTER SLOTS, SHARDS, NODES and INFO.
//
// Model: a key's slot (src/dynamo/slots.ts) sits at one token, so the ring gives every slot a
// preference list. Consecutive slots with the same list form one entry (a slot range). The first
// node of a list is the range's master; at N > 1 the other replicas are its replica entries. When
// a node is known to be down (membership says `dead`), a range's master is its first live replica,
// so a client refreshing its slot map after a failure sends those keys to a node that can
// coordinate them (every node coordinates every key; at N = 1 a dead owner stays the master and
// its keys fail with -CLUSTERDOWN from whichever node the client reaches).
// No MOVED or ASK is ever sent: a node that does not own a key forwards the command (forward.ts),
// so a client with a stale map is still answered correctly.
//
// Reply shapes (checked against redis-server 7.0.15 with cluster-enabled yes):
//   SLOTS   *[ :start :end *[ $host :port $id map-of-metadata(empty) ] (replica entries)* ]
//   SHARDS  *[ map{ slots: *[:start :end]*, nodes: *[ map{ id, port, ip, endpoint, role,
//           replication-offset, health } ] } ]
//   NODES   verbatim txt: per node "<id> <ip>:<port>@<cport> <flags> <master|-> 0 0 <epoch>
//           connected|disconnected <start-end|slot>*\n"
//   INFO    verbatim txt: cluster_state ... total_cluster_links_buffer_limit_exceeded, CRLF lines.
// Node ids are 40 hex chars derived from the Baristas node id (murmur3), stable across restarts.
// Pure: ring, endpoints and liveness come in.

import { murmur3X64_128 } from '../../dynamo/partitioner.ts';
import type { Ring } from '../../dynamo/ring.ts';
import { SLOT_COUNT, slotToken } from '../../dynamo/slots.ts';
import type { NodeId } from '../../env/types.ts';
import { type RespValue, reply } from '../../wire/resp/index.ts';

const utf8 = new TextEncoder();

/** Where a node's RESP clients connect (announced by each node: announce.ts). */
export interface RespEndpoint {
  readonly host: string;
  readonly port: number;
}

/** One run of consecutive slots with one preference list; `nodes[0]` is its master. */
export interface SlotRange {
  readonly start: number;
  readonly end: number;
  readonly nodes: readonly NodeId[];
}

export interface ClusterView {
  readonly self: NodeId;
  readonly ring: Ring;
  /** N: the length of a slot's preference list. */
  readonly replicas: number;
  /** A node's RESP endpoint; undefined until it announced it. */
  endpoint(id: NodeId): RespEndpoint | undefined;
  /** False only when membership says the node is dead. */
  isUp(id: NodeId): boolean;
  /** Keeps the slot ranges between calls while ring and liveness stay the same (optional). */
  readonly cache?: SlotRangeCache;
}

/**
 * The last slot ranges computed, reused while the ring version, N and the set of dead nodes are
 * unchanged: computing them costs one ring lookup per slot (~5 ms), and clients ask for the map
 * on every connection error and periodically (ioredis: every 5 s per client).
 */
export class SlotRangeCache {
  private key = '';
  private value: SlotRange[] = [];

  ranges(view: ClusterView): SlotRange[] {
    const down = view.ring.nodes.filter((n) => !view.isUp(n.id)).map((n) => n.id);
    const key = `${view.ring.version}/${view.replicas}/${down.join(',')}`;
    if (key !== this.key) {
      this.value = slotRanges(view);
      this.key = key;
    }
    return this.value;
  }
}

/**
 * The slots `view.self` leads (its ranges' master, nodes[0]): at N > 1 SCAN, KEYS, DBSIZE and
 * RANDOMKEY answer the keys of these slots, as a Redis Cluster master answers its own, so a
 * client scanning every master of CLUSTER SLOTS sees each key once. Recomputed when the ranges do.
 */
export class LedSlots {
  private ranges: SlotRange[] | undefined;
  private readonly led = new Uint8Array(SLOT_COUNT);

  constructor(private readonly view: ClusterView) {}

  /** Per slot, 1 when led here; ask once per command (the ranges are looked up per call). */
  current(): Uint8Array {
    const ranges = rangesOf(this.view);
    if (ranges !== this.ranges) {
      this.led.fill(0);
      for (const r of ranges) if (r.nodes[0] === this.view.self) this.led.fill(1, r.start, r.end + 1);
      this.ranges = ranges;
    }
    return this.led;
  }
}

function rangesOf(view: ClusterView): SlotRange[] {
  return view.cache === undefined ? slotRanges(view) : view.cache.ranges(view);
}

/** The 40-hex-char Redis node id of a Baristas node id (two murmur3 halves, seeds 0 and 1). */
export function redisNodeId(id: NodeId): string {
  const bytes = utf8.encode(id);
  const a = murmur3X64_128(bytes, 0);
  const b = murmur3X64_128(bytes, 1);
  const hex = (v: bigint) => v.toString(16).padStart(16, '0');
  return `${hex(a.h1)}${hex(a.h2)}${hex(b.h1).slice(0, 8)}`;
}

/**
 * The ring's slot ranges, with each range's live replicas first (in preference order) when some
 * are down, so the master of a range is its first live replica (or its first replica if none is).
 */
export function slotRanges(view: ClusterView): SlotRange[] {
  const out: SlotRange[] = [];
  if (view.ring.naturalNodes.length === 0) return out;
  // Liveness asked once per node, not once per slot (a membership view is built per call).
  const down = new Set(view.ring.nodes.filter((n) => !view.isUp(n.id)).map((n) => n.id));
  let current: { start: number; nodes: readonly NodeId[] } | undefined;
  for (let s = 0; s < SLOT_COUNT; s++) {
    const list = view.ring.replicas(slotToken(s), view.replicas);
    const live = list.filter((id) => !down.has(id));
    const nodes =
      live.length === 0 || live.length === list.length ? list : [...live, ...list.filter((id) => !live.includes(id))];
    if (current !== undefined && sameList(current.nodes, nodes)) continue;
    if (current !== undefined) out.push({ start: current.start, end: s - 1, nodes: current.nodes });
    current = { start: s, nodes };
  }
  out.push({ start: current!.start, end: SLOT_COUNT - 1, nodes: current!.nodes });
  return out;
}

function sameList(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

/** Slot ranges whose every node has an endpoint (a range missing one is left out: unassigned). */
function servedRanges(view: ClusterView): SlotRange[] {
  return rangesOf(view).filter((r) => r.nodes.every((id) => view.endpoint(id) !== undefined));
}

function nodeEntry(view: ClusterView, id: NodeId): RespValue {
  const ep = view.endpoint(id)!;
  return reply.array([
    reply.bulk(ep.host),
    reply.integer(ep.port),
    reply.bulk(redisNodeId(id)),
    { type: 'map', entries: [] },
  ]);
}

/** CLUSTER SLOTS. */
export function clusterSlots(view: ClusterView): RespValue {
  return reply.array(
    servedRanges(view).map((r) =>
      reply.array([reply.integer(r.start), reply.integer(r.end), ...r.nodes.map((id) => nodeEntry(view, id))]),
    ),
  );
}

/** CLUSTER SHARDS: one shard per distinct preference list (master first), with all its ranges. */
export function clusterShards(view: ClusterView): RespValue {
  const shards = new Map<string, { nodes: readonly NodeId[]; slots: number[] }>();
  for (const r of servedRanges(view)) {
    const key = r.nodes.join('\u0000');
    let shard = shards.get(key);
    if (shard === undefined) shards.set(key, (shard = { nodes: r.nodes, slots: [] }));
    shard.slots.push(r.start, r.end);
  }
  const b = reply.bulk;
  return reply.array(
    [...shards.values()].map((shard) => ({
      type: 'map',
      entries: [
        [b('slots'), reply.array(shard.slots.map((s) => reply.integer(s)))],
        [
          b('nodes'),
          reply.array(
            shard.nodes.map((id, i): RespValue => {
              const ep = view.endpoint(id)!;
              return {
                type: 'map',
                entries: [
                  [b('id'), b(redisNodeId(id))],
                  [b('port'), reply.integer(ep.port)],
                  [b('ip'), b(ep.host)],
                  [b('endpoint'), b(ep.host)],
                  [b('role'), b(i === 0 ? 'master' : 'replica')],
                  [b('replication-offset'), reply.integer(0)],
                  [b('health'), b(view.isUp(id) ? 'online' : 'failed')],
                ],
              };
            }),
          ),
        ],
      ],
    })),
  );
}

/**
 * CLUSTER NODES: every ring node that announced its endpoint, as a master with the slots it is
 * master of (Redis' one-master-per-shard model has no word for a node that is master of some
 * ranges and replica of others, so replicas are not listed as `slave` lines).
 */
export function clusterNodes(view: ClusterView): string {
  const ranges = rangesOf(view);
  let text = '';
  for (const node of view.ring.nodes) {
    const ep = view.endpoint(node.id);
    if (ep === undefined) continue;
    const up = view.isUp(node.id);
    const flags = [...(node.id === view.self ? ['myself'] : []), 'master', ...(up ? [] : ['fail'])].join(',');
    const slots = ranges
      .filter((r) => r.nodes[0] === node.id)
      .map((r) => (r.start === r.end ? `${r.start}` : `${r.start}-${r.end}`));
    const fields = [
      redisNodeId(node.id),
      `${ep.host}:${ep.port}@0`,
      flags,
      '-',
      '0',
      '0',
      String(view.ring.version),
      up ? 'connected' : 'disconnected',
      ...slots,
    ];
    text += `${fields.join(' ')}\n`;
  }
  return text;
}

/** CLUSTER INFO's lines (CRLF-terminated). */
export function clusterInfo(view: ClusterView): string {
  const ranges = servedRanges(view);
  let assigned = 0;
  let ok = 0;
  for (const r of ranges) {
    const count = r.end - r.start + 1;
    assigned += count;
    if (view.isUp(r.nodes[0]!)) ok += count;
  }
  const known = view.ring.nodes.filter((n) => view.endpoint(n.id) !== undefined).length;
  const masters = new Set(ranges.map((r) => r.nodes[0])).size;
  const pairs: Array<[string, string | number]> = [
    ['cluster_state', assigned === SLOT_COUNT && ok === SLOT_COUNT ? 'ok' : 'fail'],
    ['cluster_slots_assigned', assigned],
    ['cluster_slots_ok', ok],
    ['cluster_slots_pfail', 0],
    ['cluster_slots_fail', assigned - ok],
    ['cluster_known_nodes', known],
    ['cluster_size', masters],
    ['cluster_current_epoch', view.ring.version],
    ['cluster_my_epoch', view.ring.version],
    ['cluster_stats_messages_sent', 0],
    ['cluster_stats_messages_received', 0],
    ['total_cluster_links_buffer_limit_exceeded', 0],
  ];
  return pairs.map(([k, v]) => `${k}:${v}\r\n`).join('');
}
