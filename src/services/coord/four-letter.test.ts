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
