import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync,
  symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CommandError } from "../../src/cli/failure.ts";
import { install, uninstall } from "../../src/cli/install.ts";

const PLUGIN = "03-prefetchfiles-nri-plugin";
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A node layout in a temporary folder, with a stand-in for the executable. */
function layout() {
  const root = mkdtempSync(join(tmpdir(), "plugin-install-"));
  dirs.push(root);
  const executable = join(root, "built-plugin");
  writeFileSync(executable, "#!/bin/sh\n# stand-in\n");
  const plugins = join(root, "plugins");
  const confDir = join(root, "conf.d");
  return {
    root, plugins, confDir, executable,
    binary: join(plugins, PLUGIN),
    conf: join(confDir, `${PLUGIN}.conf`),
    options: (extra: { force?: boolean } = {}) => ({ pluginPath: plugins, configPath: confDir,
      idx: "03", force: false, executable, ...extra }),
  };
}

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(CommandError);
    return (error as Error).message;
  }
  throw new Error("not refused");
}

describe("install refuses paths of the wrong kind before writing anything", () => {
  test("a folder where the .conf goes, even with --force", () => {
    const node = layout();
    mkdirSync(node.conf, { recursive: true });
    for (const force of [false, true]) {
      expect(refusal(() => install(node.options({ force })))).toBe(`cannot install: ${node.conf} ` +
        "is a folder, not a regular file; move it away or choose another " +
        "--plugin-config-path or --idx");
      expect(existsSync(node.plugins)).toBe(false);
    }
  });

  test("a file where the plugin folder goes", () => {
    const node = layout();
    writeFileSync(node.plugins, "");
    expect(refusal(() => install(node.options()))).toBe(`cannot install: ${node.plugins} is a ` +
      "regular file, not a folder; choose another --plugin-path");
    expect(existsSync(node.confDir)).toBe(false);
  });

  test("a file where the config folder goes", () => {
    const node = layout();
    writeFileSync(node.confDir, "");
    expect(refusal(() => install(node.options()))).toContain(`${node.confDir} is a regular file`);
    expect(existsSync(node.plugins)).toBe(false);
  });

  test("a folder where the executable goes", () => {
    const node = layout();
    mkdirSync(node.binary, { recursive: true });
    expect(refusal(() => install(node.options())))
      .toContain(`${node.binary} is a folder, not a regular file`);
    expect(existsSync(node.conf)).toBe(false);
  });

  test("a .conf that is a link to nothing", () => {
    const node = layout();
    mkdirSync(node.confDir);
    symlinkSync(join(node.root, "nowhere"), node.conf);
    expect(refusal(() => install(node.options())))
      .toBe(`cannot install: ${node.conf} is a symbolic link that cannot be followed: ` +
        "no such file");
    expect(existsSync(join(node.root, "nowhere"))).toBe(false);
  });
});

describe("install", () => {
  test("writes both files and keeps an existing .conf", () => {
    const node = layout();
    mkdirSync(node.confDir);
    writeFileSync(node.conf, "# mine\n");
    const out = install(node.options());
    expect(readFileSync(node.binary, "utf8")).toBe(readFileSync(node.executable, "utf8"));
    expect(out).toContain(`kept existing ${node.conf} (--force replaces it)`);
    expect(readFileSync(node.conf, "utf8")).toBe("# mine\n");
  });

  test("a link to nothing beside it is passed over, not a failure", () => {
    const node = layout();
    mkdirSync(node.plugins);
    symlinkSync(join(node.root, "nowhere"), join(node.plugins, "04-gone"));
    expect(install(node.options())).toContain(`installed ${node.binary}`);
  });

  test("a leftover staging link is replaced, not written through", () => {
    const node = layout();
    mkdirSync(node.plugins);
    const victim = join(node.root, "victim");
    writeFileSync(victim, "keep me\n");
    symlinkSync(victim, `${node.binary}.new`);
    install(node.options());
    expect(readFileSync(victim, "utf8")).toBe("keep me\n");
    expect(readdirSync(node.plugins)).toEqual([PLUGIN]);
  });
});

describe("uninstall", () => {
  test("a folder where the executable was is refused and nothing is removed", () => {
    const node = layout();
    mkdirSync(node.binary, { recursive: true });
    mkdirSync(node.confDir);
    writeFileSync(node.conf, "# mine\n");
    expect(refusal(() => uninstall({ ...node.options(), keepConf: false })))
      .toBe(`cannot uninstall: ${node.binary} is a folder, not a regular file; install never ` +
        "puts one there, so nothing was removed");
    expect(existsSync(node.conf)).toBe(true);
  });

  test("removes a link itself, not what it points to", () => {
    const node = layout();
    mkdirSync(node.plugins);
    symlinkSync(node.executable, node.binary);
    expect(uninstall({ ...node.options(), keepConf: true })).toEqual([`removed ${node.binary}`]);
    expect(() => lstatSync(node.binary)).toThrow();
    expect(existsSync(node.executable)).toBe(true);
  });
});
