// HOST:PORT text, as operators and connect strings write it: the one parser for the CLI's
// --endpoint and ZooKeeper connect strings. An IPv6 host is written in brackets ([::1]:2181);
// the port is 1..65535. Anything else is a ConfigError naming the field, never an exception from
// a socket call later on.

import { ConfigError } from './errors.ts';

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

export function parseEndpoint(text: string, field: string): Endpoint {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]\s]+):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || port < 1 || port > 65535) throw new ConfigError(field, `expected HOST:PORT, got "${text}"`);
  const host = m[1]!;
  return { host: host.startsWith('[') ? host.slice(1, -1) : host, port };
}
