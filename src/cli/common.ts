// Helpers shared by CLI commands: how to start a child `barista` process, HTTP GET with a bound,
// and turning errors into one clear line (never a stack trace for an operating error).

import { type Agent, request } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BaristaError } from '../lib/errors.ts';

/** bin/barista.mjs, found from this file in src/cli or in its compiled copy in dist/cli. */
export const CLI_BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'barista.mjs');

/**
 * argv prefix that runs the CLI in a child node process, from any working directory: through the
 * wrapper, so a child runs dist/ when it is fresh and src/ through tsx otherwise.
 */
export function cliArgv(): string[] {
  return [CLI_BIN];
}

export interface HttpResult {
  readonly status: number;
  readonly body: string;
}

const HTTP_BODY_BYTES_MAX = 4 * 1024 * 1024;

/** One HTTP request with a timeout and a bounded response body; rejects on connection errors. */
function httpRequest(
  host: string,
  port: number,
  path: string,
  method: 'GET' | 'POST',
  body: Buffer | undefined,
  timeoutMs: number,
  agent?: Agent,
): Promise<HttpResult> {
  const headers = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': body.length };
  return new Promise((resolve, reject) => {
    const req = request(
      { host, port, path, method, timeout: timeoutMs, ...(agent ? { agent } : {}), headers },
      (res) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          if (bytes > HTTP_BODY_BYTES_MAX) req.destroy(new Error(`response from ${host}:${port}${path} too large`));
          else chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${host}:${port}${path}`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** GET http://host:port/path with a timeout. */
export function httpGet(host: string, port: number, path: string, timeoutMs = 2_000): Promise<HttpResult> {
  return httpRequest(host, port, path, 'GET', undefined, timeoutMs);
}

/** POST a JSON body; resolves with status and body text. Pass a keep-alive `agent` under load. */
export function httpPostJson(
  host: string,
  port: number,
  path: string,
  body: unknown,
  timeoutMs = 10_000,
  agent?: Agent,
): Promise<HttpResult> {
  return httpRequest(host, port, path, 'POST', Buffer.from(JSON.stringify(body)), timeoutMs, agent);
}

/** One line for the user: typed errors by message, unknown ones with their stack (they are bugs). */
export function describeError(err: unknown): string {
  if (err instanceof BaristaError) return `error (${err.code}): ${err.message}`;
  if (err instanceof Error && 'code' in err && typeof err.code === 'string')
    return `error (${err.code}): ${err.message}`;
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}
