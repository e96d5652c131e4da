// Goal: the RESP request decoder (request.ts grammar: multibulk and inline requests, Redis 7.0.15's
// networking.c semantics) yields the same commands and errors for any chunking of the same bytes —
// whole, a byte at a time, in random cuts (the nats.js parser discipline, as src/net/frame.test.ts)
// — provokes every error code with Redis' exact text, holds every bound at its edge, skips what
// Redis skips, and copies each byte a bounded number of times (no O(n^2) assembly of big bulks).
// Inline splitting follows sds.c sdssplitargs; golden.test.ts checks it against the real server.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ProtocolError } from '../../lib/errors.ts';
import { limits } from '../../lib/limits.ts';
import { bytewise, splitAt } from '../../net/testing.ts';
import {
  encodeCommand,
  parseRedisInteger,
  protocolErrorReply,
  RespRequestDecoder,
  RespRequestErrorCode as Code,
  type RespRequestBounds,
  splitInlineArgs,
} from './index.ts';

const latin1 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));
const str = (b: Uint8Array): string => Buffer.from(b).toString('latin1');

type Out = string[] | { error: string; text: string | null };

function decode(chunks: Uint8Array[], bounds: Partial<RespRequestBounds> = {}): Out[] {
  const d = new RespRequestDecoder(bounds);
  const out: Out[] = [];
  for (const c of chunks) {
    d.push(c);
    for (let r = d.next(); r !== undefined; r = d.next()) {
      if (r instanceof ProtocolError) {
        out.push({ error: r.code, text: r.fields.redisText as string | null });
        assert.equal(d.next(), undefined, 'nothing after an error');
        d.push(latin1('PING\r\n'));
        assert.equal(d.next(), undefined, 'nothing after an error, even with more bytes');
        return out;
      }
      out.push(r.map(str));
    }
  }
  return out;
}

/** Decodes whole, byte by byte and cut at `cuts`; asserts all three agree and returns the result. */
function decodeAnyhow(bytes: Uint8Array, bounds: Partial<RespRequestBounds> = {}, cuts: number[] = [3, 7, 20]): Out[] {
  const whole = decode([bytes], bounds);
  assert.deepEqual(decode(bytewise(bytes), bounds), whole, 'byte by byte');
  assert.deepEqual(decode(splitAt(bytes, cuts), bounds), whole, 'cut');
  return whole;
}

const argArb = fc.uint8Array({ maxLength: 40 });
const commandArb = fc.array(argArb, { minLength: 1, maxLength: 6 });

test('multibulk: any commands, pipelined, decode alike whole, byte by byte and in random chunks', () => {
  fc.assert(
    fc.property(fc.array(commandArb, { maxLength: 10 }), fc.array(fc.nat(), { maxLength: 30 }), (commands, cuts) => {
      const wire = Buffer.concat(commands.map((c) => encodeCommand(c)));
      const expected = commands.map((c) => c.map(str));
      assert.deepEqual(decode([wire]), expected);
      assert.deepEqual(decode(bytewise(wire)), expected);
      assert.deepEqual(decode(splitAt(wire, cuts)), expected);
    }),
    { numRuns: 200 },
  );
});

/** Our own inline quoting: every byte of a non-empty argument as \xHH inside double quotes. */
const quoteInline = (arg: Uint8Array): string =>
  `"${Array.from(arg, (b) => `\\x${b.toString(16).padStart(2, '0')}`).join('')}"`;

test('inline: any arguments quoted with \\xHH, mixed with multibulk requests and blank lines, decode alike', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(commandArb, fc.boolean(), fc.constantFrom('\r\n', '\n', '\n\r\n', '\r\n  \t\r\n')), {
        maxLength: 8,
      }),
      fc.array(fc.nat(), { maxLength: 30 }),
      (requests, cuts) => {
        const wire = latin1(
          requests
            .map(([c, inline, end]) => (inline ? c.map(quoteInline).join(' ') + end : str(encodeCommand(c))))
            .join(''),
        );
        const expected = requests.map(([c]) => c.map(str));
        assert.deepEqual(decode([wire]), expected);
        assert.deepEqual(decode(bytewise(wire)), expected);
        assert.deepEqual(decode(splitAt(wire, cuts)), expected);
      },
    ),
    { numRuns: 200 },
  );
});

test('inline: plain tokens separated by any blanks split into exactly those tokens', () => {
  const plainByte = fc.integer({ min: 0x21, max: 0xff }).filter((b) => b !== 0x22 && b !== 0x27);
  const blanks = fc.array(fc.constantFrom(' ', '\t', '\x0b', '\x0c', '\r'), { minLength: 1, maxLength: 3 });
  fc.assert(
    fc.property(
      fc.array(fc.array(plainByte, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 6 }),
      fc.array(blanks, { minLength: 8, maxLength: 8 }),
      (tokens, seps) => {
        const words = tokens.map((t) => String.fromCharCode(...t));
        // A VT or FF only separates where a token cannot absorb it: at the line's start.
        const sep = (i: number): string =>
          seps[i % seps.length]!.map((c) => (c === '\x0b' || c === '\x0c' ? ' ' : c)).join('');
        const line = seps[0]!.join('') + words.map((w, i) => w + sep(i)).join('');
        assert.deepEqual(splitInlineArgs(latin1(line))?.map(str), words);
      },
    ),
  );
});

test('sdssplitargs rules: blanks, quotes inside tokens, escapes, \\x, single quotes', () => {
  const split = (s: string): string[] | null => splitInlineArgs(latin1(s))?.map(str) ?? null;
  assert.deepEqual(split(''), []);
  assert.deepEqual(split(' \t\x0b\x0c\r '), []);
  assert.deepEqual(split('SET  a\tb'), ['SET', 'a', 'b']);
  assert.deepEqual(split('a"b c"'), ['ab c']);
  assert.deepEqual(split("a'b c'"), ['ab c']);
  assert.deepEqual(split('"\\x41\\x4a\\n\\r\\t\\b\\a\\q\\\\\\"\\x4\\xZZ"'), ['AJ\n\r\t\b\x07q\\"x4xZZ']);
  assert.deepEqual(split("'it\\'s \\n'"), ["it's \\n"]);
  assert.deepEqual(split('"" \'\''), ['', '']);
  assert.deepEqual(split('\x0bvt\x0b'), ['vt\x0b'], 'VT is a blank between tokens but kept inside one');
  assert.deepEqual(split('"\\xff\\x00"'), ['\xff\x00']);
  assert.deepEqual(split('"a\\'), null, 'a backslash at the end of an open quote');
  assert.equal(split('"abc'), null);
  assert.equal(split("'abc"), null);
  assert.equal(split('"a"b'), null, 'closing quote followed by a non-blank');
  assert.equal(split("'a'b"), null);
  assert.deepEqual(split('"a"\tb'), ['a', 'b']);
});

test("string2ll: Redis' strict integers, nothing else", () => {
  const ok: Array<[string, number]> = [
    ['0', 0],
    ['1', 1],
    ['-1', -1],
    ['123', 123],
    ['9223372036854775807', 2 ** 63], // lossy past 2^53: only compared with bounds far below
    ['-9223372036854775808', -(2 ** 63)],
  ];
  for (const [s, n] of ok) assert.equal(parseRedisInteger(latin1(s)), n, s);
  for (const s of [
    '',
    '-',
    '+1',
    '01',
    '-0',
    ' 1',
    '1 ',
    '1a',
    '9223372036854775808',
    '-9223372036854775809',
    '1'.repeat(21),
  ]) {
    assert.equal(parseRedisInteger(latin1(s)), undefined, JSON.stringify(s));
  }
});

test('skipped as Redis skips them: blank inline lines, *0, *-1, *-5', () => {
  assert.deepEqual(decodeAnyhow(latin1('\r\n\n  \r\n*0\r\n*-1\r\n*-5\r\nPING\r\n')), [['PING']]);
});

test("Redis' tolerances: the byte after a header's CR and the two bytes after a bulk are not checked", () => {
  assert.deepEqual(decodeAnyhow(latin1('*1\rX$4\rYPINGxx*1\r\n$1\r\nQ\r\n')), [['PING'], ['Q']]);
});

/** Every error code with Redis' exact reply text, after a good request, whole and byte by byte. */
const errors: Array<[string, string, string, string | null]> = [
  ['*abc\r\n', Code.invalidMultibulkLength, 'Protocol error: invalid multibulk length', null],
  ['*01\r\n', Code.invalidMultibulkLength, 'Protocol error: invalid multibulk length', null],
  ['*3000000000\r\n', Code.invalidMultibulkLength, 'Protocol error: invalid multibulk length', null],
  ['*1\r\n$abc\r\n', Code.invalidBulkLength, 'Protocol error: invalid bulk length', null],
  ['*1\r\n$-1\r\n', Code.invalidBulkLength, 'Protocol error: invalid bulk length', null],
  ['*1\r\nx3\r\nfoo\r\n', Code.expectedBulk, "Protocol error: expected '$', got 'x'", null],
  ['*2\r\n$4\r\nECHO\r\n\r\n', Code.expectedBulk, "Protocol error: expected '$', got ' '", null],
  ['*1\r\n\n3\r\n', Code.expectedBulk, "Protocol error: expected '$', got ' '", null],
  ['*1\r\n\xff3\r\n', Code.expectedBulk, "Protocol error: expected '$', got '\xff'", null],
  ['SET a "b\r\n', Code.unbalancedQuotes, 'Protocol error: unbalanced quotes in request', null],
  ["SET 'a'b\r\n", Code.unbalancedQuotes, 'Protocol error: unbalanced quotes in request', null],
  ['a'.repeat(65_537), Code.inlineTooBig, 'Protocol error: too big inline request', null],
  [`*${'1'.repeat(65_537)}`, Code.mbulkCountTooBig, 'Protocol error: too big mbulk count string', null],
  [`*1\r\n$${'1'.repeat(65_537)}`, Code.bulkCountTooBig, 'Protocol error: too big bulk count string', null],
];

for (const [input, code, text] of errors) {
  test(`error ${code}: ${JSON.stringify(input.slice(0, 24))} -> "${text}"`, () => {
    const wire = latin1(`PING\r\n${input}`);
    const expected = [['PING'], { error: code, text }];
    assert.deepEqual(decode([wire]), expected);
    assert.deepEqual(decode(bytewise(wire)), expected);
    const d = new RespRequestDecoder();
    d.push(wire);
    d.next();
    const error = d.next();
    assert.ok(error instanceof ProtocolError);
    assert.equal(str(protocolErrorReply(error)!), `-ERR ${text}\r\n`);
  });
}

test('the line bounds trip at exactly respInlineBytesMax + 1 bytes without a terminator', () => {
  const max = limits.respInlineBytesMax;
  const pad = (n: number): string => 'x'.repeat(n);
  // An inline line of max bytes before its LF (a CR counted) is fine; one more byte is not.
  assert.deepEqual(decode([latin1(`ECHO ${pad(max - 6)}\r\n`)]), [['ECHO', pad(max - 6)]]);
  assert.deepEqual(decode([latin1(`ECHO ${pad(max - 5)}\n`)]), [['ECHO', pad(max - 5)]]);
  assert.deepEqual(decode([latin1(`ECHO ${pad(max - 4)}\n`)]), [
    { error: Code.inlineTooBig, text: 'Protocol error: too big inline request' },
  ]);
  // A *N line whose CR is the (max+1)th byte is not too big (Redis found the CR); then it is just invalid.
  const star = `*${'0'.repeat(max - 1)}\r\n`;
  assert.deepEqual(decode(splitAt(latin1(star), [max + 1])), [
    { error: Code.invalidMultibulkLength, text: 'Protocol error: invalid multibulk length' },
  ]);
  // Waiting below the bound: no error yet, and nothing decoded.
  const d = new RespRequestDecoder();
  d.push(latin1(`*1\r\n$${'1'.repeat(max - 1)}`)); // max bytes of the $N line
  assert.equal(d.next(), undefined);
  d.push(latin1('1'));
  assert.equal((d.next() as ProtocolError).code, Code.bulkCountTooBig);
});

test("a NUL before a line's end: the line never ends (Redis' strchr) and trips the bound", () => {
  const d = new RespRequestDecoder();
  d.push(latin1('PING\x00\r\nPING\r\n'));
  assert.equal(d.next(), undefined, 'not a PING');
  d.push(new Uint8Array(limits.respInlineBytesMax - 13).fill(0x61)); // max bytes held
  assert.equal(d.next(), undefined);
  d.push(latin1('a'));
  assert.equal((d.next() as ProtocolError).code, Code.inlineTooBig);
  // NUL inside a bulk is just data.
  assert.deepEqual(decodeAnyhow(encodeCommand(['ECHO', latin1('a\x00b\r\n')])), [['ECHO', 'a\x00b\r\n']]);
});

test('bounds: bulk length, argument count and command bytes, at the edge and one past it', () => {
  const bounds = { bulkBytesMax: 100, multibulkCountMax: 5, commandBytesMax: 250 };
  const x = (n: number): Uint8Array => new Uint8Array(n).fill(0x78);
  assert.equal(decodeAnyhow(encodeCommand([x(100)]), bounds).length, 1);
  assert.deepEqual(decodeAnyhow(encodeCommand([x(101)]), bounds), [
    { error: Code.invalidBulkLength, text: 'Protocol error: invalid bulk length' },
  ]);
  assert.equal(decodeAnyhow(encodeCommand(['a', 'b', 'c', 'd', 'e']), bounds).length, 1);
  assert.deepEqual(decodeAnyhow(encodeCommand(['a', 'b', 'c', 'd', 'e', 'f']), bounds), [
    { error: Code.invalidMultibulkLength, text: 'Protocol error: invalid multibulk length' },
  ]);
  assert.equal(decodeAnyhow(encodeCommand([x(100), x(100), x(50)]), bounds).length, 1);
  // Over commandBytesMax: closed without a reply, as Redis past client-query-buffer-limit.
  assert.deepEqual(decodeAnyhow(encodeCommand([x(100), x(100), x(51)]), bounds), [
    { error: Code.commandTooLarge, text: null },
  ]);
  const d = new RespRequestDecoder(bounds);
  d.push(encodeCommand([x(100), x(100), x(51)]));
  assert.equal(protocolErrorReply(d.next() as ProtocolError), undefined);
});

test('big bulks: assembled once (each byte copied in once and growth copying at most as much again), held memory tracks what arrived', () => {
  const big = new Uint8Array(4 * 1024 * 1024).map((_, i) => i & 0xff);
  const wire = Buffer.concat([encodeCommand(['SET', 'k', big]), encodeCommand(['GET', 'k'])]);
  for (const chunkBytes of [1000, 16 * 1024, 65_536]) {
    const d = new RespRequestDecoder();
    const got: Uint8Array[][] = [];
    for (let at = 0; at < wire.length; at += chunkBytes) {
      d.push(wire.subarray(at, at + chunkBytes));
      for (let r = d.next(); r !== undefined; r = d.next()) got.push(r as Uint8Array[]);
    }
    assert.equal(got.length, 2);
    assert.deepEqual(got[0]![2], big);
    assert.ok(
      d.copiedBytes <= 2 * wire.length + 2 * 65_536,
      `${chunkBytes}-byte chunks: ${d.copiedBytes} copied for ${wire.length}`,
    );
  }
  // A forged length followed by a trickle: memory held follows the bytes sent, not the length declared.
  const d = new RespRequestDecoder();
  d.push(latin1(`*1\r\n$${limits.respBulkBytesMax}\r\n`));
  for (let i = 0; i < 100; i++) d.push(new Uint8Array(1000));
  assert.equal(d.next(), undefined);
  assert.ok(d.heldBytes <= 2 * 100_000 + 64 * 1024, `held ${d.heldBytes}`);
});

test('the decoder does not overflow the stack on a chunk of a million tiny requests', () => {
  const one = latin1('*1\r\n$1\r\nA\r\n');
  const wire = new Uint8Array(one.length * 1_000_000);
  for (let i = 0; i < 1_000_000; i++) wire.set(one, i * one.length);
  const d = new RespRequestDecoder();
  d.push(wire);
  let n = 0;
  while (d.next() !== undefined) n++;
  assert.equal(n, 1_000_000);
});

test('one request of many arguments in one chunk is decoded without recursion', () => {
  const args = Array.from({ length: 200_000 }, () => 'a');
  const d = new RespRequestDecoder();
  d.push(encodeCommand(args));
  assert.equal((d.next() as Uint8Array[]).length, 200_000);
});

test('heldBytes counts the arguments a partial command has decoded, beside its unread input', () => {
  // A review: three arguments of 1 MB taken, a fourth never sent, reported only the input.
  const d = new RespRequestDecoder();
  const arg = `$1000000\r\n${'x'.repeat(1_000_000)}\r\n`;
  d.push(latin1(`*5\r\n${arg}${arg}${arg}$3\r\nab`));
  assert.equal(d.next(), undefined);
  assert.ok(d.heldBytes >= 3_000_000, `${d.heldBytes} bytes held`);
  d.push(latin1(`c\r\n$1\r\nz\r\n`));
  const command = d.next();
  assert.ok(Array.isArray(command) && command.length === 5);
  assert.ok(d.heldBytes < 1_000_000, `${d.heldBytes} bytes held once the command is out`);
});
