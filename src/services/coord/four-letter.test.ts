// Goal: the four-letter words print ZooKeeper 3.8's lines (captured from Debian's 3.8.0 server:
// same labels, order and separators, so parsers of its output read ours), and the whitelist
// refuses with ZooKeeper's sentence.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { coordConfigSchema } from './config.ts';
import { type FourLetterStats, fourLetterReply, zookeeperCompatVersion } from './four-letter.ts';

const stats: FourLetterStats = {
  mode: 'follower',
  zxid: 0x1f,
  nodeCount: 5,
  ephemeralsCount: 1,
  watchCount: 2,
  sessions: 1,
  connections: [{ remoteAddress: '127.0.0.1:51732', queued: 0, received: 1, sent: 0 }],
  outstanding: 0,
  packetsReceived: 3,
  packetsSent: 2,
  latencyMinMs: 0,
  latencyAvgMs: 0,
  latencyMaxMs: 4,
  approximateDataSize: 44,
  uptimeMs: 6048,
  authFailed: 0,
  clientPort: 21899,
  dataDir: '/tmp/n1',
  serverId: 'n1',
  hostName: 'localhost',
  env: { 'os.name': 'Linux' },
};

test('srvr and stat: ZooKeeper 3.8 lines, in its order', () => {
  const all = coordConfigSchema.parse({ fourLetterWords: ['*'] });
  assert.equal(
    fourLetterReply('srvr', all, () => stats),
    `Zookeeper version: ${zookeeperCompatVersion}\nLatency min/avg/max: 0/0.0/4\nReceived: 3\nSent: 2\nConnections: 1\n` +
      'Outstanding: 0\nZxid: 0x1f\nMode: follower\nNode count: 5\n',
  );
  const stat = fourLetterReply('stat', all, () => stats);
  assert.ok(stat.includes('\nClients:\n /127.0.0.1:51732[1](queued=0,recved=1,sent=0)\n\nLatency min/avg/max: '), stat);
  const leader = fourLetterReply('srvr', all, () => ({ ...stats, mode: 'leader' }));
  assert.ok(leader.endsWith('Mode: leader\nNode count: 5\nProposal sizes last/min/max: -1/-1/-1\n'));
});

test('mntr: tab-separated zk_ keys; conf and envi: key=value; ruok: imok', () => {
  const all = coordConfigSchema.parse({});
  const mntr = fourLetterReply('mntr', all, () => stats);
  const rows = new Map(
    mntr
      .trimEnd()
      .split('\n')
      .map((l) => l.split('\t') as [string, string]),
  );
  assert.equal(rows.get('zk_server_state'), 'follower');
  assert.equal(rows.get('zk_znode_count'), '5');
  assert.equal(rows.get('zk_avg_latency'), '0.0');
  for (const [k, v] of rows) assert.match(`${k}\t${v}`, /^zk_[a-z_]+\t\S/);
  const conf = fourLetterReply('conf', all, () => stats);
  assert.ok(conf.includes('\ntickTime=2000\n') && conf.includes('\nminSessionTimeout=4000\nmaxSessionTimeout=40000\n'));
  assert.ok(fourLetterReply('envi', all, () => stats).startsWith('Environment:\nzookeeper.version='));
  assert.equal(
    fourLetterReply('ruok', all, () => stats),
    'imok',
  );
});

test('the whitelist refuses with ZooKeeper sentence, without gathering stats', () => {
  const only = coordConfigSchema.parse({ fourLetterWords: ['ruok'] });
  const never = (): FourLetterStats => assert.fail('stats gathered for a refused word');
  assert.equal(fourLetterReply('mntr', only, never), 'mntr is not executed because it is not in the whitelist.\n');
  assert.equal(fourLetterReply('dump', only, never), 'dump is not executed because it is not in the whitelist.\n');
  assert.equal(fourLetterReply('ruok', only, never), 'imok');
});

test('latency fields as ZooKeeper 3.8 prints them (captured: 0/23.8333/106); mntr keys in its order; srst resets', () => {
  const all = coordConfigSchema.parse({ fourLetterWords: ['*'] });
  const busy = { ...stats, latencyMinMs: 0, latencyAvgMs: 23.8333, latencyMaxMs: 106 };
  assert.ok(fourLetterReply('srvr', all, () => busy).includes('\nLatency min/avg/max: 0/23.8333/106\nReceived: '));
  const mntr = fourLetterReply('mntr', all, () => busy);
  // Real 3.8 mntr, first rows (captured from Debian's 3.8.0); ours are these, in this order, less
  // the ones we do not keep (TLS, file descriptors, response sizes, the ServerMetrics registry).
  const real = [
    'zk_version',
    'zk_server_state',
    'zk_ephemerals_count',
    'zk_num_alive_connections',
    'zk_avg_latency',
    'zk_outstanding_requests',
    'zk_znode_count',
    'zk_global_sessions',
    'zk_non_mtls_remote_conn_count',
    'zk_last_client_response_size',
    'zk_packets_sent',
    'zk_packets_received',
    'zk_max_client_response_size',
    'zk_connection_drop_probability',
    'zk_watch_count',
    'zk_auth_failed_count',
    'zk_min_latency',
    'zk_max_file_descriptor_count',
    'zk_approximate_data_size',
    'zk_open_file_descriptor_count',
    'zk_local_sessions',
    'zk_uptime',
    'zk_max_latency',
  ];
  const rows = mntr
    .trimEnd()
    .split('\n')
    .map((l) => l.split('\t') as [string, string]);
  const keys = rows.map(([k]) => k);
  assert.deepEqual(
    keys,
    real.filter((k) => keys.includes(k)),
    'a subsequence of the real order',
  );
  for (const k of [
    'zk_min_latency',
    'zk_avg_latency',
    'zk_max_latency',
    'zk_num_alive_connections',
    'zk_outstanding_requests',
    'zk_znode_count',
    'zk_watch_count',
    'zk_ephemerals_count',
    'zk_approximate_data_size',
  ])
    assert.ok(keys.includes(k), k);
  const m = new Map(rows);
  assert.deepEqual(
    [m.get('zk_min_latency'), m.get('zk_avg_latency'), m.get('zk_max_latency')],
    ['0', '23.8333', '106'],
  );
  let resets = 0;
  const srstOnly = coordConfigSchema.parse({ fourLetterWords: ['srst'] });
  assert.equal(
    fourLetterReply(
      'srst',
      srstOnly,
      () => busy,
      () => resets++,
    ),
    'Server stats reset.\n',
  );
  assert.equal(resets, 1);
  assert.equal(
    fourLetterReply(
      'srst',
      coordConfigSchema.parse({}),
      () => busy,
      () => resets++,
    ),
    'srst is not executed because it is not in the whitelist.\n',
  );
  assert.equal(resets, 1, 'not in the default whitelist: refused without a reset');
});
