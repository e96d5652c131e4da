// Goal (issue 8 item 8): `barista dev` gives every node a port for each protocol, by name: peer
// at base+10i, admin at +1, then each protocol the registered services declare, in registry
// order; more than fit in a node's block of 10 is a ConfigError, not an overlap with the next node.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../lib/errors.ts';
import { portsFor, restartBudget } from './dev.ts';

test('ports by protocol name: platform first, then each declared protocol, per node block', () => {
  assert.deepEqual(portsFor(7000, 0, []), { peer: 7000, admin: 7001 });
  assert.deepEqual(portsFor(7000, 2, ['resp', 'zookeeper']), { peer: 7020, admin: 7021, resp: 7022, zookeeper: 7023 });
  const many = Array.from({ length: 9 }, (_, i) => `p${i}`);
  assert.throws(() => portsFor(7000, 0, many), ConfigError);
  // The registry's protocols follow the platform's two (the coord service's zookeeper port, the
  // store service's resp port).
  assert.deepEqual(portsFor(7000, 1), { peer: 7010, admin: 7011, zookeeper: 7012, resp: 7013 });
});

test('the dev supervisor restarts a node that exits 75 at most 5 times in any minute, per node', () => {
  const may = restartBudget(5, 60_000);
  for (let i = 0; i < 5; i++) assert.equal(may('n1', 1_000 + i), true, `restart ${i + 1}`);
  assert.equal(may('n1', 2_000), false, 'a sixth restart within the minute is a crash loop');
  assert.equal(may('n2', 2_000), true, 'budgets are per node');
  assert.equal(may('n1', 61_000), true, 'the first restart left the window');
  assert.equal(may('n1', 61_000), false, 'the other four and this one are still in it');
});
