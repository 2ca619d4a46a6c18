// The compiled executable's commands, as an operator runs them.
import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync,
  rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pluginBinary } from "../support/plugin-binary.ts";

const fixtures = join(import.meta.dir, "../fixtures");
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "plugin-cli-"));
  dirs.push(dir);
  return dir;
}

function run(args: string[], stdin?: string) {
  const result = Bun.spawnSync([pluginBinary(), ...args], {
    stdin: stdin === undefined ? "ignore" : Buffer.from(stdin),
    stdout: "pipe",
    stderr: "pipe",
    env: {},
    timeout: 4_000, // a command that wrongly starts the daemon ends as a failure, not a hang
  });
  return { code: result.exitCode, out: result.stdout.toString(), err: result.stderr.toString() };
}

function podFile(annotation: string, kubernetes = false): string {
  const file = join(tempDir(), "pod.json");
  const annotations = { "containerd.io/nydus-prefetch": annotation };
  const pod = kubernetes
    ? { apiVersion: "v1", kind: "Pod", metadata: { name: "web", namespace: "shop", annotations } }
    : { metadata: { name: "web", namespace: "shop" }, annotations };
  writeFileSync(file, JSON.stringify(pod));
  return file;
}

describe("check", () => {
  test("the nydus sample pod passes, shows the body, and warns that a URL is not a file", () => {
    const { code, out } = run(["check", join(fixtures, "wordpress-pod.yaml")]);
    expect(code).toBe(0);
    expect(out).toContain("would send PUT /api/v1/prefetch");
    expect(out).toContain('"prefetch": "http://example.com/api/v1/resource/wordpress"');
    expect(out).toContain("is a URL");
  });

  test("a Kubernetes Pod manifest on stdin is read from metadata.annotations", () => {
    const text = readFileSync(podFile('[{"image":"nginx","prefetch":"/lists/nginx"}]', true),
      "utf8");
    const { code, out } = run(["check", "-"], text);
    expect(code).toBe(0);
    expect(out).toContain('[{"image":"docker.io/library/nginx:latest","prefetch":"/lists/nginx"}]');
    expect(out).toContain('image "nginx" is sent as "docker.io/library/nginx:latest"');
  });

  test("an invalid annotation exits 1 and says where the problem is", () => {
    const { code, out } = run(["check", podFile('[{"image":"a:1","prefetch":7}]')]);
    expect(code).toBe(1);
    expect(out).toContain('element 0: "prefetch" must be a string, got a number');
  });

  test("a pod without the annotation exits 1 and says where it looked", () => {
    const file = join(tempDir(), "pod.yaml");
    writeFileSync(file, "metadata:\n  name: x\n");
    const { code, out } = run(["check", file]);
    expect(code).toBe(1);
    expect(out).toContain("no containerd.io/nydus-prefetch annotation");
  });

  test("the .conf's policy is applied", () => {
    const conf = join(tempDir(), "p.conf");
    writeFileSync(conf, 'allowed_prefetch_prefixes = ["/etc/nydus/lists/"]\n');
    const { code, out } = run(["check", "--conf", conf,
      podFile('[{"image":"docker.io/library/a:1","prefetch":"/root/.ssh/id_rsa"}]')]);
    expect(code).toBe(1);
    expect(out).toContain("is not under any of allowed_prefetch_prefixes");
  });

  test("a kind: List with a null item is named in words, without a stack trace", () => {
    const file = join(tempDir(), "l.yaml");
    writeFileSync(file, "kind: List\nitems:\n- null\n");
    const { code, out, err } = run(["check", file]);
    expect(code).toBe(1);
    expect(err).toBe("");
    expect(out).toBe(`${file} (items[0]): empty (null), where a pod config or Kubernetes ` +
      "object (a mapping) belongs\n");
  });

  test("check --conf alone validates a .conf and names a bad key", () => {
    expect(run(["check", "--conf", join(fixtures, "prefetchfiles-nri-plugin.conf")]).code)
      .toBe(0);
    const bad = join(tempDir(), "bad.conf");
    writeFileSync(bad, "retry_window = 10\n");
    const { code, err } = run(["check", "--conf", bad]);
    expect(code).toBe(1);
    expect(err).toContain(`${bad}: key "retry_window" must be a duration`);
  });
});

describe("install and uninstall", () => {
  function paths() {
    const root = tempDir();
    return { plugins: join(root, "plugins"), conf: join(root, "conf.d") };
  }

  test("install places NN-prefetchfiles-nri-plugin and its .conf, and prints containerd's lines",
    () => {
      const { plugins, conf } = paths();
      const { code, out } = run(["install", "--plugin-path", plugins, "--plugin-config-path",
        conf, "--socket-addr", "/run/nydus/system.sock"]);
      expect(code).toBe(0);
      const binary = join(plugins, "03-prefetchfiles-nri-plugin");
      expect(statSync(binary).mode & 0o777).toBe(0o755);
      expect(statSync(binary).size).toBe(statSync(pluginBinary()).size);
      expect(readFileSync(join(conf, "03-prefetchfiles-nri-plugin.conf"), "utf8"))
        .toContain('socket_address = "/run/nydus/system.sock"');
      expect(out).toContain('[plugins."io.containerd.nri.v1.nri"]');
    });

  test("an existing .conf is kept unless --force", () => {
    const { plugins, conf } = paths();
    mkdirSync(conf);
    const file = join(conf, "03-prefetchfiles-nri-plugin.conf");
    writeFileSync(file, "# mine\n");
    const args = ["install", "--plugin-path", plugins, "--plugin-config-path", conf];
    expect(run(args).out).toContain("kept existing");
    expect(readFileSync(file, "utf8")).toBe("# mine\n");
    run([...args, "--force"]);
    expect(readFileSync(file, "utf8")).toContain("socket_address");
  });

  test("an index that is not two digits is a usage mistake", () => {
    const { plugins, conf } = paths();
    const { code, err } = run(["install", "--idx", "3", "--plugin-path", plugins,
      "--plugin-config-path", conf]);
    expect(code).toBe(2);
    expect(err).toContain('--idx must be exactly two digits, got "3"');
    expect(existsSync(plugins)).toBe(false);
  });

  test("a folder where the .conf goes is refused, naming it, and nothing is installed", () => {
    const { plugins, conf } = paths();
    const file = join(conf, "03-prefetchfiles-nri-plugin.conf");
    mkdirSync(file, { recursive: true });
    for (const force of [[], ["--force"]]) {
      const { code, out, err } = run(["install", "--plugin-path", plugins,
        "--plugin-config-path", conf, ...force]);
      expect(code).toBe(1);
      expect(err).toContain(`cannot install: ${file} is a folder, not a regular file`);
      expect(out).not.toContain("kept existing");
      expect(existsSync(plugins)).toBe(false);
    }
  });

  test("a file where the plugin folder goes is refused, naming it", () => {
    const { plugins, conf } = paths();
    writeFileSync(plugins, "");
    const { code, err } = run(["install", "--plugin-path", plugins, "--plugin-config-path", conf]);
    expect(code).toBe(1);
    expect(err).toContain(`cannot install: ${plugins} is a regular file, not a folder`);
    expect(existsSync(conf)).toBe(false);
  });

  test("uninstall leaves a folder where the executable goes, and the .conf with it", () => {
    const { plugins, conf } = paths();
    const where = ["--plugin-path", plugins, "--plugin-config-path", conf];
    run(["install", ...where]);
    const binary = join(plugins, "03-prefetchfiles-nri-plugin");
    rmSync(binary);
    mkdirSync(binary);
    const { code, err } = run(["uninstall", ...where]);
    expect(code).toBe(1);
    expect(err).toContain(`cannot uninstall: ${binary} is a folder`);
    expect(existsSync(join(conf, "03-prefetchfiles-nri-plugin.conf"))).toBe(true);
  });

  test("a misnamed executable and another prefetch plugin beside it are warned about", () => {
    const { plugins, conf } = paths();
    mkdirSync(plugins);
    for (const name of ["logger", "02-prefetch-nri-plugin"]) {
      writeFileSync(join(plugins, name), "#!/bin/sh\n");
      chmodSync(join(plugins, name), 0o755);
    }
    const { out } = run(["install", "--plugin-path", plugins, "--plugin-config-path", conf]);
    expect(out).toContain(`${join(plugins, "logger")} is not named NN-name`);
    expect(out).toContain("looks like another prefetch plugin");
  });

  /**
   * What containerd's NRI would launch from `dir` (every regular file with an
   * execute bit; a name that is not NN-name makes it start none), each with
   * whether it is the whole executable.
   */
  function launchable(dir: string) {
    const entries = existsSync(dir) ? readdirSync(dir) : [];
    return entries.flatMap((name) => {
      try {
        const stat = lstatSync(join(dir, name));
        if (!stat.isFile() || (stat.mode & 0o111) === 0) return [];
        return [{ name, whole: stat.size === statSync(pluginBinary()).size }];
      } catch {
        return []; // renamed or removed since the listing
      }
    });
  }

  test("an install killed mid-copy leaves nothing containerd would launch, and the next " +
    "install removes what it left", async () => {
    const { plugins, conf } = paths();
    const args = ["install", "--plugin-path", plugins, "--plugin-config-path", conf];
    const child = Bun.spawn([pluginBinary(), ...args], { stdout: "ignore", stderr: "ignore",
      env: {} });
    let staging: string | undefined;
    const deadline = Date.now() + 10_000;
    while (staging === undefined && child.exitCode === null && Date.now() < deadline) {
      // At every moment: nothing half-copied or misnamed that containerd would run.
      expect(launchable(plugins).filter((entry) => entry.name !== "03-prefetchfiles-nri-plugin" ||
        !entry.whole)).toEqual([]);
      staging = (existsSync(plugins) ? readdirSync(plugins) : [])
        .find((name) => name.startsWith("."));
    }
    child.kill("SIGKILL");
    await child.exited;
    expect(staging).toBeDefined(); // the copy was caught under way
    expect(launchable(plugins)).toEqual([]);
    expect(readdirSync(plugins)).toEqual([staging!]);

    const { code, out } = run(args);
    expect(code).toBe(0);
    expect(out).toContain(`removed ${join(plugins, staging!)}, left by an install ` +
      `(pid ${child.pid}) that is no longer running`);
    expect(out).not.toContain("warning");
    expect(readdirSync(plugins)).toEqual(["03-prefetchfiles-nri-plugin"]);
    expect(launchable(plugins)).toEqual([{ name: "03-prefetchfiles-nri-plugin", whole: true }]);
  });

  /** Starts an install and returns once its staging folder is there (the copy under way). */
  async function startInstall(args: string[], plugins: string) {
    const child = Bun.spawn([pluginBinary(), ...args], { stdout: "pipe", stderr: "pipe",
      env: {} });
    const deadline = Date.now() + 10_000;
    while (child.exitCode === null && Date.now() < deadline &&
      !(existsSync(plugins) && readdirSync(plugins).some((name) => name.startsWith(".")))) {
      await Bun.sleep(1);
    }
    return child;
  }

  test("two installs at once both succeed and leave one whole executable", async () => {
    for (let round = 0; round < 3; round++) {
      const { plugins, conf } = paths();
      const args = ["install", "--plugin-path", plugins, "--plugin-config-path", conf,
        "--force", "--socket-addr", "/run/first/system.sock"];
      const first = await startInstall(args, plugins);
      const second = Bun.spawn([pluginBinary(), ...args.slice(0, -1), "/run/second/s.sock"],
        { stdout: "pipe", stderr: "pipe", env: {} });
      const results = await Promise.all([first, second].map(async (child) => ({
        code: await child.exited,
        out: await new Response(child.stdout).text(),
        err: await new Response(child.stderr).text(),
      })));
      for (const result of results) {
        expect(result).toMatchObject({ code: 0, err: "" });
        expect(result.out).not.toContain("removed");
      }
      expect(readdirSync(plugins)).toEqual(["03-prefetchfiles-nri-plugin"]);
      expect(launchable(plugins)).toEqual([{ name: "03-prefetchfiles-nri-plugin", whole: true }]);
      expect(readdirSync(conf)).toEqual(["03-prefetchfiles-nri-plugin.conf"]);
      expect(readFileSync(join(conf, "03-prefetchfiles-nri-plugin.conf"), "utf8"))
        .toMatch(/^# UNIX[^\n]*\nsocket_address = "\/run\/(first\/system|second\/s)\.sock"\n$/);
    }
  });

  test("uninstall removes what a killed install left, and says so", async () => {
    const { plugins, conf } = paths();
    const where = ["--plugin-path", plugins, "--plugin-config-path", conf];
    expect(run(["install", ...where]).code).toBe(0);
    const child = await startInstall(["install", ...where], plugins);
    child.kill("SIGKILL");
    await child.exited;
    const [staging] = readdirSync(plugins).filter((name) => name.startsWith("."));
    expect(staging).toBeDefined();
    const { code, out } = run(["uninstall", ...where]);
    expect(code).toBe(0);
    expect(out).toContain(`removed ${join(plugins, staging!)}, left by an install ` +
      `(pid ${child.pid}) that is no longer running`);
    expect(readdirSync(plugins)).toEqual([]);
    expect(readdirSync(conf)).toEqual([]);
  });

  test("a relative --plugin-path: containerd's lines name the folders by absolute path", () => {
    const root = tempDir();
    const result = Bun.spawnSync([pluginBinary(), "install", "--plugin-path", "relp",
      "--plugin-config-path", "relc"], { cwd: root, env: {}, stdout: "pipe", stderr: "pipe" });
    expect(result.exitCode).toBe(0);
    const out = result.stdout.toString();
    expect(out).toContain(`    plugin_path = "${join(root, "relp")}"\n`);
    expect(out).toContain(`    plugin_config_path = "${join(root, "relc")}"\n`);
    expect(existsSync(join(root, "relp/03-prefetchfiles-nri-plugin"))).toBe(true);
  });

  test("uninstall removes both files; --keep-conf keeps the .conf", () => {
    const { plugins, conf } = paths();
    const where = ["--plugin-path", plugins, "--plugin-config-path", conf];
    run(["install", ...where]);
    run(["uninstall", "--keep-conf", ...where]);
    expect(existsSync(join(plugins, "03-prefetchfiles-nri-plugin"))).toBe(false);
    expect(existsSync(join(conf, "03-prefetchfiles-nri-plugin.conf"))).toBe(true);
    run(["uninstall", ...where]);
    expect(existsSync(join(conf, "03-prefetchfiles-nri-plugin.conf"))).toBe(false);
  });
});

test("--version names the plugin, the Bun it was built with and the NRI versions tested", () => {
  const { code, out } = run(["--version"]);
  expect(code).toBe(0);
  expect(out).toMatch(/^prefetchfiles-nri-plugin \d+\.\d+\.\d+\n/);
  expect(out).toContain(`built with Bun ${Bun.version}`);
  expect(out).toContain("v0.3.0");
  expect(out).toContain("v0.12.2");
});

describe("command-line mistakes", () => {
  test("an unknown command is a usage error (2), never a started daemon", () => {
    const { code, err } = run(["chekc", "pod.yaml"]);
    expect(code).toBe(2);
    expect(err).toContain('unknown command "chekc"');
  });

  test("a flag that needs a value does not swallow the next flag", () => {
    const { code, err } = run(["--idx", "--nri-socket", "/nonexistent/nri.sock"]);
    expect(code).toBe(2);
    expect(err).toContain("flag --idx needs a value");
  });

  test("check reads every document of a YAML stream", () => {
    const file = join(tempDir(), "pods.yaml");
    writeFileSync(file, "kind: Service\nmetadata: {name: s}\n---\nkind: Pod\nmetadata:\n" +
      '  name: p\n  annotations:\n    containerd.io/nydus-prefetch: "[1]"\n');
    const { code, out } = run(["check", file]);
    expect(code).toBe(1);
    expect(out).toContain("(document 2): annotation containerd.io/nydus-prefetch");
  });

  test("check --socket-addr wins over the .conf, as it does for the plugin", () => {
    const { out } = run(["check", "--socket-addr", "/run/other/system.sock",
      join(fixtures, "wordpress-pod.yaml")]);
    expect(out).toContain("to /run/other/system.sock");
  });

  test("install without --socket-addr leaves the key commented, so older settings still apply",
    () => {
      const root = tempDir();
      run(["install", "--plugin-path", join(root, "p"), "--plugin-config-path", join(root, "c")]);
      const conf = readFileSync(join(root, "c/03-prefetchfiles-nri-plugin.conf"), "utf8");
      expect(conf).toContain('# socket_address = "/run/containerd-nydus/system.sock"');
      expect(readdirSync(join(root, "p"))).toEqual(["03-prefetchfiles-nri-plugin"]);
    });
});

describe("identity flags and flags a command does not read are usage mistakes (exit 2)", () => {
  /** The run command is given sockets in a temporary folder, though it never gets to them. */
  function runCommand(...args: string[]) {
    const dir = tempDir();
    return run([...args, "--nri-socket", join(dir, "nri.sock"),
      "--socket-addr", join(dir, "system.sock")]);
  }

  for (const [args, message] of [
    [["run", "--idx", "3x"], '--idx must be exactly two digits, got "3x"'],
    [["--idx", "123"], '--idx must be exactly two digits, got "123"'],
    [["--idx", "03", "--name", "bad name"],
      '--name must be non-empty and use only [A-Za-z0-9_.+-], got "bad name"'],
  ] as const) {
    test(args.join(" "), () => {
      const { code, err } = runCommand(...args);
      expect(code).toBe(2);
      expect(err).toContain(message);
    });
  }

  // As for the Go plugin, an empty --idx or --name is the same as none.
  test("--idx \"\" is no index: the executable's name has none either (exit 1)", () => {
    const { code, err } = runCommand("--idx", "");
    expect(code).toBe(1);
    expect(err).toContain("no plugin index: pass --idx NN");
  });

  test("uninstall --idx 123", () => {
    const root = tempDir();
    const { code, err } = run(["uninstall", "--idx", "123", "--plugin-path", join(root, "p"),
      "--plugin-config-path", join(root, "c")]);
    expect(code).toBe(2);
    expect(err).toContain('--idx must be exactly two digits, got "123"');
  });

  test("a flag the command does not read is named, not ignored", () => {
    const root = tempDir();
    const where = ["--plugin-path", join(root, "p"), "--plugin-config-path", join(root, "c")];
    const pod = join(fixtures, "wordpress-pod.yaml");
    for (const [args, message] of [
      [["check", "--force", pod], "flag --force is not used by check"],
      [["check", "--idx", "03", pod], "flag --idx is not used by check"],
      [["install", "--keep-conf", ...where], "flag --keep-conf is not used by install"],
      [["install", "--name", "x", ...where], "flag --name is not used by install"],
      [["uninstall", "--force", ...where], "flag --force is not used by uninstall"],
      [["--idx", "03", ...where], "flag --plugin-path is not used by run"],
    ] as [string[], string][]) {
      const { code, err } = run(args);
      expect(code).toBe(2);
      expect(err).toContain(message);
    }
    expect(existsSync(join(root, "p"))).toBe(false);
  });

  test("--help, --version and version read no other flag", () => {
    const root = tempDir();
    for (const [args, message] of [
      [["version", "--force"], "flag --force is not used by version"],
      [["version", "--plugin-path", join(root, "p")], "flag --plugin-path is not used by version"],
      [["--version", "--keep-conf"], "flag --keep-conf is not used by --version"],
      [["install", "--version", "--idx", "03"], "flag --idx is not used by --version"],
      [["--help", "--force"], "flag --force is not used by --help"],
      [["check", "--help", "--conf", join(root, "x.conf")], "flag --conf is not used by --help"],
      [["--help", "--version"], "flag --version is not used by --help"],
    ] as [string[], string][]) {
      const { code, out, err } = run(args);
      expect({ args, code, out }).toEqual({ args, code: 2, out: "" });
      expect(err).toBe(`prefetchfiles-nri-plugin: ${message} (see --help)\n`);
    }
    expect(existsSync(join(root, "p"))).toBe(false);
    // Alone, or after a command word, they answer.
    for (const args of [["--help"], ["-h"], ["install", "--help"],
      ["check", "--help", "pod.yaml"]]) {
      expect(run(args)).toMatchObject({ code: 0, out: expect.stringContaining("Usage:") });
    }
    for (const args of [["version"], ["--version"], ["uninstall", "--version"]]) {
      expect(run(args)).toMatchObject({ code: 0,
        out: expect.stringMatching(/^prefetchfiles-nri-plugin \d/) });
    }
  });

  test("a relative --nri-socket is refused before anything is dialled, like --socket-addr", () => {
    const dir = tempDir();
    for (const socket of ["nri.sock", "run/nri.sock", "./nri.sock"]) {
      // Run in the temporary folder, so that even a wrong dial stays inside it.
      const result = Bun.spawnSync([pluginBinary(), "--idx", "03", "--nri-socket", socket,
        "--socket-addr", join(dir, "system.sock")], { cwd: dir, env: {}, stdout: "pipe",
        stderr: "pipe", timeout: 4_000 });
      expect(result.exitCode).toBe(2);
      expect(result.stderr.toString()).toBe("prefetchfiles-nri-plugin: --nri-socket must be an " +
        `absolute path, got "${socket}"\n`);
    }
  });

  test("an empty, relative or too long --socket-addr, and an empty --conf", () => {
    const pod = join(fixtures, "wordpress-pod.yaml");
    for (const [args, message] of [
      [["check", "--socket-addr", "", pod], "--socket-addr must not be empty"],
      [["check", "--socket-addr", "run/system.sock", pod],
        '--socket-addr must be an absolute path, got "run/system.sock"'],
      [["check", "--socket-addr", `/${"s".repeat(107)}`, pod],
        "--socket-addr must be at most 107 bytes, a Unix socket path's limit, got 108"],
      [["check", "--conf", ""], "--conf must not be empty"],
      [["--idx", "03", "--conf", "", "--nri-socket", join(tempDir(), "nri.sock")],
        "--conf must not be empty"],
    ] as [string[], string][]) {
      const { code, err } = run(args);
      expect(code).toBe(2);
      expect(err).toContain(message);
    }
  });
});

describe("files that cannot be read are named, in words (exit 1)", () => {
  test("check: a missing pod file, a folder, a missing --conf", () => {
    const dir = tempDir();
    const missing = join(dir, "pod.yaml");
    const conf = join(dir, "x.conf");
    for (const [args, message] of [
      [["check", missing], `cannot read pod file ${missing}: no such file`],
      [["check", dir], `cannot read pod file ${dir}: it is a folder, not a file`],
      [["check", "--conf", conf], `cannot read .conf ${conf}: no such file`],
      [["check", "--conf", conf, join(fixtures, "wordpress-pod.yaml")],
        `cannot read .conf ${conf}: no such file`],
    ] as [string[], string][]) {
      const { code, err } = run(args);
      expect(code).toBe(1);
      expect(err).toBe(`prefetchfiles-nri-plugin: ${message}\n`);
    }
  });

  test("run with an unreadable --conf stops before dialling, as before, and says why", () => {
    const dir = tempDir();
    const { code, err } = run(["--idx", "03", "--conf", join(dir, "x.conf"),
      "--nri-socket", join(dir, "nri.sock"), "--socket-addr", join(dir, "system.sock")]);
    expect(code).toBe(1);
    expect(err).toBe(`prefetchfiles-nri-plugin: cannot read .conf ${join(dir, "x.conf")}: ` +
      "no such file\n");
  });
});

describe("check warns about a key given twice", () => {
  test("a second annotations map hides the first: the warning names the key and lines", () => {
    const file = join(tempDir(), "pod.yaml");
    writeFileSync(file, "metadata:\n  name: web\n  annotations:\n" +
      "    containerd.io/nydus-prefetch: '[]'\n  namespace: shop\n  annotations:\n" +
      "    team: web\n");
    const { code, out } = run(["check", file]);
    expect(code).toBe(1);
    expect(out).toContain(`warning: ${file}:6: key "annotations" in metadata is given again ` +
      "(first on line 3)");
    expect(out).toContain("no containerd.io/nydus-prefetch annotation");
  });

  test("the annotation twice in JSON on stdin: the last is checked, with a warning", () => {
    const annotation = "containerd.io/nydus-prefetch";
    const text = `{"metadata": {"name": "web"},\n "annotations": {"${annotation}": "[1]",\n` +
      `  "${annotation}": "[]"}}`;
    const { code, out } = run(["check", "-"], text);
    expect(code).toBe(0);
    expect(out).toContain(`warning: stdin:3: key "${annotation}" in annotations is given ` +
      "again (first on line 2)");
    expect(out).toContain("empty list; nothing is sent");
  });

  test("no warning for the sample pod", () => {
    expect(run(["check", join(fixtures, "wordpress-pod.yaml")]).out).not.toContain("given again");
  });
});
