// The config schema of one client protocol's listener bounds, for a service's own config section.
// A service puts `listen: listenSchema({ <protocol>: defaults })` in its schema; the section may
// then override any bound (`echo.listen.test-proto.connectionsMax`)
// and a bad value fails with the node config, naming the field, before anything binds a port.
// The ceilings are the listener's own (src/lib/limits.ts, checked again by the listener core).

import { z } from 'zod';
import type { ListenerBounds } from '../env/types.ts';
import { limits } from '../lib/limits.ts';

const bound = (max: number) => z.number().int().min(1).max(max);

/** Each bound optional with the protocol's default; the result is a full ListenerBounds. */
export function listenerBoundsSchema(defaults: ListenerBounds): z.ZodType<ListenerBounds, unknown> {
  return z
    .strictObject({
      connectionsMax: bound(limits.clientPortConnectionsMax).default(defaults.connectionsMax),
      connectionsPerAddressMax: bound(limits.clientHostConnectionsMax).default(defaults.connectionsPerAddressMax),
      bufferedBytesMax: bound(limits.clientBufferedBytesMax).default(defaults.bufferedBytesMax),
      inflightRequestsMax: bound(limits.clientInflightRequestsMax).default(defaults.inflightRequestsMax),
      memoryBytesMax: bound(limits.clientPortMemoryBytesMax).default(defaults.memoryBytesMax),
      idleTimeoutMs: z.union([bound(limits.clientIdleTimeoutMsMax), z.literal('none')]).default(defaults.idleTimeoutMs),
    })
    .prefault({}) as unknown as z.ZodType<ListenerBounds, unknown>;
}

/**
 * A service's `listen` config key: one bounds object per protocol it serves, each defaulted, so an
 * absent key or protocol means the service's defaults.
 */
export function listenSchema(
  defaultsByProtocol: Readonly<Record<string, ListenerBounds>>,
): z.ZodType<Record<string, ListenerBounds>, unknown> {
  const shape = Object.fromEntries(
    Object.entries(defaultsByProtocol).map(([protocol, d]) => [protocol, listenerBoundsSchema(d)]),
  );
  return z.strictObject(shape).prefault({}) as unknown as z.ZodType<Record<string, ListenerBounds>, unknown>;
}
