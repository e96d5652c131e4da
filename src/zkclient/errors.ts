// The errors of our ZooKeeper client: one class, ZkError, carrying ZooKeeper's own code (ZkErr, as
// KeeperException.Code numbers it) in `zkErr`. The server's answers and the client's own verdicts
// (ConnectionLoss when a connection drops under a request, SessionExpired, Closing after close())
// use the same numbers, so callers branch on one field, as ZooKeeper's Java callers do.
//
// retriable/definite (the catalogue's 'depends' flags) follow from the code and the request's fate:
// a request the server answered, or one never sent, is definite; a write that was sent and lost its
// connection (or its session) before an answer may have applied (indefinite, Jepsen's :info).

import { ZkErr } from '../coord/codes.ts';
import { BaristaError } from '../lib/errors.ts';

const namesByCode = new Map<number, string>(Object.entries(ZkErr).map(([name, code]) => [code, name]));

/** ZkErr's name for a code ('noNode'), or `code<n>` for one this build does not know. */
export function zkErrName(zkErr: number): string {
  return namesByCode.get(zkErr) ?? `code${zkErr}`;
}

/** Codes after which the same request may succeed if tried again (another server, later). */
const retriableCodes: ReadonlySet<number> = new Set([
  ZkErr.connectionLoss,
  ZkErr.operationTimeout,
  ZkErr.sessionMoved,
  ZkErr.requestTimeout,
  ZkErr.throttledOp,
]);

export interface ZkErrorOptions {
  /** The operation's name ('create', 'getData', ...). */
  readonly op: string;
  readonly path?: string | null;
  /** True when the request may have taken effect (a write sent and never answered). */
  readonly indefinite?: boolean;
  /** A failed multi's per-op results (the failing op carries its code, the others ok or rolled back). */
  readonly results?: readonly unknown[];
  readonly cause?: unknown;
}

export class ZkError extends BaristaError<'zk_error'> {
  override readonly name = 'ZkError';
  readonly zkErr: number;
  readonly op: string;
  readonly path: string | null;
  readonly results: readonly unknown[] | undefined;

  constructor(zkErr: number, o: ZkErrorOptions) {
    const path = o.path ?? null;
    super('zk_error', `${o.op}: KeeperErrorCode = ${zkErrName(zkErr)}${path === null ? '' : ` for ${path}`}`, {
      retriable: retriableCodes.has(zkErr),
      definite: o.indefinite !== true,
      cause: o.cause,
      fields: { zkErr, zkErrName: zkErrName(zkErr), op: o.op, path },
    });
    this.zkErr = zkErr;
    this.op = o.op;
    this.path = path;
    this.results = o.results;
  }
}

/** True when `e` is a ZkError with code `zkErr`. */
export function isZkError(e: unknown, zkErr?: number): e is ZkError {
  return e instanceof ZkError && (zkErr === undefined || e.zkErr === zkErr);
}
