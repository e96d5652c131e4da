// The node's admin HTTP port: GET /health (200 "ok" once the node serves), GET /status (JSON view
// of this node and its peers), GET /metrics (Prometheus text format 0.0.4). Anything else is 404;
// methods other than GET/HEAD are 405. Request bodies are not read. Bounded connections. Errors
// in a handler become a 500 and a counter, never a crash.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Counter, Metrics } from '../env/types.ts';

export interface AdminHandlers {
  status(): unknown;
  metricsText(): string;
}

const ADMIN_CONNECTIONS_MAX = 64;
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
    this.server.maxConnections = ADMIN_CONNECTIONS_MAX;
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

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    this.requests.counter('admin_http_requests_total', 'Admin HTTP requests', { path: known(path) }).inc();
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, 'text/plain', 'method not allowed\n');
    try {
      if (path === '/health') return reply(res, 200, 'text/plain', 'ok\n');
      if (path === '/status') return reply(res, 200, 'application/json', `${JSON.stringify(this.handlers.status())}\n`);
      if (path === '/metrics')
        return reply(res, 200, 'text/plain; version=0.0.4; charset=utf-8', this.handlers.metricsText());
      return reply(res, 404, 'text/plain', 'not found: try /health, /status, /metrics\n');
    } catch (err) {
      this.errors.inc();
      return reply(res, 500, 'text/plain', `internal error: ${(err as Error).message}\n`);
    }
  }
}

function known(path: string | undefined): string {
  return path === '/health' || path === '/status' || path === '/metrics' ? path : 'other';
}

function reply(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
