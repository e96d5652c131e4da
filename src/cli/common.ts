// Helpers shared by CLI commands: how to start a child `barista` process, HTTP GET with a bound,
// turning errors into one clear line (never a stack trace for an operating error), and whether to
// print colours.

import { type Agent, request } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pc from 'picocolors';
import { limits } from '../lib/limits.ts';

/** bin/barista.mjs, found from this file in src/cli or in its compiled copy in dist/cli. */
export const CLI_BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'barista.mjs');

/**
 * argv prefix that runs the CLI in a child node process, from any working directory: through the
 * wrapper, so a child runs dist/ when it is fresh and src/ through scripts/ts-loader.mjs otherwise.
 */
export function cliArgv(): string[] {
  return [CLI_BIN];
}

export interface HttpResult {
  readonly status: number;
  readonly body: string;
}

const HTTP_BODY_BYTES_MAX = limits.cliResponseBytesMax;

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

/**
 * One line for the user: typed errors by message, unknown ones with their stack (they are bugs).
 * Node's system errors already start their message with the code ("ENOSPC: no space left on
 * device, write"); the code is printed once, in the parentheses.
 */
export function describeError(err: unknown): string {
  if (err instanceof Error && 'code' in err && typeof err.code === 'string') {
    const prefix = `${err.code}: `;
    const message = err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
    return `error (${err.code}): ${message}`;
  }
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}

/**
 * Whether to print ANSI colours (https://no-color.org, https://force-color.org): a non-empty
 * NO_COLOR turns them off, a FORCE_COLOR other than "0" or "false" turns them on, and otherwise
 * only a terminal (not a pipe or file, not TERM=dumb) gets them. picocolors alone also turns them
 * on whenever CI is set, and cli-table3 colours its borders regardless.
 */
export function colourEnabled(env: NodeJS.ProcessEnv, stdoutIsTty: boolean): boolean {
  if (env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '') return false;
  const force = env['FORCE_COLOR'];
  if (force !== undefined && force !== '') return force !== '0' && force !== 'false';
  return stdoutIsTty && env['TERM'] !== 'dumb';
}

/** Colours for this process's stdout (identity functions when colourEnabled says no). */
export const colours = pc.createColors(colourEnabled(process.env, process.stdout.isTTY === true));

/** cli-table3 style: its default red heads and grey borders only when colours are on. */
export function tableStyle(): { head: string[]; border: string[] } {
  return colours.isColorSupported ? { head: ['red'], border: ['grey'] } : { head: [], border: [] };
}
