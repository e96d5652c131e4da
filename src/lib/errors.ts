// Operating errors: typed, with a stable `code` from the one catalogue (src/lib/error-codes.ts),
// and two flags every caller needs, defaulted from that catalogue.
//   retriable: the same request may succeed if tried again (after backoff).
//   definite:  true = the operation certainly did not take effect; false = it may or may not have
//              (a timeout after sending a write). Jepsen calls these :fail and :info.
// A call site passes `retriable`/`definite` only for codes whose catalogue flag is 'depends' (the
// types require it there and refuse it elsewhere). Never match on message text; match on `code`.
// Merging older code: `Type 'true' is not assignable to type 'undefined'` on `retriable:` or
// `definite:` means the catalogue already fixes that flag (drop it, or give the code 'depends');
// `Argument of type 'string' is not assignable to ...` means the code is not in the catalogue yet.

import { type ErrorCatalogue, type ErrorCode, errorCatalogue, type ProtocolErrorCode } from './error-codes.ts';

export type { ErrorCode } from './error-codes.ts';

/** A flag the caller must pass when the catalogue says 'depends' for any code in C, and may not pass otherwise. */
type FlagOption<K extends 'retriable' | 'definite', C extends ErrorCode> = 'depends' extends ErrorCatalogue[C][K]
  ? { readonly [P in K]: boolean }
  : { readonly [P in K]?: never };

export type BaristaErrorOptions<C extends ErrorCode = ErrorCode> = {
  readonly cause?: unknown;
  readonly fields?: Record<string, unknown>;
} & FlagOption<'retriable', C> &
  FlagOption<'definite', C>;

/** Options are optional unless a flag of the code 'depends'. */
type OptionsArg<C extends ErrorCode> = 'depends' extends ErrorCatalogue[C]['retriable'] | ErrorCatalogue[C]['definite']
  ? [options: BaristaErrorOptions<C>]
  : [options?: BaristaErrorOptions<C>];

function flag(spec: boolean | 'depends', given: boolean | undefined, which: string, code: string): boolean {
  if (spec !== 'depends') return spec; // the catalogue decides (a peer's wire flags included)
  if (given === undefined) throw new TypeError(`error code ${code}: ${which} depends on the call and must be given`);
  return given;
}

export class BaristaError<C extends ErrorCode = ErrorCode> extends Error {
  override readonly name: string = 'BaristaError';
  readonly code: C;
  readonly retriable: boolean;
  readonly definite: boolean;
  readonly fields: Record<string, unknown>;

  constructor(code: C, message: string, ...[options]: OptionsArg<C>) {
    const o: { cause?: unknown; fields?: Record<string, unknown>; retriable?: boolean; definite?: boolean } =
      options ?? {};
    super(message, o.cause === undefined ? undefined : { cause: o.cause });
    const spec = errorCatalogue[code];
    if (spec === undefined) throw new TypeError(`error code ${String(code)} is not in the catalogue`);
    this.code = code;
    this.retriable = flag(spec.retriable, o.retriable, 'retriable', code);
    this.definite = flag(spec.definite, o.definite, 'definite', code);
    this.fields = o.fields ?? {};
  }
}

/** Bad configuration: names the field that is wrong. Definite, not retriable. */
export class ConfigError extends BaristaError<'config_invalid'> {
  override readonly name = 'ConfigError';
  constructor(field: string, message: string) {
    super('config_invalid', `${field}: ${message}`, { fields: { field } });
  }
}

/** Malformed or foreign bytes from the network or a file. Counted in metrics, never crashes. */
export class ProtocolError extends BaristaError<ProtocolErrorCode> {
  override readonly name = 'ProtocolError';
  constructor(code: ProtocolErrorCode, message: string, fields: Record<string, unknown> = {}) {
    super(code, message, { fields });
  }
}

/** A bound was hit (queue full, frame too large): backpressure. Definite and retriable. */
export class LimitError extends BaristaError<'limit_exceeded'> {
  override readonly name = 'LimitError';
  constructor(limit: string, message: string) {
    super('limit_exceeded', message, { fields: { limit } });
  }
}

/**
 * This process life started below an incarnation a peer has already heard from this node
 * (src/membership/membership.ts says how): the driver has made the next start's incarnation
 * exceed `known`, and the process must exit so its supervisor starts it again.
 */
export class IncarnationBehindError extends BaristaError<'incarnation_behind'> {
  override readonly name = 'IncarnationBehindError';
  constructor(own: number, known: number, peer: string) {
    super(
      'incarnation_behind',
      `incarnation ${own} is below ${known}, which ${peer} heard from an earlier life of this node (data wiped and clock stepped back?); exiting so the next start uses ${known + 1} or more`,
      { fields: { own, known, peer } },
    );
  }
}

/** Stored data that fails validation in a place where truncation is not safe (corrupt middle). */
export class CorruptionError extends BaristaError<'data_corrupt'> {
  override readonly name = 'CorruptionError';
  constructor(message: string, fields: Record<string, unknown> = {}) {
    super('data_corrupt', message, { fields });
  }
}
