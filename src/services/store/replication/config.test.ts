// Goal: the replication config section fills its defaults (the driver's, but for the layout of
// collections, which an absent setting leaves to the store: service.ts) and refuses values and
// combinations the replica cannot run with, naming the field.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { replicationConfigSchema } from './config.ts';
import { defaultReplicaNodeConfig } from './driver.ts';

test('an empty section gives the driver defaults; the layout of collections is left to the store', () => {
  const { collections: _, ...defaults } = defaultReplicaNodeConfig;
  assert.deepEqual(replicationConfigSchema.parse({}), defaults);
  assert.equal(replicationConfigSchema.parse({ collections: 'whole' }).collections, 'whole');
});

test('bad values and relations are refused with the field named', () => {
  const issue = (input: unknown) => {
    const r = replicationConfigSchema.safeParse(input);
    assert.ok(!r.success, `accepted ${JSON.stringify(input)}`);
    return r.error.issues.map((i) => i.path.join('.'));
  };
  assert.deepEqual(issue({ replicas: 0 }), ['replicas']);
  assert.deepEqual(issue({ replicas: 17 }), ['replicas']);
  assert.deepEqual(issue({ tokensPerNode: 1.5 }), ['tokensPerNode']);
  assert.deepEqual(issue({ tickMs: 100, requestTimeoutMs: 150 }), ['requestTimeoutMs']);
  assert.deepEqual(issue({ tickMs: 100, hintReplayIntervalMs: 50 }), ['hintReplayIntervalMs']);
  assert.deepEqual(issue({ quorum: 2 }), ['']);
  assert.deepEqual(issue({ antiEntropyLoopShare: 0 }), ['antiEntropyLoopShare']);
  assert.deepEqual(issue({ antiEntropyLoopShare: 1.5 }), ['antiEntropyLoopShare']);
  assert.equal(replicationConfigSchema.parse({ antiEntropyLoopShare: 1 }).antiEntropyLoopShare, 1);
});
