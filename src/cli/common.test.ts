// Goal: the CLI's shared rules for what the user sees. An error prints its code once (Node's
// system errors already start their message with it: "ENOSPC: ENOSPC: no space..." was printed),
// and colours follow NO_COLOR / FORCE_COLOR / "is stdout a terminal" (https://no-color.org).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../lib/errors.ts';
import { colourEnabled, describeError } from './common.ts';

test('describeError prints a system error code once, not "ENOSPC: ENOSPC:"', () => {
  const err = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  assert.equal(describeError(err), 'error (ENOSPC): no space left on device, write');
  // A message that does not repeat its code is printed whole.
  const other = Object.assign(new Error('disk went away'), { code: 'EIO' });
  assert.equal(describeError(other), 'error (EIO): disk went away');
});

test('describeError prints typed errors by code and message, bugs with their stack', () => {
  assert.equal(describeError(new ConfigError('--nodes', 'too many')), 'error (config_invalid): --nodes: too many');
  const bug = new TypeError('x is undefined');
  assert.equal(describeError(bug), bug.stack);
});

test('colours: only on a terminal, never with NO_COLOR, always with FORCE_COLOR', () => {
  assert.equal(colourEnabled({}, true), true);
  assert.equal(colourEnabled({}, false), false, 'piped: no colours');
  assert.equal(colourEnabled({ NO_COLOR: '1' }, true), false);
  assert.equal(colourEnabled({ NO_COLOR: '' }, true), true, 'an empty NO_COLOR is ignored (no-color.org)');
  assert.equal(colourEnabled({ FORCE_COLOR: '1' }, false), true);
  assert.equal(colourEnabled({ FORCE_COLOR: '0' }, true), false);
  assert.equal(colourEnabled({ NO_COLOR: '1', FORCE_COLOR: '1' }, true), false, 'NO_COLOR wins');
  assert.equal(colourEnabled({ TERM: 'dumb' }, true), false);
  assert.equal(colourEnabled({ CI: 'true' }, false), false, 'CI alone does not colour a pipe');
});
