import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync,
  readlinkSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { CommandError } from "../../src/cli/failure.ts";
import { install, uninstall } from "../../src/cli/install.ts";
import { stagingPrefix } from "../../src/cli/staging.ts";

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

/**
 * What containerd's NRI makes of a plugin folder: it launches every regular
 * file with an execute bit, and starts none when one is not named NN-name.
 * Folders are skipped; it never looks inside them.
 */
function launched(entries: { name: string; type: string; mode: number }[]): string[] {
  return entries.filter((entry) => entry.type === "f" && (entry.mode & 0o111) !== 0)
    .map((entry) => entry.name);
}

describe("install stages the copy where containerd never launches it", () => {
  test("while the copy runs, plugin_path holds nothing containerd would launch or refuse",
    async () => {
      const node = layout();
      const fifo = join(node.root, "executable.fifo");
      const snapshot = join(node.root, "snapshot");
      expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
      // The executable arrives in two parts; between them, the folder is looked at.
      const writer = Bun.spawn(["sh", "-c", `
        exec 3>"$FIFO"
        printf 'first part\\n' >&3
        i=0
        while [ -z "$(find "$PLUGINS" -type f -size +0c 2>/dev/null)" ] && [ $i -lt 300 ]; do
          sleep 0.01; i=$((i+1))
        done
        find "$PLUGINS" -mindepth 1 -printf '%d %P %m %y\\n' > "$SNAPSHOT"
        printf 'second part\\n' >&3
        exec 3>&-`], { env: { FIFO: fifo, PLUGINS: node.plugins, SNAPSHOT: snapshot,
        PATH: process.env.PATH ?? "/usr/bin:/bin" } });
      try {
        install({ ...node.options(), executable: fifo });
      } catch (error) {
        writer.kill(); // it may wait for a reader that is gone
        throw error;
      }
      expect(await writer.exited).toBe(0);
      const seen = readFileSync(snapshot, "utf8").trim().split("\n").map((line) => {
        const [depth, name, mode, type] = line.split(" ");
        return { depth: Number(depth), name: name!, mode: parseInt(mode!, 8), type: type! };
      });
      const top = seen.filter((entry) => entry.depth === 1);
      expect(launched(top)).toEqual([]);
      expect(top.map((entry) => entry.name).filter((name) => /^[0-9]{2}-/.test(name))).toEqual([]);
      // The half-written copy was seen, inside a folder, without any execute bit.
      const staged = seen.filter((entry) => entry.depth === 2 && entry.type === "f");
      expect(staged.map((entry) => entry.name))
        .toEqual([expect.stringMatching(new RegExp(`^\\.[^/]+/${PLUGIN}$`))]);
      expect(staged[0]!.mode & 0o111).toBe(0);
      expect(readFileSync(node.binary, "utf8")).toBe("first part\nsecond part\n");
      expect(statSync(node.binary).mode & 0o777).toBe(0o755);
      expect(readdirSync(node.plugins)).toEqual([PLUGIN]);
    });

  test("what an interrupted install left is removed, and not warned about as a plugin",
    async () => {
      const node = layout();
      const gone = await endedProcess();
      const staging = stagingFolder(node.plugins, gone.prefix);
      for (const name of [`${PLUGIN}.new`, "05-prefetchfiles-nri-plugin.new"]) {
        writeFileSync(join(node.plugins, name), "half");
        chmodSync(join(node.plugins, name), 0o755);
      }
      const out = install(node.options());
      expect(out.filter((line) => line.startsWith("warning"))).toEqual([]);
      expect(out).toContain(`removed ${staging}, left by an install (pid ${gone.pid}) that is ` +
        "no longer running");
      for (const name of [`${PLUGIN}.new`, "05-prefetchfiles-nri-plugin.new"]) {
        expect(out).toContain(`removed ${join(node.plugins, name)}, left by an interrupted ` +
          "install");
      }
      expect(readdirSync(node.plugins)).toEqual([PLUGIN]);
    });

  test("a folder under the old staging name was not made by install and stays", () => {
    const node = layout();
    mkdirSync(join(node.plugins, `${PLUGIN}.new`), { recursive: true });
    install(node.options());
    expect(readdirSync(node.plugins).sort()).toEqual([PLUGIN, `${PLUGIN}.new`]);
  });

  test("a copy that fails is named and leaves nothing in plugin_path", () => {
    const node = layout();
    const folder = join(node.root, "not-a-file");
    mkdirSync(folder);
    const message = refusal(() => install({ ...node.options(), executable: folder }));
    expect(message).toBe(`cannot install: copying ${folder} to ${node.binary} failed: ` +
      "it is a folder, not a file");
    expect(readdirSync(node.plugins)).toEqual([]);
  });
});

/** A staging folder with a half copy in it, as an install under `prefix` makes one. */
function stagingFolder(dir: string, prefix: string, age = 0): string {
  const staging = join(dir, `${prefix}Ab12Cd`);
  mkdirSync(staging, { recursive: true });
  writeFileSync(join(staging, PLUGIN), "half");
  const then = new Date(Date.now() - age);
  utimesSync(join(staging, PLUGIN), then, then);
  utimesSync(staging, then, then);
  return staging;
}

/** A process that has run and ended, with the staging prefix it would have used. */
async function endedProcess() {
  const child = Bun.spawn(["sh", "-c", "read line"], { stdin: "pipe" });
  const prefix = stagingPrefix(child.pid);
  child.stdin.end();
  await child.exited;
  return { pid: child.pid, prefix };
}

describe("a staging folder is removed only when the install that made it is gone", () => {
  const running: Bun.Subprocess[] = [];
  afterEach(() => {
    for (const child of running.splice(0)) child.kill();
  });

  /** A process standing in for another install under way. */
  function otherInstall() {
    const child = Bun.spawn(["sleep", "30"]);
    running.push(child);
    return { pid: child.pid, prefix: stagingPrefix(child.pid) };
  }

  test("the folder names its maker: pid namespace, pid and start time", () => {
    const own = readFileSync("/proc/self/stat", "utf8");
    const start = own.slice(own.lastIndexOf(")") + 2).split(" ")[19];
    const namespace = /\[(\d+)\]/.exec(readlinkSync("/proc/self/ns/pid"))![1];
    expect(stagingPrefix()).toBe(`.prefetchfiles-nri-plugin.staging-${namespace}-` +
      `${process.pid}-${start}-`);
  });

  test("another install under way keeps its folder; both copies end complete", () => {
    const node = layout();
    const other = otherInstall();
    const staging = stagingFolder(node.plugins, other.prefix);
    const out = install(node.options());
    expect(out).toContain(`kept ${staging}: another install (pid ${other.pid}) is using it; ` +
      "of installs run at once, the last to finish puts its copy in place");
    expect(out.filter((line) => line.startsWith("removed"))).toEqual([]);
    expect(readdirSync(node.plugins).sort()).toEqual([staging.slice(node.plugins.length + 1),
      PLUGIN].sort());
    expect(readFileSync(join(staging, PLUGIN), "utf8")).toBe("half");
    expect(readFileSync(node.binary, "utf8")).toBe(readFileSync(node.executable, "utf8"));
  });

  test("a pid now used by another process is no owner: its start time differs", () => {
    const node = layout();
    const other = otherInstall();
    const [pidPart, start] = other.prefix.split("-").slice(-3, -1);
    const reused = other.prefix.replace(`-${pidPart}-${start}-`,
      `-${pidPart}-${Number(start) - 1}-`);
    const staging = stagingFolder(node.plugins, reused);
    expect(install(node.options())).toContain(`removed ${staging}, left by an install ` +
      `(pid ${other.pid}) that is no longer running`);
    expect(readdirSync(node.plugins)).toEqual([PLUGIN]);
  });

  test("a maker that cannot be checked from here: kept while recent, removed when stale", () => {
    const node = layout();
    // Another PID namespace's install, and an earlier version's name without its maker.
    const otherNamespace = stagingPrefix().replace(/staging-\d+-/, "staging-1-");
    const fresh = [stagingFolder(node.plugins, otherNamespace),
      stagingFolder(node.plugins, ".prefetchfiles-nri-plugin.staging-", 0)];
    const out = install(node.options());
    for (const staging of fresh) {
      expect(out).toContain(`kept ${staging}: its install cannot be checked from here (another ` +
        "PID namespace, or an earlier version); install and uninstall remove it once " +
        "unchanged for 10 minutes");
      const old = new Date(Date.now() - 11 * 60_000);
      utimesSync(join(staging, PLUGIN), old, old);
      utimesSync(staging, old, old);
    }
    const later = install(node.options());
    for (const staging of fresh) {
      expect(later).toContain(`removed ${staging}, left by an install that cannot be checked ` +
        "from here, unchanged for over 10 minutes");
    }
    expect(readdirSync(node.plugins)).toEqual([PLUGIN]);
  });

  test("a folder changed a moment ago is kept, even among stale files", () => {
    const node = layout();
    const staging = stagingFolder(node.plugins, ".prefetchfiles-nri-plugin.staging-",
      20 * 60_000);
    writeFileSync(join(staging, "more"), "being written");
    expect(install(node.options())).toContain(`kept ${staging}: its install cannot be checked ` +
      "from here (another PID namespace, or an earlier version); install and uninstall " +
      "remove it once unchanged for 10 minutes");
  });

  test("uninstall removes what ended installs left in both folders, and says so", async () => {
    const node = layout();
    install(node.options());
    const gone = await endedProcess();
    const left = [stagingFolder(node.plugins, gone.prefix),
      stagingFolder(node.confDir, gone.prefix)];
    const out = uninstall({ ...node.options(), keepConf: false });
    expect(out.slice(0, 2)).toEqual([`removed ${node.binary}`, `removed ${node.conf}`]);
    expect(out.slice(2).sort()).toEqual([
      `removed ${left[0]}, left by an install (pid ${gone.pid}) that is no longer running`,
      `removed ${left[1]}, left by an install (pid ${gone.pid}) that is no longer running`,
    ].sort());
    expect(readdirSync(node.plugins)).toEqual([]);
    expect(readdirSync(node.confDir)).toEqual([]);
  });

  test("uninstall while an install is at work refuses and removes nothing", () => {
    const node = layout();
    install(node.options());
    const other = otherInstall();
    const busy = stagingFolder(node.plugins, other.prefix);
    expect(() => uninstall({ ...node.options(), keepConf: false })).toThrow(
      `cannot uninstall: an install (pid ${other.pid}) is at work in ${node.plugins}; ` +
        "run uninstall again once it has finished");
    expect(existsSync(node.binary)).toBe(true);
    expect(existsSync(node.conf)).toBe(true);
    expect(existsSync(busy)).toBe(true);
  });

  test("uninstall of folders that are not there is not a failure", () => {
    const node = layout();
    expect(uninstall({ ...node.options(), keepConf: false })).toEqual([
      `not present: ${node.binary}`, `not present: ${node.conf}`]);
  });
});

describe("a copy removed while it was made", () => {
  test("install fails saying so, and leaves the executable in place as it was", async () => {
    const node = layout();
    mkdirSync(node.plugins);
    writeFileSync(node.binary, "the earlier one");
    const fifo = join(node.root, "executable.fifo");
    expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
    // Half-way through the copy, the staging folder is taken away.
    const writer = Bun.spawn(["sh", "-c", `
      exec 3>"$FIFO"
      printf 'first part\\n' >&3
      i=0
      while [ -z "$(find "$PLUGINS" -mindepth 2 -type f -size +0c 2>/dev/null)" ] &&
        [ $i -lt 300 ]; do
        sleep 0.01; i=$((i+1))
      done
      rm -rf "$PLUGINS"/.prefetchfiles-nri-plugin.staging-*
      printf 'second part\\n' >&3
      exec 3>&-`], { env: { FIFO: fifo, PLUGINS: node.plugins,
      PATH: process.env.PATH ?? "/usr/bin:/bin" } });
    let message: string;
    try {
      message = refusal(() => install({ ...node.options(), executable: fifo }));
    } finally {
      writer.kill();
    }
    expect(message).toMatch(new RegExp(`^cannot install: the copy in ${node.plugins}/\\.` +
      "prefetchfiles-nri-plugin\\.staging-[^/]+ was removed while it was made \\(by another " +
      `install\\?\\); ${node.binary} is left as it was: run install again$`));
    expect(readFileSync(node.binary, "utf8")).toBe("the earlier one");
    expect(readdirSync(node.plugins)).toEqual([PLUGIN]);
  });
});

describe("the .conf is written whole or not at all", () => {
  test("it is made in a staging folder and renamed into place; nothing else is left", () => {
    const node = layout();
    mkdirSync(node.confDir);
    writeFileSync(node.conf, "# an older one\n");
    const before = statSync(node.conf).ino;
    install({ ...node.options({ force: true }), socketAddress: "/run/x/system.sock" });
    expect(readFileSync(node.conf, "utf8")).toContain('socket_address = "/run/x/system.sock"');
    expect(statSync(node.conf).ino).not.toBe(before);
    expect(readdirSync(node.confDir)).toEqual([`${PLUGIN}.conf`]);
  });

  test("a .conf that is a link is written through, as before", () => {
    const node = layout();
    mkdirSync(node.confDir);
    const real = join(node.root, "real.conf");
    writeFileSync(real, "# mine\n");
    symlinkSync(real, node.conf);
    install(node.options({ force: true }));
    expect(lstatSync(node.conf).isSymbolicLink()).toBe(true);
    expect(readFileSync(real, "utf8")).toContain("socket_address");
  });
});

test("install prints containerd's lines with absolute paths, even for relative flags", () => {
  const node = layout();
  const out = install({ ...node.options(), pluginPath: relative(process.cwd(), node.plugins),
    configPath: relative(process.cwd(), node.confDir) });
  expect(out).toContain(`    plugin_path = "${node.plugins}"`);
  expect(out).toContain(`    plugin_config_path = "${node.confDir}"`);
  expect(existsSync(node.binary)).toBe(true);
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
