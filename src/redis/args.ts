// Argument parsing shared by the command families, as Redis parses its arguments: integers with
// util.c string2ll (getLongLongFromObject: "0", or an optional '-', a digit 1-9, digits; signed
// 64-bit; no '+', blanks or leading zeros), and option names compared like C's strcasecmp on the
// argument as a C string (bytes up to the first NUL, ASCII case folded).

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);

/** string2ll: the exact signed 64-bit value, or undefined (Redis: "value is not an integer or out of range"). */
export function parseInt64(bytes: Uint8Array): bigint | undefined {
  const n = bytes.length;
  if (n === 0 || n >= 21) return undefined;
  if (n === 1 && bytes[0] === 0x30) return 0n;
  const negative = bytes[0] === 0x2d;
  let i = negative ? 1 : 0;
  if (i >= n || bytes[i]! < 0x31 || bytes[i]! > 0x39) return undefined;
  let digits = '';
  for (; i < n; i++) {
    const b = bytes[i]!;
    if (b < 0x30 || b > 0x39) return undefined;
    digits += String.fromCharCode(b);
  }
  const v = negative ? -BigInt(digits) : BigInt(digits);
  return v > INT64_MAX || v < INT64_MIN ? undefined : v;
}

export const int64 = { max: INT64_MAX, min: INT64_MIN } as const;

/** parseInt64 as a number when it is a safe integer (counts, offsets), else undefined. */
export function parseSafeInteger(bytes: Uint8Array): number | undefined {
  const v = parseInt64(bytes);
  if (v === undefined || v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) return undefined;
  return Number(v);
}

/** Whether `arg`, read as a C string, equals `lowerName` ignoring ASCII case (strcasecmp(arg, name) == 0). */
export function optionIs(arg: Uint8Array, lowerName: string): boolean {
  let n = arg.indexOf(0);
  if (n < 0) n = arg.length;
  if (n !== lowerName.length) return false;
  for (let i = 0; i < n; i++) {
    let b = arg[i]!;
    if (b >= 0x41 && b <= 0x5a) b += 0x20;
    if (b !== lowerName.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * A decimal integer's ASCII bytes (a string value INCR writes). Digits written directly, not
 * through TextEncoder (whose call was ~10 % of an INCR); the same bytes as String(v).
 */
export function decimalBytes(v: bigint | number): Uint8Array {
  const s = String(v);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
