// The release files for airgapped nodes (npm run release): each tarball's
// contents and sums, and the executables run on the CPUs they are for —
// arm64 under qemu-user with a Debian arm64 sysroot, the baseline x86-64
// build on an emulated CPU without AVX2.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConf } from "../../src/config/conf.ts";
import { readElf } from "./elf.ts";
import { arm64Sysroot, avx2Probe, NO_AVX2_CPU, qemu, sysrootPackages } from "./emulators.ts";
import { embeddedPackages } from "./licenses.ts";
import { launchOnSocketpair } from "../support/prelaunch.ts";
import { releaseStem, ROOT } from "./release.ts";
import { bunVersion, cacheDir, TARGETS } from "./runtimes.ts";
import { CONF, EXECUTABLE, INSTALL } from "./texts.ts";

/** Where the tarballs are: release/ when fresh, else the test's own build (a release there is never overwritten). */
let OUT = join(ROOT, "release");
const VERSION: string = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version;
const BUN = bunVersion(ROOT);
const note = (line: string) => console.log(`release: ${line}`);

const extracted = new Map<string, string>(); // arch → extracted folder
const listings = new Map<string, string[]>(); // arch → the tarball's verbose listing
let work = "";
let emulators: { aarch64: string; x86_64: string };
let sysroot = "";

/** The inputs of a release; tarballs newer than all of them are reused. */
function newestInput(): number {
  const files = ["build.ts", "package.json", "package-lock.json"].map((file) => join(ROOT, file));
  for (const file of new Bun.Glob("src/**/*.ts").scanSync({ cwd: ROOT })) files.push(join(ROOT, file));
  for (const file of readdirSync(import.meta.dir)) {
    if (file.endsWith(".ts") && !file.endsWith(".test.ts")) files.push(join(import.meta.dir, file));
  }
  return Math.max(...files.map((file) => statSync(file).mtimeMs));
}

function tarballPath(arch: string, out = OUT): string {
  return join(out, `${releaseStem(VERSION, arch)}.tar.gz`);
}

function fresh(out: string, newest: number): boolean {
  return existsSync(join(out, "SHA256SUMS")) && TARGETS.every(({ arch }) =>
    existsSync(tarballPath(arch, out)) && statSync(tarballPath(arch, out)).mtimeMs > newest);
}

function run(command: string[], options: { cwd?: string; env?: Record<string, string> } = {}) {
  const result = Bun.spawnSync(command, { cwd: options.cwd, env: options.env ?? process.env,
    stdout: "pipe", stderr: "pipe" });
  return { code: result.exitCode, signal: result.signalCode, stdout: result.stdout.toString(),
    stderr: result.stderr.toString() };
}

beforeAll(async () => {
  const started = performance.now();
  const newest = newestInput();
  const own = join(cacheDir(), "test-output");
  if (fresh(OUT, newest)) {
    note("reusing the tarballs in release/ (newer than every source)");
  } else if (fresh(own, newest)) {
    OUT = own;
    note(`reusing the tarballs in ${own} (newer than every source)`);
  } else {
    OUT = own;
    const release = run([process.execPath, join(import.meta.dir, "release.ts"), "--out", own],
      { cwd: ROOT });
    for (const line of `${release.stdout}${release.stderr}`.trim().split("\n")) note(line);
    if (release.code !== 0) throw new Error("npm run release failed");
  }
  work = mkdtempSync(join(tmpdir(), "release-test-"));
  for (const { arch } of TARGETS) {
    const dir = join(work, arch);
    mkdirSync(dir);
    const untar = run(["tar", "-xzvvf", tarballPath(arch), "-C", dir]); // -vv lists as tar -tv does
    if (untar.code !== 0) throw new Error(`extracting ${tarballPath(arch)}: ${untar.stderr}`);
    extracted.set(arch, join(dir, releaseStem(VERSION, arch)));
    listings.set(arch, untar.stdout.trim().split("\n"));
  }
  emulators = qemu(note);
  sysroot = arm64Sysroot(note);
  note(`arm64 sysroot: ${sysrootPackages(sysroot).join(", ")}`);
  note(`setup took ${Math.round(performance.now() - started)} ms`);
}, 20 * 60_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

test("without any licence text for the Bun runtime the release stops before building", () => {
  const out = mkdtempSync(join(tmpdir(), "release-refused-"));
  const empty = mkdtempSync(join(tmpdir(), "release-no-licence-"));
  try {
    const refused = run([process.execPath, join(import.meta.dir, "release.ts"), "--arch", "arm64",
      "--out", out, "--bun-license", empty], { cwd: ROOT });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("licence texts missing, nothing built");
    expect(refused.stderr).toContain("Bun runtime (@oven/bun-linux-aarch64)");
    expect(readdirSync(out)).toEqual([]);
  } finally {
    rmSync(out, { recursive: true, force: true });
    rmSync(empty, { recursive: true, force: true });
  }
}, 120_000);

test("SHA256SUMS beside the tarballs lists the three of them and verifies", () => {
  const sums = readFileSync(join(OUT, "SHA256SUMS"), "utf8");
  for (const { arch } of TARGETS) expect(sums).toContain(`  ${releaseStem(VERSION, arch)}.tar.gz\n`);
  const check = run(["sha256sum", "-c", "SHA256SUMS"], { cwd: OUT });
  expect(check.stderr).toBe("");
  expect(check.code).toBe(0);
});

for (const target of TARGETS) {
  test(`linux-${target.arch}: one folder with the executable, .conf, INSTALL.txt, LICENSES/ and sums that verify`, async () => {
    const listing = listings.get(target.arch)!;
    const stem = releaseStem(VERSION, target.arch);
    for (const line of listing) {
      expect(line).toMatch(/^[-d]r[-w][-x]r-[-x]r-[-x] 0\/0 /); // root-owned, writable by the owner only
      expect(line).toContain(` ${stem}/`); // all in one folder
    }
    const executableLine = listing.find((line) => line.endsWith(`${stem}/${EXECUTABLE}`));
    expect(executableLine).toStartWith("-rwxr-xr-x ");

    const dir = extracted.get(target.arch)!;
    const files = (readdirSync(dir, { recursive: true }) as string[])
      .filter((file) => statSync(join(dir, file)).isFile()).sort();
    for (const file of [EXECUTABLE, CONF, INSTALL, "SHA256SUMS", "LICENSES/README.txt",
      "LICENSES/prefetchfiles-nri-plugin/LICENSE", "LICENSES/smol-toml/LICENSE",
      "LICENSES/@bufbuild/protobuf/Apache-2.0.txt", "LICENSES/@bufbuild/protobuf/source-notices.txt",
      "LICENSES/@connectrpc/connect/Apache-2.0.txt"]) {
      expect(files).toContain(file);
    }
    const sums = readFileSync(join(dir, "SHA256SUMS"), "utf8");
    const summed = sums.trim().split("\n").map((line) => line.slice(66)).sort();
    expect(summed).toEqual(files.filter((file) => file !== "SHA256SUMS"));
    const check = run(["sha256sum", "-c", "--strict", "SHA256SUMS"], { cwd: dir });
    expect(check.code).toBe(0);

    const elf = readElf(join(dir, EXECUTABLE));
    expect(elf.machine).toBe(target.machine);
    expect(elf.sections).toContain(".bun");
    expect(elf.sections).toContain(".symtab"); // not stripped
    expect(elf.glibc).toBe("2.17");
  }, 120_000);

  test(`linux-${target.arch}: LICENSES/README.txt covers everything embedded, the Bun runtime included`, async () => {
    const dir = extracted.get(target.arch)!;
    const index = readFileSync(join(dir, "LICENSES/README.txt"), "utf8");
    const embedded = await embeddedPackages(ROOT, "src/main.ts");
    for (const [name] of embedded) {
      const version = JSON.parse(readFileSync(join(ROOT, "node_modules", name, "package.json"), "utf8")).version;
      expect(index).toContain(`\n${name} ${version}\n`);
      expect(existsSync(join(dir, "LICENSES", name))).toBe(true);
    }
    expect(index).toContain(`\nprefetchfiles-nri-plugin ${VERSION}\n  licence: Apache-2.0\n`);
    expect(index).toContain(`\nBun runtime (${target.runtimePackage}) ${BUN}\n  licence: MIT\n`);
    expect(index).not.toContain("MISSING");
    const bunNotice = readFileSync(join(dir, "LICENSES/bun/bun-runtime.txt"), "utf8");
    expect(bunNotice).toContain("JavaScriptCore / WebKit");
    const apache = readFileSync(join(dir, "LICENSES/prefetchfiles-nri-plugin/LICENSE"), "utf8");
    expect(apache).toContain("Version 2.0, January 2004");
    const protobufNotices = readFileSync(join(dir, "LICENSES/@bufbuild/protobuf/source-notices.txt"), "utf8");
    expect(protobufNotices).toContain("Copyright 2008 Google Inc.");
    expect(protobufNotices).toContain("Redistribution and use in source and binary forms");
  });
}

test("the sample .conf sets the nydus document's key and lists every README key, valid when uncommented", () => {
  const text = readFileSync(join(extracted.get("arm64")!, CONF), "utf8");
  const active = parseConf(text, CONF);
  expect(active).toEqual({ conf: { socketAddress: "/run/containerd-nydus/system.sock" }, unknownKeys: [] });

  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const table = readme.slice(readme.indexOf("## The `.conf`"), readme.indexOf("\n## ", readme.indexOf("## The `.conf`") + 1));
  const readmeKeys = [...table.matchAll(/^\| (`[a-z_]+`(?:, `[a-z_]+`)*) \|/gm)]
    .flatMap((match) => match[1]!.split(", ").map((key) => key.replaceAll("`", "")));
  expect(readmeKeys.length).toBeGreaterThan(10);
  const commented = [...text.matchAll(/^# ([a-z_]+) = /gm)].map((match) => match[1]!);
  expect([...new Set(["socket_address", ...commented])].sort()).toEqual([...new Set(readmeKeys)].sort());

  const uncommented = text.replace(/^# ([a-z_]+ = )/gm, "$1");
  const all = parseConf(uncommented, CONF);
  expect(all.unknownKeys).toEqual([]);
  expect(Object.keys(all.conf).length).toBe(readmeKeys.length);
});

test("INSTALL.txt: where the files go, the containerd lines, the snapshotter switch, never strip", () => {
  for (const { arch } of TARGETS) {
    const text = readFileSync(join(extracted.get(arch)!, INSTALL), "utf8");
    expect(text).toStartWith(`prefetchfiles-nri-plugin ${VERSION} for linux-${arch} (`);
    expect(text).toContain(`install -m 0755 ${EXECUTABLE} /opt/nri/plugins/03-prefetchfiles-nri-plugin\n`);
    expect(text).toContain(`install -m 0644 ${CONF} /etc/nri/conf.d/${CONF}\n`);
    expect(text).toContain('[plugins."io.containerd.nri.v1.nri"]');
    expect(text).toContain('plugin_path = "/opt/nri/plugins"');
    expect(text).toContain('plugin_config_path = "/etc/nri/conf.d"');
    expect(text).toMatch(/\[system\]\s+enable = true/);
    expect(text).toContain("Never strip");
    expect(text.split("\n").length).toBeLessThan(50);
  }
});

/** Runs `--version` through an optional command prefix, with an empty environment. */
function version(prefix: string[], executable: string) {
  return run([...prefix, executable, "--version"], { env: {} });
}

function expectVersion(result: ReturnType<typeof run>) {
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  expect(result.stdout).toStartWith(`prefetchfiles-nri-plugin ${VERSION}\nbuilt with Bun ${BUN}\n`);
}

/** One registration over a socketpair, then EOF: the plugin must exit 0. */
async function registerOnce(prefix: string[], executable: string) {
  const dir = mkdtempSync(join(tmpdir(), "release-register-"));
  let stop = () => {};
  try {
    const logFile = join(dir, "plugin.log");
    // Only files of this test: no syslog, a snapshotter socket nobody listens on.
    const config = `socket_address = "${join(dir, "system.sock")}"\nlog_file = "${logFile}"\nsyslog_socket = ""\n`;
    const started = performance.now();
    const { plugin, socket, connection } = await launchOnSocketpair(config, executable, prefix);
    stop = () => plugin.kill();
    const registered = await Promise.race([connection.registered.promise,
      Bun.sleep(90_000).then(() => { throw new Error("no RegisterPlugin within 90 s"); })]);
    const registeredMs = performance.now() - started;
    expect(registered).toEqual({ name: "prefetchfiles-nri-plugin", idx: "03" });
    for (let waited = 0; !(existsSync(logFile) && readFileSync(logFile, "utf8").includes("settings applied")); waited += 100) {
      if (waited > 30_000) throw new Error("the plugin logged no 'settings applied' after Configure");
      await Bun.sleep(100);
    }
    await connection.plugin.synchronize({ more: false }, { timeoutMs: 30_000 });
    socket.end();
    const code = await plugin.exited;
    const stderr = await new Response(plugin.stderr).text();
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const log = readFileSync(logFile, "utf8");
    expect(log).toContain("plugin registered");
    return Math.round(registeredMs);
  } finally {
    stop(); // a no-op once it has exited
    rmSync(dir, { recursive: true, force: true });
  }
}

test("linux-arm64 under qemu-aarch64: --version", () => {
  const executable = join(extracted.get("arm64")!, EXECUTABLE);
  expectVersion(version([emulators.aarch64, "-L", sysroot], executable));
}, 120_000);

test("linux-arm64 under qemu-aarch64: registers over a socketpair on fd 3 and exits 0 at EOF", async () => {
  const executable = join(extracted.get("arm64")!, EXECUTABLE);
  const ms = await registerOnce([emulators.aarch64, "-L", sysroot], executable);
  note(`arm64 under qemu registered ${ms} ms after launch`);
}, 180_000);

test("the x86-64 builds print their version natively", () => {
  if (process.arch !== "x64") return;
  for (const arch of ["x64", "x64-baseline"]) expectVersion(version([], join(extracted.get(arch)!, EXECUTABLE)));
});

test(`the emulated ${NO_AVX2_CPU} CPU withholds AVX2: its CPUID says no, and an AVX2 instruction dies`, () => {
  const probe = avx2Probe();
  if (!probe) {
    note("NOTE: no C compiler here, so the AVX2 control did not run; the baseline runs below are then " +
      "not shown to be on a CPU without AVX2");
    return;
  }
  const withheld = run([emulators.x86_64, "-cpu", NO_AVX2_CPU, probe]);
  expect(withheld.stdout).toBe("cpuid avx2=0\n");
  expect(withheld.signal).toBe("SIGILL");
  const offered = run([emulators.x86_64, "-cpu", "max", probe]);
  expect(offered.stdout).toBe("cpuid avx2=1\nran an AVX2 instruction\n");
}, 60_000);

test(`linux-x64-baseline on an emulated ${NO_AVX2_CPU} CPU (no AVX2): --version and one registration`, async () => {
  const prefix = [emulators.x86_64, "-cpu", NO_AVX2_CPU];
  const executable = join(extracted.get("x64-baseline")!, EXECUTABLE);
  expectVersion(version(prefix, executable));
  const ms = await registerOnce(prefix, executable);
  note(`x64-baseline on ${NO_AVX2_CPU} registered ${ms} ms after launch`);
}, 180_000);

test(`linux-x64 on an emulated ${NO_AVX2_CPU} CPU: observed, not required`, () => {
  const result = version([emulators.x86_64, "-cpu", NO_AVX2_CPU], join(extracted.get("x64")!, EXECUTABLE));
  const runs = result.code === 0 && result.stdout.startsWith(`prefetchfiles-nri-plugin ${VERSION}\n`);
  note(runs ? `linux-x64 also runs without AVX2 (Bun ${BUN} ships one x64 runtime for both targets)`
    : `linux-x64 does not run without AVX2 (code ${result.code}, signal ${result.signal}): ship the baseline for such CPUs`);
}, 60_000);
