// Goal: one catalogue of error codes (src/lib/error-codes.ts) that every error in src/ draws from,
// whose flags are the only source of `retriable`/`definite`, and whose protocol mappings (HTTP
// status, CLI exit) are total. The types do most of it; the `@ts-expect-error` lines below are the
// negative controls: if any of them stopped being an error, `tsc` would fail on the unused directive.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CLI_EXIT, cliExitByCode, cliExitFor } from '../src/cli/exit-codes.ts';
import { type ErrorCode, errorCatalogue, errorCodes, isErrorCode } from '../src/lib/error-codes.ts';
import { BaristaError, LimitError, ProtocolError } from '../src/lib/errors.ts';
import { httpErrorAnswer, httpStatusByCode } from '../src/node/http-status.ts';
import { NotLeaderError, ProposalDroppedError } from '../src/raft/errors.ts';
import { sourceFiles } from './source-files.ts';

const CATALOGUE_FILES = ['src/lib/error-codes.ts', 'src/node/http-status.ts', 'src/cli/exit-codes.ts'];
const src = sourceFiles('src')
  .filter((f) => !CATALOGUE_FILES.includes(f))
  .map((f) => ({ f, text: readFileSync(f, 'utf8') }));

const NOT_OURS: ReadonlySet<string> = new Set(['string', 'unrecognized_keys']);

test('every code a constructor or a comparison names in src/ is in the catalogue', () => {
  // Literal codes at the places codes are born or matched (the types check the same; this also
  // covers `code === '...'` on untyped JSON answers).
  const patterns = [
    /new (?:BaristaError|ProtocolError)\(\s*'([^']+)'/g,
    /\bsuper\(\s*'([a-z_]+)'/g,
    /\bbad\(\s*'([a-z_]+)'/g,
    /\.code === '([^']+)'/g,
  ];
  const unknown: string[] = [];
  let seen = 0;
  for (const { f, text } of src) {
    for (const re of patterns) {
      for (const m of text.matchAll(re)) {
        seen++;
        // Not ours: Node's errno and HTTP parser codes, zod issue codes, `typeof code === 'string'`.
        if (/^(E[A-Z]+|ERR_|HPE_)/.test(m[1]!) || NOT_OURS.has(m[1]!)) continue;
        if (!isErrorCode(m[1]!)) unknown.push(`${f}: ${m[1]}`);
      }
    }
  }
  assert.ok(seen > 50, `the scan found only ${seen} sites: its patterns are stale`);
  assert.deepEqual(unknown, []);
});

test('every catalogue code is used somewhere in src/ (no dead or renamed-away entries)', () => {
  const all = src.map((s) => s.text).join('\n');
  const unused = errorCodes.filter((c) => !all.includes(`'${c}'`));
  assert.deepEqual(unused, []);
});

test('duplicates are merged: the Raft core reports the codes clients see', () => {
  assert.equal(new NotLeaderError('n2').code, 'not_leader');
  assert.equal(new ProposalDroppedError('leadership_transfer').code, 'proposal_dropped');
  for (const gone of ['raft_not_leader', 'raft_proposal_dropped']) assert.equal(isErrorCode(gone), false);
});

test('flags come from the catalogue; a "depends" flag must be given by the call', () => {
  const notLeader = new BaristaError('not_leader', 'x');
  assert.deepEqual([notLeader.retriable, notLeader.definite], [true, true]);
  const lost = new BaristaError('leadership_lost', 'x');
  assert.deepEqual([lost.retriable, lost.definite], [true, false]);
  assert.equal(new LimitError('someBytesMax', 'full').retriable, true);
  assert.equal(new ProtocolError('truncated', 'x').definite, true);
  assert.equal(new BaristaError('timeout', 'read', { definite: true }).definite, true);
  assert.equal(new BaristaError('timeout', 'write', { definite: false }).definite, false);
  // At run time too (a code chosen by a variable reaches the constructor as the union type).
  const dependsOn = 'timeout' as ErrorCode;
  assert.throws(() => new BaristaError(dependsOn, 'x', {} as never), /definite depends on the call/);
  assert.throws(() => new BaristaError('nope' as ErrorCode, 'x', {} as never), /not in the catalogue/);
  for (const code of errorCodes) {
    const spec = errorCatalogue[code];
    for (const f of [spec.retriable, spec.definite]) assert.ok(f === true || f === false || f === 'depends', code);
    assert.match(code, /^[a-z][a-z0-9_]{0,63}$/, 'codes travel in forwarded answers and metric labels');
    assert.ok(spec.doc.length > 0, code);
  }
});

test('the typed constructors refuse typos, wrong families and flags the catalogue fixes', () => {
  // Each line is a compile error (the test is in `tsc -p .`); run time would throw for the first.
  // @ts-expect-error a typo'd code does not compile
  assert.throws(() => new BaristaError('not_leadr', 'x'));
  // @ts-expect-error ProtocolError takes only protocol-family codes
  new ProtocolError('not_leader', 'x');
  // @ts-expect-error not_leader is retriable by definition: a call site may not say otherwise
  new BaristaError('not_leader', 'x', { retriable: false });
  // @ts-expect-error a timeout's definiteness depends on the call, so it must be given
  assert.throws(() => new BaristaError('timeout', 'x'));
  // @ts-expect-error a mapping table that misses a code does not compile
  const partial: Record<ErrorCode, number> = { not_leader: 503 };
  assert.ok(partial);
});

test('every protocol mapping table is total over the catalogue and nothing else', () => {
  const codes = [...errorCodes].sort();
  assert.deepEqual(Object.keys(httpStatusByCode).sort(), codes);
  assert.deepEqual(Object.keys(cliExitByCode).sort(), codes);
});

test('HTTP statuses follow the rule: protocol and request errors are 4xx, a timeout 504, overload 429', () => {
  for (const code of errorCodes) {
    const status = httpStatusByCode[code];
    const { family } = errorCatalogue[code];
    if (family === 'protocol') assert.equal(status, 400, code);
    if (family === 'availability' && code !== 'limit_exceeded' && code !== 'timeout') {
      assert.equal(status, 503, code);
    }
    if (family === 'membership') assert.equal(status, 409, code);
  }
  assert.equal(httpStatusByCode.timeout, 504);
  assert.equal(httpStatusByCode.limit_exceeded, 429);
  const answer = httpErrorAnswer(new BaristaError('leadership_lost', 'lost'));
  assert.deepEqual(answer, {
    status: 503,
    body: { ok: false, code: 'leadership_lost', message: 'lost', definite: false, retriable: true },
  });
});

test('CLI exits follow the flags: 2 only for definite, not retriable errors; 3 for the rest', () => {
  const exceptions: ErrorCode[] = ['precondition_failed']; // an answer (exit 1), not a failure
  for (const code of errorCodes) {
    if (exceptions.includes(code)) continue;
    const { retriable, definite } = errorCatalogue[code];
    const final = retriable === false && definite === true;
    assert.equal(cliExitByCode[code], final ? CLI_EXIT.rejected : CLI_EXIT.unavailable, code);
  }
  assert.equal(cliExitByCode.precondition_failed, CLI_EXIT.compareFailed);
  // A code from a newer server, or none at all: not known to be final.
  assert.equal(cliExitFor('brand_new_code'), CLI_EXIT.unavailable);
  assert.equal(cliExitFor(undefined), CLI_EXIT.unavailable);
});
