// A tiny stand-in protocol for benchmarks and engine tests while the real ones are being written:
// every node sends a heartbeat to every peer each `periodMs`, peers echo it back, and the sender
// records round trips. It touches every Env facility the real drivers will (timers, transport,
// clock, rng, disk, metrics), so it exercises the simulator the way they will.
//
// Wire format (big-endian): heartbeat = [0:u8 kind=1][1..4 seq u32][5..12 sentMs f64][padding];
// echo = the same bytes with kind=2.

import type { Env, NodeId } from '../env/types.ts';
import { MessageType } from '../lib/message-types.ts';
import type { Simulation } from './simulation.ts';

export interface HeartbeatOptions {
  /** Heartbeat period per node, in the node's monotonic ms. */
  readonly periodMs: number;
  /** Extra payload bytes per heartbeat (random, from the node's Rng). */
  readonly paddingBytes?: number;
  /** Append each echo's sequence number to a log file, syncing every `syncEvery` appends (0 = no disk). */
  readonly syncEvery?: number;
}

export interface HeartbeatNode {
  readonly id: NodeId;
  /** Heartbeats sent, echoes received, and echoes received per peer. */
  readonly sent: number;
  readonly echoes: number;
  readonly lastEchoMsFrom: ReadonlyMap<NodeId, number>;
  stop(): void;
}

const headerBytes = 13;

export function heartbeatProgram(peers: readonly NodeId[], options: HeartbeatOptions): (env: Env) => HeartbeatNode {
  return (env) => {
    const others = peers.filter((p) => p !== env.nodeId);
    const lastEchoMsFrom = new Map<NodeId, number>();
    const rtt = env.metrics.histogram('sim_heartbeat_rtt_ms', 'heartbeat round trip');
    if (options.syncEvery) env.disk.mkdirp('hb');
    const file = options.syncEvery ? env.disk.open('hb/echoes', { create: true }) : undefined;
    const padding = env.rng.bytes(options.paddingBytes ?? 0);
    let seq = 0;
    let appended = 0;
    const state = {
      id: env.nodeId,
      sent: 0,
      echoes: 0,
      lastEchoMsFrom,
      stop: () => timer.cancel(),
    };
    env.transport.onMessage((m) => {
      if (m.type !== MessageType.TestEcho || m.payload.length < headerBytes) return;
      const view = new DataView(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength);
      if (m.payload[0] === 1) {
        const echo = m.payload.slice();
        echo[0] = 2;
        env.transport.send(m.from, MessageType.TestEcho, echo);
        return;
      }
      state.echoes++;
      const now = env.clock.monotonicMs();
      rtt.observe(now - view.getFloat64(5));
      lastEchoMsFrom.set(m.from, now);
      if (file) {
        file.append(m.payload.subarray(1, 5));
        if (++appended % options.syncEvery! === 0) file.sync();
      }
    });
    const timer = env.timers.every(options.periodMs, () => {
      const payload = new Uint8Array(headerBytes + padding.length);
      const view = new DataView(payload.buffer);
      payload[0] = 1;
      view.setUint32(1, seq++);
      view.setFloat64(5, env.clock.monotonicMs());
      payload.set(padding, headerBytes);
      for (const peer of others) {
        env.transport.send(peer, MessageType.TestEcho, payload);
        state.sent++;
      }
    });
    return state;
  };
}

/**
 * The heartbeat cluster's liveness condition: every node is up and has heard an echo from every
 * peer since `sinceLocalMs.get(id)` on its own monotonic clock (take it with `localTimes` at heal).
 */
export function heartbeatConverged(sim: Simulation<HeartbeatNode>, sinceLocalMs: ReadonlyMap<NodeId, number>): boolean {
  const ids = sim.nodeIds;
  return ids.every((id) => {
    const node = sim.instance(id);
    const since = sinceLocalMs.get(id) ?? Number.POSITIVE_INFINITY;
    return node !== undefined && ids.every((p) => p === id || (node.lastEchoMsFrom.get(p) ?? -1) > since);
  });
}

/** Each node's monotonic clock reading now. */
export function localTimes<S>(sim: Simulation<S>): Map<NodeId, number> {
  return new Map(sim.nodeIds.map((id) => [id, sim.clock(id).monotonicMs()]));
}
