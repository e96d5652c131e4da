// RESP replies: the value type both sides share and the encoder for RESP2 and RESP3, with Redis
// 7.0.15's downgrades of RESP3 types for a RESP2 connection (networking.c addReply*), implemented
// from the spec (redis-specifications, protocol/RESP3.md) and that description.
//
// Grammar (CRLF ends every line; <n> is a decimal length or count):
//
//   reply      = simple / error / integer / bulk / array          ; RESP2 and RESP3
//              / null / double / boolean / bignum / verbatim / map / set / push   ; RESP3 only
//   simple     = "+" text CRLF               error   = "-" text CRLF   ; text holds no CR or LF
//   integer    = ":" ["-"] digits CRLF       ; signed 64-bit
//   bulk       = "$" <n> CRLF <n bytes> CRLF / "$-1" CRLF (RESP2 null)
//   array      = "*" <n> CRLF <n replies> / "*-1" CRLF (RESP2 null array)
//   null       = "_" CRLF
//   double     = "," ( %.17g of the value / "inf" / "-inf" / "nan" ) CRLF
//   boolean    = "#" ( "t" / "f" ) CRLF
//   bignum     = "(" ["-"] digits CRLF
//   verbatim   = "=" <n> CRLF 3-byte-format ":" <n - 4 bytes> CRLF
//   map        = "%" <n> CRLF <n key-value pairs>       set = "~" ...     push = ">" ...
// Not produced nor decoded: attributes ("|"), blob errors ("!") and streamed strings and
// aggregates ("$?", ";"): Redis 7.0 sends none of them to clients.
//
// Downgrades on a RESP2 connection, as Redis makes them: map -> flat array of 2n (key, value, ...);
// set and push -> array; null -> "$-1" and nullArray -> "*-1" (Redis' addReplyNull and
// addReplyNullArray, both "_" in RESP3); double -> bulk string of the same text; boolean -> ":1" /
// ":0"; bignum -> bulk string of its digits; verbatim -> bulk string of the text without format.
//
// Simple strings and errors are bytes on the wire, often not UTF-8 (Redis echoes the bytes of an
// unknown command): `string | Uint8Array`. A string is encoded as UTF-8; the decoder yields a
// string when the bytes are valid UTF-8 and the bytes otherwise, so decode -> encode is the
// identity. CR and LF in them become spaces (Redis' addReplyErrorFormat does so for errors): they
// would end the line early.

import { assert } from '../../lib/assert.ts';

export type RespText = string | Uint8Array;

export type RespValue =
  | { readonly type: 'simple'; readonly value: RespText }
  | {
      readonly type: 'error';
      readonly message: RespText;
      /**
       * Not on the wire: the command wrote nothing because no quorum answered now, so the same
       * command may simply be tried again (a blocking pop at N > 1 stays blocked on it).
       */
      readonly retriable?: true;
    }
  | { readonly type: 'integer'; readonly value: bigint }
  | { readonly type: 'bulk'; readonly value: Uint8Array }
  /** RESP2 "$-1" (Redis' null bulk), RESP3 "_". */
  | { readonly type: 'null' }
  /** RESP2 "*-1" (Redis' null array), RESP3 "_". */
  | { readonly type: 'nullArray' }
  | {
      readonly type: 'array';
      readonly items: readonly RespValue[];
      /**
       * Every item is an array (a pair) that a RESP2 connection gets spliced into this one: Redis'
       * "addReplyArrayLen(c,2) only when resp > 2" (ZRANGE WITHSCORES, HRANDFIELD WITHVALUES, ZPOPMIN
       * with a count): RESP3 [[m, s], ...], RESP2 [m, s, ...].
       */
      readonly flatInResp2?: boolean;
    }
  | { readonly type: 'map'; readonly entries: ReadonlyArray<readonly [RespValue, RespValue]> }
  | { readonly type: 'set'; readonly items: readonly RespValue[] }
  | { readonly type: 'push'; readonly items: readonly RespValue[] }
  | { readonly type: 'double'; readonly value: number }
  | { readonly type: 'boolean'; readonly value: boolean }
  | { readonly type: 'bignum'; readonly value: bigint }
  /** `format` is 3 bytes, one char per byte ("txt", "mkd"). */
  | { readonly type: 'verbatim'; readonly format: string; readonly text: Uint8Array };

export type RespProtocol = 2 | 3;

const utf8 = new TextEncoder();

/** Convenience constructors for the common replies. */
export const reply = {
  ok: { type: 'simple', value: 'OK' } as RespValue,
  simple: (value: RespText): RespValue => ({ type: 'simple', value }),
  error: (message: RespText): RespValue => ({ type: 'error', message }),
  integer: (value: bigint | number): RespValue => ({ type: 'integer', value: BigInt(value) }),
  bulk: (value: Uint8Array | string): RespValue => ({
    type: 'bulk',
    value: typeof value === 'string' ? utf8.encode(value) : value,
  }),
  null: { type: 'null' } as RespValue,
  nullArray: { type: 'nullArray' } as RespValue,
  array: (items: readonly RespValue[]): RespValue => ({ type: 'array', items }),
};

/**
 * The text Redis writes for a double: C's printf("%.17g"), with "inf", "-inf" and "nan" (addReplyDouble
 * spells the infinities out; glibc prints a NaN as "nan" or "-nan", we always "nan"). Exact: the
 * double's decimal expansion is computed with bigints and rounded half to even at 17 significant
 * digits, as glibc does (JavaScript's toPrecision rounds ties away from zero).
 */
export function formatDouble(d: number): string {
  if (Number.isNaN(d)) return 'nan';
  if (d === Number.POSITIVE_INFINITY) return 'inf';
  if (d === Number.NEGATIVE_INFINITY) return '-inf';
  if (d === 0) return Object.is(d, -0) ? '-0' : '0';
  const negative = d < 0;
  const { digits, exponent } = roundedDigits(Math.abs(d), 17);
  // %g: exponent X of the rounded value; fixed notation iff -4 <= X < precision.
  let out: string;
  const trimmed = digits.replace(/0+$/, '');
  if (exponent < -4 || exponent >= 17) {
    const mantissa = trimmed.length > 1 ? `${trimmed[0]}.${trimmed.slice(1)}` : trimmed;
    const e = Math.abs(exponent);
    out = `${mantissa}e${exponent < 0 ? '-' : '+'}${e < 10 ? `0${e}` : e}`;
  } else if (exponent < 0) {
    out = `0.${'0'.repeat(-exponent - 1)}${trimmed}`;
  } else {
    const intPart = digits.slice(0, exponent + 1);
    const frac = trimmed.slice(exponent + 1);
    out = frac.length > 0 ? `${intPart}.${frac}` : intPart;
  }
  return negative ? `-${out}` : out;
}

/**
 * The `precision` significant decimal digits of a positive finite double, rounded half to even
 * from its exact value, and the decimal exponent of the first.
 */
function roundedDigits(x: number, precision: number): { digits: string; exponent: number } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const biased = (hi >>> 20) & 0x7ff;
  let mantissa = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let exp2: number;
  if (biased === 0) exp2 = -1074;
  else {
    mantissa |= 1n << 52n;
    exp2 = biased - 1075;
  }
  // x = mantissa * 2^exp2 = all / 10^scale exactly.
  let all: bigint;
  let scale: number;
  if (exp2 >= 0) {
    all = mantissa << BigInt(exp2);
    scale = 0;
  } else {
    all = mantissa * 5n ** BigInt(-exp2);
    scale = -exp2;
  }
  let text = all.toString();
  let exponent = text.length - 1 - scale;
  if (text.length > precision) {
    const kept = BigInt(text.slice(0, precision));
    const rest = text.slice(precision);
    const half = rest[0]! > '5' || (rest[0] === '5' && /[1-9]/.test(rest.slice(1)));
    const tie = rest[0] === '5' && !/[1-9]/.test(rest.slice(1));
    const up = half || (tie && (kept & 1n) === 1n);
    text = (up ? kept + 1n : kept).toString();
    if (text.length > precision) {
      text = text.slice(0, precision);
      exponent++;
    }
  } else text = text.padEnd(precision, '0');
  return { digits: text, exponent };
}

/** Whether a string is ASCII (its UTF-8 is its char codes): the common case, without TextEncoder. */
function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** Growable output for one encode call. */
// One scratch buffer for all encodes (encodeReply runs to completion, nothing re-enters it): an
// encode then allocates only its result. Dropped back to its small size after a large reply.
const scratchBytes = 4096;
const scratchBytesMax = 64 * 1024;
let scratch = new Uint8Array(scratchBytes);

class Writer {
  buf = scratch;
  at = 0;

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.at + n) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.buf.subarray(0, this.at));
    this.buf = grown;
  }

  /** ASCII text (lengths, numbers, type bytes). */
  ascii(s: string): void {
    this.room(s.length);
    for (let i = 0; i < s.length; i++) this.buf[this.at++] = s.charCodeAt(i);
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.at);
    this.at += b.length;
  }

  /** A line's text: UTF-8 of a string, CR and LF as spaces. */
  text(t: RespText): void {
    if (typeof t === 'string' && isAscii(t)) {
      this.room(t.length);
      for (let i = 0; i < t.length; i++) {
        const c = t.charCodeAt(i);
        this.buf[this.at++] = c === 0x0d || c === 0x0a ? 0x20 : c;
      }
      return;
    }
    const b = typeof t === 'string' ? utf8.encode(t) : t;
    this.room(b.length);
    for (let i = 0; i < b.length; i++) {
      const c = b[i]!;
      this.buf[this.at++] = c === 0x0d || c === 0x0a ? 0x20 : c;
    }
  }

  bulk(b: Uint8Array): void {
    this.ascii(`$${b.length}\r\n`);
    this.bytes(b);
    this.ascii('\r\n');
  }

  result(): Uint8Array {
    const out = this.buf.slice(0, this.at);
    if (this.buf.length > scratchBytesMax) scratch = new Uint8Array(scratchBytes);
    else scratch = this.buf;
    return out;
  }
}

const asciiBytes = (s: string): Uint8Array => {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
};

/** The bytes of `value` for a connection speaking `protocol`. */
export function encodeReply(value: RespValue, protocol: RespProtocol): Uint8Array {
  const w = new Writer();
  write(w, value, protocol === 3);
  return w.result();
}

// Aggregates are written with an explicit stack, so a deep value cannot overflow the call stack.
function write(w: Writer, root: RespValue, resp3: boolean): void {
  const stack: RespValue[] = [root];
  while (stack.length > 0) {
    const v = stack.pop()!;
    switch (v.type) {
      case 'simple':
        w.ascii('+');
        w.text(v.value);
        w.ascii('\r\n');
        break;
      case 'error':
        w.ascii('-');
        w.text(v.message);
        w.ascii('\r\n');
        break;
      case 'integer':
        w.ascii(`:${v.value}\r\n`);
        break;
      case 'bulk':
        w.bulk(v.value);
        break;
      case 'null':
        w.ascii(resp3 ? '_\r\n' : '$-1\r\n');
        break;
      case 'nullArray':
        w.ascii(resp3 ? '_\r\n' : '*-1\r\n');
        break;
      case 'double': {
        const text = formatDouble(v.value);
        if (resp3) w.ascii(`,${text}\r\n`);
        else w.bulk(asciiBytes(text));
        break;
      }
      case 'boolean':
        w.ascii(resp3 ? (v.value ? '#t\r\n' : '#f\r\n') : v.value ? ':1\r\n' : ':0\r\n');
        break;
      case 'bignum':
        if (resp3) w.ascii(`(${v.value}\r\n`);
        else w.bulk(asciiBytes(v.value.toString()));
        break;
      case 'verbatim': {
        assert(v.format.length === 3, 'a verbatim format is 3 bytes');
        if (resp3) {
          w.ascii(`=${v.text.length + 4}\r\n${v.format}:`);
          w.bytes(v.text);
          w.ascii('\r\n');
        } else w.bulk(v.text);
        break;
      }
      case 'array':
      case 'set':
      case 'push': {
        if (v.type === 'array' && v.flatInResp2 === true && !resp3) {
          let n = 0;
          for (const item of v.items) n += item.type === 'array' ? item.items.length : 1;
          w.ascii(`*${n}\r\n`);
          for (let i = v.items.length - 1; i >= 0; i--) {
            const item = v.items[i]!;
            if (item.type !== 'array') stack.push(item);
            else for (let k = item.items.length - 1; k >= 0; k--) stack.push(item.items[k]!);
          }
          break;
        }
        const prefix = !resp3 || v.type === 'array' ? '*' : v.type === 'set' ? '~' : '>';
        w.ascii(`${prefix}${v.items.length}\r\n`);
        for (let i = v.items.length - 1; i >= 0; i--) stack.push(v.items[i]!);
        break;
      }
      case 'map': {
        w.ascii(resp3 ? `%${v.entries.length}\r\n` : `*${2 * v.entries.length}\r\n`);
        for (let i = v.entries.length - 1; i >= 0; i--) {
          const [key, value] = v.entries[i]!;
          stack.push(value, key);
        }
        break;
      }
    }
  }
}
