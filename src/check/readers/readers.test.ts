// Goal: every supported history format reads into the same Ops; auto-detection picks the right
// reader; the two failed-cas conventions behave as documented in readers/index.ts; malformed input
// fails with a HistoryParseError naming the line — never another exception. Also: the recorder's
// JSONL reads back identically (round trip), and it enforces Jepsen's pairing rules.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { HistoryParseError } from '../errors.ts';
import { generateRegisterHistory } from '../generate.ts';
import { checkLinearizable } from '../linearizability.ts';
import { casRegisterModel } from '../models/register.ts';
import { HistoryPairingError } from '../prepare.ts';
import { HistoryRecorder } from '../recorder.ts';
import { detectFormat, parseHistory } from './index.ts';

const EDN_VECTOR = `; a comment
[{:process 0, :type :invoke, :f :write, :value 3}
 {:process 0, :type :ok, :f :write, :value 3}
 ; another
 {:process 1, :type :invoke, :f :read, :value nil, :time 12}
 {:process 1, :type :ok, :f :read, :value 3}]
`;

test('EDN vector, EDN per line, Jepsen log and JSONL read to the same ops', () => {
  const perLine = EDN_VECTOR.replace('[', '').replace(/\]\s*$/, '\n');
  const log = [
    'INFO  jepsen.core - Running test',
    'INFO  jepsen.util - 0\t:invoke\t:write\t3',
    'INFO  jepsen.util - 0\t:ok\t:write\t3',
    'INFO  jepsen.util - 1\t:invoke\t:read\tnil',
    'INFO  jepsen.util - 1\t:ok\t:read\t3',
  ].join('\n');
  const a = parseHistory(EDN_VECTOR, 'auto');
  const strip = (ops: typeof a) =>
    ops.map(({ type, process, f, value, index }) => ({ type, process, f, value, index }));
  assert.equal(a.length, 4);
  assert.deepEqual(a[2], { type: 'invoke', process: 1, f: 'read', value: null, index: 2, time: 12 });
  assert.deepEqual(strip(parseHistory(perLine, 'auto')), strip(a));
  assert.deepEqual(strip(parseHistory(log, 'auto')), strip(a));
  const jsonl = a.map((op) => JSON.stringify(op)).join('\n');
  assert.deepEqual(parseHistory(jsonl, 'auto'), a);
  assert.equal(detectFormat(log), 'jepsen-log');
  assert.equal(detectFormat(jsonl), 'jsonl');
  assert.equal(detectFormat(EDN_VECTOR), 'edn');
});

test('Porcupine KV lines keep their key; tuples stay [k v]; keywords become strings', () => {
  const kv =
    '{:process 0, :type :invoke, :f :put, :key "4", :value "x 0 0 y"}\n{:process 0, :type :ok, :f :put, :key "4", :value "x 0 0 y"}\n';
  assert.equal(detectFormat(kv), 'porcupine-kv');
  const ops = parseHistory(kv, 'auto');
  assert.equal(ops[0]?.key, '4');
  assert.equal(ops[0]?.value, 'x 0 0 y');
  const tuple = parseHistory('{:process :nemesis, :type :info, :f :start, :value [:k1 2]}', 'edn');
  assert.deepEqual(tuple[0]?.value, ['k1', 2]);
  assert.equal(tuple[0]?.process, 'nemesis');
});

test('cas conventions: knossos drops a failed cas, etcd makes it an observed compare failure', () => {
  const log = [
    'INFO  jepsen.util - 0\t:invoke\t:cas\t[0 3]',
    'INFO  jepsen.util - 0\t:fail\t:cas\t[0 3]',
    'INFO  jepsen.util - 1\t:invoke\t:read\tnil',
    'INFO  jepsen.util - 1\t:ok\t:read\tnil',
  ].join('\n');
  const etcd = parseHistory(log, 'auto', { casConvention: 'etcd' });
  assert.deepEqual([etcd[1]?.type, etcd[1]?.value], ['ok', false]);
  // etcd: register starts at nil, so cas 0→3 failing is consistent, and the nil read is real.
  assert.equal(checkLinearizable(etcd, casRegisterModel({ initial: null })).verdict, 'valid');
  // Under etcd, a failed cas whose `from` held must be explained away: it cannot.
  const contradiction = parseHistory(log.replace(/\[0 3\]/g, '[nil 3]'), 'auto', { casConvention: 'etcd' });
  assert.equal(checkLinearizable(contradiction, casRegisterModel({ initial: null })).verdict, 'invalid');
  // Knossos: the failed cas did not happen; the register starts at 0 and a nil read is unknown.
  const knossos = parseHistory(log, 'auto');
  assert.equal(knossos[1]?.type, 'fail');
  assert.equal(checkLinearizable(knossos, casRegisterModel({ initial: 0, nilReadUnknown: true })).verdict, 'valid');
});

function lineOf(text: string, format: 'auto' | 'edn' | 'jsonl' = 'auto'): number {
  try {
    parseHistory(text, format, { source: 'f.edn' });
  } catch (error) {
    assert.ok(error instanceof HistoryParseError, `expected HistoryParseError, got ${String(error)}`);
    assert.match(error.message, new RegExp(`^f\\.edn:${error.line}: `));
    return error.line;
  }
  assert.fail('expected a parse error');
}

test('malformed input names the line', () => {
  const lines = EDN_VECTOR.split('\n');
  const broken = (i: number, text: string) => lines.map((l, j) => (j === i ? text : l)).join('\n');
  // The missing } is noticed at the ] on line 6; the message names line 5 where the map opened.
  assert.equal(lineOf(broken(4, ' {:process 1, :type :invoke, :f :read, :value nil, :time 12')), 6);
  assert.equal(lineOf(broken(2, ' {:process 0, :type :okay, :f :write, :value 3}')), 3);
  assert.equal(lineOf(broken(2, ' {:process 0, :type :ok, :f :write, :value [3}')), 3);
  assert.equal(lineOf(broken(4, ' {:type :invoke, :f :read}')), 5);
  assert.equal(lineOf(EDN_VECTOR.replace(/\]\s*$/, '\n')), 2);
  assert.equal(lineOf('[{:process 0, :type :invoke, :f :read, :value nil}\n 42]'), 2);
  assert.equal(lineOf('{"type":"invoke","process":0,"f":"read","value":null}\n{"type":"ok",', 'jsonl'), 2);
  assert.equal(
    lineOf(
      '{"type":"invoke","process":0,"f":"read","value":null}\n\n{"type":"ok","process":0,"f":"read","time":"x"}',
      'jsonl',
    ),
    3,
  );
  assert.equal(lineOf('INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - garbage'), 2);
  assert.equal(lineOf('INFO  jepsen.util - 0\t:invoke\t:cas\t[1 2'), 1);
  assert.equal(lineOf('{:process 0, :type :invoke, :f :read, :value "unterminated}\n'), 1);
});

test('arbitrary bytes never crash a reader: a parse error or ops', () => {
  fc.assert(
    fc.property(
      fc.string({ maxLength: 200 }),
      fc.constantFrom('auto', 'edn', 'jsonl', 'jepsen-log', 'porcupine-kv'),
      (text, format) => {
        try {
          parseHistory(text, format as 'auto');
        } catch (error) {
          assert.ok(error instanceof HistoryParseError, `${String(error)} for ${JSON.stringify(text)}`);
        }
      },
    ),
    { numRuns: 5000, seed: 20240601 },
  );
});

test('edits of a valid EDN history never crash the reader', () => {
  fc.assert(
    fc.property(
      fc.nat(),
      fc.nat({ max: 20 }),
      fc.constantFrom('', '[', ']', '{', '}', '"', ':', ' ', '1N', ';', '#'),
      (at, cut, insert) => {
        const i = at % EDN_VECTOR.length;
        const text = EDN_VECTOR.slice(0, i) + insert + EDN_VECTOR.slice(i + cut);
        try {
          parseHistory(text, 'auto');
        } catch (error) {
          assert.ok(error instanceof HistoryParseError, `${String(error)} for ${JSON.stringify(text)}`);
        }
      },
    ),
    { numRuns: 3000, seed: 20240601 },
  );
});

test('recorder: JSONL round trip and pairing rules', () => {
  const lines: string[] = [];
  const rec = new HistoryRecorder({ sink: (line) => lines.push(line) });
  rec.invoke(0, 'write', 1, { timeNs: 10 });
  rec.invoke(1, 'read', null, { timeNs: 11 });
  rec.ok(0, 1, { timeNs: 20 });
  rec.info(1, null, { timeNs: 30, error: 'timeout' });
  assert.throws(() => rec.invoke(1, 'read', null), HistoryPairingError);
  assert.throws(() => rec.ok(0, 1), HistoryPairingError);
  rec.invoke(0, 'read', null);
  assert.throws(() => rec.invoke(0, 'read', null), HistoryPairingError);
  assert.equal(lines.join(''), rec.toJsonl());
  assert.deepEqual(parseHistory(rec.toJsonl(), 'auto'), rec.history());
  assert.deepEqual(rec.openProcesses(), [0]);
  const h = generateRegisterHistory({ seed: 3, opCount: 100, processCount: 5, keyCount: 3, infoRate: 0.2 });
  assert.deepEqual(parseHistory(h.map((op) => JSON.stringify(op)).join('\n'), 'jsonl'), h);
});
