// The one result shape for operations that can fail with an operating error (src/lib/errors.ts):
// `{ ok: true, value }` or `{ ok: false, error }`, where `error` is a BaristaError, so its `code`
// is an ErrorCode from the catalogue and it carries `message`, `retriable`, `definite`, `fields`.
// Use it for any new "did it work" return or callback value instead of a new ad-hoc union.

import type { BaristaError } from './errors.ts';

export type Result<T, E extends BaristaError = BaristaError> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: E };

export function ok<T>(value: T): Result<T, never> {
  return { ok: true, value };
}

export function err<E extends BaristaError>(error: E): Result<never, E> {
  return { ok: false, error };
}
