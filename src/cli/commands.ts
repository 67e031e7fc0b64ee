// The CLI's one command table: the parser, `decapod help`, the group listings and the shell
// completion scripts are all derived from it, so no second list can drift.

export interface OptionSpec {
  name: string;
  /** takes a value (`--ttl 10m`); otherwise a flag */
  value?: string;
  /** may be given more than once; the values are collected in order */
  multiple?: boolean;
  /** the values a shell may complete */
  choices?: readonly string[];
  /** what a shell completes for the value: folders or files */
  complete?: 'dirs' | 'files';
  help: string;
}

export interface CommandSpec {
  /** one word, or `group word` */
  name: string;
  /** positional arguments, as shown in usage (`TITLE`, `PATH…`, `[TASK]`) */
  args?: string;
  summary: string;
  /** the method it calls, shown in its help */
  method?: string;
  section: 'server' | 'agents';
  options?: readonly OptionSpec[];
  /** what a shell completes for the positional arguments */
  complete?: 'files' | readonly string[];
}

/** Options every command takes. */
export const GLOBAL_OPTIONS: readonly OptionSpec[] = [
  { name: 'root', value: 'DIR', complete: 'dirs', help: "project root (default: the enclosing git repository's main worktree, else the cwd)" },
  { name: 'help', help: "show this command's help" },
];

const json: OptionSpec = { name: 'json', help: 'print the result as JSON instead of one line each' };
const ttl = (what: string): OptionSpec => ({ name: 'ttl', value: 'DURATION', help: `${what} (500ms, 30s, 10m, 1h)` });
const taskFields: OptionSpec[] = [
  { name: 'priority', value: 'N', choices: ['0', '1', '2', '3', '4'], help: '0 (highest) to 4; default 2' },
  { name: 'label', value: 'L', multiple: true, help: 'a label (repeatable)' },
  { name: 'path', value: 'P', multiple: true, complete: 'files', help: 'a path, folder or glob the task will touch; claimed with it (repeatable)' },
  { name: 'depends', value: 'TASK', multiple: true, help: 'a task that must be done first (repeatable)' },
  { name: 'gate', value: 'GATE', multiple: true, help: 'a gate of .decapod/config.json in its proof plan (repeatable)' },
  { name: 'acceptance', value: 'TEXT', multiple: true, help: 'an acceptance criterion, what must be true when it is done (repeatable, kept in order)' },
  { name: 'description', value: 'TEXT', help: 'what the task is about' },
];

export const COMMANDS: readonly CommandSpec[] = [
  { name: 'call', args: 'METHOD [JSON | -]', section: 'server', summary: 'call any method; prints the result as JSON (exit 1 on an RPC error)' },
  {
    name: 'serve',
    section: 'server',
    summary: 'serve this root in this process (exit 3 if it is already served)',
    options: [
      { name: 'idle-timeout', value: 'DURATION', help: 'exit after this long without a request (default 120s, or DECAPOD_IDLE_TIMEOUT)' },
      { name: 'durability', value: 'MODE', choices: ['full', 'normal'], help: 'full (default): a write survives power loss; normal: process crashes only' },
      { name: 'foreground', help: 'log to stderr instead of .decapod/run/server.log' },
    ],
  },
  { name: 'status', section: 'server', summary: 'show the running server (exit 3 if none runs)', method: 'server.status' },
  { name: 'stop', section: 'server', summary: 'stop the running server gracefully', method: 'server.shutdown' },
  { name: 'env', section: 'server', summary: 'print DECAPOD_URL=… and DECAPOD_TOKEN=… for eval, starting a server' },
  {
    name: 'migrate',
    section: 'server',
    summary: "copy this root's SQLite history into PostgreSQL for team mode, verified before it reports success (exit 1 if refused)",
    options: [
      { name: 'to', value: 'URL', help: 'the database to copy into: postgres://user@host:port/database (required; TLS unless on this machine)' },
      { name: 'project', value: 'ID', help: 'the claim space to copy into (default: the project id a server on this root uses)' },
      json,
    ],
  },
  { name: 'mcp', section: 'server', summary: 'a stdio MCP server for agents (claude mcp add decapod -- decapod mcp); tools act with DECAPOD_LEASE when given none' },
  { name: 'help', args: '[COMMAND]', section: 'server', summary: "list the commands, a group's commands, or one command's options", complete: [] },
  { name: 'completion', args: 'bash|zsh', section: 'server', summary: 'print a shell completion script: source <(decapod completion bash)', complete: ['bash', 'zsh'] },

  {
    name: 'lease grant',
    section: 'agents',
    method: 'lease.grant',
    summary: 'grant a lease; --export prints DECAPOD_LEASE=… for export',
    options: [
      { name: 'agent', value: 'NAME', help: 'who the lease is for (required)' },
      ttl('how long it lives past its last use; default 60s'),
      { name: 'export', help: 'print only DECAPOD_LEASE=<secret>' },
    ],
  },
  { name: 'lease list', section: 'agents', method: 'lease.list', summary: 'every lease: agent, state, time left, claims', options: [json] },
  { name: 'lease revoke', args: '[LEASE]', section: 'agents', method: 'lease.revoke', summary: 'end a lease now (DECAPOD_LEASE, or the one given) and release its claims' },
  {
    name: 'claim',
    args: 'PATH…',
    section: 'agents',
    method: 'claim.acquire',
    summary: 'claim paths, folders or globs: exclusive by default',
    complete: 'files',
    options: [
      { name: 'shared', help: 'a shared claim: others may hold shared claims on the same paths' },
      { name: 'wait', value: 'DURATION', help: 'wait in arrival order until they are free, at most this long' },
      ttl('its own deadline, shorter than the lease'),
      { name: 'reason', value: 'TEXT', help: 'why, shown to others' },
    ],
  },
  {
    name: 'claim list',
    section: 'agents',
    method: 'claim.list',
    summary: 'live claims: who holds which paths, with what fence, for how long',
    options: [
      { name: 'agent', value: 'NAME', help: "only this agent's claims" },
      { name: 'task', value: 'TASK', help: "only this task's claim" },
      { name: 'path', value: 'P', complete: 'files', help: 'only claims touching this path' },
      json,
    ],
  },
  {
    name: 'release',
    args: 'CLAIM',
    section: 'agents',
    method: 'claim.release',
    summary: "release a claim (the fence defaults to the claim's current one)",
    options: [{ name: 'fence', value: 'N', help: "the claim's fence" }],
  },
  {
    name: 'check',
    args: 'PATH…',
    section: 'agents',
    method: 'claim.check',
    summary: 'exit 0 when all are free, 1 when another holder holds any (naming it), 2 on errors',
    complete: 'files',
  },
  { name: 'task add', args: 'TITLE', section: 'agents', method: 'task.create', summary: 'add a task: paths, dependencies, proof plan, acceptance criteria', options: taskFields },
  {
    name: 'task list',
    section: 'agents',
    method: 'task.list',
    summary: 'tasks by priority, then age, with who holds them',
    options: [
      { name: 'ready', help: 'only ready tasks: open, dependencies done, unclaimed' },
      { name: 'status', value: 'STATUS', choices: ['open', 'done', 'cancelled'], help: 'only tasks in this status' },
      { name: 'label', value: 'L', help: 'only tasks with this label' },
      { name: 'agent', value: 'NAME', help: 'only tasks this agent holds' },
      { name: 'limit', value: 'N', help: 'at most N tasks (default 100)' },
      json,
    ],
  },
  { name: 'task show', args: 'TASK', section: 'agents', method: 'task.get', summary: 'one task as JSON, with its holder' },
  {
    name: 'task update',
    args: 'TASK',
    section: 'agents',
    method: 'task.update',
    summary: "change an open task (list options replace the task's list)",
    options: [{ name: 'title', value: 'TEXT', help: 'a new title' }, ...taskFields],
  },
  { name: 'task claim', args: '[TASK]', section: 'agents', method: 'task.claim', summary: 'claim a task and its paths; without TASK, the best ready one', options: [ttl('its own deadline, shorter than the lease')] },
  {
    name: 'task done',
    args: 'TASK',
    section: 'agents',
    method: 'task.complete',
    summary: 'complete a task you hold (needs passing, fresh proofs)',
    options: [{ name: 'summary', value: 'TEXT', help: 'what was done' }],
  },
  { name: 'task cancel', args: 'TASK', section: 'agents', method: 'task.cancel', summary: 'cancel an open task, releasing its claim', options: [{ name: 'reason', value: 'TEXT', help: 'why (required)' }] },
  { name: 'task reopen', args: 'TASK', section: 'agents', method: 'task.reopen', summary: 'return a done or cancelled task to open', options: [{ name: 'reason', value: 'TEXT', help: 'why (required)' }] },
  {
    name: 'proof run',
    args: 'TASK GATE',
    section: 'agents',
    method: 'proof.run',
    summary: "Decapod runs the gate; prints the verdict; exit 0 if it passed and counts",
    options: [{ name: 'follow', help: "show the gate's output as it runs" }],
  },
  { name: 'proof list', args: 'TASK', section: 'agents', method: 'proof.list', summary: "a task's proofs: gate, verdict, exit code, whether each counts", options: [json] },
  { name: 'gate list', section: 'agents', method: 'gate.list', summary: 'the gates of .decapod/config.json', options: [json] },
  { name: 'audit verify', section: 'agents', method: 'audit.verify', summary: 'check the hash chain and its checkpoints (exit 1 if it does not hold)' },
  { name: 'audit replay', section: 'agents', method: 'audit.replay', summary: 'rebuild the state from the log and compare (exit 1 if it differs)' },
  { name: 'audit checkpoint', section: 'agents', method: 'audit.checkpoint', summary: "record the log's head on the git ref refs/decapod/audit" },
];

/** What a group is for, shown above its commands. */
export const GROUPS: Readonly<Record<string, string>> = {
  lease: "leases: an agent's presence, which expires by itself",
  claim: 'claims: exclusive or shared holds on paths, with fences',
  task: 'tasks: units of intent with paths, dependencies and a proof plan',
  proof: "proofs: a gate's result, run by Decapod on the current content",
  gate: 'gates: the checks people defined in .decapod/config.json',
  audit: 'the hash-chained audit log',
};

export const BY_NAME: ReadonlyMap<string, CommandSpec> = new Map(
  COMMANDS.map((c, i) => {
    if (COMMANDS.findIndex((d) => d.name === c.name) !== i) throw new Error(`cli table: ${c.name} is listed twice`);
    return [c.name, c];
  }),
);

/** The commands of a group: `claim PATH…` itself is one of the claim group's. */
export const groupCommands = (group: string): CommandSpec[] => COMMANDS.filter((c) => c.name === group || c.name.startsWith(`${group} `));

/** Every option by name, so a word after `--ttl` is known to be its value before the command is. */
export const OPTION_TAKES_VALUE: ReadonlyMap<string, boolean> = (() => {
  const m = new Map<string, boolean>();
  for (const o of [...GLOBAL_OPTIONS, ...COMMANDS.flatMap((c) => c.options ?? [])]) {
    const takes = o.value !== undefined;
    if (m.has(o.name) && m.get(o.name) !== takes) throw new Error(`cli table: --${o.name} is a flag in one command and takes a value in another`);
    m.set(o.name, takes);
  }
  return m;
})();

/** The options a command accepts, its own and the global ones. */
export const optionsOf = (c: CommandSpec): OptionSpec[] => [...(c.options ?? []), ...GLOBAL_OPTIONS];
