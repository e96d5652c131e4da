// Goal: `barista store` finds its servers: --server HOST:PORT as given (a malformed one is a
// ConfigError naming the flag), else every node's `resp` port from <data-dir>/cluster.json in
// order, and a cluster file without resp ports (or none at all) is a ConfigError, not a hang.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../lib/errors.ts';
import { tempDir } from '../../test/integration/helpers.ts';
import { writeClusterFile } from './cluster-file.ts';
import { resolveRespServers } from './store.ts';

test('servers: --server, else the resp ports of cluster.json in order', () => {
  assert.deepEqual(resolveRespServers({ server: 'h:6379', dataDir: '/nonexistent' }), [{ host: 'h', port: 6379 }]);
  assert.throws(() => resolveRespServers({ server: 'h', dataDir: '/nonexistent' }), ConfigError);
  assert.throws(() => resolveRespServers({ server: undefined, dataDir: '/nonexistent' }), ConfigError);
  const dir = tempDir('baristas-store-cli-');
  try {
    const node = (id: string, ports: Record<string, number>) => ({
      id,
      pid: null,
      host: '127.0.0.1',
      ports,
      dataDir: '',
      config: '',
    });
    writeClusterFile(dir.path, {
      clusterId: 'c',
      dataDir: dir.path,
      ready: true,
      nodes: [node('n1', { peer: 1, admin: 2, resp: 7003 }), node('n2', { peer: 11, admin: 12, resp: 7013 })],
    });
    assert.deepEqual(resolveRespServers({ server: undefined, dataDir: dir.path }), [
      { host: '127.0.0.1', port: 7003 },
      { host: '127.0.0.1', port: 7013 },
    ]);
    writeClusterFile(dir.path, { clusterId: 'c', dataDir: dir.path, ready: true, nodes: [node('n1', { peer: 1 })] });
    assert.throws(() => resolveRespServers({ server: undefined, dataDir: dir.path }), ConfigError);
  } finally {
    dir.remove();
  }
});

test('store commands map to Redis commands; a bad ring action or a missing KEY is a usage error', async () => {
  const { storeCommand } = await import('./store.ts');
  assert.deepEqual(storeCommand({ command: 'where', key: 'k', value: undefined }), ['BARISTA', 'WHERE', 'k']);
  assert.deepEqual(storeCommand({ command: 'ring', key: undefined, value: undefined }), ['BARISTA', 'RING']);
  assert.deepEqual(storeCommand({ command: 'ring', key: 'join', value: 'n4' }), ['BARISTA', 'RING', 'JOIN', 'n4']);
  assert.deepEqual(storeCommand({ command: 'ring', key: 'abort', value: undefined }), ['BARISTA', 'RING', 'ABORT']);
  assert.deepEqual(storeCommand({ command: 'set', key: 'k', value: 'v' }), ['SET', 'k', 'v']);
  assert.throws(() => storeCommand({ command: 'ring', key: 'move', value: 'n4' }), /ring takes join NODE/);
  assert.throws(() => storeCommand({ command: 'ring', key: 'leave', value: undefined }), /leave needs a NODE/);
  assert.throws(() => storeCommand({ command: 'ring', key: 'abort', value: 'n1' }), /abort takes no NODE/);
  assert.throws(() => storeCommand({ command: 'get', key: undefined, value: undefined }), /get needs a KEY/);
});
