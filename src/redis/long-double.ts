// INCRBYFLOAT's arithmetic as Redis does it on x86-64: C `long double` (x87 80-bit extended: a
// 64-bit significand, exponents down to 2^-16445 with subnormals, overflow at 2^16384), parsed by
// util.c string2ld (glibc strtold, whole string, no leading blank, no NaN, no overflow, no underflow
// to zero), added with one rounding, and printed by ld2string's human mode ("%.17Lf", trailing
// zeros and a bare '.' removed, "-0" as "0"). JavaScript's doubles would print 10.5 + 0.1 as
// "10.59999999999999964"; this module computes with exact bigints and rounds to nearest-even
// where the hardware does, so the texts are Redis' byte for byte.
//
// Grammar accepted (glibc strtold, the whole argument; case-insensitive letters):
//   ld      := sign? ( decimal | hex | "inf" | "infinity" )      ("nan..." parses but Redis refuses it)
//   decimal := ( digits ("." digits?)? | "." digits ) ( "e" sign? digits )?
//   hex     := "0x" ( hexdigits ("." hexdigits?)? | "." hexdigits ) ( "p" sign? digits )?

/** A finite value `(-1)^neg * mant * 2^exp` (mant < 2^64), or an infinity. */
export type LongDouble =
  | { readonly kind: 'finite'; readonly neg: boolean; readonly mant: bigint; readonly exp: number }
  | { readonly kind: 'inf'; readonly neg: boolean };

const MANT_BITS = 64;
/** The exponent of the smallest subnormal (2^-16445 = 2^(-16382 - 63)). */
const EXP_MIN = -16445;
/** The largest finite exponent with a 64-bit mantissa (below 2^16384). */
const EXP_MAX = 16384 - MANT_BITS;
/** util.c MAX_LONG_DOUBLE_CHARS: string2ld refuses 5 KiB or more. */
const LONG_DOUBLE_CHARS_MAX = 5 * 1024;
/** Beyond this decimal exponent every non-zero value over- or underflows. */
const EXP10_HUGE = 20_000;

function bitLength(n: bigint): number {
  return n === 0n ? 0 : n.toString(2).length;
}

/** The long double nearest to (-1)^neg * num / den (round half to even), or an infinity. */
function roundRational(neg: boolean, num: bigint, den: bigint): LongDouble {
  if (num === 0n) return { kind: 'finite', neg, mant: 0n, exp: 0 };
  // e such that 2^63 <= num / (den * 2^e) < 2^64, then no lower than the subnormal exponent.
  let e = bitLength(num) - bitLength(den) - MANT_BITS;
  const scaled = (x: number): [bigint, bigint] => (x >= 0 ? [num, den << BigInt(x)] : [num << BigInt(-x), den]);
  let [n, d] = scaled(e);
  if (n / d >= 1n << 64n) [n, d] = scaled(++e);
  else if (n / d < 1n << 63n) [n, d] = scaled(--e);
  if (e < EXP_MIN) {
    e = EXP_MIN;
    [n, d] = scaled(e);
  }
  let q = n / d;
  const r2 = (n % d) * 2n;
  if (r2 > d || (r2 === d && (q & 1n) === 1n)) q++;
  if (q === 1n << 64n) {
    q >>= 1n;
    e++;
  }
  if (e > EXP_MAX) return { kind: 'inf', neg };
  return { kind: 'finite', neg, mant: q, exp: e };
}

function isDigit(b: number, hex: boolean): boolean {
  if (b >= 0x30 && b <= 0x39) return true;
  const l = b | 0x20;
  return hex && l >= 0x61 && l <= 0x66;
}

function asciiLower(bytes: Uint8Array, from: number): string {
  let s = '';
  for (let i = from; i < bytes.length; i++) s += String.fromCharCode(bytes[i]! | 0x20);
  return s;
}

/** string2ld: the value, or undefined where Redis answers "value is not a valid float". */
export function parseLongDouble(bytes: Uint8Array): LongDouble | undefined {
  if (bytes.length === 0 || bytes.length >= LONG_DOUBLE_CHARS_MAX) return undefined;
  let i = 0;
  let neg = false;
  if (bytes[0] === 0x2b || bytes[0] === 0x2d) {
    neg = bytes[0] === 0x2d;
    i = 1;
  }
  const rest = asciiLower(bytes, i);
  if (rest === 'inf' || rest === 'infinity') return { kind: 'inf', neg };
  const hex = rest.startsWith('0x') && rest.length > 2;
  if (hex) i += 2;
  const base = hex ? 16n : 10n;
  let mantissa = 0n;
  let digits = 0;
  let fracDigits = 0;
  let seenPoint = false;
  for (; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 0x2e && !seenPoint) {
      seenPoint = true;
      continue;
    }
    if (!isDigit(b, hex)) break;
    mantissa = mantissa * base + BigInt(Number.parseInt(String.fromCharCode(b), 16));
    digits++;
    if (seenPoint) fracDigits++;
  }
  if (digits === 0) return undefined;
  let exponent = 0;
  if (i < bytes.length) {
    const marker = bytes[i]! | 0x20;
    if (marker !== (hex ? 0x70 : 0x65)) return undefined;
    i++;
    let expNeg = false;
    if (bytes[i] === 0x2b || bytes[i] === 0x2d) {
      expNeg = bytes[i] === 0x2d;
      i++;
    }
    if (i >= bytes.length) return undefined;
    for (; i < bytes.length; i++) {
      const b = bytes[i]!;
      if (b < 0x30 || b > 0x39) return undefined;
      if (exponent < 1e9) exponent = exponent * 10 + (b - 0x30);
    }
    if (expNeg) exponent = -exponent;
  }
  if (mantissa === 0n) return { kind: 'finite', neg, mant: 0n, exp: 0 };
  let value: LongDouble;
  if (hex) {
    const e2 = exponent - 4 * fracDigits;
    if (e2 > EXP_MAX + MANT_BITS + 8) return undefined;
    if (e2 < EXP_MIN - 4 * LONG_DOUBLE_CHARS_MAX) return undefined; // underflows to zero
    value = e2 >= 0 ? roundRational(neg, mantissa << BigInt(e2), 1n) : roundRational(neg, mantissa, 1n << BigInt(-e2));
  } else {
    const e10 = exponent - fracDigits;
    if (e10 > EXP10_HUGE) return undefined; // overflow: HUGE_VAL with ERANGE
    if (e10 < -EXP10_HUGE) return undefined; // underflow to zero with ERANGE
    value =
      e10 >= 0
        ? roundRational(neg, mantissa * 10n ** BigInt(e10), 1n)
        : roundRational(neg, mantissa, 10n ** BigInt(-e10));
  }
  if (value.kind === 'inf') return undefined; // overflow
  if (value.mant === 0n) return undefined; // underflow to zero
  return value;
}

/** a + b rounded once; undefined for a NaN or an infinite sum (Redis' "increment would produce NaN or Infinity"). */
export function addLongDouble(a: LongDouble, b: LongDouble): LongDouble | undefined {
  if (a.kind === 'inf' || b.kind === 'inf') return undefined;
  const e = Math.min(a.exp, b.exp);
  const sa = (a.neg ? -a.mant : a.mant) << BigInt(a.exp - e);
  const sb = (b.neg ? -b.mant : b.mant) << BigInt(b.exp - e);
  const sum = sa + sb;
  // An exact zero sum is +0 in round-to-nearest unless both were -0.
  const neg = sum < 0n || (sum === 0n && a.neg && b.neg);
  const mag = sum < 0n ? -sum : sum;
  const r = e >= 0 ? roundRational(neg, mag << BigInt(e), 1n) : roundRational(neg, mag, 1n << BigInt(-e));
  return r.kind === 'inf' ? undefined : r;
}

const utf8 = new TextEncoder();

/** ld2string(LD_STR_HUMAN): "%.17Lf", trailing zeros and '.' removed, "-0" as "0". */
export function formatLongDouble(v: LongDouble): Uint8Array {
  if (v.kind === 'inf') return utf8.encode(v.neg ? '-inf' : 'inf');
  const scale = 10n ** 17n;
  let fixed: bigint; // the value * 10^17, rounded half to even
  if (v.exp >= 0) fixed = (v.mant << BigInt(v.exp)) * scale;
  else {
    const num = v.mant * scale;
    const den = 1n << BigInt(-v.exp);
    fixed = num / den;
    const r2 = (num % den) * 2n;
    if (r2 > den || (r2 === den && (fixed & 1n) === 1n)) fixed++;
  }
  const intPart = (fixed / scale).toString();
  const frac = (fixed % scale).toString().padStart(17, '0').replace(/0+$/, '');
  let text = frac.length > 0 ? `${intPart}.${frac}` : intPart;
  if (v.neg && text !== '0') text = `-${text}`;
  return utf8.encode(text);
}
