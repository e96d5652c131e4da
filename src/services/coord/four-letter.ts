// The text of the four-letter words the coord service answers on its client port (ruok, srvr,
// stat, conf, envi, mntr, srst), laid out line for line as ZooKeeper 3.8 prints them so monitoring tools
// that parse ZooKeeper's output (`Mode: leader`, `zk_server_state\tleader`, ...) parse ours. The
// numbers are ours: zxids are coord-group log indexes, latencies this node's (request-latency.ts).
// A word not in the whitelist gets ZooKeeper's refusal line. Pure: the caller gathers a snapshot
// of the numbers, and does the reset `srst` asks for.

import { fourLetterWordAllowed, type CoordConfig } from './config.ts';

/** What we say we are, where ZooKeeper prints its version (tools split it at '-' and ','). */
export const zookeeperCompatVersion = '3.8.0-baristas, built on 1970-01-01 00:00 UTC';

export interface ConnectionLine {
  readonly remoteAddress: string;
  readonly queued: number;
  readonly received: number;
  readonly sent: number;
}

export interface FourLetterStats {
  readonly mode: 'leader' | 'follower' | 'observer' | 'standalone';
  readonly zxid: number;
  readonly nodeCount: number;
  readonly ephemeralsCount: number;
  readonly watchCount: number;
  readonly sessions: number;
  readonly connections: readonly ConnectionLine[];
  readonly outstanding: number;
  readonly packetsReceived: number;
  readonly packetsSent: number;
  readonly latencyMinMs: number;
  readonly latencyAvgMs: number;
  readonly latencyMaxMs: number;
  readonly approximateDataSize: number;
  readonly uptimeMs: number;
  readonly authFailed: number;
  /** Leader only: voters other than itself, and those caught up. */
  readonly followers?: number;
  readonly syncedFollowers?: number;
  readonly clientPort: number;
  readonly dataDir: string;
  readonly serverId: string;
  readonly hostName: string;
  readonly env: Readonly<Record<string, string>>;
}

/** The reply to a four-letter word (ZooKeeper closes the connection after it). */
export function fourLetterReply(
  word: string,
  config: CoordConfig,
  stats: () => FourLetterStats,
  resetStats: () => void = () => {},
): string {
  if (!fourLetterWordAllowed(config, word)) return `${word} is not executed because it is not in the whitelist.\n`;
  switch (word) {
    case 'ruok':
      return 'imok';
    case 'srst':
      // ServerStats.reset(): latency and the packet counters (StatResetCommand).
      resetStats();
      return 'Server stats reset.\n';
    case 'srvr':
      return serverLines(stats(), false);
    case 'stat':
      return serverLines(stats(), true);
    case 'conf':
      return confLines(config, stats());
    case 'envi':
      return enviLines(stats());
    case 'mntr':
      return mntrLines(stats());
    default:
      return `${word} is not executed because it is not in the whitelist.\n`;
  }
}

function serverLines(s: FourLetterStats, withClients: boolean): string {
  const lines = [`Zookeeper version: ${zookeeperCompatVersion}`];
  if (withClients) {
    lines.push('Clients:');
    for (const c of s.connections)
      lines.push(` /${c.remoteAddress}[1](queued=${c.queued},recved=${c.received},sent=${c.sent})`);
    lines.push('');
  }
  lines.push(
    `Latency min/avg/max: ${s.latencyMinMs}/${javaDouble(s.latencyAvgMs)}/${s.latencyMaxMs}`,
    `Received: ${s.packetsReceived}`,
    `Sent: ${s.packetsSent}`,
    `Connections: ${s.connections.length}`,
    `Outstanding: ${s.outstanding}`,
    `Zxid: 0x${s.zxid.toString(16)}`,
    `Mode: ${s.mode}`,
    `Node count: ${s.nodeCount}`,
  );
  if (s.mode === 'leader') lines.push('Proposal sizes last/min/max: -1/-1/-1');
  return `${lines.join('\n')}\n`;
}

function confLines(c: CoordConfig, s: FourLetterStats): string {
  const min = c.minSessionTimeoutMs ?? 2 * c.tickTimeMs;
  const max = c.maxSessionTimeoutMs ?? 20 * c.tickTimeMs;
  const lines = [
    `clientPort=${s.clientPort}`,
    'secureClientPort=-1',
    `dataDir=${s.dataDir}`,
    `dataLogDir=${s.dataDir}`,
    `tickTime=${c.tickTimeMs}`,
    `maxClientCnxns=${c.listen['zookeeper']?.connectionsPerAddressMax ?? 0}`,
    `minSessionTimeout=${min}`,
    `maxSessionTimeout=${max}`,
    'clientPortListenBacklog=-1',
    `serverId=${s.serverId}`,
  ];
  return `${lines.join('\n')}\n`;
}

function enviLines(s: FourLetterStats): string {
  const lines = ['Environment:', `zookeeper.version=${zookeeperCompatVersion}`, `host.name=${s.hostName}`];
  for (const [k, v] of Object.entries(s.env)) lines.push(`${k}=${v}`);
  return `${lines.join('\n')}\n`;
}

function mntrLines(s: FourLetterStats): string {
  const rows: [string, string | number][] = [
    ['zk_version', zookeeperCompatVersion],
    ['zk_server_state', s.mode],
    ['zk_ephemerals_count', s.ephemeralsCount],
    ['zk_num_alive_connections', s.connections.length],
    ['zk_avg_latency', javaDouble(s.latencyAvgMs)],
    ['zk_outstanding_requests', s.outstanding],
    ['zk_znode_count', s.nodeCount],
    ['zk_global_sessions', s.sessions],
    ['zk_packets_sent', s.packetsSent],
    ['zk_packets_received', s.packetsReceived],
    ['zk_watch_count', s.watchCount],
    ['zk_auth_failed_count', s.authFailed],
    ['zk_min_latency', s.latencyMinMs],
    ['zk_approximate_data_size', s.approximateDataSize],
    ['zk_local_sessions', 0],
    ['zk_uptime', s.uptimeMs],
    ['zk_max_latency', s.latencyMaxMs],
  ];
  if (s.mode === 'leader') {
    rows.push(['zk_followers', s.followers ?? 0], ['zk_synced_followers', s.syncedFollowers ?? 0]);
    rows.push(['zk_pending_syncs', 0]);
  }
  return rows.map(([k, v]) => `${k}\t${v}\n`).join('');
}

/**
 * Java's Double.toString for the non-negative values printed here, already rounded to 4 decimals
 * by the caller as ZooKeeper's getAvg does (0.0, 1.5, 23.8333).
 */
export function javaDouble(x: number): string {
  if (!Number.isFinite(x) || x < 0) return '0.0';
  const s = String(x);
  return s.includes('.') || s.includes('e') ? s : `${s}.0`;
}
