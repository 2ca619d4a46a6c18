import { describe, expect, test } from "bun:test";
import { type FlagSpec, flagHelp, parseArgs, UsageError } from "../../src/cli/args.ts";

const FLAGS: Record<string, FlagSpec> = {
  idx: { takesValue: true, value: "NN", help: "plugin index" },
  "socket-addr": { takesValue: true, short: "s", value: "PATH", help: "snapshotter socket" },
  version: { takesValue: false, help: "print the version" },
  help: { takesValue: false, short: "h", help: "print help" },
};
const COMMANDS = ["run", "check"];

function parse(...argv: string[]) {
  return parseArgs(argv, FLAGS, COMMANDS);
}

function usageError(...argv: string[]): UsageError {
  try {
    parse(...argv);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return error as UsageError;
  }
  throw new Error(`${argv.join(" ")} was accepted`);
}

describe("parseArgs", () => {
  test("--x v sets a value", () => {
    expect(parse("--idx", "03").values.get("idx")).toBe("03");
  });

  test("--x=v sets a value", () => {
    expect(parse("--socket-addr=/tmp/a=b.sock").values.get("socket-addr")).toBe("/tmp/a=b.sock");
  });

  test("-x v with a short name sets the long flag's value", () => {
    expect(parse("-s", "/tmp/s.sock").values.get("socket-addr")).toBe("/tmp/s.sock");
  });

  test("-x=v with a short name sets the long flag's value", () => {
    expect(parse("-s=/tmp/s.sock").values.get("socket-addr")).toBe("/tmp/s.sock");
  });

  test("a long name with one dash works too", () => {
    expect(parse("-idx", "03").values.get("idx")).toBe("03");
  });

  test("-h sets the help switch", () => {
    expect([...parse("-h").switches]).toEqual(["help"]);
  });

  test("--version sets its switch and no value", () => {
    const parsed = parse("--version");
    expect(parsed.switches.has("version")).toBe(true);
    expect(parsed.values.size).toBe(0);
  });

  test("a later value replaces an earlier one", () => {
    expect(parse("--idx", "03", "--idx", "04").values.get("idx")).toBe("04");
  });

  test("an unknown flag is a UsageError naming it", () => {
    expect(usageError("--idx", "03", "--bogus=1").message)
      .toBe("unknown flag --bogus (see --help)");
  });

  test("an unknown short flag is a UsageError naming it", () => {
    expect(usageError("-z").message).toBe("unknown flag -z (see --help)");
  });

  test("a flag without its value at the end is a UsageError", () => {
    expect(usageError("--idx").message).toBe("flag --idx needs a value");
  });

  test("a switch given a value is a UsageError", () => {
    expect(usageError("--help=true").message).toBe("flag --help takes no value");
  });

  test("-- ends the flags", () => {
    const parsed = parse("--idx", "03", "--", "--help", "x");
    expect(parsed.switches.size).toBe(0);
    expect(parsed.positionals).toEqual(["--help", "x"]);
  });

  test("a known first positional is the command", () => {
    const parsed = parse("--idx", "03", "check", "extra");
    expect(parsed.command).toBe("check");
    expect(parsed.positionals).toEqual(["extra"]);
  });

  test("a known word after another positional is not the command", () => {
    const parsed = parse("extra", "run");
    expect(parsed.command).toBeUndefined();
    expect(parsed.positionals).toEqual(["extra", "run"]);
  });

  test("an unknown first positional is not a command", () => {
    expect(parse("start").command).toBeUndefined();
  });

  test("a lone - is a positional", () => {
    expect(parse("-").positionals).toEqual(["-"]);
  });
});

describe("flagHelp", () => {
  test("lists each flag with its short name and value name", () => {
    const lines = flagHelp(FLAGS).split("\n");
    expect(lines).toHaveLength(4);
    expect(lines[1]).toMatch(/^ {2}-s, --socket-addr PATH +snapshotter socket$/);
    expect(lines[3]).toMatch(/^ {2}-h, --help +print help$/);
  });
});
