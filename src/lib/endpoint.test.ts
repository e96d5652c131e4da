// Goal: HOST:PORT text is parsed or refused with a ConfigError, never handed to a socket call that
// throws (a bad port in a ZooKeeper connect string crashed `barista zk` from inside a timer).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseEndpoint } from './endpoint.ts';
import { ConfigError } from './errors.ts';

test('HOST:PORT parses; a bad port, a missing one or an unbracketed IPv6 address is a ConfigError', () => {
  assert.deepEqual(parseEndpoint('127.0.0.1:2181', 'f'), { host: '127.0.0.1', port: 2181 });
  assert.deepEqual(parseEndpoint('zk-1.local:1', 'f'), { host: 'zk-1.local', port: 1 });
  assert.deepEqual(parseEndpoint('[::1]:65535', 'f'), { host: '::1', port: 65535 });
  for (const bad of ['h:99999', 'h:0', 'h', ':2181', '::1', 'h:21x', ' h:1'])
    assert.throws(() => parseEndpoint(bad, 'connectString'), ConfigError, bad);
});
