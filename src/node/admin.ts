// The node's admin HTTP port: GET /health (liveness: 200 "ok" while the process answers), GET
// /ready (readiness: 200 only while the node SERVES, i.e. a linearizable read through Raft just
// succeeded here, so a leader is known and this node has applied what it committed; else 503 with
// the reason as JSON), GET /status (JSON view of this node and its peers), GET /metrics
// (Prometheus text format 0.0.4), and the services' routes under /v1/ (each service declares its
// own, src/node/service.ts AdminRoute: e.g. POST /v1/kv, GET/POST /v1/members). Anything else is
// 404; wrong methods are 405.
// Request bodies are read only for POST and are bounded (limits.adminRequestBytesMax: 413 beyond,
// and the connection is closed at once: an endless chunked body is not read to its end). Bounded
// connections; those over the bound are refused and counted. Errors in a handler become a 500 and a counter, never a crash.
//
// Time bounds against slow clients (issue 7 item 15): the whole request head must arrive within
// headersTimeoutMs and the whole request within requestTimeoutMs (408 and close). Node checks
// both only every connectionsCheckingInterval (30 s by default, so a slow-loris connection lived
// 30 s past a 5 s timeout); we check every checkingIntervalMs, so a request lives at most its
// timeout plus that interval. Counted: admin_http_connections_total{result}, and client errors
// (timeouts, malformed requests) in admin_http_client_errors_total{kind}.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Counter, Histogram, Metrics } from '../env/types.ts';
import { BaristaError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import { bindServer } from '../net/tcp-listener.ts';
import { writeStageHistogram } from '../raft/write-stages.ts';
import { type HttpAnswer, httpErrorAnswer } from './http-status.ts';
import type { AdminRoute } from './service.ts';

export interface AdminHandlers {
  status(): unknown;
  metricsText(): string;
  /** GET /ready: whether the node serves client requests now (see the header). */
  ready?(): Promise<Readiness>;
  /** The services' routes (paths under /v1/, unique). */
  routes?: readonly AdminRoute[];
}

export interface Readiness {
  readonly ready: boolean;
  /** Why not, when not ready (an error code and message). */
  readonly reason?: string;
}

/** Bodies are UTF-8 JSON; invalid bytes are refused (400 invalid_utf8), never replaced by U+FFFD. */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export interface AdminServerOptions {
  /** The request line and headers must arrive within this. */
  readonly headersTimeoutMs: number;
  /** The whole request (head and body) must arrive within this. */
  readonly requestTimeoutMs: number;
  /** How often Node checks the two timeouts above. */
  readonly checkingIntervalMs: number;
  /** An idle keep-alive connection is closed after this. */
  readonly keepAliveTimeoutMs: number;
  readonly connectionsMax: number;
  readonly requestBytesMax: number;
  readonly inflightRequestsMax: number;
}

export const defaultAdminServerOptions: AdminServerOptions = {
  headersTimeoutMs: 5_000,
  requestTimeoutMs: 5_000,
  checkingIntervalMs: 500,
  keepAliveTimeoutMs: 5_000,
  connectionsMax: limits.adminConnectionsMax,
  requestBytesMax: limits.adminRequestBytesMax,
  inflightRequestsMax: limits.adminInflightRequestsMax,
};

type ClientErrorKind = 'timeout' | 'too_large' | 'malformed' | 'other';

export class AdminServer {
  private readonly server: Server;
  private readonly requests: Metrics;
  private readonly errors: Counter;
  private readonly tooLarge: Counter;
  private readonly busy: Counter;
  /** Requests being handled now (inflightRequestsMax). */
  private inflight = 0;
  /** Write-path stages on the contacted node (src/raft/write-stages.ts). */
  private readonly httpRead: Histogram;
  readonly options: AdminServerOptions;
  /** The services' routes by path (the path label of admin_http_requests_total is one of these or fixed). */
  private readonly routes: ReadonlyMap<string, AdminRoute>;

  constructor(
    private readonly handlers: AdminHandlers,
    metrics: Metrics,
    options: Partial<AdminServerOptions> = {},
  ) {
    const o = { ...defaultAdminServerOptions, ...options };
    this.options = o;
    this.routes = new Map((handlers.routes ?? []).map((r) => [r.path, r]));
    this.requests = metrics;
    this.errors = metrics.counter('admin_http_errors_total', 'Admin HTTP handler failures');
    this.tooLarge = metrics.counter('admin_http_bodies_too_large_total', 'Admin HTTP request bodies over the bound');
    this.busy = metrics.counter(
      'admin_http_requests_refused_total',
      'Admin HTTP requests answered 429 at adminInflightRequestsMax',
    );
    this.httpRead = writeStageHistogram(metrics, 'http_read');
    this.server = createServer(
      {
        headersTimeout: o.headersTimeoutMs,
        requestTimeout: o.requestTimeoutMs,
        connectionsCheckingInterval: o.checkingIntervalMs,
        keepAliveTimeout: o.keepAliveTimeoutMs,
      },
      (req, res) => this.handle(req, res),
    );
    this.server.maxConnections = o.connectionsMax;
    const connections = (result: string): Counter =>
      metrics.counter('admin_http_connections_total', 'Admin HTTP connections', { result });
    const accepted = connections('accepted');
    const refused = connections('refused_at_bound');
    this.server.on('connection', () => accepted.inc());
    this.server.on('drop', () => refused.inc());
    const clientErrors = (kind: ClientErrorKind): Counter =>
      metrics.counter('admin_http_client_errors_total', 'Admin HTTP connections closed for a client error', { kind });
    const byKind: Record<ClientErrorKind, Counter> = {
      timeout: clientErrors('timeout'),
      too_large: clientErrors('too_large'),
      malformed: clientErrors('malformed'),
      other: clientErrors('other'),
    };
    // Replaces Node's default handler (which answers 400 or 408 and closes) to count by kind; the
    // kind comes from Node's error code, never from client bytes.
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      const kind = clientErrorKind(err.code);
      byKind[kind].inc();
      if (socket.writable && !socket.destroyed) {
        const status =
          kind === 'timeout'
            ? '408 Request Timeout'
            : kind === 'too_large'
              ? '431 Request Header Fields Too Large'
              : '400 Bad Request';
        socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
      }
      socket.destroy();
    });
  }

  /** Binds the admin port; a taken or unbindable address rejects with listen_address_in_use / listen_failed. */
  async listen(host: string, port: number): Promise<void> {
    await bindServer(this.server, host, port, 'ports.admin');
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

  private handleRoute(route: AdminRoute, req: IncomingMessage, res: ServerResponse): void {
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    if (method !== 'GET' && method !== 'POST') return this.wrongMethod(route, res);
    if (!route.methods.includes(method)) return this.wrongMethod(route, res);
    const client = { address: req.socket.remoteAddress ?? '' };
    const arrivedMs = performance.now();
    const answer = (body: unknown): void => {
      // The write path's first stage on the contacted node: the request body read and parsed.
      if (method === 'POST') this.httpRead.observe(performance.now() - arrivedMs);
      route.handle({ method, body, client }).then(
        (a) => json(res, a.status, a.body),
        (err: unknown) => {
          this.errors.inc();
          send(res, httpErrorAnswer(new BaristaError('internal', String(err))));
        },
      );
    };
    if (method === 'GET') return answer(undefined);
    this.readJsonBody(req, res, answer);
  }

  private wrongMethod(route: AdminRoute, res: ServerResponse): void {
    const how = route.methods.map((m) => (m === 'POST' ? 'POST a JSON body' : m)).join(' or ');
    reply(res, 405, 'text/plain', `${how} to ${route.path}\n`);
  }

  /**
   * Reads a bounded JSON body: over the bound, 413 at once and the connection closed (reading on
   * would let an endless chunked body hold it); 400 if the body is not UTF-8 JSON.
   */
  private readJsonBody(req: IncomingMessage, res: ServerResponse, then: (body: unknown) => void): void {
    const chunks: Buffer[] = [];
    let bytes = 0;
    let tooLarge = false;
    const bytesMax = this.options.requestBytesMax;
    req.on('data', (c: Buffer) => {
      if (tooLarge) return;
      bytes += c.length;
      if (bytes <= bytesMax) {
        chunks.push(c);
        return;
      }
      tooLarge = true;
      chunks.length = 0;
      this.tooLarge.inc();
      res.setHeader('connection', 'close');
      res.once('finish', () => req.socket.destroy());
      send(res, httpErrorAnswer(new BaristaError('request_too_large', `body over ${bytesMax} bytes`)));
    });
    req.on('error', () => this.errors.inc());
    req.on('end', () => {
      if (tooLarge) return;
      let text: string;
      try {
        text = strictUtf8.decode(Buffer.concat(chunks));
      } catch {
        return send(res, httpErrorAnswer(new BaristaError('invalid_utf8', 'body is not valid UTF-8')));
      }
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        return send(res, httpErrorAnswer(new BaristaError('bad_request', 'body is not JSON')));
      }
      then(body);
    });
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
    if (this.inflight >= this.options.inflightRequestsMax) {
      this.busy.inc();
      res.shouldKeepAlive = false;
      return send(
        res,
        httpErrorAnswer(
          new BaristaError('limit_exceeded', `${this.inflight} admin requests in hand (adminInflightRequestsMax)`, {
            fields: { limit: 'adminInflightRequestsMax' },
          }),
        ),
      );
    }
    this.inflight++;
    res.once('close', () => this.inflight--);
    const path = (req.url ?? '/').split('?')[0];
    this.requests
      .counter('admin_http_requests_total', 'Admin HTTP requests', {
        path: this.routes.has(path ?? '') ? path! : known(path),
      })
      .inc();
    const route = this.routes.get(path ?? '');
    if (route !== undefined) return this.handleRoute(route, req, res);
    if (path === '/ready' && (req.method === 'GET' || req.method === 'HEAD')) return this.handleReady(res);
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

function clientErrorKind(code: string | undefined): ClientErrorKind {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'ERR_HTTP_HEADERS_TIMEOUT') return 'timeout';
  if (code === 'HPE_HEADER_OVERFLOW') return 'too_large';
  if (code?.startsWith('HPE_')) return 'malformed';
  return 'other';
}

function known(path: string | undefined): string {
  return path === '/health' || path === '/ready' || path === '/status' || path === '/metrics' ? path : 'other';
}

function send(res: ServerResponse, answer: HttpAnswer): void {
  json(res, answer.status, answer.body);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  reply(res, status, 'application/json', `${JSON.stringify(body)}\n`);
}

function reply(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
