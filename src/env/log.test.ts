// Goal: createLogger writes pino JSON lines carrying nodeId and the child's bindings at the
// configured level; memoryLogger keeps exactly the last N structured lines, shared with children.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Logger } from './types.ts';
import { createLogger, memoryLogger } from './log.ts';

test('createLogger emits JSON lines with nodeId, bindings and level filtering', () => {
  const chunks: string[] = [];
  const log = createLogger({ nodeId: 'n1', level: 'info', destination: { write: (s: string) => void chunks.push(s) } });
  const env: Logger = log; // satisfies the Env's Logger interface
  env.debug({ hidden: true }, 'below level');
  env.child({ component: 'raft' }).warn({ term: 3 }, 'stepping down');
  assert.equal(chunks.length, 1);
  const line = JSON.parse(chunks[0]!) as Record<string, unknown>;
  assert.equal(line['nodeId'], 'n1');
  assert.equal(line['component'], 'raft');
  assert.equal(line['term'], 3);
  assert.equal(line['msg'], 'stepping down');
  assert.equal(line['level'], 40);
  assert.equal(typeof line['time'], 'string');
});

test('memoryLogger keeps the last N lines, oldest first, shared with children', () => {
  const log = memoryLogger(3);
  const child = log.child({ component: 'net' });
  log.info({ i: 1 }, 'one');
  child.warn({ i: 2 });
  child.child({ peer: 'n2' }).error({ i: 3 }, 'three');
  log.debug({ i: 4 }, 'four');
  assert.deepEqual(log.lines(), [
    { level: 'warn', component: 'net', i: 2 },
    { level: 'error', component: 'net', peer: 'n2', i: 3, msg: 'three' },
    { level: 'debug', i: 4, msg: 'four' },
  ]);
  assert.equal(child.lines().length, 3);
  assert.equal(log.droppedCount, 1);
  const quiet = memoryLogger(10, 'warn');
  quiet.info({}, 'dropped by level');
  quiet.error({}, 'kept');
  assert.deepEqual(quiet.lines(), [{ level: 'error', msg: 'kept' }]);
});

test('createLogger: a child binding replaces the parent binding of the same key (component once per line)', () => {
  const chunks: string[] = [];
  const log = createLogger({ nodeId: 'n1', level: 'info', destination: { write: (s: string) => void chunks.push(s) } });
  // As src/node/main.ts hands `child({ component: 'transport' })` to the TCP transport, which
  // adds its own component.
  log.child({ component: 'transport' }).child({ component: 'tcp-transport', self: 'n1' }).info({ peer: 'n2' }, 'hi');
  assert.equal(chunks.length, 1);
  assert.equal(chunks[0]!.match(/"component":/g)?.length, 1, chunks[0]);
  const line = JSON.parse(chunks[0]!) as Record<string, unknown>;
  assert.equal(line['component'], 'tcp-transport');
  assert.equal(line['self'], 'n1');
  assert.equal(line['nodeId'], 'n1');
  assert.equal(line['peer'], 'n2');
});
