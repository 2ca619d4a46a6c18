// Entry point of the end-to-end test, shared by run.ts and e2e.test.ts: checks the machine,
// installs and builds the real components, prepares a temporary root and runs scenario.ts in
// its own namespaces.
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { existsSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import {
  buildContainerd,
  buildCriClient,
  buildPause,
  buildSnapshotter,
  CONTAINERD_RELEASES,
  type ContainerdLine,
  type ContainerdRelease,
  criApiVersion,
  ensureDebianPackages,
  NYDUS_SNAPSHOTTER,
  runcVersion,
} from "./lib/components.ts";
import { removeCgroupParent } from "./lib/cgroups.ts";
import { pluginConf, snapshotterConfig, upstreamPluginConfig } from "./lib/configs.ts";
import { run } from "./lib/exec.ts";
import { checkKernel, existingFixedPaths, ISOLATED_ENV, isolatedCommand } from "./lib/isolation.ts";
import { type Layout, layoutUnder } from "./lib/layout.ts";
import { imageArchive, ociArchitecture } from "./lib/oci.ts";
import { Reporter, Skip } from "./lib/report.ts";
import { PLUGIN_INSTANCE, type PluginUnderTest, type Tools } from "./lib/stack.ts";
import type { ScenarioInput, ScenarioResult } from "./scenario.ts";

const E2E_DIR = import.meta.dir;
const REPO = join(E2E_DIR, "..", "..");
const RUNC = "/usr/sbin/runc";

/** A name that no registry answers to: the image only ever comes from our own tarball. */
export const SANDBOX_IMAGE = "prefetchfiles-e2e.invalid/pause:1";

export interface E2EOptions {
  /** "ours" (default) runs dist/prefetchfiles-nri-plugin; "upstream" runs
   *  nydus-snapshotter's own plugin, to check the test's plumbing on its own. */
  plugin?: "ours" | "upstream";
  /** Skip `bun build.ts` and use the dist/ binary as it is. */
  skipPluginBuild?: boolean;
  /** Keep the temporary roots even when everything passed. */
  keep?: boolean;
  /** containerd release lines to run the scenario against; all of them by default. */
  containerd?: ContainerdLine[];
}

export interface E2EResult {
  status: "passed" | "failed" | "skipped";
  /** Why it was skipped, or what failed. */
  reason?: string;
  summary: string;
}

/** What every containerd release shares: built once per run. */
interface Shared {
  snapshotter: string;
  upstreamPlugin: string;
  cri: string;
}

/** Runs the whole end-to-end test and prints one line per step. Never throws. */
export async function runE2E(options: E2EOptions = {}): Promise<E2EResult> {
  const report = new Reporter();
  const lines = options.containerd ?? (Object.keys(CONTAINERD_RELEASES) as ContainerdLine[]);
  const failures: string[] = [];
  try {
    await report.step("machine can run containers", () => checkKernel());
    const shared = await buildShared(report);
    const plugin = await report.step("plugin binary", (s) => pluginUnderTest(options, shared, s));
    for (const line of lines) {
      const release = CONTAINERD_RELEASES[line];
      const failure = await runRelease(report, release, shared, plugin, options);
      if (failure) failures.push(failure);
    }
  } catch (error) {
    const reason = (error as Error).message;
    if (error instanceof Skip) {
      console.log(`[e2e] skipped: ${reason}`);
      return { status: "skipped", reason, summary: report.summary() };
    }
    failures.push(reason);
  }
  for (const failure of failures) console.log(`[e2e] failed: ${failure}`);
  const status = failures.length ? "failed" : "passed";
  return { status, reason: failures.join("; ") || undefined, summary: report.summary() };
}

async function buildShared(report: Reporter): Promise<Shared> {
  await report.step("Debian packages", async (s) => {
    await ensureDebianPackages(s);
    s.note(`runc ${await runcVersion(RUNC)}`);
  });
  const nydusBin = await report.step(
    `nydus-snapshotter ${NYDUS_SNAPSHOTTER.version}`,
    buildSnapshotter,
  );
  const criDir = join(E2E_DIR, "cri");
  const cri = await report.step(`CRI client, cri-api ${await criApiVersion(criDir)}`, (s) =>
    buildCriClient(criDir, s),
  );
  return {
    snapshotter: join(nydusBin, "containerd-nydus-grpc"),
    upstreamPlugin: join(nydusBin, "prefetchfiles-nri-plugin"),
    cri,
  };
}

/** Builds one containerd release and runs the scenario against it; returns what failed. */
async function runRelease(
  report: Reporter,
  release: ContainerdRelease,
  shared: Shared,
  plugin: PluginUnderTest,
  options: E2EOptions,
): Promise<string | undefined> {
  console.log(`[e2e] --- containerd ${release.version} ---`);
  let root: string | undefined;
  try {
    const bin = await report.step(`containerd ${release.version}`, (s) =>
      buildContainerd(release, s),
    );
    const tools: Tools = {
      containerd: join(bin, "containerd"),
      ctr: join(bin, "ctr"),
      shimDir: bin,
      snapshotter: shared.snapshotter,
      cri: shared.cri,
      runc: RUNC,
    };
    const fixedBefore = existingFixedPaths();
    root = await report.step("prepare the temporary root", (s) =>
      prepare(release, tools, plugin, s),
    );
    const inner = await runIsolated(root);
    report.passed += inner.passed;
    report.failed += inner.failed;
    await report.step("remove the run's cgroups", async (s) => {
      s.note(`${removeCgroupParent(cgroupParentOf(root!))} folders`);
    });
    await report.step("the host's fixed paths are as before", async () => {
      const created = existingFixedPaths().filter((path) => !fixedBefore.includes(path));
      if (created.length) throw new Error(`created on the host: ${created.join(" ")}`);
    });
    if (inner.failed) throw new Error(`the scenario failed`);
    if (!options.keep) await rm(root, { recursive: true, force: true });
    else console.log(`[e2e] temporary root kept: ${root}`);
    return undefined;
  } catch (error) {
    const kept = root ? `; logs and state kept in ${root}` : "";
    return `containerd ${release.version}: ${(error as Error).message}${kept}`;
  }
}

async function pluginUnderTest(
  options: E2EOptions,
  shared: Shared,
  step: { note(text: string): void },
): Promise<PluginUnderTest> {
  if (options.plugin === "upstream") {
    step.note(`nydus-snapshotter ${NYDUS_SNAPSHOTTER.version}'s own plugin`);
    return {
      kind: "upstream",
      label: "nydus-snapshotter's plugin",
      binary: shared.upstreamPlugin,
      writesLogFile: false,
      runsExternally: false,
    };
  }
  const binary = join(REPO, "dist", "prefetchfiles-nri-plugin");
  if (!options.skipPluginBuild) {
    if (!existsSync(join(REPO, "build.ts"))) throw new Error(`no build.ts in ${REPO}`);
    await run([bunBinary(), "build.ts"], { cwd: REPO, timeoutMs: 5 * 60_000 });
    step.note("bun build.ts");
  }
  if (!existsSync(binary)) throw new Error(`${binary} does not exist`);
  return {
    kind: "ours",
    label: "prefetchfiles-nri-plugin",
    binary,
    writesLogFile: true,
    runsExternally: true,
  };
}

function bunBinary(): string {
  const local = join(REPO, "node_modules", ".bin", "bun");
  return existsSync(local) ? local : process.execPath;
}

/** Creates the temporary root with every config, the image tarball and the plugin install. */
async function prepare(
  release: ContainerdRelease,
  tools: Tools,
  plugin: PluginUnderTest,
  step: { note(text: string): void },
): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "prefetchfiles-e2e-"));
  const layout = layoutUnder(root);
  await makeFolders(layout);
  await writeFile(layout.snapshotter.config, snapshotterConfig(layout));
  await writeFile(layout.plugin.conf, pluginConf(layout));
  await copyFile(layout.plugin.conf, join(layout.nri.confDir, `${PLUGIN_INSTANCE}.conf`));
  await copyFile(plugin.binary, join(layout.nri.pluginDir, PLUGIN_INSTANCE));
  await chmod(join(layout.nri.pluginDir, PLUGIN_INSTANCE), 0o755);
  if (plugin.kind === "upstream") {
    // nydus-snapshotter's plugin reads only /etc/nydus/prefetchConfig.toml; this folder is
    // bind-mounted over /etc/nydus inside the namespaces.
    const etcNydus = join(layout.fixed, "etc-nydus");
    await mkdir(etcNydus, { recursive: true });
    await writeFile(join(etcNydus, "prefetchConfig.toml"), upstreamPluginConfig(layout));
  }
  const pauseArchive = await buildImage(layout);
  const input: ScenarioInput = {
    stack: {
      tools,
      plugin,
      configVersion: release.configVersion,
      sandboxImage: SANDBOX_IMAGE,
      cgroupParent: cgroupParentOf(root),
    },
    pauseArchive,
    fixtures: join(E2E_DIR, "fixtures"),
    versions: { containerd: release.version, snapshotter: NYDUS_SNAPSHOTTER.version },
  };
  await writeFile(join(root, "scenario.json"), JSON.stringify(input, null, 2));
  step.note(root);
  return root;
}

async function makeFolders(layout: Layout): Promise<void> {
  const folders = [
    layout.containerd.root,
    layout.containerd.state,
    layout.containerd.temp,
    layout.containerd.opt,
    layout.containerd.certs,
    layout.runcRoot,
    layout.cniBin,
    layout.cniConf,
    layout.cdiDir,
    layout.nri.pluginDir,
    layout.nri.confDir,
    layout.snapshotter.root,
    layout.logs,
    layout.images,
  ];
  for (const folder of folders) await mkdir(folder, { recursive: true });
}

/** Compiles the pause program and packs it as an OCI image tarball. */
async function buildImage(layout: Layout): Promise<string> {
  const binary = join(layout.images, "pause");
  await buildPause(join(E2E_DIR, "pause", "pause.c"), binary);
  const archive = imageArchive({
    reference: SANDBOX_IMAGE,
    program: new Uint8Array(await readFile(binary)),
    entrypointName: "pause",
    architecture: ociArchitecture(),
  });
  const path = join(layout.images, "pause.oci.tar");
  await writeFile(path, archive);
  return path;
}

/** The cgroup the run's pods go under, named after its temporary root. */
function cgroupParentOf(root: string): string {
  return `/${basename(root)}`;
}

/** Runs scenario.ts as the first process of new mount, PID and network namespaces. */
async function runIsolated(root: string): Promise<ScenarioResult> {
  const scenario = join(E2E_DIR, "scenario.ts");
  const child = Bun.spawn(isolatedCommand([process.execPath, scenario, root]), {
    env: { ...process.env, [ISOLATED_ENV]: "1" },
    stdin: "ignore",
    stdout: "inherit",
    stderr: "inherit",
  });
  const code = await child.exited;
  const resultFile = join(root, "result.json");
  if (!existsSync(resultFile)) return { passed: 0, failed: 1 };
  const result = JSON.parse(readFileSync(resultFile, "utf8")) as ScenarioResult;
  if (code !== 0 && result.failed === 0) result.failed = 1;
  return result;
}
