// `barista member list|add|remove|promote|replace [ID]`: the Raft membership of every group (metadata first),
// through any node's admin port (GET/POST /v1/members; a follower forwards a change to the
// leader). Endpoints: --endpoint HOST:PORT (repeatable), or every node of <data-dir>/cluster.json;
// `list` prefers the leader's view (it knows each member's progress); a change is sent to the
// first endpoint that answers, and on "no leader" or a connection error the next one is tried.
//
//   add      add ID as a learner (it receives the log, does not vote)
//   promote  make learner ID a voter once it has caught up
//   remove   remove ID (voter or learner)
//   replace  remove ID, add it back as a learner, promote it once caught up: the repair of a node
//            whose data directory was lost (README "Replacing a node")
//
// Exit codes: 0 done, 2 usage error or a change the cluster refuses (already a member, last
// voter, ...), 3 unavailable or indefinite (a timed-out change may be partly done: run `list`).

import type { ErrorCode } from '../lib/error-codes.ts';
import { ConfigError } from '../lib/errors.ts';
import { httpGet, httpPostJson } from './common.ts';
import { cliExitFor } from './exit-codes.ts';
import { resolveAdminEndpoints } from './status.ts';

export type MemberCommand = 'list' | 'add' | 'remove' | 'promote' | 'replace';
export const MEMBER_COMMANDS: readonly MemberCommand[] = ['list', 'add', 'remove', 'promote', 'replace'];

export interface MemberCliOptions {
  readonly command: MemberCommand;
  readonly nodeId: string | undefined;
  readonly endpoints: string[];
  readonly dataDir: string;
  readonly json: boolean;
}

export interface MembersView {
  nodeId: string;
  leader: string | null;
  term: number;
  role: string;
  voters: string[];
  learners: string[];
  rejoining: boolean;
  progress?: Record<string, { match: number; next: number; state: string }>;
  /** Every Raft group's view on that node (GET /v1/members); the fields above are the metadata group's. */
  groups?: Record<string, MembersView>;
}

interface ChangeAnswer {
  ok: boolean;
  code?: string;
  message?: string;
  definite?: boolean;
  members?: MembersView;
}

/** A change waits for catch-up on the leader (src/raft/driver.ts memberOpTimeoutMs). */
const CHANGE_HTTP_TIMEOUT_MS = 65_000;
const RETRY_CODES: ReadonlySet<string> = new Set<ErrorCode>(['no_leader', 'not_leader', 'leadership_lost']);

export function formatMembers(view: MembersView): string {
  const lines: string[] = [];
  const block = (name: string | undefined, v: MembersView): void => {
    const group = name === undefined ? '' : `${name}: `;
    lines.push(`${group}leader ${v.leader ?? '(none)'}  term ${v.term}  (as seen by ${v.nodeId})`);
    const rows = [
      ...v.voters.map((id) => ({ id, role: 'voter' })),
      ...v.learners.map((id) => ({ id, role: 'learner' })),
    ].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (const r of rows) {
      const pr = v.progress?.[r.id];
      const leader = r.id === v.leader ? '  leader' : '';
      const progress = pr === undefined || r.id === v.leader ? '' : `  match ${pr.match} (${pr.state})`;
      lines.push(`  ${r.id.padEnd(12)} ${r.role.padEnd(8)}${progress}${leader}`);
    }
  };
  // Every group, metadata first (a change runs on each group in turn); an older node sends one view.
  const groups = Object.entries(view.groups ?? {}).sort(([a], [b]) =>
    a === 'metadata' ? -1 : b === 'metadata' ? 1 : a < b ? -1 : a > b ? 1 : 0,
  );
  if (groups.length === 0) block(undefined, view);
  for (const [name, v] of groups) block(name, v);
  return `${lines.join('\n')}\n`;
}

/** The leader's GET /v1/members if any endpoint is the leader, else the first answer, else why not. */
async function fetchMembers(endpoints: ReadonlyArray<{ host: string; port: number }>): Promise<MembersView | string> {
  let fallback: MembersView | undefined;
  let last = 'no endpoint answered';
  for (const e of endpoints) {
    try {
      const r = await httpGet(e.host, e.port, '/v1/members', 2_000);
      if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
      const view = JSON.parse(r.body) as MembersView;
      if (view.role === 'leader') return view;
      fallback ??= view;
    } catch (error) {
      last = `${e.host}:${e.port}: ${(error as Error).message}`;
    }
  }
  return fallback ?? last;
}

export async function runMember(
  o: MemberCliOptions,
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  if (o.command === 'list') {
    if (o.nodeId !== undefined) throw new ConfigError('ID', 'list takes no node id');
  } else if (o.nodeId === undefined || o.nodeId.length === 0) {
    throw new ConfigError('ID', `${o.command} needs the node id`);
  }
  const endpoints = resolveAdminEndpoints({ endpoints: o.endpoints, dataDir: o.dataDir });
  let last = 'no endpoint answered';
  if (o.command === 'list') {
    const found = await fetchMembers(endpoints);
    if (typeof found === 'string') {
      err(`unavailable: ${found}\n`);
      return 3;
    }
    out(o.json ? `${JSON.stringify(found)}\n` : formatMembers(found));
    if (!o.json && found.role !== 'leader')
      err("note: no node answered as leader; this is a follower's view of the configuration\n");
    return 0;
  }
  for (const e of endpoints) {
    let answer: ChangeAnswer;
    try {
      const r = await httpPostJson(
        e.host,
        e.port,
        '/v1/members',
        { op: o.command, nodeId: o.nodeId },
        CHANGE_HTTP_TIMEOUT_MS,
      );
      answer = JSON.parse(r.body) as ChangeAnswer;
    } catch (error) {
      last = `${e.host}:${e.port}: ${(error as Error).message}`;
      continue;
    }
    if (!answer.ok && RETRY_CODES.has(answer.code ?? '')) {
      last = `${e.host}:${e.port}: ${answer.code}`;
      continue;
    }
    if (o.json) out(`${JSON.stringify(answer)}\n`);
    if (answer.ok) {
      if (!o.json) {
        out(`OK: ${o.command} ${o.nodeId}\n`);
        // The leader's view: a follower that forwarded the change may not have applied it yet.
        const view = await fetchMembers(endpoints);
        if (typeof view !== 'string' && view.role === 'leader') out(formatMembers(view));
        else if (answer.members !== undefined) out(formatMembers(answer.members));
      }
      return 0;
    }
    if (!o.json)
      err(
        `error (${answer.code}): ${answer.message}${answer.definite === false ? ' — it may be partly done; run `barista member list`' : ''}\n`,
      );
    return cliExitFor(answer.code);
  }
  err(`unavailable: ${last}\n`);
  return 3;
}
