// The node's admin HTTP port: GET /health (liveness: 200 "ok" while the process answers), GET
// /ready (readiness: 200 only while the node SERVES, i.e. a linearizable read through Raft just
// succeeded here, so a leader is known and this node has applied what it committed; else 503 with
// the reason as JSON), GET /status (JSON view of this node and its peers), GET /metrics
// (Prometheus text format 0.0.4), POST /v1/kv (the metadata keyspace, see kv-http.ts), GET
// /v1/members (the Raft configuration as this node's log has it) and POST /v1/members (a
// membership operation, see members-http.ts). Anything else is 404; wrong methods are 405.
// Request bodies are read only for POST and are bounded (limits.adminRequestBytesMax: 413 beyond).
// Bounded connections. Errors in a handler become a 500 and a counter, never a crash.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Counter, Metrics } from '../env/types.ts';
import { limits } from '../lib/limits.ts';

export interface AdminHandlers {
  status(): unknown;
  metricsText(): string;
  /** GET /ready: whether the node serves client requests now (see the header). */
  ready?(): Promise<Readiness>;
  /** POST /v1/kv with a parsed JSON body, and the client's address. */
  kv?(body: unknown, client: { address: string }): Promise<{ status: number; body: unknown }>;
  /** GET /v1/members. */
  members?(): unknown;
  /** POST /v1/members with a parsed JSON body. */
  memberOp?(body: unknown): Promise<{ status: number; body: unknown }>;
}

export interface Readiness {
  readonly ready: boolean;
  /** Why not, when not ready (an error code and message). */
  readonly reason?: string;
}

/** Bodies are UTF-8 JSON; invalid bytes are refused (400 invalid_utf8), never replaced by U+FFFD. */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

const ADMIN_HEADERS_TIMEOUT_MS = 5_000;

export class AdminServer {
  private readonly server: Server;
  private readonly requests: Metrics;
  private readonly errors: Counter;

  constructor(
    private readonly handlers: AdminHandlers,
    metrics: Metrics,
  ) {
    this.requests = metrics;
    this.errors = metrics.counter('admin_http_errors_total', 'Admin HTTP handler failures');
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.maxConnections = limits.adminConnectionsMax;
    this.server.headersTimeout = ADMIN_HEADERS_TIMEOUT_MS;
    this.server.requestTimeout = ADMIN_HEADERS_TIMEOUT_MS;
  }

  listen(host: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host, port, exclusive: true }, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  address(): { host: string; port: number } {
    const a = this.server.address();
    if (a === null || typeof a === 'string') throw new Error('admin server is not listening');
    return { host: a.address, port: a.port };
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private handleKv(req: IncomingMessage, res: ServerResponse): void {
    const kv = this.handlers.kv;
    if (kv === undefined) return reply(res, 404, 'text/plain', 'no kv service on this node\n');
    if (req.method !== 'POST') return reply(res, 405, 'text/plain', 'POST a JSON body to /v1/kv\n');
    const chunks: Buffer[] = [];
    let bytes = 0;
    let tooLarge = false;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
      if (bytes > limits.adminRequestBytesMax) tooLarge = true;
      else chunks.push(c);
    });
    req.on('error', () => this.errors.inc());
    req.on('end', () => {
      if (tooLarge)
        return json(res, 413, {
          ok: false,
          code: 'request_too_large',
          message: `body over ${limits.adminRequestBytesMax} bytes`,
        });
      let text: string;
      try {
        text = strictUtf8.decode(Buffer.concat(chunks));
      } catch {
        return json(res, 400, { ok: false, code: 'invalid_utf8', message: 'body is not valid UTF-8' });
      }
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        return json(res, 400, { ok: false, code: 'bad_request', message: 'body is not JSON' });
      }
      kv(body, { address: req.socket.remoteAddress ?? '' }).then(
        (a) => json(res, a.status, a.body),
        (err: unknown) => {
          this.errors.inc();
          json(res, 500, { ok: false, code: 'internal', message: String(err) });
        },
      );
    });
  }

  private handleMembers(req: IncomingMessage, res: ServerResponse): void {
    const { members, memberOp } = this.handlers;
    if (members === undefined || memberOp === undefined)
      return reply(res, 404, 'text/plain', 'no membership service on this node\n');
    if (req.method === 'GET') return json(res, 200, members());
    if (req.method !== 'POST') return reply(res, 405, 'text/plain', 'GET or POST a JSON body to /v1/members\n');
    readJsonBody(req, res, this.errors, (body) =>
      memberOp(body).then(
        (a) => json(res, a.status, a.body),
        (err: unknown) => {
          this.errors.inc();
          json(res, 500, { ok: false, code: 'internal', message: String(err) });
        },
      ),
    );
  }

  private handleReady(res: ServerResponse): void {
    const ready = this.handlers.ready;
    if (ready === undefined) return json(res, 200, { ready: true });
    ready().then(
      (r) => json(res, r.ready ? 200 : 503, r),
      (err: unknown) => {
        this.errors.inc();
        json(res, 500, { ready: false, reason: `internal: ${String(err)}` });
      },
    );
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    this.requests.counter('admin_http_requests_total', 'Admin HTTP requests', { path: known(path) }).inc();
    if (path === '/v1/kv') return this.handleKv(req, res);
    if (path === '/ready' && (req.method === 'GET' || req.method === 'HEAD')) return this.handleReady(res);
    if (path === '/v1/members') return this.handleMembers(req, res);
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, 'text/plain', 'method not allowed\n');
    try {
      if (path === '/health') return reply(res, 200, 'text/plain', 'ok\n');
      if (path === '/status') return reply(res, 200, 'application/json', `${JSON.stringify(this.handlers.status())}\n`);
      if (path === '/metrics')
        return reply(res, 200, 'text/plain; version=0.0.4; charset=utf-8', this.handlers.metricsText());
      return reply(res, 404, 'text/plain', 'not found: try /health, /ready, /status, /metrics\n');
    } catch (err) {
      this.errors.inc();
      return reply(res, 500, 'text/plain', `internal error: ${(err as Error).message}\n`);
    }
  }
}

function known(path: string | undefined): string {
  return path === '/health' ||
    path === '/ready' ||
    path === '/status' ||
    path === '/metrics' ||
    path === '/v1/kv' ||
    path === '/v1/members'
    ? path
    : 'other';
}

/** Reads a bounded JSON body (413 beyond limits.adminRequestBytesMax, 400 if not JSON). */
function readJsonBody(req: IncomingMessage, res: ServerResponse, errors: Counter, then: (body: unknown) => void): void {
  const chunks: Buffer[] = [];
  let bytes = 0;
  let tooLarge = false;
  req.on('data', (c: Buffer) => {
    bytes += c.length;
    if (bytes > limits.adminRequestBytesMax) tooLarge = true;
    else chunks.push(c);
  });
  req.on('error', () => errors.inc());
  req.on('end', () => {
    if (tooLarge)
      return json(res, 413, {
        ok: false,
        code: 'request_too_large',
        message: `body over ${limits.adminRequestBytesMax} bytes`,
      });
    let text: string;
    try {
      text = strictUtf8.decode(Buffer.concat(chunks));
    } catch {
      return json(res, 400, { ok: false, code: 'invalid_utf8', message: 'body is not valid UTF-8' });
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return json(res, 400, { ok: false, code: 'bad_request', message: 'body is not JSON' });
    }
    then(body);
  });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  reply(res, status, 'application/json', `${JSON.stringify(body)}\n`);
}

function reply(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
