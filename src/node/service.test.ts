// Goal: the service seam (issue 8 item 1). A service added by one definition runs on every node of
// a simulated cluster next to the registered ones: it gets its config section (defaults filled),
// registers the peer message types it declared and exchanges them, serves its admin route and
// shows its /status section. It reaches nothing it did not declare: an undeclared message type or
// Raft group fails the start, and a bad config field fails it naming `<service>.<field>`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import type { Env } from '../env/types.ts';
import { ConfigError } from '../lib/errors.ts';
import { MessageType } from '../lib/message-types.ts';
import { defaultRaftTiming } from '../raft/driver.ts';
import { Simulation } from '../sim/simulation.ts';
import { registeredServices } from './registry.ts';
import type { AnyServiceDefinition, RunningService, ServiceDefinition } from './service.ts';
import { NodeServices } from './services.ts';

const ids = ['n1', 'n2', 'n3'];

interface EchoRunning extends RunningService {
  readonly heard: Set<string>;
}

/** Pings every peer once a second with TestEcho; counts whom it heard from. */
function echoService(
  o: { messageTypes?: readonly number[]; group?: string } = {},
): ServiceDefinition<{ intervalMs: number }, EchoRunning> {
  return {
    name: 'echo',
    description: 'test service: pings peers over its own message type',
    configSchema: z.strictObject({ intervalMs: z.number().int().min(10).default(1_000) }),
    messageTypes: o.messageTypes ?? [MessageType.TestEcho],
    protocols: [],
    raftGroups: [],
    start(ctx) {
      const heard = new Set<string>();
      ctx.router.register([MessageType.TestEcho], (m) => heard.add(m.from));
      if (o.group !== undefined) ctx.raftGroup(o.group);
      const timer = ctx.env.timers.every(ctx.config.intervalMs, () => {
        for (const peer of ctx.peers) ctx.env.transport.send(peer, MessageType.TestEcho, new Uint8Array([1]));
      });
      return {
        heard,
        status: () => ({ heard: [...heard].sort(), incarnation: ctx.membership().incarnation }),
        adminRoutes: [
          {
            path: '/v1/echo',
            methods: ['GET'],
            handle: () => Promise.resolve({ status: 200, body: { heard: heard.size } }),
          },
        ],
        stop: () => timer.cancel(),
      };
    },
  };
}

function build(env: Env, services: readonly AnyServiceDefinition[], extra: Record<string, unknown> = {}) {
  return new NodeServices(
    env,
    { clusterId: 'sim', peers: ids.filter((p) => p !== env.nodeId), raft: { ...defaultRaftTiming }, ...extra },
    services,
  );
}

test('a service added to the list runs on every node: its messages, admin route and status section', async () => {
  const sim = new Simulation<NodeServices>({
    seed: 'seam-echo',
    nodes: ids,
    program: (env) => build(env, [...registeredServices, echoService()], { echo: { intervalMs: 200 } }),
  });
  const heardAll = () => ids.every((id) => sim.instance(id)?.service<EchoRunning>('echo').heard.size === 2);
  assert.ok(sim.runUntilCondition(heardAll, 5_000), 'every node heard every peer over the echo type');
  const n1 = sim.instance('n1')!;
  const status = n1.status();
  assert.deepEqual(Object.keys(status.services), ['membership', 'kv', 'echo']);
  assert.deepEqual((status.services['echo'] as { heard: string[] }).heard, ['n2', 'n3']);
  const route = n1.adminRoutes().find((r) => r.path === '/v1/echo');
  assert.ok(route !== undefined);
  assert.deepEqual(await route.handle({ method: 'GET', body: undefined, client: { address: '' } }), {
    status: 200,
    body: { heard: 2 },
  });
  assert.deepEqual(
    n1.adminRoutes().map((r) => r.path),
    ['/v1/members', '/v1/kv', '/v1/echo'],
  );
});

test('a service reaches only what it declared, and a bad field of its section names it', () => {
  const failures: unknown[] = [];
  const sim = new Simulation<NodeServices>({
    seed: 'seam-refuse',
    nodes: ['n1'],
    program: (env) => {
      const attempts: Array<[readonly AnyServiceDefinition[], Record<string, unknown>]> = [
        [[...registeredServices, echoService({ messageTypes: [] })], {}],
        [[...registeredServices, echoService({ group: 'metadata' })], {}],
        [[...registeredServices, echoService()], { echo: { intervalMs: 1 } }],
      ];
      for (const [services, extra] of attempts) {
        try {
          build(env, services, extra).stop();
          failures.push(undefined);
        } catch (err) {
          failures.push(err);
        }
      }
      return build(env, registeredServices);
    },
  });
  sim.runFor(10);
  assert.equal(failures.length, 3);
  assert.match(String(failures[0]), /echo registers message type .* it declared/);
  assert.match(String(failures[1]), /echo uses Raft group metadata it declared/);
  assert.ok(failures[2] instanceof ConfigError);
  assert.equal(failures[2].fields['field'], 'echo.intervalMs');
});
