// Goal: a bad endpoint in a connect string is a ConfigError when the client is built, not an
// exception from net.connect inside the reconnect timer (`barista zk --server h:99999` crashed).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../lib/errors.ts';
import { connectZk } from './zk-tcp.ts';

test('connectZk refuses a connect string with a bad endpoint before any socket exists', () => {
  for (const bad of ['127.0.0.1:99999', '127.0.0.1:2181,h:0', '::1'])
    assert.throws(() => connectZk({ connectString: bad, sessionTimeoutMs: 4_000 }), ConfigError, bad);
});
