// cgroups are the one thing runc creates outside the temporary root. The scenario puts every
// pod under a cgroup parent named after its run, and this removes what runc leaves of it (it
// deletes a pod's own cgroup but never the parent) once the scenario's processes are gone.
import { existsSync, readdirSync, rmdirSync, statSync } from "node:fs";
import { join } from "node:path";

const CGROUP_ROOT = "/sys/fs/cgroup";

/** The run's parent in the unified hierarchy and in each v1 hierarchy that has it. */
function parentDirs(parent: string): string[] {
  const relative = parent.replace(/^\/+/, "");
  const hierarchies = [CGROUP_ROOT];
  for (const name of readdirSync(CGROUP_ROOT)) {
    const path = join(CGROUP_ROOT, name);
    if (statSync(path).isDirectory()) hierarchies.push(path);
  }
  return hierarchies.map((root) => join(root, relative)).filter((path) => existsSync(path));
}

/** Removes the empty cgroup folders under parent, deepest first. Returns how many went. */
function removeTree(path: string): number {
  let removed = 0;
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    if (entry.isDirectory()) removed += removeTree(join(path, entry.name));
  }
  rmdirSync(path);
  return removed + 1;
}

/** Removes the run's cgroup parent everywhere; throws if some of it is still in use. */
export function removeCgroupParent(parent: string): number {
  if (!/^\/prefetchfiles-e2e-[A-Za-z0-9]+$/.test(parent)) {
    throw new Error(`refusing to remove cgroup ${parent}: not one this test names`);
  }
  return parentDirs(parent).reduce((count, dir) => count + removeTree(dir), 0);
}
