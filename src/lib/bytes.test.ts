// Goal: the byte codec helpers round-trip every value they accept, produce the exact wire bytes
// the Kafka protocol guide and ZooKeeper jute specify (big-endian, zigzag varints, length
// prefixes), and turn every malformed or short input into a ProtocolError — never an assert.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ByteReader, ByteWriter, latin1String, utf8ByteLength, uvarintBytes } from './bytes.ts';
import { LimitError, ProtocolError } from './errors.ts';

type Field =
  | { kind: 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'uvarint' | 'varint' | 'f64'; value: number }
  | { kind: 'i64' | 'u64' | 'varlong'; value: bigint }
  | { kind: 'bool'; value: boolean }
  | { kind: 'bytesI32' | 'compactBytes'; value: Uint8Array | null }
  | { kind: 'bytesUvarint'; value: Uint8Array }
  | { kind: 'stringI16' | 'stringI32' | 'compactString'; value: string | null }
  | { kind: 'stringUvarint'; value: string };

const fieldArb: fc.Arbitrary<Field> = fc.oneof(
  fc.integer({ min: 0, max: 0xff }).map((value) => ({ kind: 'u8' as const, value })),
  fc.integer({ min: -0x80, max: 0x7f }).map((value) => ({ kind: 'i8' as const, value })),
  fc.integer({ min: 0, max: 0xffff }).map((value) => ({ kind: 'u16' as const, value })),
  fc.integer({ min: -0x8000, max: 0x7fff }).map((value) => ({ kind: 'i16' as const, value })),
  fc.integer({ min: 0, max: 0xffff_ffff }).map((value) => ({ kind: 'u32' as const, value })),
  fc.integer().map((value) => ({ kind: 'i32' as const, value })),
  fc.maxSafeNat().map((value) => ({ kind: 'uvarint' as const, value })),
  fc.integer().map((value) => ({ kind: 'varint' as const, value })),
  fc.double().map((value) => ({ kind: 'f64' as const, value })),
  fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }).map((value) => ({ kind: 'i64' as const, value })),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((value) => ({ kind: 'u64' as const, value })),
  fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }).map((value) => ({ kind: 'varlong' as const, value })),
  fc.boolean().map((value) => ({ kind: 'bool' as const, value })),
  fc.option(fc.uint8Array({ maxLength: 40 }), { nil: null }).map((value) => ({ kind: 'bytesI32' as const, value })),
  fc.option(fc.uint8Array({ maxLength: 40 }), { nil: null }).map((value) => ({ kind: 'compactBytes' as const, value })),
  fc.uint8Array({ maxLength: 40 }).map((value) => ({ kind: 'bytesUvarint' as const, value })),
  fc
    .option(fc.string({ unit: 'binary', maxLength: 30 }), { nil: null })
    .map((value) => ({ kind: 'stringI16' as const, value })),
  fc
    .option(fc.string({ unit: 'binary', maxLength: 30 }), { nil: null })
    .map((value) => ({ kind: 'stringI32' as const, value })),
  fc
    .option(fc.string({ unit: 'binary', maxLength: 30 }), { nil: null })
    .map((value) => ({ kind: 'compactString' as const, value })),
  fc.string({ unit: 'binary', maxLength: 30 }).map((value) => ({ kind: 'stringUvarint' as const, value })),
);

function write(w: ByteWriter, f: Field): void {
  switch (f.kind) {
    case 'u8':
      w.u8(f.value);
      break;
    case 'i8':
      w.i8(f.value);
      break;
    case 'u16':
      w.u16(f.value);
      break;
    case 'i16':
      w.i16(f.value);
      break;
    case 'u32':
      w.u32(f.value);
      break;
    case 'i32':
      w.i32(f.value);
      break;
    case 'uvarint':
      w.uvarint(f.value);
      break;
    case 'varint':
      w.varint(f.value);
      break;
    case 'f64':
      w.f64(f.value);
      break;
    case 'i64':
      w.i64(f.value);
      break;
    case 'u64':
      w.u64(f.value);
      break;
    case 'varlong':
      w.varlong(f.value);
      break;
    case 'bool':
      w.bool(f.value);
      break;
    case 'bytesI32':
      w.bytesI32(f.value);
      break;
    case 'compactBytes':
      w.compactBytes(f.value);
      break;
    case 'bytesUvarint':
      w.bytesUvarint(f.value);
      break;
    case 'stringI16':
      w.stringI16(f.value);
      break;
    case 'stringI32':
      w.stringI32(f.value);
      break;
    case 'compactString':
      w.compactString(f.value);
      break;
    case 'stringUvarint':
      w.stringUvarint(f.value);
      break;
  }
}

function read(r: ByteReader, kind: Field['kind']): unknown {
  switch (kind) {
    case 'u8':
      return r.u8();
    case 'i8':
      return r.i8();
    case 'u16':
      return r.u16();
    case 'i16':
      return r.i16();
    case 'u32':
      return r.u32();
    case 'i32':
      return r.i32();
    case 'uvarint':
      return r.uvarint();
    case 'varint':
      return r.varint();
    case 'f64':
      return r.f64();
    case 'i64':
      return r.i64();
    case 'u64':
      return r.u64();
    case 'varlong':
      return r.varlong();
    case 'bool':
      return r.bool();
    case 'bytesI32':
      return r.bytesI32();
    case 'compactBytes':
      return r.compactBytes();
    case 'bytesUvarint':
      return r.bytesUvarint();
    case 'stringI16':
      return r.stringI16();
    case 'stringI32':
      return r.stringI32();
    case 'compactString':
      return r.compactString();
    case 'stringUvarint':
      return r.stringUvarint();
  }
}

/** What a string looks like after a UTF-8 round trip (lone surrogates become U+FFFD). */
function utf8Normal(value: unknown): unknown {
  return typeof value === 'string' ? new TextDecoder().decode(new TextEncoder().encode(value)) : value;
}

test('any sequence of fields round-trips, and the reader ends exactly at the end', () => {
  fc.assert(
    fc.property(fc.array(fieldArb, { maxLength: 30 }), fc.integer({ min: 1, max: 64 }), (fields, initialBytes) => {
      const w = new ByteWriter({ initialBytes });
      for (const f of fields) write(w, f);
      const bytes = w.finish();
      const r = new ByteReader(bytes);
      for (const f of fields) {
        const got = read(r, f.kind);
        if (f.kind === 'f64') assert.ok(Object.is(got, f.value) || (Number.isNaN(got) && Number.isNaN(f.value)));
        else assert.deepEqual(got, utf8Normal(f.value));
      }
      r.expectEnd();
    }),
    { numRuns: 500 },
  );
});

test('every strict prefix of an encoding fails with ProtocolError truncated, never an assert', () => {
  fc.assert(
    fc.property(fc.array(fieldArb, { minLength: 1, maxLength: 8 }), (fields) => {
      const w = new ByteWriter();
      for (const f of fields) write(w, f);
      const bytes = w.finish();
      for (let cut = 0; cut < bytes.length; cut++) {
        const r = new ByteReader(bytes.subarray(0, cut));
        assert.throws(
          () => {
            for (const f of fields) read(r, f.kind);
            r.expectEnd();
          },
          (e: unknown) => e instanceof ProtocolError,
        );
      }
    }),
    { numRuns: 200 },
  );
});

test('fixed-width integers are big-endian', () => {
  const bytes = new ByteWriter().u16(0x0102).i32(-2).u32(0xdeadbeef).i64(-1n).finish();
  assert.deepEqual(
    [...bytes],
    [1, 2, 0xff, 0xff, 0xff, 0xfe, 0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
  );
});

test('varints match the Kafka protocol guide (zigzag, 7 bits per byte, low group first)', () => {
  const enc = (f: (w: ByteWriter) => void) => {
    const w = new ByteWriter();
    f(w);
    return [...w.finish()];
  };
  assert.deepEqual(
    enc((w) => w.varint(0)),
    [0x00],
  );
  assert.deepEqual(
    enc((w) => w.varint(-1)),
    [0x01],
  );
  assert.deepEqual(
    enc((w) => w.varint(1)),
    [0x02],
  );
  assert.deepEqual(
    enc((w) => w.varint(-64)),
    [0x7f],
  );
  assert.deepEqual(
    enc((w) => w.varint(64)),
    [0x80, 0x01],
  );
  assert.deepEqual(
    enc((w) => w.varint(2147483647)),
    [0xfe, 0xff, 0xff, 0xff, 0x0f],
  );
  assert.deepEqual(
    enc((w) => w.varint(-2147483648)),
    [0xff, 0xff, 0xff, 0xff, 0x0f],
  );
  assert.deepEqual(
    enc((w) => w.uvarint(300)),
    [0xac, 0x02],
  );
  assert.deepEqual(
    enc((w) => w.varlong(-(1n << 63n))),
    [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
  );
  assert.deepEqual(
    enc((w) => w.compactString(null)),
    [0x00],
  );
  assert.deepEqual(
    enc((w) => w.compactString('ab')),
    [0x03, 0x61, 0x62],
  );
  assert.deepEqual(
    enc((w) => w.stringI16(null)),
    [0xff, 0xff],
  );
  assert.deepEqual(
    enc((w) => w.stringI32('é')),
    [0, 0, 0, 2, 0xc3, 0xa9],
  );
  assert.deepEqual(
    enc((w) => w.bytesI32(null)),
    [0xff, 0xff, 0xff, 0xff],
  );
});

test('malformed input becomes a typed ProtocolError with a stable code', () => {
  const code = (bytes: number[], f: (r: ByteReader) => unknown): string => {
    try {
      f(new ByteReader(Uint8Array.from(bytes)));
    } catch (e) {
      assert.ok(e instanceof ProtocolError, `expected ProtocolError, got ${String(e)}`);
      return e.code;
    }
    return 'no error';
  };
  assert.equal(
    code([0x80, 0x80, 0x80, 0x80, 0x80, 0x01], (r) => r.varint()),
    'varint_overflow',
  );
  assert.equal(
    code([0xff, 0xff, 0xff, 0xff, 0x1f], (r) => r.uvarint32()),
    'varint_overflow',
  );
  assert.equal(
    code(Array(11).fill(0x80), (r) => r.varlong()),
    'varint_overflow',
  );
  assert.equal(
    code([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], (r) => r.uvarint()),
    'varint_overflow',
  );
  assert.equal(
    code([0x80], (r) => r.uvarint()),
    'truncated',
  );
  assert.equal(
    code([0xff, 0xfe], (r) => r.stringI16()),
    'invalid_length',
  );
  assert.equal(
    code([0xff, 0xff], (r) => r.stringI16NotNull()),
    'invalid_length',
  );
  assert.equal(
    code([0x7f, 0xff, 0xff, 0xff], (r) => r.bytesI32()),
    'truncated',
  );
  assert.equal(
    code([0, 2, 0xc3, 0x28], (r) => r.stringI16()),
    'invalid_utf8',
  );
  assert.equal(
    code([2], (r) => r.bool()),
    'invalid_boolean',
  );
  assert.equal(
    code([1, 2], (r) => {
      r.u8();
      r.expectEnd();
    }),
    'trailing_bytes',
  );
});

test('the writer rejects growth past bytesMax with a LimitError and keeps what fit', () => {
  const w = new ByteWriter({ bytesMax: 10, initialBytes: 2 });
  w.u32(1).u32(2);
  assert.throws(
    () => w.u32(3),
    (e: unknown) => e instanceof LimitError && e.code === 'limit_exceeded',
  );
  w.u16(7);
  assert.equal(w.finish().length, 10);
});

test('non-ASCII strings whose UTF-8 length needs a longer varint prefix than their code-unit length', () => {
  for (const s of ['é'.repeat(100), 'a'.repeat(126) + 'é', '😀'.repeat(40), 'x'.repeat(200)]) {
    const w = new ByteWriter({ initialBytes: 8 });
    w.stringUvarint(s).compactString(s).stringI16(s).stringI32(s);
    const r = new ByteReader(w.finish());
    assert.equal(r.stringUvarint(), s);
    assert.equal(r.compactString(), s);
    assert.equal(r.stringI16(), s);
    assert.equal(r.stringI32(), s);
    r.expectEnd();
  }
});

test('patchU32 fills in a length known only after the body', () => {
  const w = new ByteWriter();
  w.u32(0).stringUvarint('hello');
  w.patchU32(0, w.length - 4);
  const r = new ByteReader(w.finish());
  assert.equal(r.u32(), 6);
  assert.equal(r.stringUvarint(), 'hello');
});

test('utf8ByteLength agrees with TextEncoder, lone surrogates included', () => {
  fc.assert(
    fc.property(
      fc.string({ unit: 'binary' }),
      fc.string({ unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)) }),
      (a, b) => {
        for (const s of [a, b, a + b]) assert.equal(utf8ByteLength(s), new TextEncoder().encode(s).length);
      },
    ),
  );
});

test('short ASCII strings read from the interned table are each their own bytes, at every length', () => {
  // Every string of up to 3 units over the alphabet's edges (0, 1, 0x7e, 0x7f), plus 7-unit ones
  // (the longest interned): read twice each (the second read hits the table), never another string.
  const alphabet = [0, 1, 0x7e, 0x7f].map((c) => String.fromCharCode(c));
  const strings = [''];
  for (let len = 1; len <= 3; len++) {
    for (const s of strings.filter((x) => x.length === len - 1)) for (const c of alphabet) strings.push(s + c);
  }
  strings.push('\x7f'.repeat(7), '\0'.repeat(7), 'n1node3', 'n1node4', '\x7f'.repeat(6), 'abcdefgh');
  for (let round = 0; round < 2; round++) {
    const w = new ByteWriter();
    for (const s of strings) w.stringUvarint(s).u8(0xaa);
    const r = new ByteReader(w.finish());
    for (const s of strings) {
      assert.equal(r.stringUvarint(), s);
      assert.equal(r.u8(), 0xaa);
    }
    r.expectEnd();
  }
  // A non-ASCII short string is not interned and still decodes; a cut one is truncated.
  const w = new ByteWriter();
  w.stringUvarint('é').stringUvarint('n1');
  const bytes = w.finish();
  assert.equal(new ByteReader(bytes).stringUvarint(), 'é');
  const cut = new ByteReader(bytes.subarray(0, bytes.length - 1));
  assert.equal(cut.stringUvarint(), 'é');
  assert.throws(
    () => cut.stringUvarint(),
    (e: unknown) => e instanceof ProtocolError && e.code === 'truncated',
  );
});

test('uvarintBytes is the length uvarint writes, and a writer made at its encoding size never grows', () => {
  fc.assert(
    fc.property(fc.maxSafeNat(), (v) => {
      assert.equal(new ByteWriter().uvarint(v).finish().length, uvarintBytes(v));
    }),
  );
  for (const [v, n] of [
    [0, 1],
    [0x7f, 1],
    [0x80, 2],
    [0x3fff, 2],
    [0x4000, 3],
    [2 ** 53 - 1, 8],
  ] as const)
    assert.equal(uvarintBytes(v), n, `uvarintBytes(${v})`);
  // Made at exactly its size (past the in-heap 64 bytes, so finish() returns a view of the
  // writer's own buffer): a last 1-byte varint must not grow the buffer (it grew to 512 bytes
  // when uvarint asked for room for its longest encoding).
  for (const last of [1, 300, 2 ** 40]) {
    const size = 100;
    const w = new ByteWriter({ initialBytes: size });
    w.raw(new Uint8Array(size - uvarintBytes(last)));
    const bytes = w.uvarint(last).finish();
    assert.equal(bytes.length, size);
    assert.equal(bytes.buffer.byteLength, size, `the buffer grew for a last varint of ${last}`);
  }
});

test('latin1String is one char per byte for every byte value, across its 4 KiB chunks', () => {
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  const s = latin1String(all);
  assert.equal(s.length, 256);
  for (let i = 0; i < 256; i++) assert.equal(s.charCodeAt(i), i);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 10_000 }), (bytes) => {
      assert.equal(latin1String(bytes), Buffer.from(bytes).toString('latin1'));
    }),
    { numRuns: 200 },
  );
  assert.equal(latin1String(new Uint8Array(0)), '');
  const long = Uint8Array.from({ length: 3 * 4096 + 7 }, (_, i) => (i * 31) & 0xff);
  assert.equal(latin1String(long), Buffer.from(long).toString('latin1'));
});

test('fixed-width reads and f64 writes by hand equal DataView big-endian, every bit pattern', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 8, maxLength: 8 }), (b) => {
      const dv = new DataView(b.buffer, b.byteOffset, 8);
      assert.equal(new ByteReader(b).i8(), dv.getInt8(0));
      assert.equal(new ByteReader(b).u16(), dv.getUint16(0));
      assert.equal(new ByteReader(b).i16(), dv.getInt16(0));
      assert.equal(new ByteReader(b).u32(), dv.getUint32(0));
      assert.equal(new ByteReader(b).i32(), dv.getInt32(0));
      assert.ok(Object.is(new ByteReader(b).f64(), dv.getFloat64(0)), `f64 of ${b.join(',')}`);
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.double(), (x) => {
      const expected = new Uint8Array(8);
      new DataView(expected.buffer).setFloat64(0, x);
      assert.deepEqual(new ByteWriter().f64(x).finish(), expected);
      assert.ok(Object.is(new ByteReader(expected).f64(), x));
    }),
    { numRuns: 2000 },
  );
  for (const x of [0, -0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.MIN_VALUE, 1e300]) {
    assert.ok(Object.is(new ByteReader(new ByteWriter().f64(x).finish()).f64(), x), `${x}`);
  }
});
