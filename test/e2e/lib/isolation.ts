// Keeps the scenario off the machine's real paths. The scenario runs in its own mount, PID and
// network namespaces (unshare). Inside, the host folders that containerd, runc and
// nydus-snapshotter default to are covered: each parent folder gets an overlay whose writes go
// under the temporary root, and each fixed path gets a temporary folder bind-mounted over it.
// When the scenario's first process exits, the kernel ends every process in the PID namespace
// and the mounts go with the mount namespace.
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { run } from "./exec.ts";
import type { Layout } from "./layout.ts";
import { Skip } from "./report.ts";

/** Host folders whose writes are redirected under the temporary root. */
export const GUARDED_FOLDERS = ["/run", "/etc", "/opt", "/var/lib"];

/** Default locations of containerd, NRI, CNI, CDI and nydus-snapshotter. */
export const FIXED_PATHS = [
  "/run/containerd",
  "/run/containerd-nydus",
  "/run/nri",
  "/run/cdi",
  "/var/lib/containerd",
  "/var/lib/containerd-nydus",
  "/opt/containerd",
  "/opt/nri",
  "/opt/cni",
  "/etc/containerd",
  "/etc/nri",
  "/etc/nydus",
  "/etc/cni",
  "/etc/cdi",
];

/** Set in the environment of the scenario once it runs inside the namespaces. */
export const ISOLATED_ENV = "PREFETCHFILES_E2E_ISOLATED";

const slug = (path: string) => path.slice(1).replaceAll("/", "-");

/** argv that runs `command` in fresh mount, PID and network namespaces. */
export function isolatedCommand(command: string[]): string[] {
  return [
    "unshare",
    "--mount",
    "--propagation=private",
    "--pid",
    "--fork",
    "--mount-proc",
    "--net",
    "--kill-child",
    "--",
    ...command,
  ];
}

/** Why this machine cannot run containers as the scenario needs, told without running any. */
export function machineProblem(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root: runc, mounts and namespaces";
  if (!readFileSync("/proc/filesystems", "utf8").includes("\toverlay\n")) {
    return "kernel has no overlay filesystem (not in /proc/filesystems)";
  }
  const cgroups = existsSync("/sys/fs/cgroup") ? readdirSync("/sys/fs/cgroup") : [];
  if (!cgroups.includes("cgroup.controllers") && !cgroups.includes("pids")) {
    return "no cgroup hierarchy mounted at /sys/fs/cgroup (v2 or v1 pids)";
  }
  return undefined;
}

/** Throws Skip with the exact reason when this machine cannot run containers as needed. */
export async function checkKernel(): Promise<void> {
  const problem = machineProblem();
  if (problem) throw new Skip(problem);
  try {
    await run(isolatedCommand(["true"]), { timeoutMs: 30_000 });
  } catch (error) {
    throw new Skip(`cannot create mount/PID/network namespaces: ${(error as Error).message}`);
  }
}

/** Which fixed paths exist on the host right now (call outside the namespaces). */
export function existingFixedPaths(): string[] {
  return FIXED_PATHS.filter((path) => existsSync(path));
}

/** Sets up the overlays and bind mounts; must run inside the namespaces, before any daemon. */
export async function isolate(layout: Layout): Promise<void> {
  if (process.env[ISOLATED_ENV] !== "1" || process.pid !== 1) {
    throw new Error("isolate() must run as the first process of the scenario's namespaces");
  }
  for (const folder of GUARDED_FOLDERS) await overlay(folder, join(layout.guards, slug(folder)));
  for (const path of FIXED_PATHS) await bindTemporary(path, join(layout.fixed, slug(path)));
  if (existsSync("/dev/log")) await run(["mount", "--bind", "/dev/null", "/dev/log"]);
  await run(["ip", "link", "set", "lo", "up"]);
}

async function overlay(folder: string, state: string): Promise<void> {
  const upper = join(state, "upper");
  const work = join(state, "work");
  await mkdir(upper, { recursive: true });
  await mkdir(work, { recursive: true });
  const options = `lowerdir=${folder},upperdir=${upper},workdir=${work}`;
  await run(["mount", "-t", "overlay", "overlay", "-o", options, folder]);
}

async function bindTemporary(path: string, source: string): Promise<void> {
  await mkdir(source, { recursive: true });
  await mkdir(path, { recursive: true });
  await run(["mount", "--bind", source, path]);
}

/** The fixed paths something wrote into (they would otherwise be on the machine). */
export function usedFixedPaths(layout: Layout): string[] {
  return FIXED_PATHS.filter((path) => {
    const source = join(layout.fixed, slug(path));
    return existsSync(source) && readdirSync(source).length > 0;
  });
}

/**
 * What was written into the guarded host folders apart from the fixed paths' mount points:
 * without the overlays these would have landed on the machine.
 */
export function guardedWrites(layout: Layout): string[] {
  const found: string[] = [];
  for (const folder of GUARDED_FOLDERS) {
    const upper = join(layout.guards, slug(folder), "upper");
    if (!existsSync(upper)) continue;
    for (const name of readdirSync(upper)) {
      const path = join(folder, name);
      if (!FIXED_PATHS.includes(path)) found.push(path);
    }
  }
  return found;
}
