// The real components the end-to-end test runs, built or installed by the test itself.
// Go builds are cached outside the clone, one folder per component and version:
//   ${XDG_CACHE_HOME:-$HOME/.cache}/prefetchfiles-nri-plugin/e2e/<component>-<version>/
// A folder counts only once its `.complete` marker exists, so an interrupted build is redone.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { cp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { run, runJson } from "./exec.ts";
import type { StepContext } from "./report.ts";

/** A containerd release under test and how to build it. */
export interface ContainerdRelease {
  module: string;
  version: string;
  /** Config format it reads: 3 for 2.x, 2 for 1.7. */
  configVersion: 2 | 3;
  /** Build tags from the release's Makefile; CGO_ENABLED=0 already leaves btrfs out. */
  tags: string[];
  shimTags: string[];
}

/** The release lines under test, newest first. NRI is on by default only from 2.0. */
export const CONTAINERD_RELEASES = {
  "2": {
    module: "github.com/containerd/containerd/v2",
    version: "v2.3.7",
    configVersion: 3,
    tags: ["urfave_cli_no_docs"],
    shimTags: ["urfave_cli_no_docs", "no_grpc"],
  },
  "1.7": {
    module: "github.com/containerd/containerd",
    version: "v1.7.35",
    configVersion: 2,
    tags: ["urfave_cli_no_docs"],
    shimTags: ["urfave_cli_no_docs"],
  },
} satisfies Record<string, ContainerdRelease>;

export type ContainerdLine = keyof typeof CONTAINERD_RELEASES;
export const NYDUS_SNAPSHOTTER = {
  module: "github.com/containerd/nydus-snapshotter",
  version: "v0.15.15",
};

/** Debian packages the scenario needs, by the command that shows each is there. */
const DEBIAN_PACKAGES = [
  { name: "runc", needed: "/usr/sbin/runc" },
  { name: "iproute2", needed: "/usr/sbin/ip" },
  { name: "util-linux", needed: "/usr/bin/unshare" },
  { name: "mount", needed: "/usr/bin/mount" },
  { name: "gcc", needed: "/usr/bin/gcc" },
  { name: "libc6-dev", needed: "/usr/include/stdio.h" },
];

export interface Toolchain {
  containerd: string;
  ctr: string;
  /** Folder holding containerd-shim-runc-v2; containerd finds the shim through PATH. */
  shimDir: string;
  snapshotter: string;
  /** nydus-snapshotter's own plugin, used only with --plugin upstream. */
  upstreamPlugin: string;
  cri: string;
  runc: string;
  versions: Record<string, string>;
}

export function cacheRoot(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(base, "prefetchfiles-nri-plugin", "e2e");
}

/** Installs the missing Debian packages; `apt-get update` only if the first try fails. */
export async function ensureDebianPackages(step: StepContext): Promise<void> {
  const missing = DEBIAN_PACKAGES.filter((p) => !existsSync(p.needed)).map((p) => p.name);
  if (missing.length === 0) {
    step.note("all present");
    return;
  }
  step.note(`installing ${missing.join(" ")}`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const install = ["apt-get", "install", "-y", "--no-install-recommends", ...missing];
  try {
    await run(install, { env });
  } catch {
    await run(["apt-get", "update"], { env });
    await run(install, { env });
  }
}

/** Returns the cached folder, building it first unless its marker says it is complete. */
async function cached(
  key: string,
  step: StepContext,
  build: (dir: string) => Promise<void>,
): Promise<string> {
  const dir = join(cacheRoot(), key);
  if (existsSync(join(dir, ".complete"))) {
    step.note("cached");
    return dir;
  }
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await build(dir);
  await writeFile(join(dir, ".complete"), `${new Date().toISOString()}\n`);
  step.note(`built into ${dir}`);
  return dir;
}

interface GoBuild {
  packages: string[];
  tags?: string[];
  ldflags?: string;
}

/**
 * Builds packages of a module as the main module. `go install pkg@version` refuses modules
 * whose go.mod has `exclude` lines (containerd 2.x, nydus-snapshotter after v0.15.0), so the
 * module is downloaded, copied somewhere writable and built in place.
 */
async function buildModule(module: string, version: string, dir: string, builds: GoBuild[]) {
  const info = await runJson<{ Dir?: string; Error?: string }>(
    ["go", "mod", "download", "-json", `${module}@${version}`],
  );
  if (!info.Dir) throw new Error(`go mod download ${module}@${version}: ${info.Error}`);
  const src = join(dir, "src");
  await cp(info.Dir, src, { recursive: true });
  await run(["chmod", "-R", "u+w", src]);
  const env = { ...process.env, CGO_ENABLED: "0" };
  for (const build of builds) {
    const argv = ["go", "build", "-trimpath", "-o", join(dir, "bin") + "/"];
    if (build.tags?.length) argv.push("-tags", build.tags.join(" "));
    if (build.ldflags) argv.push("-ldflags", build.ldflags);
    await run([...argv, ...build.packages], { cwd: src, env });
  }
  await rm(src, { recursive: true, force: true });
}

/** Builds containerd, ctr and the runc shim of a release; returns their folder. */
export async function buildContainerd(
  release: ContainerdRelease,
  step: StepContext,
): Promise<string> {
  const { module, version, tags, shimTags } = release;
  const ldflags = `-X ${module}/version.Version=${version}`;
  const dir = await cached(`containerd-${version}`, step, (out) =>
    buildModule(module, version, out, [
      { packages: ["./cmd/containerd", "./cmd/ctr"], tags, ldflags },
      { packages: ["./cmd/containerd-shim-runc-v2"], tags: shimTags, ldflags },
    ]),
  );
  return join(dir, "bin");
}

export async function buildSnapshotter(step: StepContext): Promise<string> {
  const { module, version } = NYDUS_SNAPSHOTTER;
  const ldflags = `-X ${module}/version.Version=${version}`;
  const packages = ["./cmd/containerd-nydus-grpc", "./cmd/prefetchfiles-nri-plugin"];
  const dir = await cached(`nydus-snapshotter-${version}`, step, (out) =>
    buildModule(module, version, out, [{ packages, ldflags }]),
  );
  return join(dir, "bin");
}

/** The CRI client in test/e2e/cri, cached under a hash of its sources. */
export async function buildCriClient(sourceDir: string, step: StepContext): Promise<string> {
  const hash = createHash("sha256");
  for (const file of ["go.mod", "go.sum", "main.go"]) {
    hash.update(await readFile(join(sourceDir, file)));
  }
  const key = `cri-client-${hash.digest("hex").slice(0, 12)}`;
  const dir = await cached(key, step, async (out) => {
    const env = { ...process.env, CGO_ENABLED: "0" };
    await run(["go", "build", "-trimpath", "-o", join(out, "cri"), "."], { cwd: sourceDir, env });
  });
  return join(dir, "cri");
}

/** Compiles the pause program statically; it is tiny, so it is rebuilt on every run. */
export async function buildPause(source: string, out: string): Promise<void> {
  await run(["gcc", "-static", "-Os", "-o", out, source]);
}

export async function runcVersion(runc: string): Promise<string> {
  const { stdout } = await run([runc, "--version"], { timeoutMs: 10_000 });
  return stdout.split("\n")[0]?.replace(/^runc version /, "") ?? "unknown";
}

/** cri-api's version as pinned in the CRI client's go.mod. */
export async function criApiVersion(sourceDir: string): Promise<string> {
  const goMod = await readFile(join(sourceDir, "go.mod"), "utf8");
  return goMod.match(/k8s\.io\/cri-api (v\S+)/)?.[1] ?? "unknown";
}
