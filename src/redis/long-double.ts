// HINCRBYFLOAT's arithmetic as Redis 7.0 does it on x86-64: C `long double`, the x87 80-bit
// extended format (64-bit significand, round to nearest even), read by strtold (util.c string2ld)
// and printed by ld2string(LD_STR_HUMAN): printf("%.17Lf"), trailing zeros and a trailing "." cut,
// "-0" written "0". A JS double would answer "10.59999999999999964" for HINCRBYFLOAT 10.5 0.1
// where Redis answers "10.6", so values are exact binary fractions on bigints here, rounded to 64
// significant bits after each step exactly as the hardware does.
//
// Grammar accepted (strtold without hex floats; see coll-parse.ts parseStrtod):
//   [+-]? (digits ["." digits?] / "." digits) ([eE] [+-]? digits)? / [+-]? ("inf" / "infinity")
// Refused as string2ld refuses: empty, 5120 bytes or more, a blank first, NaN, overflow to +-inf,
// underflow to zero. Subnormal long doubles (below 2^-16382) are out of reach of any real use and
// are treated as underflow.

/** A finite long double: (-1)^negative * significand * 2^exponent, significand 0 or in [2^63, 2^64). */
export interface LongDouble {
  readonly negative: boolean;
  readonly significand: bigint;
  readonly exponent: number;
}

export type LongDoubleOrInf = LongDouble | 'inf' | '-inf';

/** MAX_LONG_DOUBLE_CHARS: string2ld refuses inputs of this length or longer. */
const longDoubleCharsMax = 5 * 1024;
const significandBits = 64;
/** The largest finite long double is below 2^16384; the smallest normal one is 2^-16382. */
const binaryExponentMax = 16384;
const binaryExponentMin = -16382;

const decimalForm = /^([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?$/;
const infForm = /^([+-]?)(?:inf|infinity)$/i;

function bitLength(n: bigint): number {
  return n === 0n ? 0 : n.toString(2).length;
}

/**
 * num / den (both positive) rounded to a 64-bit significand, half to even; 'overflow' or
 * 'underflow' outside the normal range.
 */
function roundQuotient(negative: boolean, num: bigint, den: bigint): LongDouble | 'overflow' | 'underflow' {
  if (num === 0n) return { negative, significand: 0n, exponent: 0 };
  let shift = significandBits - (bitLength(num) - bitLength(den));
  let q: bigint;
  let r: bigint;
  for (;;) {
    const n = shift >= 0 ? num << BigInt(shift) : num;
    const d = shift >= 0 ? den : den << BigInt(-shift);
    q = n / d;
    r = n - q * d;
    const bits = bitLength(q);
    if (bits === significandBits) {
      const twice = 2n * r;
      if (twice > d || (twice === d && (q & 1n) === 1n)) q += 1n;
      break;
    }
    shift += bits < significandBits ? 1 : -1;
  }
  let exponent = -shift;
  if (bitLength(q) > significandBits) {
    q >>= 1n;
    exponent += 1;
  }
  if (exponent + significandBits > binaryExponentMax) return 'overflow';
  if (exponent + significandBits - 1 < binaryExponentMin) return 'underflow';
  return { negative, significand: q, exponent };
}

/** string2ld: the value, or undefined when Redis refuses the text. */
export function parseLongDouble(text: string): LongDoubleOrInf | undefined {
  if (text.length === 0 || text.length >= longDoubleCharsMax) return undefined;
  const inf = infForm.exec(text);
  if (inf) return inf[1] === '-' ? '-inf' : 'inf';
  const m = decimalForm.exec(text);
  if (!m) return undefined;
  const intDigits = m[2] ?? '';
  const fracDigits = m[3] ?? '';
  if (intDigits.length + fracDigits.length === 0) return undefined;
  const negative = m[1] === '-';
  const digits = BigInt(intDigits + fracDigits || '0');
  const exp10 = Number(m[4] ?? '0') - fracDigits.length;
  if (digits === 0n) return { negative, significand: 0n, exponent: 0 };
  // A decimal exponent far outside the range cannot come back in: settle it before 10^huge.
  const magnitude = intDigits.replace(/^0+/, '').length + Number(m[4] ?? '0');
  if (magnitude > 5000) return undefined;
  if (magnitude < -5000) return undefined;
  const rounded =
    exp10 >= 0
      ? roundQuotient(negative, digits * 10n ** BigInt(exp10), 1n)
      : roundQuotient(negative, digits, 10n ** BigInt(-exp10));
  return typeof rounded === 'string' ? undefined : rounded;
}

/** a + b rounded as the x87 adds (exactly, then once to 64 bits); infinities propagate. */
export function addLongDouble(a: LongDouble, b: LongDouble): LongDoubleOrInf {
  if (a.significand === 0n) return b.significand === 0n ? { ...b, negative: a.negative && b.negative } : b;
  if (b.significand === 0n) return a;
  const e = Math.min(a.exponent, b.exponent);
  const sa = (a.negative ? -a.significand : a.significand) << BigInt(a.exponent - e);
  const sb = (b.negative ? -b.significand : b.significand) << BigInt(b.exponent - e);
  const sum = sa + sb;
  if (sum === 0n) return { negative: false, significand: 0n, exponent: 0 };
  const negative = sum < 0n;
  const abs = negative ? -sum : sum;
  const num = e >= 0 ? abs << BigInt(e) : abs;
  const den = e >= 0 ? 1n : 1n << BigInt(-e);
  const rounded = roundQuotient(negative, num, den);
  if (rounded === 'overflow') return negative ? '-inf' : 'inf';
  if (rounded === 'underflow') return { negative, significand: 0n, exponent: 0 };
  return rounded;
}

const fractionDigits = 17;
const fractionScale = 10n ** BigInt(fractionDigits);

/** ld2string(LD_STR_HUMAN): "%.17Lf" with trailing zeros and "." removed, "-0" as "0". */
export function formatLongDoubleHuman(v: LongDouble): string {
  let scaled: bigint;
  if (v.exponent >= 0) scaled = (v.significand << BigInt(v.exponent)) * fractionScale;
  else {
    const den = 1n << BigInt(-v.exponent);
    const n = v.significand * fractionScale;
    scaled = n / den;
    const twice = 2n * (n - scaled * den);
    if (twice > den || (twice === den && (scaled & 1n) === 1n)) scaled += 1n;
  }
  const intPart = scaled / fractionScale;
  const frac = (scaled % fractionScale).toString().padStart(fractionDigits, '0').replace(/0+$/, '');
  const body = frac.length > 0 ? `${intPart}.${frac}` : `${intPart}`;
  return v.negative && body !== '0' ? `-${body}` : body;
}
