// Goal: the reply encoder (reply.ts grammar, RESP2 and RESP3) and the client-side reply decoder
// (reply-decoder.ts) round-trip any reply under any chunking; a RESP2 encoding is exactly the
// downgrade Redis 7.0.15 makes (checked against a naive oracle written here, and against the real
// server's captures in golden.test.ts); doubles print as C's %.17g (values from Python's '%.17g',
// ties to even included); the decoder turns every malformed reply into a typed, terminal error and
// holds its bounds (reply bytes, nesting depth, forged aggregate counts) without buffering past them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ProtocolError } from '../../lib/errors.ts';
import { bytewise, splitAt } from '../../net/testing.ts';
import {
  encodeReply,
  formatDouble,
  type RespProtocol,
  type RespReplyBounds,
  RespReplyDecoder,
  RespReplyErrorCode as Code,
  type RespText,
  type RespValue,
  reply,
} from './index.ts';

const latin1 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));
const str = (b: Uint8Array): string => Buffer.from(b).toString('latin1');
const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

function decode(chunks: Uint8Array[], bounds: Partial<RespReplyBounds> = {}): Array<RespValue | { error: string }> {
  const d = new RespReplyDecoder(bounds);
  const out: Array<RespValue | { error: string }> = [];
  for (const c of chunks) {
    d.push(c);
    for (let r = d.next(); r !== undefined; r = d.next()) {
      if (r instanceof ProtocolError) {
        out.push({ error: r.code });
        assert.equal(d.next(), undefined, 'nothing after an error');
        return out;
      }
      out.push(r);
    }
  }
  return out;
}

/** Text as the decoder yields it: a string when the bytes are UTF-8, the bytes otherwise. */
function canonicalText(t: RespText): RespText {
  if (typeof t === 'string') return t;
  try {
    return utf8Strict.decode(t);
  } catch {
    return t;
  }
}

/** `v` as the decoder yields it back (texts canonical, RESP3's one null). */
function canonical(v: RespValue, protocol: RespProtocol): RespValue {
  switch (v.type) {
    case 'simple':
      return { type: 'simple', value: canonicalText(v.value) };
    case 'error':
      return { type: 'error', message: canonicalText(v.message) };
    case 'nullArray':
      return protocol === 3 ? { type: 'null' } : v;
    case 'array':
    case 'set':
    case 'push':
      return { type: v.type, items: v.items.map((i) => canonical(i, protocol)) };
    case 'map':
      return {
        type: 'map',
        entries: v.entries.map(([k, x]) => [canonical(k, protocol), canonical(x, protocol)] as const),
      };
    default:
      return v;
  }
}

/** The naive oracle of Redis' RESP2 downgrades (networking.c addReply*), value to value. */
function downgrade(v: RespValue): RespValue {
  switch (v.type) {
    case 'map':
      return { type: 'array', items: v.entries.flatMap(([k, x]) => [downgrade(k), downgrade(x)]) };
    case 'set':
    case 'push':
    case 'array':
      return { type: 'array', items: v.items.map(downgrade) };
    case 'double':
      return reply.bulk(formatDouble(v.value));
    case 'boolean':
      return reply.integer(v.value ? 1 : 0);
    case 'bignum':
      return reply.bulk(v.value.toString());
    case 'verbatim':
      return { type: 'bulk', value: v.text };
    default:
      return v;
  }
}

const lineText = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 20 }).map((s) => s.replace(/[\r\n]/g, '')),
  fc.uint8Array({ maxLength: 20 }).map((b) => b.map((x) => (x === 0x0d || x === 0x0a ? 0x20 : x))),
);

const { value: valueArb } = fc.letrec<{ value: RespValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    lineText.map((value) => ({ type: 'simple', value }) as RespValue),
    lineText.map((message) => ({ type: 'error', message }) as RespValue),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((value) => ({ type: 'integer', value }) as RespValue),
    fc.uint8Array({ maxLength: 60 }).map((value) => ({ type: 'bulk', value }) as RespValue),
    fc.constant<RespValue>({ type: 'null' }),
    fc.constant<RespValue>({ type: 'nullArray' }),
    fc.double().map((value) => ({ type: 'double', value }) as RespValue),
    fc.boolean().map((value) => ({ type: 'boolean', value }) as RespValue),
    fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }).map((value) => ({ type: 'bignum', value }) as RespValue),
    fc
      .tuple(fc.constantFrom('txt', 'mkd'), fc.uint8Array({ maxLength: 30 }))
      .map(([format, text]) => ({ type: 'verbatim', format, text }) as RespValue),
    fc
      .tuple(fc.constantFrom('array', 'set', 'push'), fc.array(tie('value'), { maxLength: 4 }))
      .map(([type, items]) => ({ type, items }) as RespValue),
    fc
      .array(fc.tuple(tie('value'), tie('value')), { maxLength: 3 })
      .map((entries) => ({ type: 'map', entries }) as RespValue),
  ),
}));

test('RESP3: any replies, pipelined, round-trip whole, byte by byte and in random chunks', () => {
  fc.assert(
    fc.property(fc.array(valueArb, { maxLength: 5 }), fc.array(fc.nat(), { maxLength: 20 }), (values, cuts) => {
      const wire = Buffer.concat(values.map((v) => encodeReply(v, 3)));
      const expected = values.map((v) => canonical(v, 3));
      assert.deepEqual(decode([wire]), expected);
      assert.deepEqual(decode(bytewise(wire)), expected);
      assert.deepEqual(decode(splitAt(wire, cuts)), expected);
    }),
    { numRuns: 300 },
  );
});

test("RESP2: any reply encodes as Redis' downgrade of it (naive oracle), in any chunking", () => {
  fc.assert(
    fc.property(fc.array(valueArb, { maxLength: 5 }), fc.array(fc.nat(), { maxLength: 20 }), (values, cuts) => {
      const wire = Buffer.concat(values.map((v) => encodeReply(v, 2)));
      const expected = values.map((v) => canonical(downgrade(v), 2));
      assert.deepEqual(decode([wire]), expected);
      assert.deepEqual(decode(splitAt(wire, cuts)), expected);
    }),
    { numRuns: 300 },
  );
});

test('the bytes of every type in both protocols', () => {
  const cases: Array<[RespValue, string, string]> = [
    [reply.ok, '+OK\r\n', '+OK\r\n'],
    [reply.error('ERR bad\r\nthing'), '-ERR bad  thing\r\n', '-ERR bad  thing\r\n'],
    [reply.integer(-42), ':-42\r\n', ':-42\r\n'],
    [reply.bulk('hé'), '$3\r\nh\xc3\xa9\r\n', '$3\r\nh\xc3\xa9\r\n'],
    [reply.null, '$-1\r\n', '_\r\n'],
    [reply.nullArray, '*-1\r\n', '_\r\n'],
    [reply.array([]), '*0\r\n', '*0\r\n'],
    [
      // ZRANGE ... WITHSCORES: pairs in RESP3, one flat array in RESP2.
      {
        type: 'array',
        flatInResp2: true,
        items: [
          reply.array([reply.bulk('m'), { type: 'double', value: 1.5 }]),
          reply.array([reply.bulk('n'), { type: 'double', value: 2 }]),
        ],
      },
      '*4\r\n$1\r\nm\r\n$3\r\n1.5\r\n$1\r\nn\r\n$1\r\n2\r\n',
      '*2\r\n*2\r\n$1\r\nm\r\n,1.5\r\n*2\r\n$1\r\nn\r\n,2\r\n',
    ],
    [
      { type: 'map', entries: [[reply.bulk('a'), reply.integer(1)]] },
      '*2\r\n$1\r\na\r\n:1\r\n',
      '%1\r\n$1\r\na\r\n:1\r\n',
    ],
    [{ type: 'set', items: [reply.bulk('m')] }, '*1\r\n$1\r\nm\r\n', '~1\r\n$1\r\nm\r\n'],
    [{ type: 'push', items: [reply.bulk('message')] }, '*1\r\n$7\r\nmessage\r\n', '>1\r\n$7\r\nmessage\r\n'],
    [{ type: 'double', value: 1.5 }, '$3\r\n1.5\r\n', ',1.5\r\n'],
    [{ type: 'double', value: Number.POSITIVE_INFINITY }, '$3\r\ninf\r\n', ',inf\r\n'],
    [{ type: 'double', value: Number.NEGATIVE_INFINITY }, '$4\r\n-inf\r\n', ',-inf\r\n'],
    [{ type: 'double', value: Number.NaN }, '$3\r\nnan\r\n', ',nan\r\n'],
    [{ type: 'boolean', value: true }, ':1\r\n', '#t\r\n'],
    [{ type: 'boolean', value: false }, ':0\r\n', '#f\r\n'],
    [{ type: 'bignum', value: -(10n ** 30n) }, `$32\r\n-1${'0'.repeat(30)}\r\n`, `(-1${'0'.repeat(30)}\r\n`],
    [{ type: 'verbatim', format: 'txt', text: utf8.encode('a\r\nb') }, '$4\r\na\r\nb\r\n', '=8\r\ntxt:a\r\nb\r\n'],
  ];
  for (const [value, resp2, resp3] of cases) {
    assert.equal(str(encodeReply(value, 2)), resp2, `${value.type} RESP2`);
    assert.equal(str(encodeReply(value, 3)), resp3, `${value.type} RESP3`);
  }
});

test("doubles print as C's %.17g (Python's '%.17g' values), ties rounded to even", () => {
  const cases: Array<[number, string]> = [
    [1.5, '1.5'],
    [0.1, '0.10000000000000001'],
    [1 / 3, '0.33333333333333331'],
    [100, '100'],
    [-2.5, '-2.5'],
    [-0, '-0'],
    [0, '0'],
    [1e16, '10000000000000000'],
    [1e17, '1e+17'],
    [1e21, '1e+21'],
    [123456789012345680000, '1.2345678901234568e+20'],
    [0.0001, '0.0001'],
    [0.00001, '1.0000000000000001e-05'],
    [1e300, '1.0000000000000001e+300'],
    [5e-324, '4.9406564584124654e-324'],
    [1.7976931348623157e308, '1.7976931348623157e+308'],
    [1.6000000000000001, '1.6000000000000001'],
    [(2 ** 53 - 3) / 4, '2251799813685247.2'], // exactly ...247.25, a tie: to even .2 (JavaScript rounds up: .3)
    [(2 ** 53 - 1) / 4, '2251799813685247.8'], // exactly ...247.75
  ];
  for (const [d, text] of cases) assert.equal(formatDouble(d), text, String(d));
  fc.assert(
    fc.property(fc.double({ noNaN: true }), (d) => {
      assert.ok(Object.is(Number(formatDouble(d).replace('inf', 'Infinity')), d), 'parses back to itself');
    }),
  );
});

/** Malformed replies: each is a terminal resp_reply_malformed, whole and byte by byte. */
const malformed: string[] = [
  '?x\r\n',
  '\r\n',
  '+OK\rX',
  ':abc\r\n',
  ':01\r\n',
  ':9223372036854775808\r\n',
  '$abc\r\n',
  '$-2\r\n',
  '$01\r\n',
  '$3\r\nabcd\r\n',
  '*x\r\n',
  '%-1\r\n',
  '#x\r\n',
  '_x\r\n',
  ',abc\r\n',
  '(12a\r\n',
  '=3\r\nabc\r\n',
  '=5\r\nabcde\r\n',
  '|1\r\n+a\r\n+b\r\n+c\r\n',
  '!3\r\nerr\r\n',
];

for (const input of malformed) {
  test(`malformed reply ${JSON.stringify(input)} -> ${Code.malformed}`, () => {
    const wire = latin1(`+OK\r\n${input}+OK\r\n`);
    const expected = [reply.ok, { error: Code.malformed }];
    assert.deepEqual(decode([wire]), expected);
    assert.deepEqual(decode(bytewise(wire)), expected);
  });
}

test('bounds: reply bytes, forged aggregate counts and nesting depth, at the edge and one past it', () => {
  const bounds = { replyBytesMax: 100, depthMax: 3 };
  const tooLarge = [{ error: Code.tooLarge }];
  const bulk = (n: number): string => `$${n}\r\n${'x'.repeat(n)}\r\n`;
  assert.equal(decode([latin1(bulk(93))], bounds).length, 1, '100 bytes exactly');
  assert.deepEqual(decode([latin1(bulk(94))], bounds), tooLarge);
  assert.deepEqual(decode([latin1('$1000000\r\n')], bounds), tooLarge, 'refused on the length alone');
  assert.deepEqual(decode([latin1('*40\r\n')], bounds), tooLarge, 'a count that cannot fit');
  assert.deepEqual(decode([latin1(`+${'x'.repeat(200)}`)], bounds), tooLarge, 'a line with no end in sight');
  assert.equal(decode([latin1('*1\r\n*1\r\n*1\r\n:1\r\n')], bounds).length, 1, 'depth 3');
  assert.deepEqual(decode([latin1('*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n')], bounds), tooLarge, 'depth 4');
  // The bound is per reply: many replies in one stream are fine.
  assert.equal(decode([latin1(bulk(80).repeat(10))], bounds).length, 10);
});

test('big bulks are assembled once: each byte copied in once and growth copying at most as much again', () => {
  const big = new Uint8Array(4 * 1024 * 1024).map((_, i) => (i * 7) & 0xff);
  const wire = Buffer.concat([encodeReply({ type: 'bulk', value: big }, 2), encodeReply(reply.ok, 2)]);
  const d = new RespReplyDecoder();
  const got: unknown[] = [];
  for (let at = 0; at < wire.length; at += 1000) {
    d.push(wire.subarray(at, at + 1000));
    for (let r = d.next(); r !== undefined; r = d.next()) got.push(r);
  }
  assert.deepEqual(got, [{ type: 'bulk', value: big }, reply.ok]);
  assert.ok(d.copiedBytes <= 2 * wire.length + 2 * 65_536, `${d.copiedBytes} copied for ${wire.length}`);
});

test('a deep and a wide reply encode and decode without recursion', () => {
  let deep: RespValue = reply.integer(1);
  for (let i = 0; i < 60; i++) deep = reply.array([deep]);
  assert.deepEqual(decode([encodeReply(deep, 3)]), [deep]);
  const wide = reply.array(Array.from({ length: 100_000 }, (_, i) => reply.integer(i)));
  assert.deepEqual(decode([encodeReply(wide, 2)]), [wide]);
});
