import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cacheDir } from "./runtimes.ts";

/**
 * Running the release executables of other CPUs here: qemu-user from Debian
 * (qemu-user-static), an arm64 sysroot made from Debian's own arm64 packages,
 * and an x86-64 CPU model without AVX2. Installs what is missing.
 */

/** Debian's arm64 packages an aarch64 Bun executable loads. */
const SYSROOT_PACKAGES = ["libc6", "libgcc-s1", "libstdc++6"];

/** The CPU model the baseline build is run on: SSE4.2, no AVX or AVX2. */
export const NO_AVX2_CPU = "Nehalem";

function run(command: string[], what: string, options: { cwd?: string; env?: Record<string, string> } = {}) {
  const result = Bun.spawnSync(command, { cwd: options.cwd, stdout: "pipe", stderr: "pipe",
    env: { ...process.env, ...options.env } });
  if (result.exitCode !== 0) throw new Error(`${what} failed (${command.join(" ")}):\n${result.stderr}`);
  return result.stdout.toString();
}

/** Paths of qemu-aarch64-static and qemu-x86_64-static, installing Debian's qemu-user-static if needed. */
export function qemu(log: (line: string) => void): { aarch64: string; x86_64: string } {
  const find = () => ({ aarch64: Bun.which("qemu-aarch64-static"), x86_64: Bun.which("qemu-x86_64-static") });
  let found = find();
  if (!found.aarch64 || !found.x86_64) {
    if (!Bun.which("apt-get") || process.getuid?.() !== 0) {
      throw new Error("qemu-user-static is not installed and this is no Debian machine run as root: " +
        "install it (apt-get install qemu-user-static) and run the test again");
    }
    const started = performance.now();
    const env = { DEBIAN_FRONTEND: "noninteractive" };
    run(["apt-get", "update", "-qq"], "apt-get update", { env });
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "qemu-user-static"],
      "installing qemu-user-static", { env });
    log(`installed qemu-user-static in ${Math.round(performance.now() - started)} ms`);
    found = find();
  }
  if (!found.aarch64 || !found.x86_64) throw new Error("qemu-user-static installed no qemu-aarch64-static");
  return { aarch64: found.aarch64, x86_64: found.x86_64 };
}

/**
 * A folder with the arm64 loader and libraries, for qemu's -L. The packages
 * come from the machine's own Debian sources through a private apt state
 * (lists and archives in the cache, architecture arm64), so the machine's
 * dpkg architectures and package lists stay as they were.
 */
export function arm64Sysroot(log: (line: string) => void): string {
  const base = join(cacheDir(), "debian-arm64");
  const sysroot = join(base, "sysroot");
  const stamp = join(sysroot, ".packages");
  if (existsSync(stamp)) return sysroot;

  const started = performance.now();
  const lists = join(base, "apt/lists");
  const archives = join(base, "apt/cache");
  const debs = join(base, "debs");
  for (const dir of [join(lists, "partial"), join(archives, "archives/partial"), debs]) {
    mkdirSync(dir, { recursive: true });
  }
  const apt = ["apt-get", "-qq", "-o", `Dir::State::Lists=${lists}`, "-o", `Dir::Cache=${archives}`,
    "-o", "Dir::State::status=/dev/null", "-o", "APT::Architecture=arm64",
    "-o", "APT::Architectures=arm64", "-o", "Acquire::Languages=none"];
  run([...apt, "update"], "apt-get update for arm64");
  for (const file of readdirSync(debs)) rmSync(join(debs, file));
  run([...apt, "download", ...SYSROOT_PACKAGES], "apt-get download of the arm64 libraries", { cwd: debs });

  const partial = `${sysroot}.partial`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  const downloaded = readdirSync(debs).filter((file) => file.endsWith(".deb")).sort();
  for (const deb of downloaded) run(["dpkg", "-x", join(debs, deb), partial], `unpacking ${deb}`);
  writeFileSync(join(partial, ".packages"), `${downloaded.join("\n")}\n`);
  rmSync(sysroot, { recursive: true, force: true });
  renameSync(partial, sysroot);
  log(`made the arm64 sysroot from ${downloaded.join(", ")} in ${Math.round(performance.now() - started)} ms`);
  return sysroot;
}

/** The Debian packages the sysroot was made from. */
export function sysrootPackages(sysroot: string): string[] {
  return readFileSync(join(sysroot, ".packages"), "utf8").trim().split("\n");
}

/**
 * A tiny x86-64 program that reports whether CPUID offers AVX2 and then runs
 * one AVX2 instruction: under the no-AVX2 CPU model it must report 0 and die
 * of SIGILL, which shows the emulator really withholds AVX2. Undefined when
 * there is no C compiler.
 */
export function avx2Probe(): string | undefined {
  const cc = Bun.which("cc") ?? Bun.which("gcc");
  if (!cc) return undefined;
  const dir = join(cacheDir(), "avx2-probe");
  const binary = join(dir, "avx2-probe");
  if (existsSync(binary)) return binary;
  mkdirSync(dir, { recursive: true });
  const source = join(dir, "avx2-probe.c");
  writeFileSync(source, `#include <stdio.h>
int main(void) {
  __builtin_cpu_init();
  printf("cpuid avx2=%d\\n", __builtin_cpu_supports("avx2") ? 1 : 0);
  fflush(stdout);
  __asm__ volatile("vpaddd %%ymm0, %%ymm0, %%ymm0" ::: "xmm0");
  printf("ran an AVX2 instruction\\n");
  return 0;
}
`);
  run([cc, "-O0", "-o", `${binary}.partial`, source], "compiling the AVX2 probe");
  renameSync(`${binary}.partial`, binary);
  return binary;
}
