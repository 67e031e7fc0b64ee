import { BY_NAME, GROUPS, OPTION_TAKES_VALUE, optionsOf, type CommandSpec } from './commands.js';
import { commandHelp, groupHelp, USAGE, UsageError } from './usage.js';

export type OptionValues = Record<string, string | string[] | boolean>;

/** What the command line asks for: a help text to print (with its exit code), or a command to run. */
export type Parsed = { help: string; code: number } | { help?: undefined; command: string; values: OptionValues; args: string[] };

interface Given {
  name: string;
  raw: string;
  value: string | undefined;
}

/**
 * Reads argv against the command table. Options may come before or after the command words;
 * `--` ends them. Every mistake is a UsageError naming the command, never Node's parseArgs text.
 */
export function parseCommandLine(argv: readonly string[]): Parsed {
  const given: Given[] = [];
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (word === '-h') {
      given.push({ name: 'help', raw: word, value: undefined });
    } else if (word.startsWith('--') && word.length > 2) {
      const eq = word.indexOf('=');
      const name = eq < 0 ? word.slice(2) : word.slice(2, eq);
      let value = eq < 0 ? undefined : word.slice(eq + 1);
      // A value may be the next word unless that is itself an option (then it is missing).
      if (value === undefined && OPTION_TAKES_VALUE.get(name) && i + 1 < argv.length && !argv[i + 1]!.startsWith('-')) value = argv[++i];
      given.push({ name, raw: eq < 0 ? word : word.slice(0, eq), value });
    } else if (word.startsWith('-') && word.length > 1) {
      given.push({ name: word.slice(1), raw: word, value: undefined });
    } else {
      positionals.push(word);
    }
  }

  const { command, args, group } = resolve(positionals);
  const askedHelp = given.some((g) => g.name === 'help');
  if (command === undefined) {
    if (group !== undefined) return { help: groupHelp(group), code: askedHelp ? 0 : 2 };
    checkOptions(given, undefined);
    return { help: USAGE, code: askedHelp ? 0 : 2 };
  }
  const values = checkOptions(given, command);
  if (askedHelp) return { help: commandHelp(command), code: 0 };
  if (command.name === 'help') return helpFor(args);
  return { command: command.name, values, args };
}

/** `task add …` → task add; `claim src` → claim; `task` alone → the task group. */
function resolve(positionals: string[]): { command?: CommandSpec; args: string[]; group?: string } {
  const [first, second] = positionals;
  if (first === undefined) return { args: [] };
  const two = second === undefined ? undefined : BY_NAME.get(`${first} ${second}`);
  if (two) return { command: two, args: positionals.slice(2) };
  const one = BY_NAME.get(first);
  if (first in GROUPS && (second === undefined || !one)) {
    if (second === undefined) return { args: [], group: first };
    throw new UsageError(`unknown command "${first} ${second}"`, { command: first });
  }
  if (!one) throw new UsageError(`unknown command ${JSON.stringify(first)}`);
  return { command: one, args: positionals.slice(1) };
}

function checkOptions(given: Given[], command: CommandSpec | undefined): OptionValues {
  const specs = new Map((command ? optionsOf(command) : optionsOf({ name: '', summary: '', section: 'server' })).map((o) => [o.name, o]));
  const where = command ? ` for ${command.name}` : '';
  const values: OptionValues = {};
  for (const g of given) {
    const spec = specs.get(g.name);
    if (!spec) throw new UsageError(`unknown option ${g.raw}${where}`, { command: command?.name });
    if (spec.value === undefined) {
      if (g.value !== undefined) throw new UsageError(`${g.raw} takes no value${where}`, { command: command?.name });
      values[spec.name] = true;
      continue;
    }
    if (g.value === undefined) throw new UsageError(`${g.raw} needs a value (${g.raw} ${spec.value})`, { command: command?.name });
    if (spec.multiple) values[spec.name] = [...((values[spec.name] as string[] | undefined) ?? []), g.value];
    else if (values[spec.name] !== undefined) throw new UsageError(`${g.raw} is given more than once`, { command: command?.name });
    else values[spec.name] = g.value;
  }
  return values;
}

/** `decapod help`, `decapod help task`, `decapod help task add`. */
function helpFor(args: string[]): Parsed {
  if (args.length === 0) return { help: USAGE, code: 0 };
  const { command, group } = resolve(args.slice(0, 2));
  if (args.length > (command?.name.split(' ').length ?? 1)) throw new UsageError(`unexpected argument ${JSON.stringify(args.at(-1))}`, { command: 'help' });
  return { help: command ? commandHelp(command) : groupHelp(group!), code: 0 };
}
