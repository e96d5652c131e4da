// Goal: the zkCli output splitter (test/support/zkcli.ts) finds every command's end and every watch
// notification in zkCli's real merged stdout/stderr, whatever the chunking — whole, byte at a time,
// random chunks — including a notification printed in the middle of another command's output, blank
// lines that belong to output, and UTF-8 data split across chunks. The text below is what Debian's
// zkCli 3.8 printed without a TTY (see test/support/zkcli.ts), with one notification moved inside an
// `ls -R` listing as the watcher thread can do.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ZkCliOutput, type ZkCliOutputItem } from '../support/zkcli.ts';

const transcript = [
  'SLF4J: Failed to load class "org.slf4j.impl.StaticLoggerBinder".',
  'Connecting to 127.0.0.1:40001',
  'Welcome to ZooKeeper!',
  'JLine support is disabled',
  '',
  'WATCHER::',
  '',
  'WatchedEvent state:SyncConnected type:None path:null',
  'Created /a',
  'printwatches is on',
  'café ☕',
  'printwatches is on',
  '/a',
  '',
  'WATCHER::',
  '',
  'WatchedEvent state:SyncConnected type:NodeDataChanged path:/a',
  '/a/b',
  'printwatches is on',
  '',
  'printwatches is on',
  'Node already exists: /a',
  'printwatches is off',
  '',
].join('\n');

const expected: ZkCliOutputItem[] = [
  { kind: 'line', line: 'Connecting to 127.0.0.1:40001' },
  { kind: 'line', line: 'Welcome to ZooKeeper!' },
  { kind: 'line', line: 'JLine support is disabled' },
  {
    kind: 'event',
    event: {
      state: 'SyncConnected',
      type: 'None',
      path: 'null',
      line: 'WatchedEvent state:SyncConnected type:None path:null',
    },
  },
  { kind: 'line', line: 'Created /a' },
  { kind: 'sentinel', line: 'printwatches is on' },
  { kind: 'line', line: 'café ☕' },
  { kind: 'sentinel', line: 'printwatches is on' },
  { kind: 'line', line: '/a' },
  {
    kind: 'event',
    event: {
      state: 'SyncConnected',
      type: 'NodeDataChanged',
      path: '/a',
      line: 'WatchedEvent state:SyncConnected type:NodeDataChanged path:/a',
    },
  },
  { kind: 'line', line: '/a/b' },
  { kind: 'sentinel', line: 'printwatches is on' },
  { kind: 'line', line: '' },
  { kind: 'sentinel', line: 'printwatches is on' },
  { kind: 'line', line: 'Node already exists: /a' },
  { kind: 'sentinel', line: 'printwatches is off' },
];

function parse(chunks: readonly Buffer[]): ZkCliOutputItem[] {
  const items: ZkCliOutputItem[] = [];
  const out = new ZkCliOutput((item) => items.push(item));
  for (const c of chunks) out.feed(c);
  return items;
}

const bytes = Buffer.from(transcript, 'utf8');

test('zkCli output: whole and byte at a time give the same lines, notifications and command ends', () => {
  assert.deepEqual(parse([bytes]), expected);
  assert.deepEqual(parse([...bytes].map((b) => Buffer.from([b]))), expected);
});

test('zkCli output: any chunking gives the same items', () => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 40 }), (cuts) => {
      const at = [0, ...[...cuts].sort((a, b) => a - b), bytes.length];
      const chunks = at.slice(1).map((end, i) => bytes.subarray(at[i], end));
      assert.deepEqual(parse(chunks), expected);
    }),
  );
});
