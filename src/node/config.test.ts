// Goal: bad configuration is an error that names the field, never a stack trace or a silent default.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../lib/errors.ts';
import { z } from 'zod';
import { loadNodeConfig, nodeConfigSchemaFor, validateNodeConfig } from './config.ts';
import { registeredServices } from './registry.ts';
import type { AnyServiceDefinition } from './service.ts';
import type { MembershipConfig } from '../services/membership/service.ts';

const good = {
  nodeId: 'n1',
  dataDir: '/tmp/x',
  ports: { peer: 7000, admin: 7001, zookeeper: 7002, resp: 7003 },
  peers: [{ id: 'n2', port: 7010 }],
};

function fieldOf(raw: unknown): string {
  try {
    validateNodeConfig(raw);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return String(err.fields['field']);
  }
  assert.fail('config was accepted');
}

test('a minimal config gets defaults', () => {
  const c = validateNodeConfig(good);
  assert.equal(c.clusterId, 'baristas');
  assert.equal(c.host, '127.0.0.1');
  assert.equal(c.peers[0]!.host, '127.0.0.1');
  assert.equal((c['membership'] as MembershipConfig).heartbeatIntervalMs, 200);
  assert.equal(c.log.level, 'info');
});

test('errors name the bad field', () => {
  assert.equal(fieldOf({ ...good, bogus: 1 }), '(config)');
  assert.equal(fieldOf({ ...good, ports: { peer: 70000, admin: 1 } }), 'ports.peer');
  assert.equal(fieldOf({ ...good, ports: { peer: 7000, admin: 7000 } }), 'ports.admin');
  assert.equal(fieldOf({ ...good, peers: [{ id: 'n2', port: 'x' }] }), 'peers.0.port');
  assert.equal(fieldOf({ ...good, peers: [{ id: 'n1', port: 7010 }] }), 'peers');
  assert.equal(
    fieldOf({
      ...good,
      peers: [
        { id: 'n2', port: 1 },
        { id: 'n2', port: 2 },
      ],
    }),
    'peers.1.id',
  );
  assert.equal(fieldOf({ ...good, nodeId: 'has space' }), 'nodeId');
  assert.equal(
    fieldOf({ ...good, membership: { deadAfterMs: 100, heartbeatIntervalMs: 200 } }),
    'membership.deadAfterMs',
  );
  assert.equal(fieldOf({ ...good, membership: { typo: 1 } }), 'membership');
  const { peers: _omit, ...noPeers } = good;
  assert.equal(fieldOf(noPeers), 'peers');
  // The log holds the entries since a snapshot and those kept behind it: together within half its bound.
  assert.equal(
    fieldOf({ ...good, raft: { snapshotEveryEntries: 400_000, snapshotRetainEntries: 200_000 } }),
    'raft.snapshotEveryEntries',
  );
  assert.equal(
    validateNodeConfig({ ...good, raft: { snapshotEveryEntries: 400_000, snapshotRetainEntries: 100_000 } }).raft
      .snapshotEveryEntries,
    400_000,
  );
});

test('unknown keys are listed in the message', () => {
  assert.throws(() => validateNodeConfig({ ...good, bogus: 1 }), /bogus/);
});

test('config files: YAML and JSON load; unreadable and invalid files are ConfigErrors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'baristas-config-'));
  try {
    const yaml = join(dir, 'n.yaml');
    writeFileSync(
      yaml,
      'nodeId: n1\ndataDir: /tmp/x\nports: { peer: 7000, admin: 7001, zookeeper: 7002, resp: 7003 }\npeers:\n  - { id: n2, port: 7010 }\n',
    );
    assert.equal(loadNodeConfig(yaml).nodeId, 'n1');
    const json = join(dir, 'n.json');
    writeFileSync(json, JSON.stringify(good));
    assert.equal(loadNodeConfig(json).peers.length, 1);
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, 'nodeId: [unclosed');
    assert.throws(() => loadNodeConfig(broken), ConfigError);
    assert.throws(() => loadNodeConfig(join(dir, 'missing.yaml')), /ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('initialClusterState and rejoin: defaults, accepted values, and errors naming the field', () => {
  const c = validateNodeConfig(good);
  assert.equal(c.initialClusterState, 'new');
  assert.equal(c.rejoin, false);
  assert.equal(validateNodeConfig({ ...good, initialClusterState: 'existing' }).initialClusterState, 'existing');
  assert.equal(validateNodeConfig({ ...good, rejoin: true }).rejoin, true);
  assert.equal(fieldOf({ ...good, initialClusterState: 'old' }), 'initialClusterState');
  assert.throws(
    () => validateNodeConfig({ ...good, initialClusterState: 'old' }),
    /initialClusterState: .*new.*existing/,
  );
  assert.equal(fieldOf({ ...good, rejoin: 'yes' }), 'rejoin');
});

test('raft.readOnly: safe by default; lease is reachable; a lease shorter than the heartbeat is refused', () => {
  assert.equal(validateNodeConfig(good).raft.readOnly, 'safe');
  const lease = validateNodeConfig({ ...good, raft: { readOnly: 'lease', leaseClockDriftRateMax: 0.1 } });
  assert.equal(lease.raft.readOnly, 'lease');
  assert.equal(lease.raft.leaseClockDriftRateMax, 0.1);
  assert.equal(fieldOf({ ...good, raft: { readOnly: 'fast' } }), 'raft.readOnly');
  assert.equal(fieldOf({ ...good, raft: { leaseClockDriftRateMax: 0.3 } }), 'raft.leaseClockDriftRateMax');
  // electionTimeoutTicks 4, drift 0.05: a lease of floor(3 * 0.95 / 1.05) = 2 ticks, not above 2.
  assert.equal(
    fieldOf({ ...good, raft: { readOnly: 'lease', electionTimeoutTicks: 4, heartbeatTicks: 2 } }),
    'raft.readOnly',
  );
});

// Issue 8 item 8: a service's section is validated with the node config under its name, and each
// client protocol a service declares needs its own port in the `ports` map.
test('each service validates its own section, and each declared protocol needs a port', () => {
  const resp: AnyServiceDefinition = {
    name: 'redis',
    description: 'test service',
    configSchema: z.strictObject({ databases: z.number().int().min(1).default(16) }),
    messageTypes: [],
    protocols: [{ name: 'fake-resp', wellKnownPort: 6379 }],
    raftGroups: [],
    start: () => ({ stop: () => {} }),
  };
  const schema = nodeConfigSchemaFor([...registeredServices, resp]);
  const field = (raw: unknown): string => {
    try {
      validateNodeConfig(raw, schema);
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return String(err.fields['field']);
    }
    return '(valid)';
  };
  assert.equal(field(good), 'ports.fake-resp');
  const withPort = { ...good, ports: { ...good.ports, 'fake-resp': 7004 } };
  assert.equal(field(withPort), '(valid)');
  assert.equal(validateNodeConfig(withPort, schema)['redis'] !== undefined, true, 'defaults filled');
  assert.deepEqual(validateNodeConfig(withPort, schema)['redis'], { databases: 16 });
  assert.equal(field({ ...withPort, redis: { databases: 0 } }), 'redis.databases');
  assert.equal(field({ ...withPort, redis: { bogus: 1 } }), 'redis');
  assert.equal(field({ ...good, ports: { ...good.ports, 'fake-resp': 7001 } }), 'ports.fake-resp');
  assert.equal(field({ ...good, ports: { ...good.ports, RESP: 7004 } }), 'ports.RESP');
  // The registered KV service's section, and the old place of its setting (still accepted).
  assert.equal(fieldOf({ ...good, kv: { apdexTargetMs: -1 } }), 'kv.apdexTargetMs');
  // The coord service's section: session bounds are checked against each other; its port is required.
  assert.equal(
    fieldOf({ ...good, coord: { minSessionTimeoutMs: 9000, maxSessionTimeoutMs: 8000 } }),
    'coord.minSessionTimeoutMs',
  );
  assert.equal(fieldOf({ ...good, coord: { fourLetterWords: ['dump'] } }), 'coord.fourLetterWords.0');
  assert.equal(fieldOf({ ...good, ports: { peer: 7000, admin: 7001 } }), 'ports.zookeeper');
  // The store service's section and its resp port.
  assert.equal(fieldOf({ ...good, store: { sync: 'sometimes' } }), 'store.sync');
  assert.equal(fieldOf({ ...good, store: { resp: { bulkBytesMax: 0 } } }), 'store.resp.bulkBytesMax');
  assert.equal(fieldOf({ ...good, ports: { peer: 7000, admin: 7001, zookeeper: 7002 } }), 'ports.resp');
  assert.equal((validateNodeConfig({ ...good, metrics: { apdexTargetMs: 5 } }).metrics as object) !== undefined, true);
});
