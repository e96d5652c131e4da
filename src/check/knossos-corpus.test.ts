// Goal: every verdict of the Knossos corpus (../shared/data/knossos: good/ and bad/ histories,
// verdicts in expected.tsv with columns file, expected_valid, model) matches. Conventions
// (../shared/PROTOCOLS.md): register starts at 0, a read of nil is unknown, `fail` = did not
// happen, `info` = may or may not. Files listed but absent (mutex/bad/etcd.edn: a mutex model
// Knossos itself does not exercise) are reported as skipped. The corpus is located relative to
// the repository root; when ../shared is absent (a clone without it) the test skips, saying so.
// Each history runs under a 20 s time budget; all of them finish in milliseconds today.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkLinearizable } from './linearizability.ts';
import { kvModel } from './models/kv.ts';
import { casRegisterModel } from './models/register.ts';
import { parseHistory } from './readers/index.ts';
import { sharedDataDir, sharedDataHint } from './shared-data.ts';
import type { Model } from './types.ts';

const corpus = sharedDataDir('knossos') ?? sharedDataHint('knossos');
const manifest = join(corpus, 'expected.tsv');

function modelFor(description: string): Model<unknown> | undefined {
  if (description.startsWith('cas-register')) return casRegisterModel({ initial: 0, nilReadUnknown: true });
  if (description.startsWith('multi-register')) return kvModel({ initial: 0, nilReadUnknown: true }) as Model<unknown>;
  return undefined;
}

test('Knossos corpus: every verdict matches', {
  skip: existsSync(manifest) ? false : `corpus absent: ${manifest} (clone shared/ beside the repo)`,
}, (t) => {
  const rows = readFileSync(manifest, 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.split('\t'));
  const mismatches: string[] = [];
  let checked = 0;
  let slowest = { file: '', ms: 0 };
  const started = performance.now();
  for (const [file, expected, description] of rows) {
    if (file === undefined || expected === undefined || description === undefined) continue;
    const model = modelFor(description);
    const path = join(corpus, file);
    if (model === undefined || !existsSync(path)) {
      t.diagnostic(`skipped ${file}: ${model === undefined ? `no model for "${description}"` : 'file absent'}`);
      continue;
    }
    const t0 = performance.now();
    const history = parseHistory(readFileSync(path, 'utf8'), 'auto', { source: file });
    const result = checkLinearizable(history, model, { now: () => performance.now(), timeBudgetMs: 20_000 });
    const ms = performance.now() - t0;
    if (ms > slowest.ms) slowest = { file, ms };
    checked++;
    const want = expected === 'true' ? 'valid' : 'invalid';
    if (result.verdict !== want)
      mismatches.push(`${file}: expected ${want}, got ${result.verdict} (${result.reason ?? ''})`);
  }
  t.diagnostic(
    `${checked} histories in ${(performance.now() - started).toFixed(0)} ms; slowest ${slowest.file} ${slowest.ms.toFixed(0)} ms`,
  );
  assert.deepEqual(mismatches, []);
  assert.ok(checked >= 120, `checked only ${checked}`);
});
