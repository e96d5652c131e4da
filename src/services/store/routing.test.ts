// Goal: commands are routed by their keys' owners the way Redis Cluster places keys: hash tags
// (as Redis' keyHashSlot takes them), Redis' key specifications (first, last, step; counted keys),
// no key or every key here -> local, one other owner -> forward, several -> CROSSSLOT.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commandKeys, type KeySpec, placementKey, routeCommand } from './routing.ts';

const b = (s: string) => new TextEncoder().encode(s);
const s = (u: Uint8Array) => new TextDecoder().decode(u);
const spec = (name: string, firstKey: number, lastKey: number, step: number): KeySpec => ({
  name,
  firstKey,
  lastKey,
  step,
});
const argv = (...a: string[]) => a.map(b);

test('hash tags follow Redis Cluster: the first {, the next }, not empty', () => {
  const cases: Array<[string, string]> = [
    ['user1000', 'user1000'],
    ['{user1000}.following', 'user1000'],
    ['foo{}{bar}', 'foo{}{bar}'], // an empty first tag: the whole key
    ['foo{{bar}}zap', '{bar'],
    ['foo{bar}{zap}', 'bar'],
    ['{', '{'],
    ['}{', '}{'],
    ['a{b', 'a{b'],
  ];
  for (const [key, placed] of cases) assert.equal(s(placementKey(b(key))), placed, key);
});

test('keys come from the key specification, counted keys from their count', () => {
  assert.deepEqual(commandKeys(spec('get', 1, 1, 1), argv('get', 'k')).map(s), ['k']);
  assert.deepEqual(commandKeys(spec('mset', 1, -1, 2), argv('mset', 'a', '1', 'b', '2')).map(s), ['a', 'b']);
  assert.deepEqual(commandKeys(spec('del', 1, -1, 1), argv('del', 'a', 'b', 'c')).map(s), ['a', 'b', 'c']);
  assert.deepEqual(commandKeys(spec('rename', 1, 2, 1), argv('rename', 'a', 'b')).map(s), ['a', 'b']);
  assert.deepEqual(commandKeys(spec('ping', 0, 0, 0), argv('ping')), []);
  assert.deepEqual(commandKeys(spec('sintercard', 0, 0, 0), argv('sintercard', '2', 'a', 'b', 'LIMIT', '3')).map(s), [
    'a',
    'b',
  ]);
  assert.deepEqual(
    commandKeys(spec('zunionstore', 1, 1, 1), argv('zunionstore', 'd', '2', 'a', 'b', 'WEIGHTS', '1', '2')).map(s),
    ['d', 'a', 'b'],
  );
  assert.deepEqual(commandKeys(spec('sintercard', 0, 0, 0), argv('sintercard', 'x', 'a')), []);
  assert.deepEqual(commandKeys(spec('lmpop', 0, 0, 0), argv('lmpop', '2', 'a', 'b', 'LEFT')).map(s), ['a', 'b']);
  assert.deepEqual(
    commandKeys(spec('blmpop', 0, 0, 0), argv('blmpop', '0.5', '2', 'a', 'b', 'LEFT', 'COUNT', '2')).map(s),
    ['a', 'b'],
  );
  assert.deepEqual(commandKeys(spec('bzmpop', 0, 0, 0), argv('bzmpop', '0', '1', 'z', 'MIN')).map(s), ['z']);
});

test('local, forward or CROSSSLOT by the owners of the keys', () => {
  // Owner: n1 for placements (hash tag or key) starting with a-m, n2 otherwise.
  const ownerOf = (k: Uint8Array) => ((placementKey(k)[0] ?? 0) <= 0x6d ? 'n1' : 'n2');
  const mset = spec('mset', 1, -1, 2);
  assert.deepEqual(routeCommand(spec('ping', 0, 0, 0), argv('ping'), 'n1', ownerOf), { kind: 'local' });
  assert.deepEqual(routeCommand(mset, argv('mset', 'a', '1', 'b', '2'), 'n1', ownerOf), { kind: 'local' });
  assert.deepEqual(routeCommand(mset, argv('mset', 'x', '1', 'y', '2'), 'n1', ownerOf), { kind: 'forward', to: 'n2' });
  assert.deepEqual(routeCommand(mset, argv('mset', 'a', '1', 'y', '2'), 'n1', ownerOf), { kind: 'crossslot' });
  // Hash tags put keys together whatever the rest says.
  assert.deepEqual(routeCommand(mset, argv('mset', '{z}a', '1', '{z}b', '2'), 'n1', ownerOf), {
    kind: 'forward',
    to: 'n2',
  });
  assert.deepEqual(routeCommand(mset, argv('mset', '{a}z', '1', '{a}y', '2'), 'n1', ownerOf), { kind: 'local' });
});
