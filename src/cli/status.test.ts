// Goal (issue 8 item 8): `barista status` shows every service's /status section — one table per
// service, a row per node, a column per key of the section; lists shown by length, nested objects
// inline — whatever services a node runs (the CLI knows none of them).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { serviceTables, statusSections } from './status.ts';

test('one table per service section, whatever the services are', () => {
  const tables = serviceTables([
    { node: 'n1', services: { kv: { keys: 3, sessions: 1 }, echo: { heard: ['n2', 'n3'], last: { from: 'n2' } } } },
    { node: 'n2', services: { kv: { keys: 3, sessions: 0 } } },
  ]);
  assert.equal(tables.length, 2);
  const [kv, echo] = tables as [string, string];
  assert.match(kv, /kv: node.*keys.*sessions/);
  assert.match(kv, /n1.*3.*1/);
  assert.match(kv, /n2.*3.*0/);
  assert.match(echo, /echo: node.*heard.*last/);
  assert.match(echo, /n1.*\[2\].*from=n2/);
  assert.doesNotMatch(echo, /│ n2 /, 'n2 runs no echo service: no row');
});

test('client listeners get a table per protocol, after the services', () => {
  const sections = statusSections({
    services: { kv: { keys: 1 } },
    clients: { resp: { service: 'dynamo', port: 7102, open: 2, accepted: 5, evicted: 1, closed: { remote: 3 } } },
  });
  assert.deepEqual(Object.keys(sections), ['kv', 'client port resp']);
  const [, resp] = serviceTables([{ node: 'n1', services: sections }]) as [string, string];
  assert.match(resp, /client port resp: node.*service.*port.*open.*accepted.*evicted/);
  assert.match(resp, /n1.*dynamo.*7102.*2.*5.*1/);
  assert.deepEqual(Object.keys(statusSections({})), [], 'a node without listeners adds no table');
});
