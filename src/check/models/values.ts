// Structural equality and hashing of history values (numbers, strings, booleans, null, arrays and
// plain objects as produced by the readers). Pure. Invariant: valueEquals(a, b) implies
// hashValue(a) === hashValue(b); `undefined` and `null` are the same value (EDN nil).

/** True when a value is EDN nil (null or undefined). */
export function isNil(value: unknown): value is null | undefined {
  return value === null || value === undefined;
}

export function valueEquals(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (isNil(a) || isNil(b)) return isNil(a) && isNil(b);
  if (typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!valueEquals(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ak = Object.keys(a as object);
  const bk = Object.keys(b as object);
  if (ak.length !== bk.length) return false;
  for (const k of ak) {
    if (!Object.hasOwn(b as object, k)) return false;
    if (!valueEquals((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}

/** 32-bit avalanche (murmur3 fmix32). */
export function mix32(h: number): number {
  let x = h | 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function hashValue(value: unknown): number {
  if (isNil(value)) return 0x9e3779b9;
  switch (typeof value) {
    case 'number':
      return Number.isInteger(value) && Math.abs(value) < 2 ** 31 ? mix32(value + 1) : hashString(String(value));
    case 'string':
      return hashString(value) ^ 0x5bd1e995;
    case 'boolean':
      return value ? 0x27d4eb2f : 0x165667b1;
    case 'bigint':
      return hashString(value.toString());
    case 'object': {
      if (Array.isArray(value)) {
        let h = 0x2545f491 ^ value.length;
        for (const item of value) h = mix32(Math.imul(h, 31) + hashValue(item));
        return h >>> 0;
      }
      // Objects: order-independent over keys (readers do not promise a key order).
      let h = 0x68e31da4;
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) h ^= mix32(hashString(k) + hashValue(v));
      return h >>> 0;
    }
    default:
      return hashString(String(value));
  }
}

/**
 * A primitive identity for a scalar value, equal exactly when valueEquals says so (numbers stay
 * numbers; every other kind gets its own prefix, so kinds never collide); undefined for arrays
 * and objects (their identity is left to hashValue/valueEquals).
 */
export function scalarKey(value: unknown): string | number | undefined {
  if (isNil(value)) return 'n';
  switch (typeof value) {
    case 'number':
      return value;
    case 'string':
      return `s${value}`;
    case 'boolean':
      return value ? 't' : 'f';
    case 'bigint':
      return `b${value}`;
    default:
      return undefined;
  }
}

/** Short printable form of a value for describe() lines. */
export function showValue(value: unknown): string {
  if (isNil(value)) return 'nil';
  if (typeof value === 'string') return JSON.stringify(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Nesting beyond this collapses to a marker, so a canonical key is total and bounded. */
export const VALUE_DEPTH_MAX = 32;

/** A stable string identity for a value: equal values (deeply, key order ignored) map alike. */
export function canonicalKey(value: unknown, depth = 0): string {
  if (value === null || value === undefined) return 'nil';
  if (depth >= VALUE_DEPTH_MAX) return '…';
  switch (typeof value) {
    case 'number':
      return Number.isInteger(value) ? `${value}` : `f${value}`;
    case 'bigint':
      return `${value}`;
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'symbol':
      return `:${value.description ?? ''}`;
    case 'function':
      return 'fn';
  }
  if (Array.isArray(value)) return `[${value.map((v) => canonicalKey(v, depth + 1)).join(' ')}]`;
  if (value instanceof Set) {
    return `#{${[...value]
      .map((v) => canonicalKey(v, depth + 1))
      .sort()
      .join(' ')}}`;
  }
  if (value instanceof Map) {
    const entries = [...value.entries()].map(([k, v]) => `${canonicalKey(k, depth + 1)} ${canonicalKey(v, depth + 1)}`);
    return `{${entries.sort().join(', ')}}`;
  }
  const entries = Object.entries(value as Record<string, unknown>).map(
    ([k, v]) => `${JSON.stringify(k)} ${canonicalKey(v, depth + 1)}`,
  );
  return `{${entries.sort().join(', ')}}`;
}
