import { COMMANDS, GLOBAL_OPTIONS, GROUPS, groupCommands, optionsOf, type CommandSpec, type OptionSpec } from './commands.js';

// Every help text is built from the command table (commands.ts), so it lists exactly what parses.

/** `decapod task add TITLE`, with the options a command cannot do without. */
const synopsis = (c: CommandSpec) => ['decapod', c.name, c.name === 'lease grant' ? '--agent NAME' : c.name === 'migrate' ? '--to URL' : '', c.args ?? ''].filter(Boolean).join(' ');

const WIDTH = Math.max(...COMMANDS.map((c) => synopsis(c).length)) + 3;
const line = (c: CommandSpec) => `  ${synopsis(c).padEnd(WIDTH)}${c.summary}\n`;

export const USAGE = `decapod — a control plane for many coding agents on one repository

Usage: decapod COMMAND [ARGUMENTS] [OPTIONS]; 'decapod help COMMAND' shows a command's options,
'decapod GROUP' (lease, claim, task, proof, gate, audit) lists a group's commands.

Server and tools:
${COMMANDS.filter((c) => c.section === 'server').map(line).join('')}
Agents (these act with DECAPOD_LEASE):
${COMMANDS.filter((c) => c.section === 'agents').map(line).join('')}
Options:
${GLOBAL_OPTIONS.map(optionLine).join('')}
Environment:
  DECAPOD_IDLE_TIMEOUT  idle exit for spawned servers (500ms, 30s, 2m; default 120s)
  DECAPOD_NO_SPAWN=1    fail instead of starting a server
  DECAPOD_LEASE         the lease secret commands and \`call\` act with when params name none
  DECAPOD_BIN           the decapod executable clients spawn
  DECAPOD_CHECKPOINT_EVERY  events between a server's automatic audit checkpoints (default 1000; 0: off)

Exit codes: 0 ok, 1 error, 2 usage, 3 not running / already served.
`;

function optionLine(o: OptionSpec): string {
  const flag = `--${o.name}${o.value ? ` ${o.value}` : ''}${o.multiple ? '…' : ''}`;
  return `  ${flag.padEnd(20)} ${o.help}\n`;
}

/** `decapod help task add`: its synopsis, what it does, every option it takes. */
export function commandHelp(c: CommandSpec): string {
  const calls = c.method ? ` (calls ${c.method})` : '';
  return `Usage: ${synopsis(c)}${c.options?.length ? ' [OPTIONS]' : ''}\n\n${c.summary}${calls}\n\nOptions:\n${optionsOf(c).map(optionLine).join('')}`;
}

/** `decapod task`: the group's commands, one line each. */
export function groupHelp(group: string): string {
  const cs = groupCommands(group);
  const width = Math.max(...cs.map((c) => synopsis(c).length)) + 3;
  return `decapod ${group}: ${GROUPS[group]}\n\n${cs.map((c) => `  ${synopsis(c).padEnd(width)}${c.summary}\n`).join('')}\nRun 'decapod help ${group} COMMAND' for a command's options.\n`;
}

export class UsageError extends Error {
  /** the command it concerns, named in the hint */
  command: string | undefined;
  /** `hint`: point at `decapod help` after the message (not when help cannot fix it, e.g. a missing --root folder) */
  readonly hint: boolean;
  constructor(message: string, opts: boolean | { command?: string | undefined } = true) {
    super(message);
    this.hint = opts !== false;
    this.command = typeof opts === 'object' ? opts.command : undefined;
  }
}

/** One line on stderr: `decapod: unknown option --x for task add (see decapod help task add)`. */
export function usageErrorText(err: Error): string {
  const hint = !(err instanceof UsageError) || err.hint ? ` (see decapod help${err instanceof UsageError && err.command ? ` ${err.command}` : ''})` : '';
  return `decapod: ${err.message}${hint}\n`;
}
