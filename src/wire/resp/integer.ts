// Redis' string2ll (util.c), the parser of the *N and $N numbers of a request, implemented from its
// description: "0", or an optional "-", a digit 1-9, then digits; a signed 64-bit value; fewer than
// 21 bytes. No "+", no leading zeros, no "-0", no blanks.

/** Redis' LONG_STR_SIZE: string2ll refuses 21 bytes or more. */
const longStrBytes = 21;
const int64Max = 2n ** 63n - 1n;

/**
 * Redis' string2ll over `bytes[start, end)`: the value, or undefined when not a valid signed 64-bit integer in
 * its strict form. Past 2^53 the number is rounded (the range check is exact, on a bigint): callers only
 * compare them to bounds far below, so a lossy number is enough (it stays above those bounds).
 */
export function parseRedisInteger(bytes: Uint8Array, start = 0, end = bytes.length): number | undefined {
  const n = end - start;
  if (n <= 0 || n >= longStrBytes) return undefined;
  if (n === 1 && bytes[start] === 0x30) return 0;
  const negative = bytes[start] === 0x2d;
  let i = negative ? start + 1 : start;
  if (i >= end || bytes[i]! < 0x31 || bytes[i]! > 0x39) return undefined;
  let value = 0;
  for (; i < end; i++) {
    const b = bytes[i]!;
    if (b < 0x30 || b > 0x39) return undefined;
    value = value * 10 + (b - 0x30); // exact up to 15 digits; beyond, checked below
  }
  if (end - start - (negative ? 1 : 0) > 15) {
    let digits = '';
    for (let k = negative ? start + 1 : start; k < end; k++) digits += String.fromCharCode(bytes[k]!);
    const big = BigInt(digits);
    if (negative ? big > int64Max + 1n : big > int64Max) return undefined;
    value = Number(digits); // correctly rounded, unlike the sum above
  }
  return negative ? -value : value;
}
