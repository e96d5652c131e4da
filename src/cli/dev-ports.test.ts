// Goal (issue 8 item 8): `barista dev` gives every node a port for each protocol, by name: peer
// at base+10i, admin at +1, then each protocol the registered services declare, in registry
// order; more than fit in a node's block of 10 is a ConfigError, not an overlap with the next node.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../lib/errors.ts';
import { portsFor } from './dev.ts';

test('ports by protocol name: platform first, then each declared protocol, per node block', () => {
  assert.deepEqual(portsFor(7000, 0, []), { peer: 7000, admin: 7001 });
  assert.deepEqual(portsFor(7000, 2, ['resp', 'zookeeper']), { peer: 7020, admin: 7021, resp: 7022, zookeeper: 7023 });
  const many = Array.from({ length: 9 }, (_, i) => `p${i}`);
  assert.throws(() => portsFor(7000, 0, many), ConfigError);
  // The registry's protocols follow the platform's two (the coord service's zookeeper port, the
  // store service's resp port).
  assert.deepEqual(portsFor(7000, 1), { peer: 7010, admin: 7011, zookeeper: 7012, resp: 7013 });
});
