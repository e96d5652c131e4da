// The KV keyspace as a service: a binary-safe key-value store with exactly-once client sessions
// (src/metadata/kv.ts) kept as the `kv` namespace of its own Raft group (`kv`), its client API
// (src/metadata/kv-service.ts), POST /v1/kv on the admin port (http.ts) with its metrics, its
// readiness (a linearizable read through its group succeeds here), its /status section, and the
// `raft-kv` simulator workload (sim-workload.ts: concurrent clients, a linearizability check,
// Raft's safety invariants, replicas converging after healing).
// Config: the node config's `kv` section.

import { malformedCounterHook } from '../../rsm/state-machine.ts';
import { z } from 'zod';
import { defaultKvOptions, KvStateMachine, kvBoundsFor } from '../../metadata/kv.ts';
import { KvService } from '../../metadata/kv-service.ts';
import type { ServiceDefinition } from '../../node/service.ts';
import { writeStageHistogram } from '../../raft/write-stages.ts';
import { handleKvRequest, kvOpLabel } from './http.ts';
import { KV_GROUP, type KvRunning } from './running.ts';
import { kvSimWorkload } from './sim-workload.ts';

export const kvConfigSchema = z.strictObject({
  /** Apdex target T of client requests (kv_request_apdex). */
  apdexTargetMs: z.number().positive().max(60_000).default(10),
});

export type KvConfig = z.infer<typeof kvConfigSchema>;

export const kvService: ServiceDefinition<KvConfig, KvRunning> = {
  name: 'kv',
  description: 'the metadata keyspace: binary-safe keys, exactly-once sessions, POST /v1/kv',
  configSchema: kvConfigSchema,
  // Client commands travel inside the Raft group's own messages (forwarded to the leader).
  messageTypes: [],
  // Until the etcd API exists, clients reach the keyspace over the admin port (POST /v1/kv).
  protocols: [],
  raftGroups: [
    {
      group: KV_GROUP,
      namespace: {
        name: 'kv',
        create: (env, _config, group) => {
          return new KvStateMachine(
            {
              ...defaultKvOptions,
              ...kvBoundsFor(group.snapshotDataBytesMax),
              ...(env.mutations.has('kv-data-bytes-unbounded') ? { dataBytesMax: Number.MAX_SAFE_INTEGER } : {}),
              skipSessionDedup: env.mutations.has('kv-skip-session-dedup'),
            },
            { onMalformed: malformedCounterHook(env.metrics, KV_GROUP) },
          );
        },
      },
    },
  ],
  start(ctx) {
    const group = ctx.raftGroup(KV_GROUP);
    const state = group.namespace('kv') as KvStateMachine;
    const client = new KvService(group.driver, state, ctx.env.clock);
    const m = ctx.metrics;
    const apdex = m.apdex(
      'kv_request_apdex',
      `Apdex of client KV requests, target T = ${ctx.config.apdexTargetMs} ms (failures count as frustrated)`,
      ctx.config.apdexTargetMs,
    );
    const clock = ctx.env.clock;
    // The write path's stage on the contacted node from the parsed request to its answer.
    const kvRequestStage = writeStageHistogram(m, 'kv_request');
    return {
      client,
      state,
      group,
      ready: (done) => group.driver.read(done),
      adminRoutes: [
        {
          path: '/v1/kv',
          methods: ['POST'],
          handle: async (req) => {
            const startedMs = clock.monotonicMs();
            const label = { op: kvOpLabel(req.body) };
            const answer = await handleKvRequest(client, req.body, req.client);
            const latencyMs = clock.monotonicMs() - startedMs;
            kvRequestStage.observe(latencyMs);
            m.histogram(
              'kv_request_latency_ms',
              'Client KV request latency (HTTP /v1/kv), answered ones',
              label,
            ).observe(latencyMs);
            m.counter('kv_requests_total', 'Client KV requests by outcome', {
              ...label,
              status: String(answer.status),
            }).inc();
            if (answer.status === 200) apdex.observe(latencyMs);
            else apdex.failed();
            return answer;
          },
        },
      ],
      status: () => ({
        group: group.name,
        keys: state.size,
        sessions: state.sessionCount,
        // Commands the state machine refused as malformed (a typed result, never a stopped replica).
        malformedCommands: state.malformedCount,
      }),
      stop: () => {},
    };
  },
  sim: { workloads: [kvSimWorkload] },
};
