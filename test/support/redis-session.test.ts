// Goal: the session comparison (redis-session.ts) lets a TTL's reply be one second lower on
// Baristas' side (rounding after more than 500 ms on a loaded machine) and nothing else.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { markTtls, sessionDiffs } from './redis-session.ts';

test('each TTL is preceded by its mark, and nothing else changes', () => {
  const marked = markTtls(['SET k v EX 100', 'TTL k', 'ttl k', 'PTTL k', 'GET k']);
  assert.equal(marked.length, 7);
  assert.deepEqual(
    marked.filter((l) => !l.startsWith('ECHO ')),
    ['SET k v EX 100', 'TTL k', 'ttl k', 'PTTL k', 'GET k'],
  );
  assert.ok(marked[1]!.startsWith('ECHO ') && marked[3]!.startsWith('ECHO '));
});

test('a TTL one second lower is the same reply; any other difference is one (negative controls)', () => {
  const [echo] = markTtls(['TTL k']);
  const mark = `"${echo!.slice('ECHO '.length)}"`;
  const redis = ['OK', mark, '(integer) 100', '(integer) 100'];
  assert.deepEqual(sessionDiffs(redis, ['OK', mark, '(integer) 99', '(integer) 100']), []);
  // Negative controls: lower by two, higher, another sign, or one lower where no TTL answered.
  assert.equal(sessionDiffs(redis, ['OK', mark, '(integer) 98', '(integer) 100']).length, 1);
  assert.equal(sessionDiffs(redis, ['OK', mark, '(integer) 101', '(integer) 100']).length, 1);
  assert.equal(sessionDiffs(redis, ['OK', mark, '(integer) -1', '(integer) 100']).length, 1);
  assert.equal(sessionDiffs(redis, ['OK', mark, '(integer) 100', '(integer) 99']).length, 1);
  assert.equal(sessionDiffs(redis, ['OK', mark, '(integer) 100']).length, 1, 'a line missing');
});
