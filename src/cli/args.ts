/** A command line that cannot be understood; the message says what to fix. */
export class UsageError extends Error {
  override name = "UsageError";
}

export interface FlagSpec {
  /** A value follows the flag (--x v, --x=v); otherwise it is a switch. */
  takesValue: boolean;
  help: string;
  /** Shown in help as the value's name. */
  value?: string;
  short?: string;
}

export interface ParsedArgs {
  command: string | undefined;
  values: Map<string, string>;
  switches: Set<string>;
  positionals: string[];
}

/**
 * Parses flags the way the Go plugin's urfave/cli does: "--x v", "--x=v",
 * "-x v" and "-x=v" are the same. "--" ends the flags. The first positional
 * is the command when it is one of `commands`.
 */
export function parseArgs(
  argv: readonly string[],
  flags: Record<string, FlagSpec>,
  commands: readonly string[],
): ParsedArgs {
  const parsed: ParsedArgs = {
    command: undefined,
    values: new Map(),
    switches: new Set(),
    positionals: [],
  };
  const byShort = new Map<string, string>();
  for (const [name, spec] of Object.entries(flags)) if (spec.short) byShort.set(spec.short, name);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      parsed.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      addPositional(parsed, arg, commands);
      continue;
    }
    const [rawName, inline] = splitFlag(arg);
    const name = byShort.get(rawName) ?? rawName;
    const spec = flags[name];
    if (!spec) throw new UsageError(`unknown flag ${arg.split("=")[0]} (see --help)`);
    if (!spec.takesValue) {
      if (inline !== undefined) throw new UsageError(`flag --${name} takes no value`);
      parsed.switches.add(name);
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined || (inline === undefined && /^--?[a-z]/.test(value))) {
      throw new UsageError(`flag --${name} needs a value`);
    }
    parsed.values.set(name, value);
  }
  return parsed;
}

function splitFlag(arg: string): [string, string | undefined] {
  const body = arg.replace(/^--?/, "");
  const eq = body.indexOf("=");
  return eq < 0 ? [body, undefined] : [body.slice(0, eq), body.slice(eq + 1)];
}

function addPositional(parsed: ParsedArgs, arg: string, commands: readonly string[]): void {
  if (!parsed.command && parsed.positionals.length === 0 && commands.includes(arg)) {
    parsed.command = arg;
  } else {
    parsed.positionals.push(arg);
  }
}

/** The help lines for a flag table. */
export function flagHelp(flags: Record<string, FlagSpec>): string {
  const rows = Object.entries(flags).map(([name, spec]) => {
    const short = spec.short ? `-${spec.short}, ` : "";
    return [`  ${short}--${name}${spec.takesValue ? ` ${spec.value ?? "VALUE"}` : ""}`, spec.help];
  });
  const width = Math.max(...rows.map(([left]) => left!.length)) + 2;
  return rows.map(([left, right]) => left!.padEnd(width) + right).join("\n");
}
