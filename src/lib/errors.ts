// Operating errors: typed, with a stable `code`, and two flags every caller needs.
//   retriable: the same request may succeed if tried again (after backoff).
//   definite:  true = the operation certainly did not take effect; false = it may or may not have
//              (a timeout after sending a write). Jepsen calls these :fail and :info.
// Never match on message text; match on `code` (or the class).

export interface BaristaErrorOptions {
  retriable?: boolean;
  definite?: boolean;
  cause?: unknown;
  fields?: Record<string, unknown>;
}

export class BaristaError extends Error {
  override readonly name: string = 'BaristaError';
  readonly code: string;
  readonly retriable: boolean;
  readonly definite: boolean;
  readonly fields: Record<string, unknown>;

  constructor(code: string, message: string, options: BaristaErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retriable = options.retriable ?? false;
    this.definite = options.definite ?? true;
    this.fields = options.fields ?? {};
  }
}

/** Bad configuration: names the field that is wrong. Definite, not retriable. */
export class ConfigError extends BaristaError {
  override readonly name = 'ConfigError';
  constructor(field: string, message: string) {
    super('config_invalid', `${field}: ${message}`, { fields: { field } });
  }
}

/** Malformed or foreign bytes from the network or a file. Counted in metrics, never crashes. */
export class ProtocolError extends BaristaError {
  override readonly name = 'ProtocolError';
  constructor(code: string, message: string, fields: Record<string, unknown> = {}) {
    super(code, message, { fields });
  }
}

/** A bound was hit (queue full, frame too large): backpressure. Definite and retriable. */
export class LimitError extends BaristaError {
  override readonly name = 'LimitError';
  constructor(limit: string, message: string) {
    super('limit_exceeded', message, { retriable: true, definite: true, fields: { limit } });
  }
}

/** Stored data that fails validation in a place where truncation is not safe (corrupt middle). */
export class CorruptionError extends BaristaError {
  override readonly name = 'CorruptionError';
  constructor(message: string, fields: Record<string, unknown> = {}) {
    super('data_corrupt', message, { fields });
  }
}
